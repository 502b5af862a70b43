package overhead

import (
	"context"
	"fmt"
)

// Source reads the file extents of a subvolume tree from transaction
// minTrans on (internal/btrfs through a small adapter; a fake in tests).
type Source interface {
	Extents(id, minTrans uint64, fn func(Extent) error) error
}

// Measurement is the result of Measure.
type Measurement struct {
	Subvolumes []Subvolume `json:"subvolumes"`
	// Walks is the number of trees read, FullWalks how many whole, Items
	// the extent items read.
	Walks     int    `json:"walks"`
	FullWalks int    `json:"full_walks"`
	Items     uint64 `json:"items"`
}

// Measure walks the subvolumes subs of a filesystem laid out as l, as Plan
// says, and returns the overhead of every configured subvolume. It stops
// with ctx's error between two walks.
func Measure(ctx context.Context, src Source, l Layout, subs []Subvol) (Measurement, error) {
	var m Measurement
	t := NewTally(l.Subvolumes)
	for _, w := range Plan(l, subs) {
		if err := ctx.Err(); err != nil {
			return m, err
		}
		t.Begin(w)
		m.Walks++
		if w.MinTrans == 0 {
			m.FullWalks++
		}
		err := src.Extents(w.ID, w.MinTrans, func(e Extent) error {
			t.Add(w, e)
			return nil
		})
		if err != nil {
			return m, fmt.Errorf("overhead: read %s: %w", w.Path, err)
		}
	}
	m.Subvolumes, m.Items = t.Result(), t.Items()
	return m, nil
}
