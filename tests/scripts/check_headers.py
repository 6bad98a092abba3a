#!/usr/bin/env python3
"""Every public header compiles alone with -std=c99 -pedantic -Werror, and from C++.

Usage: check_headers.py CC CXX SRC_INCLUDE GEN_INCLUDE HEADER...
CXX "-" checks C only (the i386 check: `gcc -m32` with Debian's 32-bit libc headers).
HEADER: the public headers as Meson installs them (include/meson.build), so a new module's
header is checked as soon as it is registered there.
"""
import os
import subprocess
import sys
import tempfile


def main():
    cc, cxx, inc, gen = sys.argv[1:5]
    headers = ["lb/" + os.path.basename(h) for h in sys.argv[5:]] + ["lb/version.h", "lb.h"]
    flags = ["-I", inc, "-I", gen, "-Wall", "-Wextra", "-Werror", "-fsyntax-only"]
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for h in headers:
            for lang, comp, std in (("c", cc, ["-std=c99", "-pedantic"]),
                                    ("c++", cxx, ["-std=c++11", "-pedantic"])):
                if comp == "-":
                    continue
                src = os.path.join(tmp, "t." + ("c" if lang == "c" else "cpp"))
                with open(src, "w") as f:
                    f.write(f"#include <{h}>\n#include <{h}>\nint main(void) {{ return 0; }}\n"
                            if lang == "c" else
                            f"#include <{h}>\nint main() {{ return 0; }}\n")
                r = subprocess.run(comp.split() + std + flags + [src], capture_output=True,
                                   text=True)
                status = "ok" if r.returncode == 0 else "FAILED"
                print(f"{status}: {h} ({lang})")
                if r.returncode:
                    failed += 1
                    print(r.stderr)
    print(f"{len(headers)} headers, {failed} failures")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
