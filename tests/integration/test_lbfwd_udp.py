#!/usr/bin/env python3
"""lbfwd UDP listeners with real UDP software: Debian's dnsmasq instances as DNS backends, each
answering a distinct A record for test.lab (so a reply tells which backend answered), and
DNS-over-UDP clients built by hand here, through lbfwd. Checks: every query answered, each
client flow (source port) on one backend, flows spread per Maglev, replies from the address the
client sent to (a wildcard listener), a drained backend gets no new flow while its flows keep
working, a target that never answers and one that answers with ICMP port unreachable,
udp_responses=1, oversized datagrams, a full flow table. Every wait is bounded."""

import ctypes
import os
import re
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
        lab = '{listener="udp:0.0.0.0:%d",pool="default"}' % lb.udp_port
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
                       '{listener="udp:[::]:%d",pool="default"}' % lb.udp_port) == 1,
                "IPv6 listener's flow")
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
        lab = '{listener="udp:127.0.0.1:%d",pool="dns"}' % lb.udp_port
        m = lb.metrics()
        L.check(metric(m, "lbfwd_udp_flows_created_total", lab) == 300 and
                metric(m, "lbfwd_udp_datagrams_out_total", lab) >= 300,
                "the pool's listener series: %s flows" %
                metric(m, "lbfwd_udp_flows_created_total", lab))
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
    for bad in ("-1", "1073741825", "4k"):
        r = subprocess.run([L.LBFWD, "--check-config", "--listen", "udp:127.0.0.1:9",
                            "--target", "a=127.0.0.1:1", "--udp-rcvbuf", bad],
                           capture_output=True, timeout=10)
        L.check(r.returncode == 2 and "bad udp_rcvbuf '%s' (0..1073741824 bytes" % bad in
                r.stderr.decode(), "--udp-rcvbuf %s: %d %s" % (bad, r.returncode,
                                                               r.stderr.decode()))


def listener_rcvbufs(port):
    """The receive buffers (ss's skmem rb, bytes) of the UDP sockets bound to 127.0.0.1:port."""
    out = subprocess.run(["ss", "-u", "-a", "-n", "-m", "sport", "= :%d" % port],
                         capture_output=True, text=True, timeout=10).stdout
    return [int(m) for m in re.findall(r"\brb(\d+)", out)]


def test_rcvbuf(dns, port):
    """udp_rcvbuf: every worker's listener socket gets the size asked for (SO_RCVBUFFORCE, as
    root), beyond net.core.rmem_max; without CAP_NET_ADMIN the kernel caps it at rmem_max and
    lbfwd logs the size it got."""
    with open("/proc/sys/net/core/rmem_max") as f:
        rmem_max = int(f.read())
    want = rmem_max + 1000000
    lb = start_lbfwd([("a", "%s:%d" % (dns[0].ip, port))],
                     ["--check", "none", "--udp-rcvbuf", str(want)])
    try:
        rb = listener_rcvbufs(lb.udp_port)
        L.check(len(rb) == 2 and all(r == 2 * want for r in rb),
                "2 workers' listener buffers of %d bytes (twice %d): %s" % (2 * want, want, rb))
    finally:
        L.check(lb.stop() == 0, "lbfwd exit code")

    def no_net_admin():
        raise_nofile()
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(24, 12, 0, 0, 0) != 0:  # PR_CAPBSET_DROP, CAP_NET_ADMIN
            os._exit(120)
    lb = L.Lbfwd(["--listen", "udp:127.0.0.1:0", "--listen", "127.0.0.1:0", "--workers", "1",
                  "--check", "none", "--target", "a=%s:%d" % (dns[0].ip, port),
                  "--udp-rcvbuf", str(want)], preexec_fn=no_net_admin)
    try:
        host, lport = lb.info["udp_listen"][0].rsplit(":", 1)
        rb = listener_rcvbufs(int(lport))
        L.check(rb == [2 * rmem_max], "capped at rmem_max (%d): %s" % (rmem_max, rb))
        with open(lb.log) as f:
            log = f.read()
        L.check("receive buffer %d bytes, not %d" % (rmem_max, want) in log,
                "the cut size is logged: %r" % log[-300:])
    finally:
        L.check(lb.stop() == 0, "lbfwd exit code")
    print("rcvbuf: %d bytes as root on both workers; %d (rmem_max) without CAP_NET_ADMIN, "
          "logged" % (want, rmem_max))


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
                 "weight": test_weight, "pool": test_pool, "gso": test_gso_bursts,
                 "gso-mtu": test_gso_mtu, "parked": test_parked_sockets, "rcvbuf": test_rcvbuf}
        for name in (sys.argv[1:] or tests):
            tests[name](dns, port)
    finally:
        for d in dns:
            d.stop()
    print("PASS")


# ---- grouped sends (UDP GSO) -------------------------------------------------------------
# (this part's own imports, so that it stands alone at the end of the file)
import signal  # noqa: E402
import struct  # noqa: E402
import time  # noqa: E402


SOL_UDP, UDP_GRO = 17, 104
BURST = [100, 100, 100, 50, 100, 100, 7, 7, 300, 300, 300, 300, 0, 1400, 1400, 1400, 1, 2]


def gro_socket(addr):
    """A UDP socket that receives GSO groups whole (UDP_GRO), so that a test sees whether its
    peer sent them as one."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(SOL_UDP, UDP_GRO, 1)
    s.bind((addr, 0))
    s.settimeout(0.05)
    return s


def gro_recv(s):
    """[(payload, sender)] of one receive, split by its UDP_GRO segment size; and whether it
    was a group."""
    data, anc, _, src = s.recvmsg(65536, socket.CMSG_SPACE(4))
    seg = 0
    for level, kind, val in anc:
        if level == SOL_UDP and kind == UDP_GRO:
            fmt = "i" if len(val) >= 4 else "H"
            seg = struct.unpack(fmt, val[:struct.calcsize(fmt)])[0]
    if not seg or seg >= len(data):
        return [data], src, False
    return [data[i:i + seg] for i in range(0, len(data), seg)], src, True


def burst_payload(client, k, size):
    """The k-th datagram of a client's burst: its numbers first, as far as the size allows."""
    head = struct.pack("!HH", client, k)
    return (head + bytes([(client * 31 + k) & 0xFF]) * size)[:size]


def stop_process(pid):
    """SIGSTOP, then waits (at most 2 s) until every thread of pid has stopped, so that what is
    sent next queues up."""
    os.kill(pid, signal.SIGSTOP)

    def stopped():
        for t in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/stat" % (pid, t)) as f:
                if f.read().rsplit(")", 1)[1].split()[0] not in ("T", "t"):
                    return False
        return True
    L.check(L.wait_until(stopped, 2, step=0.005), "lbfwd did not stop")


def gso_rounds(lb, backend, clients, burst, rounds):
    """Each client sends `burst` (sizes) while lbfwd is stopped, the backend checks them and
    sends them back while lbfwd is stopped again, each client checks its replies: intact and
    in order both ways. Returns the datagram groups (UDP_GRO) seen toward the backend and
    toward the clients."""
    pid = lb.proc.pid
    groups_up = groups_down = 0
    for rnd in range(rounds):
        stop_process(pid)
        for c, s in enumerate(clients):
            for k, size in enumerate(burst):
                s.sendto(burst_payload(c, k, size), ("127.0.0.1", lb.udp_port))
        os.kill(pid, signal.SIGCONT)
        # the backend: every datagram, in order per flow (lbfwd's upstream socket)
        per_src = {}
        deadline = time.time() + 5
        total = len(clients) * len(burst)
        while sum(len(v) for v in per_src.values()) < total and time.time() < deadline:
            try:
                segs, src, grouped = gro_recv(backend)
            except socket.timeout:
                continue
            groups_up += grouped
            per_src.setdefault(src, []).extend(segs)
        L.check(sum(len(v) for v in per_src.values()) == total,
                "round %d: backend got %d of %d datagrams" %
                (rnd, sum(len(v) for v in per_src.values()), total))
        L.check(len(per_src) == len(clients), "round %d: %d upstream sockets for %d clients" %
                (rnd, len(per_src), len(clients)))
        for src, dg in per_src.items():
            c = struct.unpack("!H", dg[0][:2])[0]
            want = [burst_payload(c, k, size) for k, size in enumerate(burst)]
            L.check(dg == want, "round %d: client %d's datagrams changed or reordered "
                    "toward the target: %s" % (rnd, c, [len(d) for d in dg]))
        # replies: sent while lbfwd is stopped, so that each flow's come in one read
        stop_process(pid)
        for src, dg in per_src.items():
            for d in dg:
                backend.sendto(d, src)
        os.kill(pid, signal.SIGCONT)
        for c, s in enumerate(clients):
            got = []
            deadline = time.time() + 5
            while len(got) < len(burst) and time.time() < deadline:
                try:
                    segs, src, grouped = gro_recv(s)
                except socket.timeout:
                    continue
                L.check(src == ("127.0.0.1", lb.udp_port), "reply from %s" % (src,))
                groups_down += grouped
                got.extend(segs)
            want = [burst_payload(c, k, size) for k, size in enumerate(burst)]
            L.check(got == want, "round %d: client %d's replies changed or reordered: %s" %
                    (rnd, c, [len(d) for d in got]))
    return groups_up, groups_down


def gso_case(burst, n_clients, min_groups):
    """An echo backend behind lbfwd (one worker) and n_clients clients, all receiving with
    UDP_GRO; gso_rounds() three times with `burst`; at least min_groups groups each way, every
    datagram counted and none dropped. Returns the groups each way."""
    backend = gro_socket("127.0.0.41")
    bport = backend.getsockname()[1]
    lb = start_lbfwd([("echo", "127.0.0.41:%d" % bport)], ["--check", "none", "--workers", "1"])
    clients = [gro_socket("127.0.0.42") for _ in range(n_clients)]
    try:
        up, down = gso_rounds(lb, backend, clients, burst, 3)
        L.check(up >= min_groups and down >= min_groups, "%d groups reached the backend as one "
                "and %d the clients, fewer than %d (GSO unused?)" % (up, down, min_groups))
        m = lb.metrics()
        n = 3 * n_clients * len(burst)
        L.check(metric(m, "lbfwd_udp_flows_created_total") == n_clients, "flows created %s" %
                metric(m, "lbfwd_udp_flows_created_total"))
        L.check(metric(m, "lbfwd_udp_datagrams_in_total") == n and
                metric(m, "lbfwd_udp_datagrams_out_total") == n,
                "datagram counts in %s out %s, not %d" %
                (metric(m, "lbfwd_udp_datagrams_in_total"),
                 metric(m, "lbfwd_udp_datagrams_out_total"), n))
        L.check(metric(m, "lbfwd_udp_dropped_send_total") == 0, "drops counted")
        return up, down
    finally:
        for s in clients:
            s.close()
        backend.close()
        L.check(lb.stop() == 0, "lbfwd exit code")


def test_gso_bursts(dns, port):
    """Bursts of datagrams of mixed sizes (0 to 1,400 B), several clients at once, queued while
    lbfwd is stopped so that each comes out of one recvmmsg(): every datagram arrives intact
    and in its flow's order both ways; the backend and the clients receive with UDP_GRO and
    so see that lbfwd sent same-sized runs as one GSO message each way (4 runs per burst; a
    batch boundary may cut one, so at least 2 per client and round)."""
    up, down = gso_case(BURST, 6, 2 * 6 * 3)
    print("gso: 6 clients x %d datagrams x 3 rounds intact and in order; %d groups toward "
          "the target, %d toward clients" % (len(BURST), up, down))


MTU_BURST = [2000, 2000, 2000, 1400, 1400, 1400, 1400, 3000, 100, 100]


def gso_mtu_inner():
    """In a network namespace whose loopback has a 1,500-byte MTU: runs of 2,000-byte datagrams
    do not fit it, so the kernel refuses them as one GSO message; lbfwd sends them one by one
    (fragmented by IP) and keeps GSO for the runs that fit: once a socket was refused the
    2,000-byte run, its 1,400-byte and 100-byte runs still go as one each (in rounds 2 and 3
    at least), both ways."""
    subprocess.run(["ip", "link", "set", "lo", "up", "mtu", "1500"], check=True, timeout=10)
    up, down = gso_case(MTU_BURST, 3, 2 * 3 * 2)
    print("gso over a 1,500-byte MTU: refused runs sent one by one, intact and in order; "
          "%d groups toward the target, %d toward clients" % (up, down))


def test_gso_mtu(dns, port):
    """gso_mtu_inner() in a network namespace of the test's own, removed in every case."""
    ns = "lbudp-%d" % os.getpid()
    subprocess.run(["ip", "netns", "add", ns], check=True, timeout=20)
    try:
        here = os.path.dirname(os.path.abspath(__file__))
        r = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c",
                            "import sys; sys.path.insert(0, %r); import test_lbfwd_udp as T; "
                            "T.gso_mtu_inner()" % here], timeout=120)
        L.check(r.returncode == 0, "gso over a 1,500-byte MTU: exit %d" % r.returncode)
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=20)


# ---- parked upstream sockets (udp_responses) -----------------------------------------------

def recv_all(s, wait):
    """Every datagram s receives within `wait` seconds."""
    out = []
    end = time.time() + wait
    while time.time() < end:
        s.settimeout(max(0.01, end - time.time()))
        try:
            out.append(s.recv(65536))
        except socket.timeout:
            break
    return out


def parked_case(family, addr):
    """One family of targets (the clients and the listener are IPv4): the same client's next
    flow reuses its parked socket as it is; another client's flow takes it on a new port, so
    that what the target sends to the old port reaches no client; datagrams that wait on a
    parked socket when it moves (lbfwd stopped while they queue, more than it discards there)
    are dropped by their destination port, never sent to the new client."""
    backend = socket.socket(family, socket.SOCK_DGRAM)
    backend.bind((addr, 0))
    backend.settimeout(2)
    bport = backend.getsockname()[1]
    target = ("[%s]:%d" if family == socket.AF_INET6 else "%s:%d") % (addr, bport)
    lb = start_lbfwd([("t", target)],
                     ["--check", "none", "--workers", "1", "--udp-responses", "1",
                      "--udp-idle-timeout", "5s", "--udp-flows", "4096"])
    dst = ("127.0.0.1", lb.udp_port)
    a, b, c = (socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(3))

    def late():
        return metric(lb.metrics(), "lbfwd_udp_dropped_late_total")

    def exchange(client, data):
        """client sends data; the backend answers r-DATA; returns lbfwd's upstream address."""
        client.sendto(data, dst)
        got, up = backend.recvfrom(100)
        L.check(got == data, "backend got %r, not %r" % (got, data))
        backend.sendto(b"r-" + data, up)
        L.check(recv_all(client, 0.3) == [b"r-" + data], "%r: not exactly its reply" % data)
        return up[:2]
    try:
        ua = exchange(a, b"a1")
        L.wait_until(lambda: metric(lb.metrics(), "lbfwd_udp_flows_responses_total") == 1, 5)
        backend.sendto(b"late-a1", ua)  # after the flow's end: dropped on the parked socket
        L.check(L.wait_until(lambda: late() == 1, 5), "late reply not counted: %s" % late())
        L.check(exchange(a, b"a2") == ua, "client a's next flow did not reuse its socket")
        # another client: a's parked socket, on a new port
        ub = exchange(b, b"b1")
        L.check(ub != ua, "client b's flow on a's port (%s)" % (ub,))
        backend.sendto(b"late-a2", ua)  # a's old port was released: refused, to nobody
        L.check(recv_all(a, 0.1) == [] and recv_all(b, 0.1) == [],
                "a datagram to a released port reached a client")
        # datagrams queued on b's parked socket when it moves to client c's flow: lbfwd is
        # stopped, c's query queues first, then 100 late replies to b's port; lbfwd discards
        # 64 of them when the socket moves, the rest arrive with c's flow's reply
        stop_process(lb.proc.pid)
        c.sendto(b"c1", dst)
        for i in range(100):
            backend.sendto(b"late-b%d" % i, ub)
        time.sleep(0.05)
        os.kill(lb.proc.pid, signal.SIGCONT)
        got, uc = backend.recvfrom(100)
        L.check(got == b"c1" and uc[:2] != ub, "c's flow: %r from %s (b's port %s)" %
                (got, uc, ub))
        backend.sendto(b"r-c1", uc)
        L.check(recv_all(c, 0.3) == [b"r-c1"], "client c got a datagram sent to b's port")
        L.check(L.wait_until(lambda: late() == 101, 5), "late datagrams counted: %s" % late())
        m = lb.metrics()
        for name, want in (("lbfwd_udp_flows_created_total", 4),
                           ("lbfwd_udp_flows_responses_total", 4),
                           ("lbfwd_udp_datagrams_out_total", 4),
                           ("lbfwd_udp_flows_active", 0)):
            L.check(metric(m, name) == want, "%s %s, not %d" % (name, metric(m, name), want))
        L.check(lb.targets()["t"]["udp_active"] == 0, "flows left on the target")
    finally:
        for s in (a, b, c, backend):
            s.close()
        L.check(lb.stop() == 0, "lbfwd exit code")


def test_parked_sockets(dns, port):
    """With udp_responses, an ended flow's upstream socket stays parked: reused as it is by the
    same client, on a new port by another (parked_case(), IPv4 and IPv6 targets); the parked
    sockets are bounded and close when idle."""
    parked_case(socket.AF_INET, "127.0.0.43")
    parked_case(socket.AF_INET6, "::1")
    backend = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    backend.bind(("127.0.0.43", 0))
    backend.settimeout(2)
    bport = backend.getsockname()[1]
    lb = start_lbfwd([("t", "127.0.0.43:%d" % bport)],
                     ["--check", "none", "--workers", "1", "--udp-responses", "1",
                      "--udp-idle-timeout", "1s", "--udp-flows", "4096"])
    dst = ("127.0.0.1", lb.udp_port)
    socks = []
    try:
        # 400 clients with a query in flight each (400 sockets), then answered: at most
        # 4096 / 16 = 256 sockets stay parked; idle, they close
        fd0 = lb.fd_count()
        ups = []
        for i in range(400):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.sendto(b"q%d" % i, dst)
            socks.append(s)
            ups.append(backend.recvfrom(100))
        L.check(len(set(up for _, up in ups)) == 400, "400 flows on fewer upstream ports")
        L.check(lb.fd_count() >= fd0 + 400, "%d descriptors with 400 flows (%d before)" %
                (lb.fd_count(), fd0))
        for data, up in ups:
            backend.sendto(b"r" + data, up)
        L.wait_until(lambda: metric(lb.metrics(), "lbfwd_udp_flows_responses_total") == 400, 5)
        L.check(metric(lb.metrics(), "lbfwd_udp_flows_responses_total") == 400,
                "responses %s" % metric(lb.metrics(), "lbfwd_udp_flows_responses_total"))
        # (the admin connection of the metrics call may still be closing: bounded wait)
        L.wait_until(lambda: lb.fd_count() <= fd0 + 256, 0.5, step=0.01)
        n = lb.fd_count()
        L.check(fd0 + 200 <= n <= fd0 + 256, "%d descriptors after 400 flows (%d before)" %
                (n, fd0))
        got = sum(len(recv_all(s, 0.01)) for s in socks)
        L.check(L.wait_until(lambda: lb.fd_count() == fd0, 10),
                "parked sockets not closed when idle: %d descriptors (%d before)" %
                (lb.fd_count(), fd0))
        print("parked: reused as is by the same client, on a new port by another (IPv4, IPv6), "
              "late datagrams dropped, %d of 400 answered, parked sockets bounded and closed "
              "idle" % got)
    finally:
        for s in socks:
            s.close()
        backend.close()
        L.check(lb.stop() == 0, "lbfwd exit code")


if __name__ == "__main__":
    main()
