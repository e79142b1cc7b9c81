package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tollgate/tollgate/pkg/store"
)

// workloadSubject is a CI workload's subject, as a GitHub Actions ID token
// names it.
const workloadSubject = "repo:acme/app:ref:refs/heads/main"

// sampleBinding is a binding as pkg/refresh might write it: JSON with
// quotes, slashes and non-ASCII text, which must come back byte for byte.
const sampleBinding = `{"issuer":"https://token.actions.githubusercontent.com","rule":"ci-push",` +
	`"claims":{"repository":"acme/app","actor":"zoë"}}`

// sampleWorkloadRefresh is a refresh token issued to a workload: no
// account, no epoch, a binding.
func sampleWorkloadRefresh(hash, subject string) store.RefreshToken {
	return store.RefreshToken{
		Hash: hash, Subject: subject, ClientID: "docker", Service: "registry.local", Binding: sampleBinding,
		CreatedAt: nonUTC, ExpiresAt: nonUTC.Add(time.Hour),
	}
}

// refreshBinding: a workload's binding and empty account round-trip, and
// an account's token reads back with no binding.
func refreshBinding(t *testing.T, s store.Store) {
	want := sampleWorkloadRefresh("w", workloadSubject)
	mustCreate(t, s.CreateRefreshToken, want, sampleRefresh("a"))
	got := mustGet(t, s.RefreshToken, "w")
	if got.Binding != want.Binding || got.AccountID != "" || got.Epoch != "" || got.Subject != want.Subject {
		t.Errorf("workload token = %+v, want %+v", got, want)
	}
	sameTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
	sameTime(t, "ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	if got := mustGet(t, s.RefreshToken, "a"); got.Binding != "" {
		t.Errorf("account token's Binding = %q, want empty", got.Binding)
	}
}

// refreshRevokeWorkload: only the workload's unrevoked tokens are revoked
// and counted; an account's token of the same subject, other workloads'
// tokens and earlier revocations are left as they are.
func refreshRevokeWorkload(t *testing.T, s store.Store) {
	ctx := context.Background()
	account := sampleRefresh("account")
	account.Subject = workloadSubject // an account may bear any name
	mustCreate(t, s.CreateRefreshToken,
		sampleWorkloadRefresh("w1", workloadSubject), sampleWorkloadRefresh("w2", workloadSubject),
		sampleWorkloadRefresh("w-revoked", workloadSubject), sampleWorkloadRefresh("other", "repo:acme/other:ref:refs/heads/main"),
		account)
	earlier, at := nonUTC.Add(time.Minute), nonUTC.Add(time.Hour)
	if err := s.RevokeRefreshToken(ctx, "w-revoked", earlier); err != nil {
		t.Fatal(err)
	}
	if n, err := s.RevokeWorkloadRefreshTokens(ctx, workloadSubject, at); err != nil || n != 2 {
		t.Fatalf("revoke workload = %d, %v; want 2, nil", n, err)
	}
	for hash, want := range map[string]time.Time{
		"w1": at, "w2": at, "w-revoked": earlier, "other": {}, "account": {},
	} {
		sameTime(t, hash+" RevokedAt", mustGet(t, s.RefreshToken, hash).RevokedAt, want)
	}
	if n, err := s.RevokeWorkloadRefreshTokens(ctx, workloadSubject, at.Add(time.Hour)); err != nil || n != 0 {
		t.Errorf("revoke again = %d, %v; want 0, nil", n, err)
	}
	sameTime(t, "w1 RevokedAt after a second revocation", mustGet(t, s.RefreshToken, "w1").RevokedAt, at)
}

// refreshRevokeWorkloadUnknown: a subject with no tokens revokes nothing,
// without an error.
func refreshRevokeWorkloadUnknown(t *testing.T, s store.Store) {
	mustCreate(t, s.CreateRefreshToken, sampleWorkloadRefresh("w", workloadSubject))
	if n, err := s.RevokeWorkloadRefreshTokens(context.Background(), "repo:acme/none", nonUTC); err != nil || n != 0 {
		t.Errorf("revoke unknown subject = %d, %v; want 0, nil", n, err)
	}
	sameTime(t, "RevokedAt", mustGet(t, s.RefreshToken, "w").RevokedAt, time.Time{})
}

// refreshRevokeWorkloadConcurrent: revocations racing each other count
// every token exactly once between them.
func refreshRevokeWorkloadConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	const tokens, workers = 20, 8
	for i := range tokens {
		mustCreate(t, s.CreateRefreshToken, sampleWorkloadRefresh(fmt.Sprintf("w%d", i), workloadSubject))
	}
	counts := make([]int64, workers)
	errs := concurrently(workers, 1, func(w, _ int) error {
		var err error
		counts[w], err = s.RevokeWorkloadRefreshTokens(ctx, workloadSubject, nonUTC.Add(time.Duration(w+1)*time.Minute))
		return err
	})
	noErrors(t, "concurrent revoke", errs)
	var total int64
	for _, n := range counts {
		total += n
	}
	if total != tokens {
		t.Errorf("revocations counted %d tokens (%v), want %d", total, counts, tokens)
	}
	for i := range tokens {
		if got := mustGet(t, s.RefreshToken, fmt.Sprintf("w%d", i)); got.RevokedAt.IsZero() {
			t.Errorf("token w%d not revoked", i)
		}
	}
}

// PreBindingRows are refresh tokens as a store before bindings (migration
// 0005) held them, in SQL both backends run: an account's token whose
// subject a workload might also bear.
var PreBindingRows = []string{
	`INSERT INTO refresh_tokens (hash, subject, account_id, epoch, client_id, service, created_at, expires_at)
		VALUES ('pre-binding', '` + workloadSubject + `', 'acct-1', 'e1', 'docker', 'registry.local', 1, 4000000000000000000)`,
}

// CheckPreBinding checks a store migrated from PreBindingRows: the token
// reads back as an account's (no binding), and revoking the workload of
// its subject leaves it alone.
func CheckPreBinding(t *testing.T, s store.Store) {
	t.Helper()
	got := mustGet(t, s.RefreshToken, "pre-binding")
	if got.Binding != "" || got.AccountID != "acct-1" || got.Epoch != "e1" {
		t.Errorf("migrated token = %+v, want account acct-1, epoch e1, no binding", got)
	}
	if n, err := s.RevokeWorkloadRefreshTokens(context.Background(), workloadSubject, nonUTC); err != nil || n != 0 {
		t.Errorf("revoke workload after migration = %d, %v; want 0, nil", n, err)
	}
	mustCreate(t, s.CreateRefreshToken, sampleWorkloadRefresh("post-binding", workloadSubject))
	if got := mustGet(t, s.RefreshToken, "post-binding"); got.Binding != sampleBinding {
		t.Errorf("binding stored after migration = %q, want %q", got.Binding, sampleBinding)
	}
}
