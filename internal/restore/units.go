package restore

import (
	"bufio"
	"bytes"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/server-impermanence/server-impermanence/internal/safefile"
)

// DefaultUnitDirs are where unit files and their drop-ins are read from,
// most specific first.
var DefaultUnitDirs = []string{"/etc/systemd/system", "/run/systemd/system", "/usr/lib/systemd/system"}

// Use is a unit setting that names a path under a restored mountpoint.
type Use struct {
	Unit    string `json:"unit"`
	Setting string `json:"setting"` // e.g. "RequiresMountsFor=/var/lib/services"
	File    string `json:"file"`
}

// pathKeys are the unit settings whose values are paths; the value of the
// *Directory= ones (without a leading "/") is relative to the base given.
var pathKeys = map[string]string{
	"RequiresMountsFor": "", "WantsMountsFor": "", "WorkingDirectory": "", "RootDirectory": "",
	"ReadWritePaths": "", "ReadOnlyPaths": "", "BindPaths": "", "BindReadOnlyPaths": "",
	"StateDirectory": "/var/lib", "CacheDirectory": "/var/cache", "LogsDirectory": "/var/log",
	"ConfigurationDirectory": "/etc", "Where": "",
}

// Users reads the unit files and drop-ins in dirs (no systemd needed: it
// works in a chroot and without PID 1) and returns the settings that name
// a path at or below one of mountpoints, sorted by unit. A unit in an
// earlier dir masks the same name in a later one; drop-ins of all dirs
// count.
func Users(dirs, mountpoints []string) []Use {
	var out []Use
	seen := map[string]bool{}
	for _, dir := range dirs {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			name := e.Name()
			switch {
			case strings.HasSuffix(name, ".d") && e.IsDir():
				unit := strings.TrimSuffix(name, ".d")
				confs, _ := filepath.Glob(filepath.Join(dir, name, "*.conf"))
				for _, c := range confs {
					out = append(out, scan(unit, c, mountpoints)...)
				}
			case isUnit(name) && !seen[name]:
				seen[name] = true
				out = append(out, scan(name, filepath.Join(dir, name), mountpoints)...)
			}
		}
	}
	slices.SortFunc(out, func(a, b Use) int {
		return strings.Compare(a.Unit+"\x00"+a.Setting, b.Unit+"\x00"+b.Setting)
	})
	return slices.CompactFunc(out, func(a, b Use) bool { return a.Unit == b.Unit && a.Setting == b.Setting })
}

func isUnit(name string) bool {
	for _, s := range []string{".service", ".socket", ".mount", ".timer", ".path", ".automount"} {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}

// scan returns the settings of one unit file that name a path under one of
// mountpoints. /dev/null (a masked unit), anything else that is not a
// regular file (a FIFO never blocks the read) and unreadable files give
// nothing.
func scan(unit, file string, mountpoints []string) []Use {
	b, err := safefile.ReadFollow(file, 1<<20)
	if err != nil {
		return nil
	}
	var out []Use
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		base, known := pathKeys[strings.TrimSpace(k)]
		if !ok || !known {
			continue
		}
		for _, w := range strings.Fields(v) {
			for _, p := range strings.Split(strings.TrimLeft(w, "-+!:~"), ":") {
				if p == "" {
					continue
				}
				if !strings.HasPrefix(p, "/") {
					if base == "" {
						continue
					}
					p = path.Join(base, p)
				}
				p = path.Clean(p)
				for _, mp := range mountpoints {
					if mp != "/" && (p == mp || strings.HasPrefix(p, mp+"/")) {
						out = append(out, Use{Unit: unit, Setting: strings.TrimSpace(k) + "=" + p, File: file})
					}
				}
			}
		}
	}
	return out
}
