package send

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/audit"
	"github.com/server-impermanence/server-impermanence/internal/btrfstest"
	"github.com/server-impermanence/server-impermanence/internal/receive"
	"github.com/server-impermanence/server-impermanence/internal/targetdir"
	"github.com/server-impermanence/server-impermanence/internal/targetstate"
)

// sshRig is a rig whose target is a backup host over real OpenSSH.
type sshRig struct {
	*rig
	host *backupHost
}

func newSSHRig(t *testing.T, extra string, opts ...btrfstest.Option) *sshRig {
	t.Helper()
	dst := btrfstest.New(t, opts...)
	h := newBackupHost(t, filepath.Join(dst.Mount, "web1"))
	r := newRigTo(t, "{ keep_min = 100 }", func(string) string {
		return fmt.Sprintf("url = %q\nidentity_file = %q\n%s", h.url(), h.key, extra)
	}, dst)
	return &sshRig{rig: r, host: h}
}

// setConfig replaces key = value lines of the target in the config.
func (r *sshRig) setTarget(t *testing.T, line string) {
	b, _ := os.ReadFile(r.config)
	s := strings.Replace(string(b), "subvolumes = [\"@persist\"]\n", line+"\nsubvolumes = [\"@persist\"]\n", 1)
	os.WriteFile(r.config, []byte(s), 0o644)
}

// visible checks that everything in <root>/@persist is a whole backup.
func (r *rig) visible(t *testing.T, when string) []string {
	t.Helper()
	names := r.targetNames(t, "@persist")
	for _, name := range names {
		info, err := targetdir.Info(filepath.Join(r.root, "@persist", name))
		if err != nil || !info.ReadOnly || info.ReceivedUUID.IsZero() {
			t.Fatalf("%s: target @persist/%s: %+v %v; want read-only with a received UUID", when, name, info, err)
		}
	}
	return names
}

func (r *sshRig) events(t *testing.T) []audit.Event {
	evs, err := audit.Read(filepath.Join(r.root, receive.AuditLog))
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func TestSSHFullAndIncrementals(t *testing.T) {
	r := newSSHRig(t, "")
	s1 := r.snapshot(t, map[string][]byte{"etc/ssh/key": []byte("secret\n"), "big": random(4<<20, 1)})
	if got := r.send(t, 0, "--dry-run"); got != "usb: would send @persist/"+s1+" (full: no snapshot both sides hold)\n" {
		t.Errorf("dry run:\n%s", got)
	}
	out := r.send(t, 0)
	if !strings.HasPrefix(out, "usb: sent @persist/"+s1+" (full: no snapshot both sides hold), ") {
		t.Errorf("first send:\n%s", out)
	}
	r.checkSame(t, s1)
	snaps := []string{s1}
	for i, extra := range []string{`compress = "zstd"`, `rate_limit = "200M"`, ""} {
		if extra != "" {
			r.setTarget(t, extra)
		}
		s := r.snapshot(t, map[string][]byte{fmt.Sprintf("file%d", i): random(256<<10, uint64(i+2)), "etc/ssh/key": []byte(fmt.Sprint("secret", i))})
		out := r.send(t, 0)
		want := fmt.Sprintf("usb: sent @persist/%s (incremental from %s, the newest snapshot both sides hold before it), ", s, snaps[len(snaps)-1])
		if !strings.HasPrefix(out, want) {
			t.Errorf("incremental %d (%s):\n%s\nwant prefix %s", i, extra, out, want)
		}
		snaps = append(snaps, s)
	}
	r.checkSame(t, snaps...)
	if got := r.send(t, 0); got != "usb: up to date\n" {
		t.Errorf("caught up:\n%s", got)
	}
	if got := r.visible(t, "after the sends"); !slices.Equal(got, snaps) {
		t.Errorf("target holds %v, want %v", got, snaps)
	}
	rec, err := targetstate.Read(r.src.Env.StateDir(), "usb")
	if err != nil {
		t.Fatal(err)
	}
	if sv := rec.Subvolumes["@persist"]; len(sv.Snapshots) != 4 || sv.Parent != snaps[3] || rec.SentBytes < 4<<20 {
		t.Errorf("target record: %+v", rec)
	}
	r.src.Reset()
	if code := Run(context.Background(), r.args("list"), r.src.Env); code != 0 {
		t.Fatalf("list: exit %d\n%s", code, r.src.Err)
	}
	if lines := strings.Split(strings.TrimSpace(r.src.Out.String()), "\n"); len(lines) != 5 || !strings.HasSuffix(lines[4], snaps[3]+"  yes     yes     parent (newest on both sides)") {
		t.Errorf("list:\n%s", r.src.Out)
	}
	r.src.Reset()
	if code := Run(context.Background(), append([]string{"verify"}, r.args()...), r.src.Env); code != 0 || r.src.Out.String() != "usb @persist: ok (4 received snapshots, parent "+snaps[3]+")\n" {
		t.Errorf("verify: exit %d\n%s%s", code, r.src.Out, r.src.Err)
	}
	var got []string
	for _, e := range r.events(t) {
		got = append(got, e.Action+" "+e.Result+" "+filepath.Base(e.Path))
	}
	want := []string{}
	for _, s := range snaps {
		want = append(want, "receive success "+s)
	}
	if !slices.Equal(got, want) {
		t.Errorf("backup host's audit log: %v, want %v", got, want)
	}
}

// With the server's own key, nothing but list and add: deleting,
// overwriting and escaping the root are refused and audited, and change
// nothing.
func TestSSHAppendOnly(t *testing.T) {
	r := newSSHRig(t, "")
	s1 := r.snapshot(t, map[string][]byte{"a": []byte("a")})
	r.send(t, 0)
	s2 := r.snapshot(t, map[string][]byte{"b": []byte("b")})
	// A stream of s2, to try to overwrite s1 with it and to smuggle it
	// elsewhere.
	p := filepath.Join(r.src.FS.Mount, "@snapshots/@persist")
	stream, err := exec.Command("btrfs", "send", "-q", "-p", filepath.Join(p, s1), filepath.Join(p, s2)).Output()
	if err != nil {
		t.Fatal(err)
	}
	info, _ := targetdir.Info(filepath.Join(p, s2))
	os.Symlink("/etc", filepath.Join(r.root, "@evil"))
	before := len(r.events(t))
	var wantEv []string
	for _, tc := range []struct {
		req, stderr, event string
		stdin              []byte
	}{
		{req: "delete @persist " + s1, stderr: "append-only", event: "request refused"},
		{req: "prune @persist", stderr: "append-only", event: "request refused"},
		{req: "rename @persist " + s1 + " x", stderr: "append-only", event: "request refused"},
		{req: "receive @persist " + s1 + " " + info.UUID.String(), stdin: stream, stderr: "nothing is overwritten", event: "receive refused @persist"},
		{req: "list ../..", stderr: `".." is not`, event: "request refused"},
		{req: "receive ../../etc " + s2 + " " + info.UUID.String(), stdin: stream, stderr: `".." is not`, event: "request refused"},
		{req: "list /etc", stderr: `component "" is not`, event: "request refused"},
		{req: "receive /tmp " + s2 + " " + info.UUID.String(), stdin: stream, stderr: `component "" is not`, event: "request refused"},
		{req: "list @evil", stderr: "is a symbolic link", event: "list refused @evil"},
		{req: "receive @evil " + s2 + " " + info.UUID.String(), stdin: stream, stderr: "is a symbolic link", event: "receive refused @evil"},
		{req: "cat /etc/shadow", stderr: "unknown request", event: "request refused"},
	} {
		cmd := r.host.ssh(tc.req)
		var stdout, stderr bytes.Buffer
		cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(tc.stdin), &stdout, &stderr
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(stderr.String(), "refused: ") || !strings.Contains(stderr.String(), tc.stderr) || stdout.Len() != 0 {
			t.Errorf("%q over SSH: %v, stdout %q, stderr %q; want exit 1 and %q", tc.req, err, stdout.String(), stderr.String(), tc.stderr)
		}
		wantEv = append(wantEv, tc.event)
	}
	var got []string
	for _, e := range r.events(t)[before:] {
		got = append(got, strings.TrimSpace(e.Action+" "+e.Result+" "+e.Subvolume))
	}
	if !slices.Equal(got, wantEv) {
		t.Errorf("audited:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantEv, "\n"))
	}
	if got := r.visible(t, "after the refusals"); !slices.Equal(got, []string{s1}) {
		t.Errorf("the target holds %v, want [%s]", got, s1)
	}
	r.checkSame(t, s1)
	if _, err := os.Lstat("/etc/" + s2); err == nil {
		t.Errorf("a snapshot landed in /etc")
	}
	// Forwarding is refused by restrict: a connection to the host's own
	// sshd through it fails.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fwd := exec.CommandContext(ctx, "ssh", "-o", "BatchMode=yes", "-i", r.host.key, "-o", "IdentitiesOnly=yes", "-W", "127.0.0.1:22", "root@127.0.0.1")
	if out, err := fwd.CombinedOutput(); err == nil || !strings.Contains(string(out), "forwarding failed") {
		t.Errorf("forwarding over the key: %v\n%s", err, out)
	}
	// The server's own send after all that: s2, incrementally.
	if out := r.send(t, 0); !strings.Contains(out, "sent @persist/"+s2+" (incremental from "+s1) {
		t.Errorf("send after the refusals:\n%s", out)
	}
	r.checkSame(t, s2)
}

// receiverPIDs returns the running impermanence-receive processes of the
// rig's backup host that serve a receive request.
func (h *backupHost) receiverPIDs() []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); exe != h.receiver {
			continue
		}
		env, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if bytes.Contains(env, []byte("SSH_ORIGINAL_COMMAND=receive ")) {
			out = append(out, pid)
		}
	}
	return out
}

// waitReceiver waits up to limit for a receiver serving a receive request.
func (h *backupHost) waitReceiver(limit time.Duration) []int {
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if pids := h.receiverPIDs(); len(pids) > 0 {
			return pids
		}
	}
	return nil
}

// SIGKILL of the sender, then of the receiver, at random points: nothing
// partial is ever visible on the target, the next run completes, and the
// chain stays incremental.
func TestSSHSIGKILL(t *testing.T) {
	if os.Getenv("SEND_TEST_CHILD") != "" {
		t.Skip("child")
	}
	r := newSSHRig(t, "")
	base := r.snapshot(t, map[string][]byte{"base": random(1<<20, 9)})
	r.send(t, 0)
	const kills = 20
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
	var seed uint64 = 1000
	next := func() string {
		seed++
		return r.snapshot(t, map[string][]byte{fmt.Sprintf("big%d", seed): random(4<<20, seed)})
	}
	after := func(side string, i int) {
		t.Helper()
		// A receiver whose sender was killed may still be finishing or
		// failing: look once it has ended.
		for deadline := time.Now().Add(10 * time.Second); len(r.host.receiverPIDs()) > 0 && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		r.visible(t, fmt.Sprintf("%s kill %d", side, i))
		out := r.send(t, 0)
		if strings.Contains(out, "full:") {
			t.Errorf("%s kill %d: the chain broke, a full send:\n%s", side, i, out)
		}
		if left := r.targetNames(t, ".incoming/@persist"); len(left) != 0 {
			t.Errorf("%s kill %d: debris left after the next run: %v", side, i, left)
		}
	}
	start := time.Now()
	var delays []string
	for i := range kills {
		s := next()
		cmd := exec.Command(os.Args[0], "-test.run=^TestSendChild$")
		env, _ := json.Marshal(r.args())
		cmd.Env = append(os.Environ(), "SEND_TEST_CHILD="+string(env), "SEND_TEST_ROOT="+r.src.Env.Root)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Every other kill at a random time from the start (the listing,
		// the connection), the others at a random time after the stream
		// began, whatever the speed of the machine.
		d := time.Duration(rng.IntN(300)) * time.Millisecond
		if i%2 == 1 {
			r.host.waitReceiver(5 * time.Second)
			d = time.Duration(rng.IntN(40)) * time.Millisecond
			delays = append(delays, fmt.Sprintf("stream+%v", d))
		} else {
			delays = append(delays, d.String())
		}
		time.Sleep(d)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		after("sender", i)
		r.checkSame(t, s)
	}
	senderTime := time.Since(start)
	// Receiver kills until kills of them hit a running receiver (a fast
	// machine finishes some transfers before the kill), at most twice as
	// many runs.
	killed, runs := 0, 0
	for i := 0; killed < kills && i < 2*kills; i++ {
		runs++
		s := next()
		d := time.Duration(rng.IntN(40)) * time.Millisecond
		done := make(chan struct{})
		go func() {
			defer close(done)
			if pids := r.host.waitReceiver(5 * time.Second); len(pids) > 0 {
				time.Sleep(d)
				for _, pid := range pids {
					if syscall.Kill(pid, syscall.SIGKILL) == nil {
						killed++
					}
				}
			}
		}()
		r.src.Reset()
		code := Run(context.Background(), r.args(), r.src.Env)
		<-done
		if code == 0 && !strings.Contains(r.src.Out.String(), "sent @persist/"+s) {
			t.Errorf("receiver kill %d: exit 0 without sending %s:\n%s", i, s, r.src.Out)
		}
		after("receiver", i)
		r.checkSame(t, s)
	}
	r.checkSame(t, base)
	t.Logf("sender kills at %v: %.1f s; %d receivers killed in %d runs; total %.1f s", delays, senderTime.Seconds(), killed, runs, time.Since(start).Seconds())
	if killed < kills {
		t.Errorf("only %d receiver kills in %d runs hit a running receiver, want %d", killed, runs, kills)
	}
}

// A full target: a clean failure, the source untouched, and the next run
// after space is freed completes, incrementally. With zstd on the
// connection: both sides' zstd must end when the other side failed.
func TestSSHTargetFull(t *testing.T) {
	r := newSSHRig(t, "compress = \"zstd\"\n", btrfstest.Size(256<<20))
	s1 := r.snapshot(t, map[string][]byte{"small": random(1<<20, 5)})
	r.send(t, 0)
	// Fill the target to about 40 MiB free, then send 100 MiB.
	filler := filepath.Join(r.dst.Mount, "filler")
	var st syscall.Statfs_t
	syscall.Statfs(r.dst.Mount, &st)
	free := int64(st.Bavail) * st.Bsize
	if out, err := exec.Command("fallocate", "-l", strconv.FormatInt(free-40<<20, 10), filler).CombinedOutput(); err != nil {
		t.Fatalf("fallocate: %v\n%s", err, out)
	}
	exec.Command("sync").Run()
	s2 := r.snapshot(t, map[string][]byte{"huge": random(100<<20, 6)})
	srcBefore := tree(t, filepath.Join(r.src.FS.Mount, "@snapshots/@persist", s2))
	out := r.send(t, 1)
	if !strings.Contains(out, "FAILED") || !strings.Contains(r.src.Err.String()+out, "No space left on device") {
		t.Errorf("send to a full target:\n%s%s", out, r.src.Err)
	}
	if got := r.visible(t, "after ENOSPC"); !slices.Equal(got, []string{s1}) {
		t.Errorf("the target holds %v after ENOSPC, want [%s]", got, s1)
	}
	if !mapsEqual(srcBefore, tree(t, filepath.Join(r.src.FS.Mount, "@snapshots/@persist", s2))) {
		t.Errorf("the source snapshot changed")
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	exec.Command("btrfs", "filesystem", "sync", r.dst.Mount).Run()
	out = r.send(t, 0)
	if !strings.Contains(out, "sent @persist/"+s2+" (incremental from "+s1) {
		t.Errorf("send after freeing space:\n%s", out)
	}
	r.checkSame(t, s1, s2)
}
