package send

import (
	"fmt"
	"io"

	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/streamstore"
	"github.com/server-impermanence/server-impermanence/internal/targetstate"
)

// StreamCheck is one stored stream of a stream target verified.
type StreamCheck struct {
	Target    string `json:"target"`
	Subvolume string `json:"subvolume"`
	File      string `json:"file"`
	Bytes     int64  `json:"bytes"`
	// Problem is what is wrong with it; "" when it matches the manifest
	// and the checksum this server recorded.
	Problem string `json:"problem,omitempty"`
}

// verifyStream recomputes the SHA-256 of every stream the stream target t
// stores and compares it and the size with the manifest, and the manifest
// with the checksums the target's record kept when this server wrote the
// streams. The error is a target or manifest that could not be read.
func verifyStream(s *job.Session, t config.Target) ([]StreamCheck, error) {
	st, _, _, _, err := openStream(s, t)
	if err != nil {
		return nil, err
	}
	rec, _ := targetstate.Read(s.Env.StateDir(), t.Name)
	var out []StreamCheck
	for _, sv := range t.Subvolumes {
		m, err := st.Read(sv)
		if err != nil {
			return out, err
		}
		tampered := map[string]string{}
		for _, d := range m.Tampered(trustedSums(rec.Subvolumes[sv])) {
			tampered[d.File] = d.Problem
		}
		for _, x := range m.Streams {
			c := StreamCheck{Target: t.Name, Subvolume: sv, File: x.File, Bytes: x.Size}
			d := st.Verify(sv, x)
			if d == nil && tampered[x.File] != "" {
				d = &streamstore.Damage{Subvolume: sv, File: x.File, Problem: tampered[x.File]}
			}
			if d != nil {
				c.Problem = d.Problem
				s.Log.Error(fmt.Sprintf("stream %s/%s on %s is damaged: %s", sv, x.File, t.Name, d.Problem), "target", t.Name, "subvolume", sv, "file", x.File)
			}
			out = append(out, c)
		}
	}
	return out, nil
}

func damagedStreams(cs []StreamCheck) int {
	n := 0
	for _, c := range cs {
		if c.Problem != "" {
			n++
		}
	}
	return n
}

func printStreamChecks(w io.Writer, cs []StreamCheck) {
	for _, c := range cs {
		if c.Problem == "" {
			fmt.Fprintf(w, "%s: ok %s/%s (%d bytes)\n", c.Target, c.Subvolume, c.File, c.Bytes)
		} else {
			fmt.Fprintf(w, "%s: DAMAGED %s/%s: %s\n", c.Target, c.Subvolume, c.File, c.Problem)
		}
	}
}
