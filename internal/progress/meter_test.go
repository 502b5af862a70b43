package progress

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock advances only when told.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time      { return c.t }
func (c *fakeClock) add(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *fakeClock               { return &fakeClock{t: time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)} }
func screen(b *bytes.Buffer) []string    { return strings.Split(b.String(), "\r") }
func item(snap string, i, n int) Item {
	return Item{Target: "usb", Subvolume: "@persist", Snapshot: snap, Index: i, Count: n, Verb: "sent"}
}
func countCR(b *bytes.Buffer) int { return strings.Count(b.String(), "\r") }
func readAll(t *testing.T, r io.Reader) int64 {
	n, err := io.Copy(io.Discard, r)
	must(t, err)
	return n
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// The line is drawn at Start, redrawn at most every Every however many
// reads come between, and ended by the final line and a newline.
func TestMeterRedrawsAtMostEvery(t *testing.T) {
	var out bytes.Buffer
	c := newClock()
	m := New(&out, c.now, 0)
	m.Start(item("20261206T100000Z", 1, 2))
	if got, want := out.String(), "\rusb @persist/20261206T100000Z  1/2 0B 0:00"; got != want {
		t.Fatalf("after Start: %q, want %q", got, want)
	}
	w := m.Writer(io.Discard)
	for range 100 { // 100 writes in 990 ms: 3 redraws (at 250, 500, 750 ms)
		c.add(9900 * time.Microsecond)
		w.Write(make([]byte, 1<<20))
	}
	if got := countCR(&out); got != 1+3 {
		t.Errorf("%d draws in 990 ms of writes, want 4 (Start and one every %v):\n%q", got, Every, out.String())
	}
	c.add(10 * time.Millisecond)
	m.Finish(nil)
	lines := screen(&out)
	if got, want := lines[len(lines)-1], "usb @persist/20261206T100000Z  1/2 sent 100MiB in 0:01, 100MiB/s\n"; got != want {
		t.Errorf("final line %q, want %q", got, want)
	}
	m.Finish(nil) // a second Finish writes nothing
	m.Add(5)
	if strings.Count(out.String(), "\n") != 1 {
		t.Errorf("a second Finish or an Add after it wrote:\n%q", out.String())
	}
}

// A shorter line overwrites a longer one with spaces: no stale characters
// are left behind on the terminal; Start over an unfinished item ends it
// as failed.
func TestMeterPadsShorterLines(t *testing.T) {
	var out bytes.Buffer
	m := New(&out, newClock().now, 0)
	m.put("abcdef")
	m.put("abc")
	m.put("xy\n")
	m.put("z")
	if got, want := out.String(), "\rabcdef\rabc   \rxy \n\rz"; got != want {
		t.Errorf("put: %q, want %q", got, want)
	}
	out.Reset()
	m = New(&out, newClock().now, 0)
	m.Start(Item{Target: "usb", Subvolume: "@a-long-subvolume-name", Snapshot: "s1"})
	m.Start(Item{Target: "usb", Subvolume: "@p", Snapshot: "s2"})
	lines := screen(&out)
	if len(lines) != 4 || !strings.HasPrefix(lines[2], "usb @a-long-subvolume-name/s1  FAILED after 0B") || !strings.HasSuffix(lines[2], "\n") {
		t.Errorf("Start over an unfinished item:\n%q, want its FAILED final line", out.String())
	}
}

// Log lines go above the status line: it is cleared first and drawn again
// after a whole line.
func TestMeterAbove(t *testing.T) {
	var out bytes.Buffer
	c := newClock()
	m := New(&out, c.now, 0)
	log := m.Above(&out)
	io.WriteString(log, "no item: as it is\n")
	m.Start(item("s1", 1, 1))
	out.Reset()
	io.WriteString(log, "level=INFO msg=hello\n")
	status := "usb @persist/s1  1/1 0B 0:00"
	want := "\r" + strings.Repeat(" ", len(status)) + "\r" + "level=INFO msg=hello\n" + "\r" + status
	if got := out.String(); got != want {
		t.Errorf("a log line over the status line:\n%q, want\n%q", got, want)
	}
	m.Finish(nil)
	out.Reset()
	io.WriteString(log, "after\n")
	if got := out.String(); got != "after\n" {
		t.Errorf("a log line after Finish: %q, want it alone", got)
	}
}

// The nil meter is off: the readers and writers are the ones given.
func TestNilMeter(t *testing.T) {
	var m *Meter
	r := strings.NewReader("abc")
	if m.Reader(r) != io.Reader(r) {
		t.Error("nil Meter: Reader wrapped")
	}
	var b bytes.Buffer
	if m.Writer(&b) != io.Writer(&b) || m.Above(&b) != io.Writer(&b) {
		t.Error("nil Meter: Writer or Above wrapped")
	}
	m.Start(Item{})
	m.Add(1)
	m.Finish(nil)
}

func TestMeterReaderCounts(t *testing.T) {
	var out bytes.Buffer
	c := newClock()
	m := New(&out, c.now, 0)
	m.Start(Item{Target: "vault", Total: 3 << 20})
	if n := readAll(t, m.Reader(bytes.NewReader(make([]byte, 3<<20)))); n != 3<<20 {
		t.Fatalf("read %d", n)
	}
	c.add(2 * time.Second)
	m.Finish(nil)
	if got := out.String(); !strings.HasSuffix(got, "\rvault  done 3.00MiB in 0:02, 1.50MiB/s\n") {
		t.Errorf("final line: %q", got)
	}
}

func TestOn(t *testing.T) {
	for _, tt := range []struct {
		progress, noProgress, terminal bool
		want                           bool
		err                            error
	}{
		{false, false, true, true, nil},
		{false, false, false, false, nil},
		{true, false, false, true, nil},
		{false, true, true, false, nil},
		{true, true, true, false, ErrBoth},
	} {
		got, err := On(tt.progress, tt.noProgress, tt.terminal)
		if got != tt.want || !errors.Is(err, tt.err) {
			t.Errorf("On(%v, %v, %v) = %v, %v, want %v, %v", tt.progress, tt.noProgress, tt.terminal, got, err, tt.want, tt.err)
		}
	}
}

// Open: off on a buffer and a pipe (stderr as it is), on with --progress,
// a usage error with both flags.
func TestFlagsOpen(t *testing.T) {
	pr, pw, err := os.Pipe()
	must(t, err)
	defer pr.Close()
	defer pw.Close()
	for _, tt := range []struct {
		args   []string
		stderr io.Writer
		on     bool
		err    error
	}{
		{nil, &bytes.Buffer{}, false, nil},
		{nil, pw, false, nil},
		{[]string{"--progress"}, pw, true, nil},
		{[]string{"--no-progress"}, pw, false, nil},
		{[]string{"--progress", "--no-progress"}, pw, false, ErrBoth},
	} {
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		var f Flags
		f.Register(fs)
		must(t, fs.Parse(tt.args))
		m, w, err := f.Open(tt.stderr, time.Now)
		if (m != nil) != tt.on || !errors.Is(err, tt.err) {
			t.Errorf("%v on %T: meter %v, %v; want on %v, %v", tt.args, tt.stderr, m != nil, err, tt.on, tt.err)
		}
		if m == nil && w != tt.stderr {
			t.Errorf("%v: progress off, but stderr wrapped", tt.args)
		}
	}
	if _, ok := Terminal(pw); ok {
		t.Error("Terminal(a pipe) = true")
	}
}

// The reader of a stream and the logger write at once (run with -race):
// every log line arrives whole, on a line of its own.
func TestMeterConcurrent(t *testing.T) {
	var out bytes.Buffer
	var mu sync.Mutex
	clockNow := time.Now
	m := New(&lockedWriter{w: &out, mu: &mu}, clockNow, 0)
	log := m.Above(&lockedWriter{w: &out, mu: &mu})
	m.Start(item("s1", 1, 1))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		w := m.Writer(io.Discard)
		for range 2000 {
			w.Write(make([]byte, 100))
		}
	}()
	for range 50 {
		io.WriteString(log, "level=INFO msg=line\n")
	}
	wg.Wait()
	m.Finish(nil)
	if n := strings.Count(out.String(), "\rlevel=INFO msg=line\n"); n != 50 {
		t.Errorf("%d log lines after a cleared status line, want 50:\n%q", n, out.String())
	}
	if !strings.Contains(out.String(), "sent 195KiB") {
		t.Errorf("final line lost bytes:\n%q", out.String())
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
