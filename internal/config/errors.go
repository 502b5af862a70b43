package config

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Pos is where a value was written: file, 1-based line and column, and the
// key path as written in that file (for example "subvolume[2].compression").
// A zero Line means the position is unknown (a built-in default).
type Pos struct {
	seq  int // index of File in load order, for sorting
	File string
	Line int
	Col  int
	Key  string
}

func (p Pos) String() string {
	switch {
	case p.File == "":
		return "<built-in default>"
	case p.Line == 0:
		return p.File
	default:
		return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
	}
}

// Error is one problem found in the configuration.
type Error struct {
	Pos Pos
	Msg string
}

func (e *Error) Error() string {
	if e.Pos.Key == "" {
		return fmt.Sprintf("%s: %s", e.Pos, e.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", e.Pos, e.Pos.Key, e.Msg)
}

// Errors is every problem found, sorted by file, line and column.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.Is/As look at each error.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// AsErrors returns the individual configuration errors in err, if any.
func AsErrors(err error) (Errors, bool) {
	var es Errors
	if errors.As(err, &es) {
		return es, true
	}
	var e *Error
	if errors.As(err, &e) {
		return Errors{e}, true
	}
	return nil, false
}

// collector gathers errors in the order they are found.
type collector struct{ errs Errors }

func (c *collector) add(p Pos, format string, args ...any) {
	c.errs = append(c.errs, &Error{Pos: p, Msg: fmt.Sprintf(format, args...)})
}

// err returns the collected errors sorted by position, or nil.
func (c *collector) err() error {
	if len(c.errs) == 0 {
		return nil
	}
	es := append(Errors(nil), c.errs...)
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i].Pos, es[j].Pos
		if a.seq != b.seq {
			return a.seq < b.seq
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	return es
}
