//go:build unix

package main

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/pkg/logtest"
)

// A SQLite database that group or others may read is served all the same,
// with a warning at start naming the file and its mode; a new one is
// private and warned about not at all.
func TestStartWarnsOfAnExposedSQLiteStore(t *testing.T) {
	for _, tt := range []struct {
		name    string
		prepare func(t *testing.T, path string)
		warn    bool
	}{
		{"new database", func(*testing.T, string) {}, false},
		{"world-readable database", func(t *testing.T, path string) {
			if err := os.WriteFile(path, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, 0o644); err != nil { // past the umask
				t.Fatal(err)
			}
		}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clearTollgateEnv(t)
			_, cfg := tollgateDir(t)
			tt.prepare(t, cfg.Store.Path)
			logs := &logtest.Buffer{}
			a, err := newApp(context.Background(), cfg, slog.New(slog.NewJSONHandler(logs, nil)))
			if err != nil {
				t.Fatalf("newApp: %v", err)
			}
			if err := a.Close(); err != nil {
				t.Fatal(err)
			}
			line := ""
			for l := range strings.SplitSeq(logs.String(), "\n") {
				if strings.Contains(l, "SQLite file is readable by group or others") && strings.Contains(l, `"file":"`+cfg.Store.Path+`"`) {
					line = l
				}
			}
			switch {
			case tt.warn && (line == "" || !strings.Contains(line, `"mode":"0644"`) || !strings.Contains(line, `"level":"WARN"`)):
				t.Errorf("no warning naming %s and mode 0644:\n%s", cfg.Store.Path, logs.String())
			case !tt.warn && line != "":
				t.Errorf("a private database was warned about: %s", line)
			}
		})
	}
}
