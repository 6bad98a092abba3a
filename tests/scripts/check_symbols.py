#!/usr/bin/env python3
"""The shared library exports exactly the symbols in lib/liblb.map, all lb_*, and every LB_API
function declared in the public headers is in the map.

Usage: check_symbols.py LIBLB_SO MAP HEADER...   (the installed public headers)
"""
import re
import subprocess
import sys


def map_symbols(path):
    text = re.sub(r"/\*.*?\*/", "", open(path).read(), flags=re.S)
    syms = set()
    for block in re.findall(r"global:(.*?)(?:local:|\})", text, flags=re.S):
        syms.update(s.strip() for s in block.split(";") if s.strip())
    return syms


def exported(so):
    out = subprocess.run(["nm", "-D", "--defined-only", so], capture_output=True, text=True,
                         check=True).stdout
    syms = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "TDRBVW":
            syms.add(parts[2].split("@")[0])
    return syms


def header_functions(headers):
    names = set()
    for h in headers:
        text = re.sub(r"/\*.*?\*/", "", open(h).read(), flags=re.S)
        for m in re.finditer(r"LB_API\b[^;{]*?\b(lb_\w+)\s*\(", text, flags=re.S):
            names.add(m.group(1))
    return names


def main():
    so, mapfile, headers = sys.argv[1], sys.argv[2], sys.argv[3:]
    in_map, in_so, in_hdr = map_symbols(mapfile), exported(so), header_functions(headers)
    ok = True
    for label, diff in (("exported but not in the map", in_so - in_map),
                        ("in the map but not exported", in_map - in_so),
                        ("declared LB_API in a header but not in the map", in_hdr - in_map),
                        ("in the map but not declared LB_API in a header", in_map - in_hdr),
                        ("not named lb_*", {s for s in in_so if not s.startswith("lb_")}),
                        ("internal lb__ names exported", {s for s in in_so if s.startswith("lb__")})):
        if diff:
            ok = False
            print(f"{label}: {sorted(diff)}")
    print(f"{len(in_so)} exported symbols, {len(in_map)} in the map, {len(in_hdr)} in headers")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
