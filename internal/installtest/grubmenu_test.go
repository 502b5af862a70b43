package installtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/server-impermanence/server-impermanence/internal/btrfstest"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/names"
	"github.com/server-impermanence/server-impermanence/internal/provision"
)

// grubScript is the grub.d script of the GRUB menu of former blanks.
const grubScript = "../../grub/42_server-impermanence"

// grubLib is grub-mkconfig's library (grub-common), which the script
// sources.
const grubLib = "/usr/share/grub/grub-mkconfig_lib"

// grubProbe stands in for grub-probe: the tests' root device is a name,
// /dev/vda2 (root) or /dev/vda1 (a separate /boot), so that the menu does
// not depend on the loop device or on the host's disks. The blanks are
// real: a loop-backed btrfs and impermanence-provision.
const grubProbe = `#!/bin/sh
dev=
for a; do
	case $a in --target=*) t=${a#--target=} ;; esac
	case $prev in --device) dev=$a ;; esac
	prev=$a
done
case $t in
fs) case $dev in /dev/vda1) echo ext2 ;; *) echo btrfs ;; esac ;;
fs_uuid) case $dev in /dev/vda1) echo 0b0e7a3c-58a1-4f3e-9d1e-5c8a1f1b2c01 ;; *) echo 5e77e4b1-2f0a-4c11-8e4b-1d7b0a6f9c02 ;; esac ;;
partmap) echo msdos ;;
hints_string) case $dev in /dev/vda1) echo --hint-bios=hd0,msdos1 ;; *) echo --hint-bios=hd0,msdos2 ;; esac ;;
abstraction | compatibility_hint | cryptodisk_uuid) ;;
device) echo /dev/vda2 ;;
*) echo "grub-probe stand-in: no target $t" >&2; exit 1 ;;
esac
`

// grubMkrelpath stands in for grub-mkrelpath: the path of / and /boot in
// their filesystems, from $REL_ROOT and $REL_BOOT.
const grubMkrelpath = `#!/bin/sh
case $1 in
/) echo "$REL_ROOT" ;;
/boot) echo "$REL_BOOT" ;;
*) echo "grub-mkrelpath stand-in: no path $1" >&2; exit 1 ;;
esac
`

// grubRun is one run of the script.
type grubRun struct {
	code           int
	stdout, stderr string
}

// runGrubScript runs the script as grub-mkconfig does (its exported
// variables in env), in a private mount namespace with tmpfs on /run,
// /var/lib and /var/log (impermanence-provision mounts the filesystem
// beneath /run and must not touch the host's state) and defaultDir bound
// on /etc/default, bootDir on /boot.
func runGrubScript(t *testing.T, env []string, defaultDir, bootDir string) grubRun {
	t.Helper()
	script, err := filepath.Abs(grubScript)
	if err != nil {
		t.Fatal(err)
	}
	inner := `mount -t tmpfs tmpfs /run && mount -t tmpfs tmpfs /var/lib && mount -t tmpfs tmpfs /var/log &&
mount --bind "$T_DEFAULT" /etc/default && mount --bind "$T_BOOT" /boot && exec "$T_SCRIPT"`
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", inner)
	cmd.Env = append(append(os.Environ(), "T_DEFAULT="+defaultDir, "T_BOOT="+bootDir, "T_SCRIPT="+script), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	var ee *exec.ExitError
	code := 0
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("%s: %v", script, err)
	}
	return grubRun{code, out.String(), errb.String()}
}

// writeFiles writes each name: content below dir, with the mode of an
// executable when the content starts with #!.
func writeFiles(t *testing.T, dir string, files map[string]string) string {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if strings.HasPrefix(content, "#!") {
			mode = 0o755
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// volatile replaces what a real filesystem makes up (creation times and
// generations) in the emitted menu.
var volatile = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`committed \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`), "committed <time>"},
	{regexp.MustCompile(`generation \d+`), "generation <generation>"},
}

func normalize(s string) string {
	for _, v := range volatile {
		s = v.re.ReplaceAllString(s, v.with)
	}
	return s
}

// TestGrubMenu runs the grub.d script against a real loop-backed btrfs
// whose root has a history of three former blanks committed by the real
// impermanence-provision (the oldest, the first blank, without a kernel;
// the others each with their own /boot), through grub-mkconfig's own
// library: the menu with each blank's kernel (/boot on the root) and with
// the live kernel (a separate /boot) against golden files, grub-script-check
// on both, and nothing but exit 0 when disabled, unconfigured or broken.
func TestGrubMenu(t *testing.T) {
	for _, tool := range []string{"unshare", "grub-script-check", "grub-mkconfig"} {
		if _, err := exec.LookPath(tool); err != nil {
			missingTool(t, tool+" (grub-common; scripts/install-deps.sh)")
		}
	}
	if _, err := os.Stat(grubLib); err != nil {
		missingTool(t, grubLib+" (grub-common; scripts/install-deps.sh)")
	}
	tfs := btrfstest.New(t)
	stateRoot := t.TempDir()
	t0 := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	prov := func(now time.Time, args ...string) {
		t.Helper()
		var out bytes.Buffer
		env := job.Env{Stdout: &out, Stderr: &out, Root: stateRoot, Now: func() time.Time { return now }}
		if code := provision.Run(context.Background(), append([]string{"--default", "--mount", tfs.Mount}, args...), env); code != job.ExitOK {
			t.Fatalf("provision %q: exit %d\n%s", args, code, out.String())
		}
	}
	prov(t0)
	root := filepath.Join(tfs.Mount, "@root")
	kernels := [][]string{
		{"vmlinuz-6.1.0-9-amd64", "initrd.img-6.1.0-9-amd64", "config-6.1.0-9-amd64"},
		{"vmlinuz-6.1.0-9-amd64", "initrd.img-6.1.0-9-amd64", "vmlinuz-6.1.0-26-amd64", "initrd.img-6.1.0-26-amd64"},
		{"vmlinuz-6.1.0-26-amd64", "initrd.img-6.1.0-26-amd64", "vmlinuz-6.1.0-28-amd64"},
	}
	for i, files := range kernels {
		boot := filepath.Join(root, "boot")
		os.RemoveAll(boot)
		m := map[string]string{}
		for _, f := range files {
			m[f] = ""
		}
		writeFiles(t, boot, m)
		prov(t0.Add(time.Duration(i+1)*24*time.Hour), "--commit")
	}

	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(bin, "impermanence-provision"), "./helpers/provision")
	build.Dir = "../.."
	if o, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, o)
	}
	tools := writeFiles(t, t.TempDir(), map[string]string{"grub-probe": grubProbe, "grub-mkrelpath": grubMkrelpath,
		"failing/impermanence-provision": "#!/bin/sh\necho 'impermanence-provision: stand-in failure' >&2\nexit 1\n"})
	cfgDir := t.TempDir()
	toml := strings.Replace(string(config.DefaultTOML()), `device = "/dev/disk/by-label/server"`, `device = "`+tfs.Device+`"`, 1)
	conf := filepath.Join(writeFiles(t, cfgDir, map[string]string{"config.toml": toml}), "config.toml")
	badConf := filepath.Join(writeFiles(t, cfgDir, map[string]string{"bad.toml": strings.Replace(toml, tfs.Device, "/dev/disk/by-label/no-such-filesystem", 1)}), "bad.toml")

	enabled := writeFiles(t, t.TempDir(), map[string]string{"grub": "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\nGRUB_SERVER_IMPERMANENCE=true\n"})
	enabledDropIn := writeFiles(t, t.TempDir(), map[string]string{"grub": "GRUB_SERVER_IMPERMANENCE=false\n",
		"grub.d/50-server-impermanence.cfg": "GRUB_SERVER_IMPERMANENCE=true\n"})
	disabled := writeFiles(t, t.TempDir(), map[string]string{"grub": "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\n"})
	emptyBoot := t.TempDir()
	liveBoot := writeFiles(t, t.TempDir(), map[string]string{"vmlinuz-6.1.0-28-amd64": "", "initrd.img-6.1.0-28-amd64": "",
		"vmlinuz-6.1.0-30-amd64": "", "vmlinuz-6.1.0-28-amd64.dpkg-tmp": "", "grub/grub.cfg": ""})

	path := "PATH=" + bin + ":" + os.Getenv("PATH")
	// What grub-mkconfig exports (GRUB_CMDLINE_LINUX_DEFAULT comes from
	// /etc/default/grub, which grub-mkconfig has sourced).
	base := []string{path, "SERVER_IMPERMANENCE_CONFIG=" + conf, "pkgdatadir=/usr/share/grub",
		"grub_probe=" + filepath.Join(tools, "grub-probe"), "grub_mkrelpath=" + filepath.Join(tools, "grub-mkrelpath"),
		"GRUB_DEVICE=/dev/vda2", "GRUB_DEVICE_UUID=5e77e4b1-2f0a-4c11-8e4b-1d7b0a6f9c02", "GRUB_FS=btrfs",
		"GRUB_CMDLINE_LINUX=", "GRUB_CMDLINE_LINUX_DEFAULT=quiet", "REL_ROOT=/@root"}
	onRoot := append(base[:len(base):len(base)], "GRUB_DEVICE_BOOT=/dev/vda2", "REL_BOOT=/@root/boot")
	separate := append(base[:len(base):len(base)], "GRUB_DEVICE_BOOT=/dev/vda1", "REL_BOOT=/")
	with := func(env []string, extra ...string) []string { return append(env[:len(env):len(env)], extra...) }
	former := func(day int) string {
		return names.BlankHistory("@root-blank", t0.Add(time.Duration(day)*24*time.Hour))
	}

	for _, c := range []struct {
		name        string
		env         []string
		defaults    string
		boot        string
		golden      string   // the menu, when there is one
		stderr      []string // lines stderr must hold
		emptyStderr bool
	}{
		{name: "/boot on the root: each blank's own kernel", env: onRoot, defaults: enabled, boot: emptyBoot, golden: "boot-on-root",
			stderr: []string{"42_server-impermanence: " + former(1) + " has no kernel with an initrd in its /boot: no entry",
				"42_server-impermanence: found blank " + former(3) + " (Linux 6.1.0-26-amd64)"}},
		{name: "a separate /boot: the live kernel", env: separate, defaults: enabled, boot: liveBoot, golden: "boot-separate",
			stderr: []string{"42_server-impermanence: found blank " + former(1) + " (Linux 6.1.0-28-amd64)"}},
		{name: "enabled in a grub.d drop-in", env: onRoot, defaults: enabledDropIn, boot: emptyBoot, golden: "boot-on-root"},
		{name: "enabled in the environment", env: with(onRoot, "GRUB_SERVER_IMPERMANENCE=true"), defaults: disabled, boot: emptyBoot, golden: "boot-on-root"},
		{name: "disabled by default", env: onRoot, defaults: disabled, boot: emptyBoot, emptyStderr: true},
		{name: "disabled in the environment", env: with(onRoot, "GRUB_SERVER_IMPERMANENCE=false"), defaults: enabled, boot: emptyBoot, emptyStderr: true},
		{name: "unconfigured", env: with(onRoot, "SERVER_IMPERMANENCE_CONFIG="+filepath.Join(cfgDir, "missing.toml")), defaults: enabled, boot: emptyBoot, emptyStderr: true},
		{name: "provision fails", env: with(onRoot, "SERVER_IMPERMANENCE_CONFIG="+badConf), defaults: enabled, boot: emptyBoot,
			stderr: []string{"42_server-impermanence: impermanence-provision --list-blanks failed (exit 1): no server-impermanence entries"}},
		{name: "a broken provision binary", env: with(onRoot, "PATH="+filepath.Join(tools, "failing")+":"+os.Getenv("PATH")), defaults: enabled, boot: emptyBoot,
			stderr: []string{"impermanence-provision: stand-in failure", "42_server-impermanence: impermanence-provision --list-blanks failed (exit 1): no server-impermanence entries"}},
		{name: "the root is not btrfs", env: with(onRoot, "GRUB_FS=ext2"), defaults: enabled, boot: emptyBoot,
			stderr: []string{"42_server-impermanence: the root is ext2, not btrfs: no server-impermanence entries"}},
		{name: "/ is not the configured root", env: with(onRoot, "REL_ROOT=/@other", "REL_BOOT=/@other/boot"), defaults: enabled, boot: emptyBoot,
			stderr: []string{"42_server-impermanence: / is /@other in its filesystem, not the configured root @root: no server-impermanence entries"}},
		{name: "a separate /boot without a kernel", env: separate, defaults: enabled, boot: emptyBoot,
			stderr: []string{"42_server-impermanence: no kernel with an initrd in /boot: no server-impermanence entries"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := runGrubScript(t, c.env, c.defaults, c.boot)
			if r.code != 0 {
				t.Errorf("exit %d, want 0 (a grub.d script never fails grub-mkconfig)\nstderr:\n%s", r.code, r.stderr)
			}
			for _, l := range c.stderr {
				if !strings.Contains(r.stderr, l+"\n") {
					t.Errorf("stderr lacks %q:\n%s", l, r.stderr)
				}
			}
			if c.emptyStderr && r.stderr != "" {
				t.Errorf("stderr = %q, want nothing", r.stderr)
			}
			if c.golden == "" {
				if r.stdout != "" {
					t.Errorf("stdout = %q, want no entries", r.stdout)
				}
				return
			}
			checkGolden(t, filepath.Join("testdata", "grub", c.golden+".golden"), normalize(r.stdout))
			scriptCheck(t, r.stdout)
		})
	}

	t.Run("a writable former blank has no entry", func(t *testing.T) {
		rw := filepath.Join(tfs.Mount, former(3))
		setRO := func(v string) {
			t.Helper()
			if out, err := exec.Command("btrfs", "property", "set", "-ts", rw, "ro", v).CombinedOutput(); err != nil {
				t.Fatalf("btrfs property set %s ro %s: %v\n%s", rw, v, err, out)
			}
		}
		setRO("false")
		defer setRO("true")
		r := runGrubScript(t, onRoot, enabled, emptyBoot)
		if want := "42_server-impermanence: " + former(3) + " is writable, so it may not be pristine: no entry\n"; r.code != 0 || !strings.Contains(r.stderr, want) {
			t.Errorf("exit %d, stderr:\n%s\nwant exit 0 and %q", r.code, r.stderr, want)
		}
		if strings.Contains(r.stdout, "blank="+former(3)) || !strings.Contains(r.stdout, "blank="+former(2)) {
			t.Errorf("with %s writable the menu is:\n%s\nwant the entry of %s alone", former(3), r.stdout, former(2))
		}
	})

	t.Run("grub-mkconfig", func(t *testing.T) {
		grubMkconfig(t, tfs, filepath.Join(bin, "impermanence-provision"), toml, former(3), former(2))
	})
}

// grubMkconfig runs the real grub-mkconfig -o with the real grub-probe in
// a chroot whose / is the test filesystem's @root (as the rollback leaves
// it: /boot in it), in a private mount namespace: the host's /usr,
// /etc/alternatives, /dev and /sys bound in, its own /proc, /run and /tmp, and an /etc of the
// test's own (00_header, 10_linux, the menu script, /etc/default/grub
// turning the menu on). The host's /boot and /etc/default/grub are never
// read or written. want are the former blanks with an entry, newest
// first.
func grubMkconfig(t *testing.T, tfs *btrfstest.FS, provisionBin, toml string, want ...string) {
	t.Helper()
	root := filepath.Join(tfs.Mount, "@root")
	script, err := os.ReadFile(grubScript)
	if err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(provisionBin)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"etc/grub.d/42_server-impermanence":              string(script),
		"etc/default/grub":                               "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\nGRUB_SERVER_IMPERMANENCE=true\n",
		"etc/server-impermanence/config.toml":            toml,
		"opt/server-impermanence/impermanence-provision": string(bin),
	}
	for _, f := range []string{"00_header", "10_linux"} {
		b, err := os.ReadFile(filepath.Join("/etc/grub.d", f))
		if err != nil {
			missingTool(t, fmt.Sprintf("grub-common's %v", err))
		}
		files["etc/grub.d/"+f] = string(b)
	}
	writeFiles(t, root, files)
	os.Chmod(filepath.Join(root, "opt/server-impermanence/impermanence-provision"), 0o755)
	for _, d := range []string{"usr", "dev", "proc", "sys", "run", "tmp", "etc/alternatives"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range []string{"bin", "sbin", "lib", "lib64"} {
		if err := os.Symlink("usr/"+l, filepath.Join(root, l)); err != nil {
			t.Fatal(err)
		}
	}
	chroot := t.TempDir()
	inner := `set -e
mount -o subvol=@root "$T_DEV" "$T_ROOT"
mount --bind /usr "$T_ROOT/usr"
mount --bind /etc/alternatives "$T_ROOT/etc/alternatives"
mount --bind /dev "$T_ROOT/dev"
mount --bind /sys "$T_ROOT/sys"
mount -t proc proc "$T_ROOT/proc"
mount -t tmpfs tmpfs "$T_ROOT/run"
mount -t tmpfs tmpfs "$T_ROOT/tmp"
chroot "$T_ROOT" /usr/bin/env -i PATH=/opt/server-impermanence:/usr/sbin:/usr/bin LANG=C grub-mkconfig -o /tmp/grub.cfg
echo "### grub.cfg"
cat "$T_ROOT/tmp/grub.cfg"`
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", inner)
	cmd.Env = append(os.Environ(), "T_DEV="+tfs.Device, "T_ROOT="+chroot)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("grub-mkconfig -o in a chroot of @root: %v\nstderr:\n%s\nstdout:\n%s", err, errb.String(), out.String())
	}
	_, cfg, ok := strings.Cut(out.String(), "### grub.cfg\n")
	if !ok {
		t.Fatalf("no grub.cfg:\n%s", out.String())
	}
	// On a loop device numbered 0 to 9, grub-mkconfig_lib takes the root
	// for a file-backed loop (loop-AES) and probes the image file, which
	// the chroot does not have: its complaint on stderr is expected.
	t.Logf("grub-mkconfig stderr:\n%s", errb.String())
	section := regexp.MustCompile(`(?s)### BEGIN /etc/grub.d/42_server-impermanence ###\n(.*)### END /etc/grub.d/42_server-impermanence ###`).FindStringSubmatch(cfg)
	if section == nil {
		t.Fatalf("grub.cfg has no section of 42_server-impermanence:\n%s", cfg)
	}
	menu := section[1]
	if !strings.HasPrefix(menu, "submenu 'server-impermanence: boot a previous blank' ") {
		t.Errorf("the section does not start with the submenu:\n%s", menu)
	}
	kernels := map[string]string{want[0]: "6.1.0-26-amd64", want[1]: "6.1.0-9-amd64"}
	var got []string
	for _, m := range regexp.MustCompile(`(?m)^\t\tlinux\t'(/[^']+)' root=\S+ ro rootflags=subvol=@root quiet server-impermanence.blank=(\S+)$`).FindAllStringSubmatch(menu, -1) {
		if k := kernels[m[2]]; m[1] != "/"+m[2]+"/boot/vmlinuz-"+k {
			t.Errorf("the entry of %s loads %s, want its own /boot/vmlinuz-%s", m[2], m[1], k)
		}
		got = append(got, m[2])
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("grub.cfg's entries (-want +got):\n%s\n%s", diff, menu)
	}
}

// missingTool skips t for a tool that is not installed, or fails it when
// IMPERMANENCE_REQUIRE_TOOLS is set (make test, CI).
func missingTool(t *testing.T, what string) {
	t.Helper()
	if os.Getenv("IMPERMANENCE_REQUIRE_TOOLS") != "" {
		t.Fatalf("%s is missing and IMPERMANENCE_REQUIRE_TOOLS is set", what)
	}
	t.Skipf("%s is missing", what)
}

// checkGolden compares got with the golden file (-update rewrites it).
func checkGolden(t *testing.T, golden, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (go test ./internal/installtest -run TestGrubMenu -update writes it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("the menu differs from %s (-want +got; -update rewrites it):\n%s", golden, diff)
	}
}

// scriptCheck runs grub-script-check on a menu.
func scriptCheck(t *testing.T, menu string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "menu.cfg")
	if err := os.WriteFile(f, []byte(menu), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("grub-script-check", f).CombinedOutput(); err != nil {
		t.Errorf("grub-script-check: %v\n%s\n%s", err, out, menu)
	}
}
