#!/bin/sh
# Tests the Python package from the source tree with Debian's python3 (python3-cffi,
# python3-pytest) against the liblb of a Meson build directory, doctests included.
#   bindings/python/run-tests.sh BUILD_DIR [pytest args...]
set -eu
build=$(cd "$1" && pwd); shift
here=$(cd "$(dirname "$0")" && pwd)
export PKG_CONFIG_PATH="$build/meson-uninstalled${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
# The build's library by path (check_install.sh tests the discovery through pkg-config).
export LIBLB_PATH="$build/lib/liblb.so"
export PYTHONPATH="$here" PYTHONDONTWRITEBYTECODE=1
cd "$here"
exec /usr/bin/python3 -m pytest -q -W error -p no:cacheprovider --doctest-modules "$@" tests liblb
