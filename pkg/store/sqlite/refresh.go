package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tollgate/tollgate/pkg/store"
)

// CreateRefreshToken implements store.RefreshTokens.
func (s *Store) CreateRefreshToken(ctx context.Context, t store.RefreshToken) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO refresh_tokens
		(hash, subject, client_id, service, created_at, expires_at, revoked_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`,
		t.Hash, t.Subject, t.ClientID, t.Service, toDB(t.CreatedAt), toDB(t.ExpiresAt), nullTime(t.RevokedAt))
	if isConstraint(err) {
		return fmt.Errorf("refresh token: %w", store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create refresh token: %w", err)
	}
	return nil
}

// RefreshToken implements store.RefreshTokens.
func (s *Store) RefreshToken(ctx context.Context, hash string) (store.RefreshToken, error) {
	var (
		t                store.RefreshToken
		created, expires int64
		revoked          sql.NullInt64
	)
	err := s.db.QueryRowContext(ctx, `SELECT hash, subject, client_id, service, created_at, expires_at, revoked_at
		FROM refresh_tokens WHERE hash = ?`, hash).
		Scan(&t.Hash, &t.Subject, &t.ClientID, &t.Service, &created, &expires, &revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return store.RefreshToken{}, fmt.Errorf("refresh token: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.RefreshToken{}, fmt.Errorf("get refresh token: %w", err)
	}
	t.CreatedAt, t.ExpiresAt = fromDB(created), fromDB(expires)
	if revoked.Valid {
		t.RevokedAt = fromDB(revoked.Int64)
	}
	return t, nil
}

// RevokeRefreshToken implements store.RefreshTokens.
func (s *Store) RevokeRefreshToken(ctx context.Context, hash string, at time.Time) error {
	res, err := s.db.ExecContext(ctx, `UPDATE refresh_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE hash = ?`,
		toDB(at), hash)
	if err != nil {
		return fmt.Errorf("revoke refresh token: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("revoke refresh token: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("refresh token: %w", store.ErrNotFound)
	}
	return nil
}

// DeleteExpiredRefreshTokens implements store.RefreshTokens.
func (s *Store) DeleteExpiredRefreshTokens(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM refresh_tokens WHERE expires_at < ?`, toDB(before))
	if err != nil {
		return 0, fmt.Errorf("delete expired refresh tokens: %w", err)
	}
	return res.RowsAffected()
}
