package htpasswd

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// addEntry returns an Update function that appends e.
func addEntry(e Entry) func([]Entry) ([]Entry, error) {
	return func(entries []Entry) ([]Entry, error) { return append(entries, e), nil }
}

func readString(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestUpdate(t *testing.T) {
	alice := hashOf(t, "alice-password", bcrypt.MinCost)
	bob := hashOf(t, "bob-password", bcrypt.MinCost)
	carol := hashOf(t, "carol-password", bcrypt.MinCost)
	initial := "# team a\nalice:" + alice + "\n\n# team b\r\nbob:" + bob + "  \n# end\n"
	errFn := errors.New("fn refused")

	tests := []struct {
		name    string
		initial string // "" = no file
		fn      func([]Entry) ([]Entry, error)
		want    string
	}{
		{
			name: "add to a missing file",
			fn:   addEntry(Entry{"carol", carol}),
			want: "carol:" + carol + "\n",
		},
		{
			name:    "add keeps comments and order",
			initial: initial,
			fn:      addEntry(Entry{"carol", carol}),
			want:    "# team a\nalice:" + alice + "\n\n# team b\nbob:" + bob + "  \n# end\ncarol:" + carol + "\n",
		},
		{
			name:    "change a hash in place",
			initial: initial,
			fn: func(es []Entry) ([]Entry, error) {
				es[0].Hash = carol
				return es, nil
			},
			want: "# team a\nalice:" + carol + "\n\n# team b\nbob:" + bob + "  \n# end\n",
		},
		{
			name:    "remove a user",
			initial: initial,
			fn: func(es []Entry) ([]Entry, error) {
				return slices.DeleteFunc(es, func(e Entry) bool { return e.User == "alice" }), nil
			},
			want: "# team a\n\n# team b\nbob:" + bob + "  \n# end\n",
		},
		{
			name:    "no newline at the end",
			initial: "alice:" + alice,
			fn:      addEntry(Entry{"bob", bob}),
			want:    "alice:" + alice + "\nbob:" + bob + "\n",
		},
		{
			name:    "order given by fn for kept users is ignored",
			initial: "alice:" + alice + "\nbob:" + bob + "\n",
			fn: func(es []Entry) ([]Entry, error) {
				return []Entry{{"carol", carol}, es[1], es[0]}, nil
			},
			want: "alice:" + alice + "\nbob:" + bob + "\ncarol:" + carol + "\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "htpasswd")
			if tt.initial != "" {
				writeFile(t, filepath.Dir(path), tt.initial)
			}
			var got []Entry
			err := Update(path, func(es []Entry) ([]Entry, error) {
				got = slices.Clone(es)
				return tt.fn(es)
			})
			if err != nil {
				t.Fatalf("Update: %v", err)
			}
			if content := readString(t, path); content != tt.want {
				t.Errorf("content = %q, want %q", content, tt.want)
			}
			if _, err := Load(path, nil); err != nil {
				t.Errorf("the written file does not load: %v", err)
			}
			if tt.initial == initial {
				want := []Entry{{"alice", alice}, {"bob", bob}}
				if !slices.Equal(got, want) {
					t.Errorf("fn got %v, want %v", got, want)
				}
			}
			if tt.initial == "" && len(got) != 0 {
				t.Errorf("fn got %v for a missing file, want none", got)
			}
			assertNoTempFiles(t, filepath.Dir(path))
		})
	}

	t.Run("fn error", func(t *testing.T) {
		path := writeFile(t, t.TempDir(), initial)
		err := Update(path, func([]Entry) ([]Entry, error) { return nil, errFn })
		if !errors.Is(err, errFn) {
			t.Fatalf("err = %v, want %v", err, errFn)
		}
		if content := readString(t, path); content != initial {
			t.Errorf("file changed to %q", content)
		}
	})
}

func TestUpdateRefuses(t *testing.T) {
	good := hashOf(t, "password", bcrypt.MinCost)
	initial := "# keep\nalice:" + good + "\n"
	tests := []struct {
		name    string
		initial string
		entries []Entry
		wantIs  error
		want    string
		secret  string // must not appear in the error
	}{
		{"empty name", initial, []Entry{{"", good}}, ErrInvalidUser, "empty", good[7:]},
		{"colon", initial, []Entry{{"a:b", good}}, ErrInvalidUser, "':'", good[7:]},
		{"space", initial, []Entry{{"a b", good}}, ErrInvalidUser, "white space", good[7:]},
		{"tab", initial, []Entry{{"a\tb", good}}, ErrInvalidUser, "white space", good[7:]},
		{"newline", initial, []Entry{{"a\nb", good}}, ErrInvalidUser, "white space", good[7:]},
		{"non-breaking space", initial, []Entry{{"a\u00a0b", good}}, ErrInvalidUser, "white space", good[7:]},
		{"NUL", initial, []Entry{{"a\x00b", good}}, ErrInvalidUser, "control", good[7:]},
		{"DEL", initial, []Entry{{"a\x7fb", good}}, ErrInvalidUser, "control", good[7:]},
		{"comment", initial, []Entry{{"#a", good}}, ErrInvalidUser, "'#'", good[7:]},
		{"bad UTF-8", initial, []Entry{{"a\xffb", good}}, ErrInvalidUser, "UTF-8", good[7:]},
		{"plain password", initial, []Entry{{"bob", "hunter2-password"}}, nil, `user "bob": not a bcrypt hash`, "hunter2-password"},
		{"MD5 hash", initial, []Entry{{"bob", "$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/"}}, nil, "MD5", "HqJZimcKQFAMYayBlzkrA"},
		{"changed to plain", initial, []Entry{{"alice", "hunter2-password"}}, nil, `user "alice": not a bcrypt hash`, "hunter2-password"},
		{"duplicate", initial, []Entry{{"bob", good}, {"bob", good}}, nil, `user "bob": listed twice`, good[7:]},
		{"broken file", "alice:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n", []Entry{{"bob", good}}, nil, ":1: user \"alice\": SHA-1", "W6ph5Mm5Pz8GgiULbPgzG37mj9g="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), tt.initial)
			err := Update(path, func(es []Entry) ([]Entry, error) {
				// Replace users of the file, append the others (twice if listed twice).
				n := len(es)
				for _, e := range tt.entries {
					if i := slices.IndexFunc(es[:n], func(old Entry) bool { return old.User == e.User }); i >= 0 {
						es[i] = e
						continue
					}
					es = append(es, e)
				}
				return es, nil
			})
			if err == nil {
				t.Fatal("Update succeeded")
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("err = %v, want %v", err, tt.wantIs)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), tt.secret) {
				t.Errorf("err %q shows the hash or password", err)
			}
			if content := readString(t, path); content != tt.initial {
				t.Errorf("file changed to %q", content)
			}
			assertNoTempFiles(t, filepath.Dir(path))
		})
	}
}

func TestValidateUser(t *testing.T) {
	for _, name := range []string{"alice", "ci-bot", "a.b@example.com", "Ünïcødé", "a#b", "x"} {
		if err := ValidateUser(name); err != nil {
			t.Errorf("ValidateUser(%q) = %v", name, err)
		}
	}
	for _, name := range []string{"", ":", "a:", " a", "a ", "a\r", "a\x1b[31m", "#", "\u2028", "\xc3"} {
		if err := ValidateUser(name); !errors.Is(err, ErrInvalidUser) {
			t.Errorf("ValidateUser(%q) = %v, want ErrInvalidUser", name, err)
		}
	}
}

func TestUpdateMode(t *testing.T) {
	hash := hashOf(t, "password", bcrypt.MinCost)
	tests := []struct {
		name    string
		initial fs.FileMode // 0 = no file
		want    fs.FileMode
	}{
		{"new file", 0, 0o600},
		{"existing 0600", 0o600, 0o600},
		{"existing stricter 0400", 0o400, 0o400},
		{"existing group-readable 0640 is kept", 0o640, 0o640},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "htpasswd")
			if tt.initial != 0 {
				writeFile(t, filepath.Dir(path), "# users\n")
				if err := os.Chmod(path, tt.initial); err != nil {
					t.Fatal(err)
				}
			}
			if err := Update(path, addEntry(Entry{"alice", hash})); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode(); got != tt.want {
				t.Errorf("mode = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestUpdateThroughSymlink(t *testing.T) {
	dir := t.TempDir()
	target := writeFile(t, dir, "# users\n")
	link := filepath.Join(dir, "link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := Update(link, addEntry(Entry{"alice", hashOf(t, "password", bcrypt.MinCost)})); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Fatalf("link replaced: %v, %v", fi, err)
	}
	if entries, err := Entries(target); err != nil || len(entries) != 1 || entries[0].User != "alice" {
		t.Errorf("target entries = %v, %v", entries, err)
	}
}

// TestUpdateConcurrent runs Updates side by side: the lock must keep every
// one of them from overwriting another's user.
func TestUpdateConcurrent(t *testing.T) {
	const n = 10
	path := writeFile(t, t.TempDir(), "# users\n")
	hash := hashOf(t, "password", bcrypt.MinCost)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = Update(path, addEntry(Entry{fmt.Sprintf("user%d", i), hash}))
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	f := mustLoad(t, path, nil)
	for i := range n {
		if ok, _ := f.Exists(t.Context(), fmt.Sprintf("user%d", i)); !ok {
			t.Errorf("user%d lost", i)
		}
	}
	if content := readString(t, path); !strings.HasPrefix(content, "# users\n") || strings.Count(content, "\n") != n+1 {
		t.Errorf("content = %q", content)
	}
	assertNoTempFiles(t, filepath.Dir(path))
}

func TestEntries(t *testing.T) {
	a, b := hashOf(t, "a-password", bcrypt.MinCost), hashOf(t, "b-password", bcrypt.MinCost)
	dir := t.TempDir()
	path := writeFile(t, dir, "# x\nzed:"+a+"\n\nadam:"+b+"\n")
	got, err := Entries(path)
	if want := []Entry{{"zed", a}, {"adam", b}}; err != nil || !slices.Equal(got, want) {
		t.Errorf("Entries = %v, %v; want %v", got, err, want)
	}
	if _, err := Entries(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: err = %v, want fs.ErrNotExist", err)
	}
	bad := writeFile(t, t.TempDir(), "zed:plain-password\n")
	var pe *ParseError
	if _, err := Entries(bad); !errors.As(err, &pe) || strings.Contains(err.Error(), "plain-password") {
		t.Errorf("bad file: err = %v, want a *ParseError without the password", err)
	}
}

// assertNoTempFiles checks that only the htpasswd file (and its lock) are
// left in dir.
func assertNoTempFiles(t *testing.T, dir string) {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range des {
		if strings.Contains(de.Name(), ".tmp-") {
			t.Errorf("temporary file left behind: %s", de.Name())
		}
	}
}
