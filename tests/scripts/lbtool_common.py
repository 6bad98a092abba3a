"""Helpers for the lbtool test scripts: run lbtool, parse its JSON, collect failures."""
import json
import os
import subprocess

LBTOOL = os.path.join(os.environ["LB_BUILD_ROOT"], "examples", "lbtool", "lbtool")
FAILS = []


def run(*args):
    env = dict(os.environ, LBTOOL_COMPACT="1")
    r = subprocess.run([LBTOOL, *args], capture_output=True, text=True, timeout=60, env=env)
    return r.returncode, r.stdout, r.stderr


def check(cond, msg):
    if not cond:
        FAILS.append(msg)


def ok(*args):
    rc, out, err = run(*args)
    check(rc == 0, f"{args}: exit {rc}, stderr {err!r}")
    return json.loads(out) if rc == 0 else {}


def report(tests):
    """Runs each test function (a crash in one still reports the others); prints the
    failures; returns the exit status."""
    for t in tests:
        try:
            t()
        except Exception as e:
            FAILS.append(f"{t.__name__}: {type(e).__name__}: {e}")
    for f in FAILS:
        print("FAIL:", f)
    print("ok" if not FAILS else f"{len(FAILS)} failures")
    return 1 if FAILS else 0
