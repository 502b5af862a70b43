package vmtest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// image is the output of build-image.sh for one Debian suite.
type image struct {
	dir   string // disk.img, vmlinuz, initrd.img, initrd-invalid.img, disk-plain.img
	suite string // bookworm, trixie
}

// accel picks KVM only when it can run a stock kernel: /dev/kvm opens and
// the CPU has hardware virtualisation (a PVM /dev/kvm has neither vmx nor
// svm and never boots a Debian kernel). VMTEST_ACCEL=kvm|tcg overrides.
func accel() (accel, cpu string) {
	switch os.Getenv("VMTEST_ACCEL") {
	case "kvm":
		return "kvm", "host"
	case "tcg":
		return "tcg,thread=multi,tb-size=256", "qemu64"
	}
	if f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0); err == nil {
		f.Close()
		if ci, err := os.ReadFile("/proc/cpuinfo"); err == nil &&
			regexp.MustCompile(`(?m)^flags\s*:.*\b(vmx|svm)\b`).Match(ci) {
			return "kvm", "host"
		}
	}
	return "tcg,thread=multi,tb-size=256", "qemu64"
}

// machine is one scenario's VM: a private copy of the image and the vmtest
// disk (scenario in, results out), booted as many times as the scenario needs.
type machine struct {
	t      *testing.T
	img    image
	dir    string
	disk   string
	vtdisk string
	// spare is the extra blank disk of machineOpts.spare ("" without).
	spare, spareSerial string
	boots              []bootResult
}

type bootResult struct {
	n       int
	wall    time.Duration
	killed  bool
	timeout bool
	serial  string
	// crashed is the first attempt of this boot when the guest kernel
	// crashed in it (the boot was then run again from the same disks).
	crashed *attempt
}

// attempt is one run of QEMU for a boot.
type attempt struct {
	wall    time.Duration
	killed  bool
	timeout bool
	err     error    // QEMU's exit, other than our kill
	kernel  []string // the guest kernel's crash reports on the console
	serial  string
	limit   time.Duration // the boot's timeout
}

// bootOpts varies one boot.
type bootOpts struct {
	initrd    string // default initrd.img; relative to the image directory
	rootflags string // default subvol=@root
	append    string // extra kernel command line
	// killOn, when set, kills QEMU killDelay after a serial line matches:
	// a power cut.
	killOn    *regexp.Regexp
	killDelay time.Duration
	timeout   time.Duration
	// firstTry is added to the kernel command line of the first attempt
	// only (the harness's own test of the crash retry).
	firstTry string
	// drives adds to the -drive option of the root disk (QEMU block
	// options, e.g. throttling.bps-total=...).
	drives string
}

// machineOpts varies a machine: another disk of the image, more files on
// the vmtest disk (next to scenario.sh), a bigger vmtest disk, one more
// blank disk.
type machineOpts struct {
	disk   string   // default disk.img
	extra  []string // host files copied to the vmtest disk's top
	vtSize string   // default 64M
	// spare, when set, is the virtio serial of one more disk, blank and
	// sparse (spareSize, default 1G): /dev/disk/by-id/virtio-<spare> in
	// the guest, kept across the machine's boots.
	spare     string
	spareSize string
}

func newMachine(t *testing.T, img image, scenario string, opts ...machineOpts) *machine {
	t.Helper()
	var o machineOpts
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.disk == "" {
		o.disk = "disk.img"
	}
	if o.vtSize == "" {
		o.vtSize = "64M"
	}
	dir := t.TempDir()
	m := &machine{t: t, img: img, dir: dir, disk: filepath.Join(dir, "disk.img"), vtdisk: filepath.Join(dir, "vmtest.img")}
	run(t, "cp", "--sparse=always", filepath.Join(img.dir, o.disk), m.disk)
	payload := filepath.Join(dir, "payload")
	if err := os.MkdirAll(payload, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"lib.sh", scenario} {
		data, err := os.ReadFile(filepath.Join("scenarios", f))
		if err != nil {
			t.Fatal(err)
		}
		name := f
		if f == scenario {
			name = "scenario.sh"
		}
		if err := os.WriteFile(filepath.Join(payload, name), data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range o.extra {
		run(t, "cp", f, payload)
	}
	run(t, "mke2fs", "-q", "-F", "-t", "ext4", "-L", "vmtest", "-d", payload, m.vtdisk, o.vtSize)
	if o.spare != "" {
		if o.spareSize == "" {
			o.spareSize = "1G"
		}
		m.spare, m.spareSerial = filepath.Join(dir, "spare.img"), o.spare
		run(t, "truncate", "-s", o.spareSize, m.spare)
	}
	return m
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// boot runs one boot of the scenario: QEMU until the guest powers off, the
// kill marker fires or the timeout passes, the serial console kept,
// timestamped, per boot. When the guest kernel crashed (an Oops or a panic
// on the console: the emulator or the guest kernel failed, not the suite),
// the boot runs once more from the disks as they were before it; the
// timing table shows it. A second crash fails the test.
func (m *machine) boot(o bootOpts) bootResult {
	t := m.t
	n := len(m.boots) + 1
	res := bootResult{n: n}
	for try := 1; ; try++ {
		m.saveDisks()
		oa := o
		if try == 1 && o.firstTry != "" {
			oa.append += " " + o.firstTry
		}
		a := m.qemu(oa, n)
		if len(a.kernel) > 0 && try == 1 {
			kept := strings.TrimSuffix(a.serial, ".serial.log") + ".crashed.serial.log"
			if err := os.Rename(a.serial, kept); err == nil {
				a.serial = kept
			}
			t.Logf("boot %d: the guest kernel crashed (%s); not a suite failure: the boot runs again from the same disks (console: %s)",
				n, crashSummary(a.kernel), a.serial)
			res.crashed = &a
			m.restoreDisks()
			continue
		}
		m.dropSavedDisks()
		res.wall, res.killed, res.timeout, res.serial = a.wall, a.killed, a.timeout, a.serial
		switch {
		case len(a.kernel) > 0:
			t.Errorf("boot %d: the guest kernel crashed again on the retry (%s): a guest kernel failure, not the suite's; the test cannot judge this boot",
				n, crashSummary(a.kernel))
		case a.timeout:
			t.Errorf("boot %d: timed out after %s", n, a.limit)
		case a.err != nil:
			t.Errorf("boot %d: qemu: %v", n, a.err)
		}
		break
	}
	t.Logf("boot %d: %.1fs wall%s", n, res.wall.Seconds(), map[bool]string{true: " (power cut)"}[res.killed])
	m.boots = append(m.boots, res)
	return res
}

// disks are the machine's disk files: the image, the vmtest disk, the
// spare one if any.
func (m *machine) disks() []string {
	if m.spare != "" {
		return []string{m.disk, m.vtdisk, m.spare}
	}
	return []string{m.disk, m.vtdisk}
}

// saveDisks keeps a copy of every disk for a retry of the boot.
func (m *machine) saveDisks() {
	for _, f := range m.disks() {
		run(m.t, "cp", "--sparse=always", f, f+".before")
	}
}

// restoreDisks puts back the disks saveDisks kept.
func (m *machine) restoreDisks() {
	for _, f := range m.disks() {
		if err := os.Rename(f+".before", f); err != nil {
			m.t.Fatal(err)
		}
	}
}

func (m *machine) dropSavedDisks() {
	for _, f := range m.disks() {
		os.Remove(f + ".before")
	}
}

// qemu runs QEMU once for boot n.
func (m *machine) qemu(o bootOpts, n int) attempt {
	t := m.t
	if o.initrd == "" {
		o.initrd = "initrd.img"
	}
	if !filepath.IsAbs(o.initrd) {
		o.initrd = filepath.Join(m.img.dir, o.initrd)
	}
	if o.rootflags == "" {
		o.rootflags = "subvol=@root"
	}
	if o.timeout == 0 {
		o.timeout = envDuration("VMTEST_BOOT_TIMEOUT", 300*time.Second)
	}
	acc, cpu := accel()
	// quiet: the kernel's messages go to the journal, not through the
	// emulated serial port; systemd's status lines (the power-cut marker),
	// the rollback's debug-halt line (written to /dev/console) and a kernel
	// crash report (an Oops raises the console log level) still do.
	// oops=panic panic=-1: a crashed guest kernel ends the boot at once (QEMU
	// exits on the reboot, -no-reboot) instead of limping on until the timeout.
	appendLine := fmt.Sprintf("root=LABEL=server rootfstype=btrfs rootflags=%s rw console=ttyS0 quiet "+
		"systemd.show_status=1 oops=panic panic=-1 vmtest.boot=%d %s", o.rootflags, n, o.append)
	rootDrive := "file=" + m.disk + ",format=raw,if=none,id=root,cache=unsafe"
	if o.drives != "" {
		rootDrive += "," + o.drives
	}
	args := []string{
		"-accel", acc, "-cpu", cpu, "-machine", "q35", "-m", env("VMTEST_MEM", "1024"), "-smp", env("VMTEST_SMP", "2"),
		"-display", "none", "-monitor", "none", "-serial", "stdio", "-nodefaults", "-no-reboot",
		"-kernel", filepath.Join(m.img.dir, "vmlinuz"), "-initrd", o.initrd,
		"-append", strings.TrimSpace(appendLine),
		"-drive", rootDrive,
		"-device", "virtio-blk-pci,drive=root",
		"-drive", "file=" + m.vtdisk + ",format=raw,if=none,id=vt,cache=unsafe",
		"-device", "virtio-blk-pci,drive=vt,serial=vmtest",
		"-device", "virtio-rng-pci",
	}
	if m.spare != "" {
		args = append(args, "-drive", "file="+m.spare+",format=raw,if=none,id=spare,cache=unsafe",
			"-device", "virtio-blk-pci,drive=spare,serial="+m.spareSerial)
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", args...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	serial := filepath.Join(m.dir, fmt.Sprintf("boot%d.serial.log", n))
	f, err := os.Create(serial)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start qemu: %v", err)
	}
	a := attempt{serial: serial, limit: o.timeout}
	var console strings.Builder
	var wg sync.WaitGroup
	var once sync.Once
	var mu sync.Mutex
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<16), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			mu.Lock()
			fmt.Fprintf(f, "[%7.2f] %s\n", time.Since(start).Seconds(), line)
			mu.Unlock()
			console.WriteString(line + "\n")
			if o.killOn != nil && o.killOn.MatchString(line) {
				once.Do(func() {
					time.AfterFunc(o.killDelay, func() {
						mu.Lock()
						a.killed = true
						fmt.Fprintf(f, "[%7.2f] VMTEST-HOST power cut (kill -9)\n", time.Since(start).Seconds())
						mu.Unlock()
						cmd.Process.Kill()
					})
				})
			}
		}
	}()
	err = cmd.Wait()
	pw.Close()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	a.wall = time.Since(start)
	a.kernel = kernelFailure(console.String())
	if ctx.Err() != nil {
		a.timeout = true
	} else if err != nil && !a.killed {
		a.err = err
	}
	return a
}

func env(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func envDuration(k string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(k)); err == nil {
		return d
	}
	return def
}

// results copies the vmtest disk's out/ to a host directory (debugfs: no
// mount needed) and returns it.
func (m *machine) results() string {
	dir := filepath.Join(m.dir, "results")
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		m.t.Fatal(err)
	}
	run(m.t, "debugfs", "-R", "rdump /out "+dir, m.vtdisk)
	return filepath.Join(dir, "out")
}

// readImage mounts the machine's disk read-only (top level) after power-off
// and calls fn with the mount point.
func (m *machine) readImage(fn func(top string)) {
	t := m.t
	top := filepath.Join(m.dir, "top")
	if err := os.MkdirAll(top, 0o755); err != nil {
		t.Fatal(err)
	}
	// rescue=nologreplay: a read-only btrfs mount would still replay the
	// log tree and write to the image; the host must see the disk exactly
	// as the power cut left it and never change what the next boot finds.
	run(t, "mount", "-o", "loop,ro,rescue=nologreplay,subvolid=5", m.disk, top)
	defer func() {
		if out, err := exec.Command("umount", top).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", top, err, out)
		}
	}()
	fn(top)
}

// prepareDisk mounts the machine's disk read-write (top level) on the host
// before its first boot and calls fn with the mount point: data the
// scenario needs, written at host speed.
func (m *machine) prepareDisk(fn func(top string)) {
	t := m.t
	top := filepath.Join(m.dir, "top")
	if err := os.MkdirAll(top, 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, "mount", "-o", "loop,subvolid=5", m.disk, top)
	defer func() {
		if out, err := exec.Command("umount", top).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", top, err, out)
		}
	}()
	fn(top)
	run(t, "sync", "-f", top)
}

// initrdOnDisk copies the newest /boot/initrd.img-* of subvolume sv out of
// the machine's disk, as a boot loader reading that subvolume would load it,
// and returns its path for the next boot.
func (m *machine) initrdOnDisk(sv string) string {
	t := m.t
	dst := filepath.Join(m.dir, fmt.Sprintf("initrd-boot%d.img", len(m.boots)+1))
	m.readImage(func(top string) {
		found, _ := filepath.Glob(filepath.Join(top, sv, "boot", "initrd.img-*"))
		if len(found) == 0 {
			t.Fatalf("no /boot/initrd.img-* in %s for boot %d", sv, len(m.boots)+1)
		}
		sort.Strings(found)
		run(t, "cp", found[len(found)-1], dst)
		fi, _ := os.Stat(dst)
		t.Logf("boot %d: initrd %s from %s (%d bytes)", len(m.boots)+1, filepath.Base(found[len(found)-1]), sv, fi.Size())
	})
	return dst
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
