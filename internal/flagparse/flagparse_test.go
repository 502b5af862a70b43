package flagparse

import (
	"bytes"
	"errors"
	"flag"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		wantErr error // nil, flag.ErrHelp, or any other (errOther)
		stderr  string
	}{
		{nil, nil, ""},
		{[]string{"--n", "3", "rest"}, nil, ""},
		{[]string{"--help"}, flag.ErrHelp, "Usage: prog [--n N]\n  -n int\n    \tn\n"},
		{[]string{"-h"}, flag.ErrHelp, "Usage: prog [--n N]\n  -n int\n    \tn\n"},
		{[]string{"-x"}, errOther, "prog: flag provided but not defined: -x\nRun 'prog --help' for the usage.\n"},
		{[]string{"--n", "many"}, errOther, "prog: invalid value \"many\" for flag -n: parse error\nRun 'prog --help' for the usage.\n"},
		{[]string{"--n"}, errOther, "prog: flag needs an argument: -n\nRun 'prog --help' for the usage.\n"},
	} {
		var stderr bytes.Buffer
		fs := flag.NewFlagSet("prog", flag.ContinueOnError)
		fs.SetOutput(&stderr)
		fs.Int("n", 0, "n")
		fs.Usage = func() { stderr.WriteString("Usage: prog [--n N]\n"); fs.PrintDefaults() }
		err := Parse(fs, tc.args)
		switch {
		case tc.wantErr == nil && err != nil,
			tc.wantErr == flag.ErrHelp && !errors.Is(err, flag.ErrHelp),
			tc.wantErr == errOther && (err == nil || errors.Is(err, flag.ErrHelp)):
			t.Errorf("Parse(%q) = %v; want %v", tc.args, err, tc.wantErr)
		}
		if stderr.String() != tc.stderr {
			t.Errorf("Parse(%q) printed %q; want %q", tc.args, stderr.String(), tc.stderr)
		}
	}
}

var errOther = errors.New("any other error")

// TestParseDefaultUsage: a flag set without a Usage still prints one for
// --help, to its output.
func TestParseDefaultUsage(t *testing.T) {
	var stderr bytes.Buffer
	fs := flag.NewFlagSet("prog", flag.ContinueOnError)
	fs.SetOutput(&stderr)
	fs.Usage = nil
	fs.Bool("v", false, "verbose")
	if err := Parse(fs, []string{"--help"}); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("Parse(--help) = %v", err)
	}
	if want := "Usage of prog:\n  -v\tverbose\n"; stderr.String() != want {
		t.Errorf("printed %q; want %q", stderr.String(), want)
	}
}
