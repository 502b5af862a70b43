package overhead

import "time"

// Job is the state record impermanence-maintain writes the overhead to
// (overhead.json in the state directory); its Details are a Record.
const Job = "overhead"

// Record is the overhead part of a maintenance run, as recorded for the
// exporter. A run that fails keeps the previous run's measurement (and its
// MeasuredAt) beside its error.
type Record struct {
	Measurement
	// BudgetPercent is [maintenance].overhead_budget when it ran.
	BudgetPercent int `json:"budget_percent"`
	// MeasuredAt is when the measurement was made (zero: never).
	MeasuredAt time.Time `json:"measured_at,omitzero"`
	Seconds    float64   `json:"seconds"`
	Error      string    `json:"error,omitempty"`
}
