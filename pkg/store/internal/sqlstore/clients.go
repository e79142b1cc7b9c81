package sqlstore

import (
	"context"

	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/store/internal/rows"
)

// CreateClient implements store.Clients.
func (s *Store) CreateClient(ctx context.Context, c store.Client) error {
	values, err := rows.ClientValues(c)
	if err != nil {
		return s.errs.Failed("create client", err)
	}
	return s.insert(ctx, "client", "create client", "clients", rows.ClientColumns, values...)
}

// Client implements store.Clients.
func (s *Store) Client(ctx context.Context, id string) (store.Client, error) {
	return rows.One(s.errs, "client", "get client",
		s.db.QueryRow(ctx, `SELECT `+rows.ClientColumns+` FROM clients WHERE id = $1`, id), rows.ScanClient)
}

// ListClients implements store.Clients. IDs compare byte-wise: SQLite's
// BINARY collation, and the "C" collation of the PostgreSQL column
// whatever the database's locale.
func (s *Store) ListClients(ctx context.Context) ([]store.Client, error) {
	rs, err := s.db.Query(ctx, `SELECT `+rows.ClientColumns+` FROM clients ORDER BY id`)
	return rows.List(s.errs, "list clients", rs, err, rows.ScanClient)
}

// UpdateClient implements store.Clients.
func (s *Store) UpdateClient(ctx context.Context, c store.Client) error {
	aud, scopes, err := rows.ClientLists(c)
	if err != nil {
		return s.errs.Failed("update client", err)
	}
	n, err := s.db.Exec(ctx, `UPDATE clients
		SET secret_hash = $1, audiences = $2, scopes = $3, description = $4, updated_at = $5 WHERE id = $6`,
		c.SecretHash, aud, scopes, c.Description, rows.NullTime(c.UpdatedAt), c.ID)
	return s.errs.Affected("client", "update client", n, err)
}

// DeleteClient implements store.Clients.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	n, err := s.db.Exec(ctx, `DELETE FROM clients WHERE id = $1`, id)
	return s.errs.Affected("client", "delete client", n, err)
}
