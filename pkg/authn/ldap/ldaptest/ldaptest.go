package ldaptest

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate/tollgate/pkg/logtest"
)

// SlapdEnv names a slapd binary to run instead of /usr/sbin/slapd or slapd
// on PATH; a path that does not exist makes the tests skip (or fail, with
// CI set) as on a machine without slapd.
const SlapdEnv = "TOLLGATE_TEST_SLAPD"

// Where Debian's slapd package keeps its schemas and modules.
const (
	SchemaDir = "/etc/ldap/schema"
	ModuleDir = "/usr/lib/ldap"
)

const (
	readyTimeout = 10 * time.Second // for start-up, generous for -race on a busy machine
	stopTimeout  = 5 * time.Second  // from SIGTERM to SIGKILL
	startTries   = 5                // start-ups that may fail because a port was taken
	logKeep      = 256 << 10        // bytes of slapd's log kept per run
)

// Server is a running slapd. It serves the directory of this package on
// URL (StartTLS on the same port) and LDAPSURL, and stops when the test
// ends.
type Server struct {
	dir        string // everything of this server: slapd.conf, db/, certificates, pid file
	slapd      string
	ldapModify string
	ldapSearch string
	logLevel   string
	ca         *x509.Certificate
	ldapAddr   string // 127.0.0.1:PORT of ldap://
	ldapsAddr  string // 127.0.0.1:PORT of ldaps://

	mu   sync.Mutex
	proc *process        // nil while stopped
	logs []*logtest.Tail // slapd's output, one per run
}

// process is one run of slapd.
type process struct {
	cancel context.CancelFunc // sends SIGTERM; SIGKILL follows after stopTimeout
	done   chan struct{}      // closed when slapd has exited
	err    error              // of exec.Cmd.Wait, once done is closed
	log    *logtest.Tail
}

// Option changes how Start sets up the server.
type Option func(*options)

type options struct {
	ldif     string
	logLevel string
}

// WithLDIF adds entries (LDIF, blank-line separated) to the directory
// before the server starts. SSHA hashes passwords for it.
func WithLDIF(ldif string) Option {
	return func(o *options) { o.ldif += "\n" + strings.TrimSpace(ldif) + "\n" }
}

// WithLogLevel sets slapd's debug level (-d), "stats" unless set: one line
// per connection and operation, logged when the test fails. "none" keeps
// only start-up and errors.
func WithLogLevel(level string) Option {
	return func(o *options) { o.logLevel = level }
}

// Start generates a CA and server certificate, a slapd.conf and the
// directory, loads the directory with slapadd, and runs slapd on free
// loopback ports until the test ends. It skips the test when slapd or
// ldap-utils are missing, or fails it if CI is set.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	begin := time.Now()
	o := options{logLevel: "stats"}
	for _, opt := range opts {
		opt(&o)
	}
	s := &Server{logLevel: o.logLevel}
	s.slapd, s.ldapModify, s.ldapSearch = tools(t)
	s.dir = t.TempDir()
	s.ca = writeCerts(t, s.dir)
	s.writeConfig(t)
	s.load(t, directoryLDIF()+o.ldif)
	t.Cleanup(func() {
		s.Stop(t)
		if t.Failed() {
			t.Logf("slapd's log (%s):\n%s", s.dir, s.log())
		}
	})
	for try := 1; ; try++ {
		s.ldapAddr, s.ldapsAddr = freeAddrs(t)
		err := s.start()
		if err == nil {
			break
		}
		if !errors.Is(err, errAddrInUse) || try == startTries {
			t.Fatalf("start slapd: %v", err)
		}
	}
	t.Logf("slapd serves %s and %s, started in %v", s.URL(), s.LDAPSURL(), time.Since(begin).Round(time.Millisecond))
	return s
}

// URL is ldap://127.0.0.1:PORT/, where the server also offers StartTLS.
func (s *Server) URL() string { return "ldap://" + s.ldapAddr + "/" }

// LDAPSURL is ldaps://127.0.0.1:PORT/, TLS from the first byte.
func (s *Server) LDAPSURL() string { return "ldaps://" + s.ldapsAddr + "/" }

// Addr is the 127.0.0.1:PORT of URL.
func (s *Server) Addr() string { return s.ldapAddr }

// CAFile is the PEM file of the CA that signed the server's certificate
// (for 127.0.0.1, ::1 and localhost).
func (s *Server) CAFile() string { return filepath.Join(s.dir, "ca.pem") }

// CAPool is a pool holding only the CA of CAFile.
func (s *Server) CAPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(s.ca)
	return pool
}

// Stop stops the server (SIGTERM, then SIGKILL after 5 s) and keeps its
// data; connections to it are refused until Restart. Stopping a stopped
// server does nothing.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	if err := s.stop(); err != nil && !errors.Is(err, context.Canceled) { // Canceled: it exited on SIGTERM
		t.Logf("slapd exited: %v", err)
	}
}

// Restart starts the server again, on the same ports with the same data,
// after stopping it if it runs.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop(t)
	for try := 1; ; try++ {
		err := s.start()
		if err == nil {
			return
		}
		if !errors.Is(err, errAddrInUse) || try == startTries {
			t.Fatalf("restart slapd: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

var errAddrInUse = errors.New("address already in use")

// start runs slapd and waits until it answers on its ports.
func (s *Server) start() error {
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, s.slapd,
		"-f", filepath.Join(s.dir, "slapd.conf"),
		"-h", s.URL()+" "+s.LDAPSURL(),
		"-d", s.logLevel) // any level keeps slapd in the foreground, logging to stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = stopTimeout
	cmd.SysProcAttr = sysProcAttr()
	p := &process{cancel: cancel, done: make(chan struct{}), log: &logtest.Tail{Keep: logKeep}}
	cmd.Stdout, cmd.Stderr = p.log, p.log
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logs = append(s.logs, p.log)
	if err := cmd.Start(); err != nil {
		cancel()
		return err
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := waitReady(p, s.ldapAddr, s.ldapsAddr, s.CAPool()); err != nil {
		p.stop()
		if strings.Contains(p.log.String(), "Address already in use") {
			return fmt.Errorf("%w: %v", errAddrInUse, err)
		}
		return err
	}
	s.proc = p
	return nil
}

// waitReady polls until slapd answers an anonymous bind on ldapAddr and
// completes a TLS handshake on ldapsAddr, or exits, or readyTimeout passes.
func waitReady(p *process, ldapAddr, ldapsAddr string, ca *x509.CertPool) error {
	deadline := time.Now().Add(readyTimeout)
	for {
		err := probe(ldapAddr)
		if err == nil {
			err = probeTLS(ldapsAddr, ca)
		}
		if err == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("slapd exited before it served: %v", p.err)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("slapd does not answer after %v: %v", readyTimeout, err)
		}
	}
}

func (s *Server) stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return nil
	}
	err := s.proc.stop()
	s.proc = nil
	return err
}

func (p *process) stop() error {
	p.cancel()
	<-p.done
	return p.err
}

func (s *Server) log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var runs []string
	for _, l := range s.logs {
		runs = append(runs, l.String())
	}
	return strings.Join(runs, "--- next run of slapd ---\n")
}

// freeAddrs returns two loopback addresses whose ports were free a moment
// ago, for slapd to listen on.
func freeAddrs(t testing.TB) (string, string) {
	t.Helper()
	var addrs [2]string
	for i := range addrs {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close() // both held open at once, so they differ
		addrs[i] = ln.Addr().String()
	}
	return addrs[0], addrs[1]
}
