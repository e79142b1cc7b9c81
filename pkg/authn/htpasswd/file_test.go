package htpasswd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/tollgate/tollgate/pkg/authn"
)

// hashOf returns a bcrypt hash of password at cost.
func hashOf(t testing.TB, password string, cost int) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// writeFile writes content to dir/htpasswd and returns the path.
func writeFile(t testing.TB, dir, content string) string {
	t.Helper()
	path := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func mustLoad(t testing.TB, path string, logger *slog.Logger) *File {
	t.Helper()
	f, err := Load(path, logger)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestAuthenticate(t *testing.T) {
	content := fmt.Sprintf("# users\n\nalice:%s\r\nbob:%s\n  # indented comment\n",
		hashOf(t, "alice-pw", bcrypt.MinCost), hashOf(t, "bob-pw", bcrypt.MinCost))
	f := mustLoad(t, writeFile(t, t.TempDir(), content), nil)
	tests := []struct {
		user    string
		secret  authn.Secret
		wantErr error
	}{
		{"alice", "alice-pw", nil},
		{"bob", "bob-pw", nil},
		{"alice", "bob-pw", authn.ErrBadCredentials},
		{"alice", "", authn.ErrBadCredentials},
		{"Alice", "alice-pw", authn.ErrNoSuchUser},
		{"alice ", "alice-pw", authn.ErrNoSuchUser},
		{"carol", "alice-pw", authn.ErrNoSuchUser},
		{"", "", authn.ErrNoSuchUser},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q/%s", tt.user, tt.secret), func(t *testing.T) {
			id, err := f.Authenticate(context.Background(), tt.user, tt.secret)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err == nil && (id != (authn.Identity{Kind: authn.KindUser, Name: tt.user, Source: "htpasswd", Epoch: f.Epoch(tt.user)}) || id.Epoch == "") {
				t.Errorf("identity = %+v, want %s with the epoch of its password", id, tt.user)
			}
			if err != nil && tt.secret != "" && strings.Contains(err.Error(), string(tt.secret)) {
				t.Errorf("error shows the password: %v", err)
			}
			exists, _ := f.Exists(context.Background(), tt.user)
			if exists != !errors.Is(err, authn.ErrNoSuchUser) {
				t.Errorf("Exists = %v", exists)
			}
		})
	}
	if f.Version() != 1 {
		t.Errorf("Version = %d, want 1", f.Version())
	}
}

func TestLoadRejects(t *testing.T) {
	good := hashOf(t, "pw", bcrypt.MinCost)
	tests := []struct {
		name   string
		line   string
		user   string
		reason string
		secret string // must not appear in the error
	}{
		{"MD5", "alice:$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/", "alice", "MD5", "$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/"},
		{"SHA-1", "alice:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", "alice", "SHA-1", "W6ph5Mm5Pz8GgiULbPgzG37mj9g="},
		{"crypt", "alice:rqXexS6ZhobKA", "alice", "not a bcrypt hash", "rqXexS6ZhobKA"},
		{"sha512-crypt", "alice:$6$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9YterLp8wwnSq.qc.eoxqOmSuNp2xS0ktL3nh/", "alice", "crypt(3)", "qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2"},
		{"plain", "alice:hunter2", "alice", "not a bcrypt hash", "hunter2"},
		{"empty hash", "alice:", "alice", "not a bcrypt hash", ""},
		{"no colon", "alice-hunter2", "", "malformed line", "hunter2"},
		{"empty user", ":" + good, "", "empty user name", good[7:]},
		{"truncated bcrypt", "alice:" + good[:40], "alice", "malformed bcrypt hash", good[7:40]},
		{"bcrypt with junk", "alice:" + good + "x", "alice", "malformed bcrypt hash", good[7:]},
		{"bcrypt bad alphabet", "alice:" + good[:59] + "!", "alice", "malformed bcrypt hash", good[7:59]},
		{"bcrypt cost too low", "alice:" + good[:4] + "03" + good[6:], "alice", "bad cost", good[7:]},
		{"bcrypt cost too high", "alice:" + good[:4] + "20" + good[6:], "alice", "above the maximum", good[7:]},
		{"unknown bcrypt variant", "alice:$2x$" + good[4:], "alice", "not a bcrypt hash", good[7:]},
		{"duplicate", "bob:" + good, "bob", "first defined on line 3", good[7:]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The bad line is line 4, after a comment, a blank line and bob.
			path := writeFile(t, t.TempDir(), "# header\n\nbob:"+good+"\n"+tt.line+"\n")
			f, err := Load(path, nil)
			if err == nil || f != nil {
				t.Fatalf("Load = %v, %v; want an error", f, err)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("err %v is not a *ParseError", err)
			}
			if pe.Path != path || pe.Line != 4 || pe.User != tt.user {
				t.Errorf("ParseError = %+v, want %s line 4 user %q", pe, path, tt.user)
			}
			msg := err.Error()
			for _, want := range []string{path + ":4:", tt.reason} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not contain %q", msg, want)
				}
			}
			if tt.user != "" && !strings.Contains(msg, fmt.Sprintf("%q", tt.user)) {
				t.Errorf("error %q does not name user %q", msg, tt.user)
			}
			if tt.secret != "" && strings.Contains(msg, tt.secret) {
				t.Errorf("error %q shows the hash or password", msg)
			}
		})
	}
}

func TestLoadReportsEveryBadLine(t *testing.T) {
	path := writeFile(t, t.TempDir(), "a:plain\nb:{SHA}x\n")
	_, err := Load(path, nil)
	for _, want := range []string{path + ":1: user \"a\"", path + ":2: user \"b\""} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not contain %q", err, want)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope"), nil)
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, want os.ErrNotExist", err)
	}
}

func TestDummyHashCost(t *testing.T) {
	tests := []struct {
		name  string
		costs []int
		want  int
	}{
		{"all cost 7", []int{7, 7}, 7},
		{"most common of mixed costs", []int{5, 7, 5, 4}, 5},
		{"the higher of a tie", []int{4, 7}, 7},
		{"empty file", nil, bcrypt.DefaultCost},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var b strings.Builder
			for i, c := range tt.costs {
				fmt.Fprintf(&b, "user%d:%s\n", i, hashOf(t, "pw", c))
			}
			f := mustLoad(t, writeFile(t, t.TempDir(), b.String()), nil)
			if got := dummyCost(t, f); got != tt.want {
				t.Errorf("dummy hash cost = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestDummyHashFollowsReload(t *testing.T) {
	dir := t.TempDir()
	f := mustLoad(t, writeFile(t, dir, "a:"+hashOf(t, "pw", 5)+"\n"), nil)
	writeFile(t, dir, "a:"+hashOf(t, "pw", 6)+"\n")
	if err := f.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := dummyCost(t, f); got != 6 {
		t.Errorf("dummy hash cost after reload = %d, want 6", got)
	}
}

func dummyCost(t *testing.T, f *File) int {
	t.Helper()
	cost, err := bcrypt.Cost(f.snap.Load().dummy)
	if err != nil {
		t.Fatal(err)
	}
	return cost
}

func TestReload(t *testing.T) {
	dir := t.TempDir()
	alice := "alice:" + hashOf(t, "alice-pw", bcrypt.MinCost) + "\n"
	bob := "bob:" + hashOf(t, "bob-pw", bcrypt.MinCost) + "\n"
	f := mustLoad(t, writeFile(t, dir, alice), nil)

	steps := []struct {
		name        string
		content     string
		wantErr     bool
		wantVersion uint64
		wantBob     error
	}{
		{"unchanged content keeps the version", alice, false, 1, authn.ErrNoSuchUser},
		{"added user", alice + bob, false, 2, nil},
		{"a rejected line leaves the others applied", alice + bob + "carol:plain\n", false, 3, nil},
		{"removed user", alice, false, 4, authn.ErrNoSuchUser},
	}
	for _, s := range steps {
		writeFile(t, dir, s.content)
		err := f.Reload()
		if (err != nil) != s.wantErr {
			t.Fatalf("%s: Reload err = %v", s.name, err)
		}
		if got := f.Version(); got != s.wantVersion {
			t.Errorf("%s: Version = %d, want %d", s.name, got, s.wantVersion)
		}
		if _, err := f.Authenticate(context.Background(), "bob", "bob-pw"); !errors.Is(err, s.wantBob) || (s.wantBob == nil) != (err == nil) {
			t.Errorf("%s: bob: err = %v, want %v", s.name, err, s.wantBob)
		}
		if got, want := len(f.Problems()), strings.Count(s.content, "plain"); got != want {
			t.Errorf("%s: %d problems reported, want %d", s.name, got, want)
		}
		if _, err := f.Authenticate(context.Background(), "alice", "alice-pw"); err != nil {
			t.Errorf("%s: alice: %v", s.name, err)
		}
	}
}

func TestConcurrentAuthenticateDuringReloads(t *testing.T) {
	dir := t.TempDir()
	alice := "alice:" + hashOf(t, "alice-pw", bcrypt.MinCost) + "\n"
	contents := []string{alice, alice + "bob:" + hashOf(t, "bob-pw", bcrypt.MinCost) + "\n"}
	f := mustLoad(t, writeFile(t, dir, contents[0]), nil)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				if _, err := f.Authenticate(ctx, "alice", "alice-pw"); err != nil {
					t.Errorf("alice during reload: %v", err)
					return
				}
				_, _ = f.Authenticate(ctx, "bob", "bob-pw")
				_, _ = f.Exists(ctx, "bob")
			}
		})
	}
	last := f.Version()
	for i := range 20 {
		writeFile(t, dir, contents[(i+1)%2])
		if err := f.Reload(); err != nil {
			t.Fatal(err)
		}
		if v := f.Version(); v <= last {
			t.Fatalf("version went from %d to %d", last, v)
		}
		last = f.Version()
	}
	cancel()
	wg.Wait()
}

// TestUnknownUserPaysBcrypt checks that an unknown user costs about as much
// as a known one. A skipped comparison is thousands of times faster, so the
// loose bound does not flake.
func TestUnknownUserPaysBcrypt(t *testing.T) {
	f := mustLoad(t, writeFile(t, t.TempDir(), "alice:"+hashOf(t, "alice-pw", 6)+"\n"), nil)
	fastest := func(user string) time.Duration {
		best := time.Duration(1<<63 - 1)
		for range 5 {
			start := time.Now()
			_, _ = f.Authenticate(context.Background(), user, "guess")
			best = min(best, time.Since(start))
		}
		return best
	}
	known, unknown := fastest("alice"), fastest("mallory")
	if unknown < known/4 {
		t.Fatalf("unknown user took %v, known user %v: the dummy comparison was skipped", unknown, known)
	}
}
