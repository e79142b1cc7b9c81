package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tollgate/tollgate/pkg/store"
)

// sessionTTL is the absolute timeout of the sample sessions.
const sessionTTL = 12 * time.Hour

// sampleSession is a session of subject, signed in at nonUTC through an
// OpenID Connect provider, with groups whose order, quotes and non-ASCII
// text must come back as given.
func sampleSession(hash, subject string) store.Session {
	return store.Session{
		Hash: hash, Subject: subject, AccountID: "acct-" + subject, Source: "oidc:corp",
		Groups: []string{"registry-admins", `ops "on call"`, "équipe"}, CSRF: "csrf-" + hash,
		CreatedAt: nonUTC, SeenAt: nonUTC, ExpiresAt: nonUTC.Add(sessionTTL),
	}
}

// sameSession compares every field: groups element by element (nil and
// empty alike), times exactly and in UTC.
func sameSession(t *testing.T, got, want store.Session) {
	t.Helper()
	if got.Hash != want.Hash || got.Subject != want.Subject || got.AccountID != want.AccountID ||
		got.Source != want.Source || got.Admin != want.Admin || got.CSRF != want.CSRF ||
		!slices.Equal(got.Groups, want.Groups) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	sameTime(t, want.Hash+" CreatedAt", got.CreatedAt, want.CreatedAt)
	sameTime(t, want.Hash+" SeenAt", got.SeenAt, want.SeenAt)
	sameTime(t, want.Hash+" ExpiresAt", got.ExpiresAt, want.ExpiresAt)
}

// sessionGone checks that the session with hash is not stored.
func sessionGone(t *testing.T, s store.Store, hash string) {
	t.Helper()
	if _, err := s.Session(context.Background(), hash); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("session %s: err = %v, want ErrNotFound", hash, err)
	}
}

// sessionCreateAndGet: an administrator's session and a user's without
// groups round-trip field for field; no groups come back empty, not nil.
func sessionCreateAndGet(t *testing.T, s store.Store) {
	admin := sampleSession("admin", "alice")
	admin.Admin = true
	plain := sampleSession("plain", "bob")
	plain.AccountID, plain.Source, plain.Groups = "", "htpasswd", nil
	plain.SeenAt = nonUTC.Add(time.Minute + time.Nanosecond)
	mustCreate(t, s.CreateSession, admin, plain)
	sameSession(t, mustGet(t, s.Session, admin.Hash), admin)
	got := mustGet(t, s.Session, plain.Hash)
	sameSession(t, got, plain)
	if got.Groups == nil {
		t.Error("Groups of a session without groups = nil, want an empty list")
	}
}

func sessionNotFound(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustCreate(t, s.CreateSession, sampleSession("there", "alice"))
	sessionGone(t, s, "missing")
	if err := s.TouchSession(ctx, "missing", nonUTC); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("touch missing: err = %v, want ErrNotFound", err)
	}
}

func sessionConflict(t *testing.T, s store.Store) {
	first := sampleSession("dup", "alice")
	mustCreate(t, s.CreateSession, first)
	if err := s.CreateSession(context.Background(), sampleSession("dup", "mallory")); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second create: err = %v, want ErrConflict", err)
	}
	sameSession(t, mustGet(t, s.Session, "dup"), first)
}

// sessionTouch: a touch moves SeenAt forward and changes nothing else;
// an earlier time leaves the later one.
func sessionTouch(t *testing.T, s store.Store) {
	ctx := context.Background()
	want := sampleSession("t", "alice")
	mustCreate(t, s.CreateSession, want, sampleSession("other", "alice"))
	want.SeenAt = nonUTC.Add(90*time.Second + time.Nanosecond)
	if err := s.TouchSession(ctx, "t", want.SeenAt); err != nil {
		t.Fatalf("touch: %v", err)
	}
	sameSession(t, mustGet(t, s.Session, "t"), want)
	if err := s.TouchSession(ctx, "t", nonUTC.Add(time.Minute)); err != nil {
		t.Fatalf("touch with an earlier time: %v", err)
	}
	sameSession(t, mustGet(t, s.Session, "t"), want)
	sameTime(t, "untouched session's SeenAt", mustGet(t, s.Session, "other").SeenAt, nonUTC)
}

// sessionConcurrentTouch: of touches racing each other, the latest time
// stays, whatever order they run in.
func sessionConcurrentTouch(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustCreate(t, s.CreateSession, sampleSession("busy", "alice"))
	const workers, rounds = 8, 10
	errs := concurrently(workers, rounds, func(w, i int) error {
		return s.TouchSession(ctx, "busy", nonUTC.Add(time.Duration(i*workers+w+1)*time.Second))
	})
	noErrors(t, "concurrent touch", errs)
	sameTime(t, "SeenAt", mustGet(t, s.Session, "busy").SeenAt, nonUTC.Add(workers*rounds*time.Second))
}

// sessionDelete: a session deleted is gone, others stay, and deleting it
// again is no error.
func sessionDelete(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustCreate(t, s.CreateSession, sampleSession("out", "alice"), sampleSession("in", "alice"))
	if err := s.DeleteSession(ctx, "out"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	sessionGone(t, s, "out")
	mustGet(t, s.Session, "in")
	if err := s.DeleteSession(ctx, "out"); err != nil {
		t.Errorf("delete again: %v, want nil", err)
	}
}

// sessionDeleteUser: signing a user out everywhere removes that subject's
// sessions only, and counts them.
func sessionDeleteUser(t *testing.T, s store.Store) {
	ctx := context.Background()
	// Subjects compare byte for byte: neither a longer name nor another
	// case is alice.
	mustCreate(t, s.CreateSession, sampleSession("a1", "alice"), sampleSession("a2", "alice"),
		sampleSession("b1", "bob"), sampleSession("longer", "alice-2"), sampleSession("case", "Alice"))
	if n, err := s.DeleteUserSessions(ctx, "alice"); err != nil || n != 2 {
		t.Fatalf("delete alice's sessions = %d, %v; want 2, nil", n, err)
	}
	sessionGone(t, s, "a1")
	sessionGone(t, s, "a2")
	for _, hash := range []string{"b1", "longer", "case"} {
		mustGet(t, s.Session, hash)
	}
	if n, err := s.DeleteUserSessions(ctx, "alice"); err != nil || n != 0 {
		t.Errorf("delete again = %d, %v; want 0, nil", n, err)
	}
}

// sessionDeleteExpired: the purge removes sessions past their absolute
// timeout (ExpiresAt <= now) or idle since before idleBefore, and keeps
// those on either boundary's living side.
func sessionDeleteExpired(t *testing.T, s store.Store) {
	ctx := context.Background()
	now := nonUTC.Add(time.Hour)
	idleBefore := now.Add(-30 * time.Minute)
	session := func(hash string, seen, expires time.Time) store.Session {
		sess := sampleSession(hash, "alice")
		sess.SeenAt, sess.ExpiresAt = seen, expires
		return sess
	}
	gone := []store.Session{
		session("expired", now, now.Add(-time.Second)),
		session("expires-now", now, now),
		session("idle", idleBefore.Add(-time.Nanosecond), now.Add(time.Hour)),
	}
	kept := []store.Session{
		session("live", now, now.Add(time.Hour)),
		session("expires-next", now, now.Add(time.Nanosecond)),
		session("idle-boundary", idleBefore, now.Add(time.Hour)),
	}
	mustCreate(t, s.CreateSession, slices.Concat(gone, kept)...)
	n, err := s.DeleteExpiredSessions(ctx, idleBefore, now)
	if err != nil || n != int64(len(gone)) {
		t.Fatalf("delete expired = %d, %v; want %d, nil", n, err, len(gone))
	}
	for _, sess := range gone {
		sessionGone(t, s, sess.Hash)
	}
	for _, sess := range kept {
		sameSession(t, mustGet(t, s.Session, sess.Hash), sess)
	}
}

// sessionConcurrentCreate: sessions created at once are all kept.
func sessionConcurrentCreate(t *testing.T, s store.Store) {
	ctx := context.Background()
	const workers, each = 8, 10
	errs := concurrently(workers, each, func(w, i int) error {
		return s.CreateSession(ctx, sampleSession(fmt.Sprintf("c-%d-%d", w, i), "alice"))
	})
	noErrors(t, "concurrent create", errs)
	if n, err := s.DeleteUserSessions(ctx, "alice"); err != nil || n != workers*each {
		t.Errorf("sessions stored = %d, %v; want %d", n, err, workers*each)
	}
}

// CheckSessions checks that a store (one migrated from an older version,
// say) keeps sessions: one round-trips, is touched and is deleted.
func CheckSessions(t *testing.T, s store.Store) {
	t.Helper()
	ctx := context.Background()
	want := sampleSession("after-migration", "alice")
	mustCreate(t, s.CreateSession, want)
	sameSession(t, mustGet(t, s.Session, want.Hash), want)
	want.SeenAt = want.SeenAt.Add(time.Hour)
	if err := s.TouchSession(ctx, want.Hash, want.SeenAt); err != nil {
		t.Fatalf("touch: %v", err)
	}
	sameSession(t, mustGet(t, s.Session, want.Hash), want)
	if n, err := s.DeleteUserSessions(ctx, "alice"); err != nil || n != 1 {
		t.Errorf("delete alice's sessions = %d, %v; want 1, nil", n, err)
	}
}
