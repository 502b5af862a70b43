package streamstore

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"filippo.io/age"
	"golang.org/x/sys/unix"

	"github.com/server-impermanence/server-impermanence/internal/progress"
	"github.com/server-impermanence/server-impermanence/internal/safefile"
)

// maxManifest bounds a manifest read (5,000 streams take about 2 MB).
const maxManifest = 64 << 20

// copyBuffer is the size of the buffer a stream is copied through.
const copyBuffer = 1 << 20

// Store is a stream target: a directory on any filesystem. It holds no
// state between calls; the caller holds the target's lock.
type Store struct {
	Root string
}

// Meta is what the manifest records of a stream besides its bytes.
type Meta struct {
	Name, UUID         string
	Kind               Kind
	Parent, ParentUUID string
}

// Check refuses a root that is missing or not a directory: a target disk
// that is not mounted must fail the run, not fill the mountpoint.
func (s Store) Check() error {
	fi, err := os.Stat(s.Root)
	if err != nil {
		return fmt.Errorf("target directory %s: %w (mount the target filesystem there, or create the directory on it)", s.Root, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("target directory %s is not a directory", s.Root)
	}
	return nil
}

func (s Store) dir(sv string) string { return filepath.Join(s.Root, sv) }

// ManifestPath is the manifest of the subvolume sv.
func (s Store) ManifestPath(sv string) string { return filepath.Join(s.dir(sv), ManifestName) }

// Read returns the manifest of sv; none yet is an empty one.
func (s Store) Read(sv string) (Manifest, error) {
	empty := Manifest{Version: manifestVersion, Subvolume: sv, Streams: []Stream{}}
	b, err := safefile.ReadFile(s.ManifestPath(sv), maxManifest)
	if errors.Is(err, fs.ErrNotExist) {
		return empty, nil
	}
	if err != nil {
		return Manifest{}, fmt.Errorf("read manifest %s: %w", s.ManifestPath(sv), err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return Manifest{}, fmt.Errorf("read manifest %s: %w", s.ManifestPath(sv), err)
	}
	switch {
	case m.Version != manifestVersion:
		return Manifest{}, fmt.Errorf("manifest %s: version %d, this version reads %d", s.ManifestPath(sv), m.Version, manifestVersion)
	case m.Subvolume != sv:
		return Manifest{}, fmt.Errorf("manifest %s is the manifest of %q, not of %q", s.ManifestPath(sv), m.Subvolume, sv)
	}
	if err := m.check(); err != nil {
		return Manifest{}, fmt.Errorf("manifest %s: %w", s.ManifestPath(sv), err)
	}
	if m.Streams == nil {
		m.Streams = []Stream{}
	}
	return m, nil
}

// write replaces the manifest of sv atomically and durably.
func (s Store) write(m Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := safefile.Replace(s.ManifestPath(m.Subvolume), append(b, '\n'), safefile.Perm{File: 0o644, Dir: 0o755}, safefile.Durable); err != nil {
		return fmt.Errorf("write manifest %s: %w", s.ManifestPath(m.Subvolume), err)
	}
	return nil
}

// Clean removes what killed runs left for the subvolumes svs: everything
// in .incoming, and the stream files in <root>/<subvolume>/ the manifest
// does not name (a stream renamed into place whose manifest update never
// happened, a stream whose entry a deletion removed). Files that are not
// streams by their name are left alone. It returns what it removed,
// relative to the root.
func (s Store) Clean(svs []string) ([]string, error) {
	var removed []string
	var errs []error
	top := filepath.Join(s.Root, Incoming)
	dirs, err := readDir(top)
	if err != nil {
		return nil, err
	}
	for _, d := range dirs {
		p := filepath.Join(top, d.Name())
		entries, err := readDir(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, e := range entries {
			if err := os.RemoveAll(filepath.Join(p, e.Name())); err != nil {
				errs = append(errs, fmt.Errorf("remove partial stream: %w", err))
				continue
			}
			removed = append(removed, filepath.Join(Incoming, d.Name(), e.Name()))
		}
	}
	for _, sv := range svs {
		m, err := s.Read(sv)
		if err != nil {
			errs = append(errs, err)
			continue // an unreadable manifest: remove nothing
		}
		entries, err := readDir(s.dir(sv))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, e := range entries {
			if _, _, _, ok := ParseFileName(e.Name()); !ok || m.Names(e.Name()) || !e.Type().IsRegular() {
				continue
			}
			if err := os.Remove(filepath.Join(s.dir(sv), e.Name())); err != nil {
				errs = append(errs, fmt.Errorf("remove stream the manifest does not name: %w", err))
				continue
			}
			removed = append(removed, filepath.Join(sv, e.Name()))
		}
	}
	if len(removed) > 0 {
		syncDir(s.Root)
	}
	return removed, errors.Join(errs...)
}

// Written is the result of a Write.
type Written struct {
	Stream Stream
	// StreamBytes is what was read from the send stream.
	StreamBytes int64
}

// Write stores the send stream read from r as the stream m of sv,
// encrypted to recipients when there are any: into .incoming, fsync,
// renamed into <root>/<sv>/ (never over an existing file), the directory
// synced, then added to the manifest. On an error nothing is added; the
// partial file is removed (or, when the process dies, left in .incoming
// for Clean).
func (s Store) Write(sv string, m Meta, r io.Reader, recipients []age.Recipient, now time.Time) (Written, error) {
	enc := len(recipients) > 0
	file := FileName(m.Name, m.Kind, enc)
	in := filepath.Join(s.Root, Incoming, sv)
	if err := safefile.MkdirAll(in, 0o700); err != nil {
		return Written{}, fmt.Errorf("create %s: %w", in, err)
	}
	tmp := filepath.Join(in, file)
	os.Remove(tmp) // debris of an earlier attempt in this run
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return Written{}, fmt.Errorf("create %s: %w", tmp, err)
	}
	placed := false
	defer func() {
		if !placed {
			f.Close()
			os.Remove(tmp)
		}
	}()
	h := sha256.New()
	stored := &countWriter{w: io.MultiWriter(f, h)}
	var w io.Writer = stored
	var ac io.WriteCloser
	if enc {
		if ac, err = age.Encrypt(stored, recipients...); err != nil {
			return Written{}, fmt.Errorf("encrypt %s: %w", tmp, err)
		}
		w = ac
	}
	n, err := io.CopyBuffer(w, r, make([]byte, copyBuffer))
	if err != nil {
		return Written{}, fmt.Errorf("write %s: %w", tmp, err)
	}
	if ac != nil {
		if err := ac.Close(); err != nil {
			return Written{}, fmt.Errorf("encrypt %s: %w", tmp, err)
		}
	}
	if err := f.Sync(); err != nil {
		return Written{}, fmt.Errorf("fsync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return Written{}, fmt.Errorf("close %s: %w", tmp, err)
	}
	dir := s.dir(sv)
	if err := safefile.MkdirAll(dir, 0o755); err != nil {
		return Written{}, fmt.Errorf("create %s: %w", dir, err)
	}
	dst := filepath.Join(dir, file)
	if err := renameNoReplace(tmp, dst); err != nil {
		return Written{}, fmt.Errorf("move %s to %s: %w", tmp, dst, err)
	}
	placed = true
	if err := syncDir(dir); err != nil {
		return Written{}, err
	}
	st := Stream{Name: m.Name, File: file, Kind: m.Kind, Parent: m.Parent, ParentUUID: m.ParentUUID, UUID: m.UUID,
		Size: stored.n, SHA256: hex.EncodeToString(h.Sum(nil)), StreamBytes: n, Encrypted: enc, Stored: now.UTC()}
	man, err := s.Read(sv)
	if err != nil {
		return Written{}, err
	}
	if _, dup := man.Find(m.Name); dup {
		return Written{}, fmt.Errorf("manifest %s already names %s", s.ManifestPath(sv), m.Name)
	}
	man.Streams = append(man.Streams, st)
	if err := s.write(man); err != nil {
		return Written{}, err
	}
	return Written{Stream: st, StreamBytes: n}, nil
}

// Delete removes the streams of the snapshots names of sv: first from the
// manifest (durably), then their files. A run killed in between leaves
// files the manifest no longer names, which Clean removes.
func (s Store) Delete(sv string, names []string) error {
	if len(names) == 0 {
		return nil
	}
	man, err := s.Read(sv)
	if err != nil {
		return err
	}
	var files []string
	man.Streams = slices.DeleteFunc(man.Streams, func(st Stream) bool {
		if slices.Contains(names, st.Name) {
			files = append(files, st.File)
			return true
		}
		return false
	})
	if err := s.write(man); err != nil {
		return err
	}
	var errs []error
	for _, f := range files {
		if err := os.Remove(filepath.Join(s.dir(sv), f)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("delete stream: %w", err))
		}
	}
	errs = append(errs, syncDir(s.dir(sv)))
	return errors.Join(errs...)
}

// Damage is one stored stream that does not match its manifest entry.
type Damage struct {
	Subvolume string `json:"subvolume"`
	File      string `json:"file"`
	Problem   string `json:"problem"`
}

func (d Damage) Error() string {
	return fmt.Sprintf("stream %s/%s: %s", d.Subvolume, d.File, d.Problem)
}

// Verify checks the stored bytes of one stream against the manifest entry
// (size and SHA-256); nil when they match.
func (s Store) Verify(sv string, st Stream) *Damage { return s.verify(sv, st, nil) }

// verify is Verify, its reads counted by meter (nil: off).
func (s Store) verify(sv string, st Stream, meter *progress.Meter) *Damage {
	f, err := safefile.Open(filepath.Join(s.dir(sv), st.File))
	if err != nil {
		return &Damage{Subvolume: sv, File: st.File, Problem: err.Error()}
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.CopyBuffer(h, meter.Reader(f), make([]byte, copyBuffer))
	if err != nil {
		return &Damage{Subvolume: sv, File: st.File, Problem: "read: " + err.Error()}
	}
	return check(sv, st, n, h)
}

func check(sv string, st Stream, n int64, h hash.Hash) *Damage {
	switch sum := hex.EncodeToString(h.Sum(nil)); {
	case n != st.Size:
		return &Damage{Subvolume: sv, File: st.File, Problem: fmt.Sprintf("%d bytes stored, the manifest says %d", n, st.Size)}
	case sum != st.SHA256:
		return &Damage{Subvolume: sv, File: st.File, Problem: fmt.Sprintf("SHA-256 %s, the manifest says %s", sum, st.SHA256)}
	}
	return nil
}

// ParseRecipients parses age recipients (X25519 "age1…" and hybrid
// post-quantum "age1pq1…" public keys).
func ParseRecipients(keys []string) ([]age.Recipient, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	rs, err := age.ParseRecipients(strings.NewReader(strings.Join(keys, "\n")))
	if err != nil {
		return nil, fmt.Errorf("age recipients: %w", err)
	}
	return rs, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// syncDir fsyncs a directory: a rename in it is durable after it.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}

// readDir lists dir; one that does not exist is empty.
func readDir(dir string) ([]os.DirEntry, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", dir, err)
	}
	return entries, nil
}

// renameNoReplace moves old to new, never over an existing file:
// renameat2 RENAME_NOREPLACE, or where the filesystem does not support the
// flag (NFS, CIFS) a hard link, which fails on an existing name just the
// same, and the removal of old (a crash in between leaves old in
// .incoming, which Clean removes).
func renameNoReplace(old, new string) error {
	err := unix.Renameat2(unix.AT_FDCWD, old, unix.AT_FDCWD, new, unix.RENAME_NOREPLACE)
	if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS) {
		return err
	}
	return linkNoReplace(old, new)
}

func linkNoReplace(old, new string) error {
	if err := unix.Link(old, new); err != nil {
		return err
	}
	return os.Remove(old)
}
