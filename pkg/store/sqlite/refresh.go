package sqlite

import (
	"context"
	"time"

	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/store/internal/rows"
)

// CreateRefreshToken implements store.RefreshTokens.
func (s *Store) CreateRefreshToken(ctx context.Context, t store.RefreshToken) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO refresh_tokens (`+rows.RefreshTokenColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, rows.RefreshTokenValues(t)...)
	return errs.Inserted("refresh token", "create refresh token", err)
}

// RefreshToken implements store.RefreshTokens.
func (s *Store) RefreshToken(ctx context.Context, hash string) (store.RefreshToken, error) {
	return rows.One(errs, "refresh token", "get refresh token", s.db.QueryRowContext(ctx, `SELECT `+rows.RefreshTokenColumns+`
		FROM refresh_tokens WHERE hash = ?`, hash), rows.ScanRefreshToken)
}

// RevokeRefreshToken implements store.RefreshTokens.
func (s *Store) RevokeRefreshToken(ctx context.Context, hash string, at time.Time) error {
	res, err := s.db.ExecContext(ctx, `UPDATE refresh_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE hash = ?`,
		rows.ToDB(at), hash)
	if err != nil {
		return errs.Failed("revoke refresh token", err)
	}
	n, err := res.RowsAffected()
	return errs.Affected("refresh token", "revoke refresh token", n, err)
}

// DeleteExpiredRefreshTokens implements store.RefreshTokens.
func (s *Store) DeleteExpiredRefreshTokens(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM refresh_tokens WHERE expires_at < ?`, rows.ToDB(before))
	if err != nil {
		return 0, errs.Failed("delete expired refresh tokens", err)
	}
	return res.RowsAffected()
}
