package manpage

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/cpuguy83/go-md2man/v2/md2man"
	"github.com/russross/blackfriday/v2"
)

// Header is the first line of a source: "# name(section) -- summary".
type Header struct {
	Name, Section, Summary string
}

var headerRE = regexp.MustCompile(`^# ([a-z0-9][a-z0-9.-]*)\(([1-8])\) -- (.+)$`)

// ParseHeader reads the first line of a man page source.
func ParseHeader(src []byte) (Header, error) {
	first, _, _ := strings.Cut(string(src), "\n")
	m := headerRE.FindStringSubmatch(first)
	if m == nil {
		return Header{}, fmt.Errorf("first line %q: want \"# name(section) -- summary\"", first)
	}
	return Header{Name: m[1], Section: m[2], Summary: m[3]}, nil
}

// Render converts one source to roff with go-md2man. version goes into the
// .TH footer. The header line becomes the .TH line and the NAME section; the
// rest of the source is go-md2man's Markdown as it is.
func Render(src []byte, version string) ([]byte, error) {
	h, err := ParseHeader(src)
	if err != nil {
		return nil, err
	}
	_, body, _ := strings.Cut(string(src), "\n")
	fences, err := countFences(body)
	if err != nil {
		return nil, fmt.Errorf("%s(%s): %w", h.Name, h.Section, err)
	}
	manual := "System Administration"
	if h.Section == "5" {
		manual = "File Formats"
	}
	// go-md2man turns the first level-1 heading into .TH and formats the
	// paragraph after a NAME heading for whatis ("name \- summary").
	doc := fmt.Sprintf("# %s %s \"\" \"server-impermanence %s\" \"%s\"\n\n## NAME\n\n%s - %s\n\n%s",
		strings.ToUpper(h.Name), h.Section, version, manual, h.Name, h.Summary, body)
	r := minusRenderer{md2man.NewRoffRenderer()}
	ast := blackfriday.New(blackfriday.WithRenderer(r), blackfriday.WithExtensions(r.GetExtensions())).Parse([]byte(doc))
	blocks := 0
	ast.Walk(func(n *blackfriday.Node, entering bool) blackfriday.WalkStatus {
		if n.Type == blackfriday.CodeBlock {
			blocks++
		}
		return blackfriday.GoToNext
	})
	if blocks != fences {
		// Markdown (blackfriday) reads a fence right after a list as text
		// of the last item.
		return nil, fmt.Errorf("%s(%s): %d code blocks, %d of them rendered as blocks (a code block right after a list needs a paragraph between them)", h.Name, h.Section, fences, blocks)
	}
	var rendered bytes.Buffer
	r.RenderHeader(&rendered, ast)
	ast.Walk(func(n *blackfriday.Node, entering bool) blackfriday.WalkStatus {
		return r.RenderNode(&rendered, n, entering)
	})
	r.RenderFooter(&rendered, ast)
	roff := rendered.Bytes()

	// The comment goes after a preprocessor line ('\" t for tables), which
	// must stay first.
	var out bytes.Buffer
	if bytes.HasPrefix(roff, []byte(`'\"`)) {
		first, rest, _ := bytes.Cut(roff, []byte("\n"))
		out.Write(first)
		out.WriteByte('\n')
		roff = rest
	}
	fmt.Fprintf(&out, ".\\\" Generated from docs/man/%s.%s.md by internal/manpage (go-md2man); do not edit.\n", h.Name, h.Section)
	out.Write(roff)
	return out.Bytes(), nil
}

// countFences counts the fenced code blocks of a source and refuses one
// without its closing fence, which Markdown would otherwise render as text
// up to the end of the page.
func countFences(body string) (int, error) {
	n, open := 0, false
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, "```") {
			open = !open
			if open {
				n++
			}
		}
	}
	if open {
		return 0, fmt.Errorf("unterminated code block")
	}
	return n, nil
}

// extensions is what the Extensions method of go-md2man's renderer returns.
type extensions interface {
	GetExtensions() blackfriday.Extensions
}

// minusRenderer is go-md2man's renderer, except that every "-" in code
// spans, code blocks and bold text is a minus sign (\-), as options and
// commands need to be for copying and searching; elsewhere "-" stays a
// hyphen.
type minusRenderer struct {
	inner interface {
		blackfriday.Renderer
		extensions
	}
}

func (r minusRenderer) GetExtensions() blackfriday.Extensions { return r.inner.GetExtensions() }

func (r minusRenderer) RenderHeader(w io.Writer, ast *blackfriday.Node) {
	r.inner.RenderHeader(w, ast)
}

func (r minusRenderer) RenderFooter(w io.Writer, ast *blackfriday.Node) {
	r.inner.RenderFooter(w, ast)
}

func (r minusRenderer) RenderNode(w io.Writer, node *blackfriday.Node, entering bool) blackfriday.WalkStatus {
	if !literalMinus(node) {
		return r.inner.RenderNode(w, node, entering)
	}
	var b bytes.Buffer
	status := r.inner.RenderNode(&b, node, entering)
	io.WriteString(w, strings.ReplaceAll(b.String(), "-", `\-`)) //nolint:errcheck // writes to a buffer
	return status
}

// literalMinus reports whether node's text is code: a code span, a code
// block, or text inside bold.
func literalMinus(node *blackfriday.Node) bool {
	switch node.Type {
	case blackfriday.Code, blackfriday.CodeBlock:
		return true
	case blackfriday.Text:
		for p := node.Parent; p != nil; p = p.Parent {
			if p.Type == blackfriday.Strong {
				return true
			}
		}
	}
	return false
}

var optionRE = regexp.MustCompile("`(--[a-z][a-z0-9-]*)")

// Options returns the long options (without "--") that the OPTIONS section
// of a source documents as definition terms, in order of appearance.
func Options(src []byte) []string {
	var opts []string
	in := false
	sc := bufio.NewScanner(bytes.NewReader(src))
	var prev string
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") {
			in = strings.TrimSpace(strings.TrimPrefix(line, "## ")) == "OPTIONS"
		}
		if in && strings.HasPrefix(line, ": ") && !strings.HasPrefix(prev, ": ") {
			for _, m := range optionRE.FindAllStringSubmatch(prev, -1) {
				opts = append(opts, strings.TrimPrefix(m[1], "--"))
			}
		}
		prev = line
	}
	return opts
}
