#!/usr/bin/env python3
"""doc/bindings.md's worked example runs as written against the library just built."""
import os
import re
import subprocess
import sys

SOURCE = os.environ.get("LB_SOURCE_ROOT", ".")
BUILD = os.environ.get("LB_BUILD_ROOT", "build")


def main():
    with open(os.path.join(SOURCE, "doc", "bindings.md")) as f:
        doc = f.read()
    # the worked example's section (the per-language pages after it have their own checker,
    # bindings/check_doc.py)
    sec = re.search(r"^## Worked example.*?(?=^#{1,2} )", doc, re.S | re.M)
    blocks = re.findall(r"```python\n(.*?)```", sec.group(0) if sec else "", re.S)
    if len(blocks) != 1:
        print(f"expected one python block in doc/bindings.md's worked example, found {len(blocks)}")
        return 1
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = os.path.join(os.path.abspath(BUILD), "lib") + \
        (":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
    r = subprocess.run([sys.executable, "-c", blocks[0]], cwd=SOURCE, env=env,
                       capture_output=True, text=True, timeout=60)
    sys.stdout.write(r.stdout)
    sys.stderr.write(r.stderr)
    if r.returncode == 0 and "[(1, 1), (1, 2)]" not in r.stdout:
        print("the example did not print the two registration events")
        return 1
    return r.returncode


if __name__ == "__main__":
    sys.exit(main())
