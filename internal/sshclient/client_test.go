package sshclient

import "testing"

func TestSocketName(t *testing.T) {
	long := "backup-host-in-the-other-datacenter"
	for in, want := range map[string]string{"usb": "usb", "sixteen-bytes-ab": "sixteen-bytes-ab", long: SocketName(long)} {
		if got := SocketName(in); got != want || len(got) > 16 {
			t.Errorf("SocketName(%q) = %q, want %q (at most 16 bytes)", in, got, want)
		}
	}
	if got := SocketName(long); got[0] != '_' || got == SocketName(long+"x") {
		t.Errorf("SocketName of long names: %q, %q", got, SocketName(long+"x"))
	}
}
