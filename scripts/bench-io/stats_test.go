package main

import (
	"bytes"
	"flag"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{5, 5, 1}, 5},
	} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
	if !math.IsNaN(median(nil)) {
		t.Errorf("median(nil) is not NaN")
	}
}

var (
	tps  = Metric{Workload: "database", Name: "TPS", Unit: "tx/s", HigherBetter: true}
	secs = Metric{Workload: "tree", Name: "unpack", Unit: "s"}
)

func samples() []Sample {
	var s []Sample
	add := func(m Metric, layout string, vals ...float64) {
		for i, v := range vals {
			s = append(s, Sample{Metric: m, Layout: layout, Round: i + 1, Value: v})
		}
	}
	add(tps, "stock", 100, 110, 90)
	add(tps, "io-optimized", 150, 130, 120)
	add(secs, "stock", 2, 2, 2)
	add(secs, "io-optimized", 4, 5, 3)
	add(secs, "balanced", 1)
	return s
}

func TestSummarize(t *testing.T) {
	got := Summarize(samples(), []string{"stock", "balanced", "io-optimized"}, "stock")
	want := []Summary{
		{Metric: tps, Layout: "stock", Values: []float64{100, 110, 90}, Median: 100, Min: 90, Max: 110,
			Ratios: []float64{1, 1, 1}, Ratio: 1, RatioMin: 1, RatioMax: 1},
		// paired by round: 150/100, 130/110, 120/90
		{Metric: tps, Layout: "io-optimized", Values: []float64{150, 130, 120}, Median: 130, Min: 120, Max: 150,
			Ratios: []float64{1.5, 130.0 / 110, 120.0 / 90}, Ratio: 120.0 / 90, RatioMin: 130.0 / 110, RatioMax: 1.5},
		// lower is better: the ratio is stock / layout
		{Metric: secs, Layout: "stock", Values: []float64{2, 2, 2}, Median: 2, Min: 2, Max: 2,
			Ratios: []float64{1, 1, 1}, Ratio: 1, RatioMin: 1, RatioMax: 1},
		{Metric: secs, Layout: "balanced", Values: []float64{1}, Median: 1, Min: 1, Max: 1,
			Ratios: []float64{2}, Ratio: 2, RatioMin: 2, RatioMax: 2},
		{Metric: secs, Layout: "io-optimized", Values: []float64{4, 5, 3}, Median: 4, Min: 3, Max: 5,
			Ratios: []float64{0.5, 0.4, 2.0 / 3}, Ratio: 0.5, RatioMin: 0.4, RatioMax: 2.0 / 3},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// Without stock figures there is no ratio.
	for _, s := range Summarize(samples(), []string{"io-optimized"}, "absent") {
		if s.Ratio != 0 {
			t.Errorf("%s %s: ratio %v without a stock figure", s.Name, s.Layout, s.Ratio)
		}
	}
}

func TestWriteTable(t *testing.T) {
	layouts := []string{"stock", "balanced", "io-optimized"}
	var buf bytes.Buffer
	WriteTable(&buf, Summarize(samples(), layouts, "stock"), layouts, "stock")
	golden := filepath.Join("testdata", "table.golden")
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), buf.String()); diff != "" {
		t.Errorf("table differs from %s (-want +got; -update rewrites it):\n%s", golden, diff)
	}
}

func TestFormat(t *testing.T) {
	for in, want := range map[float64]string{1234.5: "1234", 99.94: "99.9", 12.34: "12.3", 1.234: "1.23", 0.0456: "0.05"} {
		if got := format(in); got != want {
			t.Errorf("format(%v) = %q, want %q", in, got, want)
		}
	}
}
