package rollback

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/server-impermanence/server-impermanence/internal/cmdline"
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/names"
)

// TestHaltAfterSwitch runs the power-cut test switch for real: the rollback
// stops after the first exchange, says so on "/dev/console" and waits; the test
// then cancels it (the VM tier cuts the power instead). The state left is one
// the next run repairs: the previous root is archived exactly once.
func TestHaltAfterSwitch(t *testing.T) {
	tfs := layout(t)
	root := filepath.Join(tfs.Mount, "@root")
	write(t, filepath.Join(root, "etc/hello"), "state of the previous boot")
	before := tree(t, root)

	h := host(t, cmdline.HaltAfterKey+"=exchange,sync")
	console := filepath.Join(h, "dev/console")
	if err := os.MkdirAll(filepath.Dir(console), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(console, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	halted := make(chan string, 1)
	go func() { // the test host: waits for the console line, then cuts
		for ctx.Err() == nil {
			if b, _ := os.ReadFile(console); len(b) > 0 {
				halted <- string(b)
				cancel()
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	var out bytes.Buffer
	env := Env{Env: job.Env{Stdout: &out, Stderr: &out, Root: h, Now: func() time.Time { return t0 },
		Journal: func() bool { return false }}}
	code := Run(ctx, []string{"--default", "--mount", tfs.Mount}, env)
	if code != job.ExitFailure {
		t.Fatalf("halted rollback exit %d, want %d:\n%s", code, job.ExitFailure, out.String())
	}
	var line string
	select {
	case line = <-halted:
	default:
		t.Fatalf("nothing written to dev/console:\n%s", out.String())
	}
	if !strings.HasPrefix(line, "impermanence-rollback: debug halt after step ") || !strings.Contains(line, "(exchange @root.new ⇄ @root), sync=true") {
		t.Errorf("console line = %q", line)
	}
	// Halted after the exchange: @root is the fresh one, the old state is
	// still @root.new, not yet archived.
	if _, err := os.Stat(filepath.Join(root, "etc/hello")); !os.IsNotExist(err) {
		t.Errorf("@root still holds the old state after the exchange (%v)", err)
	}
	if diff := cmp.Diff(before, tree(t, root+names.NewSuffix)); diff != "" {
		t.Errorf("@root.new is not the previous root (-want +got):\n%s", diff)
	}

	code, o := rollback(t, tfs, runOpts{now: t0.Add(time.Minute)})
	if code != job.ExitOK {
		t.Fatalf("next rollback exit %d:\n%s", code, o)
	}
	found := 0
	for _, a := range archivesOf(t, tfs, "@root") {
		if cmp.Equal(before, tree(t, filepath.Join(tfs.Mount, "old_roots/@root", a))) {
			found++
		}
	}
	if found != 1 {
		t.Errorf("previous root archived %d times, want 1 (archives %v)", found, archivesOf(t, tfs, "@root"))
	}
}
