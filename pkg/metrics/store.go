package metrics

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate/tollgate/pkg/store"
)

// Store operations, the operation label of tollgate_store_errors_total.
const (
	opCreateRefreshToken = iota
	opGetRefreshToken
	opRevokeRefreshToken
	opDeleteExpiredRefreshTokens
	opCreateAPIToken
	opGetAPIToken
	opListAPITokens
	opRevokeAPIToken
	opTouchAPITokens
	opAppendAudit
	opListAudit
	opPing
	opClose
	opFindAPIToken
	opDeleteAudit
	opDeleteEngineRefreshTokens
	opCreateAccount
	opGetAccount
	opListAccounts
	opUpdateAccount
	opDeleteAccount
	opRevokeCredentials
	opRevokeWorkloadRefreshTokens
	opCreateSession
	opGetSession
	opTouchSession
	opDeleteSession
	opDeleteUserSessions
	opDeleteExpiredSessions
	numStoreOps
)

var storeOpNames = [numStoreOps]string{
	"create_refresh_token", "get_refresh_token", "revoke_refresh_token", "delete_expired_refresh_tokens",
	"create_api_token", "get_api_token", "list_api_tokens", "revoke_api_token", "touch_api_tokens",
	"append_audit", "list_audit", "ping", "close", "find_api_token", "delete_audit", "delete_engine_refresh_tokens",
	"create_account", "get_account", "list_accounts", "update_account", "delete_account", "revoke_credentials",
	"revoke_workload_refresh_tokens", "create_session", "get_session", "touch_session", "delete_session",
	"delete_user_sessions", "delete_expired_sessions",
}

// instrumentedStore counts the failures of a store.Store. It embeds the store
// so that methods added to the interface later still pass through (counted
// once they are listed here).
type instrumentedStore struct {
	store.Store
	errs [numStoreOps]prometheus.Counter
}

// InstrumentStore returns s counting its failures in
// tollgate_store_errors_total by operation. The store's answers
// (store.IsAnswer: not found, conflict, limit) are not failures, and a context canceled by the
// caller (a client that went away) is not the store's fault: none of these
// is counted. On a nil *Metrics it returns s itself.
func (m *Metrics) InstrumentStore(s store.Store) store.Store {
	if m == nil {
		return s
	}
	is := &instrumentedStore{Store: s}
	for op := range numStoreOps {
		is.errs[op] = m.storeErrors.WithLabelValues(storeOpNames[op])
	}
	return is
}

// counted returns err, counting it against op unless it is no failure.
func (s *instrumentedStore) counted(op int, err error) error {
	if err == nil || store.IsAnswer(err) || errors.Is(err, context.Canceled) {
		return err
	}
	s.errs[op].Inc()
	return err
}

// observe returns f's answer, counting its error against op.
func observe[T any](s *instrumentedStore, op int, f func() (T, error)) (T, error) {
	v, err := f()
	return v, s.counted(op, err)
}

func (s *instrumentedStore) CreateRefreshToken(ctx context.Context, t store.RefreshToken) error {
	return s.counted(opCreateRefreshToken, s.Store.CreateRefreshToken(ctx, t))
}

func (s *instrumentedStore) RefreshToken(ctx context.Context, hash string) (store.RefreshToken, error) {
	return observe(s, opGetRefreshToken, func() (store.RefreshToken, error) { return s.Store.RefreshToken(ctx, hash) })
}

func (s *instrumentedStore) RevokeRefreshToken(ctx context.Context, hash string, at time.Time) error {
	return s.counted(opRevokeRefreshToken, s.Store.RevokeRefreshToken(ctx, hash, at))
}

func (s *instrumentedStore) RevokeWorkloadRefreshTokens(ctx context.Context, subject string, at time.Time) (int64, error) {
	return observe(s, opRevokeWorkloadRefreshTokens, func() (int64, error) { return s.Store.RevokeWorkloadRefreshTokens(ctx, subject, at) })
}

func (s *instrumentedStore) DeleteExpiredRefreshTokens(ctx context.Context, before time.Time) (int64, error) {
	return observe(s, opDeleteExpiredRefreshTokens, func() (int64, error) { return s.Store.DeleteExpiredRefreshTokens(ctx, before) })
}

func (s *instrumentedStore) CreateAPIToken(ctx context.Context, t store.APIToken, maxLive int) error {
	return s.counted(opCreateAPIToken, s.Store.CreateAPIToken(ctx, t, maxLive))
}

func (s *instrumentedStore) APIToken(ctx context.Context, hash string) (store.APIToken, error) {
	return observe(s, opGetAPIToken, func() (store.APIToken, error) { return s.Store.APIToken(ctx, hash) })
}

func (s *instrumentedStore) ListAPITokens(ctx context.Context, accountID string, page store.Page) ([]store.APIToken, error) {
	return observe(s, opListAPITokens, func() ([]store.APIToken, error) { return s.Store.ListAPITokens(ctx, accountID, page) })
}

func (s *instrumentedStore) RevokeAPIToken(ctx context.Context, prefix, accountID string, at time.Time) (store.APIToken, error) {
	return observe(s, opRevokeAPIToken, func() (store.APIToken, error) { return s.Store.RevokeAPIToken(ctx, prefix, accountID, at) })
}

func (s *instrumentedStore) TouchAPITokens(ctx context.Context, used map[string]time.Time) error {
	return s.counted(opTouchAPITokens, s.Store.TouchAPITokens(ctx, used))
}

func (s *instrumentedStore) AppendAudit(ctx context.Context, events []store.AuditEvent) error {
	return s.counted(opAppendAudit, s.Store.AppendAudit(ctx, events))
}

func (s *instrumentedStore) ListAudit(ctx context.Context, afterID int64, since time.Time, limit int) ([]store.AuditEvent, error) {
	return observe(s, opListAudit, func() ([]store.AuditEvent, error) { return s.Store.ListAudit(ctx, afterID, since, limit) })
}

func (s *instrumentedStore) Ping(ctx context.Context) error {
	return s.counted(opPing, s.Store.Ping(ctx))
}

func (s *instrumentedStore) Close() error {
	return s.counted(opClose, s.Store.Close())
}

func (s *instrumentedStore) FindAPIToken(ctx context.Context, prefix string) (store.APIToken, error) {
	return observe(s, opFindAPIToken, func() (store.APIToken, error) { return s.Store.FindAPIToken(ctx, prefix) })
}

func (s *instrumentedStore) DeleteAuditBefore(ctx context.Context, t time.Time) (int64, error) {
	return observe(s, opDeleteAudit, func() (int64, error) { return s.Store.DeleteAuditBefore(ctx, t) })
}

func (s *instrumentedStore) DeleteEngineRefreshTokens(ctx context.Context, expired, used time.Time) (int64, error) {
	return observe(s, opDeleteEngineRefreshTokens, func() (int64, error) { return s.Store.DeleteEngineRefreshTokens(ctx, expired, used) })
}

func (s *instrumentedStore) CreateAccount(ctx context.Context, a store.Account) error {
	return s.counted(opCreateAccount, s.Store.CreateAccount(ctx, a))
}

func (s *instrumentedStore) CreateAccounts(ctx context.Context, accounts []store.Account) (int64, error) {
	return observe(s, opCreateAccount, func() (int64, error) { return s.Store.CreateAccounts(ctx, accounts) })
}

func (s *instrumentedStore) Account(ctx context.Context, name string) (store.Account, error) {
	return observe(s, opGetAccount, func() (store.Account, error) { return s.Store.Account(ctx, name) })
}

func (s *instrumentedStore) ListAccounts(ctx context.Context) ([]store.Account, error) {
	return observe(s, opListAccounts, func() ([]store.Account, error) { return s.Store.ListAccounts(ctx) })
}

func (s *instrumentedStore) UpdateAccount(ctx context.Context, id string, c store.AccountChange) (store.Account, error) {
	return observe(s, opUpdateAccount, func() (store.Account, error) { return s.Store.UpdateAccount(ctx, id, c) })
}

func (s *instrumentedStore) DeleteAccount(ctx context.Context, id string, at time.Time) (store.Revoked, error) {
	return observe(s, opDeleteAccount, func() (store.Revoked, error) { return s.Store.DeleteAccount(ctx, id, at) })
}

func (s *instrumentedStore) RevokeCredentials(ctx context.Context, accountID string, kinds store.CredentialKinds,
	keepEpoch string, at time.Time) (store.Revoked, error) {
	return observe(s, opRevokeCredentials, func() (store.Revoked, error) { return s.Store.RevokeCredentials(ctx, accountID, kinds, keepEpoch, at) })
}

func (s *instrumentedStore) CreateSession(ctx context.Context, sess store.Session) error {
	return s.counted(opCreateSession, s.Store.CreateSession(ctx, sess))
}

func (s *instrumentedStore) Session(ctx context.Context, hash string) (store.Session, error) {
	return observe(s, opGetSession, func() (store.Session, error) { return s.Store.Session(ctx, hash) })
}

func (s *instrumentedStore) TouchSession(ctx context.Context, hash string, at time.Time) error {
	return s.counted(opTouchSession, s.Store.TouchSession(ctx, hash, at))
}

func (s *instrumentedStore) DeleteSession(ctx context.Context, hash string) error {
	return s.counted(opDeleteSession, s.Store.DeleteSession(ctx, hash))
}

func (s *instrumentedStore) DeleteUserSessions(ctx context.Context, subject string) (int64, error) {
	return observe(s, opDeleteUserSessions, func() (int64, error) { return s.Store.DeleteUserSessions(ctx, subject) })
}

func (s *instrumentedStore) DeleteExpiredSessions(ctx context.Context, idleBefore, now time.Time) (int64, error) {
	return observe(s, opDeleteExpiredSessions, func() (int64, error) { return s.Store.DeleteExpiredSessions(ctx, idleBefore, now) })
}
