// Package targetdir is a btrfs target directory, the one layout both
// impermanence-send (a local target) and impermanence-receive (the far end
// of an SSH target) keep:
//
//	<root>/<subvolume>/<snapshot name>           read-only, received UUID = the source's UUID
//	<root>/.incoming/<subvolume>/<snapshot name>/ one transfer in progress (or debris of a killed one)
//
// Receive feeds a send stream to `btrfs receive -e -C` (chrooted into the
// transfer's own directory, so no path of the stream reaches outside it),
// checks the stream's framing on the way (a stream is complete only when
// its end command came last: a stream cut at a command boundary is
// refused even where btrfs receive would accept it), checks the result
// (exactly one subvolume of the expected name, read-only, with the
// expected received UUID), writes its data to disk (btrfs receive leaves
// the files in the page cache, and no commit writes them) and only then
// moves it into place with
// RENAME_NOREPLACE: nothing is ever overwritten, and nothing that looks
// like a backup exists before it is whole. Clean deletes what killed
// transfers left; Repair makes read-only again a snapshot a crash left
// writable during the move.
package targetdir
