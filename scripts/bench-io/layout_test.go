package main

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/plan"
)

// TestLayouts makes every layout the benchmark compares on a real loop
// device, as a measurement does, and checks that it is what it claims: the
// stock layout one subvolume without compression or NoCoW; each mode the
// default configuration's subvolumes (as impermanence-provision makes
// them) mounted with the generator's options for that mode, NoCoW on
// /var/lib/containers and the compression property on /var/lib/services.
// The machine's sysctls are not touched here.
func TestLayouts(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: loop devices and mounts")
	}
	for _, tool := range []string{"mkfs.btrfs", "btrfs", "losetup", "findmnt", "lsattr"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is missing", tool)
		}
	}
	repo := t.TempDir()
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	build := exec.Command("go", "build", "-o", filepath.Join(repo, "bin", "impermanence-provision"), "./helpers/provision")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build provision: %v\n%s", err, out)
	}
	if err := os.Symlink(filepath.Join(root, "sysctl"), filepath.Join(repo, "sysctl")); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	o, err := parseOptions([]string{"--repo", repo, "--image-dir", t.TempDir(), "--image-size", "2G"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	b := &bench{opts: o, env: Env{Now: time.Now}, log: io.Discard, work: work, mountOpts: map[string]string{}, data: map[string]string{}}
	detach, err := b.target(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := detach(); err != nil {
			t.Error(err)
		}
	})

	for _, l := range o.layouts {
		t.Run(l, func(t *testing.T) {
			r, undo, err := b.prepare(ctx, l)
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				if err := undo(); err != nil {
					t.Error(err)
				}
				if out, _ := exec.Command("findmnt", "-n", "--mountpoint", r).Output(); len(out) > 0 {
					t.Errorf("still mounted after undo: %s", out)
				}
			}()
			for _, w := range workloads {
				dir := filepath.Join(r, w.where)
				target := strings.TrimSpace(run1(t, "findmnt", "-n", "-o", "TARGET", "--target", dir))
				opts := strings.TrimSpace(run1(t, "findmnt", "-n", "-o", "OPTIONS", "--target", dir))
				nocow := strings.Contains(strings.Fields(run1(t, "lsattr", "-d", dir))[0], "C")
				comp := strings.TrimSpace(run1(t, "btrfs", "property", "get", dir, "compression"))
				if l == stockLayout {
					if target != r || nocow || comp != "" {
						t.Errorf("%s: on %s, NoCoW %v, %q; want a directory of @rootfs, CoW, no compression property", w.where, target, nocow, comp)
					}
					continue
				}
				sv := subvolumeAt(t, w.where)
				if target != dir {
					t.Errorf("%s: on %s, want its own mount", w.where, target)
				}
				wantOpts := plan.MountOptions(o.specs[l].mode, sv.Name, sv.Mountpoint) // the generator's
				for _, opt := range strings.Split(wantOpts, ",") {
					if opt == "commit=30" || strings.HasPrefix(opt, "subvol=") {
						continue // not shown / shown as subvol=/name
					}
					if !strings.Contains(","+opts+",", ","+opt+",") {
						t.Errorf("%s: mounted with %s, without %s (the generator's %s)", w.where, opts, opt, wantOpts)
					}
				}
				if nocow != !sv.CoW {
					t.Errorf("%s: NoCoW %v, the default configuration says cow = %v", w.where, nocow, sv.CoW)
				}
				wantComp := ""
				if sv.Compression != "" && sv.Compression != "none" {
					wantComp = "compression=" + sv.Compression
				}
				if comp != wantComp {
					t.Errorf("%s: %q, want %q", w.where, comp, wantComp)
				}
			}
		})
	}
}

func subvolumeAt(t *testing.T, mountpoint string) config.Subvolume {
	t.Helper()
	for _, s := range config.Default().Subvolumes {
		if s.Mountpoint == mountpoint {
			return s
		}
	}
	t.Fatalf("the default configuration has no subvolume at %s", mountpoint)
	return config.Subvolume{}
}

func run1(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return string(out)
}

func TestMountsBelow(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: a tmpfs mount")
	}
	dir := t.TempDir()
	sub := filepath.Join(dir, "root")
	os.Mkdir(sub, 0o755)
	if got := mountsBelow(dir); len(got) != 0 {
		t.Fatalf("mountsBelow(%s) = %q before any mount", dir, got)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "bench-io-test", sub).CombinedOutput(); err != nil {
		t.Fatalf("mount: %v\n%s", err, out)
	}
	defer exec.Command("umount", sub).Run()
	if got := mountsBelow(dir); len(got) != 1 || got[0] != sub {
		t.Errorf("mountsBelow(%s) = %q, want [%s]", dir, got, sub)
	}
	if got := mountsBelow(filepath.Join(dir, "ro")); len(got) != 0 {
		t.Errorf("mountsBelow(%s/ro), a string prefix of the mount, = %q", dir, got)
	}
}
