package send

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/btrfstest"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/jobtest"
	"github.com/server-impermanence/server-impermanence/internal/prune"
	"github.com/server-impermanence/server-impermanence/internal/restore"
	"github.com/server-impermanence/server-impermanence/internal/streamstore"
	"github.com/server-impermanence/server-impermanence/internal/targetstate"
)

// newStreamRig is a provisioned source filesystem and a stream target in
// a directory of the test's own (on the test machine's disk, not btrfs),
// with the extra keys of its [[target]].
func newStreamRig(t *testing.T, retention, extra string) *rig {
	t.Helper()
	r := &rig{src: jobtest.New(t), now: time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)}
	r.root = filepath.Join(t.TempDir(), "web1")
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
	cfg += fmt.Sprintf("\n[[target]]\nname = \"vault\"\nurl = %q\nformat = \"stream\"\nsubvolumes = [\"@persist\"]\nretention = %s\n%s", r.root, retention, extra)
	if err := os.WriteFile(r.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	r.src.Env.Now = func() time.Time { return r.now }
	r.src.Env.Sleep = func(time.Duration) {}
	return r
}

func newIdentity(t *testing.T) (*age.X25519Identity, string) {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "vault.key")
	if err := os.WriteFile(p, []byte("# test key\n"+id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return id, p
}

// replay restores snapshot name of @persist from the stream target into a
// fresh btrfs and returns the directory it was received into.
func (r *rig) replay(t *testing.T, identityFile, name string) (string, error) {
	t.Helper()
	ids, err := streamstore.LoadIdentities(identityFile)
	if err != nil {
		t.Fatal(err)
	}
	fresh := btrfstest.New(t)
	dest := filepath.Join(fresh.Mount, "restored")
	if err := os.Mkdir(dest, 0o755); err != nil {
		t.Fatal(err)
	}
	_, err = streamstore.Store{Root: r.root}.Replay(context.Background(), "@persist", name, ids, dest, streamstore.Watch{})
	return dest, err
}

func (r *rig) manifest(t *testing.T) streamstore.Manifest {
	t.Helper()
	m, err := streamstore.Store{Root: r.root}.Read("@persist")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// An encrypted chain of a full and incrementals, on a directory that is
// not btrfs, restored into a fresh filesystem: every file equal to the
// source's; no plaintext on the target; a flipped byte found by verify
// and by the replay before anything is applied.
func TestStreamEncryptedChain(t *testing.T) {
	id, keyFile := newIdentity(t)
	r := newStreamRig(t, "{ keep_min = 100 }", fmt.Sprintf("recipients = [%q]\n", id.Recipient().String()))
	marker := []byte("PLAINTEXT-MARKER-0123456789")
	s1 := r.snapshot(t, map[string][]byte{"etc/ssh/key": marker, "big": random(4<<20, 1)})
	if got := r.send(t, 0, "--dry-run"); got != "vault: would send @persist/"+s1+" (full: the target holds no stream of this subvolume)\n" {
		t.Errorf("dry run:\n%s", got)
	}
	if got := dirNames(t, r.root); len(got) != 0 {
		t.Fatalf("the dry run wrote to the target: %v", got)
	}
	out := r.send(t, 0)
	if !strings.HasPrefix(out, "vault: sent @persist/"+s1+" (full: the target holds no stream of this subvolume), ") {
		t.Errorf("first send:\n%s", out)
	}
	snaps := []string{s1}
	for i := range 3 {
		s := r.snapshot(t, map[string][]byte{fmt.Sprintf("file%d", i): random(256<<10, uint64(i+2)), "etc/ssh/key": append(marker, byte('a'+i))})
		out := r.send(t, 0)
		want := fmt.Sprintf("vault: sent @persist/%s (incremental from %s, the newest stored snapshot), ", s, snaps[len(snaps)-1])
		if !strings.HasPrefix(out, want) {
			t.Errorf("incremental %d:\n%s\nwant prefix %s", i, out, want)
		}
		snaps = append(snaps, s)
	}
	if got := r.send(t, 0); got != "vault: up to date\n" {
		t.Errorf("caught up:\n%s", got)
	}
	want := []string{s1 + ".full.btrfs.age", snaps[1] + ".inc.btrfs.age", snaps[2] + ".inc.btrfs.age", snaps[3] + ".inc.btrfs.age", "manifest.json"}
	if got := dirNames(t, filepath.Join(r.root, "@persist")); !slices.Equal(got, want) {
		t.Errorf("target holds %v, want %v", got, want)
	}
	for _, f := range want[:4] {
		b, _ := os.ReadFile(filepath.Join(r.root, "@persist", f))
		if bytes.Contains(b, marker) || !bytes.HasPrefix(b, []byte("age-encryption.org/v1\n")) {
			t.Errorf("%s holds plaintext or is not an age file", f)
		}
	}
	rec, err := targetstate.Read(r.src.Env.StateDir(), "vault")
	if err != nil {
		t.Fatal(err)
	}
	sv := rec.Subvolumes["@persist"]
	if len(sv.Snapshots) != 4 || sv.Parent != snaps[3] || sv.ParentUUID == "" || sv.LastSuccess.IsZero() || rec.SentBytes < 4<<20 {
		t.Errorf("target record: %+v", rec)
	}

	lines := strings.Split(strings.TrimSpace(r.run(t, 0, "list")), "\n")
	if len(lines) != 5 || !strings.Contains(lines[4], snaps[3]) || !strings.HasSuffix(lines[4], "yes     yes     parent (newest on both sides)") {
		t.Errorf("list:\n%s", strings.Join(lines, "\n"))
	}

	// verify: all good, then a flipped byte named.
	if got := r.run(t, 0, "verify"); strings.Count(got, "vault: ok @persist/") != 4 {
		t.Errorf("verify:\n%s", got)
	}
	dest, err := r.replay(t, keyFile, snaps[3])
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range snaps {
		src := tree(t, filepath.Join(r.src.FS.Mount, "@snapshots/@persist", s))
		got := tree(t, filepath.Join(dest, s))
		if !mapsEqual(src, got) || len(src) == 0 {
			t.Errorf("restored %s differs from the source: %d files on the source, %d restored", s, len(src), len(got))
		}
	}

	// Into a detached top level, as a restore without --mount replays on
	// a server: btrfs receive runs in a mount namespace of its own.
	fresh := btrfstest.New(t)
	top, unmount, err := btrfs.MountTopLevel(fresh.Device, false)
	if err != nil {
		t.Fatal(err)
	}
	ids, _ := streamstore.LoadIdentities(keyFile)
	if _, err := (streamstore.Store{Root: r.root}).Replay(context.Background(), "@persist", snaps[1], ids, top, streamstore.Watch{}); err != nil {
		t.Errorf("replay into a detached top level: %v", err)
	} else if src, got := tree(t, filepath.Join(r.src.FS.Mount, "@snapshots/@persist", snaps[1])), tree(t, filepath.Join(fresh.Mount, snaps[1])); !mapsEqual(src, got) || len(src) == 0 {
		t.Errorf("replayed into a detached top level, %s differs from the source: %d files, %d replayed", snaps[1], len(src), len(got))
	}
	unmount()

	victim := filepath.Join(r.root, "@persist", want[2])
	b, _ := os.ReadFile(victim)
	b[len(b)/2] ^= 0x01
	os.WriteFile(victim, b, 0o600)
	got := r.run(t, 1, "verify")
	if !strings.Contains(got, "vault: DAMAGED @persist/"+want[2]+": SHA-256 ") || strings.Count(got, "vault: ok ") != 3 {
		t.Errorf("verify after a flipped byte:\n%s", got)
	}
	var v Verification
	if err := json.Unmarshal([]byte(r.run(t, 1, "verify", "--json", "--target", "vault")), &v); err != nil || len(v.Streams) != 4 || damagedStreams(v.Streams) != 1 ||
		v.Streams[2].File != want[2] || !strings.HasPrefix(v.Streams[2].Problem, "SHA-256 ") {
		t.Errorf("verify --json: %+v, %v", v, err)
	}
	dest, err = r.replay(t, keyFile, snaps[3])
	if err == nil || !strings.Contains(err.Error(), "nothing applied") || !strings.Contains(err.Error(), want[2]) {
		t.Errorf("replay of a damaged chain: %v", err)
	}
	if got := dirNames(t, dest); len(got) != 0 {
		t.Errorf("the replay of a damaged chain applied %v", got)
	}
	// The chain before the damage still restores.
	if _, err := r.replay(t, keyFile, snaps[1]); err != nil {
		t.Errorf("replay of the undamaged part: %v", err)
	}
}

// run runs a subcommand and returns its output.
func (r *rig) run(t *testing.T, want int, args ...string) string {
	t.Helper()
	r.src.Reset()
	full := append([]string{args[0], "--config", r.config, "--mount", r.src.FS.Mount}, args[1:]...)
	if code := Run(context.Background(), full, r.src.Env); code != want {
		t.Fatalf("send %v: exit %d, want %d\n%s%s", args, code, want, r.src.Out, r.src.Err)
	}
	return r.src.Out.String()
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// full_every starts new chains; the target's retention keeps every kept
// snapshot's chain and drops old chains whole; local prune keeps the
// newest stored snapshot, and the next send stays incremental.
func TestStreamChainsAndRetention(t *testing.T) {
	r := newStreamRig(t, "{ daily = 0, weekly = 0, monthly = 0, keep_min = 1 }", "full_every = \"weekly\"\n")
	a := r.snapshot(t, map[string][]byte{"a": []byte("a")})
	r.send(t, 0)
	b := r.snapshot(t, map[string][]byte{"b": []byte("b")})
	out := r.send(t, 0)
	if !strings.Contains(out, "incremental from "+a) || strings.Contains(out, "deleted") {
		t.Errorf("second send (the chain's full is needed by the newest):\n%s", out)
	}
	r.now = r.now.Add(7 * 24 * time.Hour)
	c := r.snapshot(t, map[string][]byte{"c": []byte("c")})
	out = r.send(t, 0)
	wantOut := fmt.Sprintf("vault: sent @persist/%s (full: the chain's full stream %s is 1w 2h older, full_every is 1w)", c, a)
	if !strings.HasPrefix(out, wantOut) || !strings.Contains(out, "vault: deleted @persist/"+b+" (the target's retention)") ||
		!strings.Contains(out, "vault: deleted @persist/"+a+" (the target's retention)") {
		t.Errorf("a new chain:\n%s\nwant %s…", out, wantOut)
	}
	if got := dirNames(t, filepath.Join(r.root, "@persist")); !slices.Equal(got, []string{c + ".full.btrfs", "manifest.json"}) {
		t.Errorf("target holds %v", got)
	}
	d := r.snapshot(t, map[string][]byte{"d": []byte("d")})
	r.send(t, 0)
	// Local prune keeps d (the newest stored), the next send is incremental from it.
	e := r.snapshot(t, map[string][]byte{"e": []byte("e")})
	r.src.Reset()
	if code := prune.Run(context.Background(), r.args(), r.src.Env); code != 0 {
		t.Fatalf("prune: exit %d\n%s%s", code, r.src.Out, r.src.Err)
	}
	if got := dirNames(t, filepath.Join(r.src.FS.Mount, "@snapshots/@persist")); !slices.Equal(got, []string{d, e}) {
		t.Errorf("after prune the source holds %v, want [%s %s]", got, d, e)
	}
	if out := r.send(t, 0); !strings.Contains(out, "vault: sent @persist/"+e+" (incremental from "+d+",") {
		t.Errorf("send after prune:\n%s", out)
	}
	m := r.manifest(t)
	for _, s := range m.Streams {
		if _, err := streamstore.Chain(m, s.Name); err != nil {
			t.Errorf("a stored snapshot's chain is broken: %v", err)
		}
	}
}

// A send killed at random points never leaves anything the manifest names
// that is partial; the next run removes the debris and completes, and the
// chain stays incremental.
func TestStreamSIGKILL(t *testing.T) {
	if os.Getenv("SEND_TEST_CHILD") != "" {
		t.Skip("child")
	}
	id, _ := newIdentity(t)
	r := newStreamRig(t, "{ keep_min = 1000 }", fmt.Sprintf("recipients = [%q]\n", id.Recipient().String()))
	r.snapshot(t, map[string][]byte{"base": random(1<<20, 9)})
	r.send(t, 0)
	const kills = 20
	deadline := time.Now().Add(3 * time.Minute)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
	st := streamstore.Store{Root: r.root}
	debris, named := 0, 0
	for i := range kills {
		if time.Now().After(deadline) {
			t.Fatalf("%d iterations took longer than 3 minutes", i)
		}
		s := r.snapshot(t, map[string][]byte{fmt.Sprintf("big%d", i): random(16<<20, uint64(100+i))})
		cmd := exec.Command(os.Args[0], "-test.run=^TestSendChild$")
		env, _ := json.Marshal(r.args())
		cmd.Env = append(os.Environ(), "SEND_TEST_CHILD="+string(env), "SEND_TEST_ROOT="+r.src.Env.Root)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(10+rng.IntN(300)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		// Everything the manifest names is whole.
		m := r.manifest(t)
		for _, x := range m.Streams {
			if d := st.Verify("@persist", x); d != nil {
				t.Fatalf("iteration %d: after SIGKILL the manifest names a damaged stream: %v", i, d)
			}
		}
		if _, ok := m.Find(s); ok {
			named++
		}
		if len(dirNames(t, filepath.Join(r.root, ".incoming/@persist"))) > 0 || len(dirNames(t, filepath.Join(r.root, "@persist"))) > len(m.Streams)+1 {
			debris++
		}
		out2 := r.send(t, 0)
		if strings.Contains(out2, "full:") {
			t.Errorf("iteration %d: the chain broke, a full send:\n%s", i, out2)
		}
		m = r.manifest(t)
		if _, ok := m.Find(s); !ok {
			t.Fatalf("iteration %d: the next run did not store %s:\n%s", i, s, out2)
		}
		if got := dirNames(t, filepath.Join(r.root, ".incoming/@persist")); len(got) != 0 {
			t.Errorf("iteration %d: debris left after the next run: %v", i, got)
		}
		if got := dirNames(t, filepath.Join(r.root, "@persist")); len(got) != len(m.Streams)+1 {
			t.Errorf("iteration %d: the target holds %d files for %d streams: %v", i, len(got), len(m.Streams), got)
		}
	}
	if got := r.run(t, 0, "verify"); strings.Count(got, "vault: ok ") != kills+1 {
		t.Errorf("verify after the kills:\n%s", got)
	}
	t.Logf("%d of %d kills left debris; %d killed runs had already stored their stream", debris, kills, named)
}

// impermanence-restore --from-target: a snapshot the source no longer
// holds is fetched from the encrypted stream target (its chain verified,
// replayed) and swapped in; a damaged chain is refused before anything
// changes.
func TestStreamRestoreFromTarget(t *testing.T) {
	id, keyFile := newIdentity(t)
	r := newStreamRig(t, "{ keep_min = 100 }", fmt.Sprintf("recipients = [%q]\n", id.Recipient().String()))
	var snaps []string
	for i := range 3 {
		snaps = append(snaps, r.snapshot(t, map[string][]byte{fmt.Sprintf("f%d", i): random(128<<10, uint64(50+i)), "etc/conf": []byte(fmt.Sprint("v", i))}))
		r.send(t, 0)
	}
	want := tree(t, filepath.Join(r.src.FS.Mount, "@snapshots/@persist", snaps[2]))
	for _, s := range snaps {
		if out, err := exec.Command("btrfs", "subvolume", "delete", filepath.Join(r.src.FS.Mount, "@snapshots/@persist", s)).CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	os.WriteFile(filepath.Join(r.src.FS.Mount, "@persist/etc/conf"), []byte("broken"), 0o644)
	restoreArgs := func(extra ...string) []string {
		return append([]string{"--config", r.config, "--mount", r.src.FS.Mount, "--from-target", "vault", "--from", snaps[2]}, append(extra, "@persist")...)
	}
	r.src.Reset()
	if code := restore.Run(context.Background(), restoreArgs(), r.src.Env); code != 1 || !strings.Contains(r.src.Err.String(), "are encrypted: give --identity FILE") {
		t.Errorf("without an identity: exit %d\n%s", code, r.src.Err)
	}
	// Damaged: refused, nothing fetched, nothing changed.
	victim := filepath.Join(r.root, "@persist", snaps[0]+".full.btrfs.age")
	good, _ := os.ReadFile(victim)
	bad := slices.Clone(good)
	bad[len(bad)-1] ^= 0x80
	os.WriteFile(victim, bad, 0o600)
	r.src.Reset()
	if code := restore.Run(context.Background(), restoreArgs("--identity", keyFile), r.src.Env); code != 1 || !strings.Contains(r.src.Err.String(), "nothing applied") {
		t.Errorf("a damaged chain: exit %d\n%s%s", code, r.src.Out, r.src.Err)
	}
	if got, _ := os.ReadFile(filepath.Join(r.src.FS.Mount, "@persist/etc/conf")); string(got) != "broken" {
		t.Errorf("a refused restore changed @persist: %q", got)
	}
	if got := dirNames(t, filepath.Join(r.src.FS.Mount, "@snapshots/@persist")); len(got) != 0 {
		t.Errorf("a refused fetch left %v", got)
	}
	os.WriteFile(victim, good, 0o600)
	r.src.Reset()
	if code := restore.Run(context.Background(), restoreArgs("--identity", keyFile, "--dry-run"), r.src.Env); code != 0 ||
		r.src.Out.String() != "would fetch @snapshots/@persist/"+snaps[2]+" from vault ("+snaps[0]+".full.btrfs.age, "+snaps[1]+".inc.btrfs.age, "+snaps[2]+".inc.btrfs.age)\n" {
		t.Errorf("dry run: exit %d\n%s%s", code, r.src.Out, r.src.Err)
	}
	if got := dirNames(t, filepath.Join(r.src.FS.Mount, "@snapshots/@persist")); len(got) != 0 {
		t.Errorf("the dry run fetched %v", got)
	}
	r.src.Reset()
	if code := restore.Run(context.Background(), restoreArgs("--identity", keyFile), r.src.Env); code != 0 {
		t.Fatalf("restore --from-target: exit %d\n%s%s", code, r.src.Out, r.src.Err)
	}
	if !strings.HasPrefix(r.src.Out.String(), "fetch @snapshots/@persist/"+snaps[2]+" from vault ("+snaps[0]+".full.btrfs.age, "+snaps[1]+".inc.btrfs.age, "+snaps[2]+".inc.btrfs.age)\n") {
		t.Errorf("output:\n%s", r.src.Out)
	}
	if got := tree(t, filepath.Join(r.src.FS.Mount, "@persist")); !mapsEqual(got, want) {
		t.Errorf("@persist after the restore differs from the snapshot: %d files, want %d", len(got), len(want))
	}
	if _, err := os.Stat(filepath.Join(r.src.FS.Mount, ".from-target-vault")); !os.IsNotExist(err) {
		t.Errorf("the scratch subvolume is left: %v", err)
	}
}

// A full target (ENOSPC) fails the send cleanly: nothing in the manifest,
// no partial file left, the source untouched; once there is space the
// next run completes.
func TestStreamTargetFull(t *testing.T) {
	r := newStreamRig(t, "{ keep_min = 100 }", "")
	dir := filepath.Dir(r.root)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=24m,mode=0755", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	os.Mkdir(r.root, 0o755)
	s := r.snapshot(t, map[string][]byte{"big": random(40<<20, 5)})
	out := r.send(t, 1)
	if !strings.Contains(out, "vault: FAILED @persist/"+s+": ") || !strings.Contains(out, "no space left on device") {
		t.Errorf("send to a full target:\n%s", out)
	}
	if m := r.manifest(t); len(m.Streams) != 0 {
		t.Errorf("the manifest names %+v after ENOSPC", m.Streams)
	}
	if got := dirNames(t, filepath.Join(r.root, ".incoming/@persist")); len(got) != 0 {
		t.Errorf("a failed write left %v", got)
	}
	if got := dirNames(t, filepath.Join(r.src.FS.Mount, "@snapshots/@persist")); !slices.Equal(got, []string{s}) {
		t.Errorf("the source holds %v", got)
	}
	if out, err := exec.Command("mount", "-o", "remount,size=128m", dir).CombinedOutput(); err != nil {
		t.Fatalf("remount: %v: %s", err, out)
	}
	if out := r.send(t, 0); !strings.HasPrefix(out, "vault: sent @persist/"+s+" (full: ") {
		t.Errorf("send after space was freed:\n%s", out)
	}
	if got := r.run(t, 0, "verify"); !strings.HasPrefix(got, "vault: ok @persist/"+s+".full.btrfs (") {
		t.Errorf("verify:\n%s", got)
	}
}

// Storage that rewrites a stream and its manifest entry to match (anyone
// with the public key can make a valid age file) is caught by the
// checksums this server recorded: verify names the file, the next send of
// the subvolume refuses the chain, restore --from-target refuses it.
func TestStreamManifestTampered(t *testing.T) {
	id, keyFile := newIdentity(t)
	r := newStreamRig(t, "{ keep_min = 100 }", fmt.Sprintf("recipients = [%q]\n", id.Recipient().String()))
	a := r.snapshot(t, map[string][]byte{"a": []byte("a")})
	r.send(t, 0)
	b := r.snapshot(t, map[string][]byte{"b": []byte("b")})
	r.send(t, 0)
	m := r.manifest(t)
	forged := []byte("age-encryption.org/v1\nforged\n")
	p := filepath.Join(r.root, "@persist", m.Streams[1].File)
	os.WriteFile(p, forged, 0o600)
	sum := sha256.Sum256(forged)
	m.Streams[1].Size, m.Streams[1].SHA256 = int64(len(forged)), hex.EncodeToString(sum[:])
	mb, _ := json.Marshal(m)
	os.WriteFile(filepath.Join(r.root, "@persist", "manifest.json"), mb, 0o644)

	got := r.run(t, 1, "verify")
	if !strings.Contains(got, "vault: DAMAGED @persist/"+b+".inc.btrfs.age: the manifest says SHA-256 "+m.Streams[1].SHA256+", this server stored ") ||
		!strings.Contains(got, "vault: ok @persist/"+a+".full.btrfs.age") {
		t.Errorf("verify of a forged stream:\n%s", got)
	}
	c := r.snapshot(t, map[string][]byte{"c": []byte("c")})
	if out := r.send(t, 1); strings.Contains(out, "sent @persist/"+c) || !strings.Contains(out, "were changed") {
		t.Errorf("send onto a forged chain:\n%s", out)
	}
	if rec, _ := targetstate.Read(r.src.Env.StateDir(), "vault"); rec.Subvolumes["@persist"].StreamSHA256[b] == m.Streams[1].SHA256 {
		t.Error("the record took the forged checksum")
	}
	if out, err := exec.Command("btrfs", "subvolume", "delete", filepath.Join(r.src.FS.Mount, "@snapshots/@persist", b)).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	r.src.Reset()
	args := []string{"--config", r.config, "--mount", r.src.FS.Mount, "--from-target", "vault", "--identity", keyFile, "--from", b, "@persist"}
	if code := restore.Run(context.Background(), args, r.src.Env); code != 1 || !strings.Contains(r.src.Err.String(), "were changed") {
		t.Errorf("restore from a forged chain: exit %d\n%s", code, r.src.Err)
	}
}
