package server

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/pkg/authn"
)

func TestIPResolver(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8:ffff::/48")}
	tests := []struct {
		name    string
		trusted []netip.Prefix
		peer    string
		xff     []string // X-Forwarded-For lines
		want    string   // "" for the zero Addr
	}{
		{"no proxy", trusted, "198.51.100.7:4711", nil, "198.51.100.7"},
		{"no trusted proxies configured", nil, "10.0.0.1:4711", []string{"198.51.100.7"}, "10.0.0.1"},
		{"spoofed header from an untrusted peer", trusted, "203.0.113.9:4711", []string{"10.0.0.5, 198.51.100.7"}, "203.0.113.9"},
		{"one trusted proxy", trusted, "10.0.0.1:4711", []string{"198.51.100.7"}, "198.51.100.7"},
		{"client's own entries are not believed", trusted, "10.0.0.1:4711", []string{"6.6.6.6, 10.9.9.9, 198.51.100.7"}, "198.51.100.7"},
		{"chain through two trusted proxies", trusted, "10.0.0.1:4711", []string{"198.51.100.7, 10.0.0.2"}, "198.51.100.7"},
		{"two proxies, spoofed prefix", trusted, "10.0.0.1:4711", []string{"1.1.1.1,198.51.100.7,10.0.0.2"}, "198.51.100.7"},
		{"chain over two header lines", trusted, "10.0.0.1:4711", []string{"1.1.1.1, 198.51.100.7", "10.0.0.2"}, "198.51.100.7"},
		{"every hop trusted", trusted, "10.0.0.1:4711", []string{"10.0.0.3, 10.0.0.2"}, "10.0.0.3"},
		{"trusted peer without header", trusted, "10.0.0.1:4711", nil, "10.0.0.1"},
		{"malformed header ignored", trusted, "10.0.0.1:4711", []string{"not-an-address"}, "10.0.0.1"},
		{"malformed entry written by a trusted proxy", trusted, "10.0.0.1:4711", []string{"198.51.100.7, garbage"}, "10.0.0.1"},
		{"malformed entry after two proxies", trusted, "10.0.0.1:4711", []string{"198.51.100.7, , 10.0.0.2"}, "10.0.0.2"},
		{"malformed entry the client wrote", trusted, "10.0.0.1:4711", []string{"<script>, 198.51.100.7"}, "198.51.100.7"},
		{"entries with ports", trusted, "10.0.0.1:4711", []string{"198.51.100.7:5555, 10.0.0.2:443"}, "198.51.100.7"},
		{"IPv6 with port", trusted, "10.0.0.1:4711", []string{"[2001:db8::7]:5555"}, "2001:db8::7"},
		{"IPv4-mapped", trusted, "[::ffff:10.0.0.1]:4711", []string{"::ffff:198.51.100.7"}, "198.51.100.7"},
		{"IPv6 proxy", trusted, "[2001:db8:ffff::1]:443", []string{"2001:db8::7"}, "2001:db8::7"},
		{"zone dropped", trusted, "10.0.0.1:4711", []string{"fe80::1%eth0"}, "fe80::1"},
		{"unparsable peer", trusted, "@", []string{"198.51.100.7"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/oauth2/token", nil)
			r.RemoteAddr = tt.peer
			for _, line := range tt.xff {
				r.Header.Add("X-Forwarded-For", line)
			}
			got := ipResolver{tt.trusted}.resolve(r)
			if tt.want == "" {
				if got.IsValid() {
					t.Errorf("resolve = %v, want the zero Addr", got)
				}
				return
			}
			if got != netip.MustParseAddr(tt.want) {
				t.Errorf("resolve = %v, want %s", got, tt.want)
			}
		})
	}
}

func TestUserKey(t *testing.T) {
	const notAToken = "tg_0000000000000000000000000000000000000000000000000" // checksum wrong: a password
	tests := []struct {
		name   string
		user   string
		secret authn.Secret
		want   string
	}{
		{"password login", "alice", "hunter2", "alice"},
		{"no username", "", "hunter2", ""},
		{"bearer or refresh token", "", "", ""},
		{"not quite a token", "alice", notAToken, "alice"},
		{"shared name (federation.username)", "oidc", "eyJhbGciOiJSUzI1NiJ9.e30.sig", ""},
		{"another spelling of a name (a directory takes it)", " ALICE \u00a0", "x", "alice"},
	}
	l := newLimiter(Limits{SharedNames: []string{"oidc"}}, nil).sharing([]string{"oidc"})
	for _, tt := range tests {
		if got := l.userKey(tt.user, tt.secret); got != tt.want {
			t.Errorf("%s: userKey(%q, …) = %q, want %q", tt.name, tt.user, got, tt.want)
		}
	}
	if got := newLimiter(Limits{}, nil).userKey("oidc", "x"); got != "oidc" {
		t.Errorf("userKey(oidc) without sharing = %q, want oidc: a user's name elsewhere", got)
	}
	long := strings.Repeat("a", maxUserKey+1)
	if got := l.userKey(long, "x"); !strings.HasPrefix(got, "sha256:") || len(got) != len("sha256:")+64 || got != l.userKey(long, "y") {
		t.Errorf("userKey(%d bytes) = %q, want sha256: and 64 hex digits, the same for any password", len(long), got)
	}
}
