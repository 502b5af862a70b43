package tune

import (
	"fmt"
	"path/filepath"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/config"
)

// The properties a Want sets.
const (
	PropertyCompression = "compression"
	PropertyNoCoW       = "nocow"
)

// Want is what the configuration asks of one subvolume's root directory.
type Want struct {
	Subvolume  string
	Mountpoint string
	// NoCoW sets the NoCoW attribute (cow = false); otherwise Compression
	// is the compression property to set.
	NoCoW       bool
	Compression string
}

// Property is the property w sets.
func (w Want) Property() string {
	if w.NoCoW {
		return PropertyNoCoW
	}
	return PropertyCompression
}

// Wants returns what cfg asks for, in configuration order, as the generator
// did with one command per subvolume: NoCoW when cow = false (and then no
// compression property: NoCoW data is never compressed), else the
// compression property when one is set ("none" included, stored as is);
// subvolumes with neither, or without a mountpoint, are left out.
func Wants(cfg *config.Config) []Want {
	var ws []Want
	for _, s := range cfg.Subvolumes {
		if s.Mountpoint == "" {
			continue
		}
		switch {
		case !s.CoW:
			ws = append(ws, Want{Subvolume: s.Name, Mountpoint: s.Mountpoint, NoCoW: true})
		case s.Compression != "":
			ws = append(ws, Want{Subvolume: s.Name, Mountpoint: s.Mountpoint, Compression: s.Compression})
		}
	}
	return ws
}

// CheckMount returns nil when m, the mount that opening w's mountpoint
// reached, is a btrfs mount of w's subvolume at that mountpoint, and
// otherwise an error saying what is there instead.
func CheckMount(w Want, m btrfs.Mount) error {
	mp := filepath.Clean(w.Mountpoint)
	switch {
	case filepath.Clean(m.Mountpoint) != mp:
		return fmt.Errorf("nothing is mounted at %s (it is a directory of the mount at %s)", mp, m.Mountpoint)
	case m.FSType != "btrfs":
		return fmt.Errorf("%s is a mount of type %s, not btrfs", mp, m.FSType)
	case m.Root == "/":
		return fmt.Errorf("%s is a mount of the top level (subvolid=5), not of subvolume %s", mp, w.Subvolume)
	case m.Root != "/"+filepath.Clean(w.Subvolume):
		return fmt.Errorf("%s is a mount of %s, not of subvolume %s", mp, m.Root, w.Subvolume)
	}
	return nil
}

// State is what a subvolume's root directory has.
type State struct {
	NoCoW       bool   `json:"nocow"`
	Compression string `json:"compression"` // "" when the property is unset
}

// Decide says whether w has to be applied to a directory in state st, or
// why the kernel would refuse it.
func Decide(w Want, st State) (change bool, err error) {
	if w.NoCoW {
		switch {
		case st.NoCoW:
			return false, nil
		case st.Compression != "":
			return false, fmt.Errorf("the kernel refuses NoCoW on a directory with a compression property (%q): remove the property (btrfs property set %s compression '') and run impermanence-tune again",
				st.Compression, w.Mountpoint)
		}
		return true, nil
	}
	switch {
	case st.Compression == w.Compression:
		return false, nil
	case st.NoCoW:
		return false, fmt.Errorf("%s is NoCoW and the kernel refuses a compression property on it: set cow = false for %s, or clear the attribute (chattr -C %s; files already there stay NoCoW)",
			w.Mountpoint, w.Subvolume, w.Mountpoint)
	}
	return true, nil
}
