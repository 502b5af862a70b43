// Package manpage renders the project's man pages from one Markdown source
// per page (docs/man/*.md) to roff, and lists the options a page documents so
// that a test can compare them with the binary's --help.
//
// The source is a small Markdown subset, chosen so that the same file reads
// well on a forge and renders to clean man(7) roff without a tool outside the
// standard library:
//
//	# name(section) -- one-line summary     (first line: NAME section and .TH)
//	## HEADING                              (.SH)
//	### Subheading                          (.SS)
//	paragraph lines                         (.PP, joined)
//	term line                               (.TP: a term, followed by
//	: definition                             a line starting with ": ")
//	- bullet                                (.IP \(bu)
//	```                                     (literal block, .nf/.fi)
//
// Inline: `code` and **bold** render bold, *italic* renders italic.
// Continuation lines of a definition or a bullet are indented by two spaces.
package manpage
