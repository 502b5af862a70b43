package streamstore

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
)

var now = time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

func TestWritePlainAndEncrypted(t *testing.T) {
	s := Store{Root: t.TempDir()}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	rs, err := ParseRecipients([]string{id.Recipient().String()})
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("btrfs-stream "), 100000)
	w1, err := s.Write("@persist", Meta{Name: snap(0), UUID: "u0", Kind: Full}, bytes.NewReader(data), nil, now)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if w1.Stream.SHA256 != hex.EncodeToString(sum[:]) || w1.Stream.Size != int64(len(data)) || w1.StreamBytes != int64(len(data)) || w1.Stream.Encrypted {
		t.Errorf("plain stream entry: %+v", w1)
	}
	w2, err := s.Write("@persist", Meta{Name: snap(1), UUID: "u1", Kind: Incremental, Parent: snap(0), ParentUUID: "u0"}, bytes.NewReader(data), rs, now)
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := os.ReadFile(filepath.Join(s.Root, "@persist", w2.Stream.File))
	if bytes.Contains(stored, []byte("btrfs-stream")) || !bytes.HasPrefix(stored, []byte("age-encryption.org/v1\n")) {
		t.Errorf("the encrypted stream holds plaintext or is not age")
	}
	if w2.Stream.File != snap(1)+".inc.btrfs.age" || w2.Stream.Size != int64(len(stored)) || w2.StreamBytes != int64(len(data)) {
		t.Errorf("encrypted entry: %+v (stored %d bytes)", w2, len(stored))
	}
	plain, err := age.Decrypt(bytes.NewReader(stored), id)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := io.ReadAll(plain); !bytes.Equal(got, data) {
		t.Error("decrypted stream differs")
	}
	m, err := s.Read("@persist")
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Streams) != 2 || m.Streams[0] != w1.Stream || m.Streams[1] != w2.Stream {
		t.Errorf("manifest: %+v", m)
	}
	if got := dirNames(t, filepath.Join(s.Root, Incoming, "@persist")); len(got) != 0 {
		t.Errorf(".incoming holds %v", got)
	}
	for _, st := range m.Streams {
		if d := s.Verify("@persist", st); d != nil {
			t.Error(d)
		}
	}
	// A second stream of a stored name is refused; nothing is replaced.
	if _, err := s.Write("@persist", Meta{Name: snap(0), UUID: "u0", Kind: Full}, strings.NewReader("other"), nil, now); err == nil || !strings.Contains(err.Error(), "file exists") {
		t.Errorf("a second write of a stored stream: %v", err)
	}
	if d := s.Verify("@persist", m.Streams[0]); d != nil {
		t.Error(d)
	}
}

// Verify names the damaged file: a flipped byte, a truncation, a missing file.
func TestVerifyDamage(t *testing.T) {
	s := Store{Root: t.TempDir()}
	w, err := s.Write("@persist", Meta{Name: snap(0), UUID: "u0", Kind: Full}, strings.NewReader("0123456789"), nil, now)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(s.Root, "@persist", w.Stream.File)
	os.WriteFile(p, []byte("0123456780"), 0o600)
	d := s.Verify("@persist", w.Stream)
	if d == nil || d.File != w.Stream.File || !strings.HasPrefix(d.Problem, "SHA-256 ") {
		t.Errorf("flipped byte: %v", d)
	}
	os.WriteFile(p, []byte("012345678"), 0o600)
	if d := s.Verify("@persist", w.Stream); d == nil || d.Problem != "9 bytes stored, the manifest says 10" {
		t.Errorf("truncated: %v", d)
	}
	os.Remove(p)
	if d := s.Verify("@persist", w.Stream); d == nil || !strings.Contains(d.Problem, "no such file") {
		t.Errorf("missing: %v", d)
	}
}

// Clean removes .incoming debris and stream files the manifest does not
// name, and nothing else.
func TestClean(t *testing.T) {
	s := Store{Root: t.TempDir()}
	w, err := s.Write("@persist", Meta{Name: snap(0), UUID: "u0", Kind: Full}, strings.NewReader("full"), nil, now)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(s.Root, "@persist")
	os.MkdirAll(filepath.Join(s.Root, Incoming, "@persist"), 0o700)
	os.WriteFile(filepath.Join(s.Root, Incoming, "@persist", snap(1)+".inc.btrfs.age"), []byte("partial"), 0o600)
	os.WriteFile(filepath.Join(dir, snap(1)+".inc.btrfs"), []byte("renamed, not in the manifest"), 0o600)
	os.WriteFile(filepath.Join(dir, "README"), []byte("the operator's"), 0o600)
	os.MkdirAll(filepath.Join(s.Root, "@other"), 0o755)
	os.WriteFile(filepath.Join(s.Root, "@other", snap(1)+".inc.btrfs"), []byte("not a configured subvolume"), 0o600)
	removed, err := s.Clean([]string{"@persist"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{".incoming/@persist/" + snap(1) + ".inc.btrfs.age", "@persist/" + snap(1) + ".inc.btrfs"}
	if !slices.Equal(removed, want) {
		t.Errorf("Clean removed %v, want %v", removed, want)
	}
	if got := dirNames(t, dir); !slices.Equal(got, []string{w.Stream.File, "README", ManifestName}) {
		t.Errorf("left in @persist: %v", got)
	}
	if got := dirNames(t, filepath.Join(s.Root, "@other")); len(got) != 1 {
		t.Errorf("Clean touched an unconfigured subvolume: %v", got)
	}
	// An unreadable manifest: nothing removed.
	os.WriteFile(filepath.Join(dir, snap(2)+".full.btrfs"), []byte("x"), 0o600)
	os.WriteFile(s.ManifestPath("@persist"), []byte("{"), 0o644)
	if removed, err := s.Clean([]string{"@persist"}); err == nil || len(removed) != 0 {
		t.Errorf("Clean with a broken manifest: removed %v, %v", removed, err)
	}
}

// Delete removes the entry first, then the file.
func TestDelete(t *testing.T) {
	s := Store{Root: t.TempDir()}
	for i, k := range []Kind{Full, Incremental} {
		m := Meta{Name: snap(i), UUID: "u" + string(rune('0'+i)), Kind: k}
		if k == Incremental {
			m.Parent, m.ParentUUID = snap(0), "u0"
		}
		if _, err := s.Write("@persist", m, strings.NewReader("x"), nil, now); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Delete("@persist", []string{snap(0)}); err != nil {
		t.Fatal(err)
	}
	m, _ := s.Read("@persist")
	if len(m.Streams) != 1 || m.Streams[0].Name != snap(1) {
		t.Errorf("manifest after delete: %+v", m.Streams)
	}
	if got := dirNames(t, filepath.Join(s.Root, "@persist")); !slices.Equal(got, []string{snap(1) + ".inc.btrfs", ManifestName}) {
		t.Errorf("files after delete: %v", got)
	}
}

func TestReadRefusesForeignManifests(t *testing.T) {
	s := Store{Root: t.TempDir()}
	os.MkdirAll(filepath.Join(s.Root, "@persist"), 0o755)
	for _, tt := range []struct{ body, want string }{
		{`{"version": 2, "subvolume": "@persist"}`, "version 2, this version reads 1"},
		{`{"version": 1, "subvolume": "@home"}`, `is the manifest of "@home", not of "@persist"`},
		{`{"version": 1, "subvolume": "@persist", "streams": [{"name": "20261206T100000Z", "file": "../x", "kind": "full"}]}`, `names file "../x"`},
	} {
		os.WriteFile(s.ManifestPath("@persist"), []byte(tt.body), 0o644)
		if _, err := s.Read("@persist"); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Read(%s) = %v, want %q", tt.body, err, tt.want)
		}
	}
}
