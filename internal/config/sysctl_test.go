package config

import (
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A case's main file is sysctlHead, its text (from line 2 on), then
// sysctlTail: a valid configuration.
const (
	sysctlHead = "device = \"/dev/disk/by-label/server\"\n"
	sysctlTail = "[[subvolume]]\nname = \"@root\"\nmountpoint = \"/\"\nclass = \"ephemeral\"\nblank = \"@root-blank\"\n"
)

// TestSysctl: every way a file writes a kernel parameter (dotted, quoted,
// slashed, nested tables, inline), the values (integers, negative,
// arrays), drop-ins adding and overriding keys in place, each with where it
// was set.
func TestSysctl(t *testing.T) {
	type kv struct{ Key, Value, Pos, Replaces string }
	for _, tc := range []struct {
		name  string
		files []string // [sysctl] text of the main file, then drop-ins
		want  []kv
	}{
		{"none", []string{""}, nil},
		{"empty table", []string{"[sysctl]\n"}, nil},
		{"dotted", []string{"[sysctl]\nvm.swappiness = 10\n"},
			[]kv{{"vm.swappiness", "10", "main.toml:3:4", ""}}},
		{"quoted and slashed", []string{"[sysctl]\n\"net.core.somaxconn\" = 4096\n\"vm/dirty_ratio\" = 20\n"},
			[]kv{{"net.core.somaxconn", "4096", "main.toml:3:1", ""}, {"vm.dirty_ratio", "20", "main.toml:4:1", ""}}},
		{"nested tables", []string{"[sysctl.net.ipv4]\nip_local_port_range = [1024, 65000]\ntcp_fin_timeout = 15\n[sysctl.kernel]\nperf_event_paranoid = -1\n"},
			[]kv{{"net.ipv4.ip_local_port_range", "1024 65000", "main.toml:3:1", ""}, {"net.ipv4.tcp_fin_timeout", "15", "main.toml:4:1", ""},
				{"kernel.perf_event_paranoid", "-1", "main.toml:6:1", ""}}},
		{"inline", []string{"sysctl = { vm.overcommit_memory = 0, \"fs/inotify/max_user_watches\" = 1_048_576 }\n"},
			[]kv{{"vm.overcommit_memory", "0", "main.toml:2:15", ""}, {"fs.inotify.max_user_watches", "1048576", "main.toml:2:38", ""}}},
		{"interface names", []string{"[sysctl]\n\"net.ipv4.conf.br-lan.forwarding\" = 1\n\"net/ipv6/conf/wg@0/disable_ipv6\" = 1\n"},
			[]kv{{"net.ipv4.conf.br-lan.forwarding", "1", "main.toml:3:1", ""}, {"net.ipv6.conf.wg@0.disable_ipv6", "1", "main.toml:4:1", ""}}},
		{"drop-ins override in place and add", []string{
			"[sysctl]\nvm.swappiness = 10\nvm.dirty_ratio = 20\n",
			"[sysctl]\nnet.core.somaxconn = 1024\n\"vm/swappiness\" = 1\n",
			"[sysctl.net.core]\nsomaxconn = 4096\n",
		}, []kv{{"vm.swappiness", "1", "10-a.toml:3:1", "main.toml:3:4"}, {"vm.dirty_ratio", "20", "main.toml:4:4", ""}, {"net.core.somaxconn", "4096", "20-b.toml:2:1", "10-a.toml:2:10"}}},
	} {
		cfg, err := Parse(sysctlSources(tc.files)...)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		var got []kv
		for _, s := range cfg.Sysctl {
			r := ""
			if s.Replaces.Line != 0 {
				r = s.Replaces.String()
			}
			got = append(got, kv{s.Key, s.Value, s.Pos.String(), r})
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s: Sysctl (-want +got):\n%s", tc.name, diff)
		}
	}
}

// TestSysctlErrors: every wrong key or value is refused with its
// file:line:column and key path.
func TestSysctlErrors(t *testing.T) {
	long := strings.Repeat("a", 250) + ".bcdef"
	for _, tc := range []struct {
		name  string
		files []string
		want  string
	}{
		{"not a table", []string{"sysctl = 1\n"},
			"main.toml:2:1: sysctl: expected a table, got an integer"},
		{"string value", []string{"[sysctl]\nvm.swappiness = \"10\"\n"},
			`main.toml:3:4: sysctl.vm.swappiness: expected an integer or an array of integers, got a string; write 10 without quotes`},
		{"string list", []string{"[sysctl]\nnet.ipv4.ip_local_port_range = \"1024 65000\"\n"},
			`main.toml:3:10: sysctl.net.ipv4.ip_local_port_range: expected an integer or an array of integers, got a string; write [1024, 65000]`},
		{"word", []string{"[sysctl]\nkernel.core_pattern = \"core\"\n"},
			`main.toml:3:8: sysctl.kernel.core_pattern: expected an integer or an array of integers, got a string`},
		{"boolean", []string{"[sysctl]\nvm.swappiness = true\n"},
			"main.toml:3:4: sysctl.vm.swappiness: expected an integer or an array of integers, got a boolean"},
		{"float", []string{"[sysctl]\nvm.swappiness = 1.5\n"},
			"main.toml:3:4: sysctl.vm.swappiness: expected an integer or an array of integers, got a float"},
		{"empty array", []string{"[sysctl]\nnet.ipv4.ip_local_port_range = []\n"},
			"main.toml:3:10: sysctl.net.ipv4.ip_local_port_range: expected 1 to 16 integers, got 0"},
		{"array of strings", []string{"[sysctl]\nnet.ipv4.ip_local_port_range = [\"1024\", 65000]\n"},
			"main.toml:3:33: sysctl.net.ipv4.ip_local_port_range[0]: expected an integer, got a string"},
		{"too many integers", []string{"[sysctl]\nx.y = [" + strings.Repeat("1, ", 16) + "1]\n"},
			"main.toml:3:3: sysctl.x.y: expected 1 to 16 integers, got 17"},
		{"one name", []string{"[sysctl]\nswappiness = 1\n"},
			`main.toml:3:1: sysctl.swappiness: "swappiness" is not a kernel parameter: names of letters, digits and _-@:+ separated by dots or slashes, such as vm.swappiness or net/core/somaxconn`},
		{"dot-dot", []string{"[sysctl]\n\"vm/../../etc/passwd\" = 1\n"},
			`main.toml:3:1: sysctl."vm/../../etc/passwd": kernel parameter "vm/../../etc/passwd": an empty name between separators (no "..": the key is a path below /proc/sys)`},
		{"dot-dot dotted", []string{"[sysctl]\n\"vm..swappiness\" = 1\n"},
			`main.toml:3:1: sysctl."vm..swappiness": kernel parameter "vm..swappiness": an empty name between separators (no "..": the key is a path below /proc/sys)`},
		{"leading slash", []string{"[sysctl]\n\"/proc/sys/vm/swappiness\" = 1\n"},
			`main.toml:3:1: sysctl."/proc/sys/vm/swappiness": kernel parameter "/proc/sys/vm/swappiness": a name relative to /proc/sys, without a leading "/"`},
		{"leading dot", []string{"[sysctl]\n\".vm.swappiness\" = 1\n"},
			`main.toml:3:1: sysctl.".vm.swappiness": kernel parameter ".vm.swappiness": a name relative to /proc/sys, without a leading "."`},
		{"trailing slash", []string{"[sysctl]\n\"vm/swappiness/\" = 1\n"},
			`main.toml:3:1: sysctl."vm/swappiness/": "vm/swappiness/" is not a kernel parameter: names of letters, digits and _-@:+ separated by dots or slashes, such as vm.swappiness or net/core/somaxconn`},
		{"mixed separators", []string{"[sysctl.net]\n\"ipv4/conf/eth0.100/rp_filter\" = 1\n"},
			`main.toml:3:1: sysctl.net."ipv4/conf/eth0.100/rp_filter": kernel parameter "net.ipv4/conf/eth0.100/rp_filter" mixes '.' and '/' separators: write it with one of them (a parameter whose name holds a dot, such as a VLAN interface's, needs a sysctl.d(5) file)`},
		{"glob", []string{"[sysctl]\n\"net.ipv4.conf.*.rp_filter\" = 1\n"},
			`main.toml:3:1: sysctl."net.ipv4.conf.*.rp_filter": "net.ipv4.conf.*.rp_filter" is not a kernel parameter: names of letters, digits and _-@:+ separated by dots or slashes, such as vm.swappiness or net/core/somaxconn`},
		{"ignore-failure prefix", []string{"[sysctl]\n\"-vm.swappiness\" = 1\n"},
			`main.toml:3:1: sysctl."-vm.swappiness": "-vm.swappiness" is not a kernel parameter: names of letters, digits and _-@:+ separated by dots or slashes, such as vm.swappiness or net/core/somaxconn`},
		{"space", []string{"[sysctl]\n\"vm.dirty ratio\" = 1\n"},
			`main.toml:3:1: sysctl."vm.dirty ratio": "vm.dirty ratio" is not a kernel parameter: names of letters, digits and _-@:+ separated by dots or slashes, such as vm.swappiness or net/core/somaxconn`},
		{"empty name", []string{"[sysctl]\n\"\" = 1\n"},
			`main.toml:3:1: sysctl."": empty kernel parameter name`},
		{"too long", []string{"[sysctl]\n\"" + long + "\" = 1\n"},
			`main.toml:3:1: sysctl."` + long + `": kernel parameter name longer than 255 bytes`},
		{"twice in one file", []string{"[sysctl]\nvm.swappiness = 1\n\"vm/swappiness\" = 2\n"},
			"main.toml:4:1: sysctl.\"vm/swappiness\": kernel parameter vm.swappiness set twice in this file (first at main.toml:3:4)"},
		{"array of tables", []string{"[[sysctl.vm]]\nswappiness = 1\n"},
			"main.toml:2:10: sysctl.vm[0]: expected an integer, got a table"},
		{"in a drop-in", []string{"[sysctl]\nvm.swappiness = 1\n", "[sysctl]\nvm.swappiness = \"1\"\n"},
			`10-a.toml:2:4: sysctl.vm.swappiness: expected an integer or an array of integers, got a string; write 1 without quotes`},
	} {
		_, err := Parse(sysctlSources(tc.files)...)
		if err == nil {
			t.Errorf("%s: accepted", tc.name)
			continue
		}
		if err.Error() != tc.want {
			t.Errorf("%s: error\n%s\nwant\n%s", tc.name, err, tc.want)
		}
	}
}

// TestSysctlTooManyKeys: the limit counts the keys of every file together.
func TestSysctlTooManyKeys(t *testing.T) {
	var a, b strings.Builder
	a.WriteString("[sysctl]\n")
	b.WriteString("[sysctl]\n")
	for i := range MaxSysctlKeys {
		w := &a
		if i%2 == 1 {
			w = &b
		}
		w.WriteString("net.test.k" + strings.Repeat("x", i%7) + "_" + itoa(i) + " = 1\n")
	}
	if _, err := Parse(sysctlSources([]string{a.String(), b.String()})...); err != nil {
		t.Fatalf("%d keys: %v", MaxSysctlKeys, err)
	}
	b.WriteString("net.test.one_more = 1\n")
	_, err := Parse(sysctlSources([]string{a.String(), b.String()})...)
	if want := "10-a.toml:" + itoa(2+MaxSysctlKeys/2) + ":10: sysctl.net.test.one_more: more than 512 keys in [sysctl] (all files together)"; err == nil || err.Error() != want {
		t.Errorf("%d keys: %v, want %s", MaxSysctlKeys+1, err, want)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// sysctlSources is the first text in main.toml (see sysctlHead), the others
// as drop-ins 10-a.toml, 20-b.toml.
func sysctlSources(files []string) []Source {
	srcs := []Source{{Name: "main.toml", Data: []byte(sysctlHead + files[0] + sysctlTail)}}
	for i, f := range files[1:] {
		srcs = append(srcs, Source{Name: []string{"10-a.toml", "20-b.toml"}[i], Data: []byte(f)})
	}
	return srcs
}
