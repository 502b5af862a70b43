package manpage

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func TestRenderGolden(t *testing.T) {
	src, err := os.ReadFile("testdata/sample.1.md")
	if err != nil {
		t.Fatal(err)
	}
	got, err := Render(src, "1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "sample.1.golden")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("Render(sample.1.md) differs from %s (-want +got; -update rewrites):\n%s", golden, diff)
	}
}

func TestOptions(t *testing.T) {
	src, err := os.ReadFile("testdata/sample.1.md")
	if err != nil {
		t.Fatal(err)
	}
	got := Options(src)
	want := []string{"alpha", "beta", "gamma"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Options(sample) = %v, want %v", got, want)
	}
}

func TestRenderErrors(t *testing.T) {
	for _, src := range []string{
		"no header\n",
		"# name(9) -- bad section\n",
		"# name(1) -- x\n\n```\nunterminated\n",
		"# name(1) -- x\n\n- item\n\n```\nread as text of the item\n```\n",
	} {
		if _, err := Render([]byte(src), "v"); err == nil {
			t.Errorf("Render(%q) = nil error, want an error", src)
		}
	}
}
