package sqlstore

import (
	"context"
	"time"

	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/store/internal/rows"
)

// CreateRefreshToken implements store.RefreshTokens.
func (s *Store) CreateRefreshToken(ctx context.Context, t store.RefreshToken) error {
	return s.insert(ctx, "refresh token", "create refresh token", "refresh_tokens", rows.RefreshTokenColumns,
		rows.RefreshTokenValues(t)...)
}

// RefreshToken implements store.RefreshTokens.
func (s *Store) RefreshToken(ctx context.Context, hash string) (store.RefreshToken, error) {
	return rows.One(s.errs, "refresh token", "get refresh token", s.db.QueryRow(ctx,
		`SELECT `+rows.RefreshTokenColumns+` FROM refresh_tokens WHERE hash = $1`, hash), rows.ScanRefreshToken)
}

// RevokeRefreshToken implements store.RefreshTokens. Concurrent
// revocations run one after another (SQLite runs one writer at a time,
// PostgreSQL makes the later UPDATE wait for the row lock and re-read the
// row), so COALESCE keeps the first time.
func (s *Store) RevokeRefreshToken(ctx context.Context, hash string, at time.Time) error {
	n, err := s.db.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE hash = $2`,
		rows.ToDB(at), hash)
	return s.errs.Affected("refresh token", "revoke refresh token", n, err)
}

// DeleteExpiredRefreshTokens implements store.RefreshTokens.
func (s *Store) DeleteExpiredRefreshTokens(ctx context.Context, before time.Time) (int64, error) {
	n, err := s.db.Exec(ctx, `DELETE FROM refresh_tokens WHERE expires_at < $1`, rows.ToDB(before))
	return n, s.errs.Failed("delete expired refresh tokens", err)
}

// RevokeWorkloadRefreshTokens implements store.RefreshTokens. The WHERE
// repeats the condition of the partial index on subject (migration 0006)
// word for word, so that both planners use it; revoked_at IS NULL leaves
// earlier revocations, and the count, as they are.
func (s *Store) RevokeWorkloadRefreshTokens(ctx context.Context, subject string, at time.Time) (int64, error) {
	n, err := s.db.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = $1
		WHERE subject = $2 AND binding <> '' AND revoked_at IS NULL`, rows.ToDB(at), subject)
	return n, s.errs.Failed("revoke workload refresh tokens", err)
}
