package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/tollgate/tollgate/pkg/audit"
	"github.com/tollgate/tollgate/pkg/authn/federation"
	"github.com/tollgate/tollgate/pkg/authz"
	"github.com/tollgate/tollgate/pkg/store"
)

// newWorkloadsCommand is `tollgate workloads`: the operator's side of
// identity-token federation.
func newWorkloadsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "workloads",
		Short: "Check identity tokens against the trust policies, and end what a workload holds",
		Long: `Workloads are CI jobs and pods that log in with an OIDC identity token of an
issuer that federation.issuers trusts. Their access tokens live token.expiration;
the refresh tokens they get with access_type=offline (docker login) end when
their trust rule is removed or changed, or with 'tollgate workloads revoke'.`,
	}
	revoke := &cobra.Command{
		Use:   "revoke NAME",
		Short: "Revoke the refresh tokens issued to the workload NAME (e.g. ci:github:acme/app)",
		Args:  cobra.ExactArgs(1),
		RunE:  func(cmd *cobra.Command, args []string) error { return revokeWorkload(cmd, args[0]) },
	}
	test := &cobra.Command{
		Use:   "test TOKEN|-",
		Short: "Verify an identity token (- reads it from stdin) and print the workload it stands for, or why it is refused",
		Args:  cobra.ExactArgs(1),
		RunE:  func(cmd *cobra.Command, args []string) error { return testWorkload(cmd, args[0]) },
	}
	cmd.AddCommand(revoke, test)
	return cmd
}

// revokeWorkload revokes the workload's refresh tokens in the store of
// --config and audits it.
func revokeWorkload(cmd *cobra.Command, name string) error {
	_, st, err := operatorStore(cmd)
	if err != nil {
		return err
	}
	defer st.Close()
	now := time.Now()
	n, err := st.RevokeWorkloadRefreshTokens(cmd.Context(), name, now)
	if err != nil {
		return err
	}
	ev := store.AuditEvent{Time: now, Kind: audit.WorkloadTokensRevoked, Subject: cliActor,
		Detail: fmt.Sprintf("workload=%s refresh_tokens=%d", name, n)}
	if err := st.AppendAudit(cmd.Context(), []store.AuditEvent{ev}); err != nil {
		return fmt.Errorf("revoked %d refresh tokens, but the audit event was not written: %w", n, err)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "workload %q: revoked %d refresh tokens\n", name, n)
	return nil
}

// testWorkload verifies an identity token against the trust policies of
// --config, fetching the issuer's keys as the server would, and prints the
// workload, the rule and the claims it carries, or why it is refused.
func testWorkload(cmd *cobra.Command, arg string) error {
	cfg, err := loadConfig(operatorConfigPath(cmd))
	if err != nil {
		return err
	}
	if len(cfg.Federation.Issuers) == 0 {
		return errors.New("federation.issuers is empty: no issuer is trusted")
	}
	raw, err := readToken(cmd.InOrStdin(), arg)
	if err != nil {
		return err
	}
	acl, err := authz.Compile(cfg.ACL)
	if err != nil {
		return err
	}
	fed, err := federation.New(cfg.Federation, federation.Options{ACLClaims: acl.Claims})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
	defer cancel()
	id, err := fed.Verify(ctx, raw)
	if err != nil {
		return err
	}
	out := map[string]any{"name": id.Name, "kind": id.Kind, "rule": id.Attrs.Rule, "claims": id.Attrs.Claims}
	enc := json.NewEncoder(cmd.OutOrStdout())
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
