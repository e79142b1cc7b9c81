package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tollgate/tollgate/pkg/config"
)

func newConfigCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Work with configuration files"}
	check := &cobra.Command{
		Use:   "check",
		Short: "Load and validate a configuration file and the TOLLGATE_* variables, printing every problem",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(configPath(cmd))
			if err != nil {
				return err
			}
			src, _ := cfg.Source()
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok\n", src)
			return nil
		},
	}
	cmd.AddCommand(check)
	return cmd
}

// configFlag is the root command's persistent --config (-c), which every
// subcommand reads, so that `tollgate --config x.yaml users list` and
// `tollgate users list --config x.yaml` are the same.
const configFlag = "config"

// configFlagUsage describes --config: the operator commands need a file;
// serve and config check can run without one.
const configFlagUsage = "configuration file (default " + config.DefaultFile + "; serve and config check, " +
	"when it does not exist, run on the defaults and the " + config.EnvPrefix + "_* variables alone)"

// addConfigFlag puts --config on root, for every subcommand.
func addConfigFlag(root *cobra.Command) {
	root.PersistentFlags().StringP(configFlag, "c", "", configFlagUsage)
}

// configPath returns --config as given on cmd's command line, "" when it
// is not: loadConfig then takes config.Locate's choice (serve, config check).
func configPath(cmd *cobra.Command) string {
	path, _ := cmd.Flags().GetString(configFlag)
	return path
}

// operatorConfigPath is --config for the operator commands (users, keys,
// acl, clients, token, audit), which read a file: config.DefaultFile when
// none is given, and it must then exist.
func operatorConfigPath(cmd *cobra.Command) string {
	if path := configPath(cmd); path != "" {
		return path
	}
	return config.DefaultFile
}

// loadConfig loads and validates the configuration that --config path
// names (config.Locate) with the environment's overrides.
func loadConfig(path string) (*config.Config, error) {
	return loadSource(config.Locate(path))
}

// loadSource loads and validates the configuration of src.
func loadSource(src config.Source) (*config.Config, error) {
	cfg, err := src.Load()
	if err != nil {
		return nil, err
	}
	if err := errors.Join(cfg.Validate(), checkBackends(cfg)); err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	return cfg, nil
}

// configOrigin names where cfg was loaded from, for the log.
func configOrigin(cfg *config.Config) string {
	if src, ok := cfg.Source(); ok {
		return src.String()
	}
	return "built in code"
}
