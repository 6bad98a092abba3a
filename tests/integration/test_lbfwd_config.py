#!/usr/bin/env python3
"""lbfwd configuration: --check-config, bad files and flags exit 2 with file, line and reason
before anything starts, the file grammar, and SIGHUP reload (targets that disappeared drain, new
ones start, listeners stay) and SIGUSR1 (log reopened)."""

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

TMP = tempfile.mkdtemp(prefix="lbfwd-cfg-")


def run(args, timeout=5):
    p = subprocess.run([L.LBFWD] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def write(name, text):
    path = os.path.join(TMP, name)
    with open(path, "w") as f:
        f.write(text)
    return path


GOOD = """; a complete example
[lbfwd]
listen = 127.0.0.1:0
listen = [::1]:0
workers = 2
algorithm = maglev
affinity = none
table_size = 65537
seed = 0x1234
zone = zone-a
max_conns = 1000
connect_timeout = 500ms
idle_timeout = 5m
half_closed_timeout = 30s
proxy_timeout = 3
drain_timeout = 10s
retries = 2
slow_start = 10s
eject_after = 5
max_eject_percent = 20
fail_closed = no
send_proxy = v2
send_proxy_crc32c = yes
accept_proxy = 10.0.0.0/8, 192.168.0.0/16
check = http:/healthz
check_interval = 2s
check_timeout = 1s
rise = 2
fall = 3
admin = 127.0.0.1:0
access_log = on
target = web3=127.0.0.1:9003,weight=2,zone=zone-b,maxconn=10

[target web1]
addr = 127.0.0.1:9001
weight = 100
zone = zone-a
check_port = 9101

[target web2]
addr = [::1]:9002
"""

BAD = [
    # (file text, line, reason fragment)
    ("[lbfwd]\nlisten = 127.0.0.1:80\nconnect_timeout = 5x\n", 3, "bad duration"),
    ("[lbfwd]\nlisten = 127.0.0.1:80\nalgorithm = random\n", 3, "unknown algorithm"),
    ("[lbfwd]\nlisten = 127.0.0.1:80\nfrobnicate = 1\n", 3, "unknown setting"),
    ("[lbfwd]\nlisten = 127.0.0.1:80\n\n[target a]\nweight = 1\n", 4, "has no addr"),
    ("[lbfwd]\nlisten = 127.0.0.1:80\n[target a]\naddr = 127.0.0.1\n", 4, "bad address"),
    ("[lbfwd]\nlisten = 127.0.0.1:80\n[target a]\naddr = 127.0.0.1:1\nweight = 70000\n", 5,
     "bad weight"),
    ("[lbfwd]\nlisten = 127.0.0.1:80\n[target bad/name]\naddr = 127.0.0.1:1\n", 4,
     "bad target name"),
    ("[lbfwd]\nlisten = 127.0.0.1:80\ntarget = a=127.0.0.1:1\ntarget = a=127.0.0.1:2\n", 4,
     "duplicate target"),
    ("[lbfwd]\nlisten = 127.0.0.1:80\n[frontend]\nx = 1\n", 4, "unknown section"),
    ("[lbfwd]\nlisten = 127.0.0.1:80\nthis line has no equals sign\n", 3, "syntax error"),
    ("[lbfwd]\nlisten = 127.0.0.1:80\nseed = " + "9" * 300 + "\n", 3, "line too long"),
    ("[lbfwd]\nlisten = 127.0.0.1:80\ntable_size = 65536\n", 3, "prime"),
    ("[lbfwd]\nlisten = 127.0.0.1:80\naccept_proxy = 10.0.0.0/33\n", 3, "bad CIDR"),
    ("[lbfwd]\nlisten = 127.0.0.1:80\ncheck = udp\n", 3, "bad check"),
    ("[lbfwd]\nlisten = 127.0.0.1:80\nsend_proxy = v3\n", 3, "bad send_proxy"),
    ("[lbfwd]\nlisten = 127.0.0.1:80\nrise = 0\n", 3, "bad rise"),
    ("[lbfwd]\nlisten = 127.0.0.1:80\nsplice = maybe\n", 3, "bad boolean"),
    ("[lbfwd]\nlisten = 127.0.0.1:80\nsmart-connect = sometimes\n", 3, "bad boolean"),
    ("[lbfwd]\nlisten = 127.0.0.1:80\nsmart_accept = 2\n", 3, "bad boolean"),
    ("[lbfwd]\nlisten = 127.0.0.1:80\ndrain_timeout = 2h\n", 3, "bad duration"),
    ("[lbfwd]\nlisten = 127.0.0.1:80\nmax_eject_percent = 0\n", 3, "bad max_eject_percent"),
    # issue 18: duplicate sections, a section after a `target =` line, names past libinih's
    # 49-character section buffer, addresses that are not a host
    ("[lbfwd]\nlisten = 127.0.0.1:80\n[target a]\naddr = 127.0.0.1:1\n[target a]\nweight = 2\n",
     5, "duplicate target 'a' (also defined at line 3)"),
    ("[lbfwd]\nlisten = 127.0.0.1:80\ntarget = a=127.0.0.1:1\n[target a]\nweight = 2\n", 4,
     "duplicate target 'a'"),
    ("[lbfwd]\nlisten = 127.0.0.1:80\n[target %s1]\naddr = 127.0.0.1:1\n[target %s1]\n"
     "addr = 127.0.0.1:2\n" % ("n" * 60, "n" * 60), 5, "duplicate target '%s1'" % ("n" * 60)),
    ("[lbfwd]\nlisten = 127.0.0.1:80\n[target a]\naddr = 127.0.0.1:0\n", 4, "(port 0)"),
    ("[lbfwd]\nlisten = 127.0.0.1:80\n[target a]\naddr = 0.0.0.0:80\n", 4, "not a host"),
    ("[lbfwd]\nlisten = 127.0.0.1:80\n[target a]\naddr = 255.255.255.255:80\n", 4,
     "not a host"),
    ("[lbfwd]\nlisten = 127.0.0.1:80\ntarget = a=[::]:80\n", 3, "not a host"),
    ("[lbfwd]\nlisten = 127.0.0.1:80\nadmin_host = bad/host\n", 3, "bad admin_host"),
]

BAD_WHOLE = [
    # configurations bad as a whole: (text, reason)
    ("[lbfwd]\nworkers = 1\n", "no listen address"),
    ("[lbfwd]\nlisten = 127.0.0.1:80\nadmin = 10.1.2.3:9000\n", "not loopback"),
    ("[lbfwd]\nlisten = 127.0.0.1:80\nsend_proxy = v1\nsend_proxy_crc32c = yes\n", "needs send_proxy v2"),
    ("[lbfwd]\nlisten = 127.0.0.1:80\nlisten = 127.0.0.1:80\n", "given twice"),
    ("[lbfwd]\nlisten = 127.0.0.1:80\nuser = no-such-user-lbfwd\n", "no such user"),
    ("[lbfwd]\nlisten = 127.0.0.1:80\nlog = /nonexistent-lbfwd-dir/lbfwd.log\n",
     "No such file"),
    ("[lbfwd]\nlisten = 127.0.0.1:80\ntarget = a=127.0.0.1:80\n", "own listener"),
]

BAD_FLAGS = [
    (["--listen", "127.0.0.1:80", "--target", "a"], "--target", "bad target"),
    (["--listen", "127.0.0.1:80", "--idle-timeout", "-1"], "--idle-timeout", "bad duration"),
    (["--listen", "127.0.0.1:80", "--bogus", "1"], "--bogus", "unknown"),
    (["--listen"], "--listen", "needs a value"),
    (["--listen", "127.0.0.1:80", "positional"], "positional", "unexpected argument"),
    (["--listen", "127.0.0.1:80", "--target", "a=127.0.0.1:1,colour=blue"], "--target",
     "unknown target option"),
    (["--config", "/nonexistent/lbfwd.ini"], "/nonexistent/lbfwd.ini", "cannot open"),
]


def test_reload_address_change():
    """A reload that changes a target's address is make-before-break (issue 18): the new address
    takes every new connection at once while the old one drains its held connection."""
    old, new = L.Backend("old", mode="echo"), L.Backend("new")
    text = ("[lbfwd]\nlisten = 127.0.0.1:0\ncheck = none\ndrain_timeout = 8s\n"
            "[target t]\naddr = %s\n")
    f = L.Lbfwd([], config=text % old.addr)
    try:
        held = socket.create_connection((f.host, f.port), timeout=5)
        held.sendall(b"ping\n")
        L.check(held.recv(100) == b"ping\n", "a connection held on the old address")
        with open(f.config, "w") as fh:
            fh.write(text % new.addr)
        f.signal(signal.SIGHUP)
        L.check(L.wait_until(lambda: "reloaded" in f.log_text(), 3), "SIGHUP reloads")
        got, failed = [], 0
        for _ in range(22):
            try:
                got.append(L.request(f.host, f.port)["name"])
            except (OSError, ValueError):
                failed += 1
            time.sleep(0.05)
        L.check(failed == 0 and set(got) == {"new"},
                "all 22 new connections during the drain reach the new address (%d failed, %s)"
                % (failed, sorted(set(got))))
        st, body = f.admin("GET", "/targets")
        states = sorted((t["addr"], t["state"]) for t in json.loads(body) if t["name"] == "t")
        L.check(states == sorted([(old.addr, "draining"), (new.addr, "healthy")]),
                "/targets: the old address drains, the new one is healthy (%s)" % states)
        held.sendall(b"pong\n")
        L.check(held.recv(100) == b"pong\n", "the held connection is still served")
        held.close()
        L.check(L.wait_until(lambda: [t["state"] for t in json.loads(
            f.admin("GET", "/targets")[1]) if t["name"] == "t"] == ["healthy"], 5),
            "once drained, one record of the name is left")
    finally:
        f.stop()
        old.stop()
        new.stop()


def main():
    rc, out, err = run(["--help"])
    L.check(rc == 0 and "--listen" in out, "--help prints usage and exits 0")
    good = write("good.ini", GOOD)
    rc, out, err = run(["--config", good, "--check-config"])
    L.check(rc == 0 and "configuration OK" in out and "3 targets" in out,
            "--check-config accepts the documented example (%s%s)" % (out.strip(), err.strip()))
    for i, (text, line, reason) in enumerate(BAD):
        path = write("bad%d.ini" % i, text)
        rc, out, err = run(["--config", path, "--check-config"])
        L.check(rc == 2 and ("%s:%d:" % (path, line)) in err and reason in err,
                "bad file -> exit 2 at %s:%d (%s): %s" % (os.path.basename(path), line, reason,
                                                          err.strip()))
    for i, (text, reason) in enumerate(BAD_WHOLE):
        path = write("whole%d.ini" % i, text)
        rc, out, err = run(["--config", path, "--check-config"])
        L.check(rc == 2 and path in err and reason in err, "bad configuration -> exit 2 (%s)"
                % err.strip())
    for args, where, reason in BAD_FLAGS:
        rc, out, err = run(["--check-config"] + args)
        L.check(rc == 2 and where in err and reason in err, "bad flags -> exit 2 (%s)"
                % err.strip())
    # a bad configuration never starts anything: no listener is bound
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    rc, out, err = run(["--listen", "127.0.0.1:%d" % port, "--idle-timeout", "1x"])
    probe = socket.socket()
    probe.settimeout(1)
    refused = probe.connect_ex(("127.0.0.1", port)) != 0
    probe.close()
    L.check(rc == 2 and refused, "a bad configuration exits 2 before binding anything")
    # flags override the file; a flag --listen replaces the file's
    path = write("over.ini", "[lbfwd]\nlisten = 127.0.0.1:1\nlisten = 127.0.0.1:2\n")
    rc, out, err = run(["--config", path, "--listen", "127.0.0.1:3", "--check-config"])
    L.check(rc == 0 and "1 listen" in out, "a --listen flag replaces the file's listen list")

    test_reload()
    test_reload_address_change()
    shutil.rmtree(TMP, ignore_errors=True)
    print("PASS")


def test_reload():
    b = [L.Backend("r%d" % i) for i in range(3)]
    cfg = ("[lbfwd]\nlisten = 127.0.0.1:0\ncheck = none\ndrain_timeout = 10s\n"
           "[target r0]\naddr = %s\n[target r1]\naddr = %s\n" % (b[0].addr, b[1].addr))
    f = L.Lbfwd([], config=cfg)
    try:
        names = {L.request(f.host, f.port)["name"] for _ in range(40)}
        L.check(names == {"r0", "r1"}, "before reload: r0 and r1 serve")
        held = socket.create_connection((f.host, f.port), timeout=5)
        with open(f.config, "w") as fh:
            fh.write("[lbfwd]\nlisten = 127.0.0.1:0\ncheck = none\ndrain_timeout = 10s\n"
                     "[target r1]\naddr = %s\nweight = 2\n[target r2]\naddr = %s\n"
                     % (b[1].addr, b[2].addr))
        f.signal(signal.SIGHUP)
        L.check(L.wait_until(lambda: "reloaded" in f.log_text(), 3), "SIGHUP reloads")
        t = f.targets()
        L.check(t["r0"]["state"] in ("draining", "removed") and t["r2"]["state"] == "healthy"
                and t["r1"]["weight"] == 2,
                "reload: a removed target drains, a new one starts, a weight changes")
        names = {L.request(f.host, f.port)["name"] for _ in range(60)}
        L.check(names == {"r1", "r2"}, "after reload only r1 and r2 get new connections (%s)"
                % names)
        held.sendall(b"x\n")
        L.check(b"r" in held.recv(100), "a connection open across the reload is still served")
        held.close()
        # settings fixed at start are named and kept
        with open(f.config, "w") as fh:
            fh.write("[lbfwd]\nlisten = 127.0.0.1:0\ncheck = none\ndrain_timeout = 10s\n"
                     "splice = no\nsmart_accept = no\n"
                     "[target r1]\naddr = %s\nweight = 2\n[target r2]\naddr = %s\n"
                     % (b[1].addr, b[2].addr))
        f.signal(signal.SIGHUP)
        L.check(L.wait_until(lambda: f.log_text().count("reloaded") == 2, 3), "SIGHUP reloads")
        log = f.log_text()
        L.check("a new splice needs a restart; kept" in log and
                "a new smart_accept needs a restart; kept" in log and
                "smart_connect needs" not in log and "workers needs" not in log,
                "a reload names the changed settings that need a restart, and only those")
        L.check(L.request(f.host, f.port)["name"] in ("r1", "r2"), "and keeps serving")
        # a broken file keeps the running configuration
        with open(f.config, "w") as fh:
            fh.write("[lbfwd]\nlisten = 127.0.0.1:0\nretries = lots\n")
        f.signal(signal.SIGHUP)
        L.check(L.wait_until(lambda: "reload failed" in f.log_text(), 3),
                "a bad file on reload is reported")
        L.check(L.request(f.host, f.port)["name"] in ("r1", "r2"),
                "and the running configuration keeps serving")
        # SIGUSR1 reopens the log (rotation)
        os.rename(f.log, f.log + ".1")
        f.signal(signal.SIGUSR1)
        L.check(L.wait_until(lambda: os.path.exists(f.log), 3), "SIGUSR1 reopens the log file")
        L.request(f.host, f.port)
        L.check(L.wait_until(lambda: "conn client=" in f.log_text(), 3),
                "access log lines go to the new file")
        L.check(f.stop() == 0, "SIGTERM exits 0")
    finally:
        f.kill()
        for x in b:
            x.stop()


if __name__ == "__main__":
    main()
