package config

import (
	"fmt"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// restoreClaimNames puts back the claim names of the trust rules
// (federation.issuers[].rules[].claims) as the file spells them. viper
// folds every key it reads to lower case, lists' maps included, but claim
// names are case-sensitive JSON member names (RFC 7519 §4): folded, a rule
// on Bitbucket Pipelines' repositoryUuid would match no token. Only a map
// whose folded keys are those viper decoded is replaced.
func restoreClaimNames(c *Config, file string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("read config %s: %w", file, err)
	}
	var raw struct {
		Federation struct {
			Issuers []struct {
				Rules []struct {
					Claims map[string]any `yaml:"claims"`
				} `yaml:"rules"`
			} `yaml:"issuers"`
		} `yaml:"federation"`
	}
	if yaml.Unmarshal(b, &raw) != nil {
		return nil // a shape viper read and this does not: its reading stays
	}
	issuers := c.Federation.Issuers
	for i := range min(len(raw.Federation.Issuers), len(issuers)) {
		rules := issuers[i].Rules
		for j, r := range raw.Federation.Issuers[i].Rules[:min(len(raw.Federation.Issuers[i].Rules), len(rules))] {
			if sameFolded(r.Claims, rules[j].Claims) {
				rules[j].Claims = r.Claims
			}
		}
	}
	return nil
}

// sameFolded reports whether folded holds exactly the keys of m, lower-cased.
func sameFolded(m, folded map[string]any) bool {
	if len(m) != len(folded) {
		return false
	}
	for k := range m {
		if _, ok := folded[strings.ToLower(k)]; !ok {
			return false
		}
	}
	return true
}
