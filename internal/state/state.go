// Package state records the last result of each job in a small JSON file
// per job, replaced atomically (internal/safefile: a temporary file in the
// same directory with a name readers ignore, fsync, rename), so a reader
// (the exporter) sees either the previous record or the new one, never a
// torn one, even across a power cut. The directory is not fsynced: a record
// is rewritten by every run and the audit log, synced before it, is the
// durable account of the run; after a power cut within the filesystem's
// commit interval the record may still be the previous run's.
//
// The host jobs write under /var/lib/server-impermanence/; the initrd
// rollback writes under /run/server-impermanence/, which survives the switch
// to the host root, where the exporter picks it up.
package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/safefile"
)

// Default directories.
const (
	DefaultDir = "/var/lib/server-impermanence"
	RunDir     = "/run/server-impermanence"
)

// Results.
const (
	ResultSuccess = "success"
	ResultFailure = "failure"
	ResultSkipped = "skipped"
	ResultRefused = "refused"
	// ResultInterrupted: stopped before the end (a scrub's time budget or
	// a signal); the next run resumes. Never a success.
	ResultInterrupted = "interrupted"
)

// Record is the last result of a job.
type Record struct {
	Job         string    `json:"job"`
	LastRun     time.Time `json:"last_run"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	// Duration of the last run, in seconds.
	Duration float64 `json:"duration"`
	Result   string  `json:"result"`
	Error    string  `json:"error,omitempty"`
	// Runs counts runs by result, over the life of the record.
	Runs     map[string]int64 `json:"runs,omitempty"`
	Counters map[string]int64 `json:"counters,omitempty"`
	// ConfigSHA256 is the hash of the configuration the run used.
	ConfigSHA256 string `json:"config_sha256,omitempty"`
	// Details is job-specific.
	Details json.RawMessage `json:"details,omitempty"`
}

// Modes of the records and of their directory.
const (
	FileMode fs.FileMode = 0o644
	DirMode  fs.FileMode = 0o755
)

// maxRecord bounds a record when reading.
const maxRecord = 1 << 20

// Path returns the record file of job in dir.
func Path(dir, job string) string { return filepath.Join(dir, job+".json") }

// Read returns the record of job in dir; a missing record is fs.ErrNotExist.
// A symbolic link, FIFO, device or directory there is an error.
func Read(dir, job string) (Record, error) {
	b, err := safefile.ReadFile(Path(dir, job), maxRecord)
	if err != nil {
		return Record{}, err
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return Record{}, fmt.Errorf("read state %s: %w", Path(dir, job), err)
	}
	return r, nil
}

// Finish completes r from the previous record of its job in dir (LastSuccess
// and the run counts carry over) and writes it. now is the time the run
// started.
func Finish(dir string, r Record, now time.Time) error {
	prev, err := Read(dir, r.Job)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		prev = Record{} // a damaged record is replaced
	}
	r.LastRun = now.UTC()
	r.LastSuccess = prev.LastSuccess
	if r.Result == ResultSuccess {
		r.LastSuccess = r.LastRun
	}
	r.Runs = map[string]int64{}
	for k, v := range prev.Runs {
		r.Runs[k] = v
	}
	r.Runs[r.Result]++
	return Write(dir, r)
}

// Write writes r atomically as the record of r.Job in dir, creating dir
// (0755) if needed.
func Write(dir string, r Record) error {
	if r.Job == "" || strings.ContainsAny(r.Job, "/\x00") || strings.HasPrefix(r.Job, ".") {
		return fmt.Errorf("write state: invalid job name %q", r.Job)
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("write state of %s: %w", r.Job, err)
	}
	if err := safefile.Replace(Path(dir, r.Job), append(b, '\n'), safefile.Perm{File: FileMode, Dir: DirMode}, safefile.Atomic); err != nil {
		return fmt.Errorf("write state of %s: %w", r.Job, err)
	}
	return nil
}
