// Package exporter is impermanence-exporter: HTTP /metrics (socket activation,
// sd_notify readiness, graceful shutdown on SIGTERM, TLS and basic auth from
// node_exporter's web configuration file through exporter-toolkit) and
// --textfile, over the collectors of internal/metrics.
package exporter

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/server-impermanence/server-impermanence/internal/buildinfo"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/flagparse"
	"github.com/server-impermanence/server-impermanence/internal/metrics"
	"github.com/server-impermanence/server-impermanence/internal/systemdbus"
	"github.com/server-impermanence/server-impermanence/internal/textfile"
)

const program = "impermanence-exporter"

// Deps are what run takes from the process.
type Deps struct {
	Stdout, Stderr io.Writer
	// Root re-roots every host path ("/" in production).
	Root string
	Now  func() time.Time
	// Systemd is the unit source; nil means the system's systemd over D-Bus.
	Systemd metrics.UnitSource
	// Ready, when set, receives the listen address once serving (tests).
	Ready func(addr string)
	// Signals delivers SIGTERM/SIGINT; nil means the process's.
	Signals <-chan os.Signal
	// Limits bound the HTTP clients; zero fields take DefaultLimits.
	Limits Limits
}

// Main runs the exporter with the process's dependencies.
func Main(args []string) int {
	return Run(args, Deps{Stdout: os.Stdout, Stderr: os.Stderr, Root: "/", Now: time.Now})
}

// Run parses args and runs the exporter; it returns the exit code.
func Run(args []string, d Deps) int {
	fs := flag.NewFlagSet(program, flag.ContinueOnError)
	fs.SetOutput(d.Stderr)
	cfgPath := fs.String("config", config.DefaultPath, "configuration `file`")
	listen := fs.String("listen", "", "listen `address` (default: [exporter].listen of the configuration)")
	fs.StringVar(listen, "web.listen-address", "", "the same as --listen (node_exporter's name)")
	webConfig := fs.String("web.config.file", "", "web configuration `file` for TLS and basic auth (exporter-toolkit format, as node_exporter's)")
	textDir := fs.String("textfile-dir", "", "with --textfile: the `directory` (default: [exporter].textfile_dir)")
	textOnce := fs.Bool("textfile", false, "write "+textfile.Name+" for node_exporter's textfile collector and exit")
	noSystemd := fs.Bool("no-systemd", false, "do not read job health from systemd over D-Bus")
	rootFlag := fs.String("root", "", "read every host path (/sys, /proc, /run, /var/lib, mountpoints) beneath `dir` (tests, benchmarks)")
	version := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(d.Stderr, "Usage: %s [--config FILE] [--listen ADDR] [--web.config.file FILE] [--no-systemd]\n       %s --textfile [DIR]\n\n"+
			"Serves the server-impermanence metrics on /metrics, or writes them once for\nnode_exporter's textfile collector.\n\n", program, program)
		fs.PrintDefaults()
	}
	// "--textfile DIR": a directory right after --textfile is its argument.
	args = textfileArg(args)
	if err := flagparse.Parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(d.Stderr, "%s: unexpected arguments %q\n", program, fs.Args())
		return 2
	}
	if *version {
		fmt.Fprintln(d.Stdout, buildinfo.String(program))
		return 0
	}
	log := slog.New(slog.NewTextHandler(d.Stderr, nil)).With("program", program)
	root := d.Root
	if *rootFlag != "" {
		root = *rootFlag
	}
	if root == "" {
		root = "/"
	}
	paths := metrics.PathsAt(root)
	paths.Config = *cfgPath
	// The exporter runs with an invalid configuration too (it reports it);
	// listen address and textfile dir then come from the built-in default.
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		log.Warn("configuration not usable, using the built-in defaults for the exporter settings", "error", err)
		cfg = config.Default()
	}
	opts := metrics.Options{Paths: paths, Now: d.Now, Version: buildinfo.Version, Logger: log}

	if *textOnce {
		dir := *textDir
		if dir == "" {
			dir = cfg.Exporter.TextfileDir
		}
		if dir == "" {
			return 0 // textfile_dir = "": the textfile is disabled
		}
		return textfileOnce(dir, opts, d, log)
	}

	// A web configuration that does not load is an error now, not at the
	// first connection.
	if err := web.Validate(*webConfig); err != nil {
		fmt.Fprintf(d.Stderr, "%s: web configuration %s: %v\n", program, *webConfig, err)
		return 1
	}

	if !*noSystemd {
		opts.Systemd = d.Systemd
		if opts.Systemd == nil {
			c := systemdbus.New()
			defer c.Close()
			opts.Systemd = c
		}
	}
	addr := *listen
	if addr == "" {
		addr = cfg.Exporter.Listen
	}
	if err := serve(addr, *webConfig, opts, d, log); err != nil {
		fmt.Fprintf(d.Stderr, "%s: %v\n", program, err)
		return 1
	}
	return 0
}

// textfileArg rewrites "--textfile DIR" as "--textfile --textfile-dir DIR"
// (the flag package has no optional values).
func textfileArg(args []string) []string {
	out := make([]string, 0, len(args)+1)
	for i := 0; i < len(args); i++ {
		out = append(out, args[i])
		if (args[i] == "--textfile" || args[i] == "-textfile") && i+1 < len(args) && len(args[i+1]) > 0 && args[i+1][0] != '-' {
			out = append(out, "--textfile-dir", args[i+1])
			i++
		}
	}
	return out
}

// WriteTextfile writes dir/server_impermanence.prom from the collectors
// (without systemd: node_exporter has its own systemd collector, and the
// job units run --textfile as ExecStopPost=, while the job's unit is still
// deactivating).
func WriteTextfile(dir string, opts metrics.Options) error {
	opts.Systemd = nil
	return textfile.Write(dir, metrics.NewRegistry(opts))
}

// textfileGrace is how long a --textfile run given SIGTERM or SIGINT lets
// its write end before it exits without it.
var textfileGrace = 3 * time.Second

// textfileOnce is --textfile: writeTextfileDir, with SIGTERM and SIGINT
// (systemd stopping the job unit whose ExecStopPost= runs it) handled. The
// write replaces the file whole and takes milliseconds, so a signal lets
// it end, within textfileGrace; either way the stop is logged, and a write
// cut short keeps the previous textfile (its temporary is removed by the
// next write).
func textfileOnce(dir string, opts metrics.Options, d Deps, log *slog.Logger) int {
	sigs := d.Signals
	if sigs == nil {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
		defer signal.Stop(ch)
		sigs = ch
	}
	done := make(chan error, 1)
	go func() { done <- writeTextfileDir(dir, opts) }()
	var err error
	select {
	case err = <-done:
		select {
		case s := <-sigs: // it came while the write ended
			log.Warn("stopped by " + signalName(s) + " after the textfile was written")
		default:
		}
	case s := <-sigs:
		select {
		case err = <-done:
			log.Warn("stopped by " + signalName(s) + " after the textfile was written")
		case <-time.After(textfileGrace):
			msg := fmt.Sprintf("stopped by %s and still writing the textfile %s later: the previous one is kept", signalName(s), textfileGrace)
			log.Error(msg)
			fmt.Fprintf(d.Stderr, "%s: %s\n", program, msg)
			return 1
		}
	}
	if err != nil {
		fmt.Fprintf(d.Stderr, "%s: %v\n", program, err)
		return 1
	}
	return 0
}

// signalName is "SIGTERM" for SIGTERM, as the jobs' logs name it.
func signalName(s os.Signal) string {
	switch s {
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGINT:
		return "SIGINT"
	}
	return s.String()
}

// writeTextfileDir is WriteTextfile into a directory it creates when
// missing (0755 whatever the umask: node_exporter reads it as another user).
func writeTextfileDir(dir string, opts metrics.Options) error {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create textfile directory: %w", err)
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			return fmt.Errorf("create textfile directory: %w", err)
		}
	}
	return WriteTextfile(dir, opts)
}

// Handler returns the HTTP handler: node_exporter's landing page on / and
// /metrics, collecting at most maxInFlight scrapes at once (503 beyond).
func Handler(reg *prometheus.Registry, log *slog.Logger, maxInFlight int) (http.Handler, error) {
	landing, err := web.NewLandingPage(web.LandingConfig{
		Name:        program,
		Description: "Prometheus metrics of server-impermanence: snapshots, archives, jobs, the btrfs filesystem",
		Version:     buildinfo.Version,
		Links:       []web.LandingLinks{{Address: "/metrics", Text: "Metrics"}},
		Profiling:   "false",
	})
	if err != nil {
		return nil, fmt.Errorf("landing page: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorHandling:       promhttp.HTTPErrorOnError,
		ErrorLog:            slog.NewLogLogger(log.Handler(), slog.LevelError),
		Registry:            reg,
		MaxRequestsInFlight: maxInFlight,
	}))
	mux.Handle("/", landing)
	return mux, nil
}

// listener returns the socket systemd passed (socket activation) or a new
// one on addr.
func listener(addr string) (net.Listener, error) {
	ls, err := activation.Listeners()
	if err != nil {
		return nil, fmt.Errorf("socket activation: %w", err)
	}
	switch len(ls) {
	case 0:
		l, err := net.Listen("tcp", addr)
		if err != nil {
			// The *net.OpError says "listen tcp ADDR: " again: keep what
			// follows (bind: address already in use).
			var oe *net.OpError
			if errors.As(err, &oe) && oe.Err != nil {
				err = oe.Err
			}
			return nil, fmt.Errorf("listen on %s: %w", addr, err)
		}
		return l, nil
	case 1:
		if ls[0] == nil {
			return nil, errors.New("socket activation: the passed socket is not a listening socket")
		}
		return ls[0], nil
	default:
		return nil, fmt.Errorf("socket activation: %d sockets passed, want 1", len(ls))
	}
}

// serve serves /metrics on addr (or the socket systemd passed), with TLS
// and basic auth as webConfig says ("" for plain HTTP), until SIGTERM.
func serve(addr, webConfig string, opts metrics.Options, d Deps, log *slog.Logger) error {
	reg := metrics.NewRegistry(opts)
	lim := d.Limits.withDefaults()
	h, err := Handler(reg, log, lim.MaxInFlight)
	if err != nil {
		return err
	}
	raw, err := listener(addr)
	if err != nil {
		return err
	}
	l := newLimitListener(raw, lim.MaxConns)
	srv := lim.server(h)
	// The server's own errors (a failed TLS handshake, a client gone) are
	// per connection: a hostile client must not fill the journal.
	srv.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelDebug)
	sigs := d.Signals
	if sigs == nil {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
		defer signal.Stop(ch)
		sigs = ch
	}
	errc := make(chan error, 1)
	go func() { errc <- web.Serve(l, srv, &web.FlagConfig{WebConfigFile: &webConfig}, log) }()
	log.Info("serving metrics", "addr", l.Addr().String())
	if _, err := daemon.SdNotify(false, daemon.SdNotifyReady+"\nSTATUS=serving /metrics on "+l.Addr().String()); err != nil {
		log.Warn("sd_notify", "error", err)
	}
	if d.Ready != nil {
		d.Ready(l.Addr().String())
	}
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", l.Addr(), err)
	case s := <-sigs:
		log.Info("shutting down", "signal", s.String())
		daemon.SdNotify(false, daemon.SdNotifyStopping)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			return fmt.Errorf("shutdown: %w", err)
		}
		return nil
	}
}
