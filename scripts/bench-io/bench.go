package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/mountinfo"
	"github.com/server-impermanence/server-impermanence/internal/plan"
	"github.com/server-impermanence/server-impermanence/internal/sysctl"
)

const systemdSysctl = "/usr/lib/systemd/systemd-sysctl"

// bench is one run of the benchmark.
type bench struct {
	opts options
	env  Env
	log  io.Writer

	work string // scratch directory (templates, mountpoints, image)
	dev  string // the block device every layout is made on
	// stock holds the machine's values of every key a mode sets: the
	// stock layout runs with them, and they are restored at the end.
	stock     map[string]string
	stockFile string
	mountOpts map[string]string // layout → the root's super options, as mounted
	data      map[string]string // what the workloads' data is

	pg   pgTools
	tree string // the container tree tarball
	logs string // the log text
}

// dirs the workloads use, the same paths in every layout: in the suite's
// layout each is its own subvolume, on stock a directory of @rootfs.
var workloadDirs = []string{"/var/lib/services", "/var/lib/containers", "/var/log", "/var/backup"}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.log, "bench-io: "+format+"\n", args...)
}

func (b *bench) run(ctx context.Context) (rep Report, err error) {
	start := b.env.Now()
	rep = Report{Started: start.UTC(), Kernel: kernel(), CPUs: runtime.NumCPU(), MemoryBytes: memTotal(),
		LoadBefore: loadavg(), Rounds: b.opts.rounds, Quick: b.opts.quick, Sizes: b.opts.sizes}
	b.mountOpts, b.data = map[string]string{}, map[string]string{}

	for _, t := range []string{"mkfs.btrfs", "btrfs", "losetup", "mount", "umount", "findmnt", "fio", "compsize", "tar", "runuser", systemdSysctl} {
		if _, err := lookPath(t); err != nil {
			return rep, fmt.Errorf("%s is missing (scripts/install-deps.sh bench-io installs what bench-io needs): %w", t, err)
		}
	}
	provision := filepath.Join(b.opts.repo, "bin", "impermanence-provision")
	if _, err := os.Stat(provision); err != nil {
		return rep, fmt.Errorf("build the suite first (make build): %w", err)
	}

	b.work, err = os.MkdirTemp("", "bench-io.")
	if err != nil {
		return rep, fmt.Errorf("create scratch directory: %w", err)
	}
	// postgres must traverse it to its data directory and socket.
	if err := os.Chmod(b.work, 0o755); err != nil {
		return rep, fmt.Errorf("chmod scratch directory %s: %w", b.work, err)
	}
	defer func() {
		// Never remove through a mount that an unmount left behind.
		if left := mountsBelow(b.work); len(left) > 0 {
			if err == nil {
				err = fmt.Errorf("still mounted, %s left in place: %s", b.work, strings.Join(left, ", "))
			}
			return
		}
		if rmErr := os.RemoveAll(b.work); rmErr != nil && err == nil {
			err = fmt.Errorf("remove scratch directory: %w", rmErr)
		}
	}()

	if err := b.saveSysctls(); err != nil {
		return rep, err
	}
	defer func() {
		if rErr := b.applyStock(context.Background()); rErr != nil && err == nil {
			err = rErr
		}
	}()
	rep.StockSysctl = b.stock

	detach, err := b.target(ctx)
	if err != nil {
		return rep, err
	}
	defer func() {
		if dErr := detach(); dErr != nil && err == nil {
			err = dErr
		}
	}()
	rep.Target = b.describeTarget()

	if err := b.prepareData(ctx); err != nil {
		return rep, err
	}

	for _, wn := range b.opts.workloads {
		w, _ := workloadByName(wn)
		for r := 1; r <= b.opts.rounds; r++ {
			order := append([]string(nil), b.opts.layouts...)
			if r%2 == 0 { // A B C D, then D C B A: drift cancels out
				for i, j := 0, len(order)-1; i < j; i, j = i+1, j-1 {
					order[i], order[j] = order[j], order[i]
				}
			}
			for _, l := range order {
				if err := ctx.Err(); err != nil {
					return rep, err
				}
				vals, err := b.measure(ctx, w, l)
				if err != nil {
					return rep, fmt.Errorf("%s on %s, round %d: %w", w.name, l, r, err)
				}
				var line []string
				for _, v := range vals {
					rep.Samples = append(rep.Samples, Sample{Metric: v.Metric, Layout: l, Round: r, Value: v.Value})
					line = append(line, fmt.Sprintf("%s %s %s", v.Name, format(v.Value), v.Unit))
				}
				b.logf("round %d %-10s %-15s %s (load %s)", r, w.name, l, strings.Join(line, ", "), loadavg())
			}
		}
	}
	rep.Summaries = Summarize(rep.Samples, b.opts.layouts, stockLayout)
	rep.Layouts, rep.Data = b.mountOpts, b.data
	rep.LoadAfter = loadavg()
	rep.Seconds = b.env.Now().Sub(start).Seconds()
	return rep, nil
}

// value is one measured figure of a workload.
type value struct {
	Metric
	Value float64
}

// measure makes layout l afresh, applies its sysctls, runs w on it and
// takes it down again.
func (b *bench) measure(ctx context.Context, w workload, l string) (vals []value, err error) {
	root, undo, err := b.prepare(ctx, l)
	if err != nil {
		return nil, err
	}
	defer func() {
		if uErr := undo(); uErr != nil && err == nil {
			err = uErr
		}
	}()
	if spec := b.opts.specs[l]; spec.stock() {
		err = b.applyStock(ctx)
	} else {
		err = b.applyMode(ctx, spec.mode)
	}
	if err != nil {
		return nil, err
	}
	return w.run(ctx, b, root)
}

// target sets up the block device: a loop device on a sparse image in
// imageDir, or the operator's device.
func (b *bench) target(ctx context.Context) (func() error, error) {
	if b.opts.device != "" {
		if err := checkDevice(b.opts.device); err != nil {
			return nil, err
		}
		b.dev = b.opts.device
		return func() error { return nil }, nil
	}
	img, err := os.CreateTemp(b.opts.imageDir, "bench-io.*.img")
	if err != nil {
		return nil, fmt.Errorf("create image: %w", err)
	}
	img.Close()
	removeImg := func() error {
		if err := os.Remove(img.Name()); err != nil {
			return fmt.Errorf("remove image: %w", err)
		}
		return nil
	}
	if _, err := command(ctx, "truncate", "-s", b.opts.imageSize, img.Name()); err != nil {
		return nil, errors2(err, removeImg())
	}
	// Direct I/O: the image's pages are not cached twice (in the loop
	// device and in the page cache of the file), so reads and fsync reach
	// the disk below as they would on a partition.
	out, err := command(ctx, "losetup", "--find", "--show", "--direct-io=on", img.Name())
	if err != nil {
		return nil, errors2(err, removeImg())
	}
	b.dev = strings.TrimSpace(out)
	b.logf("image %s (%s, sparse) on %s", img.Name(), b.opts.imageSize, b.dev)
	return func() error {
		_, err := command(context.Background(), "losetup", "--detach", b.dev)
		return errors2(err, removeImg())
	}, nil
}

func errors2(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func (b *bench) describeTarget() string {
	if b.opts.device != "" {
		return "block device " + b.dev
	}
	back, _ := command(context.Background(), "findmnt", "-n", "-o", "SOURCE,FSTYPE", "--target", b.opts.imageDir)
	return fmt.Sprintf("loop device (direct I/O) on an image in %s (%s)", b.opts.imageDir, strings.Join(strings.Fields(back), " "))
}

// checkDevice refuses a device that is not a block device or is in use
// (mounted, or holding a mounted partition).
func checkDevice(dev string) error {
	fi, err := os.Stat(dev)
	if err != nil {
		return fmt.Errorf("--device: %w", err)
	}
	if fi.Mode()&os.ModeDevice == 0 || fi.Mode()&os.ModeCharDevice != 0 {
		return fmt.Errorf("--device %s is not a block device", dev)
	}
	out, err := command(context.Background(), "lsblk", "-n", "-o", "MOUNTPOINTS", dev)
	if err != nil {
		return err
	}
	if strings.TrimSpace(out) != "" {
		return fmt.Errorf("--device %s (or a partition of it) is mounted at %s: refused", dev, strings.Join(strings.Fields(out), ", "))
	}
	return nil
}

// prepare makes a fresh filesystem on the device and mounts layout l at a
// new root; undo unmounts it.
func (b *bench) prepare(ctx context.Context, l string) (string, func() error, error) {
	if _, err := command(ctx, "mkfs.btrfs", "-f", "-q", b.dev); err != nil {
		return "", nil, err
	}
	top := filepath.Join(b.work, "top")
	root := filepath.Join(b.work, "root")
	for _, d := range []string{top, root} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", nil, fmt.Errorf("create mountpoint: %w", err)
		}
	}
	undo := func() error {
		_, err := command(context.Background(), "umount", "--recursive", root)
		return err
	}
	if _, err := command(ctx, "mount", "-o", "subvolid=5", b.dev, top); err != nil {
		return "", nil, err
	}
	fail := func(err error) (string, func() error, error) {
		command(context.Background(), "umount", top)
		command(context.Background(), "umount", "--recursive", root)
		return "", nil, err
	}
	spec := b.opts.specs[l]
	if spec.stock() {
		if _, err := command(ctx, "btrfs", "-q", "subvolume", "create", filepath.Join(top, "@rootfs")); err != nil {
			return fail(err)
		}
		if _, err := command(ctx, "umount", top); err != nil {
			return fail(err)
		}
		if _, err := command(ctx, "mount", "-o", "subvol=@rootfs", b.dev, root); err != nil {
			return fail(err)
		}
		for _, d := range workloadDirs {
			if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
				return fail(fmt.Errorf("create %s: %w", d, err))
			}
		}
	} else {
		cfg, cfgPath, err := b.modeConfig(spec)
		if err != nil {
			return fail(err)
		}
		// provision takes the filesystem lock in /run and keeps state in
		// /var/lib and an audit log in /var/log: empty tmpfs there, in a
		// mount namespace of its own, so that none of this machine's
		// changes.
		if _, err := command(ctx, "unshare", "--mount", "--propagation", "private", "sh", "-c",
			`for d in /run /var/lib /var/log; do mount -t tmpfs -o mode=0755 bench-io "$d" || exit; done; exec "$0" "$@"`,
			filepath.Join(b.opts.repo, "bin", "impermanence-provision"), "--config", cfgPath, "--mount", top); err != nil {
			return fail(err)
		}
		if _, err := command(ctx, "umount", top); err != nil {
			return fail(err)
		}
		// The root first, as the initrd mounts it: its options are the
		// filesystem's; then every other subvolume at its mountpoint.
		rootSV := ""
		for _, s := range cfg.Subvolumes {
			if s.Mountpoint == "/" {
				rootSV = s.Name
			}
		}
		if _, err := command(ctx, "mount", "-o", spec.mountOptions(rootSV, "/"), b.dev, root); err != nil {
			return fail(err)
		}
		for _, m := range plan.Mounts(cfg) {
			where := filepath.Join(root, m.Mountpoint)
			if err := os.MkdirAll(where, 0o755); err != nil {
				return fail(fmt.Errorf("create %s: %w", where, err))
			}
			if _, err := command(ctx, "mount", "-o", spec.mountOptions(m.Name, m.Mountpoint), b.dev, where); err != nil {
				return fail(err)
			}
		}
	}
	got, err := command(ctx, "findmnt", "-n", "-o", "FS-OPTIONS", "--mountpoint", root)
	if err != nil {
		return fail(err)
	}
	got = strings.TrimSpace(got)
	if err := checkOptions(spec, got); err != nil {
		return fail(err)
	}
	b.mountOpts[l] = got
	return root, undo, nil
}

// checkOptions makes sure the filesystem carries what the layout claims:
// every option of the mode, no compression on stock.
func checkOptions(l layoutSpec, got string) error {
	have := map[string]bool{}
	for _, o := range strings.Split(got, ",") {
		have[o] = true
	}
	if l.stock() {
		for o := range have {
			if strings.HasPrefix(o, "compress") {
				return fmt.Errorf("stock layout mounted with %s", o)
			}
		}
		return nil
	}
	for _, o := range l.fs() {
		if o == "commit=30" && !strings.Contains(got, "commit=") {
			continue // the default interval, which the kernel does not show
		}
		if !have[o] {
			return fmt.Errorf("layout %s: the filesystem is mounted with %s, without %s", l.label, got, o)
		}
	}
	return nil
}

// modeConfig writes the built-in default configuration with this device
// and mode (a drop-in in config.d/, as an operator would), and the
// layout's own drop-in after it, and returns it parsed.
func (b *bench) modeConfig(l layoutSpec) (*config.Config, string, error) {
	dir := filepath.Join(b.work, "config-"+strings.ReplaceAll(l.label, ":", "-"))
	main := filepath.Join(dir, "config.toml")
	dropIn := fmt.Sprintf("device = %q\nmode = %q\n", b.dev, l.mode)
	if err := os.MkdirAll(filepath.Join(dir, "config.d"), 0o755); err != nil {
		return nil, "", fmt.Errorf("write config: %w", err)
	}
	if err := os.WriteFile(main, config.DefaultTOML(), 0o644); err != nil {
		return nil, "", fmt.Errorf("write config: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.d", "10-bench.toml"), []byte(dropIn), 0o644); err != nil {
		return nil, "", fmt.Errorf("write config: %w", err)
	}
	if l.dropIn != "" {
		data, err := os.ReadFile(l.dropIn)
		if err != nil {
			return nil, "", fmt.Errorf("layout %s: %w", l.label, err)
		}
		if err := os.WriteFile(filepath.Join(dir, "config.d", "20-layout.toml"), data, 0o644); err != nil {
			return nil, "", fmt.Errorf("write config: %w", err)
		}
	}
	cfg, err := config.Load(main)
	if err != nil {
		return nil, "", fmt.Errorf("bench config for %s: %w", l.label, err)
	}
	return cfg, main, nil
}

// modeKeys are the keys any mode's drop-in sets.
func (b *bench) modeKeys() ([]string, error) {
	seen := map[string]bool{}
	var keys []string
	for _, m := range config.Modes {
		p := filepath.Join(b.opts.repo, "sysctl", string(m)+".conf")
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("read mode sysctls: %w", err)
		}
		es, err := sysctl.Parse(bytes.NewReader(data), p)
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			if !seen[e.Key] {
				seen[e.Key] = true
				keys = append(keys, e.Key)
			}
		}
	}
	sort.Strings(keys)
	return keys, nil
}

// saveSysctls records the machine's values of every key a mode sets, in
// memory and in a sysctl.d file (the wrapper applies it if this process
// dies before restoring them).
func (b *bench) saveSysctls() error {
	keys, err := b.modeKeys()
	if err != nil {
		return err
	}
	b.stock = map[string]string{}
	var file strings.Builder
	file.WriteString("# The machine's values before bench-io changed them.\n")
	for _, k := range keys {
		v, err := os.ReadFile(filepath.Join("/proc/sys", sysctl.ProcPath(k)))
		if err != nil {
			return fmt.Errorf("read sysctl %s: %w", k, err)
		}
		b.stock[k] = strings.TrimSpace(string(v))
		fmt.Fprintf(&file, "%s = %s\n", k, b.stock[k])
	}
	b.stockFile = b.opts.restoreFile
	if b.stockFile == "" {
		b.stockFile = filepath.Join(b.work, "sysctl-stock.conf")
	}
	if err := os.WriteFile(b.stockFile, []byte(file.String()), 0o644); err != nil {
		return fmt.Errorf("write sysctl restore file: %w", err)
	}
	return nil
}

// applyMode applies the mode's drop-in as server-impermanence-tune.service
// does.
func (b *bench) applyMode(ctx context.Context, m config.Mode) error {
	_, err := command(ctx, systemdSysctl, filepath.Join(b.opts.repo, "sysctl", string(m)+".conf"))
	return err
}

// applyStock puts the machine's own values back.
func (b *bench) applyStock(ctx context.Context) error {
	if b.stockFile == "" {
		return nil
	}
	_, err := command(ctx, systemdSysctl, b.stockFile)
	return err
}

// syncfs flushes the filesystem holding path (sync -f: syncfs(2)).
func syncfs(ctx context.Context, path string) error {
	_, err := command(ctx, "sync", "-f", path)
	return err
}

// timed runs f and returns how long it took, by the injected clock.
func (b *bench) timed(f func() error) (time.Duration, error) {
	t0 := b.env.Now()
	err := f()
	return b.env.Now().Sub(t0), err
}

// mountsBelow lists the mountpoints at or below dir.
func mountsBelow(dir string) []string {
	ms, err := mountinfo.Read("/proc/self/mountinfo")
	if err != nil {
		return []string{"(the mount table is unreadable: " + err.Error() + ")"}
	}
	var out []string
	for _, m := range ms {
		if m.Mountpoint == dir || strings.HasPrefix(m.Mountpoint, dir+"/") {
			out = append(out, m.Mountpoint)
		}
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	var k []string
	for s := range m {
		k = append(k, s)
	}
	sort.Strings(k)
	return k
}
