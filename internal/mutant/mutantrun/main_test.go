package main

import (
	"bytes"
	"testing"
)

// TestRun runs the not-covered mutants of a sample package: two killed and
// one that lives (a > b for a >= b in Max: equivalent); the KILLED one of
// the report is not run again.
func TestRun(t *testing.T) {
	var out, errs bytes.Buffer
	if code := run([]string{"-report", "testdata/sample.json", "./testdata/sample"}, &out, &errs); code != 0 {
		t.Fatalf("run = %d, stderr %s", code, errs.String())
	}
	want := `      KILLED CONDITIONALS_NEGATION at sample.go:6:9
       LIVED CONDITIONALS_BOUNDARY at sample.go:16:7
      KILLED INVERT_NEGATIVES at sample.go:7:10
Killed: 2, Lived: 1, Not viable: 0, Timed out: 0
`
	if out.String() != want {
		t.Errorf("run output =\n%s\nwant\n%s", out.String(), want)
	}
}

// TestRunStatus re-runs the mutants of the statuses asked for only.
func TestRunStatus(t *testing.T) {
	var out, errs bytes.Buffer
	if code := run([]string{"-report", "testdata/sample.json", "-status", "KILLED", "./testdata/sample"}, &out, &errs); code != 0 {
		t.Fatalf("run = %d, stderr %s", code, errs.String())
	}
	want := `      KILLED CONDITIONALS_BOUNDARY at sample.go:6:9
Killed: 1, Lived: 0, Not viable: 0, Timed out: 0
`
	if out.String() != want {
		t.Errorf("run output =\n%s\nwant\n%s", out.String(), want)
	}
}

func TestRunUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"./x"}, {"-report", "r.json"}, {"-report", "r.json", "a", "b"}} {
		var out, errs bytes.Buffer
		if code := run(args, &out, &errs); code != 2 {
			t.Errorf("run(%q) = %d, want 2", args, code)
		}
	}
}
