package restore

import (
	"fmt"
	"slices"
	"strings"

	"github.com/server-impermanence/server-impermanence/internal/names"
	"github.com/server-impermanence/server-impermanence/internal/replicate"
)

// Held is one read-only snapshot of the subvolume the server holds in
// <snapshots dir>/<subvolume>/, for a fetch from a btrfs target.
type Held struct {
	Name string
	// UUID is its subvolume UUID; ReceivedUUID is "" for one not
	// received (a snapshot the server took itself).
	UUID, ReceivedUUID string
}

// Fetch is what a fetch from a btrfs target does (planFetch).
type Fetch struct {
	// UUID is what the fetched snapshot's received UUID must be: the
	// target copy's received UUID, the UUID of the snapshot the server
	// once sent.
	UUID string
	// Parent is the snapshot both sides hold that the stream is relative
	// to (its name on the target), "" for a full send; Local is the
	// server's copy of it.
	Parent, Local string
	// Why says why the send is full or incremental from Parent.
	Why string
}

// planFetch decides how snapshot want of a subvolume comes back from a
// btrfs target that holds target: incremental from a snapshot both sides
// hold, matched by UUID (the target copy's received UUID is the UUID of
// the server's snapshot it was sent from, or the received UUID of one the
// server fetched earlier; a name alone proves nothing), the newest one
// older than want, else the oldest newer one; in full when there is none.
// Pure.
func planFetch(target []replicate.Held, server []Held, want string) (Fetch, error) {
	i := slices.IndexFunc(target, func(h replicate.Held) bool { return h.Name == want })
	switch {
	case i < 0:
		var have []string
		for _, h := range target {
			have = append(have, h.Name)
		}
		if len(have) == 0 {
			return Fetch{}, fmt.Errorf("the target holds no snapshot %s (it holds none of this subvolume)", want)
		}
		return Fetch{}, fmt.Errorf("the target holds no snapshot %s (it holds %s)", want, strings.Join(have, ", "))
	case target[i].ReceivedUUID == "":
		return Fetch{}, fmt.Errorf("the target's %s was not received whole (no received UUID, or not read-only): it is no copy of a snapshot", want)
	}
	f := Fetch{UUID: target[i].ReceivedUUID}
	byUUID := map[string]string{}
	for _, h := range server {
		if h.ReceivedUUID != "" {
			byUUID[h.ReceivedUUID] = h.Name
		}
	}
	// A snapshot the server took itself wins over a fetched copy of it.
	for _, h := range server {
		byUUID[h.UUID] = h.Name
	}
	wantTime, _, _ := names.ParseSnapshot(want)
	var older, newer *replicate.Held
	for j := range target {
		h := &target[j]
		if j == i || h.ReceivedUUID == "" || byUUID[h.ReceivedUUID] == "" || h.ReceivedUUID == f.UUID {
			continue
		}
		t, _, ok := names.ParseSnapshot(h.Name)
		if !ok {
			continue
		}
		switch {
		case t.Before(wantTime) || t.Equal(wantTime) && h.Name < want:
			if older == nil || later(h.Name, older.Name) {
				older = h
			}
		case newer == nil || later(newer.Name, h.Name):
			newer = h
		}
	}
	switch {
	case older != nil:
		f.Parent, f.Local = older.Name, byUUID[older.ReceivedUUID]
		f.Why = "the newest older snapshot both sides hold"
	case newer != nil:
		f.Parent, f.Local = newer.Name, byUUID[newer.ReceivedUUID]
		f.Why = "no older snapshot both sides hold; the oldest newer one"
	default:
		f.Why = "the server holds no snapshot of this subvolume the target holds"
	}
	return f, nil
}

// later reports whether snapshot name a is later than b.
func later(a, b string) bool {
	ta, _, _ := names.ParseSnapshot(a)
	tb, _, _ := names.ParseSnapshot(b)
	return ta.After(tb) || ta.Equal(tb) && a > b
}
