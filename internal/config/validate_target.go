package config

import "slices"

// targets checks the [[target]] entries against each other and against
// the subvolumes: distinct URLs, subvolumes that have snapshots to send,
// SSH options on SSH targets only, a retention that keeps something.
func (v *validator) targets() {
	byURL := map[string]string{}
	for _, t := range v.c.Targets {
		_, isSSH := t.SSH()
		if !v.bad[targetKey(t.Name, "url")] {
			p := v.tPos(t.Name, "url")
			if other, dup := byURL[t.URL]; dup {
				v.e.add(p, "url %q is already the url of target %q", t.URL, other)
			}
			byURL[t.URL] = t.Name
			if dir, ok := t.Local(); ok && under(dir, SnapshotsMountpoint) {
				v.e.add(p, "target directory %q lies in the snapshots mount %s: a backup on the same filesystem is no backup", dir, SnapshotsMountpoint)
			}
			for _, k := range []string{"identity_file", "compress", "rate_limit"} {
				if v.m.set(targetKey(t.Name, k)) && !isSSH {
					v.e.add(v.tPos(t.Name, k), "%q applies only to SSH targets; target %q is a local directory", k, t.Name)
				}
			}
			v.streamKeys(t)
		}
		v.targetSubvolumes(t)
		r := t.Retention
		if r.Hourly <= 0 && r.Daily <= 0 && r.Weekly <= 0 && r.Monthly <= 0 && r.Yearly <= 0 && r.KeepMin <= 0 && r.MinAge <= 0 {
			v.e.add(v.tPos(t.Name, "retention.keep_min"),
				"retention of target %q keeps nothing; set keep_min or a bucket (daily, weekly, ...) above 0", t.Name)
		}
	}
}

func (v *validator) targetSubvolumes(t Target) {
	key := targetKey(t.Name, "subvolumes")
	p := v.tPos(t.Name, "subvolumes")
	if v.bad[key] {
		return
	}
	if len(t.Subvolumes) == 0 {
		if v.m.set(key) {
			v.e.add(p, "target %q lists no subvolume", t.Name)
		} else {
			v.e.add(p, "target %q has nothing to send: no subvolume has snapshot = true; list its subvolumes", t.Name)
		}
		return
	}
	for i, name := range t.Subvolumes {
		if slices.Contains(t.Subvolumes[:i], name) {
			v.e.add(p, "subvolume %q is listed twice", name)
			continue
		}
		s, ok := v.c.Subvolume(name)
		switch {
		case !ok:
			v.e.add(p, "subvolume %q is not a configured [[subvolume]]", name)
		case !s.Snapshot:
			v.e.add(p, "subvolume %q has snapshot = false: it has no snapshots to send", name)
		}
	}
}
