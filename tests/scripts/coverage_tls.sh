#!/bin/sh
# Line coverage of the TLS sources (lib/tls*.c: decoder, fingerprints, digests, host names)
# when replaying the fuzz corpus alone (tests/fuzz/corpus/tls, which holds every unit vector):
# at least MIN percent (90). Usage: tests/scripts/coverage_tls.sh BUILD_DIR [MIN]
set -eu
exec "$(dirname "$0")/coverage_fuzz.sh" "${1:?usage: coverage_tls.sh BUILD_DIR [MIN]}" tls \
    "${2:-90}" 'lib/tls.*\.c'
