package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// readyTimeout bounds a start: a server over 100,000 users creates their
// accounts before it is ready, which takes minutes.
const readyTimeout = 10 * time.Minute

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat:
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// child is a server (tollgate serve, or a floor) in a child process,
// listening on a loopback port, its output going to a file.
type child struct {
	name    string
	addr    string // 127.0.0.1:PORT
	cmd     *exec.Cmd
	logPath string
	started time.Time
	startup time.Duration // process start → first 200 from /ready
	done    chan struct{} // closed when the process has been waited for
	waitErr error
}

// freeAddr returns a loopback address with a port free right now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startChild runs argv with env added to this process's environment, its
// output appended to logPath, and waits until GET /ready answers 200.
func startChild(name, addr, logPath string, argv, env []string) (*child, error) {
	out, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer out.Close()
	c := &child{name: name, addr: addr, logPath: logPath, done: make(chan struct{})}
	c.cmd = exec.Command(argv[0], argv[1:]...)
	c.cmd.Env = append(os.Environ(), env...)
	c.cmd.Stdout, c.cmd.Stderr = out, out
	c.cmd.SysProcAttr = childAttr()
	c.started = time.Now()
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		c.waitErr = c.cmd.Wait()
		close(c.done)
	}()
	if err := c.waitReady(readyTimeout); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

// waitReady polls /ready until it answers 200, the process exits or the
// timeout passes.
func (c *child) waitReady(timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := c.started.Add(timeout)
	for {
		resp, err := client.Get("http://" + c.addr + "/ready")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				c.startup = time.Since(c.started)
				return nil
			}
		}
		select {
		case <-c.done:
			return fmt.Errorf("%s exited before it was ready (%v): %s", c.name, c.waitErr, c.logTail())
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s: %s", c.name, timeout, c.logTail())
		}
	}
}

// logTail is the end of the child's output, for error messages.
func (c *child) logTail() string {
	b, err := os.ReadFile(c.logPath)
	if err != nil {
		return err.Error()
	}
	b = bytes.TrimSpace(b)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// logContains reports whether the child's output holds s.
func (c *child) logContains(s string) bool {
	b, _ := os.ReadFile(c.logPath)
	return bytes.Contains(b, []byte(s))
}

// cpu is the CPU time (user + system) the process has used so far.
func (c *child) cpu() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; the fields after its
	// closing parenthesis start with field 3, state.
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(fields) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", c.cmd.Process.Pid)
	}
	var ticks int64
	for _, f := range fields[11:13] { // utime, stime: fields 14 and 15
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, err
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// peakRSS is the process's resident set high-water mark (VmHWM), in bytes.
func (c *child) peakRSS() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmHWM in /proc/PID/status")
}

// stop sends SIGTERM and waits up to 15 s for a graceful exit, then kills.
// It returns an error unless the process exited 0 after SIGTERM.
func (c *child) stop() error {
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	select {
	case <-c.done:
		if c.waitErr != nil {
			return fmt.Errorf("%s after SIGTERM: %w: %s", c.name, c.waitErr, c.logTail())
		}
		return nil
	case <-ctx.Done():
		c.cmd.Process.Kill()
		<-c.done
		return fmt.Errorf("%s still running 15s after SIGTERM: killed", c.name)
	}
}
