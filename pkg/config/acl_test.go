package config_test

import (
	"testing"

	"github.com/tollgate/tollgate/pkg/config"
)

// A rule's group and its ${labels:NAME} name load from YAML and from
// TOLLGATE_ACL (their problems: TestValidateSingleProblems).
func TestACLGroupsAndLabels(t *testing.T) {
	path := writeConfig(t, `acl:
  - {account: "*", group: "team-*", type: repository, name: "teams/${labels:team}/*", actions: [pull]}
`)
	c, err := config.Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if len(c.ACL) != 1 || c.ACL[0].Group != "team-*" || c.ACL[0].Name != "teams/${labels:team}/*" {
		t.Fatalf("acl = %v, want the group and the label pattern", c.ACL)
	}
	t.Setenv("TOLLGATE_ACL", `[{"account":"*","group":"ops","actions":["pull"]}]`)
	if c, err = config.Load(path); err != nil || len(c.ACL) != 1 || c.ACL[0].Group != "ops" {
		t.Fatalf("Load with TOLLGATE_ACL = %v, %v; want the group ops", c, err)
	}
}
