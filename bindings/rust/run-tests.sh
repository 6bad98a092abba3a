#!/bin/sh
# Builds and tests the Rust crates with Debian's toolchain, offline, against the liblb of a
# Meson build directory (found through its meson-uninstalled pkg-config file).
#   bindings/rust/run-tests.sh BUILD_DIR [cargo test args...]
set -eu
build=$(cd "$1" && pwd); shift
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../build-env.sh"
export CARGO_HOME="$build/bindings/cargo-home" CARGO_TARGET_DIR="$build/bindings/rust-target"
export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc BINDGEN=/usr/bin/bindgen
export CARGO_TERM_COLOR=never
cd "$here"
exec /usr/bin/cargo test --offline --locked "$@"
