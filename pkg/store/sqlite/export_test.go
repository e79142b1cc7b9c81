package sqlite

import "context"

// OpenUpTo opens a database migrated up to last only.
var OpenUpTo = openUpTo

// Exec runs a statement on the database, for tests that build old states.
func (s *Store) Exec(ctx context.Context, query string) error {
	_, err := s.db.ExecContext(ctx, query)
	return err
}

// CloseIdle closes the pooled connections, so that the next call opens a
// new one and reads the file afresh.
func (s *Store) CloseIdle() {
	s.db.SetMaxIdleConns(0)
	s.db.SetMaxIdleConns(2)
}
