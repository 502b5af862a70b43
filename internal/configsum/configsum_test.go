package configsum

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestFileMatchesSha256sum(t *testing.T) {
	dir := t.TempDir()
	main := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(main, []byte("device = \"/dev/x\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "config.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]string{"20-b.toml": "mode = \"balanced\"\n", "10-a.toml": "# a\n", ".hidden.toml": "x"} {
		if err := os.WriteFile(filepath.Join(dir, "config.d", name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := File(main)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", "cat config.toml config.d/*.toml | sha256sum")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Fields(string(out))[0]; got != want {
		t.Errorf("File = %s, want %s (sha256sum of the files in merge order)", got, want)
	}
	if _, err := File(filepath.Join(dir, "missing.toml")); err == nil {
		t.Error("File(missing) = nil error")
	}
}
