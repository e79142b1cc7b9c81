package htpasswd

import (
	"os"
	"slices"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestUsersListsSortedAndFollowsReload(t *testing.T) {
	dir := t.TempDir()
	h := hashOf(t, "pw", bcrypt.MinCost)
	path := writeFile(t, dir, "zoe:"+h+"\nalice:"+h+"\n")
	f := mustLoad(t, path, nil)
	if got := f.Users(); !slices.Equal(got, []string{"alice", "zoe"}) {
		t.Errorf("Users = %q, want [alice zoe]", got)
	}
	if err := os.WriteFile(path, []byte("bob:"+h+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := f.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := f.Users(); !slices.Equal(got, []string{"bob"}) {
		t.Errorf("Users after reload = %q, want [bob]", got)
	}
}
