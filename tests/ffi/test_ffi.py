#!/usr/bin/env python3
"""liblb from Python ctypes: version, hash, pool and strerror, every argtypes/restype and
struct taken from abi/liblb.api.json (tests/ffi/abi_desc.py; nothing typed by hand), checked
against the C test vectors; the description matches the library; internal symbols are not
exported."""
import ctypes
import ipaddress
import os
import sys
import unittest

BUILD = os.environ.get("LB_BUILD_ROOT", "build")
DATA = os.environ.get("LB_TEST_DATA", "tests/data")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import abi_desc as abi  # noqa: E402  (abi/liblb.api.json: every declaration below)

lib = abi.load()
(lb_version_number, lb_version_string, lb_strerror, lb_err_name, lb_err_count, lb_err_at,
 lb_hash_flow4, lb_hash_flow6, lb_hash_src4, lb_hash_src6, lb_hash_key, lb_pool_new,
 lb_pool_free, lb_pool_add, lb_pool_remove, lb_pool_count, lb_pool_at) = (
    abi.func(lib, "lb_" + n) for n in (
        "version_number", "version_string", "strerror", "err_name", "err_count", "err_at",
        "hash_flow4", "hash_flow6", "hash_src4", "hash_src6", "hash_key", "pool_new",
        "pool_free", "pool_add", "pool_remove", "pool_count", "pool_at"))


def u8(data):
    """bytes as the `const uint8_t *` the description declares."""
    return (ctypes.c_uint8 * len(data)).from_buffer_copy(data)


class DescriptionTest(unittest.TestCase):
    """abi/liblb.api.json describes the library that was built."""

    def test_every_function_resolves_and_declares(self):
        dlib = abi.load()  # its own handle: the declarations below stay as written
        for f in abi.functions():
            abi.func(dlib, f["name"])  # raises AttributeError when not exported
            self.assertIn(f["thread"], ("pure", "reader", "writer", "exclusive"))

    def test_declarations_match_exports(self):
        # the description covers the headers: more than 100 functions, all exported (above)
        self.assertGreater(len(abi.functions()), 100)

    def test_every_struct_layout(self):
        for s in abi.DESC["structs"]:
            abi.struct(s["name"])  # asserts size, alignment and every offset

    def test_error_codes_match_the_library(self):
        names = {lb_err_name(lb_err_at(k)).decode(): lb_err_at(k) for k in range(lb_err_count())}
        for name, value in abi.DESC_ENUM_lb_error.items():
            if name in ("LB_E_BASE", "LB_E_LAST"):
                continue
            self.assertEqual(names.get(name), value, name)

    def test_constants(self):
        self.assertEqual(abi.CONST["LB_NO_TARGET"], 2**32 - 1)
        self.assertEqual(abi.CONST["LB_VERSION_NUMBER"], lb_version_number())
        self.assertEqual(abi.CONST["LB_VERSION_STRING"], lb_version_string().decode())


class FFITest(unittest.TestCase):
    def test_version(self):
        n = lb_version_number()
        major, minor, patch = (int(x) for x in lb_version_string().decode().split("."))
        self.assertEqual(n, major * 10000 + minor * 100 + patch)

    def test_errors(self):
        self.assertEqual(lb_err_name(0), b"LB_OK")
        self.assertEqual(lb_err_name(-22), b"EINVAL")
        self.assertEqual(lb_err_name(-5999), b"unknown")
        names = set()
        for i in range(lb_err_count()):
            code = lb_err_at(i)
            name = lb_err_name(code).decode()
            self.assertNotEqual(name, "unknown")
            self.assertTrue(lb_strerror(code))
            names.add(name)
        self.assertEqual(len(names), lb_err_count())
        # every LB_E_* in the public headers has its name (parsed from the headers)
        import glob
        import re
        inc = os.path.join(os.environ.get("LB_SOURCE_ROOT", "."), "include", "lb")
        for h in glob.glob(os.path.join(inc, "*.h")):
            with open(h) as f:
                text = f.read()
            for name, value in re.findall(r"\b(LB_E_\w+)\s*=\s*(-\d+)", text):
                if name in ("LB_E_BASE", "LB_E_LAST"):
                    continue
                self.assertEqual(lb_err_name(int(value)).decode(), name)

    def test_hash_vectors(self):
        checked = 0
        with open(os.path.join(DATA, "hash_vectors.txt")) as f:
            lines = f.read().splitlines()
        for line in lines:
            f = line.split()
            if not f or f[0].startswith("#"):
                continue
            want = int(f[-1], 16)
            seed = int(f[-2], 16)
            if f[0] in ("flow4", "flow6"):
                s = ipaddress.ip_address(f[2]).packed
                d = ipaddress.ip_address(f[3]).packed
                h = (lb_hash_flow4 if f[0] == "flow4" else lb_hash_flow6)(
                    u8(s), u8(d), int(f[4]), int(f[5]), int(f[1]), seed)
            elif f[0] in ("src4", "src6"):
                s = ipaddress.ip_address(f[1]).packed
                h = (lb_hash_src4 if f[0] == "src4" else lb_hash_src6)(u8(s), seed)
            else:
                key = b"" if f[1] == "-" else bytes.fromhex(f[1])
                h = lb_hash_key(key, len(key), seed)
            self.assertEqual(h, want, line)
            checked += 1
        self.assertGreater(checked, 100)

    def test_pool(self):
        p = ctypes.c_void_p()
        self.assertEqual(lb_pool_new(ctypes.byref(p)), 0)
        try:
            self.assertEqual(lb_pool_add(p, 1, b"alpha", 5, 10, 0), 0)
            self.assertEqual(lb_pool_add(p, 2, b"beta", 4, 20, 1), 0)
            rc = lb_pool_add(p, 3, b"alpha", 5, 1, 0)
            self.assertEqual(lb_err_name(rc), b"LB_E_POOL_DUPLICATE_KEY")
            self.assertEqual(rc, abi.code("LB_E_POOL_DUPLICATE_KEY"))
            self.assertEqual(lb_err_name(lb_pool_add(p, 1, b"x", 1, 1, 0)), b"EEXIST")
            self.assertEqual(lb_pool_count(p), 2)
            info = abi.new("lb_target_info")
            self.assertEqual(lb_pool_at(p, 1, ctypes.byref(info)), 0)
            self.assertEqual((info.id, info.weight, info.zone), (2, 20, 1))
            self.assertEqual(ctypes.string_at(info.key, info.key_len), b"beta")
            self.assertEqual(lb_pool_remove(p, 1), 0)
            self.assertEqual(lb_pool_count(p), 1)
        finally:
            lb_pool_free(p)
        lb_pool_free(None)

    def test_internal_symbols_hidden(self):
        for name in ("lb__pool_targets", "lb__pool_index_of", "err_table", "find_id"):
            with self.assertRaises(AttributeError):
                getattr(lib, name)


if __name__ == "__main__":
    unittest.main(verbosity=2)
