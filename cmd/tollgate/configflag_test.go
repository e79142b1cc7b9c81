package main

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/tollgate/tollgate/pkg/config"
)

// --config is one persistent flag of the root command: it may be written
// before or after the subcommand, long or short, and reaches every
// subcommand that reads a configuration.
func TestConfigFlagAnywhere(t *testing.T) {
	clearTollgateEnv(t)
	dir := t.TempDir()
	htpasswdPath := filepath.Join(dir, "htpasswd")
	writeHtpasswd(t, htpasswdPath, map[string]string{"zoe": "zoe-password-1"})
	cfg := writeUsersConfig(t, htpasswdPath, config.MinBcryptCost)
	acl := writeACLFile(t, "acl.yaml", "acl:\n  - {account: zoe, actions: [pull]}\n")
	tests := []struct {
		name string
		args []string
		want string // in the output
	}{
		{"users, flag after", []string{"users", "list", "--config", cfg}, "zoe\n"},
		{"users, flag before", []string{"--config", cfg, "users", "list"}, "zoe\n"},
		{"users, short flag before", []string{"-c", cfg, "users", "list"}, "zoe\n"},
		{"users, flag between", []string{"users", "--config=" + cfg, "list"}, "zoe\n"},
		{"acl explain, flag before", []string{"--config", acl, "acl", "explain", "--account", "zoe", "--scope", "repository:a/b:pull"},
			"decided by rule 0"},
		{"acl explain, flag after", []string{"acl", "explain", "--account", "zoe", "--scope", "repository:a/b:pull", "-c", acl},
			"decided by rule 0"},
		{"clients, flag before", []string{"--config", cfg, "clients", "list"}, "NAME"},
		{"config check, flag before", []string{"--config", acl, "config", "check"}, acl + ": ok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runCLI(t, "", tt.args...)
			if err != nil || !strings.Contains(out, tt.want) {
				t.Errorf("tollgate %s: %v, output %q; want %q", strings.Join(tt.args, " "), err, out, tt.want)
			}
		})
	}
}

// Without --config the operator commands read config.DefaultFile, which
// must exist (they change files and stores: no guessing).
func TestOperatorCommandsNeedTheDefaultFile(t *testing.T) {
	clearTollgateEnv(t)
	t.Chdir(t.TempDir())
	for _, args := range [][]string{
		{"acl", "explain", "--account", "zoe", "--scope", "repository:a/b:pull"},
		{"clients", "list"},
		{"keys", "list"},
		{"audit", "tail"},
	} {
		if _, err := runCLI(t, "", args...); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), config.DefaultFile) {
			t.Errorf("tollgate %s without %s: %v, want fs.ErrNotExist naming it", strings.Join(args, " "), config.DefaultFile, err)
		}
	}
}

// No subcommand defines a --config (or -c) of its own, which would
// shadow the root's.
func TestNoSubcommandDefinesConfig(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if sub.LocalNonPersistentFlags().Lookup(configFlag) != nil || sub.PersistentFlags().Lookup(configFlag) != nil ||
				sub.LocalNonPersistentFlags().ShorthandLookup("c") != nil || sub.PersistentFlags().ShorthandLookup("c") != nil {
				t.Errorf("%q defines its own --config or -c", sub.CommandPath())
			}
			walk(sub)
		}
	}
	root := newRootCommand()
	if root.PersistentFlags().Lookup(configFlag) == nil {
		t.Fatal("the root command has no persistent --config")
	}
	walk(root)
}
