package postgres

import (
	"context"
	"maps"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/store/internal/rows"
)

// UpdateAccount implements store.Accounts with one UPDATE (the row lock
// serializes concurrent ones, each re-reading the row): NULL leaves a
// field as it is, and TokensNotBefore only ever moves forward.
func (s *Store) UpdateAccount(ctx context.Context, id string, c store.AccountChange) (store.Account, error) {
	return rows.One(s.errs, "account "+id, "update account", s.pool.QueryRow(ctx, `UPDATE accounts SET email = COALESCE($1, email),
		type = COALESCE($2, type), state = COALESCE($3, state), updated_at = $4,
		tokens_not_before = GREATEST(tokens_not_before, $5::bigint)
		WHERE id = $6 RETURNING `+rows.AccountColumns,
		c.Email, c.Type, c.State, rows.ToDB(c.At), rows.NullTime(c.TokensNotBefore), id), rows.ScanAccount)
}

// AdoptEpochs implements store.Accounts: one transaction, one round trip
// (a batch).
func (s *Store) AdoptEpochs(ctx context.Context, epochs map[string]string) (int64, error) {
	if len(epochs) == 0 {
		return 0, nil
	}
	var b pgx.Batch
	// In one order on every replica: two starting together lock the same
	// rows in the same order, never into a deadlock.
	for _, id := range slices.Sorted(maps.Keys(epochs)) {
		for _, table := range []string{"refresh_tokens", "engine_refresh_tokens"} {
			b.Queue(`UPDATE `+table+` SET epoch = $1 WHERE account_id = $2 AND epoch = ''`, epochs[id], id)
		}
	}
	var n int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) (err error) {
		n, err = sendBatch(ctx, tx, &b)
		return err
	})
	if err != nil {
		return 0, s.errs.Failed("adopt epochs", err)
	}
	return n, nil
}
