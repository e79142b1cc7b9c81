package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/pkg/config"
	"github.com/tollgate/tollgate/pkg/store"
)

// signing is how the server signs: a Holder always (so a rotation swaps
// rings under in-flight requests without a lock), fed either by one static
// key file or by the ring in the store, kept current by a Syncer.
type signing struct {
	holder *keys.Holder
	syncer *keys.Syncer // nil for a static key
}

// newSigning loads the static key, or syncs the stored ring once
// (creating it on first start) when keys.ring is enabled.
func newSigning(ctx context.Context, cfg *config.Config, st store.KeyRings, logger *slog.Logger) (*signing, error) {
	if !cfg.Keys.Ring.Enabled {
		key, err := loadKey(cfg.Keys, logger)
		if err != nil {
			return nil, err
		}
		ring, err := keys.NewRingWithKey(key, time.Now(), nil)
		if err != nil {
			return nil, err
		}
		s := &signing{holder: &keys.Holder{}}
		s.holder.Store(ring)
		return s, nil
	}
	syncer, err := newSyncer(cfg, st, logger)
	if err != nil {
		return nil, err
	}
	if err := syncer.Sync(ctx); err != nil {
		return nil, fmt.Errorf("key ring: %w", err)
	}
	return &signing{holder: syncer.Holder, syncer: syncer}, nil
}

// newSyncer builds the ring's Syncer from the configuration.
func newSyncer(cfg *config.Config, st store.KeyRings, logger *slog.Logger) (*keys.Syncer, error) {
	secret, err := keys.LoadSecretFile(cfg.Keys.Ring.SecretFile)
	if err != nil {
		return nil, fmt.Errorf("keys.ring.secret_file: %w", err)
	}
	if logger == nil {
		logger = discardLogger()
	}
	sealer, err := keys.NewSealer(secret)
	if err != nil {
		return nil, fmt.Errorf("keys.ring.secret_file: %w", err)
	}
	return &keys.Syncer{
		Store:  st,
		Sealer: sealer,
		Policy: ringPolicy(cfg),
		Holder: &keys.Holder{},
		CA:     cfg.Keys.Ring.CA,
		Logger: logger,
	}, nil
}

// ringPolicy: retired keys stay published for the longest token lifetime.
func ringPolicy(cfg *config.Config) keys.Policy {
	return keys.Policy{
		Interval:         cfg.Keys.Ring.RotateEvery,
		Prepublish:       cfg.Keys.Ring.Prepublish,
		MaxTokenLifetime: cfg.Token.Expiration,
		Algorithm:        cfg.Keys.Algorithm,
		X5C:              cfg.Keys.X5C,
	}
}

// run keeps the ring current until ctx ends (nothing to do for a static
// key), calling changed whenever another key becomes active.
func (s *signing) run(ctx context.Context, every time.Duration, changed func()) {
	if s.syncer == nil {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.syncAndReport(ctx, changed)
		}
	}
}

// syncAndReport syncs once; a failure keeps the ring in use and is logged.
func (s *signing) syncAndReport(ctx context.Context, changed func()) {
	before := s.active().ID()
	if err := s.syncer.Sync(ctx); err != nil {
		if ctx.Err() == nil {
			s.syncer.Logger.Error("key ring sync failed; still signing with the ring loaded", "error", err)
		}
		return
	}
	if s.active().ID() != before {
		changed()
	}
}

// sync picks up a change made elsewhere (SIGHUP after `tollgate keys rotate`).
func (s *signing) sync(ctx context.Context) error {
	if s.syncer == nil {
		return nil
	}
	return s.syncer.Sync(ctx)
}

// signingKeyInfo is what the metrics show of the active key: its kid,
// algorithm and when it began signing (a static key file records no time:
// its certificate's NotBefore, else the file's modification time).
func signingKeyInfo(s *signing, path string) (kid, alg string, since time.Time) {
	k := s.active()
	if s.syncer == nil {
		return k.ID(), k.Algorithm(), keyCreated(k, path)
	}
	for _, e := range s.holder.Load().Entries() {
		if e.State == keys.Active {
			since = e.ActivatesAt
		}
	}
	return k.ID(), k.Algorithm(), since
}

// discardLogger is for commands that build pieces without a log.
func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// writeCertificates writes certificates as PEM.
func writeCertificates(w io.Writer, chain []*x509.Certificate) error {
	for _, c := range chain {
		if err := pem.Encode(w, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}); err != nil {
			return err
		}
	}
	return nil
}

// active is the key signing now.
func (s *signing) active() *keys.Key { return s.holder.Load().Active() }
