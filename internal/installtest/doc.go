// Package installtest holds the tests of the installation: `make install`
// into a temporary DESTDIR compared with a golden file list, `make uninstall`
// leaving no file behind, and (as root, on request) the Debian package built,
// checked by lintian, installed, removed and purged. It has no non-test code.
package installtest
