package prune

import (
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/server-impermanence/server-impermanence/internal/targetstate"
)

// KeepParents keeps every snapshot a replication target needs as the parent
// of its next incremental send (the newest snapshot both sides hold, from
// the targets' records), whatever the retention said.
func KeepParents(p *Plan, snapshotsDir string, records map[string]targetstate.Record) {
	need := map[string][]string{} // path → targets
	for _, name := range slices.Sorted(maps.Keys(records)) {
		for sv, st := range records[name].Subvolumes {
			if st.Parent != "" {
				k := path.Join(snapshotsDir, sv, st.Parent)
				need[k] = append(need[k], name)
			}
		}
	}
	for i := range p.Items {
		it := &p.Items[i]
		targets, ok := need[it.Path]
		if !ok || it.Kind != KindSnapshot {
			continue
		}
		it.Parent = targets
		why := "replication parent of target " + strings.Join(targets, ", ") + ": the newest snapshot it also holds"
		if it.Delete {
			it.Delete, it.Reason = false, why
		} else {
			it.Reason += "; " + why
		}
	}
}
