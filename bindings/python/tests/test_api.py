"""The Python API itself: errors, proxy round trips, Maglev, the balancer and threads."""
import threading

import pytest

import liblb
import liblb.proxy


def test_version():
    major, minor, patch = (int(x) for x in liblb.version().split("."))
    assert liblb.version_number() == major * 10000 + minor * 100 + patch


def test_errors_carry_names():
    with pytest.raises(liblb.Error) as e:
        liblb.Maglev({"a": 1}, size=1000)
    assert e.value.name == "LB_E_MAGLEV_NOT_PRIME"
    assert e.value.code < 0 and "LB_E_MAGLEV_NOT_PRIME" in str(e.value)
    with pytest.raises(liblb.Error) as e:
        liblb.Maglev({}, size=7).lookup(1)
    assert e.value.name == "LB_E_NO_TARGET"


def test_maglev_lookup_and_entries():
    m = liblb.Maglev({"10.0.0.1:80": 1, "10.0.0.2:80": 3, "off": 0}, size=101)
    e = m.entries
    assert e["off"] == 0 and e["10.0.0.1:80"] + e["10.0.0.2:80"] == 101
    assert e["10.0.0.2:80"] > e["10.0.0.1:80"]
    seen = {m.lookup_key(b"client-%d" % i) for i in range(200)}
    assert seen == {"10.0.0.1:80", "10.0.0.2:80"}
    assert m.lookup(liblb.hash_key(b"x")) == m.lookup_key(b"x")


def test_proxy_need_more_then_complete():
    line = b"PROXY TCP6 2001:db8::1 2001:db8::2 1234 443\r\n"
    with pytest.raises(liblb.NeedMore) as e:
        liblb.proxy.decode(line[:10])
    assert e.value.need >= 1 and isinstance(e.value, liblb.Error)
    h = liblb.proxy.decode(bytearray(line + b"GET /"))
    assert (h.version, h.command, h.family) == (1, "PROXY", "INET6")
    assert h.src == ("2001:db8::1", 1234) and h.dst == ("2001:db8::2", 443)
    assert h.length == len(line) and h.tlvs == [] and h.crc32c == "absent"


def test_proxy_bad_header():
    with pytest.raises(liblb.Error) as e:
        liblb.proxy.decode(b"GET / HTTP/1.1\r\n\r\n")
    assert e.value.name == "LB_E_PROXY_NOT_PROXY"
    assert not isinstance(e.value, liblb.NeedMore)


def test_proxy_round_trip_v2_tlvs_crc():
    raw = liblb.proxy.encode(2, ("192.0.2.1", 56324), ("198.51.100.7", 443),
                             tlvs=[(0x02, b"example.com"), (0x05, b"id-1")], crc32c=True)
    h = liblb.proxy.decode(memoryview(raw))
    assert h.length == len(raw) and h.version == 2 and h.command == "PROXY"
    assert h.src == ("192.0.2.1", 56324) and h.dst == ("198.51.100.7", 443)
    assert h.crc32c == "valid"
    assert (0x02, b"example.com") in h.tlvs and (0x05, b"id-1") in h.tlvs
    bad = bytearray(raw)
    bad[-1] ^= 0xFF  # inside the last TLV, covered by the CRC
    with pytest.raises(liblb.Error) as e:
        liblb.proxy.decode(bad)
    assert e.value.name.startswith("LB_E_PROXY_")


def test_proxy_encode_v1_local_unix_errors():
    v1 = liblb.proxy.encode(1, ("10.0.0.1", 1), ("10.0.0.2", 2))
    assert v1 == b"PROXY TCP4 10.0.0.1 10.0.0.2 1 2\r\n"
    local = liblb.proxy.decode(liblb.proxy.encode(2, local=True))
    assert local.command == "LOCAL" and local.src is None
    u = liblb.proxy.decode(liblb.proxy.encode(2, "/run/a.sock", "/run/b.sock"))
    assert (u.family, u.src, u.dst) == ("UNIX", "/run/a.sock", "/run/b.sock")
    with pytest.raises(liblb.Error) as e:
        liblb.proxy.encode(2, ("10.0.0.1", 1), ("::1", 2))
    assert e.value.name == "LB_E_PROXY_FAMILY_MISMATCH"
    with pytest.raises(liblb.Error) as e:
        liblb.proxy.encode(1, ("10.0.0.1", 1), ("10.0.0.2", 2), tlvs=[(1, b"h2")])
    assert e.value.name == "LB_E_PROXY_V1_UNSUPPORTED"


def test_balancer_pick_drain_events():
    with liblb.Balancer("maglev", table_size=1009, deregistration_delay_ms=1000) as b:
        for i in (1, 2, 3):
            b.add(i, "10.0.0.%d:80" % i, now_ms=0)
        assert sorted(b.targets()) == [1, 2, 3]
        first = {k: b.pick(liblb.hash_key(b"client-%d" % k)) for k in range(300)}
        assert set(first.values()) == {1, 2, 3}
        b.tick(0)
        victim = first[7]
        b.drain(victim, now_ms=10)
        for k, t in first.items():
            assert b.pick(liblb.hash_key(b"client-%d" % k)) != victim
        evs = b.tick(10)
        assert evs[0].type == "STATE" and evs[0].new_state == "draining"
        assert evs[0].reason == "deregistered" and evs[0].target_id == victim
        held = sum(1 for t in first.values() if t == victim)
        assert b.target_stats(victim)["active"] == held
        for _ in range(held):
            b.release(victim, now_ms=20)
        assert b.target_stats(victim)["active"] == 0
        # a release without a pick left, and one for an unknown id: errors, counted
        with pytest.raises(liblb.Error) as e:
            b.release(victim, now_ms=20)
        assert e.value.name == "ERANGE"
        with pytest.raises(liblb.Error) as e:
            b.release(99, now_ms=20)
        assert e.value.name == "ENOENT"
        s = b.stats()
        assert s["targets"] == 3 and s["picks"] == 600
        assert s["bad_releases"] == 2 and s["events_dropped"] == 0
        b.undrain(victim, now_ms=30)
        b.set_weight(1, 5, now_ms=30)
        b.remove(2, now_ms=40)
        with pytest.raises(liblb.Error) as e:
            b.add(1, "dup", now_ms=50)
        assert e.value.name == "EEXIST"
        with pytest.raises(TypeError):
            liblb.Balancer(no_such_option=1)
        with pytest.raises(ValueError):
            liblb.Balancer("nope")
    with pytest.raises(ValueError):
        b.pick(1)


def test_balancer_sticky_and_exclude():
    with liblb.Balancer("maglev") as b:
        for tid, name in ((1, "a"), (2, "b"), (3, "c")):
            b.add(tid, name, now_ms=0)
        h = liblb.hash_key(b"flow-1")
        assert b.pick(h, prefer=3) == 3
        normal = b.pick(h)
        other = b.pick(h, exclude=[normal])
        assert other != normal
        b.drain(3, now_ms=1)
        assert b.pick(h, prefer=3) == b.pick(h) != 3


def test_balancer_no_target():
    with liblb.Balancer() as b:
        with pytest.raises(liblb.Error) as e:
            b.pick(1)
        assert e.value.name == "LB_E_NO_TARGET"


def test_balancer_pick_from_threads():
    with liblb.Balancer("p2c") as b:
        for i in range(1, 9):
            b.add(i, "t%d" % i, now_ms=0)
        errors = []

        def work(seed):
            try:
                for k in range(2000):
                    t = b.pick(liblb.hash_key(b"%d-%d" % (seed, k)))
                    b.release(t, now_ms=0)
            except Exception as e:  # reported below
                errors.append(e)

        threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not errors
        assert b.stats()["picks"] == 8000
        assert all(b.target_stats(i)["active"] == 0 for i in range(1, 9))


def test_layouts_match_the_abi_description():
    """cffi's layouts (from the preprocessed headers) are the ones abi/liblb.api.json records
    (x86_64): size, alignment, every field's offset and the field names in order."""
    import json
    import os
    from liblb._native import ffi
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "abi",
                        "liblb.api.json")
    with open(path) as f:
        structs = json.load(f)["structs"]
    assert len(structs) > 20
    if ffi.sizeof("void *") != 8:
        pytest.fail("the description's layouts are x86_64; this is not a 64-bit Python")
    for s in structs:
        name = s["name"]
        assert ffi.sizeof(name) == s["size"], name
        assert ffi.alignof(name) == s["align"], name
        assert [f[0] for f in ffi.typeof(name).fields] == [f["name"] for f in s["fields"]], name
        for f in s["fields"]:
            assert ffi.offsetof(name, f["name"]) == f["offset"], (name, f["name"])
