package btrfs

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"
)

func TestShowPathAndErr(t *testing.T) {
	const top = "/proc/4242/fd/3"
	detached.Store(top, "/dev/vdb")
	t.Cleanup(func() { detached.Delete(top) })
	for _, tc := range []struct{ in, want string }{
		{top, "/dev/vdb:/"},
		{top + "/old_roots/.restore-request.json", "/dev/vdb:/old_roots/.restore-request.json"},
		{top + "1/x", top + "1/x"}, // another descriptor
		{"/proc/4243/fd/3/x", "/proc/4243/fd/3/x"},
		{"/mnt/top/old_roots", "/mnt/top/old_roots"},
		{"", ""},
	} {
		if got := ShowPath(tc.in); got != tc.want {
			t.Errorf("ShowPath(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"open " + top + "/old_roots/x: no such file", "open /dev/vdb:/old_roots/x: no such file"},
		{top + "/a is a symbolic link, not a regular file: refused", "/dev/vdb:/a is a symbolic link, not a regular file: refused"},
		{"statfs " + top + ": bad", "statfs /dev/vdb:/: bad"},
		{"rename " + top + "/a " + top + "/b: exists", "rename /dev/vdb:/a /dev/vdb:/b: exists"},
		{"open " + top + "1/x: gone", "open " + top + "1/x: gone"},
		{"nothing of the kind", "nothing of the kind"},
	} {
		base := &fs.PathError{Op: "x", Path: "y", Err: fs.ErrNotExist}
		err := ShowErr(fmt.Errorf("%s: %w", tc.in, base))
		if got := err.Error(); got != tc.want+": x y: file does not exist" {
			t.Errorf("ShowErr(%q) = %q, want %q", tc.in, got, tc.want+": x y: file does not exist")
		}
		var pe *fs.PathError
		if !errors.Is(err, fs.ErrNotExist) || !errors.As(err, &pe) {
			t.Errorf("ShowErr(%q) lost what it wraps: %v", tc.in, err)
		}
	}
	if got, want := ShowText("a "+top+"/x and "+top+"\n"), "a /dev/vdb:/x and /dev/vdb:/\n"; got != want {
		t.Errorf("ShowText = %q, want %q", got, want)
	}
	if ShowErr(nil) != nil {
		t.Error("ShowErr(nil) != nil")
	}
	// Unmounted: shown as it is.
	detached.Delete(top)
	if got := ShowPath(top + "/x"); got != top+"/x" {
		t.Errorf("ShowPath after the unmount = %q, want it as it is", got)
	}
}
