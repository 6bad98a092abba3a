#!/bin/sh
# The install path doc/bindings.md gives a new user: a venv with Debian's packages visible,
# `pip install --no-index --no-build-isolation`, then a program that finds liblb through
# pkg-config (here the build's meson-uninstalled liblb.pc).
#   bindings/python/check_install.sh BUILD_DIR
set -eu
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
work="$build/bindings/python-install"
rm -rf "$work"
mkdir -p "$work"
cp -r "$here" "$work/src"   # pip builds in the source directory: keep the checkout clean
rm -rf "$work/src/tests"
/usr/bin/python3 -m venv --system-site-packages "$work/venv"
"$work/venv/bin/pip" install -q --no-index --no-build-isolation "$work/src"
export PKG_CONFIG_PATH="$build/meson-uninstalled${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
unset LIBLB_PATH PYTHONPATH
cd "$work"
"$work/venv/bin/python" - <<'PY'
import os, liblb, liblb.proxy
assert os.path.dirname(liblb.__file__).startswith(os.getcwd()), liblb.__file__
assert os.path.exists(os.path.join(os.path.dirname(liblb.__file__), "py.typed"))
m = liblb.Maglev({"10.0.0.1:80": 1, "10.0.0.2:80": 1}, size=101)
h = liblb.proxy.decode(liblb.proxy.encode(2, ("192.0.2.1", 1234), ("198.51.100.7", 443)))
assert h.src == ("192.0.2.1", 1234), h
print("installed liblb", liblb.version(), "from", liblb.__file__, "digest %#x" % m.digest)
PY
