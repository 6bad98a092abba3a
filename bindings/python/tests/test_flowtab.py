"""The flow table from Python: keys from address text (IPv4, IPv6), insert, lookup, idle
expiry, eviction and target removal reported through on_end, counters, errors."""
import pytest

import liblb
from liblb.flowtab import FlowEnd, FlowTable, memory_for

DST4, DST6 = ("192.0.2.1", 53), ("2001:db8::ffff", 53)


def src(n, v6=False):
    return ("2001:db8::%x" % (n + 1), 1024 + n) if v6 else ("10.0.%d.%d" % (n >> 8, n & 255),
                                                            1024 + n)


def test_insert_lookup_evict_expire():
    ends = []
    with FlowTable(capacity=8, idle_timeout_ms=1000, on_end=ends.append) as t:
        assert t.capacity == 8
        for n in range(8):
            v6 = n % 2 == 1
            assert t.insert(src(n, v6), DST6 if v6 else DST4, target=n, data=100 + n,
                            now_ms=10 + n)
        assert not t.insert(src(0), DST4, target=0, data=100, now_ms=20)  # an update
        assert t.lookup(src(0), DST4, now_ms=20) == (0, 100)
        assert t.insert(src(8), DST4, target=8, data=108, now_ms=21)
        # one bucket: flow 1 (last used at 11) was the least recently used
        assert ends == [FlowEnd("evicted", 1, 101, 11)]
        assert t.lookup(src(1, True), DST6, now_ms=21) is None
        s = t.stats()
        assert (s["capacity"], s["active"], s["inserted"], s["evicted"]) == (8, 8, 9, 1)
        assert s["memory_bytes"] == memory_for(8)
        # idle: flow 0 was last used at 20, so at 1020 it is gone
        assert t.lookup(src(0), DST4, now_ms=1020) is None
        assert FlowEnd("expired", 0, 100, 20) in ends  # (with its idle bucket mates)
        assert t.insert(src(9), DST4, target=9, now_ms=1020)
        left = t.stats()["active"]
        assert left >= 1 and t.expire(5000, 1) == left and t.stats()["active"] == 0
        assert ends[-1].reason == "expired"
    with pytest.raises(ValueError):
        t.lookup(src(0), DST4)


def test_remove_and_remove_target():
    ends = []
    t = FlowTable(capacity=64, on_end=ends.append, seed=7)
    for n in range(6):
        t.insert(src(n), DST4, target=n % 2, now_ms=5)
    assert t.remove(src(0), DST4, now_ms=6) and not t.remove(src(0), DST4, now_ms=6)
    assert t.remove_target(1, now_ms=6) == 3
    assert [e.reason for e in ends] == ["removed"] + ["target_removed"] * 3
    assert sorted(e.target for e in ends[1:]) == [1, 1, 1]
    assert t.stats()["active"] == 2
    # a mixed pair is keyed as its IPv4-mapped IPv6 form: the same flow as plain IPv4
    assert t.lookup(src(2), ("::ffff:192.0.2.1", 53), now_ms=7) == (0, 0)
    t.close()
    t.close()


def test_callback_exception_is_raised_by_the_call():
    def boom(end):
        raise RuntimeError("from on_end")
    t = FlowTable(capacity=8, on_end=boom)
    t.insert(src(0), DST4, target=1)
    with pytest.raises(RuntimeError):
        t.remove_target(1)
    assert t.stats()["active"] == 0
    t.insert(src(0), DST4, target=1)  # the table is still usable


def test_errors():
    with pytest.raises(liblb.Error) as e:
        FlowTable(capacity=0)
    assert e.value.name == "EINVAL"
    with pytest.raises(ValueError):
        FlowTable(evict="mru")
    with pytest.raises(ValueError):
        FlowTable().insert(("not-an-address", 1), DST4, target=1)
    assert FlowTable(evict="new_first", capacity=16).capacity == 16
