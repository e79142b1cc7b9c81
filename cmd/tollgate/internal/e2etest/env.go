package e2etest

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/bcrypt"

	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/pkg/config"
)

// The registry's view of Tollgate: its auth.token options.
const (
	Service = "registry.local"
	Issuer  = "tollgate"
)

// Users are the htpasswd accounts of the end-to-end environment.
var Users = map[string]string{
	"admin": "admin-secret",
	"alice": "alice-secret",
	"bob":   "bob-secret",
}

// ACL is configs/tollgate.yaml's example policy.
const ACL = `acl:
  - {account: admin, actions: ["*"]}
  - {account: "*", type: repository, name: "${account}/*", actions: [pull, push]}
  - {account: "*", type: repository, name: "shared/*", actions: [pull]}
  - {account: "", type: repository, name: "public/*", actions: [pull]}
`

// ClearEnv unsets every TOLLGATE_* variable of this shell for the test (an
// empty one would be an explicit empty value) and restores them after it;
// servers and commands started as children of the test inherit the result.
// The TOLLGATE_TEST_* variables stay: config.Load ignores them, and they
// lead the tests to their resources.
func ClearEnv(t testing.TB) {
	t.Helper()
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, config.EnvPrefix+"_") && !strings.HasPrefix(k, config.TestEnvPrefix) {
			t.Setenv(k, "") // records the value, restored after the test
			if err := os.Unsetenv(k); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// OnlyEnv is ClearEnv, then sets env: the configuration sees these
// TOLLGATE_ overrides and no other.
func OnlyEnv(t testing.TB, env map[string]string) {
	t.Helper()
	ClearEnv(t)
	for k, v := range env {
		t.Setenv(k, v)
	}
}

// UsePostgresStore points the configuration at dsn the way an operator of
// replicas would, with environment overrides of the YAML's store section;
// config.Load, `tollgate serve` and `tollgate audit` all honour them, and
// child processes inherit them. Call it after ClearEnv.
func UsePostgresStore(t testing.TB, dsn string) {
	t.Helper()
	t.Setenv(config.EnvPrefix+"_STORE_TYPE", "postgres")
	t.Setenv(config.EnvPrefix+"_STORE_DSN", dsn)
}

// WriteHtpasswd writes users (name to password) as a bcrypt htpasswd file.
func WriteHtpasswd(t testing.TB, path string, users map[string]string) {
	t.Helper()
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(users)) {
		hash, err := bcrypt.GenerateFromPassword([]byte(users[name]), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s:%s\n", name, hash)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

// LoadConfig writes dir/tollgate.yaml the way an operator would, over the
// key, certificate, htpasswd file and SQLite store of dir, and loads it
// through config.Load and Validate, as `tollgate serve` will.
func LoadConfig(t testing.TB, dir string) *config.Config {
	t.Helper()
	yaml := fmt.Sprintf(`server:
  addr: "127.0.0.1:0"
token:
  issuer: %q
  expiration: 5m
  services: [%q]
  refresh_expiration: 1h
keys:
  algorithm: ES256
  private_key: %q
  certificate: %q
  kid_format: thumbprint
users:
  htpasswd: %q
  cache_ttl: 5m
store:
  type: sqlite
  path: %q
log:
  level: debug
  format: json
`, Issuer, Service,
		filepath.Join(dir, "keys", "signing.pem"), filepath.Join(dir, "keys", "signing.crt"),
		filepath.Join(dir, "htpasswd"), filepath.Join(dir, "tollgate.db")) + ACL
	path := filepath.Join(dir, "tollgate.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatalf("config.Load: %v", err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	return cfg
}

// Dir writes a development key and certificate and the Users htpasswd
// file into a fresh directory, then the configuration through LoadConfig
// (with whatever TOLLGATE_ overrides are set). It returns the directory and
// the loaded configuration; the file is dir/tollgate.yaml.
func Dir(t testing.TB) (string, *config.Config) {
	t.Helper()
	dir := t.TempDir()
	if _, err := keys.WriteDev(filepath.Join(dir, "keys", "signing.pem"), filepath.Join(dir, "keys", "signing.crt"),
		keys.Options{Algorithm: "ES256"}); err != nil {
		t.Fatalf("WriteDev: %v", err)
	}
	WriteHtpasswd(t, filepath.Join(dir, "htpasswd"), Users)
	return dir, LoadConfig(t, dir)
}

// FreeAddr returns 127.0.0.1:PORT for a port that was free a moment ago,
// for a server in another process to listen on.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// PortOf is the port of a listener's address.
func PortOf(t testing.TB, addr net.Addr) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// YAMLDocs decodes every document of a YAML file into generic maps.
func YAMLDocs(t testing.TB, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var docs []map[string]any
	dec := yaml.NewDecoder(f)
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if doc != nil {
			docs = append(docs, doc)
		}
	}
	if len(docs) == 0 {
		t.Fatalf("%s holds no YAML document", path)
	}
	return docs
}

// DecodeYAML re-decodes a generic document into a typed view.
func DecodeYAML(t testing.TB, doc map[string]any, v any) {
	t.Helper()
	b, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}
