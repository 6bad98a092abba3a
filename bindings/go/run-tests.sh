#!/bin/sh
# Tests the Go package with Debian's Go, offline (no module downloads), against the liblb of
# a Meson build directory (found through its meson-uninstalled pkg-config file). The
# benchmarks run a few iterations each, so they are built and exercised, not timed.
#   bindings/go/run-tests.sh BUILD_DIR [go test args...]
set -eu
build=$(cd "$1" && pwd); shift
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../build-env.sh"
export GOCACHE="$build/bindings/go-cache" GOPATH="$build/bindings/gopath"
export GOPROXY=off GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=1 GODEBUG=cgocheck=2
cd "$here"
/usr/bin/go vet .
exec /usr/bin/go test -count=1 -bench . -benchtime 100x "$@" .
