#!/usr/bin/env python3
"""Scale-out behind ECMP: two lbfwd instances with the same configuration and no shared state.

Builds, in network namespaces of its own (unique names, removed in every case), this network:

    client ns (10.200.1.0/24, 40 client addresses)
        |
    router ns: VIP 10.200.100.1/32 nexthop via fwd A, nexthop via fwd B
               (fib_multipath_hash_policy=3, fib_multipath_hash_fields=0x0037: the 5-tuple)
      |                     |
    fwd A ns              fwd B ns        each: VIP on lo, lbfwd on VIP:80 (Maglev on the
      |                     |             5-tuple) and VIP:81 (--affinity source), same
      +---- backend ns -----+             targets, same seed, its own access log
            (be-alpha, be-bravo, be-charlie: each answers its name, then echoes)

and checks:
  0. Both instances publish the same Maglev table digest (lbfwd_table_info in /metrics, read
     from each instance's admin API on its own namespace's loopback).
  1. ECMP really spreads: for each of 400 connections, the router's own FIB lookup of its
     5-tuple names the instance whose access log has the connection; each instance gets at
     least 20 % of them; all three targets are used.
  2. Same 5-tuple, same target on both instances: every tuple of step 1 is sent again, with
     the same source address and port, through the other instance (the route pinned to it);
     both instances' logs and the backends' answers name the same target for every tuple.
  3. With --affinity source, every client address reaches one target whichever instance
     serves it; after instance B is removed from the route, new connections from the same
     addresses reach the same targets through A; and a connection that was established
     through B is lost (reset) once the network sends its packets to A.

Needs root (namespaces), `ip` and `sysctl`; every address is inside the test's namespaces.
Finds lbfwd at $LB_BUILD_ROOT/examples/lbfwd/lbfwd (or --lbfwd PATH).
"""
import argparse
import json
import os
import random
import re
import selectors
import signal
import socket
import struct
import subprocess
import sys
import time

VIP = "10.200.100.1"
PORT_TUPLE, PORT_SOURCE = 80, 81
CLIENTS = [f"10.200.1.{i}" for i in range(10, 50)]
BACKENDS = {"be-alpha": "10.200.10.1", "be-bravo": "10.200.10.2", "be-charlie": "10.200.10.3"}
BACKEND_PORT = 8000
ADMIN_BASE = 9000  # each instance's admin API on its own namespace's loopback, 9000 + port
SEED = "20261130"
DEADLINE_S = 150  # the whole test, set-up and clean-up included (meson's timeout is larger)


class Fail(Exception):
    pass


T0 = time.monotonic()


def check(cond, msg):
    if not cond:
        raise Fail(msg)
    print(f"ok ({time.monotonic() - T0:.1f} s): {msg}", flush=True)


def sh(*argv, ns=None, check_rc=True, timeout=20, input=None):
    cmd = list(argv)
    if ns:
        cmd = ["ip", "netns", "exec", ns] + cmd
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=input)
    if check_rc and r.returncode != 0:
        raise Fail(f"{' '.join(cmd)}: exit {r.returncode}: {r.stderr.strip()}")
    return r.stdout


# ---- helpers run inside the namespaces (this file, in another mode) ------------------------

def serve_backends(specs, with_peer=False):
    """Backend namespace: each listener answers its name and a newline, then echoes. With
    with_peer, the name is followed by a space and the connection's source address (the
    forwarder it came through: tests/fleet)."""
    sel = selectors.DefaultSelector()
    for spec in specs:
        name, addr = spec.split("=")
        host, port = addr.rsplit(":", 1)
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((host, int(port)))
        ls.listen(1024)
        ls.setblocking(False)
        sel.register(ls, selectors.EVENT_READ, ("listen", name))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("ready", flush=True)
    while True:
        for key, _ in sel.select():
            kind, name = key.data
            if kind == "listen":
                try:
                    c, peer = key.fileobj.accept()
                except OSError:
                    continue
                c.setblocking(False)
                try:
                    c.send((f"{name} {peer[0]}" if with_peer else name).encode() + b"\n")
                except OSError:
                    c.close()
                    continue
                sel.register(c, selectors.EVENT_READ, ("conn", name))
            else:
                c = key.fileobj
                try:
                    data = c.recv(4096)
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


def read_line(s, timeout):
    s.settimeout(timeout)
    buf = b""
    while not buf.endswith(b"\n"):
        d = s.recv(256)
        if not d:
            break
        buf += d
    return buf.decode(errors="replace").strip()


def run_clients(spec):
    """Client namespace: connects each (src, sport, port) and reports the target's name.

    sport 0 lets the kernel choose. Each connection is closed with a reset (SO_LINGER 0), so
    no TIME_WAIT is left and the same 5-tuple can be used again at once."""
    out = []
    for src, sport, port in spec["conns"]:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        res = {"src": src, "port": port}
        try:
            s.bind((src, sport))
            s.settimeout(5)
            s.connect((VIP, port))
            res["sport"] = s.getsockname()[1]
            res["target"] = read_line(s, 5)
        except OSError as e:
            res["sport"] = sport
            res["error"] = f"{type(e).__name__}: {e}"
        finally:
            s.close()
        out.append(res)
    json.dump(out, sys.stdout)


def hold_clients(spec):
    """Client namespace: opens connections and keeps them until told (a line on stdin), then
    sends one line on each and reports whether it was echoed or the connection was lost."""
    socks = []
    opened = []
    for src, sport, port in spec["conns"]:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((src, sport))
        s.settimeout(5)
        s.connect((VIP, port))
        opened.append({"src": src, "sport": s.getsockname()[1], "target": read_line(s, 5)})
        socks.append(s)
    print(json.dumps(opened), flush=True)
    sys.stdin.readline()
    result = []
    for s in socks:
        try:
            s.settimeout(3)
            s.send(b"still there?\n")
            line = read_line(s, 3)
            result.append("echoed" if line == "still there?" else f"lost (read {line!r})")
        except OSError as e:
            result.append(f"lost ({type(e).__name__})")
        s.close()
    print(json.dumps(result), flush=True)


# ---- the test ------------------------------------------------------------------------------

class Net:
    """The namespaces and processes of one test run; close() removes everything."""

    def __init__(self, lbfwd):
        tag = f"lbso{os.getpid() % 100000}{random.Random().randrange(1000):03d}"
        self.ns = {k: f"{tag}-{k}" for k in ("client", "router", "a", "b", "backend")}
        self.procs = []
        self.forwarders = []
        self.lbfwd = lbfwd
        self.logdir = f"/tmp/{tag}-logs"
        self.created = []

    def build(self):
        ns = self.ns
        os.makedirs(self.logdir, exist_ok=True)
        for n in ns.values():
            sh("ip", "netns", "add", n)
            self.created.append(n)
            sh("ip", "-n", n, "link", "set", "lo", "up")

        def veth(a, an, b, bn):
            sh("ip", "-n", ns[a], "link", "add", an, "type", "veth", "peer", "name", bn,
               "netns", ns[b])
            sh("ip", "-n", ns[a], "link", "set", an, "up")
            sh("ip", "-n", ns[b], "link", "set", bn, "up")

        def addr(n, a, dev):
            sh("ip", "-n", ns[n], "addr", "add", a, "dev", dev)

        veth("client", "c-r", "router", "r-c")
        veth("router", "r-a", "a", "a-r")
        veth("router", "r-b", "b", "b-r")
        veth("a", "a-k", "backend", "k-a")
        veth("b", "b-k", "backend", "k-b")
        addr("client", "10.200.1.1/24", "c-r")
        for c in CLIENTS:
            addr("client", f"{c}/24", "c-r")
        sh("ip", "-n", ns["client"], "route", "add", "default", "via", "10.200.1.254")
        addr("router", "10.200.1.254/24", "r-c")
        addr("router", "10.200.2.1/24", "r-a")
        addr("router", "10.200.3.1/24", "r-b")
        for n, i in (("a", 2), ("b", 3)):
            addr(n, f"10.200.{i}.2/24", f"{n}-r")
            addr(n, f"{VIP}/32", "lo")
            addr(n, f"10.200.{i + 2}.1/24", f"{n}-k")
            sh("ip", "-n", ns[n], "route", "add", "default", "via", f"10.200.{i}.1")
            sh("ip", "-n", ns[n], "route", "add", "10.200.10.0/24", "via", f"10.200.{i + 2}.2")
        addr("backend", "10.200.4.2/24", "k-a")
        addr("backend", "10.200.5.2/24", "k-b")
        for a in BACKENDS.values():
            addr("backend", f"{a}/32", "lo")
        sh("sysctl", "-q", "-w", "net.ipv4.ip_forward=1",
           "net.ipv4.fib_multipath_hash_policy=3", "net.ipv4.fib_multipath_hash_fields=0x0037",
           "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0",
           ns=ns["router"])
        self.route_both()

    def route_both(self):
        sh("ip", "-n", self.ns["router"], "route", "replace", f"{VIP}/32",
           "nexthop", "via", "10.200.2.2", "dev", "r-a",
           "nexthop", "via", "10.200.3.2", "dev", "r-b")

    def route_only(self, inst):
        gw, dev = {"a": ("10.200.2.2", "r-a"), "b": ("10.200.3.2", "r-b")}[inst]
        sh("ip", "-n", self.ns["router"], "route", "replace", f"{VIP}/32", "via", gw,
           "dev", dev)

    def spawn(self, ns, argv, name):
        out = open(os.path.join(self.logdir, f"{name}.out"), "w")
        p = subprocess.Popen(["ip", "netns", "exec", self.ns[ns]] + argv, stdout=out,
                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             start_new_session=True)
        p.logname = out.name
        self.procs.append((p, out))
        return p

    def wait_listen(self, ns, addrs, p, timeout=15):
        """Waits until every (addr, port) listens inside ns (read from ss, no connection)."""
        end = time.monotonic() + timeout
        want = {f"{a}:{port}" for a, port in addrs}
        while time.monotonic() < end:
            if p.poll() is not None:
                raise Fail(f"{p.args[4:]} exited with {p.returncode}: {tail(p.logname)}")
            got = set(sh("ss", "-Hltn", ns=self.ns[ns]).split())
            if want <= got:
                return
            time.sleep(0.05)
        raise Fail(f"{p.args[4:]} does not listen on {sorted(want)}: {tail(p.logname)}")

    def start(self):
        be = self.spawn("backend", [sys.executable, os.path.abspath(__file__), "--backends"] +
                        [f"{n}={a}:{BACKEND_PORT}" for n, a in BACKENDS.items()], "backends")
        self.wait_listen("backend", [(a, BACKEND_PORT) for a in BACKENDS.values()], be)
        targets = []
        for n, a in BACKENDS.items():
            targets += ["--target", f"{n}={a}:{BACKEND_PORT}"]
        for inst in ("a", "b"):
            for port, extra in ((PORT_TUPLE, []), (PORT_SOURCE, ["--affinity", "source"])):
                log = os.path.join(self.logdir, f"lbfwd-{inst}-{port}.log")
                # a short drain: at the end, instance B still holds the connections that the
                # network moved away from it, and SIGTERM drains before exiting
                argv = [self.lbfwd, "--listen", f"{VIP}:{port}", "--workers", "1",
                        "--seed", SEED, "--log", log, "--drain-timeout", "1s",
                        "--admin", f"127.0.0.1:{ADMIN_BASE + port}"] + targets + extra
                p = self.spawn(inst, argv, f"lbfwd-{inst}-{port}")
                p.accesslog = log
                self.forwarders.append(p)
                self.wait_listen(inst, [(VIP, port), ("127.0.0.1", ADMIN_BASE + port)], p)
                setattr(self, f"fwd_{inst}_{port}", p)

    def close(self):
        for p, out in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for p, out in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=5)
            out.close()
        for n in self.created:
            subprocess.run(["ip", "netns", "del", n], capture_output=True, timeout=20)
        self.created = []

    # ---- client traffic ----

    def clients(self, conns, timeout=60):
        out = sh(sys.executable, os.path.abspath(__file__), "--clients", ns=self.ns["client"],
                 input=json.dumps({"conns": conns}), timeout=timeout)
        res = json.loads(out)
        errors = [r for r in res if "error" in r]
        if errors:
            raise Fail(f"{len(errors)} of {len(res)} connections failed, e.g. {errors[:3]}")
        return res

    def table_digest(self, inst, port):
        """The Maglev table digest an instance publishes in its metrics (lbfwd_table_info)."""
        url = f"http://127.0.0.1:{ADMIN_BASE + port}/metrics"
        out = sh(sys.executable, "-c", "import sys, urllib.request; sys.stdout.write("
                 f"urllib.request.urlopen({url!r}, timeout=5).read().decode())", ns=self.ns[inst])
        m = re.search(r'^lbfwd_table_info\{[^}]*digest="(0x[0-9a-f]+)"', out, re.M)
        if not m:
            raise Fail(f"no lbfwd_table_info digest in the metrics of {inst}: {out[:300]}")
        return m.group(1)

    def route_get(self, flows):
        """The router's own choice of instance for each (src, sport, dport), by a FIB lookup
        of the 5-tuple as a forwarded packet from the client side."""
        cmds = "".join(f"route get {VIP} from {s} iif r-c ipproto 6 sport {sp} dport {dp}\n"
                       for s, sp, dp in flows)
        out = sh("ip", "-n", self.ns["router"], "-batch", "-", input=cmds)
        got = re.findall(r"dev (r-[ab])", out)
        if len(got) != len(flows):
            raise Fail(f"ip route get: {len(got)} answers for {len(flows)} flows: {out[:500]}")
        return [g[-1] for g in got]  # "a" or "b"


def tail(path, n=1500):
    try:
        with open(path, errors="replace") as f:
            return f.read()[-n:]
    except OSError:
        return ""


CLIENT_RE = re.compile(r"(10\.200\.1\.\d+)[:.](\d+)\b")
NAME_RE = re.compile(r"(?<![\w.-])(" + "|".join(map(re.escape, BACKENDS)) + r")(?![\w-])")


def read_log(path):
    """{(client addr, client port): target name} from an lbfwd access log: each line names the
    client address and the target (doc/lbfwd.md)."""
    seen, lines = {}, 0
    try:
        with open(path, errors="replace") as f:
            for line in f:
                c = CLIENT_RE.search(line)
                t = NAME_RE.search(line)
                if c and t:
                    seen[(c.group(1), int(c.group(2)))] = t.group(1)
                    lines += 1
    except FileNotFoundError:
        pass
    return seen, lines


def read_logs(procs, total, timeout=10):
    """The logs of several instances, once they hold `total` connection lines between them (a
    line is written when its connection ends, which can be just after the client has gone).
    Raises Fail when they do not."""
    end = time.monotonic() + timeout
    while True:
        got = [read_log(p.accesslog) for p in procs]
        lines = sum(n for _, n in got)
        if lines >= total:
            return [seen for seen, _ in got]
        if time.monotonic() > end:
            raise Fail(f"the access logs have {lines} connection lines, {total} expected: "
                       f"{tail(procs[0].accesslog, 300)!r}")
        time.sleep(0.1)


def test(net, n_conns):
    rnd = random.Random(int(SEED))
    # 0. same configuration, same seed: both instances built the same table
    for port in (PORT_TUPLE, PORT_SOURCE):
        da, db = net.table_digest("a", port), net.table_digest("b", port)
        check(da == db, f"port {port}: both instances publish the same Maglev table digest {da}")
    # 1. ECMP spreads client connections over both instances, by the router's 5-tuple hash
    # fixed, distinct 5-tuples (seeded), so the run is reproducible
    tuples = set()
    while len(tuples) < n_conns:
        tuples.add((rnd.choice(CLIENTS), rnd.randrange(20000, 30000)))
    conns = [[src, sport, PORT_TUPLE] for src, sport in sorted(tuples)]
    rnd.shuffle(conns)
    res = net.clients(conns)
    log_a, log_b = read_logs([net.fwd_a_80, net.fwd_b_80], len(res))
    served = {}
    for r in res:
        key = (r["src"], r["sport"])
        where = [i for i, log in (("a", log_a), ("b", log_b)) if key in log]
        if len(where) != 1:
            raise Fail(f"connection {key} is in the logs of {where or 'no instance'}: "
                       f"A {tail(net.fwd_a_80.accesslog, 300)!r}")
        served[key] = where[0]
        log = log_a if where[0] == "a" else log_b
        if log[key] != r["target"]:
            raise Fail(f"{key}: instance {where[0]} logged {log[key]} but the client reached "
                       f"{r['target']}")
    predicted = net.route_get([(r["src"], r["sport"], PORT_TUPLE) for r in res])
    mismatch = [(r["src"], r["sport"]) for r, p in zip(res, predicted)
                if served[(r["src"], r["sport"])] != p]
    check(not mismatch, f"{len(res)} connections: each went to the instance the router's "
          f"multipath lookup of its 5-tuple names ({len(mismatch)} mismatches)")
    share_a = sum(1 for v in served.values() if v == "a") / len(served)
    check(0.2 <= share_a <= 0.8, f"each instance received at least 20 %: A {share_a:.1%}, "
          f"B {1 - share_a:.1%}")
    used = {r["target"] for r in res}
    check(used == set(BACKENDS), f"all targets used: {sorted(used)}")
    first = {(r["src"], r["sport"]): r["target"] for r in res}

    # 2. the same 5-tuples through the other instance choose the same targets
    other = {}
    for inst, by in (("b", "a"), ("a", "b")):
        # the tuples that instance `by` served now go to `inst` alone
        replay = [[s, sp, PORT_TUPLE] for (s, sp), w in served.items() if w == by]
        net.route_only(inst)
        for r in net.clients(replay):
            other[(r["src"], r["sport"])] = r["target"]
    net.route_both()
    log_a2, log_b2 = read_logs([net.fwd_a_80, net.fwd_b_80], 2 * len(res))
    diff = [k for k in first if not (first[k] == other.get(k) == log_a2.get(k) == log_b2.get(k))]
    check(not diff and len(other) == len(first),
          f"{len(first)} client 5-tuples, each sent to both instances: both logged the same "
          f"target every time, and the backends confirm it ({len(diff)} differences"
          f"{', e.g. ' + str(diff[:3]) if diff else ''})")

    # 3. source affinity: one target per client address, whichever instance serves it
    conns = [[c, 0, PORT_SOURCE] for c in CLIENTS for _ in range(6)]
    rnd.shuffle(conns)
    res = net.clients(conns)
    per_src = {}
    for r in res:
        per_src.setdefault(r["src"], set()).add(r["target"])
    split = {s: t for s, t in per_src.items() if len(t) != 1}
    check(not split, f"--affinity source: each of {len(CLIENTS)} client addresses reached one "
          f"target over 6 connections ({len(split)} split)")
    n_81 = len(res)
    log_a, log_b = read_logs([net.fwd_a_81, net.fwd_b_81], n_81)
    _, b_lines_before = read_log(net.fwd_b_81.accesslog)
    both = {s for s in CLIENTS
            if any(k[0] == s for k in log_a) and any(k[0] == s for k in log_b)}
    check(len(both) >= len(CLIENTS) // 4,
          f"{len(both)} client addresses were served by both instances, with the same target")
    before = {s: next(iter(t)) for s, t in per_src.items()}
    check(len(set(before.values())) >= 2, "client addresses spread over several targets")

    # connections held open across the removal: 6 that the router sends through A and 6
    # through B (chosen with its own lookup); the ones the network moves are lost
    cand = [(CLIENTS[i % len(CLIENTS)], 31000 + i, PORT_SOURCE) for i in range(64)]
    hold = []
    for want in ("a", "b"):
        hold += [list(c) for c, h in zip(cand, net.route_get(cand)) if h == want][:6]
    holder = subprocess.Popen(["ip", "netns", "exec", net.ns["client"], sys.executable,
                               os.path.abspath(__file__), "--hold"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, start_new_session=True)
    net.procs.append((holder, open(os.devnull, "w")))
    holder.stdin.write(json.dumps({"conns": hold}) + "\n")
    holder.stdin.flush()
    opened = json.loads(holder.stdout.readline() or "null")
    if not opened:
        raise Fail("holder: no connection opened")
    held_on = net.route_get([(o["src"], o["sport"], PORT_SOURCE) for o in opened])
    check([o["target"] for o in opened] == [before[o["src"]] for o in opened],
          f"{len(opened)} connections held open, 6 through each instance, on their "
          f"addresses' targets")

    net.route_only("a")  # instance B leaves the route (as when its BGP session goes down)
    conns = [[c, 0, PORT_SOURCE] for c in CLIENTS for _ in range(3)]
    res = net.clients(conns)
    moved = [(r["src"], r["target"], before[r["src"]]) for r in res
             if r["target"] != before[r["src"]]]
    read_logs([net.fwd_a_81, net.fwd_b_81], n_81 + len(res))
    _, b_lines_after = read_log(net.fwd_b_81.accesslog)
    check(b_lines_after == b_lines_before, "after B left the route, B received no connection")
    check(not moved, f"after B left the route, {len(res)} new connections from the same "
          f"{len(CLIENTS)} client addresses reached the same targets ({len(moved)} moved)")

    holder.stdin.write("go\n")
    holder.stdin.flush()
    fate = json.loads(holder.stdout.readline() or "null")
    holder.wait(timeout=10)
    if not fate or len(fate) != len(opened):
        raise Fail(f"holder: bad report {fate}")
    via_b = [f for f, h in zip(fate, held_on) if h == "b"]
    via_a = [f for f, h in zip(fate, held_on) if h == "a"]
    check(via_a and all(f == "echoed" for f in via_a),
          f"{len(via_a)} connections held through A survive")
    check(via_b and all(f.startswith("lost") for f in via_b),
          f"{len(via_b)} connections held through B are lost once the network sends them to A "
          f"(the limit: {sorted(set(via_b))})")


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lbfwd", default=None)
    ap.add_argument("--conns", type=int, default=400)
    ap.add_argument("--keep-logs", action="store_true")
    ap.add_argument("--backends", nargs="*", help=argparse.SUPPRESS)
    ap.add_argument("--clients", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--hold", action="store_true", help=argparse.SUPPRESS)
    o = ap.parse_args(argv)
    if o.backends is not None:
        serve_backends(o.backends)
        return 0
    if o.clients:
        run_clients(json.load(sys.stdin))
        return 0
    if o.hold:
        hold_clients(json.loads(sys.stdin.readline()))
        return 0

    lbfwd = o.lbfwd or os.path.join(os.environ.get("LB_BUILD_ROOT", "build"),
                                    "examples", "lbfwd", "lbfwd")
    if os.geteuid() != 0:
        print("FAIL: the scale-out test needs root (it creates network namespaces)")
        return 1
    if not os.access(lbfwd, os.X_OK):
        print(f"FAIL: lbfwd not found at {lbfwd}")
        return 1

    def on_signal(signum, _):
        raise Fail(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGALRM, on_signal)
    signal.alarm(DEADLINE_S)
    net = Net(lbfwd)
    rc = 1
    try:
        net.build()
        net.start()
        test(net, o.conns)
        rc = 0
    except (Fail, subprocess.SubprocessError, OSError, ValueError) as e:
        print(f"FAIL: {e}")
        for p, _ in net.procs:
            if getattr(p, "logname", None):
                print(f"--- {p.logname}\n{tail(p.logname, 800)}")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        net.close()
        # SIGTERM drains, then lbfwd exits 0 (a sanitizer finding makes it exit non-zero)
        bad = [p for p in net.forwarders if p.returncode != 0]
        if rc == 0 and bad:
            rc = 1
            for p in bad:
                print(f"FAIL: {p.args[4:6]} exited with {p.returncode}:\n{tail(p.logname)}")
        if not o.keep_logs:
            subprocess.run(["rm", "-rf", net.logdir])
        else:
            print(f"logs kept in {net.logdir}")
    leftover = [n for n in net.ns.values()
                if n in sh("ip", "netns", "list", check_rc=False)]
    if leftover:
        print(f"FAIL: namespaces left behind: {leftover}")
        rc = 1
    print("PASS" if rc == 0 else "FAIL")
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
