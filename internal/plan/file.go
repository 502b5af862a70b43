package plan

import (
	"cmp"
	"slices"
)

// Dir is one of the generator's output directories.
type Dir int

// The output directories, in the order systemd passes them.
const (
	Normal Dir = iota
	Early
	Late
)

func (d Dir) String() string { return [...]string{"normal", "early", "late"}[d] }

// File is one file to create in an output directory.
type File struct {
	Dir Dir
	// Path is relative to the output directory, e.g. "nix.mount" or
	// "local-fs.target.requires/nix.mount".
	Path string
	// Content is the file's content; empty for a symlink.
	Content []byte
	// Link is the symlink target when the file is a symlink.
	Link string
}

// IsLink reports whether f is a symlink.
func (f File) IsLink() bool { return f.Link != "" }

func sortFiles(fs []File) {
	slices.SortStableFunc(fs, func(a, b File) int {
		if c := cmp.Compare(a.Dir, b.Dir); c != 0 {
			return c
		}
		return cmp.Compare(a.Path, b.Path)
	})
}
