// Command mutantrun runs the mutants a gremlins report lists as not covered
// (see package mutant), or with -status those of other statuses (LIVED: has
// a new test killed them?): each one through `go test -overlay`, so the
// tree is never changed. It prints one line per mutant and a summary line, as
// gremlins does:
//
//	go run ./internal/mutant/mutantrun -report bin/mutation/names.json -skip REGEXP ./internal/names
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/mutant"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mutantrun", flag.ContinueOnError)
	fs.SetOutput(stderr)
	report := fs.String("report", "", "the gremlins JSON report")
	skip := fs.String("skip", "", "go test -skip for every run")
	timeout := fs.Duration("timeout", 2*time.Minute, "the time one mutant's go test may take")
	statuses := fs.String("status", "NOT COVERED", "the statuses of the report to run, comma-separated (LIVED,NOT COVERED re-runs the survivors too)")
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 || *report == "" {
		fmt.Fprintln(stderr, "usage: mutantrun -report FILE [-status LIST] [-skip REGEXP] [-timeout D] ./PACKAGE")
		return 2
	}
	pkg := fs.Arg(0)
	ms, err := mutant.Report(*report)
	if err != nil {
		fmt.Fprintln(stderr, "mutantrun:", err)
		return 1
	}
	tmp, err := os.MkdirTemp("", "mutantrun-")
	if err != nil {
		fmt.Fprintln(stderr, "mutantrun:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	count := map[string]int{}
	for _, m := range ms {
		if !slices.Contains(strings.Split(*statuses, ","), m.Status) {
			continue
		}
		st, err := one(m, pkg, *skip, *timeout, tmp)
		if err != nil {
			fmt.Fprintln(stderr, "mutantrun:", err)
			return 1
		}
		count[st]++
		fmt.Fprintf(stdout, "%12s %s at %s:%d:%d\n", st, m.Kind, m.File, m.Line, m.Column)
	}
	fmt.Fprintf(stdout, "Killed: %d, Lived: %d, Not viable: %d, Timed out: %d\n",
		count[mutant.Killed], count[mutant.Lived], count[mutant.NotViable], count[mutant.TimedOut])
	return 0
}

// one runs the package's tests on mutant m, with the mutated file in tmp.
func one(m mutant.Mutation, pkg, skip string, timeout time.Duration, tmp string) (string, error) {
	file, err := filepath.Abs(filepath.Join(pkg, m.File))
	if err != nil {
		return "", err
	}
	src, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", file, err)
	}
	mut, err := mutant.Apply(src, m.Kind, m.Line, m.Column)
	if err != nil {
		return "", fmt.Errorf("%s: %w", file, err)
	}
	mutFile := filepath.Join(tmp, "mutant.go")
	overlay := filepath.Join(tmp, "overlay.json")
	o, _ := json.Marshal(map[string]map[string]string{"Replace": {file: mutFile}})
	if err := os.WriteFile(mutFile, mut, 0o600); err != nil {
		return "", err
	}
	if err := os.WriteFile(overlay, o, 0o600); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	args := []string{"test", "-count=1", "-failfast", "-overlay", overlay}
	if skip != "" {
		args = append(args, "-skip", skip)
	}
	cmd := exec.CommandContext(ctx, "go", append(args, pkg)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	exit := 0
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		exit = -1
	case errors.As(err, &ee):
		exit = ee.ExitCode()
	case err != nil:
		return "", fmt.Errorf("go test %s: %w", pkg, err)
	}
	built := !strings.Contains(out.String(), "[build failed]") && !strings.Contains(out.String(), "[setup failed]")
	return mutant.Classify(exit, !built), nil
}
