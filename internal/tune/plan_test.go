package tune

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/config"
)

func TestWants(t *testing.T) {
	for _, tc := range []struct {
		name string
		subs []config.Subvolume
		want []Want
	}{
		{"compression", []config.Subvolume{{Name: "@nix", Mountpoint: "/nix", CoW: true, Compression: "zstd"}},
			[]Want{{Subvolume: "@nix", Mountpoint: "/nix", Compression: "zstd"}}},
		{"none is set as is", []config.Subvolume{{Name: "@nix", Mountpoint: "/nix", CoW: true, Compression: "none"}},
			[]Want{{Subvolume: "@nix", Mountpoint: "/nix", Compression: "none"}}},
		{"inherit: nothing", []config.Subvolume{{Name: "@nix", Mountpoint: "/nix", CoW: true}}, nil},
		{"nocow wins over compression none", []config.Subvolume{{Name: "@var-tmp", Mountpoint: "/var/tmp", Compression: "none"}},
			[]Want{{Subvolume: "@var-tmp", Mountpoint: "/var/tmp", NoCoW: true}}},
		{"nocow", []config.Subvolume{{Name: "@vm", Mountpoint: "/vm"}},
			[]Want{{Subvolume: "@vm", Mountpoint: "/vm", NoCoW: true}}},
		{"no mountpoint", []config.Subvolume{{Name: "@x", CoW: true, Compression: "zstd"}}, nil},
		{"configuration order", []config.Subvolume{
			{Name: "@b", Mountpoint: "/b", CoW: true, Compression: "lzo"},
			{Name: "@a", Mountpoint: "/a"},
		}, []Want{{Subvolume: "@b", Mountpoint: "/b", Compression: "lzo"}, {Subvolume: "@a", Mountpoint: "/a", NoCoW: true}}},
	} {
		got := Wants(&config.Config{Subvolumes: tc.subs})
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("Wants(%s) (-want +got):\n%s", tc.name, diff)
		}
	}
}

// TestWantsDefault pins what the built-in layout asks for: the lines the
// generator wrote before impermanence-tune.
func TestWantsDefault(t *testing.T) {
	var got []string
	for _, w := range Wants(config.Default()) {
		got = append(got, w.Mountpoint+" "+w.Property()+"="+w.Compression)
	}
	want := []string{"/ compression=zstd", "/var/cache compression=zstd", "/var/tmp nocow=", "/nix compression=zstd",
		"/persist compression=zstd", "/var/log compression=zstd", "/var/lib/services compression=zstd",
		"/var/lib/caddy compression=zstd", "/var/backup compression=zstd", "/var/lib/containers nocow="}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Wants(default) (-want +got):\n%s", diff)
	}
}

func TestCheckMount(t *testing.T) {
	nix := Want{Subvolume: "@nix", Mountpoint: "/nix", Compression: "zstd"}
	for _, tc := range []struct {
		w    Want
		m    btrfs.Mount
		want string // "" = fine; else a part of the error
	}{
		{nix, btrfs.Mount{Mountpoint: "/nix", FSType: "btrfs", Root: "/@nix"}, ""},
		{Want{Subvolume: "@root", Mountpoint: "/"}, btrfs.Mount{Mountpoint: "/", FSType: "btrfs", Root: "/@root"}, ""},
		{Want{Subvolume: "sub/@nix", Mountpoint: "/nix/"}, btrfs.Mount{Mountpoint: "/nix", FSType: "btrfs", Root: "/sub/@nix"}, ""},
		{Want{Subvolume: "@a b", Mountpoint: "/a b"}, btrfs.Mount{Mountpoint: "/a b", FSType: "btrfs", Root: "/@a b"}, ""},
		{nix, btrfs.Mount{Mountpoint: "/", FSType: "btrfs", Root: "/@root"}, "nothing is mounted at /nix (it is a directory of the mount at /)"},
		{nix, btrfs.Mount{Mountpoint: "/nix", FSType: "tmpfs", Root: "/"}, "/nix is a mount of type tmpfs, not btrfs"},
		{nix, btrfs.Mount{Mountpoint: "/nix", FSType: "btrfs", Root: "/@other"}, "/nix is a mount of /@other, not of subvolume @nix"},
		{nix, btrfs.Mount{Mountpoint: "/nix", FSType: "btrfs", Root: "/@nix/store"}, "/nix is a mount of /@nix/store, not of subvolume @nix"},
		{nix, btrfs.Mount{Mountpoint: "/nix", FSType: "btrfs", Root: "/@nix2"}, "/nix is a mount of /@nix2, not of subvolume @nix"},
		{nix, btrfs.Mount{Mountpoint: "/nix", FSType: "btrfs", Root: "/"}, "/nix is a mount of the top level (subvolid=5), not of subvolume @nix"},
	} {
		err := CheckMount(tc.w, tc.m)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("CheckMount(%s at %s, %+v) = %v, want nil", tc.w.Subvolume, tc.w.Mountpoint, tc.m, err)
		case tc.want != "" && (err == nil || err.Error() != tc.want):
			t.Errorf("CheckMount(%s at %s, %+v) = %v, want %q", tc.w.Subvolume, tc.w.Mountpoint, tc.m, err, tc.want)
		}
	}
}

func TestDecide(t *testing.T) {
	zstd := Want{Subvolume: "@nix", Mountpoint: "/nix", Compression: "zstd"}
	none := Want{Subvolume: "@nix", Mountpoint: "/nix", Compression: "none"}
	nocow := Want{Subvolume: "@vm", Mountpoint: "/vm", NoCoW: true}
	for _, tc := range []struct {
		w      Want
		st     State
		change bool
		err    string // part of the error; "" = none
	}{
		{zstd, State{}, true, ""},
		{zstd, State{Compression: "zstd"}, false, ""},
		{zstd, State{Compression: "lzo"}, true, ""},
		{zstd, State{Compression: "none"}, true, ""},
		{none, State{}, true, ""},
		{none, State{Compression: "none"}, false, ""},
		{none, State{Compression: "no"}, true, ""}, // written as "none", as btrfs property set did
		{zstd, State{NoCoW: true}, false, "refuses a compression property"},
		{none, State{NoCoW: true}, false, "set cow = false for @nix"},
		{nocow, State{}, true, ""},
		{nocow, State{NoCoW: true}, false, ""},
		{nocow, State{NoCoW: true, Compression: "zstd"}, false, ""}, // cannot happen on btrfs; nothing to do
		{nocow, State{Compression: "none"}, false, `refuses NoCoW on a directory with a compression property ("none")`},
		{nocow, State{Compression: "zstd"}, false, "btrfs property set /vm compression ''"},
	} {
		change, err := Decide(tc.w, tc.st)
		if change != tc.change || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("Decide(%s %s, %+v) = %t, %v; want %t, error containing %q", tc.w.Subvolume, tc.w.Property()+"="+tc.w.Compression, tc.st, change, err, tc.change, tc.err)
		}
	}
}
