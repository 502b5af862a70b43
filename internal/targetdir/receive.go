package targetdir

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
)

// Want is what a transfer must produce.
type Want struct {
	Subvolume, Name string
	// UUID is the source snapshot's: the received UUID to expect.
	UUID btrfs.UUID
	// Parents, when not nil, are the only subvolumes an incremental
	// stream may have been applied to (the UUIDs of what <root>/<subvolume>/
	// holds): a stream naming a parent elsewhere on the filesystem (another
	// server's backups) is refused.
	Parents []btrfs.UUID
}

// maxStderr bounds what is kept of btrfs receive's messages.
const maxStderr = 8 << 10

// ErrExists is returned for a snapshot the target already holds under the
// name: nothing is ever overwritten.
var ErrExists = errors.New("the target already holds a subvolume of that name: nothing is overwritten")

// Receive applies the send stream r with btrfs receive in the transfer's
// own directory below .incoming, checks it (see the package
// documentation), writes its data to disk (flush) and only then moves it
// into place, a move that commits: a snapshot under a backup's name is
// whole and durable at every instant. It returns the bytes read from r.
// On a failure it removes its own transfer directory where it can (the
// next Clean removes what remains). A caller's other changes to the
// target (its retention's deletions) become durable with its own Sync.
func (d Dir) Receive(ctx context.Context, r io.Reader, w Want) (n int64, err error) {
	dst := d.Path(w.Subvolume, w.Name)
	if _, err := os.Lstat(dst); err == nil {
		return 0, fmt.Errorf("receive %s: %w", dst, ErrExists)
	}
	in := d.incoming(w.Subvolume, w.Name)
	if err := os.MkdirAll(filepath.Dir(in), 0o700); err != nil {
		return 0, fmt.Errorf("create %s: %w", filepath.Dir(in), err)
	}
	if err := os.Mkdir(in, 0o700); err != nil {
		return 0, fmt.Errorf("create transfer directory %s (a transfer of it is in progress, or debris the next run removes): %w", in, err)
	}
	defer func() {
		if err != nil {
			removeTree(in)
		}
	}()
	pr, pw, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	var stderr limited
	name, args, cleanup, err := btrfs.ReceiveCommand(in)
	if err != nil {
		pr.Close()
		pw.Close()
		return 0, err
	}
	defer cleanup()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = pr, io.Discard, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return 0, fmt.Errorf("start btrfs receive: %w", err)
	}
	pr.Close()
	fr := newFramer(r)
	copied := make(chan error, 1)
	go func() {
		_, err := io.Copy(pw, fr)
		pw.Close()
		copied <- err
	}()
	rerr := cmd.Wait()
	pw.Close() // a copy still writing gets EPIPE
	cerr := <-copied
	n = fr.n
	switch {
	case cerr != nil && !errors.Is(cerr, syscall.EPIPE):
		return n, fmt.Errorf("stream of %s/%s: %w", w.Subvolume, w.Name, errors.Join(cerr, receiveErr(rerr, &stderr)))
	case rerr != nil:
		return n, fmt.Errorf("btrfs receive into %s: %w", in, receiveErr(rerr, &stderr))
	case cerr != nil:
		return n, fmt.Errorf("stream of %s/%s: btrfs receive stopped reading before the end", w.Subvolume, w.Name)
	}
	got := filepath.Join(in, w.Name)
	if err := check(in, got, w); err != nil {
		return n, err
	}
	if err := mkdirNoSymlink(d.Root, w.Subvolume); err != nil {
		return n, err
	}
	// The received files are on disk before the snapshot gets a backup's
	// name: btrfs receive writes them through the page cache and commits
	// only the received UUID and the read-only flag, and a transaction
	// commit (the move's flag changes commit) does not write dirty file
	// data. Without this a power cut after the move leaves a read-only
	// snapshot with the right received UUID, in place, with empty files.
	if err := flush(got); err != nil {
		return n, err
	}
	if err := place(got, dst, w.UUID); err != nil {
		return n, err
	}
	os.Remove(in)
	return n, nil
}

// flush writes the data of the received subvolume p to disk and commits
// the filesystem's transaction (BTRFS_IOC_SYNC: the delayed allocations of
// every subvolume, then a commit).
func flush(p string) error {
	d, err := btrfs.OpenDir(p)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil { // names p
		return fmt.Errorf("write the received data to disk: %w", err)
	}
	return nil
}

func receiveErr(err error, stderr *limited) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
}

// check verifies what btrfs receive made in the transfer directory in.
func check(in, got string, w Want) error {
	entries, err := os.ReadDir(in)
	if err != nil {
		return err
	}
	if len(entries) != 1 || entries[0].Name() != w.Name || !IsSubvolume(got) {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return fmt.Errorf("the stream made %q in %s, want the one subvolume %q", names, in, w.Name)
	}
	info, err := Info(got)
	switch {
	case err != nil:
		return fmt.Errorf("received %s: %w", got, err)
	case info.ReceivedUUID != w.UUID:
		return fmt.Errorf("received %s has received UUID %s, want %s", got, info.ReceivedUUID, w.UUID)
	case !info.ReadOnly:
		return fmt.Errorf("received %s is not read-only", got)
	}
	if w.Parents != nil && !info.ParentUUID.IsZero() {
		ok := false
		for _, p := range w.Parents {
			ok = ok || p == info.ParentUUID
		}
		if !ok {
			return fmt.Errorf("received %s was applied to subvolume %s, which is not one of %s's snapshots on this target", got, info.ParentUUID, w.Subvolume)
		}
	}
	return nil
}

// mkdirNoSymlink creates <root>/<rel> (0755) where missing, refusing a
// symbolic link or a non-directory on the way.
func mkdirNoSymlink(root, rel string) error {
	p := root
	for _, c := range strings.Split(rel, "/") {
		p = filepath.Join(p, c)
		fi, err := os.Lstat(p)
		switch {
		case errors.Is(err, os.ErrNotExist):
			if err := os.Mkdir(p, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
				return fmt.Errorf("create %s: %w", p, err)
			}
		case err != nil:
			return err
		case !fi.IsDir():
			return fmt.Errorf("%s is not a directory (%s)", p, fi.Mode().Type())
		}
	}
	return nil
}

// removeTree deletes a transfer directory and the subvolume in it.
func removeTree(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if IsSubvolume(p) {
			deleteSubvolume(dir, e.Name())
		} else {
			os.RemoveAll(p)
		}
	}
	os.Remove(dir)
}

// limited keeps the first maxStderr bytes written to it.
type limited struct{ bytes.Buffer }

func (l *limited) Write(p []byte) (int, error) {
	if room := maxStderr - l.Len(); room > 0 {
		l.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
