package interop_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate/tollgate/pkg/config"
	"github.com/tollgate/tollgate/pkg/logtest"
)

// repoRoot is the server module's directory, from this package's.
const repoRoot = "../../.."

// tollgateBin is the binary TestMain built.
var tollgateBin string

// TestMain builds ./cmd/tollgate once, in the server module (so with the
// server's own dependency versions, not this module's), with -race when
// these tests run with it, then runs the tests.
func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "tollgate-interop-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	tollgateBin = filepath.Join(dir, "tollgate")
	args := []string{"build", "-o", tollgateBin}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "./cmd/tollgate")...)
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build ./cmd/tollgate: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// runCLI runs `tollgate ARGS` with stdin and this test's environment, as an
// operator on the server's host would, and returns what it printed on
// stdout. A failure's error carries its stderr; on success, stderr is
// logged.
func runCLI(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(tollgateBin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("tollgate %s: %w; stderr: %s", strings.Join(args, " "), err, stderr.String())
	}
	if stderr.Len() > 0 {
		t.Logf("tollgate %s, stderr: %s", strings.Join(args, " "), stderr.String())
	}
	return stdout.String(), nil
}

// serverProcess is `tollgate serve` in a child process.
type serverProcess struct {
	addr string // 127.0.0.1:PORT
	cmd  *exec.Cmd
	logs *logtest.Buffer
	done chan struct{} // closed once the process has exited and been waited for
	err  error         // Wait's result; read only after done
}

// startServerProcess runs `tollgate serve --config configPath` on addr
// (with the TOLLGATE_ environment of the test). At cleanup it is SIGKILLed
// if still running, and its output is shown if the test failed. Call stop
// to end it gracefully and check that it exits 0.
func startServerProcess(t testing.TB, configPath, addr string) *serverProcess {
	t.Helper()
	p := &serverProcess{addr: addr, logs: &logtest.Buffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(tollgateBin, "serve", "--config", configPath)
	p.cmd.Env = append(os.Environ(), config.EnvPrefix+"_SERVER_ADDR="+addr)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	p.cmd.SysProcAttr = childAttr() // never outlives the test process
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start tollgate serve: %v", err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			t.Errorf("server process %d still running 10s after SIGKILL", p.cmd.Process.Pid)
		}
		if t.Failed() {
			t.Logf("tollgate serve (pid %d, %s) output:\n%s", p.cmd.Process.Pid, p.addr, p.logs.String())
		}
	})
	return p
}

// kill sends SIGKILL: no shutdown, no deferred flush, no last write.
func (p *serverProcess) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL) // an error means it is already gone
}

// wantKilled waits for the process to end and asserts SIGKILL ended it.
func (p *serverProcess) wantKilled(t *testing.T) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("server process %d still running 10s after SIGKILL", p.cmd.Process.Pid)
	}
	ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("server process ended with %v, want killed by SIGKILL", p.cmd.ProcessState)
	}
}

// stop sends SIGTERM and asserts a graceful exit (status 0) within 15s.
func (p *serverProcess) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		t.Fatalf("server process %d still running 15s after SIGTERM", p.cmd.Process.Pid)
	}
	if p.err != nil {
		t.Errorf("server process after SIGTERM: %v, want exit status 0 (graceful shutdown)", p.err)
	}
}
