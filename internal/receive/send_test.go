package receive

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/targetdir"
)

// receiveAll stores every snapshot of the rig in the root.
func (r *rig) receiveAll(t *testing.T) {
	t.Helper()
	for _, s := range snaps {
		if code := r.request(t, "receive @persist "+s+" "+r.uuid[s], r.stream[s]); code != 0 {
			t.Fatalf("receive %s: exit %d\n%s", s, code, r.err.String())
		}
	}
}

// The send request gives back what was received: in full and relative to
// a parent, plain and through zstd; each stream applies on another
// filesystem to a subvolume with the source's UUID as its received UUID
// and the same files. Every send is audited.
func TestSend(t *testing.T) {
	r := newRig(t)
	r.receiveAll(t)
	dst := filepath.Join(r.fs.Mount, "back")
	os.MkdirAll(dst, 0o755)
	for i, tc := range []struct {
		req, name string
	}{
		{"send @persist " + snaps[0] + " -", snaps[0]},
		{"send @persist " + snaps[1] + " " + snaps[0] + " zstd", snaps[1]},
		{"send @persist " + snaps[2] + " " + snaps[1], snaps[2]},
	} {
		if code := r.request(t, tc.req, nil); code != 0 {
			t.Fatalf("%q: exit %d\n%s", tc.req, code, r.err.String())
		}
		stream := r.out.Bytes()
		if strings.HasSuffix(tc.req, " zstd") {
			cmd := exec.Command("zstd", "-d", "-c", "-q")
			cmd.Stdin = bytes.NewReader(stream)
			var err error
			if stream, err = cmd.Output(); err != nil {
				t.Fatalf("%q: zstd -d: %v", tc.req, err)
			}
		}
		cmd := exec.Command("btrfs", "receive", "-e", dst)
		cmd.Stdin = bytes.NewReader(stream)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%q: btrfs receive: %v\n%s", tc.req, err, b)
		}
		info, err := targetdir.Info(filepath.Join(dst, tc.name))
		if err != nil || info.ReceivedUUID.String() != r.uuid[tc.name] || !info.ReadOnly {
			t.Errorf("%q: fetched %+v, %v; want read-only, received UUID %s", tc.req, info, err, r.uuid[tc.name])
		}
		// The source wrote file snaps[j] with byte j before snapshot j.
		for j, s := range snaps[:i+1] {
			if got, err := os.ReadFile(filepath.Join(dst, tc.name, s)); err != nil || !bytes.Equal(got, bytes.Repeat([]byte{byte(j)}, 1000)) {
				t.Errorf("%q: file %s: %d bytes, %v", tc.req, s, len(got), err)
			}
		}
	}
	want := []string{"receive success /@persist/" + snaps[0], "receive success /@persist/" + snaps[1], "receive success /@persist/" + snaps[2],
		"send success /@persist/" + snaps[0], "send success /@persist/" + snaps[1], "send success /@persist/" + snaps[2]}
	if diff := cmp.Diff(want, r.events(t)); diff != "" {
		t.Errorf("audit (-want +got):\n%s", diff)
	}
}

// A send reads only a snapshot received whole, directly below the root:
// every other request is refused, audited, and writes nothing to stdout.
func TestSendRefusals(t *testing.T) {
	r := newRig(t)
	r.receiveAll(t)
	m := r.fs.Mount
	// A writable subvolume, a read-only one btrfs receive did not make,
	// a directory, a symbolic link to a received snapshot, a symbolic
	// link above one, all under snapshot names.
	run(t, "btrfs", "subvolume", "create", filepath.Join(r.root, "@persist", "20261210T100000Z"))
	run(t, "btrfs", "subvolume", "snapshot", "-r", filepath.Join(m, "src"), filepath.Join(r.root, "@persist", "20261211T100000Z"))
	os.Mkdir(filepath.Join(r.root, "@persist", "20261212T100000Z"), 0o755)
	os.Symlink(snaps[0], filepath.Join(r.root, "@persist", "20261213T100000Z"))
	os.Symlink(filepath.Join(r.root, "@persist"), filepath.Join(r.root, "@evil"))
	// What a transfer in progress looks like.
	in := filepath.Join(r.root, targetdir.Incoming, "@persist", "20261214T100000Z")
	os.MkdirAll(in, 0o700)
	run(t, "btrfs", "subvolume", "snapshot", "-r", filepath.Join(m, "src"), filepath.Join(in, "20261214T100000Z"))
	p := "/@persist/"
	for _, tc := range []struct {
		name, req, stderr, event string
	}{
		{"dot-dot subvolume", "send ../web2/@persist " + snaps[0] + " -", `component ".." is not`, "request refused "},
		{"dot-dot name", "send @persist ../../etc -", "is not a snapshot name", "request refused "},
		{"absolute subvolume", "send /etc " + snaps[0] + " -", `component "" is not`, "request refused "},
		{"absolute name", "send @persist /etc/shadow -", "is not a snapshot name", "request refused "},
		{"absolute parent", "send @persist " + snaps[1] + " /srv/backup/web2/@persist/" + snaps[0], "is not the name of another snapshot", "request refused "},
		{"the incoming area", "send .incoming/@persist 20261214T100000Z -", `component ".incoming" is not`, "request refused "},
		{"symbolic link above", "send @evil " + snaps[0] + " -", "is a symbolic link", "send refused /@evil"},
		{"symbolic link", "send @persist 20261213T100000Z -", "is a symbolic link", "send refused " + p + "20261213T100000Z"},
		{"writable subvolume", "send @persist 20261210T100000Z -", "is not read-only", "send refused " + p + "20261210T100000Z"},
		{"not received", "send @persist 20261211T100000Z -", "was not made by btrfs receive", "send refused " + p + "20261211T100000Z"},
		{"directory", "send @persist 20261212T100000Z -", "is not a subvolume", "send refused " + p + "20261212T100000Z"},
		{"missing", "send @persist 20261215T100000Z -", "holds no snapshot", "send refused " + p + "20261215T100000Z"},
		{"missing subvolume", "send @other " + snaps[0] + " -", "holds no snapshot", "send refused /@other/" + snaps[0]},
		{"writable parent", "send @persist " + snaps[1] + " 20261210T100000Z", "parent: ", "send refused " + p + snaps[1]},
		{"linked parent", "send @persist " + snaps[1] + " 20261213T100000Z", "parent: ", "send refused " + p + snaps[1]},
		{"no such verb", "cat @persist " + snaps[0], "unknown request", "request refused "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(r.events(t))
			code := r.request(t, tc.req, nil)
			if code != job.ExitFailure || !strings.Contains(r.err.String(), "refused: ") || !strings.Contains(r.err.String(), tc.stderr) || r.out.Len() != 0 {
				t.Errorf("%q: exit %d, %d bytes on stdout, stderr %q; want 1, nothing, %q", tc.req, code, r.out.Len(), r.err.String(), tc.stderr)
			}
			evs := r.events(t)
			if len(evs) != before+1 || evs[before] != tc.event {
				t.Errorf("%q: audit %v, want a last event %q", tc.req, evs[before:], tc.event)
			}
		})
	}
	// Nothing was deleted or changed.
	r.request(t, "list @persist", nil)
	for _, s := range snaps {
		if !strings.Contains(r.out.String(), "snapshot "+s+" "+r.uuid[s]+"\n") {
			t.Errorf("after the refusals the root lists\n%s", r.out.String())
		}
	}
}
