"""The same answers as the C library: every PROXY vector, every Maglev vector and every hash
vector of tests/data (the files the C unit tests read)."""
import os
import sys

import pytest

import liblb
import liblb.proxy
from conftest import DATA

def lines(name):
    with open(os.path.join(DATA, name)) as f:
        return [line.rstrip("\n") for line in f if line.strip() and not line.startswith("#")]


def test_hash_vectors():
    n = 0
    for line in lines("hash_vectors.txt"):
        f = line.split()
        seed, want = int(f[-2], 16), int(f[-1], 16)
        if f[0] in ("flow4", "flow6"):
            got = liblb.hash_flow(f[2], f[3], int(f[4]), int(f[5]), proto=int(f[1]), seed=seed)
        elif f[0] in ("src4", "src6"):
            got = liblb.hash_src(f[1], seed)
        else:
            got = liblb.hash_key(b"" if f[1] == "-" else bytes.fromhex(f[1]), seed)
        assert got == want, line
        n += 1
    assert n > 100


def generated(n, spec):
    """The targets of a "generated" vector line, made by the vector file's own generator."""
    sys.path.insert(0, DATA)
    try:
        import gen_maglev_vectors
    finally:
        sys.path.remove(DATA)
    return {k.decode(): w for k, w in gen_maglev_vectors.generated_targets(n, spec)}


def maglev_cases():
    for line in lines("maglev_vectors.txt"):
        f = line.split()
        if f[0] == "explicit":
            targets = {} if f[3] == "-" else {
                k: int(w) for k, w in (kv.rsplit("=", 1) for kv in f[3].split(","))}
            yield int(f[1]), targets, int(f[2], 16)
        else:
            yield int(f[1]), generated(int(f[2]), f[3]), int(f[4], 16)


def test_maglev_vectors():
    cases = list(maglev_cases())
    assert len(cases) >= 15
    for size, targets, want in cases:
        m = liblb.Maglev(targets, size=size)
        assert m.digest == want, (size, len(targets))
        assert m.size == size
        if any(targets.values()):
            assert sum(m.entries.values()) == size


def describe(h):
    """A decoded header as the vector file's OK column writes it (tests/unit/test_proxy.c)."""
    def side(ep):
        if h.family in ("INET", "INET6"):
            return ep[0], str(ep[1])
        if h.family == "UNIX":
            return "unix:" + ep, "-"
        return "-", "-"
    s, sp = side(h.src)
    d, dp = side(h.dst)
    return " ".join(str(x) for x in (
        "OK", h.length, h.version, h.command, h.family, h.transport, s, sp, d, dp,
        1 if h.crc32c == "valid" else 0, len(h.tlvs)))


def options(text):
    o = {}
    if "v1only" in text:
        o["versions"] = liblb.CONSTANTS["LB_PROXY_V1"]
    if "v2only" in text:
        o["versions"] = liblb.CONSTANTS["LB_PROXY_V2"]
    if "unspec" in text:
        o["allow_unspec"] = True
    if "max=" in text:
        o["max_header_size"] = int(text.split("max=")[1].split()[0])
    return o


def test_proxy_vectors():
    n = need_more = 0
    for line in lines("proxy_vectors.txt"):
        f = line.split("\t")
        name, data, want = f[0], bytes.fromhex("" if f[1] == "-" else f[1]), f[2]
        opts = options(f[3] if len(f) > 3 else "")
        for buf in (data, bytearray(data), memoryview(data)):
            try:
                got = describe(liblb.proxy.decode(buf, **opts))
            except liblb.NeedMore as e:
                assert e.need >= 1, name
                got = "ERR " + e.name
                need_more += 1
            except liblb.Error as e:
                got = "ERR " + e.name
            assert got == want, name
        n += 1
    assert n > 150 and need_more > 0
