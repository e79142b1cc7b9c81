package refresh_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/refresh"
	"github.com/tollgate/tollgate/pkg/store/sqlite"
)

func newTokens(t *testing.T, now *time.Time) *refresh.Tokens {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &refresh.Tokens{Store: s, TTL: time.Hour, Now: func() time.Time { return *now }}
}

func TestIssueRedeemRevoke(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tokens := newTokens(t, &now)

	issued, err := tokens.Issue(ctx, alice, "docker", "registry.local")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(issued.Raw, refresh.Prefix) || len(issued.Raw) < 40 {
		t.Fatalf("raw token %q lacks prefix or entropy", issued.Raw)
	}
	rec, err := tokens.Redeem(ctx, issued.Raw)
	if err != nil {
		t.Fatalf("redeem: %v", err)
	}
	if rec.Subject != "alice" || rec.Hash == issued.Raw || rec.Hash != refresh.Hash(issued.Raw) {
		t.Fatalf("record %+v: want subject alice and only the hash stored", rec)
	}
	// A second redeem works too: identity tokens do not rotate on use.
	if _, err := tokens.Redeem(ctx, issued.Raw); err != nil {
		t.Fatalf("second redeem: %v", err)
	}
	if err := tokens.Revoke(ctx, issued.Raw); err != nil {
		t.Fatal(err)
	}
	if _, err := tokens.Redeem(ctx, issued.Raw); !errors.Is(err, refresh.ErrInvalid) {
		t.Fatalf("redeem revoked: err = %v, want ErrInvalid", err)
	}
	if err := tokens.Revoke(ctx, "tgr_unknown"); err != nil {
		t.Fatalf("revoke unknown: %v, want nil (RFC 7009)", err)
	}
}

func TestRedeemRejects(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tokens := newTokens(t, &now)
	issued, err := tokens.Issue(ctx, alice, "docker", "")
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]func() string{
		"unknown":   func() string { return refresh.Prefix + "nope" },
		"no prefix": func() string { return strings.TrimPrefix(issued.Raw, refresh.Prefix) },
		"too long":  func() string { return refresh.Prefix + strings.Repeat("a", 300) },
		"expired":   func() string { now = now.Add(time.Hour); return issued.Raw },
	}
	for name, raw := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := tokens.Redeem(ctx, raw()); !errors.Is(err, refresh.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
}

// alice is an authenticated user with an account and a password epoch.
var alice = authn.Identity{Name: "alice", AccountID: "acct-alice", Epoch: "e1"}

// TestIssueBindsToTheAccount: the stored token names the account and the
// password epoch; an identity without an account gets no token.
func TestIssueBindsToTheAccount(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tokens := newTokens(t, &now)
	issued, err := tokens.Issue(ctx, alice, "docker", "registry.local")
	if err != nil {
		t.Fatal(err)
	}
	rec, err := tokens.Redeem(ctx, issued.Raw)
	if err != nil || rec.AccountID != "acct-alice" || rec.Epoch != "e1" || rec.Subject != "alice" {
		t.Fatalf("stored %+v, %v; want alice's account and epoch", rec, err)
	}
	if _, err := tokens.Issue(ctx, authn.Identity{Name: "alice"}, "docker", "registry.local"); !errors.Is(err, refresh.ErrNoAccount) {
		t.Errorf("no account: err = %v, want ErrNoAccount", err)
	}
}
