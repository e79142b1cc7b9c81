package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tollgate/tollgate/pkg/config"
)

func newConfigCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Work with configuration files"}
	var path string
	check := &cobra.Command{
		Use:   "check",
		Short: "Load and validate a configuration file and the TOLLGATE_* variables, printing every problem",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(path)
			if err != nil {
				return err
			}
			src, _ := cfg.Source()
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok\n", src)
			return nil
		},
	}
	check.Flags().StringVarP(&path, "config", "c", "", configFlagUsage)
	cmd.AddCommand(check)
	return cmd
}

// configFlagUsage describes --config of the commands that can run without
// a file (serve, config check).
const configFlagUsage = "configuration file (default " + config.DefaultFile +
	" when it exists; without it, the defaults and the " + config.EnvPrefix + "_* variables alone)"

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
	if err := cfg.Validate(); err != nil {
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
