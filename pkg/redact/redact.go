package redact

import "strings"

// Redacted stands in for a secret.
const Redacted = "(redacted)"

// prefixes start Tollgate's secrets: API tokens (apitoken.Prefix), Docker
// refresh tokens (refresh.Prefix), engine refresh tokens
// (engine.RefreshPrefix), and JWTs, whose base64url header starts with
// `{"`. They are spelled out here, not imported, so that any package may
// redact; the tests pin them to their owners.
var prefixes = []string{"tg_", "tgr_", "tge_", "eyJ"}

// minTail is how many characters must follow a prefix for the run to be
// taken for a secret: every secret has far more (a token cut short or
// mistyped still counts), while a name like "tg_builder" stays readable.
const minTail = 16

// Secrets returns s with every run that has the shape of a Tollgate secret
// (a prefix above, then at least minTail characters of the base62,
// base64url and JWT alphabets) replaced by Redacted. Call it on whatever a
// caller named that leaves the process: a user name, a client_id, an error
// quoting them.
func Secrets(s string) string {
	if !mayHold(s) {
		return s // the common case: no allocation
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if n := secretAt(s[i:]); n > 0 {
			b.WriteString(Redacted)
			i += n
			continue
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

func mayHold(s string) bool {
	for _, p := range prefixes {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

// secretAt is the length of the secret s starts with, or 0.
func secretAt(s string) int {
	for _, p := range prefixes {
		if !strings.HasPrefix(s, p) {
			continue
		}
		n := len(p)
		for n < len(s) && secretByte(s[n]) {
			n++
		}
		if n-len(p) >= minTail {
			return n
		}
	}
	return 0
}

// secretByte reports whether c may appear in a secret: base62 (API
// tokens), base64url (refresh tokens, JWT parts) and the dots of a JWT.
func secretByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
}
