package btrfs

import (
	"errors"
	"testing"
)

func TestCleanPath(t *testing.T) {
	for in, want := range map[string]string{
		"@root":                  "@root",
		"old_roots/@root/2026-1": "old_roots/@root/2026-1",
		"@snapshots//@nix/":      "@snapshots/@nix",
		"./@root":                "@root",
		"@root/./var":            "@root/var",
		"..@not-dotdot":          "..@not-dotdot",
	} {
		if got, err := cleanPath(in); got != want || err != nil {
			t.Errorf("cleanPath(%q) = %q, %v, want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", ".", "./", "/@root", "..", "../x", "@root/../x", "@root/..", "a\x00b"} {
		if got, err := cleanPath(in); !errors.Is(err, ErrInvalidPath) {
			t.Errorf("cleanPath(%q) = %q, %v, want ErrInvalidPath", in, got, err)
		}
	}
}
