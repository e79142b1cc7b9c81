package keysinterop_test

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distribution/distribution/v3/registry/auth/token"
	"github.com/go-jose/go-jose/v4"

	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/keys/keystest"
	"github.com/tollgate/tollgate/pkg/clocktest"
)

// TestRotationUnderLoad: two replicas sign tokens without pause while the
// fake clock runs through several scheduled rotations; distribution's own
// verifier checks every token, trusting either only the CA bundle (set
// once) or the published JWKS (reloaded as a registry would be after each
// publication). Not one token may fail, and a token stays verifiable for
// as long as it is valid.
func TestRotationUnderLoad(t *testing.T) {
	for _, mode := range []string{"ca", "jwks"} {
		t.Run(mode, func(t *testing.T) {
			c := clocktest.New(time.Now())
			replicas, st := keystest.NewReplicas(t, 2, c, mode == "ca")
			keystest.SyncAll(t, replicas)
			v := newVerifier(t, replicas[0].Holder.Load(), mode == "ca")

			ctx, stop := context.WithCancel(context.Background())
			var signers sync.WaitGroup
			var l load
			for _, r := range replicas { // one signer per replica
				signers.Go(func() { l.run(ctx, r.Holder, v) })
			}

			kids := map[string]bool{}
			var kept []keptToken // one token per step, re-checked while valid
			// 150 × 15 s: about 37 fake minutes, four or more rotations.
			for range 150 {
				c.Advance(15 * time.Second)
				keystest.SyncAll(t, replicas)
				ring := replicas[0].Holder.Load()
				if other := replicas[1].Holder.Load().Active().ID(); other != ring.Active().ID() {
					t.Fatalf("replicas disagree on the active key: %s vs %s", ring.Active().ID(), other)
				}
				kids[ring.Active().ID()] = true
				v.reload(ring) // a registry restarted after each publication
				kept = recheck(t, v, c.Now(), append(kept, keep(t, ring, c.Now())))
				time.Sleep(time.Millisecond) // let the signers sign with this ring
			}
			stop()
			signers.Wait()

			if len(kids) < 4 {
				t.Errorf("%d active keys over the run, want at least 4 (3 rotations)", len(kids))
			}
			l.report(t)
			rec, err := st.KeyRing(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %d tokens verified, %d active keys, ring version %d", mode, l.checked.Load(), len(kids), rec.Version)
		})
	}
}

// load signs tokens without pause and has each checked by the verifier
// as soon as it is handed out, as a client's next registry request would.
type load struct {
	checked, signFailures atomic.Int64
	mu                    sync.Mutex
	refused               []error
}

func (l *load) run(ctx context.Context, h *keys.Holder, v *verifier) {
	for ctx.Err() == nil {
		// Real-time claims: the registry checks exp against its own clock.
		raw, err := h.Sign(keystest.RegistryClaims(time.Now()))
		if err != nil {
			l.signFailures.Add(1)
			continue
		}
		if err := v.verify(raw); err != nil {
			l.mu.Lock()
			l.refused = append(l.refused, err)
			l.mu.Unlock()
		}
		l.checked.Add(1)
	}
}

func (l *load) report(t *testing.T) {
	t.Helper()
	if n := l.signFailures.Load(); n > 0 {
		t.Errorf("%d tokens failed to sign", n)
	}
	if l.checked.Load() < 100 {
		t.Errorf("only %d tokens checked; the load is too light to prove anything", l.checked.Load())
	}
	for i, err := range l.refused {
		if i < 5 {
			t.Errorf("token refused by distribution's verifier: %v", err)
		}
	}
	if len(l.refused) > 0 {
		t.Errorf("%d of %d tokens refused", len(l.refused), l.checked.Load())
	}
}

// keptToken is a token and the fake time it was signed at.
type keptToken struct {
	raw    string
	signed time.Time
}

func keep(t *testing.T, r *keys.Ring, now time.Time) keptToken {
	t.Helper()
	return keptToken{raw: mustSignRing(t, r), signed: now}
}

// recheck verifies every kept token still inside its lifetime (on the fake
// clock) and returns those; tokens past it are let go.
func recheck(t *testing.T, v *verifier, now time.Time, kept []keptToken) []keptToken {
	t.Helper()
	live := kept[:0]
	for _, k := range kept {
		if now.Sub(k.signed) >= keystest.SyncPolicy.MaxTokenLifetime {
			continue
		}
		if err := v.verify(k.raw); err != nil {
			t.Fatalf("a token signed %s ago (lifetime %s) is refused: %v", now.Sub(k.signed), keystest.SyncPolicy.MaxTokenLifetime, err)
		}
		live = append(live, k)
	}
	return live
}

// verifier is distribution's token verification with the trust a
// registry would have: the CA bundle, or the keys of the last JWKS.
type verifier struct {
	mu      sync.Mutex
	roots   *x509.CertPool
	trusted map[string]crypto.PublicKey
}

func newVerifier(t *testing.T, r *keys.Ring, useCA bool) *verifier {
	t.Helper()
	v := &verifier{}
	if useCA {
		v.roots = x509.NewCertPool()
		if !v.roots.AppendCertsFromPEM(r.CA().BundlePEM()) {
			t.Fatal("CA bundle is not PEM")
		}
		return v
	}
	v.reload(r)
	return v
}

func (v *verifier) reload(r *keys.Ring) {
	if v.roots != nil {
		return // CA mode: configured once, never reloaded
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(r.JWKS(), &set); err != nil {
		panic(err)
	}
	trusted := map[string]crypto.PublicKey{}
	for _, k := range set.Keys {
		trusted[k.KeyID] = k.Key
	}
	v.mu.Lock()
	v.trusted = trusted
	v.mu.Unlock()
}

func (v *verifier) verify(raw string) error {
	parsed, err := token.NewToken(raw, joseAlgorithms)
	if err != nil {
		return err
	}
	v.mu.Lock()
	opts := token.VerifyOptions{TrustedIssuers: []string{keystest.Issuer}, AcceptedAudiences: []string{keystest.Service},
		Roots: v.roots, TrustedKeys: v.trusted}
	v.mu.Unlock()
	if opts.Roots == nil {
		opts.Roots = x509.NewCertPool()
	}
	if _, err := parsed.Verify(opts); err != nil {
		return errors.Join(err, errors.New("kid "+parsed.JWT.Headers[0].KeyID))
	}
	return nil
}
