package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/authn/htpasswd"
	"github.com/tollgate/tollgate/pkg/authz"
	"github.com/tollgate/tollgate/pkg/config"
	"github.com/tollgate/tollgate/pkg/grant"
	"github.com/tollgate/tollgate/pkg/refresh"
	"github.com/tollgate/tollgate/pkg/store"
	"github.com/tollgate/tollgate/pkg/store/sqlite"
	"github.com/tollgate/tollgate/pkg/token"
	"github.com/tollgate/tollgate/server"
)

// credentialCacheSize bounds the verified-credential cache.
const credentialCacheSize = 10000

// purgeEvery is how often expired refresh tokens are deleted.
const purgeEvery = time.Hour

// app is a running Tollgate: everything built from one configuration.
type app struct {
	handler http.Handler
	key     *keys.Key
	store   store.Store
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// newApp builds the server from the configuration. Background work (the
// htpasswd watcher, the refresh-token purge) stops with Close.
func newApp(ctx context.Context, cfg *config.Config, logger *slog.Logger) (*app, error) {
	key, err := loadKey(cfg.Keys, logger)
	if err != nil {
		return nil, err
	}
	acl, err := authz.Compile(cfg.ACL)
	if err != nil {
		return nil, err
	}
	users, err := htpasswd.Load(cfg.Users.Htpasswd, logger)
	if err != nil {
		return nil, err
	}
	st, err := openStore(ctx, cfg.Store)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	a := &app{key: key, store: st, cancel: cancel}
	a.wg.Go(func() { watchUsers(ctx, users, logger) })
	a.wg.Go(func() { purgeRefreshTokens(ctx, st, logger) })

	auth := authn.NewCache(users, cfg.Users.CacheTTL, credentialCacheSize)
	svc := &grant.Service{
		Authz:    acl,
		Minter:   &token.Minter{Issuer: cfg.Token.Issuer, TTL: cfg.Token.Expiration, Signer: key},
		Refresh:  &refresh.Tokens{Store: st, TTL: cfg.Token.RefreshExpiration},
		Users:    auth,
		Services: cfg.Token.Services,
	}
	a.handler = server.New(server.Options{Grant: svc, Authn: auth, Logger: logger, Realm: cfg.Token.Issuer})
	return a, nil
}

// Close stops background work, waits for it, and closes the store.
func (a *app) Close() error {
	a.cancel()
	a.wg.Wait()
	return a.store.Close()
}

func loadKey(c config.Keys, logger *slog.Logger) (*keys.Key, error) {
	key, err := keys.Load(c.PrivateKey, c.Certificate, keys.Options{Algorithm: c.Algorithm, KidFormat: c.KidFormat})
	if err != nil {
		return nil, err
	}
	if key.ThumbprintMismatch() && len(key.Chain()) == 0 && c.KidFormat != keys.KidLibtrust {
		logger.Warn("distribution 3.x computes another kid for this EC key (a coordinate has a leading zero byte); "+
			"configure keys.certificate so tokens carry x5c, or generate a new key", "key", c.PrivateKey)
	}
	return key, nil
}

func openStore(ctx context.Context, c config.Store) (store.Store, error) {
	switch c.Type {
	case "sqlite":
		return sqlite.Open(ctx, c.Path)
	}
	return nil, fmt.Errorf("store.type %q is not supported", c.Type)
}

func watchUsers(ctx context.Context, users *htpasswd.File, logger *slog.Logger) {
	if err := users.Watch(ctx); err != nil && !errors.Is(err, context.Canceled) {
		logger.Error("htpasswd watch stopped; changes to the file need a restart", "error", err)
	}
}

func purgeRefreshTokens(ctx context.Context, st store.RefreshTokens, logger *slog.Logger) {
	tick := time.NewTicker(purgeEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if n, err := st.DeleteExpiredRefreshTokens(ctx, time.Now()); err != nil {
				logger.Error("purge expired refresh tokens", "error", err)
			} else if n > 0 {
				logger.Info("purged expired refresh tokens", "count", n)
			}
		}
	}
}
