// Package namestest is the table of name edge cases that every reader of
// the suite's on-disk names is tested with: internal/names itself, the
// snapshot listing (and so prune), archive retention (and so the rollback
// and prune), and the exporter's counts.
package namestest

import (
	"strings"
	"time"
)

// Case is one name and what each parser of internal/names makes of it.
type Case struct {
	Name string
	// Snapshot: a snapshot name, with Label ("" for a timeline one).
	Snapshot bool
	Label    string
	// Archive: an archive name, with BootID and the counter N (0 for none).
	Archive bool
	BootID  string
	N       int
	// Replaced: the name of a replaced subvolume (N is its counter).
	Replaced bool
	// Blank: a former blank's name (BlankHistory) of this blank.
	Blank string
	// Time is the time in the name, for any kind it is.
	Time time.Time
}

// T is the time of most cases: 20260101T000000Z.
var T = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

const ts = "20260101T000000Z"

var (
	label64 = "a" + strings.Repeat("b", 63)
	label65 = label64 + "c"
)

// Cases are the edge cases. A name with no kind is none of the suite's.
var Cases = []Case{
	// Times.
	{Name: ts, Snapshot: true, Time: T},
	{Name: "20240229T235959Z", Snapshot: true, Time: time.Date(2024, 2, 29, 23, 59, 59, 0, time.UTC)}, // leap day
	{Name: "20230229T000000Z"},     // 29 February of a common year
	{Name: "20260230T000000Z"},     // 30 February
	{Name: "20261301T000000Z"},     // month 13
	{Name: "20260001T000000Z"},     // month 0
	{Name: "20260100T000000Z"},     // day 0
	{Name: "20260132T000000Z"},     // day 32
	{Name: "20260101T240000Z"},     // hour 24
	{Name: "20260101T006000Z"},     // minute 60
	{Name: "20161231T235960Z"},     // a leap second
	{Name: "2026011T000000Z"},      // a digit short
	{Name: "202601011T000000Z"},    // a digit more
	{Name: "20260101T000000"},      // no Z
	{Name: "20260101t000000Z"},     // lower-case t
	{Name: "20260101T000000z"},     // lower-case z
	{Name: "2026-01-01T00:00:00Z"}, // extended format
	{Name: "+2026101T000000Z"},     // a sign
	{Name: "2026010１T000000Z"},     // a non-ASCII digit
	{Name: " " + ts},               // leading space
	{Name: ts + " "},               // trailing space
	{Name: ts + "\n"},              // trailing newline
	{Name: ts + "x"},               // trailing junk
	{Name: ts + "Z"},               // trailing junk
	{Name: ""},                     // empty
	{Name: "x"},                    // not a name
	{Name: "lost+found"},           // not a name
	{Name: "." + ts + "-x.json"},   // a sidecar
	{Name: ts + ".new"},            // a suffix, no label
	{Name: "00000101T000000Z", Snapshot: true, Time: time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)}, // year 0
	// Labels.
	{Name: ts + "-"},
	{Name: ts + "--x"},
	{Name: ts + "-before-upgrade", Snapshot: true, Label: "before-upgrade", Time: T},
	{Name: ts + "-x_y.z+w-v", Snapshot: true, Label: "x_y.z+w-v", Time: T},
	{Name: ts + "-0", Snapshot: true, Label: "0", Time: T},
	{Name: ts + "-A", Snapshot: true, Label: "A", Time: T},
	{Name: ts + "-" + label64, Snapshot: true, Label: label64, Time: T}, // 64 characters
	{Name: ts + "-" + label65},                                          // 65 characters
	{Name: ts + "-_x"},
	{Name: ts + "-.x"},
	{Name: ts + "-+x"},
	{Name: ts + "-a b"},
	{Name: ts + "-a/b"},
	{Name: ts + "-é"},
	{Name: ts + "-a\x00"},
	{Name: ts + "_x"},
	{Name: ts + ".x"},
	// Archives (each is also a valid snapshot name, with the rest as a label).
	{Name: ts + "-1a2b3c4d", Archive: true, BootID: "1a2b3c4d", Snapshot: true, Label: "1a2b3c4d", Time: T},
	{Name: ts + "-00000000", Archive: true, BootID: "00000000", Snapshot: true, Label: "00000000", Time: T},
	{Name: ts + "-1a2b3c4d-2", Archive: true, BootID: "1a2b3c4d", N: 2, Snapshot: true, Label: "1a2b3c4d-2", Time: T},
	{Name: ts + "-1a2b3c4d-12", Archive: true, BootID: "1a2b3c4d", N: 12, Snapshot: true, Label: "1a2b3c4d-12", Time: T},
	{Name: ts + "-1a2b3c4d-1", Snapshot: true, Label: "1a2b3c4d-1", Time: T},                                       // -1 is never written
	{Name: ts + "-1a2b3c4d-0", Snapshot: true, Label: "1a2b3c4d-0", Time: T},                                       // nor -0
	{Name: ts + "-1a2b3c4d-02", Snapshot: true, Label: "1a2b3c4d-02", Time: T},                                     // nor a leading zero
	{Name: ts + "-1a2b3c4d-2x", Snapshot: true, Label: "1a2b3c4d-2x", Time: T},                                     // trailing junk
	{Name: ts + "-1a2b3c4d-2-3", Snapshot: true, Label: "1a2b3c4d-2-3", Time: T},                                   // two counters
	{Name: ts + "-1a2b3c4d-", Snapshot: true, Label: "1a2b3c4d-", Time: T},                                         // an empty counter
	{Name: ts + "-1a2b3c4d-99999999999999999999", Snapshot: true, Label: "1a2b3c4d-99999999999999999999", Time: T}, // past an int
	{Name: ts + "-1A2B3C4D", Snapshot: true, Label: "1A2B3C4D", Time: T},                                           // upper-case hex
	{Name: ts + "-1a2b3c4", Snapshot: true, Label: "1a2b3c4", Time: T},                                             // 7 hex digits
	{Name: ts + "-1a2b3c4d5", Snapshot: true, Label: "1a2b3c4d5", Time: T},                                         // 9 hex digits
	{Name: ts + "-1a2b3c4g", Snapshot: true, Label: "1a2b3c4g", Time: T},                                           // not hex
	{Name: ts + "-1a2b3c4dx", Snapshot: true, Label: "1a2b3c4dx", Time: T},                                         // trailing junk
	{Name: ts + "-1a2b3c4d_2", Snapshot: true, Label: "1a2b3c4d_2", Time: T},                                       // not a counter
	{Name: ts + "1a2b3c4d"},             // no dash
	{Name: "1a2b3c4d"},                  // no time
	{Name: "20261301T000000Z-1a2b3c4d"}, // month 13
	{Name: "20161231T235960Z-1a2b3c4d"}, // a leap second
	{Name: ts + "-1a2b3c4d.new", Snapshot: true, Label: "1a2b3c4d.new", Time: T}, // a suffix
	// Replaced subvolumes (also snapshot names with the label "replaced").
	{Name: ts + "-replaced", Replaced: true, Snapshot: true, Label: "replaced", Time: T},
	{Name: ts + "-replaced-2", Replaced: true, N: 2, Snapshot: true, Label: "replaced-2", Time: T},
	{Name: ts + "-replaced-1", Snapshot: true, Label: "replaced-1", Time: T},
	{Name: ts + "-replaced-02", Snapshot: true, Label: "replaced-02", Time: T},
	{Name: ts + "-replacedx", Snapshot: true, Label: "replacedx", Time: T},
	{Name: ts + "-Replaced", Snapshot: true, Label: "Replaced", Time: T},
	{Name: "20260230T000000Z-replaced"},
	// Former blanks.
	{Name: "@root-blank." + ts, Blank: "@root-blank", Time: T},
	{Name: "@blanks/@root." + ts, Blank: "@blanks/@root", Time: T},
	{Name: "x." + ts, Blank: "x", Time: T},
	{Name: "." + ts},                        // no blank
	{Name: "@blanks/." + ts},                // no blank in the directory
	{Name: "@root-blank." + ts + "x"},       // trailing junk
	{Name: "@root-blank." + ts + "-2"},      // no counter
	{Name: "@root-blank-" + ts},             // not a dot
	{Name: "@root-blank.20260230T000000Z"},  // 30 February
	{Name: "@root-blank.20260101T000000z"},  // lower-case z
	{Name: "@root-blank." + ts[:len(ts)-1]}, // a character short
}

// Entry reports whether the name can be a directory entry (not empty, no
// '/', no NUL), as readers of a directory see names.
func (c Case) Entry() bool {
	return c.Name != "" && !strings.ContainsAny(c.Name, "/\x00")
}
