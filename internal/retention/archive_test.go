package retention

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/server-impermanence/server-impermanence/internal/names"
	"github.com/server-impermanence/server-impermanence/internal/names/namestest"
)

func TestSelectArchives(t *testing.T) {
	now := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	arch := func(days int, extra ...string) Archive {
		a := Archive{Name: now.Add(-time.Duration(days)*24*time.Hour).Format(names.TimeLayout) + "-00000000"}
		a.Path = a.Name
		a.Mounted = extra
		return a
	}
	del := func(as []Archive, keepDays, keepMin int, at time.Time) []string {
		ds, _ := SelectArchives(as, keepDays, keepMin, at)
		var out []string
		for _, d := range ds {
			if d.Delete {
				out = append(out, d.Path)
			}
		}
		return out
	}
	old := []Archive{arch(40), arch(50), arch(60)}
	// keep_min keeps the newest even when all expired.
	if got := del(old, 30, 1, now); !cmp.Equal(got, []string{old[1].Path, old[2].Path}) {
		t.Errorf("keep_min 1: delete %v", got)
	}
	// keep_days past what a time.Duration holds (about 292 years) keeps
	// everything: it once wrapped negative and deleted archives minutes old.
	fresh := []Archive{arch(0), arch(1), arch(2), arch(3), arch(4)}
	for _, days := range []int{106751, 106752, 1 << 40, int(^uint(0) >> 1)} {
		if got := del(fresh, days, 3, now); len(got) != 0 {
			t.Errorf("keep_days %d: delete %v, want nothing", days, got)
		}
	}
	// Exactly keep_days old is kept; a second more is deleted.
	edge := []Archive{arch(30), {Name: now.Add(-30*24*time.Hour-time.Second).Format(names.TimeLayout) + "-00000000"}}
	edge[1].Path = edge[1].Name
	if got := del(edge, 30, 0, now); !cmp.Equal(got, []string{edge[1].Path}) {
		t.Errorf("keep_days boundary: delete %v, want only %s", got, edge[1].Path)
	}
	// Mounted ones are kept; unknown names are kept.
	withMounted := []Archive{arch(1), arch(40, "/mnt"), arch(45), {Name: "manual", Path: "manual"}}
	if got := del(withMounted, 30, 1, now); !cmp.Equal(got, []string{withMounted[2].Path}) {
		t.Errorf("mounted: delete %v", got)
	}
	// A clock behind the newest archive prunes nothing.
	if got := del(old, 30, 0, now.Add(-100*24*time.Hour)); len(got) != 0 {
		t.Errorf("clock behind: delete %v", got)
	}
	// An otime after the name's time is reported.
	a := arch(40)
	a.OTime = now
	if _, w := SelectArchives([]Archive{a}, 30, 0, now); len(w) != 1 || !strings.Contains(w[0], "after the time in its name") {
		t.Errorf("otime warnings = %v", w)
	}
}

// TestSelectArchivesNames: archive retention (the rollback's and prune's)
// reads the names of the edge-case table as internal/names does: an
// expired archive name is deleted, anything else is kept as unrecognised.
func TestSelectArchivesNames(t *testing.T) {
	now := namestest.T.AddDate(1, 0, 0)
	var as []Archive
	want := map[string]string{}
	for _, c := range namestest.Cases {
		if !c.Entry() {
			continue
		}
		as = append(as, Archive{Subvolume: "@root", Name: c.Name, Path: "old_roots/@root/" + c.Name})
		want[c.Name] = "name not made by impermanence-rollback: kept"
		if c.Archive {
			want[c.Name] = "older than 30 days"
		}
	}
	ds, _ := SelectArchives(as, 30, 0, now)
	got := map[string]string{}
	for _, d := range ds {
		name := strings.TrimPrefix(d.Path, "old_roots/@root/")
		if d.Delete != (want[name] == "older than 30 days") {
			t.Errorf("%q: delete = %t, reason %q", name, d.Delete, d.Reason)
		}
		got[name] = d.Reason
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("reasons (-want +got):\n%s", diff)
	}
}

// TestSelectArchivesNewCountsForKeepMin: the archive this run creates is
// one of the keep_min newest, so with keep_min 2 one expired archive stays.
func TestSelectArchivesNewCountsForKeepMin(t *testing.T) {
	now := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	name := func(days int) string { return names.Archive(now.AddDate(0, 0, -days), "00000000", 0) }
	as := []Archive{{Name: name(0), Path: "a/" + name(0), New: true}, {Name: name(40), Path: "a/" + name(40), ID: 2}, {Name: name(50), Path: "a/" + name(50), ID: 3}}
	got, warnings := SelectArchives(as, 30, 2, now)
	want := []ArchiveDecision{
		{Path: "a/" + name(0), Time: now, Reason: "created by this run"},
		{Path: "a/" + name(40), ID: 2, Time: now.AddDate(0, 0, -40), Reason: "one of the 2 newest (keep_min)"},
		{Path: "a/" + name(50), ID: 3, Time: now.AddDate(0, 0, -50), Delete: true, Reason: "older than 30 days"},
	}
	if diff := cmp.Diff(want, got); diff != "" || len(warnings) != 0 {
		t.Errorf("SelectArchives (-want +got):\n%s\nwarnings %v", diff, warnings)
	}
}

// TestSelectArchivesLongestKeepDays: keep_days 106751 is the most days a
// time.Duration holds; an archive a day older than that (its age
// saturates) is deleted, not kept as if keep_days were unbounded.
func TestSelectArchivesLongestKeepDays(t *testing.T) {
	now := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	old := names.Archive(now.AddDate(0, 0, -106752), "00000000", 0)
	got, _ := SelectArchives([]Archive{{Name: old, Path: old}}, 106751, 0, now)
	want := []ArchiveDecision{{Path: old, Time: now.AddDate(0, 0, -106752), Delete: true, Reason: "older than 106751 days"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("SelectArchives (-want +got):\n%s", diff)
	}
}
