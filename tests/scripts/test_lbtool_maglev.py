#!/usr/bin/env python3
"""lbtool maglev and lbtool chash: JSON fields, balance, disruption, errors, exit codes."""
import json
import sys

from lbtool_common import check, ok, report, run


def targets(n, weight=None):
    out = []
    for i in range(n):
        out += ["--target", f"10.0.{i // 256}.{i % 256}:80" + (f"={weight}" if weight else "")]
    return out


def test_maglev_basic():
    j = ok("maglev", *targets(10))
    check(j["table_size"] == 65537, "default size")
    check(j["digest"].startswith("0x") and len(j["digest"]) == 18, "digest hex")
    ts = j["targets"]
    check([t["key"] for t in ts] == [f"10.0.0.{i}:80" for i in range(10)], "order given")
    check(all(t["entries"] in (6553, 6554) for t in ts), "floor/ceil entries")
    check(sum(t["entries"] for t in ts) == 65537, "entries sum to M")
    check(abs(sum(t["share"] for t in ts) - 1) < 1e-9, "shares sum to 1")
    check(1 <= j["max_over_avg"] < 1.001, "max_over_avg")
    check("table" not in j and "after" not in j and "lookups" not in j, "no optional fields")
    # Order independence, as seen by lbtool: the same digest in reverse order.
    rev = []
    for i in reversed(range(10)):
        rev += ["--target", f"10.0.0.{i}:80"]
    check(ok("maglev", *rev)["digest"] == j["digest"], "digest independent of order")


def test_maglev_weights_dump():
    j = ok("maglev", "--size", "101", "--target", "a=1", "--target", "b=3", "--target", "z=0",
           "--dump")
    ts = j["targets"]
    check(ts[2] == {"key": "z", "weight": 0, "entries": 0, "share": 0}, f"weight 0: {ts[2]}")
    table = j["table"]
    check(len(table) == 101 and set(table) == {0, 1}, "dump indexes")
    check(table.count(0) == ts[0]["entries"] and table.count(1) == ts[1]["entries"], "dump counts")
    check(abs(ts[1]["entries"] - 75.75) <= 2, f"weighted share {ts[1]['entries']}")


def test_maglev_change():
    base = targets(100)
    j = ok("maglev", *base, "--remove", "10.0.0.5:80", "--add", "new:1=2",
           "--lookup-key", "user-1", "--lookup-key", "user-2")
    a = j["after"]
    keys = [t["key"] for t in a["targets"]]
    check("10.0.0.5:80" not in keys and keys[-1] == "new:1", "after targets")
    check(a["targets"][-1]["weight"] == 2, "after weight")
    check(a["digest"] != j["digest"], "digest changes")
    check(0 < j["slots_changed"] < 0.05 * 65537, f"slots_changed {j['slots_changed']}")
    lk = j["lookups"]
    check([x["key"] for x in lk] == ["user-1", "user-2"], "lookup keys")
    h = ok("hash", "--key", "user-1")["hashes"][0]["hash"]
    check(lk[0]["hash"] == h, "lookup hash is lb_hash_key")
    check(lk[0]["target"] in [f"10.0.0.{i}:80" for i in range(100)], "lookup target")
    check("target_after" in lk[0], "target_after")
    # Remove and add back: identical table.
    j2 = ok("maglev", *base, "--remove", "10.0.0.7:80", "--add", "10.0.0.7:80")
    check(j2["slots_changed"] == 0 and j2["after"]["digest"] == j2["digest"], "restore")


def test_maglev_errors():
    rc, out, _ = run("maglev", "--size", "65536", "--target", "a")
    check(rc == 1 and json.loads(out)["error"] == "LB_E_MAGLEV_NOT_PRIME", "non-prime")
    rc, out, _ = run("maglev", "--size", "3", *targets(5))
    check(rc == 1 and json.loads(out)["error"] == "LB_E_MAGLEV_TOO_SMALL", "too small")
    rc, out, _ = run("maglev", "--target", "a", "--remove", "nope")
    check(rc == 1 and json.loads(out)["error"] == "ENOENT", f"unknown remove: {out}")
    rc, out, _ = run("maglev", "--target", "a=70000")
    check(rc == 1 and json.loads(out)["error"] == "LB_E_POOL_BAD_WEIGHT", "bad weight")
    rc, out, _ = run("maglev", "--target", "a", "--target", "a")
    check(rc == 1 and json.loads(out)["error"] == "LB_E_POOL_DUPLICATE_KEY", "dup key")
    for args in (["maglev"], ["maglev", "--size", "x", "--target", "a"], ["maglev", "--bogus"],
                 ["maglev", "--target", "=1"], ["chash"], ["chash", "--target", "a", "--keys",
                                                          "-1"],
                 ["chash", "--target", "a", "--balance-factor", "0.5"], ["maglev", "extra"]):
        rc, out, err = run(*args)
        check(rc == 2 and out == "" and err, f"usage error {args}: rc {rc}")
    for cmd in ("maglev", "chash"):
        rc, out, _ = run(cmd, "--help")
        check(rc == 0 and out.startswith("usage: lbtool " + cmd), f"{cmd} --help")


def test_chash():
    j = ok("chash", *targets(10), "--keys", "20000", "--lookup-key", "abc")
    check(j["points"] == 1600 and j["points_per_weight"] == 160, "points")
    ts = j["targets"]
    check(sum(t["keys"] for t in ts) == 20000, "keys sum")
    check(all(t["points"] == 160 for t in ts), "points per target")
    check(1 <= j["max_over_avg"] < 1.4, f"ring balance {j['max_over_avg']}")
    check(j["stream"] == {"keys": 20000, "distinct": 20000, "distribution": "uniform",
                          "seed": 1}, "stream")
    check("bounded" not in j, "no bounded without factor")
    check(j["lookups"][0]["target"] in [t["key"] for t in ts], "chash lookup")
    z = ok("chash", *targets(10), "--keys", "5000", "--distinct", "200", "--zipf",
           "--balance-factor", "1.25")
    b = z["bounded"]
    check(b["balance_factor"] == 1.25, "factor")
    check(all(t["load"] <= t["bound"] for t in b["targets"]), "bounded loads within bound")
    check(sum(t["load"] for t in b["targets"]) == 5000, "all placed")
    check(b["max_load"] <= 625, f"max load {b['max_load']}")  # ceil(1.25 * 5000 / 10)
    check(b["moved"] > 0, "zipf forces moves")
    check(z["max_over_avg"] > b["max_over_avg"], "bounding improves the worst target")
    w = ok("chash", "--target", "a=1", "--target", "b=3", "--points-per-weight", "10",
           "--keys", "1000", "--balance-factor", "1")
    check(w["points"] == 40, "weighted points")
    check([t["bound"] for t in w["bounded"]["targets"]] == [250, 750], "weighted bounds")


if __name__ == "__main__":
    sys.exit(report((test_maglev_basic, test_maglev_weights_dump, test_maglev_change,
                     test_maglev_errors, test_chash)))
