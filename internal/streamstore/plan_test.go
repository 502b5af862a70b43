package streamstore

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/replicate"
	"github.com/server-impermanence/server-impermanence/internal/retention"
)

var base = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// snap is the name of the snapshot h hours after base.
func snap(h int) string { return base.Add(time.Duration(h) * time.Hour).Format("20060102T150405Z") }

// sources are source snapshots at the given hours, UUID "u<h>".
func sources(hs ...int) []replicate.Source {
	var out []replicate.Source
	for _, h := range hs {
		out = append(out, replicate.Source{Name: snap(h), UUID: fmt.Sprintf("u%d", h)})
	}
	return out
}

// manifest parses "0F 1I0 2I1": hour, kind (F full, I incremental) and the
// parent's hour.
func manifest(spec string) Manifest {
	m := Manifest{Version: 1, Subvolume: "@persist"}
	for _, f := range strings.Fields(spec) {
		var h, ph int
		var k byte
		if n, _ := fmt.Sscanf(f, "%d%c%d", &h, &k, &ph); n < 2 {
			panic(f)
		}
		s := Stream{Name: snap(h), UUID: fmt.Sprintf("u%d", h), Kind: Full}
		if k == 'I' {
			s.Kind, s.Parent, s.ParentUUID = Incremental, snap(ph), fmt.Sprintf("u%d", ph)
		}
		s.Encrypted, s.File = true, FileName(s.Name, s.Kind, true)
		m.Streams = append(m.Streams, s)
	}
	return m
}

// sends writes a plan's sends as "3I2" (hour, kind, parent hour).
func sends(p Plan) string {
	var out []string
	for _, s := range p.Sends {
		h := int(mustParse(s.Name).Sub(base) / time.Hour)
		if s.Kind == Full {
			out = append(out, fmt.Sprintf("%dF", h))
		} else {
			out = append(out, fmt.Sprintf("%dI%d", h, int(mustParse(s.Parent).Sub(base)/time.Hour)))
		}
	}
	return strings.Join(out, " ")
}

// deletions writes the hours of the deleted snapshots.
func deletions(p Plan) string {
	var out []string
	for _, n := range p.Deletions() {
		out = append(out, fmt.Sprint(int(mustParse(n).Sub(base)/time.Hour)))
	}
	return strings.Join(out, " ")
}

func mustParse(name string) time.Time {
	t, err := time.Parse("20060102T150405Z", name)
	if err != nil {
		panic(err)
	}
	return t
}

func TestBuild(t *testing.T) {
	keepAll := retention.Policy{KeepMin: 1000}
	day := 24 * time.Hour
	tests := []struct {
		name      string
		src       []replicate.Source
		stored    string
		policy    retention.Policy
		fullEvery time.Duration
		sends     string
		deletes   string
		why       string // of the first send
		newest    int    // hour, -1 for none
	}{
		{name: "empty target: a full of the newest only (keep_min 1)", src: sources(0, 1, 2), policy: retention.Policy{KeepMin: 1},
			sends: "2F", why: "full: the target holds no stream of this subvolume", newest: 2},
		{name: "empty target, everything kept: a full, then a chain", src: sources(0, 1, 2), policy: keepAll,
			sends: "0F 1I0 2I1", newest: 2},
		{name: "nothing to send", src: sources(0, 1), stored: "0F 1I0", policy: keepAll, newest: 1},
		{name: "the chain continues from the newest stored", src: sources(0, 1, 2, 3), stored: "0F 1I0", policy: keepAll,
			sends: "2I1 3I2", why: "incremental from " + snap(1) + ", the newest stored snapshot", newest: 3},
		{name: "a source snapshot older than the newest stored is not sent", src: sources(0, 1, 2), stored: "0F 2I0", policy: keepAll, newest: 2},
		{name: "full_every: one hour short of the period, incremental", src: sources(0, 23), stored: "0F", policy: keepAll, fullEvery: 24 * time.Hour,
			sends: "23I0", newest: 23},
		{name: "full_every: exactly the period, a new full", src: sources(0, 24), stored: "0F", policy: keepAll, fullEvery: day,
			sends: "24F", why: "full: the chain's full stream " + snap(0) + " is 1d older, full_every is 1d", newest: 24},
		{name: "full_every counts from the chain's full, not the parent", src: sources(0, 20, 30), stored: "0F 20I0", policy: keepAll, fullEvery: day,
			sends: "30F", newest: 30},
		{name: "full_every within one run: the new full starts the chain of the later sends", src: sources(0, 10, 24, 30), stored: "0F", policy: keepAll, fullEvery: day,
			sends: "10I0 24F 30I24", newest: 30},
		{name: "full_every 0: the chain never restarts by age", src: sources(0, 10000), stored: "0F", policy: keepAll,
			sends: "10000I0", newest: 10000},
		{name: "the newest stored is gone from the source: full", src: sources(3, 4), stored: "0F 1I0", policy: keepAll,
			sends: "3F 4I3", why: "full: the source no longer holds " + snap(1) + ", the newest stored snapshot", newest: 4},
		{name: "the newest stored's chain is broken: full", src: sources(1, 2), stored: "1I0", policy: keepAll,
			sends: "2F", why: "full: the chain of " + snap(1) + ", the newest stored snapshot, has no full stream", newest: 2},
		{name: "retention: the newest keeps its whole chain", src: sources(3, 4), stored: "0F 1I0 2I1 3I2", policy: retention.Policy{KeepMin: 1},
			sends: "4I3", newest: 4},
		{name: "retention: an old chain goes once a newer full exists", src: sources(4, 5), stored: "0F 1I0 2I1 3F 4I3", policy: retention.Policy{KeepMin: 1},
			sends: "5I4", deletes: "2 1 0", newest: 5},
		{name: "retention: a daily-kept old snapshot keeps its chain, the older chain goes", src: sources(49, 50),
			stored: "0F 1I0 2I1 3F 4I3 48F 49I48", policy: retention.Policy{Daily: 2},
			sends: "50I49", deletes: "2 1 0", newest: 50},
		{name: "retention keeping nothing by policy still keeps the newest and its chain", src: sources(3), stored: "0F 1I0 2I1 3I2",
			policy: retention.Policy{MinAge: time.Nanosecond}, newest: 3},
		{name: "a candidate retention drops is not sent; the newest always is", src: sources(0, 1, 2, 3), stored: "0F", policy: retention.Policy{KeepMin: 1},
			sends: "3I0", newest: 3},
		{name: "UUID decides, not the name: a re-created snapshot of a stored name is not the stored one", src: []replicate.Source{{Name: snap(1), UUID: "other"}, {Name: snap(2), UUID: "u2"}},
			stored: "0F 1I0", policy: keepAll, sends: "2F", why: "full: the source no longer holds " + snap(1) + ", the newest stored snapshot", newest: 2},
	}
	now := base.Add(100 * 24 * time.Hour)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Build("@persist", tt.src, manifest(tt.stored), tt.policy, tt.fullEvery, now)
			if got := sends(p); got != tt.sends {
				t.Errorf("sends = %q, want %q", got, tt.sends)
			}
			if got := deletions(p); got != tt.deletes {
				t.Errorf("deletions = %q, want %q\n%+v", got, tt.deletes, p.Stored)
			}
			if tt.why != "" && (len(p.Sends) == 0 || p.Sends[0].Why != tt.why) {
				t.Errorf("why = %+v, want %q", p.Sends, tt.why)
			}
			wantNewest := ""
			if tt.newest >= 0 {
				wantNewest = snap(tt.newest)
			}
			if p.Newest != wantNewest {
				t.Errorf("newest = %s, want %s", p.Newest, wantNewest)
			}
		})
	}
}

// Every kept snapshot's chain is whole: Chain succeeds on what remains.
func TestBuildKeepsWholeChains(t *testing.T) {
	for keepMin := 0; keepMin <= 8; keepMin++ {
		for fe := 1; fe <= 5; fe++ {
			m := manifest("")
			var src []replicate.Source
			for h := range 40 {
				src = append(src, replicate.Source{Name: snap(h * 13), UUID: fmt.Sprintf("u%d", h*13)})
				p := Build("@persist", src, m, retention.Policy{KeepMin: keepMin, Daily: 2}, time.Duration(fe)*24*time.Hour, base.Add(40*13*time.Hour))
				m = apply(m, p)
				for _, v := range p.Stored {
					if !v.Keep {
						continue
					}
					if _, err := Chain(m, v.Name); err != nil {
						t.Fatalf("keep_min %d full_every %dd step %d: %v", keepMin, fe, h, err)
					}
				}
				if p.Newest != snap(h*13) {
					t.Fatalf("step %d: newest %s", h, p.Newest)
				}
			}
		}
	}
}

// apply is what the store does with a plan: the sends appended, the
// deletions removed.
func apply(m Manifest, p Plan) Manifest {
	for _, s := range p.Sends {
		m.Streams = append(m.Streams, Stream{Name: s.Name, UUID: s.UUID, Kind: s.Kind, Parent: s.Parent, ParentUUID: s.ParentUUID, File: FileName(s.Name, s.Kind, false)})
	}
	del := map[string]bool{}
	for _, n := range p.Deletions() {
		del[n] = true
	}
	var out []Stream
	for _, s := range m.Streams {
		if !del[s.Name] {
			out = append(out, s)
		}
	}
	m.Streams = out
	return m
}

func TestChain(t *testing.T) {
	tests := []struct {
		stored string
		of     int
		want   string // hours in replay order
		err    string
	}{
		{stored: "0F", of: 0, want: "0"},
		{stored: "0F 1I0 2I1 3F 4I3", of: 2, want: "0 1 2"},
		{stored: "0F 1I0 2I1 3F 4I3", of: 4, want: "3 4"},
		{stored: "0F 1I0 2I1 3F 4I3", of: 3, want: "3"},
		{stored: "0F 2I1", of: 2, err: "the chain of @persist/" + snap(2) + " is broken: " + snap(2) + "'s parent " + snap(1) + " (UUID u1) is not stored"},
		{stored: "0F", of: 1, err: "snapshot @persist/" + snap(1) + " is not stored on the target"},
		{stored: "1I2 2I1", of: 1, err: "the chain of @persist/" + snap(1) + " loops"},
	}
	for _, tt := range tests {
		got, err := Chain(manifest(tt.stored), snap(tt.of))
		var hs []string
		for _, s := range got {
			hs = append(hs, fmt.Sprint(int(mustParse(s.Name).Sub(base)/time.Hour)))
		}
		gotErr := ""
		if err != nil {
			gotErr = err.Error()
		}
		if strings.Join(hs, " ") != tt.want || gotErr != tt.err {
			t.Errorf("Chain(%q, %d) = %v, %q; want %q, %q", tt.stored, tt.of, hs, gotErr, tt.want, tt.err)
		}
	}
	// A parent of the right name but another UUID breaks the chain.
	m := manifest("0F 1I0")
	m.Streams[0].UUID = "recreated"
	if _, err := Chain(m, snap(1)); err == nil {
		t.Error("Chain accepted a parent whose UUID differs")
	}
}

func TestFileName(t *testing.T) {
	n := "20261206T100000Z"
	for _, tt := range []struct {
		kind Kind
		enc  bool
		want string
	}{{Full, false, n + ".full.btrfs"}, {Incremental, false, n + ".inc.btrfs"}, {Full, true, n + ".full.btrfs.age"}, {Incremental, true, n + ".inc.btrfs.age"}} {
		got := FileName(n, tt.kind, tt.enc)
		if got != tt.want {
			t.Errorf("FileName(%s, %s, %t) = %s, want %s", n, tt.kind, tt.enc, got, tt.want)
		}
		name, k, enc, ok := ParseFileName(got)
		if !ok || name != n || k != tt.kind || enc != tt.enc {
			t.Errorf("ParseFileName(%s) = %s %s %t %t", got, name, k, enc, ok)
		}
	}
	labelled := "20261206T100000Z-before-upgrade"
	if name, k, _, ok := ParseFileName(labelled + ".inc.btrfs"); !ok || name != labelled || k != Incremental {
		t.Errorf("ParseFileName of a labelled snapshot's stream = %s %s %t", name, k, ok)
	}
	for _, bad := range []string{"manifest.json", n + ".btrfs", n + ".diff.btrfs", n + ".full.btrfs.gpg", "x.full.btrfs", ".manifest.json.tmp-1", n + ".full.btrfs.age.partial", ""} {
		if _, _, _, ok := ParseFileName(bad); ok {
			t.Errorf("ParseFileName(%q) accepted", bad)
		}
	}
}

func TestManifestCheck(t *testing.T) {
	good := manifest("0F 1I0")
	if err := good.check(); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		mut  func(*Manifest)
		want string
	}{
		{func(m *Manifest) { m.Streams[0].File = "../../etc/passwd" }, `entry "` + snap(0) + `" names file "../../etc/passwd", want "` + snap(0) + `.full.btrfs.age"`},
		{func(m *Manifest) { m.Streams[1].Parent = "" }, `entry "` + snap(1) + `": a inc stream with parent ""`},
		{func(m *Manifest) { m.Streams[0].Parent = "x" }, `entry "` + snap(0) + `": a full stream with parent "x"`},
		{func(m *Manifest) { m.Streams = append(m.Streams, m.Streams[0]) }, `snapshot "` + snap(0) + `" is listed twice`},
	} {
		m := manifest("0F 1I0")
		tt.mut(&m)
		err := m.check()
		if err == nil || err.Error() != tt.want {
			t.Errorf("check = %v, want %s", err, tt.want)
		}
	}
}

// The boundary of "newer than the newest stored": the order is the time,
// then the name, so at the newest stored snapshot's time a labelled
// snapshot (a greater name) is newer and sent, and nothing at or before it
// is.
func TestBuildNewerThanNewestStored(t *testing.T) {
	keepAll := retention.Policy{KeepMin: 1000}
	now := base.Add(100 * 24 * time.Hour)
	at1 := snap(1)
	for _, tt := range []struct {
		name string
		src  []replicate.Source
		want []string // names sent
	}{
		{"the newest stored itself", sources(0, 1), nil},
		{"the same time, a greater name: sent incrementally", []replicate.Source{{Name: at1, UUID: "u1"}, {Name: at1 + "-upgrade", UUID: "ul"}}, []string{at1 + "-upgrade"}},
		{"one second before, another UUID: not sent", []replicate.Source{{Name: base.Add(time.Hour - time.Second).Format("20060102T150405Z"), UUID: "x"}, {Name: at1, UUID: "u1"}}, nil},
		{"one second after: sent", []replicate.Source{{Name: at1, UUID: "u1"}, {Name: base.Add(time.Hour + time.Second).Format("20060102T150405Z"), UUID: "x"}},
			[]string{base.Add(time.Hour + time.Second).Format("20060102T150405Z")}},
	} {
		p := Build("@persist", tt.src, manifest("0F 1I0"), keepAll, 0, now)
		var got []string
		for _, s := range p.Sends {
			got = append(got, s.Name)
			if s.Kind != Incremental || s.Parent != at1 {
				t.Errorf("%s: send %+v, want incremental from %s", tt.name, s, at1)
			}
		}
		if strings.Join(got, " ") != strings.Join(tt.want, " ") {
			t.Errorf("%s: Build sends %q, want %q", tt.name, got, tt.want)
		}
	}
}
