package restore

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/server-impermanence/server-impermanence/internal/config"
)

func TestResolveSnapshot(t *testing.T) {
	cfg := config.Default()
	for _, tc := range []struct{ from, want string }{
		{"20260101T000000Z", "@snapshots/@nix/20260101T000000Z"},
		{"@snapshots/@nix/20260101T000000Z-x", "@snapshots/@nix/20260101T000000Z-x"},
		{"/.snapshots/@nix/20260101T000000Z", "@snapshots/@nix/20260101T000000Z"},
		{"@snapshots/@var-log/20260101T000000Z", ""},
		{"@snapshots/@nix/../@var-log/x", ""},
		{"", ""},
	} {
		got, err := ResolveSnapshot(cfg, "@nix", tc.from)
		if got != tc.want || (err != nil) != (tc.want == "") {
			t.Errorf("ResolveSnapshot(@nix, %q) = %q, %v; want %q", tc.from, got, err, tc.want)
		}
	}
}

func TestLocate(t *testing.T) {
	cfg := config.Default()
	for _, tc := range []struct{ p, sv, rel string }{
		{"/var/lib/services/app/db", "@var-lib-services", "app/db"},
		{"/var/lib/other", "@root", "var/lib/other"},
		{"/etc/ssh/sshd_config", "@persist", "etc/ssh/sshd_config"},
		{"/etc/machine-id", "@persist", "etc/machine-id"},
		{"/var/lib/services", "", ""},
		{"relative", "", ""},
		{"/a/../b", "", ""},
	} {
		sv, rel, err := Locate(cfg, tc.p)
		if sv.Name != tc.sv || rel != tc.rel || (err != nil) != (tc.sv == "") {
			t.Errorf("Locate(%q) = %q, %q, %v; want %q, %q", tc.p, sv.Name, rel, err, tc.sv, tc.rel)
		}
	}
}

func TestUsers(t *testing.T) {
	etc, lib := t.TempDir(), t.TempDir()
	files := map[string]string{
		filepath.Join(lib, "a.service"):             "[Service]\nStateDirectory=services/a\nWorkingDirectory=-/srv\n",
		filepath.Join(lib, "b.service"):             "[Unit]\nRequiresMountsFor=/var/lib/services /var/log\n",
		filepath.Join(etc, "b.service"):             "[Unit]\nDescription=masks the vendor unit\n",
		filepath.Join(etc, "c.service.d", "x.conf"): "[Service]\nReadWritePaths=-/var/lib/services/c\nBindPaths=/var/lib/services/d:/d\n",
		filepath.Join(lib, "d.socket"):              "[Socket]\nListenStream=/var/lib/services/sock\n",
		filepath.Join(lib, "e.service"):             "[Service]\nWorkingDirectory=/var/lib/servicesX\n",
	}
	for p, c := range files {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, u := range Users([]string{etc, lib}, []string{"/var/lib/services"}) {
		got = append(got, u.Unit+" "+u.Setting)
	}
	want := []string{
		"a.service StateDirectory=/var/lib/services/a",
		"c.service BindPaths=/var/lib/services/d",
		"c.service ReadWritePaths=/var/lib/services/c",
	}
	if !cmp.Equal(got, want) {
		t.Errorf("Users = %q, want %q", got, want)
	}
}
