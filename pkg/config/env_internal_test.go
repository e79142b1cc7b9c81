package config

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/pkg/authn"
)

// Keys added later need no code: the schema is the struct. Sections nest,
// squashed structs add their keys to the parent, "-" is skipped, and a
// variable is resolved against the known keys even when a key has
// underscores of its own.
func TestSchemaFollowsTheStruct(t *testing.T) {
	type Audit struct {
		Retention int `mapstructure:"retention"`
	}
	type Common struct {
		Shared string `mapstructure:"shared"`
	}
	type Root struct {
		Common  `mapstructure:",squash"`
		Audit   Audit          `mapstructure:"audit"`
		Max     map[string]int `mapstructure:"max_per_user"`
		Skipped string         `mapstructure:"-"`
		hidden  string
	}
	s := newSchema(reflect.TypeFor[Root]())
	var names []string
	for _, k := range s.keys {
		names = append(names, k.name)
	}
	if want := []string{"shared", "audit.retention", "max_per_user"}; !slices.Equal(names, want) {
		t.Errorf("keys = %q, want %q", names, want)
	}
	var r Root
	if err := s.applyEnv(&r, []string{"TOLLGATE_AUDIT_RETENTION=7", `TOLLGATE_MAX_PER_USER={"a":3}`, "TOLLGATE_SHARED=x"}); err != nil {
		t.Fatal(err)
	}
	if r.Audit.Retention != 7 || r.Max["a"] != 3 || r.Shared != "x" || r.hidden != "" {
		t.Errorf("applied: %+v", r)
	}
}

// The secret keys of Config are found by type (ui.oidc: its providers'
// client_secret).
func TestSchemaMarksSecrets(t *testing.T) {
	var secret []string
	for _, k := range configSchema().keys {
		if k.secret {
			secret = append(secret, k.name)
		}
	}
	if want := []string{"keys.hmac_secret", "users.ldap.bind_password", "store.dsn", "ui.oidc"}; !slices.Equal(secret, want) {
		t.Errorf("secret keys = %q, want %q", secret, want)
	}
}

// A secret inside a list or map is still secret: a value that does not
// apply is never shown, whatever went wrong with it.
func TestEnvNeverShowsSecretInComposite(t *testing.T) {
	type Root struct {
		Tokens map[string]authn.Secret `mapstructure:"tokens"`
		Keys   []authn.Secret          `mapstructure:"keys"`
	}
	s := newSchema(reflect.TypeFor[Root]())
	const secret = "hunter2"
	for _, env := range [][]string{
		{`TOLLGATE_TOKENS={"a":"hunter2"`},
		{`TOLLGATE_TOKENS={"hunter2":7}`},
		{`TOLLGATE_KEYS=["hunter2",{"x":1}]`},
		{`TOLLGATE_KEYS=hunter2`},
	} {
		var r Root
		err := s.applyEnv(&r, env)
		if err == nil {
			t.Errorf("%q applied: %+v", env, r)
			continue
		}
		if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "hunt") {
			t.Errorf("%q: error shows the value: %v", env, err)
		}
		name, _, _ := strings.Cut(env[0], "=")
		if !strings.Contains(err.Error(), name+": cannot be used for ") {
			t.Errorf("%q: error %v does not name %s", env, err, name)
		}
	}
	var r Root
	if err := s.applyEnv(&r, []string{`TOLLGATE_TOKENS={"a":"hunter2"}`}); err != nil || r.Tokens["a"] != secret {
		t.Errorf("a good secret map: %v, %v", err, r.Tokens)
	}
}

// Two keys that map to one variable make it ambiguous, not a guess.
func TestSchemaAmbiguousVariable(t *testing.T) {
	type A struct {
		C int `mapstructure:"c"`
	}
	type Root struct {
		BC int `mapstructure:"b_c"`
		B  A   `mapstructure:"b"`
	}
	var r Root
	err := newSchema(reflect.TypeFor[Root]()).applyEnv(&r, []string{"TOLLGATE_B_C=1"})
	if err == nil || !strings.Contains(err.Error(), "TOLLGATE_B_C: ambiguous: names the keys b_c and b.c") {
		t.Errorf("applyEnv = %v, want TOLLGATE_B_C reported ambiguous", err)
	}
}
