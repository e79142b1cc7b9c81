package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/store/internal/rows"
)

// CreateRefreshToken implements store.RefreshTokens.
func (s *Store) CreateRefreshToken(ctx context.Context, t store.RefreshToken) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO refresh_tokens
		(`+rows.RefreshTokenColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.Hash, t.Subject, t.AccountID, t.Epoch, t.ClientID, t.Service, rows.ToDB(t.CreatedAt), rows.ToDB(t.ExpiresAt),
		rows.NullTime(t.RevokedAt))
	if isConstraint(err) {
		return fmt.Errorf("refresh token: %w", store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create refresh token: %w", classify(err))
	}
	return nil
}

// RefreshToken implements store.RefreshTokens.
func (s *Store) RefreshToken(ctx context.Context, hash string) (store.RefreshToken, error) {
	t, err := rows.ScanRefreshToken(s.db.QueryRowContext(ctx, `SELECT `+rows.RefreshTokenColumns+`
		FROM refresh_tokens WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return store.RefreshToken{}, fmt.Errorf("refresh token: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.RefreshToken{}, fmt.Errorf("get refresh token: %w", classify(err))
	}
	return t, nil
}

// RevokeRefreshToken implements store.RefreshTokens.
func (s *Store) RevokeRefreshToken(ctx context.Context, hash string, at time.Time) error {
	res, err := s.db.ExecContext(ctx, `UPDATE refresh_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE hash = ?`,
		rows.ToDB(at), hash)
	if err != nil {
		return fmt.Errorf("revoke refresh token: %w", classify(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("revoke refresh token: %w", classify(err))
	}
	if n == 0 {
		return fmt.Errorf("refresh token: %w", store.ErrNotFound)
	}
	return nil
}

// DeleteExpiredRefreshTokens implements store.RefreshTokens.
func (s *Store) DeleteExpiredRefreshTokens(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM refresh_tokens WHERE expires_at < ?`, rows.ToDB(before))
	if err != nil {
		return 0, fmt.Errorf("delete expired refresh tokens: %w", classify(err))
	}
	return res.RowsAffected()
}
