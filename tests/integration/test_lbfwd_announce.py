#!/usr/bin/env python3
"""lbfwd's readiness and announce delay, the pieces a node behind BGP needs (doc/scaling.md):

  1. GET /ready is 200 while lbfwd listens with at least one eligible target, 503 when no
     target is eligible (every target drained through the admin API), 200 again after one is
     undrained.
  2. --announce-delay D: at SIGTERM /ready turns 503 at once while the listeners keep
     accepting and serving new connections for D (the time a BGP speaker's health check needs
     to withdraw the node's route); then the listeners close, open connections drain, and
     lbfwd exits 0 once they end.
  3. A second SIGTERM during the delay ends it at once; without --announce-delay (default 0)
     SIGTERM closes the listeners at once, as before.
  4. announce_delay is checked like every duration (bad value, above 10m: exit 2).

Plain lbfwd on loopback; every wait bounded.
"""
import signal
import socket
import subprocess
import sys
import time

import lbfwd_common as L


def ready(f):
    try:
        return f.admin("GET", "/ready", timeout=2)[0]
    except OSError:
        return None


def accepts(f):
    """True when a new connection is accepted and served (the echo backend answers)."""
    try:
        s = socket.create_connection((f.host, f.port), timeout=2)
    except OSError:
        return False
    try:
        s.sendall(b"ping")
        return s.recv(16) == b"ping"
    except OSError:
        return False
    finally:
        s.close()


def test_ready_reflects_eligible_targets():
    b1, b2 = L.Backend("one", mode="echo"), L.Backend("two", mode="echo")
    f = L.Lbfwd(["--listen", "127.0.0.1:0", "--check", "none", "--drain-timeout", "0",
                 "--target", "one=%s" % b1.addr, "--target", "two=%s" % b2.addr])
    try:
        L.check(ready(f) == 200, "listening with two eligible targets: /ready 200")
        L.check(f.admin("POST", "/targets/one/drain")[0] == 200, "drain target one")
        L.check(ready(f) == 200, "one eligible target left: /ready 200")
        L.check(f.admin("POST", "/targets/two/drain")[0] == 200, "drain target two")
        L.check(ready(f) == 503, "no eligible target: /ready 503 (the node should withdraw)")
        L.check(f.admin("POST", "/targets/two/undrain")[0] == 200, "undrain target two")
        L.check(ready(f) == 200, "an eligible target again: /ready 200")
        L.check(f.stop() == 0, "SIGTERM exits 0")
    finally:
        f.kill()
        b1.stop()
        b2.stop()


def test_announce_delay():
    b = L.Backend("e", mode="echo")
    delay = 1.5
    f = L.Lbfwd(["--listen", "127.0.0.1:0", "--check", "none", "--drain-timeout", "10s",
                 "--announce-delay", "1500ms", "--target", "e=%s" % b.addr])
    try:
        L.check(ready(f) == 200 and accepts(f), "before SIGTERM: ready and serving")
        held = socket.create_connection((f.host, f.port), timeout=5)
        held.sendall(b"before")
        L.check(held.recv(100) == b"before", "a connection is open before SIGTERM")
        t0 = time.monotonic()
        f.signal(signal.SIGTERM)
        L.check(L.wait_until(lambda: ready(f) == 503, 1.0, 0.01),
                "at SIGTERM /ready turns 503 at once (%.0f ms)" % ((time.monotonic() - t0) * 1e3))
        served = 0
        while time.monotonic() - t0 < delay - 0.4:
            if not accepts(f):
                L.fail("a new connection %.0f ms after SIGTERM (announce delay %.0f ms) was not "
                       "served" % ((time.monotonic() - t0) * 1e3, delay * 1e3))
            served += 1
            time.sleep(0.05)
        L.check(served >= 3 and ready(f) == 503,
                "during the announce delay: not ready, and %d new connections served" % served)
        L.check(L.wait_until(lambda: not accepts(f), delay + 2, 0.05),
                "after the delay the listeners close (%.0f ms after SIGTERM)"
                % ((time.monotonic() - t0) * 1e3))
        L.check(time.monotonic() - t0 >= delay - 0.05, "not before the delay")
        L.check(f.proc.poll() is None, "still running while a connection is open (draining)")
        held.sendall(b"during")
        L.check(held.recv(100) == b"during", "the open connection keeps working in the drain")
        held.shutdown(socket.SHUT_WR)
        L.recv_all(held)
        held.close()
        rc = f.proc.wait(timeout=5)
        L.check(rc == 0, "once it ends, lbfwd exits 0")
        L.check("announce delay" in f.log_text(), "the log names the announce delay")
    finally:
        f.kill()
        b.stop()


def test_second_signal_and_default():
    b = L.Backend("e", mode="echo")
    f = L.Lbfwd(["--listen", "127.0.0.1:0", "--check", "none", "--announce-delay", "60s",
                 "--target", "e=%s" % b.addr])
    try:
        f.signal(signal.SIGTERM)
        L.check(L.wait_until(lambda: ready(f) == 503, 1, 0.01) and accepts(f),
                "--announce-delay 60s: after SIGTERM not ready, still accepting")
        t0 = time.monotonic()
        f.signal(signal.SIGTERM)
        rc = f.proc.wait(timeout=5)
        L.check(rc == 0 and time.monotonic() - t0 < 2,
                "a second SIGTERM ends the delay: lbfwd exits 0 at once")
    finally:
        f.kill()
    f = L.Lbfwd(["--listen", "127.0.0.1:0", "--check", "none", "--target", "e=%s" % b.addr])
    try:
        t0 = time.monotonic()
        f.signal(signal.SIGTERM)
        rc = f.proc.wait(timeout=5)
        L.check(rc == 0 and time.monotonic() - t0 < 2,
                "no announce delay (default 0): SIGTERM with nothing open exits at once")
    finally:
        f.kill()
        b.stop()


def test_config():
    for value, why in (("soon", "not a duration"), ("11m", "above 10m")):
        r = subprocess.run([L.LBFWD, "--listen", "127.0.0.1:1", "--target", "a=127.0.0.1:2",
                            "--announce-delay", value, "--check-config"],
                           capture_output=True, text=True, timeout=10)
        L.check(r.returncode == 2 and "announce" in (r.stdout + r.stderr),
                "--announce-delay %s (%s): exit 2 naming the setting" % (value, why))
    r = subprocess.run([L.LBFWD, "--listen", "127.0.0.1:1", "--target", "a=127.0.0.1:2",
                        "--announce-delay", "2s", "--check-config"],
                       capture_output=True, text=True, timeout=10)
    L.check(r.returncode == 0, "--announce-delay 2s is accepted")


def main():
    test_ready_reflects_eligible_targets()
    test_announce_delay()
    test_second_signal_and_default()
    test_config()
    print("PASS")


if __name__ == "__main__":
    sys.exit(main())
