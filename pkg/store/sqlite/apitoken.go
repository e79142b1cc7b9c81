package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/store/internal/rows"
)

// CreateAPIToken implements store.APITokens. The count of live tokens and
// the insert share one (immediate, hence serialized) transaction.
func (s *Store) CreateAPIToken(ctx context.Context, t store.APIToken, maxLive int) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return errs.Failed("create api token", err)
	}
	defer tx.Rollback()
	if maxLive > 0 {
		var live int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM api_tokens
			WHERE account_id = ? AND revoked_at IS NULL AND expires_at > ?`,
			t.AccountID, rows.ToDB(t.CreatedAt)).Scan(&live); err != nil {
			return errs.Failed("create api token", err)
		}
		if live >= maxLive {
			return fmt.Errorf("api token: %d live: %w", live, store.ErrLimit)
		}
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO api_tokens (`+rows.APITokenColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, rows.APITokenValues(t)...)
	if err != nil {
		return errs.Inserted("api token", "create api token", err)
	}
	if err := tx.Commit(); err != nil {
		return errs.Failed("create api token", err)
	}
	return nil
}

// FindAPIToken implements store.APITokens.
func (s *Store) FindAPIToken(ctx context.Context, prefix string) (store.APIToken, error) {
	if prefix == "" {
		return store.APIToken{}, fmt.Errorf("api token: empty prefix: %w", store.ErrNotFound)
	}
	return matchPrefix(ctx, s.db, prefix, "")
}

// ListAPITokens implements store.APITokens.
func (s *Store) ListAPITokens(ctx context.Context, accountID string, page store.Page) ([]store.APIToken, error) {
	limit := int64(page.Limit)
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	rs, err := s.db.QueryContext(ctx, `SELECT `+rows.APITokenColumns+` FROM api_tokens
		WHERE (?1 = '' OR account_id = ?1) AND (created_at, hash) > (?2, ?3)
		ORDER BY created_at, hash LIMIT ?4`, accountID, rows.LowerBound(page.AfterCreated), page.AfterHash, limit)
	return rows.List(errs, "list api tokens", rs, err, rows.ScanAPIToken)
}

// RevokeAPIToken implements store.APITokens. The prefix is compared as a
// plain string (substr), so '%' and '_' in it are no wildcards; an empty
// prefix matches nothing. Lookup and update share one (immediate, hence
// serialized) transaction.
func (s *Store) RevokeAPIToken(ctx context.Context, prefix, accountID string, at time.Time) (store.APIToken, error) {
	if prefix == "" {
		return store.APIToken{}, fmt.Errorf("api token: empty prefix: %w", store.ErrNotFound)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return store.APIToken{}, errs.Failed("revoke api token", err)
	}
	defer tx.Rollback()
	match, err := matchPrefix(ctx, tx, prefix, accountID)
	if err != nil {
		return store.APIToken{}, err
	}
	t, err := rows.One(errs, "api token", "revoke api token", tx.QueryRowContext(ctx, `UPDATE api_tokens
		SET revoked_at = COALESCE(revoked_at, ?) WHERE hash = ? RETURNING `+rows.APITokenColumns,
		rows.ToDB(at), match.Hash), rows.ScanAPIToken)
	if err != nil {
		return store.APIToken{}, err
	}
	if err := tx.Commit(); err != nil {
		return store.APIToken{}, errs.Failed("revoke api token", err)
	}
	return t, nil
}

// matchPrefix returns the one token whose hash starts with prefix (and of
// the account accountID unless it is ""): ErrNotFound for none,
// ErrConflict for several. The range on hash (lowercase hex, so every
// hash starting with prefix sorts below prefix+"g") lets the primary key's
// index find it; substr keeps the match exact.
func matchPrefix(ctx context.Context, q execer, prefix, accountID string) (store.APIToken, error) {
	rs, err := q.QueryContext(ctx, `SELECT `+rows.APITokenColumns+` FROM api_tokens
		WHERE hash >= ?1 AND hash < ?1 || 'g' AND substr(hash, 1, length(?1)) = ?1
			AND (?2 = '' OR account_id = ?2) LIMIT 2`, prefix, accountID)
	found, err := rows.List(errs, "match api token prefix", rs, err, rows.ScanAPIToken)
	if err != nil {
		return store.APIToken{}, err
	}
	return rows.PrefixMatch(found)
}

// TouchAPITokens implements store.APITokens: one transaction, and a stored
// time is only ever moved forward. Zero times are ignored.
func (s *Store) TouchAPITokens(ctx context.Context, used map[string]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	var values [][]any
	for _, h := range slices.Sorted(maps.Keys(used)) {
		if at := used[h]; !at.IsZero() {
			values = append(values, []any{rows.ToDB(at), h})
		}
	}
	return errs.Failed("touch api tokens", s.withTx(ctx, func(tx *sql.Tx) error {
		_, err := execEach(ctx, tx, `UPDATE api_tokens SET last_used_at = ?1
			WHERE hash = ?2 AND (last_used_at IS NULL OR last_used_at < ?1)`, values)
		return err
	}))
}
