package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/tollgate/tollgate/pkg/store"
)

const auditPage = 500

func newAuditCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Read the audit log"}
	var (
		since      string
		follow, js bool
	)
	tail := &cobra.Command{
		Use:   "tail",
		Short: "Print audit events since a time (default: the last hour)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			from, err := parseSince(since, time.Now())
			if err != nil {
				return err
			}
			_, st, err := operatorStore(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			return tailAudit(cmd.Context(), st, from, follow, auditPrinter(cmd.OutOrStdout(), js))
		},
	}
	tail.Flags().StringVar(&since, "since", "1h", "a duration back from now (90m, 24h) or an RFC 3339 time")
	tail.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new events")
	tail.Flags().BoolVar(&js, "json", false, "print JSON lines")
	cmd.AddCommand(tail)
	return cmd
}

// parseSince reads "90m" (back from now) or an RFC 3339 time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--since %q: want a duration (90m) or an RFC 3339 time", s)
	}
	return t, nil
}

// tailAudit prints every event since from, page by page; with follow it
// then polls for new ones until ctx ends.
func tailAudit(ctx context.Context, st store.Audit, from time.Time, follow bool, print func(store.AuditEvent) error) error {
	var after int64
	for {
		events, err := st.ListAudit(ctx, after, from, auditPage)
		if err != nil {
			return err
		}
		for _, ev := range events {
			if err := print(ev); err != nil {
				return err
			}
			after = ev.ID
		}
		if len(events) == auditPage {
			continue
		}
		if !follow {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

func auditPrinter(w io.Writer, js bool) func(store.AuditEvent) error {
	if js {
		enc := json.NewEncoder(w)
		return func(ev store.AuditEvent) error { return enc.Encode(auditJSON(ev)) }
	}
	return func(ev store.AuditEvent) error {
		_, err := fmt.Fprintf(w, "%s %-16s subject=%s ip=%s client_id=%s service=%s requested=%s granted=%s detail=%s\n",
			ev.Time.UTC().Format(time.RFC3339), ev.Kind, strconv.Quote(ev.Subject), ev.ClientIP,
			strconv.Quote(ev.ClientID), ev.Service, strconv.Quote(ev.Requested), strconv.Quote(ev.Granted), strconv.Quote(ev.Detail))
		return err
	}
}

func auditJSON(ev store.AuditEvent) map[string]any {
	return map[string]any{
		"id": ev.ID, "time": ev.Time.UTC().Format(time.RFC3339Nano), "kind": ev.Kind,
		"subject": ev.Subject, "client_ip": ev.ClientIP, "client_id": ev.ClientID, "service": ev.Service,
		"requested": ev.Requested, "granted": ev.Granted, "detail": ev.Detail,
	}
}
