"""liblb's flow table (doc/flowtab.md): 5-tuple -> target for UDP and other connectionless
traffic, with an idle timeout, bounded memory and eviction; every flow that leaves the table
is reported once, with its reason.

    >>> from liblb.flowtab import FlowTable
    >>> ends = []
    >>> t = FlowTable(capacity=64, idle_timeout_ms=1000, on_end=ends.append)
    >>> t.insert(("10.0.0.1", 5353), ("192.0.2.1", 53), target=7, now_ms=0)
    True
    >>> t.lookup(("10.0.0.1", 5353), ("192.0.2.1", 53), now_ms=10)
    (7, 0)
    >>> t.lookup(("10.0.0.1", 5353), ("192.0.2.1", 53), now_ms=2000) is None
    True
    >>> [(e.reason, e.target) for e in ends]
    [('expired', 7)]

Thread safety (abi/liblb.api.json): a table's calls are `exclusive` except the counters, so
one lock per table serialises them; `stats()` and `capacity` take no lock. For throughput,
give each worker thread its own table (doc/flowtab.md).
"""
from __future__ import annotations

import threading
from typing import Any, Callable, Dict, NamedTuple, Optional, Tuple

from ._native import check, ffi, lib, new_struct, packed_pair, struct_dict

__all__ = ["FlowTable", "FlowEnd", "memory_for"]

Endpoint = Tuple[str, int]


class FlowEnd(NamedTuple):
    """A flow that left the table: `reason` is "expired", "evicted", "removed" or
    "target_removed" (lb_flowtab_end_name), `last_use_ms` when it was last used."""
    reason: str
    target: int
    data: int
    last_use_ms: int


def memory_for(capacity: int) -> int:
    """The bytes a table of `capacity` flows allocates (0 when out of range)."""
    return lib.lb_flowtab_memory_for(capacity)


@ffi.callback("void(void *, const lb_flowtab_end *)")
def _on_end(user: Any, end: Any) -> None:
    # user is the FlowTable's handle (the C callback takes `void *user`)
    ffi.from_handle(user)._ended(end)


class FlowTable:
    """A flow table of `capacity` flows (rounded up to a multiple of 8), flows idle for
    `idle_timeout_ms` expire, `evict` is "lru" or "new_first" (the least recently used of
    the flows not seen again since their insert go first). `on_end(FlowEnd)` is called for
    every flow that leaves the table, from inside the call that removes it; an exception
    it raises is raised again by that call. `seed` is the key hash's seed. Usable as a
    context manager (closes on exit)."""

    def __init__(self, capacity: int = 65536, idle_timeout_ms: int = 30000,
                 evict: str = "lru", on_end: Optional[Callable[[FlowEnd], None]] = None,
                 seed: int = 0) -> None:
        self._t: Any = None
        policies = {"lru": lib.LB_FLOWTAB_EVICT_LRU, "new_first": lib.LB_FLOWTAB_EVICT_NEW_FIRST}
        if evict not in policies:
            raise ValueError(f"unknown eviction policy {evict!r} (known: lru, new_first)")
        self._lock = threading.Lock()
        self._on_end = on_end
        self._error: Optional[BaseException] = None
        self._self = ffi.new_handle(self)  # kept alive while the table lives
        self._seed = seed
        cfg = new_struct("lb_flowtab_config", {}, "FlowTable")
        lib.lb_flowtab_config_init(cfg, ffi.sizeof("lb_flowtab_config"))
        cfg.capacity = capacity
        cfg.idle_timeout_ms = idle_timeout_ms
        cfg.evict = policies[evict]
        cfg.on_end = _on_end
        cfg.user = self._self
        out = ffi.new("lb_flowtab **")
        check(lib.lb_flowtab_new(out, cfg), "lb_flowtab_new")
        self._t = out[0]
        self._key = ffi.new("lb_flowtab_key *")

    def _ended(self, end: Any) -> None:
        if self._on_end is None or self._error is not None:
            return
        try:
            self._on_end(FlowEnd(ffi.string(lib.lb_flowtab_end_name(end.reason)).decode(),
                                 end.target, end.data, end.last_use_ms))
        except BaseException as e:  # raised again by the call that removed the flow
            self._error = e

    def _h(self) -> Any:
        if self._t is None:
            raise ValueError("the flow table is closed")
        return self._t

    def _call(self, rc: int, what: str) -> int:
        e, self._error = self._error, None
        if e is not None:
            raise e
        return check(rc, what)

    def _fill_key(self, src: Endpoint, dst: Endpoint, proto: int) -> Any:
        """The table's scratch key for a 5-tuple (IPv4, IPv6, or mixed as IPv4-mapped)."""
        version, s, d = packed_pair(src[0], dst[0])
        build = lib.lb_flowtab_key4 if version == 4 else lib.lb_flowtab_key6
        rc = build(self._key, s, d, src[1], dst[1], proto, self._seed)
        check(rc, "flow key")
        return self._key

    def close(self) -> None:
        """Frees the table without reporting its flows (idempotent)."""
        with self._lock:
            if self._t is not None:
                t, self._t = self._t, None
                lib.lb_flowtab_free(t)

    def __del__(self) -> None:
        if getattr(self, "_t", None) is not None:
            self.close()

    def __enter__(self) -> "FlowTable":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def insert(self, src: Endpoint, dst: Endpoint, target: int, data: int = 0,
               now_ms: int = 0, proto: int = 17) -> bool:
        """Records the flow `src` -> `dst` (`(address, port)`) for `target` with caller
        `data`; True for a new flow, False when an existing one was updated."""
        with self._lock:
            k = self._fill_key(src, dst, proto)
            rc = lib.lb_flowtab_insert(self._h(), k, target, data, now_ms)
            return self._call(rc, "insert") == 0

    def lookup(self, src: Endpoint, dst: Endpoint, now_ms: int = 0,
               proto: int = 17) -> Optional[Tuple[int, int]]:
        """`(target, data)` of a live flow, marked used at `now_ms`; None when there is none
        (an idle-expired flow is removed and reported)."""
        with self._lock:
            k = self._fill_key(src, dst, proto)
            out = ffi.new("uint32_t *")
            data = ffi.new("uint64_t *")
            rc = lib.lb_flowtab_lookup(self._h(), k, now_ms, out, data)
            if rc == lib.LB_E_FLOWTAB_NOT_FOUND:
                self._call(0, "lookup")
                return None
            self._call(rc, "lookup")
            return out[0], data[0]

    def remove(self, src: Endpoint, dst: Endpoint, now_ms: int = 0, proto: int = 17) -> bool:
        """Removes a flow (reported as "removed"); False when there was none."""
        with self._lock:
            k = self._fill_key(src, dst, proto)
            rc = lib.lb_flowtab_remove(self._h(), k, now_ms)
            if rc == lib.LB_E_FLOWTAB_NOT_FOUND:
                self._call(0, "remove")
                return False
            self._call(rc, "remove")
            return True

    def remove_target(self, target: int, now_ms: int = 0) -> int:
        """Removes every flow of `target` (reported as "target_removed"); their count."""
        with self._lock:
            return self._call(lib.lb_flowtab_remove_target(self._h(), target, now_ms),
                              "remove_target")

    def expire(self, now_ms: int, max_buckets: int) -> int:
        """Removes idle-expired flows from the next `max_buckets` buckets; their count."""
        with self._lock:
            return self._call(lib.lb_flowtab_expire(self._h(), now_ms, max_buckets), "expire")

    @property
    def capacity(self) -> int:
        """The capacity in flows (a multiple of 8)."""
        return lib.lb_flowtab_capacity(self._h())

    def stats(self) -> Dict[str, int]:
        """The table's counters (the fields of lb_flowtab_stats)."""
        s = new_struct("lb_flowtab_stats", {}, "stats")
        check(lib.lb_flowtab_get_stats(self._h(), s), "stats")
        return struct_dict(s)

