package config

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// kind is the TOML type of a node in the parse tree.
type kind int

const (
	kTable kind = iota
	kArray
	kString
	kInteger
	kFloat
	kBool
	kDateTime
)

func (k kind) String() string {
	return [...]string{"table", "array", "string", "integer", "float", "boolean", "date-time"}[k]
}

// article returns the kind with its indefinite article, for messages.
func (k kind) article() string {
	if k == kArray || k == kInteger {
		return "an " + k.String()
	}
	return "a " + k.String()
}

// node is a TOML value with the position of its key (or of the value itself
// for array elements). Tables keep the order keys were written in.
type node struct {
	kind kind
	pos  Pos

	// kTable
	keys     []string
	fields   map[string]*node
	explicit bool // defined by a [header] or an inline table, not implicitly by a dotted key
	inline   bool // an inline table: closed for additions

	// kArray
	elems        []*node
	arrayOfTable bool // created by [[header]]

	// scalars
	str string
	num int64
	b   bool
}

func newTable(p Pos) *node { return &node{kind: kTable, pos: p, fields: map[string]*node{}} }

func (n *node) set(key string, v *node) {
	if _, ok := n.fields[key]; !ok {
		n.keys = append(n.keys, key)
	}
	n.fields[key] = v
}

// parseTree parses one TOML document into a tree. Syntax errors end the parse
// (the parser cannot resume); structural errors (a key defined twice) are
// collected and parsing goes on.
func parseTree(file string, seq int, data []byte, c *collector) *node {
	p := &unstable.Parser{}
	p.Reset(data)
	root := newTable(Pos{seq: seq, File: file, Line: 1, Col: 1})
	root.explicit = true
	b := &treeBuilder{p: p, file: file, seq: seq, c: c, root: root, cur: root, lines: lineStarts(data)}
	for p.NextExpression() {
		b.expression(p.Expression())
	}
	if err := p.Error(); err != nil {
		var perr *unstable.ParserError
		pos := Pos{seq: seq, File: file, Line: 1, Col: 1}
		msg := err.Error()
		if errors.As(err, &perr) {
			if len(perr.Highlight) > 0 {
				pos = b.pos(p.Range(perr.Highlight), "")
			}
			msg = perr.Message
		}
		c.add(pos, "TOML syntax error: %s", msg)
		return nil
	}
	return root
}

type treeBuilder struct {
	p    *unstable.Parser
	file string
	seq  int
	c    *collector
	root *node
	cur  *node
	// curPath is the key path of cur, as written ("subvolume[2]").
	curPath string
	// lines holds the offset at which each line starts.
	lines []int
}

// pos converts a range to a position: line and byte column, 1-based, as
// go-toml counts them (its own Shape rescans the document on every call).
func (b *treeBuilder) pos(r unstable.Range, key string) Pos {
	off := int(r.Offset)
	line := sort.Search(len(b.lines), func(i int) bool { return b.lines[i] > off })
	return Pos{seq: b.seq, File: b.file, Line: line, Col: off - b.lines[line-1] + 1, Key: key}
}

func lineStarts(data []byte) []int {
	starts := []int{0}
	for i, c := range data {
		if c == '\n' {
			starts = append(starts, i+1)
		}
	}
	return starts
}

// keyParts returns the parts of a (dotted) key and the range of its first part.
func keyParts(it unstable.Iterator) (parts []string, raws []unstable.Range) {
	for it.Next() {
		n := it.Node()
		parts = append(parts, string(n.Data))
		raws = append(raws, n.Raw)
	}
	return parts, raws
}

func joinKey(prefix, k string) string {
	if !isBareKey(k) {
		k = strconv.Quote(k)
	}
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

func isBareKey(k string) bool {
	if k == "" {
		return false
	}
	for _, r := range k {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

func (b *treeBuilder) expression(e *unstable.Node) {
	switch e.Kind {
	case unstable.KeyValue:
		b.keyValue(b.cur, b.curPath, e)
	case unstable.Table:
		parts, raws := keyParts(e.Key())
		t, path := b.walk(b.root, "", parts, raws, true)
		if t == nil {
			b.cur, b.curPath = newTable(Pos{}), "" // detached: keys below are still checked for syntax only
			return
		}
		if t.explicit {
			b.c.add(b.pos(raws[len(raws)-1], path), "table defined twice (first at %s)", t.pos)
		}
		t.explicit = true
		t.pos = b.pos(raws[len(raws)-1], path)
		b.cur, b.curPath = t, path
	case unstable.ArrayTable:
		parts, raws := keyParts(e.Key())
		parent, ppath := b.walk(b.root, "", parts[:len(parts)-1], raws[:len(raws)-1], true)
		last := parts[len(parts)-1]
		path := joinKey(ppath, last)
		p := b.pos(raws[len(raws)-1], path)
		if parent == nil {
			b.cur, b.curPath = newTable(Pos{}), ""
			return
		}
		arr, ok := parent.fields[last]
		switch {
		case !ok:
			arr = &node{kind: kArray, pos: p, arrayOfTable: true}
			parent.set(last, arr)
		case arr.kind != kArray || !arr.arrayOfTable:
			b.c.add(p, "key defined twice (first at %s)", arr.pos)
			b.cur, b.curPath = newTable(Pos{}), ""
			return
		}
		path = fmt.Sprintf("%s[%d]", path, len(arr.elems))
		t := newTable(b.pos(raws[len(raws)-1], path))
		t.explicit = true
		arr.elems = append(arr.elems, t)
		b.cur, b.curPath = t, path
	}
}

// walk descends from t along parts, creating implicit tables. For the last
// element of an array of tables it descends into its newest table, as TOML
// specifies for [a.b] after [[a]].
func (b *treeBuilder) walk(t *node, path string, parts []string, raws []unstable.Range, header bool) (*node, string) {
	for i, k := range parts {
		path = joinKey(path, k)
		next, ok := t.fields[k]
		if !ok {
			next = newTable(b.pos(raws[i], path))
			t.set(k, next)
		}
		switch {
		case next.kind == kArray && next.arrayOfTable && header:
			path = fmt.Sprintf("%s[%d]", path, len(next.elems)-1)
			next = next.elems[len(next.elems)-1]
		case next.kind != kTable || next.inline:
			b.c.add(b.pos(raws[i], path), "key defined twice (first at %s)", next.pos)
			return nil, path
		}
		t = next
	}
	return t, path
}

func (b *treeBuilder) keyValue(t *node, tpath string, e *unstable.Node) {
	parts, raws := keyParts(e.Key())
	parent, ppath := b.walk(t, tpath, parts[:len(parts)-1], raws[:len(raws)-1], false)
	if parent == nil {
		return
	}
	last := parts[len(parts)-1]
	path := joinKey(ppath, last)
	p := b.pos(raws[len(raws)-1], path)
	if prev, ok := parent.fields[last]; ok {
		b.c.add(p, "key defined twice (first at %s)", prev.pos)
		return
	}
	if v := b.value(e.Value(), p, path); v != nil {
		parent.set(last, v)
	}
}

// value converts a value node. p is the position of its key.
func (b *treeBuilder) value(v *unstable.Node, p Pos, path string) *node {
	n := &node{pos: p}
	switch v.Kind {
	case unstable.String:
		n.kind, n.str = kString, string(v.Data)
	case unstable.Bool:
		n.kind, n.b = kBool, string(v.Data) == "true"
	case unstable.Integer:
		i, err := parseInteger(string(v.Data))
		if err != nil {
			b.c.add(p, "invalid integer %q: %v", v.Data, err)
			return nil
		}
		n.kind, n.num = kInteger, i
	case unstable.Float:
		n.kind = kFloat
	case unstable.LocalDate, unstable.LocalTime, unstable.LocalDateTime, unstable.DateTime:
		n.kind = kDateTime
	case unstable.Array:
		n.kind = kArray
		it := v.Children()
		for i := 0; it.Next(); i++ {
			c := it.Node()
			ep := p
			ep.Key = fmt.Sprintf("%s[%d]", path, i)
			if c.Raw.Length > 0 {
				ep = b.pos(c.Raw, ep.Key)
			}
			if e := b.value(c, ep, ep.Key); e != nil {
				n.elems = append(n.elems, e)
			}
		}
	case unstable.InlineTable:
		t := newTable(p)
		t.explicit, t.inline = true, false
		it := v.Children()
		for it.Next() {
			b.keyValue(t, path, it.Node())
		}
		t.inline = true
		return t
	default:
		b.c.add(p, "unsupported TOML value")
		return nil
	}
	return n
}

// parseInteger parses a TOML integer: decimal with optional sign and single
// underscores between digits (no leading zeros), or 0x/0o/0b prefixed.
func parseInteger(s string) (int64, error) {
	if strings.Contains(s, "__") || strings.HasPrefix(s, "_") || strings.HasSuffix(s, "_") {
		return 0, errors.New("misplaced underscore")
	}
	clean := strings.ReplaceAll(s, "_", "")
	for _, pre := range []struct {
		p    string
		base int
	}{{"0x", 16}, {"0o", 8}, {"0b", 2}} {
		if strings.HasPrefix(clean, pre.p) {
			if strings.HasPrefix(s[2:], "_") {
				return 0, errors.New("misplaced underscore")
			}
			return strconv.ParseInt(clean[2:], pre.base, 64)
		}
	}
	digits := strings.TrimLeft(clean, "+-")
	if len(digits) > 1 && digits[0] == '0' {
		return 0, errors.New("leading zero")
	}
	return strconv.ParseInt(clean, 10, 64)
}
