package main

import (
	"bufio"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/bcrypt"

	"github.com/tollgate/tollgate/keys"
)

// What every benchmark configuration serves.
const (
	benchUser = "bench" // the warm scenarios' user
	service   = "registry.local"
	benchRepo = "bench/app" // matches the rule "${account}/*"
	issuer    = "tollgate"
)

// serverSpec is what one `tollgate serve` of the benchmark is given.
type serverSpec struct {
	alg         string        // keys.algorithm
	extraUsers  int           // htpasswd users besides benchUser, at the minimum cost
	stormUsers  int           // users at the realistic cost, storm-0000 on
	aclRules    int           // ACL length: non-matching rules first, then the real two
	engine      bool          // the Engine API, signing with the registry key
	reuseWindow time.Duration // token.reuse_window, when set
	postgres    string        // a PostgreSQL DSN; "" for SQLite in the server's directory
}

// benchDir is the run's temporary directory: keys per algorithm, shared
// password hashes, and one subdirectory per server.
type benchDir struct {
	root          string
	password      string // benchUser's
	wrongPassword string
	stormPassword string // every storm user's
	stormCost     int

	mu     sync.Mutex
	keys   map[string]string // algorithm → private key file
	hashes map[string]string // "password/cost" → bcrypt hash
}

func newBenchDir(root string, stormCost int) *benchDir {
	return &benchDir{root: root, password: rand.Text(), wrongPassword: rand.Text(), stormPassword: rand.Text(),
		stormCost: stormCost, keys: map[string]string{}, hashes: map[string]string{}}
}

// keyFile returns the private key file for alg, generating it on first use.
func (b *benchDir) keyFile(alg string) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if path, ok := b.keys[alg]; ok {
		return path, nil
	}
	path := filepath.Join(b.root, "keys", alg+".pem")
	if _, err := keys.WriteDev(path, "", keys.Options{Algorithm: alg}); err != nil {
		return "", fmt.Errorf("generate %s key: %w", alg, err)
	}
	b.keys[alg] = path
	return path, nil
}

// hash returns a bcrypt hash of password at cost, computing it once: users
// that share a password share its hash, which costs every one of them a
// full comparison all the same.
func (b *benchDir) hash(password string, cost int) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	k := fmt.Sprintf("%s/%d", password, cost)
	if h, ok := b.hashes[k]; ok {
		return h, nil
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return "", err
	}
	b.hashes[k] = string(h)
	return string(h), nil
}

// writeServer writes name's directory, htpasswd file and configuration,
// and returns the configuration's path.
func (b *benchDir) writeServer(name string, spec serverSpec) (string, error) {
	dir := filepath.Join(b.root, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	htpasswd := filepath.Join(dir, "htpasswd")
	if err := b.writeHtpasswd(htpasswd, spec); err != nil {
		return "", err
	}
	key, err := b.keyFile(spec.alg)
	if err != nil {
		return "", err
	}
	cfg := b.config(dir, htpasswd, key, spec)
	out, err := yaml.Marshal(cfg)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "tollgate.yaml")
	return path, os.WriteFile(path, out, 0o600)
}

// writeHtpasswd writes benchUser, then the extra users, then the storm
// users.
func (b *benchDir) writeHtpasswd(path string, spec serverSpec) error {
	warm, err := b.hash(b.password, bcrypt.MinCost)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	fmt.Fprintf(w, "%s:%s\n", benchUser, warm)
	if err := b.writeUsers(w, "user-%06d", spec.extraUsers, b.wrongPassword, bcrypt.MinCost); err != nil {
		return err
	}
	if err := b.writeUsers(w, stormUserFormat, spec.stormUsers, b.stormPassword, b.stormCost); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// stormUserFormat names the storm's users.
const stormUserFormat = "storm-%04d"

func (b *benchDir) writeUsers(w *bufio.Writer, format string, n int, password string, cost int) error {
	if n == 0 {
		return nil
	}
	h, err := b.hash(password, cost)
	if err != nil {
		return err
	}
	for i := range n {
		fmt.Fprintf(w, format+":%s\n", i, h)
	}
	return nil
}

// config is the configuration file's content. The failure budgets are
// on, as in production, but too large for the storm or the wrong
// passwords to spend.
func (b *benchDir) config(dir, htpasswd, key string, spec serverSpec) map[string]any {
	token := map[string]any{"issuer": issuer, "expiration": "5m", "services": []string{service}}
	if spec.reuseWindow > 0 {
		token["reuse_window"] = spec.reuseWindow.String()
	}
	store := map[string]any{"type": "sqlite", "path": filepath.Join(dir, "tollgate.db")}
	if spec.postgres != "" {
		store = map[string]any{"type": "postgres", "dsn": spec.postgres}
	}
	return map[string]any{
		"server": map[string]any{"addr": "127.0.0.1:0"},
		"token":  token,
		"keys":   map[string]any{"algorithm": spec.alg, "private_key": key, "certificate": ""},
		"users": map[string]any{"htpasswd": htpasswd, "cache_ttl": "5m", "admins": []string{},
			"bcrypt_cost": b.stormCost}, // of the client secret, too
		"limits": map[string]any{"failures_per_minute": 1e6, "failure_burst": 1000000,
			"ip_failures_per_minute": 1e6, "ip_failure_burst": 1000000, "max_tracked": 100000},
		"store":  store,
		"log":    map[string]any{"level": "info", "format": "json"},
		"engine": map[string]any{"enabled": spec.engine, "signing": "keys"},
		"acl":    aclRules(spec.aclRules),
	}
}

// aclRules is n rules: n-2 that never match the benchmark's callers, then
// the two the scenarios use (signed-in users' own namespace, anonymous
// pulls of public/*).
func aclRules(n int) []map[string]any {
	rules := make([]map[string]any, 0, max(n, 2))
	for i := range n - 2 {
		rules = append(rules, map[string]any{"account": fmt.Sprintf("team-%d-*", i), "type": "repository",
			"name": fmt.Sprintf("team-%d/*", i), "actions": []string{"pull"}})
	}
	return append(rules,
		map[string]any{"account": "*", "type": "repository", "name": "${account}/*", "actions": []string{"pull", "push"}},
		map[string]any{"account": "", "type": "repository", "name": "public/*", "actions": []string{"pull"}})
}
