#!/usr/bin/env python3
"""PROXY protocol interop with real peers (Debian 12: HAProxy 2.6, nginx 1.22).

1. HAProxy sends v1 (send-proxy), v2 (send-proxy-v2), v2 with `proxy-v2-options
   crc32c,unique-id`, and LOCAL headers on health checks into tests/integration/proxy_listener
   (liblb's decoder), which must decode each with the client's real address and port.
2. liblb's encoder (`lbtool proxy encode`) sends v1 and v2 (TLVs, CRC32C, padding) into HAProxy
   `accept-proxy`, and headers of at most 107 bytes into nginx `listen ... proxy_protocol`;
   their logs must show the encoded client address and port.

Private foreground instances on loopback ports picked free, configs and logs in a temporary
directory; every wait is bounded and every process is killed at the end. haproxy and nginx must
be installed (the test fails, it never skips)."""
import json
import os
import queue
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

BUILD = os.environ.get("LB_BUILD_ROOT", "build")
LISTENER = os.path.join(BUILD, "tests", "proxy_listener")
LBTOOL = os.path.join(BUILD, "examples", "lbtool", "lbtool")
NGINX_STREAM = "/usr/lib/nginx/modules/ngx_stream_module.so"
FAILS = []
PROCS = []
HAPROXY = NGINX = None


def find_prog(name):
    """The program on PATH, or in /usr/sbin and /sbin (not on every user's PATH)."""
    return shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILS.append(what)


def free_port(host="127.0.0.1"):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def have_ipv6():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def start(args, **kw):
    p = subprocess.Popen(args, **kw)
    PROCS.append(p)
    return p


def stop_all():
    for p in PROCS:
        if p.poll() is None:
            p.terminate()
    for p in PROCS:
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)


def wait_port(host, port, proc, deadline=10.0):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def client(host, port, payload, header=b""):
    """Connects from an ephemeral port, sends header (one send) then payload, returns the local
    (address, port) and what came back."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.bind((host, 0))
        s.connect((host, port))
        local = s.getsockname()[:2]
        data = b""
        try:  # a peer that refuses the header resets the connection
            if header:
                s.sendall(header)
            s.sendall(payload)
            while len(data) < 64:
                chunk = s.recv(64)
                if not chunk:
                    break
                data += chunk
        except (socket.timeout, ConnectionResetError, BrokenPipeError):
            pass
        return local, data


def lines_of(proc):
    q = queue.Queue()

    def pump():
        for line in proc.stdout:
            q.put(line.decode(errors="replace").rstrip("\n"))

    threading.Thread(target=pump, daemon=True).start()
    return q


def next_json(q, pred, deadline=10.0):
    end = time.monotonic() + deadline
    seen = []
    while time.monotonic() < end:
        try:
            line = q.get(timeout=max(0.05, end - time.monotonic()))
        except queue.Empty:
            break
        try:
            j = json.loads(line)
        except ValueError:
            continue
        seen.append(j)
        if pred(j):
            return j, seen
    return None, seen


def encode(args):
    p = subprocess.run([LBTOOL, "proxy", "encode"] + args, capture_output=True, timeout=10)
    if p.returncode != 0:
        raise RuntimeError("lbtool encode %s: %s %s" % (args, p.stdout, p.stderr))
    return p.stdout


def wait_log(path, needle, deadline=10.0):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if os.path.exists(path):
            with open(path, errors="replace") as f:
                if needle in f.read():
                    return True
        time.sleep(0.1)
    return False


def haproxy_to_listener(tmp, v6):
    lport = None
    listener = start([LISTENER, "127.0.0.1", "0", "120"], stdout=subprocess.PIPE)
    q = lines_of(listener)
    first = q.get(timeout=10)
    check(first.startswith("listening "), "listener started")
    lport = int(first.split()[1])
    p1, p2, p3, p6 = free_port(), free_port(), free_port(), free_port()
    cfg = os.path.join(tmp, "haproxy-send.cfg")
    with open(cfg, "w") as f:
        f.write("""global
    log stdout format raw local0 info
defaults
    mode tcp
    log global
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend f_v1
    bind 127.0.0.1:{p1}
    default_backend b_v1
frontend f_v2
    bind 127.0.0.1:{p2}
    default_backend b_v2
frontend f_v2x
    bind 127.0.0.1:{p3}
    unique-id-format lbtest-%ci-%cp
    default_backend b_v2x
{v6front}
backend b_v1
    server s 127.0.0.1:{lp} send-proxy
backend b_v2
    server s 127.0.0.1:{lp} send-proxy-v2
backend b_v2x
    server s 127.0.0.1:{lp} send-proxy-v2 proxy-v2-options crc32c,unique-id
backend b_check
    server s 127.0.0.1:{lp} send-proxy-v2 check inter 300ms
""".format(p1=p1, p2=p2, p3=p3, lp=lport,
           v6front=("frontend f_v6\n    bind [::1]:%d\n    default_backend b_v2\n" % p6)
           if v6 else ""))
    hap = start([HAPROXY, "-db", "-f", cfg], stdout=open(os.path.join(tmp, "haproxy-send.log"),
                                                          "w"), stderr=subprocess.STDOUT)
    check(wait_port("127.0.0.1", p1, hap), "haproxy (send-proxy) started")

    # Health checks: a v2 LOCAL header with no address.
    j, seen = next_json(q, lambda j: j.get("command") == "LOCAL")
    check(j is not None and j["result"] == "ok" and j["version"] == 2 and
          j["family"] == "UNSPEC" and j["src_addr"] is None, "haproxy health check: v2 LOCAL %s"
          % (j or seen))

    cases = [("v1", p1, "127.0.0.1", 1), ("v2", p2, "127.0.0.1", 2),
             ("v2 crc32c,unique-id", p3, "127.0.0.1", 2)]
    if v6:
        cases.append(("v2 IPv6", p6, "::1", 2))
    for name, port, host, ver in cases:
        payload = ("hello %s\n" % name).encode()
        (caddr, cport), reply = client(host, port, payload)
        j, seen = next_json(q, lambda j: j.get("command") == "PROXY" and
                            j.get("src_port") == cport)
        good = (j is not None and j["result"] == "ok" and j["version"] == ver and
                j["src_addr"] == caddr and j["dst_addr"] == host and j["dst_port"] == port and
                j["family"] == ("INET6" if ":" in host else "INET") and
                j["transport"] == "STREAM" and j["app"] == payload.decode().rstrip("\n"))
        check(good, "haproxy %s -> liblb decoder: client %s:%d: %s" % (name, caddr, cport,
                                                                      j or seen))
        check(reply == b"ok\n", "haproxy %s: reply relayed" % name)
        if name.startswith("v2 crc"):
            types = [t["type"] for t in j["tlvs"]] if j else []
            check(j is not None and j["crc32c"] == "valid" and 3 in types and 5 in types,
                  "haproxy crc32c,unique-id: CRC32C verified and UNIQUE_ID present %s" % j)
            uid = [t["value"] for t in j["tlvs"] if t["type"] == 5] if j else []
            check(uid == ["lbtest-%s-%d" % (caddr, cport)], "haproxy unique id %s" % uid)


def encoder_to_haproxy(tmp, v6):
    sink_port, p5 = free_port(), free_port()
    sink = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sink.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sink.bind(("127.0.0.1", sink_port))
    sink.listen(16)
    sink.settimeout(0.2)
    done = threading.Event()

    def serve():
        while not done.is_set():
            try:
                c, _ = sink.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with c:
                c.settimeout(2)
                try:
                    c.recv(256)
                    c.sendall(b"ok\n")
                except OSError:
                    pass

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    cfg = os.path.join(tmp, "haproxy-accept.cfg")
    log = os.path.join(tmp, "haproxy-accept.log")
    with open(cfg, "w") as f:
        f.write("""global
    log stdout format raw local0 info
defaults
    mode tcp
    log global
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend f_accept
    bind 127.0.0.1:{p5} accept-proxy
    log-format "LBTEST %ci:%cp -> %fi:%fp"
    default_backend b_sink
backend b_sink
    server s 127.0.0.1:{sink}
""".format(p5=p5, sink=sink_port))
    hap = start([HAPROXY, "-db", "-f", cfg], stdout=open(log, "w"), stderr=subprocess.STDOUT)
    check(wait_port("127.0.0.1", p5, hap), "haproxy (accept-proxy) started")
    cases = [
        ("v1 TCP4", ["--version", "1", "--src", "203.0.113.7:4242", "--dst", "127.0.0.1:%d" % p5],
         "LBTEST 203.0.113.7:4242"),
        ("v1 TCP6", ["--version", "1", "--src", "[2001:db8::7]:4343", "--dst", "[2001:db8::1]:80"],
         "LBTEST 2001:db8::7:4343"),
        ("v2 INET", ["--version", "2", "--src", "198.51.100.20:5000", "--dst", "127.0.0.1:80"],
         "LBTEST 198.51.100.20:5000"),
        ("v2 INET + TLVs + CRC32C", ["--version", "2", "--src", "198.51.100.21:5001", "--dst",
                                     "127.0.0.1:80", "--authority", "example.com", "--alpn", "h2",
                                     "--unique-id", "0011223344556677", "--tlv",
                                     "0xEA=" + b"\x01vpce-08d2bf15fac5001c9".hex(),
                                     "--crc32c", "--noop-align", "16"],
         "LBTEST 198.51.100.21:5001"),
        ("v2 INET6 + CRC32C", ["--version", "2", "--src", "[2001:db8::21]:5002", "--dst",
                               "[2001:db8::1]:443", "--crc32c"], "LBTEST 2001:db8::21:5002"),
        ("v2 LOCAL + TLVs", ["--version", "2", "--local", "--crc32c", "--tlv", "0xE0=0102030405060708"],
         "LBTEST 127.0.0.1:"),
    ]
    for name, args, needle in cases:
        header = encode(args)
        _, reply = client("127.0.0.1", p5, b"ping\n", header)
        check(reply == b"ok\n", "haproxy accept-proxy %s: connection accepted" % name)
        check(wait_log(log, needle), "haproxy accept-proxy %s: log shows '%s'" % (name, needle))
    # A corrupted CRC32C is refused by HAProxy too.
    header = bytearray(encode(["--version", "2", "--src", "198.51.100.22:5003", "--dst",
                               "127.0.0.1:80", "--crc32c"]))
    header[-1] ^= 1
    _, reply = client("127.0.0.1", p5, b"ping\n", bytes(header))
    check(reply == b"", "haproxy accept-proxy: corrupted CRC32C refused")
    done.set()
    sink.close()


def encoder_to_nginx(tmp):
    p7 = free_port()
    d = os.path.join(tmp, "nginx")
    os.makedirs(os.path.join(d, "logs"))
    conf = os.path.join(d, "nginx.conf")
    access = os.path.join(d, "logs", "access.log")
    with open(conf, "w") as f:
        f.write("""load_module {mod};
daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/logs/error.log info;
events {{ worker_connections 64; }}
stream {{
    log_format pp 'LBTEST $proxy_protocol_addr:$proxy_protocol_port via $remote_addr';
    access_log {access} pp;
    server {{
        listen 127.0.0.1:{port} proxy_protocol;
        return "ok\\n";
    }}
}}
""".format(mod=NGINX_STREAM, d=d, access=access, port=p7))
    ngx = start([NGINX, "-p", d + "/", "-e", os.path.join(d, "logs", "error.log"), "-c", conf],
                stdout=subprocess.DEVNULL, stderr=open(os.path.join(d, "stderr.log"), "w"))
    check(wait_port("127.0.0.1", p7, ngx), "nginx started")
    cases = [
        ("v1 TCP4", ["--version", "1", "--src", "203.0.113.30:6000", "--dst", "127.0.0.1:80"],
         "LBTEST 203.0.113.30:6000"),
        ("v1 TCP6", ["--version", "1", "--src", "[2001:db8::30]:6001", "--dst", "[2001:db8::1]:80"],
         "LBTEST 2001:db8::30:6001"),
        ("v2 INET", ["--version", "2", "--src", "203.0.113.31:6002", "--dst", "127.0.0.1:80"],
         "LBTEST 203.0.113.31:6002"),
        ("v2 INET6", ["--version", "2", "--src", "[2001:db8::31]:6003", "--dst", "[2001:db8::1]:80"],
         "LBTEST 2001:db8::31:6003"),
        ("v2 INET + CRC32C + AUTHORITY", ["--version", "2", "--src", "203.0.113.32:6004", "--dst",
                                          "127.0.0.1:80", "--crc32c", "--authority", "a.example"],
         "LBTEST 203.0.113.32:6004"),
    ]
    for name, args, needle in cases:
        header = encode(args)
        check(len(header) <= 107, "nginx %s: header is %d <= 107 bytes" % (name, len(header)))
        _, reply = client("127.0.0.1", p7, b"", header)
        check(reply == b"ok\n", "nginx %s: connection accepted (%r)" % (name, reply))
        check(wait_log(access, needle), "nginx %s: access log shows '%s'" % (name, needle))


def main():
    global HAPROXY, NGINX
    HAPROXY, NGINX = find_prog("haproxy"), find_prog("nginx")
    for prog, path in (("haproxy", HAPROXY), ("nginx", NGINX)):
        if not path:
            print("FAIL: %s is not installed (apt-get install haproxy nginx-light "
                  "libnginx-mod-stream)" % prog, file=sys.stderr)
            return 1
    if not os.path.exists(NGINX_STREAM):
        print("FAIL: %s missing (libnginx-mod-stream)" % NGINX_STREAM, file=sys.stderr)
        return 1
    v6 = have_ipv6()
    print("IPv6 loopback: %s" % ("yes" if v6 else "no (IPv6 client case not run)"))
    tmp = tempfile.mkdtemp(prefix="lb-proxy-interop-")
    try:
        haproxy_to_listener(tmp, v6)
        encoder_to_haproxy(tmp, v6)
        encoder_to_nginx(tmp)
    finally:
        stop_all()
    if FAILS:
        print("%d failures; configs and logs kept in %s" % (len(FAILS), tmp), file=sys.stderr)
        for name in sorted(os.listdir(tmp)):
            print("--- " + name, file=sys.stderr)
        return 1
    shutil.rmtree(tmp, ignore_errors=True)
    print("all interop checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
