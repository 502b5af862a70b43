package calendar

import (
	"io"
	"os"
	"strings"
)

// stripZone removes a trailing time zone from expr the way systemd does:
// " UTC" in any case, else the word after the last space if it names a
// time-zone file. (systemd also strips the local zone's abbreviations; see
// the package documentation.) utc reports the " UTC" case, in which systemd
// computes without daylight saving time.
func (v Validator) stripZone(expr string) (body string, utc bool) {
	if hasSuffixFoldASCII(expr, " UTC") {
		return expr[:len(expr)-len(" UTC")], true
	}
	if i := strings.LastIndexByte(expr, ' '); i >= 0 && v.zoneExists(expr[i+1:]) {
		return expr[:i], false
	}
	return expr, false
}

// pathMax is Linux's PATH_MAX; systemd refuses longer zone names.
const pathMax = 4096

// zoneExists mirrors systemd's timezone_is_valid(): a plausible name whose
// file under the zoneinfo directory is a regular file with the TZif magic.
func (v Validator) zoneExists(name string) bool {
	if name == "" || name[0] == '/' || len(name) >= pathMax {
		return false
	}
	slash := false
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !isDigit(c) && !isLetter(c) && c != '-' && c != '_' && c != '+' && c != '/' {
			return false
		}
		if c == '/' && slash {
			return false
		}
		slash = c == '/'
	}
	if slash {
		return false
	}
	// name cannot escape dir: it has no "." and does not start with "/".
	dir := v.ZoneinfoDir
	if dir == "" {
		dir = DefaultZoneinfoDir
	}
	f, err := os.Open(dir + "/" + name)
	if err != nil {
		// No zoneinfo at all (an initrd without tzdata): accept the
		// plausible name. The host, which has tzdata, checks it for real,
		// and the initrd must not reject a configuration the host accepts.
		if _, derr := os.Stat(dir); os.IsNotExist(derr) {
			return true
		}
		return false
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return false
	}
	var magic [4]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil {
		return false
	}
	return string(magic[:]) == "TZif"
}
