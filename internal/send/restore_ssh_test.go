package send

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/server-impermanence/server-impermanence/internal/targetdir"
)

// impermanence-restore --from-target over SSH: the backup host's
// impermanence-receive (its forced command exactly as the docs give it)
// answers the send request, incrementally from a snapshot both sides hold,
// plain and through zstd; every send is in the backup host's audit log.
func TestRestoreFromSSHTarget(t *testing.T) {
	for _, tc := range []struct{ name, extra string }{{"plain", ""}, {"zstd", "compress = \"zstd\"\n"}} {
		t.Run(tc.name, func(t *testing.T) {
			r := newSSHRig(t, tc.extra)
			var snaps []string
			for i := range 2 {
				snaps = append(snaps, r.snapshot(t, map[string][]byte{"f" + string(rune('0'+i)): random(512<<10, uint64(90+i)), "etc/conf": []byte(tc.name + string(rune('0'+i)))}))
				r.send(t, 0)
			}
			snapDir := filepath.Join(r.src.FS.Mount, "@snapshots/@persist")
			uuid := subvolUUID(t, filepath.Join(snapDir, snaps[1]))
			want := tree(t, filepath.Join(snapDir, snaps[1]))
			r.deleteSnapshots(t, snaps[1])
			fetch := "fetch @snapshots/@persist/" + snaps[1] + " from usb (incremental from " + snaps[0] + ", which this server holds as @snapshots/@persist/" + snaps[0] + ": the newest older snapshot both sides hold)\n"
			if got := r.restoreFrom(t, 0, snaps[1], "--dry-run"); got != "would "+fetch {
				t.Errorf("dry run:\n%s", got)
			}
			if out := r.restoreFrom(t, 0, snaps[1]); !strings.HasPrefix(out, fetch) {
				t.Errorf("restore:\n%s", out)
			}
			info, err := targetdir.Info(filepath.Join(snapDir, snaps[1]))
			if err != nil || !info.ReadOnly || info.ReceivedUUID.String() != uuid {
				t.Errorf("fetched: %+v %v; want read-only, received UUID %s", info, err, uuid)
			}
			if got := tree(t, filepath.Join(r.src.FS.Mount, "@persist")); !mapsEqual(got, want) {
				t.Errorf("@persist after the restore differs from the snapshot")
			}
			sends := 0
			for _, e := range r.events(t) {
				if e.Action == "send" && e.Result == "success" && e.Path == filepath.Join(r.root, "@persist", snaps[1]) {
					sends++
				}
			}
			if sends != 1 {
				t.Errorf("%d send events in the backup host's audit log, want 1: %+v", sends, r.events(t))
			}
			// A snapshot the root does not hold: refused by the host.
			r.restoreFrom(t, 1, "20300101T000000Z")
			if !strings.Contains(r.src.Err.String(), "the target holds no snapshot 20300101T000000Z") {
				t.Errorf("missing snapshot: %s", r.src.Err)
			}
		})
	}
}
