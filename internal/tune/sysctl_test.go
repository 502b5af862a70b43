package tune

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/msgid"
	"github.com/server-impermanence/server-impermanence/internal/plan"
)

// modeFile is the balanced drop-in of the test roots (not the shipped one:
// its lines are the sources the goldens name).
const modeFile = "# test mode\nvm.dirty_ratio = 20\nvm.swappiness = 1\nvm.dirty_writeback_centisecs = 1500\n"

// sysRoot is a root holding the balanced mode's drop-in and a /proc/sys
// with the given parameters (path below /proc/sys: value); a value "DIR"
// makes a directory, which no value can be written to.
func sysRoot(t *testing.T, params map[string]string) string {
	t.Helper()
	root := t.TempDir()
	write := func(p, v string) {
		p = filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if v == "DIR" {
			if err := os.Mkdir(p, 0o755); err != nil {
				t.Fatal(err)
			}
			return
		}
		if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(plan.SysctlFile(config.ModeBalanced), modeFile)
	for k, v := range params {
		write("/proc/sys/"+k, v)
	}
	return root
}

// kernel is the /proc/sys of the goldens: every parameter of modeFile and
// testdata/config.toml but net.netfilter.nf_conntrack_max.
var kernel = map[string]string{
	"vm/dirty_ratio":               "20\n",
	"vm/swappiness":                "60\n",
	"vm/dirty_writeback_centisecs": "500\n",
	"net/core/somaxconn":           "4096\n",
	"net/ipv4/ip_local_port_range": "32768\t60999\n",
}

// kernelAfter is kernel after a run of testdata/config.toml with args.
func kernelAfter(args []string) map[string]string {
	m := map[string]string{}
	for k, v := range kernel {
		m[k] = v
	}
	for _, a := range args {
		if a == "--dry-run" {
			return m
		}
	}
	m["vm/swappiness"] = "10\n"
	m["vm/dirty_writeback_centisecs"] = "1500\n"
	m["net/ipv4/ip_local_port_range"] = "1024 65000\n"
	return m
}

// readTree returns the files below root's /proc/sys and their content.
func readTree(t *testing.T, root string) map[string]string {
	t.Helper()
	got := map[string]string{}
	dir := filepath.Join(root, "proc/sys")
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		got[rel] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// runSysctl runs impermanence-tune with config (text) in root, on the
// mount table of testdata/mountinfo and the fake host's directories.
func runSysctl(t *testing.T, root, cfg string, args ...string) (Report, int, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	env := Env{Env: job.Env{Root: root, Stdout: &out, Stderr: &errb, Mountinfo: "testdata/mountinfo", Journal: func() bool { return false }}, Open: newHost().open}
	code := Run(context.Background(), append([]string{"--config", path, "--json"}, args...), env)
	var rep Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("impermanence-tune --json: exit %d, %v:\n%s\n%s", code, err, out.String(), errb.String())
	}
	return rep, code, strings.ReplaceAll(errb.String(), path, "config.toml")
}

// TestRunSysctl applies the mode's parameters and [sysctl]'s to a
// temp-rooted /proc/sys: the files afterwards, each parameter's status, the
// exit code and the log, in each case the kernel can present.
func TestRunSysctl(t *testing.T) {
	const head = "device = \"/dev/disk/by-label/server\"\n[[subvolume]]\nname = \"@root\"\nmountpoint = \"/\"\nclass = \"ephemeral\"\nblank = \"@root-blank\"\n"
	const sysctl = "[sysctl]\nvm.swappiness = 10\n\"net/ipv4/ip_local_port_range\" = [1024, 65000]\nnet.netfilter.nf_conntrack_max = 262144\n"
	base := map[string]string{
		"vm/dirty_ratio":               "20\n",
		"vm/swappiness":                "60\n",
		"vm/dirty_writeback_centisecs": "500\n",
		"net/ipv4/ip_local_port_range": "32768\t60999\n",
	}
	with := func(over map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range over {
			m[k] = v
		}
		return m
	}
	for _, tc := range []struct {
		name     string
		cfg      string
		tree     map[string]string
		noMode   bool // the mode's drop-in is not installed
		args     []string
		code     int
		statuses []string          // key status, in report order
		after    map[string]string // /proc/sys afterwards
		log      []string          // in stderr
		notLog   []string
	}{
		{
			name: "first boot", cfg: head + sysctl, tree: base,
			statuses: []string{"vm.dirty_ratio unchanged", "vm.swappiness changed", "vm.dirty_writeback_centisecs changed",
				"net.ipv4.ip_local_port_range changed", "net.netfilter.nf_conntrack_max skipped"},
			after: with(map[string]string{"vm/swappiness": "10\n", "vm/dirty_writeback_centisecs": "1500\n", "net/ipv4/ip_local_port_range": "1024 65000\n"}),
			log: []string{
				`level=INFO msg="sysctl vm.swappiness = 10 set (was 60; from config.toml:8:4)" sysctl=vm.swappiness value=10 source=config.toml:8:4 result=changed MESSAGE_ID=` + msgid.SysctlChanged + " previous=60",
				`level=INFO msg="sysctl vm.dirty_writeback_centisecs = 1500 set (was 500; from /usr/lib/server-impermanence/sysctl/balanced.conf:4)"`,
				`level=WARN msg="sysctl net.netfilter.nf_conntrack_max = 262144 (from config.toml:10:15) not applied: the running kernel has no such parameter (/proc/sys/net/netfilter/nf_conntrack_max)"`,
				"MESSAGE_ID=" + msgid.SysctlNotApplied,
			},
			notLog: []string{"vm.dirty_ratio"},
		},
		{
			name: "second boot: nothing to do", cfg: head + sysctl,
			tree: with(map[string]string{"vm/swappiness": "10\n", "vm/dirty_writeback_centisecs": "1500\n", "net/ipv4/ip_local_port_range": "1024\t65000\n"}),
			statuses: []string{"vm.dirty_ratio unchanged", "vm.swappiness unchanged", "vm.dirty_writeback_centisecs unchanged",
				"net.ipv4.ip_local_port_range unchanged", "net.netfilter.nf_conntrack_max skipped"},
			after:  with(map[string]string{"vm/swappiness": "10\n", "vm/dirty_writeback_centisecs": "1500\n", "net/ipv4/ip_local_port_range": "1024\t65000\n"}),
			notLog: []string{"level=INFO"},
		},
		{
			name: "dry run", cfg: head + sysctl, tree: base, args: []string{"--dry-run"},
			statuses: []string{"vm.dirty_ratio unchanged", "vm.swappiness would-change", "vm.dirty_writeback_centisecs would-change",
				"net.ipv4.ip_local_port_range would-change", "net.netfilter.nf_conntrack_max skipped"},
			after:  base,
			notLog: []string{"level="},
		},
		{
			name: "no [sysctl]: the mode's values", cfg: head, tree: base,
			statuses: []string{"vm.dirty_ratio unchanged", "vm.swappiness changed", "vm.dirty_writeback_centisecs changed"},
			after:    with(map[string]string{"vm/swappiness": "1\n", "vm/dirty_writeback_centisecs": "1500\n"}),
		},
		{
			name: "a value the kernel refuses: the others still written", cfg: head + sysctl, tree: with(map[string]string{"vm/swappiness": "DIR"}),
			code: 1,
			statuses: []string{"vm.dirty_ratio unchanged", "vm.swappiness failed", "vm.dirty_writeback_centisecs changed",
				"net.ipv4.ip_local_port_range changed", "net.netfilter.nf_conntrack_max skipped"},
			after: with(map[string]string{"vm/swappiness": "DIR", "vm/dirty_writeback_centisecs": "1500\n", "net/ipv4/ip_local_port_range": "1024 65000\n"}),
			log: []string{`level=ERROR msg="sysctl vm.swappiness = 10 (from config.toml:8:4) failed: set sysctl vm.swappiness: open `,
				"impermanence-tune: kernel parameter vm.swappiness (config.toml:8:4): set sysctl vm.swappiness: open "},
		},
		{
			name: "the mode's drop-in is not installed: [sysctl] still applied", cfg: head + sysctl, tree: base, noMode: true,
			code:     1,
			statuses: []string{"vm.swappiness changed", "net.ipv4.ip_local_port_range changed", "net.netfilter.nf_conntrack_max skipped"},
			after:    with(map[string]string{"vm/swappiness": "10\n", "net/ipv4/ip_local_port_range": "1024 65000\n"}),
			log: []string{`level=ERROR msg="mode balanced: open `, `/usr/lib/server-impermanence/sysctl/balanced.conf: no such file or directory: its kernel parameters are not applied"`,
				"impermanence-tune: mode balanced: open "},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := sysRoot(t, tc.tree)
			if tc.noMode {
				if err := os.Remove(filepath.Join(root, plan.SysctlFile(config.ModeBalanced))); err != nil {
					t.Fatal(err)
				}
			}
			rep, code, stderr := runSysctl(t, root, tc.cfg, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\n%s", code, tc.code, stderr)
			}
			var got []string
			for _, p := range rep.Sysctl {
				got = append(got, p.Key+" "+string(p.Status))
			}
			if diff := cmp.Diff(tc.statuses, got); diff != "" {
				t.Errorf("statuses (-want +got):\n%s", diff)
			}
			after := readTree(t, root)
			for k, v := range tc.after {
				if v == "DIR" {
					delete(tc.after, k)
				}
			}
			if diff := cmp.Diff(tc.after, after); diff != "" {
				t.Errorf("/proc/sys afterwards (-want +got):\n%s", diff)
			}
			for _, want := range tc.log {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
			for _, not := range tc.notLog {
				if strings.Contains(stderr, not) {
					t.Errorf("stderr has %q:\n%s", not, stderr)
				}
			}
		})
	}
}
