"""liblb through ctypes, declared from abi/liblb.api.json (the generated ABI description),
the way a binding generator would: functions get their argtypes/restype from the `params`
and `returns` C types, structs are built from `fields` and checked against the recorded
`size`, `align` and `offset`s, constants and enum values come from `constants` and `enums`.
Nothing about the ABI is written by hand here."""
import ctypes
import json
import os
import re

SOURCE = os.environ.get("LB_SOURCE_ROOT", ".")
BUILD = os.environ.get("LB_BUILD_ROOT", "build")

with open(os.path.join(SOURCE, "abi", "liblb.api.json")) as _f:
    DESC = json.load(_f)

_SCALARS = {
    "uint8_t": ctypes.c_uint8, "uint16_t": ctypes.c_uint16, "uint32_t": ctypes.c_uint32,
    "uint64_t": ctypes.c_uint64, "int8_t": ctypes.c_int8, "int16_t": ctypes.c_int16,
    "int32_t": ctypes.c_int32, "int64_t": ctypes.c_int64, "int": ctypes.c_int,
    "unsigned int": ctypes.c_uint, "size_t": ctypes.c_size_t, "double": ctypes.c_double,
    "float": ctypes.c_float, "char": ctypes.c_char, "_Bool": ctypes.c_bool,
}
_STRUCTS = {s["name"]: s for s in DESC["structs"]}
_FUNCS = {f["name"]: f for f in DESC["functions"]}
CONST = {c["name"]: c["value"] for c in DESC["constants"]}
ENUM = {}
for _e in DESC["enums"]:
    ENUM.update(_e["values"])
DESC_ENUM_lb_error = next(e["values"] for e in DESC["enums"] if e["name"] == "lb_error")
_built = {}


def ctype(text):
    """The ctypes type of a C type as the description writes it."""
    t = re.sub(r"\bconst\b", "", text).strip()
    t = re.sub(r"\s+", " ", t)
    m = re.match(r"^(.*?)\[(\d+)\]$", t)
    if m:
        return ctype(m.group(1)) * int(m.group(2))
    if "(*" in t:  # a function pointer: an address is all a test needs
        return ctypes.c_void_p
    if t.endswith("*"):
        inner = t[:-1].strip()
        if inner == "char":
            return ctypes.c_char_p
        if inner == "void" or inner.endswith("*"):
            return ctypes.c_void_p
        if inner in _SCALARS:
            return ctypes.POINTER(_SCALARS[inner])
        if inner in _STRUCTS:
            return ctypes.POINTER(struct(inner))
        return ctypes.c_void_p  # opaque handles, struct sockaddr
    if t == "void":
        return None
    if t in _SCALARS:
        return _SCALARS[t]
    if t.startswith("enum "):
        return ctypes.c_int
    if t in _STRUCTS:
        return struct(t)
    # a typedef of a function pointer (callbacks)
    return ctypes.c_void_p


def struct(name):
    """A ctypes Structure for struct `name`, checked against the description's layout."""
    if name in _built:
        return _built[name]
    desc = _STRUCTS[name]
    cls = type(name, (ctypes.Structure,), {})
    _built[name] = cls
    cls._fields_ = [(f["name"], ctype(f["type"])) for f in desc["fields"]]
    if ctypes.sizeof(ctypes.c_void_p) == 8:  # the description is of x86_64 (LP64)
        assert ctypes.sizeof(cls) == desc["size"], (name, ctypes.sizeof(cls), desc["size"])
        assert ctypes.alignment(cls) == desc["align"], name
        for f in desc["fields"]:
            assert getattr(cls, f["name"]).offset == f["offset"], (name, f["name"])
    return cls


def new(name, **fields):
    """A zeroed struct with struct_size set (when it has one) and some fields set."""
    cls = struct(name)
    obj = cls()
    if any(f["name"] == "struct_size" for f in _STRUCTS[name]["fields"]):
        obj.struct_size = ctypes.sizeof(cls)
    for k, v in fields.items():
        setattr(obj, k, v)
    return obj


def load(path=None):
    lib = ctypes.CDLL(path or os.path.join(BUILD, "lib", "liblb.so.1"))
    return lib


def func(lib, name):
    """The function `name` with argtypes and restype from the description."""
    d = _FUNCS[name]
    f = getattr(lib, name)
    f.restype = ctype(d["returns"])
    f.argtypes = [ctype(p["type"]) for p in d["params"]]
    return f


def functions():
    return DESC["functions"]


def code(name):
    """An error code's value: liblb's own codes from the description's lb_error enum."""
    return ENUM[name]
