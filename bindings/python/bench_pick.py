#!/usr/bin/env python3
"""A pick + release through the Python binding against the same two C calls made through
cffi directly, and against C itself (bench/bench_balancer's balancer_maglev_n100_t1, run in
the same session when its path is given): Maglev, 100 targets, one thread, alternating
runs, the median of 5. One JSON line, like bench/.

    bench_pick.py [--c-bench BUILD/bench/bench_balancer] [--iters N]
"""
import argparse
import json
import statistics
import subprocess
import time

import liblb
from liblb._native import ffi, lib

GOLDEN = 0x9E3779B97F4A7C15
MASK = (1 << 64) - 1


def binding(b, hashes):
    for h in hashes:
        b.release(b.pick(h), now_ms=0)


def raw(b, hashes):
    p, out = b._b, ffi.new("uint32_t *")
    for h in hashes:
        if lib.lb_balancer_pick(p, h, out) == 0:
            lib.lb_balancer_release(p, out[0], 0)


def ns_per_op(f, b, hashes):
    t = time.perf_counter_ns()
    f(b, hashes)
    return (time.perf_counter_ns() - t) / len(hashes)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--c-bench", help="bench/bench_balancer of a build (the C baseline)")
    ap.add_argument("--iters", type=int, default=200000)
    a = ap.parse_args()
    c_ns = None
    if a.c_bench:
        for line in subprocess.run([a.c_bench, "--quick"], check=True, capture_output=True,
                                   text=True, timeout=600).stdout.splitlines():
            j = json.loads(line)
            if j["bench"] == "balancer_maglev_n100_t1":
                c_ns = j["ns_per_op"]
    hashes = [(i * GOLDEN) & MASK for i in range(a.iters)]
    with liblb.Balancer("maglev") as b:
        for i in range(1, 101):
            b.add(i, "10.0.%d.%d:80" % (i // 256, i % 256), now_ms=0)
        ns_per_op(binding, b, hashes[:1000])
        runs_b, runs_r = [], []
        for _ in range(5):
            runs_b.append(ns_per_op(binding, b, hashes))
            runs_r.append(ns_per_op(raw, b, hashes))
    out = {"bench": "python_pick_release_n100_t1", "params": {"n": 100, "threads": 1},
           "ns_per_op": round(statistics.median(runs_b), 3),
           "baseline": "cffi_raw_calls_pick_release_n100_t1",
           "baseline_ns_per_op": round(statistics.median(runs_r), 3)}
    out["ratio"] = round(out["ns_per_op"] / out["baseline_ns_per_op"], 3)
    if c_ns is not None:
        out["c_ns_per_op"] = c_ns
        out["ratio_to_c"] = round(out["ns_per_op"] / c_ns, 3)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
