package receive

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/server-impermanence/server-impermanence/internal/audit"
	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/buildinfo"
	"github.com/server-impermanence/server-impermanence/internal/flagparse"
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/receiveproto"
	"github.com/server-impermanence/server-impermanence/internal/targetdir"
)

const (
	program = "impermanence-receive"
	jobName = "receive"
)

// AuditLog is the audit log below the root: one per served server.
const AuditLog = ".audit.jsonl"

// OriginalCommand is the variable sshd gives a forced command the
// client's command line in.
const OriginalCommand = "SSH_ORIGINAL_COMMAND"

const usage = `Usage: impermanence-receive --root DIR [REQUEST]
       impermanence-receive --prune --root DIR [--config FILE] [--dry-run]

The target side of an SSH target, run by sshd as the forced command of one
server's key:
  restrict,command="impermanence-receive --root /srv/backup/web1" ssh-ed25519 AAAA… root@web1
It answers the client's request (SSH_ORIGINAL_COMMAND; else the words after
the options) beneath DIR only:
  list SUBVOLUME                       the snapshots DIR/SUBVOLUME/ holds
  receive SUBVOLUME NAME UUID [zstd]   one snapshot's send stream on stdin
  send SUBVOLUME NAME PARENT|- [zstd]  one received snapshot's send stream
                                       on stdout (for a restore)
Append-only: a client adds, lists and reads back, never deletes or
overwrites. --prune
runs the backup host's own retention over DIR.

Options:
`

const exitHelp = `
Exit status: 0 done, 1 refused or failed (the message says why), 2 usage error.
`

// Env is what the receiver needs from the host; zero fields take the defaults.
type Env struct {
	job.Env
	// Stdin carries a receive request's stream (default os.Stdin).
	Stdin io.Reader
	// Getenv reads the environment (default os.LookupEnv).
	Getenv func(string) (string, bool)
}

// Run is the whole program; main only calls it.
func Run(ctx context.Context, args []string, env Env) int {
	env.Env = env.Env.WithDefaults()
	if env.Stdin == nil {
		env.Stdin = os.Stdin
	}
	if env.Getenv == nil {
		env.Getenv = os.LookupEnv
	}
	fl := flag.NewFlagSet(program, flag.ContinueOnError)
	fl.SetOutput(env.Stderr)
	root := fl.String("root", "", "the `DIR` this server's snapshots live in (required)")
	prune := fl.Bool("prune", false, "run the backup host's retention over DIR instead of a request")
	cfgPath := fl.String("config", DefaultConfig, "the retention `FILE` of --prune")
	dryRun := fl.Bool("dry-run", false, "with --prune: print what would be deleted, delete nothing")
	version := fl.Bool("version", false, "print the version and exit")
	fl.Usage = func() { fmt.Fprint(env.Stderr, usage); fl.PrintDefaults(); fmt.Fprint(env.Stderr, exitHelp) }
	if err := flagparse.Parse(fl, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return job.ExitOK
		}
		return job.ExitUsage
	}
	if *version {
		fmt.Fprintln(env.Stdout, buildinfo.String(program))
		return job.ExitOK
	}
	switch {
	case *root == "":
		return usageErr(env, "--root is required")
	case !filepath.IsAbs(*root) || filepath.Clean(*root) != *root:
		return usageErr(env, "--root %q must be an absolute, clean path", *root)
	case *dryRun && !*prune:
		return usageErr(env, "--dry-run goes with --prune")
	}
	log := job.Logger(env.Env, program).With("root", *root)
	if *prune {
		if fl.NArg() > 0 {
			return usageErr(env, "--prune takes no request")
		}
		return runPrune(ctx, env, log, *root, *cfgPath, *dryRun)
	}
	req, ok := env.Getenv(OriginalCommand)
	if !ok {
		if fl.NArg() == 0 {
			return usageErr(env, "no request: %s is not set and no request follows the options", OriginalCommand)
		}
		req = strings.Join(fl.Args(), " ")
	} else if fl.NArg() > 0 {
		return usageErr(env, "a request on the command line and in %s", OriginalCommand)
	}
	s := &server{env: env, root: *root, dir: targetdir.Dir{Root: *root}, log: log}
	if err := s.open(); err != nil {
		fmt.Fprintf(env.Stderr, "%s: %v\n", program, err)
		log.Error(err.Error())
		return job.ExitFailure
	}
	defer s.close()
	return s.serve(ctx, req)
}

func usageErr(env Env, format string, a ...any) int {
	return job.Usage(env.Env, program, format, a...)
}

// server answers one request beneath root.
type server struct {
	env   Env
	root  string
	dir   targetdir.Dir
	log   *slog.Logger
	audit *audit.Log
	// fsid is the root's filesystem.
	fsid btrfs.UUID
}

// open checks the root (a real directory on btrfs, not a symbolic link)
// and opens its audit log.
func (s *server) open() error {
	fi, err := os.Lstat(s.root)
	switch {
	case err != nil:
		return fmt.Errorf("root %s: %w", s.root, err)
	case !fi.IsDir():
		return fmt.Errorf("root %s is not a directory (%s)", s.root, fi.Mode().Type())
	}
	if s.fsid, err = rootFSID(s.root); err != nil {
		return fmt.Errorf("root %s is not on btrfs: %w", s.root, err)
	}
	a, err := audit.Open(filepath.Join(s.root, AuditLog))
	if err != nil {
		return err
	}
	s.audit = a
	return nil
}

func (s *server) close() {
	if s.audit != nil {
		s.audit.Close()
	}
}

func (s *server) event(e audit.Event) {
	e.Job, e.Time = jobName, s.env.Now()
	if err := s.audit.Write(e); err != nil {
		s.log.Warn("audit log write failed", "error", err)
	}
	s.audit.Sync()
}

// refuse reports a refused request: stderr (the client sees it), the
// journal and the audit log.
func (s *server) refuse(action, sv, path string, err error) int {
	fmt.Fprintf(s.env.Stderr, "%s: refused: %v\n", program, err)
	s.log.Warn("refused: "+err.Error(), "subvolume", sv)
	s.event(audit.Event{Action: action, Subvolume: sv, Path: path, Result: audit.ResultRefused, Error: err.Error()})
	return job.ExitFailure
}

func (s *server) serve(ctx context.Context, raw string) int {
	req, err := receiveproto.Parse(raw)
	if err != nil {
		return s.refuse("request", "", "", err)
	}
	if err := s.noSymlink(req.Subvolume); err != nil {
		return s.refuse(req.Verb, req.Subvolume, filepath.Join(s.root, req.Subvolume), err)
	}
	switch req.Verb {
	case receiveproto.List:
		// A snapshot a crash left writable during its move is listed as
		// not received; repair it first where no transfer holds the root.
		if unlock, err := s.tryLock(); err == nil {
			s.repair(req.Subvolume)
			unlock()
		}
		held, err := s.dir.List(req.Subvolume)
		if err == nil {
			err = receiveproto.WriteList(s.env.Stdout, held)
		}
		if err != nil {
			fmt.Fprintf(s.env.Stderr, "%s: %v\n", program, err)
			return job.ExitFailure
		}
		return job.ExitOK
	case receiveproto.Send:
		return s.send(ctx, req)
	default:
		return s.receive(ctx, req)
	}
}

// noSymlink refuses a subvolume whose directory (or one above it, up to
// the root) is a symbolic link or not a directory.
func (s *server) noSymlink(sv string) error {
	p := s.root
	for _, c := range strings.Split(sv, "/") {
		p = filepath.Join(p, c)
		fi, err := os.Lstat(p)
		switch {
		case errors.Is(err, os.ErrNotExist):
			return nil
		case err != nil:
			return err
		case fi.Mode()&os.ModeSymlink != 0:
			return fmt.Errorf("%s is a symbolic link: nothing below the root is reached through one", p)
		case !fi.IsDir():
			return fmt.Errorf("%s is not a directory", p)
		}
	}
	return nil
}

// errBusy: another transfer holds the root's lock.
var errBusy = errors.New("another transfer to this root is in progress")

// repairErr makes read-only again what a crash left writable in sv's
// directory (targetdir.Repair) and logs each.
func (s *server) repairErr(sv string) ([]string, error) {
	fixed, err := s.dir.Repair(sv)
	for _, n := range fixed {
		s.log.Warn(fmt.Sprintf("made %s/%s read-only again: a crash left it writable while it was moved into place", sv, n))
	}
	return fixed, err
}

// repair is repairErr for list, which reports what it can.
func (s *server) repair(sv string) []string {
	fixed, err := s.repairErr(sv)
	if err != nil {
		s.log.Warn("repair before listing: " + err.Error())
	}
	return fixed
}

// tryLock takes the root's transfer lock if no one holds it.
func (s *server) tryLock() (func(), error) { return s.lockWait(0) }

// lock takes the root's transfer lock, waiting a little for a killed
// predecessor's btrfs receive, which dies with it (PDEATHSIG).
func (s *server) lock() (func(), error) { return s.lockWait(50) }

// lockWait takes the root's transfer lock, an flock of its .incoming
// directory, which goes with the process however it ends; it tries tries
// more times 100 ms apart.
func (s *server) lockWait(tries int) (func(), error) {
	in := filepath.Join(s.root, targetdir.Incoming)
	if err := os.Mkdir(in, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("create %s: %w", in, err)
	}
	fd, err := unix.Open(in, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", in, err)
	}
	for i := 0; ; i++ {
		err = unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { unix.Close(fd) }, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) || i >= tries {
			unix.Close(fd)
			if errors.Is(err, unix.EWOULDBLOCK) {
				return nil, errBusy
			}
			return nil, fmt.Errorf("lock %s: %w", in, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *server) receive(ctx context.Context, req receiveproto.Request) int {
	dst := s.dir.Path(req.Subvolume, req.Name)
	uuid, err := btrfs.ParseUUID(req.UUID)
	if err != nil {
		return s.refuse("receive", req.Subvolume, dst, err)
	}
	unlock, err := s.lock()
	if err != nil {
		return s.refuse("receive", req.Subvolume, dst, err)
	}
	defer unlock()
	cleaned, err := s.dir.Clean()
	for _, c := range cleaned {
		s.log.Info("removed a partial transfer a killed run left: "+c, "path", filepath.Join(targetdir.Incoming, c))
	}
	if err != nil {
		return s.fail(req, dst, 0, 0, err)
	}
	if _, err := s.repairErr(req.Subvolume); err != nil {
		return s.fail(req, dst, 0, 0, err)
	}
	if _, err := os.Lstat(dst); err == nil {
		return s.refuse("receive", req.Subvolume, dst, fmt.Errorf("%s: %w", dst, targetdir.ErrExists))
	}
	// An incremental's parent must be one of the subvolume's own.
	parents, err := s.dir.UUIDs(req.Subvolume)
	if err != nil {
		return s.fail(req, dst, 0, 0, err)
	}
	t0 := time.Now()
	stream, wait, err := s.decompress(ctx, req.Compress)
	if err != nil {
		return s.fail(req, dst, 0, 0, err)
	}
	n, err := s.dir.Receive(ctx, stream, targetdir.Want{Subvolume: req.Subvolume, Name: req.Name, UUID: uuid, Parents: parents})
	// A decompressor still writing (the receive failed early) gets EPIPE
	// instead of blocking on a pipe no one reads.
	stream.Close()
	if werr := wait(); werr != nil && err == nil {
		err = werr
	}
	secs := time.Since(t0).Seconds()
	if err != nil {
		if errors.Is(err, targetdir.ErrExists) {
			return s.refuse("receive", req.Subvolume, dst, err)
		}
		return s.fail(req, dst, n, secs, err)
	}
	s.event(audit.Event{Action: "receive", Subvolume: req.Subvolume, Path: dst, Result: audit.ResultSuccess, Duration: secs})
	s.log.Info(fmt.Sprintf("received %s/%s: %d bytes in %.1f s", req.Subvolume, req.Name, n, secs),
		"subvolume", req.Subvolume, "snapshot", req.Name, "bytes", n)
	fmt.Fprint(s.env.Stdout, receiveproto.Received(req.Name, n))
	return job.ExitOK
}

func (s *server) fail(req receiveproto.Request, dst string, n int64, secs float64, err error) int {
	fmt.Fprintf(s.env.Stderr, "%s: receive %s/%s: %v\n", program, req.Subvolume, req.Name, err)
	s.log.Error(fmt.Sprintf("receive of %s/%s failed after %d bytes: %v", req.Subvolume, req.Name, n, err), "subvolume", req.Subvolume, "snapshot", req.Name)
	s.event(audit.Event{Action: "receive", Subvolume: req.Subvolume, Path: dst, Result: audit.ResultFailure, Duration: secs, Error: err.Error()})
	return job.ExitFailure
}

// decompress returns the stream of stdin, through zstd -d when the client
// compressed it, and a function that waits for the decompressor (after
// the stream is closed).
func (s *server) decompress(ctx context.Context, compress string) (io.ReadCloser, func() error, error) {
	if compress == "" {
		return io.NopCloser(s.env.Stdin), func() error { return nil }, nil
	}
	cmd := exec.CommandContext(ctx, "zstd", "-d", "-c", "-q")
	cmd.Stdin = s.env.Stdin
	cmd.Stderr = s.env.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start zstd: %w", err)
	}
	return out, func() error {
		if err := cmd.Wait(); err != nil {
			return fmt.Errorf("zstd -d: %w", err)
		}
		return nil
	}, nil
}
