package installtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const pkg = "server-impermanence"

// debPrereqs says why the package test cannot run here, or "".
func debPrereqs() string {
	if os.Getuid() != 0 {
		return "not root (the test installs and purges the package)"
	}
	for _, tool := range []string{"dpkg-buildpackage", "dh", "lintian", "apt-get", "dpkg", "make"} {
		if _, err := exec.LookPath(tool); err != nil {
			return tool + " is not installed (scripts/install-deps.sh installs debhelper, lintian)"
		}
	}
	if _, err := os.Stat("/etc/server-impermanence/config.toml"); err == nil {
		return "/etc/server-impermanence/config.toml exists: this machine is configured, the test must not install over it"
	}
	if out, _ := exec.Command("dpkg-query", "-W", "-f=${Status}", pkg).Output(); strings.Contains(string(out), "installed") {
		return pkg + " is installed on this machine; the test would remove it"
	}
	return ""
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, b)
	}
	return string(b)
}

var catalogIDRE = regexp.MustCompile(`(?m)^-- ([0-9a-f]{32})$`)

// aptConf is the apt hooks' conffile.
const aptConf = "/etc/apt/apt.conf.d/80server-impermanence"

// grubConf is the conffile that runs the GRUB menu script.
const grubConf = "/etc/grub.d/42_server-impermanence"

// TestDebianPackage builds the package with scripts/build-deb.sh (which fails
// on a lintian error), installs it with apt, checks the files, that nothing
// was enabled or configured and that the catalog is in journald's database,
// then removes and purges it (apt runs the installed hooks then, which are
// silent without a configuration).
func TestDebianPackage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and installs the Debian package")
	}
	if why := debPrereqs(); why != "" {
		if os.Getenv("IMPERMANENCE_DEB_TEST") != "" {
			t.Fatalf("make deb-test: %s", why)
		}
		t.Skip(why)
	}
	root := moduleRoot(t)
	out := t.TempDir()
	cmd := exec.Command(filepath.Join(root, "scripts", "build-deb.sh"), out)
	cmd.Dir = root
	b, err := cmd.CombinedOutput()
	t.Logf("scripts/build-deb.sh:\n%s", b)
	if err != nil {
		t.Fatalf("scripts/build-deb.sh: %v (a lintian error fails it)", err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	deb := lines[len(lines)-1]
	if !strings.HasSuffix(deb, ".deb") {
		t.Fatalf("scripts/build-deb.sh printed %q last, want the .deb path", deb)
	}

	t.Cleanup(func() { exec.Command("dpkg", "--purge", pkg).Run() })
	run(t, "apt-get", "install", "-y", "-qq", "--no-install-recommends", deb)

	listed := run(t, "dpkg", "-L", pkg)
	for _, f := range []string{
		"/usr/lib/systemd/system-generators/server-impermanence-generator",
		"/usr/sbin/impermanence-rollback",
		"/usr/sbin/impermanence-provision",
		"/usr/lib/systemd/system/server-impermanence-setup.service",
		"/usr/lib/systemd/catalog/server-impermanence.catalog",
		"/usr/lib/dracut/modules.d/90server-impermanence/module-setup.sh",
		"/usr/lib/server-impermanence/sysctl/balanced.conf",
		"/usr/share/man/man5/server-impermanence.toml.5.gz",
		"/usr/share/man/man8/impermanence-rollback.8.gz",
		"/usr/share/doc/server-impermanence/examples/config.toml",
		"/usr/share/doc/server-impermanence/copyright",
		"/usr/lib/server-impermanence/apt-pre-invoke",
		"/usr/lib/server-impermanence/apt-post-invoke",
		"/usr/lib/server-impermanence/grub/42_server-impermanence",
		aptConf,
		grubConf,
	} {
		if !strings.Contains(listed, f+"\n") {
			t.Errorf("dpkg -L %s does not list %s", pkg, f)
		}
		if _, err := os.Stat(f); err != nil {
			t.Errorf("after install: %v", err)
		}
	}
	// The generator is on PATH through a relative link in /usr/sbin.
	if !strings.Contains(listed, "/usr"+generatorLink+"\n") {
		t.Errorf("dpkg -L %s does not list /usr%s", pkg, generatorLink)
	}
	if target, err := os.Readlink("/usr" + generatorLink); err != nil || target != generatorTarget {
		t.Errorf("after install /usr%s -> %q (%v), want a link to %s", generatorLink, target, err, generatorTarget)
	}
	if out := run(t, "/usr"+generatorLink, "--version"); strings.TrimSpace(out) == "" {
		t.Errorf("/usr%s --version printed nothing", generatorLink)
	}
	// No configuration, nothing enabled: installing changes no boot.
	for _, p := range []string{
		"/etc/server-impermanence/config.toml",
		"/etc/systemd/system/timers.target.wants/server-snapshots.timer",
		"/etc/systemd/system/multi-user.target.wants/server-impermanence-exporter.service",
	} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("after install %s exists: the package must not configure or enable anything", p)
		}
	}
	// The files in /etc are the apt hooks' and the GRUB menu's conffiles.
	for _, l := range strings.Split(listed, "\n") {
		if !strings.HasPrefix(l, "/etc/") {
			continue
		}
		if l != aptConf && !strings.HasPrefix(aptConf, l+"/") && l != grubConf && !strings.HasPrefix(grubConf, l+"/") {
			t.Errorf("the package ships %s in /etc", l)
		}
	}
	// The GRUB menu is off by default: its grub.d script prints nothing.
	if out := run(t, grubConf); out != "" {
		t.Errorf("%s (off by default) printed %q, want nothing", grubConf, out)
	}
	// The generator without a configuration writes nothing.
	gen := t.TempDir()
	run(t, "/usr/lib/systemd/system-generators/server-impermanence-generator", gen, gen, gen)
	if ents, _ := os.ReadDir(gen); len(ents) != 0 {
		t.Errorf("the installed generator without a configuration wrote %d entries, want none", len(ents))
	}
	// The catalog was compiled into journald's database by postinst.
	catalog, err := os.ReadFile(filepath.Join(root, "units", "server-impermanence.catalog"))
	if err != nil {
		t.Fatal(err)
	}
	m := catalogIDRE.FindSubmatch(catalog)
	if m == nil {
		t.Fatal("no MESSAGE_ID in units/server-impermanence.catalog")
	}
	id := string(m[1])
	if out := run(t, "journalctl", "--list-catalog", id); !strings.Contains(out, id) {
		t.Errorf("journalctl --list-catalog %s after install: %q, want the entry", id, out)
	}

	// The apt hooks are installed, and silent without a configuration:
	// this apt run invokes them.
	if out := run(t, "apt-get", "remove", "-y", "-qq", pkg); strings.Contains(out, "server-impermanence:") {
		t.Errorf("apt-get remove with the hooks installed and no configuration printed:\n%s", out)
	}
	for _, p := range []string{"/usr/sbin/impermanence-rollback", "/usr" + generatorLink} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("after remove %s still exists", p)
		}
	}
	// The conffile stays until the purge, and does nothing without the
	// package's script.
	if out := run(t, "env", "GRUB_SERVER_IMPERMANENCE=true", grubConf); out != "" {
		t.Errorf("%s after remove printed %q, want nothing", grubConf, out)
	}
	run(t, "dpkg", "--purge", pkg)
	if out, _ := exec.Command("dpkg-query", "-W", "-f=${Status}", pkg).CombinedOutput(); strings.Contains(string(out), "installed") || strings.Contains(string(out), "config-files") {
		t.Errorf("after purge dpkg-query says %q", out)
	}
	for _, p := range []string{"/var/lib/server-impermanence", "/usr/lib/server-impermanence", "/usr/share/doc/server-impermanence", aptConf, grubConf} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("after purge %s still exists", p)
		}
	}
	if out := run(t, "journalctl", "--list-catalog"); strings.Contains(out, id) {
		t.Errorf("after purge journalctl --list-catalog still lists %s", id)
	}
}
