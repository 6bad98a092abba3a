#!/usr/bin/env python3
"""Generates tests/data/tls_vectors.txt: TLS ClientHello test vectors, valid and invalid, one per
line: NAME <TAB> HEX <TAB> EXPECT [<TAB> OPTIONS].

EXPECT is `ERR <LB_E_...>` or
`OK <bytes> <sni|0xHEX|-> <sni_error> <version> <ech> <ciphers> <extensions> <alpn> <ja3> <ja4>`
(version in hex, sni_error an error name or LB_OK, counts as decimal). OPTIONS is a
comma-separated list: max=N (the decoder's cap), scratch=N (scratch buffer bytes; default 65536).

Everything here is computed independently of liblb: JA3 with hashlib.md5 over the text the
Salesforce README describes, JA4 with hashlib.sha256 as FoxIO's technical_details/JA4.md
describes; the two published examples (FoxIO's JA4.md example, and a Chrome 143 hello with
its published JA3/JA4) are asserted below. Usage: tls_gen_vectors.py OUT [CORPUS_DIR]
(CORPUS_DIR: also write each vector as a file for the fuzzer's corpus), or
tls_gen_vectors.py --check VECTORS CORPUS_DIR (are the committed files up to date?)."""
import hashlib
import os
import re
import struct
import sys

GREASE = [0x0a0a + 0x1010 * i for i in range(16)]


def is_grease(v):
    return v in GREASE


def u16(v):
    return struct.pack(">H", v)


def vec8(b):
    return bytes([len(b)]) + b


def vec16(b):
    return u16(len(b)) + b


def ext(t, data):
    return u16(t) + vec16(data)


def sni(*names, name_type=0):
    return ext(0, vec16(b"".join(bytes([name_type]) + vec16(n) for n in names)))


def alpn(*protos):
    return ext(16, vec16(b"".join(vec8(p) for p in protos)))


def versions(*vs):
    return ext(43, vec8(b"".join(u16(v) for v in vs)))


def list16(t, vs):
    return ext(t, vec16(b"".join(u16(v) for v in vs)))


def point_formats(*pf):
    return ext(11, vec8(bytes(pf)))


def key_share(*shares):
    return ext(51, vec16(b"".join(u16(g) + vec16(k) for g, k in shares)))


def body(exts, ciphers=(0x1301, 0x1302, 0x1303), version=0x0303, sid=bytes(32), comp=b"\x00",
         raw_exts=None):
    b = u16(version) + bytes(range(32)) + vec8(sid) + vec16(b"".join(u16(c) for c in ciphers))
    b += vec8(comp)
    if raw_exts is not None:
        b += raw_exts
    elif exts is not None:
        b += vec16(b"".join(exts))
    return b


def handshake(b, hs_type=1):
    return bytes([hs_type]) + struct.pack(">I", len(b))[1:] + b


def records(msg, sizes=None, rtype=22, rver=0x0301):
    """Splits msg into records of the given sizes (the last takes the rest)."""
    out, pos = b"", 0
    for s in (sizes or []):
        out += bytes([rtype]) + u16(rver) + u16(s) + msg[pos:pos + s]
        pos += s
    return out + bytes([rtype]) + u16(rver) + u16(len(msg) - pos) + msg[pos:]


def padded(exts, target):
    """Adds a padding extension (21) so that the record is `target` bytes long."""
    base = len(records(handshake(body(exts + [ext(21, b"")]))))
    return exts + [ext(21, bytes(target - base))]


# ---- an independent reader of the hellos built above (for the expected fields) ----
def parse(msg):
    b = msg[4:]
    p = 2 + 32
    sid_len = b[p]
    p += 1 + sid_len
    n = struct.unpack(">H", b[p:p + 2])[0]
    ciphers = [struct.unpack(">H", b[p + 2 + i:p + 4 + i])[0] for i in range(0, n, 2)]
    p += 2 + n
    p += 1 + b[p]
    exts = []
    if p < len(b):
        end = p + 2 + struct.unpack(">H", b[p:p + 2])[0]
        p += 2
        while p < end:
            t, ln = struct.unpack(">HH", b[p:p + 4])
            exts.append((t, b[p + 4:p + 4 + ln]))
            p += 4 + ln
    return struct.unpack(">H", b[:2])[0], ciphers, exts


def u16s(d):
    return [struct.unpack(">H", d[i:i + 2])[0] for i in range(0, len(d), 2)]


def fields(msg):
    legacy, ciphers, exts = parse(msg)
    e = dict(exts)
    sv = [v for v in u16s(e[43][1:])] if 43 in e else []
    good = [v for v in sv if not is_grease(v)]
    version = max(good) if good else legacy
    groups = u16s(e[10][2:]) if 10 in e else []
    pf = list(e[11][1:]) if 11 in e else []
    sigs = u16s(e[13][2:]) if 13 in e else []
    protos = []
    if 16 in e:
        d, i = e[16][2:], 0
        while i < len(d):
            protos.append(d[i + 1:i + 1 + d[i]])
            i += 1 + d[i]
    name = None
    if 0 in e:
        d = e[0][2:]
        if d[0] == 0:
            name = d[3:3 + struct.unpack(">H", d[1:3])[0]].decode("latin-1")
    return dict(legacy=legacy, version=version, ciphers=ciphers, exts=[t for t, _ in exts],
                groups=groups, pf=pf, sigs=sigs, alpn=protos, sni=0 in e, name=name,
                ech=0xfe0d in e)


def ja3_text(f):
    def j(vs):
        return "-".join(str(v) for v in vs if not is_grease(v))
    return "%d,%s,%s,%s,%s" % (f["legacy"], j(f["ciphers"]), j(f["exts"]), j(f["groups"]),
                               "-".join(str(v) for v in f["pf"]))


def ja3(f):
    return hashlib.md5(ja3_text(f).encode()).hexdigest()


def ja4(f):
    ver = {0x0304: "13", 0x0303: "12", 0x0302: "11", 0x0301: "10", 0x0300: "s3",
           0x0002: "s2", 0xfeff: "d1", 0xfefd: "d2", 0xfefc: "d3"}.get(f["version"], "00")
    ciphers = [c for c in f["ciphers"] if not is_grease(c)]
    exts = [x for x in f["exts"] if not is_grease(x)]
    if f["alpn"]:
        a = f["alpn"][0]
        if chr(a[0]).isalnum() and chr(a[-1]).isalnum() and a[0] < 128 and a[-1] < 128:
            al = chr(a[0]) + chr(a[-1])
        else:
            al = a.hex()[0] + a.hex()[-1]
    else:
        al = "00"
    part_a = "t%s%s%02d%02d%s" % (ver, "d" if f["sni"] else "i", min(len(ciphers), 99),
                                  min(len(exts), 99), al)

    def h12(s):
        return hashlib.sha256(s.encode()).hexdigest()[:12]
    cs = sorted(ciphers)
    part_b = h12(",".join("%04x" % c for c in cs)) if cs else "0" * 12
    es = sorted(x for x in exts if x not in (0, 16))
    sigs = [s for s in f["sigs"] if not is_grease(s)]
    text = ",".join("%04x" % x for x in es)
    if sigs:
        text += "_" + ",".join("%04x" % s for s in sigs)
    part_c = h12(text) if es else "0" * 12
    return "%s_%s_%s" % (part_a, part_b, part_c)


def host_error(name):
    if name is None:
        return "LB_OK"
    n = name
    if ":" in n and re.fullmatch(r"[0-9a-fA-F:.\[\]]+", n):
        return "LB_E_TLS_SNI_IP_LITERAL"
    if not 1 <= len(n) <= 253 or n.endswith("."):
        return "LB_E_TLS_SNI_INVALID"
    labels = n.split(".")
    for lab in labels:
        if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?", lab):
            return "LB_E_TLS_SNI_INVALID"
    if labels[-1].isdigit():
        return "LB_E_TLS_SNI_IP_LITERAL" if re.fullmatch(r"[0-9.]+", n) else "LB_E_TLS_SNI_INVALID"
    return "LB_OK"


# ---- the published examples ----
FOX_CIPHERS = [0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013,
               0xc014, 0x009c, 0x009d, 0x002f, 0x0035]
FOX_SIGS = [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601]


def fox_exts(sigs=FOX_SIGS, name=b"example.com", target=None):
    """FoxIO's JA4.md example: extensions 001b,0000,0033,0010,4469,0017,002d,000d,0005,0023,
    0012,002b,ff01,000b,000a,0015 with GREASE before and after (as Chrome sends them)."""
    e = [ext(0x2a2a, b""), ext(0x1b, b"\x02\x00\x02"), sni(name),
         key_share((0x4a4a, b"\x00"), (0x1d, bytes(32))), alpn(b"h2", b"http/1.1"),
         ext(0x4469, b"\x00\x03\x02h2"), ext(0x17, b""), ext(0x2d, b"\x01\x01"),
         list16(13, sigs), ext(5, b"\x01\x00\x00\x00\x00"), ext(0x23, b""), ext(0x12, b""),
         versions(0x7a7a, 0x0304, 0x0303), ext(0xff01, b"\x00"), point_formats(0),
         list16(10, [0x8a8a, 0x1d, 0x17, 0x18])]
    e.append(ext(0x15, b""))
    if target:
        base = len(records(handshake(body(e + [ext(0xdada, b"\x00")],
                                          ciphers=[0x3a3a] + FOX_CIPHERS))))
        e[-1] = ext(0x15, bytes(target - base))
    return e + [ext(0xdada, b"\x00")]


def fox_hello(**kw):
    return handshake(body(fox_exts(**kw), ciphers=[0x3a3a] + FOX_CIPHERS, sid=bytes(range(32))))


# Chrome 143 through browserleaks (ECH, X25519MLKEM768): published ja3_text, ja3_hash, ja4.
CHROME_EXT_ORDER = [45, 51, 16, 65037, 23, 17613, 0, 11, 10, 43, 65281, 35, 18, 5, 13, 27]
CHROME_JA3_TEXT = ("771,4865-4866-4867-49195-49199-49196-49200-52393-52392-49171-49172-156-157-"
                   "47-53,45-51-16-65037-23-17613-0-11-10-43-65281-35-18-5-13-27,4588-29-23-24,0")


def chrome_hello():
    by_type = {
        45: ext(45, b"\x01\x01"),
        51: key_share((0x5a5a, b"\x00"), (4588, bytes(range(256)) * 4 + bytes(96) + bytes(32)),
                      (0x1d, bytes(32))),
        16: alpn(b"h2", b"http/1.1"),
        65037: ext(0xfe0d, b"\x00\x00\x01\x00\x01\x9a\x00\x20" + bytes(32) + u16(208) + bytes(208)),
        23: ext(23, b""),
        17613: ext(17613, b"\x00\x03\x02h2"),
        0: sni(b"tls-outer.browserleaks.com"),
        11: point_formats(0),
        10: list16(10, [0x5a5a, 4588, 29, 23, 24]),
        43: versions(0x6a6a, 0x0304, 0x0303),
        65281: ext(0xff01, b"\x00"),
        35: ext(35, b""),
        18: ext(18, b""),
        5: ext(5, b"\x01\x00\x00\x00\x00"),
        13: list16(13, FOX_SIGS),
        27: ext(27, b"\x02\x00\x02"),
    }
    e = [ext(0x9a9a, b"")] + [by_type[t] for t in CHROME_EXT_ORDER] + [ext(0xbaba, b"\x00")]
    return handshake(body(e, ciphers=[0x4a4a] + FOX_CIPHERS, sid=bytes(range(32))))


assert ja4(fields(fox_hello())) == "t13d1516h2_8daaf6152771_e5627efa2ab1"
# JA4.md: the same extensions without signature algorithms hash to 6d807ffa2a79 (here the
# signature_algorithms extension holds only a GREASE value, which JA4 ignores)
assert ja4(fields(fox_hello(sigs=[0x0a0a]))).endswith("_6d807ffa2a79")
assert ja3_text(fields(chrome_hello())) == CHROME_JA3_TEXT
assert ja3(fields(chrome_hello())) == "98487aa16281980e7d1120d399efb6a4"
assert ja4(fields(chrome_hello())) == "t13d1516h2_8daaf6152771_d8a2da3f94cd"
# JA4.md's ALPN rule examples (first and last hex digit when not alphanumeric)
for raw, code in [(b"\xab", "ab"), (b"\xab\xcd", "ad"), (b"\x30\xab", "3b"),
                  (b"\x30\x31\xab\xcd", "3d"), (b"\x30\xab\xcd\x31", "01")]:
    f = dict(fields(fox_hello()), alpn=[raw])
    assert ja4(f)[8:10] == code, (raw, ja4(f))


def vectors():
    v = []

    def ok(name, data, opts=""):
        v.append((name, data, None, opts))

    def err(name, data, code, opts=""):
        v.append((name, data, code, opts))

    fox = fox_hello()
    ok("foxio_ja4_example", records(fox))
    ok("foxio_ja4_example_no_sigalgs", records(fox_hello(sigs=[0x0a0a])))
    ok("browser_517", records(handshake(body(fox_exts(target=517), ciphers=[0x3a3a] + FOX_CIPHERS,
                                             sid=bytes(range(32))))))
    ok("chrome143_ech_mlkem", records(chrome_hello()))
    ok("chrome143_two_records", records(chrome_hello(), [1400]))
    ok("foxio_three_records", records(fox, [100, 100]))
    ok("handshake_header_split", records(fox, [1, 2]))
    ok("one_byte_records", records(fox, [1] * 40))
    ok("tls12_no_extensions", records(handshake(body(None, ciphers=[0xc02f, 0x009c]))))
    ok("tls12_empty_extensions", records(handshake(body([], ciphers=[0xc02f]))))
    ok("tls10_legacy", records(handshake(body([sni(b"old.example.org")], version=0x0301,
                                              ciphers=[0x002f, 0x0035, 0x000a], sid=b""))))
    ok("ssl3_legacy", records(handshake(body(None, version=0x0300, ciphers=[0x000a], sid=b"")),
                              rver=0x0300))
    ok("no_sni", records(handshake(body([alpn(b"http/1.1"), versions(0x0304)]))))
    ok("sni_upper_case", records(handshake(body([sni(b"WWW.Example.COM")]))))
    ok("sni_ip_literal", records(handshake(body([sni(b"192.0.2.1")]))))
    ok("sni_ipv6_literal", records(handshake(body([sni(b"2001:db8::1")]))))
    ok("sni_underscore", records(handshake(body([sni(b"my_host.example.com")]))))
    ok("sni_trailing_dot", records(handshake(body([sni(b"example.com.")]))))
    ok("sni_label_64", records(handshake(body([sni(b"a" * 64 + b".com")]))))
    ok("sni_label_63", records(handshake(body([sni(b"a" * 63 + b".com")]))))
    ok("sni_254_bytes", records(handshake(body([sni(b".".join([b"a" * 62] * 4) + b".c")]))))
    ok("sni_253_bytes", records(handshake(body([sni(b".".join([b"a" * 62] * 4) + b"c")]))))
    ok("sni_hyphen_edges", records(handshake(body([sni(b"-a.example.com")]))))
    ok("sni_hyphen_end", records(handshake(body([sni(b"a-.example.com")]))))
    ok("sni_hyphen_inside", records(handshake(body([sni(b"a-b.example-1.com")]))))
    ok("sni_numeric_tld", records(handshake(body([sni(b"host.123")]))))
    ok("sni_empty_label", records(handshake(body([sni(b"a..b")]))))
    ok("sni_nul_byte", records(handshake(body([sni(b"a\x00.com")]))))
    ok("sni_other_name_type_only", records(handshake(body([sni(b"x", name_type=1)]))))
    ok("ech_outer", records(handshake(body([sni(b"public.example.net"),
                                            ext(0xfe0d, b"\x00\x00\x01\x00\x01")]))))
    ok("alpn_non_alnum_ab", records(handshake(body([alpn(b"\xab")]))))
    ok("alpn_non_alnum_30abcd31", records(handshake(body([alpn(b"\x30\xab\xcd\x31")]))))
    ok("alpn_single_char", records(handshake(body([alpn(b"x", b"h2")]))))
    ok("versions_only_grease", records(handshake(body([versions(0x0a0a)]))))
    ok("versions_draft", records(handshake(body([versions(0x7f1c, 0x0303)]))))
    ok("psk_last", records(handshake(body([sni(b"a.example"), ext(41, b"\x00")]))))
    ok("grease_cipher_only", records(handshake(body([], ciphers=[0x0a0a]))))
    ok("many_ciphers_99", records(handshake(body([sni(b"x.example")],
                                                 ciphers=list(range(1, 120))))))
    ok("cap_exact", records(fox), "max=%d" % len(fox))
    ok("unknown_extension_types", records(handshake(body([ext(0x1234, b"abc"),
                                                          ext(0xff00, b"")]))))
    ok("followed_by_other_records", records(fox) + b"\x14\x03\x03\x00\x01\x01")

    # need more
    err("empty", b"", "LB_E_NEED_MORE")
    err("one_byte", b"\x16", "LB_E_NEED_MORE")
    err("record_header_only", records(fox)[:5], "LB_E_NEED_MORE")
    err("half_hello", records(fox)[:200], "LB_E_NEED_MORE")
    err("one_short", records(fox)[:-1], "LB_E_NEED_MORE")
    err("second_record_missing", records(fox, [100])[:105], "LB_E_NEED_MORE")
    err("second_record_header_part", records(fox, [100])[:107], "LB_E_NEED_MORE")
    # errors of the record layer
    err("http_get", b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", "LB_E_TLS_NOT_TLS")
    err("ssh_banner", b"SSH-2.0-OpenSSH_9.2\r\n", "LB_E_TLS_NOT_TLS")
    err("not_tls_version_byte", b"\x16\x02", "LB_E_TLS_NOT_TLS")
    err("sslv2_hello", bytes.fromhex("802b0103010012000000100000030000060000ff0a") + bytes(16),
        "LB_E_TLS_SSLV2")
    err("sslv2_prefix_high_bit_other", bytes.fromhex("80 2b 04".replace(" ", "")), "LB_E_TLS_NOT_TLS")
    err("sslv2_two_bytes", bytes.fromhex("802b"), "LB_E_NEED_MORE")
    err("alert_record", bytes.fromhex("15030100020228"), "LB_E_TLS_NOT_TLS")
    err("server_hello", records(handshake(body([]), hs_type=2)), "LB_E_TLS_NOT_CLIENT_HELLO")
    err("finished_type", records(b"\x14"), "LB_E_TLS_NOT_CLIENT_HELLO")
    fox_recs = records(fox, [100])
    err("interleaved_ccs", fox_recs[:105] + b"\x14\x03\x03\x00\x01\x01", "LB_E_TLS_RECORD_TYPE")
    err("later_record_bad_version", fox_recs[:105] + b"\x16\x04", "LB_E_TLS_MALFORMED")
    err("record_too_long", b"\x16\x03\x01\x40\x01\x01", "LB_E_TLS_RECORD_TOO_LONG")
    err("record_empty", b"\x16\x03\x01\x00\x00", "LB_E_TLS_RECORD_EMPTY")
    err("second_record_empty", fox_recs[:105] + b"\x16\x03\x01\x00\x00", "LB_E_TLS_RECORD_EMPTY")
    err("too_large_default", b"\x16\x03\x01\x00\x04\x01\x00\x40\x01", "LB_E_TLS_TOO_LARGE")
    err("too_large_cap", records(fox), "LB_E_TLS_TOO_LARGE", "max=%d" % (len(fox) - 1))
    err("trailing_in_record", records(fox + b"\x00"), "LB_E_TLS_TRAILING")
    err("trailing_in_record_header_only", records(fox + b"\x00")[:9], "LB_E_TLS_TRAILING")
    err("second_message_in_record", records(fox + handshake(b"", hs_type=20)), "LB_E_TLS_TRAILING")
    err("fragmented_no_scratch", records(fox, [100]), "LB_E_TLS_SCRATCH", "scratch=0")
    err("fragmented_small_scratch", records(fox, [100]), "LB_E_TLS_SCRATCH",
        "scratch=%d" % (len(fox) - 5))
    ok("fragmented_exact_scratch", records(fox, [100]), "scratch=%d" % (len(fox) - 4))
    # errors of the hello's fields
    b = body([sni(b"a.example")])
    err("bad_legacy_version", records(handshake(b"\x02\x00" + b[2:])), "LB_E_TLS_BAD_VERSION")
    err("truncated_version", records(handshake(b"\x03")), "LB_E_TLS_TRUNCATED")
    err("truncated_random", records(handshake(b[:20])), "LB_E_TLS_TRUNCATED")
    err("truncated_no_session_id", records(handshake(b[:34])), "LB_E_TLS_TRUNCATED")
    err("session_id_33", records(handshake(body([], sid=bytes(33)))), "LB_E_TLS_MALFORMED")
    err("truncated_session_id", records(handshake(b[:40])), "LB_E_TLS_TRUNCATED")
    err("truncated_cipher_len", records(handshake(b[:68])), "LB_E_TLS_TRUNCATED")
    err("odd_cipher_len", records(handshake(b[:67] + b"\x00\x03\x13\x01\x13\x02\x01\x00")),
        "LB_E_TLS_MALFORMED")
    err("empty_ciphers", records(handshake(b[:67] + b"\x00\x00\x01\x00")), "LB_E_TLS_MALFORMED")
    err("truncated_ciphers", records(handshake(b[:67] + b"\x00\x08\x13\x01")),
        "LB_E_TLS_TRUNCATED")
    err("no_compression_len", records(handshake(b[:67] + b"\x00\x02\x13\x01")),
        "LB_E_TLS_TRUNCATED")
    err("empty_compression", records(handshake(b[:67] + b"\x00\x02\x13\x01\x00")),
        "LB_E_TLS_MALFORMED")
    err("truncated_compression", records(handshake(b[:67] + b"\x00\x02\x13\x01\x02\x00")),
        "LB_E_TLS_TRUNCATED")
    base = body(None)
    err("one_byte_extensions_len", records(handshake(base + b"\x00")), "LB_E_TLS_TRUNCATED")
    err("extensions_len_too_long", records(handshake(base + b"\x00\x10\x00\x00\x00\x00")),
        "LB_E_TLS_TRUNCATED")
    err("bytes_after_extensions", records(handshake(base + b"\x00\x04\x00\x17\x00\x00\xff")),
        "LB_E_TLS_TRAILING")
    err("extension_header_cut", records(handshake(base + b"\x00\x03\x00\x17\x00")),
        "LB_E_TLS_TRUNCATED")
    err("extension_data_overrun", records(handshake(base + b"\x00\x05\x00\x17\x00\x02\x00")),
        "LB_E_TLS_TRUNCATED")
    err("duplicate_sni", records(handshake(body([sni(b"a.example"), sni(b"b.example")]))),
        "LB_E_TLS_DUPLICATE_EXTENSION")
    err("duplicate_unknown", records(handshake(body([ext(0x4444, b""), ext(0x4444, b"")]))),
        "LB_E_TLS_DUPLICATE_EXTENSION")
    err("duplicate_grease", records(handshake(body([ext(0x0a0a, b""), ext(0x1a1a, b""),
                                                    ext(0x0a0a, b"")]))),
        "LB_E_TLS_DUPLICATE_EXTENSION")
    err("psk_not_last", records(handshake(body([ext(41, b"\x00"), sni(b"a.example")]))),
        "LB_E_TLS_BAD_EXTENSION")
    bad = "LB_E_TLS_BAD_EXTENSION"
    err("sni_empty_ext", records(handshake(body([ext(0, b"")]))), bad)
    err("sni_empty_list", records(handshake(body([ext(0, b"\x00\x00")]))), bad)
    err("sni_list_len_mismatch", records(handshake(body([ext(0, b"\x00\x09\x00\x00\x01a")]))), bad)
    err("sni_entry_cut", records(handshake(body([ext(0, b"\x00\x02\x00\x00")]))), bad)
    err("sni_name_overrun", records(handshake(body([ext(0, b"\x00\x04\x00\x00\x05a")]))), bad)
    err("sni_empty_name", records(handshake(body([ext(0, b"\x00\x03\x00\x00\x00")]))), bad)
    err("sni_two_host_names", records(handshake(body([sni(b"a.example", b"b.example")]))), bad)
    err("alpn_empty_list", records(handshake(body([ext(16, b"\x00\x00")]))), bad)
    err("alpn_empty_name", records(handshake(body([ext(16, b"\x00\x04\x02h2\x00")]))), bad)
    err("alpn_zero_len_name", records(handshake(body([ext(16, b"\x00\x01\x00")]))), bad)
    err("alpn_name_overrun", records(handshake(body([ext(16, b"\x00\x02\x05h")]))), bad)
    err("alpn_one_byte", records(handshake(body([ext(16, b"\x00")]))), bad)
    err("versions_odd", records(handshake(body([ext(43, b"\x03\x03\x04\x03")]))), bad)
    err("versions_empty", records(handshake(body([ext(43, b"\x00")]))), bad)
    err("versions_no_len", records(handshake(body([ext(43, b"")]))), bad)
    err("sigalgs_odd", records(handshake(body([ext(13, b"\x00\x01\x04")]))), bad)
    err("groups_len_mismatch", records(handshake(body([ext(10, b"\x00\x04\x00\x1d")]))), bad)
    err("point_formats_empty", records(handshake(body([ext(11, b"\x00")]))), bad)
    err("ech_empty", records(handshake(body([ext(0xfe0d, b"")]))), bad)
    return v


def expect(data, code, opts):
    if code:
        return "ERR " + code
    msg = b""
    pos = 0
    while True:  # joins the records that carry the hello
        ln = struct.unpack(">H", data[pos + 3:pos + 5])[0]
        msg += data[pos + 5:pos + 5 + ln]
        pos += 5 + ln
        if len(msg) >= 4 and len(msg) == 4 + int.from_bytes(msg[1:4], "big"):
            break
    f = fields(msg)
    err = host_error(f["name"])
    return "OK %d %s %s %04x %d %d %d %d %s %s" % (
        pos, sni_text(f["name"]), err, f["version"], int(f["ech"]),
        len(f["ciphers"]), len(f["exts"]), len(f["alpn"]), ja3(f), ja4(f))


def sni_text(name):
    """The name as is when printable ASCII without spaces, else 0x and its hex; - when absent."""
    if name is None:
        return "-"
    if all(0x21 <= ord(c) <= 0x7e for c in name):
        return name
    return "0x" + name.encode("latin-1").hex()


def lines():
    out = ["# generated by tests/data/tls_gen_vectors.py; do not edit"]
    names = set()
    for name, data, code, opts in vectors():
        assert name not in names, name
        names.add(name)
        e = expect(data, code, opts)
        assert " " not in name and "\t" not in e
        out.append("\t".join([name, data.hex() or "-", e] + ([opts] if opts else [])))
    return out


def check(path, corpus):
    want = "\n".join(lines()) + "\n"
    with open(path) as f:
        if f.read() != want:
            print("%s is out of date: run tls_gen_vectors.py" % path, file=sys.stderr)
            return 1
    for name, data, _, _ in vectors():
        p = os.path.join(corpus, name)
        if not os.path.exists(p) or open(p, "rb").read() != data:
            print("corpus file %s is missing or out of date" % p, file=sys.stderr)
            return 1
    return 0


def main():
    if sys.argv[1] == "--check":
        sys.exit(check(sys.argv[2], sys.argv[3]))
    with open(sys.argv[1], "w") as f:
        f.write("\n".join(lines()) + "\n")
    if len(sys.argv) > 2:
        for name, data, _, _ in vectors():
            with open(os.path.join(sys.argv[2], name), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
