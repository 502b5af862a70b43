package send

import "testing"

func TestSocketName(t *testing.T) {
	long := "backup-host-in-the-other-datacenter"
	for in, want := range map[string]string{"usb": "usb", "sixteen-bytes-ab": "sixteen-bytes-ab", long: socketName(long)} {
		if got := socketName(in); got != want || len(got) > 16 {
			t.Errorf("socketName(%q) = %q, want %q (at most 16 bytes)", in, got, want)
		}
	}
	if got := socketName(long); got[0] != '_' || got == socketName(long+"x") {
		t.Errorf("socketName of long names: %q, %q", got, socketName(long+"x"))
	}
}
