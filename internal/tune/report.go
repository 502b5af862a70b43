package tune

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Status is the outcome for one subvolume or kernel parameter.
type Status string

// The outcomes.
const (
	StatusUnchanged   Status = "unchanged"
	StatusChanged     Status = "changed"
	StatusWouldChange Status = "would-change" // --dry-run
	StatusSkipped     Status = "skipped"      // not mounted where configured: nothing touched
	StatusFailed      Status = "failed"
)

// Result is the outcome for one subvolume.
type Result struct {
	Subvolume  string `json:"subvolume"`
	Mountpoint string `json:"mountpoint"`
	Property   string `json:"property"`        // compression | nocow
	Value      string `json:"value,omitempty"` // the algorithm, for compression
	Status     Status `json:"status"`
	// Was is what the directory had before, when it was read.
	Was   *State `json:"was,omitempty"`
	Error string `json:"error,omitempty"` // why it was skipped or failed
}

// Setting is the wanted setting as text: "compression=zstd" or "nocow".
func (r Result) Setting() string {
	if r.Property == PropertyCompression {
		return PropertyCompression + "=" + r.Value
	}
	return r.Property
}

// Previous is the previous value of the property as text.
func (r Result) Previous() string {
	switch {
	case r.Was == nil:
		return "unknown"
	case r.Property == PropertyNoCoW && r.Was.NoCoW:
		return "nocow"
	case r.Property == PropertyNoCoW:
		return "cow"
	case r.Was.Compression == "":
		return "unset"
	}
	return r.Was.Compression
}

// Report is the output of a run.
type Report struct {
	DryRun bool `json:"dry_run"`
	// Sysctl are the kernel parameters: the mode's, then [sysctl]'s.
	Sysctl []Param `json:"sysctl"`
	// ModeError says why the mode's sysctl file was not applied.
	ModeError  string   `json:"mode_error,omitempty"`
	Subvolumes []Result `json:"subvolumes"`
}

// Count returns how many subvolumes ended with status s.
func (r Report) Count(s Status) int {
	n := 0
	for _, x := range r.Subvolumes {
		if x.Status == s {
			n++
		}
	}
	return n
}

// CountParams returns how many kernel parameters ended with status s.
func (r Report) CountParams(s Status) int {
	n := 0
	for _, x := range r.Sysctl {
		if x.Status == s {
			n++
		}
	}
	return n
}

// outcome is a status as the text report writes it.
func outcome(s Status, was, err string) string {
	switch s {
	case StatusChanged:
		return "changed (was " + was + ")"
	case StatusWouldChange:
		return "would change (now " + was + ")"
	case StatusSkipped, StatusFailed:
		return string(s) + ": " + err
	}
	return string(s)
}

// summary is "3 changed, 2 unchanged, ..." of count.
func (r Report) summary(count func(Status) int) string {
	changed := StatusChanged
	if r.DryRun {
		changed = StatusWouldChange
	}
	var parts []string
	for _, s := range []Status{changed, StatusUnchanged, StatusSkipped, StatusFailed} {
		parts = append(parts, fmt.Sprintf("%d %s", count(s), strings.ReplaceAll(string(s), "-", " ")))
	}
	return strings.Join(parts, ", ")
}

// Print writes one line per kernel parameter and per subvolume, each part
// with a summary.
func (r Report) Print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, x := range r.Sysctl {
		was := x.Was
		if was == "" {
			was = "unreadable"
		}
		from := x.Source
		if x.Replaces != "" {
			from += " (replaces " + x.Replaces + ")"
		}
		fmt.Fprintf(tw, "%s = %s\t%s\t%s\n", x.Key, x.Value, from, outcome(x.Status, strings.ReplaceAll(was, "\t", " "), x.Error))
	}
	tw.Flush()
	if r.ModeError != "" {
		fmt.Fprintf(w, "mode not applied: %s\n", r.ModeError)
	}
	fmt.Fprintf(w, "%d kernel parameters: %s\n", len(r.Sysctl), r.summary(r.CountParams))
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, x := range r.Subvolumes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", x.Subvolume, x.Mountpoint, x.Setting(), outcome(x.Status, x.Previous(), x.Error))
	}
	tw.Flush()
	fmt.Fprintf(w, "%d subvolumes: %s\n", len(r.Subvolumes), r.summary(r.Count))
}
