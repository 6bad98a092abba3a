#!/usr/bin/env python3
"""lbfwd admin HTTP: every endpoint's success and error statuses (2xx, 400, 404, 405, 409),
/metrics and /targets content, and health checks (tcp and http) seen through /targets."""

import http.server
import json
import os
import socket
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lbfwd_common as L  # noqa: E402


def test_requests():
    b = [L.Backend("a0"), L.Backend("a1")]
    f = L.Lbfwd(["--listen", "127.0.0.1:0", "--check", "none", "--target",
                 "a0=%s,zone=z1,weight=3" % b[0].addr])
    try:
        cases = [
            ("GET", "/nope", 404),
            ("GET", "/targets/a0/drain/x", 404),
            ("GET", "/", 404),
            ("POST", "/metrics", 405),
            ("DELETE", "/ready", 405),
            ("PUT", "/targets", 405),
            ("GET", "/targets/a0", 405),
            ("POST", "/targets/zz/drain", 404),
            ("POST", "/targets/zz/undrain", 404),
            ("POST", "/targets/zz/weight?value=1", 404),
            ("DELETE", "/targets/zz", 404),
            ("POST", "/targets/a0/weight", 400),
            ("POST", "/targets/a0/weight?value=abc", 400),
            ("POST", "/targets/a0/weight?value=70000", 400),
            ("POST", "/targets/a0/weight?value=1&value=2", 400),
            ("POST", "/targets/a0/weight?colour=1", 400),
            ("POST", "/targets/a0/drain?now=1", 400),
            ("POST", "/targets", 400),
            ("POST", "/targets?name=x", 400),
            ("POST", "/targets?name=bad%2Fname&addr=127.0.0.1:1", 400),
            ("POST", "/targets?name=x&addr=127.0.0.1", 400),
            ("POST", "/targets?name=x&addr=localhost:80", 400),
            ("POST", "/targets?name=x&addr=127.0.0.1:1&weight=-1", 400),
            ("POST", "/targets?name=x&addr=127.0.0.1:1&zone=a%20b", 400),
            ("POST", "/targets?name=x&addr=127.0.0.1:1&extra=1", 400),
            ("POST", "/targets?name=a0&addr=127.0.0.1:1", 409),
            ("POST", "/targets/a0/undrain", 409),
            ("POST", "/targets/a0/weight?value=5", 200),
            ("POST", "/targets?name=a1&addr=%s&zone=z2&weight=2" % b[1].addr, 201),
            ("POST", "/targets/a0/drain", 200),
            ("POST", "/targets/a0/undrain", 200),
            ("GET", "/ready", 200),
            ("GET", "/targets", 200),
            ("GET", "/metrics", 200),
        ]
        for method, path, want in cases:
            st, body = f.admin(method, path)
            L.check(st == want, "%s %s -> %d (want %d) %s" % (method, path, st, want,
                                                                body.strip()[:80]))
            if st >= 400:
                L.check("error" in json.loads(body), "error statuses carry a JSON error")
        t = f.targets()
        L.check(set(t) == {"a0", "a1"}, "/targets lists both")
        for name, want_w, want_z in (("a0", 5, "z1"), ("a1", 2, "z2")):
            o = t[name]
            L.check(set(("name", "addr", "zone", "weight", "state", "active")) <= set(o) and
                    o["weight"] == want_w and o["zone"] == want_z and o["state"] == "healthy",
                    "/targets %s: fields, weight %d, zone %s" % (name, want_w, want_z))
        L.request(f.host, f.port)
        m = f.metrics()
        for k in ("lbfwd_connections_accepted_total", "lbfwd_connections_active",
                  'lbfwd_bytes_total{direction="in"}', "lbfwd_balancer_picks_total",
                  'lbfwd_refused_total{reason="no_target"}',
                  'lbfwd_proxy_violations_total{kind="untrusted"}',
                  'lbfwd_target_active{target="a0",state="healthy"}',
                  'lbfwd_target_draining{target="a1",state="healthy"}'):
            L.check(k in m, "/metrics has %s" % k)
        L.check(any(k.startswith("lbfwd_table_info{algorithm=\"maglev\",digest=") for k in m),
                "/metrics carries the Maglev table digest")
        st, _ = f.admin("DELETE", "/targets/a1")
        L.check(st == 200, "DELETE /targets/a1 -> 200")
        L.check(L.wait_until(lambda: f.targets().get("a1", {}).get("state") in (None, "removed"),
                             3), "a deleted target without connections is removed")
        st, _ = f.admin("DELETE", "/targets/a1")
        L.check(st == 404, "deleting it again -> 404")
        # a raw malformed request does not hurt the server
        s = socket.create_connection(f.admin_addr, timeout=3)
        s.sendall(b"\x00\x01garbage\r\n\r\n")
        try:
            s.recv(100)
        except OSError:
            pass
        s.close()
        st, _ = f.admin("GET", "/ready")
        L.check(st == 200, "the admin server survives a garbage request")
    finally:
        f.stop()
        for x in b:
            x.stop()


class Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):
        self.send_response(Health.status if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, *a):
        pass


def test_health():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    port = srv.server_address[1]
    f = L.Lbfwd(["--listen", "127.0.0.1:0", "--check", "http:/healthz", "--check-interval",
                 "100ms", "--check-timeout", "300ms", "--rise", "2", "--fall", "2",
                 "--target", "h=127.0.0.1:%d" % port])
    try:
        L.check(f.targets()["h"]["state"] == "healthy", "targets start eligible")
        Health.status = 500
        L.check(L.wait_until(lambda: f.targets()["h"]["state"] == "unhealthy", 5),
                "http check: 500 makes the target unhealthy")
        Health.status = 200
        L.check(L.wait_until(lambda: f.targets()["h"]["state"] == "healthy", 5),
                "http check: 200 makes it healthy again")
        m = f.metrics()
        L.check(m['lbfwd_checks_total{result="failed"}'] >= 2 and
                m['lbfwd_checks_total{result="ok"}'] >= 2, "checks counted")
    finally:
        f.stop()
        srv.shutdown()
        srv.server_close()

    b = L.Backend("t")
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    dead_port = dead.getsockname()[1]
    dead.close()
    f = L.Lbfwd(["--listen", "127.0.0.1:0", "--check", "tcp", "--check-interval", "100ms",
                 "--fall", "2", "--target", "t=%s" % b.addr,
                 "--target", "gone=127.0.0.1:%d" % dead_port,
                 "--target", "viaport=127.0.0.1:%d,check_port=%d" % (dead_port, b.port)])
    try:
        L.check(L.wait_until(lambda: f.targets()["gone"]["state"] == "unhealthy", 5),
                "tcp check: a refused port makes the target unhealthy")
        L.check(f.targets()["t"]["state"] == "healthy", "a listening target stays healthy")
        L.check(f.targets()["viaport"]["state"] == "healthy",
                "check_port= checks another port than the traffic port")
    finally:
        f.stop()
        b.stop()


def test_fail_closed_and_ejection():
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    dead_port = dead.getsockname()[1]
    dead.close()
    for extra, want_failed in (([], 1), (["--fail-closed"], 0)):
        f = L.Lbfwd(["--listen", "127.0.0.1:0", "--check", "tcp", "--check-interval", "100ms",
                     "--fall", "2", "--target", "d=127.0.0.1:%d" % dead_port] + extra)
        try:
            L.check(L.wait_until(lambda: f.targets()["d"]["state"] == "unhealthy", 5),
                    "%s: the only target fails its checks" % (extra or "fail open"))
            m0 = f.metrics()
            ok, dt = L.refused_quickly(f.host, f.port)
            m1 = f.metrics()
            tried = (m1['lbfwd_errors_total{kind="connect_failed"}'] -
                     m0['lbfwd_errors_total{kind="connect_failed"}'])
            L.check(ok and dt < 1.0 and tried == want_failed,
                    "%s: refused at once, %d connect tried (%d)"
                    % (extra or "fail open", want_failed, tried))
        finally:
            f.stop()
    b = L.Backend("alive")
    f = L.Lbfwd(["--listen", "127.0.0.1:0", "--check", "none", "--eject-after", "2",
                 "--max-eject-percent", "50", "--target", "d=127.0.0.1:%d" % dead_port,
                 "--target", "a=%s" % b.addr])
    try:
        for _ in range(30):
            L.request(f.host, f.port)
        m0 = f.metrics()['lbfwd_errors_total{kind="connect_failed"}']
        names = {L.request(f.host, f.port)["name"] for _ in range(30)}
        m1 = f.metrics()['lbfwd_errors_total{kind="connect_failed"}']
        L.check(m0 == 2 and m1 == m0 and names == {"alive"},
                "--eject-after 2: two refused connects eject the target (%d, then %d more)"
                % (m0, m1 - m0))
        L.check(f.targets()["d"]["eligible"] is False, "the ejected target is not eligible")
    finally:
        f.stop()
        b.stop()


def main():
    test_requests()
    test_health()
    test_fail_closed_and_ejection()
    print("PASS")


if __name__ == "__main__":
    main()
