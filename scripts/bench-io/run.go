package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/plan"
)

// Env is what the program touches outside its arguments.
type Env struct {
	Stdout, Stderr io.Writer
	Now            func() time.Time
}

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// stockLayout is what Debian's installer leaves on btrfs: one filesystem,
// one subvolume @rootfs mounted with defaults, CoW and no compression
// everywhere, the kernel's sysctls.
const stockLayout = "stock"

// options are the command line.
type options struct {
	quick       bool
	rounds      int
	device      string // a real block device instead of an image
	confirm     string // must repeat device
	imageDir    string
	imageSize   string
	layouts     []string // labels, in order
	specs       map[string]layoutSpec
	workloads   []string
	jsonPath    string
	repo        string // the checkout: sysctl/*.conf, bin/
	restoreFile string // the machine's sysctls, for the wrapper to restore after a crash
	sizes
}

// sizes are the workloads' parameters.
type sizes struct {
	PGScale       int   `json:"pgbench_scale"`
	PGSeconds     int   `json:"pgbench_seconds"`
	PGClients     int   `json:"pgbench_clients"`
	TreeBytes     int64 `json:"tree_bytes"`
	RandomBytes   int64 `json:"random_file_bytes"`
	RandomSeconds int   `json:"random_seconds"`
	LogBytes      int64 `json:"log_bytes"`
	SeqBytes      int64 `json:"sequential_bytes"`
}

var (
	fullSizes  = sizes{PGScale: 20, PGSeconds: 20, PGClients: 4, TreeBytes: 128 << 20, RandomBytes: 1 << 30, RandomSeconds: 12, LogBytes: 256 << 20, SeqBytes: 1 << 30}
	quickSizes = sizes{PGScale: 5, PGSeconds: 5, PGClients: 4, TreeBytes: 32 << 20, RandomBytes: 256 << 20, RandomSeconds: 4, LogBytes: 64 << 20, SeqBytes: 256 << 20}
)

const usage = `Usage: bench-io [options]

Compares a stock btrfs server with the suite's layout in each mode on a
loop-backed image it creates and removes (or, with --device and
--destroy-data, on a real block device, whose content is destroyed).
Needs root. Run it through scripts/bench-io.sh (make bench-io).

Options:
`

func parseOptions(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("bench-io", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	var layouts, workloads string
	fs.BoolVar(&o.quick, "quick", false, "a short run (one round, small sizes) for development")
	fs.IntVar(&o.rounds, "rounds", 0, "rounds of every workload on every layout (default 3, 1 with --quick)")
	fs.StringVar(&o.device, "device", "", "benchmark on this block `device` instead of a loop-backed image (its content is destroyed)")
	fs.StringVar(&o.confirm, "destroy-data", "", "repeat the --device `path` to confirm that everything on it may be destroyed")
	fs.StringVar(&o.imageDir, "image-dir", "/var/tmp", "`dir` for the loop-backed image (on the disk to measure)")
	fs.StringVar(&o.imageSize, "image-size", "8G", "`size` of the image (sparse)")
	fs.StringVar(&layouts, "layouts", "stock,balanced,io-optimized,space-optimized", "comma-separated `layouts`: stock, a mode, or mode@fs+options:drop-in.toml (a variant: other filesystem-wide options, a configuration drop-in on the default)")
	fs.StringVar(&workloads, "workloads", strings.Join(workloadNames(), ","), "comma-separated `workloads`")
	fs.StringVar(&o.jsonPath, "json", "/var/cache/server-impermanence-bench-io/results-io.json", "write every sample and summary to this `file`")
	fs.StringVar(&o.repo, "repo", ".", "the checkout (`dir` with sysctl/ and bin/impermanence-provision)")
	fs.StringVar(&o.restoreFile, "sysctl-restore", "", "write the machine's sysctl values here (`file`, sysctl.d format) before changing any")
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	o.sizes = fullSizes
	if o.quick {
		o.sizes = quickSizes
	}
	if o.rounds == 0 {
		o.rounds = 3
		if o.quick {
			o.rounds = 1
		}
	}
	if o.rounds < 1 {
		return o, fmt.Errorf("--rounds %d: at least 1", o.rounds)
	}
	if o.device != "" && o.confirm != o.device {
		return o, fmt.Errorf("--device %s destroys everything on it: confirm with --destroy-data %s", o.device, o.device)
	}
	if o.device == "" && o.confirm != "" {
		return o, errors.New("--destroy-data without --device")
	}
	o.specs = map[string]layoutSpec{}
	for _, l := range strings.Split(layouts, ",") {
		spec, err := parseLayout(l)
		if err != nil {
			return o, fmt.Errorf("--layouts: %w", err)
		}
		if _, dup := o.specs[spec.label]; dup {
			return o, fmt.Errorf("--layouts: %s twice", spec.label)
		}
		o.specs[spec.label] = spec
		o.layouts = append(o.layouts, spec.label)
	}
	o.workloads = strings.Split(workloads, ",")
	for _, w := range o.workloads {
		if _, ok := workloadByName(w); !ok {
			return o, fmt.Errorf("--workloads: unknown workload %q (%s)", w, strings.Join(workloadNames(), ", "))
		}
	}
	return o, nil
}

// layoutSpec is one layout to measure: stock, or a mode with the default
// configuration, optionally with other filesystem-wide options and a
// configuration drop-in on top (to compare variants of a layout).
type layoutSpec struct {
	label string // as in the table: "stock", the mode, or the whole spec
	mode  config.Mode
	// fsOptions replace the mode's filesystem-wide mount options (nil: the
	// generator's for the mode).
	fsOptions []string
	dropIn    string // a config drop-in (path)
}

func (l layoutSpec) stock() bool { return l.label == stockLayout }

// fs returns the filesystem-wide options the layout is mounted with.
func (l layoutSpec) fs() []string {
	if l.fsOptions != nil {
		return l.fsOptions
	}
	return plan.FSOptions(l.mode)
}

// mountOptions are the options of the mount of subvolume name at
// mountpoint: the generator's, or with the layout's own fs-wide options.
func (l layoutSpec) mountOptions(name, mountpoint string) string {
	if l.fsOptions == nil {
		return plan.MountOptions(l.mode, name, mountpoint)
	}
	return strings.Join(append(append([]string{"subvol=" + name}, l.fsOptions...), plan.MountFlags(mountpoint)...), ",")
}

// parseLayout reads "stock" or "mode[@opt+opt...][:drop-in.toml]": a mode,
// optionally mounted with other filesystem-wide options (joined with "+",
// since "," separates layouts) and with a configuration drop-in.
func parseLayout(s string) (layoutSpec, error) {
	if s == stockLayout {
		return layoutSpec{label: s}, nil
	}
	spec := layoutSpec{label: s}
	rest := s
	if i := strings.LastIndex(rest, ":"); i >= 0 && strings.HasSuffix(rest, ".toml") {
		spec.dropIn, rest = rest[i+1:], rest[:i]
		spec.label = rest + ":" + strings.TrimSuffix(filepath.Base(spec.dropIn), ".toml")
	}
	m, opts, hasOpts := strings.Cut(rest, "@")
	if !validMode(m) {
		return layoutSpec{}, fmt.Errorf("%q is neither stock nor a mode (%s), optionally @fs+options and :drop-in.toml", s, modeList())
	}
	spec.mode = config.Mode(m)
	if hasOpts {
		spec.fsOptions = strings.Split(opts, "+")
		for _, o := range spec.fsOptions {
			if o == "" || strings.ContainsAny(o, ", ") {
				return layoutSpec{}, fmt.Errorf("%q: empty or malformed filesystem option %q", s, o)
			}
		}
	}
	return spec, nil
}

func validMode(s string) bool {
	for _, m := range config.Modes {
		if string(m) == s {
			return true
		}
	}
	return false
}

func modeList() string {
	var s []string
	for _, m := range config.Modes {
		s = append(s, string(m))
	}
	return strings.Join(s, ", ")
}

// Report is the JSON output.
type Report struct {
	Started     time.Time         `json:"started"`
	Seconds     float64           `json:"seconds"`
	Kernel      string            `json:"kernel"`
	CPUs        int               `json:"cpus"`
	MemoryBytes int64             `json:"memory_bytes"`
	LoadBefore  string            `json:"loadavg_before"`
	LoadAfter   string            `json:"loadavg_after"`
	Target      string            `json:"target"`
	Rounds      int               `json:"rounds"`
	Quick       bool              `json:"quick"`
	Sizes       sizes             `json:"sizes"`
	StockSysctl map[string]string `json:"stock_sysctl"`
	Layouts     map[string]string `json:"layout_mount_options"`
	Data        map[string]string `json:"data"`
	Samples     []Sample          `json:"samples"`
	Summaries   []Summary         `json:"summaries"`
}

func run(ctx context.Context, args []string, env Env) int {
	o, err := parseOptions(args, env.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "bench-io: %v\n", err)
		return exitUsage
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(env.Stderr, "bench-io: needs root (loop devices, mounts, sysctls)")
		return exitFailure
	}
	b := &bench{opts: o, env: env, log: env.Stderr}
	rep, err := b.run(ctx)
	if err != nil {
		fmt.Fprintf(env.Stderr, "bench-io: %v\n", err)
		return exitFailure
	}
	fmt.Fprintf(env.Stdout, "\n== bench-io: %s, %d cores, %s RAM, kernel %s; %d round(s); load before %s, after %s; %.0f s\n\n",
		rep.Target, rep.CPUs, humanBytes(rep.MemoryBytes), rep.Kernel, rep.Rounds, rep.LoadBefore, rep.LoadAfter, rep.Seconds)
	WriteTable(env.Stdout, rep.Summaries, o.layouts, stockLayout)
	fmt.Fprintf(env.Stdout, "\nEach cell: median ±half the range in %% of the median; (**r×**) the ratio to stock, > 1 better.\n")
	for _, l := range o.layouts {
		fmt.Fprintf(env.Stdout, "%s: %s\n", l, rep.Layouts[l])
	}
	for _, k := range sortedKeys(rep.Data) {
		fmt.Fprintf(env.Stdout, "data %s: %s\n", k, rep.Data[k])
	}
	if o.jsonPath != "" {
		if err := writeJSON(o.jsonPath, rep); err != nil {
			fmt.Fprintf(env.Stderr, "bench-io: %v\n", err)
			return exitFailure
		}
		fmt.Fprintf(env.Stdout, "JSON: %s\n", o.jsonPath)
	}
	return exitOK
}

func writeJSON(path string, rep Report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("encode results: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write results %s: %w", path, err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write results %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write results %s: %w", path, err)
	}
	return nil
}

func humanBytes(n int64) string {
	return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
}

// loadavg is the first three fields of /proc/loadavg.
func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func memTotal() int64 {
	b, _ := os.ReadFile("/proc/meminfo")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "MemTotal:"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
			return kb << 10
		}
	}
	return 0
}

func kernel() string {
	b, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return strings.TrimSpace(string(b))
}

// command runs a program and returns its standard output; the error names
// the command and carries the tail of its output.
func command(ctx context.Context, name string, args ...string) (string, error) {
	c := exec.CommandContext(ctx, name, args...)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	if err := c.Run(); err != nil {
		msg := strings.TrimSpace(errb.String() + "\n" + out.String())
		if len(msg) > 2000 {
			msg = "…" + msg[len(msg)-2000:]
		}
		return out.String(), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, msg)
	}
	return out.String(), nil
}
