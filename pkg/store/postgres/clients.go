package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/tollgate/tollgate/pkg/store"
)

const clientColumns = `id, secret_hash, audiences, scopes, description, created_at, updated_at`

// CreateClient implements store.Clients.
func (s *Store) CreateClient(ctx context.Context, c store.Client) error {
	aud, scopes, err := encodeClientLists(c)
	if err != nil {
		return fmt.Errorf("create client: %w", err)
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO clients (`+clientColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		c.ID, c.SecretHash, aud, scopes, c.Description, toDB(c.CreatedAt), nullTime(c.UpdatedAt))
	if isUniqueViolation(err) {
		return fmt.Errorf("client: %w", store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create client: %w", err)
	}
	return nil
}

// Client implements store.Clients.
func (s *Store) Client(ctx context.Context, id string) (store.Client, error) {
	c, err := scanClient(s.pool.QueryRow(ctx, `SELECT `+clientColumns+` FROM clients WHERE id = $1`, id))
	if isNoRows(err) {
		return store.Client{}, fmt.Errorf("client: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.Client{}, fmt.Errorf("get client: %w", err)
	}
	return c, nil
}

// ListClients implements store.Clients: the id column's "C" collation
// orders byte-wise whatever the database's locale.
func (s *Store) ListClients(ctx context.Context) ([]store.Client, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+clientColumns+` FROM clients ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list clients: %w", err)
	}
	defer rows.Close()
	var out []store.Client
	for rows.Next() {
		c, err := scanClient(rows)
		if err != nil {
			return nil, fmt.Errorf("list clients: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list clients: %w", err)
	}
	return out, nil
}

// UpdateClient implements store.Clients.
func (s *Store) UpdateClient(ctx context.Context, c store.Client) error {
	aud, scopes, err := encodeClientLists(c)
	if err != nil {
		return fmt.Errorf("update client: %w", err)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE clients
		SET secret_hash = $1, audiences = $2, scopes = $3, description = $4, updated_at = $5 WHERE id = $6`,
		c.SecretHash, aud, scopes, c.Description, nullTime(c.UpdatedAt), c.ID)
	if err != nil {
		return fmt.Errorf("update client: %w", err)
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
		return fmt.Errorf("delete client: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("client: %w", store.ErrNotFound)
	}
	return nil
}

func scanClient(r pgx.Row) (store.Client, error) {
	var (
		c           store.Client
		aud, scopes string
		created     int64
		updated     *int64
	)
	if err := r.Scan(&c.ID, &c.SecretHash, &aud, &scopes, &c.Description, &created, &updated); err != nil {
		return store.Client{}, err
	}
	var err error
	if c.Audiences, err = decodeList(aud); err != nil {
		return store.Client{}, fmt.Errorf("client %q audiences: %w", c.ID, err)
	}
	if c.Scopes, err = decodeList(scopes); err != nil {
		return store.Client{}, fmt.Errorf("client %q scopes: %w", c.ID, err)
	}
	c.CreatedAt, c.UpdatedAt = fromDB(created), fromNull(updated)
	return c, nil
}

// encodeClientLists returns c's audiences and scopes as JSON arrays.
func encodeClientLists(c store.Client) (aud, scopes string, err error) {
	if aud, err = encodeList(c.Audiences); err != nil {
		return "", "", fmt.Errorf("audiences: %w", err)
	}
	if scopes, err = encodeList(c.Scopes); err != nil {
		return "", "", fmt.Errorf("scopes: %w", err)
	}
	return aud, scopes, nil
}

// encodeList returns l as a JSON array ("[]" for nil). encoding/json would
// replace invalid UTF-8 silently, so it is refused instead.
func encodeList(l []string) (string, error) {
	if len(l) == 0 {
		return "[]", nil
	}
	for _, v := range l {
		if !utf8.ValidString(v) {
			return "", fmt.Errorf("%q is not valid UTF-8", v)
		}
	}
	b, err := json.Marshal(l)
	return string(b), err
}

// decodeList reads a JSON array of strings; it never returns nil.
func decodeList(s string) ([]string, error) {
	var l []string
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return nil, err
	}
	if l == nil {
		l = []string{}
	}
	return l, nil
}
