package keys_test

import (
	"context"
	"crypto"
	"crypto/elliptic"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/pkg/clocktest"
	tgverify "github.com/tollgate/tollgate/pkg/verify"
)

// Each x5c mode puts x5c in the header exactly where it says, and the
// header is the one Sign sends.
func TestX5CModes(t *testing.T) {
	dir := t.TempDir()
	_, es256Key, es256Cert := writeDev(t, "ES256")
	_, edKey, edCert := writeDev(t, "EdDSA")
	short := shortCoordinateKey(t)
	shortKey := writePKCS8(t, dir, "short.pem", short)
	_, shortCert := certificateFor(t, dir, "short.crt", short, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	caPriv := newECKey(t, elliptic.P256())
	caCert, _ := certificateFor(t, dir, "ca.crt", caPriv, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	issued := newECKey(t, elliptic.P256())
	issuedKey := writePKCS8(t, dir, "issued.pem", issued)
	issuedCert := issuedCertificate(t, dir, "issued.crt", issued, caCert, caPriv)

	tests := []struct {
		name     string
		key      string
		cert     string
		opts     keys.Options
		wantX5C  bool
		mismatch bool
	}{
		{"default is always", es256Key, es256Cert, keys.Options{}, true, false},
		{"always", es256Key, es256Cert, keys.Options{X5C: keys.X5CAlways}, true, false},
		{"always, no certificate", es256Key, "", keys.Options{X5C: keys.X5CAlways}, false, false},
		{"never", es256Key, es256Cert, keys.Options{X5C: keys.X5CNever}, false, false},
		{"never, libtrust kid", es256Key, es256Cert, keys.Options{X5C: keys.X5CNever, KidFormat: keys.KidLibtrust}, false, false},
		{"never, short coordinate", shortKey, shortCert, keys.Options{X5C: keys.X5CNever}, false, true},
		{"auto, ES256 thumbprint kid", es256Key, es256Cert, keys.Options{X5C: keys.X5CAuto}, false, false},
		{"auto, EdDSA thumbprint kid", edKey, edCert, keys.Options{X5C: keys.X5CAuto, Algorithm: "EdDSA"}, false, false},
		{"auto, libtrust kid", es256Key, es256Cert, keys.Options{X5C: keys.X5CAuto, KidFormat: keys.KidLibtrust}, true, false},
		{"auto, short coordinate", shortKey, shortCert, keys.Options{X5C: keys.X5CAuto}, true, true},
		{"auto, short coordinate, no certificate", shortKey, "", keys.Options{X5C: keys.X5CAuto}, false, true},
		{"auto, certificate issued by a CA", issuedKey, issuedCert, keys.Options{X5C: keys.X5CAuto}, true, false},
		{"never, certificate issued by a CA", issuedKey, issuedCert, keys.Options{X5C: keys.X5CNever}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := keys.Load(tt.key, tt.cert, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if k.ThumbprintMismatch() != tt.mismatch {
				t.Fatalf("ThumbprintMismatch() = %v, want %v", k.ThumbprintMismatch(), tt.mismatch)
			}
			if k.SendsX5C() != tt.wantX5C {
				t.Fatalf("SendsX5C() = %v, want %v", k.SendsX5C(), tt.wantX5C)
			}
			header := verifyWithJWT(t, mustSign(t, k), k)
			if _, has := header["x5c"]; has != tt.wantX5C {
				t.Fatalf("header %v: x5c present %v, want %v", header, has, tt.wantX5C)
			}
			checkHeader(t, header, k)
		})
	}
}

func TestX5CModeRejected(t *testing.T) {
	for _, mode := range []string{"yes", "Auto", "sometimes"} {
		_, err := keys.Generate(keys.Options{X5C: mode})
		if err == nil || !strings.Contains(err.Error(), "x5c mode") {
			t.Errorf("Generate with x5c %q: %v, want an x5c mode error", mode, err)
		}
		if err := (keys.Policy{MaxTokenLifetime: time.Minute, X5C: mode}).Validate(); err == nil {
			t.Errorf("Policy with x5c %q validates", mode)
		}
	}
}

// Keys certified by a ring's CA send x5c under auto (the registry trusts
// the CA, not the kid) and not under never, also after the ring went
// through the store to another replica.
func TestX5CModesRingCA(t *testing.T) {
	for _, tt := range []struct {
		mode    string
		wantX5C bool
	}{{keys.X5CAuto, true}, {keys.X5CAlways, true}, {keys.X5CNever, false}} {
		t.Run(tt.mode, func(t *testing.T) {
			policy := testPolicy
			policy.X5C = tt.mode
			ca, err := keys.NewCA(time.Now())
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			r := newRing(t, now, policy, ca)
			r = rotate(t, r, now, policy).Advance(now.Add(policy.Prepublish), policy)
			for _, e := range r.Entries() {
				if e.Key.SendsX5C() != tt.wantX5C {
					t.Fatalf("%s key: SendsX5C() = %v, want %v", e.State, e.Key.SendsX5C(), tt.wantX5C)
				}
			}
			raw, err := r.Sign(registryClaims(time.Now()))
			if err != nil {
				t.Fatal(err)
			}
			if _, has := verifyWithJWT(t, raw, r.Active())["x5c"]; has != tt.wantX5C {
				t.Fatalf("x5c present %v, want %v", has, tt.wantX5C)
			}
		})
	}
}

// A replica that reads the ring from the store signs in the policy's mode.
func TestX5CModeSyncedRing(t *testing.T) {
	for _, tt := range []struct {
		mode    string
		wantX5C bool
	}{{keys.X5CAuto, true}, {keys.X5CNever, false}} {
		t.Run(tt.mode, func(t *testing.T) {
			c := clocktest.New(time.Now())
			replicas, _ := newReplicas(t, 2, c, true)
			for _, r := range replicas { // the first makes the ring, the second reads it
				r.Policy.X5C = tt.mode
				if err := r.Sync(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			for i, r := range replicas {
				raw, err := r.Holder.Sign(registryClaims(c.Now()))
				if err != nil {
					t.Fatal(err)
				}
				active := r.Holder.Load().Active()
				if _, has := verifyWithJWT(t, raw, active)["x5c"]; has != tt.wantX5C {
					t.Fatalf("replica %d: x5c present %v, want %v", i, has, tt.wantX5C)
				}
			}
		})
	}
}

// A token without x5c (never, or auto with a thumbprint kid) still passes
// pkg/verify given the public key under its kid.
func TestX5CModesPassVerify(t *testing.T) {
	_, keyPath, certPath := writeDev(t, "ES256")
	for _, mode := range keys.X5CModes() {
		t.Run(mode, func(t *testing.T) {
			k, err := keys.Load(keyPath, certPath, keys.Options{X5C: mode})
			if err != nil {
				t.Fatal(err)
			}
			v, err := tgverify.New(tgverify.Options{Issuer: testIssuer, Audience: testService,
				PublicKeys: map[string]crypto.PublicKey{k.ID(): k.Public()}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.Verify(context.Background(), mustSign(t, k)); err != nil {
				t.Fatalf("pkg/verify refuses a token signed with x5c %s: %v", mode, err)
			}
		})
	}
}
