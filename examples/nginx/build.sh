#!/bin/bash
# Builds the two Maglev upstream modules against Debian's nginx (package nginx-dev): copies
# nginx's configure tree into WORK, runs its configure with Debian's own flags (conf_flags,
# --with-compat) and the modules as dynamic addons, then makes just the two shared objects
# (`make modules` would rebuild Debian's stream module, whose sources nginx-dev lacks) and
# copies them to OUTDIR. liblb comes from the uninstalled pkg-config file Meson writes, linked
# statically (the archive, its symbols kept out of the modules' dynamic symbol tables), so the
# stock /usr/sbin/nginx loads the modules with no LD_LIBRARY_PATH.
#
# usage: build.sh OUTDIR WORK ADDON_DIR PKG_CONFIG_DIR [NGINX_SRC]
set -euo pipefail
out=$(realpath "$1") work=$(realpath -m "$2") addon=$(realpath "$3") pcdir=$(realpath "$4")
src=${5:-/usr/share/nginx/src}

[ -f "$src/conf_flags" ] || { echo "build.sh: $src/conf_flags missing (install nginx-dev)" >&2; exit 1; }
pc() { PKG_CONFIG_PATH=$pcdir pkg-config "$@" liblb; }
incs=$(pc --cflags-only-I | sed 's/-I//g')
libdir=$(pc --libs-only-L | sed 's/^ *-L//; s/ .*//')
[ -f "$libdir/liblb.a" ] || { echo "build.sh: $libdir/liblb.a missing" >&2; exit 1; }
# -llb names the shared library first: link the archive Meson built next to it instead
libs="-Wl,--exclude-libs,liblb.a $(pc --static --libs | sed "s#-llb\\b#$libdir/liblb.a#")"

rm -rf "$work"
cp -r "$src" "$work"
cd "$work"
# shellcheck disable=SC1091
. ./conf_flags
if ! LIBLB_INCS="$incs" LIBLB_LIBS="$libs" ./configure "${NGX_CONF_FLAGS[@]}" \
        --with-stream=dynamic --add-dynamic-module="$addon" >configure.log 2>&1; then
    tail -n 30 configure.log >&2
    exit 1
fi
make -s -f objs/Makefile objs/ngx_http_upstream_maglev_module.so \
    objs/ngx_stream_upstream_maglev_module.so
cp objs/ngx_http_upstream_maglev_module.so objs/ngx_stream_upstream_maglev_module.so "$out/"
