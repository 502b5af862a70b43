package overhead

import (
	"math"
	"slices"
)

// Extent is one file extent item as the walk reads it.
type Extent struct {
	// Bytenr is the data extent's logical address: its identity, shared
	// by every item that references it. 0 for a hole or an inline extent.
	Bytenr uint64
	// Inline marks data stored in the item itself (DiskBytes of it).
	Inline bool
	// DiskBytes is the extent's size on disk (compressed); RAMBytes its
	// uncompressed size; NumBytes how much of it the item references.
	DiskBytes, RAMBytes, NumBytes uint64
}

// Usage is compsize's three figures for a set of files: Disk, the bytes on
// disk of the distinct extents; Uncompressed, their size uncompressed;
// Referenced, the bytes the files reference (a shared extent once per
// reference, a partly referenced extent in part).
type Usage struct {
	Disk         uint64 `json:"disk_bytes"`
	Uncompressed uint64 `json:"uncompressed_bytes"`
	Referenced   uint64 `json:"referenced_bytes"`
}

// Subvolume is the overhead of one configured subvolume.
type Subvolume struct {
	Name string `json:"subvolume"`
	// Live is the live subvolume alone (zero when it does not exist).
	Live      Usage `json:"live"`
	Snapshots int   `json:"snapshots"`
	Archives  int   `json:"archives"`
	// Exclusive is the bytes on disk of the extents only its snapshots and
	// archives hold; ExclusiveUncompressed their uncompressed size.
	Exclusive             uint64 `json:"exclusive_bytes"`
	ExclusiveUncompressed uint64 `json:"exclusive_uncompressed_bytes"`
	// Walks and FullWalks count the trees read for its snapshots and
	// archives, and how many of them whole.
	Walks     int `json:"walks"`
	FullWalks int `json:"full_walks"`
}

// Ratio is the overhead: Exclusive / Live.Disk; +Inf when snapshots hold
// data and the live subvolume none, 0 when neither does.
func (s Subvolume) Ratio() float64 { return ratio(s.Exclusive, s.Live.Disk, 0) }

// CompressionRatio is Live.Uncompressed / Live.Disk: 2 when compression
// halves the data; 1 for an empty subvolume.
func (s Subvolume) CompressionRatio() float64 { return ratio(s.Live.Uncompressed, s.Live.Disk, 1) }

func ratio(num, den uint64, empty float64) float64 {
	switch {
	case den > 0:
		return float64(num) / float64(den)
	case num > 0:
		return math.Inf(1)
	}
	return empty
}

// Over reports whether the overhead exceeds budget percent.
func (s Subvolume) Over(budgetPercent int) bool {
	return s.Ratio() > float64(budgetPercent)/100
}

// held is an extent some snapshot or archive references.
type held struct {
	disk, ram uint64
	groups    []int // indexes in Tally.groups, ascending
}

// group is the running tally of one configured subvolume.
type group struct {
	Subvolume
	live map[uint64]struct{} // extents of the live subvolume seen
}

// Tally adds up the extents of the walks of a Plan. Feed it every walk's
// extents (Add), kept ones first or not, then read Result.
type Tally struct {
	groups []*group
	index  map[string]int
	kept   map[uint64]struct{}
	held   map[uint64]*held
	items  uint64
}

// NewTally returns an empty tally for the configured subvolumes names.
func NewTally(names []string) *Tally {
	t := &Tally{index: map[string]int{}, kept: map[uint64]struct{}{}, held: map[uint64]*held{}}
	for _, n := range names {
		if _, dup := t.index[n]; dup {
			continue
		}
		t.index[n] = len(t.groups)
		t.groups = append(t.groups, &group{Subvolume: Subvolume{Name: n}, live: map[uint64]struct{}{}})
	}
	return t
}

// Begin counts walk w before its extents are added.
func (t *Tally) Begin(w Walk) {
	g, ok := t.group(w.Group)
	if !ok {
		return
	}
	switch w.Role {
	case Snapshot:
		g.Snapshots++
	case Archive:
		g.Archives++
	default:
		return
	}
	g.Walks++
	if w.MinTrans == 0 {
		g.FullWalks++
	}
}

func (t *Tally) group(name string) (*group, bool) {
	i, ok := t.index[name]
	if !ok {
		return nil, false
	}
	return t.groups[i], true
}

// Add adds one extent item read by walk w.
func (t *Tally) Add(w Walk, e Extent) {
	t.items++
	if !e.Inline && e.Bytenr == 0 {
		return // a hole
	}
	switch w.Role {
	case Live, Other:
		if w.Role == Live {
			if g, ok := t.group(w.Group); ok {
				g.addLive(e)
			}
		}
		if !e.Inline {
			t.kept[e.Bytenr] = struct{}{}
		}
	case Snapshot, Archive:
		i, ok := t.index[w.Group]
		if !ok || e.Inline {
			return
		}
		h := t.held[e.Bytenr]
		if h == nil {
			h = &held{disk: e.DiskBytes, ram: e.RAMBytes}
			t.held[e.Bytenr] = h
		}
		if j, found := slices.BinarySearch(h.groups, i); !found {
			h.groups = slices.Insert(h.groups, j, i)
		}
	}
}

// addLive adds e to the live figures as compsize does: every reference to
// Referenced, each distinct extent once to Disk and Uncompressed, inline
// data with its stored size.
func (g *group) addLive(e Extent) {
	g.Live.Referenced += e.NumBytes
	if e.Inline {
		g.Live.Disk += e.DiskBytes
		g.Live.Uncompressed += e.RAMBytes
		return
	}
	if _, seen := g.live[e.Bytenr]; seen {
		return
	}
	g.live[e.Bytenr] = struct{}{}
	g.Live.Disk += e.DiskBytes
	g.Live.Uncompressed += e.RAMBytes
}

// Items returns the number of extent items added.
func (t *Tally) Items() uint64 { return t.items }

// Result returns every configured subvolume's overhead, in the order
// NewTally was given. An extent that snapshots of two subvolumes hold
// (a reflink copy between them) counts for both.
func (t *Tally) Result() []Subvolume {
	out := make([]Subvolume, len(t.groups))
	for i, g := range t.groups {
		out[i] = g.Subvolume
	}
	for bytenr, h := range t.held {
		if _, ok := t.kept[bytenr]; ok {
			continue
		}
		for _, i := range h.groups {
			out[i].Exclusive += h.disk
			out[i].ExclusiveUncompressed += h.ram
		}
	}
	return out
}
