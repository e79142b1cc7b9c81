package postgres

import (
	"context"
	"time"

	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/store/internal/rows"
)

// CreateRefreshToken implements store.RefreshTokens.
func (s *Store) CreateRefreshToken(ctx context.Context, t store.RefreshToken) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO refresh_tokens (`+rows.RefreshTokenColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, rows.RefreshTokenValues(t)...)
	return s.errs.Inserted("refresh token", "create refresh token", err)
}

// RefreshToken implements store.RefreshTokens.
func (s *Store) RefreshToken(ctx context.Context, hash string) (store.RefreshToken, error) {
	return rows.One(s.errs, "refresh token", "get refresh token", s.pool.QueryRow(ctx, `SELECT `+rows.RefreshTokenColumns+`
		FROM refresh_tokens WHERE hash = $1`, hash), rows.ScanRefreshToken)
}

// RevokeRefreshToken implements store.RefreshTokens. Under concurrent
// revocations the row lock makes the later UPDATE see the first time.
func (s *Store) RevokeRefreshToken(ctx context.Context, hash string, at time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE hash = $2`,
		rows.ToDB(at), hash)
	return s.errs.Affected("refresh token", "revoke refresh token", tag.RowsAffected(), err)
}

// DeleteExpiredRefreshTokens implements store.RefreshTokens.
func (s *Store) DeleteExpiredRefreshTokens(ctx context.Context, before time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM refresh_tokens WHERE expires_at < $1`, rows.ToDB(before))
	if err != nil {
		return 0, s.errs.Failed("delete expired refresh tokens", err)
	}
	return tag.RowsAffected(), nil
}
