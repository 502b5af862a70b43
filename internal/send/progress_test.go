package send

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/server-impermanence/server-impermanence/internal/human"
	"github.com/server-impermanence/server-impermanence/internal/progress"
	"github.com/server-impermanence/server-impermanence/internal/restore"
	"github.com/server-impermanence/server-impermanence/internal/streamstore"
)

// terminal is a pseudo-terminal: a command writes to slave (its stderr)
// and the test reads what a person would see from master.
type terminal struct {
	master, slave *os.File
	mu            sync.Mutex
	out           []byte
	done          chan struct{}
}

// openTerminal opens a pseudo-terminal cols wide with output
// post-processing off (a newline stays a newline, so the test sees the
// bytes written).
func openTerminal(t *testing.T, cols int) *terminal {
	t.Helper()
	t.Setenv("TERM", "xterm") // whatever the test's: a terminal that redraws
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	fd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock the pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pseudo-terminal number: %v", err)
	}
	slave, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open the pseudo-terminal's slave: %v", err)
	}
	tio, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	tio.Oflag &^= unix.OPOST
	if err := unix.IoctlSetTermios(int(slave.Fd()), unix.TCSETS, tio); err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: uint16(cols)}); err != nil {
		t.Fatal(err)
	}
	term := &terminal{master: master, slave: slave, done: make(chan struct{})}
	go func() {
		defer close(term.done)
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			term.mu.Lock()
			term.out = append(term.out, buf[:n]...)
			term.mu.Unlock()
			if err != nil { // EIO once the slave is closed
				return
			}
		}
	}()
	t.Cleanup(func() { term.close() })
	return term
}

// close closes the slave and returns everything written to it.
func (p *terminal) close() string {
	if p.slave != nil {
		p.slave.Close()
		p.slave = nil
		<-p.done
		p.master.Close()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return string(p.out)
}

// draws splits terminal output into what each carriage return draws.
func draws(out string) []string { return strings.Split(out, "\r") }

// checkDraws checks that every line drawn fits width-1 columns.
func checkDraws(t *testing.T, out string, width int) {
	t.Helper()
	for _, d := range draws(out) {
		for _, l := range strings.Split(d, "\n") {
			if strings.HasPrefix(l, "time=") { // a log line, drawn above the status line
				continue
			}
			if n := utf8.RuneCountInString(strings.TrimRight(l, " ")); n > width-1 {
				t.Errorf("a status line of %d columns on a %d-column terminal: %q", n, width, l)
			}
		}
	}
}

// wantDrawn checks that out has a draw starting with each prefix, in
// order.
func wantDrawn(t *testing.T, out string, prefixes ...string) {
	t.Helper()
	ds, i := draws(out), 0
	for _, p := range prefixes {
		for i < len(ds) && !strings.HasPrefix(ds[i], p) {
			i++
		}
		if i == len(ds) {
			t.Errorf("no status line %q (in order) on the terminal:\n%q", p, out)
			return
		}
		i++
	}
}

// On a terminal, a send to each kind of target draws the progress line of
// every snapshot (the target, subvolume and snapshot, i of N) and ends it
// with a final line; the log lines of a run without a journal go above it;
// stdout has the report only.
func TestProgressOnATerminal(t *testing.T) {
	id, _ := newIdentity(t)
	kinds := []struct {
		name   string
		rig    func(t *testing.T) *rig
		target string
	}{
		{"local btrfs", func(t *testing.T) *rig { return newRig(t, "{ keep_min = 100 }") }, "usb"},
		{"stream", func(t *testing.T) *rig {
			return newStreamRig(t, "{ keep_min = 100 }", fmt.Sprintf("recipients = [%q]\n", id.Recipient().String()))
		}, "vault"},
		// The rate limit stretches the full send over about 2 s: the line is
		// redrawn with the bytes growing.
		{"ssh", func(t *testing.T) *rig { return newSSHRig(t, "rate_limit = \"4M\"\n").rig }, "usb"},
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			r := k.rig(t)
			s1 := r.snapshot(t, map[string][]byte{"big": random(8<<20, 7)})
			s2 := r.snapshot(t, map[string][]byte{"small": random(64<<10, 8)})
			term := openTerminal(t, 80)
			r.src.Reset()
			r.src.Env.Stderr = term.slave
			code := Run(context.Background(), r.args(), r.src.Env)
			out := term.close()
			if code != 0 {
				t.Fatalf("send: exit %d\n%s%s", code, r.src.Out, out)
			}
			prefix := k.target + " @persist/"
			wantDrawn(t, out,
				prefix+s1+"  1/2 0B 0:00",
				prefix+s1+"  1/2 sent ",
				prefix+s2+"  2/2 0B 0:00",
				prefix+s2+"  2/2 sent ")
			final := regexp.MustCompile(`\r` + regexp.QuoteMeta(prefix) + `(\S+)  (\d)/2 sent (\S+) in \d+:\d\d, (\S+)/s *\n`)
			if got := final.FindAllStringSubmatch(out, -1); len(got) != 2 || got[0][1] != s1 || got[1][1] != s2 {
				t.Errorf("final lines %q, want one per snapshot:\n%q", got, out)
			}
			checkDraws(t, out, 80)
			if k.name == "ssh" {
				var running []string
				for _, d := range draws(out) {
					if strings.HasPrefix(d, prefix+s1+"  1/2 ") && strings.HasSuffix(strings.TrimRight(d, " "), "/s 0:01") {
						running = append(running, d)
					}
				}
				if len(running) < 2 {
					t.Errorf("the 2 s send was not redrawn while it ran:\n%q", out)
				}
			}
			// The log lines (stderr: no journal in the test) above the
			// status line: each starts a line of its own.
			logs := regexp.MustCompile(`(^|[\r\n])time=\S+ level=INFO msg="sent @persist/`).FindAllString(out, -1)
			if len(logs) != 2 {
				t.Errorf("%d log lines of sends on the terminal, want 2:\n%q", len(logs), out)
			}
			if strings.Contains(r.src.Out.String(), "\r") || !strings.Contains(r.src.Out.String(), ": sent @persist/"+s2) {
				t.Errorf("stdout is not the report alone:\n%q", r.src.Out)
			}
			// --no-progress on a terminal: nothing drawn.
			s3 := r.snapshot(t, map[string][]byte{"more": random(64<<10, 9)})
			term = openTerminal(t, 80)
			r.src.Reset()
			r.src.Env.Stderr = term.slave
			code = Run(context.Background(), r.args("--no-progress"), r.src.Env)
			out = term.close()
			if code != 0 || strings.Contains(out, "\r") || !strings.Contains(out, "sent @persist/"+s3) {
				t.Errorf("--no-progress on a terminal: exit %d\n%q", code, out)
			}
		})
	}
}

// A narrow terminal: the lines fit it.
func TestProgressNarrowTerminal(t *testing.T) {
	r := newRig(t, "{ keep_min = 100 }")
	s1 := r.snapshot(t, map[string][]byte{"a": random(1<<20, 1)})
	term := openTerminal(t, 50)
	if w, ok := progress.Terminal(term.slave); !ok || w != 50 {
		t.Fatalf("Terminal(a 50-column pseudo-terminal) = %d, %v", w, ok)
	}
	r.src.Reset()
	r.src.Env.Stderr = term.slave
	if code := Run(context.Background(), r.args(), r.src.Env); code != 0 {
		t.Fatalf("send: exit %d\n%s", code, r.src.Out)
	}
	out := term.close()
	checkDraws(t, out, 50)
	wantDrawn(t, out, "usb @persist/"+s1+"  1/1 0B 0:00")
}

// A dumb terminal (TERM=dumb) gets no redraws: no carriage return, only
// the final line of each snapshot.
func TestProgressDumbTerminal(t *testing.T) {
	r := newRig(t, "{ keep_min = 100 }")
	s1 := r.snapshot(t, map[string][]byte{"a": random(1<<20, 1)})
	r.send(t, 0)
	s2 := r.snapshot(t, map[string][]byte{"b": random(1<<20, 2)})
	term := openTerminal(t, 80)
	t.Setenv("TERM", "dumb")
	r.src.Reset()
	r.src.Env.Stderr = term.slave
	if code := Run(context.Background(), r.args(), r.src.Env); code != 0 {
		t.Fatalf("send: exit %d\n%s", code, r.src.Out)
	}
	out := term.close()
	if strings.Contains(out, "\r") {
		t.Errorf("a carriage return on a dumb terminal:\n%q", out)
	}
	var finals []string
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if !strings.HasPrefix(l, "time=") {
			finals = append(finals, l)
		}
	}
	if len(finals) != 1 || !strings.HasPrefix(finals[0], "usb @persist/"+s2+"  1/1 sent ") {
		t.Errorf("want the final line of %s alone (after %s), got:\n%s", s2, s1, out)
	}
}

// Restore from a stream target on a terminal: first the check of the
// whole chain (the sum of its stored sizes as the total), then each
// stream of the chain with its stored size as the total, ended by
// "replayed"; a dry run draws the check alone.
func TestProgressRestoreFromTarget(t *testing.T) {
	id, keyFile := newIdentity(t)
	r := newStreamRig(t, "{ keep_min = 100 }", fmt.Sprintf("recipients = [%q]\n", id.Recipient().String()))
	var snaps []string
	for i := range 3 {
		snaps = append(snaps, r.snapshot(t, map[string][]byte{fmt.Sprintf("f%d", i): random(1<<20, uint64(20+i))}))
		r.send(t, 0)
	}
	for _, s := range snaps {
		if out, err := exec.Command("btrfs", "subvolume", "delete", filepath.Join(r.src.FS.Mount, "@snapshots/@persist", s)).CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	m := r.manifest(t)
	var total int64
	for _, x := range m.Streams {
		total += x.Size
	}
	last := "vault @persist/" + snaps[2] + "  "
	check := []string{last + "checking 0B/" + human.Short(uint64(total)) + " 0% 0:00", last + "checked " + human.Short(uint64(total)) + " in "}
	args := []string{"--config", r.config, "--mount", r.src.FS.Mount, "--from-target", "vault", "--identity", keyFile, "--from", snaps[2], "--next-boot", "@persist"}

	// A dry run checks the chain only: that line alone.
	term := openTerminal(t, 80)
	r.src.Reset()
	r.src.Env.Stderr = term.slave
	code := restore.Run(context.Background(), append([]string{"--dry-run"}, args...), r.src.Env)
	out := term.close()
	if code != 0 {
		t.Fatalf("restore --from-target --dry-run: exit %d\n%s%q", code, r.src.Out, out)
	}
	wantDrawn(t, out, check...)
	if strings.Contains(out, "replayed") {
		t.Errorf("a dry run replayed:\n%q", out)
	}

	term = openTerminal(t, 80)
	r.src.Reset()
	r.src.Env.Stderr = term.slave
	code = restore.Run(context.Background(), args, r.src.Env)
	out = term.close()
	if code != 0 {
		t.Fatalf("restore --from-target: exit %d\n%s%q", code, r.src.Out, out)
	}
	want := check
	for i, s := range snaps {
		st, _ := m.Find(s)
		size := human.Short(uint64(st.Size))
		want = append(want, fmt.Sprintf("vault @persist/%s  %d/3 0B/%s 0%% 0:00", s, i+1, size),
			fmt.Sprintf("vault @persist/%s  %d/3 replayed %s in ", s, i+1, size))
	}
	wantDrawn(t, out, want...)
	checkDraws(t, out, 80)
	if strings.Contains(r.src.Out.String(), "\r") {
		t.Errorf("progress on stdout:\n%q", r.src.Out)
	}
}

// With stderr a pipe (a timer's run: the journal, or a file), nothing is
// drawn, and each snapshot is one log line with its size and rate;
// --progress draws even there.
func TestProgressPipe(t *testing.T) {
	kinds := []struct {
		name, target string
		rig          func(t *testing.T) *rig
		msg          string
	}{
		{"local btrfs", "usb", func(t *testing.T) *rig { return newRig(t, "{ keep_min = 100 }") }, `msg="sent @persist/%s to usb: [^"]*, \d+ bytes in [0-9.]+ s \([0-9.]+ MB/s\)" .*bytes=\d+ seconds=[0-9.]+`},
		{"stream", "vault", func(t *testing.T) *rig { return newStreamRig(t, "{ keep_min = 100 }", "") }, `msg="sent @persist/%s to vault: [^"]*, \d+ bytes stored in [0-9.]+ s \([0-9.]+ MB/s\)" .*bytes=\d+ seconds=[0-9.]+`},
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			r := k.rig(t)
			s1 := r.snapshot(t, map[string][]byte{"a": random(1<<20, 3)})
			s2 := r.snapshot(t, map[string][]byte{"b": random(1<<20, 4)})
			out := runPiped(t, r)
			if strings.Contains(out, "\r") {
				t.Errorf("progress drawn into a pipe:\n%q", out)
			}
			for _, s := range []string{s1, s2} {
				re := regexp.MustCompile(fmt.Sprintf(k.msg, s))
				if n := len(re.FindAllString(out, -1)); n != 1 {
					t.Errorf("%d log lines of %s matching %s, want 1:\n%s", n, s, re, out)
				}
			}
			if n := strings.Count(out, `msg="sent @persist/`); n != 2 {
				t.Errorf("%d log lines of sends, want 2 (one per snapshot):\n%s", n, out)
			}
			s3 := r.snapshot(t, map[string][]byte{"c": random(1<<10, 5)})
			if out := runPiped(t, r, "--progress"); !strings.Contains(out, "\r"+k.target+" @persist/"+s3+"  1/1 sent ") {
				t.Errorf("--progress into a pipe drew nothing:\n%q", out)
			}
			r.src.Reset()
			if code := Run(context.Background(), r.args("--progress", "--no-progress"), r.src.Env); code != 2 || !strings.Contains(r.src.Err.String(), "exclude each other") {
				t.Errorf("--progress --no-progress: exit %d, %s", code, r.src.Err)
			}
		})
	}
}

// runPiped runs a send with stderr a pipe and returns what it wrote there.
func runPiped(t *testing.T, r *rig, args ...string) string {
	t.Helper()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	go func() { b, _ := io.ReadAll(pr); got <- string(b) }()
	r.src.Reset()
	env := r.src.Env
	env.Stderr = pw
	code := Run(context.Background(), r.args(args...), env)
	pw.Close()
	out := <-got
	pr.Close()
	if code != 0 {
		t.Fatalf("send %v: exit %d\n%s", args, code, out)
	}
	return out
}

// A new full stream to a stream target shows the newest stored full
// stream's size as its estimate ("~"); an incremental has none.
func TestProgressFullStreamEstimate(t *testing.T) {
	r := newStreamRig(t, "{ keep_min = 100 }", "full_every = \"weekly\"\n")
	r.snapshot(t, map[string][]byte{"a": random(2<<20, 11)})
	r.send(t, 0)
	first := r.manifest(t).Streams[0]
	r.now = r.now.Add(8 * 24 * time.Hour)
	s2 := r.snapshot(t, map[string][]byte{"b": random(64<<10, 12)})
	s3 := r.snapshot(t, map[string][]byte{"c": random(64<<10, 13)})
	term := openTerminal(t, 80)
	r.src.Reset()
	r.src.Env.Stderr = term.slave
	if code := Run(context.Background(), r.args(), r.src.Env); code != 0 {
		t.Fatalf("send: exit %d\n%s", code, r.src.Out)
	}
	out := term.close()
	if !strings.Contains(r.src.Out.String(), "sent @persist/"+s2+" (full:") {
		t.Fatalf("the second chain did not start with a full stream:\n%s", r.src.Out)
	}
	wantDrawn(t, out,
		"vault @persist/"+s2+"  1/2 0B/~"+human.Short(uint64(first.StreamBytes))+" 0:00",
		"vault @persist/"+s3+"  2/2 0B 0:00")
}

func TestEstimate(t *testing.T) {
	m := streamstore.Manifest{Streams: []streamstore.Stream{
		{Name: "20261201T000000Z", Kind: streamstore.Full, StreamBytes: 100},
		{Name: "20261208T000000Z", Kind: streamstore.Full, StreamBytes: 300},
		{Name: "20261209T000000Z", Kind: streamstore.Incremental, StreamBytes: 7},
		{Name: "20261205T000000Z", Kind: streamstore.Full, StreamBytes: 200}, // not in order
	}}
	for _, tt := range []struct {
		m    streamstore.Manifest
		kind streamstore.Kind
		want int64
	}{
		{m, streamstore.Full, 300},
		{m, streamstore.Incremental, 0},
		{streamstore.Manifest{}, streamstore.Full, 0},
		{streamstore.Manifest{Streams: m.Streams[2:3]}, streamstore.Full, 0},
	} {
		if got := estimate(tt.m, tt.kind); got != tt.want {
			t.Errorf("estimate(%d streams, %s) = %d, want %d", len(tt.m.Streams), tt.kind, got, tt.want)
		}
	}
}

// A restore from a btrfs target draws the fetch of the snapshot (no time
// left: a btrfs send's size is known only at its end) and its final line.
func TestProgressRestoreFromBtrfsTarget(t *testing.T) {
	r := newRig(t, "{ keep_min = 100 }")
	snap := r.snapshot(t, map[string][]byte{"f": random(1<<20, 41)})
	r.send(t, 0)
	if out, err := exec.Command("btrfs", "subvolume", "delete", filepath.Join(r.src.FS.Mount, "@snapshots/@persist", snap)).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	term := openTerminal(t, 80)
	r.src.Reset()
	r.src.Env.Stderr = term.slave
	code := restore.Run(context.Background(), []string{"--config", r.config, "--mount", r.src.FS.Mount, "--from-target", "usb", "--from", snap, "--next-boot", "@persist"}, r.src.Env)
	out := term.close()
	if code != 0 {
		t.Fatalf("restore --from-target usb: exit %d\n%s%q", code, r.src.Out, out)
	}
	wantDrawn(t, out, "usb @persist/"+snap+"  1/1 0B ", "usb @persist/"+snap+"  1/1 fetched ")
	checkDraws(t, out, 80)
	if strings.Contains(r.src.Out.String(), "\r") {
		t.Errorf("progress on stdout:\n%q", r.src.Out)
	}
}
