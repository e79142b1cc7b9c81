package server_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/tollgate/tollgate/pkg/gateway"
	"github.com/tollgate/tollgate/server"
)

// Both proxies' conventions at once (a proxy passing the client's own
// header along with its own), or one twice, are believed in neither way.
func TestForwardConflictingHeaders(t *testing.T) {
	e := newEnv(t)
	gw := &gateway.Gateway{Users: e.accounts.Authenticator(e.auth), Core: e.grantService(exampleACL(t)), Service: service}
	h := server.New(server.Options{Grant: e.grantService(exampleACL(t)), Authn: e.auth, Logger: debugLogger(e.logs),
		Realm: issuer, Gateway: gw, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	srv := httptest.NewServer(h)
	defer srv.Close()
	ask := func(headers map[string][]string) int {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/auth/forward", nil)
		req.SetBasicAuth("alice", passwords["alice"])
		for k, vs := range headers {
			for _, v := range vs {
				req.Header.Add(k, v)
			}
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	own := "/v2/alice/app/manifests/latest"
	if got := ask(map[string][]string{"X-Original-URI": {own}}); got != http.StatusOK {
		t.Fatalf("nginx's header alone: %d, want 200", got)
	}
	if got := ask(map[string][]string{"X-Forwarded-Uri": {own}, "X-Forwarded-Method": {"GET"}}); got != http.StatusOK {
		t.Fatalf("Traefik's headers alone: %d, want 200", got)
	}
	for name, h := range map[string]map[string][]string{
		"both conventions": {"X-Original-URI": {own}, "X-Forwarded-Uri": {"/v2/bob/app/manifests/latest"}},
		"nginx's twice":    {"X-Original-URI": {own, "/v2/bob/app/manifests/latest"}},
		"Traefik's twice":  {"X-Forwarded-Uri": {own, own}},
	} {
		if got := ask(h); got != http.StatusForbidden {
			t.Errorf("%s: %d, want 403 (nothing believed)", name, got)
		}
	}
}
