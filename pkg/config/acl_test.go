package config_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/pkg/config"
)

// A rule's group and its ${labels:NAME} name load from YAML and from
// TOLLGATE_ACL, and their problems are reported under acl[i].group and
// acl[i].name.
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

func TestValidateACLGroupsAndLabels(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *config.Config)
		want   []string // keys of the problems, in order
	}{
		{"variable in group", func(c *config.Config) { c.ACL[1].Group = "${account}" }, []string{"acl[1].group"}},
		{"group on an anonymous rule", func(c *config.Config) { c.ACL[3].Group = "ops" }, []string{"acl[3].group"}},
		{"label without a name", func(c *config.Config) { c.ACL[2].Name = "${labels:}/*" }, []string{"acl[2].name"}},
		{"both", func(c *config.Config) { c.ACL[0].Group = "${labels:team}"; c.ACL[1].Name = "${label:team}/*" },
			[]string{"acl[0].group", "acl[1].name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid(t)
			tt.mutate(c)
			err := c.Validate()
			if !errors.Is(err, config.ErrInvalid) {
				t.Fatalf("Validate = %v, want ErrInvalid", err)
			}
			var keys []string
			for _, p := range config.Problems(err) {
				key, _, _ := strings.Cut(p, ":")
				keys = append(keys, key)
			}
			if !slices.Equal(keys, tt.want) {
				t.Errorf("problems %q, want keys %q", config.Problems(err), tt.want)
			}
		})
	}
}
