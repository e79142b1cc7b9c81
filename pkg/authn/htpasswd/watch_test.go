package htpasswd

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/logtest"
)

// startWatch loads path and watches it until the test ends.
func startWatch(t *testing.T, path string, logger *slog.Logger) *File {
	t.Helper()
	f := mustLoad(t, path, logger)
	f.debounce = 10 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Watch(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Watch: %v", err)
		}
	})
	return f
}

// eventually polls cond until it holds or a few seconds have passed.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func accepts(f *File, user string, secret authn.Secret) bool {
	_, err := f.Authenticate(context.Background(), user, secret)
	return err == nil
}

// replace writes content to a temporary file beside path and renames it over
// path, as `tollgate users` and many editors do.
func replace(t *testing.T, path, content string) {
	t.Helper()
	tmp, err := os.CreateTemp(filepath.Dir(path), ".htpasswd-*")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tmp.WriteString(content); err != nil {
		t.Fatal(err)
	}
	if err := tmp.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		t.Fatal(err)
	}
}

func TestWatch(t *testing.T) {
	alice := "alice:" + hashOf(t, "alice-pw", bcrypt.MinCost) + "\n"
	bob := "bob:" + hashOf(t, "bob-pw", bcrypt.MinCost) + "\n"
	tests := []struct {
		name  string
		write func(t *testing.T, path, content string)
	}{
		{"rename over", replace},
		{"rewrite in place", func(t *testing.T, path, content string) {
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), alice)
			f := startWatch(t, path, nil)

			tt.write(t, path, alice+bob)
			eventually(t, "bob to be added", func() bool { return accepts(f, "bob", "bob-pw") })

			tt.write(t, path, bob)
			eventually(t, "alice to be removed", func() bool { return !accepts(f, "alice", "alice-pw") })
			if !accepts(f, "bob", "bob-pw") {
				t.Error("bob lost")
			}
		})
	}
}

// TestWatchAppliesTheGoodLinesOfABrokenRewrite: a rejected line costs only
// its own user; the reload applies, logs and reports the line.
func TestWatchAppliesTheGoodLinesOfABrokenRewrite(t *testing.T) {
	aliceHash := hashOf(t, "alice-pw", bcrypt.MinCost)
	path := writeFile(t, t.TempDir(), "alice:"+aliceHash+"\n")
	var logs logtest.Buffer
	f := startWatch(t, path, slog.New(slog.NewTextHandler(&logs, nil)))
	version := f.Version()

	const plain = "carol:hunter2\n"
	if err := os.WriteFile(path, []byte("alice:"+aliceHash+"\n"+plain), 0o600); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the failed reload to be logged", func() bool { return strings.Contains(logs.String(), "level=ERROR") })

	if !accepts(f, "alice", "alice-pw") {
		t.Error("alice lost after a broken rewrite")
	}
	if _, err := f.Authenticate(context.Background(), "carol", "hunter2"); !errors.Is(err, authn.ErrNoSuchUser) {
		t.Errorf("carol: err = %v, want ErrNoSuchUser", err)
	}
	if f.Version() == version {
		t.Errorf("Version stayed %d: the good lines were not applied", version)
	}
	if len(f.Problems()) != 1 {
		t.Errorf("Problems = %v, want the carol line", f.Problems())
	}
	out := logs.String()
	for _, want := range []string{path + ":2", `\"carol\"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log does not contain %s:\n%s", want, out)
		}
	}
	for _, secret := range []string{"hunter2", aliceHash[7:]} {
		if strings.Contains(out, secret) {
			t.Errorf("log shows a secret:\n%s", out)
		}
	}
}

// TestReloadHoldsOffOnAMomentarilyEmptyFile: an in-place rewrite truncates
// the file before writing it; reading it in between must not drop every
// user, yet a file that stays empty does empty the user list.
func TestReloadHoldsOffOnAMomentarilyEmptyFile(t *testing.T) {
	aliceHash := hashOf(t, "alice-pw", bcrypt.MinCost)
	path := writeFile(t, t.TempDir(), "alice:"+aliceHash+"\n")
	f := mustLoad(t, path, nil)
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := f.reload(false); !errors.Is(err, errEmptyUnconfirmed) {
		t.Fatalf("reload of a just-emptied file: err = %v, want errEmptyUnconfirmed", err)
	}
	if !accepts(f, "alice", "alice-pw") {
		t.Fatal("alice dropped on an unconfirmed empty read")
	}
	if err := f.reload(true); err != nil {
		t.Fatal(err)
	}
	if ok, _ := f.Exists(context.Background(), "alice"); ok {
		t.Error("alice kept after the empty file was confirmed")
	}
}

func TestWatchAppliesAFileThatStaysEmpty(t *testing.T) {
	path := writeFile(t, t.TempDir(), "alice:"+hashOf(t, "alice-pw", bcrypt.MinCost)+"\n")
	f := startWatch(t, path, nil)
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// Exists, not Authenticate: an empty file's dummy hash has the default
	// cost, slow under -race.
	eventually(t, "alice to be removed", func() bool {
		ok, err := f.Exists(context.Background(), "alice")
		return err == nil && !ok
	})
}
