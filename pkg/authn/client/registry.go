package client

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/store"
)

// Source is the Identity.Source of a registered client.
const Source = "client"

// Store is where registered clients are looked up (store.Clients).
type Store interface {
	Client(ctx context.Context, id string) (store.Client, error)
}

// Registry authenticates the confidential clients registered in the store
// (`tollgate clients add`): internal services that authenticate with their
// ID and secret (RFC 6749 §2.3.1). It is the authenticator backend of the
// client_credentials grant and of the resource servers calling
// introspection (RFC 7662 §2.1). Clients are not users: their identities
// are of kind authn.KindClient.
type Registry struct {
	store Store
	cost  int

	dummyOnce sync.Once
	dummy     []byte // bcrypt hash no secret matches, for unknown clients

	verified verified         // secrets that matched recently (verified.go)
	now      func() time.Time // nil means time.Now
}

var _ authn.Authenticator = (*Registry)(nil)

// New returns the registry over st. cost is the bcrypt cost of the dummy
// hash unknown clients are checked against, so that they take as long as
// known ones (users.bcrypt_cost).
func New(st Store, cost int) *Registry {
	if cost < bcrypt.MinCost || cost > bcrypt.MaxCost {
		cost = bcrypt.DefaultCost
	}
	return &Registry{store: st, cost: cost}
}

// Known reports whether id is a registered client with a secret (a store
// failure answers false).
func (r *Registry) Known(ctx context.Context, id string) bool {
	cl, err := r.store.Client(ctx, id)
	return err == nil && cl.SecretHash != ""
}

// Authenticate checks the client's secret against its bcrypt hash. A name
// that is no client (or one without a secret) is authn.ErrNoSuchUser, so a
// Chain goes on to the users, after one comparison against a dummy hash
// all the same; a wrong secret is authn.ErrBadCredentials; other errors
// are the store's.
func (r *Registry) Authenticate(ctx context.Context, id string, secret authn.Secret) (authn.Identity, error) {
	cl, err := r.Client(ctx, id, secret)
	if err != nil {
		return authn.Identity{}, err
	}
	return Identity(cl), nil
}

// Client is Authenticate returning the registration itself.
func (r *Registry) Client(ctx context.Context, id string, secret authn.Secret) (store.Client, error) {
	cl, err := r.store.Client(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound) || (err == nil && cl.SecretHash == ""):
		_ = bcrypt.CompareHashAndPassword(r.dummyHash(), []byte(secret)) // same work as a known client
		return store.Client{}, fmt.Errorf("client %q: %w", id, authn.ErrNoSuchUser)
	case err != nil:
		return store.Client{}, err
	case !r.verified.match(cl.SecretHash, secret, r.clock()):
		return store.Client{}, fmt.Errorf("client %q: %w", id, authn.ErrBadCredentials)
	}
	return cl, nil
}

// Identity is the identity of a registered client.
func Identity(cl store.Client) authn.Identity {
	return authn.Identity{Kind: authn.KindClient, Name: cl.ID, Source: Source}
}

func (r *Registry) clock() time.Time {
	if r.now != nil {
		return r.now()
	}
	return time.Now()
}

func (r *Registry) dummyHash() []byte {
	r.dummyOnce.Do(func() {
		r.dummy, _ = bcrypt.GenerateFromPassword([]byte(rand.Text()), r.cost)
	})
	return r.dummy
}
