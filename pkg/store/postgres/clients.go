package postgres

import (
	"context"
	"fmt"

	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/store/internal/rows"
)

// CreateClient implements store.Clients.
func (s *Store) CreateClient(ctx context.Context, c store.Client) error {
	aud, scopes, err := rows.ClientLists(c)
	if err != nil {
		return fmt.Errorf("create client: %w", s.classify(err))
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO clients (`+rows.ClientColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		c.ID, c.SecretHash, aud, scopes, c.Description, rows.ToDB(c.CreatedAt), rows.NullTime(c.UpdatedAt))
	if isUniqueViolation(err) {
		return fmt.Errorf("client: %w", store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create client: %w", s.classify(err))
	}
	return nil
}

// Client implements store.Clients.
func (s *Store) Client(ctx context.Context, id string) (store.Client, error) {
	c, err := rows.ScanClient(s.pool.QueryRow(ctx, `SELECT `+rows.ClientColumns+` FROM clients WHERE id = $1`, id))
	if isNoRows(err) {
		return store.Client{}, fmt.Errorf("client: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.Client{}, fmt.Errorf("get client: %w", s.classify(err))
	}
	return c, nil
}

// ListClients implements store.Clients: the id column's "C" collation
// orders byte-wise whatever the database's locale.
func (s *Store) ListClients(ctx context.Context) ([]store.Client, error) {
	rs, err := s.pool.Query(ctx, `SELECT `+rows.ClientColumns+` FROM clients ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list clients: %w", s.classify(err))
	}
	defer rs.Close()
	out, err := rows.All(rs, rows.ScanClient)
	if err != nil {
		return nil, fmt.Errorf("list clients: %w", s.classify(err))
	}
	return out, nil
}

// UpdateClient implements store.Clients.
func (s *Store) UpdateClient(ctx context.Context, c store.Client) error {
	aud, scopes, err := rows.ClientLists(c)
	if err != nil {
		return fmt.Errorf("update client: %w", s.classify(err))
	}
	tag, err := s.pool.Exec(ctx, `UPDATE clients
		SET secret_hash = $1, audiences = $2, scopes = $3, description = $4, updated_at = $5 WHERE id = $6`,
		c.SecretHash, aud, scopes, c.Description, rows.NullTime(c.UpdatedAt), c.ID)
	if err != nil {
		return fmt.Errorf("update client: %w", s.classify(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("client: %w", store.ErrNotFound)
	}
	return nil
}

// DeleteClient implements store.Clients.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM clients WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("delete client: %w", s.classify(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("client: %w", store.ErrNotFound)
	}
	return nil
}
