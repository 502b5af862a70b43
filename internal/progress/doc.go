// Package progress is the feedback a person sees on a terminal while a
// send or a restore from a target moves bytes: one status line on stderr
// (the target, the subvolume and snapshot, i of N, the bytes, the rate
// and, where the size is known or estimated, the time left), redrawn in
// place with a carriage return at most four times a second and ended by a
// final line per snapshot.
//
// Line and Final render a Status to one line of at most Width-1 columns;
// they are pure. A Meter draws them for the items a command starts,
// counting the bytes of each through Reader or Writer; the clock is
// injected. A nil *Meter is off: every method does nothing and Reader and
// Writer return what they are given, so a caller wires the meter in once
// and never asks whether progress is on. Above gives the rest of stderr
// (the log lines of a run without a journal) a writer that clears the
// status line first and redraws it after.
//
// Flags are --progress and --no-progress; Flags.Open decides (on when
// stderr is a terminal, unless a flag says otherwise) and returns the
// meter, nil when off; on a terminal the meter reads its width again
// before each line (a resized window), and with TERM=dumb it draws only
// the final lines. Under systemd stderr is the journal or nothing,
// never a terminal, so a timer's run draws nothing; its record of each
// snapshot is the log line the command writes anyway.
package progress
