package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/store/internal/rows"
)

// engineRefreshRead reads a token with, as its revoked_at, the first
// revocation of its family: a token created after its family was revoked
// (its rotation racing a reuse) is revoked too.
const engineRefreshRead = `hash, family_id, subject, client_id, created_at, expires_at, used_at,
	COALESCE(revoked_at, (SELECT MIN(f.revoked_at) FROM engine_refresh_tokens f
		WHERE f.family_id = engine_refresh_tokens.family_id))`

// CreateEngineRefreshToken implements store.EngineRefreshTokens.
func (s *Store) CreateEngineRefreshToken(ctx context.Context, t store.EngineRefreshToken) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO engine_refresh_tokens (`+rows.EngineRefreshColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		t.Hash, t.FamilyID, t.Subject, t.ClientID, rows.ToDB(t.CreatedAt), rows.ToDB(t.ExpiresAt), rows.NullTime(t.UsedAt), rows.NullTime(t.RevokedAt))
	if isUniqueViolation(err) {
		return fmt.Errorf("engine refresh token: %w", store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create engine refresh token: %w", err)
	}
	return nil
}

// EngineRefreshToken implements store.EngineRefreshTokens.
func (s *Store) EngineRefreshToken(ctx context.Context, hash string) (store.EngineRefreshToken, error) {
	t, err := rows.ScanEngineRefreshToken(s.pool.QueryRow(ctx, `SELECT `+engineRefreshRead+`
		FROM engine_refresh_tokens WHERE hash = $1`, hash))
	if isNoRows(err) {
		return store.EngineRefreshToken{}, fmt.Errorf("engine refresh token: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.EngineRefreshToken{}, fmt.Errorf("get engine refresh token: %w", err)
	}
	return t, nil
}

// UseEngineRefreshToken implements store.EngineRefreshTokens with one
// UPDATE ... WHERE used_at IS NULL: a concurrent use waits for the winner's
// row lock, then re-checks the WHERE against the committed row (READ
// COMMITTED) and matches nothing.
func (s *Store) UseEngineRefreshToken(ctx context.Context, hash string, at time.Time) (store.EngineRefreshToken, error) {
	t, err := rows.ScanEngineRefreshToken(s.pool.QueryRow(ctx, `UPDATE engine_refresh_tokens SET used_at = $1
		WHERE hash = $2 AND used_at IS NULL RETURNING `+engineRefreshRead, rows.ToDB(at), hash))
	if isNoRows(err) {
		prev, err := s.EngineRefreshToken(ctx, hash)
		if err != nil {
			return store.EngineRefreshToken{}, err
		}
		return prev, fmt.Errorf("engine refresh token already used: %w", store.ErrConflict)
	}
	if err != nil {
		return store.EngineRefreshToken{}, fmt.Errorf("use engine refresh token: %w", err)
	}
	return t, nil
}

// RevokeEngineRefreshFamily implements store.EngineRefreshTokens.
func (s *Store) RevokeEngineRefreshFamily(ctx context.Context, familyID string, at time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE engine_refresh_tokens SET revoked_at = COALESCE(revoked_at, $1)
		WHERE family_id = $2`, rows.ToDB(at), familyID)
	if err != nil {
		return 0, fmt.Errorf("revoke engine refresh family: %w", err)
	}
	return tag.RowsAffected(), nil
}
