package replicate

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/server-impermanence/server-impermanence/internal/retention"
)

// snaps returns the parsed snapshots of names, in their order.
func snaps(names ...string) []Snap {
	if len(names) == 0 {
		return nil
	}
	return Sources(src(names...))
}

// nameList writes the names of ss.
func nameList(ss []Snap) string {
	var out []string
	for _, s := range ss {
		out = append(out, s.Name)
	}
	return strings.Join(out, " ")
}

func TestSources(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []Source
		want string
	}{
		{"none", nil, ""},
		{"oldest first whatever the input order", src(d3, d1a, d2), d1a + " " + d2 + " " + d3},
		{"no UUID: left out", []Source{{Name: d2}, {Name: d3, UUID: "u"}}, d3},
		{"not a snapshot name: left out", []Source{{Name: "lost+found", UUID: "u1"}, {Name: d2, UUID: "u2"}}, d2},
		{"the same time: by name, the labelled one newer", src(d3+"-b", d3, d3+"-a"), d3 + " " + d3 + "-a " + d3 + "-b"},
	} {
		if got := nameList(Sources(tc.in)); got != tc.want {
			t.Errorf("%s: Sources = %q, want %q", tc.name, got, tc.want)
		}
	}
	s := Sources(src(lbl, d3))
	if s[0].Manual || !s[1].Manual || s[1].UUID != "u-"+lbl {
		t.Errorf("Sources = %+v, want %s unlabelled then %s manual with its UUID", s, d3, lbl)
	}
}

func TestWorth(t *testing.T) {
	keepMin1 := retention.Policy{KeepMin: 1}
	for _, tc := range []struct {
		name       string
		held, cand []Snap
		newest     string
		policy     retention.Policy
		want       string
	}{
		{name: "no candidates", held: snaps(d2), newest: d2, policy: keepMin1},
		{name: "nothing held: every candidate the retention keeps", cand: snaps(d1a, d1b, d2, d3), newest: d3,
			policy: retention.Policy{Daily: 2}, want: d2 + " " + d3},
		{name: "the newest source snapshot is sent though the retention keeps nothing", cand: snaps(d1a, d1b), newest: d1b,
			policy: retention.Policy{MinAge: time.Nanosecond}, want: d1b},
		{name: "keep_min counts held and candidates together: a held newer snapshot takes the slot", held: snaps(d4), cand: snaps(d2, d3), newest: d4,
			policy: keepMin1},
		{name: "the last candidate is not the newest source snapshot (it clashed): not forced", cand: snaps(d2, d3), newest: d4,
			policy: retention.Policy{MinAge: time.Nanosecond}},
		{name: "only the last candidate is forced, never an earlier one of the newest's name", cand: snaps(d3, d4), newest: d3,
			policy: retention.Policy{MinAge: time.Nanosecond}},
		{name: "keep_min 2: the newest two of held and candidates", held: snaps(d1a), cand: snaps(d2, d3, d4), newest: d4,
			policy: retention.Policy{KeepMin: 2}, want: d3 + " " + d4},
		{name: "a manual candidate is kept, an unlabelled older one is not", held: snaps(d2), cand: snaps(lbl, d3, d4), newest: d4,
			policy: keepMin1, want: lbl + " " + d4},
		{name: "a daily-kept older candidate behind a held newer one (backfill)", held: snaps(d4), cand: snaps(d2, d3), newest: d4,
			policy: retention.Policy{Daily: 3}, want: d2 + " " + d3},
	} {
		got := nameList(Worth(tc.held, tc.cand, tc.newest, tc.policy, now))
		if got != tc.want {
			t.Errorf("%s: Worth(%s | %s, newest %s) = %q, want %q", tc.name, nameList(tc.held), nameList(tc.cand), tc.newest, got, tc.want)
		}
	}
}

func TestDecidePinsParent(t *testing.T) {
	ss := snaps(d2, d3)
	ds := Decide(ss, retention.Policy{MinAge: time.Nanosecond}, now, "u-"+d2)
	if !ds[0].Keep || ds[1].Keep {
		t.Errorf("Decide(parent u-%s) = %v, want %s pinned and %s not", d2, ds, d2, d3)
	}
	for i, d := range Decide(ss, retention.Policy{MinAge: time.Nanosecond}, now, "") {
		if d.Keep {
			t.Errorf("Decide(no parent)[%d] = %v, want not kept: an empty parent pins nothing", i, d)
		}
	}
}

func TestDeletions(t *testing.T) {
	for _, tc := range []struct {
		in   []Verdict
		want []string
	}{
		{nil, nil},
		{[]Verdict{{d3, true, ""}}, nil},
		{[]Verdict{{d3, true, ""}, {d2, false, ""}, {d1a, false, ""}}, []string{d2, d1a}},
	} {
		if diff := cmp.Diff(tc.want, Deletions(tc.in)); diff != "" {
			t.Errorf("Deletions(%v) (-want +got):\n%s", tc.in, diff)
		}
	}
}
