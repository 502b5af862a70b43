package job

import (
	"bytes"
	"flag"
	"testing"
)

// TestParseFlagsEmptyPath: --config, --device and --mount given empty are
// usage errors naming the flag (an empty --config used to mean "no file",
// or was ignored beside --default and the job ran).
func TestParseFlagsEmptyPath(t *testing.T) {
	for _, args := range [][]string{{"--config="}, {"--default", "--config", ""}, {"--device="}, {"--mount", ""}} {
		fs := flag.NewFlagSet("impermanence-x", flag.ContinueOnError)
		var f Flags
		f.Register(fs, true)
		var out, errb bytes.Buffer
		done, code := ParseFlags(fs, args, &f, Env{Stdout: &out, Stderr: &errb}, func() string { return "" })
		name := args[len(args)-1]
		if len(args) > 1 && args[len(args)-1] == "" {
			name = args[len(args)-2] + "="
		}
		want := "impermanence-x: " + name[:len(name)-1] + ` "": an empty path` + "\n"
		if !done || code != ExitUsage || errb.String() != want {
			t.Errorf("ParseFlags(%q) = %v, %d, stderr %q; want true, 2, %q", args, done, code, errb.String(), want)
		}
	}
}
