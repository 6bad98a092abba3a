#!/bin/sh
# meson install --destdir: lbfwd, its man page, the example unit and configuration are
# installed, and the installed lbfwd runs (--help, --check-config on the example file).
# Usage: check_lbfwd_install.sh BUILD_DIR
set -eu
build=$1
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
meson install -C "$build" --no-rebuild --quiet --destdir "$stage"
for f in bin/lbfwd share/man/man1/lbfwd.1 share/doc/liblb/examples/lbfwd.service \
         share/doc/liblb/examples/lbfwd.ini; do
  [ -n "$(find "$stage" -path "*/$f")" ] || { echo "not installed: $f"; exit 1; }
done
bin=$(find "$stage" -path '*/bin/lbfwd' | head -n 1)
libdir=$(dirname "$(find "$stage" -name 'liblb.so.1' | head -n 1)")
LD_LIBRARY_PATH="$libdir" "$bin" --help | grep -q -- '--listen'
ini=$(find "$stage" -name lbfwd.ini | head -n 1)
# the example logs to /var/log/lbfwd (the unit's LogsDirectory=), which --check-config wants to
# exist: here the log goes to the staging directory instead
LD_LIBRARY_PATH="$libdir" "$bin" --config "$ini" --log "$stage/lbfwd.log" --check-config
grep -q '^ExecReload=' "$(find "$stage" -name lbfwd.service | head -n 1)"
echo "install: lbfwd, lbfwd(1), the example unit and configuration"
