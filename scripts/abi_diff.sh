#!/bin/sh
# abi_diff.sh BASELINE LIBRARY HEADERS_DIR: compare the library as built with the committed
# abidw baseline (doc/ABI.md). abidiff exits 4 for any ABI change and 8 (+4) for an
# incompatible one; this fails on any non-zero status, so that every change of the ABI is a
# deliberate update of abi/liblb.abi (`meson compile -C build abi-update`).
set -u
baseline=$1 lib=$2 headers=$3
abidiff --headers-dir2 "$headers" --drop-private-types "$baseline" "$lib"
rc=$?
if [ "$rc" -ne 0 ]; then
  echo "abidiff exited $rc: the ABI of $lib differs from $baseline."
  echo "If the change is deliberate, run: meson compile -C build abi-update"
  exit 1
fi
echo "$lib matches $baseline"
