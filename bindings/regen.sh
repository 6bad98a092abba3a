#!/bin/sh
# Regenerates every binding's declarations from the headers after an ABI change:
#   bindings/regen.sh [BUILD_DIR]      (default: build; a configured Meson build directory)
# Python's cdef and the Go/Rust error-code lists (bindings/gen/lbdecls.py), then Rust's
# liblb-sys (bindgen). Go's cgo reads the headers itself at build time.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
/usr/bin/python3 "$root/bindings/gen/lbdecls.py" --build "$build"
PKG_CONFIG_PATH="$build/meson-uninstalled${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}" \
  sh "$root/bindings/rust/liblb-sys/regen.sh"
echo "regenerated; now: meson test -C $build --suite bindings"
