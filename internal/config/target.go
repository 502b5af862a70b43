package config

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// The syntax of a [[target]] entry's values, and its URL.

// MaxTargetName is the longest target name: it becomes a unit instance
// name and a state file name.
const MaxTargetName = 64

var targetName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

func checkTargetName(n string) string {
	switch {
	case n == "":
		return "target name must not be empty"
	case len(n) > MaxTargetName:
		return fmt.Sprintf("target name %q is longer than %d bytes", n, MaxTargetName)
	case !targetName.MatchString(n):
		return fmt.Sprintf("target name %q must match [a-z0-9][a-z0-9-]* (it names the unit instance)", n)
	}
	return ""
}

func checkFormat(f string) string {
	if slices.Contains(Formats, f) {
		return ""
	}
	return fmt.Sprintf("%q is not a target format (one of %s)", f, strings.Join(Formats, ", "))
}

func checkCompress(c string) string {
	if slices.Contains(Compresses, c) {
		return ""
	}
	return fmt.Sprintf("%q is not a stream compression (one of %s)", c, strings.Join(Compresses, ", "))
}

var rateLimit = regexp.MustCompile(`^[1-9][0-9]{0,11}[KMGT]?$`)

func checkRateLimit(r string) string {
	if rateLimit.MatchString(r) {
		return ""
	}
	return fmt.Sprintf("%q is not a rate in bytes per second (digits and an optional K, M, G or T, e.g. \"50M\")", r)
}

// RateBytes returns the rate limit in bytes per second, 0 for none.
func (t Target) RateBytes() int64 {
	if t.RateLimit == "" {
		return 0
	}
	digits, mult := t.RateLimit, int64(1)
	if i := strings.IndexAny(digits, "KMGT"); i >= 0 {
		mult = int64(1) << (10 * (1 + strings.IndexByte("KMGT", digits[i])))
		digits = digits[:i]
	}
	n, _ := strconv.ParseInt(digits, 10, 64)
	return n * mult
}

// SSH is where an SSH target lives.
type SSH struct {
	User, Host string
	// Port is 0 for ssh's default.
	Port int
	// Path is the receiver's root on the host.
	Path string
}

// SSH returns the SSH location of the target, false for a local one.
func (t Target) SSH() (SSH, bool) {
	s, err := parseSSH(t.URL)
	return s, err == ""
}

// Local returns the directory of a local target, false for an SSH one.
func (t Target) Local() (string, bool) {
	if strings.HasPrefix(t.URL, "/") {
		return t.URL, true
	}
	return "", false
}

var hostName = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$`)

// parseSSH parses ssh://user@host[:port]/path; the string says what is
// wrong with it.
func parseSSH(s string) (SSH, string) {
	u, err := url.Parse(s)
	if err != nil {
		return SSH{}, fmt.Sprintf("%q is not a URL: %v", s, err)
	}
	if u.Scheme != "ssh" {
		return SSH{}, fmt.Sprintf("%q is neither an absolute path (a mounted btrfs) nor ssh://user@host[:port]/path", s)
	}
	out := SSH{Path: u.Path}
	if u.User != nil {
		out.User = u.User.Username()
	}
	out.Host = u.Hostname()
	ipv6 := strings.HasPrefix(u.Host, "[")
	switch {
	case u.User == nil || out.User == "":
		return SSH{}, fmt.Sprintf("%q names no user (ssh://user@host/path)", s)
	case !userName.MatchString(out.User) || strings.HasSuffix(out.User, "$"):
		return SSH{}, fmt.Sprintf("%q: %q is not a valid user name", s, out.User)
	case u.User.String() != out.User:
		return SSH{}, fmt.Sprintf("%q carries a password: use identity_file", s)
	case out.Host == "":
		return SSH{}, fmt.Sprintf("%q names no host", s)
	case !ipv6 && !hostName.MatchString(out.Host):
		return SSH{}, fmt.Sprintf("%q: %q is not a host name or address", s, out.Host)
	case u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		return SSH{}, fmt.Sprintf("%q: a target URL has no query or fragment", s)
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return SSH{}, fmt.Sprintf("%q: port must be a number 1..65535", s)
		}
		out.Port = n
	}
	if msg := checkAbsPath(out.Path); msg != "" || out.Path == "/" {
		if msg == "" {
			msg = "is the root"
		}
		return SSH{}, fmt.Sprintf("%q: the path on the host %s", s, msg)
	}
	return out, ""
}

func checkTargetURL(s string) string {
	if strings.HasPrefix(s, "/") {
		if msg := checkAbsPath(s); msg != "" {
			return "target directory " + msg
		}
		if s == "/" {
			return `target directory "/" is the root: give the mountpoint of the target filesystem or a directory on it`
		}
		// Not /run: removable disks are mounted below /run/media.
		for _, dir := range []string{"/proc", "/sys"} {
			if under(s, dir) {
				return fmt.Sprintf("target directory %q is at or below %s, a kernel interface where no btrfs is mounted", s, dir)
			}
		}
		return ""
	}
	_, msg := parseSSH(s)
	return msg
}
