package calendar

import (
	"errors"
	"fmt"
	"strings"
)

// DefaultZoneinfoDir is where systemd looks up IANA time-zone names.
const DefaultZoneinfoDir = "/usr/share/zoneinfo"

// Validator validates calendar expressions against a time-zone database.
// The zero value uses DefaultZoneinfoDir.
type Validator struct {
	// ZoneinfoDir holds the TZif files that name valid time zones;
	// empty means DefaultZoneinfoDir.
	ZoneinfoDir string
}

// Validate reports whether expr is a calendar event that systemd's
// OnCalendar= accepts, using the time zones in DefaultZoneinfoDir.
// The error names the expression and says what is wrong with it.
func Validate(expr string) error {
	return Validator{}.Validate(expr)
}

// Validate is like the package-level Validate, with v's time-zone database.
func (v Validator) Validate(expr string) error {
	if err := v.validate(expr); err != nil {
		return fmt.Errorf("calendar %q: %w", expr, err)
	}
	return nil
}

func (v Validator) validate(expr string) error {
	if strings.IndexByte(expr, 0) >= 0 {
		return errors.New("contains a NUL byte")
	}
	body, utc := v.stripZone(expr)
	if body == "" {
		if expr == "" {
			return errors.New("empty expression")
		}
		return errors.New("nothing before the time zone")
	}
	if isShorthand(body) {
		return nil
	}
	if trimmed := strings.Trim(body, " "); isShorthand(trimmed) {
		return fmt.Errorf("shorthand %q must stand alone, without surrounding spaces", trimmed)
	}
	sp := spec{utc: utc}
	if err := parse(body, &sp); err != nil {
		return err
	}
	return sp.check()
}

// shorthands are the words systemd accepts instead of a full expression.
var shorthands = []string{
	"minutely", "hourly", "daily", "monthly", "weekly",
	"yearly", "annually", "anually", // sic: systemd keeps the misspelling for compatibility
	"quarterly",
	"semiannually", "semi-annually", "biannually", "bi-annually",
}

func isShorthand(s string) bool {
	for _, w := range shorthands {
		if equalFoldASCII(s, w) {
			return true
		}
	}
	return false
}
