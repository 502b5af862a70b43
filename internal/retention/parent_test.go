package retention

import (
	"testing"
	"time"
)

// A replication parent is kept whatever the policy, and keeps the other
// rules' verdicts as they were.
func TestSelectKeepsParent(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	snaps := []Snapshot{
		{Name: "a", Time: now.Add(-72 * time.Hour), Parent: true},
		{Name: "b", Time: now.Add(-48 * time.Hour)},
		{Name: "c", Time: now.Add(-24 * time.Hour)},
	}
	got := Select(snaps, Policy{KeepMin: 1}, now)
	want := []string{
		"replication parent: the newest snapshot a target also holds",
		"not the newest of a kept hour, day, week, month or year",
		"keep_min: 1 of the 1 newest",
	}
	for i, d := range got {
		if d.String() != want[i] || d.Keep != (i != 1) {
			t.Errorf("Select()[%d] = %v %q, want keep %v %q", i, d.Keep, d.String(), i != 1, want[i])
		}
	}
	snaps[2].Parent = true
	if d := Select(snaps, Policy{KeepMin: 1}, now)[2]; d.String() != "keep_min: 1 of the 1 newest; replication parent: the newest snapshot a target also holds" {
		t.Errorf("Select() of a parent among the keep_min = %q", d)
	}
}
