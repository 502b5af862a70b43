// Package flagparse parses a command line with the standard flag package
// the way every program of the suite reports a bad one: "PROGRAM: error"
// and one line pointing to --help, instead of the flag package's bare
// "flag provided but not defined: -x" followed by the whole usage.
//
// It is linked into the initrd helper, so it keeps to the standard library.
package flagparse

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// Parse parses args with fs. For -h or --help it prints fs.Usage to fs's
// output and returns flag.ErrHelp (the caller exits 0). For a bad command
// line it prints
//
//	NAME: the flag package's error
//	Run 'NAME --help' for the usage.
//
// to fs's output, NAME being fs.Name(), and returns the error (the caller
// exits 2). fs must be flag.ContinueOnError.
func Parse(fs *flag.FlagSet, args []string) error {
	out, usage := fs.Output(), fs.Usage
	// The flag package prints its error and the usage itself: silence it
	// while parsing, then say it the one way.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	fs.SetOutput(out)
	fs.Usage = usage
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		if usage != nil {
			usage()
		} else {
			fmt.Fprintf(out, "Usage of %s:\n", fs.Name())
			fs.PrintDefaults()
		}
		return err
	default:
		Report(out, fs.Name(), err)
		return err
	}
}

// Report prints the usage error err of program to w as Parse does.
func Report(w io.Writer, program string, err error) {
	fmt.Fprintf(w, "%s: %v\n%s\n", program, err, HelpHint(program))
}

// HelpHint is the line after a usage error that points to --help.
func HelpHint(program string) string {
	return fmt.Sprintf("Run '%s --help' for the usage.", program)
}
