package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// targetExample is the commented [[target]] block at the end of
// default.toml, uncommented.
func targetExample(t *testing.T) string {
	t.Helper()
	_, block, ok := strings.Cut(string(defaultTOML), "\n# [[target]]\n")
	if !ok {
		t.Fatal("default.toml has no commented [[target]] example")
	}
	var b strings.Builder
	b.WriteString("[[target]]\n")
	for _, line := range strings.Split(strings.TrimRight(block, "\n"), "\n") {
		l, ok := strings.CutPrefix(line, "# ")
		if !ok {
			t.Fatalf("default.toml: line %q in the [[target]] example is not commented", line)
		}
		b.WriteString(l + "\n")
	}
	return b.String()
}

// TestDefaultDocumentShowsEveryTargetKey: the [[target]] example of
// default.toml sets every key of a target with the schema's default, and
// its subvolumes are the computed default.
func TestDefaultDocumentShowsEveryTargetKey(t *testing.T) {
	doc := append(append([]byte(nil), defaultTOML...), targetExample(t)...)
	c := &collector{}
	tree := parseTree("default.toml", 0, doc, c)
	l := decodeLayer(tree, c)
	if err := c.err(); err != nil {
		t.Fatal(err)
	}
	m := merge([]*layer{l}, "default.toml")
	if len(m.targets) != 1 {
		t.Fatalf("targets %v, want one", m.targets)
	}
	for _, f := range targetSchema {
		a, ok := m.values[targetKey(m.targets[0], f.key)]
		if !ok {
			t.Errorf("the [[target]] example does not set %s", f.key)
			continue
		}
		if f.def != nil {
			if diff := cmp.Diff(f.def, a.val); diff != "" {
				t.Errorf("the [[target]] example sets %s differently from the schema's default (-schema +example):\n%s", f.key, diff)
			}
		}
	}
	withExample, err := Parse(Source{Name: "default.toml", Data: doc})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := Parse(Source{Name: "default.toml", Data: []byte(strings.ReplaceAll(string(doc), "subvolumes    = ", "# "))})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(plain.Targets[0].Subvolumes, withExample.Targets[0].Subvolumes); diff != "" {
		t.Errorf("the example's subvolumes are not the default (-default +example):\n%s", diff)
	}
}

// TestTargetKeysAreDocumented: every [[target]] key has a row in
// docs/config.md and a definition in server-impermanence.toml(5).
func TestTargetKeysAreDocumented(t *testing.T) {
	docs, man := configDocRows(t), manPageRows(t)
	for _, f := range targetSchema {
		typ, def := "array of strings", "every `snapshot = true` subvolume"
		manDef := "default: every subvolume with `snapshot = true`"
		if f.kind == fStrings && f.key != "subvolumes" {
			def, manDef = "`[]`", "default `[]`"
		}
		if f.kind != fStrings {
			typ, def = docType(f.kind, f.max), docDefault(f.kind, f.def)
			manDef = "default " + def
			if def == "" {
				def, manDef = "— (required)", "required"
			}
		}
		if r, ok := docs["[[target]]."+f.key]; !ok {
			t.Errorf("docs/config.md: no row for [[target]].%s", f.key)
		} else if !strings.Contains(r.typ, typ) || (r.def != def && !strings.HasPrefix(r.def, def+" ")) {
			t.Errorf("docs/config.md: [[target]].%s: type %q default %q, want %q and %q", f.key, r.typ, r.def, typ, def)
		}
		if r, ok := man["target."+f.key]; !ok {
			t.Errorf("server-impermanence.toml.5.md: no definition of target.%s", f.key)
		} else if !strings.HasPrefix(r.typ, typ+",") || !strings.Contains(r.def+",", manDef+",") && !strings.Contains(r.def, manDef+":") && !strings.HasSuffix(r.def, manDef) {
			t.Errorf("server-impermanence.toml.5.md: target.%s: %q, want %q and %q", f.key, r.typ, typ, manDef)
		}
	}
}

const targetBase = `device = "/dev/disk/by-label/x"
[[subvolume]]
name = "@persist"
mountpoint = "/persist"
snapshot = true
[[subvolume]]
name = "@var-log"
mountpoint = "/var/log"
snapshot = true
[[subvolume]]
name = "@nix"
mountpoint = "/nix"
`

// TestTargets pins the built targets of small configurations.
func TestTargets(t *testing.T) {
	dflt := Target{Format: FormatBtrfs, Schedule: "daily", Compress: CompressNone, FullEvery: "monthly",
		Retention: Retention{Daily: 14, Weekly: 8, Monthly: 24, KeepMin: 1}}
	with := func(f func(*Target)) Target { t := dflt; f(&t); return t }
	for _, tc := range []struct {
		name, in string
		drop     string
		want     []Target
	}{
		{"local, defaults", `[[target]]
name = "usb"
url = "/mnt/usb/web1"
`, "", []Target{with(func(t *Target) {
			t.Name, t.URL, t.Subvolumes = "usb", "/mnt/usb/web1", []string{"@persist", "@var-log"}
		})}},
		{"ssh, every key", `[[target]]
name = "backup1"
url = "ssh://impermanence@backup1.example.net:2222/srv/backup/web1"
subvolumes = ["@var-log"]
format = "stream"
schedule = "weekly"
retention = { daily = 3, keep_min = 2, min_age = "1d" }
identity_file = "/etc/server-impermanence/keys/backup1"
compress = "zstd"
rate_limit = "50M"
`, "", []Target{{Name: "backup1", URL: "ssh://impermanence@backup1.example.net:2222/srv/backup/web1",
			Subvolumes: []string{"@var-log"}, Format: FormatStream, Schedule: "weekly",
			Retention:    Retention{Daily: 3, Weekly: 8, Monthly: 24, KeepMin: 2, MinAge: 24 * 3600e9},
			IdentityFile: "/etc/server-impermanence/keys/backup1", Compress: CompressZstd, RateLimit: "50M", FullEvery: "monthly"}}},
		{"drop-in overrides by name, appends a new one", `[[target]]
name = "usb"
url = "/mnt/usb/web1"
`, `[[target]]
name = "usb"
subvolumes = ["@persist"]
[target.retention]
daily = 30
[[target]]
name = "usb2"
url = "/mnt/usb2"
`, []Target{
			with(func(t *Target) {
				t.Name, t.URL, t.Subvolumes, t.Retention.Daily = "usb", "/mnt/usb/web1", []string{"@persist"}, 30
			}),
			with(func(t *Target) { t.Name, t.URL, t.Subvolumes = "usb2", "/mnt/usb2", []string{"@persist", "@var-log"} }),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srcs := []Source{{Name: "c.toml", Data: []byte(targetBase + tc.in)}}
			if tc.drop != "" {
				srcs = append(srcs, Source{Name: "d.toml", Data: []byte(tc.drop)})
			}
			c, err := Parse(srcs...)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, c.Targets); diff != "" {
				t.Errorf("Targets (-want +got):\n%s", diff)
			}
		})
	}
}

// TestTargetErrors pins the whole error text of invalid targets.
func TestTargetErrors(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"bad name and url", `[[target]]
name = "Backup_1"
url = "backup1:/srv"
`, `c.toml:14:1: target[0].name: target name "Backup_1" must match [a-z0-9][a-z0-9-]* (it names the unit instance)
c.toml:15:1: target[0].url: "backup1:/srv" is neither an absolute path (a mounted btrfs) nor ssh://user@host[:port]/path`},
		{"ssh url problems", `[[target]]
name = "a"
url = "ssh://backup1/srv"
[[target]]
name = "b"
url = "ssh://u:pw@backup1/srv"
[[target]]
name = "c"
url = "ssh://u@backup1:99999/srv"
[[target]]
name = "d"
url = "ssh://u@backup1/srv/../x"
[[target]]
name = "e"
url = "ssh://u@backup1"
[[target]]
name = "f"
url = "/mnt/usb/"
[[target]]
name = "g"
url = "/proc/usb"
[[target]]
name = "h"
url = "/sys"
[[target]]
name = "i"
url = "/run/media/backup/usb"
`, `c.toml:15:1: target[0].url: "ssh://backup1/srv" names no user (ssh://user@host/path)
c.toml:18:1: target[1].url: "ssh://u:pw@backup1/srv" carries a password: use identity_file
c.toml:21:1: target[2].url: "ssh://u@backup1:99999/srv": port must be a number 1..65535
c.toml:24:1: target[3].url: "ssh://u@backup1/srv/../x": the path on the host "/srv/../x" contains ".."; write the normalized path
c.toml:27:1: target[4].url: "ssh://u@backup1": the path on the host must not be empty
c.toml:30:1: target[5].url: target directory "/mnt/usb/" is not normalized (no trailing or double slashes)
c.toml:33:1: target[6].url: target directory "/proc/usb" is at or below /proc, a kernel interface where no btrfs is mounted
c.toml:36:1: target[7].url: target directory "/sys" is at or below /sys, a kernel interface where no btrfs is mounted`},
		{"relations", `[[target]]
name = "usb"
url = "/mnt/usb"
subvolumes = ["@nix", "@gone", "@persist", "@persist"]
compress = "zstd"
rate_limit = "fast"
retention = { daily = 0, weekly = 0, monthly = 0, keep_min = 0 }
[[target]]
name = "usb2"
url = "/mnt/usb"
format = "tape"
[[target]]
name = "snaps"
url = "/.snapshots/copy"
`, `c.toml:16:1: target[0].subvolumes: subvolume "@nix" has snapshot = false: it has no snapshots to send
c.toml:16:1: target[0].subvolumes: subvolume "@gone" is not a configured [[subvolume]]
c.toml:16:1: target[0].subvolumes: subvolume "@persist" is listed twice
c.toml:17:1: target[0].compress: "compress" applies only to SSH targets; target "usb" is a local directory
c.toml:18:1: target[0].rate_limit: "fast" is not a rate in bytes per second (digits and an optional K, M, G or T, e.g. "50M")
c.toml:18:1: target[0].rate_limit: "rate_limit" applies only to SSH targets; target "usb" is a local directory
c.toml:19:51: target[0].retention.keep_min: retention of target "usb" keeps nothing; set keep_min or a bucket (daily, weekly, ...) above 0
c.toml:22:1: target[1].url: url "/mnt/usb" is already the url of target "usb"
c.toml:23:1: target[1].format: "tape" is not a target format (one of btrfs, stream)
c.toml:26:1: target[2].url: target directory "/.snapshots/copy" lies in the snapshots mount /.snapshots: a backup on the same filesystem is no backup`},
		{"nothing to send", `[[target]]
name = "usb"
url = "/mnt/usb"
subvolumes = []
`, `c.toml:16:1: target[0].subvolumes: target "usb" lists no subvolume`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(Source{Name: "c.toml", Data: []byte(targetBase + tc.in)})
			if err == nil || err.Error() != tc.want {
				t.Errorf("Parse error:\n%v\nwant:\n%s", err, tc.want)
			}
		})
	}
}

func TestRateBytes(t *testing.T) {
	for in, want := range map[string]int64{"": 0, "1": 1, "50M": 50 << 20, "2K": 2048, "1T": 1 << 40, "3G": 3 << 30} {
		if got := (Target{RateLimit: in}).RateBytes(); got != want {
			t.Errorf("RateBytes(%q) = %d, want %d", in, got, want)
		}
	}
}
