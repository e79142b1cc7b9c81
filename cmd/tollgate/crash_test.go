//go:build unix

package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate/tollgate/pkg/config"
	"github.com/tollgate/tollgate/pkg/logtest"
)

// childConfigEnv, when set, makes the test binary be `tollgate serve
// --config $TOLLGATE_TEST_CHILD_CONFIG` instead of running tests: the
// SIGHUP and shutdown tests need the server in a process of its own. (The
// SIGKILL test, which needs the registry's verifier, runs the real binary
// in the interop module.)
const childConfigEnv = "TOLLGATE_TEST_CHILD_CONFIG"

func TestMain(m *testing.M) {
	if path := os.Getenv(childConfigEnv); path != "" {
		os.Exit(runServeChild(path))
	}
	os.Exit(m.Run())
}

// runServeChild runs `tollgate serve` as main would and returns the exit
// code. The parent holds our stdin open; when it is gone, even killed
// itself, stdin ends and the server goes too, never left running.
func runServeChild(path string) int {
	go func() {
		io.Copy(io.Discard, os.Stdin)
		fmt.Fprintln(os.Stderr, "tollgate test child: stdin closed, the test is gone; exiting")
		os.Exit(3)
	}()
	root := newRootCommand()
	root.SetArgs([]string{"serve", "--config", path})
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "tollgate:", err)
		return 1
	}
	return 0
}

// serverProcess is `tollgate serve` in a child process.
type serverProcess struct {
	addr string // 127.0.0.1:PORT
	cmd  *exec.Cmd
	logs *logtest.Buffer
	done chan struct{} // closed once the process has exited and been waited for
	err  error         // Wait's result; read only after done
}

// startServerProcess runs the server on addr with the configuration file
// (and the TOLLGATE_ environment of the test). It is SIGKILLed at cleanup
// if still running; its output is shown if the test failed.
func startServerProcess(t *testing.T, configPath, addr string) *serverProcess {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := &serverProcess{addr: addr, cmd: exec.Command(exe), logs: &logtest.Buffer{}, done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), childConfigEnv+"="+configPath, config.EnvPrefix+"_SERVER_ADDR="+addr)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if _, err := p.cmd.StdinPipe(); err != nil { // held open until Wait
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start server process: %v", err)
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
			t.Logf("server process %d (%s) output:\n%s", p.cmd.Process.Pid, p.addr, p.logs.String())
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
	p.wait(t, 10*time.Second, "SIGKILL")
	ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("server process ended with %v, want killed by SIGKILL", p.cmd.ProcessState)
	}
}

// stop sends SIGTERM and asserts a clean exit within 15s.
func (p *serverProcess) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	p.wantCleanExit(t, "SIGTERM")
}

// wantCleanExit waits up to 15s after what for the process to end, and
// asserts it exited with status 0 (it was sent SIGTERM).
func (p *serverProcess) wantCleanExit(t *testing.T, after string) {
	t.Helper()
	p.wait(t, 15*time.Second, after)
	if p.err != nil {
		t.Errorf("server process after SIGTERM: %v, want exit status 0", p.err)
	}
}

// wait waits up to d after what for the process to end.
func (p *serverProcess) wait(t *testing.T, d time.Duration, after string) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		t.Fatalf("server process %d still running %s after %s", p.cmd.Process.Pid, d, after)
	}
}
