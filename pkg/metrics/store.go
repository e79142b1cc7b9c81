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
	numStoreOps
)

var storeOpNames = [numStoreOps]string{
	"create_refresh_token", "get_refresh_token", "revoke_refresh_token", "delete_expired_refresh_tokens",
	"create_api_token", "get_api_token", "list_api_tokens", "revoke_api_token", "touch_api_tokens",
	"append_audit", "list_audit", "ping", "close", "find_api_token", "delete_audit", "delete_engine_refresh_tokens",
	"create_account", "get_account", "list_accounts", "update_account", "delete_account", "revoke_credentials",
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

func (s *instrumentedStore) count(op int, err error) {
	if err == nil || store.IsAnswer(err) || errors.Is(err, context.Canceled) {
		return
	}
	s.errs[op].Inc()
}

func (s *instrumentedStore) CreateRefreshToken(ctx context.Context, t store.RefreshToken) error {
	err := s.Store.CreateRefreshToken(ctx, t)
	s.count(opCreateRefreshToken, err)
	return err
}

func (s *instrumentedStore) RefreshToken(ctx context.Context, hash string) (store.RefreshToken, error) {
	t, err := s.Store.RefreshToken(ctx, hash)
	s.count(opGetRefreshToken, err)
	return t, err
}

func (s *instrumentedStore) RevokeRefreshToken(ctx context.Context, hash string, at time.Time) error {
	err := s.Store.RevokeRefreshToken(ctx, hash, at)
	s.count(opRevokeRefreshToken, err)
	return err
}

func (s *instrumentedStore) DeleteExpiredRefreshTokens(ctx context.Context, before time.Time) (int64, error) {
	n, err := s.Store.DeleteExpiredRefreshTokens(ctx, before)
	s.count(opDeleteExpiredRefreshTokens, err)
	return n, err
}

func (s *instrumentedStore) CreateAPIToken(ctx context.Context, t store.APIToken, maxLive int) error {
	err := s.Store.CreateAPIToken(ctx, t, maxLive)
	s.count(opCreateAPIToken, err)
	return err
}

func (s *instrumentedStore) APIToken(ctx context.Context, hash string) (store.APIToken, error) {
	t, err := s.Store.APIToken(ctx, hash)
	s.count(opGetAPIToken, err)
	return t, err
}

func (s *instrumentedStore) ListAPITokens(ctx context.Context, accountID string, page store.Page) ([]store.APIToken, error) {
	ts, err := s.Store.ListAPITokens(ctx, accountID, page)
	s.count(opListAPITokens, err)
	return ts, err
}

func (s *instrumentedStore) RevokeAPIToken(ctx context.Context, prefix, accountID string, at time.Time) (store.APIToken, error) {
	t, err := s.Store.RevokeAPIToken(ctx, prefix, accountID, at)
	s.count(opRevokeAPIToken, err)
	return t, err
}

func (s *instrumentedStore) TouchAPITokens(ctx context.Context, used map[string]time.Time) error {
	err := s.Store.TouchAPITokens(ctx, used)
	s.count(opTouchAPITokens, err)
	return err
}

func (s *instrumentedStore) AppendAudit(ctx context.Context, events []store.AuditEvent) error {
	err := s.Store.AppendAudit(ctx, events)
	s.count(opAppendAudit, err)
	return err
}

func (s *instrumentedStore) ListAudit(ctx context.Context, afterID int64, since time.Time, limit int) ([]store.AuditEvent, error) {
	evs, err := s.Store.ListAudit(ctx, afterID, since, limit)
	s.count(opListAudit, err)
	return evs, err
}

func (s *instrumentedStore) Ping(ctx context.Context) error {
	err := s.Store.Ping(ctx)
	s.count(opPing, err)
	return err
}

func (s *instrumentedStore) Close() error {
	err := s.Store.Close()
	s.count(opClose, err)
	return err
}

func (s *instrumentedStore) FindAPIToken(ctx context.Context, prefix string) (store.APIToken, error) {
	t, err := s.Store.FindAPIToken(ctx, prefix)
	s.count(opFindAPIToken, err)
	return t, err
}

func (s *instrumentedStore) DeleteAuditBefore(ctx context.Context, t time.Time) (int64, error) {
	n, err := s.Store.DeleteAuditBefore(ctx, t)
	s.count(opDeleteAudit, err)
	return n, err
}

func (s *instrumentedStore) DeleteEngineRefreshTokens(ctx context.Context, expired, used time.Time) (int64, error) {
	n, err := s.Store.DeleteEngineRefreshTokens(ctx, expired, used)
	s.count(opDeleteEngineRefreshTokens, err)
	return n, err
}

func (s *instrumentedStore) CreateAccount(ctx context.Context, a store.Account) error {
	err := s.Store.CreateAccount(ctx, a)
	s.count(opCreateAccount, err)
	return err
}

func (s *instrumentedStore) Account(ctx context.Context, name string) (store.Account, error) {
	a, err := s.Store.Account(ctx, name)
	s.count(opGetAccount, err)
	return a, err
}

func (s *instrumentedStore) ListAccounts(ctx context.Context) ([]store.Account, error) {
	as, err := s.Store.ListAccounts(ctx)
	s.count(opListAccounts, err)
	return as, err
}

func (s *instrumentedStore) UpdateAccount(ctx context.Context, id string, c store.AccountChange) (store.Account, error) {
	a, err := s.Store.UpdateAccount(ctx, id, c)
	s.count(opUpdateAccount, err)
	return a, err
}

func (s *instrumentedStore) DeleteAccount(ctx context.Context, id string, at time.Time) (store.Revoked, error) {
	r, err := s.Store.DeleteAccount(ctx, id, at)
	s.count(opDeleteAccount, err)
	return r, err
}

func (s *instrumentedStore) RevokeCredentials(ctx context.Context, accountID string, kinds store.CredentialKinds,
	keepEpoch string, at time.Time) (store.Revoked, error) {
	r, err := s.Store.RevokeCredentials(ctx, accountID, kinds, keepEpoch, at)
	s.count(opRevokeCredentials, err)
	return r, err
}
