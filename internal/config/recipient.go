package config

import (
	"fmt"
	"strings"
)

// The syntax of an age recipient (a stream target's recipients): a
// Bech32 public key, X25519 ("age1…", 32 bytes) or the hybrid
// post-quantum ML-KEM-768 + X25519 one ("age1pq1…", 1216 bytes), the two
// kinds impermanence-send encrypts to. Checked here without the age
// module, which the boot path does not link; impermanence-send parses
// them with it again.

const bech32Charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"

// ageKeyBytes is the public key size of each recipient type, by its
// Bech32 human-readable part.
var ageKeyBytes = map[string]int{"age": 32, "age1pq": 1216}

func checkAgeRecipient(s string) string {
	hrp, data, msg := bech32Decode(s)
	if msg != "" {
		return fmt.Sprintf("%q is not an age recipient (an \"age1…\" public key from age-keygen -y): %s", short(s), msg)
	}
	want, ok := ageKeyBytes[hrp]
	switch {
	case !ok:
		return fmt.Sprintf("%q is not an age recipient: type %q, want \"age\" (X25519) or \"age1pq\" (post-quantum)", short(s), hrp)
	case len(data) != want:
		return fmt.Sprintf("%q is not an age recipient: a %s key of %d bytes, want %d", short(s), hrp, len(data), want)
	}
	return ""
}

// short cuts a long value for a message (a private key pasted by mistake
// is not repeated whole).
func short(s string) string {
	if len(s) > 24 {
		return s[:16] + "…"
	}
	return s
}

// bech32Decode decodes a Bech32 string (BIP 173, without its 90-character
// limit, as age uses it): the human-readable part and the data as bytes.
func bech32Decode(s string) (string, []byte, string) {
	if strings.ToLower(s) != s && strings.ToUpper(s) != s {
		return "", nil, "mixed case"
	}
	s = strings.ToLower(s)
	pos := strings.LastIndexByte(s, '1')
	if pos < 1 || pos+7 > len(s) {
		return "", nil, "no separator or too short"
	}
	hrp := s[:pos]
	for _, c := range hrp {
		if c < 33 || c > 126 {
			return "", nil, "invalid character in the type"
		}
	}
	var values []byte
	for i := pos + 1; i < len(s); i++ {
		d := strings.IndexByte(bech32Charset, s[i])
		if d < 0 {
			return "", nil, fmt.Sprintf("invalid character %q", s[i])
		}
		values = append(values, byte(d))
	}
	if bech32Polymod(append(bech32HRPExpand(hrp), values...)) != 1 {
		return "", nil, "checksum mismatch (a typo?)"
	}
	data, ok := bech32To8(values[:len(values)-6])
	if !ok {
		return "", nil, "invalid padding"
	}
	return hrp, data, ""
}

func bech32Polymod(values []byte) uint32 {
	gen := [5]uint32{0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3}
	chk := uint32(1)
	for _, v := range values {
		b := chk >> 25
		chk = (chk&0x1ffffff)<<5 ^ uint32(v)
		for i := range 5 {
			if (b>>i)&1 == 1 {
				chk ^= gen[i]
			}
		}
	}
	return chk
}

func bech32HRPExpand(hrp string) []byte {
	out := make([]byte, 0, 2*len(hrp)+1)
	for i := range len(hrp) {
		out = append(out, hrp[i]>>5)
	}
	out = append(out, 0)
	for i := range len(hrp) {
		out = append(out, hrp[i]&31)
	}
	return out
}

// bech32To8 regroups 5-bit values into bytes; the padding must be zero
// bits, fewer than five.
func bech32To8(values []byte) ([]byte, bool) {
	var acc uint32
	var bits uint
	var out []byte
	for _, v := range values {
		acc = acc<<5 | uint32(v)
		bits += 5
		for bits >= 8 {
			bits -= 8
			out = append(out, byte(acc>>bits))
		}
	}
	if bits >= 5 || acc&(1<<bits-1) != 0 {
		return nil, false
	}
	return out, true
}
