package blanks

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/server-impermanence/server-impermanence/internal/safefile"
)

// StatusFile is the name of this boot's blank status in the run dir
// (/run/server-impermanence/blank.json): the rollback writes it, a commit
// updates it, the exporter and the mark-good unit read it.
const StatusFile = "blank.json"

// StatusVersion is the format version of the status file.
const StatusVersion = 1

// Status is the blank of each ephemeral subvolume this boot reset from.
type Status struct {
	Version int      `json:"version"`
	BootID  string   `json:"boot_id,omitempty"`
	Choices []Choice `json:"choices"`
}

// ReadStatus reads the status file of the run dir; ok is false when there
// is none (the rollback did not run this boot).
func ReadStatus(runDir string) (Status, bool, error) {
	p := filepath.Join(runDir, StatusFile)
	b, err := safefile.ReadFile(p, 1<<20)
	if errors.Is(err, fs.ErrNotExist) {
		return Status{}, false, nil
	}
	if err != nil {
		return Status{}, false, fmt.Errorf("read blank status: %w", err)
	}
	var s Status
	if err := json.Unmarshal(b, &s); err != nil {
		return Status{}, false, fmt.Errorf("read blank status %s: %w", p, err)
	}
	if s.Version != StatusVersion {
		return Status{}, false, fmt.Errorf("blank status %s: version %d, want %d", p, s.Version, StatusVersion)
	}
	return s, true, nil
}

// WriteStatus replaces the status file of the run dir atomically.
func WriteStatus(runDir string, s Status) error {
	s.Version = StatusVersion
	b, _ := json.MarshalIndent(s, "", "  ")
	if err := safefile.Replace(filepath.Join(runDir, StatusFile), append(b, '\n'),
		safefile.Perm{File: 0o644, Dir: 0o755}, safefile.Atomic); err != nil {
		return fmt.Errorf("write blank status: %w", err)
	}
	return nil
}
