package verify

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
)

// contextKey keys the claims in a request context.
type contextKey struct{}

// NewContext returns ctx carrying c; Middleware does this for verified
// requests, and tests of handlers can too.
func NewContext(ctx context.Context, c Claims) context.Context {
	return context.WithValue(ctx, contextKey{}, c)
}

// FromContext returns the claims Middleware put in ctx.
func FromContext(ctx context.Context) (Claims, bool) {
	c, ok := ctx.Value(contextKey{}).(Claims)
	return c, ok
}

// Middleware lets through requests with a valid bearer token (RFC 6750 §2.1),
// with its claims in the request context (see FromContext), and answers the
// rest itself:
//
//   - no token: 401 with `WWW-Authenticate: Bearer realm="…"` and no error
//     attribute (RFC 6750 §3.1);
//   - a malformed Authorization header: 400, error="invalid_request";
//   - a token Verify refuses: 401, error="invalid_token" and a fixed
//     error_description naming the reason (never the token or key details);
//   - the JWKS cannot be fetched at all: 503 with Retry-After, since a new
//     token would not help.
//
// Bodies are RFC 6749 §5.2-style JSON {"error","error_description"}.
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, ok, malformed := bearerToken(r.Header.Get("Authorization"))
		switch {
		case malformed:
			v.challenge(w, http.StatusBadRequest, "invalid_request", "malformed Authorization header")
			return
		case !ok:
			v.challenge(w, http.StatusUnauthorized, "", "")
			return
		}
		claims, err := v.Verify(r.Context(), raw)
		if errors.Is(err, ErrKeysUnavailable) {
			w.Header().Set("Retry-After", "30")
			writeError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "verification keys unavailable")
			return
		}
		if err != nil {
			v.challenge(w, http.StatusUnauthorized, "invalid_token", describe(err))
			return
		}
		next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), claims)))
	})
}

// bearerToken extracts the token of an "Authorization: Bearer TOKEN" header.
// ok is false when there is no bearer token at all (no header or another
// scheme); malformed is true for a Bearer header without a single token.
func bearerToken(header string) (token string, ok, malformed bool) {
	scheme, rest, _ := strings.Cut(header, " ")
	if !strings.EqualFold(scheme, "Bearer") { // auth schemes are case-insensitive (RFC 9110 §11.1)
		return "", false, false
	}
	token = strings.TrimSpace(rest)
	if token == "" || strings.ContainsAny(token, " \t") {
		return "", false, true
	}
	return token, true, false
}

// descriptions are the error_description of each refusal. They hold no
// quote or backslash (RFC 6750 §3).
var descriptions = []struct {
	err  error
	text string
}{
	{ErrExpired, "the token expired"},
	{ErrNotYetValid, "the token is not valid yet"},
	{ErrSignature, "the token signature is invalid"},
	{ErrAlgorithm, "the token algorithm is not accepted"},
	{ErrUnknownKey, "the token was signed by an unknown key"},
	{ErrIssuer, "the token was issued by another issuer"},
	{ErrAudience, "the token is for another audience"},
	{ErrMalformed, "the token is malformed"},
}

func describe(err error) string {
	for _, d := range descriptions {
		if errors.Is(err, d.err) {
			return d.text
		}
	}
	return "the token is invalid"
}

// challenge answers with a Bearer challenge (RFC 6750 §3); errCode "" gives
// the bare challenge of a request without a token (§3.1).
func (v *Verifier) challenge(w http.ResponseWriter, status int, errCode, description string) {
	var b strings.Builder
	b.WriteString(`Bearer realm="`)
	b.WriteString(quoteSafe(v.realm))
	b.WriteByte('"')
	if errCode != "" {
		b.WriteString(`, error="` + errCode + `", error_description="` + description + `"`)
	}
	w.Header().Set("WWW-Authenticate", b.String())
	if errCode == "" {
		writeError(w, status, "", "")
		return
	}
	writeError(w, status, errCode, description)
}

// quoteSafe drops the characters a quoted-string cannot hold unescaped.
func quoteSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '"' || r == '\\' || r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

func writeError(w http.ResponseWriter, status int, code, description string) {
	w.Header().Set("Cache-Control", "no-store")
	if code == "" {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}{code, description})
}
