#!/usr/bin/env bash
# Builds the Go test tools that are not Debian packages into the tools cache
# (${IMPERMANENCE_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/server-impermanence/tools}),
# outside the main module's go.mod: the real node_exporter, which the
# exporter's tests run against our textfile. Idempotent.
set -euo pipefail

NODE_EXPORTER_VERSION=v1.12.1
dir=${IMPERMANENCE_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/server-impermanence/tools}
mkdir -p "$dir"
stamp="$dir/.node_exporter-$NODE_EXPORTER_VERSION"
if [ ! -x "$dir/node_exporter" ] || [ ! -e "$stamp" ]; then
	echo "install-tools: building node_exporter $NODE_EXPORTER_VERSION into $dir"
	GOBIN="$dir" GOFLAGS=-mod=mod go install "github.com/prometheus/node_exporter@$NODE_EXPORTER_VERSION"
	touch "$stamp"
fi
