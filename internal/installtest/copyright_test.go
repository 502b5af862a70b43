package installtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// shipped are the packages whose binaries the Debian package installs.
var shipped = []string{"./generator", "./exporter", "./helpers/..."}

// module is a Go module linked into a shipped binary.
type module struct {
	path, version, dir string
}

// stanza is one Files paragraph of debian/copyright.
type stanza struct {
	files, copyright, license, comment string
}

// parseCopyright splits a machine-readable debian/copyright into its Files
// paragraphs (by their Files: field) and the names of its standalone License
// paragraphs.
func parseCopyright(text string) (files []stanza, licenses []string) {
	for _, para := range strings.Split(strings.TrimSpace(text), "\n\n") {
		fields := map[string]string{}
		key := ""
		for _, line := range strings.Split(para, "\n") {
			if strings.HasPrefix(line, " ") {
				continue // continuation line
			}
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			key = k
			fields[key] = strings.TrimSpace(v)
		}
		switch {
		case fields["Files"] != "":
			files = append(files, stanza{fields["Files"], fields["Copyright"], fields["License"], fields["Comment"]})
		case fields["License"] != "" && fields["Format"] == "":
			licenses = append(licenses, fields["License"])
		}
	}
	return files, licenses
}

// moduleProblems lists what debian/copyright's stanzas lack for the linked
// modules: a module with no stanza (or a stanza naming another version), a
// stanza for a module no binary links, a license with no text.
func moduleProblems(linked []module, files []stanza, licenses []string) []string {
	var problems []string
	byPath := map[string]stanza{}
	for _, s := range files {
		if _, dup := byPath[strings.TrimSuffix(s.files, "/*")]; dup {
			problems = append(problems, fmt.Sprintf("Files: %s: a second stanza", s.files))
		}
		byPath[strings.TrimSuffix(s.files, "/*")] = s
		if !slices.Contains(licenses, s.license) {
			problems = append(problems, fmt.Sprintf("Files: %s: license %q has no License paragraph", s.files, s.license))
		}
		if s.copyright == "" {
			problems = append(problems, fmt.Sprintf("Files: %s: no Copyright", s.files))
		}
	}
	want := map[string]bool{"*": true, "std": true}
	for _, m := range linked {
		want[m.path] = true
		s, ok := byPath[m.path]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("module %s %s is linked but has no \"Files: %s/*\" stanza", m.path, m.version, m.path))
		case !strings.Contains(s.comment, m.path+" "+m.version+"."):
			problems = append(problems, fmt.Sprintf("Files: %s/*: comment %q does not name the linked version %s", m.path, s.comment, m.version))
		}
	}
	for _, s := range files {
		if p := strings.TrimSuffix(s.files, "/*"); !want[p] {
			problems = append(problems, fmt.Sprintf("Files: %s: no shipped binary links module %s", s.files, p))
		}
	}
	return problems
}

func TestModuleProblems(t *testing.T) {
	files := []stanza{
		{"*", "2026 us", "Apache-2.0", ""},
		{"std/*", "2009 The Go Authors", "BSD-3-clause", ""},
		{"example.com/a/*", "2020 A", "Expat", "Go module example.com/a v1.0.0."},
		{"example.com/gone/*", "2020 G", "Expat", "Go module example.com/gone v1.0.0."},
		{"example.com/old/*", "2020 O", "Expat", "Go module example.com/old v1.0.0."},
		{"example.com/nolicense/*", "", "MIT", "Go module example.com/nolicense v1.0.0."},
		{"example.com/a/*", "2020 A", "Expat", "Go module example.com/a v1.0.0."},
	}
	linked := []module{
		{path: "example.com/a", version: "v1.0.0"},
		{path: "example.com/missing", version: "v0.1.0"},
		{path: "example.com/old", version: "v1.1.0"},
		{path: "example.com/nolicense", version: "v1.0.0"},
	}
	want := []string{
		`Files: example.com/nolicense/*: license "MIT" has no License paragraph`,
		`Files: example.com/nolicense/*: no Copyright`,
		`Files: example.com/a/*: a second stanza`,
		`module example.com/missing v0.1.0 is linked but has no "Files: example.com/missing/*" stanza`,
		`Files: example.com/old/*: comment "Go module example.com/old v1.0.0." does not name the linked version v1.1.0`,
		`Files: example.com/gone/*: no shipped binary links module example.com/gone`,
	}
	got := moduleProblems(linked, files, []string{"Apache-2.0", "Expat", "BSD-3-clause"})
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("moduleProblems (-want +got):\n%s", diff)
	}
}

// licenseKind names the license of a module's LICENSE text, as DEP-5 short
// names (the BSD ones without the holder suffix).
func licenseKind(text string) string {
	switch {
	case strings.Contains(text, "Apache License") && strings.Contains(text, "Version 2.0"):
		return "Apache-2.0"
	case strings.Contains(text, "Permission is hereby granted, free of charge"):
		return "Expat"
	case strings.Contains(text, "Neither the name"):
		return "BSD-3-clause"
	case strings.Contains(text, "Redistribution and use in source and binary forms"):
		return "BSD-2-clause"
	}
	return "unknown"
}

// TestCopyrightListsLinkedModules checks debian/copyright against the
// modules `go list -deps` finds in the shipped binaries: one stanza per
// module with its version, and the license its LICENSE file in the module
// cache carries. The project's own stanza is Apache-2.0, as LICENSE is.
func TestCopyrightListsLinkedModules(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go command not on PATH")
	}
	root := moduleRoot(t)
	args := append([]string{"list", "-deps", "-f", "{{with .Module}}{{.Path}}\t{{.Version}}\t{{.Dir}}{{end}}"}, shipped...)
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps %v: %v", shipped, err)
	}
	var linked []module
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 3 || f[1] == "" { // the main module has no version
			continue
		}
		m := module{f[0], f[1], f[2]}
		if !slices.Contains(linked, m) {
			linked = append(linked, m)
		}
	}
	if len(linked) < 5 {
		t.Fatalf("go list found %d linked modules (%v); expected go-systemd, x/sys, go-toml, client_golang and more", len(linked), linked)
	}
	b, err := os.ReadFile(filepath.Join(root, "debian", "copyright"))
	if err != nil {
		t.Fatal(err)
	}
	files, licenses := parseCopyright(string(b))
	for _, p := range moduleProblems(linked, files, licenses) {
		t.Error("debian/copyright: " + p)
	}
	byPath := map[string]stanza{}
	for _, s := range files {
		byPath[strings.TrimSuffix(s.files, "/*")] = s
	}
	if s := byPath["*"]; s.license != "Apache-2.0" {
		t.Errorf("debian/copyright: Files: * is %q, want Apache-2.0 (LICENSE)", s.license)
	}
	lic, err := os.ReadFile(filepath.Join(root, "LICENSE"))
	if err != nil {
		t.Fatal(err)
	}
	if k := licenseKind(string(lic)); k != "Apache-2.0" {
		t.Errorf("LICENSE is %s, want Apache-2.0", k)
	}
	for _, m := range linked {
		s, ok := byPath[m.path]
		if !ok || m.dir == "" {
			continue
		}
		texts, _ := filepath.Glob(filepath.Join(m.dir, "LICENSE*"))
		if len(texts) == 0 {
			t.Errorf("module %s: no LICENSE file in %s", m.path, m.dir)
			continue
		}
		text, err := os.ReadFile(texts[0])
		if err != nil {
			t.Fatal(err)
		}
		kind, _, _ := strings.Cut(s.license, "~")
		if got := licenseKind(string(text)); got != kind {
			t.Errorf("debian/copyright: Files: %s is %s, but %s is %s", s.files, s.license, texts[0], got)
		}
	}
}
