#!/bin/sh
# Line coverage of some of liblb's sources when replaying one fuzz harness's corpus alone
# (tests/fuzz/corpus/NAME). Builds with gcc and -Db_coverage=true into BUILD_DIR, replays, runs
# gcovr over the files matching the FILTER regexes, and fails under MIN percent.
# Usage: tests/scripts/coverage_fuzz.sh BUILD_DIR NAME MIN FILTER...
set -eu
BUILD=${1:?usage: coverage_fuzz.sh BUILD_DIR NAME MIN FILTER...}
NAME=${2:?usage: coverage_fuzz.sh BUILD_DIR NAME MIN FILTER...}
MIN=${3:?usage: coverage_fuzz.sh BUILD_DIR NAME MIN FILTER...}
shift 3
SRC=$(cd "$(dirname "$0")/../.." && pwd)
if [ ! -f "$BUILD/build.ninja" ]; then
    CC=${CC:-gcc} meson setup "$BUILD" "$SRC" -Db_coverage=true -Dbuildtype=debug >/dev/null
fi
ninja -C "$BUILD" "tests/fuzz/fuzz_${NAME}_replay" >/dev/null
find "$BUILD" -name '*.gcda' -delete
"$BUILD/tests/fuzz/fuzz_${NAME}_replay" "$SRC/tests/fuzz/corpus/$NAME"
filters=""
for f in "$@"; do
    filters="$filters --filter $f"
done
cd "$SRC"
# shellcheck disable=SC2086 # the filters are words
gcovr -r "$SRC" --object-directory "$BUILD" $filters \
    --print-summary --fail-under-line "$MIN" "$BUILD"
