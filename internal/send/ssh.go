package send

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/receiveproto"
	"github.com/server-impermanence/server-impermanence/internal/replicate"
	"github.com/server-impermanence/server-impermanence/internal/sshclient"
)

// sshTarget is a backup host reached with ssh(1), whose key for this
// server runs impermanence-receive as its forced command: every
// connection is one request of internal/receiveproto, made through
// internal/sshclient. The host keeps the layout, cleans and repairs under
// its own lock, and never deletes on our request (appendOnly).
type sshTarget struct {
	*sshclient.Client
	compress bool
	rate     int64 // bytes per second on the connection, 0 unlimited
}

func newSSH(t config.Target, loc config.SSH, runDir string) *sshTarget {
	return &sshTarget{Client: sshclient.New(t, loc, runDir),
		compress: t.Compress == config.CompressZstd, rate: t.RateBytes()}
}

// check prepares the run's shared connection.
func (s *sshTarget) check(context.Context, btrfs.UUID) error { return s.Open() }

// close ends the shared connection.
func (s *sshTarget) close() { s.Close() }

func (s *sshTarget) clean() ([]string, error)        { return nil, nil }
func (s *sshTarget) repair(string) ([]string, error) { return nil, nil }
func (s *sshTarget) appendOnly() bool                { return true }
func (s *sshTarget) where(sv, name string) string    { return s.Where(sv, name) }

var errAppendOnly = errors.New("an SSH target is append-only: its retention runs on the backup host")

func (s *sshTarget) delete(string, string) error { return errAppendOnly }

func (s *sshTarget) list(ctx context.Context, sv string) ([]replicate.Held, error) {
	return s.List(ctx, sv)
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
	cmd := s.Command(ctx, req)
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
		return count.n, errors.Join(s.Err("receive "+t.sv+"/"+t.name, rerr, &stderr), serr)
	case serr != nil || zerr != nil:
		return count.n, errors.Join(serr, zerr)
	}
	want := receiveproto.Received(t.name, count.n)
	if got := stdout.String(); got != want {
		return count.n, fmt.Errorf("receive %s/%s on %s: the host replied %q, want %q", t.sv, t.name, s.Host(), got, strings.TrimSpace(want))
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
