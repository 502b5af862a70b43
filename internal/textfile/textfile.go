// Package textfile writes metrics for node_exporter's textfile collector:
// the whole exposition in the classic text format, replaced atomically so the
// collector never reads a torn file.
//
// The temporary file lives in the target directory (renameio WithTempDir, so
// the rename never crosses a filesystem) under a hidden name that does not end
// in ".prom", which the collector ignores. The file and then the directory are
// fsynced, so the file survives a power cut right after a job.
package textfile

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/renameio/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
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

// WriteFile atomically replaces path with data: a temporary file in the same
// directory named "."+base+<random> (not ending in .prom), fsync, rename,
// fsync of the directory.
func WriteFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := renameio.WriteFile(path, data, 0o644,
		renameio.WithTempDir(dir), renameio.WithStaticPermissions(0o644)); err != nil {
		return fmt.Errorf("write textfile metrics %s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("write textfile metrics %s: %w", path, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("write textfile metrics %s: fsync %s: %w", path, dir, err)
	}
	return nil
}
