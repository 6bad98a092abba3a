#!/usr/bin/env python3
"""lbfwd --accept-proxy: trusted sources must send a valid PROXY header (v1 or v2), untrusted
ones must not; every violation is refused and counted; a header trickled byte by byte does not
starve others; a partial header times out; the client address from the header is what the
target sees (through --send-proxy)."""

import os
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lbfwd_common as L  # noqa: E402

CRC_TABLE = []
for i in range(256):
    c = i
    for _ in range(8):
        c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    CRC_TABLE.append(c)


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = CRC_TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def v2(src, sport, dst, dport, local=False, crc=None):
    addr = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport)
    tlv = b""
    if crc is not None:
        tlv = b"\x03\x00\x04" + b"\x00\x00\x00\x00"
    body = addr + tlv
    hdr = L.PROXY_V2_SIG + bytes([0x20 if local else 0x21, 0x00 if local else 0x11]) + \
        struct.pack("!H", len(body)) + body
    if crc is not None:
        value = crc32c(hdr) if crc == "good" else 0xDEADBEEF
        hdr = hdr[:-4] + struct.pack("!I", value)
    return hdr


def exchange(host, port, chunks, src="127.0.0.1", delay=0.0, timeout=5):
    """Sends chunks (with an optional delay between them); returns (answer bytes, 'eof'|'reset'|
    'timeout')."""
    s = socket.socket()
    s.settimeout(timeout)
    s.bind((src, 0))
    s.connect((host, port))
    try:
        for c in chunks:
            s.sendall(c)
            if delay:
                time.sleep(delay)
        return L.recv_all(s), "eof"
    except ConnectionResetError:
        return b"", "reset"
    except BrokenPipeError:
        return b"", "reset"
    except socket.timeout:
        return b"", "timeout"
    finally:
        s.close()


def served(answer):
    import json
    try:
        return json.loads(answer.decode())
    except ValueError:
        return None


def main():
    b = L.Backend("pb", expect_proxy=True)
    f = L.Lbfwd(["--listen", "127.0.0.1:0", "--check", "none", "--send-proxy", "v1",
                 "--accept-proxy", "127.0.0.1/32", "--proxy-timeout", "500ms",
                 "--target", "pb=%s" % b.addr])
    H, P = f.host, f.port
    try:
        a, how = exchange(H, P, [b"PROXY TCP4 203.0.113.7 10.0.0.1 4242 80\r\nhello\n"])
        r = served(a)
        L.check(r and r["proxy_src"] == "203.0.113.7" and r["proxy_port"] == 4242 and
                r["got"] == "hello",
                "trusted v1 header: the target sees the address it carried, and only the "
                "application bytes (%s)" % r)
        a, how = exchange(H, P, [v2("198.51.100.9", 5555, "10.0.0.1", 80, crc="good") +
                                 b"hello\n"])
        r = served(a)
        L.check(r and r["proxy_src"] == "198.51.100.9" and r["proxy_port"] == 5555,
                "trusted v2 header with a valid CRC32C is accepted (%s)" % r)
        a, how = exchange(H, P, [v2("0.0.0.0", 0, "0.0.0.0", 0, local=True) + b"hello\n"])
        r = served(a)
        L.check(r and r["proxy_src"] == "127.0.0.1", "trusted v2 LOCAL: the real address is used")
        a, how = exchange(H, P, [b"PROXY UNKNOWN\r\nhello\n"])
        r = served(a)
        L.check(r and r["proxy_src"] == "127.0.0.1", "trusted v1 UNKNOWN: the real address is used")
        # trickled byte by byte while another client is served promptly
        hdr = b"PROXY TCP4 192.0.2.1 10.0.0.1 1111 80\r\nhello\n"
        box = {}
        t = threading.Thread(target=lambda: box.update(
            r=exchange(H, P, [bytes([c]) for c in hdr], delay=0.005)), daemon=True)
        t.start()
        t0 = time.time()
        r2 = served(exchange(H, P, [b"PROXY TCP4 192.0.2.2 10.0.0.1 2222 80\r\nhi\n"])[0])
        dt = time.time() - t0
        t.join(10)
        r1 = served(box["r"][0])
        L.check(r1 and r1["proxy_src"] == "192.0.2.1", "a header trickled byte by byte is "
                "decoded (%s)" % r1)
        L.check(r2 and dt < 1.0, "another client is served meanwhile (%.3fs)" % dt)

        before = f.metrics()
        bad = [
            ("missing header", [b"hello\n"], "missing"),
            ("v1 bad port", [b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 80\r\n"], "invalid"),
            ("v1 lowercase", [b"proxy TCP4 1.2.3.4 5.6.7.8 1 80\r\n"], "missing"),
            ("v1 no CRLF within 107 bytes", [b"PROXY TCP4 " + b"1" * 200], "invalid"),
            ("v2 bad CRC32C", [v2("1.2.3.4", 1, "5.6.7.8", 2, crc="bad")], "invalid"),
            ("v2 bad version", [L.PROXY_V2_SIG + b"\x31\x11\x00\x0c" + b"\x00" * 12], "invalid"),
            ("v2 length shorter than the addresses",
             [L.PROXY_V2_SIG + b"\x21\x11\x00\x04" + b"\x00" * 4], "invalid"),
        ]
        for what, chunks, kind in bad:
            a, how = exchange(H, P, chunks)
            L.check(served(a) is None and how in ("eof", "reset"),
                    "trusted source, %s: refused (%s)" % (what, how))
        after = f.metrics()
        for kind in ("missing", "invalid"):
            key = 'lbfwd_proxy_violations_total{kind="%s"}' % kind
            want = sum(1 for x in bad if x[2] == kind)
            L.check(after[key] - before[key] == want, "%d %s violations counted" % (want, kind))
        t0 = time.time()
        a, how = exchange(H, P, [b"PROXY TCP4 1.2.3.4"])
        dt = time.time() - t0
        L.check(how in ("eof", "reset") and 0.3 < dt < 3.0,
                "a partial header times out (--proxy-timeout 500ms: %.2fs)" % dt)
        L.check(f.metrics()['lbfwd_proxy_violations_total{kind="timeout"}'] >= 1,
                "PROXY timeouts counted")

        # untrusted sources (127.0.0.2 is not in 127.0.0.1/32)
        r = served(exchange(H, P, [b"hello\n"], src="127.0.0.2")[0])
        L.check(r and r["proxy_src"] == "127.0.0.2", "untrusted source without a header is "
                "served with its real address")
        before = f.metrics()['lbfwd_proxy_violations_total{kind="untrusted"}']
        for what, chunks in (("v1", [b"PROXY TCP4 6.6.6.6 5.6.7.8 1 80\r\nhello\n"]),
                             ("v2", [v2("6.6.6.6", 1, "5.6.7.8", 2) + b"hello\n"]),
                             ("v2 split", [L.PROXY_V2_SIG[:5], L.PROXY_V2_SIG[5:] + b"\x21"])):
            a, how = exchange(H, P, chunks, src="127.0.0.2", delay=0.05)
            L.check(served(a) is None, "untrusted source sending a %s header: refused (%s)"
                    % (what, how))
        after = f.metrics()['lbfwd_proxy_violations_total{kind="untrusted"}']
        L.check(after - before == 3, "3 untrusted-header violations counted")
        L.check(not any(h.startswith(b"PROXY TCP4 6.6.6.6") for h in b.headers),
                "a spoofed address never reaches the target")
    finally:
        f.stop()
        b.stop()
    test_prefix_then_fin()
    print("PASS")


def test_prefix_then_fin():
    """An untrusted client sending 1 to 11 bytes of a PROXY signature and then its FIN: the
    bytes are judged at the FIN (a prefix, not a header) and forwarded, at once rather than at
    the idle timeout (issue 18)."""
    b = L.Backend("echo", mode="echo")
    f = L.Lbfwd(["--listen", "127.0.0.1:0", "--check", "none", "--accept-proxy", "10.0.0.0/8",
                 "--idle-timeout", "30s", "--target", "echo=%s" % b.addr])
    try:
        prefixes = [L.PROXY_V2_SIG[:k] for k in range(1, 12)] + [b"PROXY"[:k]
                                                                  for k in range(1, 6)]
        for pre in prefixes:
            s = socket.create_connection((f.host, f.port), timeout=5)
            t0 = time.monotonic()
            s.sendall(pre)
            s.shutdown(socket.SHUT_WR)
            try:
                got = L.recv_all(s)
            except OSError as e:
                got = repr(e).encode()
            dt = time.monotonic() - t0
            s.close()
            L.check(got == pre and dt < 2.0, "%d signature bytes %r then FIN: forwarded in "
                    "%.0f ms (%r)" % (len(pre), pre, dt * 1e3, got))
    finally:
        f.stop()
        b.stop()


if __name__ == "__main__":
    main()
