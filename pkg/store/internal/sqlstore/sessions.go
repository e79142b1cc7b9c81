package sqlstore

import (
	"context"
	"time"

	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/store/internal/rows"
)

// CreateSession implements store.Sessions.
func (s *Store) CreateSession(ctx context.Context, sess store.Session) error {
	values, err := rows.SessionValues(sess)
	if err != nil {
		return s.errs.Failed("create session", err)
	}
	return s.insert(ctx, "session", "create session", "sessions", rows.SessionColumns, values...)
}

// Session implements store.Sessions.
func (s *Store) Session(ctx context.Context, hash string) (store.Session, error) {
	return rows.One(s.errs, "session", "get session", s.db.QueryRow(ctx,
		`SELECT `+rows.SessionColumns+` FROM sessions WHERE hash = $1`, hash), rows.ScanSession)
}

// TouchSession implements store.Sessions. The row is updated even when
// its time is later (the CASE keeps it), so that both backends count it
// as found: no row is ErrNotFound, never an older time. Concurrent
// touches run one after another on the row, so the latest time stays.
func (s *Store) TouchSession(ctx context.Context, hash string, at time.Time) error {
	n, err := s.db.Exec(ctx, `UPDATE sessions SET seen_at = CASE WHEN seen_at < $1 THEN $1 ELSE seen_at END
		WHERE hash = $2`, rows.ToDB(at), hash)
	return s.errs.Affected("session", "touch session", n, err)
}

// DeleteSession implements store.Sessions.
func (s *Store) DeleteSession(ctx context.Context, hash string) error {
	_, err := s.db.Exec(ctx, `DELETE FROM sessions WHERE hash = $1`, hash)
	return s.errs.Failed("delete session", err)
}

// DeleteUserSessions implements store.Sessions; it reads the index on
// subject (migration 0007).
func (s *Store) DeleteUserSessions(ctx context.Context, subject string) (int64, error) {
	n, err := s.db.Exec(ctx, `DELETE FROM sessions WHERE subject = $1`, subject)
	return n, s.errs.Failed("delete user sessions", err)
}

// DeleteExpiredSessions implements store.Sessions.
func (s *Store) DeleteExpiredSessions(ctx context.Context, idleBefore, now time.Time) (int64, error) {
	n, err := s.db.Exec(ctx, `DELETE FROM sessions WHERE expires_at <= $1 OR seen_at < $2`,
		rows.ToDB(now), rows.ToDB(idleBefore))
	return n, s.errs.Failed("delete expired sessions", err)
}
