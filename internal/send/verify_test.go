package send

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/server-impermanence/server-impermanence/internal/replicate"
	"github.com/server-impermanence/server-impermanence/internal/targetstate"
)

func TestVerifyChain(t *testing.T) {
	src := []replicate.Source{{Name: "20261201T000000Z", UUID: "u1"}, {Name: "20261202T000000Z", UUID: "u2"}, {Name: "20261203T000000Z", UUID: "u3"}}
	rec := targetstate.Subvolume{Parent: "20261202T000000Z", ParentUUID: "u2",
		Snapshots: []targetstate.Snapshot{{Name: "20261201T000000Z", ReceivedUUID: "u1"}, {Name: "20261202T000000Z", ReceivedUUID: "u2"}}}
	both := []replicate.Held{{Name: "20261201T000000Z", ReceivedUUID: "u1"}, {Name: "20261202T000000Z", ReceivedUUID: "u2"}}
	for _, tc := range []struct {
		name       string
		src        []replicate.Source
		held       []replicate.Held
		appendOnly bool
		want       Check
	}{
		{name: "whole", src: src, held: both,
			want: Check{Held: 2, Parent: "20261202T000000Z"}},
		{name: "older one gone", src: src, held: both[1:],
			want: Check{Held: 1, Parent: "20261202T000000Z", Problems: []string{"20261201T000000Z (received from u1) was on the target at the last send and is gone"}}},
		{name: "older one pruned by the backup host", src: src, held: both[1:], appendOnly: true,
			want: Check{Held: 1, Parent: "20261202T000000Z", Notes: []string{"20261201T000000Z (received from u1) was on the target at the last send and is gone (the backup host's retention)"}}},
		{name: "parent gone from the target", src: src, held: both[:1], appendOnly: true,
			want: Check{Held: 1, Parent: "20261201T000000Z", Problems: []string{"the parent of the last send, 20261202T000000Z, is gone from the target"}}},
		{name: "parent gone from the source", src: []replicate.Source{src[0], src[2]}, held: both,
			want: Check{Held: 2, Parent: "20261201T000000Z", Problems: []string{"the parent of the last send, 20261202T000000Z, is gone from the source"}}},
		{name: "nothing in common", src: src[2:], held: []replicate.Held{{Name: "20261203T000000Z", ReceivedUUID: "other"}, {Name: "hand-made"}},
			want: Check{Held: 1, Problems: []string{
				"the parent of the last send, 20261202T000000Z, is gone from the target",
				"no snapshot both sides hold: the next send is a full one",
				"20261201T000000Z (received from u1) was on the target at the last send and is gone"},
				Notes: []string{"hand-made is not a received read-only snapshot: never touched"}}},
	} {
		tc.want.Target, tc.want.Subvolume = "usb", "@persist"
		got := verifyChain("usb", "@persist", tc.src, tc.held, rec, tc.appendOnly)
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
}

// verify on a real local target: the chain holds after the sends, and
// breaks when the parent is deleted on the target.
func TestVerifyLocal(t *testing.T) {
	r := newRig(t, "{ keep_min = 100 }")
	var snaps []string
	for i := range 3 {
		snaps = append(snaps, r.snapshot(t, map[string][]byte{fmt.Sprint(i): []byte("x")}))
		r.send(t, 0)
	}
	verify := func(want int) string {
		r.src.Reset()
		args := append([]string{"verify"}, r.args()...)
		if code := Run(context.Background(), args, r.src.Env); code != want {
			t.Fatalf("verify: exit %d, want %d\n%s%s", code, want, r.src.Out, r.src.Err)
		}
		return r.src.Out.String()
	}
	if got, want := verify(0), "usb @persist: ok (3 received snapshots, parent "+snaps[2]+")\n"; got != want {
		t.Errorf("verify:\n%s\nwant\n%s", got, want)
	}
	if out, err := exec.Command("btrfs", "subvolume", "delete", filepath.Join(r.root, "@persist", snaps[2])).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	got := verify(1)
	want := "usb @persist: BROKEN (2 received snapshots, parent " + snaps[1] + ")\n" +
		"usb @persist: problem: the parent of the last send, " + snaps[2] + ", is gone from the target\n"
	if got != want {
		t.Errorf("verify after deleting the parent on the target:\n%s\nwant\n%s", got, want)
	}
	// The next send repairs it: incremental from the older common one.
	if out := r.send(t, 0); !strings.Contains(out, "sent @persist/"+snaps[2]+" (incremental from "+snaps[1]) {
		t.Errorf("send after the loss:\n%s", out)
	}
	verify(0)
}
