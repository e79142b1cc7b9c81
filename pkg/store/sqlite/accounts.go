package sqlite

import (
	"context"
	"database/sql"
	"time"

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
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, errs.Failed("adopt epochs", err)
	}
	defer tx.Rollback()
	var n int64
	for id, epoch := range epochs {
		for _, table := range []string{"refresh_tokens", "engine_refresh_tokens"} {
			res, err := tx.ExecContext(ctx, `UPDATE `+table+` SET epoch = ? WHERE account_id = ? AND epoch = ''`, epoch, id)
			if err != nil {
				return 0, errs.Failed("adopt epochs", err)
			}
			m, err := res.RowsAffected()
			if err != nil {
				return 0, errs.Failed("adopt epochs", err)
			}
			n += m
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, errs.Failed("adopt epochs", err)
	}
	return n, nil
}

// DeleteAccount implements store.Accounts: the credentials are revoked and
// the row deleted in one (immediate, hence serialized) transaction.
func (s *Store) DeleteAccount(ctx context.Context, id string, at time.Time) (store.Revoked, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return store.Revoked{}, errs.Failed("delete account", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `DELETE FROM accounts WHERE id = ?`, id)
	if err != nil {
		return store.Revoked{}, errs.Failed("delete account", err)
	}
	n, err := res.RowsAffected()
	if err := errs.Affected("account "+id, "delete account", n, err); err != nil {
		return store.Revoked{}, err
	}
	r, err := revokeCredentials(ctx, tx, id, store.AllKinds, "", at)
	if err != nil {
		return store.Revoked{}, err
	}
	if err := tx.Commit(); err != nil {
		return store.Revoked{}, errs.Failed("delete account", err)
	}
	return r, nil
}

// RevokeCredentials implements store.Accounts.
func (s *Store) RevokeCredentials(ctx context.Context, accountID string, kinds store.CredentialKinds, keepEpoch string, at time.Time) (store.Revoked, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return store.Revoked{}, errs.Failed("revoke credentials", err)
	}
	defer tx.Rollback()
	r, err := revokeCredentials(ctx, tx, accountID, kinds, keepEpoch, at)
	if err != nil {
		return store.Revoked{}, err
	}
	if err := tx.Commit(); err != nil {
		return store.Revoked{}, errs.Failed("revoke credentials", err)
	}
	return r, nil
}

// revokeCredentials revokes, within tx, the account's credentials of the
// given kinds that are not revoked yet, and counts them. An engine family
// is revoked whole when any of its tokens matches.
func revokeCredentials(ctx context.Context, tx *sql.Tx, accountID string, kinds store.CredentialKinds, keepEpoch string, at time.Time) (store.Revoked, error) {
	var r store.Revoked
	steps := []struct {
		kind  store.CredentialKinds
		query string
		args  []any
		n     *int64
	}{
		{store.KindRefresh, `UPDATE refresh_tokens SET revoked_at = ?1
			WHERE account_id = ?2 AND revoked_at IS NULL AND (?3 = '' OR epoch <> ?3)`,
			[]any{rows.ToDB(at), accountID, keepEpoch}, &r.RefreshTokens},
		{store.KindEngineRefresh, `UPDATE engine_refresh_tokens SET revoked_at = ?1
			WHERE revoked_at IS NULL AND family_id IN (SELECT family_id FROM engine_refresh_tokens
				WHERE account_id = ?2 AND (?3 = '' OR epoch <> ?3))`,
			[]any{rows.ToDB(at), accountID, keepEpoch}, &r.EngineRefreshTokens},
		{store.KindAPIToken, `UPDATE api_tokens SET revoked_at = ?1 WHERE account_id = ?2 AND revoked_at IS NULL`,
			[]any{rows.ToDB(at), accountID}, &r.APITokens}, // API tokens survive a password change: no epoch
	}
	for _, st := range steps {
		if kinds&st.kind == 0 {
			continue
		}
		res, err := tx.ExecContext(ctx, st.query, st.args...)
		if err != nil {
			return store.Revoked{}, errs.Failed("revoke credentials", err)
		}
		if *st.n, err = res.RowsAffected(); err != nil {
			return store.Revoked{}, errs.Failed("revoke credentials", err)
		}
	}
	return r, nil
}
