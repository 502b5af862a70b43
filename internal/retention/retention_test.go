package retention

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func mustZone(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("time zone %s: %v", name, err)
	}
	return loc
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// series returns n timeline snapshots every step, the last at end.
func series(end time.Time, step time.Duration, n int) []Snapshot {
	out := make([]Snapshot, n)
	for i := range n {
		t := end.Add(-time.Duration(n-1-i) * step)
		out[i] = Snapshot{Name: t.UTC().Format("20060102T150405Z"), Time: t}
	}
	return out
}

func named(times ...string) []Snapshot {
	var out []Snapshot
	for _, s := range times {
		t := ts(s)
		out = append(out, Snapshot{Name: t.UTC().Format("20060102T150405Z"), Time: t})
	}
	return out
}

// kept returns the names kept, and the reasons by name.
func kept(snaps []Snapshot, ds []Decision) ([]string, map[string]string) {
	var k []string
	why := map[string]string{}
	for i, d := range ds {
		why[snaps[i].Name] = d.String()
		if d.Keep {
			k = append(k, snaps[i].Name)
		}
	}
	slices.Sort(k)
	return k, why
}

func TestSelect(t *testing.T) {
	berlin := mustZone(t, "Europe/Berlin")
	for _, tc := range []struct {
		name   string
		snaps  []Snapshot
		policy Policy
		now    time.Time
		want   []string          // kept names
		why    map[string]string // some reasons, by name
	}{
		{
			name:   "hourly keeps the newest 24 of 48",
			snaps:  series(ts("2024-05-02T23:00:00Z"), time.Hour, 48),
			policy: Policy{Hourly: 24, KeepMin: 1},
			now:    ts("2024-05-02T23:30:00Z"),
			want:   namesOf(series(ts("2024-05-02T23:00:00Z"), time.Hour, 24)),
			why: map[string]string{
				"20240502T230000Z": "keep_min: 1 of the 1 newest; hourly 2024-05-02 23:00 UTC (1/24)",
				"20240502T000000Z": "hourly 2024-05-02 00:00 UTC (24/24)",
				"20240501T230000Z": "not the newest of a kept hour, day, week, month or year",
			},
		},
		{
			// Three days of hourly snapshots, then the server is off for 30
			// days: the buckets count periods that have snapshots, so the
			// history survives (wall-clock buckets would keep only keep_min).
			name:   "downtime gap keeps the history",
			snaps:  series(ts("2024-06-03T23:00:00Z"), time.Hour, 72),
			policy: Policy{Hourly: 24, Daily: 7, KeepMin: 1},
			now:    ts("2024-07-03T23:00:00Z"),
			want: append(namesOf(series(ts("2024-06-03T23:00:00Z"), time.Hour, 24)),
				"20240601T230000Z", "20240602T230000Z"),
			why: map[string]string{
				"20240601T230000Z": "daily 2024-06-01 (3/7)",
			},
		},
		{
			name: "DST spring forward: every real hour is a period",
			// 01:00 CET, then 03:00 CEST: 02:00 does not exist that day.
			snaps:  series(ts("2024-03-31T03:00:00Z"), time.Hour, 4),
			policy: Policy{Hourly: 24, Location: berlin},
			now:    ts("2024-03-31T03:10:00Z"),
			want:   namesOf(series(ts("2024-03-31T03:00:00Z"), time.Hour, 4)),
			why: map[string]string{
				"20240331T000000Z": "hourly 2024-03-31 01:00 CET (4/24)",
				"20240331T010000Z": "hourly 2024-03-31 03:00 CEST (3/24)",
			},
		},
		{
			name: "DST fall back: the repeated hour is two periods",
			// Every 30 min from 01:00 CEST to 02:30 CET: 02:00-03:00 happens twice.
			snaps:  series(ts("2024-10-27T01:30:00Z"), 30*time.Minute, 6),
			policy: Policy{Hourly: 24, Location: berlin},
			now:    ts("2024-10-27T02:00:00Z"),
			want:   []string{"20241026T233000Z", "20241027T003000Z", "20241027T013000Z"},
			why: map[string]string{
				"20241027T003000Z": "hourly 2024-10-27 02:00 CEST (2/24)",
				"20241027T013000Z": "hourly 2024-10-27 02:00 CET (1/24)",
			},
		},
		{
			name: "DST fall back day has 25 hours and is one day",
			snaps: named("2024-10-26T21:30:00Z", // 23:30 CEST on the 26th
				"2024-10-26T22:30:00Z",  // 00:30 CEST on the 27th
				"2024-10-27T22:30:00Z"), // 23:30 CET on the 27th
			policy: Policy{Daily: 7, Location: berlin},
			now:    ts("2024-10-28T00:00:00Z"),
			want:   []string{"20241026T213000Z", "20241027T223000Z"},
			why:    map[string]string{"20241026T213000Z": "daily 2024-10-26 (2/7)"},
		},
		{
			name:   "the same snapshots by UTC days",
			snaps:  named("2024-10-26T21:30:00Z", "2024-10-26T22:30:00Z", "2024-10-27T22:30:00Z"),
			policy: Policy{Daily: 7},
			now:    ts("2024-10-28T00:00:00Z"),
			want:   []string{"20241026T223000Z", "20241027T223000Z"},
		},
		{
			name:   "leap day is its own day and February's newest",
			snaps:  named("2024-02-27T12:00:00Z", "2024-02-28T12:00:00Z", "2024-02-29T12:00:00Z", "2024-03-01T12:00:00Z"),
			policy: Policy{Daily: 3, Monthly: 2},
			now:    ts("2024-03-02T00:00:00Z"),
			want:   []string{"20240228T120000Z", "20240229T120000Z", "20240301T120000Z"},
			why: map[string]string{
				"20240229T120000Z": "daily 2024-02-29 (2/3); monthly 2024-02 (2/2)",
			},
		},
		{
			name:   "yearly across a leap year",
			snaps:  named("2023-12-31T23:00:00Z", "2024-02-29T00:00:00Z", "2024-12-31T23:59:59Z", "2025-01-01T00:00:00Z"),
			policy: Policy{Yearly: 2},
			now:    ts("2025-01-02T00:00:00Z"),
			want:   []string{"20241231T235959Z", "20250101T000000Z"},
		},
		{
			name: "weeks start on Monday, across the new year",
			// Sun 2024-12-29, Mon 2024-12-30, Wed 2025-01-01.
			snaps:  named("2024-12-29T23:00:00Z", "2024-12-30T01:00:00Z", "2025-01-01T12:00:00Z"),
			policy: Policy{Weekly: 2},
			now:    ts("2025-01-02T00:00:00Z"),
			want:   []string{"20241229T230000Z", "20250101T120000Z"},
			why: map[string]string{
				"20250101T120000Z": "weekly 2025-W01 (1/2)",
				"20241229T230000Z": "weekly 2024-W52 (2/2)",
			},
		},
		{
			name: "clock skew: snapshots in the future are kept and reported",
			snaps: named("2024-05-01T10:00:00Z", "2024-05-01T11:00:00Z",
				"2024-05-01T14:00:00Z"), // two hours ahead of now
			policy: Policy{Hourly: 1, KeepMin: 1},
			now:    ts("2024-05-01T12:00:00Z"),
			want:   []string{"20240501T110000Z", "20240501T140000Z"},
			why: map[string]string{
				"20240501T140000Z": "in the future by 2h (clock skew): kept",
				"20240501T110000Z": "keep_min: 1 of the 1 newest; hourly 2024-05-01 11:00 UTC (1/1)",
			},
		},
		{
			name: "equal timestamps: the greater name is the newer",
			snaps: []Snapshot{
				{Name: "20240501T100000Z-b", Time: ts("2024-05-01T10:00:00Z")},
				{Name: "20240501T100000Z-a", Time: ts("2024-05-01T10:00:00Z")},
			},
			policy: Policy{Hourly: 1},
			now:    ts("2024-05-01T12:00:00Z"),
			want:   []string{"20240501T100000Z-b"},
		},
		{
			name: "equal timestamps in the other order",
			snaps: []Snapshot{
				{Name: "20240501T100000Z-a", Time: ts("2024-05-01T10:00:00Z")},
				{Name: "20240501T100000Z-b", Time: ts("2024-05-01T10:00:00Z")},
			},
			policy: Policy{Hourly: 1},
			now:    ts("2024-05-01T12:00:00Z"),
			want:   []string{"20240501T100000Z-b"},
		},
		{
			name: "manual snapshots: kept unless expired, never counted in buckets",
			snaps: []Snapshot{
				{Name: "20240401T000000Z-before-upgrade", Time: ts("2024-04-01T00:00:00Z"), Manual: true},
				{Name: "20240402T000000Z-tmp", Time: ts("2024-04-02T00:00:00Z"), Manual: true, Expires: ts("2024-04-03T00:00:00Z")},
				{Name: "20240403T000000Z-week", Time: ts("2024-04-03T00:00:00Z"), Manual: true, Expires: ts("2024-04-10T00:00:00Z")},
				{Name: "20240404T000000Z", Time: ts("2024-04-04T00:00:00Z")},
				{Name: "20240405T000000Z", Time: ts("2024-04-05T00:00:00Z")},
			},
			policy: Policy{Daily: 1},
			now:    ts("2024-04-06T00:00:00Z"),
			want:   []string{"20240401T000000Z-before-upgrade", "20240403T000000Z-week", "20240405T000000Z"},
			why: map[string]string{
				"20240401T000000Z-before-upgrade": "manual snapshot, no expiry",
				"20240402T000000Z-tmp":            "manual snapshot expired 2024-04-03T00:00:00Z",
				"20240403T000000Z-week":           "manual snapshot, expires 2024-04-10T00:00:00Z",
			},
		},
		{
			name: "an expired manual snapshot that is the newest is kept by keep_min",
			snaps: []Snapshot{
				{Name: "20240402T000000Z-tmp", Time: ts("2024-04-02T00:00:00Z"), Manual: true, Expires: ts("2024-04-03T00:00:00Z")},
			},
			policy: Policy{Daily: 1, KeepMin: 1},
			now:    ts("2024-04-06T00:00:00Z"),
			want:   []string{"20240402T000000Z-tmp"},
		},
		{
			name:   "min_age keeps everything younger",
			snaps:  series(ts("2024-05-01T12:00:00Z"), 10*time.Minute, 6),
			policy: Policy{Hourly: 1, MinAge: 30 * time.Minute},
			now:    ts("2024-05-01T12:05:00Z"),
			want:   []string{"20240501T114000Z", "20240501T115000Z", "20240501T120000Z"},
			why: map[string]string{
				"20240501T114000Z": "younger than min_age 30min",
				"20240501T113000Z": "not the newest of a kept hour, day, week, month or year",
			},
		},
		{
			name:   "keep_min beyond the buckets",
			snaps:  series(ts("2024-05-01T12:00:00Z"), time.Minute, 5),
			policy: Policy{Hourly: 1, KeepMin: 3},
			now:    ts("2024-05-02T00:00:00Z"),
			want:   []string{"20240501T115800Z", "20240501T115900Z", "20240501T120000Z"},
		},
		{
			name:   "nothing",
			policy: Policy{Hourly: 24},
			now:    ts("2024-05-02T00:00:00Z"),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds := Select(tc.snaps, tc.policy, tc.now)
			if len(ds) != len(tc.snaps) {
				t.Fatalf("Select returned %d decisions for %d snapshots", len(ds), len(tc.snaps))
			}
			got, why := kept(tc.snaps, ds)
			want := slices.Sorted(slices.Values(tc.want))
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("kept (-want +got):\n%s\nreasons:\n%s", diff, dump(why))
			}
			for n, w := range tc.why {
				if why[n] != w {
					t.Errorf("reason of %s = %q, want %q", n, why[n], w)
				}
			}
		})
	}
}

func namesOf(s []Snapshot) []string {
	var out []string
	for _, x := range s {
		out = append(out, x.Name)
	}
	return out
}

func dump(why map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range why {
			if !yield(k) {
				return
			}
		}
	}) {
		fmt.Fprintf(&b, "  %s: %s\n", k, why[k])
	}
	return b.String()
}

// TestSelectFutureFlag checks Decision.Future.
func TestSelectFutureFlag(t *testing.T) {
	snaps := named("2024-05-01T14:00:00Z", "2024-05-01T10:00:00Z")
	ds := Select(snaps, Policy{Hourly: 1}, ts("2024-05-01T12:00:00Z"))
	if !ds[0].Future() || ds[1].Future() {
		t.Errorf("Future() = %v, %v; want true, false", ds[0].Future(), ds[1].Future())
	}
}

// TestSelectProperties checks on random inputs that pruning twice equals
// pruning once, that keep_min always holds, and that the input order does
// not matter.
func TestSelectProperties(t *testing.T) {
	zones := []*time.Location{time.UTC, mustZone(t, "Europe/Berlin"), mustZone(t, "America/New_York"),
		mustZone(t, "Asia/Kolkata"), mustZone(t, "Australia/Lord_Howe")}
	r := rand.New(rand.NewPCG(1, 2))
	now := ts("2025-03-30T12:00:00Z")
	for iter := range 400 {
		n := r.IntN(300)
		snaps := make([]Snapshot, n)
		for i := range snaps {
			// Mostly the past two years, some in the future, some duplicates.
			t := now.Add(-time.Duration(r.Int64N(int64(2 * 365 * 24 * time.Hour))))
			if r.IntN(50) == 0 {
				t = now.Add(time.Duration(r.Int64N(int64(3 * time.Hour))))
			}
			if i > 0 && r.IntN(20) == 0 {
				t = snaps[i-1].Time
			}
			t = t.Truncate(time.Second)
			snaps[i] = Snapshot{Name: fmt.Sprintf("%s-%d", t.UTC().Format("20060102T150405Z"), i), Time: t}
			if r.IntN(15) == 0 {
				snaps[i].Manual = true
				if r.IntN(2) == 0 {
					snaps[i].Expires = t.Add(time.Duration(r.Int64N(int64(60 * 24 * time.Hour))))
				}
			}
		}
		p := Policy{
			Hourly: r.IntN(30), Daily: r.IntN(10), Weekly: r.IntN(6), Monthly: r.IntN(14), Yearly: r.IntN(3),
			KeepMin: r.IntN(5), MinAge: time.Duration(r.IntN(120)) * time.Minute,
			Location: zones[r.IntN(len(zones))],
		}
		ds := Select(snaps, p, now)
		var rest []Snapshot
		for i, d := range ds {
			if d.Keep {
				rest = append(rest, snaps[i])
			}
		}
		if want := min(p.KeepMin, n); len(rest) < want {
			t.Fatalf("iteration %d: kept %d of %d, keep_min %d", iter, len(rest), n, p.KeepMin)
		}
		for i, d := range Select(rest, p, now) {
			if !d.Keep {
				t.Fatalf("iteration %d: second pass deletes %s (%s); first pass kept it for %s",
					iter, rest[i].Name, d, ds[slices.IndexFunc(snaps, func(s Snapshot) bool { return s.Name == rest[i].Name })])
			}
		}
		shuffled := slices.Clone(snaps)
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		a, _ := kept(snaps, ds)
		b, _ := kept(shuffled, Select(shuffled, p, now))
		if !slices.Equal(a, b) {
			t.Fatalf("iteration %d: decisions depend on the input order", iter)
		}
	}
}

// hundredK is 100,000 snapshots, one every 10 minutes (about 694 days).
func hundredK() []Snapshot { return series(ts("2025-03-30T12:00:00Z"), 10*time.Minute, 100_000) }

var defaultPolicy = Policy{Hourly: 24, Daily: 7, Weekly: 4, Monthly: 12, KeepMin: 1, MinAge: 30 * time.Minute}

func BenchmarkSelect100k(b *testing.B) {
	snaps := hundredK()
	p := defaultPolicy
	p.Location = mustZone(b, "Europe/Berlin")
	now := ts("2025-03-30T12:10:00Z")
	b.ResetTimer()
	for b.Loop() {
		Select(snaps, p, now)
	}
}

// TestSelect100kIsFast guards against a quadratic plan with a loose bound
// (the target, 100 ms, is measured by BenchmarkSelect100k).
func TestSelect100kIsFast(t *testing.T) {
	snaps := hundredK()
	start := time.Now()
	ds := Select(snaps, defaultPolicy, ts("2025-03-30T12:10:00Z"))
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Select of 100,000 snapshots took %s", d)
	}
	n := 0
	for _, d := range ds {
		if d.Keep {
			n++
		}
	}
	// 24 hourly + 7 daily + 4 weekly + 12 monthly, overlapping.
	if n < 24 || n > 47 {
		t.Errorf("kept %d of 100,000", n)
	}
}

func TestRuleKeeps(t *testing.T) {
	for r, want := range map[Rule]bool{Future: true, KeepMin: true, MinAge: true, Manual: true, Hourly: true, Daily: true,
		Weekly: true, Monthly: true, Yearly: true, Expired: false, Unselected: false} {
		if got := r.Keeps(); got != want {
			t.Errorf("%s.Keeps() = %v, want %v", r, got, want)
		}
	}
}
