package keys_test

import (
	"crypto"
	"crypto/x509"
	"testing"
	"time"

	"github.com/tollgate/tollgate/keys"
)

// The CA's certificates are what a registry trusting the CA bundle needs.
// The registry's own verifier checks rings of such keys in the interop
// module (cmd/tollgate/interop/keysinterop), which alone depends on
// distribution.

func TestCAIssue(t *testing.T) {
	now := time.Now()
	ca, err := keys.NewCA(now)
	if err != nil {
		t.Fatal(err)
	}
	c := ca.Certificate()
	if !c.IsCA || c.Subject.CommonName != "Tollgate signing CA" || c.KeyUsage&x509.KeyUsageCertSign == 0 ||
		c.NotAfter.Before(now.AddDate(9, 11, 0)) || c.NotBefore.After(now) {
		t.Fatalf("CA certificate: CA %v, name %q, usage %v, %s..%s", c.IsCA, c.Subject.CommonName, c.KeyUsage, c.NotBefore, c.NotAfter)
	}
	policy := keys.Policy{Interval: 7 * 24 * time.Hour, Prepublish: time.Hour, MaxTokenLifetime: 15 * time.Minute}
	k, err := ca.Issue(now, policy)
	if err != nil {
		t.Fatal(err)
	}
	chain := k.Chain()
	if len(chain) != 2 || !chain[1].Equal(c) {
		t.Fatalf("chain of %d, want [leaf, CA]", len(chain))
	}
	leaf := chain[0]
	if leaf.IsCA || leaf.KeyUsage != x509.KeyUsageDigitalSignature || leaf.NotBefore.After(now) {
		t.Fatalf("leaf: CA %v, usage %v, from %s", leaf.IsCA, leaf.KeyUsage, leaf.NotBefore)
	}
	// Valid through pre-publication, Interval, the next key's
	// pre-publication and the last token's lifetime.
	if min := now.Add(policy.Interval + 2*policy.Prepublish + policy.MaxTokenLifetime + keys.VerifyLeeway); leaf.NotAfter.Before(min) {
		t.Fatalf("leaf valid until %s, need at least %s", leaf.NotAfter, min)
	}
	if k.ID() != mustThumbprint(t, k.Public()) {
		t.Fatal("kid of an issued key is not its thumbprint")
	}
	if _, err := ca.Issue(now, keys.Policy{MaxTokenLifetime: time.Minute, Algorithm: "HS256"}); err == nil {
		t.Fatal("CA issued a certificate for HS256")
	}
}

func mustThumbprint(t *testing.T, pub crypto.PublicKey) string {
	t.Helper()
	tp, err := keys.Thumbprint(pub)
	if err != nil {
		t.Fatal(err)
	}
	return tp
}
