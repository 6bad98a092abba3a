"""The PROXY protocol (v1 and v2): decode a header from received bytes, encode one to send.

    >>> import liblb.proxy
    >>> h = liblb.proxy.decode(b"PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\\r\\n")
    >>> h.family, h.src, h.dst, h.length
    ('INET', ('192.0.2.1', 56324), ('198.51.100.7', 443), 45)

Every call goes through liblb's decoder and encoder; this module only converts.
"""
from __future__ import annotations

import socket
from typing import Iterable, List, Tuple, Union

from ._native import Error, NeedMore, check, enum_names, err_name, ffi, lib, new_struct

__all__ = ["Header", "decode", "encode", "Error", "NeedMore"]

Buffer = Union[bytes, bytearray, memoryview]
Endpoint = Union[Tuple[str, int], str, None]

_COMMANDS = enum_names("enum lb_proxy_command")
_FAMILIES = enum_names("enum lb_proxy_family")
_TRANSPORTS = enum_names("enum lb_proxy_transport")
_AF = {"INET": (socket.AF_INET, 4), "INET6": (socket.AF_INET6, 16)}


class Header:
    """A decoded PROXY header.

    Attributes: `version` (1 or 2), `command` ("PROXY" or "LOCAL"), `family` ("INET",
    "INET6", "UNIX", "UNSPEC"), `transport` ("STREAM", "DGRAM", "UNSPEC"), `src` and `dst`
    (`(address text, port)` for INET/INET6, the path for UNIX, None otherwise), `length` (the
    header's size in bytes: the payload starts there), `tlvs` (list of `(type, bytes)`, v2),
    `crc32c` ("valid" when the header carried a CRC32C TLV, which the decoder checked, else
    "absent")."""

    __slots__ = ("version", "command", "family", "transport", "src", "dst", "length", "tlvs",
                 "crc32c")

    def __init__(self, h, length: int) -> None:
        self.version: int = h.version
        self.command: str = _COMMANDS.get(h.command, str(h.command))
        self.family: str = _FAMILIES.get(h.family, str(h.family))
        self.transport: str = _TRANSPORTS.get(h.transport, str(h.transport))
        self.src: Endpoint = _endpoint(h, "src")
        self.dst: Endpoint = _endpoint(h, "dst")
        self.length: int = length
        self.crc32c: str = "valid" if h.crc32c_present else "absent"
        self.tlvs: List[Tuple[int, bytes]] = []
        cursor = ffi.new("size_t *")
        tlv = ffi.new("lb_proxy_tlv *")
        while check(lib.lb_proxy_tlv_next(h, cursor, tlv), "lb_proxy_tlv_next") == 1:
            self.tlvs.append((tlv.type, bytes(ffi.buffer(tlv.value, tlv.length))))

    def __repr__(self) -> str:
        return (f"Header(version={self.version}, command={self.command!r}, "
                f"family={self.family!r}, src={self.src!r}, dst={self.dst!r}, "
                f"length={self.length}, tlvs={self.tlvs!r}, crc32c={self.crc32c!r})")


def _endpoint(h, side: str) -> Endpoint:
    fam = _FAMILIES.get(h.family)
    if fam in _AF:
        af, n = _AF[fam]
        addr = bytes(getattr(h, side + "_addr"))[:n]
        return socket.inet_ntop(af, addr), getattr(h, side + "_port")
    if fam == "UNIX":
        path = getattr(h, side + "_path")
        return bytes(ffi.buffer(path, getattr(h, side + "_path_len"))).decode(
            "utf-8", "surrogateescape")
    return None


def decode(data: Buffer, *, versions: int = 0, allow_unspec: bool = False,
           max_header_size: int = 0) -> Header:
    """Decodes the PROXY header at the start of `data` (bytes, bytearray or memoryview; read
    in place, not copied).

    `versions`: a bit set of LB_PROXY_V1 (1) and LB_PROXY_V2 (2) to accept (0: both); `allow_unspec` accepts a v2 PROXY
    header of family UNSPEC; `max_header_size` limits the header (0: liblb's default).
    Raises NeedMore (with `.need`) when `data` is a valid but incomplete prefix, and Error
    (with `.name`, e.g. "LB_E_PROXY_BAD_SIGNATURE") for anything else."""
    opts = new_struct("lb_proxy_options", {
        "versions": versions,
        "allow_unspec": int(bool(allow_unspec)), "max_header_size": max_header_size},
        "decode")
    buf = ffi.from_buffer("uint8_t[]", data)
    h = ffi.new("lb_proxy_header *")
    h.struct_size = ffi.sizeof("lb_proxy_header")
    need = ffi.new("size_t *")
    rc = lib.lb_proxy_decode(buf, len(buf), opts, h, need)
    if rc < 0:
        if rc == lib.LB_E_NEED_MORE:
            raise NeedMore(rc, need[0], "PROXY header incomplete")
        raise Error(rc, "PROXY header")
    return Header(h, rc)


def _sockaddr(ep: Endpoint, what: str):
    """A parsed address: the owning `struct sockaddr_storage *` (keep it alive while the
    pointer is used), or NULL."""
    if ep is None:
        return ffi.NULL
    if isinstance(ep, tuple):
        host, port = ep
        ep = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    elif not ep.startswith("unix:"):
        ep = "unix:" + ep
    sa = ffi.new("struct sockaddr_storage *")
    check(lib.lb_addr_parse(ep.encode(), sa, ffi.NULL), f"{what} {ep!r}")
    return sa


def encode(version: int, src: Endpoint = None, dst: Endpoint = None,
           tlvs: Iterable[Tuple[int, bytes]] = (), crc32c: bool = False, local: bool = False,
           dgram: bool = False) -> bytes:
    """Encodes a PROXY header.

    `src`/`dst`: `(address, port)` (IPv4 or IPv6 text) or a UNIX socket path, both of one
    family; None for both gives v1 "UNKNOWN" / v2 UNSPEC. `tlvs` (v2): `(type, value)` pairs
    in order; `crc32c` appends a CRC32C TLV; `local` makes a v2 LOCAL command. Raises Error
    (e.g. LB_E_PROXY_FAMILY_MISMATCH, LB_E_PROXY_V1_UNSUPPORTED)."""
    tlvs = list(tlvs)
    cap = sum(3 + len(v) for _, v in tlvs)
    storage = ffi.new("uint8_t[]", max(cap, 1))
    b = ffi.new("lb_proxy_tlv_builder *")
    lib.lb_proxy_tlvb_init(b, ffi.sizeof("lb_proxy_tlv_builder"), storage, cap)
    for t, v in tlvs:
        check(lib.lb_proxy_tlvb_add(b, t, ffi.from_buffer(v), len(v)), f"TLV {t:#x}")
    keep = (_sockaddr(src, "source"), _sockaddr(dst, "destination"))
    p = new_struct("lb_proxy_encode_params", {
        "version": version, "command": 0 if local else 1, "dgram": int(dgram),
        "crc32c": int(bool(crc32c)),
        "src": ffi.cast("struct sockaddr *", keep[0]), "dst": ffi.cast("struct sockaddr *", keep[1]),
        "tlvs": storage if tlvs else ffi.NULL, "tlvs_len": b.len}, "encode")
    need = ffi.new("size_t *")
    rc = lib.lb_proxy_encode(ffi.NULL, 0, p, need)
    if rc < 0 and err_name(rc) != "ENOSPC":
        raise Error(rc, "PROXY encode")
    out = ffi.new("uint8_t[]", need[0])
    n = check(lib.lb_proxy_encode(out, need[0], p, need), "PROXY encode")
    return bytes(ffi.buffer(out, n))
