package audit

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/tollgate/tollgate/pkg/store"
)

// spooled is one line of the spool file (JSON lines). Its own type, so
// that the file's format does not follow renames in store.AuditEvent.
type spooled struct {
	Time      time.Time `json:"time"`
	Kind      string    `json:"kind"`
	Subject   string    `json:"subject,omitempty"`
	ClientIP  string    `json:"client_ip,omitempty"`
	ClientID  string    `json:"client_id,omitempty"`
	Service   string    `json:"service,omitempty"`
	Requested string    `json:"requested,omitempty"`
	Granted   string    `json:"granted,omitempty"`
	Detail    string    `json:"detail,omitempty"`
}

func toSpooled(e store.AuditEvent) spooled {
	return spooled{Time: e.Time, Kind: e.Kind, Subject: e.Subject, ClientIP: e.ClientIP, ClientID: e.ClientID,
		Service: e.Service, Requested: e.Requested, Granted: e.Granted, Detail: e.Detail}
}

func (s spooled) event() store.AuditEvent {
	return store.AuditEvent{Time: s.Time, Kind: s.Kind, Subject: s.Subject, ClientIP: s.ClientIP, ClientID: s.ClientID,
		Service: s.Service, Requested: s.Requested, Granted: s.Granted, Detail: s.Detail}
}

// spoolMode is the spool file's mode: audit events name users and addresses.
const spoolMode fs.FileMode = 0o600

// DefaultSpoolMax is how large the spool file may grow when WithSpoolMax
// does not say (audit.spool_max_bytes): anonymous token requests are
// audited one row each, so during an outage anyone could fill the disk.
const DefaultSpoolMax = 1 << 30

// errSpoolFull: the events would take the spool past its size; they are
// dropped (and counted).
var errSpoolFull = errors.New("audit spool: full")

// spool is a file of events waiting for the store, oldest first, as JSON
// lines. Events before offset read were written to the store already; the
// file is removed once all of it was. It is not safe for concurrent use
// (backlog serializes it).
type spool struct {
	path    string
	max     int64    // bytes the file may grow to; 0: DefaultSpoolMax
	f       *os.File // nil while there is no file
	read    int64    // offset of the first event not yet written to the store
	size    int64    // offset of the end of the file
	pending int      // events from read to size
}

// openSpool returns the spool at path with the events a previous run left
// in it, if any. The file is created on the first append.
func openSpool(path string, maxBytes int64) (*spool, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultSpoolMax
	}
	s := &spool{path: path, max: maxBytes}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND, spoolMode)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("audit spool: %w", err)
	}
	s.f = f
	if err := s.count(); err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

// count reads the file's size and number of lines.
func (s *spool) count() error {
	if err := s.f.Chmod(spoolMode); err != nil {
		return fmt.Errorf("audit spool: %w", err)
	}
	r := bufio.NewReaderSize(s.f, 64<<10)
	var last byte
	for {
		line, err := r.ReadSlice('\n')
		if len(line) > 0 {
			s.size += int64(len(line))
			last = line[len(line)-1]
			if last == '\n' {
				s.pending++
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue // a long line goes on
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("audit spool %s: %w", s.path, err)
		}
	}
	if s.size > 0 && last != '\n' {
		// A crash cut the last line short: end it, so that appended
		// events start on a line of their own (peek skips the stub).
		if _, err := s.f.Write([]byte{'\n'}); err != nil {
			return fmt.Errorf("audit spool: %w", err)
		}
		s.size++
		s.pending++
	}
	return nil
}

// append writes events at the end of the file, or none of them
// (errSpoolFull) when they would take it past its size.
func (s *spool) append(events []store.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	data, err := encodeLines(events)
	if err != nil {
		return err
	}
	if s.size+int64(len(data)) > s.max {
		return errSpoolFull
	}
	if s.f == nil {
		// A file left behind although all of it was written (its removal
		// failed) starts over.
		f, err := os.OpenFile(s.path, os.O_RDWR|os.O_APPEND|os.O_CREATE|os.O_TRUNC, spoolMode)
		if err != nil {
			return fmt.Errorf("audit spool: %w", err)
		}
		s.f = f
	}
	n, err := s.f.Write(data)
	if err != nil {
		// None of the events counts as kept: cut what was written (a
		// partial line would swallow the next append's first one).
		if terr := s.f.Truncate(s.size); terr != nil {
			s.size += int64(n) // a partial line stays; peek skips it
		}
		return fmt.Errorf("audit spool: %w", err)
	}
	s.size += int64(n)
	s.pending += len(events)
	return nil
}

func encodeLines(events []store.AuditEvent) ([]byte, error) {
	var data []byte
	for _, e := range events {
		line, err := json.Marshal(toSpooled(e))
		if err != nil {
			return nil, fmt.Errorf("audit spool: %w", err)
		}
		data = append(append(data, line...), '\n')
	}
	return data, nil
}

// peek returns up to n events from the read offset, with the offset
// after each one, and how many lines it skipped for good because they do
// not parse (a line cut short by a crash, or garbage). A line that does
// not parse after some events ends the batch; the next peek skips it.
func (s *spool) peek(n int) (events []store.AuditEvent, ends []int64, skipped int, err error) {
	if s.f == nil || s.read >= s.size {
		return nil, nil, 0, nil
	}
	r := bufio.NewReaderSize(io.NewSectionReader(s.f, s.read, s.size-s.read), 64<<10)
	off := s.read
	for len(events) < n {
		line, err := r.ReadBytes('\n')
		if len(line) == 0 && err == io.EOF {
			break
		}
		if err != nil && err != io.EOF {
			return nil, nil, 0, fmt.Errorf("audit spool %s: %w", s.path, err)
		}
		off += int64(len(line))
		var sp spooled
		if json.Unmarshal(line, &sp) != nil {
			if len(events) > 0 {
				break
			}
			s.read, s.pending = off, max(s.pending-1, 0)
			skipped++
			continue
		}
		events = append(events, sp.event())
		ends = append(ends, off)
	}
	return events, ends, skipped, nil
}

// consumed marks the events up to offset end (k of them) as written; the
// file is removed once all of it was.
func (s *spool) consumed(end int64, k int) error {
	s.read = end
	s.pending = max(s.pending-k, 0)
	if s.read < s.size {
		return nil
	}
	return s.remove()
}

// remove deletes the file: every event in it was written (or dropped).
func (s *spool) remove() error {
	if s.f == nil {
		return nil
	}
	s.f.Close()
	s.f, s.read, s.size, s.pending = nil, 0, 0, 0
	if err := os.Remove(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("audit spool: %w", err)
	}
	return nil
}

// rewrite replaces the file by first, then the events not yet written,
// through a temporary file renamed over it: at shutdown the events still
// in memory (older than any spooled one) go first, and what was already
// written is not written again at the next start.
func (s *spool) rewrite(first []store.AuditEvent) error {
	head, err := encodeLines(first)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.path), filepath.Base(s.path)+".*")
	if err != nil {
		return fmt.Errorf("audit spool: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the rename, there is nothing left to remove
	if err := s.copyInto(tmp, head); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("audit spool: %w", err)
	}
	if err := os.Rename(tmp.Name(), s.path); err != nil {
		return fmt.Errorf("audit spool: %w", err)
	}
	return s.reopen(len(first) + s.pending)
}

// reopen opens the file anew after rewrite, which holds pending events
// from its start.
func (s *spool) reopen(pending int) error {
	if s.f != nil {
		s.f.Close()
	}
	s.f, s.read, s.size, s.pending = nil, 0, 0, 0
	f, err := os.OpenFile(s.path, os.O_RDWR|os.O_APPEND, spoolMode)
	if err != nil {
		return fmt.Errorf("audit spool: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("audit spool: %w", err)
	}
	s.f, s.size, s.pending = f, fi.Size(), pending
	return nil
}

// copyInto writes head and the unwritten rest of the file to tmp, synced.
func (s *spool) copyInto(tmp *os.File, head []byte) error {
	if err := tmp.Chmod(spoolMode); err != nil {
		return fmt.Errorf("audit spool: %w", err)
	}
	if _, err := tmp.Write(head); err != nil {
		return fmt.Errorf("audit spool: %w", err)
	}
	if s.f != nil {
		if _, err := io.Copy(tmp, io.NewSectionReader(s.f, s.read, s.size-s.read)); err != nil {
			return fmt.Errorf("audit spool: %w", err)
		}
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("audit spool: %w", err)
	}
	return nil
}
