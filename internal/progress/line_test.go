package progress

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite the golden files")

const (
	KiB = int64(1) << 10
	MiB = KiB << 10
	GiB = MiB << 10
)

var persist = Item{Target: "usb", Subvolume: "@persist", Snapshot: "20261206T100000Z", Index: 2, Count: 5}

// lineCases are the statuses of the golden file, each rendered by Line
// and by Final at Width.
var lineCases = []struct {
	name string
	s    Status
}{
	{"start: 0 bytes, no time yet", Status{Item: persist}},
	{"zero elapsed, bytes already counted", Status{Item: persist, Done: 4 * MiB}},
	{"unknown total: no ETA, the time so far", Status{Item: persist, Done: 1536 * MiB, Elapsed: 12 * time.Second}},
	{"known total", Status{Item: with(persist, func(i *Item) { i.Total = 3 * GiB }), Done: 1 * GiB, Elapsed: 10 * time.Second}},
	{"known total, reached", Status{Item: with(persist, func(i *Item) { i.Total = 3 * GiB }), Done: 3 * GiB, Elapsed: 30 * time.Second}},
	{"known total, passed: no ETA, no percentage", Status{Item: with(persist, func(i *Item) { i.Total = GiB }), Done: 2 * GiB, Elapsed: 30 * time.Second}},
	{"estimated total", Status{Item: with(persist, func(i *Item) { i.Total, i.Estimated = 10*GiB, true }), Done: 2 * GiB, Elapsed: 20 * time.Second}},
	{"estimate passed", Status{Item: with(persist, func(i *Item) { i.Total, i.Estimated = GiB, true }), Done: 3 * GiB, Elapsed: 20 * time.Second}},
	{"hours left", Status{Item: with(persist, func(i *Item) { i.Total = 500 * GiB }), Done: GiB, Elapsed: 10 * time.Second}},
	{"more than 99 hours left", Status{Item: with(persist, func(i *Item) { i.Total = 1 << 62 }), Done: KiB, Elapsed: time.Second}},
	{"huge sizes", Status{Item: with(persist, func(i *Item) { i.Total = 1<<63 - 1 }), Done: 1<<63 - 2, Elapsed: time.Hour}},
	{"no count", Status{Item: with(persist, func(i *Item) { i.Count, i.Index = 0, 0 }), Done: 100, Elapsed: time.Second}},
	{"no subvolume: the target alone", Status{Item: Item{Target: "vault"}, Done: 100, Elapsed: time.Second}},
	{"nothing named", Status{Item: Item{}, Done: 100, Elapsed: time.Second}},
	{"verb", Status{Item: with(persist, func(i *Item) { i.Verb = "replayed"; i.Total = MiB }), Done: MiB, Elapsed: 2 * time.Second}},
	{"long names cut in the middle, the snapshot kept", Status{Item: Item{Target: strings.Repeat("t", 64), Subvolume: "@" + strings.Repeat("var-lib-postgresql-", 6) + "data", Snapshot: "20261206T100000Z-before-the-upgrade", Index: 123, Count: 4567, Total: 900 * GiB}, Done: 899 * GiB, Elapsed: 99 * time.Hour}},
	{"control characters shown as ?", Status{Item: Item{Target: "usb", Subvolume: "@x\x1b[2J\r\n", Snapshot: "s\ty"}, Done: 1, Elapsed: time.Second}},
	{"wide characters counted as runes", Status{Item: Item{Target: "üsb", Subvolume: "@persönlich", Snapshot: "20261206T100000Z"}, Done: 1, Elapsed: time.Second}},
	{"what is being done", Status{Item: Item{Target: "vault", Subvolume: "@persist", Snapshot: "20261206T100000Z", Total: 3 * GiB, Doing: "checking", Verb: "checked"}, Done: GiB, Elapsed: 10 * time.Second}},
	{"negative bytes as 0", Status{Item: persist, Done: -5, Elapsed: time.Second}},
}

func with(it Item, f func(*Item)) Item { f(&it); return it }

func TestLineGolden(t *testing.T) {
	var b strings.Builder
	for _, c := range lineCases {
		line, final, failed := Line(c.s, Width), Final(c.s, false, Width), Final(c.s, true, Width)
		for _, l := range []string{line, final, failed} {
			if n := utf8.RuneCountInString(l); n > Width-1 {
				t.Errorf("%s: %q has %d columns, want at most %d", c.name, l, n, Width-1)
			}
			if strings.ContainsAny(l, "\r\n\x1b\t") {
				t.Errorf("%s: %q has a control character", c.name, l)
			}
		}
		fmt.Fprintf(&b, "## %s\n%s\n%s\n%s\n", c.name, line, final, failed)
	}
	golden(t, "lines.golden", b.String())
}

// Narrow terminals: every line fits, the stats win over the name.
func TestLineNarrow(t *testing.T) {
	s := Status{Item: with(persist, func(i *Item) { i.Total = 3 * GiB }), Done: GiB, Elapsed: 10 * time.Second}
	for _, w := range []int{1, 2, 10, 20, 40, 60, 79, 80} {
		for _, l := range []string{Line(s, w), Final(s, false, w)} {
			if n := utf8.RuneCountInString(l); n > w-1 {
				t.Errorf("width %d: %q has %d columns", w, l, n)
			}
		}
	}
	if got := Line(s, 40); strings.Contains(got, "@persist") || !strings.HasPrefix(got, "2/5") {
		t.Errorf("Line at 40 columns = %q, want the stats without the name", got)
	}
	if got, want := Line(s, 0), Line(s, Width); got != want {
		t.Errorf("Line(width 0) = %q, want the Width line %q", got, want)
	}
}

func TestClock(t *testing.T) {
	for _, tt := range []struct {
		in   time.Duration
		want string
	}{
		{-time.Second, "0:00"}, {0, "0:00"}, {499 * time.Millisecond, "0:00"}, {time.Second, "0:01"},
		{59*time.Minute + 59*time.Second, "59:59"}, {time.Hour, "1:00:00"}, {36*time.Hour + 61*time.Second, "36:01:01"},
		{maxClock - time.Second, "99:59:58"}, {maxClock, ">99:59:59"}, {1<<63 - 1, ">99:59:59"},
	} {
		if got := clock(tt.in); got != tt.want {
			t.Errorf("clock(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCut(t *testing.T) {
	for _, tt := range []struct {
		in   string
		n    int
		want string
	}{
		{"abcdef", 6, "abcdef"}, {"abcdef", 5, "a…def"}, {"abcdefghij", 7, "ab…ghij"},
		{"abc", 1, "a"}, {"abc", 0, ""}, {"abc", -1, ""}, {"äöüäöü", 4, "ä…öü"},
	} {
		if got := cut(tt.in, tt.n); got != tt.want {
			t.Errorf("cut(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run with -update and review the diff):\n%s", p, got)
	}
}

func TestPercent(t *testing.T) {
	for _, tt := range []struct {
		done, total int64
		want        int
	}{
		{0, 1, 0}, {1, 3, 33}, {2, 3, 66}, {99, 100, 99}, {100, 100, 100},
		{1<<63 - 2, 1<<63 - 1, 99}, {1<<63 - 1, 1<<63 - 1, 100}, {1 << 62, 1<<63 - 1, 50},
	} {
		if got := percent(tt.done, tt.total); got != tt.want {
			t.Errorf("percent(%d, %d) = %d, want %d", tt.done, tt.total, got, tt.want)
		}
	}
}

func TestRate(t *testing.T) {
	for _, tt := range []struct {
		n    int64
		secs float64
		want string
	}{
		{0, 0, "-"}, {1e6, -1, "-"}, {0, 1, "0.0 MB/s"}, {25e6, 2, "12.5 MB/s"}, {1<<63 - 1, 1, "9223372036854.8 MB/s"},
	} {
		if got := Rate(tt.n, tt.secs); got != tt.want {
			t.Errorf("Rate(%d, %v) = %q, want %q", tt.n, tt.secs, got, tt.want)
		}
	}
}
