#!/bin/sh
# Line coverage of the PROXY protocol sources (lib/proxy_*.c, lib/crc32c.c) when replaying the
# fuzz corpus alone (tests/fuzz/corpus/proxy, which holds every unit vector). Builds with gcc and
# -Db_coverage=true into BUILD_DIR, replays, runs gcovr, and fails under MIN percent (90).
# Usage: tests/scripts/coverage_proxy.sh BUILD_DIR [MIN]
set -eu
BUILD=${1:?usage: coverage_proxy.sh BUILD_DIR [MIN]}
MIN=${2:-90}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
if [ ! -f "$BUILD/build.ninja" ]; then
    CC=${CC:-gcc} meson setup "$BUILD" "$SRC" -Db_coverage=true -Dbuildtype=debug >/dev/null
fi
ninja -C "$BUILD" tests/fuzz/fuzz_proxy_replay >/dev/null
find "$BUILD" -name '*.gcda' -delete
"$BUILD/tests/fuzz/fuzz_proxy_replay" "$SRC/tests/fuzz/corpus/proxy"
cd "$SRC"
gcovr -r "$SRC" --object-directory "$BUILD" \
    --filter 'lib/proxy_.*\.c' --filter 'lib/crc32c\.c' \
    --print-summary --fail-under-line "$MIN" "$BUILD"
