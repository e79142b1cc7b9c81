package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/store/internal/rows"
)

// CreateEngineRefreshToken implements store.EngineRefreshTokens.
func (s *Store) CreateEngineRefreshToken(ctx context.Context, t store.EngineRefreshToken) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO engine_refresh_tokens (`+rows.EngineRefreshColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, rows.EngineRefreshValues(t)...)
	return errs.Inserted("engine refresh token", "create engine refresh token", err)
}

// EngineRefreshToken implements store.EngineRefreshTokens.
func (s *Store) EngineRefreshToken(ctx context.Context, hash string) (store.EngineRefreshToken, error) {
	return rows.One(errs, "engine refresh token", "get engine refresh token", s.db.QueryRowContext(ctx,
		`SELECT `+rows.EngineRefreshRead+` FROM engine_refresh_tokens WHERE hash = ?`, hash), rows.ScanEngineRefreshToken)
}

// UseEngineRefreshToken implements store.EngineRefreshTokens with one
// UPDATE ... WHERE used_at IS NULL: SQLite runs writers one at a time, so a
// second use finds used_at set and matches nothing.
func (s *Store) UseEngineRefreshToken(ctx context.Context, hash string, at time.Time) (store.EngineRefreshToken, error) {
	t, err := rows.ScanEngineRefreshToken(s.db.QueryRowContext(ctx, `UPDATE engine_refresh_tokens SET used_at = ?
		WHERE hash = ? AND used_at IS NULL RETURNING `+rows.EngineRefreshRead, rows.ToDB(at), hash))
	if isNoRows(err) {
		prev, err := s.EngineRefreshToken(ctx, hash)
		if err != nil {
			return store.EngineRefreshToken{}, err
		}
		return prev, fmt.Errorf("engine refresh token already used: %w", store.ErrConflict)
	}
	if err != nil {
		return store.EngineRefreshToken{}, errs.Failed("use engine refresh token", err)
	}
	return t, nil
}

// RevokeEngineRefreshFamily implements store.EngineRefreshTokens.
func (s *Store) RevokeEngineRefreshFamily(ctx context.Context, familyID string, at time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE engine_refresh_tokens SET revoked_at = COALESCE(revoked_at, ?)
		WHERE family_id = ?`, rows.ToDB(at), familyID)
	if err != nil {
		return 0, errs.Failed("revoke engine refresh family", err)
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
		return 0, errs.Failed("delete engine refresh tokens", err)
	}
	return res.RowsAffected()
}
