package blanks

import (
	"bufio"
	"bytes"
	"fmt"
	"slices"
	"strings"
)

// DpkgStatus is where a Debian root lists its packages, relative to it.
const DpkgStatus = "var/lib/dpkg/status"

// Packages parses a dpkg status file: the installed packages (Status
// "install ok installed") and their versions, by "name:arch" when the
// stanza names an architecture other than "all".
func Packages(status []byte) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(status))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var name, arch, version, st string
	flush := func() {
		if name != "" && st == "install ok installed" {
			if arch != "" && arch != "all" {
				name += ":" + arch
			}
			out[name] = version
		}
		name, arch, version, st = "", "", "", ""
	}
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			flush()
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok || strings.HasPrefix(line, " ") {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "Package":
			name = v
		case "Architecture":
			arch = v
		case "Version":
			version = v
		case "Status":
			st = v
		}
	}
	flush()
	return out
}

// PackageDiff is what changed between two package lists.
type PackageDiff struct {
	Added   []string `json:"added"`   // name=version
	Removed []string `json:"removed"` // name=version
	Changed []string `json:"changed"` // name=old→new
}

// DiffPackages compares the packages of an older entry with a newer one.
func DiffPackages(older, newer map[string]string) PackageDiff {
	d := PackageDiff{Added: []string{}, Removed: []string{}, Changed: []string{}}
	for n, v := range newer {
		switch ov, ok := older[n]; {
		case !ok:
			d.Added = append(d.Added, n+"="+v)
		case ov != v:
			d.Changed = append(d.Changed, n+"="+ov+"→"+v)
		}
	}
	for n, v := range older {
		if _, ok := newer[n]; !ok {
			d.Removed = append(d.Removed, n+"="+v)
		}
	}
	slices.Sort(d.Added)
	slices.Sort(d.Removed)
	slices.Sort(d.Changed)
	return d
}

// String is the short form: "+2 -1 ~5".
func (d PackageDiff) String() string {
	return fmt.Sprintf("+%d -%d ~%d", len(d.Added), len(d.Removed), len(d.Changed))
}
