#!/usr/bin/env python3
"""The UDP lab through lbfwd and through nginx's stream UDP proxy in one run, on loopback.

1. DNS: three dnsmasq backends answering distinct A records and 1,500 hand-built DNS client
   flows (one socket each, two queries each) through lbfwd (`--listen udp:`, `--udp-responses
   1`) and through nginx stream (`listen ... udp reuseport; proxy_responses 1; hash
   $remote_addr$remote_port consistent;`), each on its own port. Asserted for both: every query
   answered, from the address it was sent to; each flow answered by one backend; every backend
   takes part. lbfwd's spread (Maglev) is asserted within +-15 % of equal shares, nginx's
   (ketama) only reported. One JSON line per proxy: queries, answered, spread, wall time.
2. iperf3 -u: iperf3's control connection is TCP and its data UDP on the same port, so each
   proxy has a TCP and a UDP listener on one port serving one pool (lbfwd: `--listen
   127.0.0.1:P --listen udp:127.0.0.1:P`; nginx: two `listen` lines). Through direct, lbfwd and
   nginx: a modest rate (50 Mbit/s, 1,400-byte datagrams) that every path must carry with
   less than 1 % loss (bytes the server received against bytes the client sent), then
   200 Mbit/s of 1,400-byte and 20 Mbit/s of 64-byte datagrams, whose throughput and loss are
   reported (one JSON line per run), not compared: timed comparisons are benchmarks
   (bench/forwarder/udp.py). Each run checks that the data went through the path: the server
   received bytes, from the proxy's socket (not the client's) when through a proxy.

Only loopback; every wait is bounded; every process is killed in a finally block. dnsmasq,
nginx (with the stream module) and iperf3 must be installed: the test fails, it never skips."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lbfwd_common as L  # noqa: E402
from lbfwd_common import (Clients, Dnsmasq, free_port, metric, raise_nofile,  # noqa: E402
                          start_udp_lbfwd)

SBIN_PATH = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
NGINX = shutil.which("nginx", path=SBIN_PATH)
IPERF3 = shutil.which("iperf3")
NGINX_STREAM = "/usr/lib/nginx/modules/ngx_stream_module.so"
WORKERS = 2            # lbfwd workers and nginx worker processes alike
FLOWS, CHUNK = 1500, 300
IPERF_HOST = "127.0.0.41"
IPERF_SECONDS = 2
MODEST = ("50M", 1400)                  # every path must carry it: loss asserted below 1 %
MAX_LOSS_PCT = 1.0
# A stall of a few tens of milliseconds (this machine is shared: builds, real-time benchmarks)
# overflows a default-sized socket buffer at 4,500 datagrams/s; a path that loses datagrams
# of its own loses them in every run, a stall in one: the bound must hold in one of 3 runs.
MODEST_TRIES = 3
REPORTED = [("200M", 1400), ("20M", 64)]  # reported only


def report(**kw):
    print(json.dumps(dict(test="lbfwd-udp-lab", **kw), sort_keys=True), flush=True)


def tcp_listening(host, port):
    """True when a TCP socket listens on host:port (/proc/net/tcp; no connection is made, so a
    one-off iperf3 server is not used up)."""
    want = "%s:%04X" % (socket.inet_aton(host)[::-1].hex().upper(), port)
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[1] == want and fields[3] == "0A":
                return True
    return False


def udp_buffer_errors():
    """The host's count of datagrams dropped for a full receive buffer (/proc/net/snmp
    Udp RcvbufErrors: every socket's, so a diagnostic only)."""
    with open("/proc/net/snmp") as f:
        rows = [line.split() for line in f if line.startswith("Udp:")]
    return int(rows[1][rows[0].index("RcvbufErrors")])


def stop_proc(p, sig=signal.SIGTERM, timeout=5, group=False):
    """Ends a process this test started (its process group when it leads one), bounded."""
    if p.poll() is None:
        try:
            os.killpg(p.pid, sig) if group else p.send_signal(sig)
            p.wait(timeout=timeout)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            pass
    if p.poll() is None or group:
        try:
            os.killpg(p.pid, signal.SIGKILL) if group else p.kill()
        except ProcessLookupError:
            pass
        p.wait(timeout=5)


class Nginx:
    """A private nginx (master and WORKERS workers, in a process group of its own) with the
    given stream block; returns once its workers started and its TCP listeners listen."""

    def __init__(self, stream, tcp_ports=()):
        self.dir = tempfile.mkdtemp(prefix="lbfwd-udplab-nginx-")
        self.err = os.path.join(self.dir, "error.log")
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write("load_module %s;\nuser nobody nogroup;\ndaemon off;\nmaster_process on;\n"
                    "worker_processes %d;\npid %s/nginx.pid;\nerror_log %s notice;\n"
                    "events { worker_connections 4096; }\nstream {\n%s}\n"
                    % (NGINX_STREAM, WORKERS, self.dir, self.err, stream))
        with open(os.path.join(self.dir, "stderr.log"), "w") as err:
            self.proc = subprocess.Popen([NGINX, "-p", self.dir + "/", "-e", self.err, "-c",
                                          conf], stdout=subprocess.DEVNULL, stderr=err,
                                         start_new_session=True, preexec_fn=raise_nofile)
        ok = L.wait_until(lambda: self.proc.poll() is not None or
                          (self.log().count("start worker process ") >= WORKERS and
                           all(tcp_listening("127.0.0.1", p) for p in tcp_ports)), 10)
        if self.proc.poll() is not None or not ok:
            L.fail("nginx did not start: %s" % self.stop())

    def log(self, name="error.log"):
        try:
            with open(os.path.join(self.dir, name)) as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        """Stops nginx (bounded); returns its error log."""
        stop_proc(self.proc, group=True)
        text = self.log() + self.log("stderr.log")
        shutil.rmtree(self.dir, ignore_errors=True)
        return text


# 1. The DNS lab

def dns_load(host, port):
    """FLOWS client flows in chunks of CHUNK, each sending two queries (a reply must come from
    host:port); all sockets stay open to the end, so no source port (flow) is reused. Returns
    {queries, answered, sent, moved, spread {backend ip: flows}, wall_s}."""
    spread = {}
    answered = moved = 0
    keep = []
    t0 = time.time()
    try:
        for _ in range(FLOWS // CHUNK):
            c = Clients(CHUNK, host, port)
            keep.append(c)
            first = c.round()
            again = c.round()
            for i, ip in first.items():
                answered += (ip is not None) + (again[i] is not None)
                if ip is not None and again[i] is not None and again[i] != ip:
                    moved += 1
                if ip is not None:
                    spread[ip] = spread.get(ip, 0) + 1
        wall = time.time() - t0
        sent = sum(c.sent for c in keep)
    finally:
        for c in keep:
            c.close()
    return {"queries": 2 * FLOWS, "answered": answered, "sent": sent, "moved": moved,
            "spread": spread, "wall_s": round(wall, 3)}


def check_dns(proxy, r, dns, spread_tolerance):
    """The assertions both proxies share; spread_tolerance: the largest allowed deviation from
    an equal share, as a fraction (lbfwd's Maglev), or None to report it only (nginx); every
    backend must take part (at least 10 % of the flows) either way."""
    names = {d.ip: "d%d" % d.n for d in dns}
    spread = {names.get(ip, ip): n for ip, n in sorted(r["spread"].items())}
    exp = FLOWS / len(dns)
    dev = max(abs(spread.get(n, 0) - exp) / exp for n in names.values())
    report(part="dns", proxy=proxy, flows=FLOWS, queries=r["queries"], answered=r["answered"],
           sent=r["sent"], spread=spread, max_deviation_pct=round(100 * dev, 1),
           wall_s=r["wall_s"])
    L.check(r["answered"] == r["queries"], "%s: %d of %d queries answered" %
            (proxy, r["answered"], r["queries"]))
    L.check(r["moved"] == 0, "%s: %d flows answered by two backends" % (proxy, r["moved"]))
    L.check(set(spread) == set(names.values()), "%s: answers from %s" % (proxy, sorted(spread)))
    L.check(all(spread[n] >= 0.1 * FLOWS for n in names.values()),
            "%s: every backend takes part: %s" % (proxy, spread))
    if spread_tolerance is not None:
        L.check(dev <= spread_tolerance, "%s: flows within +-%d%% of %.0f each: %s" %
                (proxy, 100 * spread_tolerance, exp, spread))


def dns_lab():
    port = free_port()
    dns = []
    try:
        for n in (1, 2, 3):
            dns.append(Dnsmasq(n, port))
        lb = start_udp_lbfwd([("d%d" % d.n, "%s:%d" % (d.addr, port)) for d in dns],
                             ["--check", "none", "--udp-responses", "1", "--workers",
                              str(WORKERS)])
        try:
            r = dns_load("127.0.0.1", lb.udp_port)
            m = lb.metrics()
            check_dns("lbfwd", r, dns, 0.15)
            # udp_responses=1: each answered query ended its own flow, through lbfwd
            ended = metric(m, "lbfwd_udp_flows_responses_total")
            L.check(r["answered"] <= ended <= r["sent"], "lbfwd: %d flows ended by their reply "
                    "for %d answered of %d sent" % (ended, r["answered"], r["sent"]))
        finally:
            L.check(lb.stop() == 0, "lbfwd exit code")
        nport = free_port()
        servers = "".join("    server %s:%d;\n" % (d.addr, port) for d in dns)
        ngx = Nginx("  upstream dns {\n    hash $remote_addr$remote_port consistent;\n%s  }\n"
                    "  server { listen 127.0.0.1:%d udp reuseport; proxy_pass dns; "
                    "proxy_responses 1; proxy_timeout 5s; }\n" % (servers, nport))
        try:
            r = dns_load("127.0.0.1", nport)
        finally:
            log = ngx.stop()
        check_dns("nginx", r, dns, None)
        L.check("[alert]" not in log and "[emerg]" not in log, "nginx error log: %s" %
                "".join(x for x in log.splitlines(True) if "[alert]" in x or "[emerg]" in x))
    finally:
        for d in dns:
            d.stop()


# 2. iperf3 -u

def iperf_run(path, host, port, server_port, rate, length):
    """One iperf3 UDP test from a new one-off server on IPERF_HOST:server_port, the client
    sending to host:port. Returns (server JSON, client JSON)."""
    server = subprocess.Popen([IPERF3, "-s", "-1", "-J", "-B", IPERF_HOST, "-p", str(server_port),
                               "--idle-timeout", "20"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        if not L.wait_until(lambda: server.poll() is not None or
                            tcp_listening(IPERF_HOST, server_port), 5) or server.poll() is not None:
            L.fail("iperf3 server not listening on %s:%d: %s" %
                   (IPERF_HOST, server_port, server.communicate(timeout=5)))
        bound = IPERF_SECONDS + 15
        try:
            client = subprocess.run(["timeout", "-k", "2", str(bound), IPERF3, "-c", host,
                                     "-p", str(port), "-u", "-b", rate, "-l", str(length),
                                     "-t", str(IPERF_SECONDS), "-J", "--connect-timeout", "3000"],
                                    capture_output=True, timeout=bound + 5)
        except subprocess.TimeoutExpired:
            L.fail("%s: iperf3 client ran past %d s" % (path, bound + 5))
        try:
            sout, serr = server.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            L.fail("%s: the one-off iperf3 server did not end after its test" % path)
    finally:
        stop_proc(server, sig=signal.SIGKILL)
    try:
        cj = json.loads(client.stdout.decode())
    except ValueError:
        L.fail("%s: iperf3 client exit %d, no JSON: %s %s" %
               (path, client.returncode, client.stdout[:400], client.stderr[:400]))
    if "error" in cj or client.returncode != 0:
        L.fail("%s: iperf3 client exit %d: %s" % (path, client.returncode, cj.get("error")))
    try:
        sj = json.loads(sout.decode())
    except ValueError:
        L.fail("%s: iperf3 server exit %d, no JSON: %s %s" %
               (path, server.returncode, sout[:400], serr[:400]))
    if "error" in sj:
        L.fail("%s: iperf3 server: %s" % (path, sj["error"]))
    return sj, cj


def iperf_measure(path, host, port, server_port, rate, length):
    """A run whose transfer must have happened through the path; returns its figures."""
    errors = udp_buffer_errors()
    sj, cj = iperf_run(path, host, port, server_port, rate, length)
    errors = udp_buffer_errors() - errors
    sent = cj["end"]["sum_sent"]
    recv = sj["end"]["sum_received"]
    L.check(recv["bytes"] > 0, "%s %s/%d B: the server received %d bytes" %
            (path, rate, length, recv["bytes"]))
    # whose datagrams the server saw: the client's own socket direct, the proxy's otherwise
    client_end = [(c["local_host"], c["local_port"]) for c in cj["start"]["connected"]]
    server_peer = [(c["remote_host"], c["remote_port"]) for c in sj["start"]["connected"]]
    if path == "direct":
        L.check(server_peer == client_end, "direct: the server saw the client %s" % client_end)
    else:
        L.check(len(server_peer) == 1 and server_peer != client_end,
                "%s: the server saw the proxy (%s), not the client (%s)" %
                (path, server_peer, client_end))
    loss = 100.0 * (1.0 - recv["bytes"] / sent["bytes"]) if sent["bytes"] else 100.0
    out = {"path": path, "rate": rate, "length": length, "seconds": IPERF_SECONDS,
           "sent_mbit_s": round(sent["bits_per_second"] / 1e6, 2),
           "received_mbit_s": round(recv["bits_per_second"] / 1e6, 2),
           "received_pps": round((recv["packets"] - recv["lost_packets"]) / recv["seconds"])
           if recv["seconds"] else 0,
           "received_bytes": recv["bytes"], "loss_pct": round(loss, 3), "iperf_lost_percent": round(recv["lost_percent"], 3),
           "jitter_ms": round(recv["jitter_ms"], 4), "host_rcvbuf_errors": errors}
    report(part="iperf3", **out)
    return out


def iperf_path(path, host, port, server_port):
    """The modest run (asserted) then the reported ones through one path; returns the bytes
    the server received in all of them."""
    received = 0
    losses = []
    for _ in range(MODEST_TRIES):
        m = iperf_measure(path, host, port, server_port, *MODEST)
        received += m["received_bytes"]
        losses.append(m["loss_pct"])
        if m["loss_pct"] < MAX_LOSS_PCT:
            break
    L.check(min(losses) < MAX_LOSS_PCT, "%s: %s %% lost at %s/%d B (bound %.0f %% in one of %d "
            "runs)" % (path, losses, MODEST[0], MODEST[1], MAX_LOSS_PCT, MODEST_TRIES))
    for rate, length in REPORTED:
        received += iperf_measure(path, host, port, server_port, rate, length)["received_bytes"]
    return received


def iperf_lab():
    sport = free_port(IPERF_HOST)
    iperf_path("direct", IPERF_HOST, sport, sport)

    lport = free_port()
    lb = L.Lbfwd(["--listen", "127.0.0.1:%d" % lport, "--listen", "udp:127.0.0.1:%d" % lport,
                  "--workers", str(WORKERS), "--check", "none",
                  "--target", "iperf=%s:%d" % (IPERF_HOST, sport)], preexec_fn=raise_nofile)
    try:
        L.check(lb.info.get("udp_listen") == ["127.0.0.1:%d" % lport] and lb.port == lport,
                "lbfwd listens on TCP and UDP 127.0.0.1:%d: %s" % (lport, lb.info))
        received = iperf_path("lbfwd", "127.0.0.1", lport, sport)
        m = lb.metrics()
        runs = 1 + len(REPORTED)
        L.check(metric(m, "lbfwd_connections_accepted_total") == runs,
                "lbfwd: the %d control connections went through its TCP listener (%d)" %
                (runs, metric(m, "lbfwd_connections_accepted_total")))
        # One flow per run; datagrams still queued in lbfwd when a one-off server has closed
        # its port meet ICMP port unreachable, which ends their flow (refused), and the next
        # one opens another: more flows than runs after a stall, as designed.
        L.check(metric(m, "lbfwd_udp_flows_created_total") >= runs and
                metric(m, "lbfwd_udp_bytes_in_total") >= received,
                "lbfwd: the data went through its UDP listener (%d flows, %d refused, %d bytes "
                "in, %d bytes received by the server)" %
                (metric(m, "lbfwd_udp_flows_created_total"),
                 metric(m, "lbfwd_udp_flows_refused_total"),
                 metric(m, "lbfwd_udp_bytes_in_total"), received))
    finally:
        L.check(lb.stop() == 0, "lbfwd exit code")

    nport = free_port()
    ngx = Nginx("  upstream iperf { server %s:%d; }\n"
                "  server { listen 127.0.0.1:%d; listen 127.0.0.1:%d udp reuseport; "
                "proxy_pass iperf; proxy_timeout 30s; }\n" % (IPERF_HOST, sport, nport, nport),
                tcp_ports=[nport])
    try:
        iperf_path("nginx", "127.0.0.1", nport, sport)
    finally:
        log = ngx.stop()
    L.check("[alert]" not in log and "[emerg]" not in log, "nginx error log clean")


def main():
    missing = [what for what, ok in (("nginx (nginx-light)", NGINX),
                                     ("%s (libnginx-mod-stream)" % NGINX_STREAM,
                                      os.path.exists(NGINX_STREAM)),
                                     ("iperf3", IPERF3),
                                     ("dnsmasq (dnsmasq-base)", os.path.exists(L.DNSMASQ)))
               if not ok]
    if missing:
        L.fail("missing: %s (scripts/deps.sh installs them)" % ", ".join(missing))
    raise_nofile()
    t0 = time.time()
    dns_lab()
    iperf_lab()
    print("PASS (%.1f s)" % (time.time() - t0))


if __name__ == "__main__":
    main()
