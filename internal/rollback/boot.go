package rollback

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/server-impermanence/server-impermanence/internal/cmdline"
)

// SwitchParam is the kernel command line emergency switch (cmdline.Switch).
const SwitchParam = cmdline.Switch

// RollbackDisabled reports whether the command line turns the rollback off:
// server-impermanence.rollback=0 or rd.server-impermanence.rollback=0 (any
// false boolean), parsed by the same code as the generator's, which decides
// whether this helper runs at all.
func RollbackDisabled(line string) bool { return cmdline.Parse(line).RollbackDisabled(true) }

// Hibernation signatures at the end of the first page of the resume area
// (kernel/power/swap.c HIBERNATE_SIG; uswsusp's; the old swsusp2/TuxOnIce one).
var hibernationSigs = []string{"S1SUSPEND", "ULSUSPEND", "LINHIB0001"}

// ResumeDevice returns the device a resume would read the hibernation image
// from and the byte offset of its header, from /sys/power/resume ("maj:min",
// "0:0" when unset; systemd-hibernate-resume writes it) or else resume= and
// resume_offset= (in pages) on the command line. dev is a path below root;
// "" means no resume is configured (or noresume is given).
func ResumeDevice(root, line, sysResume string) (dev string, offset int64, err error) {
	c := cmdline.Parse(line)
	if _, no := c.Value("noresume", false); no {
		return "", 0, nil
	}
	if off, ok := c.Value("resume_offset", false); ok {
		pages, err := strconv.ParseInt(off, 0, 64)
		if err != nil || pages < 0 {
			return "", 0, fmt.Errorf("invalid resume_offset=%q", off)
		}
		offset = pages * int64(os.Getpagesize())
	}
	if s := strings.TrimSpace(sysResume); s != "" && s != "0:0" {
		return filepath.Join(root, "dev/block", s), offset, nil
	}
	// The device as systemd's hibernate-resume generator names it
	// (cmdline.DevicePath: UUID=, LABEL=, … with '/' escaped as \x2f).
	r := c.ResumeDevice()
	switch {
	case r == "":
		return "", 0, nil
	case strings.HasPrefix(r, "/"):
		return filepath.Join(root, r), offset, nil
	case strings.Contains(r, ":"):
		return filepath.Join(root, "dev/block", r), offset, nil
	}
	return "", 0, fmt.Errorf("unsupported resume=%q", r)
}

// HibernationImage reports whether the resume area at dev holds a
// hibernation image: the swap header's signature, in the last 10 bytes of
// its first page, is a hibernation signature instead of SWAPSPACE2.
func HibernationImage(dev string, offset int64) (bool, error) {
	f, err := os.Open(dev)
	if err != nil {
		return false, err
	}
	defer f.Close()
	page := int64(os.Getpagesize())
	buf := make([]byte, 10)
	if _, err := f.ReadAt(buf, offset+page-10); err != nil && !errors.Is(err, io.EOF) {
		return false, fmt.Errorf("read swap header of %s: %w", dev, err)
	}
	for _, sig := range hibernationSigs {
		if bytes.HasPrefix(buf, []byte(sig)) {
			return true, nil
		}
	}
	return false, nil
}

// Resuming decides whether the rollback must be skipped because this boot
// may resume from hibernation: a configured resume device that holds an
// image, or one that cannot be read (we cannot rule an image out). The
// reason says which. root re-roots /sys and /dev.
func Resuming(root, cmdline string) (bool, string) {
	sys, _ := os.ReadFile(filepath.Join(root, "sys/power/resume"))
	dev, off, err := ResumeDevice(root, cmdline, string(sys))
	switch {
	case err != nil:
		return true, fmt.Sprintf("cannot tell whether a hibernation image waits: %v", err)
	case dev == "":
		return false, ""
	}
	img, err := HibernationImage(dev, off)
	switch {
	case err != nil:
		return true, fmt.Sprintf("resume device %s configured but unreadable (%v): cannot rule out a hibernation image", dev, err)
	case img:
		return true, fmt.Sprintf("hibernation image on %s: the resumed system expects its filesystem unchanged", dev)
	}
	return false, ""
}
