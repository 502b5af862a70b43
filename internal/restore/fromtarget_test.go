package restore

import "testing"

// The usage rules of --from-target and --identity.
func TestFromTargetUsage(t *testing.T) {
	for _, tt := range []struct {
		o    Options
		args []string
		want string
	}{
		{Options{From: "x", FromTarget: "vault", Identity: "/k"}, []string{"@persist"}, ""},
		{Options{From: "x", FromTarget: "vault"}, []string{"@persist"}, ""},
		{Options{From: "x", Identity: "/k"}, []string{"@persist"}, "--identity applies only with --from-target"},
		{Options{From: "x", FromTarget: "vault", Paths: []string{"/persist/a"}}, nil, "--from-target restores a whole subvolume: not with --path, --cancel or --apply-requests"},
		{Options{FromTarget: "vault", Cancel: true}, []string{"@persist"}, "--from-target restores a whole subvolume: not with --path, --cancel or --apply-requests"},
		{Options{FromTarget: "vault"}, []string{"@persist"}, "--from SNAPSHOT is required (impermanence-snapshot list shows the snapshots)"},
	} {
		o := tt.o
		err := o.check(tt.args)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("check(%+v, %v) = %q, want %q", tt.o, tt.args, got, tt.want)
		}
	}
}
