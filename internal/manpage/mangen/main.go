// Command mangen renders docs/man/*.md to roff man pages (see
// internal/manpage): mangen -o DIR [-version V] SOURCE.md...
// writes DIR/<name>.<section> for each source.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/server-impermanence/server-impermanence/internal/manpage"
)

func main() { os.Exit(run(os.Args[1:], os.Stderr)) }

func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("mangen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "", "output `directory`")
	version := fs.String("version", "dev", "version for the page footer")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *out == "" || fs.NArg() == 0 {
		fmt.Fprintln(stderr, "usage: mangen -o DIR [-version V] SOURCE.md...")
		return 2
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintln(stderr, "mangen:", err)
		return 1
	}
	for _, src := range fs.Args() {
		if err := render(src, *out, *version); err != nil {
			fmt.Fprintln(stderr, "mangen:", err)
			return 1
		}
	}
	return 0
}

func render(src, dir, version string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	h, err := manpage.ParseHeader(b)
	if err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	roff, err := manpage.Render(b, version)
	if err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	dst := filepath.Join(dir, h.Name+"."+h.Section)
	// A temp name of its own: two builds may render into one dir at once.
	f, err := os.CreateTemp(dir, "."+h.Name+".*.tmp")
	if err != nil {
		return err
	}
	if _, err := f.Write(roff); err != nil {
		f.Close()
		os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", f.Name(), err)
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), dst); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("rename %s: %w", dst, err)
	}
	return nil
}
