#!/usr/bin/env python3
"""lbtool balancer: picks per target, drains and removals with their events, fail-open, zones,
and the CLI contract (help, usage errors, failures as JSON)."""
import json
import os
import subprocess
import sys

LBTOOL = os.path.join(os.environ.get("LB_BUILD_ROOT", "build"), "examples", "lbtool", "lbtool")
FAILURES = []


def run(*args):
    p = subprocess.run([LBTOOL, "balancer", *args], capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def ok(*args):
    rc, out, err = run(*args)
    if rc != 0:
        raise AssertionError(f"{args}: exit {rc}: {out} {err}")
    return json.loads(out)


def check(name, cond, detail=""):
    if not cond:
        FAILURES.append(f"{name}: {detail}")


def target(o, key):
    return next(t for t in o["targets"] if t["key"] == key)


def main():
    three = ["--target", "a", "--target", "b=2", "--target", "c"]
    o = ok(*three, "--flows", "8000")
    check("maglev digest", o["table_digest"].startswith("0x"), o)
    check("picks sum", sum(t["picks"] for t in o["targets"]) == 8000, o)
    check("weight 2 share", 0.4 < target(o, "b")["share"] < 0.6, o)
    check("entries", sum(t["table_entries"] for t in o["targets"]) == 65537, o)
    check("no active", all(t["active"] == 0 for t in o["targets"]), o)
    again = ok(*three, "--flows", "8000")
    check("deterministic", again == o, (again, o))

    o = ok(*three, "--drain", "b", "--flows", "1000")
    b = target(o, "b")
    check("drained", b["state"] == "draining" and b["picks"] == 0 and not b["eligible"], b)
    check("drain event", any(e["type"] == "state" and e["target"] == "b" and
                             e["new_state"] == "draining" for e in o["events"]), o["events"])

    o = ok(*three, "--remove", "c", "--flows", "100")
    check("removed", target(o, "c")["state"] == "removed", o)
    check("removed event", any(e["type"] == "removed" and e["target"] == "c"
                               for e in o["events"]), o["events"])

    o = ok(*three, "--fail", "a", "--fail", "b", "--fail", "c", "--flows", "300")
    check("fail-open", o["fail_open"] is True and o["eligible"] == 3, o)
    check("fail-open picks", all(t["picks"] > 0 for t in o["targets"]), o)

    o = ok("--target", "x@1", "--target", "y@2", "--zone-mode", "local", "--local-zone", "2",
           "--flows", "500")
    check("zone local", target(o, "y")["picks"] == 500 and target(o, "x")["picks"] == 0, o)

    for alg in ["ring", "ring-bounded", "wrr", "leastconn", "p2c"]:
        o = ok(*three, "--algorithm", alg, "--flows", "4000", "--hold")
        check(f"{alg} algorithm", o["algorithm"] == alg and o["table_digest"] is None, o)
        check(f"{alg} held", sum(t["active"] for t in o["targets"]) == 4000, o)
        check(f"{alg} weight", target(o, "b")["picks"] > target(o, "a")["picks"], o)

    rc, out, err = run("--help")
    check("help", rc == 0 and "usage: lbtool balancer" in out, (rc, out))
    for bad in [[], ["--target", "a", "--algorithm", "nope"], ["--target", "a=70000"],
                ["--target", "a", "--flows", "x"], ["--target", "a", "extra"],
                ["--target", "a", "--flows", "100000001"],
                ["--target", "a", "--flows", "18446744073709551615"]]:
        rc, out, err = run(*bad)
        check(f"usage {bad}", rc == 2 and out == "" and err, (rc, out, err))
    rc, out, err = run("--target", "a", "--table-size", "1000")
    check("not prime", rc == 1 and json.loads(out)["error"] == "LB_E_MAGLEV_NOT_PRIME", out)
    rc, out, err = run("--target", "a", "--drain", "zz")
    check("unknown key", rc == 1 and json.loads(out)["error"] == "ENOENT", out)
    rc, out, err = run("--target", "a", "--target", "a")
    check("duplicate", rc == 1 and json.loads(out)["error"] == "LB_E_POOL_DUPLICATE_KEY", out)

    for f in FAILURES:
        print("FAIL", f)
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
