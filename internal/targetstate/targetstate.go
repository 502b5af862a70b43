// Package targetstate is the record of what each replication target holds:
// <state dir>/targets/<name>.json, written by impermanence-send after every
// run (after re-reading the target) and read by impermanence-prune (the
// parent each target needs is never pruned locally) and the exporter.
package targetstate

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/safefile"
)

// Dir is the directory of the records below the state directory.
const Dir = "targets"

// maxRecord bounds a record read (5,000 snapshots of a dozen subvolumes fit).
const maxRecord = 64 << 20

// Snapshot is one snapshot the target holds.
type Snapshot struct {
	Name string `json:"name"`
	// ReceivedUUID is the source snapshot's UUID.
	ReceivedUUID string `json:"received_uuid"`
}

// Subvolume is what the target holds of one subvolume.
type Subvolume struct {
	// Snapshots on the target, oldest first.
	Snapshots []Snapshot `json:"snapshots"`
	// Parent is the newest snapshot both sides hold (the next incremental
	// send's parent): the source must keep it. "" for none.
	Parent     string `json:"parent,omitempty"`
	ParentUUID string `json:"parent_uuid,omitempty"`
	// LastSuccess is when the last send of this subvolume completed
	// (or found nothing to send); zero for never.
	LastSuccess time.Time `json:"last_success,omitzero"`
	// StreamSHA256 is, on a stream target, the checksum of each stored
	// stream as this server wrote it, by snapshot name: the target's
	// manifest is checked against it.
	StreamSHA256 map[string]string `json:"stream_sha256,omitempty"`
}

// Record is one target's record.
type Record struct {
	Target string `json:"target"`
	URL    string `json:"url"`
	// Time is when the target was last read.
	Time time.Time `json:"time"`
	// Subvolumes by name.
	Subvolumes map[string]Subvolume `json:"subvolumes"`
	// SentBytes counts every byte of stream sent to the target, ever.
	SentBytes int64 `json:"sent_bytes"`
}

// Path returns the record of target in the state directory stateDir.
func Path(stateDir, target string) string {
	return filepath.Join(stateDir, Dir, target+".json")
}

// Read returns the record of target; a missing record is the zero Record
// and fs.ErrNotExist.
func Read(stateDir, target string) (Record, error) {
	b, err := safefile.ReadFile(Path(stateDir, target), maxRecord)
	if err != nil {
		return Record{}, err
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return Record{}, fmt.Errorf("read target record %s: %w", Path(stateDir, target), err)
	}
	return r, nil
}

// Write replaces the record atomically and durably.
func Write(stateDir string, r Record) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return safefile.Replace(Path(stateDir, r.Target), append(b, '\n'),
		safefile.Perm{File: 0o644, Dir: 0o755}, safefile.Durable)
}

// ReadAll returns every record in the state directory, by target name; a
// record that cannot be read is in the error (the others are returned).
func ReadAll(stateDir string) (map[string]Record, error) {
	entries, err := os.ReadDir(filepath.Join(stateDir, Dir))
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]Record{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read target records: %w", err)
	}
	out := map[string]Record{}
	var errs []error
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		r, err := Read(stateDir, name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out[name] = r
	}
	return out, errors.Join(errs...)
}

// Parents returns, per subvolume, the snapshot names some target needs as
// its parent, sorted.
func Parents(records map[string]Record) map[string][]string {
	out := map[string][]string{}
	for _, r := range records {
		for sv, s := range r.Subvolumes {
			if s.Parent != "" && !slices.Contains(out[sv], s.Parent) {
				out[sv] = append(out[sv], s.Parent)
			}
		}
	}
	for sv := range out {
		slices.Sort(out[sv])
	}
	return out
}
