package send

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/receiveproto"
	"github.com/server-impermanence/server-impermanence/internal/replicate"
	"github.com/server-impermanence/server-impermanence/internal/safefile"
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
	// runDir is the run directory (job.Env.RunDir).
	runDir string
	// control is the run's connection-sharing socket: the first request
	// authenticates, the others of the run use its connection
	// (ControlMaster=auto), which ends 10 s after its last use however
	// the run ends. One per target (the target's lock keeps runs apart):
	// a target's key decides which root the backup host serves, so two
	// targets never share a connection.
	control string
}

func newSSH(t config.Target, loc config.SSH, runDir string) *sshTarget {
	return &sshTarget{name: t.Name, loc: loc, identity: t.IdentityFile,
		compress: t.Compress == config.CompressZstd, rate: t.RateBytes(), runDir: runDir}
}

// sshArgs are the options of every connection: no terminal, no agent or
// X11 forwarding, no prompt (a host key must be known beforehand: BatchMode
// fails on an unknown one), a dead connection noticed within a minute.
var sshArgs = []string{"-T", "-x", "-a", "-e", "none",
	"-o", "BatchMode=yes", "-o", "ConnectTimeout=30", "-o", "ServerAliveInterval=15",
	"-o", "ServerAliveCountMax=4", "-o", "ClearAllForwardings=yes"}

func (s *sshTarget) controlArgs() []string {
	return []string{"-o", "ControlMaster=auto", "-o", "ControlPath=" + s.control, "-o", "ControlPersist=10"}
}

// command returns the ssh command that makes request req.
func (s *sshTarget) command(ctx context.Context, req receiveproto.Request) *exec.Cmd {
	args := append([]string{}, sshArgs...)
	if s.control != "" {
		args = append(args, s.controlArgs()...)
	} else {
		args = append(args, "-o", "ControlMaster=no", "-o", "ControlPath=none")
	}
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

// controlDir holds the shared connections' sockets below the run
// directory.
const controlDir = "ssh"

// socketName names a target's socket: its name, or "_" and a digest of a
// name longer than 16 bytes (a socket path has at most 107 bytes, and ssh
// adds 17 while it creates one); "_" is no character of a target name,
// so the two forms never meet.
func socketName(target string) string {
	if len(target) <= 16 {
		return target
	}
	sum := sha256.Sum256([]byte(target))
	return "_" + hex.EncodeToString(sum[:])[:15]
}

// check prepares the run's shared connection: the socket a killed run
// left is removed (its connection ends by itself).
func (s *sshTarget) check(context.Context, btrfs.UUID) error {
	dir := filepath.Join(s.runDir, controlDir)
	if err := safefile.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("target %s: directory of the shared connection: %w", s.name, err)
	}
	s.control = filepath.Join(dir, socketName(s.name))
	if err := os.Remove(s.control); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("target %s: remove the stale socket %s: %w", s.name, s.control, err)
	}
	return nil
}

// close ends the shared connection.
func (s *sshTarget) close() {
	if s.control == "" {
		return
	}
	args := append(append([]string{}, s.controlArgs()...), "-O", "exit", "-l", s.loc.User, "--", s.loc.Host)
	cmd := exec.Command("ssh", args...)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	cmd.Run()
	os.Remove(s.control)
	s.control = ""
}

func (s *sshTarget) host() string {
	h := s.loc.User + "@" + s.loc.Host
	if s.loc.Port != 0 {
		h += ":" + strconv.Itoa(s.loc.Port)
	}
	return h
}

func (s *sshTarget) clean() ([]string, error)        { return nil, nil }
func (s *sshTarget) repair(string) ([]string, error) { return nil, nil }
func (s *sshTarget) appendOnly() bool                { return true }
func (s *sshTarget) where(sv, name string) string {
	return "ssh://" + s.host() + s.loc.Path + "/" + sv + "/" + name
}

var errAppendOnly = errors.New("an SSH target is append-only: its retention runs on the backup host")

func (s *sshTarget) delete(string, string) error { return errAppendOnly }

// sshErr names the host and what the remote side said.
func (s *sshTarget) sshErr(op string, err error, stderr *bytes.Buffer) error {
	msg := strings.TrimSpace(stderr.String())
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 255 {
		if msg == "" {
			msg = "no message"
		}
		return fmt.Errorf("%s on %s: ssh exited 255 (the connection failed or was refused, or the receiver ended without an exit status): %s", op, s.host(), msg)
	}
	if msg != "" {
		return fmt.Errorf("%s on %s: %w: %s", op, s.host(), err, msg)
	}
	return fmt.Errorf("%s on %s: %w", op, s.host(), err)
}

func (s *sshTarget) list(ctx context.Context, sv string) ([]replicate.Held, error) {
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
func (s *sshTarget) receive(ctx context.Context, t transfer) (int64, error) {
	req := receiveproto.Request{Verb: receiveproto.Receive, Subvolume: t.sv, Name: t.name, UUID: t.uuid.String()}
	if s.compress {
		req.Compress = receiveproto.Zstd
	}
	pr, wait, err := t.stream()
	if err != nil {
		return 0, err
	}
	defer pr.Close()
	count := &counter{r: t.meter.Reader(pr)}
	var wire io.Reader = count
	var zstd *exec.Cmd
	var zout io.Closer
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
		wire, zout = out, out
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
		// zstd still writing (ssh ended early) gets EPIPE rather than
		// blocking on a pipe whose only reader left.
		zout.Close()
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
