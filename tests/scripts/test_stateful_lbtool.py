#!/usr/bin/env python3
"""lbtool wrr and lbtool leastconn: output shape, schedule properties, seeds, errors."""
import json
import os
import subprocess
import sys

LBTOOL = os.path.join(os.environ["LB_BUILD_ROOT"], "examples", "lbtool", "lbtool")


def run(*args, code=0):
    r = subprocess.run([LBTOOL, *args], capture_output=True, text=True, timeout=60)
    assert r.returncode == code, (args, r.returncode, r.stdout, r.stderr)
    return r


def check_wrr():
    out = json.loads(run("wrr", "--target", "a=5", "--target", "b=1", "--target", "c=1",
                         "--picks", "14").stdout)
    assert out["cycle"] == 7
    assert "".join(out["sequence"]) == "aabacaaaabacaa", out["sequence"]  # nginx's order
    assert out["counts"] == {"a": 10, "b": 2, "c": 2}
    # Any seed: every window of one cycle holds each target exactly its weight's times.
    weights = {"x": 7, "y": 3, "z": 2, "w": 1}
    targets = [a for k, v in weights.items() for a in ("--target", f"{k}={v}")]
    starts = set()
    for seed in range(1, 9):
        seq = json.loads(run("wrr", *targets, "--picks", "39", "--seed", str(seed)).stdout)["sequence"]
        starts.add(tuple(seq[:5]))
        for s in range(0, 39 - 13 + 1):
            window = seq[s:s + 13]
            assert all(window.count(k) == v for k, v in weights.items()), (seed, window)
    assert len(starts) > 1, "seeds must give different starts"
    # Errors: usage (exit 2, stderr) and failed operation (exit 1, JSON on stdout).
    assert run("wrr", "--help").stdout.startswith("usage: lbtool wrr")
    assert "lbtool wrr" in run("wrr", "--picks", "3", code=2).stderr
    assert run("wrr", "--target", "a", "--picks", "3", code=2).stdout == ""
    assert run("wrr", "--target", "a=1", "--picks", "x", code=2).stdout == ""
    err = json.loads(run("wrr", "--target", "a=0", "--picks", "3", code=1).stdout)
    assert err["error"] == "LB_E_SELECTOR_EMPTY"
    err = json.loads(run("wrr", "--target", "a=70000", "--picks", "3", code=1).stdout)
    assert err["error"] == "LB_E_POOL_BAD_WEIGHT"
    err = json.loads(run("wrr", "--target", "a=1", "--target", "a=2", "--picks", "1",
                         code=1).stdout)
    assert err["error"] == "LB_E_POOL_DUPLICATE_KEY"


def check_leastconn():
    base = ["leastconn", "--target", "a=1", "--target", "b=2", "--target", "c=3",
            "--connections", "6000", "--rate", "10", "--mean-duration", "30"]
    for mode in ("exact", "choices", "choices-scalable"):
        out = json.loads(run(*base, "--mode", mode, "--seed", "5").stdout)
        assert out["mode"] == mode and out["connections"] == 6000
        t = {x["key"]: x for x in out["targets"]}
        assert sum(x["picks"] for x in t.values()) == 6000
        # Active connections follow the weights: mean per unit of weight within 15 %.
        per_w = [t[k]["mean_active"] / t[k]["weight"] for k in "abc"]
        assert max(per_w) < 1.15 * min(per_w), per_w
        assert all(t[k]["peak_active"] >= t[k]["mean_active"] for k in "abc")
        again = json.loads(run(*base, "--mode", mode, "--seed", "5").stdout)
        assert again == out, "seeded runs repeat"
    out = json.loads(run(*base, "--drain", "c").stdout)
    c = [x for x in out["targets"] if x["key"] == "c"][0]
    assert c["picks"] == 0 and c["peak_active"] == 0
    assert run("leastconn", "--help").stdout.startswith("usage: lbtool leastconn")
    run("leastconn", "--target", "a=1", "--mode", "fast", code=2)
    run("leastconn", code=2)
    err = json.loads(run("leastconn", "--target", "a=1", "--drain", "a", code=1).stdout)
    assert err["error"] == "LB_E_SELECTOR_EMPTY"
    err = json.loads(run("leastconn", "--target", "a=1", "--drain", "zz", code=1).stdout)
    assert err["error"] == "ENOENT"


def main():
    check_wrr()
    check_leastconn()
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
