package mutant

import (
	"encoding/json"
	"fmt"
	"os"
)

// Mutation is one mutant of a gremlins report.
type Mutation struct {
	File   string // the file name, relative to the package folder
	Kind   string `json:"type"`
	Status string `json:"status"`
	Line   int    `json:"line"`
	Column int    `json:"column"`
}

// Report reads the mutants of a gremlins JSON report (--output).
func Report(name string) ([]Mutation, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("read gremlins report: %w", err)
	}
	var r struct {
		Files []struct {
			Name      string     `json:"file_name"`
			Mutations []Mutation `json:"mutations"`
		} `json:"files"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("read gremlins report %s: %w", name, err)
	}
	var out []Mutation
	for _, f := range r.Files {
		for _, m := range f.Mutations {
			m.File = f.Name
			out = append(out, m)
		}
	}
	return out, nil
}

// Statuses of a mutant run, as gremlins names them.
const (
	Killed    = "KILLED"
	Lived     = "LIVED"
	NotViable = "NOT VIABLE"
	TimedOut  = "TIMED OUT"
)

// Classify names the outcome of `go test` on a mutant: its exit code (-1
// when it was stopped at the timeout) and whether it failed to build.
func Classify(exit int, buildFailed bool) string {
	switch {
	case exit < 0:
		return TimedOut
	case exit == 0:
		return Lived
	case buildFailed:
		return NotViable
	}
	return Killed
}
