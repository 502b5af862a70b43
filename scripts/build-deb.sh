#!/usr/bin/env bash
# Builds the Debian package server-impermanence_<version>_<arch>.deb from the
# files git tracks in this checkout, with dpkg-buildpackage, offline: the
# module cache is filled first (`go mod download`), the build itself runs with
# GOPROXY=off. Then runs lintian (failing on errors) when it is installed.
#
#   scripts/build-deb.sh [OUTDIR]     (default bin/deb; prints the .deb path last)
#
# Needs dpkg-dev, debhelper (>= 13), lintian, and Go >= 1.26
# (/usr/local/go/bin or GO=...). As root, missing Debian packages are installed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=${1:-bin/deb}
mkdir -p "$out"
out=$(cd "$out" && pwd)

export PATH=/usr/local/go/bin:$PATH
GO=${GO:-$(command -v go)}
need=()
for p in dpkg-dev debhelper lintian; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "build-deb: missing Debian packages: ${need[*]} (apt-get install ${need[*]})" >&2
		exit 1
	fi
	echo "build-deb: installing ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The only network step: fill the module cache, then build with it as is.
"$GO" mod download
export GOMODCACHE=${GOMODCACHE:-$("$GO" env GOMODCACHE)}
export GOCACHE=${GOCACHE:-$("$GO" env GOCACHE)}
export GO

version=$(dpkg-parsechangelog -l debian/changelog -SVersion)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
src=$work/server-impermanence-$version
mkdir -p "$src"
# The tracked files of the checkout as they are in the work tree, and debian/.
{ git -C "$root" ls-files -z; git -C "$root" ls-files -z --others --exclude-standard debian; } |
	(cd "$root" && xargs -0 tar -cf - --no-recursion) | tar -xf - -C "$src"

(cd "$src" && dpkg-buildpackage -b -us -uc --no-sign >"$work/build.log" 2>&1) || {
	tail -n 40 "$work/build.log" >&2
	echo "build-deb: dpkg-buildpackage failed (log above)" >&2
	exit 1
}
arch=$(dpkg --print-architecture)
deb=server-impermanence_${version}_${arch}.deb
cp "$work/$deb" "$work"/server-impermanence_"${version}"_"${arch}".buildinfo "$work"/server-impermanence_"${version}"_"${arch}".changes "$out/"

status=0
if command -v lintian >/dev/null; then
	echo "build-deb: lintian $out/$deb"
	lintian --fail-on error --info "$out/$deb" || status=$?
fi
echo "$out/$deb"
exit $status
