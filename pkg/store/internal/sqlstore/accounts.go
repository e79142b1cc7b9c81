package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/store/internal/rows"
)

// CreateAccount implements store.Accounts.
func (s *Store) CreateAccount(ctx context.Context, a store.Account) error {
	return s.insert(ctx, fmt.Sprintf("account %q", a.Name), "create account", "accounts", rows.AccountColumns,
		rows.AccountValues(a)...)
}

// CreateAccounts implements store.Accounts.
func (s *Store) CreateAccounts(ctx context.Context, accounts []store.Account) (int64, error) {
	if len(accounts) == 0 {
		return 0, nil
	}
	return transaction(ctx, s, func(tx *Store) (int64, error) {
		var created int64
		q := `INSERT INTO accounts (` + rows.AccountColumns + `) VALUES (` +
			placeholders(len(rows.AccountValues(accounts[0]))) + `) ON CONFLICT DO NOTHING`
		for _, a := range accounts {
			n, err := tx.db.Exec(ctx, q, rows.AccountValues(a)...)
			if err != nil {
				return 0, tx.errs.Failed("create accounts", err)
			}
			created += n
		}
		return created, nil
	})
}

// Account implements store.Accounts.
func (s *Store) Account(ctx context.Context, name string) (store.Account, error) {
	return rows.One(s.errs, fmt.Sprintf("account %q", name), "get account",
		s.db.QueryRow(ctx, `SELECT `+rows.AccountColumns+` FROM accounts WHERE name = $1`, name), rows.ScanAccount)
}

// ListAccounts implements store.Accounts.
func (s *Store) ListAccounts(ctx context.Context) ([]store.Account, error) {
	rs, err := s.db.Query(ctx, `SELECT `+rows.AccountColumns+` FROM accounts ORDER BY name`)
	return rows.List(s.errs, "list accounts", rs, err, rows.ScanAccount)
}

// DeleteAccount implements store.Accounts: the row is deleted and the
// credentials revoked in one transaction (SQLite's are immediate, hence
// serialized).
func (s *Store) DeleteAccount(ctx context.Context, id string, at time.Time) (store.Revoked, error) {
	return transaction(ctx, s, func(tx *Store) (store.Revoked, error) {
		n, err := tx.db.Exec(ctx, `DELETE FROM accounts WHERE id = $1`, id)
		if err := tx.errs.Affected("account "+id, "delete account", n, err); err != nil {
			return store.Revoked{}, err
		}
		return tx.revoke(ctx, id, store.AllKinds, "", at)
	})
}

// RevokeCredentials implements store.Accounts.
func (s *Store) RevokeCredentials(ctx context.Context, accountID string, kinds store.CredentialKinds, keepEpoch string,
	at time.Time) (store.Revoked, error) {
	return transaction(ctx, s, func(tx *Store) (store.Revoked, error) {
		return tx.revoke(ctx, accountID, kinds, keepEpoch, at)
	})
}

// revoke revokes the account's credentials of the given kinds that are not
// revoked yet, and counts them; run it in a transaction. An engine family
// is revoked whole when any of its tokens matches. keepEpoch is cast to
// TEXT: PostgreSQL cannot tell the type of a parameter compared with ”.
func (s *Store) revoke(ctx context.Context, accountID string, kinds store.CredentialKinds, keepEpoch string,
	at time.Time) (store.Revoked, error) {
	var r store.Revoked
	if accountID == "" { // workloads' tokens have none: never all of them at once
		return r, nil
	}
	steps := []struct {
		kind  store.CredentialKinds
		query string
		args  []any
		n     *int64
	}{
		{store.KindRefresh, `UPDATE refresh_tokens SET revoked_at = $1
			WHERE account_id = $2 AND revoked_at IS NULL AND (CAST($3 AS TEXT) = '' OR epoch <> CAST($3 AS TEXT))`,
			[]any{rows.ToDB(at), accountID, keepEpoch}, &r.RefreshTokens},
		{store.KindEngineRefresh, `UPDATE engine_refresh_tokens SET revoked_at = $1
			WHERE revoked_at IS NULL AND family_id IN (SELECT family_id FROM engine_refresh_tokens
				WHERE account_id = $2 AND (CAST($3 AS TEXT) = '' OR epoch <> CAST($3 AS TEXT)))`,
			[]any{rows.ToDB(at), accountID, keepEpoch}, &r.EngineRefreshTokens},
		{store.KindAPIToken, `UPDATE api_tokens SET revoked_at = $1 WHERE account_id = $2 AND revoked_at IS NULL`,
			[]any{rows.ToDB(at), accountID}, &r.APITokens}, // API tokens survive a password change: no epoch
	}
	for _, st := range steps {
		if kinds&st.kind == 0 {
			continue
		}
		n, err := s.db.Exec(ctx, st.query, st.args...)
		if err != nil {
			return store.Revoked{}, s.errs.Failed("revoke credentials", err)
		}
		*st.n = n
	}
	return r, nil
}
