#!/usr/bin/env python3
"""lbfwd under target churn, as service discovery drives it: LBFWD_CHURN_CYCLES (default
100,000) admin add/delete cycles of targets with new names, while one target keeps serving.
Checks that ids are reused (the id high-water mark stays small: the 65,536 limit is never
reached), that records are freed (memory returns: RSS after the churn within a few MB of RSS
after the warm-up), that admin latency stays flat (/targets, /metrics and /ready answer as fast
after the churn as before, within a generous bound), that a SIGHUP is still handled at once,
that a removed target is listed as `removed` and only among the last 1,000 removals, and that
the serving target still serves. Every wait is bounded. A sanitized build
(LBFWD_CHURN_SANITIZED=1) runs fewer cycles and leaves out the RSS check (ASan holds freed
blocks in its quarantine); the record and id gauges still prove that records are freed."""

import http.client
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lbfwd_common as L  # noqa: E402

CYCLES = int(os.environ.get("LBFWD_CHURN_CYCLES", "100000"))
WARMUP = min(2000, CYCLES // 4)
BUDGET_S = float(os.environ.get("LBFWD_CHURN_BUDGET_S", "900"))
SANITIZED = os.environ.get("LBFWD_CHURN_SANITIZED") == "1"


class Admin:
    """One keep-alive HTTP/1.1 connection to the admin API (reopened if the server closes it)."""

    def __init__(self, addr):
        self.addr = addr
        self.c = None

    def req(self, method, path):
        for _ in range(3):
            if self.c is None:
                self.c = http.client.HTTPConnection(self.addr[0], self.addr[1], timeout=10)
            try:
                self.c.request(method, path)
                r = self.c.getresponse()
                body = r.read()
                if r.getheader("Connection", "").lower() == "close":
                    self.c.close()
                    self.c = None
                return r.status, body
            except (http.client.HTTPException, OSError):
                self.c.close()
                self.c = None
        L.fail("%s %s: no answer" % (method, path))


def timed(adm, path):
    t0 = time.monotonic()
    st, body = adm.req("GET", path)
    return time.monotonic() - t0, st, body


def latencies(adm):
    out = {}
    for path in ("/targets", "/metrics", "/ready"):
        best = None
        for _ in range(3):  # the best of three: the machine is shared
            dt, st, _ = timed(adm, path)
            L.check(st == 200, "GET %s -> %d" % (path, st))
            best = dt if best is None else min(best, dt)
        out[path] = best
    return out


def gauge(adm, name):
    st, body = adm.req("GET", "/metrics")
    L.check(st == 200, "GET /metrics")
    for line in body.decode().splitlines():
        if line.startswith(name + " "):
            return int(float(line.split()[1]))
    L.fail("/metrics has no %s" % name)


def main():
    b = L.Backend("s0")
    f = L.Lbfwd(["--listen", "127.0.0.1:0", "--check", "none", "--table-size", "4099",
                 "--no-access-log", "--target", "s0=%s" % b.addr])
    adm = Admin(f.admin_addr)
    addr = b.addr
    t_start = time.monotonic()
    try:
        base = None
        rss_warm = None
        for i in range(CYCLES):
            name = "c%d" % i
            st, body = adm.req("POST", "/targets?name=%s&addr=%s" % (name, addr))
            if st != 201:
                L.fail("cycle %d: add -> %d %s" % (i, st, body[:100]))
            st, body = adm.req("DELETE", "/targets/%s" % name)
            if st != 200:
                L.fail("cycle %d: delete -> %d %s" % (i, st, body[:100]))
            if i + 1 == WARMUP:
                base = latencies(adm)
                rss_warm = L.rss_kb(f.proc.pid)
            if i % 1000 == 0 and time.monotonic() - t_start > BUDGET_S:
                L.fail("%d cycles not done within %d s (at %d)" % (CYCLES, BUDGET_S, i))
        elapsed = time.monotonic() - t_start
        # every removed record is freed shortly after its removal
        L.check(L.wait_until(lambda: gauge(adm, "lbfwd_target_records") == 1, 10),
                "records back to the one registered target (%d)" %
                gauge(adm, "lbfwd_target_records"))
        ids = gauge(adm, "lbfwd_target_ids")
        L.check(ids < 1000, "ids reused: %d handed out for %d adds" % (ids, CYCLES + 1))
        after = latencies(adm)
        rss_end = L.rss_kb(f.proc.pid)
        for path, dt in after.items():
            L.check(dt < max(10 * base[path], 0.25),
                    "GET %s: %.1f ms after the churn (%.1f ms after the warm-up)" %
                    (path, dt * 1e3, base[path] * 1e3))
        if SANITIZED:  # ASan keeps freed blocks in quarantine: the record count proves frees
            print("sanitized build: RSS %d kB -> %d kB not checked (ASan quarantine)"
                  % (rss_warm, rss_end))
        else:
            L.check(rss_end - rss_warm < 8192,
                    "memory returns: RSS %d kB after the warm-up, %d kB after %d cycles" %
                    (rss_warm, rss_end, CYCLES))
        # removed targets: listed as removed, only the last 1,000
        st, body = adm.req("GET", "/targets")
        listed = json.loads(body)
        removed = [t for t in listed if t["state"] == "removed"]
        L.check(len(removed) <= 1000 and len(removed) >= min(CYCLES, 1000) // 2,
                "%d removed targets listed (at most the last 1000)" % len(removed))
        L.check(any(t["name"] == "c%d" % (CYCLES - 1) for t in removed),
                "the last removal is listed as removed")
        L.check(not any(t["name"] == "c0" for t in listed) or CYCLES <= 1000,
                "the first removal is no longer listed")
        # the control loop is not starved: a SIGHUP is handled at once
        reloads = gauge(adm, "lbfwd_reloads_total{result=\"ok\"}")
        t0 = time.monotonic()
        f.signal(signal.SIGHUP)
        L.check(L.wait_until(lambda: gauge(adm, "lbfwd_reloads_total{result=\"ok\"}") > reloads,
                             5), "SIGHUP handled")
        hup = time.monotonic() - t0
        L.check(hup < 1.0, "SIGHUP handled in %.0f ms" % (hup * 1e3))
        L.check(L.request(f.host, f.port)["name"] == "s0", "the serving target still serves")
        print("churn: %d cycles in %.1f s; ids handed out %d; RSS %d kB -> %d kB; "
              "latency ms (warm-up -> after): %s; SIGHUP %.0f ms" %
              (CYCLES, elapsed, ids, rss_warm, rss_end,
               ", ".join("%s %.1f -> %.1f" % (p, base[p] * 1e3, after[p] * 1e3)
                         for p in after), hup * 1e3))
    finally:
        f.stop()
        b.stop()
    print("lbfwd-churn: OK")


if __name__ == "__main__":
    main()
