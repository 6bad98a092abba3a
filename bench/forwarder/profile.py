#!/usr/bin/env python3
"""Where a forwarder spends per connection: system calls (strace -c) and user-space
instructions (callgrind), for lbfwd, HAProxy or nginx, on the same short connections.

  bench/forwarder/profile.py --path lbfwd --strace          # syscalls per connection
  bench/forwarder/profile.py --path haproxy --callgrind     # instructions per connection
  bench/forwarder/profile.py --path lbfwd --segments        # packets and CPU, under load

A client makes --conns sequential HTTP requests with `Connection: close` through the proxy to
an nginx backend (the new-connections case of run.py), after a warm-up. strace attaches to
every thread of the proxy for the measured connections only; callgrind runs the proxy under
valgrind and counts from a zeroed counter to a dump around the measured connections. Both
numbers are counts, so they do not depend on the machine's load. Prints one JSON object per
line and the top entries.

--segments measures under the benchmark's short-connection load instead (run.py's placement:
the proxy alone on CPU 0; wrk -t1 -c64 with `Connection: close` and the backend on CPU 1), for
--duration seconds, --runs times: TCP segments sent per connection, as the kernel counts them
(Tcp OutSegs of /proc/net/snmp, both legs; the machine's other TCP traffic counts too, so use
it on a quiet machine), the CPU time of each core per connection (/proc/stat), and for lbfwd
the ACKs it had to send alone per connection (smart connect and smart accept held one that
nothing carried within 1 ms; read from its admin port after the load).
"""
import argparse
import glob
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import statistics
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (the benchmark's process and proxy helpers)

REQ = b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"


def connections(addr, port, n):
    """n sequential short connections; each must get a whole 200 response."""
    for _ in range(n):
        s = socket.create_connection((addr, port), timeout=10)
        s.sendall(REQ)
        data = b""
        while True:
            d = s.recv(4096)
            if not d:
                break
            data += d
        s.close()
        if not data.startswith(b"HTTP/1.1 200"):
            raise run.BenchError(f"bad response through the proxy: {data[:80]!r}")


def strace_counts(proc, addr, port, n, wd):
    out = os.path.join(wd, "strace.txt")
    tids = []
    for pid in proc.tree():
        tids += [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    argv = ["strace", "-c", "-f", "-o", out]
    for t in tids:
        argv += ["-p", str(t)]
    st = subprocess.Popen(argv, stderr=subprocess.DEVNULL, start_new_session=True)
    time.sleep(1.0)  # attached
    connections(addr, port, n)
    time.sleep(0.5)
    os.kill(st.pid, signal.SIGINT)
    st.wait(timeout=20)
    calls = {}
    with open(out) as f:
        for line in f:
            m = re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:(\d+)\s+)?(\w+)\s*$", line)
            if m and m.group(3) != "total":
                calls[m.group(3)] = int(m.group(1))
    return calls


def callgrind_counts(kind, wd, listen, backend, opts, n):
    """Starts the proxy under callgrind, zeroes after a warm-up, dumps after n connections."""
    real_start = run.Proc.__init__
    vg_out = os.path.join(wd, "callgrind.out")

    def under_valgrind(self, argv, cpu, name, workdir, env=None):
        if name.startswith("proxy-"):
            argv = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={vg_out}.%p",
                    "--trace-children=yes"] + argv
        real_start(self, argv, cpu, name, workdir, env)

    run.Proc.__init__ = under_valgrind
    try:
        proc = run.start_proxy(kind, wd, listen, backend, opts, timeout=120)
    finally:
        run.Proc.__init__ = real_start
    try:
        connections(listen[0], listen[1], 50)
        # the processes that forward (nginx: the worker; its master sleeps and would not
        # answer callgrind_control)
        tree = proc.tree()
        workers = tree[1:] or tree[:1]
        for p in workers:
            subprocess.run(["callgrind_control", "--zero", str(p)], capture_output=True,
                           timeout=60)
        connections(listen[0], listen[1], n)
        for p in workers:
            subprocess.run(["callgrind_control", "--dump=measured", str(p)],
                           capture_output=True, timeout=60)
        time.sleep(1.0)
    finally:
        proc.stop()
    # callgrind_control --dump writes FILE.PID.N; the file written at exit has no suffix
    dumps = [f for f in glob.glob(vg_out + ".*.*") if re.search(r"\.\d+\.\d+$", f)]
    total = 0
    for f in dumps:
        with open(f, errors="replace") as fh:
            m = re.search(r"^(?:summary|totals): (\d+)", fh.read(), re.M)
        if m:
            total += int(m.group(1))
    top = ""
    if dumps:
        busiest = max(dumps, key=os.path.getsize)
        r = subprocess.run(["callgrind_annotate", "--threshold=99", busiest],
                           capture_output=True, text=True, timeout=120)
        top = r.stdout
    return total, top


def tcp_out_segs():
    with open("/proc/net/snmp") as f:
        rows = [line.split() for line in f if line.startswith("Tcp:")]
    return int(dict(zip(rows[0][1:], rows[1][1:]))["OutSegs"])


def lone_acks(admin):
    """Per accepted connection: handshake ACKs toward the target and ACKs of client bytes that
    lbfwd sent alone (lbfwd_smart_{connect,accept}_acks_total)."""
    with urllib.request.urlopen(f"http://{admin}/metrics", timeout=5) as r:
        text = r.read().decode()
    m = dict(line.rsplit(" ", 1) for line in text.splitlines() if line and line[0] != "#")
    n = max(float(m["lbfwd_connections_accepted_total"]), 1)
    return {"lone_target_acks_per_conn": round(float(m["lbfwd_smart_connect_acks_total"]) / n, 3),
            "lone_client_acks_per_conn": round(float(m["lbfwd_smart_accept_acks_total"]) / n, 3)}


def segments(o, wd, addrs, port, backend):
    """Segments and CPU microseconds per connection under wrk's short-connection load."""
    out = []
    for i in range(o.runs):
        listen = (addrs.next(), port + 10 + i)
        ro, admin = o, None
        if o.path.startswith("lbfwd"):
            # lbfwd's ACKs sent alone (smart connect and accept held one that nothing carried
            # in time), read from its admin port once the load is over
            admin = f"127.0.0.1:{port + 50 + i}"
            ro = argparse.Namespace(**vars(o))
            ro.lbfwd_args = f"{o.lbfwd_args} --admin {admin}"
        proc = run.start_proxy(o.path, wd, listen, backend, ro)
        try:
            s0, c0 = tcp_out_segs(), run.cpu_times()
            rps, errs = run.wrk(listen[0], listen[1], o.duration, True)
            s1, c1 = tcp_out_segs(), run.cpu_times()
            lone = lone_acks(admin) if admin else None
        finally:
            proc.stop()
        n = rps * o.duration
        if errs or n <= 0:
            raise run.BenchError(f"wrk: {errs} socket errors, {n} connections")
        us = []
        for cpu in (run.PROXY_CPU, run.LOAD_CPU):
            (b0, t0), (b1, t1) = c0[cpu][:2], c1[cpu][:2]
            us.append((b1 - b0) / os.sysconf("SC_CLK_TCK") * 1e6 / n)
        out.append({"conn_per_s": round(rps), "segments_per_conn": round((s1 - s0) / n, 2),
                    "cpu0_us_per_conn": round(us[0], 1), "cpu1_us_per_conn": round(us[1], 1)})
        if lone:
            out[-1].update(lone)
    med = {k: statistics.median(x[k] for x in out) for k in out[0]}
    return med, out


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--path", default="lbfwd", choices=[p for p in run.ALL_PATHS
                                                         if p != "direct"])
    # (callgrind: haproxy and lbfwd; nginx's worker runs as another user, which
    # callgrind_control cannot reach)
    ap.add_argument("--conns", type=int, default=2000)
    ap.add_argument("--strace", action="store_true")
    ap.add_argument("--callgrind", action="store_true")
    ap.add_argument("--segments", action="store_true")
    ap.add_argument("--runs", type=int, default=3, help="--segments: runs (default 3)")
    ap.add_argument("--duration", type=int, default=4, help="--segments: seconds per run")
    ap.add_argument("--lbfwd", default=None)
    ap.add_argument("--lbfwd-args", default=run.DEFAULT_LBFWD_ARGS)
    o = ap.parse_args(argv)
    if not (o.strace or o.callgrind or o.segments):
        o.strace = True
    o.lbfwd = o.lbfwd or run.find_lbfwd()
    if o.path == "lbfwd" and not o.lbfwd:
        ap.error("lbfwd not built and no --lbfwd given")
    run.ensure_tools()
    os.sched_setaffinity(0, {run.LOAD_CPU})
    wd = tempfile.mkdtemp(prefix="lbfwd-profile-")
    addrs = run.Addrs(79)
    port = 30000 + os.getpid() % 20000
    backend = (addrs.next(), port)
    be = run.start_http_backend(wd, *backend)
    try:
        if o.strace:
            listen = (addrs.next(), port + 1)
            proc = run.start_proxy(o.path, wd, listen, backend, o)
            try:
                connections(listen[0], listen[1], 100)
                calls = strace_counts(proc, listen[0], listen[1], o.conns, wd)
            finally:
                proc.stop()
            per = {k: round(v / o.conns, 2) for k, v in sorted(calls.items(),
                                                               key=lambda kv: -kv[1])}
            print(json.dumps({"profile": "syscalls_per_conn", "path": o.path,
                              "conns": o.conns, "total": round(sum(per.values()), 2),
                              "calls": per}), flush=True)
        if o.callgrind:
            listen = (addrs.next(), port + 2)
            n = max(200, o.conns // 10)
            total, top = callgrind_counts(o.path, wd, listen, backend, o, n)
            print(json.dumps({"profile": "instr_per_conn", "path": o.path, "conns": n,
                              "instr_per_conn": round(total / n)}), flush=True)
            print(top[:6000], file=sys.stderr)
        if o.segments:
            med, runs = segments(o, wd, addrs, port, backend)
            print(json.dumps(dict({"profile": "segments_under_load", "path": o.path,
                                   "lbfwd_args": o.lbfwd_args if "lbfwd" in o.path else None},
                                  **med, runs=runs)), flush=True)
    finally:
        be.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
