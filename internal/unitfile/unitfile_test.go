package unitfile

import (
	"strings"
	"testing"
)

func TestRender(t *testing.T) {
	var u Unit
	u.Add("Unit", "Description", Spec("100% fine"))
	u.Add("Mount", "Where", "/srv/a b")
	u.Add("Unit", "After", "x.mount")
	got, err := u.Render("comment")
	if err != nil {
		t.Fatal(err)
	}
	want := Header + "\n# comment\n\n[Unit]\nDescription=100%% fine\nAfter=x.mount\n\n[Mount]\nWhere=/srv/a b\n"
	if string(got) != want {
		t.Errorf("Render = %q, want %q", got, want)
	}
}

func TestRenderRefuses(t *testing.T) {
	for _, v := range []string{"a\nExecStart=/bin/sh", "a ", " a", `a\`, "a\x00", "tab\t"} {
		var u Unit
		u.Add("Unit", "Description", v)
		if _, err := u.Render(); err == nil {
			t.Errorf("Render(Description=%q) = nil error, want refusal", v)
		}
	}
	var u Unit
	if _, err := u.Render("a\nb"); err == nil {
		t.Error("Render(comment with newline) = nil error")
	}
}

func TestEscapes(t *testing.T) {
	for _, tc := range []struct {
		f        func(string) string
		name     string
		in, want string
	}{
		{Word, "Word", "/persist", "/persist"},
		{Word, "Word", "/my data", `"/my data"`},
		{Word, "Word", `/a"b\c`, `"/a\"b\\c"`},
		{Word, "Word", "/50%", "/50%%"},
		{Exec, "Exec", "/x$HOME", "/x$$HOME"},
		{Exec, "Exec", "/a b$", `"/a b$$"`},
		{Text, "Text", `d "/a\x20b" 0700`, `d "/a\\x20b" 0700`},
		{Text, "Text", "50%", "50%%"},
	} {
		if got := tc.f(tc.in); got != tc.want {
			t.Errorf("%s(%q) = %q, want %q", tc.name, tc.in, got, tc.want)
		}
	}
	if !strings.Contains(Spec("%n%%"), "%%n%%%%") {
		t.Errorf("Spec doubles every %%")
	}
}
