package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/store/internal/rows"
)

// CreateEngineRefreshToken implements store.EngineRefreshTokens.
func (s *Store) CreateEngineRefreshToken(ctx context.Context, t store.EngineRefreshToken) error {
	return s.insert(ctx, "engine refresh token", "create engine refresh token", "engine_refresh_tokens",
		rows.EngineRefreshColumns, rows.EngineRefreshValues(t)...)
}

// EngineRefreshToken implements store.EngineRefreshTokens.
func (s *Store) EngineRefreshToken(ctx context.Context, hash string) (store.EngineRefreshToken, error) {
	return rows.One(s.errs, "engine refresh token", "get engine refresh token", s.db.QueryRow(ctx,
		`SELECT `+rows.EngineRefreshRead+` FROM engine_refresh_tokens WHERE hash = $1`, hash), rows.ScanEngineRefreshToken)
}

// UseEngineRefreshToken implements store.EngineRefreshTokens with one
// UPDATE ... WHERE used_at IS NULL. A second use matches nothing: SQLite
// runs writers one at a time, so it finds used_at set; PostgreSQL makes it
// wait for the winner's row lock, then re-check the WHERE against the
// committed row (READ COMMITTED).
func (s *Store) UseEngineRefreshToken(ctx context.Context, hash string, at time.Time) (store.EngineRefreshToken, error) {
	t, err := rows.ScanEngineRefreshToken(s.db.QueryRow(ctx, `UPDATE engine_refresh_tokens SET used_at = $1
		WHERE hash = $2 AND used_at IS NULL RETURNING `+rows.EngineRefreshRead, rows.ToDB(at), hash))
	if err != nil && s.errs.NoRows(err) {
		prev, err := s.EngineRefreshToken(ctx, hash)
		if err != nil {
			return store.EngineRefreshToken{}, err
		}
		return prev, fmt.Errorf("engine refresh token already used: %w", store.ErrConflict)
	}
	if err != nil {
		return store.EngineRefreshToken{}, s.errs.Failed("use engine refresh token", err)
	}
	return t, nil
}

// RevokeEngineRefreshFamily implements store.EngineRefreshTokens.
func (s *Store) RevokeEngineRefreshFamily(ctx context.Context, familyID string, at time.Time) (int64, error) {
	n, err := s.db.Exec(ctx, `UPDATE engine_refresh_tokens SET revoked_at = COALESCE(revoked_at, $1)
		WHERE family_id = $2`, rows.ToDB(at), familyID)
	return n, s.errs.Failed("revoke engine refresh family", err)
}

// DeleteEngineRefreshTokens implements store.EngineRefreshTokens.
func (s *Store) DeleteEngineRefreshTokens(ctx context.Context, expired, used time.Time) (int64, error) {
	n, err := s.db.Exec(ctx, `DELETE FROM engine_refresh_tokens WHERE expires_at < $1
		OR (used_at IS NOT NULL AND used_at < $2)
		OR family_id IN (SELECT family_id FROM engine_refresh_tokens WHERE revoked_at IS NOT NULL)`,
		rows.ToDB(expired), rows.ToDB(used))
	return n, s.errs.Failed("delete engine refresh tokens", err)
}
