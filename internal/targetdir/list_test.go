package targetdir

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/replicate"
	"github.com/server-impermanence/server-impermanence/internal/syscount"
)

// What List counts as a held snapshot of a subvolume, and what not: only
// subvolumes that are entries of <root>/<sv>/ itself, with their received
// UUID only when btrfs receive made them and they are read-only. The
// root tree walk and the fallback that opens each entry (ListEach, for a
// caller without CAP_SYS_ADMIN) agree on every case.
func TestListIncludesExcludes(t *testing.T) {
	r := newRig(t)
	m, sv := r.fs.Mount, r.dir.Path("@persist", "")
	if _, err := r.receive(snapA, r.stream[snapA], nil); err != nil {
		t.Fatal(err)
	}
	recvInto := func(dir string, stream []byte) {
		t.Helper()
		os.MkdirAll(dir, 0o755)
		cmd := exec.Command("btrfs", "receive", "-q", dir)
		cmd.Stdin = bytes.NewReader(stream)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("btrfs receive %s: %v\n%s", dir, err, out)
		}
	}
	// snapB received, then left writable (a crash during the move).
	if _, err := r.receive(snapB, r.stream[snapB], []btrfs.UUID{mustInfo(t, r.dir.Path("@persist", snapA)).UUID}); err != nil {
		t.Fatal(err)
	}
	setReadOnly(t, r.dir.Path("@persist", snapB), false)
	const (
		notReceived = "20261206T120000Z"
		writable    = "20261206T130000Z"
		plainDir    = "20261206T140000Z"
		link        = "20261206T150000Z"
		deleted     = "20261206T160000Z"
	)
	run(t, "btrfs", "subvolume", "snapshot", "-r", filepath.Join(m, "src"), filepath.Join(sv, notReceived))
	run(t, "btrfs", "subvolume", "create", filepath.Join(sv, writable))
	run(t, "btrfs", "subvolume", "create", filepath.Join(sv, writable, "nested"))
	os.Mkdir(filepath.Join(sv, plainDir), 0o755)
	os.Symlink(snapA, filepath.Join(sv, link))
	os.WriteFile(filepath.Join(sv, "20261206T170000Z"), nil, 0o644)
	// Received snapshots out of place: one directory deeper, under another
	// subvolume's directory, and a transfer's leftover below .incoming.
	recvInto(filepath.Join(sv, "old"), r.stream[snapA])
	recvInto(r.dir.Path("@other", ""), r.stream[snapA])
	recvInto(filepath.Join(r.dir.Root, Incoming, "@persist", "20261206T180000Z"), r.stream[snapA])
	// Deleted and committed while a descriptor holds it: its ROOT_ITEM
	// waits for the cleaner with refs 0.
	run(t, "btrfs", "subvolume", "create", filepath.Join(sv, deleted))
	hold, err := os.Open(filepath.Join(sv, deleted))
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Close()
	run(t, "btrfs", "subvolume", "delete", "-c", filepath.Join(sv, deleted))

	want := []replicate.Held{
		{Name: snapA, ReceivedUUID: r.uuids[snapA].String()},
		{Name: snapB},
		{Name: notReceived},
		{Name: writable},
	}
	wantOther := []replicate.Held{{Name: snapA, ReceivedUUID: r.uuids[snapA].String()}}
	for _, tc := range []struct {
		name string
		list func(string) ([]replicate.Held, error)
	}{{"List", r.dir.List}, {"ListEach", r.dir.ListEach}} {
		for sv, want := range map[string][]replicate.Held{"@persist": want, "@other": wantOther, "@none": {}, "@persist/old": wantOther} {
			got, err := tc.list(sv)
			if err != nil {
				t.Errorf("%s(%s): %v", tc.name, sv, err)
				continue
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s(%s) (-want +got):\n%s", tc.name, sv, diff)
			}
		}
	}

	// UUIDs: of every subvolume List counts, received or not.
	uuids, err := r.dir.UUIDs("@persist")
	if err != nil {
		t.Fatal(err)
	}
	var wantUUIDs []btrfs.UUID
	for _, h := range want {
		wantUUIDs = append(wantUUIDs, mustInfo(t, r.dir.Path("@persist", h.Name)).UUID)
	}
	if !slices.Equal(uuids, wantUUIDs) {
		t.Errorf("UUIDs = %v, want %v", uuids, wantUUIDs)
	}

	// Repair makes read-only again only the received one left writable
	// (without CAP_SYS_ADMIN: TestListWithoutCapSysAdmin).
	fixed, err := r.dir.Repair("@persist")
	if err != nil || !slices.Equal(fixed, []string{snapB}) {
		t.Errorf("Repair = %v, %v; want [%s]", fixed, err, snapB)
	}
	if info := mustInfo(t, r.dir.Path("@persist", writable)); info.ReadOnly {
		t.Errorf("Repair made %s read-only: it was not received", writable)
	}
	if fixed, err := r.dir.Repair("@none"); err != nil || len(fixed) != 0 {
		t.Errorf("Repair of a missing directory = %v, %v", fixed, err)
	}
	want[1].ReceivedUUID = r.uuids[snapB].String()
	if got, err := r.dir.List("@persist"); err != nil || !slices.Equal(got, want) {
		t.Errorf("after Repair: %v, %v; want %v", got, err, want)
	}
	setReadOnly(t, r.dir.Path("@persist", snapB), false)
	want[1].ReceivedUUID = ""

	// ListAll: each subvolume's own result or error, in the order asked.
	os.WriteFile(filepath.Join(r.dir.Root, "@file"), nil, 0o644)
	held, errs := r.dir.ListAll([]string{"@other", "@file", "@none", "@persist", "@other"})
	if diff := cmp.Diff([][]replicate.Held{wantOther, nil, {}, want, wantOther}, held); diff != "" {
		t.Errorf("ListAll (-want +got):\n%s", diff)
	}
	for i, err := range errs {
		if (err != nil) != (i == 1) {
			t.Errorf("ListAll: error %d: %v", i, err)
		}
	}
	if errs[1] == nil || !strings.Contains(errs[1].Error(), "@file") {
		t.Errorf("ListAll of a file: %v, want an error naming it", errs[1])
	}
}

func mustInfo(t *testing.T, p string) btrfs.Subvolume {
	t.Helper()
	info, err := Info(p)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// setReadOnly sets the flag by the ioctl (btrfs property set would clear
// the received UUID with it).
func setReadOnly(t *testing.T, p string, ro bool) {
	t.Helper()
	d, err := btrfs.OpenDir(p)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.SetReadOnly(ro); err != nil {
		t.Fatal(err)
	}
}

const listChildEnv = "TARGETDIR_LIST_CHILD"

// listed is what TestListChild reports.
type listed struct {
	Held      []replicate.Held
	Fixed     []string
	Err       string
	SearchErr string // of the root tree walk, which the child may not do
}

// TestListChild is the process of TestListWithoutCapSysAdmin: List and
// Repair of one subvolume, as JSON on stdout.
func TestListChild(t *testing.T) {
	var c struct{ Root, Subvolume string }
	if err := json.Unmarshal([]byte(os.Getenv(listChildEnv)), &c); err != nil {
		t.Skip("child process only")
	}
	d := Dir{Root: c.Root}
	var out listed
	var err error
	if bd, err := btrfs.OpenDir(d.Path(c.Subvolume, "")); err == nil {
		if _, err := bd.Children(); err != nil {
			out.SearchErr = err.Error()
		}
		bd.Close()
	}
	if out.Fixed, err = d.Repair(c.Subvolume); err == nil {
		out.Held, err = d.List(c.Subvolume)
	}
	if err != nil {
		out.Err = err.Error()
	}
	json.NewEncoder(os.Stdout).Encode(out)
	os.Exit(0)
}

// Without CAP_SYS_ADMIN (the root tree walk refused) List and Repair
// open each entry instead, with the same result.
func TestListWithoutCapSysAdmin(t *testing.T) {
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("setpriv (util-linux) not found")
	}
	r := newRig(t)
	if _, err := r.receive(snapA, r.stream[snapA], nil); err != nil {
		t.Fatal(err)
	}
	if _, err := r.receive(snapB, r.stream[snapB], []btrfs.UUID{mustInfo(t, r.dir.Path("@persist", snapA)).UUID}); err != nil {
		t.Fatal(err)
	}
	setReadOnly(t, r.dir.Path("@persist", snapB), false)
	run(t, "btrfs", "subvolume", "snapshot", "-r", filepath.Join(r.fs.Mount, "src"), r.dir.Path("@persist", "20261206T120000Z"))
	arg, _ := json.Marshal(struct{ Root, Subvolume string }{r.dir.Root, "@persist"})
	cmd := exec.Command(setpriv, "--bounding-set", "-sys_admin", "--", os.Args[0], "-test.run=^TestListChild$", "-test.count=1", "-test.v=false")
	cmd.Env = append(os.Environ(), listChildEnv+"="+string(arg))
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, b)
	}
	var got listed
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("child: %v\n%s", err, b)
	}
	if !strings.Contains(got.SearchErr, "tree search: operation not permitted") { // the INO_LOOKUP before it needs no privilege
		t.Fatalf("the child's root tree walk: %q, want it refused (the test needs a child without CAP_SYS_ADMIN)", got.SearchErr)
	}
	want := listed{
		Held: []replicate.Held{
			{Name: snapA, ReceivedUUID: r.uuids[snapA].String()},
			{Name: snapB, ReceivedUUID: r.uuids[snapB].String()},
			{Name: "20261206T120000Z"},
		},
		Fixed:     []string{snapB},
		SearchErr: got.SearchErr,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("without CAP_SYS_ADMIN (-want +got):\n%s", diff)
	}
	if held, err := r.dir.List("@persist"); err != nil || !slices.Equal(held, want.Held) {
		t.Errorf("with it: %v, %v", held, err)
	}
}

// The receiver's list verb (Repair, then List) makes the same calls for a
// subvolume of 1 snapshot and of 151, but for the tree search's batches
// (64 KiB of items, about 110 subvolumes each); it opens none of them.
func TestListCallsConstant(t *testing.T) {
	r := newRig(t)
	if _, err := r.receive(snapA, r.stream[snapA], nil); err != nil {
		t.Fatal(err)
	}
	arg, _ := json.Marshal(struct{ Root, Subvolume string }{r.dir.Root, "@persist"})
	count := func(want int) map[string]int {
		t.Helper()
		cmd := syscount.Self("TestListChild", listChildEnv+"="+string(arg))
		var out bytes.Buffer
		cmd.Stdout = &out
		calls := syscount.Run(t, cmd, "ioctl", "openat", "newfstatat", "statx", "getdents64")
		var got listed
		if err := json.Unmarshal(out.Bytes(), &got); err != nil || got.Err != "" || len(got.Held) != want {
			t.Fatalf("child: %v: %s", err, out.Bytes())
		}
		n := map[string]int{}
		for _, c := range calls {
			if strings.HasPrefix(c.File, r.dir.Path("@persist", "")+"/") {
				n["on an entry: "+c.Name+" "+c.Request]++
			}
			n[strings.TrimSpace(c.Name+" "+c.Request)]++
		}
		return n
	}
	one := count(1)
	const more = 150
	for i := range more {
		run(t, "btrfs", "subvolume", "snapshot", "-r", r.dir.Path("@persist", snapA), r.dir.Path("@persist", fmt.Sprintf("20260101T%06dZ", i)))
	}
	many := count(1 + more)
	t.Logf("calls for 1 snapshot: %v; for %d: %v", one, 1+more, many)
	// Three walks of the root tree: the child's own Children, Repair's and
	// List's.
	const search, walks = "ioctl BTRFS_IOC_TREE_SEARCH_V2", 3
	if d := many[search] - one[search]; d < 0 || d > walks*(1+more/100) {
		t.Errorf("tree searches: %d for 1 snapshot, %d for %d: want at most %d more", one[search], many[search], 1+more, walks*(1+more/100))
	}
	for k := range many {
		if k != search && one[k] != many[k] {
			t.Errorf("%s: %d calls for 1 snapshot, %d for %d: want the same", k, one[k], many[k], 1+more)
		}
	}
}
