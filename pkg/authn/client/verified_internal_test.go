package client

import (
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// A matching secret is remembered for verifiedTTL, keyed by the stored
// hash: a wrong secret never is, a new hash (a rotated secret) does not
// take the old secret, and the memory ends with the TTL.
func TestVerifiedRemembersMatchesOnly(t *testing.T) {
	hash := func(secret string) string {
		h, err := bcrypt.GenerateFromPassword([]byte(secret), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		return string(h)
	}
	old, rotated := hash("s3cret"), hash("n3w")
	now := time.Date(2026, 12, 6, 13, 0, 0, 0, time.UTC)
	var v verified
	if v.match(old, "wrong", now) || len(v.seen) != 0 {
		t.Fatal("a wrong secret matched or was remembered")
	}
	if !v.match(old, "s3cret", now) || len(v.seen) != 1 {
		t.Fatal("the right secret did not match or was not remembered")
	}
	k := v.mac(old, "s3cret")
	if exp := v.seen[k]; !exp.Equal(now.Add(verifiedTTL)) {
		t.Errorf("remembered until %v, want %v", exp, now.Add(verifiedTTL))
	}
	if v.match(rotated, "s3cret", now) {
		t.Error("the old secret matched the rotated hash")
	}
	if !v.match(rotated, "n3w", now.Add(time.Second)) {
		t.Error("the new secret did not match")
	}
	// After the TTL the secret is checked with bcrypt again: a corrupt
	// stored hash now refuses what memory had accepted.
	v.seen[v.mac("not-bcrypt", "x")] = now.Add(verifiedTTL)
	if !v.match("not-bcrypt", "x", now) {
		t.Error("a remembered match was not used")
	}
	if v.match("not-bcrypt", "x", now.Add(verifiedTTL)) {
		t.Error("a match was used after its TTL")
	}
}
