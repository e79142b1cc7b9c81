package interop_test

// deploy/gateway's Traefik and Envoy configurations, which no test runs
// (neither program is on the test machines), checked against what
// Tollgate's /auth/forward needs and against the configuration Tollgate
// runs in the compose file. deploy/gateway/nginx.conf is served by
// TestEndToEndGateway and TestGatewayNginxConfig.

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/cmd/tollgate/internal/e2etest"
)

const gatewayDeployDir = deployDir + "/gateway"

// gatewayCompose is the part of deploy/gateway/docker-compose.yml the tests
// read.
type gatewayCompose struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Volumes     []string          `yaml:"volumes"`
		Ports       []string          `yaml:"ports"`
		Networks    any               `yaml:"networks"` // a list, or a map with ipv4_address
		Build       *struct {
			Context    string `yaml:"context"`
			Dockerfile string `yaml:"dockerfile"`
		} `yaml:"build"`
	} `yaml:"services"`
}

// traefikDynamic is the part of deploy/gateway/traefik/dynamic.yml the
// tests read.
type traefikDynamic struct {
	HTTP struct {
		Routers map[string]struct {
			Rule        string   `yaml:"rule"`
			Middlewares []string `yaml:"middlewares"`
			Service     string   `yaml:"service"`
		} `yaml:"routers"`
		Middlewares map[string]struct {
			ForwardAuth *struct {
				Address             string   `yaml:"address"`
				TrustForwardHeader  bool     `yaml:"trustForwardHeader"`
				AuthRequestHeaders  []string `yaml:"authRequestHeaders"`
				AuthResponseHeaders []string `yaml:"authResponseHeaders"`
			} `yaml:"forwardAuth"`
		} `yaml:"middlewares"`
		Services map[string]struct {
			LoadBalancer struct {
				Servers []struct {
					URL string `yaml:"url"`
				} `yaml:"servers"`
			} `yaml:"loadBalancer"`
		} `yaml:"services"`
	} `yaml:"http"`
}

// stringMatchers is an Envoy ListStringMatcher.
type stringMatchers struct {
	Patterns []struct {
		Exact      string `yaml:"exact"`
		IgnoreCase bool   `yaml:"ignore_case"`
	} `yaml:"patterns"`
}

// exact lists the names the matchers match, lower case, all ignoring case.
func (m stringMatchers) exact(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, p := range m.Patterns {
		if !p.IgnoreCase {
			t.Errorf("header matcher %q does not ignore case", p.Exact)
		}
		out = append(out, strings.ToLower(p.Exact))
	}
	return out
}

// envoyConfig is the part of deploy/gateway/envoy.yaml the tests read.
type envoyConfig struct {
	StaticResources struct {
		Listeners []struct {
			FilterChains []struct {
				Filters []struct {
					TypedConfig struct {
						RouteConfig struct {
							VirtualHosts []struct {
								Routes []struct {
									Match struct {
										Prefix string `yaml:"prefix"`
									} `yaml:"match"`
									Route struct {
										Cluster string `yaml:"cluster"`
										Timeout string `yaml:"timeout"`
									} `yaml:"route"`
								} `yaml:"routes"`
							} `yaml:"virtual_hosts"`
						} `yaml:"route_config"`
						HTTPFilters []struct {
							Name        string `yaml:"name"`
							TypedConfig struct {
								FailureModeAllow *bool `yaml:"failure_mode_allow"`
								StatusOnError    struct {
									Code string `yaml:"code"`
								} `yaml:"status_on_error"`
								AllowedHeaders stringMatchers `yaml:"allowed_headers"`
								HTTPService    *struct {
									ServerURI struct {
										URI     string `yaml:"uri"`
										Cluster string `yaml:"cluster"`
									} `yaml:"server_uri"`
									PathPrefix            string `yaml:"path_prefix"`
									AuthorizationResponse struct {
										AllowedUpstreamHeaders stringMatchers `yaml:"allowed_upstream_headers"`
										AllowedClientHeaders   stringMatchers `yaml:"allowed_client_headers"`
									} `yaml:"authorization_response"`
								} `yaml:"http_service"`
							} `yaml:"typed_config"`
						} `yaml:"http_filters"`
					} `yaml:"typed_config"`
				} `yaml:"filters"`
			} `yaml:"filter_chains"`
		} `yaml:"listeners"`
		Clusters []struct {
			Name           string `yaml:"name"`
			LoadAssignment struct {
				Endpoints []struct {
					LBEndpoints []struct {
						Endpoint struct {
							Address struct {
								SocketAddress struct {
									Address   string `yaml:"address"`
									PortValue int    `yaml:"port_value"`
								} `yaml:"socket_address"`
							} `yaml:"address"`
						} `yaml:"endpoint"`
					} `yaml:"lb_endpoints"`
				} `yaml:"endpoints"`
			} `yaml:"load_assignment"`
		} `yaml:"clusters"`
	} `yaml:"static_resources"`
}

// TestGatewayDeployConfigs: the compose file runs the registry without
// auth and unreachable but through Traefik, Tollgate with the gateway on
// and Traefik alone trusted; Traefik and Envoy ask /auth/forward and pass
// the headers it answers with.
func TestGatewayDeployConfigs(t *testing.T) {
	var cf gatewayCompose
	e2etest.DecodeYAML(t, e2etest.YAMLDocs(t, filepath.Join(gatewayDeployDir, "docker-compose.yml"))[0], &cf)
	for _, name := range []string{"init", "tollgate", "registry", "traefik"} {
		if _, ok := cf.Services[name]; !ok {
			t.Fatalf("docker-compose.yml has no service %s", name)
		}
	}
	reg := cf.Services["registry"]
	if reg.Image != "registry:3" || len(reg.Ports) != 0 || slices.ContainsFunc(reg.Volumes, func(v string) bool { return strings.Contains(v, "/etc/distribution") }) {
		t.Errorf("registry: image %q, ports %q, volumes %q; want registry:3 with its own configuration (no auth) and no port on the host",
			reg.Image, reg.Ports, reg.Volumes)
	}
	for k := range reg.Environment {
		if strings.HasPrefix(k, "REGISTRY_AUTH") {
			t.Errorf("registry environment sets %s: the gateway's registry runs without auth", k)
		}
	}
	for name, s := range cf.Services {
		for _, v := range s.Volumes {
			if src := strings.Split(v, ":")[0]; strings.HasPrefix(src, ".") {
				if _, err := os.Stat(filepath.Join(gatewayDeployDir, src)); err != nil {
					t.Errorf("service %s mounts %s: %v", name, src, err)
				}
			}
		}
	}
	tg := cf.Services["tollgate"]
	if tg.Build == nil || filepath.Join(gatewayDeployDir, tg.Build.Context, tg.Build.Dockerfile) != filepath.Join(deployDir, "Dockerfile") {
		t.Errorf("tollgate is not built from deploy/Dockerfile: %+v", tg.Build)
	}

	// Tollgate trusts Traefik's address, and nothing wider.
	cfg := loadExample(t, "tollgate.yaml", tg.Environment)
	if !cfg.Gateway.Enabled || cfg.Gateway.CacheTTL != gatewayCacheTTL {
		t.Errorf("compose's Tollgate: gateway %+v, want enabled with cache_ttl %s", cfg.Gateway, gatewayCacheTTL)
	}
	traefikIP := ipv4Address(t, cf.Services["traefik"].Networks)
	proxies, err := cfg.Server.Proxies()
	if err != nil || len(proxies) != 1 || proxies[0] != netip.PrefixFrom(traefikIP, 32) {
		t.Errorf("trusted_proxies %v (%v), want Traefik's %s/32 alone", proxies, err, traefikIP)
	}

	// Traefik reads dynamic.yml, which asks Tollgate before the registry.
	tr := cf.Services["traefik"]
	var dynamicPath string
	for _, arg := range tr.Command {
		if p, ok := strings.CutPrefix(arg, "--providers.file.filename="); ok {
			dynamicPath = p
		}
	}
	if !slices.Contains(tr.Volumes, "./traefik/dynamic.yml:"+dynamicPath+":ro") {
		t.Errorf("traefik reads %q, mounts %q; want traefik/dynamic.yml there", dynamicPath, tr.Volumes)
	}
	var dyn traefikDynamic
	e2etest.DecodeYAML(t, e2etest.YAMLDocs(t, filepath.Join(gatewayDeployDir, "traefik", "dynamic.yml"))[0], &dyn)
	router, ok := dyn.HTTP.Routers["registry"]
	if !ok || router.Rule != "PathPrefix(`/v2`)" || len(router.Middlewares) != 1 {
		t.Fatalf("router registry %+v, want PathPrefix(`/v2`) through one middleware", router)
	}
	fa := dyn.HTTP.Middlewares[router.Middlewares[0]].ForwardAuth
	// The client's headers must not reach Tollgate: Traefik's own
	// X-Forwarded-* only, and of the client's just these.
	if fa == nil || fa.Address != "http://tollgate:5001/auth/forward" || fa.TrustForwardHeader ||
		!slices.Equal(fa.AuthRequestHeaders, []string{"Authorization", "Content-Type"}) ||
		!slices.Equal(fa.AuthResponseHeaders, []string{"X-Tollgate-Subject"}) {
		t.Errorf("forwardAuth %+v, want http://tollgate:5001/auth/forward, no trustForwardHeader, only Authorization and Content-Type sent, X-Tollgate-Subject back", fa)
	}
	if s := dyn.HTTP.Services[router.Service].LoadBalancer.Servers; len(s) != 1 || s[0].URL != "http://registry:5000" {
		t.Errorf("router's service servers %+v, want http://registry:5000", s)
	}

	checkEnvoy(t)
}

// ipv4Address is the ipv4_address of a compose service's networks.
func ipv4Address(t *testing.T, networks any) netip.Addr {
	t.Helper()
	m, _ := networks.(map[string]any)
	for _, n := range m {
		nm, _ := n.(map[string]any)
		s, _ := nm["ipv4_address"].(string)
		if a, err := netip.ParseAddr(s); err == nil {
			return a
		}
	}
	t.Fatalf("networks %v give no ipv4_address", networks)
	return netip.Addr{}
}

// checkEnvoy checks deploy/gateway/envoy.yaml's ext_authz filter, route and
// clusters.
func checkEnvoy(t *testing.T) {
	t.Helper()
	var ec envoyConfig
	e2etest.DecodeYAML(t, e2etest.YAMLDocs(t, filepath.Join(gatewayDeployDir, "envoy.yaml"))[0], &ec)
	sr := ec.StaticResources
	if len(sr.Listeners) != 1 || len(sr.Listeners[0].FilterChains) != 1 || len(sr.Listeners[0].FilterChains[0].Filters) != 1 {
		t.Fatalf("envoy.yaml: want one listener with one filter chain of one filter (the HTTP connection manager)")
	}
	hcm := sr.Listeners[0].FilterChains[0].Filters[0].TypedConfig
	clusters := map[string]string{}
	for _, c := range sr.Clusters {
		for _, e := range c.LoadAssignment.Endpoints {
			for _, lb := range e.LBEndpoints {
				a := lb.Endpoint.Address.SocketAddress
				clusters[c.Name] = a.Address + ":" + strconv.Itoa(a.PortValue)
			}
		}
	}
	if clusters["tollgate"] != "tollgate:5001" || clusters["registry"] != "registry:5000" {
		t.Errorf("clusters %v, want tollgate at tollgate:5001 and registry at registry:5000", clusters)
	}
	vh := hcm.RouteConfig.VirtualHosts
	if len(vh) != 1 || len(vh[0].Routes) != 1 || vh[0].Routes[0].Match.Prefix != "/v2" || vh[0].Routes[0].Route.Cluster != "registry" {
		t.Errorf("routes %+v, want /v2 to the registry", vh)
	} else if d, err := time.ParseDuration(vh[0].Routes[0].Route.Timeout); err != nil || d != 0 {
		t.Errorf("the registry route's timeout %q, want 0s (layers take long; Envoy's default is 15s)", vh[0].Routes[0].Route.Timeout)
	}
	var names []string
	for _, f := range hcm.HTTPFilters {
		names = append(names, f.Name)
	}
	if !slices.Equal(names, []string{"envoy.filters.http.ext_authz", "envoy.filters.http.router"}) {
		t.Fatalf("http_filters %q, want ext_authz before the router", names)
	}
	ea := hcm.HTTPFilters[0].TypedConfig
	if ea.FailureModeAllow == nil || *ea.FailureModeAllow || ea.StatusOnError.Code != "ServiceUnavailable" {
		t.Errorf("failure_mode_allow %v, status_on_error %q; want false (fail closed) and ServiceUnavailable", ea.FailureModeAllow, ea.StatusOnError.Code)
	}
	if got := ea.AllowedHeaders.exact(t); !slices.Contains(got, "authorization") || !slices.Contains(got, "x-forwarded-for") {
		t.Errorf("allowed_headers %q, want authorization and x-forwarded-for", got)
	}
	hs := ea.HTTPService
	if hs == nil || hs.ServerURI.Cluster != "tollgate" || hs.ServerURI.URI != "http://tollgate:5001" || hs.PathPrefix != "/auth/forward" {
		t.Fatalf("http_service %+v, want the tollgate cluster at http://tollgate:5001 with path_prefix /auth/forward", hs)
	}
	if got := hs.AuthorizationResponse.AllowedUpstreamHeaders.exact(t); !slices.Equal(got, []string{"x-tollgate-subject"}) {
		t.Errorf("allowed_upstream_headers %q, want x-tollgate-subject", got)
	}
	got := hs.AuthorizationResponse.AllowedClientHeaders.exact(t)
	for _, want := range []string{"www-authenticate", "retry-after"} {
		if !slices.Contains(got, want) {
			t.Errorf("allowed_client_headers %q lack %s: clients would lose Tollgate's challenge or wait", got, want)
		}
	}
}
