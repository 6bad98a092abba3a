#!/usr/bin/env python3
"""UDP forwarding: lbfwd (`--listen udp:`) against nginx stream (`listen ... udp`,
`proxy_responses`) and a direct path, on loopback, in the same run.

Each proxy runs with one worker pinned to CPU 0 and capped to the same CPU share by a cgroup
v1 `cpu.cfs_quota_us` (root; `--share`, default 25 % of a core), so that the proxy, not the
load generator, is the limit; the load generator runs on CPU 1 and the UDP echo backend on
CPU 0, in what the proxy's quota leaves (`--echo-cpu 1` puts it beside the generator). The
quota makes the load arrive in bursts: everything moves only while the proxy runs, so while it
runs the load core must keep up with the proxy's full speed, not its average. With generator
and echo on one core it could not with lbfwd (which then woke for every 1.4 round trips and
spent its quota on wakeups, `perf stat -e syscalls:sys_enter_epoll_wait`); with the echo on
CPU 0 lbfwd handles 7 per wakeup. Each JSON line gives the share of its quota each proxy used
(`quota_used`: near 1 when the proxy is the limit). The share is applied the same way to every
proxy, so datagrams per second compare per proxy core share. The direct path shows the load's
own ceiling: a proxy whose rate nears it is not measured (the figure is then a lower bound).

While it runs, net.core.rmem_default is raised (`--rmem`, default 4 MiB; restored at the end)
for every socket alike: a proxy throttled by its cap for 75 ms of each 100 ms period finds up
to 256 datagrams queued at its listener, more than the default 208 KiB holds at 1,400 B, and
the losses (each stalls a client's window for 200 ms) would measure the cap, not the proxy.
`--rmem 0` keeps the system's value. Each JSON line counts the resends.

The load generator and the echo backend are `bench/udpload` (C, recvmmsg/sendmmsg: built with
the benchmarks, `--udpload`) unless `--generator python`: the Python ones saturate their core
at about the rate of a capped proxy, which compresses the ratio between proxies. The script
reports the load core's busy share (/proc/stat) with each measurement.

Modes, each with 64-byte and 1,400-byte datagrams:
  flows    32 client sockets (flows), 8 datagrams in flight each; proxies keep the flow
           (lbfwd: no udp_responses; nginx: no proxy_responses, proxy_timeout 30s)
  dns      256 client sockets, one request in flight each, a flow per request (lbfwd
           --udp-responses 1; nginx proxy_responses 1): a new flow and target pick per
           datagram; each client keeps its source port, so lbfwd keeps the ended flow's
           upstream socket for the client's next request (doc/lbfwd.md, "parked")
  dns-ports  the same, but each request from a new client socket (a new source port, as a
           DNS stub resolver's queries): a new upstream socket per request for both proxies
           (C generator only)

Latency (unless --no-latency): sockperf ping-pong over UDP (one datagram in flight) through
each path in `flows` mode, uncapped (pinned only), p50 and p99 of sockperf's one-way figure
(half the round trip), and the latency added over direct.

Reports one JSON line per (mode, size, path): datagrams (round trips) per second, the proxy's
CPU microseconds per round trip (from /proc, all its threads and processes), requests that
got no reply within 200 ms and were resent (lost), and the ratio against nginx. Medians of
--runs alternated runs. Benchmarks are not pass/fail: the exit status is non-zero only when a
measurement could not be made.
"""
import argparse
import json
import os
import selectors
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import run as tcp_bench  # sockperf's percentiles, parsed once

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PROXY_CPU, LOAD_CPU = 0, 1
NGINX_STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"
CG_ROOT = "/sys/fs/cgroup/cpu"
MODES = {"flows": (32, 8), "dns": (256, 1), "dns-ports": (256, 1)}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def tree(pid):
    """pid and its descendants."""
    out = [pid]
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            if ppid == pid:
                out += tree(int(p))
    return out


def cpu_seconds(pids):
    tot = 0.0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            tot += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            pass
    return tot


class Cgroup:
    """A cgroup v1 cpu group capped to `share` of one core."""

    def __init__(self, share):
        self.path = os.path.join(CG_ROOT, f"lbbench-udp-{os.getpid()}")
        os.makedirs(self.path, exist_ok=True)
        with open(os.path.join(self.path, "cpu.cfs_period_us"), "w") as f:
            f.write("100000")
        with open(os.path.join(self.path, "cpu.cfs_quota_us"), "w") as f:
            f.write(str(int(100000 * share)))

    def add(self, pids):
        for p in pids:
            with open(os.path.join(self.path, "cgroup.procs"), "w") as f:
                f.write(str(p))

    def remove(self):
        try:
            with open(os.path.join(CG_ROOT, "cgroup.procs"), "w") as f:
                for line in open(os.path.join(self.path, "cgroup.procs")):
                    f.write(line)
            os.rmdir(self.path)
        except OSError:
            pass


def echo_backend(addr, port, cpu, udpload=None):
    """A UDP echo server in a child process on cpu: bench/udpload's, or Python's."""
    if udpload:
        return subprocess.Popen(["taskset", "-c", str(cpu), udpload, "echo", addr, str(port)])
    code = ("import socket\n"
            "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
            "s.setsockopt(socket.SOL_SOCKET,socket.SO_RCVBUF,1<<22)\n"
            f"s.bind(('{addr}',{port}))\n"
            "r=s.recvfrom;w=s.sendto\n"
            "while True:\n"
            "    d,a=r(65535);w(d,a)\n")
    return subprocess.Popen(["taskset", "-c", str(cpu), sys.executable, "-c", code])


def start_proxy(kind, wd, lport, bport, mode, lbfwd):
    if kind.startswith("lbfwd"):
        argv = [lbfwd, "--listen", f"udp:127.0.0.1:{lport}", "--workers", "1", "--check", "none",
                "--no-access-log", "--target", f"b=127.0.0.2:{bport}", "--udp-flows", "65536"]
        if mode.startswith("dns"):
            argv += ["--udp-responses", "1"]
    else:
        d = tempfile.mkdtemp(dir=wd)
        resp = "proxy_responses 1;" if mode.startswith("dns") else ""
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"""load_module {NGINX_STREAM_MODULE};
worker_processes 1; daemon off; master_process on; error_log {d}/error.log; pid {d}/nginx.pid;
events {{ worker_connections 65536; }}
stream {{
  upstream b {{ server 127.0.0.2:{bport}; }}
  server {{ listen 127.0.0.1:{lport} udp; proxy_pass b; {resp} proxy_timeout 30s; }}
}}
""")
        argv = ["nginx", "-p", d, "-c", conf]
    p = subprocess.Popen(["taskset", "-c", str(PROXY_CPU)] + argv, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, preexec_fn=raise_nofile)
    time.sleep(0.5)
    if p.poll() is not None:
        raise SystemExit(f"{kind} did not start")
    return p


def raise_nofile():
    import resource
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def load_c(udpload, addr, port, n_socks, window, size, seconds, fresh=False):
    """Closed-loop load by bench/udpload on LOAD_CPU: returns (round trips, resends,
    seconds). fresh: each request from a new socket."""
    out = subprocess.run(["taskset", "-c", str(LOAD_CPU), udpload, "load", addr, str(port),
                          str(n_socks), str(window), str(size), str(max(1, round(seconds))),
                          "127.0.0.3"] + (["fresh"] if fresh else []),
                         capture_output=True, text=True, timeout=seconds + 30)
    if out.returncode != 0:
        raise SystemExit(f"udpload load failed: {out.stderr.strip()}")
    r = json.loads(out.stdout)
    return r["round_trips"], r["resent"], r["seconds"]


def cpu_busy(cpu):
    """(busy, total) jiffies of one CPU from /proc/stat."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith(f"cpu{cpu} "):
                v = [int(x) for x in line.split()[1:]]
                return sum(v) - v[3] - v[4], sum(v)
    return 0, 1


def load(addr, port, n_socks, window, size, seconds):
    """Closed-loop load: returns (round trips, resends)."""
    payload = b"x" * size
    socks = []
    sel = selectors.DefaultSelector()
    for i in range(n_socks):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setblocking(False)
        s.bind(("127.0.0.3", 0))
        s.connect((addr, port))
        sel.register(s, selectors.EVENT_READ, i)
        socks.append(s)
    last = [0.0] * n_socks
    got = 0
    lost = 0
    t0 = time.time()
    for i, s in enumerate(socks):
        for _ in range(window):
            s.send(payload)
        last[i] = t0
    end = t0 + seconds
    next_check = t0 + 0.2
    while True:
        now = time.time()
        if now >= end:
            break
        for key, _ in sel.select(timeout=0.05):
            s = key.fileobj
            i = key.data
            for _ in range(window):
                try:
                    s.recv(65535)
                except (BlockingIOError, ConnectionRefusedError):
                    break
                got += 1
                s.send(payload)
                last[i] = now
        if now >= next_check:
            next_check = now + 0.2
            for i, s in enumerate(socks):
                if now - last[i] > 0.2:  # the window's datagrams were lost: refill it
                    for _ in range(window):
                        s.send(payload)
                    lost += window
                    last[i] = now
    for s in socks:
        s.close()
    sel.close()
    return got, lost


def latency(o, wd, port, bport):
    """sockperf ping-pong over UDP (one datagram in flight, as fast as it comes back): {path:
    (p50 us, p99 us)}, medians of the runs. Not capped: a throttled proxy's p99 would be the
    cgroup period."""
    server = subprocess.Popen(["taskset", "-c", str(LOAD_CPU), "sockperf", "server",
                               "-i", "127.0.0.2", "-p", str(bport)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    out = {}
    try:
        for run in range(o.runs):
            for path in ["direct", "nginx", "lbfwd"] if run % 2 == 0 else \
                    ["direct", "lbfwd", "nginx"]:
                port += 1
                proc = None
                if path == "direct":
                    addr, lport = "127.0.0.2", bport
                else:
                    proc = start_proxy(path, wd, port, bport, "flows", o.lbfwd)
                    addr, lport = "127.0.0.1", port
                try:
                    p50, p99 = tcp_bench.sockperf(addr, lport, int(o.seconds), tcp=False)
                finally:
                    if proc:
                        proc.terminate()
                        proc.wait(timeout=5)
                log(f"latency {path}: p50 {p50} us, p99 {p99} us")
                out.setdefault(path, []).append((p50, p99))
    finally:
        server.kill()
        server.wait()
    return {k: (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v))
            for k, v in out.items()}


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lbfwd", default=os.path.join(ROOT, "build", "examples", "lbfwd", "lbfwd"))
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--share", type=float, default=0.25, help="CPU share of one core per proxy")
    ap.add_argument("--modes", help="default: flows,dns,dns-ports (flows,dns with "
                    "--generator python)")
    ap.add_argument("--sizes", default="64,1400")
    ap.add_argument("--no-latency", dest="latency", action="store_false")
    ap.add_argument("--baseline", metavar="LBFWD",
                    help="another lbfwd binary (e.g. built from main), measured as path "
                    "lbfwd-baseline in the same runs")
    ap.add_argument("--rmem", type=int, default=4 << 20,
                    help="net.core.rmem_default during the run (0: unchanged)")
    ap.add_argument("--generator", choices=("c", "python"), default="c",
                    help="load generator and echo backend: bench/udpload (C) or Python")
    ap.add_argument("--udpload", default=os.path.join(ROOT, "build", "bench", "udpload"))
    ap.add_argument("--echo-cpu", type=int, choices=(PROXY_CPU, LOAD_CPU), default=PROXY_CPU,
                    help="the echo backend's CPU (default: the proxy's, beside its quota)")
    o = ap.parse_args(argv)
    udpload = o.udpload if o.generator == "c" else None
    if not o.modes:
        o.modes = "flows,dns,dns-ports" if udpload else "flows,dns"
    if not udpload and "dns-ports" in o.modes.split(","):
        raise SystemExit("mode dns-ports needs --generator c")
    if udpload and not os.access(udpload, os.X_OK):
        raise SystemExit(f"{udpload} missing: build the benchmarks (meson compile -C build)")
    if os.geteuid() != 0:
        raise SystemExit("root is needed for the cgroup CPU cap")
    for tool in ("nginx", "taskset"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} missing (scripts/deps.sh)")
    os.sched_setaffinity(0, {LOAD_CPU})
    wd = tempfile.mkdtemp(prefix="lbbench-udp-")
    bport, port = 20000 + os.getpid() % 10000, 31000 + os.getpid() % 10000
    rmem_path = "/proc/sys/net/core/rmem_default"
    with open(rmem_path) as f:
        rmem_old = f.read().strip()
    if o.rmem:
        with open(rmem_path, "w") as f:
            f.write(str(o.rmem))
    backend = echo_backend("127.0.0.2", bport, o.echo_cpu, udpload)
    time.sleep(0.3)
    cg = Cgroup(o.share)
    res = {}
    try:
        for mode in o.modes.split(","):
            n_socks, window = MODES[mode]
            for size in (int(x) for x in o.sizes.split(",")):
                for run in range(o.runs):
                    order = ["direct", "nginx", "lbfwd"] if run % 2 == 0 else \
                        ["direct", "lbfwd", "nginx"]
                    if o.baseline:  # the other lbfwd between them, alternated too
                        order.insert(2, "lbfwd-baseline")
                    for path in order:
                        port += 1
                        proc = None
                        if path == "direct":
                            laddr, lport = "127.0.0.2", bport
                        else:
                            proc = start_proxy(path, wd, port, bport, mode,
                                               o.baseline if path == "lbfwd-baseline" else o.lbfwd)
                            cg.add(tree(proc.pid))
                            laddr, lport = "127.0.0.1", port
                        pids = tree(proc.pid) if proc else []
                        c0 = cpu_seconds(pids)
                        b0 = cpu_busy(LOAD_CPU)
                        t0 = time.time()
                        if udpload:
                            got, lost, dt = load_c(udpload, laddr, lport, n_socks, window, size,
                                                   o.seconds, fresh=mode == "dns-ports")
                        else:
                            got, lost = load(laddr, lport, n_socks, window, size, o.seconds)
                            dt = time.time() - t0
                        b1 = cpu_busy(LOAD_CPU)
                        c1 = cpu_seconds(pids)
                        busy = (b1[0] - b0[0]) / max(1, b1[1] - b0[1])
                        if proc:
                            proc.terminate()
                            try:
                                proc.wait(timeout=5)
                            except subprocess.TimeoutExpired:
                                proc.kill()
                                proc.wait()
                        r = res.setdefault((mode, size, path), {"dps": [], "cpu_us": [],
                                                                "lost": [], "busy": [],
                                                                "quota": []})
                        r["busy"].append(busy)
                        r["quota"].append((c1 - c0) / (dt * o.share) if proc else 0.0)
                        r["dps"].append(got / dt)
                        r["cpu_us"].append((c1 - c0) * 1e6 / got if got and proc else 0.0)
                        r["lost"].append(lost)
                        log(f"{mode} {size}B {path}: {got / dt:.0f} round trips/s, "
                            f"{r['cpu_us'][-1]:.1f} us CPU each, {lost} resent, "
                            f"load CPU {busy:.0%} busy, quota {r['quota'][-1]:.0%} used")
        if o.latency:
            lat = latency(o, wd, port + 100, bport + 1)
    finally:
        with open(rmem_path, "w") as f:
            f.write(rmem_old)
        cg.remove()
        backend.kill()
        backend.wait()
        shutil.rmtree(wd, ignore_errors=True)
    for (mode, size, path), r in sorted(res.items()):
        med = statistics.median(r["dps"])
        ng = res.get((mode, size, "nginx"))
        line = {"bench": "udp_forwarder", "mode": mode, "size": size, "path": path,
                "share": o.share, "runs": o.runs, "seconds": o.seconds,
                "round_trips_per_s": round(med),
                "cpu_us_per_round_trip": round(statistics.median(r["cpu_us"]), 2),
                "resent": int(statistics.median(r["lost"])),
                "generator": o.generator, "rmem_default": o.rmem or int(rmem_old),
                "load_cpu_busy": round(statistics.median(r["busy"]), 2),
                "quota_used": round(statistics.median(r["quota"]), 2),
                "echo_cpu": o.echo_cpu,
                "vs_nginx": round(med / statistics.median(ng["dps"]), 2) if ng else None}
        print(json.dumps(line), flush=True)
    if o.latency:
        for path, (p50, p99) in lat.items():
            print(json.dumps({"bench": "udp_latency", "path": path,
                              "p50_us": p50, "p99_us": p99,
                              "added_p50_us": round(p50 - lat["direct"][0], 2),
                              "added_p99_us": round(p99 - lat["direct"][1], 2)}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
