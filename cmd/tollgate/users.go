package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/term"

	"github.com/tollgate/tollgate/pkg/accounts"
	"github.com/tollgate/tollgate/pkg/audit"
	"github.com/tollgate/tollgate/pkg/authn/htpasswd"
	"github.com/tollgate/tollgate/pkg/config"
	"github.com/tollgate/tollgate/pkg/store"
)

const (
	minPasswordChars = 8
	maxPasswordBytes = 72 // bcrypt ignores (x/crypto/bcrypt refuses) anything longer
)

var (
	errUserExists = errors.New("already exists")
	errNoSuchUser = errors.New("not found")
)

// usersFlags holds the flags of `tollgate users` and its subcommands.
type usersFlags struct {
	htpasswd      string
	cost          int
	passwordStdin bool
	email         string
	addType       string
	setType       string
	kinds         []string
}

// cliActor is the audit subject of changes made with `tollgate users`.
const cliActor = "(cli)"

func newUsersCommand() *cobra.Command {
	f := &usersFlags{}
	cmd := &cobra.Command{
		Use:   "users",
		Short: "Add, change, disable, remove and list users, and end what they hold",
		Long: `Manage the bcrypt htpasswd file named by users.htpasswd (or --htpasswd)
without apache2-utils, and the users' accounts in the store of --config.
Changes replace the file atomically under a lock (FILE.lock); a running
server reloads it by itself. A new password ends the user's refresh tokens;
removing a user ends everything the user held; disable refuses every
credential of the user until enable. Passwords and hashes are never printed.`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.htpasswd, "htpasswd", "", "htpasswd file (default: users.htpasswd of --config)")
	pf.IntVar(&f.cost, "cost", config.MinBcryptCost, "bcrypt cost; overrides users.bcrypt_cost and applies when --config cannot be loaded")

	add := nameCommand("add NAME", "Add a user; fails if the user exists", f.add)
	passwd := nameCommand("passwd NAME", "Change a user's password; fails if the user does not exist", f.passwd)
	for _, c := range []*cobra.Command{add, passwd} {
		c.Flags().BoolVar(&f.passwordStdin, "password-stdin", false, "read the password from the first line of stdin instead of prompting twice")
	}
	set := nameCommand("set NAME", "Change a user's email address or account type", f.set)
	add.Flags().StringVar(&f.email, "email", "", "the user's email address (/v1/account)")
	add.Flags().StringVar(&f.addType, "type", store.AccountUser, "account type: admin, user or service")
	set.Flags().StringVar(&f.email, "email", "", "the user's email address (/v1/account)")
	set.Flags().StringVar(&f.setType, "type", "", "account type: admin, user or service")
	disable := nameCommand("disable NAME", "Refuse the user's password, refresh tokens and API tokens until enabled again",
		func(cmd *cobra.Command, name string) error { return f.setEnabled(cmd, name, false) })
	enable := nameCommand("enable NAME", "Let a disabled user in again",
		func(cmd *cobra.Command, name string) error { return f.setEnabled(cmd, name, true) })
	revoke := nameCommand("revoke-tokens NAME", "Revoke the user's refresh tokens, engine tokens and API tokens (--kind to choose)", f.revokeTokens)
	revoke.Flags().StringSliceVar(&f.kinds, "kind", nil,
		"kinds to revoke, repeatable or comma-separated: refresh (Docker identity tokens), engine (engine refresh and access tokens), api (API tokens); default all")
	remove := nameCommand("remove NAME", "Remove a user; fails if the user does not exist", f.remove)
	list := &cobra.Command{
		Use:   "list",
		Short: "Print the user names, one a line, in file order",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return f.list(cmd) },
	}
	cmd.AddCommand(add, passwd, set, remove, list, disable, enable, revoke)
	return cmd
}

// nameCommand returns the subcommand use ("verb NAME") that runs run on
// its one argument, the user's name.
func nameCommand(use, short string, run func(cmd *cobra.Command, name string) error) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE:  func(cmd *cobra.Command, args []string) error { return run(cmd, args[0]) },
	}
}

func (f *usersFlags) add(cmd *cobra.Command, name string) error {
	if err := htpasswd.ValidateUser(name); err != nil {
		return err
	}
	path, cost, err := f.userFile(cmd, name, false)
	if err != nil {
		return err
	}
	accts, done, err := f.accounts(cmd, path)
	if err != nil {
		return err
	}
	defer done()
	if err := notAClient(cmd, accts, name); err != nil {
		return err
	}
	hash, err := f.hash(cmd, name, cost)
	if err != nil {
		return err
	}
	// The account first: an account left under this name (a user removed
	// while no server watched) is ended, so the new user starts with nothing.
	if accts != nil {
		if _, err := accts.Create(cmd.Context(), name, f.email, f.addType, cliActor); err != nil {
			return err
		}
	}
	err = changeUser(path, name, false, func(entries []htpasswd.Entry, _ int) []htpasswd.Entry {
		return append(entries, htpasswd.Entry{User: name, Hash: hash})
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "added user %q to %s\n", name, path)
	return nil
}

func (f *usersFlags) passwd(cmd *cobra.Command, name string) error {
	path, cost, err := f.userFile(cmd, name, true)
	if err != nil {
		return err
	}
	hash, err := f.hash(cmd, name, cost)
	if err != nil {
		return err
	}
	// The old password's refresh tokens end first: a watching server then
	// finds nothing left to end (they are refused all the same once the
	// file changes, whatever happens here).
	r, err := f.endThenChange(cmd, path, name, func(accts *accounts.Service) (store.Revoked, error) {
		return accts.PasswordChangedTo(cmd.Context(), name, htpasswd.EpochOf(hash), cliActor, true)
	}, func(entries []htpasswd.Entry, i int) []htpasswd.Entry {
		entries[i].Hash = hash
		return entries
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "changed the password of user %q in %s; ended %d refresh tokens and %d engine refresh tokens of the old one\n",
		name, path, r.RefreshTokens, r.EngineRefreshTokens)
	return nil
}

func (f *usersFlags) remove(cmd *cobra.Command, name string) error {
	path, _, err := f.userFile(cmd, name, true)
	if err != nil {
		return err
	}
	r, err := f.endThenChange(cmd, path, name, func(accts *accounts.Service) (store.Revoked, error) {
		r, _, err := accts.Remove(cmd.Context(), name, cliActor, "tollgate users remove")
		return r, err
	}, func(entries []htpasswd.Entry, i int) []htpasswd.Entry {
		return slices.Delete(entries, i, i+1)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "removed user %q from %s; %s\n", name, path, revokedText(r))
	return nil
}

func (f *usersFlags) set(cmd *cobra.Command, name string) error {
	accts, done, err := f.userAccounts(cmd, name)
	if err != nil {
		return err
	}
	defer done()
	var p accounts.Profile
	if cmd.Flags().Changed("email") {
		p.Email = &f.email
	}
	if cmd.Flags().Changed("type") {
		p.Type = &f.setType
	}
	if p.Email == nil && p.Type == nil {
		return errors.New("nothing to change: give --email or --type")
	}
	acct, err := accts.Update(cmd.Context(), name, p, cliActor)
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "user %q: type %s, email %q\n", name, acct.Type, acct.Email)
	return nil
}

func (f *usersFlags) setEnabled(cmd *cobra.Command, name string, enabled bool) error {
	accts, done, err := f.userAccounts(cmd, name)
	if err != nil {
		return err
	}
	defer done()
	acct, err := accts.SetEnabled(cmd.Context(), name, enabled, cliActor)
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "user %q is %s\n", name, acct.State)
	return nil
}

func (f *usersFlags) revokeTokens(cmd *cobra.Command, name string) error {
	kinds, err := accounts.ParseKinds(f.kinds)
	if err != nil {
		return err
	}
	accts, done, err := f.userAccounts(cmd, name)
	if err != nil {
		return err
	}
	defer done()
	r, err := accts.RevokeTokens(cmd.Context(), name, kinds, cliActor)
	if errors.Is(err, accounts.ErrNotFound) {
		fmt.Fprintf(cmd.OutOrStdout(), "user %q holds nothing to revoke\n", name)
		return nil
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "user %q: %s\n", name, revokedText(r))
	return nil
}

// revokedText says what a revocation ended.
func revokedText(r store.Revoked) string {
	return fmt.Sprintf("revoked %d refresh tokens, %d engine refresh tokens, %d API tokens",
		r.RefreshTokens, r.EngineRefreshTokens, r.APITokens)
}

// accounts opens the account service over the store of --config, with the
// users of the htpasswd file at path. Without a usable configuration it
// returns nil: the file alone is changed, and a running server brings the
// accounts in line when it sees the file change. done closes the store.
func (f *usersFlags) accounts(cmd *cobra.Command, path string) (*accounts.Service, func(), error) {
	cfg, err := loadConfig(operatorConfigPath(cmd))
	if err != nil {
		fmt.Fprintln(cmd.ErrOrStderr(), "note: no configuration to find the store: only the htpasswd file is changed")
		return nil, func() {}, nil
	}
	st, err := openStore(cmd.Context(), cfg.Store)
	if err != nil {
		return nil, nil, err
	}
	var users accounts.Users
	if file, err := htpasswd.Load(path, nil); err == nil {
		users = file
	}
	logger := slog.New(slog.DiscardHandler)
	return &accounts.Service{Store: st, Users: users, Admins: cfg.Users.Admins, Sessions: st,
		Audit: audit.NewRecorder(st, logger), Logger: logger}, func() { st.Close() }, nil
}

// userAccounts is accounts for a command about an existing user: name
// must be in the htpasswd file, unless users.backends lists another user
// source (a directory, whose users the file does not hold), and the store
// is required.
func (f *usersFlags) userAccounts(cmd *cobra.Command, name string) (*accounts.Service, func(), error) {
	path, _, err := f.userFile(cmd, name, true)
	if err != nil && !otherBackends(cmd) {
		return nil, nil, err
	}
	accts, done, err := f.accounts(cmd, path)
	if err == nil && accts == nil {
		err = errors.New("this command changes the store: give --config with the server's configuration")
	}
	return accts, done, err
}

// otherBackends reports whether the configuration of --config lists a user
// source besides the htpasswd file (a directory, OpenID Connect sign-in).
func otherBackends(cmd *cobra.Command) bool {
	cfg, err := loadConfig(operatorConfigPath(cmd))
	return err == nil && (slices.ContainsFunc(cfg.Users.Backends, func(b string) bool { return b != "htpasswd" }) ||
		(cfg.UI.Enabled && len(cfg.UI.OIDC) > 0))
}

// notAClient refuses a user name that is a registered client's: users and
// clients are separate namespaces, so a client's sub never equals a user's.
func notAClient(cmd *cobra.Command, accts *accounts.Service, name string) error {
	if accts == nil {
		return nil
	}
	clients, ok := accts.Store.(store.Clients)
	if !ok {
		return nil
	}
	_, err := clients.Client(cmd.Context(), name)
	switch {
	case err == nil:
		return fmt.Errorf("user %q: a registered client has that name (tollgate clients list); users and clients need distinct names", name)
	case errors.Is(err, store.ErrNotFound):
		return nil
	}
	return err
}

// userFile is target for a command about name, after checking that name's
// presence in the file is as exists says.
func (f *usersFlags) userFile(cmd *cobra.Command, name string, exists bool) (path string, cost int, err error) {
	if path, cost, err = f.target(cmd); err != nil {
		return "", 0, err
	}
	return path, cost, expectUser(path, name, exists)
}

// endThenChange ends in the store what end ends, then changes name's
// entry of the htpasswd file at path, which must hold it. Without a
// usable configuration there is no store to end anything in, and a user
// the store holds no account for yet has nothing there to end.
func (f *usersFlags) endThenChange(cmd *cobra.Command, path, name string,
	end func(*accounts.Service) (store.Revoked, error),
	change func([]htpasswd.Entry, int) []htpasswd.Entry) (store.Revoked, error) {
	accts, done, err := f.accounts(cmd, path)
	if err != nil {
		return store.Revoked{}, err
	}
	defer done()
	var r store.Revoked
	if accts != nil {
		if r, err = end(accts); err != nil && !errors.Is(err, accounts.ErrNotFound) {
			return store.Revoked{}, err
		}
	}
	return r, changeUser(path, name, true, change)
}

// expectUser fails unless name's presence in the file is as expected; it
// runs before any password prompt.
func expectUser(path, name string, exists bool) error {
	found, err := hasUser(path, name)
	if err != nil {
		return err
	}
	return presence(path, name, found, exists)
}

// changeUser applies change under the file's lock, checking again that
// name's presence is as expected (another run may have changed the file
// since expectUser). change gets name's index, -1 when absent.
func changeUser(path, name string, exists bool, change func([]htpasswd.Entry, int) []htpasswd.Entry) error {
	return htpasswd.Update(path, func(entries []htpasswd.Entry) ([]htpasswd.Entry, error) {
		i := indexOf(entries, name)
		if err := presence(path, name, i >= 0, exists); err != nil {
			return nil, err
		}
		return change(entries, i), nil
	})
}

func presence(path, name string, found, want bool) error {
	switch {
	case found && !want:
		return userError(path, name, errUserExists)
	case !found && want:
		return userError(path, name, errNoSuchUser)
	}
	return nil
}

func (f *usersFlags) list(cmd *cobra.Command) error {
	path, _, err := f.target(cmd)
	if err != nil {
		return err
	}
	entries, err := htpasswd.Entries(path)
	if err != nil {
		return err
	}
	out := bufio.NewWriter(cmd.OutOrStdout())
	for _, e := range entries {
		fmt.Fprintln(out, e.User)
	}
	return out.Flush()
}

// target returns the htpasswd file and the bcrypt cost: --htpasswd, else
// users.htpasswd of --config; --cost when given, else users.bcrypt_cost.
// Without a usable configuration, --htpasswd is required and the cost is
// --cost's (default 10).
func (f *usersFlags) target(cmd *cobra.Command) (path string, cost int, err error) {
	costGiven := cmd.Flags().Changed("cost")
	if costGiven && (f.cost < config.MinBcryptCost || f.cost > config.MaxBcryptCost) {
		return "", 0, fmt.Errorf("--cost: %d must be between %d and %d", f.cost, config.MinBcryptCost, config.MaxBcryptCost)
	}
	cfg, err := loadConfig(operatorConfigPath(cmd))
	switch {
	case err == nil:
		path, cost = cfg.Users.Htpasswd, cfg.Users.BcryptCost
	case f.htpasswd == "":
		return "", 0, fmt.Errorf("%w\n(name the htpasswd file with --htpasswd to work without a configuration)", err)
	default:
		cost = f.cost
	}
	if f.htpasswd != "" {
		path = f.htpasswd
	}
	if costGiven {
		cost = f.cost
	}
	return path, cost, nil
}

// hash asks for name's new password and returns its bcrypt hash at cost.
func (f *usersFlags) hash(cmd *cobra.Command, name string, cost int) (string, error) {
	password, err := f.readPassword(cmd, name)
	if err != nil {
		return "", err
	}
	defer clear(password)
	if err := checkPassword(password); err != nil {
		return "", err
	}
	hash, err := bcrypt.GenerateFromPassword(password, cost)
	if err != nil {
		return "", fmt.Errorf("hash the password: %w", err)
	}
	return string(hash), nil
}

// readPassword reads one line of stdin with --password-stdin; otherwise it
// prompts twice on the terminal without echo, and refuses a stdin that is
// not a terminal (so a script cannot hang on a prompt).
func (f *usersFlags) readPassword(cmd *cobra.Command, name string) ([]byte, error) {
	in := cmd.InOrStdin()
	if f.passwordStdin {
		return readLine(in)
	}
	file, ok := in.(*os.File)
	if !ok || !term.IsTerminal(int(file.Fd())) {
		return nil, errors.New("stdin is not a terminal: pipe the password in with --password-stdin")
	}
	fd, prompt := int(file.Fd()), cmd.ErrOrStderr()
	fmt.Fprintf(prompt, "New password for %q: ", name)
	password, err := term.ReadPassword(fd)
	fmt.Fprintln(prompt)
	if err != nil {
		return nil, fmt.Errorf("read the password: %w", err)
	}
	fmt.Fprint(prompt, "Retype the password: ")
	again, err := term.ReadPassword(fd)
	fmt.Fprintln(prompt)
	defer clear(again)
	if err != nil {
		clear(password)
		return nil, fmt.Errorf("read the password: %w", err)
	}
	if !bytes.Equal(password, again) {
		clear(password)
		return nil, errors.New("the passwords do not match")
	}
	return password, nil
}

// readLine returns the first line of r without its line ending.
func readLine(r io.Reader) ([]byte, error) {
	line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadBytes('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read the password from stdin: %w", err)
	}
	line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
	return line, nil
}

// checkPassword refuses passwords bcrypt cannot hash whole, and short ones.
// The messages never include the password.
func checkPassword(password []byte) error {
	switch {
	case len(password) == 0:
		return errors.New("empty password")
	case utf8.RuneCount(password) < minPasswordChars:
		return fmt.Errorf("password too short: use at least %d characters", minPasswordChars)
	case len(password) > maxPasswordBytes:
		return fmt.Errorf("password too long: bcrypt uses at most %d bytes", maxPasswordBytes)
	}
	return nil
}

// hasUser reports whether the file lists name; a missing file lists no one.
func hasUser(path, name string) (bool, error) {
	entries, err := htpasswd.Entries(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return indexOf(entries, name) >= 0, nil
}

func indexOf(entries []htpasswd.Entry, name string) int {
	return slices.IndexFunc(entries, func(e htpasswd.Entry) bool { return e.User == name })
}

func userError(path, name string, err error) error {
	return fmt.Errorf("user %q %w in %s", name, err, path)
}
