package send

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/syscount"
)

// Listing a local target reads its filesystem's root tree and opens none
// of the snapshots it holds: the calls of a whole `list` are the same for
// a target of 1 snapshot and of 151 but for the tree search's batches
// (64 KiB of items each, about 110 subvolumes), where opening each
// snapshot (GET_SUBVOL_INFO) cost five calls per snapshot.
func TestListTargetCallsConstant(t *testing.T) {
	r := newRig(t, "{ keep_min = 100 }")
	r.snapshot(t, map[string][]byte{"f": random(1<<12, 1)})
	r.send(t, 0)
	held := r.targetNames(t, "@persist")
	if len(held) != 1 {
		t.Fatalf("target holds %v, want one snapshot", held)
	}
	count := func(want int) map[string]int {
		t.Helper()
		env, _ := json.Marshal(struct {
			Args []string
			Root string
		}{r.args("list"), r.src.Env.Root})
		cmd := syscount.Self("TestCommitChild", commitChildEnv+"="+string(env))
		var out bytes.Buffer
		cmd.Stdout = &out
		calls := syscount.Run(t, cmd, "ioctl", "openat", "newfstatat", "statx", "getdents64")
		if got := strings.Count(out.String(), "\nusb "); got != want {
			t.Fatalf("list printed %d rows of the target, want %d:\n%s", got, want, out.String())
		}
		n := map[string]int{}
		for _, c := range calls {
			n[strings.TrimSpace(c.Name+" "+c.Request)]++
			if c.Request == "BTRFS_IOC_GET_SUBVOL_INFO" && strings.HasPrefix(c.File, r.root+"/") {
				n["GET_SUBVOL_INFO of a target entry"]++
			}
		}
		return n
	}
	one := count(1)

	fs, err := btrfs.Open(r.dst.Mount)
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	const more = 150
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range more {
		name := base.Add(time.Duration(i) * time.Hour).Format("20060102T150405Z")
		if err := fs.Snapshot(filepath.Join("web1", "@persist", held[0]), filepath.Join("web1", "@persist", name), true); err != nil {
			t.Fatal(err)
		}
	}
	many := count(1 + more)

	t.Logf("calls for 1 snapshot: %v; for %d: %v", one, 1+more, many)
	const search = "ioctl BTRFS_IOC_TREE_SEARCH_V2"
	if d := many[search] - one[search]; d < 0 || d > 1+more/100 {
		t.Errorf("tree searches: %d for 1 snapshot, %d for %d: want at most %d more", one[search], many[search], 1+more, 1+more/100)
	}
	for _, k := range keys(one, many) {
		if k != search && one[k] != many[k] {
			t.Errorf("%s: %d calls for a target of 1 snapshot, %d for %d: want the same", k, one[k], many[k], 1+more)
		}
	}
	if n := many["GET_SUBVOL_INFO of a target entry"]; n != 0 {
		t.Errorf("GET_SUBVOL_INFO of the target's snapshots: %d, want 0", n)
	}
}

func keys(ms ...map[string]int) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range ms {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	return out
}

// The table is what text/tabwriter (padding 2) made of it before: the
// same bytes for no rows, notes, a parent, wide and non-ASCII cells.
func TestListPrintAsTabwriter(t *testing.T) {
	tabwritten := func(l Listing) string {
		var b bytes.Buffer
		tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TARGET\tSUBVOLUME\tSNAPSHOT\tSOURCE\tTARGET\tNOTE")
		yes := map[bool]string{true: "yes", false: "-"}
		for _, r := range l.Rows {
			note := r.Note
			if r.Parent {
				note = strings.TrimPrefix(note+"; parent (newest on both sides)", "; ")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Target, r.Subvolume, r.Name, yes[r.Source], yes[r.OnTarget], note)
		}
		tw.Flush()
		return b.String()
	}
	for _, l := range []Listing{
		{},
		{Rows: []Row{{Target: "usb", Subvolume: "@persist", Name: "20261206T100000Z", Source: true, OnTarget: true, Parent: true}}},
		{Rows: []Row{
			{Target: "a-much-longer-target-name", Subvolume: "@p", Name: "20261206T100000Z", OnTarget: true, Note: "not a received snapshot"},
			{Target: "usb", Subvolume: "@var-lib-services", Name: "20261206T110000Z-vor-dem-Update-ä", Source: true, OnTarget: true, Parent: true, Note: "received from source snapshot 20261206T110000Z"},
			{Target: "usb", Subvolume: "@persist", Name: "20261206T120000Z", Source: true},
		}},
	} {
		var b bytes.Buffer
		l.print(&b)
		if want := tabwritten(l); b.String() != want {
			t.Errorf("table of %d rows:\n%q\nwant\n%q", len(l.Rows), b.String(), want)
		}
	}
}
