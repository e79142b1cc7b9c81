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
		Short: "Load and validate a configuration file, printing every problem",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := loadConfig(path); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok\n", path)
			return nil
		},
	}
	check.Flags().StringVarP(&path, "config", "c", config.DefaultFile, "configuration file")
	cmd.AddCommand(check)
	return cmd
}

// loadConfig loads and validates the file.
func loadConfig(path string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}
