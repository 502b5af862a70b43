package inventory_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/sys/unix"

	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/inventory"
	"github.com/server-impermanence/server-impermanence/internal/jobtest"
	"github.com/server-impermanence/server-impermanence/internal/metrics"
	"github.com/server-impermanence/server-impermanence/internal/prune"
	"github.com/server-impermanence/server-impermanence/internal/rollback"
)

// TestExporterWithoutTopLevel: on real btrfs, the rollback and the cleanup
// record the archive inventory, and the exporter, whose mount table has
// /.snapshots but no top level (as on a default server), serves the
// archives with every collector succeeding.
func TestExporterWithoutTopLevel(t *testing.T) {
	l := jobtest.New(t)
	for p, c := range map[string]string{"proc/cmdline": "\n", "proc/sys/kernel/random/boot_id": "0123abcd-4567-89ef-0123-456789abcdef\n", "sys/power/resume": "0:0\n"} {
		os.MkdirAll(filepath.Join(l.Env.Root, filepath.Dir(p)), 0o755)
		if err := os.WriteFile(filepath.Join(l.Env.Root, p), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(l.FS.Mount, "@root", "scratch"), []byte("last boot\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if code := rollback.Run(ctx, l.Args(), rollback.Env{Env: l.Env}); code != 0 {
		t.Fatalf("rollback: exit %d\n%s", code, l.Err)
	}
	inv, err := inventory.Read(l.Env.RunDir())
	if err != nil || inv.Job != "rollback" || len(inv.Subvolumes) != 1 || inv.Subvolumes[0].Count != 1 {
		t.Fatalf("rollback's inventory: %+v, %v; want one archive of @root", inv, err)
	}

	// The exporter's host: /.snapshots mounted, no top level.
	root := t.TempDir()
	snaps := filepath.Join(root, ".snapshots")
	os.MkdirAll(snaps, 0o755)
	if err := unix.Mount(l.FS.Device, snaps, "btrfs", unix.MS_RDONLY, "subvol=@snapshots"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(snaps, unix.MNT_DETACH) })
	table, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var mine []string
	for _, line := range strings.Split(string(table), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == snaps {
			f[4] = config.SnapshotsMountpoint
			mine = append(mine, strings.Join(f, " "))
		}
	}
	if len(mine) != 1 {
		t.Fatalf("mount of %s not found in the mount table", snaps)
	}
	paths := metrics.PathsAt(root)
	paths.Mountinfo = filepath.Join(root, "mountinfo")
	os.WriteFile(paths.Mountinfo, []byte(strings.Join(mine, "\n")+"\n"), 0o644)
	paths.Sysfs, paths.Dev = "/sys", "/dev"
	paths.StateDir, paths.RunDir = l.Env.StateDir(), l.Env.RunDir()
	paths.Config = filepath.Join(root, "config.toml")
	cfg := strings.Replace(string(config.DefaultTOML()), `device = "/dev/disk/by-label/server"`, `device = "`+l.FS.Device+`"`, 1)
	if err := os.WriteFile(paths.Config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	scrape := func(job string) {
		t.Helper()
		got, ok, err := inventory.Newest(l.Env.RunDir(), l.Env.StateDir())
		if !ok || err != nil || got.Job != job {
			t.Fatalf("newest inventory %+v, %v; want %s's", got, err, job)
		}
		sv := got.Subvolumes[0]
		want := `# HELP impermanence_archives Archived previous states of the ephemeral subvolume in the archive dir, at the archive inventory's time.
# TYPE impermanence_archives gauge
impermanence_archives{subvolume="@root"} 1
# HELP impermanence_archive_newest_timestamp_seconds Time in the name of the newest archive.
# TYPE impermanence_archive_newest_timestamp_seconds gauge
impermanence_archive_newest_timestamp_seconds{subvolume="@root"} ` + seconds(sv.Newest) + `
# HELP impermanence_archive_inventory_timestamp_seconds When the archive inventory was taken (by the rollback at boot or the cleanup: the jobs that mount the top level); its age is time() minus this.
# TYPE impermanence_archive_inventory_timestamp_seconds gauge
impermanence_archive_inventory_timestamp_seconds{job_name="` + job + `"} ` + seconds(got.Taken) + `
# HELP impermanence_collector_success 1 if the collector's source was read without error in this scrape, 0 if not (its other metrics may be missing or partial).
# TYPE impermanence_collector_success gauge
impermanence_collector_success{collector="archives"} 1
impermanence_collector_success{collector="blanks"} 1
impermanence_collector_success{collector="build"} 1
impermanence_collector_success{collector="config"} 1
impermanence_collector_success{collector="filesystem"} 1
impermanence_collector_success{collector="jobs"} 1
impermanence_collector_success{collector="overhead"} 1
impermanence_collector_success{collector="scrub"} 1
impermanence_collector_success{collector="snapshots"} 1
`
		reg := metrics.NewRegistry(metrics.Options{Paths: paths})
		if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "impermanence_archives", "impermanence_archive_newest_timestamp_seconds",
			"impermanence_archive_inventory_timestamp_seconds", "impermanence_collector_success"); err != nil {
			t.Errorf("after the %s: %v", job, err)
		}
	}
	scrape("rollback")

	l.Reset()
	if code := prune.Run(ctx, l.Args(), l.Env); code != 0 {
		t.Fatalf("prune: exit %d\n%s", code, l.Err)
	}
	scrape("cleanup")
}

func seconds(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixNano())/1e9, 'g', -1, 64)
}
