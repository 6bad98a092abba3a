#!/usr/bin/env python3
"""lbfwd admin API security (issue 18): a foreign Host and a cross-origin POST are refused
(DNS rebinding, a browser page on the same host); the bearer token guards every mutating call
when admin_token_file is set (and a non-loopback admin needs one); slow clients neither starve
/ready probes nor hold a connection past the header deadline; a target at lbfwd's own admin
address or listener is refused; a NUL byte in an argument and unknown arguments are 400."""

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lbfwd_common as L  # noqa: E402


def req(addr, method, path, headers=None, host=None):
    """One request; `host` replaces the Host header (None: the admin address)."""
    c = http.client.HTTPConnection(addr[0], addr[1], timeout=5)
    try:
        c.putrequest(method, path, skip_host=host is not None)
        if host is not None:
            c.putheader("Host", host)
        for k, v in (headers or {}).items():
            c.putheader(k, v)
        c.endheaders()
        r = c.getresponse()
        return r.status, r.read().decode(), r.getheader("WWW-Authenticate")
    finally:
        c.close()


def weight(f, name):
    return f.targets()[name]["weight"]


def test_host_and_origin():
    b = L.Backend("h0")
    f = L.Lbfwd(["--listen", "127.0.0.1:0", "--check", "none", "--admin-host", "lb1.test",
                 "--target", "h0=%s" % b.addr])
    a = f.admin_addr
    port = a[1]
    try:
        for host, want in (("evil.example:%d" % port, 403), ("evil.example", 403),
                           ("127.0.0.1:%d" % (port + 1), 403), ("127.0.0.1:%d" % port, 200),
                           ("localhost:%d" % port, 200), ("LOCALHOST:%d" % port, 200),
                           ("lb1.test:%d" % port, 200), ("lb1.test", 403),
                           ("127.0.0.1", 200), ("localhost", 200), ("", 403)):
            st, body, _ = req(a, "GET", "/targets", host=host)
            L.check(st == want, "GET /targets with Host %s -> %d (want %d)" % (host, st, want))
            if st == 403:
                L.check("error" in json.loads(body), "a refusal carries a JSON error")
        # a DNS-rebound page: its Host is the attacker's name
        st, _, _ = req(a, "GET", "/metrics", host="rebind.attacker.test:%d" % port)
        L.check(st == 403, "a rebound name cannot read /metrics (%d)" % st)
        # a cross-origin POST (a browser needs no preflight for it)
        st, _, _ = req(a, "POST", "/targets/h0/weight?value=0",
                       headers={"Origin": "http://evil.example"})
        L.check(st == 403 and weight(f, "h0") == 1,
                "a cross-origin POST is refused and changes nothing (%d)" % st)
        st, _, _ = req(a, "POST", "/targets/h0/weight?value=0", headers={"Origin": "null"})
        L.check(st == 403 and weight(f, "h0") == 1, "Origin: null is refused (%d)" % st)
        st, _, _ = req(a, "POST", "/targets/h0/weight?value=3",
                       headers={"Origin": "http://127.0.0.1:%d" % port})
        L.check(st == 200 and weight(f, "h0") == 3, "a same-origin POST works (%d)" % st)
        # arguments: a NUL byte, unknown ones
        st, _, _ = req(a, "POST", "/targets?name=a%%00b&addr=%s" % b.addr)
        L.check(st == 400 and "a" not in f.targets(), "name=a%%00b is 400 and adds nothing "
                "(%d)" % st)
        st, _, _ = req(a, "POST", "/targets?name=ab&addr=%s&zo%%00ne=x" % b.addr)
        L.check(st == 400 and "ab" not in f.targets(), "a NUL in a key is 400 (%d)" % st)
        for path in ("/metrics?x=1", "/ready?verbose", "/targets?name=h0"):
            st, _, _ = req(a, "GET", path)
            L.check(st == 400, "GET %s (an unknown argument) -> %d" % (path, st))
    finally:
        f.stop()
        b.stop()


def test_token():
    b = L.Backend("t0")
    tdir = L.tempfile.mkdtemp(prefix="lbfwd-token-")
    tok = os.path.join(tdir, "token")
    secret = "s3cr3t-token-0123456789abcdef"
    with open(tok, "w") as fh:
        fh.write(secret + "\n")
    f = L.Lbfwd(["--listen", "127.0.0.1:0", "--check", "none", "--admin-token-file", tok,
                 "--target", "t0=%s" % b.addr])
    a = f.admin_addr
    try:
        st, _, www = req(a, "POST", "/targets/t0/weight?value=0")
        L.check(st == 401 and www and www.startswith("Bearer"),
                "a mutating call without the token -> 401 with WWW-Authenticate (%d)" % st)
        for hdr in ("Bearer wrong-token-0123456789abcdef", "Bearer " + secret + "x",
                    "Basic " + secret, "Bearer " + secret[:-1]):
            st, _, _ = req(a, "POST", "/targets/t0/drain", headers={"Authorization": hdr})
            L.check(st == 401, "Authorization %r -> %d" % (hdr[:20], st))
        st, _, _ = req(a, "POST", "/targets?name=n1&addr=%s" % b.addr)
        L.check(st == 401 and "n1" not in f.targets(), "an add without the token -> 401")
        st, _, _ = req(a, "DELETE", "/targets/t0")
        L.check(st == 401 and "t0" in f.targets(), "a delete without the token -> 401")
        L.check(weight(f, "t0") == 1, "nothing changed without the token")
        st, _, _ = req(a, "POST", "/targets/t0/weight?value=4",
                       headers={"Authorization": "Bearer " + secret})
        L.check(st == 200 and weight(f, "t0") == 4, "with the token: 200 (%d)" % st)
        for path in ("/metrics", "/ready", "/targets"):
            st, _, _ = req(a, "GET", path)
            L.check(st == 200, "GET %s needs no token (%d)" % (path, st))
    finally:
        f.stop()
        b.stop()
    # a non-loopback admin address needs admin_allow_remote and a token
    for extra, want in (([], 2), (["--admin-allow-remote"], 2),
                        (["--admin-allow-remote", "--admin-token-file", tok], 0)):
        p = subprocess.run([L.LBFWD, "--check-config", "--listen", "127.0.0.1:80", "--admin",
                            "0.0.0.0:9999"] + extra, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=10)
        L.check(p.returncode == want, "--admin 0.0.0.0:9999 %s -> exit %d (%s)"
                % (" ".join(extra), p.returncode, p.stderr.decode().strip()))
    short = os.path.join(tdir, "short")
    with open(short, "w") as fh:
        fh.write("abc\n")
    for path, why in ((short, "16 to"), (os.path.join(tdir, "missing"), "No such file")):
        p = subprocess.run([L.LBFWD, "--check-config", "--listen", "127.0.0.1:80",
                            "--admin-token-file", path], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=10)
        L.check(p.returncode == 2 and why in p.stderr.decode(),
                "a bad token file -> exit 2 (%s)" % p.stderr.decode().strip())


def slow_client(addr, src, stop, cut, idx):
    """Connects from `src` and sends one header byte a second until cut or stopped."""
    s = socket.socket()
    s.settimeout(1.0)
    try:
        s.bind((src, 0))
        s.connect(addr)
        line = b"GET /ready HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 200
        for byte in line:
            if stop.is_set():
                return
            s.sendall(bytes([byte]))
            try:
                d = s.recv(1)
                if d == b"" or d:
                    cut[idx] = time.monotonic()
                    return
            except socket.timeout:
                pass
    except OSError:
        cut[idx] = time.monotonic()
    finally:
        s.close()


def test_slow_clients():
    b = L.Backend("r0")
    f = L.Lbfwd(["--listen", "127.0.0.1:0", "--check", "none", "--target", "r0=%s" % b.addr])
    a = f.admin_addr
    stop = threading.Event()
    try:
        # 64 slow clients from other addresses: 8 held at most, each for at most the header
        # deadline; 4 slow ones from the prober's own address, cut at the deadline too
        n_far, n_near = 64, 4
        cut = [None] * (n_far + n_near)
        started = time.monotonic()
        threads = []
        for i in range(n_far):
            threads.append(threading.Thread(target=slow_client,
                                            args=(a, "127.0.0.%d" % (2 + i % 4), stop, cut, i),
                                            daemon=True))
        for i in range(n_near):
            threads.append(threading.Thread(target=slow_client,
                                            args=(a, "127.0.0.1", stop, cut, n_far + i),
                                            daemon=True))
        for t in threads:
            t.start()
        time.sleep(0.5)
        worst, fails, probes = 0.0, 0, 0
        end = time.monotonic() + 6
        while time.monotonic() < end:
            t0 = time.monotonic()
            try:
                st, _, _ = req(a, "GET", "/ready")
            except OSError:
                st = 0
            dt = time.monotonic() - t0
            probes += 1
            worst = max(worst, dt)
            if st != 200:
                fails += 1
            time.sleep(0.1)
        L.check(fails == 0 and worst < 1.0,
                "/ready answered %d probes among 68 slow clients: %d failed, slowest %.0f ms"
                % (probes, fails, worst * 1e3))
        near = [cut[n_far + i] for i in range(n_near)]
        L.check(all(c is not None and c - started < 5.0 for c in near),
                "slow clients are cut at the header deadline: %s"
                % ["%.1f s" % (c - started) if c else "never" for c in near])
    finally:
        stop.set()
        f.stop()
        b.stop()


def test_own_addresses():
    b = L.Backend("o0")
    f = L.Lbfwd(["--listen", "127.0.0.1:0", "--check", "none", "--target", "o0=%s" % b.addr])
    a = f.admin_addr
    try:
        for name, addr, what in (("adm", "127.0.0.1:%d" % a[1], "admin"),
                                 ("lst", "127.0.0.1:%d" % f.port, "listener")):
            st, body, _ = req(a, "POST", "/targets?name=%s&addr=%s" % (name, addr))
            L.check(st == 400 and "own" in body and name not in f.targets(),
                    "a target at lbfwd's own %s is refused: %d %s" % (what, st, body.strip()))
        for bad in ("0.0.0.0:80", "255.255.255.255:80", "127.0.0.1:0", "224.0.0.1:80",
                    "[::]:80"):
            st, _, _ = req(a, "POST", "/targets?name=bad&addr=%s" % bad)
            L.check(st == 400, "a target at %s is refused (%d)" % (bad, st))
        L.check(L.request(f.host, f.port)["name"] == "o0", "still serving")
    finally:
        f.stop()
        b.stop()
    # in the configuration: at the listener (also through a wildcard listener) or the admin
    for args in (["--listen", "127.0.0.1:7001", "--target", "x=127.0.0.1:7001"],
                 ["--listen", "0.0.0.0:7001", "--target", "x=127.0.0.1:7001"],
                 ["--listen", "[::]:7001", "--target", "x=127.0.0.1:7001"],
                 ["--listen", "127.0.0.1:7001", "--admin", "127.0.0.1:7002", "--target",
                  "x=127.0.0.1:7002"]):
        p = subprocess.run([L.LBFWD, "--check-config"] + args, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=10)
        L.check(p.returncode == 2 and "own" in p.stderr.decode(),
                "%s -> exit 2 (%s)" % (" ".join(args), p.stderr.decode().strip()))


def main():
    test_host_and_origin()
    test_token()
    test_slow_clients()
    test_own_addresses()
    print("lbfwd-admin-security: OK")


if __name__ == "__main__":
    main()
