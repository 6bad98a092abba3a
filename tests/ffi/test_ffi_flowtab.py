#!/usr/bin/env python3
"""The flow table from Python ctypes: keys, insert, lookup, eviction reported through a
callback taking `void *user`, removal by target and the counters, through the plain C ABI
(caller-sized structs; every argtypes/restype and struct from abi/liblb.api.json)."""
import ctypes
import os
import socket
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import abi_desc as abi  # noqa: E402  (declarations from abi/liblb.api.json)

lib = abi.load()
u32, u64, vp = ctypes.c_uint32, ctypes.c_uint64, ctypes.c_void_p
Key, End = abi.struct("lb_flowtab_key"), abi.struct("lb_flowtab_end")
Config, Stats = abi.struct("lb_flowtab_config"), abi.struct("lb_flowtab_stats")
# lb_flowtab_end_fn, void (*)(void *user, const lb_flowtab_end *end): the description stores
# a callback field as an address, so the Python function is made a C function of that type
END_FN = ctypes.CFUNCTYPE(None, vp, ctypes.POINTER(End))
config_init, new, free, key4, key6, lookup, insert, remove_target, get_stats, memory_for, \
    end_name, err_name, hash_flow4 = (abi.func(lib, "lb_" + n) for n in (
        "flowtab_config_init", "flowtab_new", "flowtab_free", "flowtab_key4", "flowtab_key6",
        "flowtab_lookup", "flowtab_insert", "flowtab_remove_target", "flowtab_get_stats",
        "flowtab_memory_for", "flowtab_end_name", "err_name", "hash_flow4"))


def addr(family, text):
    raw = socket.inet_pton(family, text)
    return (ctypes.c_uint8 * len(raw)).from_buffer_copy(raw)


def make_key(n, v6=False):
    k = Key()
    if v6:
        rc = key6(ctypes.byref(k), addr(socket.AF_INET6, "2001:db8::%x" % (n + 1)),
                  addr(socket.AF_INET6, "2001:db8::ffff"), 1024 + n, 53, 17, 7)
    else:
        rc = key4(ctypes.byref(k), addr(socket.AF_INET, "10.0.%d.%d" % (n >> 8, n & 255)),
                  addr(socket.AF_INET, "192.0.2.1"), 1024 + n, 53, 17, 7)
    assert rc == 0
    return k


class FlowtabFFI(unittest.TestCase):
    def setUp(self):
        self.ends = []

        def on_end(user, end):
            e = end.contents
            self.ends.append((e.reason, e.target, e.data, e.last_use_ms, e.key.contents.hash,
                              user))
        self.cb = END_FN(on_end)  # kept alive while the table lives
        cfg = Config()
        config_init(ctypes.byref(cfg), ctypes.sizeof(cfg))
        self.assertEqual((cfg.struct_size, cfg.capacity, cfg.idle_timeout_ms),
                         (ctypes.sizeof(Config), 65536, 30000))
        cfg.capacity = 8  # one bucket: the least recently used is evicted
        cfg.idle_timeout_ms = 1000
        cfg.on_end = ctypes.cast(self.cb, vp)
        cfg.user = 1234
        self.t = vp()
        self.assertEqual(new(ctypes.byref(self.t), ctypes.byref(cfg)), 0)

    def tearDown(self):
        free(self.t)

    def stats(self):
        s = Stats(struct_size=ctypes.sizeof(Stats))
        self.assertEqual(get_stats(self.t, ctypes.byref(s)), 0)
        return s

    def test_insert_lookup_evict(self):
        k4 = make_key(1)
        src, dst = addr(socket.AF_INET, "10.0.0.1"), addr(socket.AF_INET, "192.0.2.1")
        self.assertEqual(k4.hash, hash_flow4(src, dst, 1025, 53, 17, 7))
        self.assertEqual(make_key(1, v6=True).len, 48)
        for n in range(8):
            self.assertEqual(insert(self.t, ctypes.byref(make_key(n, n % 2 == 1)), n, 100 + n,
                                    10 + n), 0)
        target, data = u32(), u64()
        k0 = make_key(0)
        self.assertEqual(lookup(self.t, ctypes.byref(k0), 20, ctypes.byref(target),
                                ctypes.byref(data)), 0)
        self.assertEqual((target.value, data.value), (0, 100))
        self.assertEqual(insert(self.t, ctypes.byref(make_key(8)), 8, 108, 21), 0)
        # flow 1 (last used at 11) was the least recently used
        self.assertEqual(len(self.ends), 1)
        reason, tgt, dat, last, khash, user = self.ends[0]
        self.assertEqual((end_name(reason), tgt, dat, last, user), (b"evicted", 1, 101, 11, 1234))
        self.assertEqual(khash, make_key(1, True).hash)
        self.assertEqual(err_name(lookup(self.t, ctypes.byref(make_key(1, True)), 21, None,
                                         None)), b"LB_E_FLOWTAB_NOT_FOUND")
        s = self.stats()
        self.assertEqual((s.capacity, s.active, s.inserted, s.evicted, s.lookups, s.hits),
                         (8, 8, 9, 1, 2, 1))
        self.assertEqual(s.memory_bytes, memory_for(8))
        # idle: flow 0 was used at 20, so at 1020 it is gone
        self.assertEqual(err_name(lookup(self.t, ctypes.byref(k0), 1020, None, None)),
                         b"LB_E_FLOWTAB_NOT_FOUND")
        self.assertEqual(end_name(self.ends[-1][0]), b"expired")

    def test_remove_target(self):
        for n in range(6):
            self.assertEqual(insert(self.t, ctypes.byref(make_key(n)), n % 2, n, 5), 0)
        self.assertEqual(remove_target(self.t, 1, 6), 3)
        self.assertEqual([end_name(e[0]) for e in self.ends], [b"target_removed"] * 3)
        self.assertEqual(sorted(e[1] for e in self.ends), [1, 1, 1])
        self.assertEqual(self.stats().active, 3)

    def test_errors(self):
        bad = Config(struct_size=4)
        t = vp()
        self.assertEqual(err_name(new(ctypes.byref(t), ctypes.byref(bad))), b"LB_E_STRUCT_SIZE")
        cfg = Config()
        config_init(ctypes.byref(cfg), ctypes.sizeof(cfg))
        cfg.capacity = 0
        self.assertEqual(err_name(new(ctypes.byref(t), ctypes.byref(cfg))), b"EINVAL")
        k = make_key(1)
        k.len = 20
        self.assertEqual(err_name(insert(self.t, ctypes.byref(k), 1, 1, 1)), b"EINVAL")
        self.assertEqual(end_name(77), b"unknown")


if __name__ == "__main__":
    sys.exit(0 if unittest.main(exit=False).result.wasSuccessful() else 1)
