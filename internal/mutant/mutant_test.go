package mutant

import (
	"strings"
	"testing"
)

const src = `package p

func f(a, b int, ok bool) int {
	for a < b && ok || a >= -b {
		a++
		if a%2 == 0 {
			continue
		}
		return a * b / 3
	}
	return a - b
}
`

func TestApply(t *testing.T) {
	for _, c := range []struct {
		kind      string
		line, col int
		want      string // the mutated line
	}{
		{"CONDITIONALS_BOUNDARY", 4, 8, "	for a <= b && ok || a >= -b {"},
		{"CONDITIONALS_NEGATION", 4, 8, "	for a >= b && ok || a >= -b {"},
		{"CONDITIONALS_BOUNDARY", 4, 23, "	for a < b && ok || a > -b {"},
		{"CONDITIONALS_NEGATION", 4, 23, "	for a < b && ok || a < -b {"},
		{"INVERT_LOGICAL", 4, 12, "	for a < b || ok || a >= -b {"},
		{"INVERT_LOGICAL", 4, 18, "	for a < b && ok && a >= -b {"},
		{"INVERT_NEGATIVES", 4, 26, "	for a < b && ok || a >= +b {"},
		{"INCREMENT_DECREMENT", 5, 4, "		a--"},
		{"ARITHMETIC_BASE", 6, 7, "		if a*2 == 0 {"},
		{"CONDITIONALS_NEGATION", 6, 10, "		if a%2 != 0 {"},
		{"INVERT_LOOPCTRL", 7, 4, "			break"},
		{"ARITHMETIC_BASE", 9, 12, "		return a / b / 3"},
		{"ARITHMETIC_BASE", 9, 16, "		return a * b * 3"},
		{"ARITHMETIC_BASE", 11, 11, "	return a + b"},
	} {
		got, err := Apply([]byte(src), c.kind, c.line, c.col)
		if err != nil {
			t.Errorf("Apply(%s, %d:%d): %v", c.kind, c.line, c.col, err)
			continue
		}
		lines := strings.Split(src, "\n")
		lines[c.line-1] = c.want
		if want := strings.Join(lines, "\n"); string(got) != want {
			t.Errorf("Apply(%s, %d:%d) =\n%s\nwant\n%s", c.kind, c.line, c.col, got, want)
		}
	}
}

func TestApplyRefuses(t *testing.T) {
	for _, c := range []struct {
		kind      string
		line, col int
		want      string
	}{
		{"REMOVE_EVERYTHING", 4, 8, "unknown kind"},
		{"INVERT_LOGICAL", 4, 8, `"<" is not one of its operators`},
		{"CONDITIONALS_BOUNDARY", 6, 10, `"==" is not one of its operators`},
		{"ARITHMETIC_BASE", 4, 9, "no token starts there"},
		{"ARITHMETIC_BASE", 99, 1, "no token starts there"},
	} {
		_, err := Apply([]byte(src), c.kind, c.line, c.col)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Apply(%s, %d:%d) error = %v, want %q", c.kind, c.line, c.col, err, c.want)
		}
	}
}

func TestReport(t *testing.T) {
	ms, err := Report("mutantrun/testdata/sample.json")
	if err != nil {
		t.Fatal(err)
	}
	want := []Mutation{
		{File: "sample.go", Kind: "CONDITIONALS_NEGATION", Status: "NOT COVERED", Line: 6, Column: 9},
		{File: "sample.go", Kind: "CONDITIONALS_BOUNDARY", Status: "KILLED", Line: 6, Column: 9},
		{File: "sample.go", Kind: "CONDITIONALS_BOUNDARY", Status: "NOT COVERED", Line: 16, Column: 7},
		{File: "sample.go", Kind: "INVERT_NEGATIVES", Status: "NOT COVERED", Line: 7, Column: 10},
	}
	if len(ms) != len(want) {
		t.Fatalf("Report = %+v, want %+v", ms, want)
	}
	for i := range want {
		if ms[i] != want[i] {
			t.Errorf("Report[%d] = %+v, want %+v", i, ms[i], want[i])
		}
	}
	if _, err := Report("mutantrun/testdata/sample/sample.go"); err == nil {
		t.Error("Report of a Go file: no error")
	}
}

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		exit        int
		buildFailed bool
		want        string
	}{
		{-1, false, TimedOut}, {-1, true, TimedOut}, {0, false, Lived}, {1, false, Killed}, {1, true, NotViable}, {2, true, NotViable},
	} {
		if got := Classify(c.exit, c.buildFailed); got != c.want {
			t.Errorf("Classify(%d, %v) = %q, want %q", c.exit, c.buildFailed, got, c.want)
		}
	}
}
