package blanks

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/names"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func u(b byte) btrfs.UUID { return btrfs.UUID{15: b} }

// layout is a blank with former blanks replaced at hours 1, 2 and 3 (ids
// 11, 12, 13; UUIDs 1, 2, 3), the current one (id 20, UUID 9) and a live
// @root snapshotted from former hour 2.
func layout() map[string]btrfs.Subvolume {
	subs := map[string]btrfs.Subvolume{
		"@root-blank": {ID: 20, Path: "@root-blank", UUID: u(9), ReadOnly: true, OTime: t0.Add(3 * time.Hour)},
		"@root":       {ID: 30, Path: "@root", UUID: u(30), ParentUUID: u(2)},
		"@other.x":    {ID: 40, Path: "@other.x"},
		// Not the suite's names: ignored.
		"@root-blank.2026":             {ID: 41, Path: "@root-blank.2026", ReadOnly: true},
		"@root-blank.20261301T000000Z": {ID: 42, Path: "@root-blank.20261301T000000Z", ReadOnly: true},
	}
	for i := 1; i <= 3; i++ {
		p := names.BlankHistory("@root-blank", t0.Add(time.Duration(i)*time.Hour))
		subs[p] = btrfs.Subvolume{ID: uint64(10 + i), Path: p, UUID: u(byte(i)), ReadOnly: true, OTime: t0.Add(time.Duration(i-1) * time.Hour)}
	}
	return subs
}

func hour(i int) string { return names.BlankHistory("@root-blank", t0.Add(time.Duration(i)*time.Hour)) }

func entryNames(es []Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Name)
	}
	return out
}

func TestHistory(t *testing.T) {
	h := History("@root-blank", layout())
	if diff := cmp.Diff([]string{"@root-blank", hour(3), hour(2), hour(1)}, entryNames(h)); diff != "" {
		t.Errorf("History names (-want +got):\n%s", diff)
	}
	if !h[0].Current || h[1].Current || !h[1].Replaced.Equal(t0.Add(3*time.Hour)) || !h[1].Committed.Equal(t0.Add(2*time.Hour)) {
		t.Errorf("History entries = %+v", h[:2])
	}
	if got := History("@none", layout()); len(got) != 0 {
		t.Errorf("History of a missing blank = %v", got)
	}
}

func TestSelect(t *testing.T) {
	former := Former(History("@root-blank", layout())) // hours 3, 2, 1
	for _, tc := range []struct {
		name    string
		keep    int
		protect map[string]string
		deleted []string
	}{
		{"keep all", 3, nil, nil},
		{"keep more than there are", 100, nil, nil},
		{"keep 1", 1, nil, []string{hour(2), hour(1)}},
		{"keep 0", 0, nil, []string{hour(3), hour(2), hour(1)}},
		{"keep 0, the running one protected", 0, map[string]string{u(2).String(): "running"}, []string{hour(3), hour(1)}},
		{"keep 1, running and fallback protected", 1, map[string]string{u(2).String(): "running", u(1).String(): "fallback"}, nil},
		{"an unknown UUID protects nothing", 0, map[string]string{u(7).String(): "x", "": "empty"}, []string{hour(3), hour(2), hour(1)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, d := range Select(former, tc.keep, tc.protect) {
				if d.Delete {
					got = append(got, d.Name)
				}
				if d.Reason == "" {
					t.Errorf("Select: %s has no reason", d.Name)
				}
			}
			if diff := cmp.Diff(tc.deleted, got); diff != "" {
				t.Errorf("Select(keep %d, %v) deleted (-want +got):\n%s", tc.keep, tc.protect, diff)
			}
		})
	}
}

func TestPlanCommit(t *testing.T) {
	cfg := config.Default()
	root := cfg.Ephemeral()[0]
	subs := layout()
	now := t0.Add(4 * time.Hour)
	c, err := PlanCommit(cfg, root, subs, nil, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	// keep 3: the retired blank and hours 3, 2 stay; hour 1 goes. The
	// running root came from hour 2 (kept anyway).
	if c.Retire != hour(4) || strings.Join(c.Delete(), " ") != hour(1) {
		t.Errorf("PlanCommit = retire %s, delete %v; want %s, [%s]", c.Retire, c.Delete(), hour(4), hour(1))
	}
	want := &Trial{Version: TrialVersion, Subvolume: "@root", Blank: "@root-blank", Committed: now, Fallback: hour(4), FallbackUUID: u(9).String()}
	if diff := cmp.Diff(want, c.Trial); diff != "" {
		t.Errorf("trial (-want +got):\n%s", diff)
	}
	// The current blank on an unconfirmed trial: the new trial's fallback
	// is that trial's, and it is kept beyond keep.
	cfg.Blank.Keep = 0
	pending := &Trial{Subvolume: "@root", Blank: "@root-blank", UUID: u(9).String(), Fallback: hour(1), FallbackUUID: u(1).String()}
	c, _ = PlanCommit(cfg, root, subs, map[uint64]bool{13: true}, pending, now)
	if c.Trial.Fallback != hour(1) || c.Trial.FallbackUUID != u(1).String() {
		t.Errorf("trial after an unconfirmed one = %+v, want the fallback %s", c.Trial, hour(1))
	}
	// keep 0: the retired one goes; hour 3 is mounted, 2 running, 1 the fallback.
	if got := strings.Join(c.Delete(), " "); got != hour(4) {
		t.Errorf("deleted with keep 0 = %q, want %s", got, hour(4))
	}
	// A name taken: the next free second.
	subs[hour(4)] = btrfs.Subvolume{ID: 50, Path: hour(4)}
	c, _ = PlanCommit(cfg, root, subs, nil, nil, now.Add(500*time.Millisecond))
	if want := names.BlankHistory("@root-blank", now.Add(time.Second)); c.Retire != want {
		t.Errorf("retire with the name taken = %s, want %s", c.Retire, want)
	}
	// tries 0: no trial.
	cfg.Blank.Tries = 0
	if c, _ = PlanCommit(cfg, root, subs, nil, nil, now); c.Trial != nil {
		t.Errorf("tries 0: trial %+v", c.Trial)
	}
	delete(subs, "@root-blank")
	if _, err := PlanCommit(cfg, root, subs, nil, nil, now); err == nil {
		t.Error("PlanCommit without a blank: no error")
	}
}

func TestChoose(t *testing.T) {
	root := config.Default().Ephemeral()[0]
	trial := func(tries int) *Trial {
		return &Trial{Subvolume: "@root", Blank: "@root-blank", UUID: u(9).String(), Committed: t0.Add(3 * time.Hour),
			Fallback: hour(3), FallbackUUID: u(3).String(), Tries: tries}
	}
	writable := layout()
	w := writable[hour(1)]
	w.ReadOnly = false
	writable[hour(1)] = w
	gone := layout()
	delete(gone, hour(3))
	for _, tc := range []struct {
		name    string
		subs    map[string]btrfs.Subvolume
		owner   bool
		request string
		trial   *Trial
		tries   int
		from    string
		source  Source
		counted int    // the trial's tries written, -1 for none written
		warn    string // in a warning, "" for none
	}{
		{"default", layout(), true, "", nil, 2, "@root-blank", SourceDefault, -1, ""},
		{"previous", layout(), true, "previous", nil, 2, hour(3), SourceRequest, -1, ""},
		{"by name", layout(), true, hour(1), nil, 2, hour(1), SourceRequest, -1, ""},
		{"by the time in the name", layout(), true, names.Time(t0.Add(2 * time.Hour)), nil, 2, hour(2), SourceRequest, -1, ""},
		{"the configured blank", layout(), true, "@root-blank", nil, 2, "@root-blank", SourceDefault, -1, ""},
		{"unknown name", layout(), true, "@root-blank.20200101T000000Z", nil, 2, "@root-blank", SourceDefault, -1,
			"no blank @root-blank.20200101T000000Z (former blanks of @root-blank: " + hour(3) + ", " + hour(2) + ", " + hour(1) + ")"},
		{"garbage", layout(), true, "../../etc", nil, 2, "@root-blank", SourceDefault, -1, "no blank ../../etc"},
		{"a foreign name of the right shape", layout(), true, "@other.x", nil, 2, "@root-blank", SourceDefault, -1, "no blank @other.x"},
		{"writable", writable, true, hour(1), nil, 2, "@root-blank", SourceDefault, -1, "is writable"},
		{"previous without history", map[string]btrfs.Subvolume{"@root-blank": layout()["@root-blank"]}, true, "previous", nil, 2,
			"@root-blank", SourceDefault, -1, "there is no former blank"},
		{"not the owner: no request", layout(), false, "previous", nil, 2, "@root-blank", SourceDefault, -1, ""},
		{"first trial boot", layout(), true, "", trial(0), 2, "@root-blank", SourceTrial, 1, ""},
		{"second trial boot", layout(), true, "", trial(1), 2, "@root-blank", SourceTrial, 2, ""},
		{"fallback", layout(), true, "", trial(2), 2, hour(3), SourceFallback, -1, ""},
		{"fallback stays", layout(), true, "", trial(7), 2, hour(3), SourceFallback, -1, ""},
		{"a request wins over a trial, uncounted", layout(), true, "previous", trial(0), 2, hour(3), SourceRequest, -1, ""},
		{"an unusable request, then the trial", layout(), true, "nope", trial(0), 2, "@root-blank", SourceTrial, 1, "no blank nope"},
		{"stale trial", layout(), true, "", &Trial{Subvolume: "@root", Blank: "@root-blank", UUID: u(77).String(), Tries: 5}, 2,
			"@root-blank", SourceDefault, -1, ""},
		{"tries 0", layout(), true, "", trial(5), 0, "@root-blank", SourceDefault, -1, ""},
		{"fallback gone", gone, true, "", trial(2), 2, "@root-blank", SourceDefault, -1, "is gone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Choose(root, tc.owner, Input{Subvolumes: tc.subs, Request: tc.request, Trial: tc.trial, Tries: tc.tries})
			if c.From != tc.from || c.Source != tc.source {
				t.Errorf("Choose = from %s (%s), want %s (%s); %+v", c.From, c.Source, tc.from, tc.source, c)
			}
			if c.UUID != uuid(tc.subs[tc.from].UUID) {
				t.Errorf("Choose UUID = %s, want %s's", c.UUID, tc.from)
			}
			if c.Fallback != (tc.source == SourceFallback) {
				t.Errorf("Choose Fallback = %t", c.Fallback)
			}
			switch {
			case tc.counted < 0 && c.Trial != nil:
				t.Errorf("Choose writes a trial %+v, want none", c.Trial)
			case tc.counted >= 0 && (c.Trial == nil || c.Trial.Tries != tc.counted):
				t.Errorf("Choose trial = %+v, want tries %d", c.Trial, tc.counted)
			}
			w := strings.Join(c.Warnings, "\n")
			if tc.warn == "" && w != "" || !strings.Contains(w, tc.warn) {
				t.Errorf("Choose warnings = %q, want %q", w, tc.warn)
			}
			if tc.source != SourceDefault && c.Reason == "" {
				t.Error("Choose: no reason")
			}
			if tc.trial != nil && tc.counted >= 0 && tc.trial.Tries == c.Trial.Tries {
				t.Error("Choose changed the caller's trial")
			}
		})
	}
}

func TestFallbackNow(t *testing.T) {
	root := config.Default().Ephemeral()[0]
	tr := Trial{Subvolume: "@root", Blank: "@root-blank", UUID: u(9).String(), FallbackUUID: u(3).String()}
	c := Choose(root, true, Input{Subvolumes: layout(), Trial: &tr, Tries: 2})
	got := FallbackNow(c, layout(), *c.Trial, errTest)
	if got.From != hour(3) || got.Source != SourceFallback || !got.Fallback || got.Trial != nil || len(got.Warnings) != 1 {
		t.Errorf("FallbackNow = %+v", got)
	}
	tr.FallbackUUID = u(99).String()
	got = FallbackNow(c, layout(), tr, errTest)
	if got.From != "@root-blank" || got.Source != SourceTrial || got.Trial != nil || !strings.Contains(got.Warnings[0], "uncounted") {
		t.Errorf("FallbackNow without a fallback = %+v", got)
	}
}

var errTest = &testError{}

type testError struct{}

func (*testError) Error() string { return "disk full" }

func TestPackages(t *testing.T) {
	older := Packages([]byte("Package: a\nStatus: install ok installed\nVersion: 1\nArchitecture: amd64\n\n" +
		"Package: b\nStatus: install ok installed\nVersion: 1\nArchitecture: all\nDescription: x\n multi: line\n\n" +
		"Package: gone\nStatus: deinstall ok config-files\nVersion: 3\n\nPackage: c\nStatus: install ok installed\nVersion: 2\n"))
	if diff := cmp.Diff(map[string]string{"a:amd64": "1", "b": "1", "c": "2"}, older); diff != "" {
		t.Errorf("Packages (-want +got):\n%s", diff)
	}
	newer := map[string]string{"a:amd64": "2", "b": "1", "d": "1"}
	d := DiffPackages(older, newer)
	want := PackageDiff{Added: []string{"d=1"}, Removed: []string{"c=2"}, Changed: []string{"a:amd64=1→2"}}
	if diff := cmp.Diff(want, d); diff != "" || d.String() != "+1 -1 ~1" {
		t.Errorf("DiffPackages (-want +got):\n%s%s", diff, d)
	}
}

func TestOwner(t *testing.T) {
	cfg := config.Default()
	if s, ok := Owner(cfg); !ok || s.Name != "@root" {
		t.Errorf("Owner(default) = %s, %t", s.Name, ok)
	}
}
