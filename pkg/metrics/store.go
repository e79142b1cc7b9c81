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
	numStoreOps
)

var storeOpNames = [numStoreOps]string{
	"create_refresh_token", "get_refresh_token", "revoke_refresh_token", "delete_expired_refresh_tokens",
	"create_api_token", "get_api_token", "list_api_tokens", "revoke_api_token", "touch_api_tokens",
	"append_audit", "list_audit", "ping", "close",
}

// instrumentedStore counts the failures of a store.Store. It embeds the store
// so that methods added to the interface later still pass through (counted
// once they are listed here).
type instrumentedStore struct {
	store.Store
	errs [numStoreOps]prometheus.Counter
}

// InstrumentStore returns s counting its failures in
// tollgate_store_errors_total by operation. store.ErrNotFound and
// store.ErrConflict are answers, not failures, and a context canceled by the
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
	if err == nil || errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) ||
		errors.Is(err, context.Canceled) {
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

func (s *instrumentedStore) CreateAPIToken(ctx context.Context, t store.APIToken) error {
	err := s.Store.CreateAPIToken(ctx, t)
	s.count(opCreateAPIToken, err)
	return err
}

func (s *instrumentedStore) APIToken(ctx context.Context, hash string) (store.APIToken, error) {
	t, err := s.Store.APIToken(ctx, hash)
	s.count(opGetAPIToken, err)
	return t, err
}

func (s *instrumentedStore) ListAPITokens(ctx context.Context, owner string) ([]store.APIToken, error) {
	ts, err := s.Store.ListAPITokens(ctx, owner)
	s.count(opListAPITokens, err)
	return ts, err
}

func (s *instrumentedStore) RevokeAPIToken(ctx context.Context, prefix, owner string, at time.Time) (store.APIToken, error) {
	t, err := s.Store.RevokeAPIToken(ctx, prefix, owner, at)
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
