package exporter

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

// TestListenFailure: an address the exporter cannot listen on (taken, no
// port, not an address) ends it with exit 1 and one line naming the
// address and why, once.
func TestListenFailure(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	root, cfg := fixture(t)
	for _, tc := range []struct{ addr, want string }{
		{taken.Addr().String(), "impermanence-exporter: listen on " + taken.Addr().String() + ": bind: address already in use\n"},
		{"127.0.0.1", "impermanence-exporter: listen on 127.0.0.1: address 127.0.0.1: missing port in address\n"},
		{"127.0.0.1:99999", "impermanence-exporter: listen on 127.0.0.1:99999: address 99999: invalid port\n"},
	} {
		var stderr bytes.Buffer
		code := Run([]string{"--config", cfg, "--no-systemd", "--listen", tc.addr}, Deps{
			Stdout: io.Discard, Stderr: &stderr, Root: root, Now: time.Now,
			Ready: func(string) { t.Errorf("--listen %s: ready", tc.addr) },
		})
		if code != 1 || stderr.String() != tc.want {
			t.Errorf("--listen %s: exit %d, stderr %q; want 1, %q", tc.addr, code, stderr.String(), tc.want)
		}
	}
}
