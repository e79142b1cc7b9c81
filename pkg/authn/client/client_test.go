package client_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/tollgate/tollgate/pkg/authn/client"
	"github.com/tollgate/tollgate/pkg/store"
)

func TestCheckID(t *testing.T) {
	tests := []struct {
		name string
		id   string
		want error // nil = valid
	}{
		{"empty (optional)", "", nil},
		{"docker", "docker", nil},
		{"regctl's, with space and parentheses", "regclient/regctl (v0.11.7)", nil},
		{"every printable byte", printable(), nil},
		{"255 bytes", strings.Repeat("a", 255), nil},
		{"256 bytes", strings.Repeat("a", 256), client.ErrInvalidID},
		{"newline", "docker\n", client.ErrInvalidID},
		{"tab", "a\tb", client.ErrInvalidID},
		{"NUL", "a\x00", client.ErrInvalidID},
		{"DEL", "a\x7f", client.ErrInvalidID},
		{"non-ASCII", "dockér", client.ErrInvalidID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErr(t, "CheckID("+tt.id+")", client.CheckID(tt.id), tt.want, "")
		})
	}
}

// checkErr fails unless err is nil when want is, or else matches want
// (errors.Is) and says words.
func checkErr(t *testing.T, call string, err, want error, words string) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Errorf("%s = %v, want nil", call, err)
	case want != nil && (!errors.Is(err, want) || !strings.Contains(err.Error(), words)):
		t.Errorf("%s = %v, want %v saying %q", call, err, want, words)
	}
}

// printable is every byte RFC 6749 Appendix A.1 calls VSCHAR.
func printable() string {
	var b strings.Builder
	for c := byte(0x20); c <= 0x7e; c++ {
		b.WriteByte(c)
	}
	return b.String()
}

func TestCheckName(t *testing.T) {
	tests := []struct {
		name   string
		client string
		want   error // nil = valid
		words  string
	}{
		{"service", "service-a", nil, ""},
		{"dots and underscores", "billing.v2_prod", nil, ""},
		{"255 bytes", strings.Repeat("a", 255), nil, ""},
		{"hex without the dashes", "123e4567e89b12d3a456426614174000", nil, ""},
		{"a UUID with a non-hex digit", "123e4567-e89b-12d3-a456-42661417400g", nil, ""},
		{"empty", "", client.ErrInvalidName, "empty"},
		{"256 bytes", strings.Repeat("a", 256), client.ErrInvalidID, "255"},
		{"space", "bad name", client.ErrInvalidName, "letters, digits"},
		{"slash", "shared/bot", client.ErrInvalidName, "letters, digits"},
		{"glob", "ci-*", client.ErrInvalidName, "letters, digits"},
		{"colon", "a:b", client.ErrInvalidName, "letters, digits"},
		{"non-ASCII", "dockér", client.ErrInvalidName, "client_id"},
		{"dot dot", "a..b", client.ErrInvalidName, "'..'"},
		{"UUID", "123e4567-e89b-12d3-a456-426614174000", client.ErrUUIDName, "8-4-4-4-12"},
		{"upper-case UUID", "123E4567-E89B-12D3-A456-426614174000", client.ErrUUIDName, "UUID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErr(t, "CheckName("+tt.client+")", client.CheckName(tt.client), tt.want, tt.words)
		})
	}
}

// finder is a store of accounts or clients by name; err, when set, is
// what every lookup fails with (a store that is down).
type finder struct {
	names map[string]bool
	err   error
}

func (f finder) lookup(name string) error {
	switch {
	case f.err != nil:
		return f.err
	case f.names[name]:
		return nil
	}
	return store.ErrNotFound
}

func (f finder) Account(_ context.Context, name string) (store.Account, error) {
	return store.Account{Name: name}, f.lookup(name)
}

func (f finder) Client(_ context.Context, id string) (store.Client, error) {
	return store.Client{ID: id}, f.lookup(id)
}

func writeHtpasswd(t *testing.T, users ...string) string {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte("secret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, u := range users {
		b.WriteString(u + ":" + string(hash) + "\n")
	}
	path := filepath.Join(t.TempDir(), "htpasswd")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCheckNotUser(t *testing.T) {
	file := writeHtpasswd(t, "alice", "admin")
	accounts := finder{names: map[string]bool{"alice": true, "carol": true}}
	down := errors.New("store down")
	tests := []struct {
		name     string
		client   string
		htpasswd string
		accounts client.AccountFinder
		want     error // nil = free
		words    string
	}{
		{"user in the file and the store", "alice", file, accounts, client.ErrUserName, file},
		{"user in the file only", "admin", file, accounts, client.ErrUserName, file},
		{"account in the store only", "carol", file, accounts, client.ErrUserName, "account in the store"},
		{"account, no file", "carol", filepath.Join(t.TempDir(), "missing"), accounts, client.ErrUserName, "account"},
		{"account, no file configured", "carol", "", accounts, client.ErrUserName, "account"},
		{"file user, no store", "alice", file, nil, client.ErrUserName, file},
		{"free name", "billing", file, accounts, nil, ""},
		{"case differs", "Alice", file, accounts, nil, ""},
		{"free name, no store", "carol", file, nil, nil, ""},
		{"store down", "billing", file, finder{err: down}, down, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := client.CheckNotUser(context.Background(), tt.client, tt.htpasswd, tt.accounts)
			checkErr(t, "CheckNotUser("+tt.client+")", err, tt.want, tt.words)
		})
	}
}

func TestCheckNotUserBadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "htpasswd")
	if err := os.WriteFile(path, []byte("alice:{SHA}notbcrypt\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := client.CheckNotUser(context.Background(), "billing", path, nil)
	if err == nil || errors.Is(err, client.ErrUserName) {
		t.Errorf("CheckNotUser with an unreadable htpasswd file = %v, want its parse error", err)
	}
}

func TestCheckNotClient(t *testing.T) {
	clients := finder{names: map[string]bool{"billing": true}}
	down := errors.New("store down")
	tests := []struct {
		name    string
		user    string
		clients client.ClientFinder
		want    error
	}{
		{"a client's name", "billing", clients, client.ErrClientName},
		{"free name", "alice", clients, nil},
		{"store down", "alice", finder{err: down}, down},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErr(t, "CheckNotClient("+tt.user+")", client.CheckNotClient(context.Background(), tt.user, tt.clients), tt.want, "")
		})
	}
}
