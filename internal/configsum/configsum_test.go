package configsum

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/server-impermanence/server-impermanence/internal/config"
)

func TestSum(t *testing.T) {
	// printf '/etc/c.toml\0a=1\n\0/etc/config.d/b.toml\0b\0' | sha256sum
	const want = "870a9808070dd1df9a78d7c465c0893b3c5a8e919ce6d20b6b0ee9e0bf7dd44b"
	got := Sum([]config.Source{{Name: "/etc/c.toml", Data: []byte("a=1\n")}, {Name: "/etc/config.d/b.toml", Data: []byte("b")}})
	if got != want {
		t.Errorf("Sum = %s, want %s (sha256sum of name NUL data NUL ...)", got, want)
	}
	if again := Sum([]config.Source{{Name: "/etc/c.toml", Data: []byte("a=1\n")}, {Name: "/etc/config.d/b.toml", Data: []byte("b")}}); again != got {
		t.Errorf("Sum is not deterministic: %s, %s", got, again)
	}
	if other := Sum([]config.Source{{Name: "/etc/c.toml", Data: []byte("a=1\n/etc/config.d/b.toml")}, {Name: "", Data: []byte("b")}}); other == got {
		t.Error("Sum does not separate names from contents")
	}
}

func TestFile(t *testing.T) {
	dir := t.TempDir()
	main := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(main, []byte("device = \"/dev/x\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := File(main)
	if err != nil {
		t.Fatal(err)
	}
	if want := Sum([]config.Source{{Name: main, Data: []byte("device = \"/dev/x\"\n")}}); got != want {
		t.Errorf("File = %s, want %s", got, want)
	}
	if _, err := File(filepath.Join(dir, "missing.toml")); err == nil {
		t.Error("File(missing) = nil error")
	}
}
