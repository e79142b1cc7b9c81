package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/store/internal/rows"
)

// CreateRefreshToken implements store.RefreshTokens.
func (s *Store) CreateRefreshToken(ctx context.Context, t store.RefreshToken) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO refresh_tokens
		(`+rows.RefreshTokenColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		t.Hash, t.Subject, t.AccountID, t.Epoch, t.ClientID, t.Service, rows.ToDB(t.CreatedAt), rows.ToDB(t.ExpiresAt),
		rows.NullTime(t.RevokedAt))
	if isUniqueViolation(err) {
		return fmt.Errorf("refresh token: %w", store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create refresh token: %w", s.classify(err))
	}
	return nil
}

// RefreshToken implements store.RefreshTokens.
func (s *Store) RefreshToken(ctx context.Context, hash string) (store.RefreshToken, error) {
	t, err := rows.ScanRefreshToken(s.pool.QueryRow(ctx, `SELECT `+rows.RefreshTokenColumns+`
		FROM refresh_tokens WHERE hash = $1`, hash))
	if isNoRows(err) {
		return store.RefreshToken{}, fmt.Errorf("refresh token: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.RefreshToken{}, fmt.Errorf("get refresh token: %w", s.classify(err))
	}
	return t, nil
}

// RevokeRefreshToken implements store.RefreshTokens. Under concurrent
// revocations the row lock makes the later UPDATE see the first time.
func (s *Store) RevokeRefreshToken(ctx context.Context, hash string, at time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE hash = $2`,
		rows.ToDB(at), hash)
	if err != nil {
		return fmt.Errorf("revoke refresh token: %w", s.classify(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("refresh token: %w", store.ErrNotFound)
	}
	return nil
}

// DeleteExpiredRefreshTokens implements store.RefreshTokens.
func (s *Store) DeleteExpiredRefreshTokens(ctx context.Context, before time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM refresh_tokens WHERE expires_at < $1`, rows.ToDB(before))
	if err != nil {
		return 0, fmt.Errorf("delete expired refresh tokens: %w", s.classify(err))
	}
	return tag.RowsAffected(), nil
}
