package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/term"

	"github.com/tollgate/tollgate/pkg/authn/htpasswd"
	"github.com/tollgate/tollgate/pkg/config"
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
	config        string
	htpasswd      string
	cost          int
	passwordStdin bool
}

func newUsersCommand() *cobra.Command {
	f := &usersFlags{}
	cmd := &cobra.Command{
		Use:   "users",
		Short: "Add, change, remove and list the users of the htpasswd file",
		Long: `Manage the bcrypt htpasswd file named by users.htpasswd (or --htpasswd)
without apache2-utils. Changes replace the file atomically under a lock
(FILE.lock); a running server reloads it by itself. Passwords and hashes are
never printed.`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVarP(&f.config, "config", "c", config.DefaultFile, "configuration file giving users.htpasswd and users.bcrypt_cost")
	pf.StringVar(&f.htpasswd, "htpasswd", "", "htpasswd file (default: users.htpasswd of --config)")
	pf.IntVar(&f.cost, "cost", config.MinBcryptCost, "bcrypt cost; overrides users.bcrypt_cost and applies when --config cannot be loaded")

	add := &cobra.Command{
		Use:   "add NAME",
		Short: "Add a user; fails if the user exists",
		Args:  cobra.ExactArgs(1),
		RunE:  func(cmd *cobra.Command, args []string) error { return f.add(cmd, args[0]) },
	}
	passwd := &cobra.Command{
		Use:   "passwd NAME",
		Short: "Change a user's password; fails if the user does not exist",
		Args:  cobra.ExactArgs(1),
		RunE:  func(cmd *cobra.Command, args []string) error { return f.passwd(cmd, args[0]) },
	}
	for _, c := range []*cobra.Command{add, passwd} {
		c.Flags().BoolVar(&f.passwordStdin, "password-stdin", false, "read the password from the first line of stdin instead of prompting twice")
	}
	remove := &cobra.Command{
		Use:   "remove NAME",
		Short: "Remove a user; fails if the user does not exist",
		Args:  cobra.ExactArgs(1),
		RunE:  func(cmd *cobra.Command, args []string) error { return f.remove(cmd, args[0]) },
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "Print the user names, one a line, in file order",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return f.list(cmd) },
	}
	cmd.AddCommand(add, passwd, remove, list)
	return cmd
}

func (f *usersFlags) add(cmd *cobra.Command, name string) error {
	if err := htpasswd.ValidateUser(name); err != nil {
		return err
	}
	path, cost, err := f.target(cmd)
	if err != nil {
		return err
	}
	if err := expectUser(path, name, false); err != nil {
		return err
	}
	hash, err := f.hash(cmd, name, cost)
	if err != nil {
		return err
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
	path, cost, err := f.target(cmd)
	if err != nil {
		return err
	}
	if err := expectUser(path, name, true); err != nil {
		return err
	}
	hash, err := f.hash(cmd, name, cost)
	if err != nil {
		return err
	}
	err = changeUser(path, name, true, func(entries []htpasswd.Entry, i int) []htpasswd.Entry {
		entries[i].Hash = hash
		return entries
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "changed the password of user %q in %s\n", name, path)
	return nil
}

func (f *usersFlags) remove(cmd *cobra.Command, name string) error {
	path, _, err := f.target(cmd)
	if err != nil {
		return err
	}
	if err := expectUser(path, name, true); err != nil {
		return err
	}
	err = changeUser(path, name, true, func(entries []htpasswd.Entry, i int) []htpasswd.Entry {
		return slices.Delete(entries, i, i+1)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "removed user %q from %s\n", name, path)
	return nil
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
	cfg, err := loadConfig(f.config)
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
