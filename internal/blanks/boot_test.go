package blanks

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/names"
)

func TestNewestKernel(t *testing.T) {
	k := func(v, linux, initrd string) Kernel {
		return Kernel{Version: v, Linux: "boot/" + linux, Initrd: "boot/" + initrd}
	}
	for _, c := range []struct {
		name  string
		files []string
		want  Kernel
		ok    bool
	}{
		{"empty /boot (a separate mount's mountpoint)", nil, Kernel{}, false},
		{"Debian's names", []string{"config-6.1.0-9-amd64", "System.map-6.1.0-9-amd64", "vmlinuz-6.1.0-9-amd64", "initrd.img-6.1.0-9-amd64", "grub"},
			k("6.1.0-9-amd64", "vmlinuz-6.1.0-9-amd64", "initrd.img-6.1.0-9-amd64"), true},
		{"numeric order, not byte order", []string{"vmlinuz-6.1.0-9-amd64", "initrd.img-6.1.0-9-amd64", "vmlinuz-6.1.0-26-amd64", "initrd.img-6.1.0-26-amd64"},
			k("6.1.0-26-amd64", "vmlinuz-6.1.0-26-amd64", "initrd.img-6.1.0-26-amd64"), true},
		{"the newest without an initrd is skipped", []string{"vmlinuz-6.1.0-9-amd64", "initrd.img-6.1.0-9-amd64", "vmlinuz-6.12.0-1-amd64"},
			k("6.1.0-9-amd64", "vmlinuz-6.1.0-9-amd64", "initrd.img-6.1.0-9-amd64"), true},
		{"dracut's own name", []string{"vmlinuz-6.8.0", "initramfs-6.8.0.img"}, k("6.8.0", "vmlinuz-6.8.0", "initramfs-6.8.0.img"), true},
		{"initrd-<v>.img", []string{"vmlinuz-6.8.0", "initrd-6.8.0.img"}, k("6.8.0", "vmlinuz-6.8.0", "initrd-6.8.0.img"), true},
		{"Debian's initrd preferred", []string{"vmlinuz-6.8.0", "initrd-6.8.0", "initrd.img-6.8.0"}, k("6.8.0", "vmlinuz-6.8.0", "initrd.img-6.8.0"), true},
		{"vmlinuz before vmlinux", []string{"vmlinux-6.8.0", "vmlinuz-6.8.0", "initrd.img-6.8.0"}, k("6.8.0", "vmlinuz-6.8.0", "initrd.img-6.8.0"), true},
		{"vmlinux alone", []string{"vmlinux-6.8.0", "initrd.img-6.8.0"}, k("6.8.0", "vmlinux-6.8.0", "initrd.img-6.8.0"), true},
		{"a name that needs quoting is ignored", []string{"vmlinuz-6.8 x", "initrd.img-6.8 x", "vmlinuz-6.9'", "initrd.img-6.9'"}, Kernel{}, false},
		{"vmlinuz- alone", []string{"vmlinuz-", "initrd.img-"}, Kernel{}, false},
		{"the old kernel is kept", []string{"vmlinuz-6.1.0-26-amd64.old", "initrd.img-6.1.0-26-amd64.old", "vmlinuz-6.1.0-26-amd64", "initrd.img-6.1.0-26-amd64"},
			k("6.1.0-26-amd64.old", "vmlinuz-6.1.0-26-amd64.old", "initrd.img-6.1.0-26-amd64.old"), true},
	} {
		got, ok := NewestKernel(c.files)
		if got != c.want || ok != c.ok {
			t.Errorf("%s: NewestKernel(%q) = %+v, %t, want %+v, %t", c.name, c.files, got, ok, c.want, c.ok)
		}
	}
}

func TestCompareVersions(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"6.1.0-9-amd64", "6.1.0-26-amd64", -1},
		{"6.1.0-26-amd64", "6.1.0-9-amd64", 1},
		{"6.1.0-9-amd64", "6.1.0-9-amd64", 0},
		{"6.10.0", "6.9.0", 1},
		{"6.1", "6.1.0", -1},
		{"6.01", "6.1", 0},
		{"6.1.0-9-amd64", "6.1.0-9-arm64", -1},
		{"6.1.0-rc1", "6.1.0-1", 1},
		{"", "", 0},
		{"", "1", -1},
	} {
		if got := CompareVersions(c.a, c.b); got != c.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

// TestRequestFor checks that the value RequestFor gives for each former
// blank is one the rollback's Choose resolves to that very blank.
func TestRequestFor(t *testing.T) {
	at := t0.Add(time.Hour)
	for _, c := range []struct {
		blank string
		want  string
	}{
		{"@root-blank", "@root-blank." + names.Time(at)},
		{"sys/@root-blank", "sys/@root-blank." + names.Time(at)},
		{"root blank", names.Time(at)},
		{`root"blank`, names.Time(at)},
		{"root'blank", names.Time(at)},
	} {
		p := names.BlankHistory(c.blank, at)
		subs := map[string]btrfs.Subvolume{
			c.blank: {ID: 20, Path: c.blank, UUID: u(9), ReadOnly: true, OTime: at},
			p:       {ID: 11, Path: p, UUID: u(1), ReadOnly: true, OTime: t0},
		}
		hist := History(c.blank, subs)
		if got := RequestFor(hist[0]); got != "" {
			t.Errorf("RequestFor(current %s) = %q, want none", c.blank, got)
		}
		got := RequestFor(hist[1])
		if got != c.want {
			t.Errorf("RequestFor(%s) = %q, want %q", p, got, c.want)
		}
		s := config.Subvolume{Name: "@root", Blank: c.blank, Mountpoint: "/"}
		ch := Choose(s, true, Input{Subvolumes: subs, Request: got, Tries: 2})
		if diff := cmp.Diff([]string(nil), ch.Warnings); ch.From != p || ch.Source != SourceRequest || diff != "" {
			t.Errorf("Choose(blank=%s) = from %s (%s), want %s; warnings:\n%s", got, ch.From, ch.Source, p, diff)
		}
	}
	if got := RequestFor(Entry{Name: "@other"}); got != "" {
		t.Errorf("RequestFor(@other) = %q, want none", got)
	}
}
