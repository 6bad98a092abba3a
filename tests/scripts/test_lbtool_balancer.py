#!/usr/bin/env python3
"""lbtool balancer: picks per target, drains and removals with their events, fail-open, zones,
and the CLI contract (help, usage errors, failures as JSON)."""
import json
import sys

from lbtool_common import check, error_name, ok, report, run, usage_error


def target(o, key):
    return next(t for t in o["targets"] if t["key"] == key)


def test_balancer():
    three = ["--target", "a", "--target", "b=2", "--target", "c"]
    o = ok("balancer", *three, "--flows", "8000")
    check(o["table_digest"].startswith("0x"), "maglev digest", o)
    check(sum(t["picks"] for t in o["targets"]) == 8000, "picks sum", o)
    check(0.4 < target(o, "b")["share"] < 0.6, "weight 2 share", o)
    check(sum(t["table_entries"] for t in o["targets"]) == 65537, "entries", o)
    check(all(t["active"] == 0 for t in o["targets"]), "no active", o)
    again = ok("balancer", *three, "--flows", "8000")
    check(again == o, "deterministic", (again, o))
    # Without LBTOOL_COMPACT: the same object, indented.
    rc, out, _ = run("balancer", *three, "--flows", "8000", compact=False)
    check(rc == 0 and "\n\t" in out and json.loads(out) == o, "indented output", out)

    o = ok("balancer", *three, "--drain", "b", "--flows", "1000")
    b = target(o, "b")
    check(b["state"] == "draining" and b["picks"] == 0 and not b["eligible"], "drained", b)
    check(any(e["type"] == "state" and e["target"] == "b" and e["new_state"] == "draining"
              for e in o["events"]), "drain event", o["events"])

    o = ok("balancer", *three, "--remove", "c", "--flows", "100")
    check(target(o, "c")["state"] == "removed", "removed", o)
    check(any(e["type"] == "removed" and e["target"] == "c" for e in o["events"]),
          "removed event", o["events"])

    o = ok("balancer", *three, "--fail", "a", "--fail", "b", "--fail", "c", "--flows", "300")
    check(o["fail_open"] is True and o["eligible"] == 3, "fail-open", o)
    check(all(t["picks"] > 0 for t in o["targets"]), "fail-open picks", o)

    o = ok("balancer", "--target", "x@1", "--target", "y@2", "--zone-mode", "local",
           "--local-zone", "2", "--flows", "500")
    check(target(o, "y")["picks"] == 500 and target(o, "x")["picks"] == 0, "zone local", o)

    for alg in ["ring", "ring-bounded", "wrr", "leastconn", "p2c"]:
        o = ok("balancer", *three, "--algorithm", alg, "--flows", "4000", "--hold")
        check(o["algorithm"] == alg and o["table_digest"] is None, f"{alg} algorithm", o)
        check(sum(t["active"] for t in o["targets"]) == 4000, f"{alg} held", o)
        check(target(o, "b")["picks"] > target(o, "a")["picks"], f"{alg} weight", o)

    rc, out, err = run("balancer", "--help")
    check(rc == 0 and "usage: lbtool balancer" in out, "help", (rc, out))
    for bad in [[], ["--target", "a", "--algorithm", "nope"], ["--target", "a=70000"],
                ["--target", "a", "--flows", "x"], ["--target", "a", "extra"],
                ["--target", "a", "--flows", "100000001"],
                ["--target", "a", "--flows", "18446744073709551615"]]:
        check(usage_error("balancer", *bad), f"usage {bad}: no message")
    for bad, name in ((["--table-size", "1000"], "LB_E_MAGLEV_NOT_PRIME"),
                      (["--drain", "zz"], "ENOENT"),
                      (["--target", "a"], "LB_E_POOL_DUPLICATE_KEY")):
        check(error_name("balancer", "--target", "a", *bad) == name, f"fail {bad}")


if __name__ == "__main__":
    sys.exit(report((test_balancer,)))
