#!/usr/bin/env python3
"""liblb from Python through the generated cffi declarations: version, hash, pool and
strerror, checked against the C test vectors; every declared function is exported, internal
symbols are not."""
import ctypes
import ipaddress
import os
import sys
import unittest

BUILD = os.environ.get("LB_BUILD_ROOT", "build")
DATA = os.environ.get("LB_TEST_DATA", "tests/data")
SOURCE = os.environ.get("LB_SOURCE_ROOT", ".")

# The declarations are the Python binding's, generated from the headers
# (bindings/gen/lbdecls.py): no struct or signature is typed here by hand.
os.environ["LIBLB_PATH"] = os.path.join(BUILD, "lib", "liblb.so")
sys.path.insert(0, os.path.join(SOURCE, "bindings", "python"))
from liblb import _decls  # noqa: E402
from liblb._native import ffi, lib  # noqa: E402


def lb_err_name(code):
    return ffi.string(lib.lb_err_name(code))


class FFITest(unittest.TestCase):
    def test_version(self):
        n = lib.lb_version_number()
        major, minor, patch = (int(x) for x in ffi.string(lib.lb_version_string()).decode().split("."))
        self.assertEqual(n, major * 10000 + minor * 100 + patch)

    def test_errors(self):
        self.assertEqual(lb_err_name(0), b"LB_OK")
        self.assertEqual(lb_err_name(-22), b"EINVAL")
        self.assertEqual(lb_err_name(-5999), b"UNKNOWN")
        names = set()
        for i in range(lib.lb_err_count()):
            code = lib.lb_err_at(i)
            name = lb_err_name(code).decode()
            self.assertNotEqual(name, "UNKNOWN")
            self.assertTrue(ffi.string(lib.lb_strerror(code)))
            names.add(name)
        self.assertEqual(len(names), lib.lb_err_count())
        # every LB_E_* in the public headers has its name (parsed from the headers)
        import glob
        import re
        inc = os.path.join(os.environ.get("LB_SOURCE_ROOT", "."), "include", "lb")
        for h in glob.glob(os.path.join(inc, "*.h")):
            for name, value in re.findall(r"\b(LB_E_\w+)\s*=\s*(-\d+)", open(h).read()):
                if name in ("LB_E_BASE", "LB_E_LAST"):
                    continue
                self.assertEqual(lb_err_name(int(value)).decode(), name)

    def test_hash_vectors(self):
        checked = 0
        for line in open(os.path.join(DATA, "hash_vectors.txt")):
            f = line.split()
            if not f or f[0].startswith("#"):
                continue
            want = int(f[-1], 16)
            seed = int(f[-2], 16)
            if f[0] in ("flow4", "flow6"):
                s = ipaddress.ip_address(f[2]).packed
                d = ipaddress.ip_address(f[3]).packed
                h = (lib.lb_hash_flow4 if f[0] == "flow4" else lib.lb_hash_flow6)(
                    s, d, int(f[4]), int(f[5]), int(f[1]), seed)
            elif f[0] in ("src4", "src6"):
                s = ipaddress.ip_address(f[1]).packed
                h = (lib.lb_hash_src4 if f[0] == "src4" else lib.lb_hash_src6)(s, seed)
            else:
                key = b"" if f[1] == "-" else bytes.fromhex(f[1])
                h = lib.lb_hash_key(key, len(key), seed)
            self.assertEqual(h, want, line)
            checked += 1
        self.assertGreater(checked, 100)

    def test_pool(self):
        pp = ffi.new("lb_pool **")
        self.assertEqual(lib.lb_pool_new(pp), 0)
        p = pp[0]
        try:
            self.assertEqual(lib.lb_pool_add(p, 1, b"alpha", 5, 10, 0), 0)
            self.assertEqual(lib.lb_pool_add(p, 2, b"beta", 4, 20, 1), 0)
            rc = lib.lb_pool_add(p, 3, b"alpha", 5, 1, 0)
            self.assertEqual(lb_err_name(rc), b"LB_E_POOL_DUPLICATE_KEY")
            self.assertEqual(rc, lib.LB_E_POOL_DUPLICATE_KEY)
            self.assertEqual(lb_err_name(lib.lb_pool_add(p, 1, b"x", 1, 1, 0)), b"EEXIST")
            self.assertEqual(lib.lb_pool_count(p), 2)
            info = ffi.new("lb_target_info *")
            info.struct_size = ffi.sizeof("lb_target_info")
            self.assertEqual(lib.lb_pool_at(p, 1, info), 0)
            self.assertEqual((info.id, info.weight, info.zone), (2, 20, 1))
            self.assertEqual(bytes(ffi.buffer(info.key, info.key_len)), b"beta")
            self.assertEqual(lib.lb_pool_remove(p, 1), 0)
            self.assertEqual(lib.lb_pool_count(p), 1)
        finally:
            lib.lb_pool_free(p)
        lib.lb_pool_free(ffi.NULL)

    def test_declarations_match_exports(self):
        # every function the headers declare resolves in the shared library
        for name in _decls.FUNCTIONS:
            self.assertTrue(getattr(lib, name), name)
        self.assertGreater(len(_decls.FUNCTIONS), 100)
        self.assertEqual(_decls.CONSTANTS["LB_VERSION_NUMBER"], lib.lb_version_number())

    def test_internal_symbols_hidden(self):
        raw = ctypes.CDLL(os.environ["LIBLB_PATH"])
        for name in ("lb__pool_targets", "lb__pool_index_of", "err_table", "find_id"):
            with self.assertRaises(AttributeError):
                getattr(raw, name)


if __name__ == "__main__":
    unittest.main(verbosity=2)
