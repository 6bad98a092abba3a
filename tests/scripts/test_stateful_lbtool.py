#!/usr/bin/env python3
"""lbtool wrr and lbtool leastconn: output shape, schedule properties, seeds, errors."""
import sys

from lbtool_common import check, error_name, ok, report, run, usage_error


def test_wrr():
    out = ok("wrr", "--target", "a=5", "--target", "b=1", "--target", "c=1", "--picks", "14")
    check(out["cycle"] == 7, "cycle", out)
    check("".join(out["sequence"]) == "aabacaaaabacaa", "nginx's order", out["sequence"])
    check(out["counts"] == {"a": 10, "b": 2, "c": 2}, "counts", out)
    # Any seed: every window of one cycle holds each target exactly its weight's times.
    weights = {"x": 7, "y": 3, "z": 2, "w": 1}
    targets = [a for k, v in weights.items() for a in ("--target", f"{k}={v}")]
    starts = set()
    for seed in range(1, 9):
        seq = ok("wrr", *targets, "--picks", "39", "--seed", str(seed))["sequence"]
        starts.add(tuple(seq[:5]))
        for s in range(0, 39 - 13 + 1):
            window = seq[s:s + 13]
            check(all(window.count(k) == v for k, v in weights.items()), "window", seed, window)
    check(len(starts) > 1, "seeds must give different starts")
    # Errors: usage (exit 2, stderr) and failed operation (exit 1, JSON on stdout).
    rc, out, _ = run("wrr", "--help")
    check(rc == 0 and out.startswith("usage: lbtool wrr"), "wrr --help")
    check("lbtool wrr" in usage_error("wrr", "--picks", "3"), "usage names the command")
    usage_error("wrr", "--target", "a", "--picks", "3")
    usage_error("wrr", "--target", "a=1", "--picks", "x")
    check(error_name("wrr", "--target", "a=0", "--picks", "3") == "LB_E_SELECTOR_EMPTY",
          "weight 0")
    check(error_name("wrr", "--target", "a=70000", "--picks", "3") == "LB_E_POOL_BAD_WEIGHT",
          "weight too large")
    check(error_name("wrr", "--target", "a=1", "--target", "a=2", "--picks", "1") ==
          "LB_E_POOL_DUPLICATE_KEY", "duplicate key")


def test_leastconn():
    base = ["leastconn", "--target", "a=1", "--target", "b=2", "--target", "c=3",
            "--connections", "6000", "--rate", "10", "--mean-duration", "30"]
    for mode in ("exact", "choices", "choices-scalable"):
        out = ok(*base, "--mode", mode, "--seed", "5")
        check(out["mode"] == mode and out["connections"] == 6000, f"{mode}: fields", out)
        t = {x["key"]: x for x in out["targets"]}
        check(sum(x["picks"] for x in t.values()) == 6000, f"{mode}: picks", t)
        # Active connections follow the weights: mean per unit of weight within 15 %.
        per_w = [t[k]["mean_active"] / t[k]["weight"] for k in "abc"]
        check(max(per_w) < 1.15 * min(per_w), f"{mode}: active per weight", per_w)
        check(all(t[k]["peak_active"] >= t[k]["mean_active"] for k in "abc"), f"{mode}: peak", t)
        again = ok(*base, "--mode", mode, "--seed", "5")
        check(again == out, f"{mode}: seeded runs repeat")
    out = ok(*base, "--drain", "c")
    c = [x for x in out["targets"] if x["key"] == "c"][0]
    check(c["picks"] == 0 and c["peak_active"] == 0, "drained target", c)
    rc, out, _ = run("leastconn", "--help")
    check(rc == 0 and out.startswith("usage: lbtool leastconn"), "leastconn --help")
    rc, _, _ = run("leastconn", "--target", "a=1", "--mode", "fast")
    check(rc == 2, "unknown mode", rc)
    rc, _, _ = run("leastconn")
    check(rc == 2, "no target", rc)
    check(error_name("leastconn", "--target", "a=1", "--drain", "a") == "LB_E_SELECTOR_EMPTY",
          "all drained")
    check(error_name("leastconn", "--target", "a=1", "--drain", "zz") == "ENOENT",
          "drain unknown")


if __name__ == "__main__":
    sys.exit(report((test_wrr, test_leastconn)))
