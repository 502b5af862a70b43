package send

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/receiveproto"
	"github.com/server-impermanence/server-impermanence/internal/replicate"
)

// sshTarget is a backup host reached with ssh(1), whose key for this
// server runs impermanence-receive as its forced command: every
// connection is one request of internal/receiveproto. The host keeps the
// layout, cleans and repairs under its own lock, and never deletes on our
// request (appendOnly).
type sshTarget struct {
	name     string
	loc      config.SSH
	identity string
	compress bool
	rate     int64 // bytes per second on the connection, 0 unlimited
}

func newSSH(t config.Target, loc config.SSH) sshTarget {
	return sshTarget{name: t.Name, loc: loc, identity: t.IdentityFile,
		compress: t.Compress == config.CompressZstd, rate: t.RateBytes()}
}

// sshArgs are the options of every connection: no terminal, no agent or
// X11 forwarding, no prompt (a host key must be known beforehand: BatchMode
// fails on an unknown one), a dead connection noticed within a minute.
var sshArgs = []string{"-T", "-x", "-a", "-e", "none",
	"-o", "BatchMode=yes", "-o", "ConnectTimeout=30", "-o", "ServerAliveInterval=15",
	"-o", "ServerAliveCountMax=4", "-o", "ClearAllForwardings=yes", "-o", "ControlMaster=no", "-o", "ControlPath=none"}

// command returns the ssh command that makes request req.
func (s sshTarget) command(ctx context.Context, req receiveproto.Request) *exec.Cmd {
	args := append([]string{}, sshArgs...)
	if s.loc.Port != 0 {
		args = append(args, "-p", strconv.Itoa(s.loc.Port))
	}
	if s.identity != "" {
		args = append(args, "-i", s.identity, "-o", "IdentitiesOnly=yes")
	}
	args = append(args, "-l", s.loc.User, "--", s.loc.Host, req.String())
	cmd := exec.CommandContext(ctx, "ssh", args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

func (s sshTarget) host() string {
	h := s.loc.User + "@" + s.loc.Host
	if s.loc.Port != 0 {
		h += ":" + strconv.Itoa(s.loc.Port)
	}
	return h
}

func (s sshTarget) check(context.Context, btrfs.UUID) error { return nil }
func (s sshTarget) clean() ([]string, error)                { return nil, nil }
func (s sshTarget) repair(string) ([]string, error)         { return nil, nil }
func (s sshTarget) appendOnly() bool                        { return true }
func (s sshTarget) where(sv, name string) string {
	return "ssh://" + s.host() + s.loc.Path + "/" + sv + "/" + name
}

var errAppendOnly = errors.New("an SSH target is append-only: its retention runs on the backup host")

func (s sshTarget) delete(string, string) error { return errAppendOnly }

// sshErr names the host and what the remote side said.
func (s sshTarget) sshErr(op string, err error, stderr *bytes.Buffer) error {
	msg := strings.TrimSpace(stderr.String())
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 255 {
		return fmt.Errorf("%s on %s: ssh failed (connection or authentication): %s", op, s.host(), msg)
	}
	if msg != "" {
		return fmt.Errorf("%s on %s: %w: %s", op, s.host(), err, msg)
	}
	return fmt.Errorf("%s on %s: %w", op, s.host(), err)
}

func (s sshTarget) list(ctx context.Context, sv string) ([]replicate.Held, error) {
	if err := receiveproto.CheckSubvolume(sv); err != nil {
		return nil, fmt.Errorf("target %s: %w: cannot be named over SSH", s.name, err)
	}
	cmd := s.command(ctx, receiveproto.Request{Verb: receiveproto.List, Subvolume: sv})
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, s.sshErr("list "+sv, err, &stderr)
	}
	held, err := receiveproto.ReadList(&stdout)
	if err != nil {
		return nil, fmt.Errorf("list %s on %s: %w", sv, s.host(), err)
	}
	return held, nil
}

// receive streams t to the host: the send ioctl, zstd where configured,
// the rate limit, ssh. It returns the bytes of the send stream.
func (s sshTarget) receive(ctx context.Context, t transfer) (int64, error) {
	req := receiveproto.Request{Verb: receiveproto.Receive, Subvolume: t.sv, Name: t.name, UUID: t.uuid.String()}
	if s.compress {
		req.Compress = receiveproto.Zstd
	}
	pr, wait, err := t.stream()
	if err != nil {
		return 0, err
	}
	defer pr.Close()
	count := &counter{r: pr}
	var wire io.Reader = count
	var zstd *exec.Cmd
	if s.compress {
		zstd = exec.CommandContext(ctx, "zstd", "-c", "-q", "-T0")
		zstd.Stdin = count
		zstd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		out, err := zstd.StdoutPipe()
		if err != nil {
			return 0, err
		}
		if err := zstd.Start(); err != nil {
			return 0, fmt.Errorf("start zstd: %w", err)
		}
		wire = out
	}
	if s.rate > 0 {
		wire = &rateReader{r: wire, rate: s.rate, now: time.Now, sleep: time.Sleep}
	}
	cmd := s.command(ctx, req)
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = wire, &stdout, &stderr
	rerr := cmd.Run()
	pr.Close() // a send still writing gets EPIPE
	var zerr error
	if zstd != nil {
		if err := zstd.Wait(); err != nil && rerr == nil {
			zerr = fmt.Errorf("zstd: %w", err)
		}
	}
	serr := wait()
	switch {
	case rerr != nil:
		return count.n, errors.Join(s.sshErr("receive "+t.sv+"/"+t.name, rerr, &stderr), serr)
	case serr != nil || zerr != nil:
		return count.n, errors.Join(serr, zerr)
	}
	want := receiveproto.Received(t.name, count.n)
	if got := stdout.String(); got != want {
		return count.n, fmt.Errorf("receive %s/%s on %s: the host replied %q, want %q", t.sv, t.name, s.host(), got, strings.TrimSpace(want))
	}
	return count.n, nil
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
