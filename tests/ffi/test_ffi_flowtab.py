#!/usr/bin/env python3
"""The flow table from Python ctypes: keys, insert, lookup, eviction reported through a
callback taking `void *user`, removal by target and the counters, through the plain C ABI
(explicit argtypes/restype, caller-sized structs)."""
import ctypes
import os
import socket
import sys
import unittest

BUILD = os.environ.get("LB_BUILD_ROOT", "build")
lib = ctypes.CDLL(os.path.join(BUILD, "lib", "liblb.so.1"))
u8p, u16, u32, u64, i64, vp = (ctypes.POINTER(ctypes.c_uint8), ctypes.c_uint16, ctypes.c_uint32,
                               ctypes.c_uint64, ctypes.c_int64, ctypes.c_void_p)


def fn(name, restype, *argtypes):
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


class Key(ctypes.Structure):
    _fields_ = [("hash", u64), ("len", u32), ("reserved", u32), ("enc", ctypes.c_uint8 * 48)]


class End(ctypes.Structure):
    _fields_ = [(n, u32) for n in ("struct_size", "reason", "target", "reserved")] + \
        [("data", u64), ("last_use_ms", u64), ("key", ctypes.POINTER(Key))]


END_FN = ctypes.CFUNCTYPE(None, vp, ctypes.POINTER(End))


class Config(ctypes.Structure):
    _fields_ = [(n, u32) for n in ("struct_size", "capacity", "idle_timeout_ms", "evict")] + \
        [("on_end", END_FN), ("user", vp)]


class Stats(ctypes.Structure):
    _fields_ = [("struct_size", u32), ("capacity", u32)] + \
        [(n, u64) for n in ("active", "inserted", "replaced", "expired", "evicted", "removed",
                            "lookups", "hits", "memory_bytes")]


config_init = fn("lb_flowtab_config_init", None, ctypes.POINTER(Config), ctypes.c_size_t)
new = fn("lb_flowtab_new", ctypes.c_int, ctypes.POINTER(vp), ctypes.POINTER(Config))
free = fn("lb_flowtab_free", None, vp)
key4 = fn("lb_flowtab_key4", ctypes.c_int, ctypes.POINTER(Key), u8p, u8p, u16, u16,
          ctypes.c_uint8, u64)
key6 = fn("lb_flowtab_key6", ctypes.c_int, ctypes.POINTER(Key), u8p, u8p, u16, u16,
          ctypes.c_uint8, u64)
lookup = fn("lb_flowtab_lookup", ctypes.c_int, vp, ctypes.POINTER(Key), u64,
            ctypes.POINTER(u32), ctypes.POINTER(u64))
insert = fn("lb_flowtab_insert", ctypes.c_int, vp, ctypes.POINTER(Key), u32, u64, u64)
remove_target = fn("lb_flowtab_remove_target", i64, vp, u32, u64)
get_stats = fn("lb_flowtab_get_stats", ctypes.c_int, vp, ctypes.POINTER(Stats))
memory_for = fn("lb_flowtab_memory_for", u64, u32)
end_name = fn("lb_flowtab_end_name", ctypes.c_char_p, u32)
err_name = fn("lb_err_name", ctypes.c_char_p, ctypes.c_int)
hash_flow4 = fn("lb_hash_flow4", u64, u8p, u8p, u16, u16, ctypes.c_uint8, u64)


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
        cfg.on_end = self.cb
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
