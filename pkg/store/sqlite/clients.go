package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/store/internal/rows"
)

// CreateClient implements store.Clients.
func (s *Store) CreateClient(ctx context.Context, c store.Client) error {
	aud, scopes, err := rows.ClientLists(c)
	if err != nil {
		return fmt.Errorf("create client: %w", classify(err))
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO clients (`+rows.ClientColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.SecretHash, aud, scopes, c.Description, rows.ToDB(c.CreatedAt), rows.NullTime(c.UpdatedAt))
	if isConstraint(err) {
		return fmt.Errorf("client: %w", store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create client: %w", classify(err))
	}
	return nil
}

// Client implements store.Clients.
func (s *Store) Client(ctx context.Context, id string) (store.Client, error) {
	c, err := rows.ScanClient(s.db.QueryRowContext(ctx, `SELECT `+rows.ClientColumns+` FROM clients WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Client{}, fmt.Errorf("client: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.Client{}, fmt.Errorf("get client: %w", classify(err))
	}
	return c, nil
}

// ListClients implements store.Clients: ids compare byte-wise (BINARY
// collation).
func (s *Store) ListClients(ctx context.Context) ([]store.Client, error) {
	rs, err := s.db.QueryContext(ctx, `SELECT `+rows.ClientColumns+` FROM clients ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list clients: %w", classify(err))
	}
	defer rs.Close()
	out, err := rows.All(rs, rows.ScanClient)
	if err != nil {
		return nil, fmt.Errorf("list clients: %w", classify(err))
	}
	return out, nil
}

// UpdateClient implements store.Clients.
func (s *Store) UpdateClient(ctx context.Context, c store.Client) error {
	aud, scopes, err := rows.ClientLists(c)
	if err != nil {
		return fmt.Errorf("update client: %w", classify(err))
	}
	res, err := s.db.ExecContext(ctx, `UPDATE clients
		SET secret_hash = ?, audiences = ?, scopes = ?, description = ?, updated_at = ? WHERE id = ?`,
		c.SecretHash, aud, scopes, c.Description, rows.NullTime(c.UpdatedAt), c.ID)
	if err != nil {
		return fmt.Errorf("update client: %w", classify(err))
	}
	return clientFound(res, "update client")
}

// DeleteClient implements store.Clients.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM clients WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete client: %w", classify(err))
	}
	return clientFound(res, "delete client")
}

// clientFound turns "no client row affected" into ErrNotFound.
func clientFound(res sql.Result, op string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: %w", op, classify(err))
	}
	if n == 0 {
		return fmt.Errorf("client: %w", store.ErrNotFound)
	}
	return nil
}
