package main

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
)

// Metric describes one figure a workload reports.
type Metric struct {
	Workload string `json:"workload"`
	Name     string `json:"metric"`
	Unit     string `json:"unit"`
	// HigherBetter is true for rates (TPS, MB/s), false for times, latencies
	// and sizes; the ratio to stock is oriented so that > 1 is better.
	HigherBetter bool `json:"higher_is_better"`
}

// Sample is one measured value of a metric on a layout.
type Sample struct {
	Metric
	Layout string  `json:"layout"`
	Round  int     `json:"round"`
	Value  float64 `json:"value"`
}

// Summary is the median and spread of a metric on a layout.
type Summary struct {
	Metric
	Layout string    `json:"layout"`
	Values []float64 `json:"values"`
	Median float64   `json:"median"`
	Min    float64   `json:"min"`
	Max    float64   `json:"max"`
	// Ratio is this layout's median against the stock layout's, > 1 meaning
	// better (faster, smaller); 0 when there is no stock figure.
	Ratio float64 `json:"ratio_vs_stock,omitempty"`
}

// median of values (the mean of the middle two for an even count).
func median(values []float64) float64 {
	if len(values) == 0 {
		return math.NaN()
	}
	v := append([]float64(nil), values...)
	sort.Float64s(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// ratio orients a against the stock value b so that > 1 is better.
func ratio(m Metric, value, stock float64) float64 {
	if stock == 0 || value == 0 {
		return 0
	}
	if m.HigherBetter {
		return value / stock
	}
	return stock / value
}

// Summarize groups samples by metric and layout, in the order metrics and
// layouts first appear (layouts in the order given).
func Summarize(samples []Sample, layouts []string, stock string) []Summary {
	type key struct{ workload, metric, layout string }
	var metrics []Metric
	seen := map[Metric]bool{}
	values := map[key][]float64{}
	for _, s := range samples {
		if !seen[s.Metric] {
			seen[s.Metric] = true
			metrics = append(metrics, s.Metric)
		}
		k := key{s.Workload, s.Name, s.Layout}
		values[k] = append(values[k], s.Value)
	}
	var out []Summary
	for _, m := range metrics {
		stockVals := values[key{m.Workload, m.Name, stock}]
		for _, l := range layouts {
			v := values[key{m.Workload, m.Name, l}]
			if len(v) == 0 {
				continue
			}
			s := Summary{Metric: m, Layout: l, Values: v, Median: median(v), Min: v[0], Max: v[0]}
			for _, x := range v {
				s.Min, s.Max = math.Min(s.Min, x), math.Max(s.Max, x)
			}
			if len(stockVals) > 0 {
				s.Ratio = ratio(m, s.Median, median(stockVals))
			}
			out = append(out, s)
		}
	}
	return out
}

// spread is half the range relative to the median, in percent.
func (s Summary) spread() float64 {
	if s.Median == 0 {
		return 0
	}
	return (s.Max - s.Min) / 2 / math.Abs(s.Median) * 100
}

// format prints a figure with three significant digits at most (and no
// exponent).
func format(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// WriteTable prints the summaries as a Markdown table: one row per metric,
// one column per layout, each cell "median ±spread%" and, off stock, the
// ratio to stock (> 1 better).
func WriteTable(w io.Writer, sums []Summary, layouts []string, stock string) {
	fmt.Fprintf(w, "| workload | metric |")
	for _, l := range layouts {
		fmt.Fprintf(w, " %s |", l)
	}
	fmt.Fprintf(w, "\n|---|---|%s\n", strings.Repeat("---|", len(layouts)))
	var order []Metric
	cells := map[Metric]map[string]Summary{}
	for _, s := range sums {
		if cells[s.Metric] == nil {
			cells[s.Metric] = map[string]Summary{}
			order = append(order, s.Metric)
		}
		cells[s.Metric][s.Layout] = s
	}
	for _, m := range order {
		better := "lower is better"
		if m.HigherBetter {
			better = "higher is better"
		}
		fmt.Fprintf(w, "| %s | %s (%s; %s) |", m.Workload, m.Name, m.Unit, better)
		for _, l := range layouts {
			s, ok := cells[m][l]
			switch {
			case !ok:
				fmt.Fprintf(w, " — |")
			case l == stock || s.Ratio == 0:
				fmt.Fprintf(w, " %s ±%.0f%% |", format(s.Median), s.spread())
			default:
				fmt.Fprintf(w, " %s ±%.0f%% (**%.2f×**) |", format(s.Median), s.spread(), s.Ratio)
			}
		}
		fmt.Fprintln(w)
	}
}
