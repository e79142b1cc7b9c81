package sqlite

import (
	"context"
	"database/sql"

	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/store/internal/rows"
)

// UpdateAccount implements store.Accounts with one UPDATE: NULL leaves a
// field as it is, and TokensNotBefore only ever moves forward.
func (s *Store) UpdateAccount(ctx context.Context, id string, c store.AccountChange) (store.Account, error) {
	return rows.One(errs, "account "+id, "update account", s.db.QueryRowContext(ctx, `UPDATE accounts SET email = COALESCE(?1, email),
		type = COALESCE(?2, type), state = COALESCE(?3, state), updated_at = ?4,
		tokens_not_before = CASE WHEN ?5 IS NULL THEN tokens_not_before
			ELSE MAX(COALESCE(tokens_not_before, ?5), ?5) END
		WHERE id = ?6 RETURNING `+rows.AccountColumns,
		c.Email, c.Type, c.State, rows.ToDB(c.At), rows.NullTime(c.TokensNotBefore), id), rows.ScanAccount)
}

// AdoptEpochs implements store.Accounts.
func (s *Store) AdoptEpochs(ctx context.Context, epochs map[string]string) (int64, error) {
	values := make([][]any, 0, len(epochs))
	for id, epoch := range epochs {
		values = append(values, []any{epoch, id})
	}
	var n int64
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		for _, table := range []string{"refresh_tokens", "engine_refresh_tokens"} {
			m, err := execEach(ctx, tx, `UPDATE `+table+` SET epoch = ? WHERE account_id = ? AND epoch = ''`, values)
			if err != nil {
				return err
			}
			n += m
		}
		return nil
	})
	if err != nil {
		return 0, errs.Failed("adopt epochs", err)
	}
	return n, nil
}
