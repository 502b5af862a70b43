package config

import (
	"strings"
	"testing"

	"filippo.io/age"
)

// checkAgeRecipient accepts exactly what age parses, for both key types,
// and says what is wrong with the rest.
func TestCheckAgeRecipient(t *testing.T) {
	x, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	pq, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatal(err)
	}
	good := []string{x.Recipient().String(), pq.Recipient().String(), strings.ToUpper(x.Recipient().String())}
	for _, s := range good {
		if msg := checkAgeRecipient(s); msg != "" {
			t.Errorf("checkAgeRecipient(%s) = %s, want accepted", s, msg)
		}
	}
	xs := x.Recipient().String()
	flip := []byte(xs)
	flip[10] = map[bool]byte{true: 'q', false: 'p'}[flip[10] != 'q']
	for _, tt := range []struct{ in, want string }{
		{string(flip), `is not an age recipient (an "age1…" public key from age-keygen -y): checksum mismatch (a typo?)`},
		{xs[:len(xs)-1], "checksum mismatch"},
		{x.String(), `"AGE-SECRET-KEY-1…" is not an age recipient: type "age-secret-key-", want "age" (X25519) or "age1pq" (post-quantum)`},
		{"age1", "no separator or too short"},
		{"ssh-ed25519 aaaa", "invalid character ' '"},
		{"Age1" + xs[4:], "mixed case"},
		{"", "no separator or too short"},
	} {
		got := checkAgeRecipient(tt.in)
		if !strings.Contains(got, tt.want) {
			t.Errorf("checkAgeRecipient(%q) = %q, want it to contain %q", tt.in, got, tt.want)
		}
		if got == "" {
			continue
		}
		if _, err := age.ParseRecipients(strings.NewReader(tt.in)); err == nil && tt.in != "" {
			t.Errorf("age accepts %q, which the config refuses", tt.in)
		}
	}
	// Valid Bech32 of the wrong size or type.
	for _, tt := range []struct {
		hrp  string
		n    int
		want string
	}{
		{"age", 31, "a age key of 31 bytes, want 32"},
		{"age", 33, "a age key of 33 bytes, want 32"},
		{"age1pq", 32, "a age1pq key of 32 bytes, want 1216"},
		{"age1tag", 32, `type "age1tag", want "age" (X25519) or "age1pq" (post-quantum)`},
	} {
		s := bech32Encode(tt.hrp, make([]byte, tt.n))
		if got := checkAgeRecipient(s); !strings.Contains(got, tt.want) {
			t.Errorf("checkAgeRecipient(%d bytes of %s) = %q, want %q", tt.n, tt.hrp, got, tt.want)
		}
	}
}

// bech32Encode is the test's encoder: 8-bit groups to 5-bit, checksum.
func bech32Encode(hrp string, data []byte) string {
	var values []byte
	var acc uint32
	var bits uint
	for _, b := range data {
		acc = acc<<8 | uint32(b)
		bits += 8
		for bits >= 5 {
			bits -= 5
			values = append(values, byte(acc>>bits)&31)
		}
	}
	if bits > 0 {
		values = append(values, byte(acc<<(5-bits))&31)
	}
	pm := bech32Polymod(append(append(bech32HRPExpand(hrp), values...), 0, 0, 0, 0, 0, 0)) ^ 1
	for i := range 6 {
		values = append(values, byte(pm>>(5*(5-i)))&31)
	}
	var b strings.Builder
	b.WriteString(hrp + "1")
	for _, v := range values {
		b.WriteByte(bech32Charset[v])
	}
	return b.String()
}

func TestStreamTargetKeys(t *testing.T) {
	x, _ := age.GenerateX25519Identity()
	r := x.Recipient().String()
	for _, tc := range []struct{ name, in, want string }{
		{"on a btrfs target", `[[target]]
name = "usb"
url = "/mnt/usb"
recipients = ["` + r + `"]
full_every = "weekly"
`, `c.toml:16:1: target[0].recipients: "recipients" applies only to stream targets (format = "stream"); target "usb" has format "btrfs"
c.toml:17:1: target[0].full_every: "full_every" applies only to stream targets (format = "stream"); target "usb" has format "btrfs"`},
		{"bad values", `[[target]]
name = "usb"
url = "/mnt/usb"
format = "stream"
recipients = ["` + r + `", "age1nope", "` + r + `"]
full_every = "every full moon"
`, `c.toml:17:1: target[0].recipients: "age1nope" is not an age recipient (an "age1…" public key from age-keygen -y): no separator or too short
c.toml:17:1: target[0].recipients: recipient "` + r[:16] + `…" is listed twice
c.toml:18:1: target[0].full_every: invalid OnCalendar= schedule: `},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(Source{Name: "c.toml", Data: []byte(targetBase + tc.in)})
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("Parse error:\n%v\nwant:\n%s", err, tc.want)
			}
		})
	}
	c, err := Parse(Source{Name: "c.toml", Data: []byte(targetBase + `[[target]]
name = "usb"
url = "/mnt/usb"
format = "stream"
recipients = ["` + r + `"]
full_every = "weekly"
`)})
	if err != nil {
		t.Fatal(err)
	}
	if tg := c.Targets[0]; len(tg.Recipients) != 1 || tg.Recipients[0] != r || tg.FullEvery != "weekly" {
		t.Errorf("target: %+v", tg)
	}
}
