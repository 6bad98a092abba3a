"""Loading liblb through cffi (ABI mode: no compiler needed) and turning return codes into
exceptions. The declarations are generated from the C headers (_decls.py)."""
from __future__ import annotations

import ctypes.util
import glob
import ipaddress
import os
import shutil
import subprocess
from typing import Any, Dict, Iterator, Tuple

import cffi

from . import _decls

ffi = cffi.FFI()
ffi.cdef(_decls.CDEF)


def _candidates() -> Iterator[str]:
    """Where the shared library may be, tried in order until one loads: $LIBLB_PATH,
    pkg-config's -L directories (installed, or a build's meson-uninstalled .pc), then the
    dynamic loader's own search."""
    env = os.environ.get("LIBLB_PATH")
    if env:
        yield env
    if shutil.which("pkg-config"):
        try:
            flags = subprocess.run(["pkg-config", "--libs-only-L", "liblb"], check=True,
                                   capture_output=True, text=True, timeout=10).stdout.split()
            dirs = [f[2:] for f in flags if f.startswith("-L")]
            libdir = subprocess.run(["pkg-config", "--variable=libdir", "liblb"], check=True,
                                    capture_output=True, text=True, timeout=10).stdout.strip()
            for d in dirs + ([libdir] if libdir else []):
                yield from sorted(glob.glob(os.path.join(d, "liblb.so.*")))
        except (subprocess.SubprocessError, OSError):
            pass
    yield "liblb.so"
    found = ctypes.util.find_library("lb")
    if found:
        yield found


def _load() -> Any:
    errors = []
    for path in _candidates():
        try:
            return ffi.dlopen(path)
        except OSError as e:
            errors.append(f"{path}: {e}")
    raise ImportError("liblb shared library not found (set LIBLB_PATH, or PKG_CONFIG_PATH to "
                      "a directory with liblb.pc): " + "; ".join(errors))


lib = _load()


def _text(p: Any) -> str:
    return "" if p == ffi.NULL else ffi.string(p).decode()


def packed_pair(src: str, dst: str) -> Tuple[int, bytes, bytes]:
    """Two addresses (text) in network order for liblb's 5-tuple calls: `(4, a, b)` when
    both are IPv4, else `(6, a, b)` with an IPv4 address in its IPv4-mapped IPv6 form (which
    liblb hashes and keys like the plain IPv4 one)."""
    s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    if s.version == 4 and d.version == 4:
        return 4, s.packed, d.packed
    mapped = b"\0" * 10 + b"\xff\xff"
    return (6, s.packed if s.version == 6 else mapped + s.packed,
            d.packed if d.version == 6 else mapped + d.packed)


def err_name(code: int) -> str:
    """liblb's stable name of a return code: "LB_E_PROXY_CRC_MISMATCH", "EINVAL", ..."""
    return _text(lib.lb_err_name(code))


class Error(Exception):
    """A liblb call failed. `code` is the (negative) return value, `name` its stable
    `LB_E_...` or errno name (lb_err_name), and the message is lb_strerror's."""

    def __init__(self, code: int, what: str = "") -> None:
        self.code = code
        self.name = err_name(code)
        msg = f"{self.name}: {_text(lib.lb_strerror(code))}"
        super().__init__(f"{what}: {msg}" if what else msg)


class NeedMore(Error):
    """An incremental decoder needs more input: `need` is how many more bytes it needs at
    least before it can answer."""

    def __init__(self, code: int, need: int, what: str = "") -> None:
        super().__init__(code, what)
        self.need = need


def check(rc: int, what: str = "") -> int:
    """Raises Error for a negative return code; returns the others."""
    if rc < 0:
        raise Error(rc, what)
    return rc


def code(name: str) -> int:
    """The value of a liblb error code by name (from the library's own list of codes)."""
    return _codes_by_name()[name]


_CODES: Dict[str, int] = {}


def _codes_by_name() -> Dict[str, int]:
    if not _CODES:
        for i in range(lib.lb_err_count()):
            c = lib.lb_err_at(i)
            _CODES[err_name(c)] = c
    return _CODES


def enum_names(enum: str) -> Dict[int, str]:
    """An enum's values and their names with the enum's common prefix removed, e.g.
    {1: "INET", 2: "INET6", ...} for `enum lb_proxy_family`."""
    elements = ffi.typeof(enum).elements
    prefix = os.path.commonprefix(list(elements.values()))
    if "_" in prefix:
        prefix = prefix[:prefix.rindex("_") + 1]
    return {v: n[len(prefix):] for v, n in elements.items()}


def new_struct(ctype: str, fields: Dict[str, Any], what: str) -> Any:
    """A zeroed struct with `struct_size` set and the named fields assigned; an unknown
    field name raises TypeError (the names come from the C header)."""
    s = ffi.new(ctype + " *")
    names = {f for f, _ in ffi.typeof(ctype).fields}
    if "struct_size" in names:
        s.struct_size = ffi.sizeof(ctype)
    for k, v in fields.items():
        if k not in names or k == "struct_size":
            raise TypeError(f"{what}: unknown option {k!r} (known: "
                            f"{', '.join(sorted(names - {'struct_size'}))})")
        setattr(s, k, v)
    return s


def struct_dict(s: Any) -> Dict[str, Any]:
    """A struct's fields as a dict (without struct_size)."""
    t = ffi.typeof(s)
    if t.kind == "pointer":
        t = t.item
    return {f: getattr(s, f) for f, _ in t.fields if f != "struct_size"}
