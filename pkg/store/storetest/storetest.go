// Package storetest is the one conformance suite every store backend runs:
// storetest.Run(t, newStore).
package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tollgate/tollgate/pkg/store"
)

// NewStore returns a fresh, empty store for one test.
type NewStore func(t *testing.T) store.Store

// Run runs the whole suite against the backend, one store interface after
// another.
func Run(t *testing.T, newStore NewStore) {
	for _, suite := range []struct {
		name  string
		cases []testCase
	}{
		{"RefreshTokens", []testCase{
			{"CreateAndGet", refreshCreateAndGet},
			{"NotFound", refreshNotFound},
			{"Conflict", refreshConflict},
			{"Revoke", refreshRevoke},
			{"DeleteExpired", refreshDeleteExpired},
			{"ConcurrentCreate", refreshConcurrentCreate},
			{"Binding", refreshBinding},
			{"RevokeWorkload", refreshRevokeWorkload},
			{"RevokeWorkloadUnknownSubject", refreshRevokeWorkloadUnknown},
			{"ConcurrentRevokeWorkload", refreshRevokeWorkloadConcurrent},
		}},
		{"EngineRefreshTokens", []testCase{
			{"CreateAndGet", engineRefreshCreateAndGet},
			{"NotFound", engineRefreshNotFound},
			{"Conflict", engineRefreshConflict},
			{"UseOnce", engineRefreshUseOnce},
			{"ReuseAfterRotationRevokesFamily", engineRefreshReuse},
			{"ConcurrentUse", engineRefreshConcurrentUse},
			{"LateMemberOfRevokedFamily", engineRefreshLateMember},
			{"Delete", engineRefreshDelete},
		}},
		{"APITokens", []testCase{
			{"CreateAndGet", apiCreateAndGet},
			{"CreateKeepsGivenTimes", apiCreateKeepsGivenTimes},
			{"NotFound", apiNotFound},
			{"Conflict", apiConflict},
			{"ListInCreatedOrder", apiList},
			{"ListPages", apiListPages},
			{"LimitLiveTokens", apiLimit},
			{"LimitConcurrentCreates", apiLimitConcurrent},
			{"FindByPrefix", apiFind},
			{"RevokeOwn", apiRevokeOwn},
			{"RevokeOtherOwnersToken", apiRevokeOtherOwner},
			{"RevokeAsAdmin", apiRevokeAsAdmin},
			{"RevokeAmbiguousPrefix", apiRevokeAmbiguous},
			{"RevokeNotFound", apiRevokeNotFound},
			{"RevokePrefixIsNoPattern", apiRevokePrefixIsNoPattern},
			{"RevokeTwiceKeepsFirstTime", apiRevokeTwice},
			{"Touch", apiTouch},
			{"UsableWithExpiry", apiUsable},
			{"ConcurrentTouchAndRevoke", apiConcurrentTouchAndRevoke},
			{"ConcurrentTouchBatches", apiConcurrentTouchBatches},
		}},
		{"Audit", []testCase{
			{"AppendAndList", auditAppendAndList},
			{"EmptyBatch", auditEmptyBatch},
			{"AfterID", auditAfterID},
			{"Since", auditSince},
			{"Limit", auditLimit},
			{"IDOrderAcrossBatches", auditOrder},
			{"ConcurrentAppend", auditConcurrentAppend},
			{"DeleteBefore", auditDeleteBefore},
			{"LargeBatch", auditLargeBatch},
		}},
		{"Clients", []testCase{
			{"CreateAndGet", clientCreateAndGet},
			{"PublicClientAndZeroUpdatedAt", clientPublic},
			{"EmptyLists", clientEmptyLists},
			{"NotFound", clientNotFound},
			{"Conflict", clientConflict},
			{"ListEmpty", clientListEmpty},
			{"ListInIDOrder", clientList},
			{"Update", clientUpdate},
			{"Delete", clientDelete},
		}},
		{"KeyRings", []testCase{
			{"NotFoundInitially", ringNotFound},
			{"SwapWithoutRing", ringSwapWithoutRing},
			{"FirstCreate", ringFirstCreate},
			{"Swap", ringSwap},
			{"StaleVersion", ringStale},
			{"DataRoundTrip", ringDataRoundTrip},
			{"ConcurrentSwaps", ringConcurrentSwaps},
			{"ConcurrentFirstCreates", ringConcurrentFirstCreates},
		}},
		{"Accounts", []testCase{
			{"CreateAndGet", accountCreateAndGet},
			{"SourceRoundTrip", accountSource},
			{"CreateMany", accountCreateMany},
			{"NameAndIDAreUnique", accountConflict},
			{"NotFound", accountNotFound},
			{"ListInNameOrder", accountList},
			{"Update", accountUpdate},
			{"DeleteEndsEveryCredential", accountDelete},
			{"RevokeByKind", accountRevokeKinds},
			{"RevokeKeepsCurrentEpoch", accountRevokeKeepEpoch},
			{"RevokeCountsOnlyLive", accountRevokeTwice},
			{"ConcurrentCreateOneWins", accountConcurrentCreate},
			{"ConcurrentChangesAllApply", accountConcurrentChanges},
			{"AdoptEpoch", accountAdoptEpoch},
		}},
		{"Sessions", []testCase{
			{"CreateAndGet", sessionCreateAndGet},
			{"NotFound", sessionNotFound},
			{"Conflict", sessionConflict},
			{"Touch", sessionTouch},
			{"ConcurrentTouchLatestWins", sessionConcurrentTouch},
			{"Delete", sessionDelete},
			{"DeleteUser", sessionDeleteUser},
			{"DeleteExpired", sessionDeleteExpired},
			{"ConcurrentCreate", sessionConcurrentCreate},
		}},
	} {
		t.Run(suite.name, func(t *testing.T) { runCases(t, newStore, suite.cases) })
	}
}

// testCase is one independent case; it gets a fresh store.
type testCase struct {
	name string
	fn   func(t *testing.T, s store.Store)
}

func runCases(t *testing.T, newStore NewStore, tests []testCase) {
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			t.Cleanup(func() { s.Close() })
			tc.fn(t, s)
		})
	}
}

// nonUTC is a time in a non-UTC zone with nanoseconds, to prove times
// round-trip exactly and come back in UTC.
var nonUTC = time.Date(2026, 3, 4, 5, 6, 7, 123456789, time.FixedZone("X", 5*3600+1800))

func sampleRefresh(hash string) store.RefreshToken {
	return store.RefreshToken{
		Hash: hash, Subject: "alice", AccountID: "acct-alice", Epoch: "e1", ClientID: "docker", Service: "registry.local",
		CreatedAt: nonUTC, ExpiresAt: nonUTC.Add(720 * time.Hour),
	}
}

func refreshCreateAndGet(t *testing.T, s store.Store) {
	ctx := context.Background()
	want := sampleRefresh("h1")
	if err := s.CreateRefreshToken(ctx, want); err != nil {
		t.Fatalf("create: %v", err)
	}
	got, err := s.RefreshToken(ctx, "h1")
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if got.Hash != want.Hash || got.Subject != want.Subject || got.ClientID != want.ClientID || got.Service != want.Service ||
		got.AccountID != want.AccountID || got.Epoch != want.Epoch || got.Binding != "" {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if !got.CreatedAt.Equal(want.CreatedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) {
		t.Errorf("times: got %v/%v, want %v/%v", got.CreatedAt, got.ExpiresAt, want.CreatedAt, want.ExpiresAt)
	}
	if got.CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt location = %v, want UTC", got.CreatedAt.Location())
	}
	if !got.RevokedAt.IsZero() {
		t.Errorf("RevokedAt = %v, want zero", got.RevokedAt)
	}
}

func refreshNotFound(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.RefreshToken(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("get missing: err = %v, want ErrNotFound", err)
	}
	if err := s.RevokeRefreshToken(ctx, "missing", nonUTC); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("revoke missing: err = %v, want ErrNotFound", err)
	}
}

func refreshConflict(t *testing.T, s store.Store) {
	ctx := context.Background()
	if err := s.CreateRefreshToken(ctx, sampleRefresh("dup")); err != nil {
		t.Fatalf("create: %v", err)
	}
	other := sampleRefresh("dup")
	other.Subject = "mallory"
	if err := s.CreateRefreshToken(ctx, other); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second create: err = %v, want ErrConflict", err)
	}
	got, err := s.RefreshToken(ctx, "dup")
	if err != nil || got.Subject != "alice" {
		t.Errorf("after conflict: got %+v, %v; want the first token kept", got, err)
	}
}

func refreshRevoke(t *testing.T, s store.Store) {
	ctx := context.Background()
	if err := s.CreateRefreshToken(ctx, sampleRefresh("r")); err != nil {
		t.Fatal(err)
	}
	first := nonUTC.Add(time.Hour)
	if err := s.RevokeRefreshToken(ctx, "r", first); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	if err := s.RevokeRefreshToken(ctx, "r", first.Add(time.Hour)); err != nil {
		t.Fatalf("revoke again: %v", err)
	}
	got, err := s.RefreshToken(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	sameTime(t, "RevokedAt (the first revocation)", got.RevokedAt, first)
	if got.Usable(nonUTC.Add(2 * time.Hour)) {
		t.Error("revoked token reported usable")
	}
}

func refreshDeleteExpired(t *testing.T, s store.Store) {
	ctx := context.Background()
	old := sampleRefresh("old")
	old.ExpiresAt = nonUTC.Add(time.Minute)
	if err := s.CreateRefreshToken(ctx, old); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateRefreshToken(ctx, sampleRefresh("young")); err != nil {
		t.Fatal(err)
	}
	n, err := s.DeleteExpiredRefreshTokens(ctx, nonUTC.Add(time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("delete expired = %d, %v; want 1, nil", n, err)
	}
	if _, err := s.RefreshToken(ctx, "old"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("old token: err = %v, want ErrNotFound", err)
	}
	if _, err := s.RefreshToken(ctx, "young"); err != nil {
		t.Errorf("young token: %v", err)
	}
}

func refreshConcurrentCreate(t *testing.T, s store.Store) {
	ctx := context.Background()
	const workers, each = 8, 25
	errs := concurrently(workers, each, func(w, i int) error {
		return s.CreateRefreshToken(ctx, sampleRefresh(fmt.Sprintf("c-%d-%d", w, i)))
	})
	noErrors(t, "concurrent create", errs)
	for w := range workers {
		for i := range each {
			if _, err := s.RefreshToken(ctx, fmt.Sprintf("c-%d-%d", w, i)); err != nil {
				t.Fatalf("token c-%d-%d lost: %v", w, i, err)
			}
		}
	}
}

// sameTime checks that got is exactly want (to the nanosecond) and, unless
// zero, in UTC.
func sameTime(t *testing.T, field string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) || got.IsZero() != want.IsZero() {
		t.Errorf("%s = %v, want %v", field, got, want)
	}
	if !want.IsZero() && got.Location() != time.UTC {
		t.Errorf("%s location = %v, want UTC", field, got.Location())
	}
}
