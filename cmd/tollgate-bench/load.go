package main

import (
	"bytes"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// target is one request a scenario sends.
type target struct {
	method      string
	url         string
	form        string // form-encoded body of a POST; "" for none
	user, pass  string // HTTP Basic when user != ""
	contentType string
}

// load is what one phase sends: the target, and instead of it every
// wrongEvery-th request the wrong target (whose 401 is expected); or a
// finite list of targets, each sent once (closed loop only).
type load struct {
	target     target
	wrong      *target
	wrongEvery int
	once       []target
}

// phase is what one load phase measured.
type phase struct {
	hist     *histogram
	ok       uint64 // 2xx
	rejected uint64 // the 401s the wrong target was meant to get
	errors   uint64 // any other status, or no answer
	elapsed  time.Duration
	firstErr string
}

// answered is the number of requests answered as expected.
func (p *phase) answered() uint64 { return p.ok + p.rejected }

// rate is the answered requests per second.
func (p *phase) rate() float64 {
	if p.elapsed <= 0 {
		return 0
	}
	return float64(p.answered()) / p.elapsed.Seconds()
}

func (p *phase) merge(o *phase) {
	p.hist.merge(o.hist)
	p.ok += o.ok
	p.rejected += o.rejected
	p.errors += o.errors
	if p.firstErr == "" {
		p.firstErr = o.firstErr
	}
}

// newClient is a keep-alive client with one connection per worker.
func newClient(conns int) *http.Client {
	tr := &http.Transport{
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		DisableCompression:  true,
		IdleConnTimeout:     time.Minute,
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// reusableBody is a request body rewound before every send.
type reusableBody struct{ bytes.Reader }

func (*reusableBody) Close() error { return nil }

// prepared is a target's request, built once per worker and resent.
type prepared struct {
	req       *http.Request
	body      []byte
	reader    *reusableBody
	expect401 bool
}

func prepare(t target, expect401 bool) *prepared {
	var body []byte
	if t.form != "" {
		body = []byte(t.form)
	}
	req, err := http.NewRequest(t.method, t.url, nil)
	if err != nil {
		panic(err) // the URLs are built by this program
	}
	if t.user != "" {
		req.SetBasicAuth(t.user, t.pass)
	}
	if t.contentType != "" {
		req.Header.Set("Content-Type", t.contentType)
	}
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return &prepared{req: req, body: body, reader: &reusableBody{}, expect401: expect401}
}

// worker sends requests on one connection and records what happened.
type worker struct {
	client *http.Client
	normal *prepared
	wrong  *prepared
	every  int
	sent   int
	phase  phase
}

func newWorker(client *http.Client, l load) *worker {
	w := &worker{client: client, normal: prepare(l.target, false), every: l.wrongEvery,
		phase: phase{hist: &histogram{}}}
	if l.wrong != nil {
		w.wrong = prepare(*l.wrong, true)
	}
	return w
}

// next is the request to send now: the wrong one every w.every-th time.
func (w *worker) next() *prepared {
	w.sent++
	if w.wrong != nil && w.every > 0 && w.sent%w.every == 0 {
		return w.wrong
	}
	return w.normal
}

// send sends p and records the outcome and the latency since from.
func (w *worker) send(p *prepared, from time.Time) {
	req := p.req
	if p.body != nil {
		p.reader.Reset(p.body)
		req.Body, req.ContentLength = p.reader, int64(len(p.body))
	}
	resp, err := w.client.Do(req)
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	w.phase.hist.record(time.Since(from))
	switch {
	case err != nil:
		w.fail(err.Error())
	case resp.StatusCode/100 == 2 && !p.expect401:
		w.phase.ok++
	case resp.StatusCode == http.StatusUnauthorized && p.expect401:
		w.phase.rejected++
	default:
		w.fail(p.req.Method + " " + p.req.URL.Path + ": " + resp.Status)
	}
}

func (w *worker) fail(msg string) {
	w.phase.errors++
	if w.phase.firstErr == "" {
		w.phase.firstErr = msg
	}
}

// closedLoop keeps conns requests in flight for d (each worker sends its
// next request when the last is answered), or until every target of
// l.once was sent once: the throughput the server sustains.
func closedLoop(client *http.Client, l load, conns int, d time.Duration) *phase {
	var next atomic.Int64
	start := time.Now()
	deadline := start.Add(d)
	return runWorkers(client, l, conns, start, func(w *worker) {
		for time.Now().Before(deadline) || l.once != nil {
			if l.once == nil {
				w.send(w.next(), time.Now())
				continue
			}
			i := next.Add(1) - 1
			if i >= int64(len(l.once)) {
				return
			}
			w.send(prepare(l.once[i], false), time.Now())
		}
	})
}

// openLoop sends rate requests per second for d on up to conns
// connections. Request i is due at start + i/rate and its latency is
// counted from then, not from when a worker got to send it, so a stalled
// server is charged for the wait it caused (no coordinated omission).
func openLoop(client *http.Client, l load, conns int, rate float64, d time.Duration) *phase {
	var next atomic.Int64
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	total := int64(d / interval)
	return runWorkers(client, l, conns, start, func(w *worker) {
		for {
			i := next.Add(1) - 1
			if i >= total {
				return
			}
			due := start.Add(time.Duration(i) * interval)
			if wait := time.Until(due); wait > 0 {
				time.Sleep(wait)
			}
			w.send(w.next(), due)
		}
	})
}

// runWorkers runs body on conns workers and merges what they measured.
func runWorkers(client *http.Client, l load, conns int, start time.Time, body func(*worker)) *phase {
	workers := make([]*worker, conns)
	var wg sync.WaitGroup
	for i := range workers {
		workers[i] = newWorker(client, l)
		wg.Go(func() { body(workers[i]) })
	}
	wg.Wait()
	total := &phase{hist: &histogram{}, elapsed: time.Since(start)}
	for _, w := range workers {
		total.merge(&w.phase)
	}
	return total
}

// formType is the Content-Type of form-encoded bodies.
const formType = "application/x-www-form-urlencoded"
