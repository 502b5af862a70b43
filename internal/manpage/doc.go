// Package manpage renders the project's man pages from one Markdown source
// per page (docs/man/*.md) to roff with go-md2man, and lists the options a
// page documents so that a test can compare them with the binary's --help.
//
// A source is go-md2man's Markdown (blackfriday with definition lists and
// fenced code) after one header line of its own:
//
//	# name(section) -- one-line summary     (first line: .TH and the NAME section)
//	## HEADING                              (.SH)
//	### Subheading                          (.SS)
//	paragraph lines                         (.PP)
//	term line                               (.TP: a term, followed by
//	: definition                             a line starting with ": ";
//	  continued                              continuation lines indented)
//	- bullet                                (.IP \(bu)
//	```                                     (code block, .EX/.EE)
//
// Inline: `code` and **bold** render bold, *italic* renders italic; in code
// and bold every "-" is a minus sign (\-), so that options copy and search
// as typed. Emphasis does not start or end inside a word (*NAME*s stays
// as typed: write "*NAME* arguments"), and a code block right after a list
// needs a paragraph between them (Render refuses it otherwise).
package manpage
