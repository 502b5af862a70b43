// Package scrubpass is the progress of a scrub pass across runs: a full
// pass over a large filesystem spans several runs of impermanence-maintain,
// each stopping at its time budget, and the next run resumes each device
// where the last stopped. The pass lives in its own file in the state
// directory (scrub-pass.json, written atomically), apart from the job's
// state record, so that a record written by a run that could not even start
// never loses the resume offsets, and the exporter reads the progress and
// the time of the last full pass from it.
package scrubpass

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/safefile"
	"github.com/server-impermanence/server-impermanence/internal/state"
)

// File is the pass's file name in the state directory.
const File = "scrub-pass.json"

// maxPass bounds the file when reading.
const maxPass = 1 << 20

// Path returns the pass file in the state directory dir.
func Path(dir string) string { return filepath.Join(dir, File) }

// Device is one member device in the pass.
type Device struct {
	DevID uint64 `json:"devid"`
	// Resume is the physical offset the next run starts at.
	Resume uint64 `json:"resume"`
	// Done: the device was scrubbed to its end in this pass.
	Done bool `json:"done"`
	// Scrubbed sums the progress of every run of this pass: the work done,
	// which counts again a dev extent a run was stopped in (the next run
	// scrubs it from its beginning).
	Scrubbed btrfs.ScrubProgress `json:"scrubbed"`
	// Allocated is the device's allocated bytes (its dev extents) at the
	// last run, Verified those in dev extents scrubbed to their end in this
	// pass (all of them once Done).
	Allocated uint64 `json:"allocated"`
	Verified  uint64 `json:"verified"`
}

// Measure sets Allocated and Verified from the device's dev extents: those
// that end at or before Resume were scrubbed whole.
func (d *Device) Measure(extents []btrfs.DevExtent) {
	d.Allocated, d.Verified = 0, 0
	for _, e := range extents {
		d.Allocated += e.Length
		if d.Done || e.Offset+e.Length <= d.Resume {
			d.Verified += e.Length
		}
	}
}

// Pass is the current (or last, once Done) scrub pass.
type Pass struct {
	// Started is the start of the pass's first run.
	Started time.Time `json:"started"`
	// Runs counts the runs that scrubbed in this pass.
	Runs    int      `json:"runs"`
	Devices []Device `json:"devices"`
	// LastCompleted is when the last full pass ended: this one once Done,
	// else the one before (zero before the first).
	LastCompleted time.Time `json:"last_completed,omitzero"`
}

// Done reports whether every device of the pass was scrubbed to its end.
func (p Pass) Done() bool {
	if len(p.Devices) == 0 {
		return false
	}
	for _, d := range p.Devices {
		if !d.Done {
			return false
		}
	}
	return true
}

// BytesScrubbed is the work of the pass so far, data and metadata of every
// device (a stopped dev extent counts once per run that read it).
func (p Pass) BytesScrubbed() uint64 {
	var n uint64
	for _, d := range p.Devices {
		n += d.Scrubbed.DataBytesScrubbed + d.Scrubbed.TreeBytesScrubbed
	}
	return n
}

// Progress is the fraction of the pass done: 1 once Done, else the
// allocated bytes verified over the allocated bytes, below 1.
func (p Pass) Progress() float64 {
	if p.Done() {
		return 1
	}
	var verified, allocated uint64
	for _, d := range p.Devices {
		verified += d.Verified
		allocated += d.Allocated
	}
	if allocated == 0 {
		return 0
	}
	return min(float64(verified)/float64(allocated), 0.999)
}

// Next returns the pass a run starting at now works on, given the
// filesystem's member devices: the same pass, with devices added since
// starting at 0 and removed ones dropped; or, once p is done (or there is
// none), a new pass from the start of every device.
func Next(p Pass, devids []uint64, now time.Time) Pass {
	if p.Done() || len(p.Devices) == 0 {
		p = Pass{Started: now.UTC(), LastCompleted: p.LastCompleted}
	}
	var devs []Device
	for _, id := range devids {
		i := slices.IndexFunc(p.Devices, func(d Device) bool { return d.DevID == id })
		if i >= 0 {
			devs = append(devs, p.Devices[i])
		} else {
			devs = append(devs, Device{DevID: id})
		}
	}
	p.Devices = devs
	return p
}

// Read returns the pass in the state directory dir; a missing file is
// fs.ErrNotExist.
func Read(dir string) (Pass, error) {
	b, err := safefile.ReadFile(Path(dir), maxPass)
	if err != nil {
		return Pass{}, err
	}
	var p Pass
	if err := json.Unmarshal(b, &p); err != nil {
		return Pass{}, fmt.Errorf("read scrub pass %s: %w", Path(dir), err)
	}
	return p, nil
}

// Write replaces the pass in dir atomically, creating dir if needed.
func Write(dir string, p Pass) error {
	b, err := json.MarshalIndent(p, "", "  ")
	if err == nil {
		// Durable: the time of the last complete pass feeds an alert.
		err = safefile.Replace(Path(dir), append(b, '\n'), safefile.Perm{File: state.FileMode, Dir: state.DirMode}, safefile.Durable)
	}
	if err != nil {
		return fmt.Errorf("write scrub pass %s: %w", Path(dir), err)
	}
	return nil
}
