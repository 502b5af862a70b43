package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/server-impermanence/server-impermanence/internal/safefile"
	"github.com/server-impermanence/server-impermanence/internal/state"
)

// Default locations.
const (
	DefaultPath      = "/etc/server-impermanence/config.toml"
	DropInDirName    = "config.d"
	dropInSuffix     = ".toml"
	defaultSourceTag = "<built-in default>"
)

// ErrNoConfig is returned by Load when the main configuration file does not
// exist: the system is not configured, which is not an error for the
// generator (it emits nothing).
var ErrNoConfig = errors.New("no configuration file")

// Source is one configuration document.
type Source struct {
	Name string // file name used in errors
	Data []byte
}

// Load reads path and the drop-ins in config.d/*.toml next to it (lexical
// order, later wins), then merges and validates them.
func Load(path string) (*Config, error) {
	srcs, err := ReadSources(path)
	if err != nil {
		return nil, err
	}
	return Parse(srcs...)
}

// ReadSources reads path and its drop-ins without parsing them.
func ReadSources(path string) ([]Source, error) {
	main, err := readFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read config %s: %w", path, ErrNoConfig)
	}
	if err != nil {
		return nil, err
	}
	srcs := []Source{{Name: path, Data: main}}
	dir := filepath.Join(filepath.Dir(path), DropInDirName)
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read drop-in dir %s: %w", dir, err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		// Hidden files are editor and package-manager leftovers. Anything
		// else named *.toml is read: a directory, FIFO or device there is
		// refused by readFile, not silently skipped.
		if strings.HasSuffix(e.Name(), dropInSuffix) && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	for _, n := range names {
		p := filepath.Join(dir, n)
		data, err := readFile(p)
		if err != nil {
			return nil, err
		}
		srcs = append(srcs, Source{Name: p, Data: data})
	}
	return srcs, nil
}

// readFile reads one configuration file: a symbolic link is followed (one
// placed in /etc by the administrator is ordinary), but what it leads to
// must be a regular file (internal/safefile: a FIFO never blocks the read).
func readFile(path string) ([]byte, error) {
	b, err := safefile.ReadFollow(path, MaxFileSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return b, nil
}

// Parse merges and validates documents in order: the first is the main file,
// the rest are drop-ins. It returns every problem found as Errors.
func Parse(srcs ...Source) (*Config, error) {
	if len(srcs) == 0 {
		return nil, ErrNoConfig
	}
	c := &collector{}
	layers := make([]*layer, 0, len(srcs))
	files := make([]string, 0, len(srcs))
	for i, s := range srcs {
		files = append(files, s.Name)
		if len(s.Data) > MaxFileSize {
			c.add(Pos{seq: i, File: s.Name}, "larger than %d bytes", MaxFileSize)
			continue
		}
		if tree := parseTree(s.Name, i, s.Data, c); tree != nil {
			layers = append(layers, decodeLayer(tree, c))
		}
	}
	if err := c.err(); err != nil {
		// Do not validate a partial document: every later message would be
		// about keys the parse dropped.
		return nil, err
	}
	m := merge(layers, srcs[0].Name)
	cfg := m.build(files, c)
	(&validator{m: m, c: cfg, e: c}).run()
	if err := c.err(); err != nil {
		return nil, err
	}
	persistStateDir(cfg)
	return cfg, nil
}

// persistStateDir adds the helpers' state directory (state.DefaultDir, the
// job records) to the persisted directories, so job history survives the
// rollback, when it would lie on an ephemeral subvolume and nothing the
// configuration declares already keeps it (a persisted directory at or above it, a permanent
// subvolume mounted at or above it). Without a persist subvolume there is
// nowhere to keep it; generator --check says so.
func persistStateDir(cfg *Config) {
	if _, ok := cfg.Subvolume(cfg.Persist.Subvolume); !ok {
		return
	}
	var owner Subvolume
	for _, s := range cfg.Subvolumes {
		if under(state.DefaultDir, s.Mountpoint) && len(s.Mountpoint) > len(owner.Mountpoint) {
			owner = s
		}
	}
	if owner.Class != Ephemeral {
		return
	}
	for _, d := range cfg.Persist.Directories {
		if under(state.DefaultDir, d.Path) {
			return
		}
	}
	for _, s := range cfg.Subvolumes {
		if below(s.Mountpoint, state.DefaultDir) {
			return // a subvolume mounted inside it: a bind mount would hide it
		}
	}
	cfg.Persist.Directories = append(cfg.Persist.Directories,
		PersistPath{Path: state.DefaultDir, User: "root", Group: "root", Mode: "0755", Implicit: true})
}
