package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tollgate/tollgate/pkg/store"
)

func sampleEngineRefresh(hash, family string) store.EngineRefreshToken {
	return store.EngineRefreshToken{
		Hash: hash, FamilyID: family, Subject: "alice", AccountID: "acct-alice", Epoch: "e1", ClientID: "anonymous",
		CreatedAt: nonUTC, ExpiresAt: nonUTC.Add(720 * time.Hour),
	}
}

func engineRefreshCreateAndGet(t *testing.T, s store.Store) {
	want := sampleEngineRefresh("h1", "f1")
	if err := s.CreateEngineRefreshToken(context.Background(), want); err != nil {
		t.Fatalf("create: %v", err)
	}
	got := mustGet(t, s.EngineRefreshToken, "h1")
	if got.Hash != want.Hash || got.FamilyID != want.FamilyID || got.Subject != want.Subject || got.ClientID != want.ClientID ||
		got.AccountID != want.AccountID || got.Epoch != want.Epoch {
		t.Errorf("got %+v, want %+v", got, want)
	}
	sameTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
	sameTime(t, "ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	sameTime(t, "UsedAt", got.UsedAt, time.Time{})
	sameTime(t, "RevokedAt", got.RevokedAt, time.Time{})
	if !got.Usable(nonUTC) {
		t.Error("fresh token not usable")
	}
}

func engineRefreshNotFound(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.EngineRefreshToken(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("get missing: err = %v, want ErrNotFound", err)
	}
	if _, err := s.UseEngineRefreshToken(ctx, "missing", nonUTC); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("use missing: err = %v, want ErrNotFound", err)
	}
	if n, err := s.RevokeEngineRefreshFamily(ctx, "missing", nonUTC); err != nil || n != 0 {
		t.Errorf("revoke missing family = %d, %v; want 0, nil", n, err)
	}
}

func engineRefreshConflict(t *testing.T, s store.Store) {
	ctx := context.Background()
	if err := s.CreateEngineRefreshToken(ctx, sampleEngineRefresh("dup", "f1")); err != nil {
		t.Fatal(err)
	}
	other := sampleEngineRefresh("dup", "f2")
	other.Subject = "mallory"
	if err := s.CreateEngineRefreshToken(ctx, other); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second create: err = %v, want ErrConflict", err)
	}
	if got := mustGet(t, s.EngineRefreshToken, "dup"); got.Subject != "alice" || got.FamilyID != "f1" {
		t.Errorf("after conflict: %+v; want the first token kept", got)
	}
}

func engineRefreshUseOnce(t *testing.T, s store.Store) {
	ctx := context.Background()
	if err := s.CreateEngineRefreshToken(ctx, sampleEngineRefresh("u", "f")); err != nil {
		t.Fatal(err)
	}
	at := nonUTC.Add(time.Minute)
	got, err := s.UseEngineRefreshToken(ctx, "u", at)
	if err != nil {
		t.Fatalf("first use: %v", err)
	}
	sameTime(t, "UsedAt returned", got.UsedAt, at)
	if got.FamilyID != "f" || got.Subject != "alice" {
		t.Errorf("first use returned %+v", got)
	}
	again, err := s.UseEngineRefreshToken(ctx, "u", at.Add(time.Minute))
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second use: err = %v, want ErrConflict", err)
	}
	if again.FamilyID != "f" {
		t.Errorf("second use returned %+v; want the stored record (its family)", again)
	}
	sameTime(t, "UsedAt after a second use (the first kept)", mustGet(t, s.EngineRefreshToken, "u").UsedAt, at)
	if mustGet(t, s.EngineRefreshToken, "u").Usable(at) {
		t.Error("used token reported usable")
	}
}

// engineRefreshReuse: a family of three rotations; revoking it (what a
// reuse of the first does) revokes every token, the newest included, and
// keeps a family apart from others.
func engineRefreshReuse(t *testing.T, s store.Store) {
	ctx := context.Background()
	for _, h := range []string{"a1", "a2", "a3"} {
		if err := s.CreateEngineRefreshToken(ctx, sampleEngineRefresh(h, "fa")); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateEngineRefreshToken(ctx, sampleEngineRefresh("b1", "fb")); err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"a1", "a2"} {
		if _, err := s.UseEngineRefreshToken(ctx, h, nonUTC); err != nil {
			t.Fatal(err)
		}
	}
	prev, err := s.UseEngineRefreshToken(ctx, "a1", nonUTC.Add(time.Hour))
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("reuse: err = %v, want ErrConflict", err)
	}
	first := nonUTC.Add(time.Hour)
	if n, err := s.RevokeEngineRefreshFamily(ctx, prev.FamilyID, first); err != nil || n != 3 {
		t.Fatalf("revoke family = %d, %v; want 3, nil", n, err)
	}
	if _, err := s.RevokeEngineRefreshFamily(ctx, prev.FamilyID, first.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"a1", "a2", "a3"} {
		got := mustGet(t, s.EngineRefreshToken, h)
		sameTime(t, h+" RevokedAt (the first revocation)", got.RevokedAt, first)
		if got.Usable(first) {
			t.Errorf("%s usable after its family was revoked", h)
		}
	}
	if got := mustGet(t, s.EngineRefreshToken, "b1"); !got.RevokedAt.IsZero() || !got.Usable(first) {
		t.Errorf("another family's token was touched: %+v", got)
	}
}

// engineRefreshConcurrentUse: 8 goroutines use one token at once; exactly
// one succeeds, the others get ErrConflict.
func engineRefreshConcurrentUse(t *testing.T, s store.Store) {
	ctx := context.Background()
	if err := s.CreateEngineRefreshToken(ctx, sampleEngineRefresh("c", "fc")); err != nil {
		t.Fatal(err)
	}
	const workers = 8
	errs := concurrently(workers, 1, func(w, _ int) error {
		_, err := s.UseEngineRefreshToken(ctx, "c", nonUTC.Add(time.Duration(w)*time.Second))
		return err
	})
	if ok := winners(t, "concurrent use", errs, store.ErrConflict); ok != 1 {
		t.Fatalf("%d of %d concurrent uses succeeded, want exactly 1", ok, workers)
	}
}

// engineRefreshLateMember: a token created into a family after the family
// was revoked (a rotation racing a reuse) reads as revoked, and its use
// returns it so.
func engineRefreshLateMember(t *testing.T, s store.Store) {
	ctx := context.Background()
	if err := s.CreateEngineRefreshToken(ctx, sampleEngineRefresh("old", "fl")); err != nil {
		t.Fatal(err)
	}
	at := nonUTC.Add(time.Hour)
	if _, err := s.RevokeEngineRefreshFamily(ctx, "fl", at); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateEngineRefreshToken(ctx, sampleEngineRefresh("late", "fl")); err != nil {
		t.Fatal(err)
	}
	sameTime(t, "late RevokedAt", mustGet(t, s.EngineRefreshToken, "late").RevokedAt, at)
	got, err := s.UseEngineRefreshToken(ctx, "late", at.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	sameTime(t, "late RevokedAt on use", got.RevokedAt, at)
	if got.Usable(at) {
		t.Error("a late member of a revoked family is usable")
	}
}

// engineRefreshDelete removes expired tokens, revoked families whole and
// tokens used before the cut-off, and nothing else.
func engineRefreshDelete(t *testing.T, s store.Store) {
	ctx := context.Background()
	expired := sampleEngineRefresh("expired", "f1")
	expired.ExpiresAt = nonUTC.Add(time.Minute)
	usedLong := sampleEngineRefresh("used-long-ago", "f2")
	usedLong.UsedAt = nonUTC.Add(time.Minute)
	usedLately := sampleEngineRefresh("used-lately", "f2")
	usedLately.UsedAt = nonUTC.Add(3 * time.Hour)
	revokedA, revokedB := sampleEngineRefresh("revoked-a", "f3"), sampleEngineRefresh("revoked-b", "f3")
	revokedA.RevokedAt = nonUTC
	live := sampleEngineRefresh("live", "f2")
	for _, tok := range []store.EngineRefreshToken{expired, usedLong, usedLately, revokedA, revokedB, live} {
		if err := s.CreateEngineRefreshToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.DeleteEngineRefreshTokens(ctx, nonUTC.Add(time.Hour), nonUTC.Add(2*time.Hour))
	if err != nil || n != 4 {
		t.Fatalf("delete = %d, %v; want 4, nil", n, err)
	}
	for _, gone := range []string{"expired", "used-long-ago", "revoked-a", "revoked-b"} {
		if _, err := s.EngineRefreshToken(ctx, gone); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: err = %v, want ErrNotFound", gone, err)
		}
	}
	for _, kept := range []string{"used-lately", "live"} {
		mustGet(t, s.EngineRefreshToken, kept)
	}
}
