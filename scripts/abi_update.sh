#!/bin/sh
# abi_update.sh SRC BUILD LIBRARY CC: regenerate the committed ABI description and baseline
# after a deliberate ABI change (the target `meson compile -C build abi-update` runs this).
# Review `git diff abi/` before committing it.
set -eu
src=$1 build=$2 lib=$3 cc=$4
gen="python3 $src/scripts/abi_gen.py --cc $cc --include $src/include --include $build/include/generated"
$gen --out "$src/abi/liblb.api.json"
$gen --arch i386 --out "$src/abi/liblb.api.i386.json"
abidw --no-corpus-path --no-comp-dir-path --no-show-locs --headers-dir "$src/include" \
  --drop-private-types "$lib" > "$src/abi/liblb.abi"
echo "updated $src/abi/liblb.api.json, liblb.api.i386.json and liblb.abi"
