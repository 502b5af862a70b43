package restore

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/server-impermanence/server-impermanence/internal/config"
)

// ResolveSnapshot returns the path (relative to the top level) of the
// snapshot from of subvolume sv: a name in <snapshots dir>/<sv>/, a path
// relative to the top level, or a path below the snapshots mountpoint
// (/.snapshots/<sv>/<name>). It must lie in <snapshots dir>/<sv>/.
func ResolveSnapshot(cfg *config.Config, sv, from string) (string, error) {
	dir := path.Join(cfg.Snapshots.Dir, sv)
	p := from
	switch {
	case from == "":
		return "", errors.New("--from SNAPSHOT is required (impermanence-snapshot list " + sv + " shows them)")
	case !strings.Contains(from, "/"):
		p = path.Join(dir, from)
	case strings.HasPrefix(from, config.SnapshotsMountpoint+"/"):
		p = path.Join(cfg.Snapshots.Dir, strings.TrimPrefix(from, config.SnapshotsMountpoint+"/"))
	}
	p = path.Clean(strings.TrimPrefix(p, "/"))
	if path.Dir(p) != dir || strings.Contains(from, "..") {
		return "", fmt.Errorf("%s is not a snapshot of %s: want a name in %s/ (impermanence-snapshot list %s shows them)", from, sv, dir, sv)
	}
	return p, nil
}
