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

// APIToken is a stored API token (NORA style). Only the SHA-256 of the
// token is kept; the token itself is shown once, at creation.
type APIToken struct {
	Hash        string // hex SHA-256 of the token
	Owner       string // the htpasswd user it acts for
	Role        string // read, write or admin
	Description string
	CreatedAt   time.Time
	ExpiresAt   time.Time
	LastUsedAt  time.Time // zero if never used (recorded in batches)
	RevokedAt   time.Time // zero while not revoked
}

// Usable reports whether the token is neither expired nor revoked at now.
func (t APIToken) Usable(now time.Time) bool {
	return t.RevokedAt.IsZero() && now.Before(t.ExpiresAt)
}

// APITokens keeps API tokens.
type APITokens interface {
	// CreateAPIToken stores t; ErrConflict if the hash exists.
	CreateAPIToken(ctx context.Context, t APIToken) error
	// APIToken returns the token with that hash, or ErrNotFound.
	APIToken(ctx context.Context, hash string) (APIToken, error)
	// ListAPITokens returns owner's tokens (every token when owner is ""),
	// oldest first, revoked and expired ones included.
	ListAPITokens(ctx context.Context, owner string) ([]APIToken, error)
	// RevokeAPIToken revokes the one token whose hash starts with prefix
	// and, unless owner is "", belongs to owner. ErrNotFound if there is
	// none, ErrConflict if the prefix matches several. Revoking twice keeps
	// the first time. It returns the token as revoked.
	RevokeAPIToken(ctx context.Context, prefix, owner string, at time.Time) (APIToken, error)
	// TouchAPITokens records last-used times (hash → time) in one batch;
	// a time older than the stored one is ignored, unknown hashes too.
	TouchAPITokens(ctx context.Context, used map[string]time.Time) error
}

// AuditEvent is one audit record. Secrets never enter it.
type AuditEvent struct {
	ID        int64     // assigned by the store, increasing
	Time      time.Time // when it happened
	Kind      string    // e.g. token.issued, token.denied, apitoken.created, apitoken.revoked, key.rotated
	Subject   string    // the account acting ("" for anonymous)
	ClientIP  string
	ClientID  string
	Service   string
	Requested string // scopes asked, space-separated
	Granted   string // scopes granted, space-separated
	Detail    string // free text: the deciding rule, the token's hash prefix, the kid...
}

// Audit keeps the audit log.
type Audit interface {
	// AppendAudit stores the events in one transaction.
	AppendAudit(ctx context.Context, events []AuditEvent) error
	// ListAudit returns up to limit events with ID > afterID and Time >=
	// since, in ID order.
	ListAudit(ctx context.Context, afterID int64, since time.Time, limit int) ([]AuditEvent, error)
}

// Store is everything a backend provides.
type Store interface {
	RefreshTokens
	APITokens
	Audit
	Ping(ctx context.Context) error
	Close() error
}
