package generator

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/server-impermanence/server-impermanence/internal/plan"
	"github.com/server-impermanence/server-impermanence/internal/safefile"
)

// write creates files in the output directories: exclusively (O_EXCL, an
// existing file is an error, never overwritten or written through), in the
// order given (sorted by Build), symlinks as given; directories are created
// 0755 and none may be a symbolic link (internal/safefile). dirs holds one directory (everything goes
// there) or three (normal, early, late).
func write(files []plan.File, dirs []string) error {
	for _, f := range files {
		dir := dirs[0]
		if len(dirs) == 3 {
			dir = dirs[f.Dir]
		}
		p := filepath.Join(dir, f.Path)
		if err := safefile.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("create directory for %s: %w", p, err)
		}
		if f.IsLink() {
			if err := os.Symlink(f.Link, p); err != nil {
				return fmt.Errorf("create symlink %s: %w", p, err)
			}
			continue
		}
		if err := writeExclusive(p, f.Content); err != nil {
			return err
		}
	}
	return nil
}

func writeExclusive(p string, data []byte) error {
	fh, err := safefile.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, safefile.Perm{File: 0o644})
	if err != nil {
		return fmt.Errorf("create %s: %w", p, err)
	}
	if _, err := fh.Write(data); err != nil {
		fh.Close()
		return fmt.Errorf("write %s: %w", p, err)
	}
	if err := fh.Close(); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return nil
}
