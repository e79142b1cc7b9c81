package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/pkg/scope"
	"github.com/tollgate/tollgate/pkg/token"
	"github.com/tollgate/tollgate/pkg/verify"
)

// writeTokenConfig writes a signing key of alg and a configuration naming it
// with the issuer "tollgate-test", and returns the configuration's path and
// the key.
func writeTokenConfig(t *testing.T, alg string) (string, *keys.Key) {
	t.Helper()
	dir := t.TempDir()
	priv, cert := filepath.Join(dir, "signing.pem"), filepath.Join(dir, "signing.crt")
	if alg == "HS256" {
		cert = ""
	}
	key, err := keys.WriteDev(priv, cert, keys.Options{Algorithm: alg})
	if err != nil {
		t.Fatalf("WriteDev: %v", err)
	}
	path := filepath.Join(dir, "tollgate.yaml")
	yaml := fmt.Sprintf("token:\n  issuer: tollgate-test\nkeys:\n  algorithm: %s\n  private_key: %q\n  certificate: %q\n", alg, priv, cert)
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, key
}

// mint mints a registry token the way the server does.
func mint(t *testing.T, signer token.Signer, issuer string, now time.Time) string {
	t.Helper()
	m := &token.Minter{Issuer: issuer, TTL: 5 * time.Minute, Signer: signer, Now: func() time.Time { return now }}
	s, err := scope.Parse("repository:team/app:pull,push")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := m.Mint(token.Grant{Subject: "alice", Audience: []string{"registry.local"}, Access: []scope.Scope{s}})
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	return tok.Raw
}

func TestTokenInspect(t *testing.T) {
	for _, alg := range []string{"ES256", "RS256", "EdDSA", "HS256"} {
		t.Run(alg, func(t *testing.T) {
			cfg, key := writeTokenConfig(t, alg)
			raw := mint(t, key, "tollgate-test", time.Now())
			for _, args := range [][]string{{raw}, {"-"}} {
				stdin := ""
				if args[0] == "-" {
					stdin = raw + "\n"
				}
				out, err := runCLI(t, stdin, "token", "inspect", args[0], "--config", cfg)
				if err != nil {
					t.Fatalf("inspect %s: %v\n%s", args[0], err, out)
				}
				for _, want := range []string{
					`"alg": "` + alg + `"`, `"kid": "` + key.ID() + `"`,
					`"sub": "alice"`, `"registry.local"`, `"name": "team/app"`,
					"signature: valid", "expiry: valid until ",
				} {
					if !strings.Contains(out, want) {
						t.Errorf("output lacks %q:\n%s", want, out)
					}
				}
			}
		})
	}
}

func TestTokenInspectRefusals(t *testing.T) {
	cfg, key := writeTokenConfig(t, "ES256")
	other, err := keys.Generate(keys.Options{Algorithm: "ES256"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	// Same kid as the configured key, another private key.
	forged := func() string {
		raw := mint(t, other, "tollgate-test", now)
		parts := strings.Split(raw, ".")
		hdr := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{})
		hdr.Header["kid"] = key.ID()
		signing, err := hdr.SigningString()
		if err != nil {
			t.Fatal(err)
		}
		return strings.Split(signing, ".")[0] + "." + parts[1] + "." + parts[2]
	}()
	tests := []struct {
		name  string
		raw   string
		want  error
		lines []string
	}{
		{"expired", mint(t, key, "tollgate-test", now.Add(-time.Hour)), verify.ErrExpired,
			[]string{"signature: valid", "expiry: EXPIRED at "}},
		{"other key", mint(t, other, "tollgate-test", now), verify.ErrUnknownKey,
			[]string{"signature: INVALID (unknown signing key: kid ", "expiry: valid until"}},
		{"forged under our kid", forged, verify.ErrSignature,
			[]string{"signature: INVALID (invalid signature)"}},
		{"wrong issuer", mint(t, key, "someone-else", now), verify.ErrIssuer,
			[]string{"signature: valid", `issuer: WRONG (wrong issuer: "someone-else", want "tollgate-test")`}},
		{"not a JWT", "hello", verify.ErrMalformed, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runCLI(t, "", "token", "inspect", tt.raw, "--config", cfg)
			if !errors.Is(err, tt.want) || !errors.Is(err, errTokenInvalid) || exitCode(err) != 1 {
				t.Fatalf("inspect = %v (exit %d), want %v\n%s", err, exitCode(err), tt.want, out)
			}
			for _, want := range tt.lines {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

func TestTokenInspectEmptyStdin(t *testing.T) {
	cfg, _ := writeTokenConfig(t, "ES256")
	if out, err := runCLI(t, " \n", "token", "inspect", "-", "--config", cfg); err == nil {
		t.Fatalf("inspect of empty stdin succeeded:\n%s", out)
	}
}
