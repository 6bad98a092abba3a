#!/bin/sh
# Fuzzes every harness for a bounded time under ASan + UBSan (libFuzzer, clang) and fails on any
# finding. Builds BUILD_DIR with -Dfuzz=enabled if it is not configured yet. The committed
# corpus is only read: new inputs go to BUILD_DIR/fuzz-corpus/<name>, findings to
# BUILD_DIR/fuzz-artifacts/<name>/.
# Usage: tests/fuzz/run_fuzz.sh BUILD_DIR SECONDS
set -eu
BUILD=${1:?usage: run_fuzz.sh BUILD_DIR SECONDS}
SECONDS_PER_TARGET=${2:?usage: run_fuzz.sh BUILD_DIR SECONDS}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
if [ ! -f "$BUILD/build.ninja" ]; then
    CC=clang meson setup "$BUILD" "$SRC" -Dfuzz=enabled -Dbuildtype=debugoptimized \
        -Db_sanitize=address,undefined -Db_lundef=false \
        -Dc_args=-fno-sanitize-recover=all -Dcpp_args=-fno-sanitize-recover=all >/dev/null
fi
status=0
for harness in "$SRC"/tests/fuzz/fuzz_*.c; do
    name=$(basename "$harness" .c)
    name=${name#fuzz_}
    [ "$name" = main ] && continue
    ninja -C "$BUILD" "tests/fuzz/fuzz_${name}_libfuzzer" >/dev/null
    work="$BUILD/fuzz-corpus/$name"
    art="$BUILD/fuzz-artifacts/$name"
    mkdir -p "$work" "$art"
    echo "fuzzing $name for $SECONDS_PER_TARGET s"
    if ! ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 \
        UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        "$BUILD/tests/fuzz/fuzz_${name}_libfuzzer" -max_total_time="$SECONDS_PER_TARGET" \
        -max_len=4096 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$art/" "$work" "$SRC/tests/fuzz/corpus/$name"; then
        echo "fuzz_$name: FINDING (see $art)" >&2
        status=1
    fi
    if ls "$art"/* >/dev/null 2>&1; then
        echo "fuzz_$name: artifacts left in $art" >&2
        status=1
    fi
done
exit $status
