package postgres

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
	_, err = s.pool.Exec(ctx, `INSERT INTO clients (`+rows.ClientColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`, values...)
	return s.errs.Inserted("client", "create client", err)
}

// Client implements store.Clients.
func (s *Store) Client(ctx context.Context, id string) (store.Client, error) {
	return rows.One(s.errs, "client", "get client",
		s.pool.QueryRow(ctx, `SELECT `+rows.ClientColumns+` FROM clients WHERE id = $1`, id), rows.ScanClient)
}

// ListClients implements store.Clients: the id column's "C" collation
// orders byte-wise whatever the database's locale.
func (s *Store) ListClients(ctx context.Context) ([]store.Client, error) {
	rs, err := s.pool.Query(ctx, `SELECT `+rows.ClientColumns+` FROM clients ORDER BY id`)
	return rows.List(s.errs, "list clients", rs, err, rows.ScanClient)
}

// UpdateClient implements store.Clients.
func (s *Store) UpdateClient(ctx context.Context, c store.Client) error {
	aud, scopes, err := rows.ClientLists(c)
	if err != nil {
		return s.errs.Failed("update client", err)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE clients
		SET secret_hash = $1, audiences = $2, scopes = $3, description = $4, updated_at = $5 WHERE id = $6`,
		c.SecretHash, aud, scopes, c.Description, rows.NullTime(c.UpdatedAt), c.ID)
	return s.errs.Affected("client", "update client", tag.RowsAffected(), err)
}

// DeleteClient implements store.Clients.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM clients WHERE id = $1`, id)
	return s.errs.Affected("client", "delete client", tag.RowsAffected(), err)
}
