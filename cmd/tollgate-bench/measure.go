package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"time"
)

// runner runs scenarios one after the other, each on a fresh server.
type runner struct {
	opts     options
	bin      string // the tollgate binary
	dir      *benchDir
	progress io.Writer
	step     string // "[i/n] name", for progress lines
}

func (r *runner) progressf(format string, args ...any) {
	fmt.Fprintf(r.progress, "bench %s: %s\n", r.step, fmt.Sprintf(format, args...))
}

// run measures one scenario; a scenario that cannot run is marked failed
// or skipped, never fatal to the run.
func (r *runner) run(sc scenario) *result {
	res := &result{Name: sc.name, Family: sc.family, Size: sc.size, SignAlg: sc.signAlg()}
	srv, creds, cleanup, err := r.start(sc)
	defer cleanup()
	if err != nil {
		if reason := skipReason(sc, err); reason != "" {
			res.Skipped = reason
		} else {
			res.Failed = err.Error()
		}
		r.progressf("%s", firstOf(res.Skipped, "failed: "+res.Failed))
		return res
	}
	res.StartupMS = msOf(srv.startup)
	err = r.measure(srv, sc, sc.load("http://"+srv.addr, r.dir, creds), res)
	if stopErr := srv.stop(); err == nil {
		err = stopErr
	}
	if err != nil {
		res.Failed = err.Error()
	}
	return res
}

// skipReason says why a scenario that failed to start is skipped rather
// than failed: a server without token.reuse_window, no PostgreSQL.
func skipReason(sc scenario, err error) string {
	msg := err.Error()
	if sc.spec.reuseWindow > 0 && strings.Contains(msg, `unknown key "token.reuse_window"`) {
		return "skipped: server has no token.reuse_window"
	}
	if errorsIsNoPostgres(err) {
		return "skipped: " + msg
	}
	return ""
}

// start starts the scenario's server, prepares its credentials, and, for
// filler tokens, restarts it over the filled store, so that the startup
// measured is the one over the full table. cleanup is never nil.
func (r *runner) start(sc scenario) (*child, credentials, func(), error) {
	var creds credentials
	if sc.floor != "" {
		srv, err := r.startFloor(sc)
		return srv, creds, func() {}, err
	}
	cleanup := func() {}
	if sc.postgres {
		dsn, drop, err := freshSchema(context.Background())
		if err != nil {
			return nil, creds, cleanup, err
		}
		sc.spec.postgres, cleanup = dsn, drop
	}
	cfg, err := r.dir.writeServer(sc.name, sc.spec)
	if err != nil {
		return nil, creds, cleanup, err
	}
	if sc.needs&needClient != 0 {
		if creds.clientSecret, err = registerClient(r.bin, cfg); err != nil {
			return nil, creds, cleanup, err
		}
	}
	srv, err := r.startTollgate(sc.name, cfg)
	if err != nil {
		return nil, creds, cleanup, err
	}
	if err := r.prepare(srv, sc, &creds); err != nil {
		srv.stop()
		return nil, creds, cleanup, err
	}
	if sc.fillTokens > 0 {
		srv, err = r.refill(srv, sc, cfg)
	}
	return srv, creds, cleanup, err
}

func (r *runner) startTollgate(name, cfg string) (*child, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	r.progressf("starting tollgate serve on %s", addr)
	return startChild(name, addr, filepath.Join(r.dir.root, name, "server.log"),
		[]string{r.bin, "serve", "--config", cfg}, []string{"TOLLGATE_SERVER_ADDR=" + addr})
}

func (r *runner) startFloor(sc scenario) (*child, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	key, err := r.dir.keyFile(sc.spec.alg)
	if err != nil {
		return nil, err
	}
	argv, env, err := floorArgs(floorSpec{Kind: sc.floor, Alg: sc.spec.alg, Key: key, Addr: addr})
	if err != nil {
		return nil, err
	}
	r.progressf("starting the %s floor on %s", sc.floor, addr)
	return startChild(sc.name, addr, filepath.Join(r.dir.root, sc.name+".log"), argv, env)
}

// prepare gets the credentials the scenario's load presents.
func (r *runner) prepare(srv *child, sc scenario, creds *credentials) error {
	base := "http://" + srv.addr
	var err error
	if sc.needs&needAPIToken != 0 {
		if creds.apiToken, err = createAPIToken(base, r.dir.password); err != nil {
			return err
		}
	}
	if sc.needs&needRefresh != 0 {
		creds.refreshToken, err = fetchRefreshToken(base, r.dir.password)
	}
	return err
}

// refill stops srv, adds the filler tokens to its store and starts it
// again.
func (r *runner) refill(srv *child, sc scenario, cfg string) (*child, error) {
	if err := srv.stop(); err != nil {
		return nil, err
	}
	r.progressf("storing %d filler API tokens", sc.fillTokens)
	start := time.Now()
	var err error
	if sc.postgres {
		err = fillPostgres(context.Background(), sc.spec.postgres, sc.fillTokens)
	} else {
		err = fillSQLite(context.Background(), filepath.Join(r.dir.root, sc.name, "tollgate.db"), sc.fillTokens)
	}
	if err != nil {
		return nil, err
	}
	r.progressf("stored in %s", time.Since(start).Round(time.Millisecond))
	return r.startTollgate(sc.name, cfg)
}

// measure drives srv: a warm-up, the closed loop, then (unless the load is
// a finite storm) the open loop at half the closed loop's rate or -rate.
// The server's CPU is read around the two measured phases.
func (r *runner) measure(srv *child, sc scenario, l load, res *result) error {
	client := newClient(r.opts.conns)
	defer client.CloseIdleConnections()
	if l.once == nil && r.opts.warmup > 0 {
		closedLoop(client, l, r.opts.conns, r.opts.warmup)
	}
	cpu0, err := srv.cpu()
	if err != nil {
		return err
	}
	latency, all := r.phases(client, sc, l, res)
	cpu1, err := srv.cpu()
	if err != nil {
		return err
	}
	fillLatency(res, latency)
	res.Requests, res.Errors, res.Rejected, res.FirstError = all.answered(), all.errors, all.rejected, all.firstErr
	if n := all.answered() + all.errors; n > 0 {
		res.CPUPerRequest = float64((cpu1 - cpu0).Microseconds()) / float64(n)
	}
	res.PeakRSS, err = srv.peakRSS()
	return err
}

// phases runs the closed loop and, unless the load is a finite storm, the
// open loop. It returns the phase the latency is taken from and both
// phases merged.
func (r *runner) phases(client *http.Client, sc scenario, l load, res *result) (latency, all *phase) {
	if l.once != nil {
		r.progressf("%d logins, once each, on %d connections", len(l.once), r.opts.conns)
	} else {
		r.progressf("closed loop, %d connections, %s", r.opts.conns, r.opts.duration)
	}
	closed := closedLoop(client, l, r.opts.conns, r.opts.duration)
	res.RPS, res.LatencyFrom = closed.rate(), "closed loop"
	latency, all = closed, &phase{hist: &histogram{}}
	all.merge(closed)
	if sc.closedOnly || closed.rate() == 0 {
		return latency, all
	}
	res.OpenRate = r.openRate(closed)
	r.progressf("%.0f req/s; open loop at %.0f req/s, %s", res.RPS, res.OpenRate, r.opts.duration)
	latency = openLoop(client, l, r.opts.conns, res.OpenRate, r.opts.duration)
	all.merge(latency)
	res.LatencyFrom = "open loop"
	return latency, all
}

// openRate is -rate, or half the closed loop's rate.
func (r *runner) openRate(closed *phase) float64 {
	if r.opts.rate > 0 {
		return r.opts.rate
	}
	return closed.rate() / 2
}

func fillLatency(res *result, p *phase) {
	res.P50 = msOf(p.hist.quantile(0.50))
	res.P99 = msOf(p.hist.quantile(0.99))
	res.P999 = msOf(p.hist.quantile(0.999))
}

func msOf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
