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

	snap     atomic.Pointer[snapshot]
	reloadMu sync.Mutex // one reload at a time, so versions go up in order
}

var (
	_ authn.Authenticator = (*File)(nil)
	_ authn.Lookup        = (*File)(nil)
	_ authn.Versioned     = (*File)(nil)
)

// snapshot is one parse of the file. It is never changed once published.
type snapshot struct {
	users   map[string][]byte // name → bcrypt hash
	cost    int               // highest cost in the file, or bcrypt.DefaultCost if empty
	dummy   []byte            // hash of a random password at cost, for unknown users
	digest  [sha256.Size]byte // of the file's bytes, to skip reloads that change nothing
	empty   bool              // the file had no bytes at all
	version uint64
}

// Load reads the htpasswd file at path. Every rejected line is reported, each
// as a *ParseError. A nil logger discards logs.
func Load(path string, logger *slog.Logger) (*File, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	f := &File{path: path, logger: logger, debounce: 100 * time.Millisecond}
	s, err := f.read(nil)
	if err != nil {
		return nil, err
	}
	s.version = 1
	f.snap.Store(s)
	logger.Info("htpasswd loaded", "file", path, "users", len(s.users))
	return f, nil
}

// Reload re-reads the file. On error the previous users stay in place and
// the error is returned (not logged). A successful reload that changes the
// file's content bumps Version and logs the user count.
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
	return nil
}

// read parses the file into a new, unpublished snapshot. prev, when not nil,
// lends its dummy hash if the cost has not changed.
func (f *File) read(prev *snapshot) (*snapshot, error) {
	data, err := os.ReadFile(f.path)
	if err != nil {
		return nil, fmt.Errorf("htpasswd: %w", err)
	}
	users, cost, err := parse(f.path, data)
	if err != nil {
		return nil, err
	}
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	s := &snapshot{users: users, cost: cost, digest: sha256.Sum256(data), empty: len(data) == 0}
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
	hash, ok := s.users[username]
	if !ok {
		_ = bcrypt.CompareHashAndPassword(s.dummy, []byte(secret)) // same work as a real user
		return authn.Identity{}, fmt.Errorf("htpasswd: user %q: %w", username, authn.ErrNoSuchUser)
	}
	err := bcrypt.CompareHashAndPassword(hash, []byte(secret))
	switch {
	case err == nil:
		return authn.Identity{Name: username, Source: Source}, nil
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
