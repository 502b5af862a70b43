package metrics

import (
	"strings"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/names"
)

// span is the count and the time range of a set of names.
type span struct {
	n              int
	oldest, newest time.Time
}

func (s *span) add(t time.Time) {
	if s.n == 0 || t.Before(s.oldest) {
		s.oldest = t
	}
	if s.n == 0 || t.After(s.newest) {
		s.newest = t
	}
	s.n++
}

// countSnapshots counts the entries of a snapshot directory by kind, with
// the entries that are not snapshot names (internal/names decides, as for
// impermanence-snapshot and prune); sidecars (.<name>.json) are not entries.
func countSnapshots(entries []string) (timeline, manual span, other int) {
	for _, n := range entries {
		if strings.HasPrefix(n, ".") {
			continue // sidecar metadata of a manual snapshot (.<name>.json, docs/snapshots.md)
		}
		t, label, ok := names.ParseSnapshot(n)
		switch {
		case !ok:
			other++
		case label == "":
			timeline.add(t)
		default:
			manual.add(t)
		}
	}
	return timeline, manual, other
}
