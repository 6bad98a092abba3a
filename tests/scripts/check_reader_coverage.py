#!/usr/bin/env python3
"""Every function whose thread class is `reader` (abi/liblb.api.json) is exercised by a
concurrency test: its name appears in a tests/unit/*concurrency*.c file, the tests the
ThreadSanitizer build runs.

Usage: check_reader_coverage.py API_JSON UNIT_TEST_DIR
"""
import glob
import json
import os
import re
import sys


def main():
    desc = json.load(open(sys.argv[1]))
    text = ""
    files = sorted(glob.glob(os.path.join(sys.argv[2], "*concurrency*.c")))
    for path in files:
        with open(path) as f:
            text += f.read()
    readers = [f["name"] for f in desc["functions"] if f["thread"] == "reader"]
    missing = [n for n in readers if not re.search(rf"\b{n}\s*\(", text)]
    for n in missing:
        print(f"reader call not covered by a concurrency test: {n}")
    print(f"{len(readers) - len(missing)}/{len(readers)} reader calls covered by "
          f"{len(files)} concurrency tests")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
