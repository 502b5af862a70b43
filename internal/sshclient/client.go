package sshclient

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

	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/receiveproto"
	"github.com/server-impermanence/server-impermanence/internal/replicate"
	"github.com/server-impermanence/server-impermanence/internal/safefile"
)

// Client makes the requests of one SSH target.
type Client struct {
	// Name is the target's name.
	Name     string
	Loc      config.SSH
	Identity string
	// RunDir is the run directory (job.Env.RunDir), where Open puts the
	// shared connection's socket.
	RunDir string
	// control is the run's connection-sharing socket: the first request
	// authenticates, the others of the run use its connection
	// (ControlMaster=auto), which ends 10 s after its last use however
	// the run ends. One per target (the target's lock keeps runs apart):
	// a target's key decides which root the backup host serves, so two
	// targets never share a connection.
	control string
}

// New returns the client of the SSH target t at loc.
func New(t config.Target, loc config.SSH, runDir string) *Client {
	return &Client{Name: t.Name, Loc: loc, Identity: t.IdentityFile, RunDir: runDir}
}

// Args are the options of every connection: no terminal, no agent or
// X11 forwarding, no prompt (a host key must be known beforehand: BatchMode
// fails on an unknown one), a dead connection noticed within a minute.
var Args = []string{"-T", "-x", "-a", "-e", "none",
	"-o", "BatchMode=yes", "-o", "ConnectTimeout=30", "-o", "ServerAliveInterval=15",
	"-o", "ServerAliveCountMax=4", "-o", "ClearAllForwardings=yes"}

func (c *Client) controlArgs() []string {
	return []string{"-o", "ControlMaster=auto", "-o", "ControlPath=" + c.control, "-o", "ControlPersist=10"}
}

// Command returns the ssh command that makes request req.
func (c *Client) Command(ctx context.Context, req receiveproto.Request) *exec.Cmd {
	args := append([]string{}, Args...)
	if c.control != "" {
		args = append(args, c.controlArgs()...)
	} else {
		args = append(args, "-o", "ControlMaster=no", "-o", "ControlPath=none")
	}
	if c.Loc.Port != 0 {
		args = append(args, "-p", strconv.Itoa(c.Loc.Port))
	}
	if c.Identity != "" {
		args = append(args, "-i", c.Identity, "-o", "IdentitiesOnly=yes")
	}
	if req.Compress != "" {
		// The stream is zstd already: ssh's own compression (zlib, where an
		// ssh_config turns it on) would only spend CPU on both ends.
		args = append(args, "-o", "Compression=no")
	}
	args = append(args, "-l", c.Loc.User, "--", c.Loc.Host, req.String())
	cmd := exec.CommandContext(ctx, "ssh", args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// controlDir holds the shared connections' sockets below the run
// directory.
const controlDir = "ssh"

// SocketName names a target's socket: its name, or "_" and a digest of a
// name longer than 16 bytes (a socket path has at most 107 bytes, and ssh
// adds 17 while it creates one); "_" is no character of a target name,
// so the two forms never meet.
func SocketName(target string) string {
	if len(target) <= 16 {
		return target
	}
	sum := sha256.Sum256([]byte(target))
	return "_" + hex.EncodeToString(sum[:])[:15]
}

// Open prepares the run's shared connection: the socket a killed run
// left is removed (its connection ends by itself).
func (c *Client) Open() error {
	dir := filepath.Join(c.RunDir, controlDir)
	if err := safefile.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("target %s: directory of the shared connection: %w", c.Name, err)
	}
	c.control = filepath.Join(dir, SocketName(c.Name))
	if err := os.Remove(c.control); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("target %s: remove the stale socket %s: %w", c.Name, c.control, err)
	}
	return nil
}

// Close ends the shared connection.
func (c *Client) Close() {
	if c.control == "" {
		return
	}
	args := append(append([]string{}, c.controlArgs()...), "-O", "exit", "-l", c.Loc.User, "--", c.Loc.Host)
	cmd := exec.Command("ssh", args...)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	cmd.Run()
	os.Remove(c.control)
	c.control = ""
}

// Host is user@host[:port], for messages.
func (c *Client) Host() string {
	h := c.Loc.User + "@" + c.Loc.Host
	if c.Loc.Port != 0 {
		h += ":" + strconv.Itoa(c.Loc.Port)
	}
	return h
}

// Where names a snapshot on the target, for messages and the audit log.
func (c *Client) Where(sv, name string) string {
	return "ssh://" + c.Host() + c.Loc.Path + "/" + sv + "/" + name
}

// Err names the host and what the remote side said of the failed
// operation op.
func (c *Client) Err(op string, err error, stderr *bytes.Buffer) error {
	msg := strings.TrimSpace(stderr.String())
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 255 {
		if msg == "" {
			msg = "no message"
		}
		return fmt.Errorf("%s on %s: ssh exited 255 (the connection failed or was refused, or the receiver ended without an exit status): %s", op, c.Host(), msg)
	}
	if msg != "" {
		return fmt.Errorf("%s on %s: %w: %s", op, c.Host(), err, msg)
	}
	return fmt.Errorf("%s on %s: %w", op, c.Host(), err)
}

// List returns what the target holds of sv.
func (c *Client) List(ctx context.Context, sv string) ([]replicate.Held, error) {
	if err := receiveproto.CheckSubvolume(sv); err != nil {
		return nil, fmt.Errorf("target %s: %w: cannot be named over SSH", c.Name, err)
	}
	cmd := c.Command(ctx, receiveproto.Request{Verb: receiveproto.List, Subvolume: sv})
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, c.Err("list "+sv, err, &stderr)
	}
	held, err := receiveproto.ReadList(&stdout)
	if err != nil {
		return nil, fmt.Errorf("list %s on %s: %w", sv, c.Host(), err)
	}
	return held, nil
}
