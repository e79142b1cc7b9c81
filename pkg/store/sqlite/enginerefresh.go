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

// CreateEngineRefreshToken implements store.EngineRefreshTokens.
func (s *Store) CreateEngineRefreshToken(ctx context.Context, t store.EngineRefreshToken) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO engine_refresh_tokens (`+rows.EngineRefreshColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.Hash, t.FamilyID, t.Subject, t.AccountID, t.Epoch, t.ClientID, rows.ToDB(t.CreatedAt), rows.ToDB(t.ExpiresAt),
		rows.NullTime(t.UsedAt), rows.NullTime(t.RevokedAt))
	if isConstraint(err) {
		return fmt.Errorf("engine refresh token: %w", store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create engine refresh token: %w", classify(err))
	}
	return nil
}

// EngineRefreshToken implements store.EngineRefreshTokens.
func (s *Store) EngineRefreshToken(ctx context.Context, hash string) (store.EngineRefreshToken, error) {
	t, err := rows.ScanEngineRefreshToken(s.db.QueryRowContext(ctx, `SELECT `+rows.EngineRefreshRead+`
		FROM engine_refresh_tokens WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return store.EngineRefreshToken{}, fmt.Errorf("engine refresh token: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.EngineRefreshToken{}, fmt.Errorf("get engine refresh token: %w", classify(err))
	}
	return t, nil
}

// UseEngineRefreshToken implements store.EngineRefreshTokens with one
// UPDATE ... WHERE used_at IS NULL: SQLite runs writers one at a time, so a
// second use finds used_at set and matches nothing.
func (s *Store) UseEngineRefreshToken(ctx context.Context, hash string, at time.Time) (store.EngineRefreshToken, error) {
	t, err := rows.ScanEngineRefreshToken(s.db.QueryRowContext(ctx, `UPDATE engine_refresh_tokens SET used_at = ?
		WHERE hash = ? AND used_at IS NULL RETURNING `+rows.EngineRefreshRead, rows.ToDB(at), hash))
	if errors.Is(err, sql.ErrNoRows) {
		prev, err := s.EngineRefreshToken(ctx, hash)
		if err != nil {
			return store.EngineRefreshToken{}, err
		}
		return prev, fmt.Errorf("engine refresh token already used: %w", store.ErrConflict)
	}
	if err != nil {
		return store.EngineRefreshToken{}, fmt.Errorf("use engine refresh token: %w", classify(err))
	}
	return t, nil
}

// RevokeEngineRefreshFamily implements store.EngineRefreshTokens.
func (s *Store) RevokeEngineRefreshFamily(ctx context.Context, familyID string, at time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE engine_refresh_tokens SET revoked_at = COALESCE(revoked_at, ?)
		WHERE family_id = ?`, rows.ToDB(at), familyID)
	if err != nil {
		return 0, fmt.Errorf("revoke engine refresh family: %w", classify(err))
	}
	return res.RowsAffected()
}

// DeleteEngineRefreshTokens implements store.EngineRefreshTokens.
func (s *Store) DeleteEngineRefreshTokens(ctx context.Context, expired, used time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM engine_refresh_tokens WHERE expires_at < ?1
		OR (used_at IS NOT NULL AND used_at < ?2)
		OR family_id IN (SELECT family_id FROM engine_refresh_tokens WHERE revoked_at IS NOT NULL)`,
		rows.ToDB(expired), rows.ToDB(used))
	if err != nil {
		return 0, fmt.Errorf("delete engine refresh tokens: %w", classify(err))
	}
	return res.RowsAffected()
}
