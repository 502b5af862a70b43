package adversarial_test

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/timespan"
)

// configCase is one hostile configuration: a value for one key of the
// schema (or a whole file), and its outcome.
type configCase struct {
	name string
	key  config.Key
	// value is the TOML value written for key (raw: quotes included).
	value string
	// text, when set, is the whole file instead.
	text string
	// want is the value the key holds when the file is accepted (nil:
	// refused). For a persisted path's key it is that path's value.
	want any
	// msg is what the refusal says after "file:line:col: key: " ("" when
	// accepted, or when text is set and the golden file pins it).
	msg string
	// elem says the error is about the value's first element: the key
	// path gains "[0]" and the column is the element's.
	elem bool
	// either says the case may be accepted (holding the string as
	// written) or refused; the golden file pins which.
	either bool
	// ok says a whole-file case is accepted.
	ok bool
}

// The base configuration every keyed case adds its line to: the smallest
// valid one, with a subvolume to persist onto.
var baseLines = []string{
	`device = "/dev/disk/by-label/server"`,
	`[[subvolume]]`, `name = "@persist"`, `mountpoint = "/persist"`,
	`[[subvolume]]`, `name = "@data"`, `mountpoint = "/srv"`,
}

// document returns the file of a keyed case, the line and column of the
// key and its path as the errors name it.
func (c configCase) document() (text string, line, col int, keyPath string) {
	if c.text != "" {
		return c.text, 0, 0, ""
	}
	lines := slices.Clone(baseLines)
	k := c.key
	switch {
	case k.Table == "subvolume":
		// The @data entry: the key first, then what the entry still needs.
		lines = lines[:5]
		lines = append(lines, k.Name+" = "+c.value)
		line, col, keyPath = 6, 1, "subvolume[1]."+k.Name
		if i := strings.LastIndex(k.Name, "."); i >= 0 {
			col = i + 2 // a dotted key's error is at its last part
		}
		for _, l := range []string{`name = "@data"`, `mountpoint = "/srv"`} {
			if !strings.HasPrefix(l, k.Name+" ") {
				lines = append(lines, l)
			}
		}
		if k.Name == "pre_snapshot" || k.Name == "post_snapshot" {
			// hooks of a subvolume that is never snapshotted are refused
			lines = append(lines, `snapshot = true`)
		}
	case k.Table == "target":
		// A [[target]] of the @data entry (which then snapshots): the key
		// first, then what the entry still needs.
		lines = append(lines, `snapshot = true`, `[[target]]`, k.Name+" = "+c.value)
		line, keyPath = len(lines), "target[0]."+k.Name
		col = 1
		if i := strings.LastIndex(k.Name, "."); i >= 0 {
			col = i + 2 // a dotted key's error is at its last part
		}
		for _, l := range []string{`name = "usb"`, `url = "/mnt/usb"`, `subvolumes = ["@data"]`} {
			if !strings.HasPrefix(l, k.Name+" ") {
				lines = append(lines, l)
			}
		}
	case k.Table == "policy":
		// A [policy.db] table no subvolume names (a warning, not an error).
		lines = append(lines, "[policy.db]", k.Name+" = "+c.value)
		line, keyPath = len(lines), "policy.db."+k.Name
		col = 1
		if i := strings.LastIndex(k.Name, "."); i >= 0 {
			col = i + 2 // a dotted key's error is at its last part
		}
	case k.Table == "persist":
		entry := "{ " + k.Name + " = " + c.value + `, path = "/var/lib/x" }`
		if k.Name == "path" {
			entry = "{ path = " + c.value + " }"
		}
		lines = append(lines, "[persist]", "directories = ["+entry+"]")
		line, col, keyPath = 9, len("directories = [{ ")+1, "persist.directories[0]."+k.Name
	case !strings.Contains(k.Name, "."):
		lines = slices.DeleteFunc(lines, func(l string) bool { return strings.HasPrefix(l, k.Name+" ") })
		lines = append([]string{k.Name + " = " + c.value}, lines...)
		line, col, keyPath = 1, 1, k.Name
	default:
		i := strings.LastIndex(k.Name, ".")
		lines = append(lines, "["+k.Name[:i]+"]", k.Name[i+1:]+" = "+c.value)
		line, col, keyPath = len(lines), 1, k.Name
	}
	return strings.Join(lines, "\n") + "\n", line, col, keyPath
}

// tomlTypes are a value of every TOML type, by the name the errors give.
var tomlTypes = []struct{ name, value string }{
	{"a string", `"x"`}, {"an integer", `7`}, {"a float", `1.5`}, {"a boolean", `true`},
	{"an array", `[1, 2]`}, {"a table", `{ a = 1 }`}, {"a date-time", `1979-05-27T07:32:00Z`},
}

var kindTOML = map[string]string{"string": "a string", "strings": "an array", "count": "an integer", "bool": "a boolean",
	"usage": "an array", "duration": "a string", "paths": "an array", "sysctl": "a table"}

// configCases derives the cases from the schema table: every key with
// every wrong type, every count and duration at its boundaries, every
// checked string with hostile strings; then the whole-file cases.
func configCases() []configCase {
	var cs []configCase
	for _, k := range config.Keys() {
		id := k.Table + ":" + k.Name
		for _, ty := range tomlTypes {
			if ty.name == kindTOML[k.Kind] {
				continue
			}
			cs = append(cs, configCase{name: id + " as " + ty.name, key: k, value: ty.value,
				msg: "expected " + kindTOML[k.Kind] + ", got " + ty.name})
		}
		switch k.Kind {
		case "count":
			cs = append(cs,
				configCase{name: id + " 0", key: k, value: "0", want: 0},
				configCase{name: id + " max", key: k, value: fmt.Sprint(k.Max), want: int(k.Max)},
				configCase{name: id + " max+1", key: k, value: fmt.Sprint(k.Max + 1), msg: fmt.Sprintf("%d is above the maximum %d", k.Max+1, k.Max)},
				configCase{name: id + " int64 max", key: k, value: fmt.Sprint(int64(math.MaxInt64)), msg: fmt.Sprintf("%d is above the maximum %d", int64(math.MaxInt64), k.Max)},
				configCase{name: id + " int64 max+1", key: k, value: "9223372036854775808",
					msg: `invalid integer "9223372036854775808": strconv.ParseInt: parsing "9223372036854775808": value out of range`},
				configCase{name: id + " -1", key: k, value: "-1", msg: "must not be negative (got -1)"},
				configCase{name: id + " int64 min", key: k, value: fmt.Sprint(int64(math.MinInt64)), msg: fmt.Sprintf("must not be negative (got %d)", int64(math.MinInt64))},
			)
		case "duration":
			max := time.Duration(k.Max)
			cs = append(cs,
				configCase{name: id + " 0", key: k, value: `"0"`, want: time.Duration(0)},
				configCase{name: id + " max", key: k, value: `"` + timespan.Format(max) + `"`, want: max},
				configCase{name: id + " max in us", key: k, value: fmt.Sprintf(`"%dus"`, max.Microseconds()), want: max},
				configCase{name: id + " max+1us", key: k, value: fmt.Sprintf(`"%dus"`, max.Microseconds()+1),
					msg: fmt.Sprintf("%s is above the maximum %s", timespan.Format(max+time.Microsecond), timespan.Format(max))},
				configCase{name: id + " int64 us", key: k, value: `"9223372036854775807us"`,
					msg: `timespan "9223372036854775807us": longer than a time.Duration can hold (about 292 years)`},
				configCase{name: id + " 106752d", key: k, value: `"106752d"`,
					msg: `timespan "106752d": longer than a time.Duration can hold (about 292 years)`},
				configCase{name: id + " uint64+1 us", key: k, value: `"18446744073709551616us"`,
					msg: `timespan "18446744073709551616us": number "18446744073709551616" is too large`},
				configCase{name: id + " -1s", key: k, value: `"-1s"`, msg: `timespan "-1s": negative time spans are not allowed`},
				configCase{name: id + " empty", key: k, value: `""`, msg: `timespan "": empty`},
				configCase{name: id + " NUL", key: k, value: `"1s\u0000"`, msg: `timespan "1s\x00": contains a NUL byte`},
			)
		case "usage":
			cs = append(cs,
				configCase{name: id + " [0]", key: k, value: "[0]", want: []int{0}},
				configCase{name: id + " [max]", key: k, value: fmt.Sprintf("[%d]", k.Max), want: []int{int(k.Max)}},
				configCase{name: id + " [max+1]", key: k, value: fmt.Sprintf("[%d]", k.Max+1), msg: fmt.Sprintf("usage filter %d is not a percentage (0..%d)", k.Max+1, k.Max)},
				configCase{name: id + " [int64 max]", key: k, value: fmt.Sprintf("[%d]", int64(math.MaxInt64)), msg: fmt.Sprintf("usage filter %d is not a percentage (0..%d)", int64(math.MaxInt64), k.Max)},
				configCase{name: id + " [-1]", key: k, value: "[-1]", msg: fmt.Sprintf("usage filter -1 is not a percentage (0..%d)", k.Max)},
				configCase{name: id + " [string]", key: k, value: `["5"]`, elem: true, msg: "expected an integer, got a string"},
				configCase{name: id + " descending", key: k, value: "[10, 5]", msg: "usage filters must be strictly ascending"},
			)
		case "strings":
			cs = append(cs,
				emptyList(id, k),
				configCase{name: id + " [integer]", key: k, value: "[7]", elem: true, msg: "expected a string, got an integer"})
			if k.Checked {
				for _, h := range hostileStrings {
					cs = append(cs, configCase{name: id + " [" + h.name + "]", key: k, value: "[" + h.value + "]", either: true})
				}
			}
		case "paths":
			cs = append(cs, configCase{name: id + " [integer]", key: k, value: "[7]", elem: true,
				msg: "expected a path string or a table { path = ..., user = ..., group = ..., mode = ... }, got an integer"})
		}
		if k.Kind == "string" && k.Checked {
			for _, h := range hostileStrings {
				cs = append(cs, configCase{name: id + " " + h.name, key: k, value: h.value, either: true})
			}
		}
	}
	return append(cs, wholeFiles()...)
}

// emptyList is the case of an empty array for a list of strings: a
// target's subvolumes must name one; an empty notify.command (no
// notification) or recipients (no encryption) is the default, read back
// as an empty list.
func emptyList(id string, k config.Key) configCase {
	if k.Table == "target" && k.Name == "subvolumes" {
		return configCase{name: id + " []", key: k, value: "[]", msg: `target "usb" lists no subvolume`}
	}
	return configCase{name: id + " []", key: k, value: "[]", want: []string(nil)}
}

// hostileStrings are given to every string key that is checked; the
// golden file pins each outcome.
var hostileStrings = []struct{ name, value string }{
	{"empty", `""`}, {"NUL", `"a\u0000b"`}, {"dot-dot", `".."`}, {"dot-dot path", `"/srv/../proc"`},
	{"relative dot-dot", `"../x"`}, {"/proc", `"/proc"`}, {"/proc/x", `"/proc/x"`}, {"/sys", `"/sys"`},
	{"/dev", `"/dev"`}, {"/dev/shm", `"/dev/shm"`}, {"/run", `"/run"`}, {"/run/x", `"/run/x"`},
	{"/var/run", `"/var/run"`}, {"/var/lock/x", `"/var/lock/x"`}, {"newline", `"a\nb"`},
	{"64 KiB", `"` + strings.Repeat("a", 64<<10) + `"`},
}

// wholeFiles are the cases of a whole file: syntax, duplicates, unknown
// keys, size.
func wholeFiles() []configCase {
	base := strings.Join(baseLines, "\n") + "\n"
	huge := base + "# " + strings.Repeat("x", config.MaxFileSize) + "\n"
	return []configCase{
		{name: "file: duplicate key", text: base + "[archive]\nkeep_days = 1\nkeep_days = 2\n"},
		{name: "file: duplicate table", text: base + "[archive]\nkeep_days = 1\n[archive]\nkeep_min = 2\n"},
		{name: "file: duplicate device", text: `device = "/dev/sda"` + "\n" + base},
		{name: "file: unknown top-level key", text: base + "[archive]\nkeep_dayz = 1\n"},
		{name: "file: unknown table", text: base + "[archives]\nkeep_days = 1\n"},
		{name: "file: unknown subvolume key", text: base + "mountpont = \"/x\"\n"},
		{name: "file: unknown persist entry key", text: base + "[persist]\ndirectories = [{ path = \"/var/lib/x\", owner = \"root\" }]\n"},
		{name: "file: duplicate subvolume", text: base + "[[subvolume]]\nname = \"@data\"\nmountpoint = \"/srv2\"\n"},
		{name: "file: duplicate mountpoint", text: base + "[[subvolume]]\nname = \"@data2\"\nmountpoint = \"/srv\"\n"},
		{name: "file: NUL byte", text: base + "#\x00\n"},
		{name: "file: invalid UTF-8", text: base + "# \xff\xfe\n"},
		{name: "file: unterminated string", text: base + "[archive]\ndir = \"old\n"},
		{name: "file: garbage", text: "\x7fELF\x02\x01\x01\x00\x00\x00"},
		{name: "file: truncated", text: base[:len(base)-10]},
		{name: "file: empty", text: "\n"},
		{name: "file: 1 MiB + comment", text: huge},
		{name: "file: sysctl at the maximum of keys", text: base + "[sysctl]\n" + sysctlKeys(config.MaxSysctlKeys), ok: true},
		{name: "file: sysctl above the maximum of keys", text: base + "[sysctl]\n" + sysctlKeys(config.MaxSysctlKeys+1)},
		{name: "file: sysctl dot-dot", text: base + "[sysctl]\n\"vm/../x\" = 1\n"},
		{name: "file: sysctl absolute", text: base + "[sysctl]\n\"/proc/sys/vm/swappiness\" = 1\n"},
		{name: "file: sysctl glob", text: base + "[sysctl]\n\"vm.*\" = 1\n"},
		{name: "file: sysctl NUL", text: base + "[sysctl]\n\"vm.a\\u0000b\" = 1\n"},
		{name: "file: sysctl string value", text: base + "[sysctl]\n\"vm.swappiness\" = \"10\"\n"},
		{name: "file: sysctl int64 max+1", text: base + "[sysctl]\n\"vm.swappiness\" = 9223372036854775808\n"},
		{name: "file: sysctl too many values", text: base + "[sysctl]\n\"net.ipv4.ip_local_port_range\" = [" + strings.Repeat("1, ", config.MaxSysctlValues) + "1]\n"},
		{name: "file: sysctl long name", text: base + "[sysctl]\n\"vm." + strings.Repeat("a", 300) + "\" = 1\n"},
		{name: "file: deep nesting", text: base + "[persist]\ndirectories = " + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + "\n"},
	}
}

// sysctlKeys returns n distinct kernel parameter lines.
func sysctlKeys(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "\"net.adversarial.k%d\" = %d\n", i, i)
	}
	return b.String()
}

// TestHostileConfigs runs every case through the generator's --check and
// impermanence-diff (a job: it loads the configuration the same way and
// writes nothing): a refused file exits 1 naming file:line:col and the key
// in both, an accepted one holds the stated value; the golden file pins
// every message. Nothing is written in the sandbox.
func TestHostileConfigs(t *testing.T) {
	need(t, false)
	dir := t.TempDir()
	var sb *sandbox
	if os.Geteuid() == 0 {
		sb = newSandbox(t)
	}
	before := sb.tree(t)
	cases := configCases()
	type outcome struct{ check, job result }
	outcomes := make([]outcome, len(cases))
	paths := make([]string, len(cases))
	for i, c := range cases {
		text, _, _, _ := c.document()
		paths[i] = filepath.Join(dir, fmt.Sprintf("%03d.toml", i))
		if err := os.WriteFile(paths[i], []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	parallel(len(cases), func(i int) {
		outcomes[i] = outcome{sb.run(t, "server-impermanence-generator", "--check", "--config", paths[i]),
			sb.run(t, "impermanence-diff", "--config", paths[i])}
	})
	var golden strings.Builder
	refused, accepted := 0, 0
	for i, c := range cases {
		_, line, col, keyPath := c.document()
		path, check, job := paths[i], outcomes[i].check, outcomes[i].job
		fmt.Fprintf(&golden, "## %s\n", c.name)
		if check.code == 0 {
			fmt.Fprintf(&golden, "accepted\n")
		} else {
			fmt.Fprintf(&golden, "exit %d\n%s", check.code, short(strings.ReplaceAll(check.stderr, dir+"/", "")))
		}
		if c.want != nil || c.ok || (c.either && check.code == 0) {
			accepted++
			if check.code != 0 || !strings.HasPrefix(check.stdout, "configuration: "+path+": valid\n") {
				t.Errorf("%s: --check exit %d, want 0 (valid)\n%s%s", c.name, check.code, check.stdout, check.stderr)
				continue
			}
			if strings.Contains(job.stderr, "invalid configuration") {
				t.Errorf("%s: impermanence-diff refused it:\n%s", c.name, job.stderr)
			}
			cfg, err := config.Load(path)
			if err != nil {
				t.Errorf("%s: config.Load: %v", c.name, err)
				continue
			}
			if c.text != "" {
				continue
			}
			want := c.want
			switch {
			case c.either && c.key.Kind == "strings":
				want = []string{unquote(strings.TrimSuffix(strings.TrimPrefix(c.value, "["), "]"))}
			case c.either && c.key.Table == "subvolume" && c.key.Name == "schedule" && unquote(c.value) == "":
				// an empty schedule is the [snapshots] one
				want = cfg.Snapshots.Schedule
			case c.either:
				want = unquote(c.value)
			}
			if got := value(cfg, c.key); !reflect.DeepEqual(got, want) {
				t.Errorf("%s: %s = %#v, want %#v", c.name, c.key.Name, got, want)
			}
			continue
		}
		refused++
		if check.code != 1 {
			t.Errorf("%s: --check exit %d, want 1 (invalid)\n%s%s", c.name, check.code, check.stdout, check.stderr)
			continue
		}
		if check.stdout != "" {
			t.Errorf("%s: --check printed a layout for an invalid file:\n%s", c.name, check.stdout)
		}
		head := "server-impermanence-generator: configuration " + path + " is invalid:\n"
		if !strings.HasPrefix(check.stderr, head) {
			t.Errorf("%s: --check stderr does not start with %q:\n%s", c.name, head, check.stderr)
		}
		errs := strings.TrimPrefix(check.stderr, head)
		if keyPath != "" {
			colRE := fmt.Sprint(col)
			if c.elem {
				keyPath, colRE = keyPath+"[0]", `\d+`
			}
			re := regexp.MustCompile("(?m)^" + regexp.QuoteMeta(fmt.Sprintf("%s:%d:", path, line)) + colRE +
				regexp.QuoteMeta(": "+keyPath+": "+c.msg))
			if !re.MatchString(errs) {
				t.Errorf("%s: --check does not say %s:%d:%s: %s: %s\n%s", c.name, path, line, colRE, keyPath, c.msg, errs)
			}
		}
		for _, l := range strings.Split(strings.TrimSuffix(errs, "\n"), "\n") {
			if !strings.Contains(l, path) {
				t.Errorf("%s: an error line that does not name the file: %q", c.name, l)
			}
		}
		if job.code != 1 || !strings.HasPrefix(job.stderr, "impermanence-diff: invalid configuration:\n"+errs) {
			t.Errorf("%s: impermanence-diff exit %d, want 1 with the same errors:\n%s", c.name, job.code, job.stderr)
		}
	}
	if diff := cmp.Diff(before, sb.tree(t)); diff != "" {
		t.Errorf("the runs wrote in /run, /var/lib or /var/log (-before +after):\n%s", diff)
	}
	count("configs", refused+accepted)
	t.Logf("%d hostile configurations: %d refused, %d accepted with the stated value", refused+accepted, refused, accepted)
	compareGolden(t, "testdata/configs.golden", golden.String())
}

// unquote decodes a TOML basic string as the cases write it.
func unquote(v string) string {
	s, err := strconv.Unquote(v)
	if err != nil {
		panic(v)
	}
	return s
}

// short cuts a very long line of the golden file (a 64 KiB value).
func short(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if len(l) > 300 {
			lines[i] = l[:200] + fmt.Sprintf("…(%d bytes)", len(l))
		}
	}
	return strings.Join(lines, "\n")
}

// value is what key holds in cfg: of the @data entry for a subvolume key,
// of the only [[target]] for a target key, of the first persisted
// directory for a persisted path's key.
func value(cfg *config.Config, k config.Key) any {
	switch k.Table {
	case "subvolume":
		sv, _ := cfg.Subvolume("@data")
		v, _ := sv.Value(k.Name)
		return v
	case "target":
		if len(cfg.Targets) == 0 {
			return nil
		}
		v, _ := cfg.Targets[0].Value(k.Name)
		return v
	case "policy":
		p, ok := cfg.Policy("db")
		if !ok {
			return nil
		}
		v, _ := p.Value(k.Name)
		return v
	case "persist":
		for _, p := range cfg.Persist.Directories {
			if !p.Implicit {
				v, _ := p.Value(k.Name)
				return v
			}
		}
		return nil
	}
	v, _ := cfg.Value(k.Name)
	return v
}

func compareGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got; -update rewrites it):\n%s", path, diff)
	}
}
