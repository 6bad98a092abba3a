"""Helpers for the lbtool test scripts: run lbtool, parse its JSON, collect failures."""
import json
import os
import subprocess

LBTOOL = os.path.join(os.environ.get("LB_BUILD_ROOT", "build"), "examples", "lbtool", "lbtool")
FAILS = []


def run(*args, stdin=None, binary=False, compact=True):
    """Runs `lbtool ARGS` with stdin as its input (default: none); returns (exit code, stdout,
    stderr), as text, or as bytes when binary. compact: one-line JSON (LBTOOL_COMPACT=1), else
    lbtool's indented output."""
    env = dict(os.environ)
    env.pop("LBTOOL_COMPACT", None)
    if compact:
        env["LBTOOL_COMPACT"] = "1"
    if stdin is None:
        stdin = b"" if binary else ""
    r = subprocess.run([LBTOOL, *args], input=stdin, capture_output=True, text=not binary,
                       timeout=60, env=env)
    return r.returncode, r.stdout, r.stderr


def run_json(*args, **kw):
    """run(), with stdout parsed as JSON (None when stdout is empty)."""
    rc, out, err = run(*args, **kw)
    return rc, (json.loads(out) if out.strip() else None), err


def check(cond, msg, *detail):
    """Records a failure unless cond; the detail (any objects) is formatted only then."""
    if not cond:
        FAILS.append(" ".join([msg, *map(str, detail)]))


def ok(*args):
    """Runs lbtool expecting success; returns its JSON ({} after recording a failure)."""
    rc, out, err = run(*args)
    check(rc == 0, f"{args}: exit {rc}, stderr {err!r}")
    return json.loads(out) if rc == 0 else {}


def usage_error(*args):
    """Runs lbtool expecting a usage error (exit 2, nothing on stdout); returns stderr."""
    rc, out, err = run(*args)
    check(rc == 2 and out == "", f"{args}: want a usage error", rc, out)
    return err


def error_name(*args):
    """Runs lbtool expecting a failure (exit 1, an error object on stdout); returns the
    object's "error" (None without one)."""
    rc, j, _ = run_json(*args)
    check(rc == 1, f"{args}: want exit 1, got {rc}")
    return (j or {}).get("error")


def finish():
    """Prints the failures; returns the exit status."""
    for f in FAILS:
        print("FAIL:", f)
    print("ok" if not FAILS else f"{len(FAILS)} failures")
    return 1 if FAILS else 0


def report(tests):
    """Runs each test function (a crash in one still reports the others); prints the
    failures; returns the exit status."""
    for t in tests:
        try:
            t()
        except Exception as e:
            FAILS.append(f"{t.__name__}: {type(e).__name__}: {e}")
    return finish()
