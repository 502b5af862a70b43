package streamstore

import (
	"fmt"
	"strings"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/names"
)

// Kind is whether a stream is a full send or an incremental one.
type Kind string

// The kinds, as they appear in file names and the manifest.
const (
	Full        Kind = "full"
	Incremental Kind = "inc"
)

// ManifestName is the manifest's file name in <root>/<subvolume>/.
const ManifestName = "manifest.json"

// Incoming is the directory of streams being written below the root.
const Incoming = ".incoming"

// manifestVersion is the format of the manifest this version writes.
const manifestVersion = 1

// Stream is one stored stream: the manifest's entry for a file.
type Stream struct {
	// Name is the source snapshot's name.
	Name string `json:"name"`
	// File is the stream's file name in <root>/<subvolume>/.
	File string `json:"file"`
	Kind Kind   `json:"kind"`
	// Parent is the snapshot an incremental stream is relative to (the
	// stream before it in its chain); "" for a full one.
	Parent     string `json:"parent,omitempty"`
	ParentUUID string `json:"parent_uuid,omitempty"`
	// UUID is the source snapshot's subvolume UUID (the received UUID
	// btrfs receive gives the restored snapshot).
	UUID string `json:"uuid"`
	// Size and SHA256 are those of the bytes stored (after encryption).
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// StreamBytes is the size of the send stream before encryption.
	StreamBytes int64 `json:"stream_bytes"`
	Encrypted   bool  `json:"encrypted"`
	// Stored is when the stream was stored.
	Stored time.Time `json:"stored"`
}

// Manifest is what a stream target holds of one subvolume.
type Manifest struct {
	Version   int    `json:"version"`
	Subvolume string `json:"subvolume"`
	// Streams in the order they were stored (oldest first).
	Streams []Stream `json:"streams"`
}

// Find returns the stream of the snapshot name.
func (m Manifest) Find(name string) (Stream, bool) {
	for _, s := range m.Streams {
		if s.Name == name {
			return s, true
		}
	}
	return Stream{}, false
}

// Names reports whether file is the file of a stream of the manifest.
func (m Manifest) Names(file string) bool {
	for _, s := range m.Streams {
		if s.File == file {
			return true
		}
	}
	return false
}

// FileName is the file of a stream of the snapshot name:
// <name>.<full|inc>.btrfs, with .age when encrypted.
func FileName(name string, k Kind, encrypted bool) string {
	f := name + "." + string(k) + ".btrfs"
	if encrypted {
		f += ".age"
	}
	return f
}

// ParseFileName is the inverse of FileName; ok is false for a file that is
// not a stream of a snapshot name.
func ParseFileName(file string) (name string, k Kind, encrypted bool, ok bool) {
	rest, encrypted := strings.CutSuffix(file, ".age")
	rest, ok = strings.CutSuffix(rest, ".btrfs")
	if !ok {
		return "", "", false, false
	}
	switch {
	case strings.HasSuffix(rest, "."+string(Full)):
		k = Full
	case strings.HasSuffix(rest, "."+string(Incremental)):
		k = Incremental
	default:
		return "", "", false, false
	}
	name = strings.TrimSuffix(rest, "."+string(k))
	if _, _, ok := names.ParseSnapshot(name); !ok {
		return "", "", false, false
	}
	return name, k, encrypted, true
}

// check reports what is wrong with a manifest read from a target: every
// entry must name its own file by the layout's rule, and names are unique.
func (m Manifest) check() error {
	seen := map[string]bool{}
	for _, s := range m.Streams {
		if s.File != FileName(s.Name, s.Kind, s.Encrypted) {
			return fmt.Errorf("entry %q names file %q, want %q", s.Name, s.File, FileName(s.Name, s.Kind, s.Encrypted))
		}
		if s.Kind == Incremental && s.Parent == "" || s.Kind == Full && s.Parent != "" {
			return fmt.Errorf("entry %q: a %s stream with parent %q", s.Name, s.Kind, s.Parent)
		}
		if seen[s.Name] {
			return fmt.Errorf("snapshot %q is listed twice", s.Name)
		}
		seen[s.Name] = true
	}
	return nil
}

// Chain returns the streams a restore of the snapshot name replays, in
// order: its chain's full stream, then every incremental up to it. Each
// parent is matched by name and source UUID.
func Chain(m Manifest, name string) ([]Stream, error) {
	byName := map[string]Stream{}
	for _, s := range m.Streams {
		byName[s.Name] = s
	}
	s, ok := byName[name]
	if !ok {
		return nil, fmt.Errorf("snapshot %s/%s is not stored on the target", m.Subvolume, name)
	}
	var out []Stream
	for {
		out = append(out, s)
		if s.Kind == Full {
			break
		}
		if len(out) > len(m.Streams) {
			return nil, fmt.Errorf("the chain of %s/%s loops", m.Subvolume, name)
		}
		p, ok := byName[s.Parent]
		if !ok || p.UUID != s.ParentUUID {
			return nil, fmt.Errorf("the chain of %s/%s is broken: %s's parent %s (UUID %s) is not stored", m.Subvolume, name, s.Name, s.Parent, s.ParentUUID)
		}
		s = p
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

// Newest returns the newest stored stream by its snapshot's time (then
// name): the parent of the next incremental.
func (m Manifest) Newest() (Stream, bool) {
	var best Stream
	var bt time.Time
	found := false
	for _, s := range m.Streams {
		t, _, ok := names.ParseSnapshot(s.Name)
		if ok && (!found || t.After(bt) || t.Equal(bt) && s.Name > best.Name) {
			best, bt, found = s, t, true
		}
	}
	return best, found
}
