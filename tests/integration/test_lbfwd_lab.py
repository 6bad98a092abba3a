#!/usr/bin/env python3
"""The seed's lab as success criteria, on loopback: distribution over 3 targets, the client
address through PROXY v1 and v2, draining 2 of 3 targets under a continuous stream with
connections held open, no target gives an immediate refusal, source affinity."""

import collections
import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lbfwd_common as L  # noqa: E402


def target_args(backends):
    out = []
    for b in backends:
        out += ["--target", "%s=%s" % (b.name, b.addr)]
    return out


def test_distribution(backends):
    f = L.Lbfwd(["--listen", "127.0.0.1:0", "--workers", "2", "--check", "none"]
                + target_args(backends))
    try:
        cnt = collections.Counter()
        for _ in range(3000):
            cnt[L.request(f.host, f.port)["name"]] += 1
        print("distribution:", dict(cnt))
        for b in backends:
            L.check(850 <= cnt[b.name] <= 1150,
                    "%s got %d of 3000 (within +-15 %% of a third)" % (b.name, cnt[b.name]))
        m = f.metrics()
        L.check(m["lbfwd_connections_accepted_total"] == 3000, "3000 connections accepted")
        L.check(L.wait_until(lambda: f.metrics()["lbfwd_connections_active"] == 0, 3),
                "no connection left active")
        L.check(f.stop() == 0, "SIGTERM exits 0")
    finally:
        f.kill()


def test_proxy_client_address(version):
    bs = [L.Backend("p%d" % i, expect_proxy=True) for i in range(2)]
    f = L.Lbfwd(["--listen", "127.0.0.1:0", "--check", "tcp", "--check-interval", "200ms",
                 "--send-proxy", version] + (["--send-proxy-crc32c"] if version == "v2" else [])
                + target_args(bs))
    try:
        bad = 0
        for i in range(200):
            s = socket.socket()
            s.settimeout(3)
            s.bind(("127.0.0.%d" % (2 + i % 50), 0))
            mine = s.getsockname()
            s.connect((f.host, f.port))
            s.sendall(b"hi\n")
            r = json.loads(s.makefile().readline())
            s.close()
            if (r["proxy_src"], r["proxy_port"]) != (mine[0], mine[1]):
                bad += 1
        L.check(bad == 0, "PROXY %s: the target sees the real client address and port (200 "
                "clients from 50 addresses)" % version)
        L.check(L.wait_until(lambda: sum(b.health_hits for b in bs) >= 2, 3),
                "PROXY %s: health checks arrive with a LOCAL header" % version)
        hdrs = bs[0].headers + bs[1].headers
        if version == "v1":
            L.check(all(h.startswith(b"PROXY TCP4 ") or h == b"PROXY UNKNOWN\r\n" for h in hdrs),
                    "v1 headers are TCP4 text (UNKNOWN for checks)")
        else:
            proxied = [h for h in hdrs if h[12] == 0x21]
            L.check(len(proxied) >= 200 and all(h[16 + 12:16 + 15] == b"\x03\x00\x04"
                                                 for h in proxied),
                    "v2 headers carry a CRC32C TLV first")
    finally:
        f.stop()
        for b in bs:
            b.stop()


def test_ipv6():
    b = L.Backend("v6", host="::1", expect_proxy=True)
    f = L.Lbfwd(["--listen", "[::1]:0", "--check", "none", "--send-proxy", "v2",
                 "--target", "v6=%s" % b.addr])
    try:
        r = L.request(f.host, f.port)
        L.check(f.host == "::1" and r["name"] == "v6" and r["proxy_src"] == "::1",
                "IPv6 listener and target; the IPv6 client address reaches it through PROXY v2")
    finally:
        f.stop()
        b.stop()


def test_drain_two_of_three(backends):
    f = L.Lbfwd(["--listen", "127.0.0.1:0", "--workers", "2", "--check", "none",
                 "--drain-timeout", "30s"] + target_args(backends))
    try:
        # connections held open across the drain (picked before it)
        held = []
        for _ in range(30):
            s = socket.create_connection((f.host, f.port), timeout=5)
            held.append(s)
        time.sleep(0.2)
        stats = {"ok": 0, "failed": 0, "names": collections.Counter(), "after": collections.Counter()}
        phase = {"drained": False}
        stop = threading.Event()
        lock = threading.Lock()

        def client():
            while not stop.is_set():
                try:
                    name = L.request(f.host, f.port)["name"]
                    with lock:
                        stats["ok"] += 1
                        stats["names"][name] += 1
                        if phase["drained"]:
                            stats["after"][name] += 1
                except (OSError, ValueError):
                    with lock:
                        stats["failed"] += 1

        threads = [threading.Thread(target=client, daemon=True) for _ in range(3)]
        for t in threads:
            t.start()
        L.wait_until(lambda: stats["ok"] >= 600, 20)
        for name in ("b0", "b1"):
            st, _ = f.admin("POST", "/targets/%s/drain" % name)
            L.check(st == 200, "POST /targets/%s/drain -> 200" % name)
        time.sleep(0.2)  # requests picked just before the drain finish
        with lock:
            phase["drained"] = True
        L.wait_until(lambda: stats["ok"] >= 2400, 30)
        stop.set()
        for t in threads:
            t.join(10)
        print("stream:", stats)
        L.check(stats["ok"] >= 2000, "continuous stream of %d short connections" % stats["ok"])
        L.check(stats["failed"] == 0, "zero failed connections while draining 2 of 3")
        L.check(stats["after"]["b0"] == 0 and stats["after"]["b1"] == 0,
                "drained targets get no new connections")
        t = f.targets()
        L.check(t["b0"]["state"] == "draining" and t["b1"]["state"] == "draining",
                "/targets shows them draining")
        held_ok = 0
        for s in held:
            s.sendall(b"x\n")
            try:
                held_ok += bool(json.loads(L.recv_all(s))["name"])
            except (OSError, ValueError):
                pass
            s.close()
        L.check(held_ok == 30, "all 30 connections held open across the drain completed")
        L.check(L.wait_until(lambda: f.targets()["b0"]["active"] == 0, 3),
                "drained targets end with no active connection")
    finally:
        f.stop()


def test_drain_deadline(backends):
    f = L.Lbfwd(["--listen", "127.0.0.1:0", "--check", "none", "--drain-timeout", "500ms",
                 "--target", "%s=%s" % (backends[0].name, backends[0].addr)])
    try:
        s = socket.create_connection((f.host, f.port), timeout=5)
        time.sleep(0.2)
        st, _ = f.admin("DELETE", "/targets/%s" % backends[0].name)
        L.check(st == 200, "DELETE drains the target")
        t0 = time.time()
        try:
            d = s.recv(10)
        except ConnectionResetError:
            d = b""
        dt = time.time() - t0
        s.close()
        L.check(d == b"" and dt < 3, "the drain deadline closes a connection left open (%.2fs)" % dt)
        L.check(L.wait_until(lambda: f.targets().get(backends[0].name, {}).get("state") in
                             (None, "removed"), 3), "then the target is removed")
    finally:
        f.stop()


def test_no_target(backends):
    f = L.Lbfwd(["--listen", "127.0.0.1:0", "--check", "none"])
    try:
        st, _ = f.admin("GET", "/ready")
        L.check(st == 503, "/ready is 503 with no target")
        ok, dt = L.refused_quickly(f.host, f.port)
        L.check(ok and dt < 0.5, "0 targets: immediate refusal (%.3fs)" % dt)
        st, _ = f.admin("POST", "/targets?name=%s&addr=%s" % (backends[0].name, backends[0].addr))
        L.check(st == 201, "POST /targets adds one")
        L.check(L.request(f.host, f.port)["name"] == backends[0].name, "and traffic flows again")
        st, _ = f.admin("GET", "/ready")
        L.check(st == 200, "/ready is 200 again")
        L.check(f.metrics()['lbfwd_refused_total{reason="no_target"}'] >= 1, "refusals counted")
    finally:
        f.stop()


def test_affinity(backends):
    sticky = L.Lbfwd(["--listen", "127.0.0.1:0", "--check", "none", "--affinity", "source"]
                     + target_args(backends))
    plain = L.Lbfwd(["--listen", "127.0.0.1:0", "--check", "none"] + target_args(backends))
    try:
        for ip in ("127.0.0.2", "127.0.0.3", "127.0.0.4"):
            names = {L.request(sticky.host, sticky.port, src=ip)["name"] for _ in range(50)}
            L.check(len(names) == 1, "source affinity keeps %s on one target (%s)" % (ip, names))
        names = {L.request(plain.host, plain.port, src="127.0.0.2")["name"] for _ in range(60)}
        L.check(len(names) == 3, "without affinity one client's connections spread (%s)" % names)
        firsts = {L.request(sticky.host, sticky.port, src="127.0.0.%d" % i)["name"]
                  for i in range(10, 60)}
        L.check(len(firsts) == 3, "with affinity different clients still spread")
    finally:
        sticky.stop()
        plain.stop()


def test_zones(backends):
    """Three targets in two zones; this instance in zone z1. Cross-zone on (all) spreads over
    every target; local keeps to z1's two."""
    zones = ["z1", "z1", "z2"]
    for mode, want in (("all", {"b0", "b1", "b2"}), ("local", {"b0", "b1"})):
        args = ["--listen", "127.0.0.1:0", "--check", "none", "--zone", "z1", "--zone-mode", mode]
        for b, z in zip(backends, zones):
            args += ["--target", "%s=%s,zone=%s" % (b.name, b.addr, z)]
        f = L.Lbfwd(args)
        try:
            cnt = collections.Counter(L.request(f.host, f.port)["name"] for _ in range(600))
            L.check(set(cnt) == want and all(cnt[n] > 150 for n in want),
                    "--zone-mode %s: %s" % (mode, dict(cnt)))
        finally:
            f.stop()


def test_algorithms(backends):
    """Every --algorithm serves through the balancer with weights 1:2:3: the hashing ones and
    wrr over 1200 sequential connections; leastconn and p2c, whose picks follow the active
    counts, over 60 connections held open at once."""
    for alg in ("maglev", "ring", "ring-bounded", "wrr", "leastconn", "p2c", "rendezvous"):
        args = ["--listen", "127.0.0.1:0", "--check", "none", "--algorithm", alg]
        for i, b in enumerate(backends):
            args += ["--target", "%s=%s,weight=%d" % (b.name, b.addr, i + 1)]
        f = L.Lbfwd(args)
        try:
            if alg in ("leastconn", "p2c"):
                held = [socket.create_connection((f.host, f.port), timeout=5) for _ in range(60)]
                L.wait_until(lambda: sum(t["active"] for t in f.targets().values()) == 60, 3)
                cnt = {n: t["active"] for n, t in f.targets().items()}
                tol = 0.05 if alg == "leastconn" else 0.12
                for h in held:
                    h.close()
                total = 60.0
            else:
                cnt = collections.Counter(L.request(f.host, f.port)["name"] for _ in range(1200))
                tol = 0.08
                total = 1200.0
            shares = [cnt.get(b.name, 0) / total for b in backends]
            L.check(all(abs(shares[i] - (i + 1) / 6.0) <= tol for i in range(3)),
                    "--algorithm %s: weights 1:2:3 give %s" % (alg, dict(cnt)))
        finally:
            f.stop()


def main():
    backends = [L.Backend("b%d" % i) for i in range(3)]
    try:
        test_distribution(backends)
        test_proxy_client_address("v1")
        test_proxy_client_address("v2")
        test_ipv6()
        test_drain_two_of_three(backends)
        test_drain_deadline(backends)
        test_no_target(backends)
        test_affinity(backends)
        test_zones(backends)
        test_algorithms(backends)
    finally:
        for b in backends:
            b.stop()
    print("PASS")


if __name__ == "__main__":
    main()
