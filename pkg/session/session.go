package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tollgate/tollgate/pkg/store"
)

// Prefix marks Tollgate session IDs so secret scanners can spot them.
const Prefix = "tgs_"

// idLen is the length of a session ID: the prefix and 32 bytes base64url.
var idLen = len(Prefix) + base64.RawURLEncoding.EncodedLen(32)

// touchEvery is how stale SeenAt may get before Get writes it again: the
// idle timeout is kept to within a minute, without a write per request.
const touchEvery = time.Minute

// ErrNoSession means the session ID is unknown, malformed, ended or
// expired: the user signs in again. It is store.ErrNotFound too. A store
// that cannot answer is another error (store.ErrUnavailable), never this.
var ErrNoSession = fmt.Errorf("session: no such session: %w", store.ErrNotFound)

// errTimeouts is a Manager without both timeouts.
var errTimeouts = errors.New("session: the idle and absolute timeouts must be positive")

// Who is the user a session is started for, as the backend that
// authenticated them vouched.
type Who struct {
	Subject   string
	AccountID string // "" when unknown
	Source    string // the backend: htpasswd, ldap, oidc:NAME
	Admin     bool
	Groups    []string
}

// Manager starts, finds and ends sessions over a store.
type Manager struct {
	Store    store.Sessions
	Idle     time.Duration    // a session not used for this long ends
	Absolute time.Duration    // a session ends this long after it started, used or not
	Now      func() time.Time // nil means time.Now
}

// Start stores a new session for who and returns its ID, which goes to the
// browser (the store keeps its hash only), and the session as stored.
func (m *Manager) Start(ctx context.Context, who Who) (string, store.Session, error) {
	if err := m.check(); err != nil {
		return "", store.Session{}, err
	}
	if who.Subject == "" {
		return "", store.Session{}, errors.New("session: no subject to start a session for")
	}
	id, csrf := Prefix+random(), random()
	now := m.now()
	s := store.Session{
		Hash: hash(id), Subject: who.Subject, AccountID: who.AccountID, Source: who.Source, Admin: who.Admin,
		Groups: slices.Clone(who.Groups), CSRF: csrf, CreatedAt: now, SeenAt: now, ExpiresAt: now.Add(m.Absolute),
	}
	if err := m.Store.CreateSession(ctx, s); err != nil {
		return "", store.Session{}, fmt.Errorf("start session: %w", err)
	}
	return id, s, nil
}

// Get returns the live session with that ID, or ErrNoSession. A session
// past either timeout is deleted as it is found (should that fail, the
// purge removes it later; it is refused all the same). A session last
// seen more than a minute ago is seen now.
func (m *Manager) Get(ctx context.Context, id string) (store.Session, error) {
	if err := m.check(); err != nil {
		return store.Session{}, err
	}
	if !looksLike(id) {
		return store.Session{}, ErrNoSession
	}
	h := hash(id)
	s, err := m.Store.Session(ctx, h)
	if err != nil {
		return store.Session{}, storeErr("get session", err)
	}
	now := m.now()
	if m.expired(s, now) {
		_ = m.Store.DeleteSession(ctx, h)
		return store.Session{}, fmt.Errorf("%w: expired", ErrNoSession)
	}
	if now.Sub(s.SeenAt) > touchEvery {
		if err := m.Store.TouchSession(ctx, h, now); err != nil {
			return store.Session{}, storeErr("touch session", err) // ended meanwhile: ErrNoSession
		}
		s.SeenAt = now
	}
	return s, nil
}

// End deletes the session with that ID (signing out); an unknown or
// malformed ID is no error.
func (m *Manager) End(ctx context.Context, id string) error {
	if !looksLike(id) {
		return nil
	}
	if err := m.Store.DeleteSession(ctx, hash(id)); err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	return nil
}

// EndAll deletes every session of subject (signing out everywhere, an
// administrator disabling the user) and returns how many it ended.
func (m *Manager) EndAll(ctx context.Context, subject string) (int64, error) {
	n, err := m.Store.DeleteUserSessions(ctx, subject)
	if err != nil {
		return n, fmt.Errorf("end sessions of %q: %w", subject, err)
	}
	return n, nil
}

// Purge deletes every session past either timeout and returns how many.
func (m *Manager) Purge(ctx context.Context) (int64, error) {
	if err := m.check(); err != nil {
		return 0, err
	}
	now := m.now()
	n, err := m.Store.DeleteExpiredSessions(ctx, now.Add(-m.Idle), now)
	if err != nil {
		return n, fmt.Errorf("purge sessions: %w", err)
	}
	return n, nil
}

// CheckCSRF reports whether token is the session's CSRF token, comparing
// in constant time. An empty token never matches.
func CheckCSRF(s store.Session, token string) bool {
	return s.CSRF != "" && subtle.ConstantTimeCompare([]byte(s.CSRF), []byte(token)) == 1
}

// expired reports whether s is past its absolute timeout or idle for
// longer than m.Idle at now: the condition DeleteExpiredSessions(now -
// Idle, now) deletes by.
func (m *Manager) expired(s store.Session, now time.Time) bool {
	return !now.Before(s.ExpiresAt) || s.SeenAt.Before(now.Add(-m.Idle))
}

// storeErr returns a failed call's error: the store's "not found" as
// ErrNoSession, anything else after op.
func storeErr(op string, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return ErrNoSession
	}
	return fmt.Errorf("%s: %w", op, err)
}

func (m *Manager) check() error {
	if m.Idle <= 0 || m.Absolute <= 0 {
		return errTimeouts
	}
	return nil
}

func (m *Manager) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// hash is the stored form of a session ID: hex SHA-256.
func hash(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

// random returns 256 random bits, base64url. crypto/rand.Read never
// fails (it crashes the program rather than return weak bytes).
func random() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// looksLike reports whether id has the shape of a session ID.
func looksLike(id string) bool { return len(id) == idLen && strings.HasPrefix(id, Prefix) }
