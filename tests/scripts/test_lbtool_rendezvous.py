#!/usr/bin/env python3
"""lbtool rendezvous: JSON fields, shares, what moves with --set/--remove/--add, lookups,
errors and exit codes."""
import json
import sys

from lbtool_common import check, ok, report, run


def targets(n):
    out = []
    for i in range(n):
        out += ["--target", f"10.0.0.{i}:80={1 + i % 3}"]
    return out


def test_basic():
    j = ok("rendezvous", *targets(6))
    ts = j["targets"]
    check([t["key"] for t in ts] == [f"10.0.0.{i}:80" for i in range(6)], "order given")
    check([t["weight"] for t in ts] == [1, 2, 3, 1, 2, 3], "weights")
    check(abs(sum(t["expected"] for t in ts) - 1) < 1e-9, "expected shares sum to 1")
    check("after" not in j and "lookups" not in j and "keys" not in j, "no optional fields")


def test_keys_and_set():
    j = ok("rendezvous", *targets(6), "--keys", "30000", "--set", "10.0.0.0:80=4")
    ts = j["targets"]
    check(j["keys"] == 30000 and sum(t["keys"] for t in ts) == 30000, "every key routed")
    for t in ts:
        check(abs(t["share"] - t["expected"]) < 0.02, f"share of {t['key']}")
    check(j["max_over_avg"] < 1.1, "max_over_avg")
    a = j["after"]["targets"]
    # the changed target took keys from every other; nothing else moved
    gained = a[0]["keys"] - ts[0]["keys"]
    check(gained > 0 and j["moved"] == gained, f"moved {j['moved']} == gained {gained}")
    for before, after in zip(ts[1:], a[1:]):
        check(after["keys"] <= before["keys"], f"{before['key']} only lost keys")


def test_remove_add_lookup():
    j = ok("rendezvous", *targets(5), "--remove", "10.0.0.2:80", "--add", "new=2",
           "--keys", "20000", "--lookup-key", "a", "--lookup-key", "b")
    before = {t["key"]: t["keys"] for t in j["targets"]}
    after = {t["key"]: t["keys"] for t in j["after"]["targets"]}
    check("10.0.0.2:80" not in after and after.get("new", 0) > 0, "after targets")
    # a key moves only from the removed target or to the new one
    gone, new = before["10.0.0.2:80"], after["new"]
    check(max(gone, new) <= j["moved"] <= gone + new, "moved only to/from the changed ones")
    lk = j["lookups"]
    check([x["key"] for x in lk] == ["a", "b"], "lookup keys")
    for x in lk:
        check(x["hash"].startswith("0x") and "target" in x and "target_after" in x, "lookup shape")


def test_errors():
    rc, _, err = run("rendezvous")
    check(rc == 2 and "--target" in err, "no target: usage")
    rc, _, _ = run("rendezvous", "--target", "a", "--set", "a")
    check(rc == 2, "--set without weight")
    rc, out, _ = run("rendezvous", "--target", "a", "--set", "zz=3")
    check(rc == 1 and json.loads(out)["error"], "--set unknown key")
    rc, _, _ = run("rendezvous", "--target", "a", "--keys", "10000001")
    check(rc == 2, "--keys too many")
    rc, out, _ = run("rendezvous", "--help")
    check(rc == 0 and "--set KEY=W" in out, "help")


if __name__ == "__main__":
    sys.exit(report((test_basic, test_keys_and_set, test_remove_add_lookup, test_errors)))
