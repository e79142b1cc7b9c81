package apitoken

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"hash/crc32"
	"strings"
)

// Prefix starts every API token, so people and secret scanners can tell one
// apart (refresh tokens start with "tgr_").
const Prefix = "tg_"

const (
	randomBytes = 32 // 256 bits of secret
	bodyLen     = 43 // base62 digits of a 256-bit number: 62^43 > 2^256
	checksumLen = 6  // base62 digits of a 32-bit number: 62^6 > 2^32

	// Len is the length of every token.
	Len = len(Prefix) + bodyLen + checksumLen

	// HashPrefixLen is how many hex characters of a token's hash name it in
	// lists and revocations.
	HashPrefixLen = 16
)

const alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

// digit maps a byte to its base62 value, or -1.
var digit = func() (d [256]int8) {
	for i := range d {
		d[i] = -1
	}
	for i := 0; i < len(alphabet); i++ {
		d[alphabet[i]] = int8(i)
	}
	return d
}()

// Generate returns a new token (see the package documentation for the
// format).
func Generate() string {
	var b [randomBytes]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (it crashes the program instead)
	body := base62(b[:], bodyLen)
	return Prefix + body + checksum(body)
}

// LooksLike reports whether s has the form of a token: the prefix, the
// length, the alphabet and a valid checksum. It does not say whether the
// token exists. It allocates nothing: every password pays for it.
func LooksLike(s string) bool {
	if len(s) != Len || !strings.HasPrefix(s, Prefix) {
		return false
	}
	body := s[len(Prefix) : len(Prefix)+bodyLen]
	for i := 0; i < len(body); i++ {
		if digit[body[i]] < 0 {
			return false
		}
	}
	var sum uint64
	for i := len(Prefix) + bodyLen; i < Len; i++ {
		d := digit[s[i]]
		if d < 0 {
			return false
		}
		sum = sum*62 + uint64(d)
	}
	return sum == uint64(crcIEEE(body))
}

// Hash is the stored form of a token: hex SHA-256.
func Hash(raw string) string {
	sum := sha256.Sum256([]byte(raw))
	return hex.EncodeToString(sum[:])
}

// HashPrefix is how users see a token: the first HashPrefixLen hex
// characters of its hash.
func HashPrefix(hash string) string {
	if len(hash) < HashPrefixLen {
		return hash
	}
	return hash[:HashPrefixLen]
}

// ValidHashPrefix reports whether s is exactly HashPrefixLen lowercase hex
// characters.
func ValidHashPrefix(s string) bool {
	if len(s) != HashPrefixLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !('0' <= s[i] && s[i] <= '9' || 'a' <= s[i] && s[i] <= 'f') {
			return false
		}
	}
	return true
}

// checksum is the base62 CRC-32 (IEEE) of the token's body.
func checksum(body string) string {
	var out [checksumLen]byte
	n := crcIEEE(body)
	for i := checksumLen - 1; i >= 0; i-- {
		out[i] = alphabet[n%62]
		n /= 62
	}
	return string(out[:])
}

// crcIEEE is crc32.ChecksumIEEE of s, without converting s to []byte.
func crcIEEE(s string) uint32 {
	crc := ^uint32(0)
	for i := 0; i < len(s); i++ {
		crc = crc32.IEEETable[byte(crc)^s[i]] ^ crc>>8
	}
	return ^crc
}

// base62 writes the big-endian number b as exactly width base62 digits. The
// width must be large enough for any number of len(b) bytes.
func base62(b []byte, width int) string {
	num := append([]byte(nil), b...)
	out := make([]byte, width)
	for i := width - 1; i >= 0; i-- {
		// Divide num by 62 in place; the remainder is the next digit.
		var rem uint
		for j := range num {
			acc := rem<<8 | uint(num[j])
			num[j] = byte(acc / 62)
			rem = acc % 62
		}
		out[i] = alphabet[rem]
	}
	clear(num)
	return string(out)
}
