package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/bcrypt"

	"github.com/tollgate/tollgate/pkg/authn/client"
	"github.com/tollgate/tollgate/pkg/store"
)

// Bounds of a client secret read from stdin; generated ones are 26
// characters of base32 (130 bits).
const (
	minClientSecret = 16
	maxClientSecret = 72 // bcrypt uses at most 72 bytes
)

type clientsFlags struct {
	audiences   []string
	scopes      []string
	description string
	secretStdin bool
}

func newClientsCommand() *cobra.Command {
	f := &clientsFlags{}
	cmd := &cobra.Command{
		Use:   "clients",
		Short: "Register, list and remove the confidential clients of the client_credentials grant",
		Long: `Manage the OAuth2 clients (internal services) that get engine tokens with
grant_type=client_credentials at /v1/oauth/token. They live in the store of
--config; secrets are kept as bcrypt hashes (users.bcrypt_cost) and never
printed, except a generated secret, once, when the client is added.`,
	}
	add := &cobra.Command{
		Use:   "add NAME",
		Short: "Register a client; prints a generated secret once unless --secret-stdin",
		Args:  cobra.ExactArgs(1),
		RunE:  func(cmd *cobra.Command, args []string) error { return f.add(cmd, args[0]) },
	}
	add.Flags().StringArrayVar(&f.audiences, "audience", nil, "an audience (service) the client may ask tokens for; repeat for more")
	add.Flags().StringArrayVar(&f.scopes, "scope", nil, "a scope the client may ask for; repeat for more")
	add.Flags().StringVar(&f.description, "description", "", "free text for operators")
	add.Flags().BoolVar(&f.secretStdin, "secret-stdin", false, "read the secret from the first line of stdin instead of generating one")
	list := &cobra.Command{
		Use:   "list",
		Short: "Print the clients with their audiences and scopes",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return f.list(cmd) },
	}
	remove := &cobra.Command{
		Use:   "remove NAME",
		Short: "Remove a client; its tokens stay valid until they expire",
		Args:  cobra.ExactArgs(1),
		RunE:  func(cmd *cobra.Command, args []string) error { return f.remove(cmd, args[0]) },
	}
	cmd.AddCommand(add, list, remove)
	return cmd
}

func (f *clientsFlags) add(cmd *cobra.Command, name string) error {
	if err := client.CheckName(name); err != nil {
		return err
	}
	for _, a := range f.audiences {
		if err := checkScopeToken("--audience", a); err != nil {
			return err
		}
	}
	for _, s := range f.scopes {
		if err := checkScopeToken("--scope", s); err != nil {
			return err
		}
	}
	cfg, st, err := operatorStore(cmd)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := client.CheckNotUser(cmd.Context(), name, cfg.Users.Htpasswd, st); err != nil {
		return err
	}
	secret, generated, err := f.secret(cmd)
	if err != nil {
		return err
	}
	defer clear(secret)
	hash, err := bcrypt.GenerateFromPassword(secret, cfg.Users.BcryptCost)
	if err != nil {
		return fmt.Errorf("hash the secret: %w", err)
	}
	err = st.CreateClient(cmd.Context(), store.Client{
		ID: name, SecretHash: string(hash), Audiences: f.audiences, Scopes: f.scopes,
		Description: f.description, CreatedAt: time.Now().UTC(),
	})
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("client %q exists; remove it first to replace it", name)
	}
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "added client %q (audiences: %s; scopes: %s)\n", name, listOrNone(f.audiences), listOrNone(f.scopes))
	if generated {
		fmt.Fprintf(out, "client_secret: %s\n(shown once: store it now)\n", secret)
	}
	return nil
}

// secret reads the secret (--secret-stdin) or generates one.
func (f *clientsFlags) secret(cmd *cobra.Command) (secret []byte, generated bool, err error) {
	if !f.secretStdin {
		return []byte(rand.Text()), true, nil
	}
	line, err := readLine(cmd.InOrStdin())
	if err != nil {
		return nil, false, err
	}
	switch {
	case len(line) < minClientSecret:
		clear(line)
		return nil, false, fmt.Errorf("secret too short: use at least %d characters", minClientSecret)
	case len(line) > maxClientSecret:
		clear(line)
		return nil, false, fmt.Errorf("secret too long: bcrypt uses at most %d bytes", maxClientSecret)
	}
	return line, false, nil
}

func (f *clientsFlags) list(cmd *cobra.Command) error {
	_, st, err := operatorStore(cmd)
	if err != nil {
		return err
	}
	defer st.Close()
	clients, err := st.ListClients(cmd.Context())
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tAUDIENCES\tSCOPES\tCREATED\tDESCRIPTION")
	for _, c := range clients {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.ID, listOrNone(c.Audiences), listOrNone(c.Scopes),
			c.CreatedAt.UTC().Format(time.RFC3339), c.Description)
	}
	return tw.Flush()
}

func (f *clientsFlags) remove(cmd *cobra.Command, name string) error {
	_, st, err := operatorStore(cmd)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.DeleteClient(cmd.Context(), name); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no client %q", name)
	} else if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "removed client %q\n", name)
	return nil
}

// checkScopeToken enforces RFC 6749 §3.3's scope-token (printable ASCII
// without space, '"' or '\').
func checkScopeToken(flag, v string) error {
	if v == "" {
		return fmt.Errorf("%s: empty value", flag)
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c <= 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return fmt.Errorf("%s %q: use printable ASCII without spaces, quotes or backslashes (RFC 6749 §3.3)", flag, v)
		}
	}
	return nil
}

func listOrNone(l []string) string {
	if len(l) == 0 {
		return "-"
	}
	return strings.Join(l, ",")
}
