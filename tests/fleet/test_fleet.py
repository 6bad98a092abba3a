#!/usr/bin/env python3
"""A fleet behind BGP: lbfwd nodes announcing a VIP to an ECMP router, with BFD.

Builds, in network namespaces of its own (unique names; every process and namespace removed
in every case), this network:

    client ns: 10.210.1.10-69 (.10-.49 pinned by the router, .50-.69 not)
        |
    router ns: FRR (zebra, bgpd, bfdd as private instances), AS 65000, maximum-paths 8,
               BFD 100 ms x 3 to each node; nftables conntrack marks + policy routes pin
               established flows from the pinned sources to their node; a resilient next-hop
               group (driven by this test from the BGP paths zebra installs) for step 3
      |         |         |         |
    node a    node b    node c    node d (joins in step 3)
      each: VIP 10.210.100.1 on lo; lbfwd on VIP:80 (--affinity source, --announce-delay);
      BIRD 2 (AS 65001, BGP + BFD) exporting the VIP from a static protocol `vip` that a
      health-check loop beside it enables while GET /ready is 200 and disables otherwise
      |
    backend ns: be-alpha, be-bravo, be-charlie (each answers "NAME NODE-ADDRESS", then echoes)

Measures and asserts (doc/scaling.md explains each):
  1. planned removal (SIGTERM to c's lbfwd): /ready 503, route withdrawn, listeners close after
     the announce delay, connections drain, lbfwd exits 0. No failed new connection; no broken
     pinned connection anywhere; reports how many of c's unpinned connections break.
  2. unplanned loss: lbfwd alone SIGKILLed (the health check withdraws), and a hung node
     (lbfwd, BIRD and the health check SIGSTOPped: BFD withdraws). Only that node's connections
     break; new connections succeed again within the failover time (< 3 s).
  3. joining: with a resilient group (idle buckets move), at most about a quarter of the flows
     move, all to the new node, and no established connection breaks; with the plain group
     (zebra's), the share of flows and of the held connections whose next hop changes.
  4. agreement: --affinity source: every client address reaches one target whichever node
     serves it, through every membership change; equal table digests on all nodes.
  5. a fleet-wide change: a target drained on every node in turn loses no connection; reports
     how long the nodes disagreed.
Prints one JSON line with the figures; exits non-zero if 1 (pinned), 2 (< 3 s), 3
(resilient) or 4 does not hold. Needs root, FRR, BIRD 2, nftables, iproute2.
"""
import argparse
import json
import os
import pwd
import random
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scaleout"))
from test_scaleout import Fail, serve_backends, sh, tail  # noqa: E402  (the same helpers)

VIP = "10.210.100.1"
PORT = 80
ADMIN = 9000
PINNED = [f"10.210.1.{i}" for i in range(10, 50)]
UNPINNED = [f"10.210.1.{i}" for i in range(50, 70)]
BACKENDS = {"be-alpha": "10.210.30.1", "be-bravo": "10.210.30.2", "be-charlie": "10.210.30.3"}
BACKEND_PORT = 8000
NODES = {"a": 1, "b": 2, "c": 3, "d": 4}
SEED = "20261207"
ANNOUNCE_DELAY_S = 2.0
NHG_BASE = 1 << 30  # next-hop ids of the test's resilient group: far from zebra's own
RT_RESILIENT, RT_PIN = 100, 110
DEADLINE_S = 200
FRR = "/usr/lib/frr"

T0 = time.monotonic()


def log(msg):
    print(f"[{time.monotonic() - T0:6.1f} s] {msg}", flush=True)


def check(cond, msg):
    if not cond:
        raise Fail(msg)
    log(f"ok: {msg}")


def node_link(n):  # (router side, node side) of the router-node link
    i = NODES[n]
    return f"10.210.{10 + i}.1", f"10.210.{10 + i}.2"


def node_backlink(n):  # node side of the node-backend link, the address backends see
    return f"10.210.{20 + NODES[n]}.1"


# ---- helpers run inside the namespaces (this file in another mode) --------------------------

def health_loop(admin_port, birdc_sock, proto):
    """Beside each node: enables BIRD's `vip` protocol while GET /ready is 200, disables it
    otherwise (every 50 ms; a check that takes over 500 ms fails). Logs each change."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    url = f"http://127.0.0.1:{admin_port}/ready"
    state = None
    while True:
        try:
            with urllib.request.urlopen(url, timeout=0.5) as r:
                up = r.status == 200
        except Exception:  # refused, 503 (HTTPError), timeout: not ready
            up = False
        if up != state:
            r = subprocess.run(["birdc", "-s", birdc_sock, "enable" if up else "disable", proto],
                               capture_output=True, text=True, timeout=5)
            if r.returncode == 0:
                state = up
                print(f"{time.monotonic():.3f} {'announce' if up else 'withdraw'}", flush=True)
        time.sleep(0.05)


def stream(srcs, interval):
    """Client namespace: short connections one after another from the given sources until a
    line on stdin (or 10 minutes); each: connect, read the backend's line, send and read an
    echo, close. Prints one JSON list: [start (monotonic), ok, target, node address]."""
    out = []
    end = time.monotonic() + 600
    i = 0
    while time.monotonic() < end:
        if select.select([sys.stdin], [], [], 0)[0]:
            break
        t = time.monotonic()
        s = socket.socket()
        try:
            s.bind((srcs[i % len(srcs)], 0))
            s.settimeout(1.0)
            s.connect((VIP, PORT))
            line = read_line(s)
            s.sendall(b"x\n")
            if read_line(s) != "x":
                raise OSError("no echo")
            name, node = line.split()
            out.append([t, 1, name, node, srcs[i % len(srcs)]])
        except (OSError, ValueError) as e:
            out.append([t, 0, type(e).__name__, "", srcs[i % len(srcs)]])
        finally:
            s.close()
        i += 1
        time.sleep(interval)
    json.dump(out, sys.stdout)


def read_line(s):
    buf = b""
    while not buf.endswith(b"\n"):
        d = s.recv(256)
        if not d:
            raise OSError("closed")
        buf += d
    return buf.decode(errors="replace").strip()


def hold(spec):
    """Client namespace: opens long-lived connections (src, sport) and sends a line on each
    every 200 ms. Commands on stdin: "report" prints the state of each; "close" closes them
    all (FIN), prints the state and exits. State: [src, sport, target, node, broken_at]."""
    conns = []
    for src, sport in spec:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((src, sport))
        s.settimeout(2)
        s.connect((VIP, PORT))
        name, node = read_line(s).split()
        conns.append({"s": s, "st": [src, s.getsockname()[1], name, node, None]})
    print(json.dumps([c["st"] for c in conns]), flush=True)
    end = time.monotonic() + 600
    while time.monotonic() < end:
        if select.select([sys.stdin], [], [], 0.2)[0]:
            cmd = sys.stdin.readline().strip()
            if cmd == "close":
                for c in conns:
                    c["s"].close()
                print(json.dumps([c["st"] for c in conns]), flush=True)
                return
            print(json.dumps([c["st"] for c in conns]), flush=True)
        for c in conns:
            if c["st"][4] is not None:
                continue
            try:
                c["s"].settimeout(1.0)
                c["s"].sendall(b"ping\n")
                if read_line(c["s"]) != "ping":
                    raise OSError("bad echo")
            except OSError as e:
                c["st"][4] = f"{time.monotonic():.3f} {type(e).__name__}"


# ---- the fleet --------------------------------------------------------------------------------

class Fleet:
    def __init__(self, lbfwd, keep):
        self.tag = f"lbfl{os.getpid() % 100000}"
        self.ns = {k: f"{self.tag}-{k}" for k in ["client", "router", "backend"] + list(NODES)}
        self.dir = f"/tmp/{self.tag}"
        self.lbfwd = lbfwd
        self.keep = keep
        self.procs = []  # every process started, (Popen, name)
        self.created = []
        self.node_procs = {}  # node -> {"lbfwd", "bird", "health"}
        self.lbfwd_exit = {}

    # -- set-up --
    def build(self):
        os.makedirs(self.dir, exist_ok=True)
        for n in self.ns.values():
            sh("ip", "netns", "add", n)
            self.created.append(n)
            sh("ip", "-n", n, "link", "set", "lo", "up")
        ns = self.ns

        def veth(a, an, b, bn):
            sh("ip", "-n", ns[a], "link", "add", an, "type", "veth", "peer", "name", bn,
               "netns", ns[b])
            sh("ip", "-n", ns[a], "link", "set", an, "up")
            sh("ip", "-n", ns[b], "link", "set", bn, "up")

        batch = {k: [] for k in ns}
        veth("client", "cl-r", "router", "r-cl")
        batch["client"].append("addr add 10.210.1.1/24 dev cl-r")
        batch["client"] += [f"addr add {a}/24 dev cl-r" for a in PINNED + UNPINNED]
        batch["client"].append("route add default via 10.210.1.254")
        batch["router"].append("addr add 10.210.1.254/24 dev r-cl")
        for n, i in NODES.items():
            veth("router", f"r-{n}", n, f"{n}-r")
            veth(n, f"{n}-k", "backend", f"k-{n}")
            r, s = node_link(n)
            batch["router"].append(f"addr add {r}/24 dev r-{n}")
            batch[n] += [f"addr add {s}/24 dev {n}-r", f"addr add {VIP}/32 dev lo",
                         f"addr add {node_backlink(n)}/24 dev {n}-k",
                         f"route add default via {r}",
                         f"route add 10.210.30.0/24 via 10.210.{20 + i}.2"]
            batch["backend"].append(f"addr add 10.210.{20 + i}.2/24 dev k-{n}")
        batch["backend"] += [f"addr add {a}/32 dev lo" for a in BACKENDS.values()]
        for k, cmds in batch.items():
            if cmds:
                sh("ip", "-n", ns[k], "-batch", "-", input="\n".join(cmds) + "\n")
        sh("sysctl", "-q", "-w", "net.ipv4.ip_forward=1",
           "net.ipv4.fib_multipath_hash_policy=3", "net.ipv4.fib_multipath_hash_fields=0x0037",
           "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0",
           ns=ns["router"])
        sh("sysctl", "-q", "-w", "net.ipv4.ip_local_port_range=20000 39999",
           "net.ipv4.tcp_tw_reuse=1", ns=ns["client"])
        self.pinning()

    def pinning(self):
        """The router pins established flows from the pinned sources to their node: the first
        packet's route picks the node, conntrack remembers it as a mark, later packets follow
        the mark (policy routing table RT_PIN + i), whatever BGP does meanwhile."""
        lines = ["table ip lbfleet {",
                 "  set pinned { type ipv4_addr; flags interval; elements = { "
                 f"{PINNED[0]}-{PINNED[-1]} }} }}",
                 "  chain pre { type filter hook prerouting priority mangle; policy accept;",
                 '    iifname "r-cl" ct mark != 0 meta mark set ct mark',
                 '  }',
                 "  chain post { type filter hook postrouting priority mangle; policy accept;"]
        for n, i in NODES.items():
            lines.append(f'    ct state new ip saddr @pinned oifname "r-{n}" ct mark set {i}')
        lines += ["  }", "}"]
        sh("nft", "-f", "-", ns=self.ns["router"], input="\n".join(lines) + "\n")
        cmds = []
        for n, i in NODES.items():
            r, s = node_link(n)
            cmds += [f"rule add pref 100 fwmark {i} lookup {RT_PIN + i}",
                     f"route add {VIP}/32 via {s} dev r-{n} table {RT_PIN + i}"]
        # `ip route get ... mark 7` sees zebra's plain group whatever the other rules say
        cmds.append("rule add pref 50 fwmark 7 lookup main")
        sh("ip", "-n", self.ns["router"], "-batch", "-", input="\n".join(cmds) + "\n")

    def spawn(self, ns, argv, name, stdin=subprocess.DEVNULL, stdout=None):
        out = open(os.path.join(self.dir, f"{name}.out"), "a")
        p = subprocess.Popen(["ip", "netns", "exec", self.ns[ns]] + argv,
                             stdout=stdout if stdout else out, stderr=out, stdin=stdin,
                             text=True, start_new_session=True)
        p.logname = out.name
        p.label = name
        self.procs.append(p)
        return p

    def start_router(self):
        d = os.path.join(self.dir, "frr")
        os.makedirs(d, exist_ok=True)
        frr = pwd.getpwnam("frr")
        os.chown(d, frr.pw_uid, frr.pw_gid)
        neigh = "".join(f" neighbor {node_link(n)[1]} peer-group FLEET\n" for n in NODES)
        confs = {
            "zebra": "hostname router\n",
            "bfdd": "bfd\n profile fast\n  detect-multiplier 3\n  receive-interval 100\n"
                    "  transmit-interval 100\n !\n!\n",
            "bgpd": ("router bgp 65000\n bgp router-id 10.210.1.254\n"
                     " no bgp ebgp-requires-policy\n timers bgp 3 9\n"
                     " neighbor FLEET peer-group\n neighbor FLEET remote-as 65001\n"
                     " neighbor FLEET bfd\n neighbor FLEET bfd profile fast\n"
                     " neighbor FLEET timers connect 1\n"
                     " neighbor FLEET advertisement-interval 0\n" + neigh +
                     " address-family ipv4 unicast\n  maximum-paths 8\n"
                     " exit-address-family\n!\n"),
        }
        common = ["-u", "frr", "-g", "frr", "--vty_socket", d, "-z", f"{d}/zserv.api",
                  "-A", "127.0.0.1", "-P", "0"]
        for daemon in ("zebra", "bfdd", "bgpd"):
            conf = os.path.join(d, f"{daemon}.conf")
            with open(conf, "w") as f:
                f.write(confs[daemon])
            os.chown(conf, frr.pw_uid, frr.pw_gid)
            extra = {"zebra": [], "bfdd": ["--bfdctl", f"{d}/bfdd.sock"],
                     "bgpd": []}[daemon]
            p = self.spawn("router", [f"{FRR}/{daemon}", "-f", conf, "-i",
                                      f"{d}/{daemon}.pid", "--log", f"file:{d}/{daemon}.log"]
                           + common + extra, f"frr-{daemon}")
            if daemon == "zebra":
                wait_for(lambda: os.path.exists(f"{d}/zserv.api"), 10, "zebra's socket", p)
        self.frr_dir = d

    def vtysh(self, cmd):
        return sh("vtysh", "--vty_socket", self.frr_dir, "-c", cmd, ns=self.ns["router"])

    def start_backends(self):
        p = self.spawn("backend", [sys.executable, os.path.abspath(__file__), "--backends"] +
                       [f"{n}={a}:{BACKEND_PORT}" for n, a in BACKENDS.items()], "backends")
        wait_for(lambda: all(f"{a}:{BACKEND_PORT}" in sh("ss", "-Hltn", ns=self.ns["backend"])
                             for a in BACKENDS.values()), 10, "backends listening", p)

    def start_lbfwd(self, n):
        argv = [self.lbfwd, "--listen", f"{VIP}:{PORT}", "--workers", "1", "--seed", SEED,
                "--affinity", "source", "--announce-delay", f"{int(ANNOUNCE_DELAY_S * 1000)}ms",
                "--drain-timeout", "20s", "--idle-timeout", "3s", "--check-interval", "500ms", "--no-access-log",
                "--admin", f"127.0.0.1:{ADMIN}"]
        for name, a in BACKENDS.items():
            argv += ["--target", f"{name}={a}:{BACKEND_PORT}"]
        p = self.spawn(n, argv, f"lbfwd-{n}")
        self.node_procs.setdefault(n, {})["lbfwd"] = p
        wait_for(lambda: f"{VIP}:{PORT}" in sh("ss", "-Hltn", ns=self.ns[n]), 10,
                 f"lbfwd {n} listening", p)
        return p

    def start_node(self, n):
        """lbfwd, BIRD (the VIP's static protocol starts disabled) and the health check."""
        self.start_lbfwd(n)
        r, s = node_link(n)
        conf = os.path.join(self.dir, f"bird-{n}.conf")
        with open(conf, "w") as f:
            f.write(bird_conf(n, r, s))
        sock = os.path.join(self.dir, f"bird-{n}.ctl")
        b = self.spawn(n, ["bird", "-f", "-c", conf, "-s", sock,
                           "-P", os.path.join(self.dir, f"bird-{n}.pid")], f"bird-{n}")
        wait_for(lambda: os.path.exists(sock), 10, f"BIRD {n}'s socket", b)
        h = self.spawn(n, [sys.executable, os.path.abspath(__file__), "--health",
                           str(ADMIN), sock, "vip"], f"health-{n}")
        self.node_procs[n].update(bird=b, health=h)

    def kill_node(self, n, sig=signal.SIGKILL, which=("lbfwd", "bird", "health")):
        for k in which:
            p = self.node_procs[n].get(k)
            if p and p.poll() is None:
                os.killpg(p.pid, sig)

    def reap_node(self, n):
        for k, p in self.node_procs.get(n, {}).items():
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=10)
        self.node_procs[n] = {}

    def paths(self):
        """The next hops (node names) of zebra's route to the VIP in the router's main table."""
        out = sh("ip", "-n", self.ns["router"], "route", "show", f"{VIP}/32", "table", "main")
        byaddr = {node_link(n)[1]: n for n in NODES}
        return sorted({byaddr[a] for a in re.findall(r"via (10\.210\.\d+\.2)", out)})

    def wait_paths(self, want, timeout=25):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            got = self.paths()
            if got == sorted(want):
                return time.monotonic()
            time.sleep(0.02)
        raise Fail(f"the router's route has next hops {self.paths()}, not {sorted(want)}: "
                   f"{self.vtysh('show bgp summary')}")

    # -- the resilient group (step 3) --
    def resilient(self, nodes, create=False):
        """Sets the test's resilient group to these nodes (as a controller would from the
        BGP paths): one next hop per node, the group, and the route in table RT_RESILIENT
        that a rule sends the VIP's traffic to."""
        cmds = []
        for n in nodes:
            i = NODES[n]
            r, s = node_link(n)
            if create or n not in self.res_members:
                cmds.append(f"nexthop replace id {NHG_BASE + i} via {s} dev r-{n}")
        grp = "/".join(str(NHG_BASE + NODES[n]) for n in nodes)
        verb = "add" if create else "replace"
        # a bucket moves to another next hop only once idle for idle_timer; never forced
        cmds.append(f"nexthop {verb} id {NHG_BASE} group {grp} type resilient buckets 128 "
                    "idle_timer 2 unbalanced_timer 0")
        if create:
            cmds += [f"route add {VIP}/32 nhid {NHG_BASE} table {RT_RESILIENT}",
                     f"rule add pref 200 to {VIP}/32 lookup {RT_RESILIENT}"]
        sh("ip", "-n", self.ns["router"], "-batch", "-", input="\n".join(cmds) + "\n")
        self.res_members = set(nodes)

    def buckets(self):
        out = sh("ip", "-n", self.ns["router"], "-j", "nexthop", "bucket", "show", "id",
                 str(NHG_BASE))
        count = {}
        for b in json.loads(out or "[]"):
            nh = b["bucket"]["nhid"] - NHG_BASE
            count[nh] = count.get(nh, 0) + 1
        return {n: count.get(i, 0) for n, i in NODES.items()}

    def route_get(self, flows, mark=0):
        """The router's choice of node for each (src, sport), by a FIB lookup of the 5-tuple
        as a forwarded packet from the client side (mark 7: zebra's plain group)."""
        extra = f" mark {mark}" if mark else ""
        cmds = "".join(f"route get {VIP} from {s} iif r-cl ipproto 6 sport {sp} dport {PORT}"
                       f"{extra}\n" for s, sp in flows)
        out = sh("ip", "-n", self.ns["router"], "-batch", "-", input=cmds)
        got = re.findall(r"dev r-([a-d])", out)
        if len(got) != len(flows):
            raise Fail(f"ip route get: {len(got)} answers for {len(flows)}: {out[:300]}")
        return got

    # -- clients --
    def start_stream(self, srcs, interval=0.005):
        return self.spawn("client", [sys.executable, os.path.abspath(__file__), "--stream",
                                     ",".join(srcs), str(interval)], "stream",
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def stop_stream(self, p):
        out, _ = p.communicate(input="stop\n", timeout=20)
        res = json.loads(out)
        for r in res:
            r[3] = self.node_of(r[3])
        return res

    def start_hold(self, conns):
        p = self.spawn("client", [sys.executable, os.path.abspath(__file__), "--hold",
                                  json.dumps(conns)], "hold", stdin=subprocess.PIPE,
                       stdout=subprocess.PIPE)
        first = p.stdout.readline()
        if not first:
            raise Fail(f"holder: no connection opened: {tail(p.logname)}")
        return p, [self.fix_state(s) for s in json.loads(first)]

    def hold_cmd(self, p, cmd):
        p.stdin.write(cmd + "\n")
        p.stdin.flush()
        line = p.stdout.readline()
        if not line:
            raise Fail(f"holder died: {tail(p.logname)}")
        if cmd == "close":
            p.wait(timeout=10)
        return [self.fix_state(s) for s in json.loads(line)]

    def fix_state(self, s):
        s[3] = self.node_of(s[3])
        return s

    def node_of(self, backaddr):
        for n in NODES:
            if node_backlink(n) == backaddr:
                return n
        return backaddr

    def admin(self, n, method, path):
        code = ("import sys, urllib.request as u\n"
                f"r = u.Request('http://127.0.0.1:{ADMIN}{path}', method='{method}')\n"
                "try:\n    x = u.urlopen(r, timeout=5); print(x.status); "
                "print(x.read().decode())\n"
                "except u.HTTPError as e:\n    print(e.code); print(e.read().decode())\n")
        out = sh(sys.executable, "-c", code, ns=self.ns[n])
        status, _, body = out.partition("\n")
        return int(status), body

    def digest(self, n):
        st, body = self.admin(n, "GET", "/metrics")
        m = re.search(r'^lbfwd_table_info\{[^}]*digest="(0x[0-9a-f]+)"', body, re.M)
        if st != 200 or not m:
            raise Fail(f"no table digest in node {n}'s metrics")
        return m.group(1)

    # -- clean-up --
    def close(self):
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(timeout=5)
        # anything still inside the namespaces (a daemon that left its process group)
        left = []
        for n in self.created:
            pids = sh("ip", "netns", "pids", n, check_rc=False).split()
            for pid in pids:
                left.append(f"{n}:{pid}")
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
        for n in self.created:
            subprocess.run(["ip", "netns", "del", n], capture_output=True, timeout=20)
        self.created = []
        return left


def bird_conf(n, router, me):
    return f"""# node {n}: announce the VIP to the router while the health check enables `vip`
log stderr all;
router id {me};
protocol device {{ }}
protocol static vip {{
  disabled;
  ipv4;
  route {VIP}/32 blackhole;
}}
protocol bfd {{
  interface "{n}-r" {{ min rx interval 100 ms; min tx interval 100 ms; multiplier 3; }};
}}
protocol bgp uplink {{
  local {me} as 65001;
  neighbor {router} as 65000;
  hold time 9; keepalive time 3;
  connect retry time 1; error wait time 1, 5;
  bfd on;
  ipv4 {{ import none; export where proto = "vip"; next hop self; }};
}}
"""


def wait_for(pred, timeout, what, proc=None):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise Fail(f"{what}: {proc.label} exited with {proc.returncode}: {tail(proc.logname)}")
        if pred():
            return
        time.sleep(0.05)
    raise Fail(f"{what}: not within {timeout} s")


# ---- the test ---------------------------------------------------------------------------------

def pick_flows(f, srcs, base, per_node, nodes, mark=0):
    """Long-lived connections (src, sport) that the router sends to each of these nodes,
    per_node of each (chosen with the router's own lookup). Sports from base up."""
    cand = [(srcs[k % len(srcs)], base + k) for k in range(40 * per_node * len(nodes))]
    where = f.route_get(cand, mark)
    out = []
    for n in nodes:
        got = [list(c) for c, w in zip(cand, where) if w == n][:per_node]
        if len(got) < per_node:
            raise Fail(f"only {len(got)} candidate flows routed to node {n}")
        out += got
    return out


def broken(states, pred=lambda s: True):
    return [s for s in states if s[4] is not None and pred(s)]


def failures(res):
    return [r for r in res if not r[1]]


def node_exit(p, timeout):
    try:
        return p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise Fail(f"{p.label} still running {timeout} s later: {tail(p.logname)}")


def health_events(f, n):
    """(monotonic time, "announce"|"withdraw") lines from node n's health check."""
    ev = []
    for line in tail(f.node_procs[n]["health"].logname, 100000).splitlines():
        t, _, what = line.partition(" ")
        try:
            ev.append((float(t), what))
        except ValueError:
            pass
    return ev


def test(f):
    fig = {}
    served = []  # every successful (src, target, node) seen, for the agreement check
    f.start_backends()
    f.start_router()
    for n in "abc":
        f.start_node(n)
    f.wait_paths("abc", 40)
    log(f"the router has an ECMP route over a, b, c: {f.vtysh('show ip route ' + VIP)}")
    digests = {n: f.digest(n) for n in "abc"}
    check(len(set(digests.values())) == 1, f"equal table digests on a, b, c: {digests}")

    # ---- 1. planned removal of c
    held = pick_flows(f, PINNED, 40000, 4, "abc") + pick_flows(f, UNPINNED, 41000, 4, "abc")
    holder, opened = f.start_hold(held)
    check([o[3] for o in opened] == f.route_get([tuple(h) for h in held]),
          f"{len(opened)} long-lived connections, each on the node the router's lookup names")
    st = f.start_stream(PINNED)
    time.sleep(1.0)
    t_term = time.monotonic()
    f.kill_node("c", signal.SIGTERM, ("lbfwd",))
    t_route = f.wait_paths("ab")
    time.sleep(ANNOUNCE_DELAY_S + 0.5)
    states = f.hold_cmd(holder, "close")
    rc = node_exit(f.node_procs["c"]["lbfwd"], 15)
    t_exit = time.monotonic()
    res = f.stop_stream(st)
    served += [(r[4], r[2], r[3]) for r in res if r[1]]
    withdraw = [t for t, w in health_events(f, "c") if w == "withdraw" and t >= t_term]
    lbc = tail(f.node_procs["c"]["lbfwd"].logname, 100000)
    check(withdraw and withdraw[0] < t_term + ANNOUNCE_DELAY_S and t_route < t_term +
          ANNOUNCE_DELAY_S,
          f"SIGTERM to c: /ready failed and BIRD withdrew {1e3 * (withdraw[0] - t_term):.0f} ms"
          f" later (route gone at the router after {1e3 * (t_route - t_term):.0f} ms), before "
          f"the listeners closed ({ANNOUNCE_DELAY_S:.0f} s)" if withdraw else "no withdrawal")
    check(rc == 0 and "announce delay" in lbc and "stop accepting" in lbc,
          f"c drained and exited 0, {t_exit - t_term:.1f} s after SIGTERM")
    on_c = sum(1 for r in res if r[1] and r[3] == "c")
    fig["planned_failed"] = len(failures(res))
    pinned_broken = broken(states, lambda s: s[0] in PINNED)
    fig["planned_broken_pinned"] = len(pinned_broken)
    fig["planned_broken_unpinned"] = len(broken(states, lambda s: s[0] in UNPINNED and
                                                s[3] == "c"))
    unpinned_other = broken(states, lambda s: s[0] in UNPINNED and s[3] != "c")
    log(f"planned removal: {len(res)} new connections ({on_c} served by c), "
        f"{fig['planned_failed']} failed; pinned connections broken: {len(pinned_broken)} of "
        f"{sum(1 for s in states if s[0] in PINNED)}; unpinned broken: "
        f"{fig['planned_broken_unpinned']} of {sum(1 for s in states if s[0] in UNPINNED and s[3] == 'c')}"
        f" on c, {len(unpinned_other)} on a and b (plain ECMP re-hashed them)")
    check(fig["planned_failed"] == 0 and on_c > 0,
          "planned removal: zero failed new connections (some were served by c until the "
          "withdrawal)")
    check(not pinned_broken, "planned removal: zero broken pinned connections, on c or elsewhere")
    check(fig["planned_broken_unpinned"] > 0,
          "without pinning, c's connections break once its route is withdrawn")
    f.reap_node("c")

    # ---- 2. unplanned loss: lbfwd alone, then a hung node
    def loss(n, what, sig, which, base):
        held = pick_flows(f, PINNED, base, 4, "ab")
        holder, _ = f.start_hold(held)
        st = f.start_stream(PINNED)
        time.sleep(1.0)
        t_kill = time.monotonic()
        f.kill_node(n, sig, which)
        t_route = f.wait_paths("a" if n == "b" else "b", 15)
        time.sleep(1.5)
        res = f.stop_stream(st)
        states = f.hold_cmd(holder, "close")
        served.extend((r[4], r[2], r[3]) for r in res if r[1])
        fails = failures(res)
        last = max([r[0] for r in fails], default=t_kill)
        ms = 1e3 * (max(last, t_route) - t_kill)
        other = broken(states, lambda s: s[3] != n)
        mine = [s for s in states if s[3] == n]
        log(f"{what}: route withdrawn after {1e3 * (t_route - t_kill):.0f} ms; {len(fails)} of "
            f"{len(res)} new connections failed, the last started {1e3 * (last - t_kill):.0f} "
            f"ms after the kill; {len(broken(mine))} of {len(mine)} connections on {n} broken")
        check(not other, f"{what}: no connection on the other node broke")
        check(not any(r[0] > t_route + 0.3 for r in fails),
              f"{what}: every new connection after the withdrawal succeeded")
        check(ms < 3000, f"{what}: failover {ms:.0f} ms (< 3 s)")
        return round(ms)

    fig["failover_lbfwd_only_ms"] = loss("b", "lbfwd SIGKILLed on b", signal.SIGKILL,
                                         ("lbfwd",), 42000)
    f.start_lbfwd("b")
    f.wait_paths("ab", 15)
    killed_ms = loss("b", "b killed (lbfwd, BIRD, health check SIGKILLed)", signal.SIGKILL,
                     ("lbfwd", "bird", "health"), 42500)
    f.reap_node("b")
    f.start_node("b")
    f.wait_paths("ab", 20)
    fig["failover_ms"] = loss("b", "b hung (lbfwd, BIRD, health check SIGSTOPped; BFD)",
                              signal.SIGSTOP, ("lbfwd", "bird", "health"), 43000)
    f.reap_node("b")

    # ---- 3. joining, resilient and plain
    for n in "bc":
        f.start_node(n)
    f.wait_paths("abc", 30)
    sh("nft", "flush", "set", "ip", "lbfleet", "pinned", ns=f.ns["router"])  # ECMP alone now
    f.resilient("abc", create=True)
    allsrc = PINNED + UNPINNED
    held = pick_flows(f, allsrc, 44000, 8, "abc")
    holder, opened = f.start_hold(held)
    rnd = random.Random(int(SEED))
    sample = [(rnd.choice(allsrc), rnd.randrange(1024, 65536)) for _ in range(3000)]
    before_res, before_plain = f.route_get(sample), f.route_get(sample, 7)
    held_plain = f.route_get([tuple(h) for h in held], 7)
    # a slower stream here: buckets must go idle for idle_timer (2 s) to move to d
    st = f.start_stream(allsrc, 0.03)
    f.start_node("d")
    f.wait_paths("abcd", 30)
    f.resilient("abcd")
    t_join = time.monotonic()
    end = t_join + 20
    while f.buckets()["d"] < 32 and time.monotonic() < end:
        time.sleep(0.2)
    buckets = f.buckets()
    log(f"resilient group after d joined: buckets {buckets} "
        f"({time.monotonic() - t_join:.1f} s; idle_timer 2 s)")
    time.sleep(1.0)
    after_res, after_plain = f.route_get(sample), f.route_get(sample, 7)
    states = f.hold_cmd(holder, "report")
    res = f.stop_stream(st)
    served += [(r[4], r[2], r[3]) for r in res if r[1]]
    moved = [(b, a) for b, a in zip(before_res, after_res) if b != a]
    fig["join_moved_share"] = round(len(moved) / len(sample), 4)
    fig["join_broken_resilient"] = len(broken(states))
    moved_plain = sum(1 for b, a in zip(before_plain, after_plain) if b != a)
    after_held_plain = f.route_get([tuple(h) for h in held], 7)
    fig["join_broken_plain"] = sum(1 for b, a in zip(held_plain, after_held_plain) if b != a)
    log(f"join: resilient moved {len(moved)} of {len(sample)} flows "
        f"({fig['join_moved_share']:.1%}), to {sorted(set(a for _, a in moved))}; plain "
        f"hash-threshold moved {moved_plain} ({moved_plain / len(sample):.1%}); of "
        f"{len(held)} held connections, broken with resilient: {fig['join_broken_resilient']}"
        f", would break with plain: {fig['join_broken_plain']}; new connections: {len(res)}, "
        f"{len(failures(res))} failed, {sum(1 for r in res if r[3] == 'd')} served by d")
    check(buckets["d"] >= 24, f"d holds {buckets['d']} of 128 buckets")
    check(0.1 <= fig["join_moved_share"] <= 0.35 and all(a == "d" for _, a in moved),
          f"resilient: {fig['join_moved_share']:.1%} of flows moved, all to the new node")
    check(fig["join_broken_resilient"] == 0 and not failures(res),
          "resilient: no established connection broke, no new connection failed")
    check(any(r[3] == "d" for r in res), "the new node serves new connections")

    # ---- 5. a fleet-wide change: drain be-charlie on every node in turn
    st = f.start_stream(allsrc)
    time.sleep(1.0)
    done = []
    for n in "abcd":
        code, body = f.admin(n, "POST", "/targets/be-charlie/drain")
        done.append(time.monotonic())
        check(code == 200, f"be-charlie drained on {n}")
        time.sleep(0.3)
    t_end = done[-1]
    time.sleep(1.0)
    res = f.stop_stream(st)
    states = f.hold_cmd(holder, "close")
    fig["disagree_ms"] = round(1e3 * (done[-1] - done[0]))
    window = [r for r in res if r[1] and done[0] <= r[0] <= t_end]
    per_src = {}
    for r in window:
        per_src.setdefault(r[4], set()).add(r[2])
    log(f"fleet-wide drain: nodes disagreed for {fig['disagree_ms']} ms; in that window "
        f"{sum(1 for v in per_src.values() if len(v) > 1)} client addresses reached two targets;"
        f" after it, be-charlie got {sum(1 for r in res if r[1] and r[0] > t_end and r[2] == 'be-charlie')}"
        f" new connections")
    check(not failures(res) and not broken(states),
          f"the fleet-wide drain lost no connection ({len(res)} new, {len(states)} held)")
    check(not any(r[1] and r[0] > t_end + 0.1 and r[2] == "be-charlie" for r in res),
          "once drained everywhere, be-charlie gets no new connection")
    digests = {n: f.digest(n) for n in "abcd"}
    check(len(set(digests.values())) == 1, f"equal table digests on all nodes after: {digests}")

    # ---- 4. agreement over everything before the drain
    per_src, nodes_of = {}, {}
    for src, target, node in served:
        per_src.setdefault(src, {}).setdefault(target, 0)
        per_src[src][target] += 1
        nodes_of.setdefault(src, set()).add(node)
    agree = sum(max(t.values()) for t in per_src.values())
    total = sum(sum(t.values()) for t in per_src.values())
    fig["agree_share"] = round(agree / total, 4)
    multi = sum(1 for v in nodes_of.values() if len(v) > 1)
    check(fig["agree_share"] == 1.0 and multi >= len(per_src) // 2,
          f"--affinity source: {total} connections from {len(per_src)} addresses, "
          f"{multi} of them served by several nodes: each address reached one target "
          f"(agree_share {fig['agree_share']})")
    log(f"figures not in the JSON line: node killed (BGP session closed) {killed_ms} ms")
    return fig


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lbfwd", default=None)
    ap.add_argument("--keep-logs", action="store_true")
    ap.add_argument("--backends", nargs="*", help=argparse.SUPPRESS)
    ap.add_argument("--health", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument("--stream", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--hold", help=argparse.SUPPRESS)
    o = ap.parse_args(argv)
    if o.backends is not None:
        serve_backends(o.backends, with_peer=True)
        return 0
    if o.health:
        health_loop(int(o.health[0]), o.health[1], o.health[2])
        return 0
    if o.stream:
        stream(o.stream[0].split(","), float(o.stream[1]))
        return 0
    if o.hold:
        hold(json.loads(o.hold))
        return 0

    lbfwd = o.lbfwd or os.path.join(os.environ.get("LB_BUILD_ROOT", "build"),
                                    "examples", "lbfwd", "lbfwd")
    if os.geteuid() != 0:
        print("FAIL: the fleet test needs root (it creates network namespaces)")
        return 1
    missing = [p for p in (lbfwd, f"{FRR}/zebra", f"{FRR}/bgpd", f"{FRR}/bfdd")
               if not os.access(p, os.X_OK)]
    missing += [p for p in ("bird", "birdc", "vtysh", "nft", "ip") if not shutil.which(p)]
    if missing:
        print(f"FAIL: not found: {missing} (scripts/deps.sh installs frr, bird2, nftables)")
        return 1

    def on_signal(signum, _):
        raise Fail(f"signal {signum} (deadline {DEADLINE_S} s)")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGALRM, on_signal)
    signal.alarm(DEADLINE_S)
    f = Fleet(lbfwd, o.keep_logs)
    rc = 1
    try:
        f.build()
        fig = test(f)
        keys = ["planned_failed", "planned_broken_pinned", "planned_broken_unpinned",
                "failover_ms", "failover_lbfwd_only_ms", "join_moved_share",
                "join_broken_resilient", "join_broken_plain", "agree_share", "disagree_ms"]
        print(json.dumps({k: fig[k] for k in keys}), flush=True)
        rc = 0
    except (Fail, subprocess.SubprocessError, OSError, ValueError, KeyError) as e:
        print(f"FAIL: {type(e).__name__}: {e}", flush=True)
        for p in f.procs:
            print(f"--- {p.label}\n{tail(p.logname, 600)}")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        left = f.close()
        if left:
            print(f"note: killed processes left in the namespaces: {left}")
        bad = [p for p in f.procs if p.label.startswith("lbfwd") and p.returncode not in
               (0, -signal.SIGKILL, None)]
        for p in bad:
            if "Sanitizer" in tail(p.logname, 100000) or "runtime error" in tail(p.logname,
                                                                                  100000):
                print(f"FAIL: {p.label}: sanitizer finding:\n{tail(p.logname)}")
                rc = 1
        if o.keep_logs:
            print(f"logs kept in {f.dir}")
        else:
            shutil.rmtree(f.dir, ignore_errors=True)
    leftover = [n for n in f.ns.values() if n in sh("ip", "netns", "list", check_rc=False)]
    if leftover:
        print(f"FAIL: namespaces left behind: {leftover}")
        rc = 1
    print("PASS" if rc == 0 else "FAIL")
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
