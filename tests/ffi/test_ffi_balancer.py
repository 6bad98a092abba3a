#!/usr/bin/env python3
"""The balancer from Python through the plain C ABI: create, add, pick, release, drain, tick
and read the events and statistics, with the cffi declarations generated from the headers
(bindings/gen/lbdecls.py; struct_size set from the generated layouts, nothing typed by
hand)."""
import os
import sys
import unittest

BUILD = os.environ.get("LB_BUILD_ROOT", "build")
SOURCE = os.environ.get("LB_SOURCE_ROOT", ".")
os.environ["LIBLB_PATH"] = os.path.join(BUILD, "lib", "liblb.so")
sys.path.insert(0, os.path.join(SOURCE, "bindings", "python"))
from liblb._native import ffi, lib  # noqa: E402


def sized(ctype, **fields):
    s = ffi.new(ctype + " *")
    s.struct_size = ffi.sizeof(ctype)
    for k, v in fields.items():
        setattr(s, k, v)
    return s


def err_name(rc):
    return ffi.string(lib.lb_err_name(rc))


def name(p):
    return ffi.string(p)


class BalancerFromPython(unittest.TestCase):
    def setUp(self):
        cfg = sized("lb_balancer_config", table_size=1009, max_targets=16,
                    deregistration_delay_ms=1000)
        out = ffi.new("lb_balancer **")
        self.assertEqual(lib.lb_balancer_new(out, cfg), 0)
        self.b = out[0]
        for i, key in enumerate([b"10.0.0.1:80", b"10.0.0.2:80", b"10.0.0.3:80"], start=1):
            self.assertEqual(lib.lb_balancer_add(self.b, i, key, len(key), 1, 0, 0, 0), 0)

    def tearDown(self):
        lib.lb_balancer_free(self.b)

    def pick(self, key):
        out = ffi.new("uint32_t *")
        rc = lib.lb_balancer_pick(self.b, lib.lb_hash_key(key, len(key), 0), out)
        self.assertEqual(rc, 0, err_name(rc))
        return out[0]

    def test_pick_drain_events(self):
        first = {k: self.pick(k) for k in (b"client-%d" % i for i in range(300))}
        self.assertEqual(set(first.values()), {1, 2, 3})
        self.assertEqual(first[b"client-7"], self.pick(b"client-7"))  # same key, same target
        victim = first[b"client-7"]
        evs = ffi.new("lb_event[]", 16)
        for i in range(16):
            evs[i].struct_size = ffi.sizeof("lb_event")
        lib.lb_balancer_tick(self.b, 0, evs, 16)
        self.assertEqual(lib.lb_balancer_drain(self.b, victim, 10), 0)
        for k, t in first.items():
            self.assertNotEqual(self.pick(k), victim)
        n = lib.lb_balancer_tick(self.b, 10, evs, 16)
        self.assertGreaterEqual(n, 1)
        self.assertEqual(evs[0].type, lib.LB_EVENT_STATE)
        self.assertEqual(name(lib.lb_balancer_state_name(evs[0].new_state)), b"draining")
        self.assertEqual(name(lib.lb_balancer_reason_name(evs[0].reason)), b"deregistered")
        held = sum(1 for t in first.values() if t == victim) + 1
        self.assertEqual(evs[0].connections, held)
        self.assertEqual(lib.lb_balancer_next_deadline(self.b), 1010)
        n = lib.lb_balancer_tick(self.b, 1010, evs, 16)
        self.assertEqual([evs[i].type for i in range(n)], [lib.LB_EVENT_CLOSE, lib.LB_EVENT_STATE])
        self.assertEqual(evs[0].connections, held)
        ts = sized("lb_target_stats")
        self.assertEqual(lib.lb_balancer_get_target_stats(self.b, victim, ts), 0)
        self.assertEqual((ts.eligible, ts.active, ts.table_entries), (0, held, 0))
        for _ in range(held):
            lib.lb_balancer_release(self.b, victim, 1020)
        self.assertEqual(lib.lb_balancer_get_target_stats(self.b, victim, ts), 0)
        self.assertEqual(ts.active, 0)
        s = sized("lb_balancer_stats")
        self.assertEqual(lib.lb_balancer_get_stats(self.b, s), 0)
        self.assertEqual((s.targets, s.eligible, s.fail_open), (3, 2, 0))
        self.assertEqual(s.picks, 300 + 1 + 300)
        self.assertLessEqual(s.retired_snapshots, 2)
        self.assertNotEqual(s.table_digest, 0)

    def test_errors(self):
        out = ffi.new("uint32_t *")
        self.assertEqual(err_name(lib.lb_balancer_add(self.b, 1, b"x", 1, 1, 0, 0, 0)), b"EEXIST")
        self.assertEqual(err_name(lib.lb_balancer_drain(self.b, 99, 0)), b"ENOENT")
        self.assertEqual(err_name(lib.lb_balancer_pick(ffi.NULL, 1, out)), b"EINVAL")
        bp = ffi.new("lb_balancer **")
        bad = sized("lb_balancer_config")
        bad.struct_size = 4
        # EINVAL before ABI 1.0, LB_E_STRUCT_SIZE after (issue 14)
        self.assertIn(err_name(lib.lb_balancer_new(bp, bad)), (b"EINVAL", b"LB_E_STRUCT_SIZE"))
        cfg = sized("lb_balancer_config", table_size=1000)
        self.assertEqual(lib.lb_balancer_new(bp, cfg), lib.LB_E_MAGLEV_NOT_PRIME)


if __name__ == "__main__":
    sys.exit(0 if unittest.main(exit=False).result.wasSuccessful() else 1)
