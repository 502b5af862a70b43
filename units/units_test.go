// Package units holds the static systemd units, the journal catalog and the
// dracut module; its tests check them with systemd's own tools.
package units

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/exporter"
	"github.com/server-impermanence/server-impermanence/internal/maintain"
	"github.com/server-impermanence/server-impermanence/internal/msgid"
	"github.com/server-impermanence/server-impermanence/internal/plan"
	"github.com/server-impermanence/server-impermanence/internal/textfile"
	"github.com/server-impermanence/server-impermanence/internal/timespan"
)

// TestCatalog keeps the catalog in step with internal/msgid: one entry per
// id, each with a Subject and a text.
func TestCatalog(t *testing.T) {
	f, err := os.Open("server-impermanence.catalog")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	entries := map[string][]string{}
	var cur string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		if id, ok := strings.CutPrefix(l, "-- "); ok {
			if _, dup := entries[id]; dup {
				t.Errorf("catalog: %s defined twice", id)
			}
			cur = id
			entries[id] = nil
			continue
		}
		if cur != "" {
			entries[cur] = append(entries[cur], l)
		}
	}
	ids := map[string]string{}
	for name, id := range msgid.All {
		ids[id] = name
		lines, ok := entries[id]
		if !ok {
			t.Errorf("catalog: no entry for msgid.%s (%s)", name, id)
			continue
		}
		body := strings.Join(lines, "\n")
		if !strings.Contains(body, "Subject: ") || len(strings.Fields(body)) < 20 {
			t.Errorf("catalog: entry %s (%s) needs a Subject and an explanation", id, name)
		}
	}
	for id := range entries {
		if _, ok := ids[id]; !ok {
			t.Errorf("catalog: %s is not in internal/msgid", id)
		}
	}
}

// TestCatalogJournalctl has journalctl compile the catalog in a scratch
// root and list it back.
func TestCatalogJournalctl(t *testing.T) {
	if _, err := exec.LookPath("journalctl"); err != nil {
		t.Skip("journalctl not installed")
	}
	root := t.TempDir()
	dir := filepath.Join(root, "usr/lib/systemd/catalog")
	os.MkdirAll(dir, 0o755)
	data, _ := os.ReadFile("server-impermanence.catalog")
	os.WriteFile(filepath.Join(dir, "server-impermanence.catalog"), data, 0o644)
	if out, err := exec.Command("journalctl", "--root="+root, "--update-catalog").CombinedOutput(); err != nil || len(out) > 0 {
		t.Fatalf("journalctl --update-catalog: %v\n%s", err, out)
	}
	out, err := exec.Command("journalctl", "--root="+root, "--list-catalog").Output()
	if err != nil {
		t.Fatalf("journalctl --list-catalog: %v", err)
	}
	for name, id := range msgid.All {
		if !strings.Contains(string(out), id) {
			t.Errorf("journalctl --list-catalog does not show %s (%s)", name, id)
		}
	}
}

func units(t *testing.T) []string {
	s, _ := filepath.Glob("*.service")
	tm, _ := filepath.Glob("*.timer")
	return append(s, tm...)
}

// TestUnitContract checks what every static unit must carry.
func TestUnitContract(t *testing.T) {
	timeouts := map[string]string{
		"server-impermanence-setup.service": "60s",
		"server-snapshots.service":          "30s",
		"server-snapshots-cleanup.service":  "120s",
		"btrfs-maintenance.service":         "300s",
		"server-impermanence-scrub.service": "4h10min",
	}
	jobs := []string{"server-impermanence-setup.service", "server-snapshots.service", "server-snapshots-cleanup.service",
		"btrfs-maintenance.service", "server-impermanence-scrub.service", "server-impermanence-tune.service", "server-impermanence-persist.service"}
	for _, u := range units(t) {
		data, err := os.ReadFile(u)
		if err != nil {
			t.Fatal(err)
		}
		s := string(data)
		for _, k := range []string{"\nDescription=", "\nDocumentation="} {
			if !strings.Contains(s, k) {
				t.Errorf("%s: no %s", u, strings.TrimPrefix(k, "\n"))
			}
		}
		if want, ok := timeouts[u]; ok && !strings.Contains(s, "\nTimeoutStartSec="+want+"\n") {
			t.Errorf("%s: TimeoutStartSec= is not %s", u, want)
		}
		if strings.HasSuffix(u, ".timer") && !strings.Contains(s, "\nPersistent=true\n") {
			t.Errorf("%s: not Persistent=true", u)
		}
		for _, j := range jobs {
			if u == j && !strings.Contains(s, "\nOnFailure=server-impermanence-failure@%n.service\n") {
				t.Errorf("%s: no OnFailure=server-impermanence-failure@%%n.service", u)
			}
		}
	}
}

// TestFailureHandlingNeverLoops: the failure handler and the notification
// it pulls in have no OnFailure= (a failing notification is logged, never
// handled again), and the notification's own timeout fits in its unit's.
func TestFailureHandlingNeverLoops(t *testing.T) {
	for _, u := range []string{"server-impermanence-failure@.service", "server-impermanence-notify@.service"} {
		data, err := os.ReadFile(u)
		if err != nil {
			t.Fatal(err)
		}
		if regexp.MustCompile(`(?m)^On(Failure|Success)=`).Match(data) {
			t.Errorf("%s has OnFailure= or OnSuccess=: a failure of the failure handling would loop", u)
		}
	}
	data, _ := os.ReadFile("server-impermanence-notify@.service")
	m := regexp.MustCompile(`(?m)^TimeoutStartSec=(.+)$`).FindSubmatch(data)
	if m == nil {
		t.Fatal("server-impermanence-notify@.service: no TimeoutStartSec=")
	}
	d, err := timespan.Parse(string(m[1]))
	if err != nil || d <= config.MaxNotifyTimeout {
		t.Errorf("server-impermanence-notify@.service: TimeoutStartSec=%s, want above [notify].timeout's maximum %s (%v)", m[1], config.MaxNotifyTimeout, err)
	}
}

var exposure = regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`)

// TestSecurityExposure runs systemd-analyze security --offline=true on every
// service: the exporter must stay at or under 2.0, every other service at or
// under 5.0.
func TestSecurityExposure(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze not installed")
	}
	dir := t.TempDir()
	services, _ := filepath.Glob("*.service")
	for _, s := range services {
		t.Run(s, func(t *testing.T) {
			t.Parallel()
			data, _ := os.ReadFile(s)
			name := strings.Replace(s, "@.service", "@example.service", 1)
			p := filepath.Join(dir, name)
			os.WriteFile(p, data, 0o644)
			out, _ := exec.Command("systemd-analyze", "security", "--offline=true", "--no-pager", p).CombinedOutput()
			m := exposure.FindSubmatch(out)
			if m == nil {
				t.Fatalf("systemd-analyze security: no exposure in\n%s", out)
			}
			v, _ := strconv.ParseFloat(string(m[1]), 64)
			limit := 5.0
			if s == "server-impermanence-exporter.service" {
				limit = 2.0
			}
			t.Logf("%s: exposure %.1f (limit %.1f)", s, v, limit)
			if v > limit {
				t.Errorf("%s: exposure %.1f, want ≤ %.1f", s, v, limit)
			}
		})
	}
}

// TestSysctlModes checks that every performance mode has a sysctl file in
// which every key is preceded by a comment giving its why and its risk.
func TestSysctlModes(t *testing.T) {
	for _, mode := range []string{"balanced", "io-optimized", "space-optimized"} {
		data, err := os.ReadFile(filepath.Join("..", "sysctl", mode+".conf"))
		if err != nil {
			t.Fatal(err)
		}
		var comment []string
		keys := 0
		for i, l := range strings.Split(string(data), "\n") {
			l = strings.TrimSpace(l)
			switch {
			case strings.HasPrefix(l, "#"):
				comment = append(comment, l)
			case l == "":
				comment = nil
			default:
				keys++
				k, v, ok := strings.Cut(l, "=")
				if !ok || strings.TrimSpace(k) == "" || strings.TrimSpace(v) == "" {
					t.Errorf("%s.conf:%d: not key = value: %q", mode, i+1, l)
				}
				c := strings.Join(comment, " ")
				if !strings.Contains(c, "Why:") || !strings.Contains(c, "Risk:") {
					t.Errorf("%s.conf:%d: %s has no Why:/Risk: comment", mode, i+1, strings.TrimSpace(k))
				}
				if _, err := os.Stat(filepath.Join("/proc/sys", strings.ReplaceAll(strings.TrimSpace(k), ".", "/"))); err != nil {
					t.Errorf("%s.conf:%d: %s is not a kernel parameter here: %v", mode, i+1, strings.TrimSpace(k), err)
				}
				comment = nil
			}
		}
		if keys == 0 {
			t.Errorf("%s.conf: no keys", mode)
		}
	}
}

// TestBtrfsHelpersSyscalls keeps what the VM tier found booting the units:
// internal/btrfs resolves paths with openat2, which RestrictSUIDSGID=yes
// makes fail with ENOSYS (systemd cannot check its mode argument), and the
// rollback reads /proc/sys/kernel/random/boot_id, which ProcSubset=pid hides.
func TestBtrfsHelpersSyscalls(t *testing.T) {
	for _, u := range []string{"server-impermanence-setup.service", "server-snapshots.service",
		"server-snapshots-cleanup.service", "btrfs-maintenance.service", "server-impermanence-scrub.service"} {
		data, err := os.ReadFile(u)
		if err != nil {
			t.Fatal(err)
		}
		s := string(data)
		if strings.Contains(s, "\nRestrictSUIDSGID=yes") {
			t.Errorf("%s: RestrictSUIDSGID=yes makes openat2 fail with ENOSYS", u)
		}
		if u == "server-impermanence-setup.service" && strings.Contains(s, "\nProcSubset=pid") {
			t.Errorf("%s: ProcSubset=pid hides /proc/sys/kernel/random/boot_id", u)
		}
	}
}

// TestTuneSeesMountpoints keeps the tune service in the host's view of the
// subvolume mounts: PrivateTmp= would give impermanence-tune a private
// /var/tmp and /tmp (a bind mount of a directory, which it skips; chattr +C
// set NoCoW on that private directory), ProtectHome= an inaccessible /home
// and /root. It keeps it in the host's network, IPC and UTS namespaces too:
// their kernel parameters (net.*, kernel.shm*, kernel.hostname) belong to
// the namespace, so a [sysctl] net.core.somaxconn written from a private
// network namespace never reached the host (the VM tier saw the kernel's
// 4096 where the configuration said 2048).
func TestTuneSeesMountpoints(t *testing.T) {
	data, err := os.ReadFile("server-impermanence-tune.service")
	if err != nil {
		t.Fatal(err)
	}
	for k, why := range map[string]string{
		"PrivateTmp=":      "hides subvolume mountpoints from impermanence-tune",
		"ProtectHome=":     "hides subvolume mountpoints from impermanence-tune",
		"PrivateNetwork=":  "confines the net.* parameters it writes to a namespace of its own",
		"PrivateIPC=":      "confines the IPC parameters it writes to a namespace of its own",
		"ProtectHostname=": "confines kernel.hostname and kernel.domainname to a namespace of its own",
	} {
		if strings.Contains(string(data), "\n"+k) {
			t.Errorf("server-impermanence-tune.service: %s %s", k, why)
		}
	}
}

// textfileRefresh is the ExecStopPost= of every job unit: node_exporter's
// textfile is rewritten after each run, success or failure, by the
// exporter (the job binaries do not link the metrics stack).
const textfileRefresh = "-/usr/sbin/impermanence-exporter --config /etc/server-impermanence/config.toml --textfile"

// TestJobsRefreshTextfile: each job unit has exactly that ExecStopPost=,
// and its command line, run by the exporter (pointed at a fixture host and
// a temporary directory), writes the textfile.
func TestJobsRefreshTextfile(t *testing.T) {
	for _, u := range []string{"server-snapshots.service", "server-snapshots-cleanup.service", "btrfs-maintenance.service"} {
		data, err := os.ReadFile(u)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, l := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(l, "ExecStopPost="); ok {
				got = append(got, v)
			}
		}
		if len(got) != 1 || got[0] != textfileRefresh {
			t.Errorf("%s: ExecStopPost= %q, want [%q]", u, got, textfileRefresh)
		}
	}
	root, err := filepath.Abs("../internal/metrics/testdata/host")
	if err != nil {
		t.Fatal(err)
	}
	args := strings.Fields(textfileRefresh)[1:]
	args[1] = filepath.Join(root, args[1]) // --config beneath the fixture host
	dir := t.TempDir()
	var stderr strings.Builder
	code := exporter.Run(append(args, "--textfile-dir", dir), exporter.Deps{Stdout: io.Discard, Stderr: &stderr, Root: root, Now: time.Now})
	if code != 0 || stderr.Len() > 0 {
		t.Fatalf("impermanence-exporter %s: exit %d\n%s", strings.Join(args, " "), code, stderr.String())
	}
	b, err := os.ReadFile(filepath.Join(dir, textfile.Name))
	if err != nil || !strings.Contains(string(b), "impermanence_build_info") {
		t.Errorf("textfile = %.200q, %v; want the metrics", b, err)
	}
}

// TestScrubBudgetFitsItsUnit: the shipped scrub unit's budget (its
// --scrub-budget, else the default) ends at least impermanence-maintain's
// margin before its TimeoutStartSec=, so it stops by itself, recorded as
// interrupted, and systemd never kills it (a drop-in that shortens the
// timeout shortens the budget at run time). The weekly maintenance unit,
// whose 300 s are for balance, does not scrub.
func TestScrubBudgetFitsItsUnit(t *testing.T) {
	unit := func(name string) map[string]string {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		kv := map[string]string{}
		for _, l := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(l, "="); ok && !strings.HasPrefix(l, "#") {
				kv[k] = v
			}
		}
		return kv
	}
	scrub := unit("server-impermanence-scrub.service")
	timeout, err := timespan.Parse(scrub["TimeoutStartSec"])
	if err != nil {
		t.Fatal(err)
	}
	exec := strings.Fields(scrub["ExecStart"])
	if !slices.Contains(exec, "--scrub-only") {
		t.Errorf("scrub unit: ExecStart=%s has no --scrub-only", scrub["ExecStart"])
	}
	budget := maintain.DefaultScrubBudget
	for i, a := range exec {
		v, ok := strings.CutPrefix(a, "--scrub-budget=")
		if a == "--scrub-budget" && i+1 < len(exec) {
			v, ok = exec[i+1], true
		}
		if ok {
			if budget, err = time.ParseDuration(v); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := maintain.Budget(budget, timeout, true); got != budget {
		t.Errorf("scrub unit: budget %s does not fit TimeoutStartSec=%s (at most %s)", budget, timeout, got)
	}
	if scrub["IOSchedulingClass"] != "idle" || scrub["Nice"] != "19" {
		t.Errorf("scrub unit: IOSchedulingClass=%s Nice=%s, want idle and 19", scrub["IOSchedulingClass"], scrub["Nice"])
	}
	if m := unit("btrfs-maintenance.service"); !slices.Contains(strings.Fields(m["ExecStart"]), "--skip-scrub") {
		t.Errorf("btrfs-maintenance.service: ExecStart=%s scrubs within its 300 s", m["ExecStart"])
	}
}

// TestSnapshotsStartTimeout: the generator adds the hooks' timeouts to
// server-snapshots.service's own TimeoutStartSec=, which it knows as
// plan.SnapshotsStartTimeout; and the timer's service snapshots only what
// is due.
func TestSnapshotsStartTimeout(t *testing.T) {
	data, err := os.ReadFile("server-snapshots.service")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^TimeoutStartSec=(.*)$`).FindSubmatch(data)
	if m == nil {
		t.Fatal("server-snapshots.service has no TimeoutStartSec=")
	}
	d, err := timespan.Parse(string(m[1]))
	if err != nil || d != plan.SnapshotsStartTimeout {
		t.Errorf("server-snapshots.service: TimeoutStartSec=%s (%v), plan.SnapshotsStartTimeout %s", m[1], err, plan.SnapshotsStartTimeout)
	}
	if !regexp.MustCompile(`(?m)^ExecStart=/usr/sbin/impermanence-snapshot --due `).Match(data) {
		t.Error("server-snapshots.service does not run impermanence-snapshot --due")
	}
}

// TestSendSSHExposure measures the send service of an SSH target as the
// generator leaves it: the static unit with the generator's drop-in (the
// golden of the targets case), which gives the network and takes away
// what only a local btrfs receive needs. It must stay at or under 3.0.
func TestSendSSHExposure(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze not installed")
	}
	root := t.TempDir()
	unitDir := filepath.Join(root, "etc/systemd/system")
	dropIn := filepath.Join(unitDir, "server-impermanence-send@backup1.service.d")
	if err := os.MkdirAll(dropIn, 0o755); err != nil {
		t.Fatal(err)
	}
	static, _ := os.ReadFile("server-impermanence-send@.service")
	golden, err := os.ReadFile("../internal/generator/testdata/cases/targets/want/normal/server-impermanence-send@backup1.service.d/50-server-impermanence.conf")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(unitDir, "server-impermanence-send@.service"), static, 0o644)
	os.WriteFile(filepath.Join(dropIn, "50-server-impermanence.conf"), golden, 0o644)
	out, _ := exec.Command("systemd-analyze", "security", "--offline=true", "--root="+root, "--no-pager", "server-impermanence-send@backup1.service").CombinedOutput()
	m := exposure.FindSubmatch(out)
	if m == nil {
		t.Fatalf("systemd-analyze security: no exposure in\n%s", out)
	}
	for _, want := range []string{"✗ PrivateNetwork=", "✓ CapabilityBoundingSet=~CAP_MKNOD"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the drop-in is not applied: no %q in\n%s", want, out)
		}
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	t.Logf("send@ of an SSH target: exposure %.1f", v)
	if v > 3.0 {
		t.Errorf("send@ of an SSH target: exposure %.1f, want ≤ 3.0", v)
	}
}

// TestSendReceiveSandbox keeps what the VM tier found sending to a local
// btrfs target through server-impermanence-send@.service: btrfs receive
// runs chrooted into its transfer's directory below the target, so the
// unit's system call filter must let chroot(2) through (systemd puts it in
// @privileged, which the unit denies) and its bounding set must hold
// CAP_SYS_CHROOT; without them every local send failed with "failed to
// chroot to …: Operation not permitted". The filter is evaluated as
// systemd does (the first list sets allow-list mode, a ~ list removes, a
// later list adds), the groups expanded by systemd-analyze. An SSH target's
// drop-in (the golden of the targets case) takes CAP_SYS_CHROOT away again:
// the backup host receives.
func TestSendReceiveSandbox(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze not installed")
	}
	data, err := os.ReadFile("server-impermanence-send@.service")
	if err != nil {
		t.Fatal(err)
	}
	groups := map[string][]string{}
	var expand func(name string) []string
	expand = func(name string) []string {
		if !strings.HasPrefix(name, "@") {
			return []string{name}
		}
		if g, ok := groups[name]; ok {
			return g
		}
		out, err := exec.Command("systemd-analyze", "syscall-filter", "--no-pager", name).Output()
		if err != nil {
			t.Fatalf("systemd-analyze syscall-filter %s: %v", name, err)
		}
		var g []string
		for _, l := range strings.Split(string(out), "\n")[1:] {
			l = strings.TrimSpace(l)
			if l == "" || strings.HasPrefix(l, "#") {
				continue
			}
			g = append(g, expand(l)...)
		}
		groups[name] = g
		return g
	}
	allowed := map[string]bool{}
	var caps []string
	first := true
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "CapabilityBoundingSet="); ok {
			caps = append(caps, strings.Fields(v)...)
		}
		v, ok := strings.CutPrefix(l, "SystemCallFilter=")
		if !ok {
			continue
		}
		deny := strings.HasPrefix(v, "~")
		if first && deny {
			t.Fatal("the send unit's first SystemCallFilter= is a deny list: this test evaluates an allow list")
		}
		first = false
		for _, name := range strings.Fields(strings.TrimPrefix(v, "~")) {
			for _, sc := range expand(name) {
				allowed[sc] = !deny
			}
		}
	}
	// what btrfs receive does on a local target: chroot first, then the
	// stream's commands (the device nodes, owners and xattrs it recreates)
	for _, sc := range []string{"chroot", "ioctl", "mknodat", "fchownat", "lchown", "lsetxattr", "utimensat", "truncate", "symlinkat", "linkat", "renameat2", "mkdirat", "unlinkat"} {
		if !allowed[sc] {
			t.Errorf("server-impermanence-send@.service: SystemCallFilter= denies %s, which btrfs receive on a local target calls", sc)
		}
	}
	if !slices.Contains(caps, "CAP_SYS_CHROOT") {
		t.Errorf("server-impermanence-send@.service: CapabilityBoundingSet= %v lacks CAP_SYS_CHROOT (btrfs receive chroots)", caps)
	}
	golden, err := os.ReadFile("../internal/generator/testdata/cases/targets/want/normal/server-impermanence-send@backup1.service.d/50-server-impermanence.conf")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^CapabilityBoundingSet=~.*\bCAP_SYS_CHROOT\b`).Match(golden) {
		t.Errorf("the SSH target's drop-in keeps CAP_SYS_CHROOT, which only a local btrfs receive needs:\n%s", golden)
	}
}
