// Package fsoverhead measures the storage overhead (internal/overhead) of
// a real filesystem: its subvolumes from one root-tree walk
// (btrfs.FS.List), their file extents from TREE_SEARCH_V2 walks
// (btrfs.FS.FileExtents). The maintenance job measures with it, and the
// cleanup, for an optional space budget, what deleting some snapshots
// would leave.
package fsoverhead

import (
	"context"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/overhead"
)

// Source reads file extents for internal/overhead.
type Source struct{ FS *btrfs.FS }

// Extents implements overhead.Source.
func (s Source) Extents(id, minTrans uint64, fn func(overhead.Extent) error) error {
	return s.FS.FileExtents(id, minTrans, func(e btrfs.FileExtent) error {
		return fn(overhead.Extent{
			Bytenr:    e.DiskBytenr,
			Inline:    e.Kind == btrfs.ExtentInline,
			DiskBytes: max(e.DiskBytes, e.InlineBytes),
			RAMBytes:  e.RAMBytes,
			NumBytes:  e.NumBytes,
		})
	})
}

// topLevelID is the top-level subvolume, which List leaves out: files
// there keep their extents as much as any other subvolume's.
const topLevelID = 5

// Inputs returns the layout of cfg and the subvolumes of fsys, the top
// level included.
func Inputs(fsys *btrfs.FS, cfg *config.Config) (overhead.Layout, []overhead.Subvol, error) {
	list, err := fsys.List()
	if err != nil {
		return overhead.Layout{}, nil, err
	}
	subs := []overhead.Subvol{{ID: topLevelID, Path: ""}}
	for _, s := range list {
		subs = append(subs, overhead.Subvol{ID: s.ID, Path: s.Path, UUID: s.UUID, ParentUUID: s.ParentUUID,
			OTransID: s.OTransID, ReadOnly: s.ReadOnly})
	}
	l := overhead.Layout{SnapshotsDir: cfg.Snapshots.Dir, ArchiveDir: cfg.Archive.Dir}
	for _, sv := range cfg.Subvolumes {
		l.Subvolumes = append(l.Subvolumes, sv.Name)
	}
	return l, subs, nil
}

// Measure returns the overhead of every configured subvolume of cfg on
// fsys.
func Measure(ctx context.Context, fsys *btrfs.FS, cfg *config.Config) (overhead.Measurement, error) {
	l, subs, err := Inputs(fsys, cfg)
	if err != nil {
		return overhead.Measurement{}, err
	}
	return overhead.Measure(ctx, Source{fsys}, l, subs)
}
