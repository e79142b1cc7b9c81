package sqlite

import (
	"context"
	"database/sql"

	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/store/internal/rows"
)

// CreateClient implements store.Clients.
func (s *Store) CreateClient(ctx context.Context, c store.Client) error {
	values, err := rows.ClientValues(c)
	if err != nil {
		return errs.Failed("create client", err)
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO clients (`+rows.ClientColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`, values...)
	return errs.Inserted("client", "create client", err)
}

// Client implements store.Clients.
func (s *Store) Client(ctx context.Context, id string) (store.Client, error) {
	return rows.One(errs, "client", "get client",
		s.db.QueryRowContext(ctx, `SELECT `+rows.ClientColumns+` FROM clients WHERE id = ?`, id), rows.ScanClient)
}

// ListClients implements store.Clients: ids compare byte-wise (BINARY
// collation).
func (s *Store) ListClients(ctx context.Context) ([]store.Client, error) {
	rs, err := s.db.QueryContext(ctx, `SELECT `+rows.ClientColumns+` FROM clients ORDER BY id`)
	return rows.List(errs, "list clients", rs, err, rows.ScanClient)
}

// UpdateClient implements store.Clients.
func (s *Store) UpdateClient(ctx context.Context, c store.Client) error {
	aud, scopes, err := rows.ClientLists(c)
	if err != nil {
		return errs.Failed("update client", err)
	}
	res, err := s.db.ExecContext(ctx, `UPDATE clients
		SET secret_hash = ?, audiences = ?, scopes = ?, description = ?, updated_at = ? WHERE id = ?`,
		c.SecretHash, aud, scopes, c.Description, rows.NullTime(c.UpdatedAt), c.ID)
	if err != nil {
		return errs.Failed("update client", err)
	}
	return clientFound(res, "update client")
}

// DeleteClient implements store.Clients.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM clients WHERE id = ?`, id)
	if err != nil {
		return errs.Failed("delete client", err)
	}
	return clientFound(res, "delete client")
}

// clientFound turns "no client row affected" into ErrNotFound.
func clientFound(res sql.Result, op string) error {
	n, err := res.RowsAffected()
	return errs.Affected("client", op, n, err)
}
