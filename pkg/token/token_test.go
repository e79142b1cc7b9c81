package token_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/pkg/scope"
	"github.com/tollgate/tollgate/pkg/token"
)

// captureSigner records the claims it is asked to sign.
type captureSigner struct {
	claims jwt.Claims
	raw    string
	err    error
}

func (s *captureSigner) Sign(c jwt.Claims) (string, error) {
	s.claims = c
	return s.raw, s.err
}

// fixedClock returns a clock stopped at t.
func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

func TestMintClaims(t *testing.T) {
	// Sub-second part: Mint truncates to whole seconds (NumericDate).
	now := time.Date(2024, 5, 6, 7, 8, 9, 987654321, time.UTC)
	whole := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	pushPull := scope.Scope{Type: "repository", Name: "alice/app", Actions: []string{"pull", "push"}}
	plugin := scope.Scope{Type: "repository", Class: "plugin", Name: "x/y", Actions: []string{"pull"}}

	tests := []struct {
		name     string
		ttl      time.Duration
		grant    token.Grant
		wantAud  jwt.ClaimStrings
		wantAcc  []token.Access
		wantSubj string
	}{
		{
			name:     "push and pull",
			ttl:      5 * time.Minute,
			grant:    token.Grant{Subject: "alice", Audience: []string{"registry.local"}, Access: []scope.Scope{pushPull}},
			wantAud:  jwt.ClaimStrings{"registry.local"},
			wantAcc:  []token.Access{{Type: "repository", Name: "alice/app", Actions: []string{"pull", "push"}}},
			wantSubj: "alice",
		},
		{
			name:     "resource class kept",
			ttl:      time.Hour,
			grant:    token.Grant{Subject: "bob", Audience: []string{"r"}, Access: []scope.Scope{pushPull, plugin}},
			wantAud:  jwt.ClaimStrings{"r"},
			wantAcc:  []token.Access{{Type: "repository", Name: "alice/app", Actions: []string{"pull", "push"}}, {Type: "repository", Class: "plugin", Name: "x/y", Actions: []string{"pull"}}},
			wantSubj: "bob",
		},
		{
			name:    "anonymous login check without audience",
			ttl:     30 * time.Second,
			grant:   token.Grant{},
			wantAud: nil,
			wantAcc: []token.Access{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &captureSigner{raw: "signed.jwt.value"}
			m := &token.Minter{Issuer: "tollgate", TTL: tt.ttl, Signer: s, Now: fixedClock(now)}
			tok, err := m.Mint(tt.grant)
			if err != nil {
				t.Fatalf("Mint: %v", err)
			}
			if tok.Raw != "signed.jwt.value" {
				t.Errorf("Raw = %q, want the signer's output", tok.Raw)
			}
			if !tok.IssuedAt.Equal(whole) || !tok.ExpiresAt.Equal(whole.Add(tt.ttl)) {
				t.Errorf("IssuedAt, ExpiresAt = %v, %v; want %v, %v", tok.IssuedAt, tok.ExpiresAt, whole, whole.Add(tt.ttl))
			}
			c, ok := s.claims.(token.Claims)
			if !ok {
				t.Fatalf("signed %T, want token.Claims", s.claims)
			}
			if c.ID == "" {
				t.Fatal("jti is empty")
			}
			want := token.Claims{
				RegisteredClaims: jwt.RegisteredClaims{
					Issuer:    "tollgate",
					Subject:   tt.wantSubj,
					Audience:  tt.wantAud,
					IssuedAt:  jwt.NewNumericDate(whole),
					NotBefore: jwt.NewNumericDate(whole),
					ExpiresAt: jwt.NewNumericDate(whole.Add(tt.ttl)),
					ID:        c.ID,
				},
				Access: tt.wantAcc,
			}
			if !reflect.DeepEqual(c, want) {
				t.Errorf("claims:\n got %+v\nwant %+v", c, want)
			}
		})
	}
}

func TestMintIDsAreUniqueAndRandom(t *testing.T) {
	s := &captureSigner{raw: "x"}
	m := &token.Minter{Issuer: "i", TTL: time.Minute, Signer: s}
	seen := make(map[string]bool)
	for range 100 {
		if _, err := m.Mint(token.Grant{Subject: "a"}); err != nil {
			t.Fatal(err)
		}
		id := s.claims.(token.Claims).ID
		b, err := base64.RawURLEncoding.DecodeString(id)
		if err != nil || len(b) != 16 {
			t.Fatalf("jti %q is not 128 bits of base64url (err %v)", id, err)
		}
		if seen[id] {
			t.Fatalf("jti %q repeated", id)
		}
		seen[id] = true
	}
}

// payload decodes the claims part of a compact JWT into raw JSON fields.
func payload(t *testing.T, raw string) map[string]json.RawMessage {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts, want 3", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("payload: %v", err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("payload: %v", err)
	}
	return m
}

func TestMintSignedWithRealKey(t *testing.T) {
	key, err := keys.Generate(keys.Options{Algorithm: "ES256"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tests := []struct {
		name       string
		grant      token.Grant
		wantAccess string
		wantAud    bool
	}{
		{name: "empty access is []", grant: token.Grant{Subject: "alice", Audience: []string{"registry.local"}}, wantAccess: `[]`, wantAud: true},
		{name: "nil access anonymous is []", grant: token.Grant{Access: nil}, wantAccess: `[]`},
		{
			name:       "granted access",
			grant:      token.Grant{Subject: "alice", Audience: []string{"registry.local"}, Access: []scope.Scope{{Type: "repository", Name: "alice/app", Actions: []string{"pull"}}}},
			wantAccess: `[{"type":"repository","name":"alice/app","actions":["pull"]}]`,
			wantAud:    true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &token.Minter{Issuer: "tollgate", TTL: 5 * time.Minute, Signer: key, Now: fixedClock(now)}
			tok, err := m.Mint(tt.grant)
			if err != nil {
				t.Fatal(err)
			}
			p := payload(t, tok.Raw)
			if got := string(p["access"]); got != tt.wantAccess {
				t.Errorf("raw access = %s, want %s", got, tt.wantAccess)
			}
			if _, ok := p["aud"]; ok != tt.wantAud {
				t.Errorf("aud present = %v, want %v (payload %v)", ok, tt.wantAud, p)
			}

			var c token.Claims
			parsed, err := jwt.ParseWithClaims(tok.Raw, &c, func(*jwt.Token) (any, error) { return key.VerificationKey(), nil },
				jwt.WithValidMethods([]string{"ES256"}), jwt.WithIssuer("tollgate"), jwt.WithTimeFunc(fixedClock(now)))
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if kid := parsed.Header["kid"]; kid != key.ID() {
				t.Errorf("kid = %v, want %s", kid, key.ID())
			}
			if _, ok := parsed.Header["x5c"]; ok {
				t.Error("x5c header sent for a key without a certificate")
			}
			if got := c.ExpiresAt.Sub(c.IssuedAt.Time); got != 5*time.Minute {
				t.Errorf("exp - iat = %v, want 5m", got)
			}
		})
	}
}

func TestMintSignerError(t *testing.T) {
	errHSM := errors.New("hsm unavailable")
	m := &token.Minter{Issuer: "i", TTL: time.Minute, Signer: &captureSigner{raw: "ignored", err: errHSM}}
	tok, err := m.Mint(token.Grant{Subject: "alice"})
	if !errors.Is(err, errHSM) {
		t.Fatalf("Mint error = %v, want it to wrap %v", err, errHSM)
	}
	if tok != (token.Token{}) {
		t.Errorf("Mint returned %+v with an error, want the zero Token", tok)
	}
}

func TestAccessJSONOmitsEmptyClass(t *testing.T) {
	b, err := json.Marshal(token.Access{Type: "repository", Name: "a/b", Actions: []string{"pull"}})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("class")) {
		t.Errorf("%s carries an empty class", b)
	}
}

func BenchmarkMint(b *testing.B) {
	key, err := keys.Generate(keys.Options{Algorithm: "ES256"})
	if err != nil {
		b.Fatal(err)
	}
	m := &token.Minter{Issuer: "tollgate", TTL: 5 * time.Minute, Signer: key}
	g := token.Grant{Subject: "alice", Audience: []string{"registry.local"},
		Access: []scope.Scope{{Type: "repository", Name: "alice/app", Actions: []string{"pull", "push"}}}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Mint(g); err != nil {
			b.Fatal(err)
		}
	}
}
