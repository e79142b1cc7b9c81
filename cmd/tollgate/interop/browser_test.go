package interop_test

// A real browser for the web UI's tests: headless Chromium driven over the
// DevTools protocol by chromedp, one process per test in a fresh profile,
// each person in a browser context of their own (their own cookies, as two
// people on two machines would have).

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"image/png"
	"iter"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/tollgate/tollgate/pkg/config"
)

// chromiumEnv names a Chromium (or Chrome) binary to run instead of the
// first of chromiumNames found; a path that does not exist makes the tests
// skip (or fail, with CI set) as on a machine without Chromium.
const chromiumEnv = config.TestEnvPrefix + "CHROMIUM"

// chromiumNames are where Debian's package and the usual others put it.
var chromiumNames = []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"}

// stepTimeout bounds one step in the browser: a page load, a click and
// the page it leads to, a read.
const stepTimeout = 5 * time.Second

// The viewport of every page and screenshot but the phone's.
const desktopWidth, desktopHeight = 1280, 800

// findChromium returns Chromium's path, or skips the test (fails it if CI
// is set).
func findChromium(t testing.TB) string {
	t.Helper()
	names := chromiumNames
	if path := os.Getenv(chromiumEnv); path != "" {
		names = []string{path}
	}
	var err error
	for _, name := range names {
		var path string
		if path, err = exec.LookPath(name); err == nil {
			return path
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("chromium not installed (%v), and CI is set: apt-get install chromium (.ci/run does)", err)
	}
	t.Skipf("chromium not installed (%v): apt-get install chromium (.ci/run does)", err)
	return ""
}

// startBrowser runs headless Chromium (at path, from findChromium) in a
// fresh profile until the test ends. Besides the system's roots it trusts the certificates of the PEM
// files trust (an in-test provider's self-signed one), pinned by their
// public keys, and nothing else: no proxy, no sandbox (tests run as root).
// The returned context holds the browser; person opens tabs in it.
func startBrowser(t *testing.T, path string, trust ...string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(desktopWidth, desktopHeight),
		chromedp.Flag("no-proxy-server", true),
		chromedp.Flag("lang", "en-US"),
	)
	if len(trust) > 0 {
		opts = append(opts, chromedp.Flag("ignore-certificate-errors-spki-list", spkiHashes(t, trust...)))
	}
	var logs bytes.Buffer // Chromium's stderr, shown if the test fails
	var mu sync.Mutex
	opts = append(opts, chromedp.CombinedOutput(lockedWriter{&mu, &logs}))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
		if t.Failed() {
			mu.Lock()
			defer mu.Unlock()
			t.Logf("chromium's output:\n%s", logs.String())
		}
	})
	begin := time.Now()
	if err := chromedp.Do(ctx); err != nil { // starts it, bound to ctx (no timeout)
		t.Fatalf("start %s: %v", path, err)
	}
	v, err := chromedp.CallBrowser(ctx, browser.GetVersion, cdp.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s (%s) started in %v", path, v.Product, time.Since(begin).Round(time.Millisecond))
	return ctx
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// spkiHashes is Chromium's --ignore-certificate-errors-spki-list: the
// base64 SHA-256 of each certificate's SubjectPublicKeyInfo.
func spkiHashes(t testing.TB, pemFiles ...string) string {
	t.Helper()
	var hashes []string
	for _, f := range pemFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		block, _ := pem.Decode(b)
		if block == nil {
			t.Fatalf("%s: no PEM block", f)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
		hashes = append(hashes, base64.StdEncoding.EncodeToString(sum[:]))
	}
	return strings.Join(hashes, ",")
}

// person is someone at the browser: a browser context of their own (its
// own cookies) with one tab on the Tollgate at base. Dialogs
// (window.confirm) are accepted and remembered; console errors are kept.
type person struct {
	name string
	ctx  context.Context
	base string // http://localhost:PORT

	mu      sync.Mutex
	dialogs []string
	console []string // uncaught exceptions and Content Security Policy violations
}

// newPerson opens a browser context and its tab, closed at cleanup.
func newPerson(t *testing.T, browserCtx context.Context, name, base string) *person {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browserCtx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil { // opens the tab, bound to ctx (no timeout)
		t.Fatalf("%s's tab: %v", name, err)
	}
	p := &person{name: name, ctx: ctx, base: base}
	p.step(t, "set the viewport", chromedp.EmulateViewport(desktopWidth, desktopHeight))
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	console := chromedp.Console(ctx)
	go p.acceptDialogs(dialogs)
	go p.keepErrors(console)
	return p
}

// acceptDialogs answers every dialog with OK, as a user who confirms.
func (p *person) acceptDialogs(dialogs iter.Seq2[page.EventJavascriptDialogOpening, error]) {
	for ev, err := range dialogs {
		if err != nil {
			return
		}
		p.mu.Lock()
		p.dialogs = append(p.dialogs, ev.Message)
		p.mu.Unlock()
		if _, err := chromedp.Call(p.ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true}); err != nil {
			return
		}
	}
}

func (p *person) keepErrors(console iter.Seq2[chromedp.ConsoleMessage, error]) {
	for m, err := range console {
		if err != nil {
			return
		}
		if m.IsException() || strings.Contains(m.Text, "Content Security Policy") {
			p.mu.Lock()
			p.console = append(p.console, fmt.Sprintf("%s %s:%d: %s", m.Type, m.URL, m.Line+1, m.Text))
			p.mu.Unlock()
		}
	}
}

// takeDialogs returns the messages of the dialogs accepted since the last
// call.
func (p *person) takeDialogs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	d := p.dialogs
	p.dialogs = nil
	return d
}

// wantCleanConsole fails the test if a page threw or broke its Content
// Security Policy (an inline script or style, a third-party resource).
func (p *person) wantCleanConsole(t testing.TB) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range p.console {
		t.Errorf("%s's browser console: %s", p.name, m)
	}
}

// step runs actions with stepTimeout.
func (p *person) step(t testing.TB, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %s: %v (at %s)", p.name, what, err, p.location(t))
	}
}

// load runs actions that navigate (a click on a link or a submit button)
// and waits for the page they lead to, after any redirects; it returns its
// HTTP status.
func (p *person) load(t testing.TB, what string, actions ...chromedp.Action[chromedp.Void]) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, actions...)
	if err != nil {
		t.Fatalf("%s: %s: %v (at %s)", p.name, what, err, p.location(t))
	}
	return int(resp.Status)
}

// open loads base+path and returns the status of the page it ends on.
func (p *person) open(t testing.TB, path string) int {
	t.Helper()
	return p.load(t, "open "+path, chromedp.Navigate(p.base+path))
}

// submit clicks the element sel (a submit button) and returns the status of
// the page the form leads to.
func (p *person) submit(t testing.TB, sel string) int {
	t.Helper()
	return p.load(t, "click "+sel, chromedp.Click(chromedp.CSS(sel)))
}

// fill types value into the empty input sel.
func (p *person) fill(t testing.TB, sel, value string) {
	t.Helper()
	p.step(t, "fill "+sel, chromedp.Clear(chromedp.CSS(sel)), chromedp.SendKeys(chromedp.CSS(sel), value))
}

// choose selects value in the select element sel.
func (p *person) choose(t testing.TB, sel, value string) {
	t.Helper()
	p.step(t, "choose "+value+" in "+sel, chromedp.SetValue(chromedp.CSS(sel), value))
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t testing.TB, p *person, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("%s: evaluate %s: %v", p.name, expr, err)
	}
	return v
}

// text is the trimmed text of the first element sel matches, "" if none.
func (p *person) text(t testing.TB, sel string) string {
	t.Helper()
	return eval[string](t, p, fmt.Sprintf(`(document.querySelector(%s)?.textContent ?? "").trim()`, jsString(sel)))
}

// count is the number of elements sel matches.
func (p *person) count(t testing.TB, sel string) int {
	t.Helper()
	return eval[int](t, p, fmt.Sprintf(`document.querySelectorAll(%s).length`, jsString(sel)))
}

// value is the value of the first input sel matches.
func (p *person) value(t testing.TB, sel string) string {
	t.Helper()
	return eval[string](t, p, fmt.Sprintf(`document.querySelector(%s)?.value ?? ""`, jsString(sel)))
}

// path is the page's path and query.
func (p *person) path(t testing.TB) string {
	t.Helper()
	return eval[string](t, p, `location.pathname + location.search`)
}

// location is the page's URL, for error messages ("?" if unknown).
func (p *person) location(t testing.TB) string {
	ctx, cancel := context.WithTimeout(p.ctx, time.Second)
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return "?"
	}
	return loc
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// wantPage checks that the page is path (and query) with the heading h1.
func (p *person) wantPage(t testing.TB, path, h1 string) {
	t.Helper()
	if got, heading := p.path(t), p.text(t, "h1"); got != path || heading != h1 {
		t.Fatalf("%s is at %s, heading %q; want %s, heading %q (error on the page: %q)",
			p.name, got, heading, path, h1, p.text(t, ".error"))
	}
}

// cookie is the browser's cookie name for the page at base+path.
func (p *person) cookie(t testing.TB, path, name string) *network.Cookie {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{p.base + path}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Cookies {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// setCookie gives the browser a cookie, as a Set-Cookie of base would.
func (p *person) setCookie(t testing.TB, c *network.Cookie) {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	_, err := chromedp.Call(ctx, network.SetCookie, network.SetCookieParams{Name: c.Name, Value: c.Value, URL: p.base + c.Path,
		Path: c.Path, HTTPOnly: &c.HTTPOnly, Secure: &c.Secure, SameSite: c.SameSite})
	if err != nil {
		t.Fatalf("set cookie %s: %v", c.Name, err)
	}
}

// pausedRequest is a request the tab holds until the test lets it go.
type pausedRequest struct {
	id  fetch.RequestID
	url string
}

// holder holds a tab's requests (Fetch domain) for the test.
type holder struct {
	p      *person
	held   chan pausedRequest
	cancel context.CancelFunc
}

// holdRequests makes the tab hold every request whose URL matches one of
// patterns (Fetch URL patterns: * for anything) before it is sent, until
// the test lets it go (resume) or fails it (abort); stop ends it.
func (p *person) holdRequests(t testing.TB, patterns ...string) *holder {
	t.Helper()
	ctx, cancel := context.WithCancel(p.ctx)
	h := &holder{p: p, held: make(chan pausedRequest, 8), cancel: cancel}
	paused := chromedp.Events(ctx, fetch.RequestPaused)
	go func() {
		for ev, err := range paused {
			if err != nil {
				return
			}
			select {
			case h.held <- pausedRequest{id: ev.RequestID, url: ev.Request.URL}:
			case <-ctx.Done():
				return
			}
		}
	}()
	var rp []*fetch.RequestPattern
	for _, pat := range patterns {
		rp = append(rp, &fetch.RequestPattern{URLPattern: pat, RequestStage: fetch.RequestStageRequest})
	}
	p.call(t, "hold requests", func(ctx context.Context) error {
		_, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{Patterns: rp})
		return err
	})
	return h
}

// next waits for the next request held.
func (h *holder) next(t testing.TB) pausedRequest {
	t.Helper()
	select {
	case r := <-h.held:
		return r
	case <-time.After(stepTimeout):
		t.Fatalf("%s: no request held within %v (at %s)", h.p.name, stepTimeout, h.p.location(t))
		return pausedRequest{}
	}
}

// resume sends the request on.
func (h *holder) resume(t testing.TB, r pausedRequest) {
	t.Helper()
	h.p.call(t, "resume "+r.url, func(ctx context.Context) error {
		_, err := chromedp.Call(ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: r.id})
		return err
	})
}

// abort fails the request, as when the user leaves the page.
func (h *holder) abort(t testing.TB, r pausedRequest) {
	t.Helper()
	h.p.call(t, "abort "+r.url, func(ctx context.Context) error {
		_, err := chromedp.Call(ctx, fetch.FailRequest, fetch.FailRequestParams{RequestID: r.id, ErrorReason: network.ErrorReasonAborted})
		return err
	})
}

// stop holds no more requests.
func (h *holder) stop(t testing.TB) {
	t.Helper()
	h.p.call(t, "stop holding requests", func(ctx context.Context) error {
		_, err := chromedp.Call(ctx, fetch.Disable, cdp.Empty{})
		return err
	})
	h.cancel()
}

// waitPath waits until the tab shows path, its document loaded (after a
// navigation the test did not start itself).
func (p *person) waitPath(t testing.TB, path string) {
	t.Helper()
	deadline := time.Now().Add(stepTimeout)
	expr := fmt.Sprintf(`location.pathname === %s && document.readyState === "complete"`, jsString(path))
	for {
		ctx, cancel := context.WithTimeout(p.ctx, time.Second)
		at, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr)) // fails while a document replaces another
		cancel()
		if err == nil && at {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not at %s within %v (at %s; %v)", p.name, path, stepTimeout, p.location(t), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// call runs a protocol call with stepTimeout.
func (p *person) call(t testing.TB, what string, f func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	if err := f(ctx); err != nil {
		t.Fatalf("%s: %s: %v", p.name, what, err)
	}
}

// screens is where screenshots go.
type screens struct {
	dir string
}

// screenshotDir is the repository's deploy/screenshots/ui when
// TOLLGATE_UPDATE_SCREENSHOTS=1 (to commit them), otherwise a directory of
// the test's (so that a run leaves the tree as it was).
func screenshotDir(t testing.TB) screens {
	t.Helper()
	if os.Getenv(updateScreenshotsEnv) != "1" {
		return screens{dir: t.TempDir()}
	}
	dir := filepath.Join(repoRoot, "deploy", "screenshots", "ui")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return screens{dir: dir}
}

// updateScreenshotsEnv, set to 1, writes the screenshots into the tree.
const updateScreenshotsEnv = "TOLLGATE_UPDATE_SCREENSHOTS"

// shoot writes a full-page PNG of p's tab as name.png and checks it is a
// PNG as wide as the viewport, width.
func (s screens) shoot(t testing.TB, p *person, name string, width int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	b, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(b))
	switch {
	case err != nil:
		t.Fatalf("screenshot %s is not a PNG: %v", name, err)
	case cfg.Width != width || cfg.Height < 200:
		t.Errorf("screenshot %s is %dx%d, want %d wide (the viewport) and a page high", name, cfg.Width, cfg.Height, width)
	}
	if err := os.WriteFile(filepath.Join(s.dir, name+".png"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// phone emulates a phone's viewport (390×844, touch, the page's
// viewport meta honoured) until restore is called.
func (p *person) phone(t testing.TB) (restore func()) {
	t.Helper()
	p.step(t, "emulate a phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(1)))
	return func() { p.step(t, "back to the desktop", chromedp.EmulateViewport(desktopWidth, desktopHeight)) }
}

// darkMode emulates prefers-color-scheme: dark until restore is called.
func (p *person) darkMode(t testing.TB) (restore func()) {
	t.Helper()
	media := func(value string) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: value}}})
			return err
		}
	}
	p.call(t, "emulate dark mode", media("dark"))
	return func() { p.call(t, "back to light mode", media("light")) }
}
