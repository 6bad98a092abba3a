#!/usr/bin/env python3
"""lbfwd fault injection (the checklist of ../shared/reference/measuring.md, the items that
test_lbfwd_stream/proxy/lab/admin do not cover): a backend SIGKILLed mid-stream, a black-holed
backend taken out by health checks, PROXY abuse by 1,000 trickling clients, fd exhaustion
under a low RLIMIT_NOFILE, flapping health checks under a held connection, and a short mixed
soak. Every check is bounded in time and count and ends with: lbfwd alive, its descriptors
back to baseline, no CLOSE_WAIT on its sockets, RSS flat."""

import json
import os
import random
import resource
import selectors
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lbfwd_common as L  # noqa: E402

RSS_SLACK_KB = 8192  # generous: sanitizer builds keep freed blocks in quarantine


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    # fields[0] is the state (field 3): utime and stime are fields 14 and 15
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def close_wait_count(pid):
    """CLOSE_WAIT sockets among lbfwd's descriptors (from /proc/net/tcp and tcp6)."""
    inodes = set()
    fd_dir = "/proc/%d/fd" % pid
    for fd in os.listdir(fd_dir):
        try:
            link = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    n = 0
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as fh:
                next(fh)
                for line in fh:
                    cols = line.split()
                    if cols[3] == "08" and cols[9] in inodes:
                        n += 1
        except OSError:
            pass
    return n


class Baseline:
    """What lbfwd looks like before a check: descriptors and RSS."""

    def __init__(self, f):
        self.f = f
        # settled: idle pooled pipes of earlier traffic close after a second unused
        deadline = time.time() + 10
        last = f.fd_count()
        stable_since = time.time()
        while time.time() < deadline and time.time() - stable_since < 1.5:
            time.sleep(0.1)
            n = f.fd_count()
            if n != last:
                last, stable_since = n, time.time()
        self.fds = f.fd_count()
        self.rss = L.rss_kb(f.proc.pid)

    def verify(self, what):
        f = self.f
        L.check(f.proc.poll() is None, "%s: lbfwd still running" % what)
        # idle pooled pipes close after a second unused
        L.check(L.wait_until(lambda: f.fd_count() == self.fds, 10),
                "%s: descriptors back to baseline (%d, baseline %d)"
                % (what, f.fd_count(), self.fds))
        L.check(L.wait_until(lambda: close_wait_count(f.proc.pid) == 0, 10),
                "%s: no CLOSE_WAIT left on lbfwd's sockets" % what)
        grew = L.rss_kb(f.proc.pid) - self.rss
        L.check(grew < RSS_SLACK_KB, "%s: RSS flat (%+d kB)" % (what, grew))


def connecting(addr, n):
    """n non-blocking connects to addr, left as they are (queued, accepted or refused)."""
    out = []
    for _ in range(n):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(addr)
        except BlockingIOError:
            pass
        out.append(s)
    return out


def target_args(pairs):
    out = []
    for name, addr in pairs:
        out += ["--target", "%s=%s" % (name, addr)]
    return out


# A backend in its own process (so it can be SIGKILLed): each connection gets a line with the
# backend's name, then a stream of bytes until the peer goes away.
STREAM_BACKEND = r"""
import socket, sys, threading
name = sys.argv[1]
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0))
srv.listen(256)
print(srv.getsockname()[1], flush=True)
def serve(c):
    try:
        c.sendall((name + "\n").encode())
        chunk = b"s" * 16384
        while True:
            c.sendall(chunk)
    except OSError:
        pass
    finally:
        c.close()
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""


def start_stream_backend(name):
    p = subprocess.Popen([sys.executable, "-c", STREAM_BACKEND, name], stdout=subprocess.PIPE)
    port = int(p.stdout.readline())
    return p, "127.0.0.1:%d" % port


def read_banner(s):
    buf = b""
    while b"\n" not in buf:
        d = s.recv(1)
        if not d:
            break
        buf += d
    return buf.decode(errors="replace").strip()


def test_backend_killed():
    """3. A backend SIGKILLed during a transfer: the client learns it promptly; once the health
    checks mark it down no new connection goes to it."""
    victim, vaddr = start_stream_backend("victim")
    other, oaddr = start_stream_backend("other")
    f = L.Lbfwd(["--listen", "127.0.0.1:0", "--workers", "1", "--check", "tcp",
                 "--check-interval", "100ms", "--check-timeout", "500ms", "--fall", "2",
                 "--retries", "0"] + target_args([("victim", vaddr), ("other", oaddr)]))
    try:
        base = Baseline(f)
        held = None
        for _ in range(100):
            s = socket.create_connection((f.host, f.port), timeout=5)
            if read_banner(s) == "victim":
                held = s
                break
            s.close()
        L.check(held is not None, "a connection reaches the victim backend")
        got = 0
        while got < 1 << 20:
            got += len(held.recv(65536))
        victim.send_signal(signal.SIGKILL)
        victim.wait(5)
        t0 = time.time()
        how = "timeout"
        held.settimeout(10)
        try:
            while held.recv(65536):
                pass
            how = "eof"
        except ConnectionResetError:
            how = "reset"
        except socket.timeout:
            pass
        dt = time.time() - t0
        held.close()
        L.check(how in ("eof", "reset") and dt < 5,
                "a backend SIGKILLed mid-stream: the client sees %s after %.2fs" % (how, dt))
        L.check(L.wait_until(lambda: f.targets()["victim"]["state"] == "unhealthy", 10),
                "health checks mark the killed backend unhealthy")
        picks0 = f.targets()["victim"]["picks"]
        names = []
        for _ in range(40):
            s = socket.create_connection((f.host, f.port), timeout=5)
            names.append(read_banner(s))
            s.close()
        L.check(names.count("other") == 40 and f.targets()["victim"]["picks"] == picks0,
                "no new connection goes to it (40 of 40 to the other target)")
        base.verify("backend killed")
    finally:
        f.stop()
        for p in (victim, other):
            if p.poll() is None:
                p.kill()
            p.wait(5)
            p.stdout.close()


def test_black_hole():
    """4. A backend that turns into a black hole (it stops accepting and its accept queue is
    full, so SYNs are dropped): connects hit the connect timeout and go to another target;
    then health checks (timing out too) take it out."""
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(0)
    hole.settimeout(0.05)
    serving = threading.Event()
    serving.set()

    def accept_checks():  # healthy at first: accepts (the health checks) and closes
        while serving.is_set():
            try:
                hole.accept()[0].close()
            except socket.timeout:
                continue
            except OSError:
                return

    acceptor = threading.Thread(target=accept_checks, daemon=True)
    acceptor.start()
    fillers = []
    good = L.Backend("good")
    f = L.Lbfwd(["--listen", "127.0.0.1:0", "--workers", "1", "--check", "tcp",
                 "--check-interval", "500ms", "--check-timeout", "400ms", "--fall", "3",
                 "--connect-timeout", "300ms", "--retries", "1",
                 "--target", "hole=127.0.0.1:%d" % hole.getsockname()[1],
                 "--target", "good=%s" % good.addr])
    try:
        base = Baseline(f)
        L.check(f.targets()["hole"]["state"] == "healthy", "the future black hole starts healthy")
        serving.clear()
        acceptor.join(5)
        fillers = connecting(hole.getsockname(), 4)
        # at once (three failed checks take at least a second): 20 concurrent clients
        res = {"ok": 0, "bad": 0}
        lock = threading.Lock()

        def one():
            try:
                ok = L.request(f.host, f.port, timeout=5)["name"] == "good"
            except (OSError, ValueError):
                ok = False
            with lock:
                res["ok" if ok else "bad"] += 1

        threads = [threading.Thread(target=one, daemon=True) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(15)
        m = f.metrics()
        L.check(res["ok"] == 20, "20 concurrent clients served by the good target (%s)" % res)
        L.check(m['lbfwd_errors_total{kind="connect_timeout"}'] >= 1 and
                m["lbfwd_connect_retries_total"] >= 1,
                "connects to the black hole timed out and were retried (%d)"
                % m['lbfwd_errors_total{kind="connect_timeout"}'])
        L.check(L.wait_until(lambda: f.targets()["hole"]["state"] == "unhealthy", 15),
                "health checks (timing out) take the black hole out")
        t0 = f.metrics()['lbfwd_errors_total{kind="connect_timeout"}']
        names = [L.request(f.host, f.port)["name"] for _ in range(30)]
        t1 = f.metrics()['lbfwd_errors_total{kind="connect_timeout"}']
        L.check(names.count("good") == 30 and t1 == t0,
                "then no connect goes to it (30 of 30 served, no new connect timeout)")
        base.verify("black hole")
    finally:
        serving.clear()
        f.stop()
        good.stop()
        for c in fillers:
            c.close()
        hole.close()


def test_proxy_abuse():
    """6. 1,000 clients from a trusted source trickle a PROXY header byte by byte: a normal
    client is served meanwhile, and every trickled header is decoded; oversized and malformed
    headers in bulk close their connections and are counted."""
    n = 1000
    b = L.Backend("pb", expect_proxy=True)
    f = L.Lbfwd(["--listen", "127.0.0.1:0", "--workers", "2", "--check", "none",
                 "--send-proxy", "v1", "--accept-proxy", "127.0.0.1/32",
                 "--proxy-timeout", "60s", "--target", "pb=%s" % b.addr])
    socks = []
    try:
        L.request(f.host, f.port, line=b"PROXY TCP4 192.0.2.1 10.0.0.1 1 80\r\nwarm\n")
        base = Baseline(f)
        payloads = []
        for i in range(n):
            s = socket.create_connection((f.host, f.port), timeout=5)
            socks.append(s)
            payloads.append(b"PROXY TCP4 198.51.100.%d 10.0.0.1 %d 80\r\nhello\n"
                            % (1 + i % 250, 10000 + i))
        state = {"round": 0, "error": None}
        longest = max(len(p) for p in payloads)

        def trickle():
            try:
                for k in range(longest):
                    state["round"] = k
                    for s, p in zip(socks, payloads):
                        if k < len(p):
                            s.sendall(p[k:k + 1])
                    time.sleep(0.05)
            except OSError as e:
                state["error"] = repr(e)
            state["round"] = -1

        t = threading.Thread(target=trickle, daemon=True)
        t.start()
        lat = []
        while t.is_alive() and len(lat) < 20:
            t0 = time.time()
            r = L.request(f.host, f.port, line=b"PROXY TCP4 192.0.2.9 10.0.0.1 9 80\r\nhi\n",
                          timeout=10)
            lat.append(time.time() - t0)
            L.check(r["proxy_src"] == "192.0.2.9", "normal client served during the trickle")
            time.sleep(0.05)
        L.check(len(lat) >= 3 and max(lat) < 5,
                "%d normal clients served while 1,000 trickle (slowest %.2fs)"
                % (len(lat), max(lat)))
        t.join(120)
        L.check(state["error"] is None and state["round"] == -1,
                "all 1,000 headers trickled (%s)" % state["error"])
        sel = selectors.DefaultSelector()
        bufs = {}
        for i, s in enumerate(socks):
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ, i)
            bufs[i] = b""
        done = 0
        good = 0
        deadline = time.time() + 60
        while done < n and time.time() < deadline:
            for key, _ in sel.select(1):
                i = key.data
                try:
                    d = key.fileobj.recv(4096)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    d = b""
                if d:
                    bufs[i] += d
                    continue
                sel.unregister(key.fileobj)
                done += 1
                try:
                    r = json.loads(bufs[i].decode())
                    good += (r["proxy_port"] == 10000 + i and r["got"] == "hello")
                except ValueError:
                    pass
        sel.close()
        L.check(good == n, "every trickled header decoded and served (%d of %d)" % (good, n))
        for s in socks:
            s.close()
        socks = []

        before = f.metrics()
        bad = []
        kinds = [b"PROXY TCP4 " + b"1" * 200,  # oversized: no CRLF within 107 bytes
                 L.PROXY_V2_SIG + b"\x31\x11\x00\x0c" + b"\x00" * 12,  # bad version
                 b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 80\r\n"]  # bad port
        for i in range(300):
            s = socket.create_connection((f.host, f.port), timeout=5)
            s.sendall(kinds[i % 3])
            bad.append(s)
        closed = 0
        for s in bad:
            s.settimeout(10)
            try:
                closed += s.recv(100) == b""
            except (ConnectionResetError, BrokenPipeError):
                closed += 1
            except socket.timeout:
                pass
            s.close()
        after = f.metrics()
        key = 'lbfwd_proxy_violations_total{kind="invalid"}'
        L.check(closed == 300, "300 oversized or malformed headers: connection closed (%d)"
                % closed)
        L.check(after[key] - before[key] == 300, "and counted (%d)" % (after[key] - before[key]))
        base.verify("PROXY abuse")
    finally:
        for s in socks:
            s.close()
        f.stop()
        b.stop()


def test_fd_exhaustion(workers):
    """7. lbfwd under RLIMIT_NOFILE 128, held past it by 200 clients: no busy loop (its CPU
    time stays low while saturated), and service resumes once the clients go away. With two
    workers, they compete for the last descriptors."""
    limit = 128

    def lower():
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    b = L.Backend("e", mode="echo")
    f = L.Lbfwd(["--listen", "127.0.0.1:0", "--workers", str(workers), "--check", "none",
                 "--target", "e=%s" % b.addr], preexec_fn=lower)
    what = "fd exhaustion, %d worker(s)" % workers
    held = []
    try:
        L.check(resource.prlimit(f.proc.pid, resource.RLIMIT_NOFILE)[0] == limit,
                "%s: lbfwd runs with RLIMIT_NOFILE %d" % (what, limit))
        base = Baseline(f)
        held = connecting((f.host, f.port), 200)
        L.check(L.wait_until(lambda: f.fd_count() >= limit - 4, 10),
                "%s: 200 clients drive lbfwd to its limit (%d of %d)"
                % (what, f.fd_count(), limit))
        time.sleep(0.5)
        c0 = cpu_seconds(f.proc.pid)
        t0 = time.time()
        refused = 0
        while time.time() - t0 < 2.0:
            s = socket.socket()
            s.settimeout(2)
            try:
                s.connect((f.host, f.port))
                s.sendall(b"x")
                refused += s.recv(10) == b""
            except OSError:
                refused += 1
            s.close()
            time.sleep(0.1)
        used = cpu_seconds(f.proc.pid) - c0
        wall = time.time() - t0
        L.check(used < 0.5 * wall, "%s: saturated, no busy loop: %.2fs of CPU in %.2fs"
                % (what, used, wall))
        L.check(refused >= 1, "%s: new clients are refused while saturated (%d)"
                % (what, refused))
        # many clients at once for 2 s, so that workers race for the last descriptors (the
        # reserve a worker keeps for refusing at EMFILE can be lost to another thread) ...
        stop = threading.Event()
        hammered = [0]

        def hammer():
            while not stop.is_set():
                s = socket.socket()
                s.settimeout(1)
                try:
                    s.connect((f.host, f.port))
                    s.recv(1)
                except OSError:
                    pass
                s.close()
                hammered[0] += 1

        ham = [threading.Thread(target=hammer, daemon=True) for _ in range(4)]
        for t in ham:
            t.start()
        time.sleep(2)
        stop.set()
        for t in ham:
            t.join(10)
        # ... then 4 clients wait in the listen queue for 2 s: lbfwd must not spin on them
        pending = connecting((f.host, f.port), 4)
        c0 = cpu_seconds(f.proc.pid)
        t0 = time.time()
        time.sleep(2)
        used = cpu_seconds(f.proc.pid) - c0
        wall = time.time() - t0
        for s in pending:
            s.close()
        L.check(used < 0.5 * wall, "%s: after %d racing clients, no busy loop on waiting "
                "clients: %.2fs of CPU in %.2fs" % (what, hammered[0], used, wall))
        for s in held:
            s.close()
        held = []
        t0 = time.time()
        ok = False
        while not ok and time.time() - t0 < 15:
            try:
                s = socket.create_connection((f.host, f.port), timeout=3)
                s.sendall(b"back")
                s.shutdown(socket.SHUT_WR)
                ok = L.recv_all(s) == b"back"
                s.close()
            except OSError:
                time.sleep(0.2)
        L.check(ok, "%s: service resumes after the clients go away (%.2fs)"
                % (what, time.time() - t0))
        L.check(f.metrics()['lbfwd_refused_total{reason="no_fd"}'] >= 1,
                "%s: descriptor exhaustion counted (no_fd)" % what)
        base.verify(what)
    finally:
        for s in held:
            s.close()
        f.stop()
        b.stop()


class HealthPort:
    """A port the health checks of one target go to (check_port=): up() listens and accepts,
    down() closes it so checks are refused."""

    def __init__(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        self.sock = None
        self.thread = None

    def up(self):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(64)
        s.settimeout(0.1)
        self.sock = s
        stop = threading.Event()
        self.stop_ev = stop

        def loop():
            while not stop.is_set():
                try:
                    c, _ = s.accept()
                    c.close()
                except socket.timeout:
                    continue
                except OSError:
                    return

        self.thread = threading.Thread(target=loop, daemon=True)
        self.thread.start()

    def down(self):
        self.stop_ev.set()
        self.thread.join(5)
        self.sock.close()


def test_flapping():
    """9. Health checks flapping (unhealthy, healthy, three times) leave an established flow
    alone, as doc/lbfwd.md says (keep_connections_on_unhealthy): it keeps carrying bytes
    both ways, while new connections avoid the target while it is unhealthy."""
    a = L.Backend("a", mode="echo")
    bb = L.Backend("b")
    hp = HealthPort()
    hp.up()
    f = L.Lbfwd(["--listen", "127.0.0.1:0", "--workers", "1", "--check", "tcp",
                 "--check-interval", "100ms", "--check-timeout", "500ms", "--rise", "2",
                 "--fall", "2", "--idle-timeout", "60s",
                 "--target", "a=%s,check_port=%d" % (a.addr, hp.port),
                 "--target", "b=%s" % bb.addr])
    held = None
    try:
        base = Baseline(f)
        for _ in range(100):
            s = socket.create_connection((f.host, f.port), timeout=5)
            s.sendall(b"ping\n")
            d = s.recv(100)
            if d == b"ping\n":  # the echo target a
                held = s
                break
            s.close()
        L.check(held is not None, "a connection is held open on target a")
        for k in range(3):
            hp.down()
            L.check(L.wait_until(lambda: f.targets()["a"]["state"] == "unhealthy", 10),
                    "flap %d: a's checks fail, a is unhealthy" % (k + 1))
            msg = b"during-%d\n" % k
            held.sendall(msg)
            L.check(held.recv(100) == msg, "flap %d: the held flow still carries bytes" % (k + 1))
            names = {L.request(f.host, f.port)["name"] for _ in range(10)}
            L.check(names == {"b"}, "flap %d: new connections avoid a (%s)" % (k + 1, names))
            hp.up()
            L.check(L.wait_until(lambda: f.targets()["a"]["state"] == "healthy", 10),
                    "flap %d: a's checks pass again, a is healthy" % (k + 1))
            msg = b"after-%d\n" % k
            held.sendall(msg)
            L.check(held.recv(100) == msg, "flap %d: the held flow still carries bytes after"
                    % (k + 1))
        L.check(f.targets()["a"]["active"] == 1, "the held flow is still counted on a")
        held.shutdown(socket.SHUT_WR)
        L.check(L.recv_all(held) == b"", "and it ends normally")
        held.close()
        held = None
        base.verify("flapping")
    finally:
        if held:
            held.close()
        f.stop()
        hp.down()
        a.stop()
        bb.stop()


class SoakBackend(L.Backend):
    """Threaded backend for the soak; the first byte of a connection says what to do:
    'E' echo until EOF then half-close; 'R' read 4 bytes then reset; 'S' send N bytes (4-byte
    length after the 'S'), shut down writing, then read until EOF."""

    def __init__(self, name):
        super().__init__(name, mode="soak")

    def _serve(self, c):
        c.settimeout(10)
        try:
            op = c.recv(1)
            if op == b"E":
                while True:
                    d = c.recv(65536)
                    if not d:
                        break
                    c.sendall(d)
                c.shutdown(socket.SHUT_WR)
            elif op == b"R":
                c.recv(4)
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            elif op == b"S":
                hdr = b""
                while len(hdr) < 4:
                    d = c.recv(4 - len(hdr))
                    if not d:
                        return
                    hdr += d
                n = struct.unpack("!I", hdr)[0]
                c.sendall(b"y" * n)
                c.shutdown(socket.SHUT_WR)
                while c.recv(65536):
                    pass
        except OSError:
            pass
        finally:
            c.close()

def soak_one(host, port, rng):
    """One connection of a random kind; returns (kind, ok)."""
    kind = rng.choice(("echo", "echo", "server_first", "client_reset", "backend_reset",
                       "silent_close"))
    s = socket.create_connection((host, port), timeout=10)
    try:
        if kind == "echo":
            data = os.urandom(rng.randrange(0, 256 * 1024))
            got = {}

            def reader():
                try:
                    got["d"] = L.recv_all(s)
                except OSError as e:
                    got["e"] = e

            t = threading.Thread(target=reader, daemon=True)
            t.start()
            s.sendall(b"E" + data)
            s.shutdown(socket.SHUT_WR)
            t.join(20)
            return kind, got.get("d") == data
        if kind == "server_first":
            n = rng.randrange(0, 512 * 1024)
            s.sendall(b"S" + struct.pack("!I", n))
            got = L.recv_all(s)  # the backend's FIN reaches us; our side still open
            s.sendall(b"tail")
            s.shutdown(socket.SHUT_WR)
            return kind, len(got) == n
        if kind == "client_reset":
            s.sendall(b"E" + os.urandom(rng.randrange(1, 4096)))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return kind, True
        if kind == "backend_reset":
            s.sendall(b"Rabcd")
            try:
                d = s.recv(10)
                return kind, False  # a backend reset must reach the client as a reset
            except ConnectionResetError:
                return kind, True
        return kind, True  # silent_close: connect and close without a byte
    finally:
        s.close()


def test_soak():
    """11. A short soak: 3,000 connections of random kinds and sizes (echo with half-close,
    server-first with half-close, resets from either side, silent closes) from 4 threads,
    then descriptors, CLOSE_WAIT and RSS checked; also run under ASan/UBSan in build-asan."""
    backends = [SoakBackend("s%d" % i) for i in range(2)]
    f = L.Lbfwd(["--listen", "127.0.0.1:0", "--workers", "2", "--check", "none",
                 "--idle-timeout", "30s"] +
                target_args([(b.name, b.addr) for b in backends]))
    try:
        rng0 = random.Random(20261130)
        for _ in range(200):  # warm-up: pools, threads and allocator caches
            soak_one(f.host, f.port, rng0)
        L.wait_until(lambda: f.metrics()["lbfwd_connections_active"] == 0, 10)
        base = Baseline(f)
        stats = {}
        lock = threading.Lock()

        def client(seed, count):
            rng = random.Random(seed)
            for _ in range(count):
                try:
                    kind, ok = soak_one(f.host, f.port, rng)
                except OSError as e:
                    kind, ok = "error:%s" % type(e).__name__, False
                with lock:
                    k = stats.setdefault(kind, [0, 0])
                    k[0 if ok else 1] += 1

        threads = [threading.Thread(target=client, args=(1000 + i, 750), daemon=True)
                   for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        print("soak:", stats)
        total = sum(v[0] + v[1] for v in stats.values())
        failed = sum(v[1] for v in stats.values())
        L.check(total == 3000 and failed == 0,
                "3,000 mixed connections, each behaved as expected (%d failed)" % failed)
        L.check(L.wait_until(lambda: f.metrics()["lbfwd_connections_active"] == 0, 10),
                "no connection left active")
        base.verify("soak")
        L.check(f.stop() == 0, "SIGTERM exits 0 after the soak (no sanitizer report)")
    finally:
        f.kill()
        for b in backends:
            b.stop()


def main():
    tests = {"killed": test_backend_killed, "blackhole": test_black_hole,
             "proxy": test_proxy_abuse, "fd": lambda: (test_fd_exhaustion(1), test_fd_exhaustion(2)), "flap": test_flapping,
             "soak": test_soak}
    for name in (sys.argv[1:] or tests):
        tests[name]()
    print("PASS")


if __name__ == "__main__":
    main()
