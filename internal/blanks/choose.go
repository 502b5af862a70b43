package blanks

import (
	"fmt"
	"strings"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/cmdline"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/names"
)

// Source says why a boot resets from the blank it does.
type Source string

// The sources of a choice.
const (
	// SourceDefault: the configured blank.
	SourceDefault Source = "default"
	// SourceRequest: the blank the kernel command line asked for
	// (server-impermanence.blank=).
	SourceRequest Source = "request"
	// SourceTrial: a trial boot of a newly committed blank.
	SourceTrial Source = "trial"
	// SourceFallback: the previous good blank, after the new one failed
	// its trial boots.
	SourceFallback Source = "fallback"
)

// Previous is the request for the newest former blank.
const Previous = "previous"

// Choice is the blank one boot resets an ephemeral subvolume from.
type Choice struct {
	Subvolume string `json:"subvolume"`
	// Blank is the configured blank; From the one this boot resets from
	// (Blank, or a former one), UUID its UUID.
	Blank  string `json:"blank"`
	From   string `json:"from"`
	UUID   string `json:"uuid,omitempty"`
	Source Source `json:"source"`
	// Fallback is true while the system runs on a fallback blank: set by
	// a fallback boot, cleared by the next commit.
	Fallback bool   `json:"fallback"`
	Reason   string `json:"reason,omitempty"`
	// Warnings are loud: a request that could not be honoured, a fallback
	// that was impossible.
	Warnings []string `json:"warnings,omitempty"`
	// History is the number of former blanks.
	History int `json:"history"`
	// Trial is the trial record to write before the reset (a trial boot
	// counted); nil leaves the file as it is.
	Trial *Trial `json:"-"`
}

// Input is what Choose decides from.
type Input struct {
	// Subvolumes by path relative to the top level.
	Subvolumes map[string]btrfs.Subvolume
	// Request is the value of server-impermanence.blank= when the command
	// line has it ("" for none); it applies to the Owner's blank only.
	Request string
	// Trial is the trial file, nil when there is none.
	Trial *Trial
	// Tries is [blank] tries.
	Tries int
}

// Choose decides the blank s resets from this boot. It assumes s has a
// blank. A request wins over a trial (which it leaves uncounted); an
// unusable request or an impossible fallback gives the configured blank
// with a warning.
func Choose(s config.Subvolume, owner bool, in Input) Choice {
	hist := History(s.Blank, in.Subvolumes)
	c := Choice{Subvolume: s.Name, Blank: s.Blank, From: s.Blank, Source: SourceDefault, History: len(Former(hist))}
	cur, hasCur := in.Subvolumes[s.Blank]
	if hasCur {
		c.UUID = uuid(cur.UUID)
	}
	if owner && in.Request != "" {
		if e, why := request(s.Blank, hist, in.Request); why != "" {
			c.Warnings = append(c.Warnings, fmt.Sprintf("%s=%s: %s; resetting %s from the configured blank %s instead",
				RequestKey, in.Request, why, s.Name, s.Blank))
		} else if !e.Current {
			c.From, c.UUID, c.Source = e.Name, e.UUID, SourceRequest
			c.Reason = fmt.Sprintf("%s=%s on the kernel command line: %s resets from %s (committed %s) for this boot",
				RequestKey, in.Request, s.Name, e.Name, names.Time(e.Committed))
			return c
		}
	}
	t := in.Trial
	if t == nil || t.Subvolume != s.Name || t.Blank != s.Blank || !hasCur || t.UUID != c.UUID || in.Tries == 0 {
		return c
	}
	if t.Tries < in.Tries {
		next := *t
		next.Tries++
		c.Trial, c.Source = &next, SourceTrial
		c.Reason = fmt.Sprintf("trial boot %d of %d of %s, committed %s: it is marked good when this boot reaches boot-complete.target",
			next.Tries, in.Tries, s.Blank, names.Time(t.Committed))
		return c
	}
	why := fmt.Sprintf("%s, committed %s, did not reach boot-complete.target in %d trial boot(s)", s.Blank, names.Time(t.Committed), t.Tries)
	fb, ok := byUUID(in.Subvolumes, t.FallbackUUID)
	switch {
	case !ok:
		c.Warnings = append(c.Warnings, fmt.Sprintf("%s, but its previous good blank %s (UUID %s) is gone: resetting from %s all the same",
			why, t.Fallback, t.FallbackUUID, s.Blank))
	case !fb.ReadOnly:
		c.Warnings = append(c.Warnings, fmt.Sprintf("%s, but its previous good blank %s is writable, so it may not be pristine: resetting from %s all the same",
			why, fb.Path, s.Blank))
	default:
		c.From, c.UUID, c.Source, c.Fallback = fb.Path, uuid(fb.UUID), SourceFallback, true
		c.Reason = why + ": resetting from the previous good blank " + fb.Path + " until the next commit"
	}
	return c
}

// FallbackNow is the choice when the trial boot could not be counted (the
// trial file could not be written): the previous good blank, so that a
// broken blank never boots without limit; c unchanged when there is none.
func FallbackNow(c Choice, subs map[string]btrfs.Subvolume, t Trial, err error) Choice {
	fb, ok := byUUID(subs, t.FallbackUUID)
	msg := fmt.Sprintf("trial boot of %s not counted: %v", c.Blank, err)
	if !ok || !fb.ReadOnly {
		c.Warnings = append(c.Warnings, msg+"; no usable previous good blank, so this boot is an uncounted trial")
		c.Trial = nil
		return c
	}
	c.Warnings = append(c.Warnings, msg+"; resetting from the previous good blank "+fb.Path+" instead")
	c.From, c.UUID, c.Source, c.Fallback, c.Trial = fb.Path, uuid(fb.UUID), SourceFallback, true, nil
	c.Reason = "the trial boot could not be counted"
	return c
}

// RequestKey is the kernel command line key that chooses a blank for one
// boot.
const RequestKey = cmdline.BlankKey

// request finds the entry a server-impermanence.blank= value names:
// "previous" (the newest former blank), a former blank's name, or the
// time in it; why says what is wrong when none fits.
func request(blank string, hist []Entry, req string) (Entry, string) {
	former := Former(hist)
	want := req
	switch {
	case req == Previous:
		if len(former) == 0 {
			return Entry{}, "there is no former blank of " + blank
		}
		want = former[0].Name
	case req == blank:
	default:
		if _, ok := names.ParseTime(req); ok {
			want = blank + "." + req
		}
	}
	for _, e := range hist {
		if e.Name != want {
			continue
		}
		if !e.ReadOnly {
			return Entry{}, e.Name + " is writable, so it may not be pristine"
		}
		return e, ""
	}
	known := make([]string, 0, len(former))
	for _, e := range former {
		known = append(known, e.Name)
	}
	list := "none"
	if len(known) > 0 {
		list = strings.Join(known, ", ")
	}
	return Entry{}, fmt.Sprintf("no blank %s (former blanks of %s: %s)", want, blank, list)
}

func byUUID(subs map[string]btrfs.Subvolume, u string) (btrfs.Subvolume, bool) {
	if u == "" {
		return btrfs.Subvolume{}, false
	}
	for _, s := range subs {
		if uuid(s.UUID) == u {
			return s, true
		}
	}
	return btrfs.Subvolume{}, false
}
