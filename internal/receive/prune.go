package receive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"

	"github.com/server-impermanence/server-impermanence/internal/audit"
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/names"
	"github.com/server-impermanence/server-impermanence/internal/receiveproto"
	"github.com/server-impermanence/server-impermanence/internal/replicate"
	"github.com/server-impermanence/server-impermanence/internal/retention"
	"github.com/server-impermanence/server-impermanence/internal/safefile"
	"github.com/server-impermanence/server-impermanence/internal/targetdir"
	"github.com/server-impermanence/server-impermanence/internal/timespan"
)

// DefaultConfig is the backup host's retention file for --prune.
const DefaultConfig = "/etc/server-impermanence/receive.toml"

// maxConfig bounds the retention file read.
const maxConfig = 1 << 20

// Config is the backup host's retention: one policy for every subvolume
// below a root.
type Config struct {
	Retention struct {
		Hourly  int    `toml:"hourly"`
		Daily   int    `toml:"daily"`
		Weekly  int    `toml:"weekly"`
		Monthly int    `toml:"monthly"`
		Yearly  int    `toml:"yearly"`
		KeepMin int    `toml:"keep_min"`
		MinAge  string `toml:"min_age"`
	} `toml:"retention"`
}

// LoadConfig reads and checks the retention file: unknown keys and
// negative counts are errors with file:line:col.
func LoadConfig(path string, data []byte) (retention.Policy, error) {
	var c Config
	c.Retention.KeepMin, c.Retention.MinAge = 1, "0"
	d := toml.NewDecoder(bytes.NewReader(data)).DisallowUnknownFields()
	if err := d.Decode(&c); err != nil {
		var de *toml.DecodeError
		var se *toml.StrictMissingError
		switch {
		case errors.As(err, &se) && len(se.Errors) > 0:
			row, col := se.Errors[0].Position()
			return retention.Policy{}, fmt.Errorf("%s:%d:%d: unknown key %s (the keys are retention.hourly, daily, weekly, monthly, yearly, keep_min, min_age)",
				path, row, col, strings.Join(se.Errors[0].Key(), "."))
		case errors.As(err, &de):
			row, col := de.Position()
			return retention.Policy{}, fmt.Errorf("%s:%d:%d: %s", path, row, col, de.Error())
		}
		return retention.Policy{}, fmt.Errorf("%s: %w", path, err)
	}
	r := c.Retention
	for _, v := range []struct {
		k string
		n int
	}{{"hourly", r.Hourly}, {"daily", r.Daily}, {"weekly", r.Weekly}, {"monthly", r.Monthly}, {"yearly", r.Yearly}, {"keep_min", r.KeepMin}} {
		if v.n < 0 || v.n > 100000 {
			return retention.Policy{}, fmt.Errorf("%s: retention.%s = %d: must be 0..100000", path, v.k, v.n)
		}
	}
	if r.KeepMin < 1 {
		return retention.Policy{}, fmt.Errorf("%s: retention.keep_min = %d: a target keeps at least one snapshot of each subvolume", path, r.KeepMin)
	}
	age, err := timespan.Parse(r.MinAge)
	if err != nil {
		return retention.Policy{}, fmt.Errorf("%s: retention.min_age: %w", path, err)
	}
	return retention.Policy{Hourly: r.Hourly, Daily: r.Daily, Weekly: r.Weekly, Monthly: r.Monthly,
		Yearly: r.Yearly, KeepMin: r.KeepMin, MinAge: age, Location: time.Local}, nil
}

// Verdict is what prune does to one subvolume a root holds.
type Verdict struct {
	Subvolume, Name string
	Delete          bool
	Reason          string
}

// PrunePlan decides over what one subvolume directory holds: received
// snapshots with the suite's names go through the policy, the newest of
// them is always kept (the parent of the client's next incremental send),
// and anything else is never touched. Newest first.
func PrunePlan(sv string, held []replicate.Held, p retention.Policy, now time.Time) []Verdict {
	var snaps []retention.Snapshot
	var out []Verdict
	for _, h := range held {
		t, label, ok := names.ParseSnapshot(h.Name)
		if !ok || h.ReceivedUUID == "" {
			out = append(out, Verdict{Subvolume: sv, Name: h.Name, Reason: "not a received snapshot of the suite: never touched"})
			continue
		}
		snaps = append(snaps, retention.Snapshot{Name: h.Name, Time: t, Manual: label != ""})
	}
	slices.SortFunc(snaps, func(a, b retention.Snapshot) int {
		if c := b.Time.Compare(a.Time); c != 0 {
			return c
		}
		return strings.Compare(b.Name, a.Name)
	})
	if len(snaps) > 0 {
		snaps[0].Parent = true
	}
	var kept []Verdict
	for i, d := range retention.Select(snaps, p, now) {
		kept = append(kept, Verdict{Subvolume: sv, Name: snaps[i].Name, Delete: !d.Keep, Reason: d.String()})
	}
	return append(kept, out...)
}

func runPrune(ctx context.Context, env Env, log *slog.Logger, root, cfgPath string, dryRun bool) int {
	data, err := safefile.ReadFollow(cfgPath, maxConfig)
	if err != nil {
		fmt.Fprintf(env.Stderr, "%s: read %s: %v\n", program, cfgPath, err)
		return job.ExitFailure
	}
	policy, err := LoadConfig(cfgPath, data)
	if err != nil {
		fmt.Fprintf(env.Stderr, "%s: %v\n", program, err)
		return job.ExitFailure
	}
	s := &server{env: env, root: root, dir: targetdir.Dir{Root: root}, log: log}
	if err := s.open(); err != nil {
		fmt.Fprintf(env.Stderr, "%s: %v\n", program, err)
		return job.ExitFailure
	}
	defer s.close()
	if !dryRun {
		unlock, err := s.lock()
		if err != nil {
			fmt.Fprintf(env.Stderr, "%s: %v\n", program, err)
			return job.ExitFailure
		}
		defer unlock()
	}
	svs, err := subvolumeDirs(root)
	if err != nil {
		fmt.Fprintf(env.Stderr, "%s: %v\n", program, err)
		return job.ExitFailure
	}
	now := env.Now()
	code := job.ExitOK
	for _, sv := range svs {
		if job.Stopped(ctx) != nil {
			return job.ExitFailure
		}
		held, err := s.dir.List(sv)
		if err != nil {
			fmt.Fprintf(env.Stderr, "%s: %v\n", program, err)
			code = job.ExitFailure
			continue
		}
		for _, v := range PrunePlan(sv, held, policy, now) {
			verb := "keep"
			if v.Delete {
				verb = "delete"
				if !dryRun {
					p := s.dir.Path(sv, v.Name)
					err := s.dir.Delete(sv, v.Name)
					ev := audit.Event{Action: "target-delete", Subvolume: sv, Path: p, Result: audit.ResultSuccess}
					if err != nil {
						ev.Result, ev.Error = audit.ResultFailure, err.Error()
						fmt.Fprintf(env.Stderr, "%s: delete %s: %v\n", program, p, err)
						code = job.ExitFailure
						verb = "FAILED to delete"
					} else {
						log.Info(fmt.Sprintf("deleted %s/%s (the backup host's retention)", sv, v.Name), "subvolume", sv, "snapshot", v.Name)
						verb = "deleted"
					}
					s.event(ev)
				}
			}
			fmt.Fprintf(env.Stdout, "%s %s/%s (%s)\n", verb, sv, v.Name, v.Reason)
		}
	}
	return code
}

// subvolumeDirs returns the subvolume directories below root: every
// directory path whose name the protocol accepts, holding at least one
// subvolume or nothing yet, sorted.
func subvolumeDirs(root string) ([]string, error) {
	var out []string
	var walk func(dir, rel string) error
	walk = func(dir, rel string) error {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("read %s: %w", dir, err)
		}
		hasSub := false
		for _, e := range entries {
			p := filepath.Join(dir, e.Name())
			if targetdir.IsSubvolume(p) {
				hasSub = true
				continue
			}
			r := strings.TrimPrefix(rel+"/"+e.Name(), "/")
			if !e.IsDir() || receiveproto.CheckSubvolume(r) != nil {
				continue
			}
			if err := walk(p, r); err != nil {
				return err
			}
		}
		if hasSub && rel != "" {
			out = append(out, rel)
		}
		return nil
	}
	err := walk(root, "")
	slices.Sort(out)
	return out, err
}
