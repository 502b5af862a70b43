// Package receiveproto is the protocol between impermanence-send and
// impermanence-receive over SSH: the one request a connection makes (the
// command line ssh sends, which sshd gives a forced command as
// SSH_ORIGINAL_COMMAND) and the replies. Pure; both sides use it, so the
// two cannot drift.
//
// A request is ASCII words separated by single spaces:
//
//	list SUBVOLUME                       what <root>/SUBVOLUME/ holds
//	receive SUBVOLUME NAME UUID [zstd]   a send stream of snapshot NAME on stdin
//	send SUBVOLUME NAME PARENT [zstd]    the send stream of <root>/SUBVOLUME/NAME on stdout
//
// SUBVOLUME is one or more path components of [A-Za-z0-9@_+-][A-Za-z0-9@_.+-]*
// (no component starts with a dot: "." and "..", .incoming are out of
// reach), NAME a snapshot name of the suite, UUID the source snapshot's
// subvolume UUID, lowercase. PARENT is "-" for a full stream, else the
// name of another snapshot of <root>/SUBVOLUME/ the stream is relative to
// (one the client holds too). send is the read-only way back, for a
// restore: the receiver sends only a read-only snapshot it received whole.
// Nothing else is a request: there is no verb that deletes or overwrites.
//
// The reply to list is one line per subvolume the directory holds,
// "snapshot NAME UUID" (UUID "-" for one not received), then "end COUNT";
// a reply without its end line was cut short and is not a listing. The
// reply to receive is "received NAME BYTES". The reply to send is the
// send stream itself (zstd-compressed when the request says so) and
// nothing else; the client checks it ended with its end command.
package receiveproto

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"github.com/server-impermanence/server-impermanence/internal/names"
	"github.com/server-impermanence/server-impermanence/internal/replicate"
)

// Verbs.
const (
	List    = "list"
	Receive = "receive"
	Send    = "send"
)

// Full is the PARENT word of a send request for a full stream.
const Full = "-"

// Zstd is the stream compression word of a receive request.
const Zstd = "zstd"

// MaxRequest bounds a request's length.
const MaxRequest = 1024

// Request is one parsed request.
type Request struct {
	Verb      string
	Subvolume string
	// Name: receive and send; UUID: receive only.
	Name, UUID string
	// Parent: send only, "" for a full stream (Full on the wire).
	Parent string
	// Compress is Zstd or "".
	Compress string
}

// ErrAppendOnly is the refusal of a request to delete or overwrite.
var ErrAppendOnly = errors.New("append-only: this receiver adds and lists snapshots, it never deletes or overwrites one on a client's request")

// refusedVerbs are requests a client might try that mean deleting or
// overwriting; they get ErrAppendOnly rather than "unknown".
var refusedVerbs = map[string]bool{"delete": true, "remove": true, "rm": true, "prune": true,
	"destroy": true, "overwrite": true, "replace": true, "rename": true, "move": true, "mv": true}

var (
	component = regexp.MustCompile(`^[A-Za-z0-9@_+-][A-Za-z0-9@_.+-]{0,254}$`)
	uuidRE    = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
)

// CheckSubvolume reports why a subvolume name cannot travel in a request,
// nil when it can.
func CheckSubvolume(sv string) error {
	if sv == "" {
		return errors.New("empty subvolume name")
	}
	if len(sv) > 512 {
		return fmt.Errorf("subvolume name %.40q… is longer than 512 bytes", sv)
	}
	for _, c := range strings.Split(sv, "/") {
		if !component.MatchString(c) {
			return fmt.Errorf("subvolume name %q: component %q is not [A-Za-z0-9@_+-][A-Za-z0-9@_.+-]* (no \"..\", no absolute path, no leading dot)", sv, c)
		}
	}
	return nil
}

// Parse parses a request strictly.
func Parse(s string) (Request, error) {
	if len(s) > MaxRequest {
		return Request{}, fmt.Errorf("request longer than %d bytes", MaxRequest)
	}
	for i := 0; i < len(s); i++ {
		if (s[i] < 0x21 && s[i] != ' ') || s[i] > 0x7e {
			return Request{}, fmt.Errorf("request %q: byte %d is not printable ASCII", s, i)
		}
	}
	w := strings.Split(s, " ")
	if s == "" || slicesContainsEmpty(w) {
		return Request{}, fmt.Errorf("request %q: words are separated by single spaces", s)
	}
	r := Request{Verb: w[0]}
	switch {
	case r.Verb == List && len(w) == 2:
		r.Subvolume = w[1]
	case r.Verb == Receive && (len(w) == 4 || len(w) == 5):
		r.Subvolume, r.Name, r.UUID = w[1], w[2], w[3]
		if len(w) == 5 {
			if w[4] != Zstd {
				return Request{}, fmt.Errorf("request %q: %q is not a stream compression (only %s)", s, w[4], Zstd)
			}
			r.Compress = Zstd
		}
	case r.Verb == Send && (len(w) == 4 || len(w) == 5):
		r.Subvolume, r.Name = w[1], w[2]
		if w[3] != Full {
			r.Parent = w[3]
		}
		if len(w) == 5 {
			if w[4] != Zstd {
				return Request{}, fmt.Errorf("request %q: %q is not a stream compression (only %s)", s, w[4], Zstd)
			}
			r.Compress = Zstd
		}
	case refusedVerbs[r.Verb]:
		return Request{}, fmt.Errorf("request %q: %w", s, ErrAppendOnly)
	case r.Verb == List || r.Verb == Receive || r.Verb == Send:
		return Request{}, fmt.Errorf("request %q: wrong number of words (%s)", s, verbs)
	default:
		return Request{}, fmt.Errorf("request %q: unknown request (%s)", s, verbs)
	}
	if err := CheckSubvolume(r.Subvolume); err != nil {
		return Request{}, fmt.Errorf("request %q: %w", s, err)
	}
	if r.Verb == Receive || r.Verb == Send {
		if _, _, ok := names.ParseSnapshot(r.Name); !ok {
			return Request{}, fmt.Errorf("request %q: %q is not a snapshot name", s, r.Name)
		}
	}
	if r.Verb == Send && r.Parent != "" {
		if _, _, ok := names.ParseSnapshot(r.Parent); !ok || r.Parent == r.Name {
			return Request{}, fmt.Errorf("request %q: %q is not the name of another snapshot (or %q for a full stream)", s, r.Parent, Full)
		}
	}
	if r.Verb == Receive {
		if !uuidRE.MatchString(r.UUID) || r.UUID == "00000000-0000-0000-0000-000000000000" {
			return Request{}, fmt.Errorf("request %q: %q is not a subvolume UUID", s, r.UUID)
		}
	}
	return r, nil
}

func slicesContainsEmpty(w []string) bool {
	for _, x := range w {
		if x == "" {
			return true
		}
	}
	return false
}

// verbs is the requests' syntax, for messages.
const verbs = "list SUBVOLUME, receive SUBVOLUME NAME UUID [zstd], send SUBVOLUME NAME PARENT|- [zstd]"

// String formats the request as Parse reads it.
func (r Request) String() string {
	switch r.Verb {
	case List:
		return List + " " + r.Subvolume
	case Receive:
		s := strings.Join([]string{Receive, r.Subvolume, r.Name, r.UUID}, " ")
		if r.Compress != "" {
			s += " " + r.Compress
		}
		return s
	case Send:
		p := r.Parent
		if p == "" {
			p = Full
		}
		s := strings.Join([]string{Send, r.Subvolume, r.Name, p}, " ")
		if r.Compress != "" {
			s += " " + r.Compress
		}
		return s
	}
	return r.Verb
}

// WriteList writes the reply to list.
func WriteList(w io.Writer, held []replicate.Held) error {
	bw := bufio.NewWriter(w)
	n := 0
	for _, h := range held {
		if !printable(h.Name) {
			continue // not a name the suite made, and not one a line can carry
		}
		n++
		u := h.ReceivedUUID
		if u == "" {
			u = "-"
		}
		fmt.Fprintf(bw, "snapshot %s %s\n", h.Name, u)
	}
	fmt.Fprintf(bw, "end %d\n", n)
	return bw.Flush()
}

// printable reports whether s is non-empty printable ASCII without spaces.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return s != ""
}

// maxList bounds a listing read (5,000 snapshots are 350 kB).
const maxList = 16 << 20

// ReadList reads the reply to list; a reply cut short, or with any line
// out of place, is an error.
func ReadList(r io.Reader) ([]replicate.Held, error) {
	sc := bufio.NewScanner(io.LimitReader(r, maxList))
	out := []replicate.Held{}
	line := 0
	for sc.Scan() {
		line++
		f := strings.Split(sc.Text(), " ")
		switch {
		case len(f) == 3 && f[0] == "snapshot" && f[1] != "" && (f[2] == "-" || uuidRE.MatchString(f[2])):
			h := replicate.Held{Name: f[1]}
			if f[2] != "-" {
				h.ReceivedUUID = f[2]
			}
			out = append(out, h)
		case len(f) == 2 && f[0] == "end":
			n, err := strconv.Atoi(f[1])
			if err != nil || n != len(out) {
				return nil, fmt.Errorf("listing line %d: %q, after %d snapshots", line, sc.Text(), len(out))
			}
			if sc.Scan() {
				return nil, fmt.Errorf("listing line %d: %q after the end", line+1, sc.Text())
			}
			return out, sc.Err()
		default:
			return nil, fmt.Errorf("listing line %d: %q is not \"snapshot NAME UUID\" or \"end COUNT\"", line, sc.Text())
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read listing: %w", err)
	}
	return nil, fmt.Errorf("listing cut short after %d snapshots (no end line)", len(out))
}

// Received formats the reply to receive.
func Received(name string, bytes int64) string { return fmt.Sprintf("received %s %d\n", name, bytes) }
