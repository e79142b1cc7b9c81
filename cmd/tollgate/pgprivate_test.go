//go:build unix

package main

// A PostgreSQL server of the test's own, that the test may stop and start
// again: the shared server of TOLLGATE_TEST_POSTGRES_DSN is used by other
// tests at the same time and must never be stopped.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tollgate/tollgate/pkg/logtest"
)

// privatePostgres is a postgres server on a loopback port of its own,
// with its data and socket directories in a temporary directory.
type privatePostgres struct {
	bin    string // the directory of initdb, postgres and pg_ctl
	dir    string // data/ and sock/ are in it
	port   string
	asUser *user.User // the postgres system user when we are root, else nil
	logs   *logtest.Buffer
	cmd    *exec.Cmd     // the running server; nil while stopped
	done   chan struct{} // closed when cmd has exited
	dsn    string
}

// startPrivatePostgres runs initdb and starts the server, or skips the
// test when the binaries are missing. It is stopped (immediate shutdown)
// and removed when the test ends; its log is shown if the test failed.
func startPrivatePostgres(t *testing.T) *privatePostgres {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	if len(bins) == 0 {
		t.Skip("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin (package postgresql)")
	}
	slices.Sort(bins)
	p := &privatePostgres{bin: filepath.Dir(bins[len(bins)-1]), logs: &logtest.Buffer{}}
	if os.Geteuid() == 0 { // postgres refuses to run as root
		if _, err := exec.LookPath("runuser"); err != nil {
			t.Skip("running as root without runuser to run PostgreSQL as the postgres user")
		}
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Skipf("running as root without a postgres system user: %v", err)
		}
		p.asUser = u
	}
	p.reapOrphans(t)
	p.makeDirs(t)
	_, p.port, _ = net.SplitHostPort(freeAddr(t))
	p.dsn = "postgres://postgres@127.0.0.1:" + p.port + "/postgres?sslmode=disable"
	p.run(t, "initdb", "-D", p.data(), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
	t.Cleanup(func() {
		p.stop(t, "immediate")
		if t.Failed() {
			t.Logf("private PostgreSQL log:\n%s", p.logs.String())
		}
		os.RemoveAll(p.dir)
	})
	p.start(t)
	return p
}

func (p *privatePostgres) data() string { return filepath.Join(p.dir, "data") }

// dirPattern names the temporary directories of private servers; each
// holds ownerFile, the PID of the test process that made it.
const (
	dirPattern = "tollgate-pg-*"
	ownerFile  = "owner.pid"
)

// reapOrphans stops and removes the private servers of test processes
// that are gone: a test binary killed outright (SIGKILL, a closed pipe)
// runs no cleanup, and postgres would run on.
func (p *privatePostgres) reapOrphans(t *testing.T) {
	t.Helper()
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPattern))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue // not ours, or still being made
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || processAlive(pid) {
			continue
		}
		orphan := &privatePostgres{bin: p.bin, dir: dir, asUser: p.asUser, logs: &logtest.Buffer{}}
		cmd := orphan.command("pg_ctl", "-D", orphan.data(), "-m", "immediate", "-w", "stop")
		cmd.Run() // fails when no server runs there; the directory goes either way
		os.RemoveAll(dir)
		t.Logf("removed the private PostgreSQL of test process %d, which is gone: %s", pid, dir)
	}
}

// processAlive reports whether a process with that PID exists.
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// makeDirs creates the directory and data/ and sock/ in it, owned by the
// user the server runs as.
func (p *privatePostgres) makeDirs(t *testing.T) {
	t.Helper()
	dir, err := os.MkdirTemp("", dirPattern)
	if err != nil {
		t.Fatal(err)
	}
	p.dir = dir
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dir, p.data(), filepath.Join(dir, "sock")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if p.asUser == nil {
			continue
		}
		uid, _ := strconv.Atoi(p.asUser.Uid)
		gid, _ := strconv.Atoi(p.asUser.Gid)
		if err := os.Chown(d, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
}

// command runs a PostgreSQL binary, as the postgres user when we are root.
func (p *privatePostgres) command(name string, args ...string) *exec.Cmd {
	bin := filepath.Join(p.bin, name)
	if p.asUser == nil {
		return exec.Command(bin, args...)
	}
	return exec.Command("runuser", append([]string{"-u", "postgres", "--", bin}, args...)...)
}

// run runs a PostgreSQL tool to its end.
func (p *privatePostgres) run(t *testing.T, name string, args ...string) {
	t.Helper()
	cmd := p.command(name, args...)
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, p.logs.String())
	}
}

// start starts the server on its port and data directory and returns once
// it accepts connections.
func (p *privatePostgres) start(t *testing.T) {
	t.Helper()
	p.cmd = p.command("postgres", "-D", p.data(), "-p", p.port, "-k", filepath.Join(p.dir, "sock"),
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off")
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start postgres: %v", err)
	}
	p.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		cmd.Wait()
		close(done)
	}(p.cmd, p.done)
	p.waitAccepting(t, 30*time.Second)
}

// waitAccepting returns once a connection succeeds, failing at timeout or
// if the server exits.
func (p *privatePostgres) waitAccepting(t *testing.T, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if p.accepting() {
			return
		}
		select {
		case <-p.done:
			t.Fatalf("postgres exited before accepting connections:\n%s", p.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("postgres not accepting connections after %s:\n%s", timeout, p.logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// accepting reports whether a connection succeeds and answers now.
func (p *privatePostgres) accepting() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.dsn)
	if err != nil {
		return false
	}
	defer conn.Close(context.Background())
	return conn.Ping(ctx) == nil
}

// stop shuts the server down in mode (fast: sessions are ended and the
// server stops cleanly; immediate: it just stops) and waits for it to exit.
func (p *privatePostgres) stop(t *testing.T, mode string) {
	t.Helper()
	if p.cmd == nil {
		return
	}
	cmd := p.command("pg_ctl", "-D", p.data(), "-m", mode, "-w", "stop")
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	if err := cmd.Run(); err != nil {
		t.Errorf("pg_ctl stop -m %s: %v", mode, err)
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Errorf("postgres still running 30s after pg_ctl stop -m %s", mode)
	}
	p.cmd = nil
}

// count runs a SELECT count(*) query on the server.
func (p *privatePostgres) count(t *testing.T, query string, args ...any) (int, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.dsn)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(ctx, query, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("%s: %w", query, err)
	}
	return n, nil
}
