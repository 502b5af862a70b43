package receiveproto

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/server-impermanence/server-impermanence/internal/replicate"
)

const uuid = "0f8e7a46-1b2c-4d3e-9f00-112233445566"

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Request
		err  string
	}{
		{in: "list @persist", want: Request{Verb: List, Subvolume: "@persist"}},
		{in: "list @var/lib/db", want: Request{Verb: List, Subvolume: "@var/lib/db"}},
		{in: "receive @persist 20261206T100000Z " + uuid, want: Request{Verb: Receive, Subvolume: "@persist", Name: "20261206T100000Z", UUID: uuid}},
		{in: "receive @persist 20261206T100000Z-pre-upgrade " + uuid + " zstd",
			want: Request{Verb: Receive, Subvolume: "@persist", Name: "20261206T100000Z-pre-upgrade", UUID: uuid, Compress: Zstd}},
		{in: "send @persist 20261206T100000Z -", want: Request{Verb: Send, Subvolume: "@persist", Name: "20261206T100000Z"}},
		{in: "send @var/lib/db 20261206T100000Z 20261205T100000Z zstd",
			want: Request{Verb: Send, Subvolume: "@var/lib/db", Name: "20261206T100000Z", Parent: "20261205T100000Z", Compress: Zstd}},
		// Escapes.
		{in: "list ..", err: `component ".." is not`},
		{in: "list @persist/../../etc", err: `component ".." is not`},
		{in: "list /etc", err: `component "" is not`},
		{in: "list .incoming", err: `component ".incoming" is not`},
		{in: "list @persist/", err: `component "" is not`},
		{in: "list a//b", err: `component "" is not`},
		{in: "receive ../x 20261206T100000Z " + uuid, err: `component ".." is not`},
		{in: "receive @persist ../20261206T100000Z " + uuid, err: `is not a snapshot name`},
		{in: "receive @persist /etc/passwd " + uuid, err: `is not a snapshot name`},
		{in: "receive @persist 20261206T100000Z/x " + uuid, err: `is not a snapshot name`},
		{in: "send ../x 20261206T100000Z -", err: `component ".." is not`},
		{in: "send /etc 20261206T100000Z -", err: `component "" is not`},
		{in: "send .incoming/@persist 20261206T100000Z -", err: `component ".incoming" is not`},
		{in: "send @persist ../20261206T100000Z -", err: `is not a snapshot name`},
		{in: "send @persist /etc/shadow -", err: `is not a snapshot name`},
		{in: "send @persist 20261206T100000Z ../20261205T100000Z", err: `is not the name of another snapshot`},
		{in: "send @persist 20261206T100000Z 20261206T100000Z", err: `is not the name of another snapshot`},
		{in: "send @persist 20261206T100000Z", err: "wrong number of words"},
		{in: "send @persist 20261206T100000Z - gzip", err: `"gzip" is not a stream compression`},
		// Deleting and overwriting are no requests.
		{in: "delete @persist 20261206T100000Z", err: ErrAppendOnly.Error()},
		{in: "prune @persist", err: ErrAppendOnly.Error()},
		{in: "rm -rf /", err: ErrAppendOnly.Error()},
		{in: "overwrite @persist 20261206T100000Z", err: ErrAppendOnly.Error()},
		// Strict syntax.
		{in: "", err: "single spaces"},
		{in: "list  @persist", err: "single spaces"},
		{in: " list @persist", err: "single spaces"},
		{in: "list @persist ", err: "single spaces"},
		{in: "list\t@persist", err: "not printable ASCII"},
		{in: "list @persist\n", err: "not printable ASCII"},
		{in: "list @pers\u00e9", err: "not printable ASCII"},
		{in: "list", err: "wrong number of words"},
		{in: "list a b", err: "wrong number of words"},
		{in: "receive @persist 20261206T100000Z", err: "wrong number of words"},
		{in: "receive @persist 20261206T100000Z " + uuid + " gzip", err: `"gzip" is not a stream compression`},
		{in: "receive @persist 20261206T100000Z " + strings.ToUpper(uuid), err: "is not a subvolume UUID"},
		{in: "receive @persist 20261206T100000Z 00000000-0000-0000-0000-000000000000", err: "is not a subvolume UUID"},
		{in: "sh -c id", err: "unknown request"},
		{in: "list " + strings.Repeat("a", MaxRequest), err: "longer than"},
	} {
		got, err := Parse(tc.in)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("Parse(%q) = %+v, %v; want error containing %q", tc.in, got, err, tc.err)
		case tc.err == "" && err != nil:
			t.Errorf("Parse(%q): %v", tc.in, err)
		case tc.err == "" && got != tc.want:
			t.Errorf("Parse(%q) = %+v, want %+v", tc.in, got, tc.want)
		case tc.err == "" && got.String() != tc.in:
			t.Errorf("Parse(%q).String() = %q", tc.in, got.String())
		}
	}
	if _, err := Parse("delete @persist x"); !errors.Is(err, ErrAppendOnly) {
		t.Errorf("delete: %v, want ErrAppendOnly", err)
	}
}

func TestList(t *testing.T) {
	held := []replicate.Held{{Name: "20261206T100000Z", ReceivedUUID: uuid}, {Name: "manual-copy"}, {Name: "bad name"}}
	var b strings.Builder
	if err := WriteList(&b, held); err != nil {
		t.Fatal(err)
	}
	const want = "snapshot 20261206T100000Z " + uuid + "\nsnapshot manual-copy -\nend 2\n"
	if b.String() != want {
		t.Fatalf("WriteList:\n%s\nwant\n%s", b.String(), want)
	}
	got, err := ReadList(strings.NewReader(want))
	if err != nil || !cmp.Equal(got, held[:2]) {
		t.Errorf("ReadList = %v, %v; want %v", got, err, held[:2])
	}
	if got, err := ReadList(strings.NewReader("end 0\n")); err != nil || len(got) != 0 || got == nil {
		t.Errorf("empty listing = %#v, %v", got, err)
	}
	for _, bad := range []string{
		"",                                  // nothing: cut short
		"snapshot 20261206T100000Z " + uuid, // no end line
		"snapshot 20261206T100000Z " + uuid + "\nend 2\n", // count
		"end 0\nsnapshot x -\n",                           // after the end
		"snapshot x\nend 1\n",                             // fields
		"snapshot x y\nend 1\n",                           // uuid
		"error: something\n",
	} {
		if got, err := ReadList(strings.NewReader(bad)); err == nil {
			t.Errorf("ReadList(%q) = %v, want an error", bad, got)
		}
	}
}
