package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tollgate/tollgate/pkg/store"
)

// SQLSTATEs that say the server cannot answer now (PostgreSQL manual,
// Appendix A "PostgreSQL Error Codes").
const (
	classConnection = "08"    // connection exception
	adminShutdown   = "57P01" // the server is stopping (smart or fast shutdown)
	crashShutdown   = "57P02" // another backend crashed; every session ends
	cannotConnect   = "57P03" // the server is starting up or shutting down
	tooManyConns    = "53300" // max_connections reached
)

// classify returns err, wrapping store.ErrUnavailable as well when err says
// the database cannot be reached or cannot answer now; the driver's error
// stays wrapped, so logs keep the cause. Answers (store.IsAnswer) and other
// failures come back as they are. A lost connection also resets the pool:
// its idle connections are closed at once and those in use when released,
// so that once the database is back no request meets a connection that the
// restart closed.
func (s *Store) classify(err error) error {
	switch {
	case err == nil, errors.Is(err, store.ErrUnavailable), store.IsAnswer(err):
		return err
	case connectionLost(err):
		s.pool.Reset()
	case !cannotAnswer(err):
		return err
	}
	return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
}

// connectionLost reports a failure to connect, or a connection the server
// or the network ended: SQLSTATE class 08, an administrator's or a crash's
// shutdown, a refused, reset or closed socket.
func connectionLost(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return strings.HasPrefix(pe.Code, classConnection) || pe.Code == adminShutdown || pe.Code == crashShutdown
	}
	var ce *pgconn.ConnectError
	var oe *net.OpError
	return errors.As(err, &ce) || errors.As(err, &oe) ||
		errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EPIPE)
}

// cannotAnswer reports a server that is up but cannot take the call now
// (starting, or out of connections), or a call that ran out of time
// inside the store. A call its caller canceled is none of these: pgconn
// reports that as a timeout too.
func cannotAnswer(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == cannotConnect || pe.Code == tooManyConns
	}
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err) ||
		(errors.As(err, &ne) && ne.Timeout())
}
