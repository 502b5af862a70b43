package receive

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/server-impermanence/server-impermanence/internal/replicate"
	"github.com/server-impermanence/server-impermanence/internal/retention"
)

func TestLoadConfig(t *testing.T) {
	p, err := LoadConfig("r.toml", []byte("[retention]\ndaily = 14\nweekly = 8\nmin_age = \"1d\"\n"))
	want := retention.Policy{Daily: 14, Weekly: 8, KeepMin: 1, MinAge: 24 * time.Hour, Location: time.Local}
	if err != nil || p.Location != time.Local || fmt.Sprint(p.Hourly, p.Daily, p.Weekly, p.Monthly, p.Yearly, p.KeepMin, p.MinAge) != fmt.Sprint(want.Hourly, want.Daily, want.Weekly, want.Monthly, want.Yearly, want.KeepMin, want.MinAge) {
		t.Errorf("LoadConfig = %+v, %v; want %+v", p, err, want)
	}
	for in, msg := range map[string]string{
		"[retention]\ndaily = 14\ndialy = 3\n": "r.toml:3:1: unknown key retention.dialy",
		"[retention]\ndaily = \"x\"\n":         "r.toml:2:",
		"[retention]\ndaily = -1\n":            "retention.daily = -1: must be 0..100000",
		"[retention]\nkeep_min = 0\n":          "keep_min = 0: a target keeps at least one",
		"[retention]\nmin_age = \"soon\"\n":    "retention.min_age",
		"[other]\n":                            "r.toml:1:2: unknown key other",
	} {
		if _, err := LoadConfig("r.toml", []byte(in)); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("LoadConfig(%q) = %v, want %q", in, err, msg)
		}
	}
}

func TestPrunePlan(t *testing.T) {
	now := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	held := []replicate.Held{
		{Name: "20261201T100000Z", ReceivedUUID: "u1"},
		{Name: "20261205T100000Z", ReceivedUUID: "u2"},
		{Name: "20261206T100000Z-pre-upgrade", ReceivedUUID: "u3"},
		{Name: "20261203T100000Z"}, // not received: never touched
		{Name: "hand-made", ReceivedUUID: "u4"},
	}
	got := PrunePlan("@persist", held, retention.Policy{KeepMin: 1}, now)
	var lines []string
	for _, v := range got {
		lines = append(lines, v.Name+" "+map[bool]string{true: "delete", false: "keep"}[v.Delete])
	}
	want := []string{
		"20261206T100000Z-pre-upgrade keep", // the newest: the client's next parent; manual too
		"20261205T100000Z delete",           // keep_min counts the manual one
		"20261201T100000Z delete",
		"20261203T100000Z keep",
		"hand-made keep",
	}
	if diff := cmp.Diff(want, lines); diff != "" {
		t.Errorf("PrunePlan (-want +got):\n%s\n%+v", diff, got)
	}
}

// --prune deletes on the backup host what its own retention does not
// keep, never the newest snapshot, and audits each deletion.
func TestPrune(t *testing.T) {
	r := newRig(t)
	for _, s := range snaps {
		if code := r.request(t, "receive @persist "+s+" "+r.uuid[s], r.stream[s]); code != 0 {
			t.Fatal(r.err.String())
		}
	}
	cfg := filepath.Join(t.TempDir(), "receive.toml")
	os.WriteFile(cfg, []byte("[retention]\nkeep_min = 1\n"), 0o644)
	if code := r.request(t, "", nil, "--prune", "--config", cfg, "--dry-run"); code != 0 {
		t.Fatalf("dry run: exit %d\n%s", code, r.err.String())
	}
	if got, _ := os.ReadDir(filepath.Join(r.root, "@persist")); len(got) != 3 {
		t.Fatalf("the dry run deleted: %v", got)
	}
	if code := r.request(t, "", nil, "--prune", "--config", cfg); code != 0 {
		t.Fatalf("prune: exit %d\n%s", code, r.err.String())
	}
	want := "keep @persist/20261203T100000Z (keep_min: 1 of the 1 newest; replication parent: the newest snapshot a target also holds)\n" +
		"deleted @persist/20261202T100000Z (not the newest of a kept hour, day, week, month or year)\n" +
		"deleted @persist/20261201T100000Z (not the newest of a kept hour, day, week, month or year)\n"
	if r.out.String() != want {
		t.Errorf("prune output:\n%s\nwant\n%s", r.out.String(), want)
	}
	if got, _ := os.ReadDir(filepath.Join(r.root, "@persist")); len(got) != 1 || got[0].Name() != snaps[2] {
		t.Errorf("after prune: %v", got)
	}
	evs := r.events(t)
	if tail := evs[len(evs)-2:]; !cmp.Equal(tail, []string{"target-delete success /@persist/" + snaps[1], "target-delete success /@persist/" + snaps[0]}) {
		t.Errorf("audit: %v", tail)
	}
}
