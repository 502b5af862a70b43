package restorereq

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/server-impermanence/server-impermanence/internal/config"
)

// TestRequestsFile: Put replaces a subvolume's earlier request and keeps
// them sorted; the file round-trips, is removed when empty, and a file of
// another version is refused.
func TestRequestsFile(t *testing.T) {
	top, cfg := t.TempDir(), config.Default()
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	var r Requests
	r.Put(Request{Subvolume: "@srv", Snapshot: "@snapshots/@srv/a", SnapshotID: 300, Requested: at})
	r.Put(Request{Subvolume: "@nix", Snapshot: "@snapshots/@nix/a", SnapshotID: 301, Requested: at})
	r.Put(Request{Subvolume: "@srv", Snapshot: "@snapshots/@srv/b", SnapshotID: 302, Requested: at})
	want := Requests{Version: RequestVersion, Requests: []Request{
		{Subvolume: "@nix", Snapshot: "@snapshots/@nix/a", SnapshotID: 301, Requested: at},
		{Subvolume: "@srv", Snapshot: "@snapshots/@srv/b", SnapshotID: 302, Requested: at},
	}}
	if err := WriteRequests(top, cfg, r); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(top, "old_roots", RequestFile)
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("request file %s: %v, %v; want mode 0600", p, fi, err)
	}
	got, err := ReadRequests(top, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ReadRequests (-want +got):\n%s", diff)
	}
	if !got.Remove("@nix") || got.Remove("@nix") {
		t.Error("Remove(@nix) twice: want true, then false")
	}
	got.Remove("@srv")
	if err := WriteRequests(top, cfg, got); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(p); !os.IsNotExist(err) {
		t.Errorf("empty requests: file still there (%v)", err)
	}
	if none, err := ReadRequests(top, cfg); err != nil || len(none.Requests) != 0 || none.Version != RequestVersion {
		t.Errorf("ReadRequests without a file = %+v, %v", none, err)
	}
	if err := os.WriteFile(p, []byte(`{"version": 2, "requests": []}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadRequests(top, cfg); err == nil || err.Error() != "restore requests "+p+": version 2, want 1" {
		t.Errorf("ReadRequests of version 2 = %v", err)
	}
}
