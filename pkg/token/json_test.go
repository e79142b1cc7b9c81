package token_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tollgate/tollgate/pkg/token"
	"github.com/tollgate/tollgate/pkg/verify"
)

// sameJSON fails unless a and b decode to the same value.
func sameJSON(t *testing.T, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("AppendJSON wrote invalid JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("AppendJSON\n got %s\nwant %s", got, want)
	}
}

func TestClaimsAppendJSONMatchesEncodingJSON(t *testing.T) {
	now := time.Date(2026, 12, 6, 13, 0, 0, 0, time.UTC)
	full := token.Claims{
		RegisteredClaims: jwt.RegisteredClaims{Issuer: "tollgate", Subject: "alice", Audience: jwt.ClaimStrings{"registry.local", "b"},
			ExpiresAt: jwt.NewNumericDate(now.Add(5 * time.Minute)), NotBefore: jwt.NewNumericDate(now),
			IssuedAt: jwt.NewNumericDate(now), ID: "k2Qd5Yg0rY3w5fS1hJm7Tw"},
		Access: []token.Access{{Type: "repository", Name: "alice/app", Actions: []string{"pull", "push"}},
			{Type: "repository", Class: "plugin", Name: "x/y", Actions: []string{"*"}}},
		Identity: &verify.Identity{Kind: "api_token", ID: "6c1d2c1e-0000-4000-8000-000000000001", Name: "alice", Role: "read",
			Source: "apitoken", Groups: []string{"ops", "dev"}, Labels: map[string]string{"team": "blue", "env": "prod"},
			APIToken: "0123456789abcdef"},
	}
	for name, c := range map[string]token.Claims{
		"full": full,
		"workload": {RegisteredClaims: full.RegisteredClaims, Access: []token.Access{},
			Identity: &verify.Identity{Kind: "workload", Name: "ci:github:acme/app", Source: "federation",
				Claims: map[string]string{"iss": "https://token.actions.githubusercontent.com", "repository": "acme/app"}}},
		"anonymous": {RegisteredClaims: jwt.RegisteredClaims{Issuer: "tollgate", ID: "x", ExpiresAt: full.ExpiresAt}, Access: []token.Access{}},
		"escapes": {RegisteredClaims: jwt.RegisteredClaims{Issuer: "a\"b\\c\n\t\x01<>&", Subject: "ünïcode ☃ \xff bad"},
			Access: []token.Access{}, Identity: &verify.Identity{Kind: "user", Name: "q\"uote", Labels: map[string]string{"k\"": "v\n"}}},
	} {
		t.Run(name, func(t *testing.T) {
			want, err := json.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			sameJSON(t, c.AppendJSON(nil), want)
		})
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "a\"b", "\\", "\x00\x1f", "ü☃", "\xff\xfe", "\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := token.Claims{RegisteredClaims: jwt.RegisteredClaims{Issuer: s, Subject: s}, Access: []token.Access{}}
		want, err := json.Marshal(c)
		if err != nil {
			t.Skip()
		}
		sameJSON(t, c.AppendJSON(nil), want)
	})
}

func BenchmarkClaimsJSON(b *testing.B) {
	now := time.Now()
	c := token.Claims{
		RegisteredClaims: jwt.RegisteredClaims{Issuer: "tollgate", Subject: "alice", Audience: jwt.ClaimStrings{"registry.local"},
			ExpiresAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), IssuedAt: jwt.NewNumericDate(now), ID: "k2Qd5Yg0rY3w5fS1hJm7Tw"},
		Access:   []token.Access{{Type: "repository", Name: "alice/app", Actions: []string{"pull", "push"}}},
		Identity: &verify.Identity{Kind: "user", ID: "6c1d2c1e-0000-4000-8000-000000000001", Name: "alice", Source: "htpasswd"},
	}
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = json.Marshal(c)
		}
	})
	b.Run("AppendJSON", func(b *testing.B) {
		buf := make([]byte, 0, 1024)
		b.ReportAllocs()
		for b.Loop() {
			buf = c.AppendJSON(buf[:0])
		}
	})
}
