package restore

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/server-impermanence/server-impermanence/internal/replicate"
)

func TestPlanFetch(t *testing.T) {
	const (
		s1, s2, s3, s4 = "20261201T000000Z", "20261202T000000Z", "20261203T000000Z", "20261204T000000Z"
		u1, u2, u3, u4 = "11111111-0000-4000-8000-000000000001", "11111111-0000-4000-8000-000000000002", "11111111-0000-4000-8000-000000000003", "11111111-0000-4000-8000-000000000004"
		other          = "99999999-0000-4000-8000-000000000009"
	)
	target := []replicate.Held{{Name: s1, ReceivedUUID: u1}, {Name: s2, ReceivedUUID: u2}, {Name: s3, ReceivedUUID: u3}, {Name: s4, ReceivedUUID: u4}, {Name: "manual"}}
	for _, tc := range []struct {
		name   string
		target []replicate.Held
		server []Held
		want   string
		fetch  Fetch
		err    string
	}{
		{name: "a fresh server: full", target: target, want: s3,
			fetch: Fetch{UUID: u3, Why: "the server holds no snapshot of this subvolume the target holds"}},
		{name: "the newest older one the server took", target: target, want: s4,
			server: []Held{{Name: s1, UUID: u1}, {Name: s2, UUID: u2}},
			fetch:  Fetch{UUID: u4, Parent: s2, Local: s2, Why: "the newest older snapshot both sides hold"}},
		{name: "one fetched earlier, by its received UUID", target: target, want: s4,
			server: []Held{{Name: s1, UUID: other, ReceivedUUID: u1}},
			fetch:  Fetch{UUID: u4, Parent: s1, Local: s1, Why: "the newest older snapshot both sides hold"}},
		{name: "a backfill from the oldest newer one", target: target, want: s1,
			server: []Held{{Name: s4, UUID: u4}, {Name: s3, UUID: u3}},
			fetch:  Fetch{UUID: u1, Parent: s3, Local: s3, Why: "no older snapshot both sides hold; the oldest newer one"}},
		{name: "a name alone proves nothing", target: target, want: s4,
			server: []Held{{Name: s3, UUID: other}},
			fetch:  Fetch{UUID: u4, Why: "the server holds no snapshot of this subvolume the target holds"}},
		{name: "matched by UUID under another name", target: target, want: s4,
			server: []Held{{Name: "20261203T000000Z-renamed", UUID: u3}},
			fetch:  Fetch{UUID: u4, Parent: s3, Local: "20261203T000000Z-renamed", Why: "the newest older snapshot both sides hold"}},
		{name: "missing", target: target, want: "20261209T000000Z", err: "the target holds no snapshot 20261209T000000Z (it holds 20261201T000000Z, "},
		{name: "nothing held", want: s1, err: "it holds none of this subvolume"},
		{name: "not received", target: target, want: "manual", err: "was not received whole"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := planFetch(tc.target, tc.server, tc.want)
			switch {
			case tc.err != "":
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("planFetch(%s) = %+v, %v; want error %q", tc.want, got, err, tc.err)
				}
			case err != nil:
				t.Errorf("planFetch(%s): %v", tc.want, err)
			default:
				if diff := cmp.Diff(tc.fetch, got); diff != "" {
					t.Errorf("planFetch(%s) (-want +got):\n%s", tc.want, diff)
				}
			}
		})
	}
}
