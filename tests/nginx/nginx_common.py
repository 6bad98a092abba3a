"""Shared helpers for the nginx module tests: the stock /usr/sbin/nginx with Debian's stream
module and the Maglev modules of this build, in a temporary prefix of its own; the answers
liblb gives (lbtool, and liblb through its Python binding, bindings/python); loopback clients.
Python 3 standard library plus Debian's python3-cffi for the binding (it runs with Debian's
/usr/bin/python3); every wait is bounded."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import json

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.environ.get("LB_SOURCE_ROOT", os.path.join(HERE, "..", ".."))
BUILD_ROOT = os.environ.get("LB_BUILD_ROOT", os.path.join(SOURCE_ROOT, "build"))
sys.path.insert(0, os.path.join(SOURCE_ROOT, "tests", "integration"))
sys.path.insert(0, os.path.join(SOURCE_ROOT, "bindings", "python"))
os.environ.setdefault("LIBLB_PATH", os.path.join(BUILD_ROOT, "lib", "liblb.so"))

import liblb  # noqa: E402  (bindings/python: liblb through cffi)
from lbfwd_common import check, exchange, fail  # noqa: E402,F401

NGINX = "/usr/sbin/nginx"
STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"
MODULES = os.path.join(BUILD_ROOT, "examples", "nginx")
HTTP_MAGLEV = os.path.join(MODULES, "ngx_http_upstream_maglev_module.so")
STREAM_MAGLEV = os.path.join(MODULES, "ngx_stream_upstream_maglev_module.so")
LBTOOL = os.path.join(BUILD_ROOT, "examples", "lbtool", "lbtool")


def require():
    for path in (NGINX, STREAM_MODULE, HTTP_MAGLEV, STREAM_MAGLEV, LBTOOL):
        if not os.path.exists(path):
            fail("%s is missing (nginx-light, libnginx-mod-stream, nginx-dev; -Dnginx=enabled)"
                 % path)


def free_ports(n, host="127.0.0.1"):
    """n distinct free TCP ports on host (bound at once, then released)."""
    socks, ports = [], []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
            s.bind((host, 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def addr_text(host, port):
    """A peer's name as nginx writes it ($upstream_addr): 127.0.0.1:80, [::1]:80."""
    return "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)


def main_conf(d, http="", stream="", workers=2, log_level="info"):
    user = "user root;\n" if os.geteuid() == 0 else ""
    return f"""load_module {STREAM_MODULE};
load_module {STREAM_MAGLEV};
load_module {HTTP_MAGLEV};
{user}worker_processes {workers};
worker_rlimit_nofile 20000;
pid {d}/nginx.pid;
error_log {d}/error.log {log_level};
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
{http}
}}
stream {{
{stream}
}}
"""


def nginx_test(http="", stream=""):
    """nginx -t of a configuration: (exit code, what nginx printed)."""
    d = tempfile.mkdtemp(prefix="lb-nginx-t-")
    try:
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "w") as f:
            f.write(main_conf(d, http, stream))
        p = subprocess.run([NGINX, "-t", "-q", "-p", d + "/", "-e", os.path.join(d, "error.log"),
                            "-c", conf], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=60)
        return p.returncode, p.stdout.decode(errors="replace")
    finally:
        shutil.rmtree(d, ignore_errors=True)


def wait_port(host, port, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            s = socket.create_connection((host, port), timeout=0.5)
            s.close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


class Nginx:
    """The stock nginx (master and workers) in a temporary prefix, in the foreground of a
    child process this test owns. `gen` is a generation the http block serves on
    127.0.0.1:gen_port/gen, so that a reload is known to have taken effect."""

    def __init__(self, http="", stream="", wait=(), workers=2, timeout=60, log_level="info",
                 prefix=()):
        self.dir = tempfile.mkdtemp(prefix="lb-nginx-")
        self.conf = os.path.join(self.dir, "nginx.conf")
        self.workers = workers
        self.log_level = log_level
        self.gen = 0
        self.gen_port = free_ports(1)[0]
        self._write(http, stream)
        self.proc = subprocess.Popen(
            list(prefix) + [NGINX, "-p", self.dir + "/", "-e", os.path.join(self.dir, "error.log"),
             "-c", self.conf, "-g", "daemon off;"],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.dir, "stderr.log"), "w"))
        for host, port in list(wait) + [("127.0.0.1", self.gen_port)]:
            if not wait_port(host, port, timeout):
                self.stop(check_log=False)
                fail("nginx is not listening on %s:%d within %ds:\n%s"
                     % (host, port, timeout, self.log_text()[-3000:]))

    def _write(self, http, stream):
        self.gen += 1
        http = http + """
    server {
        listen 127.0.0.1:%d;
        location = /gen { return 200 "%d"; }
    }
""" % (self.gen_port, self.gen)
        with open(self.conf, "w") as f:
            f.write(main_conf(self.dir, http, stream, self.workers, self.log_level))

    def served_gen(self):
        try:
            status, _, body = http_get("127.0.0.1", self.gen_port, "/gen", timeout=2)
            return int(body) if status == 200 else None
        except (OSError, ValueError):
            return None

    def reload(self, http="", stream="", timeout=30):
        """Writes a new configuration, signals the master (SIGHUP), waits until every
        worker serves it: the old workers end when their connections do (ours are short)."""
        self._write(http, stream)
        rc = subprocess.run([NGINX, "-t", "-q", "-p", self.dir + "/", "-e",
                             os.path.join(self.dir, "error.log"), "-c", self.conf],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        if rc.returncode != 0:
            fail("nginx -t refused the reload configuration:\n" + rc.stdout.decode())
        old = set(self.worker_pids())
        self.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + timeout
        while time.time() < deadline:
            pids = set(self.worker_pids())
            if pids and not (pids & old) and self.served_gen() == self.gen:
                return
            time.sleep(0.05)
        fail("nginx did not reload within %ds:\n%s" % (timeout, self.log_text()[-3000:]))

    def cpu_seconds(self):
        """User + system CPU time of the master and its workers so far."""
        total = 0
        for pid in [self.proc.pid] + self.worker_pids():
            try:
                with open("/proc/%d/stat" % pid) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
            except (OSError, IndexError, ValueError):
                continue
        return total / os.sysconf("SC_CLK_TCK")

    def worker_pids(self):
        out = []
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % name) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == self.proc.pid:
                    out.append(int(name))
            except (OSError, IndexError, ValueError):
                continue
        return out

    def log_text(self):
        try:
            with open(os.path.join(self.dir, "error.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self, check_log=True, timeout=15):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
                fail("nginx did not stop within %ds of SIGTERM" % timeout)
        log = self.log_text()
        shutil.rmtree(self.dir, ignore_errors=True)
        if check_log:
            bad = [ln for ln in log.splitlines() if "[alert]" in ln or "[emerg]" in ln or
                   "[crit]" in ln or "signal 11" in ln]
            check(not bad, "nginx logged no alert, crit or emerg%s"
                  % (": " + "\n".join(bad[:5]) if bad else ""))


def http_get(host, port, path, src=None, timeout=5):
    """One HTTP/1.0 request on a new connection: (status, headers dict, body text)."""
    req = ("GET %s HTTP/1.0\r\nHost: test\r\n\r\n" % path).encode()
    head, _, body = exchange(host, port, req, src, timeout).partition(b"\r\n\r\n")
    lines = head.decode(errors="replace").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, body.decode(errors="replace")


def tcp_read(host, port, src=None, timeout=5):
    """Connects (from src when given), reads to EOF: the answer as text."""
    return exchange(host, port, b"", src, timeout).decode(errors="replace")


def source_addresses(n):
    """n distinct loopback source addresses 127.a.b.c (never 127.0.0.1)."""
    out = []
    i = 0
    while len(out) < n:
        i += 1
        a, b, c = 1 + (i >> 16) % 250, (i >> 8) & 255, i & 255
        if c in (0, 255):
            continue
        out.append("%d.%d.%d.%d" % (127, a, b, c))
    return out


def lbtool_lookups(targets, keys, table_size=None):
    """What lbtool maglev says each key reaches: {key: target key}. targets: [(key, weight)].
    One lbtool run for every key."""
    argv = [LBTOOL, "maglev"]
    if table_size:
        argv += ["--size", str(table_size)]
    for key, weight in targets:
        argv += ["--target", "%s=%d" % (key, weight)]
    for k in keys:
        argv += ["--lookup-key", k]
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    if p.returncode != 0:
        fail("lbtool maglev failed: " + p.stderr.decode())
    out = json.loads(p.stdout)
    return {lk["key"]: lk["target"] for lk in out["lookups"]}, out


class Expect:
    """liblb's answers through its Python binding: a balancer with the upstream's peers as targets (ids in
    nginx's order, key the address text, weight), Maglev, seed 0, the given table size."""

    def __init__(self, targets, table_size=65537):
        self.keys = [k for k, _ in targets]
        self.bal = liblb.Balancer(algorithm="maglev", table_size=table_size,
                                  max_targets=len(targets))
        for i, (key, weight) in enumerate(targets):
            self.bal.add(i, key, weight)

    def pick(self, flow_hash, exclude=()):
        """The target key for a flow hash, with some target keys excluded (liblb's retry rule:
        lb_balancer_pick_ex)."""
        ids = [self.keys.index(k) for k in exclude]
        t = self.bal.pick(flow_hash, exclude=ids)
        self.bal.release(t)
        return self.keys[t]


def hash_key(value):
    return liblb.hash_key(value.encode() if isinstance(value, str) else value, 0)


def hash_src4(addr):
    return liblb.hash_src(addr, 0)
