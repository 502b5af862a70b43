package config

import (
	"sort"
	"strings"
)

// policies checks the [policy.NAME] tables and the subvolumes that name
// them: a valid name, a retention that keeps something, a policy that
// exists, and a subvolume that follows either its named policy or its own
// schedule and retention, not both.
func (v *validator) policies() {
	var defined []string
	for _, p := range v.c.Policies {
		defined = append(defined, p.Name)
		at := v.m.policyAt[p.Name]
		if msg := checkPolicyName(p.Name); msg != "" {
			v.e.add(at, "%s", msg)
		}
		if keepsNothing(p.Retention) {
			v.e.add(v.policyPos(p.Name, "retention.keep_min"),
				"retention of policy %q keeps nothing: every snapshot would be deleted by the next cleanup; set keep_min or a bucket (hourly, daily, ...) above 0", p.Name)
		}
	}
	sort.Strings(defined)
	for _, s := range v.c.Subvolumes {
		key := func(k string) string { return subvolKey(s.Name, k) }
		if s.Policy != "" && !v.bad[key("policy")] {
			if _, ok := v.c.Policy(s.Policy); !ok {
				known := "no [policy.NAME] table is declared"
				if len(defined) > 0 {
					known = "declared: " + strings.Join(defined, ", ")
				}
				v.e.add(v.svPos(s.Name, "policy"), "policy %q of subvolume %q is not declared (%s)", s.Policy, s.Name, known)
			}
			for _, f := range subvolumeSchema {
				if (f.key == "schedule" || strings.HasPrefix(f.key, "retention.")) && v.m.set(key(f.key)) {
					v.e.add(v.svPos(s.Name, f.key), "subvolume %q sets %s and policy = %q: it follows its named policy or its own schedule and retention, not both",
						s.Name, f.key, s.Policy)
				}
			}
			continue
		}
		if s.PolicyFrom == PolicyOwn && v.m.setsRetention(key) && keepsNothing(s.Retention) {
			v.e.add(v.svPos(s.Name, "retention.keep_min"),
				"retention of subvolume %q keeps nothing: every snapshot would be deleted by the next cleanup; set keep_min or a bucket (hourly, daily, ...) above 0", s.Name)
		}
	}
}

// policyPos is the position of a policy field, or of its table when the
// field took its default.
func (v *validator) policyPos(name, field string) Pos {
	if a, ok := v.m.values[policyKey(name, field)]; ok {
		return a.pos
	}
	return v.m.policyAt[name]
}

// keepsNothing reports a retention under which the next cleanup deletes
// every timeline snapshot.
func keepsNothing(r Retention) bool {
	return r.Hourly <= 0 && r.Daily <= 0 && r.Weekly <= 0 && r.Monthly <= 0 && r.Yearly <= 0 && r.KeepMin <= 0 && r.MinAge <= 0
}
