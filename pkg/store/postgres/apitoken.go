package postgres

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/store/internal/rows"
)

// CreateAPIToken implements store.APITokens. With a limit, a transaction
// takes an advisory lock on the account (hashtext of its ID) before it
// counts, so concurrent creates for one account count one after another.
func (s *Store) CreateAPIToken(ctx context.Context, t store.APIToken, maxLive int) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return s.errs.Failed("create api token", err)
	}
	defer tx.Rollback(ctx)
	if maxLive > 0 {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, apiTokenLock, t.AccountID); err != nil {
			return s.errs.Failed("create api token", err)
		}
		var live int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM api_tokens
			WHERE account_id = $1 AND revoked_at IS NULL AND expires_at > $2`,
			t.AccountID, rows.ToDB(t.CreatedAt)).Scan(&live); err != nil {
			return s.errs.Failed("create api token", err)
		}
		if live >= maxLive {
			return fmt.Errorf("api token: %d live: %w", live, store.ErrLimit)
		}
	}
	_, err = tx.Exec(ctx, `INSERT INTO api_tokens (`+rows.APITokenColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, rows.APITokenValues(t)...)
	if err != nil {
		return s.errs.Inserted("api token", "create api token", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return s.errs.Failed("create api token", err)
	}
	return nil
}

// apiTokenLock is the first key of the advisory locks CreateAPIToken takes
// ("apitok" in ASCII), so they never meet the migration lock.
const apiTokenLock int32 = 0x61706974

// FindAPIToken implements store.APITokens.
func (s *Store) FindAPIToken(ctx context.Context, prefix string) (store.APIToken, error) {
	if prefix == "" {
		return store.APIToken{}, fmt.Errorf("api token: empty prefix: %w", store.ErrNotFound)
	}
	return s.matchPrefix(ctx, s.pool, prefix, "")
}

// ListAPITokens implements store.APITokens.
func (s *Store) ListAPITokens(ctx context.Context, accountID string, page store.Page) ([]store.APIToken, error) {
	var limit *int
	if page.Limit > 0 {
		limit = &page.Limit
	}
	rs, err := s.pool.Query(ctx, `SELECT `+rows.APITokenColumns+` FROM api_tokens
		WHERE ($1::text = '' OR account_id = $1::text) AND (created_at, hash) > ($2, $3::text)
		ORDER BY created_at, hash LIMIT $4`, accountID, rows.LowerBound(page.AfterCreated), page.AfterHash, limit)
	return rows.List(s.errs, "list api tokens", rs, err, rows.ScanAPIToken)
}

// RevokeAPIToken implements store.APITokens. The prefix is compared as a
// plain string (left), so '%' and '_' in it are no wildcards; an empty
// prefix matches nothing. Concurrent revocations of one token serialize on
// its row lock, and the later UPDATE re-reads the row, so COALESCE keeps
// the first time.
func (s *Store) RevokeAPIToken(ctx context.Context, prefix, accountID string, at time.Time) (store.APIToken, error) {
	if prefix == "" {
		return store.APIToken{}, fmt.Errorf("api token: empty prefix: %w", store.ErrNotFound)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return store.APIToken{}, s.errs.Failed("revoke api token", err)
	}
	defer tx.Rollback(ctx)
	match, err := s.matchPrefix(ctx, tx, prefix, accountID)
	if err != nil {
		return store.APIToken{}, err
	}
	t, err := rows.One(s.errs, "api token", "revoke api token", tx.QueryRow(ctx, `UPDATE api_tokens
		SET revoked_at = COALESCE(revoked_at, $1) WHERE hash = $2 RETURNING `+rows.APITokenColumns,
		rows.ToDB(at), match.Hash), rows.ScanAPIToken)
	if err != nil {
		return store.APIToken{}, err
	}
	if err := tx.Commit(ctx); err != nil {
		return store.APIToken{}, s.errs.Failed("revoke api token", err)
	}
	return t, nil
}

// matchPrefix returns the one token whose hash starts with prefix (and of
// the account accountID unless it is ""): ErrNotFound for none,
// ErrConflict for several. The range on hash (lowercase hex, so every
// hash starting with prefix sorts below prefix+"g") lets the primary key's
// index find it; left() keeps the match exact whatever the collation.
func (s *Store) matchPrefix(ctx context.Context, q querier, prefix, accountID string) (store.APIToken, error) {
	rs, err := q.Query(ctx, `SELECT `+rows.APITokenColumns+` FROM api_tokens
		WHERE hash >= $1::text AND hash < $1::text || 'g' AND left(hash, length($1::text)) = $1::text
			AND ($2::text = '' OR account_id = $2::text) LIMIT 2`,
		prefix, accountID)
	found, err := rows.List(s.errs, "match api token prefix", rs, err, rows.ScanAPIToken)
	if err != nil {
		return store.APIToken{}, err
	}
	return rows.PrefixMatch(found)
}

// TouchAPITokens implements store.APITokens: one transaction (one round
// trip), and a stored time is only ever moved forward. Rows are updated in
// hash order so that concurrent batches lock them in the same order and
// cannot deadlock. Zero times are ignored.
func (s *Store) TouchAPITokens(ctx context.Context, used map[string]time.Time) error {
	hashes := make([]string, 0, len(used))
	for h, at := range used {
		if !at.IsZero() {
			hashes = append(hashes, h)
		}
	}
	if len(hashes) == 0 {
		return nil
	}
	slices.Sort(hashes)
	var b pgx.Batch
	for _, h := range hashes {
		b.Queue(`UPDATE api_tokens SET last_used_at = $1
			WHERE hash = $2 AND (last_used_at IS NULL OR last_used_at < $1)`, rows.ToDB(used[h]), h)
	}
	return s.errs.Failed("touch api tokens", pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := sendBatch(ctx, tx, &b)
		return err
	}))
}
