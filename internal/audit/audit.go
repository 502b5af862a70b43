// Package audit appends job events to the audit log,
// /var/log/server-impermanence/audit.jsonl: one JSON object per line, one
// line per event (time, job, action, subvolume, path, result, duration,
// error).
//
// Writing: the file is opened O_APPEND (through internal/safefile: no
// symbolic link, a regular file, mode 0600 in a 0750 directory) and every
// event is one write(2), so concurrent writers never interleave within a
// line and an event is in the kernel the moment Write returns: a killed job
// loses none. Durability against a power cut is batched: Sync (and Close)
// fsync once for all the events written since the last one, so a job run
// costs one fsync, not one per event.
//
// Torn lines: a write(2) that crosses a page can be cut short by SIGKILL
// (and a power cut can lose the end of one). Open removes such a torn last
// line when no other writer has the log open (every open log holds a
// shared flock on its file, so an exclusive one proves it), else it starts
// its first event on a new line; either way no event is ever glued to a
// fragment.
//
// Rotation: Open rotates a log that reached Policy.MaxSize (audit.jsonl →
// audit.jsonl.1 → … → audit.jsonl.<Keep>, the oldest deleted) under an
// flock of the log's directory, by rename only: a writer that opened the log
// before keeps appending to the same file under its new name, so no event is
// lost or split. Every open log holds a shared flock on its file; the oldest
// file is deleted only when no writer holds it, else the rotation waits for
// a later Open.
package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/server-impermanence/server-impermanence/internal/safefile"
)

// DefaultPath is the audit log of the host.
const DefaultPath = "/var/log/server-impermanence/audit.jsonl"

// Modes of the log and of its directory.
const (
	FileMode fs.FileMode = 0o600
	DirMode  fs.FileMode = 0o750
)

// Results of an event.
const (
	ResultSuccess = "success"
	ResultFailure = "failure"
	ResultSkipped = "skipped"
	ResultRefused = "refused"
	// ResultInterrupted: stopped before the end; the next run resumes.
	ResultInterrupted = "interrupted"
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

// Policy is the rotation and retention of the log.
type Policy struct {
	// MaxSize: Open rotates a log of at least this many bytes (0: never).
	MaxSize int64
	// Keep is how many rotated files are kept (path.1 is the newest); the
	// log never takes more than about (Keep+1) × MaxSize.
	Keep int
}

// DefaultPolicy rotates at 10 MiB and keeps 5 rotated files (60 MiB at
// most; at the default schedules a few hundred events a day, years of
// history).
var DefaultPolicy = Policy{MaxSize: 10 << 20, Keep: 5}

// Log is an open audit log. Its methods are safe for concurrent use.
type Log struct {
	mu    sync.Mutex
	f     *os.File
	dirty bool // written since the last fsync
	torn  bool // the last write was short: start the next with a newline
}

// Open opens the audit log at path for appending with DefaultPolicy.
func Open(path string) (*Log, error) { return OpenPolicy(path, DefaultPolicy) }

// OpenPolicy opens the audit log at path for appending (creating it 0600
// and its directory 0750, tightening either when looser), rotating it first
// as p says.
func OpenPolicy(path string, p Policy) (*Log, error) {
	f, err := openFile(path)
	if err != nil {
		return nil, err
	}
	if p.MaxSize > 0 && p.Keep > 0 {
		if fi, err := f.Stat(); err == nil && fi.Size() >= p.MaxSize {
			if nf, err := rotate(path, f, p); err == nil && nf != f {
				f.Close()
				f = nf
			}
		}
	}
	l := &Log{f: f}
	fd := int(f.Fd())
	if unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB) == nil {
		// No writer has the log open: a torn last line is a dead writer's.
		l.torn = !cutTorn(f)
	}
	if err := unix.Flock(fd, unix.LOCK_SH); err != nil {
		f.Close()
		return nil, fmt.Errorf("open audit log: lock %s: %w", path, err)
	}
	if !l.torn {
		l.torn = endsTorn(f)
	}
	return l, nil
}

// maxCut bounds how much of a torn last line cutTorn removes.
const maxCut = 1 << 20

// cutTorn truncates a last line that lacks its newline (a writer killed in
// the middle of a write(2) that crossed a page, or a power cut during one):
// that event was never written whole, and no event follows it. It reports
// whether the file now ends with a whole line (or is empty).
func cutTorn(f *os.File) bool {
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	size := fi.Size()
	if size == 0 {
		return true
	}
	n := min(size, maxCut+1)
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, size-n); err != nil {
		return false
	}
	if buf[n-1] == '\n' {
		return true
	}
	i := bytes.LastIndexByte(buf, '\n')
	if i < 0 && n < size {
		return false // a "line" longer than maxCut: not ours to cut
	}
	return f.Truncate(size-n+int64(i)+1) == nil
}

func openFile(path string) (*os.File, error) {
	f, err := safefile.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, safefile.Perm{File: FileMode, Dir: DirMode})
	if err != nil {
		return nil, fmt.Errorf("open audit log: %w", err)
	}
	return f, nil
}

// endsTorn reports whether the file's last line lacks its newline (a power
// cut during an append).
func endsTorn(f *os.File) bool {
	fi, err := f.Stat()
	if err != nil || fi.Size() == 0 {
		return false
	}
	var b [1]byte
	if _, err := f.ReadAt(b[:], fi.Size()-1); err != nil {
		return false
	}
	return b[0] != '\n'
}

// rotate renames path (open as f) to path.1 after shifting the older files,
// under an exclusive flock of the directory, and returns the new log file.
// When another process rotated first, it returns the new file it made; when
// the oldest file is still held by a writer, it returns f (no rotation).
func rotate(path string, f *os.File, p Policy) (*os.File, error) {
	dir, base := filepath.Split(path)
	d, err := safefile.OpenDir(dir, DirMode)
	if err != nil {
		return f, err
	}
	defer d.Close()
	dirfd := int(d.Fd())
	if err := unix.Flock(dirfd, unix.LOCK_EX); err != nil {
		return f, err
	}
	defer unix.Flock(dirfd, unix.LOCK_UN)
	var cur, st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return f, err
	}
	if err := unix.Fstatat(dirfd, base, &cur, unix.AT_SYMLINK_NOFOLLOW); err != nil || cur.Ino != st.Ino || cur.Dev != st.Dev {
		return openFile(path) // rotated by another process meanwhile
	}
	if st.Size < p.MaxSize {
		return f, nil
	}
	name := func(i int) string { return base + "." + strconv.Itoa(i) }
	if held(dirfd, name(p.Keep)) {
		return f, nil
	}
	if err := unix.Unlinkat(dirfd, name(p.Keep), 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return f, err
	}
	for i := p.Keep - 1; i >= 1; i-- {
		if err := unix.Renameat(dirfd, name(i), dirfd, name(i+1)); err != nil && !errors.Is(err, unix.ENOENT) {
			return f, err
		}
	}
	if err := unix.Renameat(dirfd, base, dirfd, name(1)); err != nil {
		return f, err
	}
	return openFile(path)
}

// held reports whether a writer holds name (its shared flock).
func held(dirfd int, name string) bool {
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	return unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB) != nil
}

// Append writes e and fsyncs the log: for a final event that must be
// durable on return.
func (l *Log) Append(e Event) error {
	if err := l.Write(e); err != nil {
		return err
	}
	return l.Sync()
}

// Write appends e as one line (one write(2)) without fsync: a crash of the
// process loses nothing, a power cut the events since the last Sync. Time
// is made UTC.
func (l *Log) Write(e Event) error {
	e.Time = e.Time.UTC()
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("audit event %s %s: %w", e.Job, e.Action, err)
	}
	b = append(b, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.torn {
		b = append([]byte{'\n'}, b...)
	}
	n, err := l.f.Write(b)
	if n > 0 {
		l.dirty = true
	}
	if err != nil {
		l.torn = n > 0 && n < len(b)
		return fmt.Errorf("append to audit log %s: %w", l.f.Name(), err)
	}
	l.torn = false
	return nil
}

// Sync makes every event written so far durable: one fsync, none when
// nothing was written since the last.
func (l *Log) Sync() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sync()
}

func (l *Log) sync() error {
	if !l.dirty {
		return nil
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("fsync audit log %s: %w", l.f.Name(), err)
	}
	l.dirty = false
	return nil
}

// Close syncs (see Sync) and closes the log.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.sync()
	return errors.Join(err, l.f.Close())
}

// maxLine bounds one event when reading.
const maxLine = 1 << 20

// Read returns the events of the audit log at path (not the rotated files),
// for tests and tools. Empty lines are skipped.
func Read(path string) ([]Event, error) {
	f, err := safefile.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	defer f.Close()
	var out []Event
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, maxLine)
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var e Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return out, fmt.Errorf("read audit log %s: line %d: %w", path, line, err)
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("read audit log %s: %w", path, err)
	}
	return out, nil
}
