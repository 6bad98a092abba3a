#!/usr/bin/env python3
"""The balancer from Python ctypes: create, add, pick, release, drain, tick and read the
events and statistics through the plain C ABI (explicit argtypes/restype, struct_size)."""
import ctypes
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import abi_desc as abi  # noqa: E402  (declarations from abi/liblb.api.json)

lib = abi.load()
u32, vp = ctypes.c_uint32, ctypes.c_void_p
Config, Event = abi.struct("lb_balancer_config"), abi.struct("lb_event")
TargetStats, Stats = abi.struct("lb_target_stats"), abi.struct("lb_balancer_stats")
new, free, add, drain, pick, release, tick, next_deadline, target_stats, stats, state_name, \
    reason_name, err_name, hash_key = (abi.func(lib, "lb_" + n) for n in (
        "balancer_new", "balancer_free", "balancer_add", "balancer_drain", "balancer_pick",
        "balancer_release", "balancer_tick", "balancer_next_deadline",
        "balancer_get_target_stats", "balancer_get_stats", "balancer_state_name",
        "balancer_reason_name", "err_name", "hash_key"))
LB_EVENT_STATE, LB_EVENT_CLOSE = abi.ENUM["LB_EVENT_STATE"], abi.ENUM["LB_EVENT_CLOSE"]


class BalancerFromPython(unittest.TestCase):
    def setUp(self):
        cfg = Config(struct_size=ctypes.sizeof(Config), table_size=1009, max_targets=16,
                     deregistration_delay_ms=1000)
        self.b = vp()
        self.assertEqual(new(ctypes.byref(self.b), ctypes.byref(cfg)), 0)
        for i, key in enumerate([b"10.0.0.1:80", b"10.0.0.2:80", b"10.0.0.3:80"], start=1):
            self.assertEqual(add(self.b, i, key, len(key), 1, 0, 0, 0), 0)

    def tearDown(self):
        free(self.b)

    def pick(self, key):
        out = u32()
        rc = pick(self.b, hash_key(key, len(key), 0), ctypes.byref(out))
        self.assertEqual(rc, 0, err_name(rc))
        return out.value

    def test_pick_drain_events(self):
        first = {k: self.pick(k) for k in (b"client-%d" % i for i in range(300))}
        self.assertEqual(set(first.values()), {1, 2, 3})
        self.assertEqual(first[b"client-7"], self.pick(b"client-7"))  # same key, same target
        victim = first[b"client-7"]
        evs = (Event * 16)()
        tick(self.b, 0, evs, ctypes.sizeof(Event), 16)
        self.assertEqual(drain(self.b, victim, 10), 0)
        for k, t in first.items():
            self.assertNotEqual(self.pick(k), victim)
        n = tick(self.b, 10, evs, ctypes.sizeof(Event), 16)
        self.assertGreaterEqual(n, 1)
        self.assertEqual(evs[0].type, LB_EVENT_STATE)
        self.assertEqual(state_name(evs[0].new_state), b"draining")
        self.assertEqual(reason_name(evs[0].reason), b"deregistered")
        held = sum(1 for t in first.values() if t == victim) + 1
        self.assertEqual(evs[0].connections, held)
        self.assertEqual(next_deadline(self.b), 1010)
        n = tick(self.b, 1010, evs, ctypes.sizeof(Event), 16)
        self.assertEqual([e.type for e in evs[:n]], [LB_EVENT_CLOSE, LB_EVENT_STATE])
        self.assertEqual(evs[0].connections, held)
        ts = TargetStats(struct_size=ctypes.sizeof(TargetStats))
        self.assertEqual(target_stats(self.b, victim, ctypes.byref(ts)), 0)
        self.assertEqual((ts.eligible, ts.active, ts.table_entries), (0, held, 0))
        for _ in range(held):
            self.assertEqual(release(self.b, victim, 1020), 0)
        # a second release of the same connection, and an unknown id: errors, counted
        self.assertEqual(err_name(release(self.b, victim, 1020)), b"ERANGE")
        self.assertEqual(err_name(release(self.b, 99, 1020)), b"ENOENT")
        self.assertEqual(target_stats(self.b, victim, ctypes.byref(ts)), 0)
        self.assertEqual(ts.active, 0)
        s = Stats(struct_size=ctypes.sizeof(Stats))
        self.assertEqual(stats(self.b, ctypes.byref(s)), 0)
        self.assertEqual((s.targets, s.eligible, s.fail_open), (3, 2, 0))
        self.assertEqual(s.picks, 300 + 1 + 300)
        self.assertLessEqual(s.retired_snapshots, 2)
        self.assertNotEqual(s.table_digest, 0)
        self.assertEqual((s.bad_releases, s.events_dropped), (2, 0))

    def test_errors(self):
        out = u32()
        self.assertEqual(err_name(add(self.b, 1, b"x", 1, 1, 0, 0, 0)), b"EEXIST")
        self.assertEqual(err_name(drain(self.b, 99, 0)), b"ENOENT")
        self.assertEqual(err_name(pick(None, 1, ctypes.byref(out))), b"EINVAL")
        bad = Config(struct_size=4)
        b = vp()
        self.assertEqual(err_name(new(ctypes.byref(b), ctypes.byref(bad))), b"LB_E_STRUCT_SIZE")
        self.assertEqual(new(ctypes.byref(b), ctypes.byref(bad)), abi.code("LB_E_STRUCT_SIZE"))
        cfg = Config(struct_size=ctypes.sizeof(Config), table_size=1000)
        self.assertEqual(err_name(new(ctypes.byref(b), ctypes.byref(cfg))),
                         b"LB_E_MAGLEV_NOT_PRIME")


    def test_algorithm_names(self):
        count, at, name, from_name = (abi.func(lib, "lb_algorithm_" + n)
                                      for n in ("count", "at", "name", "from_name"))
        names = []
        for k in range(count()):
            v, back = u32(), u32()
            self.assertEqual(at(k, ctypes.byref(v)), 0)
            names.append(name(v.value))
            self.assertEqual(from_name(names[-1], ctypes.byref(back)), 0)
            self.assertEqual(back.value, v.value)
            # every listed algorithm makes a balancer that picks
            cfg = Config(struct_size=ctypes.sizeof(Config), algorithm=v.value)
            b = vp()
            self.assertEqual(new(ctypes.byref(b), ctypes.byref(cfg)), 0)
            self.assertEqual(add(b, 1, b"x", 1, 1, 0, 0, 0), 0)
            out = u32()
            self.assertEqual(pick(b, 7, ctypes.byref(out)), 0)
            self.assertEqual(out.value, 1)
            free(b)
        self.assertIn(b"rendezvous", names)
        self.assertEqual(name(count()), b"unknown")
        v = u32()
        self.assertEqual(err_name(from_name(b"nope", ctypes.byref(v))), b"LB_E_BALANCER_CONFIG")
        cfg = Config(struct_size=ctypes.sizeof(Config), algorithm=count())
        b = vp()
        self.assertEqual(err_name(new(ctypes.byref(b), ctypes.byref(cfg))),
                         b"LB_E_BALANCER_CONFIG")


if __name__ == "__main__":
    sys.exit(0 if unittest.main(exit=False).result.wasSuccessful() else 1)
