#!/usr/bin/env python3
"""lbfwd UDP listeners with real UDP software: Debian's dnsmasq instances as DNS backends, each
answering a distinct A record for test.lab (so a reply tells which backend answered), and
DNS-over-UDP clients built by hand here, through lbfwd. Checks: every query answered, each
client flow (source port) on one backend, flows spread per Maglev, replies from the address the
client sent to (a wildcard listener), a drained backend gets no new flow while its flows keep
working, a target that never answers and one that answers with ICMP port unreachable,
udp_responses=1, oversized datagrams, a full flow table. Every wait is bounded."""

import os
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lbfwd_common as L  # noqa: E402
from lbfwd_common import (Clients, Dnsmasq, answer_ip, free_port, metric, query,  # noqa: E402
                          raise_nofile, start_udp_lbfwd as start_lbfwd, wait_healthy)

def test_spread_and_stickiness(dns, port):
    """1,500 flows over three dnsmasq backends through a wildcard UDP listener."""
    lb = start_lbfwd([("d%d" % d.n, "%s:%d" % (d.addr, port)) for d in dns],
                     ["--check-interval", "200ms", "--udp-idle-timeout", "30s"],
                     listen="udp:0.0.0.0:0")
    try:
        wait_healthy(lb, ["d1", "d2", "d3"])
        by_ip = {d.ip: "d%d" % d.n for d in dns}
        counts = {"d1": 0, "d2": 0, "d3": 0}
        total = 0
        keep = []  # every client stays open: no source port (flow) is reused
        for chunk in range(5):
            # to 127.0.0.3: the wildcard listener must answer from that address
            c = Clients(300, "127.0.0.3", lb.udp_port)
            first = c.round()
            for rnd in range(2):
                again = c.round()
                for i, ip in first.items():
                    L.check(ip is not None, "flow %d unanswered" % i)
                    L.check(again[i] == ip, "flow %d moved from %s to %s" % (i, ip, again[i]))
            for ip in first.values():
                counts[by_ip[ip]] += 1
                total += 1
            keep.append(c)
        exp = total / 3
        for name, n in counts.items():
            L.check(abs(n - exp) <= 0.15 * exp,
                    "%s has %d of %d flows (Maglev: %.0f +-15%%)" % (name, n, total, exp))
        m = lb.metrics()
        L.check(metric(m, "lbfwd_udp_flows_created_total") == total,
                "flows created %s, expected %d" % (metric(m, "lbfwd_udp_flows_created_total"),
                                                    total))
        L.check(metric(m, "lbfwd_udp_datagrams_in_total") >= 3 * total, "datagrams in")
        L.check(metric(m, "lbfwd_udp_datagrams_out_total") >= 3 * total, "datagrams out")
        L.check(metric(m, "lbfwd_udp_bytes_in_total") >= 3 * total * len(query(1)), "bytes in")
        lab = '{listener="udp:0.0.0.0:%d"}' % lb.udp_port
        L.check(metric(m, "lbfwd_udp_flows_created_total", lab) == total, "per-listener flows")
        for name, n in counts.items():
            tl = '{target="%s",state="healthy"}' % name
            L.check(metric(m, "lbfwd_target_udp_flows_total", tl) == n,
                    "%s: %s flows in /metrics, %d seen" %
                    (name, metric(m, "lbfwd_target_udp_flows_total", tl), n))
            L.check(metric(m, "lbfwd_target_udp_flows_active", tl) == n, "active per target")
        for c in keep:
            c.close()
        print("spread: %s of %d flows" % (counts, total))
    finally:
        L.check(lb.stop() == 0, "lbfwd exit code")


def drained(dns, port, drain_timeout, n_clients, min_on_d1):
    """lbfwd over the three backends, n_clients flows answered, then d1 drained; returns
    (lbfwd, clients, first answers, indexes of the flows on d1)."""
    lb = start_lbfwd([("d%d" % d.n, "%s:%d" % (d.addr, port)) for d in dns],
                     ["--check-interval", "200ms", "--drain-timeout", drain_timeout])
    wait_healthy(lb, ["d1", "d2", "d3"])
    c = Clients(n_clients, "127.0.0.1", lb.udp_port)
    first = c.round()
    on_d1 = [i for i, ip in first.items() if ip == dns[0].ip]
    L.check(all(first.values()), "unanswered before the drain")
    L.check(len(on_d1) > min_on_d1, "only %d flows on d1" % len(on_d1))
    st, body = lb.admin("POST", "/targets/d1/drain")
    L.check(st == 200, "drain: %d %s" % (st, body))
    return lb, c, first, on_d1


def test_drain(dns, port):
    lb, old, first, on_d1 = drained(dns, port, "60s", 300, 50)
    try:
        L.check(lb.targets()["d1"]["state"] == "draining", "d1 not draining")
        new = Clients(300, "127.0.0.1", lb.udp_port)
        got = new.round()
        L.check(all(got.values()), "new flows unanswered during the drain")
        L.check(dns[0].ip not in got.values(), "a new flow went to the draining d1")
        again = old.round()
        for i, ip in first.items():
            L.check(again[i] == ip, "old flow %d moved from %s to %s during the drain" %
                    (i, ip, again[i]))
        L.check(lb.targets()["d1"]["udp_active"] == len(on_d1), "d1's active flows")
        old.close()
        new.close()
        print("drain: %d flows kept d1, 300 new flows avoided it" % len(on_d1))
    finally:
        L.check(lb.stop() == 0, "lbfwd exit code")
    # the drain deadline ends the flows that still hold the target; they pick again
    lb, c, first, on_d1 = drained(dns, port, "1s", 150, 10)
    try:
        L.check(L.wait_until(lambda: lb.targets()["d1"]["udp_active"] == 0, 10),
                "flows still on d1 after its drain deadline")
        m = lb.metrics()
        L.check(metric(m, "lbfwd_udp_flows_closed_total") == len(on_d1),
                "flows closed at the deadline %s, %d on d1" %
                (metric(m, "lbfwd_udp_flows_closed_total"), len(on_d1)))
        again = c.round(only=on_d1)
        L.check(all(ip and ip != dns[0].ip for ip in again.values()),
                "flows of the drained d1 did not move: %s" % set(again.values()))
        c.close()
    finally:
        L.check(lb.stop() == 0, "lbfwd exit code")


def test_silent_and_refused(dns, port):
    """A target that never answers (a bound socket that reads nothing) and one whose port is
    closed (ICMP port unreachable), beside a dnsmasq."""
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.31", port))
    lb = start_lbfwd([("d1", "%s:%d" % (dns[0].addr, port)), ("silent", "127.0.0.31:%d" % port),
                      ("refused", "127.0.0.32:%d" % port)],
                     ["--check", "none", "--udp-idle-timeout", "1s", "--eject-after", "1",
                      "--max-eject-percent", "50"])
    try:
        c = Clients(300, "127.0.0.1", lb.udp_port)
        got = c.round(tries=5, wait=0.5)
        answered = [i for i, ip in got.items() if ip]
        unanswered = [i for i, ip in got.items() if not ip]
        L.check(all(ip == dns[0].ip for ip in got.values() if ip), "answer not from d1")
        m = lb.metrics()
        t = lb.targets()
        L.check(metric(m, "lbfwd_udp_flows_refused_total") >= 1, "no refused flow counted")
        L.check(metric(m, "lbfwd_target_udp_refused_total",
                       '{target="refused",state="%s"}' % t["refused"]["state"]) >= 1,
                "refused target's count")
        L.check(t["refused"]["udp_active"] == 0, "flows left on the refused target")
        L.check(t["refused"]["state"] != "healthy", "refused target not ejected: %s" %
                t["refused"]["state"])
        L.check(len(unanswered) >= 1 and len(unanswered) <= t["silent"]["udp_flows"],
                "%d unanswered clients, silent target had %d flows" %
                (len(unanswered), t["silent"]["udp_flows"]))
        L.check(len(answered) + len(unanswered) == 300, "client count")
        # the silent target's flows end idle (1 s), unanswered
        L.wait_until(lambda: lb.targets()["silent"]["udp_active"] == 0, 10)
        m = lb.metrics()
        L.check(metric(m, "lbfwd_udp_flows_expired_total") >= len(unanswered), "expired count")
        L.check(metric(m, "lbfwd_target_udp_unanswered_total",
                       '{target="silent",state="healthy"}') >= len(unanswered), "unanswered count")
        c.close()
        print("silent/refused: %d answered, %d on the silent target, %d refused flows" %
              (len(answered), len(unanswered), metric(m, "lbfwd_udp_flows_refused_total")))
    finally:
        L.check(lb.stop() == 0, "lbfwd exit code")
        silent.close()


def test_responses_oversized_full(dns, port):
    lb = start_lbfwd([("d1", "%s:%d" % (dns[0].addr, port))],
                     ["--check", "none", "--udp-responses", "1", "--udp-max-datagram", "512",
                      "--udp-flows", "8", "--workers", "1"])
    try:
        c = Clients(1, "127.0.0.1", lb.udp_port)
        for k in range(3):
            got = c.round()
            L.check(got[0] == dns[0].ip, "udp_responses=1: query %d unanswered" % k)
        m = lb.metrics()
        L.check(metric(m, "lbfwd_udp_flows_responses_total") == 3, "responses-ended flows %s" %
                metric(m, "lbfwd_udp_flows_responses_total"))
        L.check(metric(m, "lbfwd_udp_flows_created_total") == 3, "a new flow per query")
        L.check(metric(m, "lbfwd_udp_flows_active") == 0, "flow not ended after its reply")
        # oversized: dropped and counted
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.sendto(b"x" * 1000, ("127.0.0.1", lb.udp_port))
        L.wait_until(lambda: metric(lb.metrics(), "lbfwd_udp_dropped_oversized_total") == 1, 5)
        s.close()
        c.close()
        # a full table (8 flows): 40 clients whose target never answers; the oldest go
        lb.stop()
        lb = start_lbfwd([("silent", "127.0.0.33:%d" % port)],
                         ["--check", "none", "--udp-flows", "8", "--workers", "1"])
        quiet = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        quiet.bind(("127.0.0.33", port))
        socks = []
        for i in range(40):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.sendto(query(i), ("127.0.0.1", lb.udp_port))
            socks.append(s)
        L.wait_until(lambda: metric(lb.metrics(), "lbfwd_udp_flows_created_total") == 40, 5)
        m = lb.metrics()
        L.check(metric(m, "lbfwd_udp_flows_active") <= 8, "more flows than the table holds")
        L.check(metric(m, "lbfwd_udp_flows_evicted_total") >= 32, "evictions %s" %
                metric(m, "lbfwd_udp_flows_evicted_total"))
        L.check(lb.fd_count() < 40, "upstream sockets of evicted flows not closed")
        for s in socks:
            s.close()
        quiet.close()
        print("responses/oversized/full: ok (%d evicted)" %
              metric(m, "lbfwd_udp_flows_evicted_total"))
    finally:
        L.check(lb.stop() == 0, "lbfwd exit code")


def test_ipv6_wildcard(dns, port):
    """A wildcard IPv6 listener answers an IPv6 client from the address it sent to
    (IPV6_RECVPKTINFO), toward an IPv4 backend."""
    lb = start_lbfwd([("d1", "%s:%d" % (dns[0].addr, port))], ["--check", "none"],
                     listen="udp:[::]:0")
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.settimeout(1)
        ok = False
        for k in range(3):
            s.sendto(query(100 + k), ("::1", lb.udp_port))
            try:
                data, src = s.recvfrom(2048)
            except socket.timeout:
                continue
            L.check(src[0] == "::1" and src[1] == lb.udp_port, "IPv6 reply from %s" % (src,))
            L.check(answer_ip(data, 100 + k) == dns[0].ip, "IPv6 answer")
            ok = True
            break
        L.check(ok, "no IPv6 answer")
        s.close()
        m = lb.metrics()
        L.check(metric(m, "lbfwd_udp_flows_created_total",
                       '{listener="udp:[::]:%d"}' % lb.udp_port) == 1, "IPv6 listener's flow")
    finally:
        L.check(lb.stop() == 0, "lbfwd exit code")


def test_weight(dns, port):
    """An admin weight change steers new UDP flows as it does TCP connections (one balancer)."""
    lb = start_lbfwd([("d%d" % d.n, "%s:%d" % (d.addr, port)) for d in dns], ["--check", "none"])
    try:
        st, body = lb.admin("POST", "/targets/d1/weight?value=4")
        L.check(st == 200, "weight: %d %s" % (st, body))
        L.check(lb.targets()["d1"]["weight"] == 4, "weight not applied")
        c = Clients(600, "127.0.0.1", lb.udp_port)
        got = c.round()
        L.check(all(got.values()), "unanswered after the weight change")
        on_d1 = sum(1 for ip in got.values() if ip == dns[0].ip)
        L.check(abs(on_d1 - 400) <= 60, "d1 (weight 4 of 6) has %d of 600 new flows" % on_d1)
        c.close()
        print("weight: d1 at weight 4 of 6 took %d of 600 flows" % on_d1)
    finally:
        L.check(lb.stop() == 0, "lbfwd exit code")


def test_affinity_source(dns, port):
    """--affinity source: every flow of one client address goes to one backend."""
    lb = start_lbfwd([("d%d" % d.n, "%s:%d" % (d.addr, port)) for d in dns],
                     ["--check", "none", "--affinity", "source"])
    try:
        seen = set()
        for src in ("127.0.0.1", "127.0.0.4"):
            c = Clients(40, "127.0.0.1", lb.udp_port, src=src)
            got = c.round()
            L.check(all(got.values()), "affinity: unanswered")
            L.check(len(set(got.values())) == 1, "affinity: flows of %s on %s" %
                    (src, set(got.values())))
            seen |= set(got.values())
            c.close()
        print("affinity source: backends %s" % sorted(seen))
    finally:
        L.check(lb.stop() == 0, "lbfwd exit code")


def test_pool(dns, port):
    """udp:ADDR:PORT,pool=dns serves only the targets of the pool dns (pools of issue 19)."""
    targets = [("d1", "%s:%d,pool=dns" % (dns[0].addr, port)),
               ("d2", "%s:%d,pool=dns" % (dns[1].addr, port)),
               ("d3", "%s:%d" % (dns[2].addr, port))]
    lb = start_lbfwd(targets, ["--check", "none"], listen="udp:127.0.0.1:0,pool=dns")
    try:
        t = lb.targets()
        L.check(t["d1"]["pool"] == "dns" and t["d3"]["pool"] == "default",
                "pools in /targets: %s" % {k: v.get("pool") for k, v in t.items()})
        c = Clients(300, "127.0.0.1", lb.udp_port)
        got = c.round()
        L.check(all(got.values()), "pool: unanswered")
        ips = set(got.values())
        L.check(ips == {dns[0].ip, dns[1].ip}, "pool dns flows answered by %s" % sorted(ips))
        c.close()
        print("pool: 300 flows on %s only" % sorted(ips))
    finally:
        L.check(lb.stop() == 0, "lbfwd exit code")


def test_config_errors():
    for bad, msg in [("udp:127.0.0.1:9,pool=other", "names pool 'other', which no target or [pool]"),
                     ("udp:127.0.0.1:9,weight=2", "bad UDP listen option"),
                     ("udp:", "bad UDP listen address")]:
        r = subprocess.run([L.LBFWD, "--check-config", "--listen", bad, "--target",
                            "a=127.0.0.1:1"], capture_output=True, timeout=10)
        L.check(r.returncode == 2 and msg in r.stderr.decode(),
                "%s: %d %s" % (bad, r.returncode, r.stderr.decode()))
    r = subprocess.run([L.LBFWD, "--check-config", "--listen", "udp:127.0.0.1:9,pool=default",
                        "--target", "a=127.0.0.1:1"], capture_output=True, timeout=10)
    L.check(r.returncode == 0, "pool=default refused: %s" % r.stderr.decode())


def main():
    raise_nofile()
    test_config_errors()
    port = free_port()
    dns = []
    try:
        for n in (1, 2, 3):
            dns.append(Dnsmasq(n, port))
        tests = {"spread": test_spread_and_stickiness, "drain": test_drain,
                 "faults": test_silent_and_refused, "limits": test_responses_oversized_full,
                 "ipv6": test_ipv6_wildcard, "affinity": test_affinity_source,
                 "weight": test_weight, "pool": test_pool}
        for name in (sys.argv[1:] or tests):
            tests[name](dns, port)
    finally:
        for d in dns:
            d.stop()
    print("PASS")


if __name__ == "__main__":
    main()
