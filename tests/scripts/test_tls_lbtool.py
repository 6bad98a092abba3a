#!/usr/bin/env python3
"""lbtool tls decode/match: JSON fields, exit codes and errors; every vector of
tests/data/tls_vectors.txt decoded through lbtool; real ClientHellos from real clients
(openssl s_client, gnutls-cli, curl, Python ssl) captured on loopback by a small listener and
compared field by field with an independent reading of the same bytes (tls_gen_vectors.py,
which computes JA3 and JA4 with hashlib); and the hellos committed in
tests/data/tls_captured.txt. `--capture FILE` rewrites that file from fresh captures."""
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time

from lbtool_common import check, error_name, finish, run, run_json, usage_error

DATA = os.environ.get("LB_TEST_DATA", os.path.join(os.path.dirname(__file__), "..", "data"))
sys.path.insert(0, DATA)
import tls_gen_vectors as G  # noqa: E402


def tls(args, stdin=b""):
    """lbtool tls ARGS: bytes in and out."""
    return run("tls", *args, stdin=stdin, binary=True)


def decode(args, stdin=b""):
    return run_json("tls", "decode", *args, stdin=stdin, binary=True)


def hello_message(data):
    """The ClientHello message carried by the records at the start of data, or None."""
    msg, pos = b"", 0
    while pos + 5 <= len(data):
        ln = int.from_bytes(data[pos + 3:pos + 5], "big")
        if pos + 5 + ln > len(data):
            return None
        msg += data[pos + 5:pos + 5 + ln]
        pos += 5 + ln
        if len(msg) >= 4 and len(msg) >= 4 + int.from_bytes(msg[1:4], "big"):
            return msg
    return None


def expected(data):
    """What lbtool must print for these bytes, from the independent reader."""
    msg = hello_message(data)
    f = G.fields(msg)
    _, _, exts = G.parse(msg)
    ed = dict(exts)
    names = {0x0300: "SSL3.0", 0x0301: "TLS1.0", 0x0302: "TLS1.1", 0x0303: "TLS1.2",
             0x0304: "TLS1.3"}
    if 43 in ed:
        vs = [v for v in G.u16s(ed[43][1:]) if not G.is_grease(v)]
    else:
        vs = [f["legacy"]]
    valid = f["name"] is not None and G.host_error(f["name"]) == "LB_OK"
    return {"sni": f["name"] if valid else None,
            "alpn": [a.decode() if all(0x20 <= c <= 0x7e for c in a) else a.hex()
                     for a in f["alpn"]],
            "versions": [names.get(v, "0x%04x" % v) for v in vs],
            "ech": f["ech"], "ja3": G.ja3(f), "ja4": G.ja4(f),
            "cipher_suites": f["ciphers"], "extensions": f["exts"]}


def check_decode(name, data, sni=None, alpn=None):
    rc, j, err = decode([], data)
    check(rc == 0 and j is not None, "%s: lbtool rc %d %s %s" % (name, rc, j, err))
    if rc != 0 or j is None:
        return None
    want = expected(data)
    for k, v in want.items():
        check(j.get(k) == v, "%s: %s is %r, want %r" % (name, k, j.get(k), v))
    check(j["bytes"] == len(data), "%s: bytes %s of %d" % (name, j["bytes"], len(data)))
    if sni is not None:
        check(j["sni"] == sni, "%s: sni %r, want %r" % (name, j["sni"], sni))
    if alpn is not None:
        check(j["alpn"] == alpn, "%s: alpn %r, want %r" % (name, j["alpn"], alpn))
    return j


# ---- capture from real clients ----
def capture(client, timeout=8.0):
    """Runs client(port) against a listener that records the first flight and closes."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    srv.settimeout(timeout)
    port = srv.getsockname()[1]
    got = {}

    def serve():
        try:
            c, _ = srv.accept()
        except OSError:
            return
        c.settimeout(1.0)
        data, deadline = b"", time.monotonic() + timeout
        while hello_message(data) is None and time.monotonic() < deadline and len(data) < 65536:
            try:
                chunk = c.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                break
            data += chunk
        msg = hello_message(data)
        if msg is not None:  # only the records of the hello
            pos, n = 0, 0
            while n < len(msg):
                ln = int.from_bytes(data[pos + 3:pos + 5], "big")
                pos += 5 + ln
                n += ln
            got["data"] = data[:pos]
        c.close()

    t = threading.Thread(target=serve)
    t.start()
    try:
        client(port)
    finally:
        t.join(timeout + 2)
        srv.close()
    return got.get("data")


def run_client(cmd):
    subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=15)


def openssl(name, extra):
    return lambda port: run_client(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port,
                                    "-servername", name] + extra)


def gnutls(name, alpn):
    return lambda port: run_client(["gnutls-cli", "--insecure", "-p", str(port),
                                    "--sni-hostname", name, "--alpn", alpn, "127.0.0.1"])


def curl(name):
    return lambda port: run_client(["curl", "-sk", "--max-time", "5", "--resolve",
                                    "%s:%d:127.0.0.1" % (name, port),
                                    "https://%s:%d/" % (name, port)])


def python_ssl(name, alpn, tls12=False):
    def client(port):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(alpn)
        if tls12:
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            try:
                ctx.wrap_socket(s, server_hostname=name)
            except (ssl.SSLError, OSError):
                pass
    return client


CLIENTS = [
    ("openssl_s_client", openssl("www.example.com", ["-alpn", "h2,http/1.1"]),
     "www.example.com", ["h2", "http/1.1"], True),
    ("openssl_s_client_tls12", openssl("api.example.org", ["-tls1_2", "-no_ticket"]),
     "api.example.org", [], True),
    ("gnutls_cli", gnutls("gnutls.example.net", "h2"), "gnutls.example.net", ["h2"], True),
    ("curl", curl("curl.example.com"), "curl.example.com", None, True),
    ("python_ssl", python_ssl("py.example.com", ["h2", "http/1.1"]), "py.example.com",
     ["h2", "http/1.1"], True),
    ("python_ssl_tls12", python_ssl("py12.example.com", ["http/1.1"], tls12=True),
     "py12.example.com", ["http/1.1"], True),
]


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--capture":
        with open(sys.argv[2], "w") as f:
            f.write("# captured by tests/scripts/test_tls_lbtool.py --capture; NAME HEX SNI ALPN\n")
            for name, client, sni, alpn, _ in CLIENTS:
                data = capture(client)
                assert data, name
                f.write("\t".join([name, data.hex(), sni, ",".join(alpn or []) or "-"]) + "\n")
        return 0

    # --help, usage errors
    rc, out, _ = tls(["--help"])
    check(rc == 0 and b"lbtool tls decode" in out, "--help")
    check(usage_error("tls", "decode", "--bogus"), "usage error exits 2 on stderr")
    rc, _, _ = tls(["frobnicate"])
    check(rc == 2, "unknown subcommand")
    rc, _, _ = tls(["decode", "--hex", "zz"])
    check(rc == 2, "bad hex is a usage error")
    rc, _, _ = tls(["decode", "--max-size", "0"])
    check(rc == 2, "--max-size 0")
    rc, _, _ = tls(["match", "a.example"])
    check(rc == 2, "match without patterns")

    # every vector through lbtool
    vecs = [line.rstrip("\n").split("\t") for line in open(os.path.join(DATA, "tls_vectors.txt"))
            if not line.startswith("#")]
    for v in vecs:
        name, hexdata, exp = v[0], v[1], v[2]
        opts = v[3] if len(v) > 3 else ""
        if "scratch=" in opts:  # lbtool always gives a full scratch buffer
            continue
        args = ["--hex", hexdata] if hexdata != "-" else []
        if "max=" in opts:
            args += ["--max-size", opts.split("max=")[1].split(",")[0]]
        rc, j, _ = decode(args, b"")
        if exp.startswith("ERR"):
            check(rc == 1 and j["error"] == exp.split()[1] and j["message"],
                  "%s: %s, want %s" % (name, j, exp))
            if exp.split()[1] == "LB_E_NEED_MORE":
                check("more bytes" in j["message"], "%s: need more says how many" % name)
            continue
        f = exp.split()
        check(rc == 0, "%s: rc %d" % (name, rc))
        if rc != 0:
            continue
        check(j["bytes"] == int(f[1]) and j["ja3"] == f[9] and j["ja4"] == f[10] and
              j["ech"] == (f[5] == "1") and len(j["cipher_suites"]) == int(f[6]) and
              len(j["extensions"]) == int(f[7]) and len(j["alpn"]) == int(f[8]),
              "%s: %s vs %s" % (name, j, exp))
        check((j["sni"] is None) == (f[3] != "LB_OK" or f[2] == "-"), "%s: sni %s" % (name, j))
        check(j.get("sni_error", "LB_OK") == f[3], "%s: sni_error %s" % (name, j.get("sni_error")))
        data = bytes.fromhex(hexdata)
        got = check_decode(name, data[:int(f[1])])
        if got is not None:
            check(got == j, "%s: stdin and --hex differ" % name)

    # the exact error object of an incomplete hello
    fox = [v for v in vecs if v[0] == "foxio_ja4_example"][0]
    rc, j, _ = decode([], bytes.fromhex(fox[1])[:-3])
    check(rc == 1 and j == {"error": "LB_E_NEED_MORE", "message":
                            "the input ends before the ClientHello does (at least 3 more bytes)"},
          "need more %s" % j)
    rc, j, _ = decode([], b"GET / HTTP/1.1\r\n\r\n")
    check(rc == 1 and j["error"] == "LB_E_TLS_NOT_TLS", "not tls %s" % j)

    # match
    rc, out, _ = tls(["match", "a.b.example.com", "*", "*.example.com", "a.b.example.com"])
    check(rc == 0 and json.loads(out) == {"host": "a.b.example.com", "pattern": "a.b.example.com",
                                          "index": 2}, "match exact %s" % out)
    rc, out, _ = tls(["match", "Www.Example.com", "*.com", "*.example.com"])
    check(rc == 0 and json.loads(out)["index"] == 1, "match longest suffix %s" % out)
    for args, name in ((["example.org", "*.example.org"], "LB_E_TLS_NO_MATCH"),
                       (["example.org", "ex*.org"], "LB_E_TLS_BAD_PATTERN"),
                       (["10.0.0.1", "*"], "LB_E_TLS_SNI_IP_LITERAL")):
        check(error_name("tls", "match", *args) == name, "match %s" % args)

    # the committed captures
    n = 0
    for line in open(os.path.join(DATA, "tls_captured.txt")):
        if line.startswith("#"):
            continue
        name, hexdata, sni, alpn = line.rstrip("\n").split("\t")
        check_decode("captured " + name, bytes.fromhex(hexdata), sni,
                     None if alpn == "-" and name == "curl" else
                     ([] if alpn == "-" else alpn.split(",")))
        n += 1
    check(n >= 5, "captured hellos: %d" % n)

    # fresh captures from the clients installed here (scripts/deps.sh installs them all)
    for name, client, sni, alpn, _ in CLIENTS:
        tool = {"openssl": "openssl", "gnutls": "gnutls-cli", "curl": "curl"}.get(
            name.split("_")[0])
        check(tool is None or shutil.which(tool), "%s: %s is not installed" % (name, tool))
        data = capture(client)
        check(data is not None, "%s: no ClientHello captured" % name)
        if data is None:
            continue
        j = check_decode("live " + name, data, sni, alpn)
        if j is not None and name.endswith("tls12"):
            check("TLS1.3" not in j["versions"], "%s: versions %s" % (name, j["versions"]))
        elif j is not None:
            check(j["versions"][0] == "TLS1.3", "%s: versions %s" % (name, j["versions"]))
    return finish()


if __name__ == "__main__":
    sys.exit(main())
