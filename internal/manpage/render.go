package manpage

import (
	"bufio"
	"bytes"
	"fmt"
	"regexp"
	"strings"
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

// Render converts one source to roff. version goes into the .TH footer.
func Render(src []byte, version string) ([]byte, error) {
	h, err := ParseHeader(src)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	manual := "System Administration"
	if h.Section == "5" {
		manual = "File Formats"
	}
	fmt.Fprintf(&out, ".\\\" Generated from docs/man/%s.%s.md by internal/manpage; do not edit.\n", h.Name, h.Section)
	fmt.Fprintf(&out, ".TH %s %s \"\" \"server-impermanence %s\" \"%s\"\n", strings.ToUpper(escape(h.Name)), h.Section, escape(version), manual)
	out.WriteString(".SH NAME\n")
	fmt.Fprintf(&out, "%s \\- %s\n", escape(h.Name), inline(h.Summary))

	lines := strings.Split(strings.TrimRight(string(src), "\n"), "\n")[1:]
	for i := 0; i < len(lines); {
		line := lines[i]
		switch {
		case strings.TrimSpace(line) == "":
			i++
		case strings.HasPrefix(line, "## "):
			fmt.Fprintf(&out, ".SH %s\n", escape(strings.ToUpper(strings.TrimPrefix(line, "## "))))
			i++
		case strings.HasPrefix(line, "### "):
			fmt.Fprintf(&out, ".SS %s\n", inline(strings.TrimPrefix(line, "### ")))
			i++
		case strings.HasPrefix(line, "```"):
			i++
			out.WriteString(".PP\n.RS 4\n.nf\n")
			for i < len(lines) && !strings.HasPrefix(lines[i], "```") {
				out.WriteString(literal(lines[i]) + "\n")
				i++
			}
			if i == len(lines) {
				return nil, fmt.Errorf("%s(%s): unterminated code block", h.Name, h.Section)
			}
			out.WriteString(".fi\n.RE\n")
			i++
		case strings.HasPrefix(line, "- "):
			text, n := continued(lines[i:], strings.TrimPrefix(line, "- "))
			fmt.Fprintf(&out, ".IP \\(bu 2\n%s\n", inline(text))
			i += n
		case i+1 < len(lines) && strings.HasPrefix(lines[i+1], ": "):
			def, n := continued(lines[i+1:], strings.TrimPrefix(lines[i+1], ": "))
			fmt.Fprintf(&out, ".TP\n%s\n%s\n", inline(line), inline(def))
			i += 1 + n
		default:
			var para []string
			for i < len(lines) && strings.TrimSpace(lines[i]) != "" && !block(lines[i]) &&
				!(i+1 < len(lines) && strings.HasPrefix(lines[i+1], ": ")) {
				para = append(para, strings.TrimSpace(lines[i]))
				i++
			}
			if len(para) == 0 { // a line that looks like a block start but is not one
				para = append(para, strings.TrimSpace(lines[i]))
				i++
			}
			fmt.Fprintf(&out, ".PP\n%s\n", inline(strings.Join(para, " ")))
		}
	}
	return out.Bytes(), nil
}

func block(line string) bool {
	for _, p := range []string{"## ", "### ", "```", "- ", ": "} {
		if strings.HasPrefix(line, p) {
			return true
		}
	}
	return false
}

// continued joins first with the following lines indented by two spaces.
func continued(lines []string, first string) (string, int) {
	parts := []string{strings.TrimSpace(first)}
	n := 1
	for n < len(lines) && strings.HasPrefix(lines[n], "  ") && strings.TrimSpace(lines[n]) != "" {
		parts = append(parts, strings.TrimSpace(lines[n]))
		n++
	}
	return strings.Join(parts, " "), n
}

var unicode = strings.NewReplacer(
	"—", `\(em`, "–", `\(en`, "…", "...", "≥", `\(>=`, "≤", `\(<=`, "→", `\(->`,
	"←", `\(<-`, "⇄", "<\\->", "×", `\(mu`, "’", "'", "“", `\(lq`, "”", `\(rq`, "§", `\(sc`,
	"\u00a0", `\ `,
)

// escape makes plain text safe for roff: backslashes, and unicode the
// man-db pipeline would otherwise need preconv for.
func escape(s string) string {
	return unicode.Replace(strings.ReplaceAll(s, `\`, `\e`))
}

// literal escapes a line of a code block, where every - is a minus.
func literal(s string) string {
	s = strings.ReplaceAll(escape(s), "-", `\-`)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}

var inlineRE = regexp.MustCompile("`[^`]+`|\\*\\*[^*]+\\*\\*|\\*[^*\\s][^*]*\\*")

// inline renders code, bold and italic spans of one logical line.
func inline(s string) string {
	var b strings.Builder
	last := 0
	for _, m := range inlineRE.FindAllStringIndex(s, -1) {
		b.WriteString(escape(s[last:m[0]]))
		span := s[m[0]:m[1]]
		switch {
		case strings.HasPrefix(span, "`"):
			b.WriteString(`\fB` + strings.ReplaceAll(escape(span[1:len(span)-1]), "-", `\-`) + `\fR`)
		case strings.HasPrefix(span, "**"):
			b.WriteString(`\fB` + strings.ReplaceAll(escape(span[2:len(span)-2]), "-", `\-`) + `\fR`)
		default:
			b.WriteString(`\fI` + escape(span[1:len(span)-1]) + `\fR`)
		}
		last = m[1]
	}
	b.WriteString(escape(s[last:]))
	out := b.String()
	if strings.HasPrefix(out, ".") || strings.HasPrefix(out, "'") {
		out = `\&` + out
	}
	return out
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
