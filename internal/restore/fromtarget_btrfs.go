package restore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/audit"
	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/names"
	"github.com/server-impermanence/server-impermanence/internal/progress"
	"github.com/server-impermanence/server-impermanence/internal/receiveproto"
	"github.com/server-impermanence/server-impermanence/internal/replicate"
	"github.com/server-impermanence/server-impermanence/internal/sshclient"
	"github.com/server-impermanence/server-impermanence/internal/targetdir"
)

// source is a btrfs target read back: a directory on a mounted btrfs
// (localSource) or a backup host's impermanence-receive (sshSource).
type source interface {
	// list returns what the target holds of sv.
	list(ctx context.Context, sv string) ([]replicate.Held, error)
	// send starts the send stream of sv/name, relative to sv/parent
	// ("" in full); wait returns once the stream is read or r closed.
	send(ctx context.Context, sv, name, parent string) (r io.ReadCloser, wait func() error, err error)
	// where names a snapshot on the target.
	where(sv, name string) string
	close()
}

// fetchBtrfs brings the snapshot o.From of o.Subvolume back from the
// btrfs target t: btrfs send on the target's side (incremental from a
// snapshot both sides hold, planFetch), btrfs receive into the scratch
// subvolume .from-target-<target> of the top level (chrooted, the
// stream's framing checked, the result read-only with the expected
// received UUID: targetdir.Receive), then a read-only snapshot of it at
// <snapshots dir>/<subvolume>/<name>, which appears there whole or not
// at all. A killed fetch leaves only the scratch subvolume, which the
// next fetch from the target deletes first.
func fetchBtrfs(ctx context.Context, s *job.Session, o Options, t config.Target) (*Fetched, error) {
	cfg, fsys := s.Config, s.FS
	if _, ok := cfg.Subvolume(o.Subvolume); !ok {
		return nil, refuse("subvolume %s is not in the configuration", o.Subvolume)
	}
	if _, _, ok := names.ParseSnapshot(o.From); !ok {
		return nil, refuse("--from-target %s: %q is not a snapshot name (impermanence-send list --target %s shows them)", t.Name, o.From, t.Name)
	}
	dst := path.Join(cfg.Snapshots.Dir, o.Subvolume, o.From)
	f := &Fetched{Target: t.Name, Snapshot: dst}
	scratch := fromTargetPrefix + t.Name
	if !o.DryRun {
		if _, err := fsys.Info(scratch); err == nil {
			if _, err := fsys.DeleteRecursive(scratch); err != nil {
				return f, fmt.Errorf("remove what an interrupted fetch left (%s): %w", scratch, err)
			}
			s.Log.Warn("removed "+scratch+", what an interrupted fetch from "+t.Name+" left", "path", scratch)
		}
	}
	if _, err := fsys.Info(dst); err == nil {
		f.Local = true
		return f, nil
	}
	release, err := lockTarget(ctx, s, o, t.Name)
	if err != nil {
		return f, err
	}
	defer release()
	src, err := sourceOf(s, t)
	if err != nil {
		return f, err
	}
	defer src.close()
	held, err := src.list(ctx, o.Subvolume)
	if err != nil {
		return f, fmt.Errorf("list %s on %s: %w", o.Subvolume, t.Name, err)
	}
	server, err := serverHeld(fsys, path.Join(cfg.Snapshots.Dir, o.Subvolume))
	if err != nil {
		return f, err
	}
	plan, err := planFetch(held, server, o.From)
	if err != nil {
		return f, refuse("--from-target %s: %s: %v", t.Name, o.Subvolume, err)
	}
	f.Parent, f.Why = plan.Parent, plan.Why
	if plan.Parent != "" {
		f.ParentLocal = path.Join(cfg.Snapshots.Dir, o.Subvolume, plan.Local)
	}
	if o.DryRun {
		return f, nil
	}
	want, err := btrfs.ParseUUID(plan.UUID)
	if err != nil {
		return f, fmt.Errorf("received UUID of %s: %w", src.where(o.Subvolume, o.From), err)
	}
	var parents []btrfs.UUID
	for _, h := range server {
		if u, err := btrfs.ParseUUID(h.UUID); err == nil {
			parents = append(parents, u)
		}
	}
	done, err := makeScratch(s, scratch)
	if err != nil {
		return f, err
	}
	defer done()
	log := s.Log.With("target", t.Name, "subvolume", o.Subvolume)
	ev := audit.Event{Action: "restore-fetch", Subvolume: o.Subvolume, Path: src.where(o.Subvolume, o.From), Result: audit.ResultSuccess}
	t0 := time.Now()
	o.Progress.Start(progress.Item{Target: t.Name, Subvolume: o.Subvolume, Snapshot: o.From, Index: 1, Count: 1, Verb: "fetched"})
	err = receive(ctx, src, filepath.Join(fsys.Mountpoint(), scratch),
		targetdir.Want{Subvolume: o.Subvolume, Name: o.From, UUID: want, Parents: parents}, plan.Parent, o.Progress, &f.Bytes)
	o.Progress.Finish(err)
	if err == nil {
		err = os.MkdirAll(filepath.Join(fsys.Mountpoint(), path.Dir(dst)), 0o700)
	}
	if err == nil {
		err = fsys.Snapshot(path.Join(scratch, o.Subvolume, o.From), dst, true)
	}
	if err == nil {
		err = checkFetched(fsys, dst, want)
	}
	if err == nil {
		err = fsys.Commit()
	}
	ev.Duration = time.Since(t0).Seconds()
	if err != nil {
		ev.Result, ev.Error = audit.ResultFailure, err.Error()
	} else {
		log.Info(fmt.Sprintf("fetched %s from %s (%s): %d bytes in %.1f s", dst, t.Name, f.kind(), f.Bytes, ev.Duration), "snapshot", dst, "parent", f.Parent, "bytes", f.Bytes)
	}
	s.AuditEvent(ev)
	return f, err
}

// receive applies src's stream of w into the target directory root (the
// scratch subvolume): it lands in root/<subvolume>/<name>, checked. The
// stream's bytes are counted on meter (nil: off).
func receive(ctx context.Context, src source, root string, w targetdir.Want, parent string, meter *progress.Meter, n *int64) error {
	r, wait, err := src.send(ctx, w.Subvolume, w.Name, parent)
	if err != nil {
		return err
	}
	got, rerr := targetdir.Dir{Root: root}.Receive(ctx, meter.Reader(r), w)
	*n = got
	r.Close() // a sender still writing gets EPIPE
	serr := wait()
	if rerr != nil || serr != nil {
		return fmt.Errorf("fetch %s: %w", src.where(w.Subvolume, w.Name), errors.Join(serr, rerr))
	}
	return nil
}

// checkFetched verifies the snapshot now in the snapshots directory.
func checkFetched(fsys *btrfs.FS, dst string, want btrfs.UUID) error {
	info, err := fsys.Info(dst)
	switch {
	case err != nil:
		return err
	case !info.ReadOnly || info.ReceivedUUID != want:
		return fmt.Errorf("fetched %s: read-only %t, received UUID %s; want true, %s", dst, info.ReadOnly, info.ReceivedUUID, want)
	}
	return nil
}

// serverHeld returns the read-only snapshots in dir (below the top level).
func serverHeld(fsys *btrfs.FS, dir string) ([]Held, error) {
	subs, err := fsys.List()
	if err != nil {
		return nil, err
	}
	var out []Held
	for _, x := range subs {
		if path.Dir(x.Path) != dir || !x.ReadOnly {
			continue
		}
		h := Held{Name: path.Base(x.Path), UUID: x.UUID.String()}
		if !x.ReceivedUUID.IsZero() {
			h.ReceivedUUID = x.ReceivedUUID.String()
		}
		out = append(out, h)
	}
	return out, nil
}

// kind says how a fetch was made, for messages.
func (f *Fetched) kind() string {
	if f.Parent == "" {
		return "full: " + f.Why
	}
	return "incremental from " + f.Parent + ", which this server holds as " + f.ParentLocal + ": " + f.Why
}

func sourceOf(s *job.Session, t config.Target) (source, error) {
	if root, ok := t.Local(); ok {
		return localSource{targetdir.Dir{Root: root}}, nil
	}
	if loc, ok := t.SSH(); ok {
		c := sshclient.New(t, loc, s.Env.RunDir())
		if err := c.Open(); err != nil {
			return nil, err
		}
		return &sshSource{Client: c, compress: t.Compress == config.CompressZstd}, nil
	}
	return nil, fmt.Errorf("target %s: %q is neither a directory nor an ssh:// URL", t.Name, t.URL)
}

// localSource is a target directory on a mounted btrfs.
type localSource struct{ targetdir.Dir }

func (l localSource) list(_ context.Context, sv string) ([]replicate.Held, error) {
	return l.List(sv)
}
func (l localSource) where(sv, name string) string { return l.Path(sv, name) }
func (l localSource) close()                       {}

// send runs btrfs send of <root>/<sv>/<name>, which must be a snapshot
// received whole (not a symbolic link); so must the parent.
func (l localSource) send(ctx context.Context, sv, name, parent string) (io.ReadCloser, func() error, error) {
	args := []string{"send", "-q"}
	for _, n := range []string{parent, name} {
		if n == "" {
			continue
		}
		p := l.Path(sv, n)
		if !targetdir.IsSubvolume(p) {
			return nil, nil, fmt.Errorf("send %s: not a subvolume", p)
		}
		if n == parent {
			args = append(args, "-p", p)
		} else {
			args = append(args, p)
		}
	}
	return start(exec.CommandContext(ctx, "btrfs", args...), "btrfs send")
}

// sshSource is a backup host whose impermanence-receive answers send.
type sshSource struct {
	*sshclient.Client
	compress bool
}

func (c *sshSource) list(ctx context.Context, sv string) ([]replicate.Held, error) {
	return c.List(ctx, sv)
}
func (c *sshSource) where(sv, name string) string { return c.Where(sv, name) }
func (c *sshSource) close()                       { c.Close() }

// send makes the send request; with compress = "zstd" the wire carries
// zstd, decompressed here.
func (c *sshSource) send(ctx context.Context, sv, name, parent string) (io.ReadCloser, func() error, error) {
	req := receiveproto.Request{Verb: receiveproto.Send, Subvolume: sv, Name: name, Parent: parent}
	if c.compress {
		req.Compress = receiveproto.Zstd
	}
	if err := receiveproto.CheckSubvolume(sv); err != nil {
		return nil, nil, fmt.Errorf("target %s: %w: cannot be named over SSH", c.Name, err)
	}
	cmd := c.Command(ctx, req)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if !c.compress {
		r, wait, err := start(cmd, "")
		if err != nil {
			return nil, nil, err
		}
		return r, func() error {
			if err := wait(); err != nil {
				return c.Err("send "+sv+"/"+name, err, &stderr)
			}
			return nil
		}, nil
	}
	wire, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start ssh: %w", err)
	}
	zstd := exec.CommandContext(ctx, "zstd", "-d", "-c", "-q")
	zstd.Stdin = wire
	r, zwait, err := start(zstd, "zstd -d")
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, nil, err
	}
	return r, func() error {
		zerr := zwait()
		wire.Close()
		if err := cmd.Wait(); err != nil {
			return errors.Join(c.Err("send "+sv+"/"+name, err, &stderr), zerr)
		}
		return zerr
	}, nil
}

// start starts cmd with its stdout in a pipe and returns the pipe's
// reading end and a function that waits for cmd (after the reader is
// closed or drained). what names cmd in its error ("" leaves the error
// to the caller).
func start(cmd *exec.Cmd, what string) (io.ReadCloser, func() error, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	var stderr strings.Builder
	cmd.Stdout = pw
	if cmd.Stderr == nil {
		cmd.Stderr = &stderr
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return nil, nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	pw.Close()
	return pr, func() error {
		err := cmd.Wait()
		if err != nil && what != "" {
			return fmt.Errorf("%s: %w: %s", what, err, strings.TrimSpace(stderr.String()))
		}
		return err
	}, nil
}
