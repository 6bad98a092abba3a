#!/usr/bin/env python3
"""lbfwd forwarding: bytes intact both ways (splice and plain copy), half-close both ways, a reset
on one side becomes a reset on the other, connect retries on another target, limits, timeouts,
and no descriptor left behind."""

import hashlib
import os
import signal
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lbfwd_common as L  # noqa: E402


def listener():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    s.settimeout(5)
    return s


def accept_in_thread(srv, fn):
    out = {}

    def run():
        try:
            c, _ = srv.accept()
            c.settimeout(5)
            out["result"] = fn(c)
        except Exception as e:  # reported by the caller
            out["error"] = repr(e)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


def test_integrity(splice):
    srv = listener()
    port = srv.getsockname()[1]
    f = L.Lbfwd(["--listen", "127.0.0.1:0", "--workers", "1", "--check", "none",
                 "--target", "echo=127.0.0.1:%d" % port] + ([] if splice else ["--no-splice"]))
    try:
        payload = os.urandom(8 * 1024 * 1024)

        def echo(c):
            n = 0
            while True:
                d = c.recv(65536)
                if not d:
                    break
                c.sendall(d)
                n += len(d)
            c.shutdown(socket.SHUT_WR)
            c.close()
            return n

        t, out = accept_in_thread(srv, echo)
        s = socket.create_connection((f.host, f.port), timeout=10)
        got = {}

        def reader():
            got["data"] = L.recv_all(s)

        rt = threading.Thread(target=reader, daemon=True)
        rt.start()
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)  # half-close from the client: the echo still answers
        rt.join(20)
        t.join(20)
        s.close()
        mode = "splice" if splice else "copy"
        L.check(hashlib.sha256(got.get("data", b"")).digest() == hashlib.sha256(payload).digest(),
                "%s: 8 MiB echoed intact through a client half-close" % mode)
        m = f.metrics()
        L.check(m['lbfwd_bytes_total{direction="in"}'] == len(payload) and
                m['lbfwd_bytes_total{direction="out"}'] == len(payload),
                "%s: byte counters match the payload both ways" % mode)
        L.check(f.stop() == 0, "%s: SIGTERM exits 0" % mode)
    finally:
        f.kill()
        srv.close()


def test_half_close_backend_first():
    srv = listener()
    port = srv.getsockname()[1]
    f = L.Lbfwd(["--listen", "127.0.0.1:0", "--check", "none", "--target",
                 "t=127.0.0.1:%d" % port])
    try:
        # the backend speaks first, shuts its side, then still reads what the client sends
        def backend(c):
            c.sendall(b"greeting")
            c.shutdown(socket.SHUT_WR)
            return L.recv_all(c)

        t, out = accept_in_thread(srv, backend)
        s = socket.create_connection((f.host, f.port), timeout=5)
        greeting = L.recv_all(s)  # EOF reaches the client
        s.sendall(b"after-eof")
        s.shutdown(socket.SHUT_WR)
        t.join(5)
        s.close()
        L.check(greeting == b"greeting", "backend's bytes and FIN reach the client")
        L.check(out.get("result") == b"after-eof",
                "client bytes after the backend's FIN still reach the backend (half-close)")
    finally:
        f.stop()
        srv.close()


def rst_close(sock):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_resets():
    srv = listener()
    port = srv.getsockname()[1]
    f = L.Lbfwd(["--listen", "127.0.0.1:0", "--check", "none", "--target",
                 "t=127.0.0.1:%d" % port])
    try:
        base_fds = f.fd_count()
        # backend resets -> client sees a reset
        def backend_rst(c):
            c.recv(10)
            rst_close(c)
            return True

        t, out = accept_in_thread(srv, backend_rst)
        s = socket.create_connection((f.host, f.port), timeout=5)
        s.sendall(b"x")
        t.join(5)
        try:
            d = s.recv(10)
            kind = "eof" if d == b"" else "data"
        except ConnectionResetError:
            kind = "reset"
        s.close()
        L.check(kind == "reset", "a backend reset reaches the client as a reset (got %s)" % kind)

        # client resets -> backend sees a reset
        box = {}

        def backend_wait(c):
            c.sendall(b"hi")
            try:
                d = c.recv(10)
                while d:
                    d = c.recv(10)
                box["kind"] = "eof"
            except ConnectionResetError:
                box["kind"] = "reset"
            return True

        t, out = accept_in_thread(srv, backend_wait)
        s = socket.create_connection((f.host, f.port), timeout=5)
        s.recv(2)
        rst_close(s)
        t.join(5)
        L.check(box.get("kind") == "reset", "a client reset reaches the backend as a reset (got %s)"
                % box.get("kind"))
        L.check(L.wait_until(lambda: f.fd_count() == base_fds, 3),
                "descriptors back to baseline after resets (%d)" % f.fd_count())
    finally:
        f.stop()
        srv.close()


def test_retry_and_limits():
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    dead_port = dead.getsockname()[1]
    dead.close()  # nothing listens there: connects are refused
    b = L.Backend("alive")
    f = L.Lbfwd(["--listen", "127.0.0.1:0", "--check", "none", "--retries", "2",
                 "--target", "dead=127.0.0.1:%d" % dead_port,
                 "--target", "alive=%s" % b.addr])
    try:
        names = [L.request(f.host, f.port)["name"] for _ in range(50)]
        L.check(names.count("alive") == 50, "connects refused by one target retry on the other")
        m = f.metrics()
        L.check(m['lbfwd_errors_total{kind="connect_failed"}'] > 0 and
                m["lbfwd_connect_retries_total"] > 0, "refused connects and retries counted")
    finally:
        f.stop()

    f = L.Lbfwd(["--listen", "127.0.0.1:0", "--check", "none", "--max-conns", "2",
                 "--target", "alive=%s" % b.addr])
    try:
        held = [socket.create_connection((f.host, f.port), timeout=5) for _ in range(2)]
        time.sleep(0.2)
        ok, dt = L.refused_quickly(f.host, f.port)
        L.check(ok and dt < 1.0, "past --max-conns a new connection is refused at once")
        for h in held:
            h.sendall(b"x\n")
            L.check(b"alive" in L.recv_all(h), "held connections still served at the limit")
            h.close()
        L.check(f.metrics()['lbfwd_refused_total{reason="max_conns"}'] >= 1,
                "max_conns refusals counted")
    finally:
        f.stop()

    f = L.Lbfwd(["--listen", "127.0.0.1:0", "--check", "none",
                 "--target", "alive=%s,maxconn=1" % b.addr])
    try:
        h = socket.create_connection((f.host, f.port), timeout=5)
        time.sleep(0.2)
        ok, dt = L.refused_quickly(f.host, f.port)
        L.check(ok and dt < 1.0, "past a target's maxconn a new connection is refused at once")
        h.sendall(b"x\n")
        L.recv_all(h)
        h.close()
        L.check(L.wait_until(lambda: f.targets()["alive"]["active"] == 0, 3),
                "the slot is released when the connection ends")
        L.check(L.request(f.host, f.port)["name"] == "alive", "and the next connection is served")
        L.check(f.metrics()['lbfwd_refused_total{reason="target_full"}'] >= 1,
                "target_full refusals counted")
    finally:
        f.stop()
        b.stop()


def test_timeouts():
    srv = listener()
    port = srv.getsockname()[1]
    f = L.Lbfwd(["--listen", "127.0.0.1:0", "--check", "none", "--idle-timeout", "300ms",
                 "--half-closed-timeout", "300ms", "--target", "t=127.0.0.1:%d" % port])
    try:
        t, out = accept_in_thread(srv, lambda c: L.recv_all(c))
        s = socket.create_connection((f.host, f.port), timeout=5)
        t0 = time.time()
        d = L.recv_all(s)
        dt = time.time() - t0
        s.close()
        t.join(5)
        L.check(d == b"" and 0.2 < dt < 2.5, "idle timeout closes a silent connection (%.2fs)" % dt)

        def silent_after_fin(c):
            time.sleep(3)
            return True

        t, out = accept_in_thread(srv, silent_after_fin)
        s = socket.create_connection((f.host, f.port), timeout=5)
        s.shutdown(socket.SHUT_WR)
        t0 = time.time()
        d = L.recv_all(s)
        dt = time.time() - t0
        s.close()
        L.check(d == b"" and dt < 2.5, "half-closed timeout closes a half-closed connection (%.2fs)"
                % dt)
        m = f.metrics()
        L.check(m['lbfwd_errors_total{kind="idle_timeout"}'] >= 1 and
                m['lbfwd_errors_total{kind="half_closed_timeout"}'] >= 1, "timeouts counted")
        t.join(5)
    finally:
        f.stop()
        srv.close()

    # connect timeout: a black-holed target (listen backlog full, never accepts)
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(0)
    fillers = []
    for _ in range(4):
        c = socket.socket()
        c.setblocking(False)
        try:
            c.connect(hole.getsockname())
        except BlockingIOError:
            pass
        fillers.append(c)
    time.sleep(0.2)
    f = L.Lbfwd(["--listen", "127.0.0.1:0", "--check", "none", "--connect-timeout", "300ms",
                 "--retries", "0", "--target", "hole=127.0.0.1:%d" % hole.getsockname()[1]])
    try:
        ok, dt = L.refused_quickly(f.host, f.port, timeout=5)
        L.check(ok and dt < 3.0, "connect timeout gives up on a black hole (%.2fs)" % dt)
        L.check(f.metrics()['lbfwd_errors_total{kind="connect_timeout"}'] >= 1,
                "connect timeouts counted")
    finally:
        f.stop()
        for c in fillers:
            c.close()
        hole.close()


def test_backpressure(splice):
    """A client that does not read: the backend's writes must stall, lbfwd's memory stay flat."""
    srv = listener()
    port = srv.getsockname()[1]
    f = L.Lbfwd(["--listen", "127.0.0.1:0", "--workers", "1", "--check", "none",
                 "--target", "t=127.0.0.1:%d" % port] + ([] if splice else ["--no-splice"]))
    try:
        box = {"sent": 0}

        def flood(c):
            c.setblocking(False)
            chunk = b"z" * 65536
            deadline = time.time() + 1.5
            while time.time() < deadline and box["sent"] < 64 * 1024 * 1024:
                try:
                    box["sent"] += c.send(chunk)
                except BlockingIOError:
                    time.sleep(0.01)
            c.close()
            return True

        s = socket.create_connection((f.host, f.port), timeout=5)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        rss0 = L.rss_kb(f.proc.pid)
        t, out = accept_in_thread(srv, flood)
        t.join(10)
        rss1 = L.rss_kb(f.proc.pid)
        mode = "splice" if splice else "copy"
        L.check(box["sent"] < 32 * 1024 * 1024,
                "%s: a client that does not read stalls the backend (%d bytes accepted)"
                % (mode, box["sent"]))
        L.check(rss1 - rss0 < 1024, "%s: lbfwd's memory stays flat (%+d kB)" % (mode, rss1 - rss0))
        s.close()
    finally:
        f.stop()
        srv.close()


def test_sigterm_drain():
    b = L.Backend("e", mode="echo")
    f = L.Lbfwd(["--listen", "127.0.0.1:0", "--check", "none", "--drain-timeout", "10s",
                 "--target", "e=%s" % b.addr])
    try:
        held = socket.create_connection((f.host, f.port), timeout=5)
        held.sendall(b"before")
        L.check(held.recv(100) == b"before", "a connection is open before SIGTERM")
        f.signal(signal.SIGTERM)
        time.sleep(0.3)
        probe = socket.socket()
        probe.settimeout(2)
        refused = probe.connect_ex((f.host, f.port)) != 0
        probe.close()
        L.check(refused and f.proc.poll() is None,
                "after SIGTERM: no new connection, still running while one is open")
        held.sendall(b"during")
        L.check(held.recv(100) == b"during", "the open connection keeps working during the drain")
        held.shutdown(socket.SHUT_WR)
        L.recv_all(held)
        held.close()
        t0 = time.time()
        rc = f.proc.wait(timeout=5)
        L.check(rc == 0 and time.time() - t0 < 2, "once it ends, lbfwd exits 0 at once")
    finally:
        f.kill()
        b.stop()


def main():
    test_sigterm_drain()
    test_backpressure(True)
    test_backpressure(False)
    test_integrity(True)
    test_integrity(False)
    test_half_close_backend_first()
    test_resets()
    test_retry_and_limits()
    test_timeouts()
    print("PASS")


if __name__ == "__main__":
    main()
