package blanks

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/safefile"
)

// TrialFile is the name of the trial record in the archive dir of the top
// level: <archive dir>/.blank-trial.json. The archive dir is a plain
// directory of subvolid 5, reachable in the initrd before anything is
// mounted, and never reset.
const TrialFile = ".blank-trial.json"

// TrialVersion is the format version of the trial file.
const TrialVersion = 1

// Trial is a newly committed blank that no boot has yet confirmed: the
// commit writes it, the rollback counts each trial boot in it, and the
// mark-good unit removes it when a trial boot reached boot-complete.target.
type Trial struct {
	Version   int    `json:"version"`
	Subvolume string `json:"subvolume"`
	Blank     string `json:"blank"`
	// UUID is the new blank's: a trial file that names another is stale
	// (a commit stopped before its exchange) and ignored.
	UUID      string    `json:"uuid"`
	Committed time.Time `json:"committed"`
	// Fallback is the previous good blank, by name at the commit and by
	// UUID (the name may have changed since; the UUID never does).
	Fallback     string `json:"fallback"`
	FallbackUUID string `json:"fallback_uuid"`
	// Tries is the number of trial boots started.
	Tries int `json:"tries"`
}

// TrialPath returns the trial file's path relative to the top level.
func TrialPath(cfg *config.Config) string { return path.Join(cfg.Archive.Dir, TrialFile) }

// ReadTrial reads the trial file rel (TrialPath) under the top level at
// top; nil when there is none.
func ReadTrial(top, rel string) (*Trial, error) {
	p := filepath.Join(top, rel)
	b, err := safefile.ReadFile(p, 1<<16)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read blank trial: %w", err)
	}
	var t Trial
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("read blank trial %s: %w", p, err)
	}
	if t.Version != TrialVersion {
		return nil, fmt.Errorf("blank trial %s: version %d, want %d", p, t.Version, TrialVersion)
	}
	return &t, nil
}

// WriteTrial replaces the trial file atomically and durably (a power cut
// after it returns keeps it).
func WriteTrial(top, rel string, t Trial) error {
	t.Version = TrialVersion
	b, _ := json.MarshalIndent(t, "", "  ")
	p := filepath.Join(top, rel)
	if err := safefile.Replace(p, append(b, '\n'), safefile.Perm{File: 0o600, Dir: 0o700}, safefile.Durable); err != nil {
		return fmt.Errorf("write blank trial: %w", err)
	}
	return nil
}

// RemoveTrial removes the trial file durably; none is success.
func RemoveTrial(top, rel string) error {
	p := filepath.Join(top, rel)
	if err := os.Remove(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("remove blank trial: %w", err)
	}
	d, err := os.Open(filepath.Dir(p))
	if err != nil {
		return fmt.Errorf("remove blank trial: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("remove blank trial: sync %s: %w", filepath.Dir(p), err)
	}
	return nil
}
