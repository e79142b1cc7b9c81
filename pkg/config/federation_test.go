package config_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/pkg/config"
)

// Claim names keep their dots and slashes (JSON Pointers, CircleCI's
// oidc.circleci.com/… claims): viper's key delimiter must not split them.
func TestLoadFederationClaimNames(t *testing.T) {
	path := writeConfig(t, `
federation:
  issuers:
    - issuer: https://kubernetes.default.svc.cluster.local
      audiences: [tollgate]
      jwks_file: /etc/tollgate/k8s-jwks.json
      rules:
        - claims: {"/kubernetes.io/namespace": ci, "oidc.circleci.com/project-id": [a, b]}
          subject: "k8s:${/kubernetes.io/namespace}:${/kubernetes.io/serviceaccount/name}"
`)
	c, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Federation.Username != "oidc" {
		t.Errorf("username = %q, want the default oidc", c.Federation.Username)
	}
	got := c.Federation.Issuers[0].Rules[0].Claims
	want := map[string]any{"/kubernetes.io/namespace": "ci", "oidc.circleci.com/project-id": []any{"a", "b"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("claims = %#v, want %#v", got, want)
	}
	if err := c.Validate(); err != nil && strings.Contains(err.Error(), "federation") {
		t.Errorf("Validate: %v", err)
	}
}

func TestValidateFederation(t *testing.T) {
	path := writeConfig(t, `
federation:
  username: token
  issuers:
    - issuer: http://gitlab.example
      audiences: []
      algorithms: [HS256]
      rules:
        - claims: {}
          subject: "${project_path}"
`)
	c, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	err = c.Validate()
	for _, want := range []string{"federation.username", "federation.issuers[0].issuer", "federation.issuers[0].audiences",
		"federation.issuers[0].algorithms[0]", "federation.issuers[0].rules[0].claims", "federation.issuers[0].rules[0].subject"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v, want a problem at %s", err, want)
		}
	}
}
