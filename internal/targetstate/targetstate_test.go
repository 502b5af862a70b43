package targetstate

import (
	"errors"
	"io/fs"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestWriteReadAllParents(t *testing.T) {
	dir := t.TempDir()
	if _, err := Read(dir, "usb"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Read of a missing record = %v, want ErrNotExist", err)
	}
	if all, err := ReadAll(dir); err != nil || len(all) != 0 {
		t.Errorf("ReadAll without records = %v, %v", all, err)
	}
	a := Record{Target: "usb", URL: "/mnt/usb", Time: time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC), SentBytes: 7,
		Subvolumes: map[string]Subvolume{
			"@persist": {Snapshots: []Snapshot{{"20261205T000000Z", "u1"}}, Parent: "20261205T000000Z", ParentUUID: "u1"},
			"@var-log": {},
		}}
	b := Record{Target: "b2", URL: "/mnt/b2", Subvolumes: map[string]Subvolume{
		"@persist": {Parent: "20261201T000000Z"}, "@var-log": {Parent: "20261205T000000Z"}}}
	for _, r := range []Record{a, b} {
		if err := Write(dir, r); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(Path(dir, "broken"), []byte("{"), 0o644)
	all, err := ReadAll(dir)
	if err == nil {
		t.Error("ReadAll with a broken record: no error")
	}
	if diff := cmp.Diff(map[string]Record{"usb": a, "b2": b}, all); diff != "" {
		t.Errorf("ReadAll (-want +got):\n%s", diff)
	}
	want := map[string][]string{"@persist": {"20261201T000000Z", "20261205T000000Z"}, "@var-log": {"20261205T000000Z"}}
	if diff := cmp.Diff(want, Parents(all)); diff != "" {
		t.Errorf("Parents (-want +got):\n%s", diff)
	}
}
