package manpage

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"
)

// leafKeys returns the key names of every table and array of tables in v,
// recursively (the names only: "hourly", not "snapshots.retention.hourly").
func leafKeys(v any, into map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			into[k] = true
			leafKeys(e, into)
		}
	case []any:
		for _, e := range x {
			leafKeys(e, into)
		}
	}
}

// TestConfigPageNamesEveryKey checks that server-impermanence.toml(5)
// names every key of the built-in default configuration.
func TestConfigPageNamesEveryKey(t *testing.T) {
	root := moduleRoot(t)
	def, err := os.ReadFile(filepath.Join(root, "internal", "config", "default.toml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := toml.Unmarshal(def, &doc); err != nil {
		t.Fatalf("default.toml: %v", err)
	}
	keys := map[string]bool{}
	leafKeys(doc, keys)
	page, err := os.ReadFile(filepath.Join(root, "docs", "man", "server-impermanence.toml.5.md"))
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	for k := range keys {
		table := "[" + k + "]"
		if k == "subvolume" {
			table = "[[subvolume]]"
		}
		if !strings.Contains(string(page), "`"+k+"`") && !strings.Contains(string(page), "## "+table) {
			missing = append(missing, k)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("docs/man/server-impermanence.toml.5.md does not name these keys of the default configuration: %s", strings.Join(missing, ", "))
	}
}
