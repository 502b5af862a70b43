package targetdir

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// stream builds a send stream of version v with commands of the given
// payload sizes and command numbers.
func stream(v uint32, cmds ...[2]int) []byte {
	var b bytes.Buffer
	b.WriteString(streamMagic)
	binary.Write(&b, binary.LittleEndian, v)
	for _, c := range cmds {
		binary.Write(&b, binary.LittleEndian, uint32(c[0]))
		binary.Write(&b, binary.LittleEndian, uint16(c[1]))
		binary.Write(&b, binary.LittleEndian, uint32(0))
		b.Write(bytes.Repeat([]byte{0xa5}, c[0]))
	}
	return b.Bytes()
}

func TestFramer(t *testing.T) {
	whole := stream(1, [2]int{40, 1}, [2]int{70000, 15}, [2]int{0, 9}, [2]int{0, cmdEnd})
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"whole", whole, nil},
		{"version 2", stream(2, [2]int{3, 1}, [2]int{0, cmdEnd}), nil},
		{"end with a payload", stream(1, [2]int{3, 1}, [2]int{5, cmdEnd}), nil},
		{"cut before the end command", whole[:len(whole)-cmdHeaderLen], ErrTruncated},
		{"cut in the end command", whole[:len(whole)-3], ErrTruncated},
		{"cut in a payload", whole[:100], ErrTruncated},
		{"cut in the stream header", whole[:5], ErrTruncated},
		{"empty", nil, ErrTruncated},
		{"two streams", append(append([]byte{}, whole...), whole...), ErrTrailing},
		{"one byte after the end", append(append([]byte{}, whole...), 0), ErrTrailing},
		{"not a stream", []byte("#!/bin/sh\nrm -rf /\n\x00\x00\x00\x00\x00"), ErrNotStream},
		{"version 9", stream(9, [2]int{0, cmdEnd}), ErrNotStream},
	} {
		for _, slow := range []bool{false, true} {
			var r io.Reader = bytes.NewReader(tc.in)
			if slow {
				r = iotest.OneByteReader(r)
			}
			f := newFramer(r)
			got, err := io.ReadAll(f)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Errorf("%s (one byte at a time %t): %v, want %v", tc.name, slow, err, tc.want)
			}
			if tc.want == nil && (!bytes.Equal(got, tc.in) || f.n != int64(len(tc.in))) {
				t.Errorf("%s: passed %d bytes (counted %d), want %d", tc.name, len(got), f.n, len(tc.in))
			}
		}
	}
}
