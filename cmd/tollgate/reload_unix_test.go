//go:build unix

package main

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The real binary reloads its ACL on SIGHUP, as systemd's ExecReload and
// `kill -HUP` send it: a new rule applies without a restart, and a broken
// file afterwards is refused while the last good ACL keeps serving.
func TestSIGHUPReloadsACL(t *testing.T) {
	clearTollgateEnv(t)
	dir, _ := tollgateDir(t)
	path := filepath.Join(dir, "tollgate.yaml")
	p := startServerProcess(t, path, freeAddr(t))
	e := tokenClient(t, p.addr)
	e.waitAnswering(t, 15*time.Second, p.done)
	if got := e.grantedScope(t, "alice", reloadScope); got != "" {
		t.Fatalf("before SIGHUP alice is granted %q, want nothing", got)
	}

	rewriteConfig(t, path, e2eACL, e2eACL+reloadRule)
	p.hangUp(t, `"msg":"`+msgACLReloaded+`"`)
	if got := e.grantedScope(t, "alice", reloadScope); got != reloadScope {
		t.Errorf("after SIGHUP alice is granted %q, want %s", got, reloadScope)
	}
	if got := e.metric(t, metricReloadOK); got != "1" {
		t.Errorf("%s = %s after a good reload, want 1", metricReloadOK, got)
	}

	rewriteConfig(t, path, reloadRule, "  - {account: alice, name: \"other/*\"}\n") // no actions
	p.hangUp(t, `"msg":"`+msgReloadFailed+`"`)
	if !strings.Contains(p.logs.String(), "acl[4].actions") {
		t.Errorf("the refused reload's log does not name acl[4].actions:\n%s", p.logs.String())
	}
	if got := e.metric(t, metricReloadOK); got != "0" {
		t.Errorf("%s = %s after a refused reload, want 0", metricReloadOK, got)
	}
	if got := e.grantedScope(t, "alice", reloadScope); got != reloadScope {
		t.Errorf("after a refused reload alice is granted %q, want %s by the last good ACL", got, reloadScope)
	}
	p.stop(t)
}

// hangUp sends SIGHUP and waits until the log shows want once more than
// before, failing if the process exits meanwhile.
func (p *serverProcess) hangUp(t *testing.T, want string) {
	t.Helper()
	before := strings.Count(p.logs.String(), want)
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatalf("SIGHUP: %v", err)
	}
	waitUntil(t, 10*time.Second, "the log shows "+want+" after SIGHUP", func() bool {
		select {
		case <-p.done:
			t.Fatalf("server exited on SIGHUP: %v", p.err)
		default:
		}
		return strings.Count(p.logs.String(), want) > before
	})
}
