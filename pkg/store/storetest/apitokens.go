package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/pkg/store"
)

// hash returns a 64-digit lowercase hex "hash" starting with prefix, so
// tests choose which tokens share a prefix.
func hash(prefix string) string {
	return prefix + strings.Repeat("0", 64-len(prefix))
}

func sampleAPI(h, owner string) store.APIToken {
	return store.APIToken{
		Hash: h, Owner: owner, AccountID: "acct-" + owner, Role: "write", Description: "ci pipeline",
		CreatedAt: nonUTC, ExpiresAt: nonUTC.Add(90 * 24 * time.Hour),
	}
}

// mustCreateAPI creates the tokens with no limit.
func mustCreateAPI(t *testing.T, s store.Store, tokens ...store.APIToken) {
	t.Helper()
	mustCreate(t, func(ctx context.Context, tok store.APIToken) error { return s.CreateAPIToken(ctx, tok, 0) }, tokens...)
}

// sameAPI compares every field, times exactly and in UTC.
func sameAPI(t *testing.T, got, want store.APIToken) {
	t.Helper()
	if got.Hash != want.Hash || got.Owner != want.Owner || got.AccountID != want.AccountID ||
		got.Role != want.Role || got.Description != want.Description {
		t.Errorf("got %+v, want %+v", got, want)
	}
	sameTime(t, want.Hash[:8]+" CreatedAt", got.CreatedAt, want.CreatedAt)
	sameTime(t, want.Hash[:8]+" ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	sameTime(t, want.Hash[:8]+" LastUsedAt", got.LastUsedAt, want.LastUsedAt)
	sameTime(t, want.Hash[:8]+" RevokedAt", got.RevokedAt, want.RevokedAt)
}

func apiCreateAndGet(t *testing.T, s store.Store) {
	want := sampleAPI(hash("a1"), "alice")
	want.Role, want.Description = "admin", "déploiement — nightly"
	mustCreateAPI(t, s, want)
	sameAPI(t, mustGet(t, s.APIToken, want.Hash), want)
}

func apiCreateKeepsGivenTimes(t *testing.T, s store.Store) {
	want := sampleAPI(hash("a2"), "alice")
	want.LastUsedAt = nonUTC.Add(time.Hour + time.Nanosecond)
	want.RevokedAt = nonUTC.Add(2*time.Hour + 7*time.Nanosecond)
	mustCreateAPI(t, s, want)
	sameAPI(t, mustGet(t, s.APIToken, want.Hash), want)
}

func apiNotFound(t *testing.T, s store.Store) {
	mustCreateAPI(t, s, sampleAPI(hash("a1"), "alice"))
	if _, err := s.APIToken(context.Background(), hash("b1")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("get missing: err = %v, want ErrNotFound", err)
	}
	if _, err := s.APIToken(context.Background(), "a1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("get by prefix: err = %v, want ErrNotFound (APIToken takes the whole hash)", err)
	}
}

func apiConflict(t *testing.T, s store.Store) {
	first := sampleAPI(hash("d0"), "alice")
	mustCreateAPI(t, s, first)
	other := sampleAPI(hash("d0"), "mallory")
	if err := s.CreateAPIToken(context.Background(), other, 0); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second create: err = %v, want ErrConflict", err)
	}
	sameAPI(t, mustGet(t, s.APIToken, first.Hash), first)
}

func apiList(t *testing.T, s store.Store) {
	ctx := context.Background()
	at := func(h, owner string, d time.Duration) store.APIToken {
		tok := sampleAPI(hash(h), owner)
		tok.CreatedAt = nonUTC.Add(d)
		return tok
	}
	expired := at("e1", "alice", time.Hour)
	expired.ExpiresAt = nonUTC.Add(time.Hour + time.Minute)
	revoked := at("e2", "bob", 2*time.Hour)
	revoked.RevokedAt = nonUTC.Add(3 * time.Hour)
	// Inserted out of created order; e3 and e0 share an instant and come
	// in hash order.
	tokens := []store.APIToken{
		at("e5", "alice", 5*time.Hour), revoked, at("e3", "bob", 3*time.Hour),
		at("e0", "alice", 3*time.Hour), expired, at("e4", "alice", 4*time.Hour),
	}
	mustCreateAPI(t, s, tokens...)
	byHash := map[string]store.APIToken{}
	for _, tok := range tokens {
		byHash[tok.Hash] = tok
	}
	check := func(owner string, want ...string) {
		t.Helper()
		got, err := s.ListAPITokens(ctx, acct(owner), store.Page{})
		if err != nil {
			t.Fatalf("list %q: %v", owner, err)
		}
		var gotPrefixes []string
		for _, g := range got {
			gotPrefixes = append(gotPrefixes, g.Hash[:2])
		}
		if strings.Join(gotPrefixes, " ") != strings.Join(want, " ") {
			t.Fatalf("list %q = %v, want %v", owner, gotPrefixes, want)
		}
		for _, g := range got {
			sameAPI(t, g, byHash[g.Hash])
		}
	}
	check("alice", "e1", "e0", "e4", "e5")
	check("bob", "e2", "e3")
	check("", "e1", "e2", "e0", "e3", "e4", "e5")
	check("nobody")
}

// apiListPages walks every token two at a time: each page starts after the
// last item of the previous one, ties of CreatedAt broken by hash.
func apiListPages(t *testing.T, s store.Store) {
	ctx := context.Background()
	var want []string
	for i, h := range []string{"f3", "f1", "f2", "f0", "f4"} {
		tok := sampleAPI(hash(h), "alice")
		tok.CreatedAt = nonUTC.Add(time.Duration(i/2) * time.Second) // f3,f1 | f2,f0 | f4
		mustCreateAPI(t, s, tok)
	}
	want = []string{"f1", "f3", "f0", "f2", "f4"}
	var got []string
	page := store.Page{Limit: 2}
	for range 10 {
		items, err := s.ListAPITokens(ctx, "acct-alice", page)
		if err != nil {
			t.Fatal(err)
		}
		if len(items) > 2 {
			t.Fatalf("page of %d items, want at most 2", len(items))
		}
		if len(items) == 0 {
			break
		}
		for _, it := range items {
			got = append(got, it.Hash[:2])
		}
		last := items[len(items)-1]
		page.AfterCreated, page.AfterHash = last.CreatedAt, last.Hash
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("pages = %v, want %v", got, want)
	}
	if rest, err := s.ListAPITokens(ctx, "acct-bob", store.Page{Limit: 2}); err != nil || len(rest) != 0 {
		t.Errorf("bob's pages = %v, %v; want none", rest, err)
	}
}

// apiLimit: live tokens count against the limit; revoked and expired ones
// (at the new token's CreatedAt) do not; other accounts' never do.
func apiLimit(t *testing.T, s store.Store) {
	ctx := context.Background()
	revoked := sampleAPI(hash("10"), "alice")
	revoked.RevokedAt = nonUTC
	expired := sampleAPI(hash("11"), "alice")
	expired.ExpiresAt = nonUTC.Add(-time.Second)
	mustCreateAPI(t, s, revoked, expired, sampleAPI(hash("12"), "alice"), sampleAPI(hash("13"), "bob"))
	if err := s.CreateAPIToken(ctx, sampleAPI(hash("14"), "alice"), 2); err != nil {
		t.Fatalf("second live token under a limit of 2: %v", err)
	}
	err := s.CreateAPIToken(ctx, sampleAPI(hash("15"), "alice"), 2)
	if !errors.Is(err, store.ErrLimit) {
		t.Fatalf("third live token: err = %v, want ErrLimit", err)
	}
	if _, err := s.APIToken(ctx, hash("15")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("refused token stored anyway: %v", err)
	}
	if err := s.CreateAPIToken(ctx, sampleAPI(hash("16"), "bob"), 2); err != nil {
		t.Errorf("bob's second token: %v", err)
	}
}

// apiLimitConcurrent: 16 creates racing for a limit of 5 store exactly 5.
func apiLimitConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	const racers, limit = 16, 5
	errs := concurrently(racers, 1, func(w, _ int) error {
		return s.CreateAPIToken(ctx, sampleAPI(hash(fmt.Sprintf("c%02d", w)), "alice"), limit)
	})
	ok := winners(t, "concurrent create", errs, store.ErrLimit)
	all, err := s.ListAPITokens(ctx, "acct-alice", store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if ok != limit || len(all) != limit {
		t.Errorf("%d creates succeeded, %d stored; want %d and %d", ok, len(all), limit, limit)
	}
}

func apiFind(t *testing.T, s store.Store) {
	ctx := context.Background()
	aliceABC, _, _ := prefixFixture(t, s)
	got, err := s.FindAPIToken(ctx, "abc1")
	if err != nil {
		t.Fatalf("find abc1: %v", err)
	}
	sameAPI(t, got, aliceABC)
	if _, err := s.FindAPIToken(ctx, "abc"); !errors.Is(err, store.ErrConflict) {
		t.Errorf("find ambiguous abc: err = %v, want ErrConflict", err)
	}
	for _, p := range []string{"", "fff", "%", "_"} {
		if _, err := s.FindAPIToken(ctx, p); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("find %q: err = %v, want ErrNotFound", p, err)
		}
	}
}

// prefixFixture creates alice's abc1… and def0…, and bob's abc2….
func prefixFixture(t *testing.T, s store.Store) (aliceABC, aliceDEF, bobABC store.APIToken) {
	aliceABC, aliceDEF, bobABC = sampleAPI(hash("abc1"), "alice"), sampleAPI(hash("def0"), "alice"), sampleAPI(hash("abc2"), "bob")
	mustCreateAPI(t, s, aliceABC, aliceDEF, bobABC)
	return aliceABC, aliceDEF, bobABC
}

func apiRevokeOwn(t *testing.T, s store.Store) {
	aliceABC, aliceDEF, bobABC := prefixFixture(t, s)
	at := nonUTC.Add(time.Hour + 3*time.Nanosecond)
	mustRevoke(t, s, "abc1", "acct-alice", at, aliceABC)
	sameAPI(t, mustGet(t, s.APIToken, aliceDEF.Hash), aliceDEF)
	sameAPI(t, mustGet(t, s.APIToken, bobABC.Hash), bobABC)

	// The whole hash is a prefix too.
	if _, err := s.RevokeAPIToken(context.Background(), aliceDEF.Hash, "acct-alice", at); err != nil {
		t.Fatalf("revoke by whole hash: %v", err)
	}
	if mustGet(t, s.APIToken, aliceDEF.Hash).RevokedAt.IsZero() {
		t.Error("revoke by whole hash left the token usable")
	}
}

func apiRevokeOtherOwner(t *testing.T, s store.Store) {
	_, _, bobABC := prefixFixture(t, s)
	_, err := s.RevokeAPIToken(context.Background(), "abc2", "acct-alice", nonUTC)
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("alice revoking bob's token: err = %v, want ErrNotFound", err)
	}
	sameAPI(t, mustGet(t, s.APIToken, bobABC.Hash), bobABC)
}

func apiRevokeAsAdmin(t *testing.T, s store.Store) {
	_, _, bobABC := prefixFixture(t, s)
	mustRevoke(t, s, "abc2", "", nonUTC, bobABC)
}

// mustRevoke revokes the token with prefix as the account accountID ("":
// an admin) at at, and checks that the answer and the stored token are tok
// revoked at at.
func mustRevoke(t *testing.T, s store.Store, prefix, accountID string, at time.Time, tok store.APIToken) {
	t.Helper()
	got, err := s.RevokeAPIToken(context.Background(), prefix, accountID, at)
	if err != nil {
		t.Fatalf("revoke %s as %q: %v", prefix, accountID, err)
	}
	want := tok
	want.RevokedAt = at
	sameAPI(t, got, want)
	sameAPI(t, mustGet(t, s.APIToken, tok.Hash), want)
}

func apiRevokeAmbiguous(t *testing.T, s store.Store) {
	ctx := context.Background()
	aliceABC, aliceDEF, bobABC := prefixFixture(t, s)
	// "abc" matches alice's and bob's token: ambiguous for an admin.
	if _, err := s.RevokeAPIToken(ctx, "abc", "", nonUTC); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("admin revoke abc: err = %v, want ErrConflict", err)
	}
	for _, tok := range []store.APIToken{aliceABC, aliceDEF, bobABC} {
		sameAPI(t, mustGet(t, s.APIToken, tok.Hash), tok)
	}
	// Among alice's tokens alone, "abc" names one.
	got, err := s.RevokeAPIToken(ctx, "abc", "acct-alice", nonUTC)
	if err != nil {
		t.Fatalf("alice revoke abc: %v", err)
	}
	if got.Hash != aliceABC.Hash {
		t.Errorf("alice revoke abc revoked %s, want %s", got.Hash, aliceABC.Hash)
	}
	sameAPI(t, mustGet(t, s.APIToken, bobABC.Hash), bobABC)
	// Two of alice's own tokens sharing a prefix.
	mustCreateAPI(t, s, sampleAPI(hash("def1"), "alice"))
	if _, err := s.RevokeAPIToken(ctx, "def", "acct-alice", nonUTC); !errors.Is(err, store.ErrConflict) {
		t.Errorf("alice revoke def: err = %v, want ErrConflict", err)
	}
}

func apiRevokeNotFound(t *testing.T, s store.Store) {
	ctx := context.Background()
	tok := sampleAPI(hash("abc1"), "alice")
	mustCreateAPI(t, s, tok)
	for _, tc := range []struct{ prefix, owner string }{
		{"fff", ""},
		{"fff", "alice"},
		{"abc1", "bob"},
		{hash("abc1") + "0", ""}, // longer than any hash
		{"", ""},                 // an empty prefix names nothing, even with one token
		{"", "alice"},
	} {
		if _, err := s.RevokeAPIToken(ctx, tc.prefix, acct(tc.owner), nonUTC); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("revoke %q as %q: err = %v, want ErrNotFound", tc.prefix, tc.owner, err)
		}
	}
	sameAPI(t, mustGet(t, s.APIToken, tok.Hash), tok)
}

// apiRevokePrefixIsNoPattern proves '%' and '_' are plain characters: with
// a single token, a LIKE pattern would match it.
func apiRevokePrefixIsNoPattern(t *testing.T, s store.Store) {
	ctx := context.Background()
	tok := sampleAPI(hash("abc1"), "alice")
	mustCreateAPI(t, s, tok)
	for _, prefix := range []string{"%", "_", "a%", "ab_", "a_c", "%1", `abc\`, "'", "ABC1"} {
		if _, err := s.RevokeAPIToken(ctx, prefix, "", nonUTC); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("revoke %q: err = %v, want ErrNotFound", prefix, err)
		}
	}
	sameAPI(t, mustGet(t, s.APIToken, tok.Hash), tok)
}

func apiRevokeTwice(t *testing.T, s store.Store) {
	ctx := context.Background()
	tok := sampleAPI(hash("abc1"), "alice")
	mustCreateAPI(t, s, tok)
	first := nonUTC.Add(time.Hour)
	if _, err := s.RevokeAPIToken(ctx, "abc1", "acct-alice", first); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	got, err := s.RevokeAPIToken(ctx, "abc", "", first.Add(time.Hour))
	if err != nil {
		t.Fatalf("revoke again: %v", err)
	}
	sameTime(t, "returned RevokedAt", got.RevokedAt, first)
	sameTime(t, "stored RevokedAt", mustGet(t, s.APIToken, tok.Hash).RevokedAt, first)
	// An earlier time does not move it either: the first revocation stays.
	if _, err := s.RevokeAPIToken(ctx, "abc1", "acct-alice", first.Add(-time.Hour)); err != nil {
		t.Fatalf("revoke a third time: %v", err)
	}
	sameTime(t, "stored RevokedAt", mustGet(t, s.APIToken, tok.Hash).RevokedAt, first)
}

func apiTouch(t *testing.T, s store.Store) {
	ctx := context.Background()
	a, b, c := sampleAPI(hash("a0"), "alice"), sampleAPI(hash("b0"), "bob"), sampleAPI(hash("c0"), "carol")
	mustCreateAPI(t, s, a, b, c)
	if err := s.TouchAPITokens(ctx, nil); err != nil {
		t.Fatalf("touch nothing: %v", err)
	}
	t1 := nonUTC.Add(time.Minute + time.Nanosecond)
	t2 := nonUTC.Add(2*time.Minute + 2*time.Nanosecond)
	if err := s.TouchAPITokens(ctx, map[string]time.Time{a.Hash: t1, b.Hash: t2, hash("ff"): t2}); err != nil {
		t.Fatalf("touch batch with an unknown hash: %v", err)
	}
	sameTime(t, "a LastUsedAt", mustGet(t, s.APIToken, a.Hash).LastUsedAt, t1)
	sameTime(t, "b LastUsedAt", mustGet(t, s.APIToken, b.Hash).LastUsedAt, t2)
	sameTime(t, "c LastUsedAt", mustGet(t, s.APIToken, c.Hash).LastUsedAt, time.Time{})
	if _, err := s.APIToken(ctx, hash("ff")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("touching an unknown hash created it: err = %v", err)
	}

	// b's older time is ignored, a's newer one applies; the same instant
	// is no change.
	t3 := t2.Add(time.Nanosecond)
	if err := s.TouchAPITokens(ctx, map[string]time.Time{a.Hash: t3, b.Hash: t1, c.Hash: time.Time{}}); err != nil {
		t.Fatalf("touch again: %v", err)
	}
	sameTime(t, "a LastUsedAt", mustGet(t, s.APIToken, a.Hash).LastUsedAt, t3)
	sameTime(t, "b LastUsedAt", mustGet(t, s.APIToken, b.Hash).LastUsedAt, t2)
	sameTime(t, "c LastUsedAt (zero time ignored)", mustGet(t, s.APIToken, c.Hash).LastUsedAt, time.Time{})

	// Touching a revoked token records use but does not un-revoke it.
	if _, err := s.RevokeAPIToken(ctx, "b0", "acct-bob", t2); err != nil {
		t.Fatal(err)
	}
	if err := s.TouchAPITokens(ctx, map[string]time.Time{b.Hash: t3}); err != nil {
		t.Fatal(err)
	}
	got := mustGet(t, s.APIToken, b.Hash)
	sameTime(t, "b LastUsedAt", got.LastUsedAt, t3)
	sameTime(t, "b RevokedAt", got.RevokedAt, t2)
}

func apiUsable(t *testing.T, s store.Store) {
	ctx := context.Background()
	tok := sampleAPI(hash("a0"), "alice")
	tok.ExpiresAt = nonUTC.Add(time.Hour)
	mustCreateAPI(t, s, tok)
	got := mustGet(t, s.APIToken, tok.Hash)
	for _, tc := range []struct {
		at   time.Time
		want bool
	}{
		{nonUTC, true},
		{tok.ExpiresAt.Add(-time.Nanosecond), true},
		{tok.ExpiresAt, false},
		{tok.ExpiresAt.Add(time.Second), false},
	} {
		if got.Usable(tc.at) != tc.want {
			t.Errorf("Usable(%v) = %v, want %v (expires %v)", tc.at, !tc.want, tc.want, got.ExpiresAt)
		}
	}
	revoked, err := s.RevokeAPIToken(ctx, "a0", "acct-alice", nonUTC.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if revoked.Usable(nonUTC.Add(2 * time.Minute)) {
		t.Error("the token returned by RevokeAPIToken is usable")
	}
	if mustGet(t, s.APIToken, tok.Hash).Usable(nonUTC.Add(2 * time.Minute)) {
		t.Error("the stored token is usable after revocation")
	}
}

// apiConcurrentTouchAndRevoke races touches and revocations of one token:
// exactly one revocation time wins, every revoker is told that time, it
// never changes again, and the last-used time is the greatest touched.
func apiConcurrentTouchAndRevoke(t *testing.T, s store.Store) {
	ctx := context.Background()
	tok := sampleAPI(hash("abc1"), "alice")
	mustCreateAPI(t, s, tok, sampleAPI(hash("abc2"), "bob"))
	const workers, rounds = 8, 10
	var (
		mu       sync.Mutex
		returned []time.Time
	)
	errs := concurrently(workers, rounds, func(w, i int) error {
		used := nonUTC.Add(time.Duration(w*rounds+i) * time.Second)
		touchErr := s.TouchAPITokens(ctx, map[string]time.Time{tok.Hash: used})
		owner := "alice"
		if w%2 == 0 {
			owner = "" // an admin
		}
		got, err := s.RevokeAPIToken(ctx, "abc1", acct(owner), nonUTC.Add(time.Duration(w*rounds+i+1)*time.Hour))
		if err == nil {
			mu.Lock()
			returned = append(returned, got.RevokedAt)
			mu.Unlock()
		}
		return errors.Join(touchErr, err)
	})
	noErrors(t, "concurrent touch/revoke", errs)
	got := mustGet(t, s.APIToken, tok.Hash)
	if got.RevokedAt.IsZero() {
		t.Fatal("token not revoked")
	}
	for _, r := range returned {
		if !r.Equal(got.RevokedAt) {
			t.Fatalf("a revoker was told %v, but the stored revocation is %v", r, got.RevokedAt)
		}
	}
	sameTime(t, "LastUsedAt", got.LastUsedAt, nonUTC.Add(time.Duration(workers*rounds-1)*time.Second))
	if !mustGet(t, s.APIToken, hash("abc2")).RevokedAt.IsZero() {
		t.Error("bob's token was revoked too")
	}
}

// apiConcurrentTouchBatches runs overlapping batches at once; a backend
// that locks rows in map order would deadlock here.
func apiConcurrentTouchBatches(t *testing.T, s store.Store) {
	ctx := context.Background()
	const tokens, workers, rounds = 20, 8, 5
	for i := range tokens {
		mustCreateAPI(t, s, sampleAPI(hash(fmt.Sprintf("%02x", i)), "alice"))
	}
	errs := concurrently(workers, rounds, func(w, r int) error {
		used := map[string]time.Time{}
		for i := range tokens {
			used[hash(fmt.Sprintf("%02x", i))] = nonUTC.Add(time.Duration(r*workers+w) * time.Millisecond)
		}
		return s.TouchAPITokens(ctx, used)
	})
	noErrors(t, "concurrent touch", errs)
	latest := nonUTC.Add(time.Duration((rounds-1)*workers+workers-1) * time.Millisecond)
	for i := range tokens {
		sameTime(t, fmt.Sprintf("token %02x LastUsedAt", i), mustGet(t, s.APIToken, hash(fmt.Sprintf("%02x", i))).LastUsedAt, latest)
	}
}

// acct is the account ID sampleAPI gives owner's tokens ("" stays "").
func acct(owner string) string {
	if owner == "" {
		return ""
	}
	return "acct-" + owner
}
