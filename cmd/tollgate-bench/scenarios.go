package main

import (
	"fmt"
	"net/url"
	"time"
)

// Algorithms of the per-algorithm scenarios and sign floors.
var algorithms = []string{"ES256", "EdDSA", "RS256"}

// defaultAlg signs in the scenarios that are not per algorithm.
const defaultAlg = "ES256"

// needs are the credentials a scenario prepares before its load.
type needs uint8

const (
	needAPIToken needs = 1 << iota
	needRefresh
	needClient
)

// scenario is one measured server and the load it is given.
type scenario struct {
	name       string
	floor      string // floorHTTP or floorSign: a floor child instead of tollgate serve
	spec       serverSpec
	needs      needs
	fillTokens int  // filler API tokens stored before the measured start
	postgres   bool // store in a fresh schema of the PostgreSQL server of pgtest.DSNEnv
	closedOnly bool // a finite storm: closed loop only, latency from it
	load       func(base string, d *benchDir, c credentials) load

	family string // scaling: the series it belongs to ("" for none)
	size   int    // scaling: its size in the series
}

// signAlg is the algorithm of the sign floor the scenario is set against.
func (s scenario) signAlg() string { return s.spec.alg }

// baseScenarios are the floors and the scenarios of a default run.
func baseScenarios(o options) []scenario {
	out := floorScenarios()
	for _, alg := range algorithms {
		out = append(out, scenario{name: "cached-" + alg, spec: serverSpec{alg: alg}, load: cachedLoad})
	}
	es := serverSpec{alg: defaultAlg}
	engine := serverSpec{alg: defaultAlg, engine: true}
	out = append(out,
		scenario{name: "anonymous", spec: es, load: anonymousLoad},
		scenario{name: "apitoken", spec: es, needs: needAPIToken, load: apiTokenLoad},
		scenario{name: "refresh", spec: es, needs: needRefresh, load: refreshLoad},
		scenario{name: "engine-password", spec: engine, load: enginePasswordLoad},
		scenario{name: "client-credentials", spec: engine, needs: needClient, load: clientCredentialsLoad},
		scenario{name: "cold-storm", spec: serverSpec{alg: defaultAlg, stormUsers: o.stormUsers},
			closedOnly: true, load: stormLoad(o.stormUsers)},
		scenario{name: "wrong-password-5pct", spec: es, load: wrongPasswordLoad},
	)
	for _, alg := range algorithms {
		out = append(out, scenario{name: "reuse-" + alg, spec: serverSpec{alg: alg, reuseWindow: o.reuseWindow},
			load: cachedLoad})
	}
	return out
}

// floorScenarios are the http floor and a sign floor per algorithm.
func floorScenarios() []scenario {
	out := []scenario{{name: "floor-http", floor: floorHTTP, spec: serverSpec{alg: defaultAlg}, load: cachedLoad}}
	for _, alg := range algorithms {
		out = append(out, scenario{name: "floor-sign-" + alg, floor: floorSign, spec: serverSpec{alg: alg}, load: cachedLoad})
	}
	return out
}

// tokenURL is GET /oauth2/token for the registry service and one scope.
func tokenURL(base, scope string) string {
	return base + "/oauth2/token?" + url.Values{"service": {service}, "scope": {scope}}.Encode()
}

// cachedLoad: the bench user pulling its own repository with Basic auth,
// again and again: after the first request, the verified-credential cache
// answers.
func cachedLoad(base string, d *benchDir, _ credentials) load {
	return load{target: target{method: "GET", url: tokenURL(base, "repository:"+benchRepo+":pull"),
		user: benchUser, pass: d.password}}
}

// wrongPasswordLoad is cachedLoad with every 20th password wrong.
func wrongPasswordLoad(base string, d *benchDir, c credentials) load {
	l := cachedLoad(base, d, c)
	wrong := l.target
	wrong.pass = d.wrongPassword
	l.wrong, l.wrongEvery = &wrong, 20
	return l
}

func anonymousLoad(base string, _ *benchDir, _ credentials) load {
	return load{target: target{method: "GET", url: tokenURL(base, "repository:public/app:pull")}}
}

// apiTokenLoad: the API token as the Basic password (docker login -u token).
func apiTokenLoad(base string, _ *benchDir, c credentials) load {
	return load{target: target{method: "GET", url: tokenURL(base, "repository:"+benchRepo+":pull"),
		user: "token", pass: c.apiToken}}
}

// refreshLoad: POST /oauth2/token grant_type=refresh_token with the
// identity token `docker login` would have stored.
func refreshLoad(base string, _ *benchDir, c credentials) load {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {c.refreshToken}, "client_id": {"bench"},
		"service": {service}, "scope": {"repository:" + benchRepo + ":pull"}}
	return load{target: target{method: "POST", url: base + "/oauth2/token", form: form.Encode(), contentType: formType}}
}

// enginePasswordLoad: the Engine API's password grant, signed with the
// registry key (engine.signing: keys).
func enginePasswordLoad(base string, d *benchDir, _ credentials) load {
	form := url.Values{"grant_type": {"password"}, "client_id": {"anonymous"}, "username": {benchUser},
		"password": {d.password}}
	return load{target: target{method: "POST", url: base + "/v1/oauth/token", form: form.Encode(), contentType: formType}}
}

// clientCredentialsLoad: a registered client asking for a service token.
func clientCredentialsLoad(base string, _ *benchDir, c credentials) load {
	form := url.Values{"grant_type": {"client_credentials"}, "audience": {benchAudience}, "scope": {benchScope}}
	return load{target: target{method: "POST", url: base + "/v1/oauth/token", form: form.Encode(), contentType: formType,
		user: benchClient, pass: c.clientSecret}}
}

// stormLoad: n distinct users logging in once each, none of them cached:
// bcrypt at the realistic cost decides.
func stormLoad(n int) func(string, *benchDir, credentials) load {
	return func(base string, d *benchDir, _ credentials) load {
		once := make([]target, n)
		for i := range once {
			user := fmt.Sprintf(stormUserFormat, i)
			once[i] = target{method: "GET", url: tokenURL(base, "repository:"+user+"/app:pull"), user: user, pass: d.stormPassword}
		}
		return load{once: once}
	}
}

// defaultReuseWindow is token.reuse_window in the reuse-* scenarios.
const defaultReuseWindow = 30 * time.Second
