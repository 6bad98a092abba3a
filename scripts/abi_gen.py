#!/usr/bin/env python3
"""Generate liblb's machine-readable ABI description from the installed headers.

    abi_gen.py --include DIR [--include DIR ...] --out FILE [--arch x86_64|i386] [--cc CC]
    abi_gen.py ... --check FILE       (exit 1 with a diff when FILE is not what it generates)

castxml parses <lb.h> (every public header) for the target architecture and gives the
functions, their parameter types, the structs with sizes, alignments and offsets (in bits:
divided here into bytes), and the enumerations with their values. The headers' Doxygen
comments, located through castxml's comment offsets, give what C cannot say:

    @thread pure|reader|writer|exclusive   the thread class (required on every function)
    @mayblock                              it may block (a lock, a wait, a spin)
    @retval NAME ...                       a code it returns (required on `int` functions)
    @param[out] / "(copied)" / "(transferred)"   a parameter's ownership

Object-like `LB_*` macros with a value are the constants; their values come from compiling
and running a small C program with the same compiler. The x86_64 description (the default)
lists functions, structs, enums and constants; `--arch i386` writes the struct layouts only
(`-m32`), where `uint64_t` and `double` members are 4-byte aligned.

It also enforces doc/ABI.md's rules and fails (exit 2) when a header breaks one: a function
without a valid thread class, an `int` function without @retval lines, an unknown code in a
@retval line, a struct with implicit padding (a hole or a padded end), a struct without
`struct_size` whose comment does not say it is frozen, an enum whose constants' prefix is
used by another enum. Nothing here lists functions or headers by hand.
"""
import argparse
import difflib
import json
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

THREAD_CLASSES = ("pure", "reader", "writer", "exclusive")
ERRNO_NAMES = None  # filled from errno module


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.stderr.write(f"abi_gen: {' '.join(cmd)} failed:\n{r.stdout}{r.stderr}")
        sys.exit(2)
    return r.stdout


class Types:
    """castxml's type graph turned into C text."""

    def __init__(self, root):
        self.by_id = {e.get("id"): e for e in root}

    def text(self, tid, name=""):
        e = self.by_id[tid]
        tag = e.tag
        if tag in ("FundamentalType", "Typedef", "Enumeration"):
            base = e.get("name")
            if tag == "Enumeration" and base:
                base = "enum " + base
            return f"{base} {name}".rstrip() if name else base
        if tag in ("Struct", "Union"):
            kw = "struct" if tag == "Struct" else "union"
            return f"{kw} {e.get('name')}" + (f" {name}" if name else "")
        if tag == "ElaboratedType":
            inner = self.by_id[e.get("type")]
            if inner.tag in ("Struct", "Union"):
                kw = "struct" if inner.tag == "Struct" else "union"
                return f"{kw} {inner.get('name')}" + (f" {name}" if name else "")
            if inner.tag == "Enumeration":
                return f"enum {inner.get('name')}" + (f" {name}" if name else "")
            return self.text(e.get("type"), name)
        if tag == "CvQualifiedType":
            inner = self.by_id[e.get("type")]
            q = "const" if e.get("const") == "1" else ""
            if e.get("volatile") == "1":
                q = (q + " volatile").strip()
            if inner.tag == "PointerType":  # T *const
                return self.text(e.get("type"), f"{q} {name}".strip())
            return f"{q} {self.text(e.get('type'), name)}"
        if tag == "PointerType":
            inner = self.by_id[e.get("type")]
            if inner.tag == "FunctionType":
                return self.func_text(inner, f"(*{name})")
            return self.text(e.get("type"), f"*{name}")
        if tag == "ArrayType":
            n = int(e.get("max")) + 1 if e.get("max") not in (None, "") else ""
            return self.text(e.get("type"), f"{name}[{n}]")
        if tag == "FunctionType":
            return self.func_text(e, name)
        raise SystemExit(f"abi_gen: unknown castxml type {tag}")

    def func_text(self, e, name):
        args = [self.text(a.get("type")) for a in e if a.tag == "Argument"]
        return f"{self.text(e.get('returns'))} {name}({', '.join(args) or 'void'})"

    def resolve(self, tid):
        """The type behind typedefs, qualifiers and elaboration."""
        e = self.by_id[tid]
        while e.tag in ("Typedef", "CvQualifiedType", "ElaboratedType"):
            e = self.by_id[e.get("type")]
        return e


def castxml(cc, includes, arch, workdir):
    src = os.path.join(workdir, "abi.c")
    with open(src, "w") as f:
        f.write("#include <lb.h>\n")
    out = os.path.join(workdir, f"abi-{arch}.xml")
    ccargs = ["(", cc, "-m32", ")"] if arch == "i386" else [cc]
    cmd = ["castxml", "--castxml-output=1", "--castxml-cc-gnu-c", *ccargs]
    for d in includes:
        cmd += ["-I", d]
    run(cmd + [src, "-o", out])
    return ET.parse(out).getroot()


def public_header(path, includes):
    """`lb/balancer.h` for a file under one of the include directories, else None."""
    real = os.path.realpath(path)
    for d in includes:
        d = os.path.realpath(d)
        if real.startswith(d + os.sep):
            rel = os.path.relpath(real, d)
            if rel == "lb.h" or rel.startswith("lb" + os.sep):
                return rel.replace(os.sep, "/")
    return None


class Comments:
    def __init__(self, root):
        self.files = {e.get("id"): e.get("name") for e in root if e.tag == "File"}
        self.comments = {e.get("id"): e for e in root if e.tag == "Comment"}
        self.cache = {}

    def of(self, elem):
        cid = elem.get("comment")
        if not cid:
            return ""
        c = self.comments[cid]
        path = self.files[c.get("file")]
        if path not in self.cache:
            with open(path, "rb") as f:
                self.cache[path] = f.read()
        return self.cache[path][int(c.get("begin_offset")):int(c.get("end_offset"))].decode()


def doc_lines(comment):
    """The comment's text lines without the leading ` * `."""
    out = []
    for line in comment.splitlines():
        line = re.sub(r"^\s*(/\*\*|\*/|\*)?\s?", "", line)
        line = re.sub(r"\*/\s*$", "", line)
        out.append(line)
    return out


def param_docs(lines):
    """{name: (direction, text)} from @param lines (with their continuation lines)."""
    docs, cur = {}, None
    text = " ".join(lines)
    for m in re.finditer(r"@param(\[[a-z,]+\])?\s+(\w+)(.*?)(?=@\w|$)", text):
        docs[m.group(2)] = (m.group(1) or "", m.group(3))
    return docs


def ownership(pname, ptype, fname, direction, text, index):
    if "out" in direction:
        return "out"
    low = text.lower()
    if "transferred" in low or (index == 0 and fname.endswith("_free")):
        return "transferred"
    if "*" not in ptype:
        return "copied"
    if "copied" in low:
        return "copied"
    return "borrowed"


def known_codes(root):
    import errno
    names = set(errno.errorcode.values())
    for e in root:
        if e.tag == "Enumeration" and e.get("name") == "lb_error":
            names |= {v.get("name") for v in e if v.tag == "EnumValue"}
    names.add("LB_OK")
    return names


def functions(root, types, comments, includes, problems):
    codes = known_codes(root)
    files = comments.files
    out = []
    for e in root:
        if e.tag != "Function" or not e.get("name", "").startswith("lb_"):
            continue
        header = public_header(files[e.get("file")], includes)
        if not header:
            continue
        name = e.get("name")
        lines = doc_lines(comments.of(e))
        text = "\n".join(lines)
        threads = re.findall(r"@thread\s+(\w+)", text)
        if len(threads) != 1 or threads[0] not in THREAD_CLASSES:
            problems.append(f"{header}: {name}: needs one '@thread {'|'.join(THREAD_CLASSES)}'"
                            f" line (found {threads})")
        retvals = re.findall(r"@retval\s+([A-Za-z_][A-Za-z0-9_]*)", text)
        for r in retvals:
            if r not in codes:
                problems.append(f"{header}: {name}: @retval {r} is not an error code name")
        returns = types.text(e.get("returns"))
        if returns == "int" and not retvals:
            problems.append(f"{header}: {name}: returns int but has no @retval line")
        pdocs = param_docs(lines)
        params = []
        for i, a in enumerate(x for x in e if x.tag == "Argument"):
            ptype = types.text(a.get("type"))
            direction, ptext = pdocs.get(a.get("name"), ("", ""))
            params.append({"name": a.get("name"), "type": ptype,
                           "ownership": ownership(a.get("name"), ptype, name, direction,
                                                  ptext, i)})
        errors = []
        for r in retvals:
            if r != "LB_OK" and r not in errors:
                errors.append(r)
        out.append({"name": name, "header": header, "returns": returns, "params": params,
                    "thread": threads[0] if threads else None,
                    "may_block": bool(re.search(r"@mayblock\b", text)), "errors": errors})
    out.sort(key=lambda f: f["name"])
    return out


def structs(root, types, comments, includes, problems, check_docs):
    files = comments.files
    typedef_of = {}
    for e in root:
        if e.tag == "Typedef":
            target = types.by_id[e.get("type")]
            if target.tag == "ElaboratedType":
                target = types.by_id[target.get("type")]
            if target.tag == "Struct":
                typedef_of[target.get("id")] = e
    out = []
    for e in root:
        if e.tag != "Struct" or e.get("incomplete") == "1" or not e.get("size"):
            continue
        header = public_header(files[e.get("file")], includes)
        if not header:
            continue
        td = typedef_of.get(e.get("id"))
        name = td.get("name") if td is not None and td.get("name") == e.get("name") \
            else f"struct {e.get('name')}"
        size, align = int(e.get("size")) // 8, int(e.get("align")) // 8
        fields, end = [], 0
        for mid in (e.get("members") or "").split():
            m = types.by_id[mid]
            if m.tag != "Field":
                continue
            off = int(m.get("offset")) // 8
            ftype = types.text(m.get("type"))
            fsize = field_size(types, m.get("type"))
            if off > end:
                problems.append(f"{header}: {name}: {off - end} bytes of implicit padding before "
                                f"'{m.get('name')}'")
            end = off + fsize
            fields.append({"name": m.get("name"), "type": ftype, "offset": off})
        if end < size:
            problems.append(f"{header}: {name}: ends in {size - end} bytes of implicit padding "
                            "(add an explicit reserved field)")
        if check_docs and not any(f["name"] == "struct_size" for f in fields):
            doc = comments.of(e) + (comments.of(td) if td is not None else "")
            if "frozen" not in doc.lower():
                problems.append(f"{header}: {name}: has no struct_size; its comment must say "
                                "it is frozen")
        out.append({"name": name, "size": size, "align": align, "fields": fields})
    out.sort(key=lambda s: s["name"])
    return out


def field_size(types, tid):
    e = types.resolve(tid)
    if e.get("size") is not None:
        return int(e.get("size")) // 8
    if e.tag == "ArrayType":
        return (int(e.get("max")) + 1) * field_size(types, e.get("type"))
    raise SystemExit(f"abi_gen: no size for {e.tag}")


def enums(root, includes, comments, problems):
    out = []
    for e in root:
        if e.tag != "Enumeration" or not e.get("name"):
            continue
        if not public_header(comments.files[e.get("file")], includes):
            continue
        values = {v.get("name"): int(v.get("init")) for v in e if v.tag == "EnumValue"}
        out.append({"name": e.get("name"), "values": values})
    out.sort(key=lambda x: x["name"])
    # Each enum's constants share a prefix (up to an underscore) that no other enum's use.
    for en in out:
        names = list(en["values"])
        prefix = os.path.commonprefix(names)
        if len(names) == 1:
            prefix = names[0]
        prefix = prefix[:prefix.rfind("_") + 1] if "_" in prefix else prefix
        for other in out:
            if other is en:
                continue
            clash = [n for n in other["values"] if n.startswith(prefix)]
            if clash:
                problems.append(f"enum {en['name']}: its prefix {prefix} is also used by enum "
                                f"{other['name']} ({clash[0]})")
    return out


def macro_names(includes):
    names = {}
    for d in includes:
        for dirpath, _, fnames in os.walk(d):
            for fn in sorted(fnames):
                path = os.path.join(dirpath, fn)
                if not fn.endswith(".h") or not public_header(path, includes):
                    continue
                with open(path) as f:
                    for line in f:
                        m = re.match(r"\s*#\s*define\s+(LB_[A-Z0-9_]+)(\s+(.*))?$", line)
                        if m and m.group(3) and m.group(3).strip() and \
                                not m.group(1).endswith("_H"):
                            names[m.group(1)] = True
    return sorted(names)


def constants(cc, includes, workdir):
    names = macro_names(includes)
    src = os.path.join(workdir, "consts.c")
    with open(src, "w") as f:
        f.write("#include <stdio.h>\n#include <stdint.h>\n#include <lb.h>\n"
                "static void pf(const char *n, double v) { printf(\"%s f %.17g\\n\", n, v); }\n"
                "static void ps(const char *n, const char *v) { printf(\"%s s %s\\n\", n, v); }\n"
                "static void pi(const char *n, long long v) { printf(\"%s i %lld\\n\", n, v); }\n"
                "static void pu(const char *n, unsigned long long v)"
                " { printf(\"%s i %llu\\n\", n, v); }\n"
                "#define P(x) _Generic((x), float: pf, double: pf, char *: ps, const char *: ps, "
                "int: pi, long: pi, long long: pi, default: pu)(#x, (x))\n")
        f.write("int main(void)\n{\n")
        usable = []
        for n in names:
            # Only macros that are expressions (attributes such as LB_API are not).
            usable.append(n)
            f.write(f"#if defined({n})\n    P({n});\n#endif\n")
        f.write("    return 0;\n}\n")
    exe = os.path.join(workdir, "consts")
    cmd = [cc, "-std=c11", "-o", exe, src]
    for d in includes:
        cmd += ["-I", d]
    # Drop macros that do not compile as values (LB_API, LB_NODISCARD), one pass.
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        bad = set(re.findall(r"in expansion of macro '(LB_[A-Z0-9_]+)'", r.stderr))
        bad |= {n for n in names if re.search(rf"\b{n}\b", r.stderr) and n in
                ("LB_API", "LB_NODISCARD")}
        with open(src) as f:
            text = f.read()
        for n in bad:
            text = text.replace(f"#if defined({n})\n    P({n});\n#endif\n", "")
        with open(src, "w") as f:
            f.write(text)
        run(cmd)
    out = []
    for line in run([exe]).splitlines():
        name, kind, value = line.split(" ", 2)
        if kind == "i":
            value = int(value)
        elif kind == "f":
            value = float(value)
        out.append({"name": name, "value": value})
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--include", action="append", required=True)
    ap.add_argument("--arch", default="x86_64", choices=("x86_64", "i386"))
    ap.add_argument("--cc", default=os.environ.get("CC", "cc").split()[0])
    ap.add_argument("--out")
    ap.add_argument("--check")
    ap.add_argument("--warn-only", action="store_true",
                    help="report broken rules but still write --out (the build's own run; "
                         "the tests and abi-update stay strict)")
    args = ap.parse_args()
    problems = []
    with tempfile.TemporaryDirectory() as work:
        root = castxml(args.cc, args.include, args.arch, work)
        types, comments = Types(root), Comments(root)
        desc = {}
        if args.arch == "x86_64":
            desc["functions"] = functions(root, types, comments, args.include, problems)
        desc["structs"] = structs(root, types, comments, args.include, problems,
                                  args.arch == "x86_64")
        if args.arch == "x86_64":
            desc["enums"] = enums(root, args.include, comments, problems)
            desc["constants"] = constants(args.cc, args.include, work)
        else:
            desc = {"arch": "i386", "structs": desc["structs"]}
    if problems:
        sys.stderr.write("abi_gen: the headers break doc/ABI.md's rules:\n")
        for p in problems:
            sys.stderr.write(f"  {p}\n")
        if not args.warn_only:
            sys.exit(2)
    text = json.dumps(desc, indent=1, sort_keys=False) + "\n"
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    if args.check:
        with open(args.check) as f:
            old = f.read()
        if old != text:
            sys.stderr.writelines(difflib.unified_diff(
                old.splitlines(True), text.splitlines(True), args.check, "generated"))
            sys.stderr.write(f"\nabi_gen: {args.check} differs from the headers: review the ABI "
                             "change, then run `meson compile -C build abi-update`.\n")
            sys.exit(1)
        print(f"{args.check}: up to date")
    if not args.out and not args.check:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
