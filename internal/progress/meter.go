package progress

import (
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Every is the shortest time between two redraws of the status line.
const Every = 250 * time.Millisecond

// Meter draws the status line of the item being moved on a terminal. Its
// methods may be called from several goroutines (the reader of a stream
// and the logger). The nil Meter is off.
type Meter struct {
	w     io.Writer
	now   func() time.Time
	width int
	// size, when set, reads the terminal's width again before each line,
	// so a resized terminal (SIGWINCH) gets lines that fit it from the
	// next one on.
	size func() int
	// finalOnly draws no status line, only each item's final line: a
	// terminal that cannot return to the line's start (TERM=dumb).
	finalOnly bool

	mu     sync.Mutex
	item   Item
	active bool
	start  time.Time
	done   int64
	drawn  time.Time // of the last redraw
	shown  int       // columns of the line on the screen; 0 none
}

// New returns a meter drawing on w (a terminal) width columns wide
// (<= 0: Width), with the clock now.
func New(w io.Writer, now func() time.Time, width int) *Meter {
	if width <= 0 || width > Width {
		width = Width
	}
	return &Meter{w: w, now: now, width: width}
}

// Start begins it: its status line is drawn at once, at 0 bytes. An item
// not finished is finished first.
func (m *Meter) Start(it Item) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.active {
		m.finish(true)
	}
	m.item, m.active, m.start, m.done = it, true, m.now(), 0
	m.draw(m.start)
}

// Add counts n more bytes of the item; the line is redrawn when the last
// redraw is Every old.
func (m *Meter) Add(n int64) {
	if m == nil || n == 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.active {
		return
	}
	m.done += n
	if now := m.now(); now.Sub(m.drawn) >= Every {
		m.draw(now)
	}
}

// Finish ends the item with its final line (err not nil: a failure).
func (m *Meter) Finish(err error) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.active {
		m.finish(err != nil)
	}
}

func (m *Meter) status(now time.Time) Status {
	return Status{Item: m.item, Done: m.done, Elapsed: now.Sub(m.start)}
}

func (m *Meter) finish(failed bool) {
	m.resize()
	if m.finalOnly {
		io.WriteString(m.w, Final(m.status(m.now()), failed, m.width)+"\n")
	} else {
		m.put(Final(m.status(m.now()), failed, m.width) + "\n")
	}
	m.active = false
}

func (m *Meter) draw(now time.Time) {
	m.drawn = now
	if m.finalOnly {
		return
	}
	m.resize()
	m.put(Line(m.status(now), m.width))
}

// resize takes the terminal's width now (size), if it is read.
func (m *Meter) resize() {
	if m.size == nil {
		return
	}
	if w := m.size(); w > 0 && w <= Width {
		m.width = w
	} else {
		m.width = Width
	}
}

// put replaces the line on the screen with line (which, ending in a
// newline, leaves nothing to replace).
func (m *Meter) put(line string) {
	n := utf8.RuneCountInString(strings.TrimSuffix(line, "\n"))
	pad := ""
	if m.shown > n {
		pad = strings.Repeat(" ", m.shown-n)
	}
	if strings.HasSuffix(line, "\n") {
		io.WriteString(m.w, "\r"+strings.TrimSuffix(line, "\n")+pad+"\n")
		m.shown = 0
		return
	}
	io.WriteString(m.w, "\r"+line+pad)
	m.shown = n
}

// clear removes the line from the screen.
func (m *Meter) clear() {
	if m.shown > 0 {
		io.WriteString(m.w, "\r"+strings.Repeat(" ", m.shown)+"\r")
		m.shown = 0
	}
}

// Reader returns r counting into the current item (r itself when m is
// nil).
func (m *Meter) Reader(r io.Reader) io.Reader {
	if m == nil {
		return r
	}
	return &reader{r: r, m: m}
}

// Writer returns w counting into the current item (w itself when m is
// nil).
func (m *Meter) Writer(w io.Writer) io.Writer {
	if m == nil {
		return w
	}
	return &writer{w: w, m: m}
}

// Above returns the writer for the rest of what goes to the terminal
// (log lines): the status line is cleared before each write and drawn
// again after a write that ends a line. With m nil it is w.
func (m *Meter) Above(w io.Writer) io.Writer {
	if m == nil {
		return w
	}
	return &above{w: w, m: m}
}

type reader struct {
	r io.Reader
	m *Meter
}

func (r *reader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.m.Add(int64(n))
	return n, err
}

type writer struct {
	w io.Writer
	m *Meter
}

func (w *writer) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	w.m.Add(int64(n))
	return n, err
}

type above struct {
	w io.Writer
	m *Meter
}

func (a *above) Write(p []byte) (int, error) {
	a.m.mu.Lock()
	defer a.m.mu.Unlock()
	a.m.clear()
	n, err := a.w.Write(p)
	if a.m.active && len(p) > 0 && p[len(p)-1] == '\n' {
		a.m.draw(a.m.now())
	}
	return n, err
}
