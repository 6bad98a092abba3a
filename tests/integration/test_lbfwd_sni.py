#!/usr/bin/env python3
"""lbfwd target groups (pools) and SNI routes (issue 19): real TLS clients (Python ssl,
openssl s_client, gnutls-cli) through lbfwd to TLS backends on loopback; each pool's backends
name themselves, and each reports the server name it saw (the ClientHello reached it unchanged).
A `none` route takes plain TCP; a name no route takes is closed and counted, as is a malformed
hello; a slowloris hello is cut at sni_timeout without holding up others; a PROXY header comes
before the hello; a reload that moves a route under a load of connections loses none; /targets
and /metrics show pools and routes."""

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lbfwd_common as L  # noqa: E402

TMP = tempfile.mkdtemp(prefix="lbfwd-sni-")
CERT = os.path.join(TMP, "cert.pem")
KEY = os.path.join(TMP, "key.pem")


def make_cert():
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=lbfwd-test",
                    "-days", "2", "-keyout", KEY, "-out", CERT],
                   check=True, capture_output=True, timeout=60)


def read_line(sock):
    """Reads until a newline or EOF; the bytes."""
    buf = b""
    while b"\n" not in buf:
        d = sock.recv(4096)
        if not d:
            break
        buf += d
    return buf


class TlsBackend(L.Backend):
    """lbfwd_common's threaded loopback server, speaking TLS: reads one line, answers one JSON
    line {name, sni, got} (sni: the server name its handshake saw) and closes."""

    def __init__(self, name):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(CERT, KEY)
        self.ctx.sni_callback = self._sni
        self.served = 0
        super().__init__(name)

    @staticmethod
    def _sni(sslobj, server_name, ctx):
        sslobj.lbfwd_sni = server_name

    def _serve(self, c):
        c.settimeout(10)
        try:
            t = self.ctx.wrap_socket(c, server_side=True)
            buf = read_line(t)
            sni = getattr(t, "lbfwd_sni", None)
            t.sendall((json.dumps({"name": self.name, "sni": sni,
                                   "got": buf.decode(errors="replace").strip()}) + "\n").encode())
            with self.lock:
                self.served += 1
            try:
                t.unwrap()
            except (OSError, ssl.SSLError):
                pass
        except (OSError, ssl.SSLError):
            pass
        finally:
            c.close()


def client_ctx():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def tls_request(port, sni, pre=b"", src="127.0.0.1", timeout=10):
    """A TLS connection through lbfwd with server name `sni` (after the bytes `pre`, a PROXY
    header); returns the backend's JSON answer. Raises OSError/ssl.SSLError when closed."""
    s = socket.socket()
    s.settimeout(timeout)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    try:
        if pre:
            s.sendall(pre)
        t = client_ctx().wrap_socket(s, server_hostname=sni)
        t.sendall(b"hi\n")
        return json.loads(read_line(t).decode())
    finally:
        s.close()


def client_hello(sni):
    """The bytes of a real ClientHello (Python's ssl, memory BIOs)."""
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = client_ctx().wrap_bio(inc, out, server_hostname=sni)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def split_record(first):
    """The first flight (one handshake record) re-framed as two records: the same handshake
    bytes, so the handshake's transcript is unchanged."""
    body = first[5:5 + int.from_bytes(first[3:5], "big")]
    half = len(body) // 2
    head = first[:3]
    return (head + half.to_bytes(2, "big") + body[:half] +
            head + (len(body) - half).to_bytes(2, "big") + body[half:] + first[5 + len(body):])


def tls_in_pieces(port, sni, piece, split_records, timeout=10):
    """A TLS exchange (memory BIOs) whose ClientHello is written `piece` bytes at a time
    (optionally re-framed over two records first); returns the backend's JSON answer."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = client_ctx().wrap_bio(inc, out, server_hostname=sni)
    first = True
    try:
        for _ in range(20):
            try:
                obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                data = out.read()
                if first:
                    first = False
                    if split_records:
                        data = split_record(data)
                    for i in range(0, len(data), piece):
                        s.sendall(data[i:i + piece])
                        time.sleep(0.002)
                elif data:
                    s.sendall(data)
                d = s.recv(65536)
                if not d:
                    raise ConnectionError("closed during the handshake")
                inc.write(d)
        obj.write(b"hi\n")
        s.sendall(out.read())
        answer = b""
        while b"\n" not in answer:
            try:
                answer += obj.read(4096)
            except ssl.SSLWantReadError:
                d = s.recv(65536)
                if not d:
                    break
                inc.write(d)
        return json.loads(answer.decode())
    finally:
        s.close()


def closed_unanswered(port, data, timeout=5):
    """Sends data; True when lbfwd closes (or resets) without an answer."""
    s = socket.socket()
    s.settimeout(timeout)
    s.connect(("127.0.0.1", port))
    try:
        s.sendall(data)
        return s.recv(100) == b""
    except ConnectionResetError:
        return True
    finally:
        s.close()


def metric(fwd, name):
    return fwd.metrics().get(name, 0)


def check_config_errors():
    """Bad pools and routes exit 2 with the reason, before anything starts."""
    cases = [
        (["--route", "a..example.com=default"], "bad route pattern 'a..example.com'"),
        (["--route", "*.*.example.com=default"], "bad route pattern"),
        (["--route", "api.example.com=nope"], "names pool 'nope'"),
        (["--route", "x.com=default", "--route", "X.COM=default"], "given twice"),
        (["--route", "x.com"], "PATTERN=POOL"),
        (["--target", "a=127.0.0.1:9,pool=bad/name"], "bad pool name"),
        (["--route", "none=default", "--sni-timeout", "0"], "sni_timeout"),
    ]
    for extra, want in cases:
        p = subprocess.run([L.LBFWD, "--check-config", "--listen", "127.0.0.1:1"] + extra,
                           capture_output=True, timeout=20)
        L.check(p.returncode == 2 and want in p.stderr.decode(),
                "%s: exit 2, '%s'" % (" ".join(extra), want))
    d = tempfile.mkdtemp(prefix="lbfwd-sni-cfg-")
    try:
        for text, want in (("[pool api]\nrise = 2\n", "unknown pool setting 'rise'"),
                           ("[pool api]\nalgorithm = nope\n", "unknown algorithm 'nope'"),
                           ("[pool a/b]\nseed = 1\n", "bad pool name"),
                           ("[pool a]\nseed = 1\n[pool a]\nseed = 2\n",
                            "duplicate [pool a] section")):
            f = os.path.join(d, "c.ini")
            with open(f, "w") as fh:
                fh.write("listen = 127.0.0.1:1\n" + text)
            p = subprocess.run([L.LBFWD, "--check-config", "--config", f], capture_output=True,
                               timeout=20)
            L.check(p.returncode == 2 and want in p.stderr.decode() and "c.ini:" in
                    p.stderr.decode(), "file %r: exit 2, '%s'" % (text, want))
        with open(os.path.join(d, "c.ini"), "w") as fh:
            fh.write("listen = 127.0.0.1:1\nroute = *=api\n[pool api]\nalgorithm = wrr\n")
        p = subprocess.run([L.LBFWD, "--check-config", "--config", os.path.join(d, "c.ini")],
                           capture_output=True, timeout=20)
        L.check(p.returncode == 0, "a route to a pool that only a [pool] section names is valid")
    finally:
        shutil.rmtree(d, ignore_errors=True)


def main():
    check_config_errors()
    make_cert()
    api = [TlsBackend("api-1"), TlsBackend("api-2")]
    web = [TlsBackend("web-1")]
    plain = L.Backend("plain-1")
    args = ["--listen", "127.0.0.1:0", "--check-interval", "200ms", "--accept-proxy",
            "127.0.0.2/32", "--sni-timeout", "1s"]
    for b in api:
        args += ["--target", "%s=%s,pool=api" % (b.name, b.addr)]
    for b in web:
        args += ["--target", "%s=%s,pool=web" % (b.name, b.addr)]
    args += ["--target", "plain-1=%s,pool=plain" % plain.addr]
    config = ("[lbfwd]\nroute = api.example.com=api\nroute = *.example.com=web\n"
              "route = none=plain\n[pool api]\nalgorithm = wrr\n[pool plain]\ncheck = none\n")
    fwd = L.Lbfwd(args, config=config)
    try:
        # /targets: every target with its pool
        ok = L.wait_until(lambda: all(t["state"] == "healthy" for t in fwd.targets().values()), 10)
        ts = fwd.targets()
        L.check(ok and {n: t["pool"] for n, t in ts.items()} ==
                {"api-1": "api", "api-2": "api", "web-1": "web", "plain-1": "plain"},
                "/targets lists each target's pool, all healthy")

        # per-pool checks: pool plain has `check = none`, the others check (tcp, 200ms)
        def checks_ok(name):
            return sum(v for k, v in fwd.metrics().items()
                       if k.startswith('lbfwd_target_checks_ok_total{target="%s"' % name))

        L.check(L.wait_until(lambda: checks_ok("api-1") >= 3, 10) and plain.health_hits == 0 and
                checks_ok("plain-1") == 0 and fwd.targets()["plain-1"]["eligible"],
                "pool api's targets are checked, pool plain's (check = none) never are")

        # Python ssl: the exact name beats the wildcard; the wildcard takes one or more labels
        seen = set()
        for _ in range(6):
            r = tls_request(fwd.port, "api.example.com")
            seen.add(r["name"])
            L.check(r["sni"] == "api.example.com" and r["got"] == "hi",
                    "backend saw SNI api.example.com and the request (bytes unchanged)")
        L.check(seen <= {"api-1", "api-2"} and seen, "api.example.com -> pool api %s" % seen)
        for host in ("www.example.com", "a.b.EXAMPLE.com"):
            r = tls_request(fwd.port, host)
            L.check(r["name"] == "web-1", "%s -> pool web (Python ssl)" % host)

        # openssl s_client -servername
        p = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % fwd.port,
                            "-servername", "api.example.com", "-quiet"],
                           input=b"hi\n", capture_output=True, timeout=20)
        L.check(b'"name": "api-' in p.stdout and b'"sni": "api.example.com"' in p.stdout,
                "openssl s_client -servername api.example.com -> pool api")
        p = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % fwd.port,
                            "-servername", "shop.example.com", "-quiet"],
                           input=b"hi\n", capture_output=True, timeout=20)
        L.check(b'"name": "web-1"' in p.stdout, "openssl s_client -servername shop.example.com "
                "-> pool web")

        # gnutls-cli
        p = subprocess.run(["gnutls-cli", "--insecure", "--sni-hostname", "api.example.com",
                            "-p", str(fwd.port), "127.0.0.1"],
                           input=b"hi\n", capture_output=True, timeout=20)
        L.check(b'"name": "api-' in p.stdout, "gnutls-cli --sni-hostname api.example.com -> "
                "pool api")

        # none: plain TCP (not TLS) goes to pool plain
        r = L.request("127.0.0.1", fwd.port, b"hello\n")
        L.check(r["name"] == "plain-1" and r["got"] == "hello", "plain TCP -> route none -> pool "
                "plain")

        # no route: closed, counted
        before = metric(fwd, 'lbfwd_sni_closed_total{reason="unmatched"}')
        try:
            tls_request(fwd.port, "other.org")
            L.fail("other.org was answered")
        except (OSError, ssl.SSLError, ValueError):
            pass
        L.check(L.wait_until(lambda: metric(fwd, 'lbfwd_sni_closed_total{reason="unmatched"}')
                             == before + 1, 5), "other.org (no route) closed and counted")

        # a malformed hello: closed, counted
        bad = bytes([0x16, 0x03, 0x01, 0x00, 0x06, 0x01, 0x00, 0x00, 0x02, 0x03, 0x03])
        L.check(closed_unanswered(fwd.port, bad), "a malformed ClientHello is closed")
        L.check(L.wait_until(lambda: metric(fwd, 'lbfwd_sni_closed_total{reason="malformed"}')
                             == 1, 5), "a malformed ClientHello is counted")

        # a hello sent in 7-byte writes (many TCP segments), and one split over two TLS
        # records (reassembled in the decoder's scratch buffer), still route
        r = tls_in_pieces(fwd.port, "www.example.com", piece=7, split_records=False)
        L.check(r["name"] == "web-1" and r["sni"] == "www.example.com",
                "a ClientHello sent in 7-byte writes routes (web-1)")
        r = tls_in_pieces(fwd.port, "api.example.com", piece=100, split_records=True)
        L.check(r["name"].startswith("api-") and r["sni"] == "api.example.com",
                "a ClientHello split over two TLS records routes (%s)" % r["name"])
        hello = client_hello("www.example.com")

        # slowloris: one byte a second, cut at sni_timeout (1 s); others go on meanwhile
        before = metric(fwd, 'lbfwd_sni_closed_total{reason="timeout"}')
        slow = socket.create_connection(("127.0.0.1", fwd.port), timeout=10)
        result = {}

        def trickle():
            t0 = time.time()
            try:
                for i in range(len(hello)):
                    slow.sendall(hello[i:i + 1])
                    time.sleep(1.0)
                    if time.time() - t0 > 8:
                        break
            except OSError:
                pass
            result["cut_after"] = time.time() - t0

        th = threading.Thread(target=trickle)
        th.start()
        t0 = time.time()
        n_ok = 0
        while time.time() - t0 < 1.0:
            r = tls_request(fwd.port, "www.example.com")
            n_ok += r["name"] == "web-1"
        th.join(15)
        slow.close()
        L.check(n_ok >= 3, "%d TLS connections served while a slowloris hello trickled" % n_ok)
        L.check(result.get("cut_after", 99) < 5, "the slowloris connection was cut after %.1fs "
                "(sni_timeout 1s)" % result.get("cut_after", 99))
        L.check(metric(fwd, 'lbfwd_sni_closed_total{reason="timeout"}') == before + 1,
                "the slowloris hello is counted as a timeout")

        # PROXY in front: the header first, then the hello
        for host, pool in (("api.example.com", "api-"), ("x.example.com", "web-1")):
            r = tls_request(fwd.port, host, pre=b"PROXY TCP4 192.0.2.7 127.0.0.1 4000 443\r\n",
                            src="127.0.0.2")
            L.check(r["name"].startswith(pool) and r["sni"] == host,
                    "PROXY header then ClientHello for %s -> %s" % (host, r["name"]))

        # metrics per pool and per route
        m = fwd.metrics()
        L.check(m.get('lbfwd_route_connections_total{route="api.example.com"}', 0) >= 9 and
                m.get('lbfwd_route_connections_total{route="*.example.com"}', 0) >= 6 and
                m.get('lbfwd_route_connections_total{route="none"}', 0) == 1,
                "route counters: api.example.com, *.example.com, none")
        L.check(m.get('lbfwd_pool_picks_total{pool="api"}', 0) >= 9 and
                m.get('lbfwd_pool_picks_total{pool="plain"}', 0) == 1 and
                m.get('lbfwd_pool_targets{pool="api"}', 0) == 2 and
                m.get('lbfwd_pool_eligible_targets{pool="web"}', 0) == 1 and
                m.get('lbfwd_pool_picks_total{pool="default"}', -1) == 0,
                "pool counters and per-pool target counts")

        # the admin API adds a target to an existing pool (only)
        extra_api = TlsBackend("api-3")
        st, body = fwd.admin("POST", "/targets?name=api-3&addr=%s&pool=api" % extra_api.addr)
        L.check(st == 201 and fwd.targets()["api-3"]["pool"] == "api",
                "POST /targets?pool=api adds api-3 to pool api")
        st, body = fwd.admin("POST", "/targets?name=api-4&addr=%s&pool=nope" % extra_api.addr)
        L.check(st == 400 and "nope" in body, "POST /targets with an unknown pool: 400 (%s)"
                % body.strip())
        L.check(L.wait_until(lambda: metric(fwd, 'lbfwd_pool_targets{pool="api"}') == 3, 5),
                "pool api has three targets")
        seen = set()
        for _ in range(30):
            seen.add(tls_request(fwd.port, "api.example.com")["name"])
            if "api-3" in seen:
                break
        L.check("api-3" in seen, "api-3 serves api.example.com")
        st, _ = fwd.admin("DELETE", "/targets/api-3")
        L.check(st == 200, "DELETE /targets/api-3")
        extra_api.stop()

        # reload under load: *.example.com moves from pool web to pool api while four clients
        # keep connecting; no connection is lost
        stop = threading.Event()
        errors, names = [], []
        lock = threading.Lock()

        def load():
            while not stop.is_set():
                try:
                    r = tls_request(fwd.port, "www.example.com")
                    with lock:
                        names.append(r["name"])
                except Exception as e:  # noqa: BLE001 - any failure is a lost connection
                    with lock:
                        errors.append(repr(e))

        threads = [threading.Thread(target=load) for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        with open(fwd.config, "w") as f:
            f.write("[lbfwd]\nroute = api.example.com=api\nroute = *.example.com=api\n"
                    "route = none=plain\n[pool api]\nalgorithm = wrr\n[pool plain]\ncheck = none\n")
        fwd.signal(signal.SIGHUP)
        L.check(L.wait_until(lambda: metric(fwd, 'lbfwd_reloads_total{result="ok"}') == 1, 10),
                "reload done")
        L.wait_until(lambda: any(n.startswith("api-") for n in names[-8:]), 10)
        time.sleep(1.0)
        stop.set()
        for t in threads:
            t.join(20)
        L.check(not errors, "no connection lost across the reload (%d served, errors %s)"
                % (len(names), errors[:3]))
        L.check(any(n == "web-1" for n in names) and names[-1].startswith("api-"),
                "www.example.com went to web, then to api after the reload")

        # a reload adding a pool and moving a route to it
        extra = TlsBackend("new-1")
        with open(fwd.config, "w") as f:
            f.write("[lbfwd]\nroute = api.example.com=api\nroute = *.example.com=fresh\n"
                    "route = none=plain\ntarget = new-1=%s,pool=fresh\n[pool fresh]\n"
                    "algorithm = ring\n[pool plain]\ncheck = none\n" % extra.addr)
        fwd.signal(signal.SIGHUP)
        L.check(L.wait_until(lambda: metric(fwd, 'lbfwd_reloads_total{result="ok"}') == 2, 10),
                "second reload done")
        ok = L.wait_until(lambda: fwd.targets().get("new-1", {}).get("state") == "healthy", 10)
        r = tls_request(fwd.port, "www.example.com")
        L.check(ok and r["name"] == "new-1" and fwd.targets()["new-1"]["pool"] == "fresh",
                "a reload adds pool fresh and routes *.example.com to it")
        extra.stop()
    finally:
        code = fwd.stop()
        for b in api + web:
            b.stop()
        plain.stop()
        shutil.rmtree(TMP, ignore_errors=True)
    L.check(code == 0, "lbfwd exited 0")


if __name__ == "__main__":
    main()
