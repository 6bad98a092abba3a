#!/usr/bin/env python3
"""The ctypes binding in examples/python/liblb.py: pick, drain and decode from Python."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import liblb  # noqa: E402

liblb.load(os.path.join(os.environ.get("LB_BUILD_ROOT", "build"), "lib", "liblb.so.1"))


def flow(i):
    return liblb.hash_key(f"client-{i}")


class BalancerTest(unittest.TestCase):
    def test_maglev_spreads_and_is_stable(self):
        with liblb.Balancer(algorithm="maglev", seed=7) as b:
            for tid, name in ((1, "a"), (2, "b"), (3, "c")):
                b.add(tid, name)
            self.assertEqual(sorted(b.targets()), [1, 2, 3])
            picks = [b.pick(flow(i)) for i in range(3000)]
            for tid in (1, 2, 3):
                self.assertGreater(picks.count(tid), 800)
                self.assertEqual(b.target(tid)["active"], picks.count(tid))
            # the same flow always goes to the same target
            self.assertEqual([b.pick(flow(i)) for i in range(50)], picks[:50])
            for i, tid in enumerate(picks + picks[:50]):
                b.release(tid)
            self.assertEqual(sum(b.target(t)["active"] for t in (1, 2, 3)), 0)
            stats = b.stats()
            self.assertNotEqual(stats["table_digest"], 0)
            self.assertEqual(stats["eligible"], 3)

    def test_drain_then_remove(self):
        with liblb.Balancer(algorithm="maglev", deregistration_delay_ms=10_000) as b:
            b.add(1, "a", now_ms=0)
            b.add(2, "b", now_ms=0)
            held = [b.pick(flow(i)) for i in range(200)]
            on_a = held.count(1)
            self.assertGreater(on_a, 0)
            b.remove(1, now_ms=100)
            self.assertEqual(b.target(1)["state"], "draining")
            # no new connection goes to a draining target
            self.assertTrue(all(b.pick(flow(i)) == 2 for i in range(500, 700)))
            for i in range(500, 700):
                b.release(2)
            # existing ones finish; the last release ends the drain
            for tid in held:
                b.release(tid, now_ms=200)
            events = b.tick(300)
            kinds = [(e["type"], e["target_id"], e["new_state"]) for e in events]
            self.assertIn((liblb.EVENT_REMOVED, 1, "removed"), kinds)
            self.assertEqual(b.targets(), [2])

    def test_errors_raise(self):
        with liblb.Balancer() as b:
            with self.assertRaises(liblb.LbError) as ctx:
                b.pick(1)
            self.assertEqual(ctx.exception.name, "LB_E_NO_TARGET")
            b.add(1, "a")
            with self.assertRaises(liblb.LbError) as ctx:
                b.add(1, "b")
            self.assertEqual(ctx.exception.name, "EEXIST")
        with self.assertRaises(liblb.LbError) as ctx:
            liblb.Balancer(table_size=65536)
        self.assertEqual(ctx.exception.name, "LB_E_MAGLEV_NOT_PRIME")

    def test_sticky_falls_back_when_preferred_drains(self):
        with liblb.Balancer(algorithm="maglev") as b:
            for tid, name in ((1, "a"), (2, "b"), (3, "c")):
                b.add(tid, name)
            self.assertEqual(b.pick_sticky(flow(1), 3), 3)
            b.drain(3)
            normal = b.pick(flow(1))
            self.assertNotEqual(normal, 3)
            self.assertEqual(b.pick_sticky(flow(1), 3), normal)


class LayoutTest(unittest.TestCase):
    """The hand-written ctypes structs match abi/liblb.api.json (the generated description)."""

    def test_structs_match_the_description(self):
        import ctypes
        import json
        src = os.environ.get("LB_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
        with open(os.path.join(src, "abi", "liblb.api.json")) as f:
            desc = {s["name"]: s for s in json.load(f)["structs"]}
        for cls, name in ((liblb.BalancerConfig, "lb_balancer_config"), (liblb.Event, "lb_event"),
                          (liblb.PickRequest, "lb_pick_request"),
                          (liblb.TargetStats, "lb_target_stats"),
                          (liblb.BalancerStats, "lb_balancer_stats"),
                          (liblb.ProxyHeader, "lb_proxy_header"), (liblb.ProxyTlv, "lb_proxy_tlv")):
            d = desc[name]
            self.assertEqual(ctypes.sizeof(cls), d["size"], name)
            self.assertEqual([f[0] for f in cls._fields_], [f["name"] for f in d["fields"]], name)
            for f in d["fields"]:
                self.assertEqual(getattr(cls, f["name"]).offset, f["offset"], (name, f["name"]))


class ProxyTest(unittest.TestCase):
    def test_v1(self):
        h = liblb.proxy_decode(b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET /")
        self.assertEqual((h["version"], h["command"], h["family"]), (1, "PROXY", "INET"))
        self.assertEqual((h["src_addr"], h["src_port"]), ("192.0.2.1", 56324))
        self.assertEqual((h["dst_addr"], h["dst_port"]), ("198.51.100.2", 443))
        self.assertEqual(h["header_length"], 45)

    def test_v2_with_tlv(self):
        sig = b"\r\n\r\n\x00\r\nQUIT\n"
        addr = bytes([10, 0, 0, 1, 10, 0, 0, 2]) + (1234).to_bytes(2, "big") + \
            (80).to_bytes(2, "big")
        tlv = b"\x02" + (11).to_bytes(2, "big") + b"example.com"
        body = addr + tlv
        data = sig + b"\x21\x11" + len(body).to_bytes(2, "big") + body + b"payload"
        h = liblb.proxy_decode(data)
        self.assertEqual((h["version"], h["family"], h["src_addr"]), (2, "INET", "10.0.0.1"))
        self.assertEqual(h["header_length"], 16 + len(body))
        self.assertEqual(h["tlvs"], [(2, b"example.com")])

    def test_partial_and_bad(self):
        with self.assertRaises(liblb.NeedMore):
            liblb.proxy_decode(b"PROXY TCP4 1.2")
        with self.assertRaises(liblb.LbError) as ctx:
            liblb.proxy_decode(b"GET / HTTP/1.1\r\n\r\n")
        self.assertEqual(ctx.exception.name, "LB_E_PROXY_NOT_PROXY")
        with self.assertRaises(liblb.LbError):
            liblb.proxy_decode(b"PROXY TCP4 1.2.3.04 5.6.7.8 1 2\r\n")


if __name__ == "__main__":
    unittest.main(verbosity=2)
