package unitname

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
	"unicode/utf8"
)

var table = []struct {
	in, want string
	err      error
}{
	{"/", "-", nil},
	{"//", "-", nil},
	{"/.", "-", nil},
	{"/home/", "home", nil},
	{"//var//lib/", "var-lib", nil},
	{"/a/./b", "a-b", nil},
	{"/a/.", "a", nil},
	{"/a/../b", "", ErrNotNormalized},
	{"/..", "", ErrNotNormalized},
	{"/a/..", "", ErrNotNormalized},
	{"/a/..b", "a-..b", nil},
	{"/ab/.../c", "ab-...-c", nil},
	{"/mnt/@root", `mnt-\x40root`, nil},
	{"/srv/my data", `srv-my\x20data`, nil},
	{"/a-b/c_d", `a\x2db-c_d`, nil},
	{"/-lead", `\x2dlead`, nil},
	{"/.snapshots", `\x2esnapshots`, nil},
	{"/home/.config", "home-.config", nil},
	{"/var/lib/containers", "var-lib-containers", nil},
	{"/dev/disk/by-label/server", `dev-disk-by\x2dlabel-server`, nil},
	{"/dev/disk/by-uuid/0b1c-2d", `dev-disk-by\x2duuid-0b1c\x2d2d`, nil},
	{"/tab\there", `tab\x09here`, nil},
	{"/new\nline", `new\x0aline`, nil},
	{"/x\x7fy", `x\x7fy`, nil},
	{"/a:b", "a:b", nil},
	{`/a\b`, `a\x5cb`, nil},
	{"/x%y", `x\x25y`, nil},
	{"/über/straße", `\xc3\xbcber-stra\xc3\x9fe`, nil},
	{"/\xff\xfe", `\xff\xfe`, nil},
	{"/" + strings.Repeat("x", 255), strings.Repeat("x", 255), nil},
	{"/" + strings.Repeat("x", 256), "", ErrInvalid},
	{"/" + strings.Repeat(strings.Repeat("a", 200)+"/", 20) + strings.Repeat("b", 74), "", nil}, // 4095 bytes: valid
	{"/" + strings.Repeat(strings.Repeat("a", 200)+"/", 20) + strings.Repeat("b", 75), "", ErrInvalid},
	{"relative", "", ErrNotAbsolute},
	{"", "", ErrNotAbsolute},
	{"../a", "", ErrNotAbsolute},
}

func TestPathEscape(t *testing.T) {
	for _, tc := range table {
		got, err := PathEscape(tc.in)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("PathEscape(%q) = %q, %v, want error %v", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("PathEscape(%q) = error %v", tc.in, err)
			continue
		}
		if tc.want != "" && got != tc.want {
			t.Errorf("PathEscape(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// systemdEscape runs the real systemd-escape --path. ok is false when it
// refuses the path.
func systemdEscape(t testing.TB, p string) (string, bool) {
	out, err := exec.Command("systemd-escape", "--path", "--", p).Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return "", false
	}
	if err != nil {
		t.Fatalf("systemd-escape --path %q: %v", p, err)
	}
	return strings.TrimSuffix(string(out), "\n"), true
}

func needSystemdEscape(t testing.TB) {
	if _, err := exec.LookPath("systemd-escape"); err != nil {
		t.Skip("systemd-escape not installed")
	}
}

func TestPathEscapeMatchesSystemd(t *testing.T) {
	needSystemdEscape(t)
	for _, tc := range table {
		if !strings.HasPrefix(tc.in, "/") {
			continue // we refuse relative paths; systemd escapes them with a warning
		}
		compare(t, tc.in)
	}
}

func compare(t testing.TB, p string) {
	t.Helper()
	want, ok := systemdEscape(t, p)
	got, err := PathEscape(p)
	switch {
	case ok && err != nil:
		t.Errorf("PathEscape(%q) = error %v, systemd-escape gives %q", p, err, want)
	case !ok && err == nil:
		t.Errorf("PathEscape(%q) = %q, systemd-escape refuses it", p, got)
	case ok && got != want:
		t.Errorf("PathEscape(%q) = %q, want %q (systemd-escape)", p, got, want)
	}
}

func FuzzPathEscape(f *testing.F) {
	for _, tc := range table {
		f.Add(tc.in)
	}
	haveBinary := true
	if _, err := exec.LookPath("systemd-escape"); err != nil {
		haveBinary = false
	}
	f.Fuzz(func(t *testing.T, p string) {
		got, err := PathEscape(p)
		if !strings.HasPrefix(p, "/") {
			if !errors.Is(err, ErrNotAbsolute) {
				t.Fatalf("PathEscape(%q) = %q, %v, want ErrNotAbsolute", p, got, err)
			}
			return
		}
		if err == nil && (strings.ContainsAny(got, "/ \n") || got == "" || !utf8.ValidString(got)) {
			t.Fatalf("PathEscape(%q) = %q: not a unit name part", p, got)
		}
		// A command line cannot carry a NUL byte; systemd stops reading at it.
		if haveBinary && !strings.Contains(p, "\x00") {
			compare(t, p)
		}
	})
}

func TestFromPath(t *testing.T) {
	for _, tc := range []struct {
		in, suffix, want string
		ok               bool
	}{
		{"/var/log", ".mount", "var-log.mount", true},
		{"/", ".mount", "-.mount", true},
		{"/" + strings.Repeat("x", 249), ".mount", strings.Repeat("x", 249) + ".mount", true},
		{"/" + strings.Repeat("x", 250), ".mount", "", false},
		{"/a/../b", ".mount", "", false},
	} {
		got, err := FromPath(tc.in, tc.suffix)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("FromPath(%q, %q) = %q, %v, want %q (ok %v)", tc.in, tc.suffix, got, err, tc.want, tc.ok)
		}
	}
}
