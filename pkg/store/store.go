package store

import (
	"context"
	"errors"
	"time"
)

// Errors every backend returns (wrapped); test with errors.Is.
var (
	ErrNotFound = errors.New("store: not found")
	ErrConflict = errors.New("store: already exists")
)

// RefreshToken is a stored refresh (identity) token. Only the SHA-256 of
// the token is kept, never the token itself.
type RefreshToken struct {
	Hash      string // hex SHA-256 of the token
	Subject   string // the account it was issued to
	ClientID  string // the client that asked for it (audit only: clients share identity tokens)
	Service   string // the service it was issued for; it is good only for that one
	CreatedAt time.Time
	ExpiresAt time.Time
	RevokedAt time.Time // zero while not revoked
}

// Usable reports whether the token is neither expired nor revoked at now.
func (t RefreshToken) Usable(now time.Time) bool {
	return t.RevokedAt.IsZero() && now.Before(t.ExpiresAt)
}

// RefreshTokens keeps refresh tokens.
type RefreshTokens interface {
	// CreateRefreshToken stores t; ErrConflict if the hash exists.
	CreateRefreshToken(ctx context.Context, t RefreshToken) error
	// RefreshToken returns the token with that hash, or ErrNotFound.
	RefreshToken(ctx context.Context, hash string) (RefreshToken, error)
	// RevokeRefreshToken marks the token revoked at the given time; ErrNotFound
	// if there is none. Revoking twice keeps the first time.
	RevokeRefreshToken(ctx context.Context, hash string, at time.Time) error
	// DeleteExpiredRefreshTokens removes tokens that expired before t.
	DeleteExpiredRefreshTokens(ctx context.Context, before time.Time) (int64, error)
}

// Store is everything a backend provides.
type Store interface {
	RefreshTokens
	Ping(ctx context.Context) error
	Close() error
}
