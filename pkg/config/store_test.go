package config_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/config"
)

func TestValidateStore(t *testing.T) {
	tests := []struct {
		name     string
		typ      string
		path     string
		dsn      string
		wantKeys []string // none for valid
	}{
		{"sqlite", "sqlite", "./data/tollgate.db", "", nil},
		{"sqlite ignores dsn", "sqlite", "./data/tollgate.db", "postgres://db/x", nil},
		{"sqlite without path", "sqlite", "", "postgres://db/x", []string{"store.path"}},
		{"postgres", "postgres", "", "postgres://db/x", nil},
		{"postgres without dsn", "postgres", "./data/tollgate.db", "", []string{"store.dsn"}},
		{"unknown type", "mysql", "./data/tollgate.db", "postgres://db/x", []string{"store.type"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid(t)
			c.Store.Type, c.Store.Path, c.Store.DSN = tt.typ, tt.path, authn.Secret(tt.dsn)
			checkProblems(t, c.Validate(), tt.wantKeys...)
		})
	}
}

func TestLoadStoreDSN(t *testing.T) {
	const password = "pw-not-for-logs"
	dsn := "postgres://tollgate:" + password + "@db.internal:5432/tollgate?sslmode=verify-full"
	c := mustLoad(t, "store: {type: postgres, dsn: \""+dsn+"\"}\n")
	if string(c.Store.DSN) != dsn {
		t.Errorf("store.dsn = %q, want %q", string(c.Store.DSN), dsn)
	}
	for _, out := range []string{fmt.Sprint(c.Store), fmt.Sprintf("%+v", c.Store), fmt.Sprintf("%#v", c.Store)} {
		if strings.Contains(out, password) {
			t.Errorf("printing the store config shows the password: %s", out)
		}
	}

	t.Setenv("TOLLGATE_STORE_DSN", "host=other password=x")
	c = mustLoad(t, "store: {type: postgres}\n")
	if string(c.Store.DSN) != "host=other password=x" {
		t.Errorf("store.dsn = %q, want the environment's", string(c.Store.DSN))
	}
}

func TestHMACSecretFromEnvironment(t *testing.T) {
	t.Setenv("TOLLGATE_KEYS_ALGORITHM", "HS256")
	t.Setenv("TOLLGATE_KEYS_HMAC_SECRET", "0123456789abcdef0123456789abcdef")
	cfg, err := config.Load("../../configs/tollgate.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if string(cfg.Keys.HMACSecret) != "0123456789abcdef0123456789abcdef" {
		t.Fatalf("keys.hmac_secret not taken from the environment")
	}
	cfg.Keys.Certificate = "" // the example's ES256 certificate; HS256 has none
	if fmt.Sprint(cfg.Keys.HMACSecret) != "***" {
		t.Errorf("the HMAC secret prints itself: %v", cfg.Keys.HMACSecret)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	cfg.Keys.Algorithm = "ES256"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "keys.hmac_secret") {
		t.Errorf("an HMAC secret with ES256: err = %v, want a keys.hmac_secret problem", err)
	}
}

func TestValidateAudit(t *testing.T) {
	runValidateCases(t, []validateCase{
		{"defaults", func(*config.Config) {}, nil},
		{"a spool file", func(c *config.Config) { c.Audit.SpoolFile = "./data/audit.spool" }, nil},
		{"a buffer of one", func(c *config.Config) { c.Audit.Buffer = 1 }, nil},
		{"no buffer", func(c *config.Config) { c.Audit.Buffer = 0 }, []string{"audit.buffer"}},
		{"a buffer past the bound", func(c *config.Config) { c.Audit.Buffer = config.MaxAuditBuffer + 1 }, []string{"audit.buffer"}},
		{"retention under an hour", func(c *config.Config) { c.Audit.Retention = time.Minute }, []string{"audit.retention"}},
		{"spool in place of the database", func(c *config.Config) {
			c.Store.Type, c.Store.Path, c.Audit.SpoolFile = "sqlite", "./data/tollgate.db", "data/tollgate.db"
		}, []string{"audit.spool_file"}},
		{"spool names a directory", func(c *config.Config) { c.Audit.SpoolFile = "./data/" }, []string{"audit.spool_file"}},
		{"a spool of 1 MiB", func(c *config.Config) { c.Audit.SpoolMaxBytes = config.MinAuditSpool }, nil},
		{"a spool under 1 MiB", func(c *config.Config) { c.Audit.SpoolMaxBytes = config.MinAuditSpool - 1 }, []string{"audit.spool_max_bytes"}},
	})
}

func TestLoadAuditDefaultsAndEnvironment(t *testing.T) {
	c := mustLoad(t, "audit: {retention: 720h}\n")
	if c.Audit.Buffer != 100000 || c.Audit.SpoolFile != "" {
		t.Errorf("audit defaults: buffer %d, spool_file %q; want 100000 and none", c.Audit.Buffer, c.Audit.SpoolFile)
	}
	t.Setenv("TOLLGATE_AUDIT_BUFFER", "5000")
	t.Setenv("TOLLGATE_AUDIT_SPOOL_FILE", "/var/lib/tollgate/audit.spool")
	c = mustLoad(t, "")
	if c.Audit.Buffer != 5000 || c.Audit.SpoolFile != "/var/lib/tollgate/audit.spool" {
		t.Errorf("from the environment: buffer %d, spool_file %q", c.Audit.Buffer, c.Audit.SpoolFile)
	}
}
