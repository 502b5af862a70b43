package progress

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal cols wide and returns its slave (what a
// command writes to) and master; the test ends both.
func openPTY(t *testing.T, cols int) (slave, master *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetUint32(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { slave.Close() })
	setCols(t, slave, cols)
	return slave, master
}

func setCols(t *testing.T, tty *os.File, cols int) {
	t.Helper()
	if err := unix.IoctlSetWinsize(int(tty.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: uint16(cols)}); err != nil {
		t.Fatal(err)
	}
}

// A meter opened on a terminal follows its width: after the window
// narrows (what SIGWINCH announces) the next line fits the new width, and
// after it widens again the line uses it.
func TestOpenFollowsTheTerminalsWidth(t *testing.T) {
	t.Setenv("TERM", "xterm")
	tty, _ := openPTY(t, 80)
	clock := newClock()
	m, _, err := Flags{}.Open(tty, clock.now)
	must(t, err)
	if m == nil {
		t.Fatal("no meter on a terminal")
	}
	// Draw into a buffer, the width still read from the terminal.
	var b bytes.Buffer
	m.w = &b
	long := item("20261207T060000Z-with-a-long-label-that-does-not-fit-a-narrow-terminal", 1, 2)
	m.Start(long)
	for _, cols := range []int{30, 60, 80} {
		setCols(t, tty, cols)
		b.Reset()
		clock.add(Every)
		m.Add(1 << 20)
		line := strings.TrimPrefix(strings.TrimRight(b.String(), " "), "\r")
		if n := utf8.RuneCountInString(line); n > cols-1 {
			t.Errorf("%d columns: a line of %d: %q", cols, n, line)
		}
		if wide := cols >= 60; wide != strings.HasPrefix(line, "usb @persi") {
			t.Errorf("%d columns: the line %q; want the name when there is room for it", cols, line)
		}
	}
	setCols(t, tty, 40)
	b.Reset()
	m.Finish(nil)
	if n := utf8.RuneCountInString(strings.TrimSpace(strings.TrimPrefix(b.String(), "\r"))); n > 39 {
		t.Errorf("the final line on 40 columns has %d: %q", n, b.String())
	}
}

// With TERM=dumb the meter redraws nothing: no carriage return, no status
// line, only each item's final line; the log lines above go out as they
// are.
func TestOpenDumbTerminal(t *testing.T) {
	t.Setenv("TERM", "dumb")
	tty, _ := openPTY(t, 80)
	clock := newClock()
	m, _, err := Flags{}.Open(tty, clock.now)
	must(t, err)
	var b bytes.Buffer
	m.w = &b
	above := m.Above(&b)
	m.Start(item("20261207T060000Z", 1, 2))
	for range 10 {
		clock.add(Every)
		m.Add(1 << 20)
		above.Write([]byte("time=... a log line\n"))
	}
	m.Finish(nil)
	m.Start(item("20261207T070000Z", 2, 2))
	clock.add(Every)
	m.Add(1 << 10)
	m.Finish(nil)
	got := b.String()
	if strings.Contains(got, "\r") {
		t.Errorf("a carriage return on a dumb terminal:\n%q", got)
	}
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	var finals []string
	for _, l := range lines {
		if !strings.HasPrefix(l, "time=") {
			finals = append(finals, l)
		}
	}
	if len(lines) != 12 || len(finals) != 2 || !strings.HasPrefix(finals[0], "usb @persist/20261207T060000Z  1/2 sent 10.0MiB in ") ||
		!strings.HasPrefix(finals[1], "usb @persist/20261207T070000Z  2/2 sent 1.00KiB in 0:00") {
		t.Errorf("want 10 log lines and 2 final lines, got:\n%s", got)
	}
}
