// Package textfile writes metrics for node_exporter's textfile collector:
// the whole exposition in the classic text format, replaced atomically so the
// collector never reads a torn file.
//
// The file is replaced with internal/safefile: the temporary file lives in the
// target directory (the rename never crosses a filesystem) under a hidden name
// that does not end in ".prom", which the collector ignores; a temporary left
// by a killed writer is removed by the next one. The file is fsynced before
// the rename, the directory not: after a power cut the collector reads the
// previous exposition or the new one, never a torn one, and every job and
// exporter run rewrites it.
package textfile

import (
	"bytes"
	"fmt"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/server-impermanence/server-impermanence/internal/safefile"
)

// Name is the file the suite writes in the textfile directory.
const Name = "server_impermanence.prom"

// Encode gathers g and returns the exposition in the classic text format.
// A gather error writes nothing: node_exporter would drop or misread a file
// with duplicate series.
func Encode(g prometheus.Gatherer) ([]byte, error) {
	mfs, err := g.Gather()
	if err != nil {
		return nil, fmt.Errorf("gather metrics: %w", err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return nil, fmt.Errorf("encode %s: %w", mf.GetName(), err)
		}
	}
	return buf.Bytes(), nil
}

// Write gathers g and atomically replaces dir/server_impermanence.prom
// (mode 0644) with the result.
func Write(dir string, g prometheus.Gatherer) error {
	data, err := Encode(g)
	if err != nil {
		return fmt.Errorf("write textfile metrics in %s: %w", dir, err)
	}
	return WriteFile(filepath.Join(dir, Name), data)
}

// WriteFile atomically replaces path (mode 0644) with data: see the package
// comment. Its directory is created 0755 when missing.
func WriteFile(path string, data []byte) error {
	if err := safefile.Replace(path, data, safefile.Perm{File: 0o644, Dir: 0o755}, safefile.Atomic); err != nil {
		return fmt.Errorf("write textfile metrics: %w", err)
	}
	return nil
}
