package store

import (
	"context"
	"time"
)

// WithTimeout returns s with every call bounded to d (or to the caller's
// deadline, when that is earlier), so that a request never waits on a
// database that does not answer: a call that runs out of time fails, and
// the backends report that as ErrUnavailable. Close is not bounded. It is
// meant for the request path; bulk work (the hourly purge) that may take
// longer uses s itself.
func WithTimeout(s Store, d time.Duration) Store { return &timeoutStore{s: s, d: d} }

// timeoutStore does not embed the Store: a method added to the interface
// must be added here too, bounded, or the build fails.
type timeoutStore struct {
	s Store
	d time.Duration
}

var _ Store = (*timeoutStore)(nil)

// call returns f's answer to ctx bounded to d: every method but Close
// forwards through it (or run).
func call[T any](ctx context.Context, d time.Duration, f func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return f(ctx)
}

// run is call for the methods that return only an error.
func run(ctx context.Context, d time.Duration, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return f(ctx)
}

func (b *timeoutStore) CreateRefreshToken(ctx context.Context, t RefreshToken) error {
	return run(ctx, b.d, func(ctx context.Context) error { return b.s.CreateRefreshToken(ctx, t) })
}

func (b *timeoutStore) RefreshToken(ctx context.Context, hash string) (RefreshToken, error) {
	return call(ctx, b.d, func(ctx context.Context) (RefreshToken, error) { return b.s.RefreshToken(ctx, hash) })
}

func (b *timeoutStore) RevokeRefreshToken(ctx context.Context, hash string, at time.Time) error {
	return run(ctx, b.d, func(ctx context.Context) error { return b.s.RevokeRefreshToken(ctx, hash, at) })
}

func (b *timeoutStore) RevokeWorkloadRefreshTokens(ctx context.Context, subject string, at time.Time) (int64, error) {
	return call(ctx, b.d, func(ctx context.Context) (int64, error) { return b.s.RevokeWorkloadRefreshTokens(ctx, subject, at) })
}

func (b *timeoutStore) DeleteExpiredRefreshTokens(ctx context.Context, before time.Time) (int64, error) {
	return call(ctx, b.d, func(ctx context.Context) (int64, error) { return b.s.DeleteExpiredRefreshTokens(ctx, before) })
}

func (b *timeoutStore) CreateEngineRefreshToken(ctx context.Context, t EngineRefreshToken) error {
	return run(ctx, b.d, func(ctx context.Context) error { return b.s.CreateEngineRefreshToken(ctx, t) })
}

func (b *timeoutStore) EngineRefreshToken(ctx context.Context, hash string) (EngineRefreshToken, error) {
	return call(ctx, b.d, func(ctx context.Context) (EngineRefreshToken, error) { return b.s.EngineRefreshToken(ctx, hash) })
}

func (b *timeoutStore) UseEngineRefreshToken(ctx context.Context, hash string, at time.Time) (EngineRefreshToken, error) {
	return call(ctx, b.d, func(ctx context.Context) (EngineRefreshToken, error) { return b.s.UseEngineRefreshToken(ctx, hash, at) })
}

func (b *timeoutStore) RevokeEngineRefreshFamily(ctx context.Context, familyID string, at time.Time) (int64, error) {
	return call(ctx, b.d, func(ctx context.Context) (int64, error) { return b.s.RevokeEngineRefreshFamily(ctx, familyID, at) })
}

func (b *timeoutStore) DeleteEngineRefreshTokens(ctx context.Context, expired, used time.Time) (int64, error) {
	return call(ctx, b.d, func(ctx context.Context) (int64, error) { return b.s.DeleteEngineRefreshTokens(ctx, expired, used) })
}

func (b *timeoutStore) CreateAPIToken(ctx context.Context, t APIToken, maxLive int) error {
	return run(ctx, b.d, func(ctx context.Context) error { return b.s.CreateAPIToken(ctx, t, maxLive) })
}

func (b *timeoutStore) APIToken(ctx context.Context, hash string) (APIToken, error) {
	return call(ctx, b.d, func(ctx context.Context) (APIToken, error) { return b.s.APIToken(ctx, hash) })
}

func (b *timeoutStore) FindAPIToken(ctx context.Context, prefix string) (APIToken, error) {
	return call(ctx, b.d, func(ctx context.Context) (APIToken, error) { return b.s.FindAPIToken(ctx, prefix) })
}

func (b *timeoutStore) ListAPITokens(ctx context.Context, owner string, page Page) ([]APIToken, error) {
	return call(ctx, b.d, func(ctx context.Context) ([]APIToken, error) { return b.s.ListAPITokens(ctx, owner, page) })
}

func (b *timeoutStore) RevokeAPIToken(ctx context.Context, prefix, owner string, at time.Time) (APIToken, error) {
	return call(ctx, b.d, func(ctx context.Context) (APIToken, error) { return b.s.RevokeAPIToken(ctx, prefix, owner, at) })
}

func (b *timeoutStore) TouchAPITokens(ctx context.Context, used map[string]time.Time) error {
	return run(ctx, b.d, func(ctx context.Context) error { return b.s.TouchAPITokens(ctx, used) })
}

func (b *timeoutStore) AppendAudit(ctx context.Context, events []AuditEvent) error {
	return run(ctx, b.d, func(ctx context.Context) error { return b.s.AppendAudit(ctx, events) })
}

func (b *timeoutStore) ListAudit(ctx context.Context, afterID int64, since time.Time, limit int) ([]AuditEvent, error) {
	return call(ctx, b.d, func(ctx context.Context) ([]AuditEvent, error) { return b.s.ListAudit(ctx, afterID, since, limit) })
}

func (b *timeoutStore) DeleteAuditBefore(ctx context.Context, t time.Time) (int64, error) {
	return call(ctx, b.d, func(ctx context.Context) (int64, error) { return b.s.DeleteAuditBefore(ctx, t) })
}

func (b *timeoutStore) CreateClient(ctx context.Context, c Client) error {
	return run(ctx, b.d, func(ctx context.Context) error { return b.s.CreateClient(ctx, c) })
}

func (b *timeoutStore) Client(ctx context.Context, id string) (Client, error) {
	return call(ctx, b.d, func(ctx context.Context) (Client, error) { return b.s.Client(ctx, id) })
}

func (b *timeoutStore) ListClients(ctx context.Context) ([]Client, error) {
	return call(ctx, b.d, func(ctx context.Context) ([]Client, error) { return b.s.ListClients(ctx) })
}

func (b *timeoutStore) UpdateClient(ctx context.Context, c Client) error {
	return run(ctx, b.d, func(ctx context.Context) error { return b.s.UpdateClient(ctx, c) })
}

func (b *timeoutStore) DeleteClient(ctx context.Context, id string) error {
	return run(ctx, b.d, func(ctx context.Context) error { return b.s.DeleteClient(ctx, id) })
}

func (b *timeoutStore) KeyRing(ctx context.Context) (KeyRing, error) {
	return call(ctx, b.d, func(ctx context.Context) (KeyRing, error) { return b.s.KeyRing(ctx) })
}

func (b *timeoutStore) SwapKeyRing(ctx context.Context, oldVersion int64, data []byte, at time.Time) (KeyRing, error) {
	return call(ctx, b.d, func(ctx context.Context) (KeyRing, error) { return b.s.SwapKeyRing(ctx, oldVersion, data, at) })
}

func (b *timeoutStore) CreateAccount(ctx context.Context, a Account) error {
	return run(ctx, b.d, func(ctx context.Context) error { return b.s.CreateAccount(ctx, a) })
}

func (b *timeoutStore) CreateAccounts(ctx context.Context, accounts []Account) (int64, error) {
	return call(ctx, b.d, func(ctx context.Context) (int64, error) { return b.s.CreateAccounts(ctx, accounts) })
}

func (b *timeoutStore) Account(ctx context.Context, name string) (Account, error) {
	return call(ctx, b.d, func(ctx context.Context) (Account, error) { return b.s.Account(ctx, name) })
}

func (b *timeoutStore) ListAccounts(ctx context.Context) ([]Account, error) {
	return call(ctx, b.d, func(ctx context.Context) ([]Account, error) { return b.s.ListAccounts(ctx) })
}

func (b *timeoutStore) UpdateAccount(ctx context.Context, id string, c AccountChange) (Account, error) {
	return call(ctx, b.d, func(ctx context.Context) (Account, error) { return b.s.UpdateAccount(ctx, id, c) })
}

func (b *timeoutStore) AdoptEpochs(ctx context.Context, epochs map[string]string) (int64, error) {
	return call(ctx, b.d, func(ctx context.Context) (int64, error) { return b.s.AdoptEpochs(ctx, epochs) })
}

func (b *timeoutStore) DeleteAccount(ctx context.Context, id string, at time.Time) (Revoked, error) {
	return call(ctx, b.d, func(ctx context.Context) (Revoked, error) { return b.s.DeleteAccount(ctx, id, at) })
}

func (b *timeoutStore) RevokeCredentials(ctx context.Context, accountID string, kinds CredentialKinds, keepEpoch string,
	at time.Time) (Revoked, error) {
	return call(ctx, b.d, func(ctx context.Context) (Revoked, error) {
		return b.s.RevokeCredentials(ctx, accountID, kinds, keepEpoch, at)
	})
}

func (b *timeoutStore) CreateSession(ctx context.Context, s Session) error {
	return run(ctx, b.d, func(ctx context.Context) error { return b.s.CreateSession(ctx, s) })
}

func (b *timeoutStore) Session(ctx context.Context, hash string) (Session, error) {
	return call(ctx, b.d, func(ctx context.Context) (Session, error) { return b.s.Session(ctx, hash) })
}

func (b *timeoutStore) TouchSession(ctx context.Context, hash string, at time.Time) error {
	return run(ctx, b.d, func(ctx context.Context) error { return b.s.TouchSession(ctx, hash, at) })
}

func (b *timeoutStore) DeleteSession(ctx context.Context, hash string) error {
	return run(ctx, b.d, func(ctx context.Context) error { return b.s.DeleteSession(ctx, hash) })
}

func (b *timeoutStore) DeleteUserSessions(ctx context.Context, subject string) (int64, error) {
	return call(ctx, b.d, func(ctx context.Context) (int64, error) { return b.s.DeleteUserSessions(ctx, subject) })
}

func (b *timeoutStore) DeleteExpiredSessions(ctx context.Context, idleBefore, now time.Time) (int64, error) {
	return call(ctx, b.d, func(ctx context.Context) (int64, error) { return b.s.DeleteExpiredSessions(ctx, idleBefore, now) })
}

func (b *timeoutStore) Ping(ctx context.Context) error {
	return run(ctx, b.d, b.s.Ping)
}

// Close closes the store; it is not bounded.
func (b *timeoutStore) Close() error { return b.s.Close() }
