package main

import (
	"fmt"
	"io"
	"math"
	"slices"
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
	// Ratios are this layout's value against the stock layout's of the same
	// round (measured next to each other, so that the machine's drift over
	// the run cancels out), > 1 meaning better (faster, smaller); Ratio is
	// their median, 0 when there is no stock figure.
	Ratios   []float64 `json:"ratios_vs_stock,omitempty"`
	Ratio    float64   `json:"ratio_vs_stock,omitempty"`
	RatioMin float64   `json:"ratio_min,omitempty"`
	RatioMax float64   `json:"ratio_max,omitempty"`
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
	type key struct {
		m      Metric
		layout string
	}
	type roundKey struct {
		m     Metric
		round int
	}
	var metrics []Metric
	seen := map[Metric]bool{}
	values := map[key][]Sample{}
	stockByRound := map[roundKey]float64{}
	for _, s := range samples {
		if !seen[s.Metric] {
			seen[s.Metric] = true
			metrics = append(metrics, s.Metric)
		}
		k := key{s.Metric, s.Layout}
		values[k] = append(values[k], s)
		if s.Layout == stock {
			stockByRound[roundKey{s.Metric, s.Round}] = s.Value
		}
	}
	var out []Summary
	for _, m := range metrics {
		for _, l := range layouts {
			ss := values[key{m, l}]
			if len(ss) == 0 {
				continue
			}
			s := Summary{Metric: m, Layout: l}
			for _, x := range ss {
				s.Values = append(s.Values, x.Value)
				if st, ok := stockByRound[roundKey{m, x.Round}]; ok {
					if r := ratio(m, x.Value, st); r != 0 {
						s.Ratios = append(s.Ratios, r)
					}
				}
			}
			s.Median, s.Min, s.Max = median(s.Values), slices.Min(s.Values), slices.Max(s.Values)
			if len(s.Ratios) > 0 {
				s.Ratio, s.RatioMin, s.RatioMax = median(s.Ratios), slices.Min(s.Ratios), slices.Max(s.Ratios)
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
// median of the per-round ratios to stock (> 1 better) and their range.
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
			case len(s.Ratios) == 1:
				fmt.Fprintf(w, " %s (**%.2f×**) |", format(s.Median), s.Ratio)
			default:
				fmt.Fprintf(w, " %s ±%.0f%% (**%.2f×**, %.2f–%.2f) |", format(s.Median), s.spread(), s.Ratio, s.RatioMin, s.RatioMax)
			}
		}
		fmt.Fprintln(w)
	}
}
