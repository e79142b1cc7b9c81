package metrics

import (
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Methods that get their own label value; any other is "OTHER", so a client
// cannot mint series by inventing methods.
var methodNames = [...]string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER"}

const methodOther = len(methodNames) - 1

func methodIndex(method string) int {
	switch method {
	case "GET":
		return 0
	case "HEAD":
		return 1
	case "POST":
		return 2
	case "PUT":
		return 3
	case "PATCH":
		return 4
	case "DELETE":
		return 5
	case "OPTIONS":
		return 6
	}
	return methodOther
}

// Statuses 100-599 get a cached series each; net/http refuses codes outside
// 100-999, and those above 599 are counted through the vector.
const (
	minStatus = 100
	maxStatus = 599
)

// Route records the requests of one route: build it once per path template
// with Metrics.Route and call Observe for each request. The series of a
// method and status are resolved the first time they are seen and cached,
// so later requests cost an atomic load and an add each, with no allocation.
type Route struct {
	m        *Metrics
	template string
	methods  [len(methodNames)]atomic.Pointer[routeMethod]
}

// routeMethod holds the series of one route and method.
type routeMethod struct {
	duration prometheus.Observer
	status   [maxStatus - minStatus + 1]atomic.Pointer[prometheus.Counter]
}

// Route returns the recorder for the route whose path template is template
// (for example "/oauth2/token"). It returns nil on a nil *Metrics; Observe
// on a nil *Route does nothing.
func (m *Metrics) Route(template string) *Route {
	if m == nil {
		return nil
	}
	return &Route{m: m, template: template}
}

// Observe records one request answered with status after d.
func (r *Route) Observe(method string, status int, d time.Duration) {
	if r == nil {
		return
	}
	i := methodIndex(method)
	rm := r.methods[i].Load()
	if rm == nil {
		rm = &routeMethod{duration: r.m.duration.WithLabelValues(r.template, methodNames[i])}
		if !r.methods[i].CompareAndSwap(nil, rm) {
			rm = r.methods[i].Load()
		}
	}
	rm.duration.Observe(d.Seconds())
	if status < minStatus || status > maxStatus {
		r.m.requests.WithLabelValues(r.template, methodNames[i], strconv.Itoa(status)).Inc()
		return
	}
	slot := &rm.status[status-minStatus]
	c := slot.Load()
	if c == nil {
		counter := r.m.requests.WithLabelValues(r.template, methodNames[i], strconv.Itoa(status))
		slot.CompareAndSwap(nil, &counter) // a loser's counter is the same series
		c = slot.Load()
	}
	(*c).Inc()
}
