package nginxtest_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/pkg/gateway/nginxtest"
)

func TestStartServesTheSiteAndStops(t *testing.T) {
	site := `server {
    listen ${LISTEN};
    location / {
        return 200 "hello ${WHO} from $request_uri\n";
    }
}
`
	s := nginxtest.Start(t, site, map[string]string{"WHO": "tollgate"})
	if !strings.HasPrefix(s.Addr, "127.0.0.1:") || !strings.HasPrefix(s.Host(), "localhost:") {
		t.Errorf("Addr %q, Host %q; want 127.0.0.1:PORT and localhost:PORT", s.Addr, s.Host())
	}
	resp, err := http.Get(s.URL() + "/x?y=1")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if want := "hello tollgate from /x?y=1\n"; resp.StatusCode != http.StatusOK || string(body) != want {
		t.Errorf("GET = %d %q, want 200 %q", resp.StatusCode, body, want)
	}
	// nginx logs a request after it has answered it: wait a little for it.
	deadline := time.Now().Add(2 * time.Second)
	for !strings.Contains(s.Log(), `"GET /x?y=1 HTTP/1.1" 200`) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if log := s.Log(); !strings.Contains(log, `"GET /x?y=1 HTTP/1.1" 200`) {
		t.Errorf("the access log lacks the request:\n%s", log)
	}

	s.Stop()
	if c, err := net.DialTimeout("tcp", s.Addr, time.Second); err == nil {
		c.Close()
		t.Errorf("%s still accepts connections after Stop", s.Addr)
	}
	s.Stop() // a second Stop does nothing
}

func TestStartFailsOnABadConfiguration(t *testing.T) {
	r := &recorder{T: t}
	run(r, func() {
		nginxtest.Start(r, "server { listen ${LISTEN}; no_such_directive on; }", nil)
	})
	if r.skipped != "" {
		t.Skip(r.skipped)
	}
	if !strings.Contains(r.fatal, `unknown directive "no_such_directive"`) {
		t.Errorf("fatal %q; want nginx's complaint about the directive", r.fatal)
	}
}

func TestExpand(t *testing.T) {
	vars := map[string]string{"TOLLGATE": "127.0.0.1:5001", "REGISTRY": "127.0.0.1:5000"}
	for _, c := range []struct {
		name, in, want, err string
	}{
		{"placeholders", "server ${TOLLGATE}; server ${REGISTRY};", "server 127.0.0.1:5001; server 127.0.0.1:5000;", ""},
		{"nginx variables stay", "$request_uri ${request_uri} $TOLLGATE", "$request_uri ${request_uri} $TOLLGATE", ""},
		{"each missing one named once", "${A} ${B} ${A}", "", "no value for A, B"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := nginxtest.Expand(c.in, vars)
			switch {
			case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
				t.Errorf("Expand(%q) = %q, %v; want an error with %q", c.in, got, err, c.err)
			case c.err == "" && (err != nil || got != c.want):
				t.Errorf("Expand(%q) = %q, %v; want %q", c.in, got, err, c.want)
			}
		})
	}
}

// recorder is a testing.TB that records Skip and Fatal instead of ending
// the test.
type recorder struct {
	*testing.T
	skipped, fatal string
}

func (r *recorder) Skip(args ...any) {
	r.skipped = fmt.Sprint(args...)
	runtime.Goexit()
}

func (r *recorder) Skipf(format string, args ...any) {
	r.skipped = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (r *recorder) Fatal(args ...any) {
	r.fatal = fmt.Sprint(args...)
	runtime.Goexit()
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// run calls f on a goroutine of its own, which the recorder's Skip and
// Fatal end.
func run(r *recorder, f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
		r.T.Error("returned without Skip or Fatal")
	}()
	<-done
}

func TestWithoutNginx(t *testing.T) {
	t.Setenv(nginxtest.NginxEnv, "/nonexistent/nginx")
	for _, ci := range []string{"", "true"} {
		t.Setenv("CI", ci)
		r := &recorder{T: t}
		run(r, func() { nginxtest.Start(r, "", nil) })
		if ci == "" && !strings.Contains(r.skipped, "nginx not installed") {
			t.Errorf("CI unset: skipped %q, fatal %q; want a skip", r.skipped, r.fatal)
		}
		if ci != "" && (r.skipped != "" || !strings.Contains(r.fatal, "CI is set")) {
			t.Errorf("CI set: skipped %q, fatal %q; want a failure", r.skipped, r.fatal)
		}
	}
}
