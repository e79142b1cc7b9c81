package federation_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/authn/federation"
	"github.com/tollgate/tollgate/pkg/authn/federation/federationtest"
	"github.com/tollgate/tollgate/pkg/clocktest"
)

const audience = "tollgate"

// githubPolicy trusts the issuer's tokens for the acme organisation's
// branches, named ci:github:<repository>.
func githubPolicy(is *federationtest.Issuer, t testing.TB) federation.Issuer {
	return federation.Issuer{
		Issuer: is.URL, Audiences: []string{audience}, CAFile: is.CAFile(t), MaxAge: time.Hour,
		Rules: []federation.Rule{{
			Claims:  map[string]any{"repository_owner": "acme", "ref": []any{"refs/heads/*", "refs/tags/v*"}},
			Subject: "ci:github:${repository}",
		}},
	}
}

// k8sPolicy trusts the cluster's tokens of namespace ci, by a JWKS file.
func k8sPolicy(is *federationtest.Issuer, t testing.TB) federation.Issuer {
	return federation.Issuer{
		Issuer: is.URL, Audiences: []string{audience}, JWKSFile: is.JWKSFile(t),
		Rules: []federation.Rule{{
			Claims:  map[string]any{"/kubernetes.io/namespace": "ci"},
			Subject: "k8s:${/kubernetes.io/namespace}:${/kubernetes.io/serviceaccount/name}",
		}},
	}
}

type fixture struct {
	is    *federationtest.Issuer
	clock *clocktest.Clock
	fed   *federation.Federation
	acl   []string // the claims the ACL reads
}

func newFixture(t testing.TB, policy func(*federationtest.Issuer, testing.TB) federation.Issuer) *fixture {
	t.Helper()
	f := &fixture{is: federationtest.NewIssuer(t), clock: clocktest.New(time.Now().Truncate(time.Second)), acl: []string{"repository_owner"}}
	fed, err := federation.New(federation.Config{Issuers: []federation.Issuer{policy(f.is, t)}},
		federation.Options{Now: f.clock.Now, ACLClaims: func() []string { return f.acl }})
	if err != nil {
		t.Fatal(err)
	}
	f.fed = fed
	return f
}

func (f *fixture) github(t testing.TB, edit func(jwt.MapClaims)) string {
	t.Helper()
	c := federationtest.GitHubClaims(audience, "acme/app", "refs/heads/main", f.clock.Now())
	if edit != nil {
		edit(c)
	}
	return f.is.Mint(t, c)
}

func TestGitHubTokenAccepted(t *testing.T) {
	f := newFixture(t, githubPolicy)
	id, err := f.fed.Authenticate(context.Background(), "oidc", authn.Secret(f.github(t, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if id.Kind != authn.KindWorkload || id.Name != "ci:github:acme/app" || id.Source != federation.Source {
		t.Errorf("identity = %+v", id)
	}
	a := id.Attrs
	if a == nil || a.Rule != "issuers[0].rules[0]" || a.Policy == "" {
		t.Fatalf("attributes = %+v", a)
	}
	for k, want := range map[string]string{"iss": f.is.URL, "repository_owner": "acme", "ref": "refs/heads/main",
		"repository": "acme/app", "sub": "repo:acme/app:ref:refs/heads/main"} {
		if a.Claims[k] != want {
			t.Errorf("claims[%s] = %q, want %q", k, a.Claims[k], want)
		}
	}
	if _, ok := a.Claims["run_id"]; ok {
		t.Error("a claim nothing reads is carried")
	}
	if n := f.is.DiscoveryFetches.Load(); n != 1 {
		t.Errorf("discovery fetched %d times, want 1", n)
	}
	// Another user name is not the federation's: the chain goes on.
	if _, err := f.fed.Authenticate(context.Background(), "alice", authn.Secret(f.github(t, nil))); !errors.Is(err, authn.ErrNoSuchUser) {
		t.Errorf("user alice: %v, want ErrNoSuchUser", err)
	}
}

func TestKubernetesTokenAccepted(t *testing.T) {
	f := newFixture(t, k8sPolicy)
	raw := f.is.Mint(t, federationtest.KubernetesClaims(audience, "ci", "builder", f.clock.Now()))
	id, err := f.fed.Verify(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	if id.Name != "k8s:ci:builder" || id.Attrs.Claims["/kubernetes.io/namespace"] != "ci" {
		t.Errorf("identity = %+v, claims %v", id, id.Attrs.Claims)
	}
	if f.is.JWKSFetches.Load()+f.is.DiscoveryFetches.Load() != 0 {
		t.Error("a JWKS file was not enough: the issuer was asked")
	}
	other := f.is.Mint(t, federationtest.KubernetesClaims(audience, "prod", "builder", f.clock.Now()))
	if _, err := f.fed.Verify(context.Background(), other); !errors.Is(err, authn.ErrBadCredentials) {
		t.Errorf("namespace prod: %v, want refused", err)
	}
}

// Each refusal is a bad credential with a reason fit for the client.
func TestRefusals(t *testing.T) {
	f := newFixture(t, githubPolicy)
	other := federationtest.NewIssuer(t)
	tests := []struct {
		name   string
		raw    func() string
		reason string
	}{
		{"wrong audience", func() string { return f.github(t, func(c jwt.MapClaims) { c["aud"] = "sigstore" }) }, "audience"},
		{"no audience", func() string { return f.github(t, func(c jwt.MapClaims) { delete(c, "aud") }) }, "audience"},
		{"wrong issuer", func() string {
			return other.Mint(t, federationtest.GitHubClaims(audience, "acme/app", "refs/heads/main", f.clock.Now()))
		}, "not trusted"},
		{"issuer claimed, signed by another", func() string {
			c := federationtest.GitHubClaims(audience, "acme/app", "refs/heads/main", f.clock.Now())
			c["iss"] = f.is.URL
			return other.Mint(t, c)
		}, "key the issuer does not publish"},
		{"expired", func() string {
			return f.github(t, func(c jwt.MapClaims) { c["exp"] = f.clock.Now().Add(-5 * time.Minute).Unix() })
		}, "expired"},
		{"not yet valid", func() string {
			return f.github(t, func(c jwt.MapClaims) { c["nbf"] = f.clock.Now().Add(10 * time.Minute).Unix() })
		}, "not valid yet"},
		{"too old for max_age", func() string {
			return f.github(t, func(c jwt.MapClaims) {
				c["iat"] = f.clock.Now().Add(-3 * time.Hour).Unix()
				c["exp"] = f.clock.Now().Add(time.Hour).Unix()
			})
		}, "max_age"},
		{"no iat with max_age", func() string { return f.github(t, func(c jwt.MapClaims) { delete(c, "iat") }) }, "no iat"},
		{"unknown kid", func() string {
			return f.is.MintWithKey(t, "not-published", federationtest.GitHubClaims(audience, "acme/app", "refs/heads/main", f.clock.Now()))
		}, "key the issuer does not publish"},
		{"alg none", func() string {
			return f.is.MintNone(t, federationtest.GitHubClaims(audience, "acme/app", "refs/heads/main", f.clock.Now()))
		}, "algorithm"},
		{"HMAC alg (key confusion)", func() string {
			return f.is.MintHMAC(t, federationtest.GitHubClaims(audience, "acme/app", "refs/heads/main", f.clock.Now()))
		}, "algorithm"},
		{"claim mismatch: another organisation", func() string {
			return f.github(t, func(c jwt.MapClaims) { c["repository_owner"] = "evil"; c["repository"] = "evil/app" })
		}, "no rule"},
		{"claim mismatch: a pull request ref", func() string {
			return f.github(t, func(c jwt.MapClaims) { c["ref"] = "refs/pull/7/merge" })
		}, "no rule"},
		{"claim missing", func() string { return f.github(t, func(c jwt.MapClaims) { delete(c, "ref") }) }, "no rule"},
		{"subject claim escaping its name", func() string {
			return f.github(t, func(c jwt.MapClaims) { c["repository"] = "acme/../other/app" })
		}, "'..'"},
		{"subject claim with a glob", func() string {
			return f.github(t, func(c jwt.MapClaims) { c["repository"] = "acme/*" })
		}, "glob"},
		{"tampered payload", func() string {
			raw := f.github(t, nil)
			parts := strings.Split(raw, ".")
			evil := f.github(t, func(c jwt.MapClaims) { c["repository"] = "acme/other" })
			return parts[0] + "." + strings.Split(evil, ".")[1] + "." + parts[2]
		}, "signature"},
		{"a registered claim in another case", func() string {
			return f.github(t, func(c jwt.MapClaims) { c["aud"] = "sigstore"; c["AUD"] = audience })
		}, "only in case"},
		{"subject claim with an invisible character", func() string {
			return f.github(t, func(c jwt.MapClaims) { c["repository"] = "acme/a\u200bpp" })
		}, "printable ASCII"},
		{"subject claim with a fullwidth slash", func() string {
			return f.github(t, func(c jwt.MapClaims) { c["repository"] = "acme\uff0fapp" })
		}, "printable ASCII"},
		{"not a JWT", func() string { return "hunter2" }, "not a signed JWT"},
		{"huge", func() string { return strings.Repeat("a", 20000) + ".b.c" }, "not a signed JWT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.fed.Verify(context.Background(), tt.raw())
			var r *federation.Refusal
			if !errors.Is(err, authn.ErrBadCredentials) || !errors.As(err, &r) {
				t.Fatalf("Verify = %v, want a refusal wrapping ErrBadCredentials", err)
			}
			if !strings.Contains(r.Reason(), tt.reason) {
				t.Errorf("reason %q, want it to mention %q", r.Reason(), tt.reason)
			}
		})
	}
}

// A claim the ACL reads as part of a repository name must be a plain name
// segment: a crafted one refuses the token, whatever rule matched.
func TestACLClaimEscapingItsNamespace(t *testing.T) {
	f := newFixture(t, func(is *federationtest.Issuer, t testing.TB) federation.Issuer {
		p := githubPolicy(is, t)
		p.Rules[0].Claims = map[string]any{"repository_owner": "*"}
		return p
	})
	for _, owner := range []string{"acme/../other", "other/x", "*", "a b", "..", ""} {
		raw := f.github(t, func(c jwt.MapClaims) { c["repository_owner"] = owner; c["repository"] = "x:y" })
		if _, err := f.fed.Verify(context.Background(), raw); !errors.Is(err, authn.ErrBadCredentials) {
			t.Errorf("owner %q: %v, want refused", owner, err)
		}
	}
	f.acl = nil // no ACL rule reads it: the value is not checked
	raw := f.github(t, func(c jwt.MapClaims) { c["repository_owner"] = "other/x"; c["repository"] = "x:y" })
	if _, err := f.fed.Verify(context.Background(), raw); err != nil {
		t.Errorf("unread claim: %v", err)
	}
}

// An issuer that does not answer is unavailable, in bounded time, and is
// not asked again for every token; once it answers, tokens verify.
func TestIssuerDown(t *testing.T) {
	f := newFixture(t, func(is *federationtest.Issuer, t testing.TB) federation.Issuer {
		p := githubPolicy(is, t)
		p.Timeout = 300 * time.Millisecond
		return p
	})
	f.is.SetHang(true)
	start := time.Now()
	_, err := f.fed.Verify(context.Background(), f.github(t, nil))
	if !errors.Is(err, authn.ErrUnavailable) || errors.Is(err, authn.ErrBadCredentials) {
		t.Fatalf("hanging issuer: %v, want ErrUnavailable only", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("hanging issuer answered after %s", d)
	}
	f.is.SetHang(false)
	f.is.SetDown(true)
	fetches := f.is.DiscoveryFetches.Load()
	for range 20 {
		if _, err := f.fed.Verify(context.Background(), f.github(t, nil)); !errors.Is(err, authn.ErrUnavailable) {
			t.Fatalf("issuer down: %v", err)
		}
	}
	if n := f.is.DiscoveryFetches.Load() - fetches; n != 0 {
		t.Errorf("20 tokens within the retry interval asked the issuer %d times, want 0", n)
	}
	f.is.SetDown(false)
	f.clock.Advance(11 * time.Second)
	if _, err := f.fed.Verify(context.Background(), f.github(t, nil)); err != nil {
		t.Errorf("issuer back: %v", err)
	}
}

// A JWKS that rotates: the new kid is picked up after one refetch, and a
// flood of made-up kids costs the issuer one fetch per interval.
func TestJWKSRotation(t *testing.T) {
	f := newFixture(t, githubPolicy)
	if _, err := f.fed.Verify(context.Background(), f.github(t, nil)); err != nil {
		t.Fatal(err)
	}
	before := f.is.JWKSFetches.Load()
	f.is.Rotate(t, false)
	f.clock.Advance(31 * time.Second) // pkg/verify refetches at most every 30 s
	if _, err := f.fed.Verify(context.Background(), f.github(t, nil)); err != nil {
		t.Fatalf("new kid: %v", err)
	}
	if n := f.is.JWKSFetches.Load() - before; n != 1 {
		t.Errorf("new kid cost %d fetches, want 1", n)
	}
	for range 10 {
		raw := f.is.MintWithKey(t, "made-up", federationtest.GitHubClaims(audience, "acme/app", "refs/heads/main", f.clock.Now()))
		if _, err := f.fed.Verify(context.Background(), raw); !errors.Is(err, authn.ErrBadCredentials) {
			t.Fatalf("made-up kid: %v", err)
		}
	}
	if n := f.is.JWKSFetches.Load() - before; n != 1 {
		t.Errorf("made-up kids within the interval: %d fetches in all, want still 1", n)
	}
}

// Update: a removed rule ends what was issued under it (Readmit), an
// unchanged one keeps it, and a removed issuer refuses its tokens.
func TestUpdateAndReadmit(t *testing.T) {
	f := newFixture(t, githubPolicy)
	id, err := f.fed.Verify(context.Background(), f.github(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	again, err := f.fed.Readmit(context.Background(), id.Name, id.Attrs.Policy, id.Attrs.Claims)
	if err != nil || again.Name != id.Name || again.Attrs.Claims["ref"] != "refs/heads/main" {
		t.Fatalf("Readmit = %+v, %v", again, err)
	}
	p := githubPolicy(f.is, t)
	p.Rules[0].Subject = "ci:gh:${repository}" // another rule
	if err := f.fed.Update(federation.Config{Issuers: []federation.Issuer{p}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.fed.Readmit(context.Background(), id.Name, id.Attrs.Policy, id.Attrs.Claims); !errors.Is(err, authn.ErrBadCredentials) {
		t.Errorf("Readmit under a changed rule: %v, want refused", err)
	}
	p.Rules[0].Subject = "ci:github:${repository}" // the rule as it was, but the issuer's audiences changed
	p.Audiences = []string{audience, "other"}
	if err := f.fed.Update(federation.Config{Issuers: []federation.Issuer{p}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.fed.Readmit(context.Background(), id.Name, id.Attrs.Policy, id.Attrs.Claims); !errors.Is(err, authn.ErrBadCredentials) {
		t.Errorf("Readmit after the issuer's audiences changed: %v, want refused", err)
	}
	if err := f.fed.Update(federation.Config{Issuers: []federation.Issuer{k8sPolicy(federationtest.NewIssuer(t), t)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.fed.Verify(context.Background(), f.github(t, nil)); !errors.Is(err, authn.ErrBadCredentials) {
		t.Errorf("removed issuer: %v, want refused", err)
	}
}

func TestCheck(t *testing.T) {
	good := federation.Issuer{Issuer: "https://token.actions.githubusercontent.com", Audiences: []string{"tollgate"},
		Rules: []federation.Rule{{Claims: map[string]any{"repository_owner": "acme"}, Subject: "ci:github:${repository}"}}}
	if err := federation.Check(federation.Config{Issuers: []federation.Issuer{good}}); err != nil {
		t.Fatalf("good policy: %v", err)
	}
	tests := []struct {
		name string
		edit func(*federation.Issuer)
		want string
	}{
		{"no issuer", func(i *federation.Issuer) { i.Issuer = "" }, "issuer: required"},
		{"http issuer", func(i *federation.Issuer) { i.Issuer = "http://gitlab.example" }, "https"},
		{"http jwks_url", func(i *federation.Issuer) { i.JWKSURL = "http://x/jwks" }, "jwks_url"},
		{"both key sources", func(i *federation.Issuer) { i.JWKSURL = "https://x/jwks"; i.JWKSFile = "/k" }, "not both"},
		{"no audience", func(i *federation.Issuer) { i.Audiences = nil }, "audiences"},
		{"alg none", func(i *federation.Issuer) { i.Algorithms = []string{"none"} }, "algorithms[0]"},
		{"alg HS256", func(i *federation.Issuer) { i.Algorithms = []string{"RS256", "HS256"} }, "algorithms[1]"},
		{"negative max_age", func(i *federation.Issuer) { i.MaxAge = -time.Second }, "max_age"},
		{"no rules", func(i *federation.Issuer) { i.Rules = nil }, "rules"},
		{"rule without claims", func(i *federation.Issuer) { i.Rules[0].Claims = nil }, "claims"},
		{"subject without prefix", func(i *federation.Issuer) { i.Rules[0].Subject = "${repository}" }, "prefix"},
		{"subject prefix without colon", func(i *federation.Issuer) { i.Rules[0].Subject = "ci-${repository}" }, "prefix"},
		{"no subject", func(i *federation.Issuer) { i.Rules[0].Subject = "" }, "subject: required"},
		{"bad pointer", func(i *federation.Issuer) { i.Rules[0].Claims = map[string]any{"/a~2b": "x"} }, "RFC 6901"},
		{"empty glob", func(i *federation.Issuer) { i.Rules[0].Claims = map[string]any{"ref": ""} }, "not a glob"},
		{"glob of a number", func(i *federation.Issuer) { i.Rules[0].Claims = map[string]any{"ref": 3} }, "glob"},
		{"empty glob list", func(i *federation.Issuer) { i.Rules[0].Claims = map[string]any{"ref": []any{}} }, "empty list"},
		{"tiny timeout", func(i *federation.Issuer) { i.Timeout = time.Millisecond }, "timeout"},
	}
	for _, tt := range tests {
		is := good
		is.Rules = []federation.Rule{{Claims: good.Rules[0].Claims, Subject: good.Rules[0].Subject}}
		tt.edit(&is)
		err := federation.Check(federation.Config{Issuers: []federation.Issuer{is}})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Check = %v, want it to mention %q", tt.name, err, tt.want)
		}
	}
	dup := federation.Check(federation.Config{Issuers: []federation.Issuer{good, good}})
	if dup == nil || !strings.Contains(dup.Error(), "twice") {
		t.Errorf("issuer twice: %v", dup)
	}
	if err := federation.Check(federation.Config{Username: "o i", Issuers: []federation.Issuer{good}}); err == nil {
		t.Error("username with a space accepted")
	}
}

// A reload reads a JWKS file again: the keys a cluster rotated verify,
// the keys it dropped no longer do.
func TestUpdateRereadsJWKSFile(t *testing.T) {
	is := federationtest.NewIssuer(t)
	path := is.JWKSFile(t)
	cfg := federation.Config{Issuers: []federation.Issuer{{Issuer: is.URL, Audiences: []string{audience}, JWKSFile: path,
		Rules: []federation.Rule{{Claims: map[string]any{"/kubernetes.io/namespace": "ci"}, Subject: "k8s:${sub}"}}}}}
	fed, err := federation.New(cfg, federation.Options{})
	if err != nil {
		t.Fatal(err)
	}
	mint := func() string {
		return is.Mint(t, federationtest.KubernetesClaims(audience, "ci", "builder", time.Now()))
	}
	old := mint()
	if _, err := fed.Verify(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	is.Rotate(t, false)
	if err := os.WriteFile(path, is.JWKS(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := fed.Update(cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := fed.Verify(context.Background(), mint()); err != nil {
		t.Errorf("a token of the new key after the reload: %v", err)
	}
	if _, err := fed.Verify(context.Background(), old); !errors.Is(err, authn.ErrBadCredentials) {
		t.Errorf("a token of the dropped key after the reload: %v, want refused", err)
	}
}
