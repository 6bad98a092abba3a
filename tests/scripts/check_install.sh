#!/bin/sh
# meson install --destdir into a temporary directory, then a consumer compiled with
# `pkg-config --cflags --libs liblb` (and once with --static) links and runs against it.
# Usage: check_install.sh BUILD_DIR SOURCE_ROOT CC SANITIZE VERSION
set -eu
build=$1 src=$2 cc=$3 sanitize=$4 version=$5
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
meson install -C "$build" --no-rebuild --quiet --destdir "$stage"
pc=$(find "$stage" -name liblb.pc | head -n 1)
[ -n "$pc" ] || { echo "liblb.pc not installed"; exit 1; }
for f in include/lb.h include/lb/common.h include/lb/version.h; do
  [ -n "$(find "$stage" -path "*/$f")" ] || { echo "missing installed header $f"; exit 1; }
done
for f in bin/lbtool share/man/man1/lbtool.1 share/liblb/liblb.api.json share/liblb/liblb.api.i386.json; do
  [ -n "$(find "$stage" -path "*/$f")" ] || { echo "missing installed $f"; exit 1; }
done
# No public header includes xxhash.h: nothing may require libxxhash.pc (Cflags must work
# without it); static consumers get -lxxhash from Libs.private.
if grep -q '^Requires' "$pc"; then echo "liblb.pc has a Requires line"; exit 1; fi
grep -q '^Libs.private:.*-lxxhash' "$pc" || { echo "liblb.pc lacks -lxxhash in Libs.private"; exit 1; }
# pkg-config sees only liblb.pc here (no libxxhash.pc): --cflags and --libs still work
PKG_CONFIG_LIBDIR="$(dirname "$pc")" PKG_CONFIG_SYSROOT_DIR="$stage" pkg-config --cflags --libs liblb \
  >/dev/null || { echo "pkg-config liblb fails without libxxhash.pc"; exit 1; }
PKG_CONFIG_LIBDIR="$(dirname "$pc")" PKG_CONFIG_SYSROOT_DIR="$stage" pkg-config --modversion liblb |
  grep -qxF "$version" || { echo "liblb.pc is not version $version"; exit 1; }
# ... and the installed header says the same version as the library's project
grep -q "^#define LB_VERSION_STRING \"$version\"" "$(find "$stage" -path '*/include/lb/version.h')" ||
  { echo "lb/version.h is not version $version"; exit 1; }
export PKG_CONFIG_PATH="$(dirname "$pc")" PKG_CONFIG_SYSROOT_DIR="$stage"
san=""
[ "$sanitize" = none ] || san="-fsanitize=$sanitize"
libdir=$(dirname "$(dirname "$pc")")
# shared
# shellcheck disable=SC2046
$cc $san -o "$stage/consumer" "$src/pkgconfig/consumer.c" $(pkg-config --cflags --libs liblb)
LD_LIBRARY_PATH="$libdir" "$stage/consumer"
LD_LIBRARY_PATH="$libdir" ldd "$stage/consumer" | grep -q 'liblb.so.1 =>' ||
  { echo "consumer is not linked against liblb.so.1"; exit 1; }
readelf -d "$libdir/liblb.so.1" | grep -q 'SONAME.*\[liblb.so.1\]' || { echo "bad SONAME"; exit 1; }
# static: the archive and its private requirements
# shellcheck disable=SC2046
$cc $san -o "$stage/consumer-static" "$src/pkgconfig/consumer.c" \
  $(pkg-config --static --cflags liblb) "$libdir/liblb.a" \
  $(pkg-config --static --libs liblb | sed 's/-llb\b//')
"$stage/consumer-static"
if ldd "$stage/consumer-static" 2>/dev/null | grep -q liblb; then
  echo "static consumer still needs liblb.so"; exit 1
fi
echo "install: shared and static consumers link and run"
