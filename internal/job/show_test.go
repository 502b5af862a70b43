package job

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/btrfstest"
)

// TestShowPaths: the job's output and its log show the paths below a
// detached top level as <device>:/<path>: in a Write, a log message, string
// and error attributes, attributes bound with With and in groups.
func TestShowPaths(t *testing.T) {
	tfs := btrfstest.New(t)
	top, unmount, err := btrfs.MountTopLevel(tfs.Device, true)
	if err != nil {
		t.Fatal(err)
	}
	defer unmount()
	var out, errb bytes.Buffer
	env := Env{Stdout: &out, Stderr: &errb, Journal: func() bool { return false }}.WithDefaults().ShowPaths()
	if env.ShowPaths().Stdout != env.Stdout {
		t.Error("ShowPaths wraps a writer it wrapped already")
	}
	fmt.Fprintf(env.Stdout, "FAILED %s/@snapshots/a: mkdir %s/@snapshots: denied\n", top, top)
	log := Logger(env, "impermanence-x").With("top", top)
	log.Error("failed on "+top+"/b", "error", fmt.Errorf("open %s/b: nope", top), "path", top+"/c",
		slog.Group("g", "p", top+"/d"), "n", 3)
	dev := tfs.Device
	if want := "FAILED " + dev + ":/@snapshots/a: mkdir " + dev + ":/@snapshots: denied\n"; out.String() != want {
		t.Errorf("stdout %q, want %q", out.String(), want)
	}
	for _, want := range []string{`top=` + dev + `:/`, `msg="failed on ` + dev + `:/b"`, `error="open ` + dev + `:/b: nope"`,
		`path=` + dev + `:/c`, `g.p=` + dev + `:/d`, `n=3`} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("the log does not say %s:\n%s", want, errb.String())
		}
	}
	if strings.Contains(out.String()+errb.String(), "/proc/") {
		t.Errorf("a descriptor's path is shown:\n%s%s", out.String(), errb.String())
	}
}
