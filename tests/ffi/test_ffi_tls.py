#!/usr/bin/env python3
"""The TLS ClientHello decoder, fingerprints and host matching from Python ctypes: the
lb_tls_hello layout taken from abi/liblb.api.json (never hand-copied), decoded against the
published JA3/JA4 vectors of tests/data/tls_vectors.txt, views read through the pointers,
iterators driven from Python, a fragmented hello reassembled into a Python-owned scratch."""
import ctypes
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import abi_desc as abi  # noqa: E402  (struct layouts from abi/liblb.api.json)

BUILD = os.environ.get("LB_BUILD_ROOT", "build")
DATA = os.environ.get("LB_TEST_DATA", "tests/data")

lib = abi.load()
u8p = ctypes.POINTER(ctypes.c_uint8)
u32, u16, u8, sz = ctypes.c_uint32, ctypes.c_uint16, ctypes.c_uint8, ctypes.c_size_t


def fn(name, restype, *argtypes):
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


# the layouts come from the generated ABI description (checked there against its sizes and
# offsets); the function signatures below are ctypes' view of the same headers
TlsOptions, TlsHello = abi.struct("lb_tls_options"), abi.struct("lb_tls_hello")


lb_tls_options_init = fn("lb_tls_options_init", None, ctypes.POINTER(TlsOptions), sz)
lb_tls_hello_init = fn("lb_tls_hello_init", None, ctypes.POINTER(TlsHello), sz)
lb_tls_decode = fn("lb_tls_decode", ctypes.c_int, ctypes.c_char_p, sz, ctypes.POINTER(TlsOptions),
                   ctypes.c_void_p, sz, ctypes.POINTER(TlsHello), ctypes.POINTER(sz))
lb_tls_ja3 = fn("lb_tls_ja3", ctypes.c_int, ctypes.POINTER(TlsHello), ctypes.c_char_p, sz)
lb_tls_ja4 = fn("lb_tls_ja4", ctypes.c_int, ctypes.POINTER(TlsHello), ctypes.c_char_p, sz)
lb_tls_u16_at = fn("lb_tls_u16_at", u16, u8p, sz)
lb_tls_ext_next = fn("lb_tls_ext_next", ctypes.c_int, ctypes.POINTER(TlsHello), ctypes.POINTER(sz),
                     ctypes.POINTER(u16), ctypes.POINTER(u8p), ctypes.POINTER(u16))
lb_tls_alpn_next = fn("lb_tls_alpn_next", ctypes.c_int, ctypes.POINTER(TlsHello),
                      ctypes.POINTER(sz), ctypes.POINTER(u8p), ctypes.POINTER(u8))
lb_tls_host_match = fn("lb_tls_host_match", ctypes.c_int, ctypes.POINTER(ctypes.c_char_p), sz,
                       ctypes.c_char_p, sz, ctypes.POINTER(sz))
lb_err_name = fn("lb_err_name", ctypes.c_char_p, ctypes.c_int)


def vectors():
    out = {}
    with open(os.path.join(DATA, "tls_vectors.txt")) as f:
        for line in f:
            if not line.startswith("#"):
                name, hexdata, expect = line.rstrip("\n").split("\t")[:3]
                out[name] = (bytes.fromhex(hexdata) if hexdata != "-" else b"", expect)
    return out


VECS = vectors()


def decode(data, scratch=None):
    h = TlsHello()
    lb_tls_hello_init(ctypes.byref(h), ctypes.sizeof(h))
    need = sz(0)
    scr = ctypes.cast(scratch, ctypes.c_void_p) if scratch is not None else None
    rc = lb_tls_decode(data, len(data), None, scr, len(scratch) if scratch is not None else 0,
                       ctypes.byref(h), ctypes.byref(need))
    return rc, h, need.value


class TestTls(unittest.TestCase):
    def test_layout(self):
        self.assertEqual(ctypes.sizeof(TlsHello), 152 if ctypes.sizeof(ctypes.c_void_p) == 8 else 112)
        o = TlsOptions()
        lb_tls_options_init(ctypes.byref(o), ctypes.sizeof(o))
        self.assertEqual((o.struct_size, o.max_hello_size), (16, 16384))

    def test_every_ok_vector(self):
        scratch = ctypes.create_string_buffer(16384)
        n = 0
        for name, (data, expect) in VECS.items():
            if not expect.startswith("OK") or "scratch" in name:
                continue
            rc, h, _ = decode(data, scratch)
            f = expect.split()
            self.assertEqual(rc, int(f[1]), name)
            ja3, ja4 = ctypes.create_string_buffer(33), ctypes.create_string_buffer(37)
            self.assertEqual(lb_tls_ja3(ctypes.byref(h), ja3, 33), 0)
            self.assertEqual(lb_tls_ja4(ctypes.byref(h), ja4, 37), 0)
            self.assertEqual((ja3.value.decode(), ja4.value.decode()), (f[9], f[10]), name)
            self.assertEqual(lb_err_name(h.sni_error).decode(), f[3], name)
            self.assertEqual(h.cipher_suites_len // 2, int(f[6]), name)
            n += 1
        self.assertGreater(n, 40)

    def test_views_and_iterators(self):
        data, _ = VECS["foxio_ja4_example"]
        rc, h, _ = decode(data)
        self.assertEqual(rc, len(data))
        self.assertEqual(ctypes.string_at(h.sni, h.sni_len), b"example.com")
        self.assertEqual(lb_tls_u16_at(h.cipher_suites, 1), 0x1301)
        cur, t, d, dl = sz(0), u16(), u8p(), u16()
        types = []
        while lb_tls_ext_next(ctypes.byref(h), ctypes.byref(cur), ctypes.byref(t), ctypes.byref(d),
                              ctypes.byref(dl)) == 1:
            types.append(t.value)
        self.assertEqual(types[:5], [0x2a2a, 0x1b, 0, 0x33, 0x10])
        self.assertEqual(len(types), h.extension_count)
        cur, name, nl = sz(0), u8p(), u8()
        names = []
        while lb_tls_alpn_next(ctypes.byref(h), ctypes.byref(cur), ctypes.byref(name),
                               ctypes.byref(nl)) == 1:
            names.append(ctypes.string_at(name, nl.value))
        self.assertEqual(names, [b"h2", b"http/1.1"])

    def test_fragmented_into_python_scratch(self):
        data, _ = VECS["chrome143_two_records"]
        rc, h, need = decode(data)
        self.assertEqual(lb_err_name(rc), b"LB_E_TLS_SCRATCH")
        scratch = ctypes.create_string_buffer(need)
        rc, h, _ = decode(data, scratch)
        self.assertEqual(rc, len(data))
        self.assertEqual(h.fragmented, 1)
        base = ctypes.addressof(scratch)
        sni = ctypes.cast(h.sni, ctypes.c_void_p).value
        self.assertTrue(base <= sni < base + need)
        self.assertEqual(ctypes.string_at(h.sni, h.sni_len), b"tls-outer.browserleaks.com")
        ja4 = ctypes.create_string_buffer(37)
        self.assertEqual(lb_tls_ja4(ctypes.byref(h), ja4, 37), 0)
        self.assertEqual(ja4.value, b"t13d1516h2_8daaf6152771_d8a2da3f94cd")

    def test_need_more(self):
        data, _ = VECS["foxio_ja4_example"]
        rc, _, need = decode(data[:-5])
        self.assertEqual((lb_err_name(rc), need), (b"LB_E_NEED_MORE", 5))

    def test_host_match(self):
        pats = (ctypes.c_char_p * 3)(b"*", b"*.example.com", b"api.example.com")
        idx = sz(99)
        for host, want in [(b"api.example.com", 2), (b"x.y.example.com", 1), (b"other.org", 0)]:
            self.assertEqual(lb_tls_host_match(pats, 3, host, len(host), ctypes.byref(idx)), 0)
            self.assertEqual(idx.value, want)
        rc = lb_tls_host_match(pats, 2, b"127.0.0.1", 9, ctypes.byref(idx))
        self.assertEqual(lb_err_name(rc), b"LB_E_TLS_SNI_IP_LITERAL")


if __name__ == "__main__":
    unittest.main()
