package apitoken_test

import (
	"crypto/sha256"
	"encoding/hex"
	"hash/crc32"
	"math/big"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/pkg/authn/apitoken"
)

func TestGenerateFormat(t *testing.T) {
	tok := apitoken.Generate()
	if !strings.HasPrefix(tok, "tg_") {
		t.Errorf("%.6s... does not start with tg_", tok)
	}
	if len(tok) != 52 || apitoken.Len != 52 {
		t.Errorf("len = %d (Len %d), want 52", len(tok), apitoken.Len)
	}
	const alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	if rest := strings.Trim(tok[3:], alphabet); rest != "" {
		t.Errorf("token has characters outside base62: %q", rest)
	}
	if !apitoken.LooksLike(tok) {
		t.Error("LooksLike rejects a generated token")
	}
}

func TestGenerateDistinct(t *testing.T) {
	seen := make(map[string]bool, 1000)
	for range 1000 {
		tok := apitoken.Generate()
		if seen[tok] {
			t.Fatalf("token generated twice")
		}
		if !apitoken.LooksLike(tok) {
			t.Fatalf("LooksLike rejects a generated token")
		}
		seen[tok] = true
	}
}

// TestLooksLikeRejectsEveryOneCharacterTypo changes each character of a
// token to every other base62 character (and a few others): the checksum
// or the prefix must catch each one.
func TestLooksLikeRejectsEveryOneCharacterTypo(t *testing.T) {
	tok := apitoken.Generate()
	const candidates = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-+/= "
	checked := 0
	for i := range len(tok) {
		for _, c := range []byte(candidates) {
			if c == tok[i] {
				continue
			}
			typo := tok[:i] + string(c) + tok[i+1:]
			if apitoken.LooksLike(typo) {
				t.Fatalf("LooksLike accepts the token with character %d changed to %q", i, c)
			}
			checked++
		}
	}
	if checked < 52*61 {
		t.Fatalf("only %d typos checked", checked)
	}
}

func TestLooksLike(t *testing.T) {
	tok := apitoken.Generate()
	tests := []struct {
		name string
		s    string
		want bool
	}{
		{"generated", tok, true},
		{"empty", "", false},
		{"password", "alice-Secret-41d2b8", false},
		{"refresh token", "tgr_" + tok[3:], false},
		{"no prefix", tok[3:], false},
		{"other prefix", "gh_" + tok[3:], false},
		{"upper-case prefix", "TG_" + tok[3:], false},
		{"truncated", tok[:len(tok)-1], false},
		{"extended", tok + "0", false},
		{"whitespace", tok[:51] + " ", false},
		{"adjacent swap", swapFirstDifferent(tok), false},
		{"checksum of another body", tok[:46] + apitoken.Generate()[46:], false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := apitoken.LooksLike(tt.s); got != tt.want {
				t.Errorf("LooksLike = %v, want %v", got, tt.want)
			}
		})
	}
}

// swapFirstDifferent swaps the first two adjacent, different characters of
// the token's body.
func swapFirstDifferent(tok string) string {
	b := []byte(tok)
	for i := 3; i+1 < len(b); i++ {
		if b[i] != b[i+1] {
			b[i], b[i+1] = b[i+1], b[i]
			return string(b)
		}
	}
	return tok
}

func TestHash(t *testing.T) {
	tok := apitoken.Generate()
	sum := sha256.Sum256([]byte(tok))
	want := hex.EncodeToString(sum[:])
	if got := apitoken.Hash(tok); got != want {
		t.Errorf("Hash = %s, want hex SHA-256 %s", got, want)
	}
	if got := apitoken.HashPrefix(want); got != want[:16] {
		t.Errorf("HashPrefix = %s, want %s", got, want[:16])
	}
	if strings.Contains(want, tok[3:]) {
		t.Error("hash contains the token")
	}
}

func TestValidHashPrefix(t *testing.T) {
	tests := []struct {
		s    string
		want bool
	}{
		{"0123456789abcdef", true},
		{"0123456789ABCDEF", false},
		{"0123456789abcde", false},
		{"0123456789abcdef0", false},
		{"0123456789abcdeg", false},
		{"", false},
		{"0123456789abcde ", false},
	}
	for _, tt := range tests {
		if got := apitoken.ValidHashPrefix(tt.s); got != tt.want {
			t.Errorf("ValidHashPrefix(%q) = %v, want %v", tt.s, got, tt.want)
		}
	}
}

// TestChecksumIsDocumentedCRC32 recomputes a token's checksum the way the
// package documentation describes it, for scanners written elsewhere.
func TestChecksumIsDocumentedCRC32(t *testing.T) {
	const alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	for range 100 {
		tok := apitoken.Generate()
		body := tok[3:46]
		n := crc32.ChecksumIEEE([]byte(body))
		want := make([]byte, 6)
		for i := 5; i >= 0; i-- {
			want[i] = alphabet[n%62]
			n /= 62
		}
		if got := tok[46:]; got != string(want) {
			t.Fatalf("checksum %q, want base62 CRC-32 %q", got, want)
		}
		// The body is the 32 random bytes in base62, big-endian.
		v, ok := new(big.Int).SetString(body, 62) // big's base 62 digits are ours: 0-9, a-z, A-Z
		if !ok || v.BitLen() > 256 {
			t.Fatalf("body %q is not a base62 number below 2^256", body)
		}
	}
}
