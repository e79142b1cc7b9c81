package redact

import (
	"crypto/rand"
	"encoding/base64"
	"slices"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tollgate/tollgate/pkg/authn/apitoken"
	"github.com/tollgate/tollgate/pkg/refresh"
)

// randomToken is prefix + 256 random bits in base64url, the form of both
// kinds of refresh token.
func randomToken(prefix string) string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

func signedJWT(t *testing.T) string {
	t.Helper()
	raw, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "alice"}).SignedString([]byte(rand.Text()))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// The prefixes are spelled out in this package; they must be those of the
// packages that own the secrets.
func TestPrefixesAreTheOwners(t *testing.T) {
	for _, p := range []string{apitoken.Prefix, refresh.Prefix, refresh.FamilyPrefix} {
		if !slices.Contains(prefixes, p) {
			t.Errorf("prefix %q is not redacted", p)
		}
	}
	if jwt := signedJWT(t); !strings.HasPrefix(jwt, "eyJ") {
		t.Errorf("a JWT starts %.3q, not eyJ", jwt)
	}
}

func TestSecrets(t *testing.T) {
	tok := apitoken.Generate()
	mistyped := tok[:20] + otherBase62(tok[20]) + tok[21:] // fails the checksum, still the secret
	jwtRaw := signedJWT(t)
	tests := []struct {
		name, in, want string
	}{
		{"a name", "alice", "alice"},
		{"empty", "", ""},
		{"a name with a prefix and a short tail", "tg_builder-01", "tg_builder-01"},
		{"an email address", "alice.eyJ@example.com", "alice.eyJ@example.com"},
		{"an API token", tok, Redacted},
		{"a mistyped API token", mistyped, Redacted},
		{"an API token cut short", tok[:30], Redacted},
		{"a Docker refresh token", randomToken(refresh.Prefix), Redacted},
		{"an engine refresh token", randomToken(refresh.FamilyPrefix), Redacted},
		{"a JWT", jwtRaw, Redacted},
		{"a JWT without its signature", jwtRaw[:strings.LastIndexByte(jwtRaw, '.')], Redacted},
		{"an error quoting a token", `htpasswd: user "` + tok + `": no such user`, `htpasswd: user "(redacted)": no such user`},
		{"a name and a token", "alice " + tok, "alice " + Redacted},
		{"two secrets", tok + "," + jwtRaw, Redacted + "," + Redacted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Secrets(tt.in); got != tt.want {
				t.Errorf("Secrets(%.20q…) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// Names without a secret cost nothing: the access log calls this on every
// request.
func TestSecretsOfANameDoesNotAllocate(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { _ = Secrets("alice") }); n != 0 {
		t.Errorf("Secrets allocates %v times for a plain name, want 0", n)
	}
}

// otherBase62 is a base62 character other than c: a typo that stays in
// the token's alphabet (c^1 may leave it: 'A'^1 is '@').
func otherBase62(c byte) string {
	if c == 'x' {
		return "y"
	}
	return "x"
}
