// Command tollgate is the Tollgate token server and its operator CLI.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// version is set at build time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	if err := newRootCommand().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "tollgate:", err)
		os.Exit(exitCode(err))
	}
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "tollgate",
		Short:         "Token server for container registries and the services around them",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	addConfigFlag(root)
	root.AddCommand(newServeCommand(), newConfigCommand(), newVersionCommand(), newAuditCommand(), newUsersCommand(), newACLCommand(), newTokenCommand(), newKeysCommand(), newClientsCommand(), newWorkloadsCommand())
	return root
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "tollgate", version)
		},
	}
}
