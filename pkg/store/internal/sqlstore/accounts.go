package sqlstore

import (
	"context"
	"fmt"

	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/store/internal/rows"
)

// CreateAccount implements store.Accounts.
func (s *Store) CreateAccount(ctx context.Context, a store.Account) error {
	return s.insert(ctx, fmt.Sprintf("account %q", a.Name), "create account", "accounts", rows.AccountColumns,
		rows.AccountValues(a)...)
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
