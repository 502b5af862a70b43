package send

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/btrfstest"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/jobtest"
	"github.com/server-impermanence/server-impermanence/internal/prune"
	"github.com/server-impermanence/server-impermanence/internal/snapshot"
	"github.com/server-impermanence/server-impermanence/internal/targetdir"
	"github.com/server-impermanence/server-impermanence/internal/targetstate"
)

// rig is a provisioned source filesystem, a second btrfs as the target,
// and a configuration with one local [[target]] for @persist.
type rig struct {
	src    *jobtest.Layout
	dst    *btrfstest.FS
	root   string // the target directory
	config string
	now    time.Time
}

func newRig(t *testing.T, retention string) *rig {
	t.Helper()
	r := &rig{src: jobtest.New(t), now: time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)}
	r.dst = btrfstest.New(t)
	r.root = filepath.Join(r.dst.Mount, "web1")
	if err := os.Mkdir(r.root, 0o755); err != nil {
		t.Fatal(err)
	}
	r.config = filepath.Join(t.TempDir(), "config.toml")
	def := string(config.DefaultTOML())
	cfg := strings.Replace(def,
		`retention = { hourly = 24, daily = 7, weekly = 4, monthly = 12, yearly = 0, keep_min = 1, min_age = "30m", space_budget = 0 }`,
		`retention = { hourly = 0, daily = 0, weekly = 0, monthly = 0, yearly = 0, keep_min = 1, min_age = "0", space_budget = 0 }`, 1)
	if cfg == def {
		t.Fatal("default.toml's snapshot retention changed: adapt the test")
	}
	cfg += fmt.Sprintf("\n[[target]]\nname = \"usb\"\nurl = %q\nsubvolumes = [\"@persist\"]\nretention = %s\n", r.root, retention)
	if err := os.WriteFile(r.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	r.src.Env.Now = func() time.Time { return r.now }
	r.src.Env.Sleep = func(time.Duration) {}
	return r
}

func (r *rig) args(args ...string) []string {
	flags := []string{"--config", r.config, "--mount", r.src.FS.Mount}
	if len(args) > 0 && args[0] == "list" {
		return append(append([]string{"list"}, flags...), args[1:]...)
	}
	return append(flags, args...)
}

// snapshot writes files into @persist and takes a snapshot an hour later
// than the last.
func (r *rig) snapshot(t *testing.T, files map[string][]byte) string {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(r.src.FS.Mount, "@persist", name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r.now = r.now.Add(time.Hour)
	r.src.Reset()
	if code := snapshot.Run(context.Background(), r.args("@persist"), r.src.Env); code != 0 {
		t.Fatalf("snapshot: exit %d\n%s%s", code, r.src.Out, r.src.Err)
	}
	return r.now.UTC().Format("20060102T150405Z")
}

// send runs impermanence-send and returns its output.
func (r *rig) send(t *testing.T, want int, args ...string) string {
	t.Helper()
	r.src.Reset()
	if code := Run(context.Background(), r.args(args...), r.src.Env); code != want {
		t.Fatalf("send %v: exit %d, want %d\n%s%s", args, code, want, r.src.Out, r.src.Err)
	}
	return r.src.Out.String()
}

// tree returns the checksum of every file below dir by relative path.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[rel] = fmt.Sprintf("%x", sha256.Sum256(b))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// checkSame compares each named snapshot on the target with the source.
func (r *rig) checkSame(t *testing.T, snaps ...string) {
	t.Helper()
	for _, s := range snaps {
		src := tree(t, filepath.Join(r.src.FS.Mount, "@snapshots/@persist", s))
		dst := tree(t, filepath.Join(r.root, "@persist", s))
		if !mapsEqual(src, dst) || len(src) == 0 {
			t.Errorf("target @persist/%s differs from the source: %d files on the source, %d on the target", s, len(src), len(dst))
		}
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// targetNames lists <root>/@persist and <root>/.incoming/@persist.
func (r *rig) targetNames(t *testing.T, sub string) []string {
	entries, _ := os.ReadDir(filepath.Join(r.root, sub))
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

func random(n int, seed uint64) []byte {
	var key [32]byte
	key[0], key[1] = byte(seed), byte(seed>>8)
	b := make([]byte, n)
	rand.NewChaCha8(key).Read(b)
	return b
}

func TestSendLocal(t *testing.T) {
	r := newRig(t, "{ keep_min = 100 }")
	s1 := r.snapshot(t, map[string][]byte{"etc/ssh/key": []byte("secret\n"), "big": random(4<<20, 1)})
	if got := r.send(t, 0, "--dry-run"); got != "usb: would send @persist/"+s1+" (full: no snapshot both sides hold)\n" {
		t.Errorf("dry run:\n%s", got)
	}
	if names := r.targetNames(t, "@persist"); len(names) != 0 {
		t.Fatalf("the dry run changed the target: %v", names)
	}
	out := r.send(t, 0)
	if !strings.HasPrefix(out, "usb: sent @persist/"+s1+" (full: no snapshot both sides hold), ") {
		t.Errorf("first send:\n%s", out)
	}
	r.checkSame(t, s1)

	// Incrementals: each from the previous one.
	var snaps = []string{s1}
	for i := range 3 {
		s := r.snapshot(t, map[string][]byte{fmt.Sprintf("file%d", i): random(64<<10, uint64(i+2)), "etc/ssh/key": []byte(fmt.Sprint("secret", i))})
		out := r.send(t, 0)
		want := fmt.Sprintf("usb: sent @persist/%s (incremental from %s, the newest snapshot both sides hold before it), ", s, snaps[len(snaps)-1])
		if !strings.HasPrefix(out, want) {
			t.Errorf("incremental %d:\n%s\nwant prefix %s", i, out, want)
		}
		snaps = append(snaps, s)
	}
	r.checkSame(t, snaps...)
	if got := r.send(t, 0); got != "usb: up to date\n" {
		t.Errorf("caught up:\n%s", got)
	}
	for _, s := range snaps {
		info, err := targetdir.Info(filepath.Join(r.root, "@persist", s))
		if err != nil || !info.ReadOnly || info.ReceivedUUID.IsZero() {
			t.Errorf("target %s: %+v, %v; want read-only with a received UUID", s, info, err)
		}
	}

	rec, err := targetstate.Read(r.src.Env.StateDir(), "usb")
	if err != nil {
		t.Fatal(err)
	}
	sv := rec.Subvolumes["@persist"]
	var held []string
	for _, h := range sv.Snapshots {
		held = append(held, h.Name)
	}
	if !slices.Equal(held, snaps) || sv.Parent != snaps[3] || sv.LastSuccess.IsZero() || rec.SentBytes < 4<<20 {
		t.Errorf("target record: %+v", rec)
	}

	// list shows both sides.
	r.src.Reset()
	if code := Run(context.Background(), r.args("list"), r.src.Env); code != 0 {
		t.Fatalf("list: exit %d\n%s", code, r.src.Err)
	}
	lines := strings.Split(strings.TrimSpace(r.src.Out.String()), "\n")
	if len(lines) != 5 || !strings.Contains(lines[4], snaps[3]) || !strings.HasSuffix(lines[4], "yes     yes     parent (newest on both sides)") {
		t.Errorf("list:\n%s", r.src.Out)
	}
}

// The target's retention deletes on the target, never its newest common
// snapshot; local prune keeps the parent the target needs, and the next
// send stays incremental.
func TestRetentionAndPruneKeepTheParent(t *testing.T) {
	r := newRig(t, "{ daily = 0, weekly = 0, monthly = 0, keep_min = 1 }")
	a := r.snapshot(t, map[string][]byte{"a": []byte("a")})
	r.send(t, 0)
	b := r.snapshot(t, map[string][]byte{"b": []byte("b")})
	out := r.send(t, 0)
	if !strings.Contains(out, "usb: deleted @persist/"+a+" (the target's retention)") {
		t.Errorf("second send:\n%s", out)
	}
	if got := r.targetNames(t, "@persist"); !slices.Equal(got, []string{b}) {
		t.Errorf("target holds %v, want [%s]", got, b)
	}

	// Local retention keeps one snapshot: the newest (c) and the parent
	// the target needs (b), which it would otherwise delete.
	c := r.snapshot(t, map[string][]byte{"c": []byte("c")})
	r.src.Reset()
	if code := prune.Run(context.Background(), r.args(), r.src.Env); code != 0 {
		t.Fatalf("prune: exit %d\n%s%s", code, r.src.Out, r.src.Err)
	}
	local, _ := os.ReadDir(filepath.Join(r.src.FS.Mount, "@snapshots/@persist"))
	var kept []string
	for _, e := range local {
		kept = append(kept, e.Name())
	}
	if !slices.Equal(kept, []string{b, c}) {
		t.Errorf("after prune the source holds %v, want [%s %s] (the parent kept)\n%s", kept, b, c, r.src.Out)
	}
	out = r.send(t, 0)
	if !strings.Contains(out, "usb: sent @persist/"+c+" (incremental from "+b+",") {
		t.Errorf("send after prune:\n%s", out)
	}
	r.checkSame(t, c)
}

// A send killed at a random point leaves nothing but .incoming debris;
// the next run removes it and completes, incrementally.
func TestSIGKILLMidTransfer(t *testing.T) {
	if os.Getenv("SEND_TEST_CHILD") != "" {
		t.Skip("child")
	}
	r := newRig(t, "{ keep_min = 100 }")
	base := r.snapshot(t, map[string][]byte{"base": random(1<<20, 9)})
	r.send(t, 0)
	const kills = 10
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	debris := 0
	for i := range kills {
		s := r.snapshot(t, map[string][]byte{fmt.Sprintf("big%d", i): random(32<<20, uint64(100+i))})
		cmd := exec.Command(os.Args[0], "-test.run=^TestSendChild$")
		env, _ := json.Marshal(r.args())
		cmd.Env = append(os.Environ(), "SEND_TEST_CHILD="+string(env), "SEND_TEST_ROOT="+r.src.Env.Root)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(20+rng.IntN(400)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		// Nothing partial is visible where backups are.
		for _, name := range r.targetNames(t, "@persist") {
			info, err := targetdir.Info(filepath.Join(r.root, "@persist", name))
			if err != nil || !info.ReadOnly || info.ReceivedUUID.IsZero() {
				t.Fatalf("iteration %d: target @persist/%s after SIGKILL: %+v %v", i, name, info, err)
			}
		}
		if len(r.targetNames(t, ".incoming/@persist")) > 0 {
			debris++
		}
		out2 := r.send(t, 0)
		if len(r.targetNames(t, ".incoming/@persist")) != 0 {
			t.Errorf("iteration %d: debris left after the next run: %v", i, r.targetNames(t, ".incoming/@persist"))
		}
		if strings.Contains(out2, "full:") {
			t.Errorf("iteration %d: the chain broke, a full send:\n%s", i, out2)
		}
		r.checkSame(t, s)
	}
	r.checkSame(t, base)
	t.Logf("%d of %d kills left debris in .incoming", debris, kills)
}

// TestSendChild is the killed process of TestSIGKILLMidTransfer.
func TestSendChild(t *testing.T) {
	argsJSON := os.Getenv("SEND_TEST_CHILD")
	if argsJSON == "" {
		t.Skip("run by TestSIGKILLMidTransfer")
	}
	var args []string
	json.Unmarshal([]byte(argsJSON), &args)
	env := job.Env{Root: os.Getenv("SEND_TEST_ROOT"), Journal: func() bool { return false }}
	os.Exit(Run(context.Background(), args, env))
}
