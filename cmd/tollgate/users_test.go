package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/authn/htpasswd"
)

// runCLI runs tollgate with args and stdin, as main would, and returns what
// it wrote to stdout and stderr together.
func runCLI(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	root := newRootCommand()
	root.SetArgs(args)
	root.SetIn(strings.NewReader(stdin))
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	err := root.Execute()
	return out.String(), err
}

// writeUsersConfig writes a configuration naming htpasswdPath and cost and
// returns its path.
func writeUsersConfig(t *testing.T, htpasswdPath string, cost int) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "tollgate.yaml")
	yaml := fmt.Sprintf("users:\n  htpasswd: %q\n  bcrypt_cost: %d\nstore:\n  path: %q\n", htpasswdPath, cost,
		filepath.Join(dir, "tollgate.db"))
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func fileUsers(t *testing.T, path string) []string {
	t.Helper()
	entries, err := htpasswd.Entries(path)
	if err != nil {
		t.Fatalf("Entries: %v", err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.User)
	}
	return names
}

// checkPasswords fails unless each user's hash in the file (which must load
// with htpasswd.Load) accepts the password.
func checkPasswords(t *testing.T, path string, passwords map[string]string) {
	t.Helper()
	f, err := htpasswd.Load(path, nil)
	if err != nil {
		t.Fatalf("the file does not load: %v", err)
	}
	for user, password := range passwords {
		if _, err := f.Authenticate(t.Context(), user, authn.Secret(password)); err != nil {
			t.Errorf("%s with password %q: %v", user, password, err)
		}
	}
}

// assertNoSecrets fails if the output or error shows a password or any
// bcrypt hash.
func assertNoSecrets(t *testing.T, out string, err error, passwords ...string) {
	t.Helper()
	text := out
	if err != nil {
		text += "\n" + err.Error()
	}
	for _, p := range passwords {
		if p != "" && strings.Contains(text, p) {
			t.Errorf("output or error shows the password %q:\n%s", p, text)
		}
	}
	for _, prefix := range []string{"$2a$", "$2b$", "$2y$"} {
		if strings.Contains(text, prefix) {
			t.Errorf("output or error shows a hash:\n%s", text)
		}
	}
}

func TestUsersCommands(t *testing.T) {
	clearTollgateEnv(t)
	dave := string(must(bcrypt.GenerateFromPassword([]byte("dave-password"), bcrypt.MinCost)))
	bob := string(must(bcrypt.GenerateFromPassword([]byte("bob-password"), bcrypt.MinCost)))
	initial := "# operators\ndave:" + dave + "\nbob:" + bob + "\n# end\n"
	tooLong := strings.Repeat("x", 73)

	tests := []struct {
		name      string
		noFile    bool // start without the htpasswd file
		fail      bool // the command must fail (implied by wantErr)
		args      []string
		stdin     string
		wantErr   error  // errors.Is, when not nil
		wantText  string // in the error, or else in the output
		wantUsers []string
		wantAuth  map[string]string // user → password the file must accept
		wantFile  string            // exact content, when not empty
	}{
		{
			name: "add", args: []string{"add", "alice", "--password-stdin"}, stdin: "alice-password\n",
			wantText: `added user "alice"`, wantUsers: []string{"dave", "bob", "alice"},
			wantAuth: map[string]string{"alice": "alice-password", "bob": "bob-password"},
		},
		{
			name: "add to a missing file", noFile: true, args: []string{"add", "alice", "--password-stdin"}, stdin: "alice-password",
			wantText: `added user "alice"`, wantUsers: []string{"alice"}, wantAuth: map[string]string{"alice": "alice-password"},
		},
		{
			name: "add an existing user", args: []string{"add", "bob", "--password-stdin"}, stdin: "other-password\n",
			wantErr: errUserExists, wantText: `user "bob" already exists in`, wantFile: initial,
		},
		{
			name: "add with a short password", args: []string{"add", "alice", "--password-stdin"}, stdin: "short7!\n",
			fail: true, wantText: "password too short", wantFile: initial,
		},
		{
			name: "add with a password bcrypt would cut", args: []string{"add", "alice", "--password-stdin"}, stdin: tooLong + "\n",
			fail: true, wantText: "password too long", wantFile: initial,
		},
		{
			name: "add with nothing on stdin", args: []string{"add", "alice", "--password-stdin"},
			fail: true, wantText: "empty password", wantFile: initial,
		},
		{
			name: "add with a colon in the name", args: []string{"add", "a:b", "--password-stdin"}, stdin: "alice-password\n",
			wantErr: htpasswd.ErrInvalidUser, wantFile: initial,
		},
		{
			name: "add with a space in the name", args: []string{"add", "a b", "--password-stdin"}, stdin: "alice-password\n",
			wantErr: htpasswd.ErrInvalidUser, wantFile: initial,
		},
		{
			name: "add with a control character in the name", args: []string{"add", "a\x1bb", "--password-stdin"}, stdin: "alice-password\n",
			wantErr: htpasswd.ErrInvalidUser, wantFile: initial,
		},
		{
			name: "add without a terminal or --password-stdin", args: []string{"add", "alice"}, stdin: "alice-password\n",
			fail: true, wantText: "--password-stdin", wantFile: initial,
		},
		{
			name: "passwd", args: []string{"passwd", "bob", "--password-stdin"}, stdin: "new-bob-password\r\n",
			wantText: `changed the password of user "bob"`, wantUsers: []string{"dave", "bob"},
			wantAuth: map[string]string{"bob": "new-bob-password", "dave": "dave-password"},
		},
		{
			name: "passwd of an unknown user", args: []string{"passwd", "carol", "--password-stdin"}, stdin: "carol-password\n",
			wantErr: errNoSuchUser, wantText: `user "carol" not found in`, wantFile: initial,
		},
		{
			name: "passwd with a short password", args: []string{"passwd", "bob", "--password-stdin"}, stdin: "bob-pw\n",
			fail: true, wantText: "password too short", wantFile: initial,
		},
		{
			name: "remove", args: []string{"remove", "dave"},
			wantText: `removed user "dave"`, wantFile: "# operators\nbob:" + bob + "\n# end\n",
		},
		{
			name: "remove an unknown user", args: []string{"remove", "carol"},
			wantErr: errNoSuchUser, wantText: `user "carol" not found in`, wantFile: initial,
		},
		{
			name: "remove from a missing file", noFile: true, args: []string{"remove", "carol"},
			wantErr: errNoSuchUser,
		},
		{
			name: "list in file order", args: []string{"list"}, wantText: "dave\nbob\n", wantFile: initial,
		},
		{
			name: "list a missing file", noFile: true, args: []string{"list"}, wantErr: fs.ErrNotExist,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "htpasswd")
			if !tt.noFile {
				if err := os.WriteFile(path, []byte(initial), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			cfg := writeUsersConfig(t, path, 10)
			out, err := runCLI(t, tt.stdin, append([]string{"users", "--config", cfg}, tt.args...)...)

			wantErr := tt.fail || tt.wantErr != nil
			switch {
			case wantErr && err == nil:
				t.Fatalf("succeeded, want an error; output:\n%s", out)
			case !wantErr && err != nil:
				t.Fatalf("err = %v; output:\n%s", err, out)
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
			if text := out; tt.wantText != "" {
				if err != nil {
					text = err.Error()
				}
				if !strings.Contains(text, tt.wantText) {
					t.Errorf("got %q, want it to contain %q", text, tt.wantText)
				}
			}
			if tt.args[0] == "list" && err == nil && out != tt.wantText {
				t.Errorf("list printed %q, want exactly %q", out, tt.wantText)
			}
			assertNoSecrets(t, out, err, strings.TrimSpace(tt.stdin), "dave-password", "bob-password")

			if tt.noFile && err != nil {
				if _, statErr := os.Stat(path); !errors.Is(statErr, fs.ErrNotExist) {
					t.Errorf("a failed command created the file: %v", statErr)
				}
				return
			}
			if tt.wantFile != "" {
				if got, _ := os.ReadFile(path); string(got) != tt.wantFile {
					t.Errorf("file = %q, want %q", got, tt.wantFile)
				}
			}
			if tt.wantUsers != nil {
				if got := fileUsers(t, path); !slices.Equal(got, tt.wantUsers) {
					t.Errorf("users = %q, want %q", got, tt.wantUsers)
				}
				if content, _ := os.ReadFile(path); !strings.HasPrefix(string(content), "# operators\n") && !tt.noFile {
					t.Errorf("comment lost: %q", content)
				}
			}
			checkPasswords(t, path, tt.wantAuth)
			if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("file mode = %v, %v; want 0600", fi.Mode(), err)
			}
		})
	}
}

// TestUsersCost: the hashes take users.bcrypt_cost from the configuration,
// --cost when given, and --cost's default without a configuration.
func TestUsersCost(t *testing.T) {
	clearTollgateEnv(t)
	tests := []struct {
		name      string
		config    bool // write a configuration with bcrypt_cost 11
		htpasswd  bool // pass --htpasswd
		extra     []string
		wantCost  int
		wantError string
	}{
		{name: "users.bcrypt_cost", config: true, wantCost: 11},
		{name: "users.bcrypt_cost with --htpasswd", config: true, htpasswd: true, wantCost: 11},
		{name: "--cost overrides the configuration", config: true, extra: []string{"--cost", "10"}, wantCost: 10},
		{name: "no configuration: --cost default", htpasswd: true, wantCost: 10},
		{name: "no configuration: --cost", htpasswd: true, extra: []string{"--cost", "11"}, wantCost: 11},
		{name: "no configuration and no --htpasswd", wantError: "--htpasswd"},
		{name: "--cost below 10", htpasswd: true, extra: []string{"--cost", "9"}, wantError: "--cost: 9 must be between 10 and 16"},
		{name: "--cost above 16", config: true, extra: []string{"--cost", "17"}, wantError: "--cost: 17 must be between 10 and 16"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "htpasswd")
			cfg := filepath.Join(t.TempDir(), "missing.yaml")
			if tt.config {
				cfg = writeUsersConfig(t, path, 11)
			}
			args := []string{"users", "add", "alice", "--password-stdin", "--config", cfg}
			if tt.htpasswd {
				args = append(args, "--htpasswd", path)
			}
			out, err := runCLI(t, "alice-password\n", append(args, tt.extra...)...)
			assertNoSecrets(t, out, err, "alice-password")
			if tt.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantError) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantError)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v; output:\n%s", err, out)
			}
			entries, err := htpasswd.Entries(path)
			if err != nil || len(entries) != 1 {
				t.Fatalf("Entries = %v, %v", entries, err)
			}
			if cost, err := bcrypt.Cost([]byte(entries[0].Hash)); err != nil || cost != tt.wantCost {
				t.Errorf("cost = %d, %v; want %d", cost, err, tt.wantCost)
			}
		})
	}
}

// TestUsersAddReachesWatchingServer: a server watching the file (as serve
// does) accepts a user added by `tollgate users add`, without a restart.
func TestUsersAddReachesWatchingServer(t *testing.T) {
	clearTollgateEnv(t)
	path := filepath.Join(t.TempDir(), "htpasswd")
	writeHtpasswd(t, path, map[string]string{"bob": "bob-password"})
	users, err := htpasswd.Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- users.Watch(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Watch: %v", err)
		}
	})

	// Watch re-reads the file once it watches, so carol may arrive that way;
	// once she has, the watcher is up, and alice can only arrive through it.
	for _, user := range []string{"carol", "alice"} {
		password := user + "-password"
		out, err := runCLI(t, password+"\n", "users", "add", user, "--password-stdin", "--htpasswd", path, "--config", filepath.Join(t.TempDir(), "none.yaml"))
		if err != nil {
			t.Fatalf("users add %s: %v\n%s", user, err, out)
		}
		waitForLogin(t, users, user, password)
	}
	if _, err := users.Authenticate(t.Context(), "bob", "bob-password"); err != nil {
		t.Errorf("bob after the reloads: %v", err)
	}
}

func waitForLogin(t *testing.T, users *htpasswd.File, user, password string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := users.Authenticate(t.Context(), user, authn.Secret(password))
		if err == nil {
			return
		}
		if !errors.Is(err, authn.ErrNoSuchUser) {
			t.Fatalf("%s: %v", user, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never accepted (version %d): %v", user, users.Version(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
