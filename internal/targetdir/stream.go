package targetdir

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// The framing of a btrfs send stream: a header (magic and version), then
// commands, each a 10-byte header (payload length, command, CRC) and its
// payload; the last command is the end command.
const (
	streamMagic     = "btrfs-stream\x00"
	streamHeaderLen = len(streamMagic) + 4
	cmdHeaderLen    = 10
	cmdEnd          = 21 // BTRFS_SEND_C_END
	maxStreamVer    = 3
)

// Errors of a stream's framing.
var (
	// ErrTruncated: the stream ended before its end command (a killed
	// sender; btrfs receive may accept a stream cut at a command boundary).
	ErrTruncated = errors.New("the stream ended before its end command")
	// ErrTrailing: bytes follow the end command (a second stream).
	ErrTrailing = errors.New("data follows the end command of the stream")
	// ErrNotStream: no btrfs send stream header.
	ErrNotStream = errors.New("not a btrfs send stream")
)

// framer passes a send stream through, checking its framing: it returns
// io.EOF only after the end command when nothing follows it.
type framer struct {
	r     io.Reader
	hdr   [streamHeaderLen]byte
	have  int   // bytes of the current header read
	want  int   // length of the current header
	skip  int64 // payload bytes left of the current command
	start bool  // the stream header is done
	ended bool  // the end command is through
	n     int64 // bytes passed
}

func newFramer(r io.Reader) *framer { return &framer{r: r, want: streamHeaderLen} }

func (f *framer) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if f.ended && f.skip == 0 {
		var b [1]byte
		n, err := io.ReadFull(f.r, b[:])
		if n > 0 {
			return 0, ErrTrailing
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return 0, io.EOF
		}
		return 0, err
	}
	if f.skip > 0 {
		n, err := f.r.Read(p[:min(int64(len(p)), f.skip)])
		f.skip -= int64(n)
		f.n += int64(n)
		return n, f.eof(err)
	}
	n, err := f.r.Read(p[:min(len(p), f.want-f.have)])
	copy(f.hdr[f.have:], p[:n])
	f.have += n
	f.n += int64(n)
	if f.have == f.want {
		if herr := f.header(); herr != nil {
			return n, herr
		}
	}
	return n, f.eof(err)
}

// header parses a complete stream or command header.
func (f *framer) header() error {
	f.have = 0
	if !f.start {
		if string(f.hdr[:len(streamMagic)]) != streamMagic {
			return ErrNotStream
		}
		if v := binary.LittleEndian.Uint32(f.hdr[len(streamMagic):]); v < 1 || v > maxStreamVer {
			return fmt.Errorf("%w: version %d", ErrNotStream, v)
		}
		f.start, f.want = true, cmdHeaderLen
		return nil
	}
	f.skip = int64(binary.LittleEndian.Uint32(f.hdr[0:4]))
	if binary.LittleEndian.Uint16(f.hdr[4:6]) == cmdEnd {
		f.ended = true
	}
	return nil
}

// eof turns the reader's EOF before the end command into ErrTruncated.
func (f *framer) eof(err error) error {
	if err == io.EOF && !(f.ended && f.skip == 0) {
		return ErrTruncated
	}
	if err == io.EOF {
		return nil // Read checks for trailing data next
	}
	return err
}
