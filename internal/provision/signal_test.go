package provision

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStopDuringCaptureLeavesNoTemp: a signal while a capture copies
// (the copy killed; here the context is done when cp would start, the same
// path) removes the unfinished S.provisioning, so the run stops in the
// state before the action; a failure that is no stop keeps it for the
// next run to remove, as a crash does.
func TestStopDuringCaptureLeavesNoTemp(t *testing.T) {
	_, fsys := newHost(t)
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "f"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	stopped, cancel := context.WithCancelCause(context.Background())
	cancel(errors.New("stopped by SIGTERM"))
	for _, tc := range []struct {
		name  string
		ctx   context.Context
		from  string
		stays bool
		want  string
	}{
		{"stopped", stopped, src, false, "removed the unfinished @captured" + TempSuffix},
		{"the source is gone", context.Background(), filepath.Join(src, "missing"), true, "capture "},
	} {
		a := Action{Op: OpCapture, Path: "@captured", From: tc.from, ReadOnly: true}
		err := apply(tc.ctx, fsys, a, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: apply = %v, want an error with %q", tc.name, err, tc.want)
		}
		subs := subvolumes(t, fsys)
		if _, ok := subs["@captured"+TempSuffix]; ok != tc.stays {
			t.Errorf("%s: @captured%s exists %t, want %t", tc.name, TempSuffix, ok, tc.stays)
		}
		if _, ok := subs["@captured"]; ok {
			t.Errorf("%s: @captured exists, want nothing in place", tc.name)
		}
		if tc.stays {
			if _, err := fsys.DeleteRecursive("@captured" + TempSuffix); err != nil {
				t.Fatal(err)
			}
		}
	}
}
