package main

import (
	"log/slog"
	"net/http"
	"testing"
)

// server.debug_addr serves the profiles on its own listener; without it
// nothing listens.
func TestDebugListener(t *testing.T) {
	addr, stop, err := serveDebug("127.0.0.1:0", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + addr + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("goroutine profile: %d", resp.StatusCode)
	}
	stop()
	if _, err := http.Get("http://" + addr + "/debug/pprof/"); err == nil {
		t.Error("the debug listener still answers after stop")
	}
	if addr, _, err := serveDebug("", nil); err != nil || addr != "" {
		t.Errorf("off: %q, %v", addr, err)
	}
}
