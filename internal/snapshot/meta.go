package snapshot

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/names"
	"github.com/server-impermanence/server-impermanence/internal/safefile"
)

// Meta is the sidecar of a manual snapshot with an expiry:
// "<snapshots dir>/<subvolume>/.<name>.json" (names.Sidecar), next to the
// snapshot. A read-only snapshot cannot carry it itself, and its name is a
// contract.
type Meta struct {
	Label   string    `json:"label"`
	Expires time.Time `json:"expires"`
	Created time.Time `json:"created"`
}

// MetaPath returns the sidecar path of the snapshot at path.
func MetaPath(path string) string {
	return filepath.Join(filepath.Dir(path), names.Sidecar(filepath.Base(path)))
}

// readMeta reads the sidecar of the snapshot at abs (an absolute path); a
// missing sidecar is the zero Meta.
func readMeta(abs string) (Meta, error) {
	b, err := safefile.ReadFile(MetaPath(abs), 64<<10)
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
