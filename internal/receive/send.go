package receive

import (
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

	"github.com/server-impermanence/server-impermanence/internal/audit"
	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/receiveproto"
	"github.com/server-impermanence/server-impermanence/internal/targetdir"
)

// sendable refuses what a send request may not read: anything but a
// subvolume directly in <root>/<sv>/ (not a symbolic link, on the root's
// filesystem) that btrfs receive made and that is read-only, i.e. a
// snapshot received whole and moved into place. The request's words are
// names (receiveproto), so .incoming and everything outside the root are
// out of reach before this runs; this checks what the names lead to.
func (s *server) sendable(sv, name string) error {
	p := s.dir.Path(sv, name)
	fi, err := os.Lstat(p)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%s: this root holds no snapshot %s of %s", p, name, sv)
	case err != nil:
		return err
	case fi.Mode()&os.ModeSymlink != 0:
		return fmt.Errorf("%s is a symbolic link: nothing below the root is reached through one", p)
	case !targetdir.IsSubvolume(p):
		return fmt.Errorf("%s is not a subvolume", p)
	}
	d, err := btrfs.OpenDir(p)
	if err != nil {
		return err
	}
	defer d.Close()
	fsid, err := d.FSID()
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	if fsid != s.fsid {
		return fmt.Errorf("%s is on filesystem %s, not on the root's %s", p, fsid, s.fsid)
	}
	info, err := d.Info()
	switch {
	case err != nil:
		return fmt.Errorf("%s: %w", p, err)
	case !info.ReadOnly:
		return fmt.Errorf("%s is not read-only: only a snapshot received whole is sent", p)
	case info.ReceivedUUID.IsZero():
		return fmt.Errorf("%s was not made by btrfs receive: only a snapshot received whole is sent", p)
	}
	return nil
}

// send answers a send request: btrfs send of <root>/SUBVOLUME/NAME
// (relative to <root>/SUBVOLUME/PARENT) to stdout, through zstd when the
// client asked for it. It reads only; no lock is taken (the kernel refuses
// to delete a subvolume while it is being sent, so --prune cannot pull it
// away).
func (s *server) send(ctx context.Context, req receiveproto.Request) int {
	src := s.dir.Path(req.Subvolume, req.Name)
	if err := s.sendable(req.Subvolume, req.Name); err != nil {
		return s.refuse("send", req.Subvolume, src, err)
	}
	args := []string{"send", "-q"}
	if req.Parent != "" {
		if err := s.sendable(req.Subvolume, req.Parent); err != nil {
			return s.refuse("send", req.Subvolume, src, fmt.Errorf("parent: %w", err))
		}
		args = append(args, "-p", s.dir.Path(req.Subvolume, req.Parent))
	}
	args = append(args, src)
	t0 := time.Now()
	n, err := s.stream(ctx, args, req.Compress)
	secs := time.Since(t0).Seconds()
	from := "in full"
	if req.Parent != "" {
		from = "from " + req.Parent
	}
	if err != nil {
		fmt.Fprintf(s.env.Stderr, "%s: send %s/%s: %v\n", program, req.Subvolume, req.Name, err)
		s.log.Error(fmt.Sprintf("send of %s/%s (%s) failed after %d bytes: %v", req.Subvolume, req.Name, from, n, err), "subvolume", req.Subvolume, "snapshot", req.Name)
		s.event(audit.Event{Action: "send", Subvolume: req.Subvolume, Path: src, Result: audit.ResultFailure, Duration: secs, Error: err.Error()})
		return job.ExitFailure
	}
	s.event(audit.Event{Action: "send", Subvolume: req.Subvolume, Path: src, Result: audit.ResultSuccess, Duration: secs})
	s.log.Info(fmt.Sprintf("sent %s/%s (%s): %d bytes in %.1f s", req.Subvolume, req.Name, from, n, secs),
		"subvolume", req.Subvolume, "snapshot", req.Name, "parent", req.Parent, "bytes", n)
	return job.ExitOK
}

// stream runs btrfs with args and copies its stdout to the client, through
// zstd -c when compress says so. It returns the bytes of the send stream.
func (s *server) stream(ctx context.Context, args []string, compress string) (int64, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	defer pr.Close()
	var stderr strings.Builder
	send := exec.CommandContext(ctx, "btrfs", args...)
	send.Stdout, send.Stderr = pw, &limitedWriter{b: &stderr, n: 8 << 10}
	send.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	send.WaitDelay = 5 * time.Second
	if err := send.Start(); err != nil {
		pw.Close()
		return 0, fmt.Errorf("start btrfs send: %w", err)
	}
	pw.Close()
	out := s.env.Stdout
	var zstd *exec.Cmd
	var zin io.WriteCloser
	if compress != "" {
		zstd = exec.CommandContext(ctx, "zstd", "-c", "-q", "-T0")
		zstd.Stdout, zstd.Stderr = s.env.Stdout, s.env.Stderr
		zstd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if zin, err = zstd.StdinPipe(); err != nil {
			return 0, err
		}
		if err := zstd.Start(); err != nil {
			return 0, fmt.Errorf("start zstd: %w", err)
		}
		out = zin
	}
	n, cerr := io.Copy(out, pr)
	// A send still writing (the client went away) gets EPIPE.
	pr.Close()
	var zerr error
	if zstd != nil {
		zin.Close()
		if err := zstd.Wait(); err != nil {
			zerr = fmt.Errorf("zstd: %w", err)
		}
	}
	serr := send.Wait()
	if serr != nil {
		serr = fmt.Errorf("btrfs %s: %w: %s", strings.Join(args, " "), serr, strings.TrimSpace(stderr.String()))
	}
	if cerr != nil {
		cerr = fmt.Errorf("write the stream to the client: %w", cerr)
	}
	return n, errors.Join(serr, cerr, zerr)
}

// limitedWriter keeps the first n bytes written to it.
type limitedWriter struct {
	b *strings.Builder
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if room := l.n - l.b.Len(); room > 0 {
		l.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// rootFSID returns the filesystem of root.
func rootFSID(root string) (btrfs.UUID, error) {
	d, err := btrfs.OpenDir(filepath.Clean(root))
	if err != nil {
		return btrfs.UUID{}, err
	}
	defer d.Close()
	return d.FSID()
}
