package send

import (
	"context"
	"fmt"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/replicate"
)

// target is where one [[target]] lives: a local directory on another
// btrfs (local.go) or a backup host's impermanence-receive (ssh.go).
type target interface {
	// check refuses a target that cannot be sent to (source is the
	// source filesystem's UUID).
	check(ctx context.Context, source btrfs.UUID) error
	// clean removes what killed transfers left, under the target's lock;
	// the receiver of an SSH target cleans under its own.
	clean() ([]string, error)
	// repair makes read-only again a snapshot a crash left writable.
	repair(sv string) ([]string, error)
	// list returns what the target holds of sv.
	list(ctx context.Context, sv string) ([]replicate.Held, error)
	// receive sends one snapshot; it returns the bytes sent.
	receive(ctx context.Context, t transfer) (int64, error)
	// appendOnly reports a target that never deletes on our request: its
	// retention runs on its own side.
	appendOnly() bool
	delete(sv, name string) error
	// where names a snapshot on the target, for messages and the audit log.
	where(sv, name string) string
	// close ends what check opened.
	close()
}

// targetOf returns the target of t's URL; runDir is the run directory.
func targetOf(t config.Target, runDir string) (target, error) {
	if root, ok := t.Local(); ok {
		return local{dirOf(root)}, nil
	}
	if loc, ok := t.SSH(); ok {
		return newSSH(t, loc, runDir), nil
	}
	return nil, fmt.Errorf("target %s: %q is neither a directory nor an ssh:// URL", t.Name, t.URL)
}

// multiLister is a target that lists several subvolumes at once for the
// cost of one (a local target reads its filesystem's root tree once).
type multiLister interface {
	listAll(svs []string) ([][]replicate.Held, []error)
}

// listAll returns what t holds of each of svs: held[i] and errs[i] are
// those of svs[i].
func listAll(ctx context.Context, t target, svs []string) (held [][]replicate.Held, errs []error) {
	if m, ok := t.(multiLister); ok {
		return m.listAll(svs)
	}
	held, errs = make([][]replicate.Held, len(svs)), make([]error, len(svs))
	for i, sv := range svs {
		held[i], errs[i] = t.list(ctx, sv)
	}
	return held, errs
}
