"""liblb from Python: a small ctypes binding of the balancer, the PROXY decoder and the hash.

Every function is declared with explicit argtypes/restype. Errors raise LbError carrying the
code and liblb's stable name for it (lb_err_name). Load a specific library file with
`liblb.load(path)`; by default `liblb.so.1` is found through the dynamic loader (or the
LIBLB_PATH environment variable).
"""
import ctypes
import ctypes.util
import os

_u8p = ctypes.POINTER(ctypes.c_uint8)
_lib = None


class LbError(Exception):
    """A liblb call failed: `code` is the negative error, `name` its stable name."""

    def __init__(self, code, what):
        self.code = code
        self.name = _lib.lb_err_name(code).decode()
        super().__init__(f"{what}: {self.name}: {_lib.lb_strerror(code).decode()}")


_CODES = {}


def _code(name):
    """The value of a liblb error code by its stable name (read from the library itself:
    lb_err_count() / lb_err_at() / lb_err_name(), so nothing is hard-coded here)."""
    if not _CODES:
        lib = load()
        for k in range(lib.lb_err_count()):
            c = lib.lb_err_at(k)
            _CODES[lib.lb_err_name(c).decode()] = c
    return _CODES[name]


def _check(rc, what):
    if rc < 0:
        raise LbError(rc, what)
    return rc


class BalancerConfig(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint32) for name in (
        "struct_size", "algorithm", "table_size", "bound_percent")] + [
        ("seed", ctypes.c_uint64)] + [(name, ctypes.c_uint32) for name in (
            "max_targets", "wait_for_checks", "rise", "fall", "check_interval_ms",
            "deregistration_delay_ms", "slow_start_ms", "keep_connections_on_unhealthy",
            "panic_percent", "fail_closed", "eject_after_failures", "eject_base_ms",
            "max_eject_percent", "local_zone", "zone_mode", "local_percent",
            "min_cluster_size", "event_queue_max")]


class Event(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint32) for name in (
        "struct_size", "type", "target_id", "old_state", "new_state", "reason",
        "connections", "reserved0")] + [("at_ms", ctypes.c_uint64)]


class PickRequest(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("flags", ctypes.c_uint32),
                ("flow_hash", ctypes.c_uint64), ("preferred_id", ctypes.c_uint32),
                ("n_exclude", ctypes.c_uint32), ("exclude", ctypes.POINTER(ctypes.c_uint32))]


class TargetStats(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint32) for name in (
        "struct_size", "id", "state", "eligible", "weight", "effective_weight", "zone",
        "active")] + [("picks", ctypes.c_uint64), ("table_entries", ctypes.c_uint32),
                      ("max_conns", ctypes.c_uint32)]


class BalancerStats(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint32) for name in (
        "struct_size", "targets", "eligible", "fail_open")] + [
        (name, ctypes.c_uint64) for name in (
            "generation", "table_digest", "picks", "no_target")] + [
        ("retired_snapshots", ctypes.c_uint32), ("events_queued", ctypes.c_uint32),
        ("events_dropped", ctypes.c_uint64), ("bad_releases", ctypes.c_uint64)]


class ProxyHeader(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("version", ctypes.c_uint8),
                ("command", ctypes.c_uint8), ("family", ctypes.c_uint8),
                ("transport", ctypes.c_uint8), ("src_port", ctypes.c_uint16),
                ("dst_port", ctypes.c_uint16), ("header_len", ctypes.c_uint32),
                ("src_addr", ctypes.c_uint8 * 16), ("dst_addr", ctypes.c_uint8 * 16),
                ("src_path", _u8p), ("dst_path", _u8p), ("src_path_len", ctypes.c_uint16),
                ("dst_path_len", ctypes.c_uint16), ("crc32c_present", ctypes.c_uint8),
                ("reserved0", ctypes.c_uint8 * 3), ("tlvs", _u8p), ("tlvs_len", ctypes.c_uint32),
                ("reserved1", ctypes.c_uint32)]


class ProxyTlv(ctypes.Structure):
    _fields_ = [("type", ctypes.c_uint8), ("reserved0", ctypes.c_uint8),
                ("length", ctypes.c_uint16), ("reserved1", ctypes.c_uint32), ("value", _u8p)]


EVENT_STATE, EVENT_CLOSE, EVENT_REMOVED = 1, 2, 3
PICK_STICKY = 1


def _declare(lib):
    def fn(name, restype, *argtypes):
        f = getattr(lib, name)
        f.restype, f.argtypes = restype, list(argtypes)

    vp, u32, u64, i, sz = (ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint64, ctypes.c_int,
                           ctypes.c_size_t)
    fn("lb_algorithm_count", ctypes.c_size_t)
    fn("lb_algorithm_at", i, ctypes.c_size_t, ctypes.POINTER(u32))
    fn("lb_algorithm_name", ctypes.c_char_p, u32)
    fn("lb_algorithm_from_name", i, ctypes.c_char_p, ctypes.POINTER(u32))
    fn("lb_strerror", ctypes.c_char_p, i)
    fn("lb_err_name", ctypes.c_char_p, i)
    fn("lb_err_count", sz)
    fn("lb_err_at", i, sz)
    fn("lb_version_string", ctypes.c_char_p)
    fn("lb_hash_key", u64, ctypes.c_char_p, sz, u64)
    fn("lb_hash_flow4", u64, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_uint16,
       ctypes.c_uint16, ctypes.c_uint8, u64)
    fn("lb_hash_src4", u64, ctypes.c_char_p, u64)
    fn("lb_proxy_decode", i, ctypes.c_char_p, sz, vp, ctypes.POINTER(ProxyHeader),
       ctypes.POINTER(sz))
    fn("lb_proxy_tlv_next", i, ctypes.POINTER(ProxyHeader), ctypes.POINTER(sz),
       ctypes.POINTER(ProxyTlv))
    fn("lb_balancer_new", i, ctypes.POINTER(vp), ctypes.POINTER(BalancerConfig))
    fn("lb_balancer_free", None, vp)
    fn("lb_balancer_add", i, vp, u32, ctypes.c_char_p, sz, u32, u32, u32, u64)
    for name in ("lb_balancer_remove", "lb_balancer_drain", "lb_balancer_undrain"):
        fn(name, i, vp, u32, u64)
    fn("lb_balancer_set_weight", i, vp, u32, u32, u64)
    fn("lb_balancer_report", i, vp, u32, i, u64)
    fn("lb_balancer_report_passive", i, vp, u32, i, u64)
    fn("lb_balancer_pick", i, vp, u64, ctypes.POINTER(u32))
    fn("lb_balancer_pick_ex", i, vp, ctypes.POINTER(PickRequest), ctypes.POINTER(u32))
    fn("lb_balancer_release", i, vp, u32, u64)
    fn("lb_balancer_tick", i, vp, u64, ctypes.POINTER(Event), sz, sz)
    fn("lb_balancer_next_deadline", u64, vp)
    fn("lb_balancer_get_target_stats", i, vp, u32, ctypes.POINTER(TargetStats))
    fn("lb_balancer_get_stats", i, vp, ctypes.POINTER(BalancerStats))
    fn("lb_balancer_targets", i, vp, ctypes.POINTER(u32), sz)
    fn("lb_balancer_state_name", ctypes.c_char_p, u32)
    fn("lb_balancer_reason_name", ctypes.c_char_p, u32)


def load(path=None):
    """Load liblb (once); returns the ctypes library."""
    global _lib
    if _lib is None:
        path = path or os.environ.get("LIBLB_PATH") or ctypes.util.find_library("lb") \
            or "liblb.so.1"
        lib = ctypes.CDLL(path)
        _declare(lib)
        _lib = lib
    return _lib


def algorithms():
    """The selection algorithms the library offers: {name: value}, from the library's list."""
    lib = load()
    out = {}
    for k in range(lib.lb_algorithm_count()):
        v = ctypes.c_uint32()
        _check(lib.lb_algorithm_at(k, ctypes.byref(v)), "algorithm_at")
        out[lib.lb_algorithm_name(v.value).decode()] = v.value
    return out


def algorithm_value(name):
    """The lb_algorithm value of a name (ValueError for an unknown one)."""
    v = ctypes.c_uint32()
    if load().lb_algorithm_from_name(name.encode(), ctypes.byref(v)) != 0:
        raise ValueError("unknown algorithm %r (%s)" % (name, ", ".join(algorithms())))
    return v.value


def version():
    return load().lb_version_string().decode()


def hash_key(key, seed=0):
    key = key.encode() if isinstance(key, str) else bytes(key)
    return load().lb_hash_key(key, len(key), seed)


class NeedMore(Exception):
    """The bytes are a prefix of a PROXY header: `need` more bytes at least."""

    def __init__(self, need):
        self.need = need
        super().__init__(f"need {need} more bytes")


_FAMILIES = {0: "UNSPEC", 1: "INET", 2: "INET6", 3: "UNIX"}


def proxy_decode(data):
    """Decode a PROXY v1/v2 header at the start of `data` (bytes) with the default options.
    Returns a dict (version, command, family, addresses, ports, header_length, tlvs);
    raises NeedMore for a prefix and LbError for anything else."""
    import ipaddress
    lib = load()
    data = bytes(data)
    hdr = ProxyHeader(struct_size=ctypes.sizeof(ProxyHeader))
    need = ctypes.c_size_t()
    rc = lib.lb_proxy_decode(data, len(data), None, ctypes.byref(hdr), ctypes.byref(need))
    if rc == _code("LB_E_NEED_MORE"):
        raise NeedMore(need.value)
    _check(rc, "proxy_decode")
    family = _FAMILIES.get(hdr.family, "UNSPEC")
    out = {"version": hdr.version, "command": "PROXY" if hdr.command == 1 else "LOCAL",
           "family": family, "header_length": rc, "crc32c": bool(hdr.crc32c_present),
           "src_addr": None, "dst_addr": None, "src_port": None, "dst_port": None, "tlvs": []}
    if out["command"] == "PROXY" and family in ("INET", "INET6"):
        size = 4 if family == "INET" else 16
        out["src_addr"] = str(ipaddress.ip_address(bytes(hdr.src_addr[:size])))
        out["dst_addr"] = str(ipaddress.ip_address(bytes(hdr.dst_addr[:size])))
        out["src_port"], out["dst_port"] = hdr.src_port, hdr.dst_port
    elif out["command"] == "PROXY" and family == "UNIX":
        out["src_addr"] = ctypes.string_at(hdr.src_path, hdr.src_path_len).decode(errors="replace")
        out["dst_addr"] = ctypes.string_at(hdr.dst_path, hdr.dst_path_len).decode(errors="replace")
    cursor, tlv = ctypes.c_size_t(0), ProxyTlv()
    while _check(lib.lb_proxy_tlv_next(ctypes.byref(hdr), ctypes.byref(cursor),
                                       ctypes.byref(tlv)), "tlv_next") == 1:
        out["tlvs"].append((tlv.type, ctypes.string_at(tlv.value, tlv.length)))
    return out


class Balancer:
    """A liblb balancer. Keyword arguments set lb_balancer_config fields by name
    (algorithm may be given by name: "maglev", "wrr", ...)."""

    def __init__(self, **config):
        lib = load()
        cfg = BalancerConfig(struct_size=ctypes.sizeof(BalancerConfig))
        for key, value in config.items():
            if key == "algorithm" and isinstance(value, str):
                value = algorithm_value(value)
            setattr(cfg, key, value)
        self._h = ctypes.c_void_p()
        _check(lib.lb_balancer_new(ctypes.byref(self._h), ctypes.byref(cfg)), "balancer_new")

    def close(self):
        if self._h:
            _lib.lb_balancer_free(self._h)
            self._h = ctypes.c_void_p()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()

    def add(self, target_id, key, weight=1, zone=0, max_conns=0, now_ms=0):
        key = key.encode() if isinstance(key, str) else bytes(key)
        _check(_lib.lb_balancer_add(self._h, target_id, key, len(key), weight, zone, max_conns,
                                    now_ms), "add")

    def remove(self, target_id, now_ms=0):
        _check(_lib.lb_balancer_remove(self._h, target_id, now_ms), "remove")

    def drain(self, target_id, now_ms=0):
        _check(_lib.lb_balancer_drain(self._h, target_id, now_ms), "drain")

    def undrain(self, target_id, now_ms=0):
        _check(_lib.lb_balancer_undrain(self._h, target_id, now_ms), "undrain")

    def set_weight(self, target_id, weight, now_ms=0):
        _check(_lib.lb_balancer_set_weight(self._h, target_id, weight, now_ms), "set_weight")

    def report(self, target_id, ok, now_ms=0):
        _check(_lib.lb_balancer_report(self._h, target_id, 1 if ok else 0, now_ms), "report")

    def pick(self, flow_hash):
        """The target id for a new connection (counted active until release())."""
        out = ctypes.c_uint32()
        _check(_lib.lb_balancer_pick(self._h, flow_hash, ctypes.byref(out)), "pick")
        return out.value

    def pick_sticky(self, flow_hash, preferred_id, exclude=()):
        arr = (ctypes.c_uint32 * max(1, len(exclude)))(*exclude)
        req = PickRequest(struct_size=ctypes.sizeof(PickRequest), flags=PICK_STICKY,
                          flow_hash=flow_hash, preferred_id=preferred_id,
                          n_exclude=len(exclude), exclude=arr)
        out = ctypes.c_uint32()
        _check(_lib.lb_balancer_pick_ex(self._h, ctypes.byref(req), ctypes.byref(out)),
               "pick_ex")
        return out.value

    def release(self, target_id, now_ms=0):
        _check(_lib.lb_balancer_release(self._h, target_id, now_ms), "release")

    def tick(self, now_ms, cap=64):
        """Events as dicts: type, target_id, old_state, new_state, reason, connections."""
        events = (Event * cap)()
        n = _check(_lib.lb_balancer_tick(self._h, now_ms, events, ctypes.sizeof(Event), cap),
                   "tick")
        out = []
        for e in events[:n]:
            out.append({"type": e.type, "target_id": e.target_id,
                        "old_state": _lib.lb_balancer_state_name(e.old_state).decode(),
                        "new_state": _lib.lb_balancer_state_name(e.new_state).decode(),
                        "reason": _lib.lb_balancer_reason_name(e.reason).decode(),
                        "connections": e.connections, "at_ms": e.at_ms})
        return out

    def next_deadline(self):
        return _lib.lb_balancer_next_deadline(self._h)

    def target(self, target_id):
        s = TargetStats(struct_size=ctypes.sizeof(TargetStats))
        _check(_lib.lb_balancer_get_target_stats(self._h, target_id, ctypes.byref(s)),
               "target_stats")
        return {"id": s.id, "state": _lib.lb_balancer_state_name(s.state).decode(),
                "eligible": bool(s.eligible), "weight": s.weight,
                "effective_weight": s.effective_weight, "zone": s.zone, "active": s.active,
                "picks": s.picks, "table_entries": s.table_entries}

    def stats(self):
        s = BalancerStats(struct_size=ctypes.sizeof(BalancerStats))
        _check(_lib.lb_balancer_get_stats(self._h, ctypes.byref(s)), "stats")
        return {name: getattr(s, name) for name, _ in BalancerStats._fields_[1:]}

    def targets(self):
        n = _check(_lib.lb_balancer_targets(self._h, None, 0), "targets")
        arr = (ctypes.c_uint32 * max(1, n))()
        n = _check(_lib.lb_balancer_targets(self._h, arr, n), "targets")
        return list(arr[:n])
