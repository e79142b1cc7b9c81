package nginxtest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate/tollgate/pkg/logtest"
)

// NginxEnv names an nginx binary to run instead of /usr/sbin/nginx or nginx
// on PATH; a path that does not exist makes the tests skip (or fail, with
// CI set) as on a machine without nginx.
const NginxEnv = "TOLLGATE_TEST_NGINX"

// Listen is the placeholder Start fills in with the address it listens on.
const Listen = "LISTEN"

const (
	readyTimeout = 10 * time.Second // for start-up, generous for a busy machine
	stopTimeout  = 5 * time.Second  // from SIGQUIT (graceful) to SIGKILL
	startTries   = 5                // start-ups that may fail because the port was taken
	logKeep      = 256 << 10        // bytes of nginx's logs kept
)

// Server is a running nginx, stopped when the test ends.
type Server struct {
	// Addr is 127.0.0.1:PORT, where it listens.
	Addr string
	// Conf is the site configuration it serves, placeholders filled in.
	Conf string

	dir  string
	log  *logtest.Tail
	stop context.CancelFunc // sends SIGQUIT; SIGKILL follows after stopTimeout
	done chan struct{}      // closed when nginx has exited
	err  error              // of exec.Cmd.Wait, once done is closed
}

// Start runs nginx serving site, the content of an http {} block, after
// Expand has replaced its placeholders with vars and ${LISTEN} with a free
// loopback address. It returns once nginx accepts connections, and stops
// it (gracefully, SIGQUIT) when the test ends, showing its logs if the
// test failed. It skips the test when nginx is missing, or fails it if CI
// is set.
func Start(t testing.TB, site string, vars map[string]string) *Server {
	t.Helper()
	bin := binary(t)
	dir := t.TempDir()
	for try := 1; ; try++ {
		s, err := start(t, bin, dir, site, vars)
		if err == nil {
			return s
		}
		if !errors.Is(err, errAddrInUse) || try == startTries {
			t.Fatalf("start nginx: %v", err)
		}
	}
}

var errAddrInUse = errors.New("address already in use")

// start is one try of Start on a port that was free a moment ago.
func start(t testing.TB, bin, dir, site string, vars map[string]string) (*Server, error) {
	t.Helper()
	s := &Server{Addr: freeAddr(t), dir: dir, log: &logtest.Tail{Keep: logKeep}, done: make(chan struct{})}
	all := maps.Clone(vars)
	if all == nil {
		all = map[string]string{}
	}
	all[Listen] = s.Addr
	conf, err := Expand(site, all)
	if err != nil {
		t.Fatal(err)
	}
	s.Conf = conf
	s.writeConfig(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-e", "stderr", "-p", dir+"/", "-c", filepath.Join(dir, "nginx.conf"),
		"-g", "daemon off;")
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGQUIT) }
	cmd.WaitDelay = stopTimeout
	cmd.SysProcAttr = sysProcAttr()
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, err
	}
	s.stop = cancel
	go func() {
		s.err = cmd.Wait()
		close(s.done)
	}()
	if err := s.waitReady(); err != nil {
		s.Stop()
		if strings.Contains(s.log.String(), "Address already in use") {
			return nil, fmt.Errorf("%w: %v", errAddrInUse, err)
		}
		return nil, fmt.Errorf("%v\nnginx's log:\n%s\nsite configuration:\n%s", err, s.log.String(), conf)
	}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("nginx's log (%s, %s):\n%s", s.Addr, dir, s.log.String())
		}
	})
	return s, nil
}

// URL is http://127.0.0.1:PORT.
func (s *Server) URL() string { return "http://" + s.Addr }

// Host is localhost:PORT: how clients that accept a loopback registry only
// by name (crane, oras; see shared/INTEROP.md) address the server.
func (s *Server) Host() string {
	_, port, _ := net.SplitHostPort(s.Addr)
	return net.JoinHostPort("localhost", port)
}

// Log is the end of nginx's error and access logs (one line per request:
// client, request, status, upstream statuses, time).
func (s *Server) Log() string { return s.log.String() }

// Stop stops nginx gracefully (SIGQUIT: it finishes the requests it has),
// killing it if it has not exited after 5 s, and waits until it has.
// Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.stop()
	<-s.done
}

// waitReady polls until nginx accepts a connection on Addr, or exits, or
// readyTimeout passes.
func (s *Server) waitReady() error {
	deadline := time.Now().Add(readyTimeout)
	for {
		c, err := net.DialTimeout("tcp", s.Addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-s.done:
			return fmt.Errorf("nginx exited before it served: %v", s.err)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nginx does not accept connections after %v: %v", readyTimeout, err)
		}
	}
}

// writeConfig writes the site and the main configuration that includes it.
func (s *Server) writeConfig(t testing.TB) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(s.dir, "site.conf"), []byte(s.Conf), 0o600); err != nil {
		t.Fatal(err)
	}
	main := strings.ReplaceAll(mainConf, "DIR", s.dir)
	if err := os.WriteFile(filepath.Join(s.dir, "nginx.conf"), []byte(main), 0o600); err != nil {
		t.Fatal(err)
	}
}

// mainConf is nginx.conf around the site (DIR: the server's directory).
// One process: no worker outlives the test binary (Pdeathsig ends the
// process the test started), and none switches to a user that cannot
// enter the test's directory when the test runs as root.
const mainConf = `# Written by nginxtest for one test.
master_process off;
pid DIR/nginx.pid;
error_log stderr notice;
events {
    worker_connections 1024;
}
http {
    log_format nginxtest '$remote_addr "$request" $status $body_bytes_sent upstream=[$upstream_addr $upstream_status] $request_time';
    access_log /dev/stderr nginxtest;
    client_body_temp_path DIR/client_body;
    proxy_temp_path DIR/proxy;
    fastcgi_temp_path DIR/fastcgi;
    uwsgi_temp_path DIR/uwsgi;
    scgi_temp_path DIR/scgi;
    include DIR/site.conf;
}
`

// placeholder is ${NAME} with NAME in upper case: nginx's own variables
// ($request_uri, ${request_uri}) are lower case and left alone.
var placeholder = regexp.MustCompile(`\$\{([A-Z][A-Z0-9_]*)\}`)

// Expand replaces every ${NAME} of text with vars[NAME], as envsubst (and
// the official nginx image's templates) would; a placeholder without a
// value is an error, so that no half-filled configuration is served.
func Expand(text string, vars map[string]string) (string, error) {
	var missing []string
	out := placeholder.ReplaceAllStringFunc(text, func(m string) string {
		name := placeholder.FindStringSubmatch(m)[1]
		v, ok := vars[name]
		if !ok && !slices.Contains(missing, name) {
			missing = append(missing, name)
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("nginxtest: no value for %s", strings.Join(missing, ", "))
	}
	return out, nil
}

// binary finds nginx, or skips the test (fails it if CI is set).
func binary(t testing.TB) string {
	t.Helper()
	path, err := findNginx()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("nginx not installed (%v), and CI is set: apt-get install nginx (.ci/run does)", err)
		}
		t.Skipf("nginx not installed (%v): apt-get install nginx (.ci/run does)", err)
	}
	return path
}

func findNginx() (string, error) {
	if path := os.Getenv(NginxEnv); path != "" {
		return exec.LookPath(path)
	}
	if path, err := exec.LookPath("/usr/sbin/nginx"); err == nil {
		return path, nil
	}
	return exec.LookPath("nginx")
}

// freeAddr is a loopback address whose port was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
