package sqlstore

import (
	"context"
	"errors"
	"slices"
	"testing"
	"testing/fstest"
)

func TestPlaceholders(t *testing.T) {
	for n, want := range map[int]string{1: "$1", 3: "$1, $2, $3", 10: "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10"} {
		if got := placeholders(n); got != want {
			t.Errorf("placeholders(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestMigrate(t *testing.T) {
	fsys := fstest.MapFS{
		"migrations/0002_b.sql": {Data: []byte("B")},
		"migrations/0001_a.sql": {Data: []byte("A")},
		"migrations/0003_c.sql": {Data: []byte("C")},
		"migrations/notes.txt":  {Data: []byte("not a migration")},
	}
	for _, tc := range []struct {
		last string
		want []string
	}{
		{"", []string{"0001_a=A", "0002_b=B", "0003_c=C"}},
		{"0002_b", []string{"0001_a=A", "0002_b=B"}},
	} {
		var got []string
		err := Migrate(context.Background(), fsys, tc.last, func(_ context.Context, version, body string) error {
			got = append(got, version+"="+body)
			return nil
		})
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("Migrate up to %q applied %q, %v; want %q", tc.last, got, err, tc.want)
		}
	}
	boom := errors.New("boom")
	var applied []string
	err := Migrate(context.Background(), fsys, "", func(_ context.Context, version, _ string) error {
		applied = append(applied, version)
		if version == "0002_b" {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || !slices.Equal(applied, []string{"0001_a", "0002_b"}) {
		t.Errorf("a failing migration: err = %v after %q; want boom, and none after it", err, applied)
	}
}
