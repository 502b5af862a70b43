package sshclient

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/receiveproto"
)

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

// TestCommandCompression: a request whose stream is zstd-compressed turns
// ssh's own compression off (an ssh_config may turn it on); the others
// leave ssh's configuration alone.
func TestCommandCompression(t *testing.T) {
	c := New(config.Target{Name: "b", IdentityFile: "/k"}, config.SSH{User: "root", Host: "backup1", Port: 2222}, t.TempDir())
	for _, tc := range []struct {
		req  receiveproto.Request
		want bool
	}{
		{receiveproto.Request{Verb: receiveproto.Receive, Subvolume: "@persist", Name: "n", UUID: "u", Compress: receiveproto.Zstd}, true},
		{receiveproto.Request{Verb: receiveproto.Send, Subvolume: "@persist", Name: "n", Compress: receiveproto.Zstd}, true},
		{receiveproto.Request{Verb: receiveproto.Receive, Subvolume: "@persist", Name: "n", UUID: "u"}, false},
		{receiveproto.Request{Verb: receiveproto.List, Subvolume: "@persist"}, false},
	} {
		args := c.Command(context.Background(), tc.req).Args
		i := slices.Index(args, "Compression=no")
		if got := i > 0 && args[i-1] == "-o"; got != tc.want {
			t.Errorf("%s: -o Compression=no in %q: %v, want %v", tc.req.String(), args, got, tc.want)
		}
		// The options come before the destination and the request.
		if d := slices.Index(args, "--"); i > d && d >= 0 {
			t.Errorf("%s: -o Compression=no after --: %q", tc.req.String(), args)
		}
		if last := args[len(args)-1]; last != tc.req.String() || !strings.HasPrefix(last, tc.req.Verb) {
			t.Errorf("%s: last argument %q", tc.req.String(), last)
		}
	}
}
