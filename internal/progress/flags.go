package progress

import (
	"errors"
	"flag"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Flags are --progress and --no-progress, the same on every command that
// moves snapshots.
type Flags struct {
	on, off bool
}

// Register adds the flags to fs.
func (f *Flags) Register(fs *flag.FlagSet) {
	fs.BoolVar(&f.on, "progress", false, "draw the progress line on stderr even when it is not a terminal")
	fs.BoolVar(&f.off, "no-progress", false, "never draw the progress line (default: drawn when stderr is a terminal)")
}

// ErrBoth is the usage error of both flags at once.
var ErrBoth = errors.New("--progress and --no-progress exclude each other")

// On decides: a flag given wins, else on when stderr is a terminal.
func On(progress, noProgress, terminal bool) (bool, error) {
	switch {
	case progress && noProgress:
		return false, ErrBoth
	case progress:
		return true, nil
	case noProgress:
		return false, nil
	}
	return terminal, nil
}

// Open returns the meter for stderr (nil when progress is off) and the
// writer the rest of stderr goes through (stderr itself when off). The
// error is ErrBoth. On a terminal the meter reads its width again before
// each line it draws, so a resized window gets lines that fit it from the
// next redraw on (what the wider line left when the window narrowed is the
// terminal's to rewrap). With TERM=dumb (a terminal that cannot redraw a
// line in place: an editor's shell buffer, a serial console) it draws only
// each snapshot's final line.
func (f Flags) Open(stderr io.Writer, now func() time.Time) (*Meter, io.Writer, error) {
	width, term := Terminal(stderr)
	on, err := On(f.on, f.off, term)
	if err != nil || !on {
		return nil, stderr, err
	}
	m := New(stderr, now, width)
	if term {
		m.size = func() int { w, _ := Terminal(stderr); return w }
	}
	m.finalOnly = os.Getenv("TERM") == "dumb"
	return m, m.Above(stderr), nil
}

// Terminal reports whether w is a terminal (a file answering TCGETS) and
// its width in columns (Width when it does not say, or is wider). A
// writer with an Unwrap() io.Writer method (one that rewrites the text on
// its way) is looked through.
func Terminal(w io.Writer) (width int, ok bool) {
	for {
		u, wraps := w.(interface{ Unwrap() io.Writer })
		if !wraps {
			break
		}
		w = u.Unwrap()
	}
	f, isFile := w.(*os.File)
	if !isFile {
		return Width, false
	}
	if _, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS); err != nil {
		return Width, false
	}
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil || ws.Col == 0 || int(ws.Col) > Width {
		return Width, true
	}
	return int(ws.Col), true
}
