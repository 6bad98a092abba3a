#!/usr/bin/env python3
"""lbfwd against HAProxy 2.6 and nginx stream, on loopback, in the same run.

Runs private foreground instances (never the system services), the proxy under test alone on
CPU 0 and the load generator and backend on CPU 1, one thread per proxy, alternating the
proxies run by run, and reports medians as JSON lines (stdout) and a table (stderr), with
ratios against HAProxy and against a direct connection. Method: doc/performance.md.

Measures, per path (direct, haproxy, haproxy-splice, nginx, lbfwd when built):
  new_conn_per_s   wrk -t1 -c64 -H 'Connection: close' against an nginx backend
  keepalive_req_per_s  the same with keep-alive
  throughput_gbps  iperf3, one stream, one backend
  latency_p50_us / latency_p99_us  sockperf ping-pong (one-way: half the round trip), and the
                   latency added over direct
  mem_per_conn_bytes  user-space RSS growth of the proxy per idle proxied connection, with
                   thousands held (an echo backend answers one byte on each to prove the path)
  hold             --hold connections (8000 by default: 16000 proxy sockets) held twice in
                   steps; the RSS at each step and after the second round (flat: no growth)

Benchmarks are not pass/fail; the script exits non-zero only when a measurement could not be
made (a tool failed, a proxy did not start, socket errors, a held connection failed).
"""
import argparse
import errno
import json
import os
import re
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PROXY_CPU, LOAD_CPU = 0, 1
NGINX_STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"
DEBIAN_PKGS = {"haproxy": "haproxy", "nginx": "nginx-light", "wrk": "wrk", "iperf3": "iperf3",
               "sockperf": "sockperf", "taskset": "util-linux"}
# lbfwd as the others run: no health checks and no access log (HAProxy and nginx have none)
DEFAULT_LBFWD_ARGS = "--check none --no-access-log"
ALL_PATHS = ["direct", "haproxy", "haproxy-splice", "nginx", "lbfwd", "lbfwd-copy", "lbfwd-alt"]
DEFAULT_PATHS = ALL_PATHS[:5]  # lbfwd-copy (lbfwd --no-splice) on request
MEASURES = ["new_conn", "keepalive", "throughput", "latency", "memory"]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


# ---- installation -------------------------------------------------------------------------

def ensure_tools():
    """Installs the Debian packages that are missing (apt-get only when one is)."""
    missing = [pkg for tool, pkg in DEBIAN_PKGS.items() if not shutil.which(tool)]
    if not os.path.exists(NGINX_STREAM_MODULE):
        missing.append("libnginx-mod-stream")
    if not missing:
        return
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    log(f"installing: {' '.join(missing)}")
    subprocess.run(sudo + ["apt-get", "update", "-qq"], env=env, check=True)
    subprocess.run(sudo + ["apt-get", "install", "-y", "-qq", "--no-install-recommends"]
                   + missing, env=env, check=True)


# ---- addresses: a fresh loopback address per instance, so TIME_WAIT never collides --------

class Addrs:
    def __init__(self, second_octet):
        self.octet = second_octet
        self.n = 0

    def next(self):
        self.n += 1
        return f"127.{self.octet}.{self.n // 250}.{self.n % 250 + 1}"


# ---- processes ----------------------------------------------------------------------------

def listening(addr, port):
    """True when a TCP socket listens on addr:port (read from /proc/net/tcp, no connection)."""
    want = "%08X:%04X" % (int.from_bytes(socket.inet_aton(addr), "little"), port)
    try:
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                parts = line.split()
                if parts[1] == want and parts[3] == "0A":
                    return True
    except OSError:
        pass
    return False


class Proc:
    """A private foreground process, in its own process group, stopped by its pid."""

    def __init__(self, argv, cpu, name, workdir, env=None):
        self.name = name
        self.out = open(os.path.join(workdir, f"{name}.log"), "ab")
        self.argv = pinned(cpu, argv)
        self.p = subprocess.Popen(self.argv, stdout=self.out, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, start_new_session=True,
                                  env=env, preexec_fn=_raise_nofile)
        self.pid = self.p.pid

    def wait_listen(self, addr, port, timeout=10.0):
        """Waits until addr:port listens; stops the process and raises when it does not."""
        try:
            self._wait_listen(addr, port, timeout)
        except BenchError:
            self.stop()
            raise

    def _wait_listen(self, addr, port, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.p.poll() is not None:
                raise BenchError(f"{self.name} exited with {self.p.returncode}: "
                                 f"{self.tail()}")
            if listening(addr, port):
                return
            time.sleep(0.02)
        raise BenchError(f"{self.name} does not listen on {addr}:{port}: {self.tail()}")

    def tail(self):
        if not self.out.closed:
            self.out.flush()
        try:
            with open(self.out.name, "rb") as f:
                return f.read()[-1500:].decode(errors="replace")
        except OSError:
            return ""

    def tree(self):
        """The pids of this process and its descendants (nginx: master and worker)."""
        pids = [self.pid]
        children = {}
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    with open(f"/proc/{d}/stat") as f:
                        ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                    children.setdefault(ppid, []).append(int(d))
                except (OSError, IndexError, ValueError):
                    pass
        i = 0
        while i < len(pids):
            pids += children.get(pids[i], [])
            i += 1
        return pids

    def cpu_seconds(self):
        tick = os.sysconf("SC_CLK_TCK")
        total = 0
        for pid in self.tree():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
            except (OSError, IndexError, ValueError):
                pass
        return total / tick

    def rss_bytes(self):
        total = 0
        for pid in self.tree():
            try:
                with open(f"/proc/{pid}/status") as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            total += int(line.split()[1]) * 1024
            except OSError:
                pass
        return total

    def stop(self):
        if self.p.poll() is None:
            try:
                os.killpg(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self.p.wait(timeout=5)
        else:
            # the leader exited: make sure nothing it started is left
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self.out.close()


def pinned(cpu, argv):
    return ["taskset", "-c", str(cpu)] + argv


def _raise_nofile():
    import resource
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def cpu_times():
    """Per-CPU jiffies from /proc/stat: (busy, total, softirq, steal)."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            m = re.match(r"cpu(\d+) (.*)", line)
            if m:
                v = [int(x) for x in m.group(2).split()][:8]
                idle = v[3] + v[4]
                out[int(m.group(1))] = (sum(v) - idle, sum(v), v[6], v[7])
    return out


def cpu_busy(before, after, cpu, field=0):
    """The share of CPU `cpu` that was busy (field 0), in softirq (2) or stolen (3)."""
    a, b = before.get(cpu), after.get(cpu)
    if not a or not b or b[1] <= a[1]:
        return None
    return round((b[field] - a[field]) / (b[1] - a[1]), 3)


# ---- backends -----------------------------------------------------------------------------

def start_http_backend(wd, addr, port):
    d = os.path.join(wd, f"nginx-backend-{addr}")
    os.makedirs(d, exist_ok=True)
    conf = os.path.join(d, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""daemon off;
worker_processes 1;
worker_rlimit_nofile 20000;
error_log stderr warn;
pid {d}/nginx.pid;
events {{ worker_connections 19000; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    keepalive_requests 10000000;
    keepalive_timeout 120s;
    server {{
        listen {addr}:{port} backlog=4096;
        location / {{ return 200 "hello from the backend\\n"; }}
    }}
}}
""")
    p = Proc(["nginx", "-p", d, "-c", conf], LOAD_CPU, f"backend-http-{addr}", wd)
    p.wait_listen(addr, port)
    return p


def start_iperf_backend(wd, addr, port):
    p = Proc(["iperf3", "-s", "-B", addr, "-p", str(port)], LOAD_CPU, f"backend-iperf-{addr}",
             wd)
    p.wait_listen(addr, port)
    return p


def start_sockperf_backend(wd, addr, port):
    p = Proc(["sockperf", "server", "--tcp", "-i", addr, "-p", str(port)], LOAD_CPU,
             f"backend-sockperf-{addr}", wd)
    p.wait_listen(addr, port)
    return p


def start_echo_backend(wd, addr, port):
    p = Proc([sys.executable, os.path.abspath(__file__), "--echo-server", f"{addr}:{port}"],
             LOAD_CPU, f"backend-echo-{addr}", wd)
    p.wait_listen(addr, port)
    return p


def echo_server(spec):
    """An epoll echo server holding any number of connections (the memory backend)."""
    _raise_nofile()
    addr, port = spec.rsplit(":", 1)
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, int(port)))
    ls.listen(4096)
    ls.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(ls, selectors.EVENT_READ, None)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        for key, _ in sel.select():
            if key.data is None:
                while True:
                    try:
                        c, _ = ls.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError as e:
                        if e.errno in (errno.EMFILE, errno.ENFILE):
                            break
                        raise
                    c.setblocking(False)
                    sel.register(c, selectors.EVENT_READ, 1)
            else:
                c = key.fileobj
                try:
                    data = c.recv(4096)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if data:
                    try:
                        c.send(data)
                    except OSError:
                        pass
                else:
                    sel.unregister(c)
                    c.close()


# ---- proxies ------------------------------------------------------------------------------

def start_proxy(kind, wd, listen, backend, opts, timeout=10.0):
    """Starts one proxy (one thread) on CPU 0 listening on listen=(addr, port), forwarding to
    backend=(addr, port). Returns the Proc, or None for 'direct'."""
    la, lp = listen
    ba, bp = backend
    d = os.path.join(wd, f"{kind}-{la}")
    os.makedirs(d, exist_ok=True)
    if kind in ("haproxy", "haproxy-splice"):
        cfg = os.path.join(d, "haproxy.cfg")
        # the same connection limit for both; splice needs pipes (2 fds each), so their
        # number is bounded to stay within the 20000 fd limit with 8000 connections held
        splice = "    option splice-auto\n" if kind == "haproxy-splice" else ""
        # the two packet savings lbfwd makes by default (smart_accept, smart_connect):
        # HAProxy turns them on by itself only in HTTP mode
        smart = "    option tcp-smart-accept\n    option tcp-smart-connect\n"
        pipes = "    maxpipes 800\n" if kind == "haproxy-splice" else ""
        with open(cfg, "w") as f:
            f.write(f"""global
    nbthread 1
    maxconn 8500
{pipes}defaults
    mode tcp
    timeout connect 5s
    timeout client 10m
    timeout server 10m
listen fwd
    bind {la}:{lp}
{smart}{splice}    server b1 {ba}:{bp}
""")
        argv = ["haproxy", "-db", "-f", cfg]
    elif kind == "nginx":
        cfg = os.path.join(d, "nginx.conf")
        with open(cfg, "w") as f:
            f.write(f"""load_module {NGINX_STREAM_MODULE};
daemon off;
worker_processes 1;
worker_rlimit_nofile 20000;
error_log stderr warn;
pid {d}/nginx.pid;
events {{ worker_connections 19000; }}
stream {{
    upstream b {{ server {ba}:{bp}; }}
    server {{
        listen {la}:{lp} backlog=4096;
        proxy_pass b;
        proxy_timeout 10m;
    }}
}}
""")
        argv = ["nginx", "-p", d, "-c", cfg]
    elif kind in ("lbfwd", "lbfwd-copy", "lbfwd-alt"):
        argv = [opts.lbfwd_alt if kind == "lbfwd-alt" else opts.lbfwd, "--listen", f"{la}:{lp}", "--target", f"b1={ba}:{bp}",
                "--workers", "1"] + opts.lbfwd_args.split()
        if kind == "lbfwd-copy":
            argv.append("--no-splice")
    else:
        raise BenchError(f"unknown proxy {kind}")
    p = Proc(argv, PROXY_CPU, f"proxy-{kind}-{la}", wd)
    p.wait_listen(la, lp, timeout)
    return p


# ---- load generators ----------------------------------------------------------------------

def run_load(argv, timeout):
    r = subprocess.run(pinned(LOAD_CPU, argv), capture_output=True,
                       text=True, timeout=timeout)
    if r.returncode != 0:
        raise BenchError(f"{argv[0]} failed ({r.returncode}): {r.stderr[-800:]}"
                         f"{r.stdout[-800:]}")
    return r.stdout


def wrk(addr, port, seconds, close):
    argv = ["wrk", "-t1", "-c64", f"-d{seconds}s", "--timeout", "5s"]
    if close:
        argv += ["-H", "Connection: close"]
    out = run_load(argv + [f"http://{addr}:{port}/"], seconds + 30)
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not m:
        raise BenchError(f"wrk: no result: {out[-800:]}")
    errs = 0
    m2 = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m2:
        errs = sum(int(x) for x in m2.groups())
        # with Connection: close, wrk counts the server's orderly close after the response as
        # a read error on some versions; only connect/write/timeout errors are real failures
        if close:
            errs = int(m2.group(1)) + int(m2.group(3)) + int(m2.group(4))
    m3 = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m3:
        errs += int(m3.group(1))
    return float(m.group(1)), errs


def iperf(addr, port, seconds):
    out = run_load(["iperf3", "-c", addr, "-p", str(port), "-t", str(seconds), "-J"],
                   seconds + 30)
    j = json.loads(out)
    return j["end"]["sum_received"]["bits_per_second"] / 1e9


def sockperf(addr, port, seconds, tcp=True):
    out = run_load(["sockperf", "ping-pong"] + (["--tcp"] if tcp else []) +
                   ["-i", addr, "-p", str(port), "-t", str(seconds)], seconds + 30)
    p = {}
    for m in re.finditer(r"percentile\s+([\d.]+)\s*=\s*([\d.]+)", out):
        p[float(m.group(1))] = float(m.group(2))
    if 50.0 not in p or 99.0 not in p:
        raise BenchError(f"sockperf: no percentiles: {out[-800:]}")
    return p[50.0], p[99.0]


# ---- the idle-connection holder -----------------------------------------------------------

class Holder:
    """Opens connections in batches; each sends one byte and waits for its echo, so every held
    connection is known to reach the backend through the proxy."""

    def __init__(self, addr, port):
        self.addr, self.port = addr, port
        self.socks = []
        _raise_nofile()

    def grow_to(self, n, batch=250, timeout=20.0):
        while len(self.socks) < n:
            k = min(batch, n - len(self.socks))
            self._batch(k, timeout)

    def _batch(self, k, timeout):
        sel = selectors.DefaultSelector()
        pending = {}
        for _ in range(k):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            rc = s.connect_ex((self.addr, self.port))
            if rc not in (0, errno.EINPROGRESS):
                s.close()
                raise BenchError(f"holder: connect: {os.strerror(rc)}")
            pending[s.fileno()] = s
            sel.register(s, selectors.EVENT_WRITE, "w")
        end = time.monotonic() + timeout
        while pending:
            left = end - time.monotonic()
            if left <= 0:
                break
            for key, ev in sel.select(min(left, 1.0)):
                s = key.fileobj
                if key.data == "w":
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        raise BenchError(f"holder: connect: {os.strerror(err)}")
                    s.send(b"x")
                    sel.modify(s, selectors.EVENT_READ, "r")
                else:
                    data = s.recv(16)
                    if data != b"x":
                        raise BenchError(f"holder: no echo through the proxy ({data!r})")
                    sel.unregister(s)
                    del pending[s.fileno()]
                    self.socks.append(s)
        sel.close()
        if pending:
            for s in pending.values():
                s.close()
            raise BenchError(f"holder: {len(pending)} connections got no echo in {timeout}s "
                             f"(held {len(self.socks)})")

    def close_all(self):
        for s in self.socks:
            s.close()
        self.socks = []


def settle_rss(proc, pause=0.5):
    time.sleep(pause)
    return proc.rss_bytes()


# ---- measurements -------------------------------------------------------------------------

class Bench:
    def __init__(self, opts):
        self.o = opts
        self.wd = tempfile.mkdtemp(prefix="lbfwd-bench-")
        self.proxy_addrs = Addrs(77)
        self.backend_addrs = Addrs(78)
        self.samples = {}  # (measure, path) -> list of dicts
        self.cur_run = 0
        self.failures = []
        self.port = 20000 + os.getpid() % 20000

    def next_port(self):
        self.port += 1
        return self.port

    def add(self, measure, path, **vals):
        self.samples.setdefault((measure, path), []).append(dict(vals, run=self.cur_run))

    def with_path(self, path, backend, fn):
        """Runs fn(addr, port, proc) through path (proc None for direct)."""
        if path == "direct":
            return fn(backend[0], backend[1], None)
        listen = (self.proxy_addrs.next(), self.next_port())
        proc = start_proxy(path, self.wd, listen, backend, self.o)
        try:
            return fn(listen[0], listen[1], proc)
        finally:
            proc.stop()

    def timed(self, proc, fn):
        """Runs fn(), returns (result, proxy CPU share, cpu0 busy, cpu1 busy); records the
        softirq and steal shares of CPU 0 in self.last_cpu0."""
        c0, t0 = (proc.cpu_seconds() if proc else 0.0), time.monotonic()
        s0 = cpu_times()
        res = fn()
        s1 = cpu_times()
        dt = time.monotonic() - t0
        pcpu = round((proc.cpu_seconds() - c0) / dt, 3) if proc else None
        self.last_cpu0 = {"softirq": cpu_busy(s0, s1, PROXY_CPU, 2),
                          "steal": cpu_busy(s0, s1, PROXY_CPU, 3)}
        return res, pcpu, cpu_busy(s0, s1, PROXY_CPU), cpu_busy(s0, s1, LOAD_CPU)

    def m_wrk(self, path, run, close):
        measure = "new_conn" if close else "keepalive"
        ba = (self.backend_addrs.next(), self.next_port())
        be = start_http_backend(self.wd, *ba)
        try:
            def body(addr, port, proc):
                (rps, errs), pcpu, c0, c1 = self.timed(
                    proc, lambda: wrk(addr, port, self.o.duration, close))
                self.add(measure, path, value=rps, errors=errs, proxy_cpu=pcpu, cpu0=c0,
                         cpu1=c1, **self.last_cpu0)
                if errs:
                    self.failures.append(f"{measure} {path} run {run}: {errs} socket errors")
            self.with_path(path, ba, body)
        finally:
            be.stop()

    def m_throughput(self, path, run):
        ba = (self.backend_addrs.next(), self.next_port())
        be = start_iperf_backend(self.wd, *ba)
        try:
            def body(addr, port, proc):
                gbps, pcpu, c0, c1 = self.timed(proc,
                                                lambda: iperf(addr, port, self.o.duration))
                self.add("throughput", path, value=gbps, proxy_cpu=pcpu, cpu0=c0, cpu1=c1,
                         **self.last_cpu0)
            self.with_path(path, ba, body)
        finally:
            be.stop()

    def m_latency(self, path, run):
        ba = (self.backend_addrs.next(), self.next_port())
        be = start_sockperf_backend(self.wd, *ba)
        try:
            def body(addr, port, proc):
                (p50, p99), pcpu, c0, c1 = self.timed(
                    proc, lambda: sockperf(addr, port, self.o.duration))
                self.add("latency", path, p50=p50, p99=p99, proxy_cpu=pcpu, cpu0=c0, cpu1=c1,
                         **self.last_cpu0)
            self.with_path(path, ba, body)
        finally:
            be.stop()

    def m_memory(self, path, run):
        if path == "direct":
            return
        ba = (self.backend_addrs.next(), self.next_port())
        be = start_echo_backend(self.wd, *ba)
        try:
            def body(addr, port, proc):
                h = Holder(addr, port)
                try:
                    h.grow_to(1)  # lazy start-up allocations happen before the baseline
                    h.close_all()
                    base = settle_rss(proc)
                    steps = [self.o.hold * i // 4 for i in range(1, 5)]
                    rss = []
                    for n in steps:
                        h.grow_to(n)
                        rss.append(settle_rss(proc))
                    h.close_all()
                    after_close = settle_rss(proc, 1.0)
                    h.grow_to(self.o.hold)
                    second = settle_rss(proc)
                    h.close_all()
                finally:
                    h.close_all()
                per_conn = (rss[-1] - base) / self.o.hold
                # flat: each quarter costs about the same, and a second round reuses the first
                # round's memory instead of growing
                incs = [(rss[0] - base)] + [rss[i] - rss[i - 1] for i in range(1, len(rss))]
                self.add("memory", path, per_conn=per_conn, base_rss=base, step_conns=steps,
                         step_rss=rss, after_close_rss=after_close, second_round_rss=second,
                         second_over_first=round(second / rss[-1], 4),
                         step_increments=incs)
            self.with_path(path, ba, body)
        finally:
            be.stop()

    def run(self):
        paths = self.o.paths
        for run in range(self.o.runs):
            self.cur_run = run
            # alternate: rotate the order of the paths each run
            order = paths[run % len(paths):] + paths[:run % len(paths)]
            for measure in self.o.measures:
                for path in order:
                    if measure == "memory" and run >= self.o.memory_runs:
                        continue
                    log(f"run {run + 1}/{self.o.runs}: {measure} via {path}")
                    try:
                        if measure in ("new_conn", "keepalive"):
                            self.m_wrk(path, run, measure == "new_conn")
                        elif measure == "throughput":
                            self.m_throughput(path, run)
                        elif measure == "latency":
                            self.m_latency(path, run)
                        elif measure == "memory":
                            self.m_memory(path, run)
                    except (BenchError, subprocess.SubprocessError, OSError,
                            json.JSONDecodeError, KeyError) as e:
                        self.failures.append(f"{measure} {path} run {run + 1}: {e}")
                        log(f"  FAILED: {e}")

    # ---- reporting ----

    def results(self):
        """One dict per (measure, path) with medians and ratios."""
        med = {}
        rows = []

        def core_share(x):
            # The proxy's share of CPU 0: the smaller of two upper bounds. CPU 0's busy share
            # counts everything on that core (only the proxy and the kernel's work for its
            # packets, on a quiet machine; other work too, on a shared one); the proxy's own
            # time plus CPU 0's softirq share counts the softirq ticks that land in the
            # proxy's own context twice (tick-based accounting charges them to both).
            if not x.get("proxy_cpu"):
                return None
            return min(x["cpu0"], x["proxy_cpu"] + (x.get("softirq") or 0)) or None

        def median_of(measure, path, key):
            s = self.samples.get((measure, path))
            return statistics.median(x[key] for x in s) if s else None

        metrics = [("new_conn", "value", "new_conn_per_s", "1/s", True),
                   ("keepalive", "value", "keepalive_req_per_s", "1/s", True),
                   ("throughput", "value", "throughput_gbps", "Gbit/s", True),
                   ("latency", "p50", "latency_p50_us", "us", False),
                   ("latency", "p99", "latency_p99_us", "us", False),
                   ("memory", "per_conn", "mem_per_conn_bytes", "B", False)]
        for measure, key, name, unit, _ in metrics:
            for path in self.o.paths:
                med[(name, path)] = median_of(measure, path, key)
                s = self.samples.get((measure, path)) or []
                eff = {x["run"]: x[key] / core_share(x) for x in s if core_share(x)}
                if eff:
                    med[(name + "_per_core", path)] = statistics.median(eff.values())
                    med[(name + "_per_core_by_run", path)] = eff
        for measure, key, name, unit, higher in metrics:
            for path in self.o.paths:
                v = med[(name, path)]
                if v is None:
                    continue
                s = self.samples[(measure, path)]
                row = {"bench": "forwarder", "metric": name, "path": path, "unit": unit,
                       "median": round(v, 3), "runs": [round(x[key], 3) for x in s]}
                if measure in ("new_conn", "keepalive", "throughput") and path != "direct":
                    for base in ("haproxy", "haproxy-splice"):
                        pr = paired_ratio(self.by_run(measure, path, key),
                                          [self.by_run(measure, base, key)])
                        if pr is not None and path != base:
                            row[f"paired_vs_{base}"] = round(pr, 3)
                    # what the proxy would do with a whole core: the rate divided by the share
                    # of CPU 0 it used (core_share: its own time and the kernel's softirq work
                    # for its packets); meaningful even when the run was bounded by CPU 1 or
                    # by other work on the machine
                    if med.get((name + "_per_core", path)):
                        row["per_proxy_core"] = round(med[(name + "_per_core", path)], 3)
                        row["per_proxy_core_runs"] = [
                            round(e, 3) for e in med[(name + "_per_core_by_run", path)].values()]
                        for base in ("haproxy", "haproxy-splice"):
                            b = med.get((name + "_per_core", base))
                            if b:
                                row[f"per_core_vs_{base}"] = round(row["per_proxy_core"] / b, 3)
                if measure != "memory":
                    pc = [x["proxy_cpu"] for x in s if x.get("proxy_cpu") is not None]
                    row["proxy_cpu"] = round(statistics.median(pc), 3) if pc else None
                    row["cpu0_busy"] = statistics.median(x["cpu0"] for x in s)
                    row["cpu1_busy"] = statistics.median(x["cpu1"] for x in s)
                    row["cpu0_softirq"] = statistics.median(x["softirq"] for x in s)
                    row["cpu0_steal"] = statistics.median(x["steal"] for x in s)
                for base in ("haproxy", "haproxy-splice", "direct"):
                    b = med.get((name, base))
                    if b:
                        row[f"vs_{base}"] = round(v / b, 3)
                if measure == "latency" and path != "direct" and med.get((name, "direct")):
                    added = v - med[(name, "direct")]
                    row["added_us"] = round(added, 3)
                    for base in ("haproxy", "haproxy-splice"):
                        b = med.get((name, base))
                        if b is not None:
                            row[f"added_vs_{base}"] = round(added / (b - med[(name, "direct")]),
                                                            3)
                if measure == "memory":
                    last = s[-1]
                    row.update({k: last[k] for k in ("base_rss", "step_conns", "step_rss",
                                                     "after_close_rss", "second_round_rss",
                                                     "second_over_first", "step_increments")})
                rows.append(row)
        return rows, med

    def by_run(self, measure, path, key):
        return {x["run"]: x[key] for x in self.samples.get((measure, path)) or []}

    def targets(self, med):
        """The issue's targets for lbfwd, each against the better HAProxy variant."""
        if "lbfwd" not in self.o.paths:
            return []
        out = []

        def best(name, higher):
            vals = [med.get((name, h)) for h in ("haproxy", "haproxy-splice")]
            vals = [v for v in vals if v is not None]
            if not vals:
                return None
            return max(vals) if higher else min(vals)

        def check(name, what, ok, value, ref):
            out.append({"target": name, "check": what, "value": value, "reference": ref,
                        "pass": ok})

        lb = med.get(("new_conn_per_s", "lbfwd"))
        ref = best("new_conn_per_s", True)
        if lb and ref:
            check("new_conn", ">= 1.15 x best HAProxy", lb >= 1.15 * ref, round(lb / ref, 3),
                  1.15)
        hap = ("haproxy", "haproxy-splice")
        pr = paired_ratio(self.by_run("new_conn", "lbfwd", "value"),
                          [self.by_run("new_conn", h, "value") for h in hap])
        if pr is not None:
            check("new_conn_paired", ">= 1.15 x the better HAProxy of the same run (median of "
                  "per-run ratios)", pr >= 1.15, round(pr, 3), 1.15)
        pr = paired_ratio(med.get(("new_conn_per_s_per_core_by_run", "lbfwd")) or {},
                          [med.get(("new_conn_per_s_per_core_by_run", h)) or {} for h in hap])
        if pr is not None:
            check("new_conn_per_core_paired", ">= 1.15 x the better HAProxy of the same run, "
                  "per core of the proxy", pr >= 1.15, round(pr, 3), 1.15)
        lb = med.get(("new_conn_per_s_per_core", "lbfwd"))
        ref = best("new_conn_per_s_per_core", True)
        if lb and ref:
            check("new_conn_per_core", ">= 1.15 x best HAProxy, per core of the proxy",
                  lb >= 1.15 * ref, round(lb / ref, 3), 1.15)
        lb = med.get(("throughput_gbps", "lbfwd"))
        ref = med.get(("throughput_gbps", "haproxy-splice"))
        if lb and ref:
            check("throughput", ">= HAProxy with splice", lb >= ref, round(lb / ref, 3), 1.0)
        d = med.get(("latency_p99_us", "direct"))
        lb = med.get(("latency_p99_us", "lbfwd"))
        ref = best("latency_p99_us", False)
        if lb is not None and ref is not None and d is not None:
            check("p99_added_latency", "<= best HAProxy", lb - d <= ref - d,
                  round(lb - d, 2), round(ref - d, 2))
        lb = med.get(("mem_per_conn_bytes", "lbfwd"))
        if lb is not None:
            check("mem_per_conn", "<= 2048 B", lb <= 2048, round(lb), 2048)
        s = self.samples.get(("memory", "lbfwd"))
        if s:
            flat = all(x["second_over_first"] <= 1.05 for x in s)
            check("hold", f"{self.o.hold} held, second round within 5 % of the first", flat,
                  max(x["second_over_first"] for x in s), 1.05)
        return out


def paired_ratio(values, bases):
    """Median over runs of values[run] / the best of bases[i][run], both {run: value}: each run
    against the baselines measured in the same run (alternated), since the machine's speed
    drifts between runs by more than the differences between proxies."""
    r = [v / max(b[k] for b in bases if k in b) for k, v in values.items()
         if any(b.get(k) for b in bases)]
    return statistics.median(r) if r else None


def fmt(v, unit):
    if v is None:
        return "-"
    if unit == "1/s":
        return f"{v / 1000:.1f} k"
    if unit == "Gbit/s":
        return f"{v:.1f}"
    if unit == "us":
        return f"{v:.1f}"
    if unit == "B":
        return f"{v:.0f}"
    return str(v)


def table(rows, paths):
    by = {(r["metric"], r["path"]): r for r in rows}
    metrics = [("new_conn_per_s", "new conn/s", "1/s"),
               ("keepalive_req_per_s", "keep-alive req/s", "1/s"),
               ("throughput_gbps", "1 stream Gbit/s", "Gbit/s"),
               ("latency_p50_us", "p50 one-way us", "us"),
               ("latency_p99_us", "p99 one-way us", "us"),
               ("mem_per_conn_bytes", "B/idle conn", "B")]
    per_core = [("new_conn_per_s", "new conn/s per proxy core", "1/s"),
                ("keepalive_req_per_s", "keep-alive req/s per proxy core", "1/s"),
                ("throughput_gbps", "Gbit/s per proxy core", "Gbit/s")]
    lines = ["| metric | " + " | ".join(paths) + " |",
             "| --- | " + " | ".join("---" for _ in paths) + " |"]
    for name, label, unit in metrics:
        cells = []
        for p in paths:
            r = by.get((name, p))
            if not r:
                cells.append("-")
                continue
            c = fmt(r["median"], unit)
            if p not in ("direct", "haproxy") and "vs_haproxy" in r:
                c += f" ({r['vs_haproxy']:.2f}x)"
            if unit == "us" and "added_us" in r:
                c += f" [+{r['added_us']:.1f}]"
            cells.append(c)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    for name, label, unit in per_core:
        cells = []
        for p in paths:
            r = by.get((name, p))
            if not r or "per_proxy_core" not in r:
                cells.append("-")
                continue
            c = fmt(r["per_proxy_core"], unit)
            if p != "haproxy" and "per_core_vs_haproxy" in r:
                c += f" ({r['per_core_vs_haproxy']:.2f}x)"
            cells.append(c)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def find_lbfwd():
    for d in ("build", "build-ci", "build-release"):
        p = os.path.join(ROOT, d, "examples", "lbfwd", "lbfwd")
        if os.access(p, os.X_OK):
            return p
    return None


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="everything once, briefly (a smoke test): 1 run of 1 s, 400 held")
    ap.add_argument("--runs", type=int, default=5, help="runs per path (default 5)")
    ap.add_argument("--duration", type=int, default=5, help="seconds per measurement")
    ap.add_argument("--hold", type=int, default=8000,
                    help="idle proxied connections held for the memory test (default 8000)")
    ap.add_argument("--memory-runs", type=int, default=1,
                    help="runs of the memory test per path (default 1)")
    ap.add_argument("--paths", default=None,
                    help="comma-separated subset of " + ",".join(ALL_PATHS))
    ap.add_argument("--measures", default=",".join(MEASURES),
                    help="comma-separated subset of " + ",".join(MEASURES))
    ap.add_argument("--lbfwd", default=None, help="the lbfwd binary (default: build/...)")
    ap.add_argument("--lbfwd-alt", default=None,
                    help="a second lbfwd binary, run as path lbfwd-alt (old against new)")
    ap.add_argument("--lbfwd-args", default=DEFAULT_LBFWD_ARGS,
                    help="extra lbfwd flags (default: %(default)s)")
    ap.add_argument("--nice", type=int, default=-10 if os.geteuid() == 0 else 0,
                    help="nice level of every benchmark process, the same for all, to shield "
                    "them from other work on a shared machine (default -10 as root, else 0)")
    ap.add_argument("--json-out", default=None, help="also write the JSON lines here")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    ap.add_argument("--echo-server", help=argparse.SUPPRESS)
    o = ap.parse_args(argv)
    if o.echo_server:
        echo_server(o.echo_server)
        return 0
    if o.quick:
        o.runs, o.duration, o.hold = 1, 1, 400
    if os.cpu_count() < 2:
        log("needs 2 CPUs (proxy on CPU 0, load and backend on CPU 1)")
        return 2
    ensure_tools()
    o.lbfwd = o.lbfwd or find_lbfwd()
    if o.paths:
        o.paths = o.paths.split(",")
        bad = [p for p in o.paths if p not in ALL_PATHS]
        if bad:
            ap.error(f"unknown path {bad}")
    else:
        o.paths = [p for p in DEFAULT_PATHS if p != "lbfwd" or o.lbfwd]
    wants_lbfwd = any(p.startswith("lbfwd") for p in o.paths)
    if wants_lbfwd and not (o.lbfwd and os.access(o.lbfwd, os.X_OK)):
        ap.error(f"lbfwd not found ({o.lbfwd or 'build/examples/lbfwd/lbfwd'}): build it "
                 "(meson compile -C build) or give --lbfwd")
    if o.nice:
        # every process of the benchmark (this one, which runs the holder client, and the
        # proxies, load generators and backends it starts) inherits the same nice level
        os.setpriority(os.PRIO_PROCESS, 0, o.nice)
    o.measures = o.measures.split(",")
    if any(m not in MEASURES for m in o.measures):
        ap.error("unknown measure")
    # this script, its load generators and its backends run on CPU 1
    os.sched_setaffinity(0, {LOAD_CPU})
    _raise_nofile()
    b = Bench(o)
    log(f"work directory {b.wd}; paths {','.join(o.paths)}; {o.runs} run(s) of {o.duration} s")
    try:
        b.run()
    finally:
        if not o.keep:
            shutil.rmtree(b.wd, ignore_errors=True)
    rows, med = b.results()
    tg = b.targets(med)
    out = [json.dumps(r) for r in rows] + [json.dumps(t) for t in tg]
    for line in out:
        print(line, flush=True)
    if o.json_out:
        with open(o.json_out, "w") as f:
            f.write("\n".join(out) + "\n")
    log("")
    log(f"medians of {o.runs} run(s) x {o.duration} s; (x): against haproxy (1 thread, no "
        "splice); [+us]: added over direct")
    log(table(rows, o.paths))
    for t in tg:
        log(f"target {t['target']} ({t['check']}): {t['value']} vs {t['reference']}: "
            f"{'PASS' if t['pass'] else 'MISS'}")
    notes = []
    for r in rows:
        if r.get("proxy_cpu") is not None and r["metric"] in ("new_conn_per_s",
                                                               "keepalive_req_per_s",
                                                               "throughput_gbps"):
            others = ((r.get("cpu0_busy") or 0) - r["proxy_cpu"] - (r.get("cpu0_softirq") or 0))
            if others > 0.25:
                notes.append(f"{r['metric']} via {r['path']}: on CPU 0 the proxy used "
                             f"{r['proxy_cpu']:.0%}, softirq {r['cpu0_softirq']:.0%}, other "
                             f"work {others:.0%} (stolen by the host: {r['cpu0_steal']:.0%}): "
                             "contended")
            elif r["proxy_cpu"] < 0.85 and (r.get("cpu1_busy") or 0) > 0.95:
                notes.append(f"{r['metric']} via {r['path']}: the proxy used "
                             f"{r['proxy_cpu']:.0%} of its core while CPU 1 was "
                             f"{r['cpu1_busy']:.0%} busy: bounded by the load generator")
    for n in notes:
        log("note: " + n)
    if b.failures:
        log("failures:")
        for f in b.failures:
            log("  " + f)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
