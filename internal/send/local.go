package send

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/replicate"
)

// incoming is the directory of partial transfers below a target's root.
const incoming = ".incoming"

// firstFreeObjectID is the inode number of every subvolume's root
// directory (BTRFS_FIRST_FREE_OBJECTID).
const firstFreeObjectID = 256

// local is a target directory on a mounted btrfs.
type local struct {
	root string
}

// check refuses a root that is missing, not on btrfs, or on the source
// filesystem (a copy on the same disk is no backup).
func (l local) check(source btrfs.UUID) error {
	d, err := btrfs.OpenDir(l.root)
	if err != nil {
		return fmt.Errorf("target directory %s: %w (mount the target filesystem there, or create the directory on it)", l.root, err)
	}
	defer d.Close()
	fsid, err := d.FSID()
	if err != nil {
		return fmt.Errorf("target directory %s is not on btrfs: %w", l.root, err)
	}
	if fsid == source {
		return fmt.Errorf("target directory %s is on the source filesystem %s: a copy on the same disk is no backup", l.root, fsid)
	}
	return nil
}

// clean deletes what killed transfers left in .incoming and returns the
// names removed (subvolume/name).
func (l local) clean() ([]string, error) {
	top := filepath.Join(l.root, incoming)
	svs, err := readDir("read", top)
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, sv := range svs {
		dir := filepath.Join(top, sv.Name())
		entries, err := os.ReadDir(dir)
		if err != nil {
			errs = append(errs, fmt.Errorf("read %s: %w", dir, err))
			continue
		}
		d, err := btrfs.OpenDir(dir)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, e := range entries {
			p := filepath.Join(dir, e.Name())
			if isSubvolume(p) {
				err = d.DeleteChild(e.Name())
			} else {
				err = os.RemoveAll(p)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("remove partial transfer %s: %w", p, err))
				continue
			}
			removed = append(removed, sv.Name()+"/"+e.Name())
		}
		d.Close()
	}
	return removed, errors.Join(errs...)
}

// isSubvolume reports whether p (not followed) is the root of a subvolume.
func isSubvolume(p string) bool {
	fi, err := os.Lstat(p)
	if err != nil || !fi.IsDir() {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Ino == firstFreeObjectID
}

// list returns the subvolumes in <root>/<sv>/ with their received UUIDs.
func (l local) list(sv string) ([]replicate.Held, error) {
	dir := filepath.Join(l.root, sv)
	entries, err := readDir("list target", dir)
	if err != nil {
		return nil, err
	}
	var out []replicate.Held
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if !isSubvolume(p) {
			continue
		}
		info, err := subvolInfo(p)
		if err != nil {
			return nil, err
		}
		h := replicate.Held{Name: e.Name()}
		if !info.ReceivedUUID.IsZero() && info.ReadOnly {
			h.ReceivedUUID = info.ReceivedUUID.String()
		}
		out = append(out, h)
	}
	return out, nil
}

func subvolInfo(p string) (btrfs.Subvolume, error) {
	d, err := btrfs.OpenDir(p)
	if err != nil {
		return btrfs.Subvolume{}, err
	}
	defer d.Close()
	return d.Info()
}

// transfer is one send into a local target.
type transfer struct {
	fsys       *btrfs.FS
	snapshot   string // path of the snapshot below the source's top level
	parent     string // of the parent, "" for a full send
	sv, name   string
	uuid       btrfs.UUID // the snapshot's: the received UUID to expect
	compressed bool
}

// receive sends t into .incoming with btrfs receive, verifies the result
// and renames it into place. It returns the stream's size.
func (l local) receive(ctx context.Context, t transfer) (int64, error) {
	in := filepath.Join(l.root, incoming, t.sv)
	if err := os.MkdirAll(in, 0o700); err != nil {
		return 0, fmt.Errorf("create %s: %w", in, err)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "btrfs", "receive", in)
	count := &counter{r: pr}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = count, io.Discard, &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return 0, fmt.Errorf("start btrfs receive: %w", err)
	}
	sent := make(chan error, 1)
	go func() {
		err := t.fsys.Send(t.snapshot, pw, btrfs.SendOptions{Parent: t.parent, Compressed: t.compressed})
		pw.Close()
		sent <- err
	}()
	rerr := cmd.Wait()
	pr.Close() // a send still writing gets EPIPE
	serr := <-sent
	switch {
	case serr != nil && rerr == nil:
		return count.n, serr
	case rerr != nil:
		msg := strings.TrimSpace(stderr.String())
		return count.n, errors.Join(fmt.Errorf("btrfs receive into %s: %w: %s", in, rerr, msg), serr)
	}
	got := filepath.Join(in, t.name)
	info, err := subvolInfo(got)
	switch {
	case err != nil:
		return count.n, fmt.Errorf("received %s: %w", got, err)
	case info.ReceivedUUID != t.uuid:
		return count.n, fmt.Errorf("received %s has received UUID %s, want %s: left in %s for the next run to remove", got, info.ReceivedUUID, t.uuid, incoming)
	case !info.ReadOnly:
		return count.n, fmt.Errorf("received %s is not read-only: left in %s for the next run to remove", got, incoming)
	}
	dst := filepath.Join(l.root, t.sv)
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return count.n, fmt.Errorf("create %s: %w", dst, err)
	}
	if err := place(got, filepath.Join(dst, t.name), t.uuid); err != nil {
		return count.n, err
	}
	return count.n, l.sync()
}

// delete deletes the received snapshot <root>/<sv>/<name>.
func (l local) delete(sv, name string) error {
	d, err := btrfs.OpenDir(filepath.Join(l.root, sv))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.DeleteChild(name)
}

// sync commits the target filesystem: renames are durable after a commit.
func (l local) sync() error {
	d, err := btrfs.OpenDir(l.root)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// counter counts what is read through it.
type counter struct {
	r io.Reader
	n int64
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// sortedHeld sorts by name, for output.
func sortedHeld(h []replicate.Held) []replicate.Held {
	slices.SortFunc(h, func(a, b replicate.Held) int { return strings.Compare(a.Name, b.Name) })
	return h
}

// place moves the verified received subvolume src to dst. The kernel
// moves a directory to another parent only when it may write to it (its
// ".." changes), so the subvolume is made writable for the rename and
// read-only again at once; clearing the flag keeps the received UUID.
// A crash in between leaves a writable subvolume with the right received
// UUID at dst: list does not count it, and repair makes it read-only.
func place(src, dst string, uuid btrfs.UUID) error {
	d, err := btrfs.OpenDir(src)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.SetReadOnly(false); err != nil {
		return err
	}
	if err := unix.Renameat2(unix.AT_FDCWD, src, unix.AT_FDCWD, dst, unix.RENAME_NOREPLACE); err != nil {
		d.SetReadOnly(true)
		return fmt.Errorf("move %s to %s: %w", src, dst, err)
	}
	if err := d.SetReadOnly(true); err != nil {
		return err
	}
	info, err := d.Info()
	if err != nil {
		return err
	}
	if info.ReceivedUUID != uuid || !info.ReadOnly {
		return fmt.Errorf("%s after the move: received UUID %s, read-only %t; want %s, true", dst, info.ReceivedUUID, info.ReadOnly, uuid)
	}
	return nil
}

// repair makes read-only again a received subvolume in <root>/<sv>/ that a
// crash left writable between the two flag changes of place, and returns
// the names repaired.
func (l local) repair(sv string) ([]string, error) {
	dir := filepath.Join(l.root, sv)
	entries, err := readDir("list target", dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if !isSubvolume(p) {
			continue
		}
		d, err := btrfs.OpenDir(p)
		if err != nil {
			return out, err
		}
		info, err := d.Info()
		if err == nil && !info.ReceivedUUID.IsZero() && !info.ReadOnly {
			if err = d.SetReadOnly(true); err == nil {
				out = append(out, e.Name())
			}
		}
		d.Close()
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// readDir lists dir for op; a directory that does not exist (nothing
// received yet) is empty.
func readDir(op, dir string) ([]os.DirEntry, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", op, dir, err)
	}
	return entries, nil
}
