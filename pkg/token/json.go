package token

import (
	"strconv"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tollgate/tollgate/pkg/verify"
)

// AppendJSON appends the claims as JSON without reflection: what
// encoding/json would write for them (as values: the order of keys may
// differ). Signers that know the interface (keys) use it on the hot path;
// its test holds it to encoding/json's meaning for every field.
func (c Claims) AppendJSON(b []byte) []byte {
	b = append(b, '{')
	b = appendRegistered(b, &c.RegisteredClaims)
	b = appendKey(b, "access", len(b) > 0 && b[len(b)-1] == '{')
	b = append(b, '[')
	for i, a := range c.Access {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendAccess(b, a)
	}
	b = append(b, ']')
	if c.Identity != nil {
		b = append(b, `,"tollgate":`...)
		b = appendIdentity(b, c.Identity)
	}
	return append(b, '}')
}

// appendRegistered appends the registered claims that are set (as
// encoding/json's omitempty leaves out the others), into an object just
// opened.
func appendRegistered(b []byte, r *jwt.RegisteredClaims) []byte {
	first := true
	if r.Issuer != "" {
		b = appendKey(b, "iss", first)
		b = appendString(b, r.Issuer)
		first = false
	}
	if r.Subject != "" {
		b = appendKey(b, "sub", first)
		b = appendString(b, r.Subject)
		first = false
	}
	if len(r.Audience) > 0 {
		b = appendKey(b, "aud", first)
		b = appendStrings(b, r.Audience)
		first = false
	}
	for _, d := range [...]struct {
		key string
		t   *jwt.NumericDate
	}{{"exp", r.ExpiresAt}, {"nbf", r.NotBefore}, {"iat", r.IssuedAt}} {
		if d.t != nil {
			b = appendKey(b, d.key, first)
			b = strconv.AppendInt(b, d.t.Unix(), 10)
			first = false
		}
	}
	if r.ID != "" {
		b = appendKey(b, "jti", first)
		b = appendString(b, r.ID)
	}
	return b
}

func appendAccess(b []byte, a Access) []byte {
	b = append(b, '{')
	b = appendKey(b, "type", true)
	b = appendString(b, a.Type)
	if a.Class != "" {
		b = appendKey(b, "class", false)
		b = appendString(b, a.Class)
	}
	b = appendKey(b, "name", false)
	b = appendString(b, a.Name)
	b = appendKey(b, "actions", false)
	if a.Actions == nil {
		b = append(b, "null"...) // as encoding/json writes a nil slice
	} else {
		b = appendStrings(b, a.Actions)
	}
	return append(b, '}')
}

func appendIdentity(b []byte, id *verify.Identity) []byte {
	b = append(b, '{')
	b = appendKey(b, "kind", true)
	b = appendString(b, id.Kind)
	for _, f := range [...]struct{ key, value string }{
		{"id", id.ID}, {"name", id.Name}, {"role", id.Role}, {"source", id.Source},
	} {
		if f.value != "" {
			b = appendKey(b, f.key, false)
			b = appendString(b, f.value)
		}
	}
	if len(id.Groups) > 0 {
		b = appendKey(b, "groups", false)
		b = appendStrings(b, id.Groups)
	}
	if len(id.Labels) > 0 {
		b = appendKey(b, "labels", false)
		b = appendLabels(b, id.Labels)
	}
	if len(id.Claims) > 0 {
		b = appendKey(b, "claims", false)
		b = appendLabels(b, id.Claims)
	}
	if id.APIToken != "" {
		b = appendKey(b, "api_token", false)
		b = appendString(b, id.APIToken)
	}
	return append(b, '}')
}

// appendLabels appends a JSON object of string values.
func appendLabels(b []byte, labels map[string]string) []byte {
	b = append(b, '{')
	first := true
	for k, v := range labels {
		b = appendKey(b, k, first)
		b = appendString(b, v)
		first = false
	}
	return append(b, '}')
}

// appendKey appends `"key":`, preceded by "," unless it is the first of
// its object.
func appendKey(b []byte, key string, first bool) []byte {
	if !first {
		b = append(b, ',')
	}
	b = appendString(b, key)
	return append(b, ':')
}

func appendStrings(b []byte, ss []string) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string (RFC 8259 §7): quotes,
// backslashes and control characters escaped, invalid UTF-8 replaced by
// U+FFFD as encoding/json does.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			b = appendEscape(b, c)
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func appendEscape(b []byte, c byte) []byte {
	switch c {
	case '"', '\\':
		return append(b, '\\', c)
	case '\n':
		return append(b, '\\', 'n')
	case '\r':
		return append(b, '\\', 'r')
	case '\t':
		return append(b, '\\', 't')
	}
	return append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
}
