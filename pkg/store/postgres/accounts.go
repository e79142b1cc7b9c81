package postgres

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

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
	var n int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var b pgx.Batch
		// In one order on every replica: two starting together lock the
		// same rows in the same order, never into a deadlock.
		for _, id := range slices.Sorted(maps.Keys(epochs)) {
			for _, table := range []string{"refresh_tokens", "engine_refresh_tokens"} {
				b.Queue(`UPDATE `+table+` SET epoch = $1 WHERE account_id = $2 AND epoch = ''`, epochs[id], id)
			}
		}
		br := tx.SendBatch(ctx, &b)
		defer br.Close()
		for range b.Len() {
			tag, err := br.Exec()
			if err != nil {
				return s.errs.Failed("adopt epochs", err)
			}
			n += tag.RowsAffected()
		}
		return br.Close()
	})
	if err != nil {
		return 0, s.classify(err)
	}
	return n, nil
}

// DeleteAccount implements store.Accounts: the row is deleted and the
// credentials revoked in one transaction.
func (s *Store) DeleteAccount(ctx context.Context, id string, at time.Time) (store.Revoked, error) {
	var r store.Revoked
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM accounts WHERE id = $1`, id)
		if err != nil {
			return fmt.Errorf("delete account: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("account %s: %w", id, store.ErrNotFound)
		}
		r, err = revokeCredentials(ctx, tx, id, store.AllKinds, "", at)
		return err
	})
	if err != nil {
		return store.Revoked{}, s.classify(err)
	}
	return r, nil
}

// RevokeCredentials implements store.Accounts.
func (s *Store) RevokeCredentials(ctx context.Context, accountID string, kinds store.CredentialKinds, keepEpoch string, at time.Time) (store.Revoked, error) {
	var r store.Revoked
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		r, err = revokeCredentials(ctx, tx, accountID, kinds, keepEpoch, at)
		return err
	})
	if err != nil {
		return store.Revoked{}, s.classify(err)
	}
	return r, nil
}

// revokeCredentials revokes, within tx, the account's credentials of the
// given kinds that are not revoked yet, and counts them. An engine family
// is revoked whole when any of its tokens matches.
func revokeCredentials(ctx context.Context, tx pgx.Tx, accountID string, kinds store.CredentialKinds, keepEpoch string, at time.Time) (store.Revoked, error) {
	var r store.Revoked
	steps := []struct {
		kind  store.CredentialKinds
		query string
		args  []any
		n     *int64
	}{
		{store.KindRefresh, `UPDATE refresh_tokens SET revoked_at = $1
			WHERE account_id = $2 AND revoked_at IS NULL AND ($3::text = '' OR epoch <> $3::text)`,
			[]any{rows.ToDB(at), accountID, keepEpoch}, &r.RefreshTokens},
		{store.KindEngineRefresh, `UPDATE engine_refresh_tokens SET revoked_at = $1
			WHERE revoked_at IS NULL AND family_id IN (SELECT family_id FROM engine_refresh_tokens
				WHERE account_id = $2 AND ($3::text = '' OR epoch <> $3::text))`,
			[]any{rows.ToDB(at), accountID, keepEpoch}, &r.EngineRefreshTokens},
		{store.KindAPIToken, `UPDATE api_tokens SET revoked_at = $1 WHERE account_id = $2 AND revoked_at IS NULL`,
			[]any{rows.ToDB(at), accountID}, &r.APITokens}, // API tokens survive a password change: no epoch
	}
	for _, st := range steps {
		if kinds&st.kind == 0 {
			continue
		}
		tag, err := tx.Exec(ctx, st.query, st.args...)
		if err != nil {
			return store.Revoked{}, fmt.Errorf("revoke credentials: %w", err)
		}
		*st.n = tag.RowsAffected()
	}
	return r, nil
}
