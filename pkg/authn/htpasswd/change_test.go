package htpasswd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/tollgate/tollgate/pkg/authn"
	"github.com/tollgate/tollgate/pkg/logtest"
)

// TestReloadReportsChanges: OnChange hears who was added, removed or got a
// new password; a user whose line is rejected is not removed (the line may
// be fixed), and a new password gets a new epoch.
func TestReloadReportsChanges(t *testing.T) {
	dir := t.TempDir()
	line := func(user, pw string) string { return user + ":" + hashOf(t, pw, bcrypt.MinCost) + "\n" }
	alice, bob, carol := line("alice", "a"), line("bob", "b"), line("carol", "c")
	alice2, alice3, dave := line("alice", "a2"), line("alice", "a2"), line("dave", "d")
	f := mustLoad(t, writeFile(t, dir, alice+bob+carol), nil)
	var got []Change
	f.OnChange = func(c Change) { got = append(got, c) }
	aliceEpoch := f.Epoch("alice")

	steps := []struct {
		name    string
		content string
		want    string
	}{
		{"nothing changed", alice + bob + carol, "<none>"},
		{"dave added, bob removed, alice's password changed", alice2 + carol + dave,
			"added=[dave] removed=[bob] changed=[alice]"},
		{"carol's line rejected: not removed", alice3 + "carol:$apr1$x$y\n" + dave,
			"added=[] removed=[] changed=[alice]"}, // "a2" hashed again: a new salt, a new epoch
	}
	for _, s := range steps {
		got = nil
		writeFile(t, dir, s.content)
		if err := f.Reload(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if desc := describeChanges(got); desc != s.want {
			t.Errorf("%s: changes %s, want %s", s.name, desc, s.want)
		}
	}
	if f.Epoch("alice") == aliceEpoch || f.Epoch("alice") == "" {
		t.Errorf("alice's epoch %q after two new hashes, was %q", f.Epoch("alice"), aliceEpoch)
	}
	if f.Epoch("carol") != "" || f.Epoch("nobody") != "" {
		t.Error("a rejected or unknown user has an epoch")
	}
	if _, err := f.Authenticate(context.Background(), "carol", "c"); !errors.Is(err, authn.ErrNoSuchUser) {
		t.Errorf("carol with a rejected line: err = %v, want ErrNoSuchUser", err)
	}
}

func describeChanges(cs []Change) string {
	if len(cs) == 0 {
		return "<none>"
	}
	var parts []string
	for _, c := range cs {
		parts = append(parts, fmt.Sprintf("added=%v removed=%v changed=%v", c.Added, c.Removed, c.Changed))
	}
	return strings.Join(parts, "; ")
}

// TestUnsafeNamesAreSkipped: names the ACL cannot take literally are
// skipped with a warning (at start and on reload), never fatal; the other
// users load.
func TestUnsafeNamesAreSkipped(t *testing.T) {
	h := hashOf(t, "pw", bcrypt.MinCost)
	unsafe := []string{"shared/bot", "a*", "b?", "c[1]", "x..y", "tab\tname"}
	var b strings.Builder
	b.WriteString("alice:" + h + "\n")
	for _, n := range unsafe {
		b.WriteString(n + ":" + h + "\n")
	}
	var logs logtest.Buffer
	f := mustLoad(t, writeFile(t, t.TempDir(), b.String()), slog.New(slog.NewTextHandler(&logs, nil)))
	if got := f.Users(); fmt.Sprint(got) != "[alice]" {
		t.Errorf("users = %v, want [alice]", got)
	}
	if n := strings.Count(logs.String(), "htpasswd user skipped"); n != len(unsafe) {
		t.Errorf("%d skip warnings, want %d:\n%s", n, len(unsafe), logs.String())
	}
	if len(f.Problems()) != 0 {
		t.Errorf("skipped names reported as problems: %v", f.Problems())
	}
	for _, n := range unsafe {
		if err := ValidateUser(n); !errors.Is(err, ErrInvalidUser) {
			t.Errorf("ValidateUser(%q) = %v, want ErrInvalidUser", n, err)
		}
	}
	for _, ok := range []string{"alice", "ci-bot", "alice@example.com", "a.b", "Ünïcode"} {
		if err := ValidateUser(ok); err != nil {
			t.Errorf("ValidateUser(%q) = %v", ok, err)
		}
	}
}
