#!/usr/bin/env python3
"""Packets per short connection through lbfwd, counted by the kernel in a network namespace of
the test's own (its TCP counters see nothing else).

A backend answers each request with one segment carrying the answer and its FIN; a client makes
sequential connections (connect, request, read to the end, close). With smart connect (the
default) the request carries the handshake's last ACK toward the target; with smart accept (the
default) the answer carries the ACK of the client's request, whether the request came with the
handshake or after a pause; and the answer leaves lbfwd toward the client with its FIN in one
segment: checked against the kernel's own counts (Tcp OutSegs per connection in the
namespace), against `--no-smart-accept` and `--no-smart-connect` in the same run, and for the
bytes both ways. A server that speaks first is served at once in both modes (the handshake ACK
is not held for the delayed-ACK timer when there is nothing to send), and so is a client that
writes its request in two pieces under Nagle (the ACK it waits for is not held either); the
ACKs sent alone are counted exactly.

Needs root (ip netns); the namespace is removed in every case.
Finds lbfwd at $LB_BUILD_ROOT/examples/lbfwd/lbfwd (or --lbfwd PATH).
"""
import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import time

import lbfwd_common as L
from lbfwd_common import check, fail, recv_all

N_CONNS = 200
REQUEST = b"GET / HTTP/1.0\r\n\r\n"
ANSWER = b"HTTP/1.0 200 OK\r\nContent-Length: 6\r\n\r\nhello\n"
BACKEND, BANNER_BACKEND = ("127.0.0.1", 7001), ("127.0.0.1", 7002)
LISTEN, BANNER_LISTEN = ("127.0.0.1", 7101), ("127.0.0.1", 7102)


def tcp_counters():
    """Tcp counters of /proc/net/snmp: per network namespace."""
    lines = [line.split() for line in open("/proc/net/snmp") if line.startswith("Tcp:")]
    return dict(zip(lines[0][1:], (int(v) for v in lines[1][1:])))


def listener(addr):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(addr)
    s.listen(128)
    return s


def serve(ls, handle):
    """Accepts until the listener is closed; handle(conn) for each, one at a time (a reset or
    a timeout on one connection is that connection's end, not the server's)."""
    while True:
        try:
            c, _ = ls.accept()
        except OSError:
            return
        with c:
            c.settimeout(5)
            try:
                handle(c)
            except OSError:
                pass


def answer(c, got):
    """One segment with the answer and the FIN (MSG_MORE, then shutdown), then read to EOF."""
    req = b""
    while not req.endswith(b"\r\n\r\n"):
        b = c.recv(4096)
        if not b:
            break
        req += b
    got.append(req)
    c.send(ANSWER, socket.MSG_MORE)
    c.shutdown(socket.SHUT_WR)
    recv_all(c)  # lbfwd resets a target that closed first: expected


def banner(c):
    """Speaks first: a banner on accept, before reading anything."""
    c.sendall(b"220 banner\r\n")
    recv_all(c)


def start_lbfwd(listen, target, extra):
    """lbfwd ready (its ready file written: no probe connection adds packets or held ACKs)."""
    return L.Lbfwd(["--listen", "%s:%d" % listen, "--target", "t=%s:%d" % target,
                    "--workers", "1", "--check", "none", "--no-access-log"] + extra)


def settled(f):
    """f's metrics once it has no connection open: the last client's close may still be in
    flight, and a held ACK of its may yet be flushed."""
    if not L.wait_until(lambda: f.metrics()["lbfwd_connections_active"] == 0, 5):
        fail("lbfwd still has connections open after 5 s")
    return f.metrics()


def stopped(f):
    check(f.stop() == 0, "lbfwd exits 0 on SIGTERM")


def segments_per_conn(extra, got, pause=0.0):
    """TCP segments per connection; with pause, each client waits that long after its
    handshake before sending its request."""
    f = start_lbfwd(LISTEN, BACKEND, extra)
    try:
        got.clear()
        answers = []
        before = tcp_counters()
        for _ in range(N_CONNS):
            s = socket.create_connection(LISTEN, timeout=5)
            if pause:
                time.sleep(pause)
            s.sendall(REQUEST)
            answers.append(recv_all(s))
            s.close()
        time.sleep(0.3)  # the last close's packets (no admin request here: it has packets too)
        after = tcp_counters()
        stopped(f)
    finally:
        f.kill()
    check(all(a == ANSWER for a in answers) and len(answers) == N_CONNS,
          "%s: every client got the whole answer" % (" ".join(extra) or "default"))
    check(len(got) >= N_CONNS and all(r == REQUEST for r in got[-N_CONNS:]),
          "%s: every request reached the backend whole" % (" ".join(extra) or "default"))
    return ((after["OutSegs"] - before["OutSegs"]) / N_CONNS,
            (after["ActiveOpens"] - before["ActiveOpens"]) / N_CONNS)


def metric(name, text):
    return int(re.search(r"^%s (\d+)$" % name, text, re.M).group(1))


def acks_alone(f, kind="connect"):
    return settled(f)["lbfwd_smart_%s_acks_total" % kind]


def split_request_delay(extra):
    """A client under Nagle (no TCP_NODELAY) that waits after its handshake, then writes its
    request in two pieces: the second leaves only once the first is acknowledged. Median time
    from the first piece to the whole answer; ACKs of client bytes sent alone."""
    f = start_lbfwd(LISTEN, BACKEND, extra)
    delays = []
    try:
        acks0 = acks_alone(f, "accept")
        for _ in range(7):
            s = socket.create_connection(LISTEN, timeout=5)
            time.sleep(0.02)
            t0 = time.monotonic()
            s.send(REQUEST[:10])
            s.send(REQUEST[10:])
            a = recv_all(s)
            delays.append(time.monotonic() - t0)
            s.close()
            if a != ANSWER:
                fail("split request through lbfwd: %r" % a)
        acks = acks_alone(f, "accept") - acks0
        stopped(f)
    finally:
        f.kill()
    return statistics.median(delays), acks


def banner_delay(extra):
    """Median time to the banner; handshake ACKs sent alone (nothing to carry them)."""
    f = start_lbfwd(BANNER_LISTEN, BANNER_BACKEND, extra)
    delays = []
    try:
        acks0 = acks_alone(f)
        for _ in range(7):
            t0 = time.monotonic()
            s = socket.create_connection(BANNER_LISTEN, timeout=5)
            s.settimeout(5)
            line = s.recv(100)
            delays.append(time.monotonic() - t0)
            s.close()
            if line != b"220 banner\r\n":
                fail("banner through lbfwd: %r" % line)
        acks = acks_alone(f) - acks0
        stopped(f)
    finally:
        f.kill()
    return statistics.median(delays), acks


def inner(lbfwd):
    L.LBFWD = lbfwd
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    got = []
    ls, bs = listener(BACKEND), listener(BANNER_BACKEND)
    threading.Thread(target=serve, args=(ls, lambda c: answer(c, got)), daemon=True).start()
    threading.Thread(target=serve, args=(bs, banner), daemon=True).start()

    default, opens = segments_per_conn([], got)
    smart, _ = segments_per_conn(["--no-smart-accept"], got)
    plain, _ = segments_per_conn(["--no-smart-accept", "--no-smart-connect"], got)
    print("segments per connection: default %.2f, --no-smart-accept %.2f, and "
          "--no-smart-connect %.2f" % (default, smart, plain))
    check(1.9 <= opens <= 2.1, "two connections opened per client connection (%.2f)" % opens)
    # Per connection, client side: SYN, SYN-ACK, ACK, request, answer + FIN (carrying the
    # request's ACK), the client's FIN, its ACK (7); target side: SYN, SYN-ACK, request + ACK,
    # its ACK, answer + FIN, reset (6). Without smart accept the request's ACK goes alone
    # (+1); without smart connect too, the handshake's last ACK toward the target (+1).
    # (a held ACK goes alone when the answer takes over 1 ms, as it may on a loaded machine or
    # under a sanitizer: a few per cent of connections may cost one segment more)
    check(default <= 13.5, "by default about 13 segments per connection (%.2f)" % default)
    check(smart - default >= 0.5, "smart accept saves the ACK of the client's request "
          "(%.2f vs %.2f)" % (default, smart))
    check(smart <= 14.5, "with smart connect alone about 14 segments per connection (%.2f)"
          % smart)
    check(plain - smart >= 0.5, "smart connect saves the handshake ACK toward the target "
          "(%.2f vs %.2f)" % (smart, plain))

    # a client that pauses before its request: nothing carries the target's handshake ACK in
    # time (+1), smart accept still saves the ACK of the request
    paused, _ = segments_per_conn([], got, pause=0.01)
    paused_plain, _ = segments_per_conn(["--no-smart-accept"], got, pause=0.01)
    print("segments per connection, request 10 ms after the handshake: smart accept %.2f, "
          "--no-smart-accept %.2f" % (paused, paused_plain))
    check(paused <= 14.5, "a paused client: about 14 segments per connection (%.2f)" % paused)
    check(paused_plain - paused >= 0.5, "a paused client: smart accept saves the ACK of its "
          "request (%.2f vs %.2f)" % (paused, paused_plain))
    for extra, flushed in (([], 7), (["--no-smart-accept"], 0)):
        d, acks = split_request_delay(extra)
        # a held ACK would show as the delayed-ACK timer: 40 ms or more
        check(d < 0.03, "%s: a request in two pieces under Nagle is answered at once (median "
              "%.1f ms)" % (" ".join(extra) or "default", d * 1000))
        check(acks == flushed, "%s: %d ACKs of client bytes sent alone (%d)"
              % (" ".join(extra) or "default", flushed, acks))

    for extra, flushed in (([], 7), (["--no-smart-connect"], 0)):
        d, acks = banner_delay(extra)
        # a held handshake ACK would show as the delayed-ACK timer: 200 ms or more
        check(d < 0.1, "%s: a server that speaks first is heard at once (median %.1f ms)"
              % (" ".join(extra) or "default", d * 1000))
        # none of the 7 clients sent a byte to carry the ACK
        check(acks == flushed, "%s: %d handshake ACKs sent alone (%d)"
              % (" ".join(extra) or "default", flushed, acks))
    ls.close()
    bs.close()
    print("PASS")


def main(argv):
    if "--inner" in argv:
        inner(argv[argv.index("--inner") + 1])
        return
    lbfwd = os.path.join(os.environ.get("LB_BUILD_ROOT", "build"), "examples/lbfwd/lbfwd")
    if "--lbfwd" in argv:
        lbfwd = argv[argv.index("--lbfwd") + 1]
    lbfwd = os.path.abspath(lbfwd)
    if os.geteuid() != 0:
        print("SKIP: needs root for a network namespace")
        sys.exit(77)
    ns = "lbpk-%d" % os.getpid()
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        r = subprocess.run(["ip", "netns", "exec", ns, sys.executable, os.path.abspath(__file__),
                            "--inner", lbfwd], timeout=120)
        sys.exit(r.returncode)
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=20)


if __name__ == "__main__":
    main(sys.argv[1:])
