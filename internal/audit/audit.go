// Package audit appends job events to the audit log,
// /var/log/server-impermanence/audit.jsonl: one JSON object per line, one
// line per event (time, job, action, subvolume, path, result, duration,
// error). The file is opened O_APPEND and every event is one write(2)
// followed by fsync, so concurrent writers never interleave within a line
// and an event that Append reported is on disk.
package audit

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// DefaultPath is the audit log of the host.
const DefaultPath = "/var/log/server-impermanence/audit.jsonl"

// Results of an event.
const (
	ResultSuccess = "success"
	ResultFailure = "failure"
	ResultSkipped = "skipped"
	ResultRefused = "refused"
)

// Event is one line of the audit log.
type Event struct {
	Time      time.Time `json:"time"`
	Job       string    `json:"job"`
	Action    string    `json:"action"`
	Subvolume string    `json:"subvolume,omitempty"`
	Path      string    `json:"path,omitempty"`
	Result    string    `json:"result"`
	// Duration in seconds.
	Duration float64 `json:"duration"`
	Error    string  `json:"error,omitempty"`
	// BootID identifies the boot the event happened in.
	BootID string `json:"boot_id,omitempty"`
}

// Log is an open audit log. Its methods are safe for concurrent use.
type Log struct {
	mu sync.Mutex
	f  *os.File
}

// Open opens (creating it 0600, and its directory 0700) the audit log at path
// for appending.
func Open(path string) (*Log, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open audit log %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open audit log %s: %w", path, err)
	}
	return &Log{f: f}, nil
}

// Append writes e as one line and fsyncs the log. Time is made UTC.
func (l *Log) Append(e Event) error {
	if err := l.Write(e); err != nil {
		return err
	}
	return l.Sync()
}

// Write appends e as one line without fsync: it survives a crash of the
// process but not a power cut until the next Sync or Append. Jobs that log
// many steps in a time-critical path (the initrd rollback) use Write per step
// and Append for their final event.
func (l *Log) Write(e Event) error {
	e.Time = e.Time.UTC()
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("audit event %s %s: %w", e.Job, e.Action, err)
	}
	b = append(b, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.f.Write(b); err != nil {
		return fmt.Errorf("append to audit log %s: %w", l.f.Name(), err)
	}
	return nil
}

// Sync makes every event written so far durable.
func (l *Log) Sync() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("fsync audit log %s: %w", l.f.Name(), err)
	}
	return nil
}

// Close closes the log.
func (l *Log) Close() error { return l.f.Close() }

// Read returns the events of the audit log at path, for tests and tools.
func Read(path string) ([]Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Event
	dec := json.NewDecoder(f)
	for dec.More() {
		var e Event
		if err := dec.Decode(&e); err != nil {
			return out, fmt.Errorf("read audit log %s: event %d: %w", path, len(out)+1, err)
		}
		out = append(out, e)
	}
	return out, nil
}
