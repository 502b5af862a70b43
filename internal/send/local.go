package send

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/progress"
	"github.com/server-impermanence/server-impermanence/internal/replicate"
	"github.com/server-impermanence/server-impermanence/internal/targetdir"
)

// local is a target directory on a mounted btrfs.
type local struct {
	targetdir.Dir
}

// check refuses a root that is missing, not on btrfs, or on the source
// filesystem (a copy on the same disk is no backup).
func (l local) check(_ context.Context, source btrfs.UUID) error {
	d, err := btrfs.OpenDir(l.Root)
	if err != nil {
		return fmt.Errorf("target directory %s: %w (mount the target filesystem there, or create the directory on it)", l.Root, err)
	}
	defer d.Close()
	fsid, err := d.FSID()
	if err != nil {
		return fmt.Errorf("target directory %s is not on btrfs: %w", l.Root, err)
	}
	if fsid == source {
		return fmt.Errorf("target directory %s is on the source filesystem %s: a copy on the same disk is no backup", l.Root, fsid)
	}
	return nil
}

func dirOf(root string) targetdir.Dir { return targetdir.Dir{Root: root} }

func (l local) clean() ([]string, error)                                    { return l.Clean() }
func (l local) repair(sv string) ([]string, error)                          { return l.Repair(sv) }
func (l local) list(_ context.Context, sv string) ([]replicate.Held, error) { return l.List(sv) }
func (l local) listAll(svs []string) ([][]replicate.Held, []error)          { return l.ListAll(svs) }
func (l local) close()                                                      {}
func (l local) appendOnly() bool                                            { return false }
func (l local) delete(sv, name string) error                                { return l.Delete(sv, name) }
func (l local) where(sv, name string) string                                { return l.Path(sv, name) }

// transfer is one send into a target.
type transfer struct {
	fsys       *btrfs.FS
	snapshot   string // path of the snapshot below the source's top level
	parent     string // of the parent, "" for a full send
	sv, name   string
	uuid       btrfs.UUID // the snapshot's: the received UUID to expect
	compressed bool
	meter      *progress.Meter // counts the send stream; nil: off
}

// stream starts the send ioctl of t into a pipe and returns its reading
// end and a function that waits for the send to end (after the reader is
// closed: a send still writing gets EPIPE).
func (t transfer) stream() (*os.File, func() error, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	sent := make(chan error, 1)
	go func() {
		err := t.fsys.Send(t.snapshot, pw, btrfs.SendOptions{Parent: t.parent, Compressed: t.compressed})
		pw.Close()
		sent <- err
	}()
	return pr, func() error { return <-sent }, nil
}

// committer is a target whose changes of one run other than the
// receives (its retention's deletions, a repair) become durable with one
// commit at the end (commit), before the run records what the target
// holds: a local target. Each receive is durable when it returns (its
// data is written before the move into place, and the move commits); an
// SSH target's receiver does the same before it replies.
type committer interface {
	commit() error
}

func (l local) commit() error {
	if err := l.Sync(); err != nil {
		return fmt.Errorf("commit target directory %s: %w", l.Root, err)
	}
	return nil
}

// receive sends t into the local target. It returns the stream's size.
func (l local) receive(ctx context.Context, t transfer) (int64, error) {
	pr, wait, err := t.stream()
	if err != nil {
		return 0, err
	}
	n, rerr := l.Receive(ctx, t.meter.Reader(pr), targetdir.Want{Subvolume: t.sv, Name: t.name, UUID: t.uuid})
	pr.Close()
	serr := wait()
	if serr != nil {
		return n, fmt.Errorf("send %s: %w", t.snapshot, errors.Join(serr, rerr))
	}
	return n, rerr
}

// sortedHeld sorts by name, for output.
func sortedHeld(h []replicate.Held) []replicate.Held {
	slices.SortFunc(h, func(a, b replicate.Held) int { return strings.Compare(a.Name, b.Name) })
	return h
}
