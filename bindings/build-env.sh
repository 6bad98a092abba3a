# Sourced by the binding test scripts with $build set to a Meson build directory: Debian's
# toolchains first, and liblb found through the build's meson-uninstalled pkg-config file
# (linking) and LD_LIBRARY_PATH (running).
export PATH="/usr/bin:/bin:$PATH"
export PKG_CONFIG_PATH="$build/meson-uninstalled${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export LD_LIBRARY_PATH="$build/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
