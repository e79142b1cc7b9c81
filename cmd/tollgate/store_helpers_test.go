package main

// Helpers for the tests that run Tollgate on a shared or surviving store,
// or in a process of its own (crash_test.go).

import (
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/pkg/config"
)

// usePostgresStore points the configuration at dsn the way an operator of
// replicas would, with environment overrides of the YAML's store section;
// config.Load, `tollgate serve` and `tollgate audit` all honour them, and
// child processes inherit them. Call it after clearTollgateEnv.
func usePostgresStore(t *testing.T, dsn string) {
	t.Helper()
	t.Setenv(config.EnvPrefix+"_STORE_TYPE", "postgres")
	t.Setenv(config.EnvPrefix+"_STORE_DSN", dsn)
}

// tollgateDir writes a development key and certificate and the e2e htpasswd
// file into a fresh directory, then the configuration through
// loadE2EConfig (with whatever TOLLGATE_ overrides are set). It returns the
// directory and the loaded configuration; the file is dir/tollgate.yaml.
func tollgateDir(t *testing.T) (string, *config.Config) {
	t.Helper()
	dir := t.TempDir()
	if _, err := keys.WriteDev(filepath.Join(dir, "keys", "signing.pem"), filepath.Join(dir, "keys", "signing.crt"),
		keys.Options{Algorithm: "ES256"}); err != nil {
		t.Fatalf("WriteDev: %v", err)
	}
	writeHtpasswd(t, filepath.Join(dir, "htpasswd"), e2eUsers)
	return dir, loadE2EConfig(t, dir)
}

// freeAddr returns 127.0.0.1:PORT for a port that was free a moment ago,
// for a server in another process to listen on.
func freeAddr(t *testing.T) string {
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

// tokenClient is a loopback-only client for one Tollgate at host:port,
// reusing the e2e helpers (getToken, postToken) through an e2eEnv that has
// no registry.
func tokenClient(t *testing.T, hostPort string) *e2eEnv {
	t.Helper()
	tr := loopbackTransport(&dialLog{})
	t.Cleanup(tr.CloseIdleConnections)
	return &e2eEnv{
		tokenHost: hostPort,
		realm:     "http://" + hostPort + "/oauth2/token",
		transport: tr,
		client:    &http.Client{Transport: tr, Timeout: 10 * time.Second},
	}
}

// base is the server's root URL.
func (e *e2eEnv) base() string { return "http://" + e.tokenHost }

// waitAnswering polls the token endpoint until the server answers with any
// HTTP response, failing at the deadline or as soon as gone reports that
// the server stopped (nil: never).
func (e *e2eEnv) waitAnswering(t *testing.T, timeout time.Duration, gone <-chan struct{}) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		resp, err := e.client.Get(e.realm + "?service=" + e2eService)
		if err == nil {
			resp.Body.Close()
			return
		}
		select {
		case <-gone:
			t.Fatalf("%s stopped before answering: %v", e.tokenHost, err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not answering after %s: %v", e.tokenHost, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
