#!/bin/sh
# Line coverage of the PROXY protocol sources (lib/proxy_*.c, lib/crc32c.c) when replaying the
# fuzz corpus alone (tests/fuzz/corpus/proxy, which holds every unit vector): at least MIN
# percent (90). Usage: tests/scripts/coverage_proxy.sh BUILD_DIR [MIN]
set -eu
exec "$(dirname "$0")/coverage_fuzz.sh" "${1:?usage: coverage_proxy.sh BUILD_DIR [MIN]}" proxy \
    "${2:-90}" 'lib/proxy_.*\.c' 'lib/crc32c\.c'
