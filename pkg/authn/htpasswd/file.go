package htpasswd

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/tollgate/tollgate/pkg/authn"
)

// Source is the Identity.Source of users authenticated by a File.
const Source = "htpasswd"

// File is a loaded htpasswd file. It is safe for concurrent use; lookups
// take no lock.
type File struct {
	path     string
	logger   *slog.Logger
	debounce time.Duration // quiet time after a change on disk before Watch reloads

	// OnCompare, when set before the File is used, is called after every
	// bcrypt comparison Authenticate makes (unknown users' dummy ones
	// too), for metrics. It must be cheap and safe for concurrent use.
	OnCompare func()
	// OnChange, when set before the File is reloaded, is told after every
	// reload that changed the users which ones were added, removed or got
	// a new password. It runs in the reloading goroutine, holding up every
	// other reload until it returns: it must not wait.
	OnChange func(Change)

	snap     atomic.Pointer[snapshot]
	reloadMu sync.Mutex // one reload at a time, so versions go up in order
}

var (
	_ authn.Authenticator = (*File)(nil)
	_ authn.Lookup        = (*File)(nil)
	_ authn.Versioned     = (*File)(nil)
)

// Change is what a reload changed: users added, removed, and users whose
// password hash changed. A user whose line was rejected is in none of them
// (it is not removed: the line may be fixed). Since is when the previous
// content was read: an added user was not in the file then.
type Change struct {
	Added, Removed, Changed []string
	Since                   time.Time
}

// snapshot is one parse of the file. It is never changed once published.
type snapshot struct {
	users    map[string]user
	rejected map[string]bool   // users whose line was rejected
	problems []error           // the rejected lines (*ParseError), for Problems
	cost     int               // most common cost in the file, or bcrypt.DefaultCost if empty
	dummy    []byte            // hash of a random password at cost, for unknown users
	digest   [sha256.Size]byte // of the file's bytes, to skip reloads that change nothing
	empty    bool              // the file had no bytes at all
	version  uint64
	readAt   time.Time // when the content was read
}

// Load reads the htpasswd file at path. A file with rejected lines is not
// loaded: every one is reported, each as a *ParseError (a later reload
// keeps the good lines instead, see Reload). A nil logger discards logs.
func Load(path string, logger *slog.Logger) (*File, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	f := &File{path: path, logger: logger, debounce: 100 * time.Millisecond}
	s, err := f.read(nil)
	if err != nil {
		return nil, err
	}
	if err := errors.Join(s.problems...); err != nil {
		return nil, err
	}
	s.version = 1
	f.snap.Store(s)
	logger.Info("htpasswd loaded", "file", path, "users", len(s.users))
	return f, nil
}

// Reload re-reads the file. A file that cannot be read keeps the previous
// users and the error is returned (not logged). Rejected lines do not stop
// a reload: every good line applies (removals and password changes take
// effect), each rejected line is logged and reported by Problems until the
// file is fixed, and its user cannot log in meanwhile. A reload that changes
// the file's content bumps Version, logs the user count and tells OnChange.
func (f *File) Reload() error { return f.reload(true) }

// errEmptyUnconfirmed: the file read empty while users were loaded. An
// in-place rewrite (truncate, then write) looks like this for a moment, so
// the watcher applies an empty file only when it is still empty a little
// later.
var errEmptyUnconfirmed = errors.New("htpasswd: file is empty; keeping the previous users until that is confirmed")

func (f *File) reload(allowEmpty bool) error {
	f.reloadMu.Lock()
	defer f.reloadMu.Unlock()
	old := f.snap.Load()
	s, err := f.read(old)
	if err != nil {
		return err
	}
	if len(s.users) == 0 && len(old.users) > 0 && s.empty && !allowEmpty {
		return errEmptyUnconfirmed
	}
	if s.digest == old.digest {
		f.logger.Debug("htpasswd unchanged", "file", f.path)
		return nil
	}
	s.version = old.version + 1
	f.snap.Store(s)
	f.logger.Info("htpasswd reloaded", "file", f.path, "users", len(s.users), "version", s.version)
	for _, p := range s.problems {
		f.logger.Error("htpasswd line rejected; that user cannot log in until it is fixed", "error", p)
	}
	if ch := diff(old, s); f.OnChange != nil && !ch.empty() {
		f.OnChange(ch)
	}
	return nil
}

// diff compares two snapshots, leaving users on rejected lines out.
func diff(old, cur *snapshot) Change {
	ch := Change{Since: old.readAt}
	for name, u := range cur.users {
		prev, ok := old.users[name]
		switch {
		case !ok:
			ch.Added = append(ch.Added, name)
		case prev.epoch != u.epoch:
			ch.Changed = append(ch.Changed, name)
		}
	}
	for name := range old.users {
		if _, ok := cur.users[name]; !ok && !cur.rejected[name] {
			ch.Removed = append(ch.Removed, name)
		}
	}
	slices.Sort(ch.Added)
	slices.Sort(ch.Removed)
	slices.Sort(ch.Changed)
	return ch
}

func (c Change) empty() bool { return len(c.Added)+len(c.Removed)+len(c.Changed) == 0 }

// Problems returns the lines the last load rejected (each a *ParseError,
// holding no hash), or nil.
func (f *File) Problems() []error { return f.snap.Load().problems }

// read parses the file into a new, unpublished snapshot. prev, when not nil,
// lends its dummy hash if the cost has not changed.
func (f *File) read(prev *snapshot) (*snapshot, error) {
	data, err := os.ReadFile(f.path)
	if err != nil {
		return nil, fmt.Errorf("htpasswd: %w", err)
	}
	p := parse(f.path, data)
	for _, name := range p.skipped {
		f.logger.Warn("htpasswd user skipped: the name cannot be used in the ACL", "file", f.path, "error", SafeName(name))
	}
	cost := p.cost
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	s := &snapshot{users: p.users, rejected: p.rejected, problems: p.problems, cost: cost,
		digest: sha256.Sum256(data), empty: len(data) == 0, readAt: time.Now()}
	if prev != nil && prev.cost == cost {
		s.dummy = prev.dummy
		return s, nil
	}
	s.dummy, err = dummyHash(cost)
	return s, err
}

// dummyHash hashes a random password that no one can present.
func dummyHash(cost int) ([]byte, error) {
	password := make([]byte, 32)
	_, _ = rand.Read(password) // crypto/rand.Read never fails
	h, err := bcrypt.GenerateFromPassword(password, cost)
	if err != nil {
		return nil, fmt.Errorf("htpasswd: dummy hash: %w", err)
	}
	return h, nil
}

// Authenticate checks secret against the user's bcrypt hash. An unknown
// user costs the same bcrypt work as a known one and yields
// authn.ErrNoSuchUser; a wrong secret yields authn.ErrBadCredentials.
func (f *File) Authenticate(_ context.Context, username string, secret authn.Secret) (authn.Identity, error) {
	s := f.snap.Load()
	if f.OnCompare != nil {
		defer f.OnCompare()
	}
	u, ok := s.users[username]
	if !ok {
		_ = bcrypt.CompareHashAndPassword(s.dummy, []byte(secret)) // same work as a real user
		return authn.Identity{}, fmt.Errorf("htpasswd: user %q: %w", username, authn.ErrNoSuchUser)
	}
	err := bcrypt.CompareHashAndPassword(u.hash, []byte(secret))
	switch {
	case err == nil:
		return authn.Identity{Kind: authn.KindUser, Name: username, Source: Source, Epoch: u.epoch}, nil
	case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
		return authn.Identity{}, fmt.Errorf("htpasswd: user %q: %w", username, authn.ErrBadCredentials)
	default:
		return authn.Identity{}, fmt.Errorf("htpasswd: user %q: checking hash: %w", username, err)
	}
}

// Exists reports whether the file lists username.
func (f *File) Exists(_ context.Context, username string) (bool, error) {
	_, ok := f.snap.Load().users[username]
	return ok, nil
}

// Epoch returns the epoch of username's password (see EpochOf), or "" for
// an unknown user. Credentials made with a password record its epoch; a
// new password ends them.
func (f *File) Epoch(username string) string {
	return f.snap.Load().users[username].epoch
}

// Version starts at 1 and goes up with every reload that changes the file.
func (f *File) Version() uint64 {
	return f.snap.Load().version
}

// Users returns the names the file lists, sorted.
func (f *File) Users() []string {
	users := f.snap.Load().users
	names := make([]string, 0, len(users))
	for name := range users {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}
