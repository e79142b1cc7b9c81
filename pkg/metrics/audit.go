package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// AuditSource is what the audit metrics read: audit.Recorder.
type AuditSource interface {
	// Dropped is how many events were lost so far.
	Dropped() int64
	// Buffered is how many events wait for the store, in memory and in
	// the spool file.
	Buffered() (memory, spooled int)
}

// auditSource holds the AuditSource that ObserveAudit set.
type auditSource struct{ src AuditSource }

// registerAudit registers the audit metrics, read from m.audit at scrape
// time (0 until ObserveAudit).
func (m *Metrics) registerAudit(reg prometheus.Registerer) {
	dropped := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Namespace: Namespace, Name: "audit_events_dropped_total",
		Help: "Audit events lost: the queue, the buffer and the spool were full or failing, or the store was away at shutdown without a spool.",
	}, func() float64 {
		if s := m.audit.Load(); s != nil {
			return float64(s.src.Dropped())
		}
		return 0
	})
	buffered := func(place string, pick func(memory, spooled int) int) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "audit_events_buffered",
			Help:        "Audit events waiting for the store, in memory (audit.buffer) or in the spool file (audit.spool_file).",
			ConstLabels: prometheus.Labels{"place": place},
		}, func() float64 {
			if s := m.audit.Load(); s != nil {
				return float64(pick(s.src.Buffered()))
			}
			return 0
		})
	}
	reg.MustRegister(dropped,
		buffered("memory", func(memory, _ int) int { return memory }),
		buffered("spool", func(_, spooled int) int { return spooled }))
}

// ObserveAudit exports src's counts as tollgate_audit_events_dropped_total
// and tollgate_audit_events_buffered{place="memory"|"spool"}.
func (m *Metrics) ObserveAudit(src AuditSource) {
	if m == nil {
		return
	}
	m.audit.Store(&auditSource{src: src})
}
