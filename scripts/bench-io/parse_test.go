package main

import (
	"bytes"
	"compress/flate"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		err  string
		want func(o options) bool
	}{
		{name: "defaults", args: nil, want: func(o options) bool {
			return o.rounds == 3 && o.sizes == fullSizes && len(o.layouts) == 4 && len(o.workloads) == 5 && o.device == ""
		}},
		{name: "quick", args: []string{"--quick"}, want: func(o options) bool { return o.rounds == 1 && o.sizes == quickSizes }},
		{name: "quick with rounds", args: []string{"--quick", "--rounds", "2"}, want: func(o options) bool { return o.rounds == 2 && o.sizes == quickSizes }},
		{name: "device confirmed", args: []string{"--device", "/dev/sdz", "--destroy-data", "/dev/sdz"}, want: func(o options) bool { return o.device == "/dev/sdz" }},
		{name: "device unconfirmed", args: []string{"--device", "/dev/sdz"}, err: "--device /dev/sdz destroys everything on it: confirm with --destroy-data /dev/sdz"},
		{name: "device confirmed for another", args: []string{"--device", "/dev/sdz", "--destroy-data", "/dev/sdy"}, err: "--device /dev/sdz destroys everything on it: confirm with --destroy-data /dev/sdz"},
		{name: "confirmation alone", args: []string{"--destroy-data", "/dev/sdz"}, err: "--destroy-data without --device"},
		{name: "unknown layout", args: []string{"--layouts", "stock,fast"}, err: `--layouts: "fast" is neither stock nor a mode (balanced, io-optimized, space-optimized), optionally @fs+options and :drop-in.toml`},
		{name: "layout with a drop-in", args: []string{"--layouts", "stock,io-optimized,io-optimized:/tmp/cow-containers.toml"}, want: func(o options) bool {
			return strings.Join(o.layouts, " ") == "stock io-optimized io-optimized:cow-containers" &&
				cmp.Equal(o.specs["io-optimized:cow-containers"], layoutSpec{label: "io-optimized:cow-containers", mode: "io-optimized", dropIn: "/tmp/cow-containers.toml"}, cmp.AllowUnexported(layoutSpec{}))
		}},
		{name: "drop-in not toml", args: []string{"--layouts", "balanced:/tmp/x"}, err: `--layouts: "balanced:/tmp/x" is neither stock nor a mode (balanced, io-optimized, space-optimized), optionally @fs+options and :drop-in.toml`},
		{name: "fs options", args: []string{"--layouts", "stock,space-optimized@compress-force=zstd:6+discard=async+commit=30:/x/cow.toml"}, want: func(o options) bool {
			l := "space-optimized@compress-force=zstd:6+discard=async+commit=30:cow"
			return strings.Join(o.layouts, " ") == "stock "+l &&
				cmp.Equal(o.specs[l], layoutSpec{label: l, mode: "space-optimized", fsOptions: []string{"compress-force=zstd:6", "discard=async", "commit=30"}, dropIn: "/x/cow.toml"}, cmp.AllowUnexported(layoutSpec{}))
		}},
		{name: "empty fs option", args: []string{"--layouts", "balanced@compress=zstd:1++commit=30"}, err: `--layouts: "balanced@compress=zstd:1++commit=30": empty or malformed filesystem option ""`},
		{name: "layout twice", args: []string{"--layouts", "stock,balanced,stock"}, err: "--layouts: stock twice"},
		{name: "unknown workload", args: []string{"--workloads", "database,web"}, err: `--workloads: unknown workload "web" (database, tree, random, logs, sequential)`},
		{name: "zero rounds", args: []string{"--rounds", "-1"}, err: "--rounds -1: at least 1"},
		{name: "argument", args: []string{"x"}, err: `unexpected argument "x"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseOptions(tc.args, io.Discard)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("err = %v, want %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.want(o) {
				t.Errorf("options %+v", o)
			}
		})
	}
}

func TestRunRefusesUnconfirmedDevice(t *testing.T) {
	var stderr bytes.Buffer
	code := run(t.Context(), []string{"--device", "/dev/sdz"}, Env{Stdout: io.Discard, Stderr: &stderr})
	if code != exitUsage {
		t.Errorf("exit %d, want %d", code, exitUsage)
	}
	if want := "bench-io: --device /dev/sdz destroys everything on it: confirm with --destroy-data /dev/sdz\n"; stderr.String() != want {
		t.Errorf("stderr %q, want %q", stderr.String(), want)
	}
}

func TestParsePgbench(t *testing.T) {
	out := `pgbench (15.18 (Debian 15.18-0+deb12u1))
starting vacuum...end.
transaction type: <builtin: TPC-B (sort of)>
scaling factor: 5
query mode: simple
number of clients: 4
number of threads: 2
maximum number of tries: 1
duration: 5 s
number of transactions actually processed: 2301
number of failed transactions: 0 (0.000%)
latency average = 8.693 ms
initial connection time = 6.512 ms
tps = 460.149323 (without initial connection time)
`
	tps, lat, err := parsePgbench(out)
	if err != nil || tps != 460.149323 || lat != 8.693 {
		t.Errorf("parsePgbench = %v, %v, %v; want 460.149323, 8.693", tps, lat, err)
	}
	if _, _, err := parsePgbench("tps = 1 (including connections establishing)\n"); err == nil {
		t.Errorf("parsePgbench accepted an output without latency")
	}
}

func TestParseCompsize(t *testing.T) {
	out := `Processed 1 file, 2050 regular extents (2050 refs), 0 inline.
Type       Perc     Disk Usage   Uncompressed Referenced  
TOTAL       53%      142606336    268435456    268435456       
none       100%        4194304      4194304      4194304       
zstd        52%      138412032    264241152    264241152       
`
	got, err := parseCompsize(out)
	if err != nil || got != 142606336 {
		t.Errorf("parseCompsize = %v, %v; want 142606336", got, err)
	}
	if _, err := parseCompsize("Processed 0 files.\n"); err == nil {
		t.Errorf("parseCompsize accepted an output without TOTAL")
	}
}

func TestCheckOptions(t *testing.T) {
	for _, tc := range []struct {
		layout, got, err string
	}{
		{"stock", "rw,discard=async,space_cache=v2,subvolid=256,subvol=/@rootfs", ""},
		{"stock", "rw,compress=zstd:3,space_cache=v2,subvolid=256,subvol=/@rootfs", "stock layout mounted with compress=zstd:3"},
		{"balanced", "rw,compress=zstd:1,discard=async,space_cache=v2,subvolid=257,subvol=/@root", ""},
		{"balanced", "rw,compress=zstd:1,discard=async,space_cache=v2,commit=60,subvolid=257,subvol=/@root",
			"layout balanced: the filesystem is mounted with rw,compress=zstd:1,discard=async,space_cache=v2,commit=60,subvolid=257,subvol=/@root, without commit=30"},
		{"io-optimized", "rw,compress=zstd:1,discard=async,space_cache=v2,subvolid=257,subvol=/@root",
			"layout io-optimized: the filesystem is mounted with rw,compress=zstd:1,discard=async,space_cache=v2,subvolid=257,subvol=/@root, without commit=60"},
	} {
		spec, err := parseLayout(tc.layout)
		if err != nil {
			t.Fatal(err)
		}
		err = checkOptions(spec, tc.got)
		if got := errString(err); got != tc.err {
			t.Errorf("checkOptions(%s, %s) = %q, want %q", tc.layout, tc.got, got, tc.err)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestLogText(t *testing.T) {
	a, b := LogText(1<<20), LogText(1<<20)
	if len(a) != 1<<20 {
		t.Fatalf("LogText(1 MiB) is %d bytes", len(a))
	}
	if !bytes.Equal(a, b) {
		t.Fatalf("LogText is not the same twice")
	}
	if !bytes.HasPrefix(LogText(2<<20), a) {
		t.Errorf("a longer text does not start with the shorter one")
	}
	lines := strings.Split(string(a), "\n")
	if len(lines) < 5000 {
		t.Errorf("%d lines in 1 MiB", len(lines))
	}
	// Compressible like logs are, but not trivially (not one line repeated).
	var z bytes.Buffer
	w, _ := flate.NewWriter(&z, flate.BestSpeed)
	w.Write(a)
	w.Close()
	if r := float64(len(a)) / float64(z.Len()); r < 2.5 || r > 12 {
		t.Errorf("deflate ratio %.1f, want between 2.5 and 12", r)
	}
	seen := map[string]bool{}
	for _, l := range lines {
		seen[l] = true
	}
	if len(seen) < len(lines)*9/10 {
		t.Errorf("only %d distinct lines of %d", len(seen), len(lines))
	}
}
