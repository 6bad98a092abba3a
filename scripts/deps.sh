#!/bin/sh
# Installs what liblb's build, programs, tests and demo need on Debian 12 (as root, or with
# sudo when not root). Installs nothing that is already there.
set -eu
pkgs="meson ninja-build pkgconf gcc g++ clang llvm libclang-rt-14-dev libxxhash-dev xxhash
libcmocka-dev libcjson-dev libinih-dev libmicrohttpd-dev doxygen python3 iproute2 netbase nftables
haproxy nginx-light libnginx-mod-stream gcovr valgrind strace procps psmisc wrk iperf3 sockperf
python3-cffi python3-pytest python3-venv python3-pip python3-wheel python3-setuptools cargo bindgen
golang-go castxml abigail-tools gcc-multilib libc6-dev-i386
nginx-dev make libpcre2-dev zlib1g-dev libssl-dev
frr bird2
openssl gnutls-bin curl
dnsmasq-base"
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing:$missing"
$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
# shellcheck disable=SC2086
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
