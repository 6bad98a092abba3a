"""Shared helpers for the lbfwd integration tests: loopback backends, starting and stopping
lbfwd, admin requests, clients. Python 3 standard library only; every wait is bounded."""

import http.client
import json
import os
import random
import resource
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time

BUILD_ROOT = os.environ.get("LB_BUILD_ROOT", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
LBFWD = os.environ.get("LBFWD", os.path.join(BUILD_ROOT, "examples", "lbfwd", "lbfwd"))

PROXY_V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def fail(msg):
    print("FAIL: " + msg, flush=True)
    raise SystemExit(1)


def check(cond, msg):
    if not cond:
        fail(msg)
    print("ok: " + msg, flush=True)


def parse_proxy(data):
    """Minimal independent PROXY parser for checking what lbfwd sent: returns
    (header_len, src_ip, src_port) or (header_len, None, None) for LOCAL/UNKNOWN, or None when
    more bytes are needed. Raises ValueError on garbage."""
    if data.startswith(b"PROXY "):
        end = data.find(b"\r\n")
        if end < 0:
            if len(data) > 107:
                raise ValueError("v1 too long")
            return None
        parts = data[:end].decode().split(" ")
        if parts[1] == "UNKNOWN":
            return end + 2, None, None
        return end + 2, parts[2], int(parts[4])
    if data.startswith(PROXY_V2_SIG):
        if len(data) < 16:
            return None
        ver_cmd, fam, ln = data[12], data[13], struct.unpack("!H", data[14:16])[0]
        if len(data) < 16 + ln:
            return None
        if ver_cmd == 0x20:
            return 16 + ln, None, None
        if fam == 0x11:
            src = socket.inet_ntop(socket.AF_INET, data[16:20])
            sport = struct.unpack("!H", data[24:26])[0]
        elif fam == 0x21:
            src = socket.inet_ntop(socket.AF_INET6, data[16:32])
            sport = struct.unpack("!H", data[48:50])[0]
        else:
            raise ValueError("family %x" % fam)
        return 16 + ln, src, sport
    if len(data) < 12 and (PROXY_V2_SIG.startswith(data) or b"PROXY ".startswith(data[:6])):
        return None
    raise ValueError("not a PROXY header: %r" % data[:16])


class Backend:
    """A threaded loopback TCP server. mode 'name': reads an optional PROXY header (when
    expect_proxy) and the client's request line, answers one JSON line {name, peer, proxy_src,
    proxy_port, got} and closes. mode 'echo': echoes until EOF, then closes."""

    def __init__(self, name, host="127.0.0.1", mode="name", expect_proxy=False, port=0):
        self.name = name
        self.mode = mode
        self.expect_proxy = expect_proxy
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(1024)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.host = host
        self.addr = ("[%s]:%d" % (host, self.port)) if ":" in host else "%s:%d" % (host, self.port)
        self.accepted = 0
        self.health_hits = 0
        self.headers = []
        self.lock = threading.Lock()
        self.stopped = False
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        c.settimeout(5)
        try:
            peer = c.getpeername()
            buf = b""
            src = sport = None
            if self.expect_proxy:
                while True:
                    r = parse_proxy(buf)
                    if r is not None:
                        break
                    d = c.recv(4096)
                    if not d:
                        with self.lock:
                            self.health_hits += 1
                        return
                    buf += d
                n, src, sport = r
                with self.lock:
                    self.headers.append(buf[:n])
                buf = buf[n:]
                if src is None and not buf:
                    # LOCAL header: a health check; it closes without a request
                    with self.lock:
                        self.health_hits += 1
                    return
            if self.mode == "echo":
                if buf:
                    c.sendall(buf)
                with self.lock:
                    self.accepted += 1
                while True:
                    d = c.recv(65536)
                    if not d:
                        break
                    c.sendall(d)
                c.shutdown(socket.SHUT_WR)
                return
            while b"\n" not in buf:
                d = c.recv(4096)
                if not d:
                    break
                buf += d
            if not buf:
                with self.lock:
                    self.health_hits += 1
                return
            with self.lock:
                self.accepted += 1
            out = {"name": self.name, "peer": "%s:%d" % (peer[0], peer[1]), "proxy_src": src,
                   "proxy_port": sport, "got": buf.decode(errors="replace").strip()}
            c.sendall((json.dumps(out) + "\n").encode())
        except OSError:
            pass
        finally:
            try:
                c.close()
            except OSError:
                pass

    def stop(self):
        self.stopped = True
        try:
            self.sock.close()
        except OSError:
            pass


class Lbfwd:
    """Starts lbfwd with --ready-file, --admin 127.0.0.1:0 and --log; waits until it is
    listening (bounded)."""

    def __init__(self, args, config=None, admin=True, timeout=10, env=None, preexec_fn=None):
        self.dir = tempfile.mkdtemp(prefix="lbfwd-test-")
        self.ready = os.path.join(self.dir, "ready.json")
        self.log = os.path.join(self.dir, "lbfwd.log")
        cmd = [LBFWD, "--ready-file", self.ready, "--log", self.log]
        if admin:
            cmd += ["--admin", "127.0.0.1:0"]
        if config is not None:
            self.config = os.path.join(self.dir, "lbfwd.ini")
            with open(self.config, "w") as f:
                f.write(config)
            cmd += ["--config", self.config]
        cmd += list(args)
        self.cmd = cmd
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=env, preexec_fn=preexec_fn)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if os.path.exists(self.ready):
                with open(self.ready) as f:
                    self.info = json.load(f)
                break
            if self.proc.poll() is not None:
                out, err = self.proc.communicate()
                fail("lbfwd exited %d before ready: %s" % (self.proc.returncode, err.decode()))
            time.sleep(0.02)
        else:
            self.kill()
            fail("lbfwd not ready within %ds" % timeout)
        host, port = self.info["listen"][0].rsplit(":", 1)
        self.host = host.strip("[]")
        self.port = int(port)
        self.admin_addr = None
        if self.info.get("admin"):
            ah, ap = self.info["admin"].rsplit(":", 1)
            self.admin_addr = (ah, int(ap))

    def admin(self, method, path, timeout=5):
        c = http.client.HTTPConnection(self.admin_addr[0], self.admin_addr[1], timeout=timeout)
        try:
            c.request(method, path)
            r = c.getresponse()
            return r.status, r.read().decode()
        finally:
            c.close()

    def targets(self):
        st, body = self.admin("GET", "/targets")
        if st != 200:
            fail("GET /targets: %d %s" % (st, body))
        return {t["name"]: t for t in json.loads(body)}

    def metrics(self):
        st, body = self.admin("GET", "/metrics")
        if st != 200:
            fail("GET /metrics: %d" % st)
        out = {}
        for line in body.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
        return out

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=10):
        """SIGTERM, then wait (bounded); returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                fail("lbfwd did not stop within %ds of SIGTERM" % timeout)
        _, err = self.proc.communicate()
        err = err.decode(errors="replace")
        if "Sanitizer" in err or "runtime error:" in err:
            fail("lbfwd reported a sanitizer finding:\n" + err)
        shutil.rmtree(self.dir, ignore_errors=True)
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)
        else:
            _, err = self.proc.communicate()
            if err and (b"Sanitizer" in err or b"runtime error:" in err):
                fail("lbfwd reported a sanitizer finding:\n" + err.decode(errors="replace"))
        shutil.rmtree(self.dir, ignore_errors=True)

    def log_text(self):
        try:
            with open(self.log) as f:
                return f.read()
        except OSError:
            return ""

    def fd_count(self):
        return len(os.listdir("/proc/%d/fd" % self.proc.pid))


def rss_kb(pid):
    """Resident set size of a process, in kB (/proc/PID/status)."""
    with open("/proc/%d/status" % pid) as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def recv_all(sock):
    """Reads until EOF; returns the bytes."""
    buf = bytearray()
    while True:
        d = sock.recv(65536)
        if not d:
            return bytes(buf)
        buf += d


def exchange(host, port, data=b"", src=None, timeout=5):
    """A new connection (from src when given): sends data, reads to EOF; the bytes."""
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    s.settimeout(timeout)
    try:
        if src:
            s.bind((src, 0))
        s.connect((host, port))
        if data:
            s.sendall(data)
        return recv_all(s)
    finally:
        s.close()


def request(host, port, line=b"hello\n", src=None, timeout=3):
    """Connects (optionally from a given source address), sends a line, reads the answer to EOF.
    Returns the decoded JSON answer, or raises OSError / ValueError."""
    buf = exchange(host, port, line, src, timeout)
    if not buf:
        raise ValueError("empty answer")
    return json.loads(buf.decode())


def refused_quickly(host, port, timeout=2.0):
    """True when a connection gets no answer and is closed or reset promptly."""
    t0 = time.time()
    s = socket.socket()
    s.settimeout(timeout)
    try:
        s.connect((host, port))
        s.sendall(b"hello\n")
        d = s.recv(100)
        return d == b"", time.time() - t0
    except (ConnectionResetError, BrokenPipeError, ConnectionRefusedError):
        return True, time.time() - t0
    except socket.timeout:
        return False, time.time() - t0
    finally:
        s.close()


def wait_until(pred, timeout, step=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


# UDP: dnsmasq DNS backends and hand-built DNS clients (the lbfwd-udp and lbfwd-udp-lab tests)

DNSMASQ = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
DNS_NAME = "www.test.lab"


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 16384 if hard == resource.RLIM_INFINITY else min(16384, hard)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def query(qid, name=DNS_NAME):
    """A DNS query for name's A record."""
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\0" + struct.pack(">HH", 1, 1)


def answer_ip(data, qid):
    """The A record of a reply to query qid (None when it is not one)."""
    if len(data) < 12:
        return None
    rid, flags, qd, an = struct.unpack(">HHHH", data[:8])
    if rid != qid or not flags & 0x8000 or an < 1 or len(data) < 4:
        return None
    return socket.inet_ntoa(data[-4:])


def free_port(host="127.0.0.1"):
    """A port free for UDP and TCP on host (dnsmasq, iperf3 and a TCP_UDP proxy bind both)."""
    for _ in range(50):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((host, 0))
        port = s.getsockname()[1]
        s.close()
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            t.bind((host, port))
            return port
        except OSError:
            continue
        finally:
            t.close()
    fail("no free port")


class Dnsmasq:
    """dnsmasq number n on 127.0.0.(20+n):port answering 127.1.0.n for *.test.lab; returns
    once it answers (bounded)."""

    def __init__(self, n, port):
        self.n = n
        self.addr = "127.0.0.%d" % (20 + n)
        self.ip = "127.1.0.%d" % n
        self.port = port
        self.proc = subprocess.Popen(
            [DNSMASQ, "--keep-in-foreground", "--port=%d" % port,
             "--listen-address=%s" % self.addr, "--bind-interfaces", "--conf-file=/dev/null",
             "--no-resolv", "--no-hosts", "--address=/test.lab/%s" % self.ip,
             "--log-facility=/dev/null", "--pid-file="],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                fail("dnsmasq %d exited: %s" % (n, self.proc.stderr.read().decode()))
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(0.2)
            try:
                s.sendto(query(7), (self.addr, port))
                if answer_ip(s.recv(2048), 7) == self.ip:
                    return
            except OSError:
                pass
            finally:
                s.close()
        fail("dnsmasq %d not answering" % n)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=5)


class Clients:
    """n DNS clients (one UDP socket, hence one flow, each) toward (host, port). `sent` counts
    the queries sent, resends included."""

    def __init__(self, n, host, port, src="127.0.0.1"):
        self.dst = (host, port)
        self.socks = []
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setblocking(False)
            s.bind((src, 0))
            self.socks.append(s)
        self.qid = random.randrange(1, 30000)
        self.sent = 0

    def round(self, tries=4, wait=1.0, only=None):
        """Each client (or those in `only`) sends a query and waits for its answer, resending
        up to `tries` times; returns {index: answer ip or None}."""
        self.qid += 1
        qid = self.qid
        idx = list(range(len(self.socks))) if only is None else list(only)
        got = {}
        sel = selectors.DefaultSelector()
        for i in idx:
            sel.register(self.socks[i], selectors.EVENT_READ, i)
        for _ in range(tries):
            for i in idx:
                if i not in got:
                    try:
                        self.socks[i].sendto(query(qid), self.dst)
                        self.sent += 1
                    except OSError:
                        pass
            deadline = time.time() + wait
            while len(got) < len(idx) and time.time() < deadline:
                for key, _ in sel.select(timeout=max(0.0, deadline - time.time())):
                    i = key.data
                    try:
                        data, src = self.socks[i].recvfrom(4096)
                    except OSError:
                        continue
                    if src != self.dst:
                        fail("reply from %s, not from %s" % (src, self.dst))
                    ip = answer_ip(data, qid)
                    if ip and i not in got:
                        got[i] = ip
            if len(got) == len(idx):
                break
        sel.close()
        return {i: got.get(i) for i in idx}

    def close(self):
        for s in self.socks:
            s.close()


def start_udp_lbfwd(targets, extra, listen="udp:127.0.0.1:0"):
    args = ["--listen", listen, "--listen", "127.0.0.1:0", "--workers", "2"]
    for name, addr in targets:
        args += ["--target", "%s=%s" % (name, addr)]
    lb = Lbfwd(args + list(extra), preexec_fn=raise_nofile)
    if not lb.info.get("udp_listen"):
        fail("ready file without udp_listen: %s" % lb.info)
    host, port = lb.info["udp_listen"][0].rsplit(":", 1)
    lb.udp_port = int(port)
    return lb


def metric(m, name, labels=""):
    return m.get(name + labels, 0)


def wait_healthy(lb, names):
    wait_until(lambda: all(lb.targets()[n]["state"] == "healthy" for n in names), 10)
