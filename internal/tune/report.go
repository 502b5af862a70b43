package tune

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Status is the outcome for one subvolume.
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
	DryRun     bool     `json:"dry_run"`
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

// Print writes one line per subvolume and a summary.
func (r Report) Print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, x := range r.Subvolumes {
		var outcome string
		switch x.Status {
		case StatusChanged:
			outcome = "changed (was " + x.Previous() + ")"
		case StatusWouldChange:
			outcome = "would change (now " + x.Previous() + ")"
		case StatusSkipped, StatusFailed:
			outcome = string(x.Status) + ": " + x.Error
		default:
			outcome = string(x.Status)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", x.Subvolume, x.Mountpoint, x.Setting(), outcome)
	}
	tw.Flush()
	changed := StatusChanged
	if r.DryRun {
		changed = StatusWouldChange
	}
	var parts []string
	for _, s := range []Status{changed, StatusUnchanged, StatusSkipped, StatusFailed} {
		parts = append(parts, fmt.Sprintf("%d %s", r.Count(s), strings.ReplaceAll(string(s), "-", " ")))
	}
	fmt.Fprintf(w, "%d subvolumes: %s\n", len(r.Subvolumes), strings.Join(parts, ", "))
}
