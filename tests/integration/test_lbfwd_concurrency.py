#!/usr/bin/env python3
"""lbfwd under concurrent change (also run under ThreadSanitizer by scripts/check): two workers
serve three client threads while the admin API drains, undrains, reweighs and scrapes, and the
configuration is reloaded every 200 ms with a changing target set. Zero failed connections."""

import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lbfwd_common as L  # noqa: E402


def config(backends, k):
    """Generation k: c0 always in (so a target is always eligible: zero failures is the right
    expectation), one of c1..c3 out in turn, weights and zones moving."""
    text = ("[lbfwd]\nlisten = 127.0.0.1:0\ncheck = tcp\ncheck_interval = 100ms\n"
            "drain_timeout = 5s\nworkers = 2\n")
    for i, b in enumerate(backends):
        if i == 0 or i != 1 + k % 3:
            text += "[target %s]\naddr = %s\nweight = %d\nzone = z%d\n" % (
                b.name, b.addr, 1 + (i + k) % 3, (i + k) % 2)
    return text


def main():
    backends = [L.Backend("c%d" % i) for i in range(4)]
    f = L.Lbfwd([], config=config(backends, 0))
    stop = threading.Event()
    stats = {"ok": 0, "failed": 0, "admin_bad": 0, "scrapes": 0}
    lock = threading.Lock()

    def client():
        while not stop.is_set():
            try:
                L.request(f.host, f.port)
                with lock:
                    stats["ok"] += 1
            except (OSError, ValueError) as e:
                with lock:
                    stats["failed"] += 1
                print("client error:", e)

    def operator():
        i = 0
        while not stop.is_set():
            name = backends[1 + i % 3].name  # never drains c0
            for method, path in (("POST", "/targets/%s/drain" % name),
                                 ("POST", "/targets/c0/weight?value=%d" % (1 + i % 4)),
                                 ("POST", "/targets/%s/undrain" % name),
                                 ("POST", "/targets/%s/weight?value=%d" % (name, 1 + i % 5)),
                                 ("GET", "/metrics"), ("GET", "/targets"), ("GET", "/ready")):
                st, _ = f.admin(method, path)
                with lock:
                    stats["scrapes"] += 1
                    # 404/409: the target may be out of this generation or not drained
                    if st not in (200, 404, 409, 503):
                        stats["admin_bad"] += 1
            i += 1

    threads = [threading.Thread(target=client, daemon=True) for _ in range(3)]
    threads.append(threading.Thread(target=operator, daemon=True))
    try:
        for t in threads:
            t.start()
        for k in range(1, 16):
            with open(f.config, "w") as fh:
                fh.write(config(backends, k))
            f.signal(signal.SIGHUP)
            time.sleep(0.2)
            # signals coalesce: wait for this reload before the next (slow sanitizer builds)
            L.wait_until(lambda: f.log_text().count("lbfwd: reloaded") >= k, 10)
        stop.set()
        for t in threads:
            t.join(10)
        print("stats:", stats)
        m = f.metrics()
        L.check(m['lbfwd_reloads_total{result="ok"}'] == 15, "15 reloads applied under load")
        L.check(stats["ok"] > 300, "%d connections served meanwhile" % stats["ok"])
        L.check(stats["failed"] == 0, "zero failed connections across reloads and admin changes")
        L.check(stats["admin_bad"] == 0, "every admin request answered sensibly (%d requests)"
                % stats["scrapes"])
        L.check(L.wait_until(lambda: f.metrics()["lbfwd_connections_active"] == 0, 3),
                "no connection left behind")
        L.check(f.stop() == 0, "SIGTERM exits 0")
    finally:
        stop.set()
        f.kill()
        for b in backends:
            b.stop()
    print("PASS")


if __name__ == "__main__":
    main()
