package snapshot_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"io"

	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/jobtest"
	"github.com/server-impermanence/server-impermanence/internal/snapshot"
)

// sevenConfig writes the default configuration with snapshot = true on
// seven subvolumes.
func sevenConfig(b *testing.B) string {
	s := string(config.DefaultTOML())
	for _, sv := range []string{"@nix", "@var-backup", "@var-lib-containers"} {
		s = strings.Replace(s, `name        = "`+sv+`"`, `name        = "`+sv+`"`+"\nsnapshot    = true", 1)
	}
	p := filepath.Join(b.TempDir(), "config.toml")
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkSnapshot7 compares one impermanence-snapshot run over seven
// subvolumes with seven `btrfs subvolume snapshot -r` commands, on the same
// filesystem.
func BenchmarkSnapshot7(b *testing.B) {
	l := jobtest.New(b)
	cfg := sevenConfig(b)
	svs := []string{"@persist", "@var-log", "@var-lib-services", "@var-lib-caddy", "@nix", "@var-backup", "@var-lib-containers"}
	for _, sv := range svs {
		os.WriteFile(filepath.Join(l.FS.Mount, sv, "file"), []byte("data"), 0o644)
	}
	b.Run("impermanence-snapshot", func(b *testing.B) {
		i := 0
		for b.Loop() {
			i++
			// A label per iteration: no wait for the next second.
			code := snapshot.Run(context.Background(), []string{"--config", cfg, "--mount", l.FS.Mount, "--label", fmt.Sprintf("b%d", i)}, l.Env)
			if code != 0 {
				b.Fatalf("exit %d: %s", code, l.Err)
			}
			l.Reset()
		}
	})
	cli := filepath.Join(l.FS.Mount, "cli")
	os.Mkdir(cli, 0o700)
	b.Run("btrfs-subvolume-snapshot-r-x7", func(b *testing.B) {
		i := 0
		for b.Loop() {
			i++
			for _, sv := range svs {
				out, err := exec.Command("btrfs", "subvolume", "snapshot", "-r", filepath.Join(l.FS.Mount, sv),
					filepath.Join(cli, fmt.Sprintf("%s-%d", sv, i))).CombinedOutput()
				if err != nil {
					b.Fatalf("%v: %s", err, out)
				}
			}
		}
	})
}

// BenchmarkListRun is one `impermanence-snapshot list` in process (no
// process start) into io.Discard, of the filesystem whose top level
// LIST_BENCH_MOUNT names with the configuration LIST_BENCH_CONFIG.
func BenchmarkListRun(b *testing.B) {
	mount, cfg := os.Getenv("LIST_BENCH_MOUNT"), os.Getenv("LIST_BENCH_CONFIG")
	if mount == "" || cfg == "" {
		b.Skip("set LIST_BENCH_MOUNT and LIST_BENCH_CONFIG")
	}
	env := job.Env{Stdout: io.Discard, Stderr: io.Discard, Root: b.TempDir(), Journal: func() bool { return false }}
	for b.Loop() {
		if code := snapshot.Run(context.Background(), []string{"list", "--config", cfg, "--mount", mount}, env); code != 0 {
			b.Fatalf("exit %d", code)
		}
	}
}
