package restorereq

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/safefile"
)

// RequestFile is the name of the staged restores (--next-boot) in the
// archive dir of the top level: <archive dir>/.restore-request.json. The
// archive dir is a plain directory of subvolid 5, reachable in the initrd
// before anything is mounted.
const RequestFile = ".restore-request.json"

// RequestVersion is the format version of the request file.
const RequestVersion = 1

// Requests is the content of the request file.
type Requests struct {
	Version  int       `json:"version"`
	Requests []Request `json:"requests"`
}

// Request is one staged restore of a subvolume.
type Request struct {
	Subvolume string `json:"subvolume"`
	// Snapshot is relative to the top level; SnapshotID and SnapshotUUID
	// identify it: a different subvolume at that path is refused.
	Snapshot     string     `json:"snapshot"`
	SnapshotID   uint64     `json:"snapshot_id"`
	SnapshotUUID btrfs.UUID `json:"snapshot_uuid"`
	Requested    time.Time  `json:"requested"`
}

// RequestPath returns the request file's path relative to the top level.
func RequestPath(cfg *config.Config) string { return path.Join(cfg.Archive.Dir, RequestFile) }

// ReadRequests reads the request file under the top level at top; a
// missing file is no request.
func ReadRequests(top string, cfg *config.Config) (Requests, error) {
	p := filepath.Join(top, RequestPath(cfg))
	b, err := safefile.ReadFile(p, 1<<20)
	if errors.Is(err, fs.ErrNotExist) {
		return Requests{Version: RequestVersion}, nil
	}
	if err != nil {
		return Requests{}, fmt.Errorf("read restore requests: %w", btrfs.ShowErr(err))
	}
	var r Requests
	if err := json.Unmarshal(b, &r); err != nil {
		return Requests{}, fmt.Errorf("read restore requests %s: %w", btrfs.ShowPath(p), err)
	}
	if r.Version != RequestVersion {
		return Requests{}, fmt.Errorf("restore requests %s: version %d, want %d", btrfs.ShowPath(p), r.Version, RequestVersion)
	}
	return r, nil
}

// WriteRequests replaces the request file atomically (removes it when r
// has no request).
func WriteRequests(top string, cfg *config.Config, r Requests) error {
	p := filepath.Join(top, RequestPath(cfg))
	if len(r.Requests) == 0 {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove restore requests: %w", btrfs.ShowErr(err))
		}
		return nil
	}
	r.Version = RequestVersion
	b, _ := json.MarshalIndent(r, "", "  ")
	if err := safefile.Replace(p, append(b, '\n'), safefile.Perm{File: 0o600, Dir: 0o700}, safefile.Durable); err != nil {
		return fmt.Errorf("write restore requests: %w", btrfs.ShowErr(err))
	}
	return nil
}

// Put adds req, replacing an earlier request for the same subvolume.
func (r *Requests) Put(req Request) {
	r.Remove(req.Subvolume)
	r.Requests = append(r.Requests, req)
	slices.SortFunc(r.Requests, func(a, b Request) int { return strings.Compare(a.Subvolume, b.Subvolume) })
}

// Remove drops the request for sv and reports whether there was one.
func (r *Requests) Remove(sv string) bool {
	n := len(r.Requests)
	r.Requests = slices.DeleteFunc(r.Requests, func(q Request) bool { return q.Subvolume == sv })
	return len(r.Requests) != n
}

// Performed is the outcome of one staged request.
type Performed struct {
	Request  Request   `json:"request"`
	Swap     *Swap     `json:"swap,omitempty"`
	Recovery *Recovery `json:"recovery,omitempty"`
	Error    string    `json:"error,omitempty"`
}

// ApplyRequests performs the staged restores: this is what the initrd (or
// any step that runs before the subvolumes are mounted) calls. For each
// request: repair an interrupted restore of that subvolume, check the
// snapshot is still the one requested (id and UUID) and that neither it nor
// the subvolume is mounted, swap (Swap.Apply), then drop the request from
// the file. A request that fails stays in the file and is reported; the
// others still run. mounted is the set of mounted subvolume ids.
func ApplyRequests(fsys Ops, cfg *config.Config, mounted map[uint64][]btrfs.Mount, now time.Time) ([]Performed, error) {
	reqs, err := ReadRequests(fsys.Mountpoint(), cfg)
	if err != nil {
		return nil, err
	}
	var out []Performed
	var errs []error
	for _, q := range slices.Clone(reqs.Requests) {
		p := Performed{Request: q}
		err := func() error {
			rec, err := Recover(fsys, cfg, q.Subvolume, now)
			p.Recovery = rec
			if err != nil {
				return err
			}
			snap, err := fsys.Info(q.Snapshot)
			if err != nil {
				return err
			}
			if snap.ID != q.SnapshotID || snap.UUID != q.SnapshotUUID {
				return fmt.Errorf("%s is now subvolume %d (%s), not the requested %d (%s): the request is kept; cancel it with impermanence-restore --cancel %s",
					q.Snapshot, snap.ID, snap.UUID, q.SnapshotID, q.SnapshotUUID, q.Subvolume)
			}
			cur, err := fsys.Info(q.Subvolume)
			if err != nil {
				return err
			}
			if len(mounted[cur.ID]) > 0 {
				return fmt.Errorf("%s is mounted at %s: staged restores run before the subvolumes are mounted",
					q.Subvolume, mounted[cur.ID][0].Mountpoint)
			}
			w := PlanSwap(fsys, cfg, q.Subvolume, q.Snapshot, now)
			p.Swap = &w
			if err := w.Apply(fsys, nil); err != nil {
				return err
			}
			reqs.Remove(q.Subvolume)
			return WriteRequests(fsys.Mountpoint(), cfg, reqs)
		}()
		if err != nil {
			p.Error = err.Error()
			errs = append(errs, fmt.Errorf("staged restore of %s: %w", q.Subvolume, err))
		}
		out = append(out, p)
	}
	return out, errors.Join(errs...)
}
