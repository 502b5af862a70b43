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
}

// targetOf returns the target of t's URL.
func targetOf(t config.Target) (target, error) {
	if root, ok := t.Local(); ok {
		return local{dirOf(root)}, nil
	}
	if loc, ok := t.SSH(); ok {
		return newSSH(t, loc), nil
	}
	return nil, fmt.Errorf("target %s: %q is neither a directory nor an ssh:// URL", t.Name, t.URL)
}
