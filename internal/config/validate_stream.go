package config

import "slices"

// streamKeys checks the keys of stream targets: recipients and full_every
// other than their defaults are refused on a btrfs target (the example of
// default.toml shows every key with its default), and a recipient is
// listed once.
func (v *validator) streamKeys(t Target) {
	if t.Format != FormatStream {
		if len(t.Recipients) > 0 {
			v.e.add(v.tPos(t.Name, "recipients"), "%q applies only to stream targets (format = %q); target %q has format %q", "recipients", FormatStream, t.Name, t.Format)
		}
		if f, _ := lookup(targetSchema, "full_every"); t.FullEvery != f.def {
			v.e.add(v.tPos(t.Name, "full_every"), "%q applies only to stream targets (format = %q); target %q has format %q", "full_every", FormatStream, t.Name, t.Format)
		}
		return
	}
	for i, r := range t.Recipients {
		if slices.Contains(t.Recipients[:i], r) {
			v.e.add(v.tPos(t.Name, "recipients"), "recipient %q is listed twice", short(r))
		}
	}
}
