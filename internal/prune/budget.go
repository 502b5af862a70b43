package prune

import (
	"context"
	"fmt"
	"slices"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/overhead"
	"github.com/server-impermanence/server-impermanence/internal/overhead/fsoverhead"
)

// spaceBudget applies each subvolume's space_budget (of its retention) to
// p: for each snapshotted subvolume whose storage overhead, once p's deletions are
// done, exceeds the budget, the oldest timeline snapshots the retention
// keeps, beyond its keep_min newest, are deleted too, as few as meet it
// (overhead.Trim measures what each choice would leave). Manual snapshots,
// writable ones, names the suite did not make and the parents replication
// targets need are never candidates.
func spaceBudget(ctx context.Context, fsys *btrfs.FS, cfg *config.Config, p *Plan) error {
	if !slices.ContainsFunc(cfg.Subvolumes, func(s config.Subvolume) bool { return s.Snapshot && s.Retention.SpaceBudget > 0 }) {
		return nil
	}
	l, subs, err := fsoverhead.Inputs(fsys, cfg)
	if err != nil {
		return fmt.Errorf("space budget: %w", err)
	}
	src := fsoverhead.Source{FS: fsys}
	// measure returns the overhead of sv once p's deletions and extra are gone.
	measure := func(sv string, extra []int) (float64, error) {
		gone := map[uint64]bool{}
		for _, it := range p.Items {
			if it.Delete {
				gone[it.ID] = true
			}
		}
		for _, i := range extra {
			gone[p.Items[i].ID] = true
		}
		left := slices.DeleteFunc(slices.Clone(subs), func(s overhead.Subvol) bool { return gone[s.ID] })
		m, err := overhead.Measure(ctx, src, l, left)
		if err != nil {
			return 0, err
		}
		for _, r := range m.Subvolumes {
			if r.Name == sv {
				return r.Ratio(), nil
			}
		}
		return 0, nil
	}
	for _, sv := range cfg.Subvolumes {
		// Each subvolume's own budget (its policy's, or [snapshots]'s).
		budgetPct := sv.Retention.SpaceBudget
		if !sv.Snapshot || budgetPct <= 0 {
			continue
		}
		budget := float64(budgetPct) / 100
		// Kept timeline snapshots, newest first (p's order), past keep_min.
		var cand []int
		kept := 0
		for i, it := range p.Items {
			if it.Kind != KindSnapshot || it.Subvolume != sv.Name || it.Delete || it.Label != "" || it.Time.IsZero() ||
				it.Reason == reasonWritable || it.Reason == reasonUnknown || len(it.Parent) > 0 {
				continue
			}
			if kept++; kept > sv.Retention.KeepMin {
				cand = append(cand, i)
			}
		}
		slices.Reverse(cand) // oldest first
		k, ratio, met, err := overhead.Trim(len(cand), budget, func(k int) (float64, error) { return measure(sv.Name, cand[:k]) })
		if err != nil {
			return fmt.Errorf("space budget of %s: %w", sv.Name, err)
		}
		for _, i := range cand[:k] {
			p.Items[i].Delete = true
			p.Items[i].Reason = fmt.Sprintf("space budget: the snapshots and archives of %s hold more than %d %% of its live data alone; deleting the %d oldest timeline snapshots beyond keep_min leaves %.1f %%",
				sv.Name, budgetPct, k, 100*ratio)
		}
		if !met {
			p.Warnings = append(p.Warnings, fmt.Sprintf("%s: the space budget of %d %% cannot be met by deleting timeline snapshots beyond keep_min: %.1f %% would remain",
				sv.Name, budgetPct, 100*ratio))
		}
	}
	return nil
}
