package interop_test

// The parts of the deployment tests (cmd/tollgate/configs_test.go has the
// rest) that need the registry's own code: its configuration parser reads
// deploy/registry/config.yml, and its token access controller checks a
// token minted with the documented key.

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/auth"

	"github.com/tollgate/tollgate/cmd/tollgate/internal/e2etest"
	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/pkg/config"
)

const (
	configsDir = repoRoot + "/configs"
	deployDir  = repoRoot + "/deploy"
)

// loadExample loads and validates an example without environment overrides
// but those in env.
func loadExample(t *testing.T, name string, env map[string]string) *config.Config {
	t.Helper()
	e2etest.OnlyEnv(t, env)
	cfg, err := config.Load(filepath.Join(configsDir, name)) // as `tollgate serve` loads it
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// composeFile is the part of deploy/compose.yaml the tests read.
type composeFile struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Environment map[string]string `yaml:"environment"`
		Volumes     []string          `yaml:"volumes"`
		Ports       []string          `yaml:"ports"`
		Build       *struct {
			Context    string `yaml:"context"`
			Dockerfile string `yaml:"dockerfile"`
		} `yaml:"build"`
	} `yaml:"services"`
}

// registryConfig parses deploy/registry/config.yml with the registry's own
// configuration parser.
func registryConfig(t *testing.T) *configuration.Configuration {
	t.Helper()
	f, err := os.Open(filepath.Join(deployDir, "registry", "config.yml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	reg, err := configuration.Parse(f)
	if err != nil {
		t.Fatalf("deploy/registry/config.yml: %v", err)
	}
	return reg
}

// TestConfigsComposeAndRegistryAgree checks deploy/compose.yaml and
// deploy/registry/config.yml against the configuration Tollgate runs there
// (the image's configs/tollgate.yaml with compose's environment).
func TestConfigsComposeAndRegistryAgree(t *testing.T) {
	var cf composeFile
	e2etest.DecodeYAML(t, e2etest.YAMLDocs(t, filepath.Join(deployDir, "compose.yaml"))[0], &cf)
	for _, name := range []string{"init", "postgres", "tollgate", "registry"} {
		if _, ok := cf.Services[name]; !ok {
			t.Fatalf("compose.yaml has no service %s", name)
		}
	}
	if img := cf.Services["postgres"].Image; !strings.HasPrefix(img, "postgres:16") {
		t.Errorf("postgres image %q, want postgres:16", img)
	}
	if img := cf.Services["registry"].Image; img != "registry:3" {
		t.Errorf("registry image %q, want registry:3", img)
	}
	tg := cf.Services["tollgate"]
	if tg.Build == nil || filepath.Join(deployDir, tg.Build.Context, tg.Build.Dockerfile) != filepath.Join(deployDir, "Dockerfile") {
		t.Errorf("tollgate is not built from deploy/Dockerfile: %+v", tg.Build)
	}
	// Bind mounts name files that exist.
	mounts := map[string]map[string]string{} // service -> target -> source
	for name, s := range cf.Services {
		mounts[name] = map[string]string{}
		for _, v := range s.Volumes {
			parts := strings.Split(v, ":")
			mounts[name][parts[1]] = parts[0]
			if strings.HasPrefix(parts[0], ".") {
				if _, err := os.Stat(filepath.Join(deployDir, parts[0])); err != nil {
					t.Errorf("service %s mounts %s: %v", name, parts[0], err)
				}
			}
		}
	}

	cfg := loadExample(t, "tollgate.yaml", tg.Environment)
	if cfg.Store.Type != "postgres" || !strings.Contains(string(cfg.Store.DSN), "@postgres:5432/") {
		t.Errorf("compose's Tollgate uses store %s; want postgres at the postgres service", cfg.Store.Type)
	}
	if got := mounts["tollgate"]["/app/data"]; got == "" || got != mounts["init"]["/data"] {
		t.Errorf("Tollgate's /app/data (%q) is not the volume init fills (%q)", got, mounts["init"]["/data"])
	}
	for _, p := range []string{cfg.Keys.PrivateKey, cfg.Users.Htpasswd} {
		if !strings.HasPrefix(filepath.Clean(filepath.Join("/app", p)), "/app/data/") {
			t.Errorf("%s does not resolve under the image's /app/data volume", p)
		}
	}

	// The registry's token auth agrees with Tollgate.
	reg := registryConfig(t)
	if mounts["registry"]["/etc/distribution/config.yml"] != "./registry/config.yml" {
		t.Errorf("the registry does not run deploy/registry/config.yml: %v", mounts["registry"])
	}
	opts := reg.Auth["token"]
	if opts["issuer"] != cfg.Token.Issuer {
		t.Errorf("registry issuer %v, Tollgate token.issuer %q", opts["issuer"], cfg.Token.Issuer)
	}
	if svc, _ := opts["service"].(string); len(cfg.Token.Services) > 0 && !slices.Contains(cfg.Token.Services, svc) {
		t.Errorf("registry service %q is not in Tollgate's token.services %v", svc, cfg.Token.Services)
	}
	realm, err := url.Parse(fmt.Sprint(opts["realm"]))
	if err != nil {
		t.Fatal(err)
	}
	if net.ParseIP(realm.Hostname()) != nil || realm.Path != "/oauth2/token" {
		t.Errorf("realm %s: want a host name (crane and oras refuse IP literals) and /oauth2/token", realm)
	}
	_, port, _ := net.SplitHostPort(cfg.Server.Addr)
	if !slices.Contains(tg.Ports, realm.Port()+":"+port) {
		t.Errorf("realm port %s is not Tollgate's published port (%v)", realm.Port(), tg.Ports)
	}
	bundle := fmt.Sprint(opts["rootcertbundle"])
	if src := mounts["registry"][filepath.Dir(bundle)]; src == "" || src != mounts["init"]["/cert"] {
		t.Errorf("rootcertbundle %s is not in the volume init writes the certificate to", bundle)
	}
	if filepath.Base(bundle) != filepath.Base(cfg.Keys.Certificate) {
		t.Errorf("rootcertbundle %s is not Tollgate's keys.certificate %s", bundle, cfg.Keys.Certificate)
	}
	if reg.Catalog.MaxEntries < 1000 {
		t.Errorf("catalog.maxentries %d: go-containerregistry asks for 1000", reg.Catalog.MaxEntries)
	}
}

// TestConfigsKeyProcedureWorksWithRegistry runs the openssl commands that
// deploy/kubernetes/secret.yaml documents (the README, the systemd unit and
// deploy/compose/init.sh give the same) and checks that Tollgate loads the
// result (serving with it, as a child process) and that the registry's own
// token access controller, configured by deploy/registry/config.yml,
// accepts a token it mints.
func TestConfigsKeyProcedureWorksWithRegistry(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl is not installed")
	}
	doc, err := os.ReadFile(filepath.Join(deployDir, "kubernetes", "secret.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	commands := regexp.MustCompile(`(?m)^#\s+(openssl (?:genpkey|req) .*)$`).FindAllStringSubmatch(string(doc), -1)
	if len(commands) != 2 {
		t.Fatalf("found %d openssl commands in secret.yaml, want genpkey and req", len(commands))
	}
	dir := t.TempDir()
	for _, c := range commands {
		cmd := exec.Command("sh", "-c", c[1])
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", c[1], err, out)
		}
	}
	for _, other := range []string{"README.md", "deploy/compose/init.sh", "deploy/systemd/tollgate.service"} {
		b, err := os.ReadFile(filepath.Join(repoRoot, other))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256") {
			t.Errorf("%s does not give the same key procedure", other)
		}
	}
	keyPath, certPath := filepath.Join(dir, "signing.pem"), filepath.Join(dir, "signing.crt")
	if err := os.Chmod(keyPath, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.Load(keyPath, certPath, keys.Options{Algorithm: "ES256"}); err != nil {
		t.Fatalf("Tollgate does not load the documented key: %v", err)
	}

	reg := registryConfig(t)
	opts := map[string]any{}
	for k, v := range reg.Auth["token"] {
		opts[k] = v
	}
	opts["rootcertbundle"] = certPath
	ac, err := auth.GetAccessController("token", opts)
	if err != nil {
		t.Fatalf("the registry refuses the certificate as rootcertbundle: %v", err)
	}

	// Tollgate serves with the documented key and the registry's issuer
	// and service, and mints admin a token.
	e2etest.ClearEnv(t)
	e2etest.WriteHtpasswd(t, filepath.Join(dir, "htpasswd"), e2etest.Users)
	issuer, service := fmt.Sprint(opts["issuer"]), fmt.Sprint(opts["service"])
	yaml := fmt.Sprintf("token:\n  issuer: %q\n  services: [%q]\nkeys:\n  algorithm: ES256\n  private_key: %q\n  certificate: %q\n"+
		"users:\n  htpasswd: %q\nstore:\n  type: sqlite\n  path: %q\n", issuer, service, keyPath, certPath,
		filepath.Join(dir, "htpasswd"), filepath.Join(dir, "tollgate.db")) + e2etest.ACL
	configPath := filepath.Join(dir, "tollgate.yaml")
	if err := os.WriteFile(configPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	env := startTollgate(t, configPath)
	q := url.Values{"service": {service}, "scope": {"repository:admin/app:pull"}}
	req, err := http.NewRequest(http.MethodGet, env.Realm+"?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("admin", e2etest.Users["admin"])
	status, body := env.Do(t, req)
	minted, _ := body["token"].(string)
	if status != http.StatusOK || minted == "" {
		t.Fatalf("GET /oauth2/token as admin = %d %v, want 200 with a token", status, body)
	}
	req, _ = http.NewRequest(http.MethodGet, "http://localhost:5000/v2/admin/app/tags/list", nil)
	req.Header.Set("Authorization", "Bearer "+minted)
	grant, err := ac.Authorized(req, auth.Access{Resource: auth.Resource{Type: "repository", Name: "admin/app"}, Action: "pull"})
	if err != nil {
		t.Fatalf("the registry refuses a token signed with the documented key: %v", err)
	}
	if grant.User.Name != "admin" {
		t.Errorf("registry sees user %q, want admin", grant.User.Name)
	}

	// The certificate alone, as the registry gets it, holds no private key.
	pemData, err := os.ReadFile(certPath)
	if err != nil {
		t.Fatal(err)
	}
	for block, rest := pem.Decode(pemData); block != nil; block, rest = pem.Decode(rest) {
		if block.Type != "CERTIFICATE" {
			t.Errorf("signing.crt holds a %s block", block.Type)
		} else if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			t.Error(err)
		}
	}
}
