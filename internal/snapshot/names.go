package snapshot

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"time"
)

// TimeFormat is the time in a snapshot's name: UTC, ISO 8601 basic format.
const TimeFormat = "20060102T150405Z"

var (
	nameRE  = regexp.MustCompile(`^([0-9]{8}T[0-9]{6}Z)(?:-(.+))?$`)
	labelRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$`)
)

// Name returns the snapshot name for t and label ("" for a timeline
// snapshot): "<YYYYMMDDTHHMMSSZ>" or "<YYYYMMDDTHHMMSSZ>-<label>".
func Name(t time.Time, label string) string {
	n := t.UTC().Format(TimeFormat)
	if label != "" {
		n += "-" + label
	}
	return n
}

// ParseName returns the time and label of a snapshot name; ok is false for
// a name this tool did not make.
func ParseName(name string) (t time.Time, label string, ok bool) {
	m := nameRE.FindStringSubmatch(name)
	if m == nil || (m[2] != "" && !labelRE.MatchString(m[2])) {
		return time.Time{}, "", false
	}
	t, err := time.Parse(TimeFormat, m[1])
	if err != nil {
		return time.Time{}, "", false
	}
	return t, m[2], true
}

// CheckLabel validates a --label.
func CheckLabel(label string) error {
	if !labelRE.MatchString(label) {
		return fmt.Errorf("invalid label %q: use 1 to 64 letters, digits, '_', '.', '+' or '-', starting with a letter or digit", label)
	}
	return nil
}

// Meta is the sidecar of a manual snapshot with an expiry:
// "<snapshots dir>/<subvolume>/.<name>.json", next to the snapshot. A
// read-only snapshot cannot carry it itself, and its name is a contract.
type Meta struct {
	Label   string    `json:"label"`
	Expires time.Time `json:"expires"`
	Created time.Time `json:"created"`
}

// MetaPath returns the sidecar path of the snapshot at path.
func MetaPath(path string) string {
	return filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".json")
}

// readMeta reads the sidecar of the snapshot at abs (an absolute path); a
// missing sidecar is the zero Meta.
func readMeta(abs string) (Meta, error) {
	b, err := os.ReadFile(MetaPath(abs))
	if errors.Is(err, fs.ErrNotExist) {
		return Meta{}, nil
	}
	if err != nil {
		return Meta{}, err
	}
	var m Meta
	if err := json.Unmarshal(b, &m); err != nil {
		return Meta{}, fmt.Errorf("%s: %w", MetaPath(abs), err)
	}
	return m, nil
}
