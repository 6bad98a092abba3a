"""liblb from Python: hashing, Maglev tables, the balancer and the PROXY protocol.

    >>> import liblb
    >>> m = liblb.Maglev({"10.0.0.1:80": 1, "10.0.0.2:80": 1}, size=101)
    >>> m.lookup_key(b"client-7") in ("10.0.0.1:80", "10.0.0.2:80")
    True

The binding calls liblb's C functions through cffi (no compiler needed); their declarations
are generated from the C headers. Failures raise `liblb.Error` (`.name` is liblb's stable
`LB_E_...` or errno name); `liblb.proxy` decodes and encodes PROXY headers;
`liblb.flowtab.FlowTable` maps UDP 5-tuples to targets.
"""
from __future__ import annotations

import ipaddress
import time
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from ._native import (Error, NeedMore, check, code, enum_names, ffi, lib, new_struct, packed_pair,
                      struct_dict)
from . import flowtab, proxy

__all__ = ["version", "version_number", "hash_key", "hash_flow", "hash_src", "Maglev",
           "Balancer", "Event", "Error", "NeedMore", "proxy", "flowtab", "monotonic_ms", "CONSTANTS"]

from ._decls import CONSTANTS

Key = Union[str, bytes]


def version() -> str:
    """The library's version, "major.minor.patch" (lb_version_string)."""
    return ffi.string(lib.lb_version_string()).decode()


def version_number() -> int:
    """The library's version as major * 10000 + minor * 100 + patch."""
    return lib.lb_version_number()


def _bytes(key: Key) -> bytes:
    return key.encode() if isinstance(key, str) else bytes(key)


def hash_key(data: bytes, seed: int = 0) -> int:
    """liblb's 64-bit hash of a key (lb_hash_key): the same value in every language."""
    buf = ffi.from_buffer(data)
    return lib.lb_hash_key(buf, len(buf), seed)


def _packed(addr: str):
    return ipaddress.ip_address(addr)


def hash_flow(src: str, dst: str, sport: int, dport: int, proto: int = 6, seed: int = 0) -> int:
    """The hash of a connection's 5-tuple (IPv4 or IPv6 address text); an IPv4 address
    hashes like its IPv4-mapped IPv6 form, so mixing families is allowed."""
    version, s, d = packed_pair(src, dst)
    return (lib.lb_hash_flow4 if version == 4 else lib.lb_hash_flow6)(s, d, sport, dport, proto,
                                                                        seed)


def hash_src(src: str, seed: int = 0) -> int:
    """The hash of a source address alone (source affinity)."""
    s = _packed(src)
    return (lib.lb_hash_src4 if s.version == 4 else lib.lb_hash_src6)(s.packed, seed)


def monotonic_ms() -> int:
    """The clock the Balancer uses when a call is given no `now_ms` (time.monotonic, ms)."""
    return int(time.monotonic() * 1000)


class _Pool:
    """An lb_pool, freed with the object (internal: Maglev builds from one)."""

    def __init__(self) -> None:
        out = ffi.new("lb_pool **")
        check(lib.lb_pool_new(out), "lb_pool_new")
        self.ptr = ffi.gc(out[0], lib.lb_pool_free)


class Maglev:
    """An immutable Maglev lookup table (doc/maglev.md) built from `targets`, a mapping of
    target key to weight (0 keeps a target in the table's list with no slots); `size` must
    be a prime. Lookups are safe from any number of threads."""

    def __init__(self, targets: Mapping[str, int], size: int = CONSTANTS["LB_MAGLEV_DEFAULT_SIZE"]) -> None:
        self._keys: List[str] = list(targets)
        pool = _Pool()
        for i, (k, w) in enumerate(targets.items(), start=1):
            kb = _bytes(k)
            check(lib.lb_pool_add(pool.ptr, i, kb, len(kb), w, 0), f"target {k!r}")
        out = ffi.new("lb_maglev **")
        check(lib.lb_maglev_build(out, pool.ptr, size), "lb_maglev_build")
        self._t = ffi.gc(out[0], lib.lb_maglev_free)

    @property
    def size(self) -> int:
        """The table's size (number of slots)."""
        return lib.lb_maglev_size(self._t)

    @property
    def digest(self) -> int:
        """The table's 64-bit digest (equal tables, equal digests; see the vectors)."""
        return lib.lb_maglev_digest(self._t)

    def lookup(self, hash: int) -> str:
        """The key of the target owning the slot of a 64-bit flow hash."""
        tid = lib.lb_maglev_lookup(self._t, hash)
        if tid == CONSTANTS["LB_NO_TARGET"]:
            raise Error(code("LB_E_NO_TARGET"), "empty table")
        return self._keys[tid - 1]

    def lookup_key(self, data: bytes) -> str:
        """lookup(hash_key(data))."""
        return self.lookup(hash_key(data))

    @property
    def entries(self) -> Dict[str, int]:
        """Each target's number of slots (0 for a target of weight 0)."""
        n = ffi.new("uint32_t *")
        out = {}
        for i, k in enumerate(self._keys, start=1):
            rc = lib.lb_maglev_entries(self._t, i, n)
            out[k] = n[0] if rc == 0 else 0
        return out


_ALGORITHMS = {}
for _i in range(64):
    _p = lib.lb_balancer_algorithm_name(_i)
    if _p != ffi.NULL and ffi.string(_p) != b"unknown":
        _ALGORITHMS[ffi.string(_p).decode()] = _i
_EVENT_TYPES = enum_names("enum lb_event_type")


class Event:
    """A balancer event: `type` ("STATE", "CLOSE", "REMOVED"), `target_id`, `old_state` and
    `new_state` ("healthy", "draining", ...), `reason` ("deregistered", ...), `connections`,
    `at_ms`; the raw numbers are in `raw`."""

    __slots__ = ("type", "target_id", "old_state", "new_state", "reason", "connections", "at_ms",
                 "raw")

    def __init__(self, ev: Any) -> None:
        self.raw: Dict[str, int] = struct_dict(ev)
        self.type = _EVENT_TYPES.get(ev.type, str(ev.type))
        self.target_id: int = ev.target_id
        self.old_state = ffi.string(lib.lb_balancer_state_name(ev.old_state)).decode()
        self.new_state = ffi.string(lib.lb_balancer_state_name(ev.new_state)).decode()
        self.reason = ffi.string(lib.lb_balancer_reason_name(ev.reason)).decode()
        self.connections: int = ev.connections
        self.at_ms: int = ev.at_ms

    def __repr__(self) -> str:
        return (f"Event({self.type}, target={self.target_id}, {self.old_state}->"
                f"{self.new_state}, reason={self.reason}, connections={self.connections}, "
                f"at_ms={self.at_ms})")


class Balancer:
    """liblb's balancer (doc/balancer.md): targets, health, draining, zones and one selector.

    `algorithm`: "maglev", "ring", "ring-bounded", "wrr", "leastconn" or "p2c" (the names
    lb_balancer_algorithm_name gives); `**config`: any field of `lb_balancer_config` by name
    (table_size=..., deregistration_delay_ms=..., ...). Times are milliseconds of one
    monotonic clock; calls given no `now_ms` use monotonic_ms().

    Thread safety: pick() and release() may run in any number of threads at once, alongside
    every other call (the C calls run without the GIL); close() only when no other thread
    uses the balancer. Usable as a context manager (closes on exit)."""

    def __init__(self, algorithm: str = "maglev", **config: int) -> None:
        self._b: Any = None
        if algorithm not in _ALGORITHMS:
            raise ValueError(f"unknown algorithm {algorithm!r} (known: {', '.join(_ALGORITHMS)})")
        cfg = new_struct("lb_balancer_config", dict(config, algorithm=_ALGORITHMS[algorithm]),
                         "Balancer")
        out = ffi.new("lb_balancer **")
        check(lib.lb_balancer_new(out, cfg), "lb_balancer_new")
        self._b = out[0]

    def _h(self) -> Any:
        if self._b is None:
            raise ValueError("the balancer is closed")
        return self._b

    @staticmethod
    def _now(now_ms: Optional[int]) -> int:
        return monotonic_ms() if now_ms is None else now_ms

    def close(self) -> None:
        """Frees the balancer (idempotent)."""
        if self._b is not None:
            b, self._b = self._b, None
            lib.lb_balancer_free(b)

    def __del__(self) -> None:
        self.close()

    def __enter__(self) -> "Balancer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def add(self, id: int, key: Key, weight: int = 1, zone: int = 0, max_conns: int = 0,
            now_ms: Optional[int] = None) -> None:
        """Registers target `id` with its `key` (what the hash tables place; e.g. its
        address), `weight` (0..65535), `zone` and a connection limit (0: none)."""
        kb = _bytes(key)
        check(lib.lb_balancer_add(self._h(), id, kb, len(kb), weight, zone, max_conns,
                                  self._now(now_ms)), f"add {id}")

    def remove(self, id: int, now_ms: Optional[int] = None) -> None:
        """Removes target `id` (its connections drain first, as configured)."""
        check(lib.lb_balancer_remove(self._h(), id, self._now(now_ms)), f"remove {id}")

    def set_weight(self, id: int, weight: int, now_ms: Optional[int] = None) -> None:
        """Changes a target's weight."""
        check(lib.lb_balancer_set_weight(self._h(), id, weight, self._now(now_ms)),
              f"set_weight {id}")

    def drain(self, id: int, now_ms: Optional[int] = None) -> None:
        """Stops new connections to `id`; existing ones end by release() or the deadline."""
        check(lib.lb_balancer_drain(self._h(), id, self._now(now_ms)), f"drain {id}")

    def undrain(self, id: int, now_ms: Optional[int] = None) -> None:
        """Takes a draining target back into service."""
        check(lib.lb_balancer_undrain(self._h(), id, self._now(now_ms)), f"undrain {id}")

    def pick(self, flow_hash: int, *, prefer: Optional[int] = None,
             exclude: Sequence[int] = ()) -> int:
        """The target id for a new connection with this flow hash (counts one active
        connection: release() it when the connection ends). `prefer`: a sticky target, taken
        while it is eligible; `exclude`: ids not to pick (e.g. whose connect just failed).
        Raises Error LB_E_NO_TARGET when no target is eligible."""
        out = ffi.new("uint32_t *")
        if prefer is None and not exclude:
            check(lib.lb_balancer_pick(self._h(), flow_hash, out), "pick")
            return out[0]
        ex = ffi.new("uint32_t[]", list(exclude))
        req = new_struct("lb_pick_request", {
            "flow_hash": flow_hash, "flags": 0 if prefer is None else lib.LB_PICK_STICKY,
            "preferred_id": prefer or 0, "n_exclude": len(exclude), "exclude": ex}, "pick")
        check(lib.lb_balancer_pick_ex(self._h(), req, out), "pick")
        return out[0]

    def release(self, id: int, now_ms: Optional[int] = None) -> None:
        """Reports the end of a connection picked for `id`. Raises Error ENOENT for an id the
        balancer does not know and ERANGE for a release without a pick left to end (both are
        counted in stats()["bad_releases"])."""
        check(lib.lb_balancer_release(self._h(), id, self._now(now_ms)), f"release {id}")

    def targets(self) -> List[int]:
        """The ids of the registered targets."""
        cap = 16
        while True:
            ids = ffi.new("uint32_t[]", cap)
            n = check(lib.lb_balancer_targets(self._h(), ids, cap), "targets")
            if n <= cap:
                return list(ids[0:n])
            cap = n

    def tick(self, now_ms: int) -> List[Event]:
        """Advances time: drain deadlines, ejections, slow start. Returns the events since the
        last tick, oldest first."""
        out: List[Event] = []
        cap = 64
        evs = ffi.new("lb_event[]", cap)
        for i in range(cap):
            evs[i].struct_size = ffi.sizeof("lb_event")
        while True:
            n = check(lib.lb_balancer_tick(self._h(), now_ms, evs, ffi.sizeof("lb_event"), cap),
                      "tick")
            out += [Event(evs[i]) for i in range(min(n, cap))]
            if n < cap:
                return out

    def next_deadline(self) -> int:
        """When tick() next has work to do (ms of the caller's clock)."""
        return lib.lb_balancer_next_deadline(self._h())

    def stats(self) -> Dict[str, int]:
        """The balancer's counters (the fields of lb_balancer_stats)."""
        s = new_struct("lb_balancer_stats", {}, "stats")
        check(lib.lb_balancer_get_stats(self._h(), s), "stats")
        return struct_dict(s)

    def target_stats(self, id: int) -> Dict[str, Any]:
        """One target's state and counters (the fields of lb_target_stats; `state` by
        name)."""
        s = new_struct("lb_target_stats", {}, "target_stats")
        check(lib.lb_balancer_get_target_stats(self._h(), id, s), f"target_stats {id}")
        d = struct_dict(s)
        d["state"] = ffi.string(lib.lb_balancer_state_name(s.state)).decode()
        return d
