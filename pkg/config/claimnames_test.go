package config_test

import (
	"reflect"
	"testing"
)

// Claim names are case-sensitive: the file's spelling reaches the trust
// rules, though viper folds the keys it reads.
func TestLoadKeepsClaimNames(t *testing.T) {
	c := mustLoad(t, `federation:
  issuers:
    - issuer: https://api.bitbucket.org/2.0/workspaces/acme/pipelines-config/identity/oidc
      audiences: [tollgate]
      rules:
        - claims: {repositoryUuid: "{7c9d}", branchName: [main, "release/*"], "/kubernetes.io/Namespace": ci}
          subject: "ci:bitbucket:${repositoryUuid}"
`)
	want := map[string]any{"repositoryUuid": "{7c9d}", "branchName": []any{"main", "release/*"}, "/kubernetes.io/Namespace": "ci"}
	if got := c.Federation.Issuers[0].Rules[0].Claims; !reflect.DeepEqual(got, want) {
		t.Errorf("claims = %#v, want %#v", got, want)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}
