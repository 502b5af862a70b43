package metrics

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/mountinfo"
)

// scrape holds what several sources share in one scrape, each read at most
// once: the clock, the configuration and the mount table.
type scrape struct {
	opts Options
	now  time.Time

	cfgDone bool
	srcs    []config.Source
	cfg     *config.Config
	cfgErr  error

	mountsDone bool
	mounts     []mountinfo.Mount
	mountsErr  error
}

func newScrape(opts Options) *scrape { return &scrape{opts: opts, now: opts.Now()} }

// config returns the configuration; on an invalid or missing one it returns
// the error and, for the sources that can still work, the built-in default.
func (s *scrape) config() (*config.Config, error) {
	if !s.cfgDone {
		s.cfgDone = true
		s.srcs, s.cfgErr = config.ReadSources(s.opts.Paths.Config)
		if s.cfgErr == nil {
			s.cfg, s.cfgErr = config.Parse(s.srcs...)
		}
	}
	if s.cfgErr != nil {
		return config.Default(), s.cfgErr
	}
	return s.cfg, nil
}

func (s *scrape) mountTable() ([]mountinfo.Mount, error) {
	if !s.mountsDone {
		s.mountsDone = true
		s.mounts, s.mountsErr = mountinfo.Read(s.opts.Paths.Mountinfo)
	}
	return s.mounts, s.mountsErr
}

// mountAt returns the btrfs mount at the host path mountpoint (the last one,
// which is the visible one when mounts are stacked).
func (s *scrape) mountAt(mountpoint string) (mountinfo.Mount, error) {
	mounts, err := s.mountTable()
	if err != nil {
		return mountinfo.Mount{}, err
	}
	found, ok := mountinfo.At(mounts, mountpoint)
	if !ok {
		return mountinfo.Mount{}, fmt.Errorf("%s is not mounted", mountpoint)
	}
	if found.FSType != "btrfs" {
		return mountinfo.Mount{}, fmt.Errorf("%s is a %s mount, not btrfs", mountpoint, found.FSType)
	}
	return found, nil
}

// errNoFilesystem says the suite's filesystem was not found in sysfs.
var errNoFilesystem = errors.New("btrfs filesystem not found in sysfs")

// fsid returns the sysfs directory (/sys/fs/btrfs/<fsid>) of the suite's
// filesystem: the one whose member devices include the configured device or
// the device of the snapshots or root mount.
func (s *scrape) filesystemDir() (string, error) {
	cfg, _ := s.config()
	var names []string
	if cfg.Device != "" {
		dev := cfg.Device
		if rel, ok := strings.CutPrefix(dev, "/dev/"); ok {
			dev = filepath.Join(s.opts.Paths.Dev, rel)
		}
		if real, err := filepath.EvalSymlinks(dev); err == nil {
			names = append(names, filepath.Base(real))
		}
	}
	for _, mp := range []string{config.SnapshotsMountpoint, "/"} {
		if m, err := s.mountAt(mp); err == nil && strings.HasPrefix(m.Source, "/dev/") {
			names = append(names, filepath.Base(m.Source))
		}
	}
	base := filepath.Join(s.opts.Paths.Sysfs, "fs/btrfs")
	entries, err := os.ReadDir(base)
	if err != nil {
		return "", fmt.Errorf("%w: %w", errNoFilesystem, err)
	}
	for _, n := range names {
		for _, e := range entries {
			if _, err := os.Lstat(filepath.Join(base, e.Name(), "devices", n)); err == nil {
				return filepath.Join(base, e.Name()), nil
			}
		}
	}
	return "", fmt.Errorf("%w (device %s, devices looked for %v, in %s)", errNoFilesystem, cfg.Device, names, base)
}
