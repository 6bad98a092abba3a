#!/usr/bin/env python3
"""The Maglev module against nginx's own `hash ... consistent` and round robin, in the same run,
in the stock nginx (doc/performance.md, "nginx: Maglev module").

For each number of servers (10, 100, 1000 by default), one front nginx (one worker, on CPU 0)
holds three upstreams over the same servers: `maglev $remote_addr`, `hash $remote_addr
consistent` and nginx's round robin; the servers are the ports of one backend nginx (CPU 1,
with the load generator).

  req_per_s, cpu_us_per_req  wrk -t1 -c32 with 'Connection: close' for --seconds against each
        upstream in turn (rounds alternate the order; medians): a new client connection and a
        new upstream connection per request; CPU is the front nginx's user + system time over
        the requests it answered.
  max_over_mean  the evenness of the spread: the busiest server's share over the mean share.
        Measured from nginx's behaviour for both hash methods in the same way: wrk sends
        --keys requests (keep-alive) with distinct keys (`?k=<thread>-<counter>`, the Lua script below) through
        `maglev $arg_k` and `hash $arg_k consistent` (the same methods, keyed so that one load
        generator can present many keys), and the front's access log counts what each server
        got ($upstream_addr); the first K requests of each method's log count, K the smaller
        of the two logs. Sampling adds its own unevenness, so the same count of keys
        thrown uniformly at random at the servers (Python's random, averaged over 20 draws)
        is reported as `uniform_sampled`: a balancer can only come close to it. For Maglev the
        exact figure from the table (lbtool maglev: the largest entries over the mean) is
        `table_max_over_mean`.

One JSON line per (servers, method) on stdout, a table on stderr. Not pass/fail: exits non-zero
only when a measurement could not be made.
"""
import argparse
import collections
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "nginx"))

import nginx_common as N  # noqa: E402

FRONT_CPU, LOAD_CPU = "0", "1"
METHODS = {
    "maglev": "maglev $remote_addr;",
    "hash-consistent": "hash $remote_addr consistent;",
    "round-robin": "",
}
SPREAD = {"maglev": "maglev $arg_k;", "hash-consistent": "hash $arg_k consistent;"}
KEYS_LUA = """
local counter = 0
local prefix = tostring(math.random(1, 1000000000))
request = function()
  counter = counter + 1
  return wrk.format(nil, "/?k=" .. prefix .. "-" .. counter)
end
"""


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def wrk(port, seconds, close, script=None, conns=32):
    argv = ["taskset", "-c", LOAD_CPU, "wrk", "-t1", "-c%d" % conns, "-d%ds" % seconds]
    if close:
        argv += ["-H", "Connection: close"]
    if script:
        argv += ["-s", script]
    argv.append("http://127.0.0.1:%d/" % port)
    out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         timeout=seconds + 60).stdout.decode()
    m = re.search(r"(\d+) requests in", out)
    errs = re.search(r"Socket errors: (.*)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if not m or non2xx:
        raise SystemExit("wrk failed or got errors:\n" + out)
    return int(m.group(1)), (errs.group(1) if errs else "")


def wrk_until(port, script, path, n_keys, cap=900):
    """wrk (keep-alive, the key script) until the access log at path holds n_keys lines."""
    argv = ["taskset", "-c", LOAD_CPU, "wrk", "-t1", "-c16", "-d%ds" % cap, "-s", script,
            "http://127.0.0.1:%d/" % port]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + cap
    lines = 0
    while time.time() < deadline and p.poll() is None:
        time.sleep(0.5)
        try:
            with open(path, "rb") as f:
                lines = f.read().count(b"\n")
        except OSError:
            lines = 0
        if lines >= n_keys:
            break
    if p.poll() is None:
        p.send_signal(signal.SIGINT)
    out = p.communicate(timeout=60)[0].decode()
    if "Non-2xx" in out or lines < n_keys:
        raise SystemExit("wrk sent %d of %d keys, or got errors:\n%s" % (lines, n_keys, out))


def uniform_sampled(n_servers, n_keys, draws=20):
    out = []
    for seed in range(draws):
        rnd = random.Random(seed)
        counts = [0] * n_servers
        for _ in range(n_keys):
            counts[rnd.randrange(n_servers)] += 1
        out.append(max(counts) / (n_keys / n_servers))
    return statistics.mean(out)


def table_max_over_mean(names):
    argv = [N.LBTOOL, "maglev"]
    for n in names:
        argv += ["--target", n]
    out = json.loads(subprocess.run(argv, stdout=subprocess.PIPE, check=True,
                                    timeout=120).stdout)
    mean = out["table_size"] / len(names)
    return max(t["entries"] for t in out["targets"]) / mean


def keys_for(n, args):
    counts = [int(x) for x in args.keys.split(",")]
    i = [int(x) for x in args.servers.split(",")].index(n)
    return counts[min(i, len(counts) - 1)]


def run_servers(n, args, tmp):
    ports = N.free_ports(n + 5)
    backs, fronts = ports[:n], ports[n:]
    names = ["127.0.0.1:%d" % p for p in backs]
    servers = "".join("        server %s;\n" % s for s in names)
    listens = "".join("        listen 127.0.0.1:%d backlog=4096;\n" % p for p in backs)
    backend = N.Nginx(f"""
    server {{
{listens}        location / {{ return 200 "ok\\n"; }}
    }}
""", workers=1, log_level="warn", prefix=["taskset", "-c", LOAD_CPU],
                      wait=[("127.0.0.1", backs[0]), ("127.0.0.1", backs[-1])], timeout=120)
    http, upstream_port, spread_port = "", {}, {}
    for i, (m, directive) in enumerate(list(METHODS.items()) + list(SPREAD.items())):
        spread = i >= len(METHODS)
        port = fronts[i]
        (spread_port if spread else upstream_port)[m] = port
        name = ("spread_" if spread else "u_") + m.replace("-", "_")
        log_line = ("        access_log %s/spread-%d-%s.log up;\n" % (tmp, n, m)) if spread else ""
        keep = "        keepalive 32;\n" if spread else ""
        loc_keep = ("            proxy_http_version 1.1;\n"
                    "            proxy_set_header Connection \"\";\n") if spread else ""
        http += f"""
    upstream {name} {{
        {directive}
{servers}{keep}    }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
{log_line}        location / {{
            proxy_pass http://{name};
{loc_keep}        }}
    }}
"""
    http = "    log_format up '$upstream_addr';\n" + http
    front = N.Nginx(http, workers=1, log_level="warn", prefix=["taskset", "-c", FRONT_CPU],
                    wait=[("127.0.0.1", p) for p in fronts], timeout=180)
    rows = []
    try:
        rates = collections.defaultdict(list)
        cpus = collections.defaultdict(list)
        order = list(METHODS)
        for r in range(args.rounds if "rate" in args.measure else 0):
            for m in (order if r % 2 == 0 else order[::-1]):
                c0 = front.cpu_seconds()
                count, errs = wrk(upstream_port[m], args.seconds, close=True)
                c1 = front.cpu_seconds()
                rates[m].append(count / args.seconds)
                cpus[m].append((c1 - c0) / count * 1e6)
                if errs:
                    log("  %s: wrk socket errors: %s" % (m, errs))
        script = os.path.join(tmp, "keys.lua")
        n_keys = keys_for(n, args)
        with open(script, "w") as f:
            f.write(KEYS_LUA)
        logs = {}
        for m in SPREAD if "spread" in args.measure else ():
            path = os.path.join(tmp, "spread-%d-%s.log" % (n, m))
            wrk_until(spread_port[m], script, path, n_keys)
            with open(path) as f:
                logs[m] = [ln.strip() for ln in f if ln.strip()]
        keys = min([n_keys] + [len(v) for v in logs.values()])  # the same for each method
        spread = {}
        for m in logs:
            counts = collections.Counter(logs[m][:keys])
            missing = [s for s in names if s not in counts]
            spread[m] = (max(counts.values()) / (keys / n), keys, len(missing))
        for m in METHODS:
            row = {"bench": "nginx", "servers": n, "method": m}
            if rates[m]:
                row.update({"req_per_s": round(statistics.median(rates[m])),
                            "cpu_us_per_req": round(statistics.median(cpus[m]), 1),
                            "rounds": args.rounds, "seconds": args.seconds})
            if m in spread:
                ev, keys, missing = spread[m]
                row.update({"max_over_mean": round(ev, 3), "keys": keys,
                            "servers_without_keys": missing,
                            "uniform_sampled": round(uniform_sampled(n, keys), 3)})
            if m == "maglev":
                row["table_max_over_mean"] = round(table_max_over_mean(names), 4)
            if len(row) > 3:
                rows.append(row)
                print(json.dumps(row), flush=True)
    finally:
        front.stop(check_log=False)
        backend.stop(check_log=False)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--servers", default="10,100,1000")
    ap.add_argument("--seconds", type=int, default=5, help="each throughput run")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--keys", default="20000,50000,100000",
                    help="distinct keys of each evenness run, per server count in order "
                         "(the last one for the rest)")
    ap.add_argument("--measure", default="rate,spread",
                    help="rate (requests/s and CPU), spread (evenness), or both")
    args = ap.parse_args()
    N.require()
    for tool in ("wrk", "taskset"):
        if subprocess.run(["which", tool], stdout=subprocess.DEVNULL).returncode:
            raise SystemExit("%s is missing (scripts/deps.sh)" % tool)
    all_rows = []
    with tempfile.TemporaryDirectory(prefix="lb-bench-nginx-") as tmp:
        os.chmod(tmp, 0o755)
        for n in [int(x) for x in args.servers.split(",")]:
            log("== %d servers" % n)
            all_rows += run_servers(n, args, tmp)
    log("%-8s %-16s %10s %10s %14s %10s %12s" % ("servers", "method", "req/s", "us CPU/req",
                                                 "max/mean", "uniform", "table"))
    for r in all_rows:
        log("%-8d %-16s %10s %10s %14s %10s %12s" % (
            r["servers"], r["method"], r.get("req_per_s", "-"), r.get("cpu_us_per_req", "-"),
            r.get("max_over_mean", "-"), r.get("uniform_sampled", "-"),
            r.get("table_max_over_mean", "-")))


if __name__ == "__main__":
    main()
