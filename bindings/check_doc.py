#!/usr/bin/env python3
"""Follows doc/bindings.md as a new user would: takes the Python, Rust and Go sections' code
blocks as they are written, runs them in a scratch directory with Debian's toolchains and a
clean environment (PATH=/usr/bin:/bin, an empty HOME), and checks each program's output.

    check_doc.py BUILD_DIR

The library comes from BUILD_DIR through its meson-uninstalled pkg-config file (the doc's
"without installing" variant) instead of `meson install`; `/path/to/liblb` in the doc becomes
this checkout. Apt lines are replaced by a check that the packages are installed.
"""
import glob
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sections():
    doc = open(os.path.join(ROOT, "doc", "bindings.md")).read()
    out = {}
    for sec in re.split(r"^## ", doc, flags=re.M)[1:]:
        out[sec.splitlines()[0]] = re.findall(r"```(\w*)\n(.*?)```", sec, re.S)
    return out


def shell(text):
    """A doc's shell block, runnable here: apt-get becomes a dpkg check, placeholders filled."""
    lines = []
    for line in text.splitlines():
        if line.startswith("sudo apt-get install"):
            pkgs = line.split("-y", 1)[1].split()
            line = "dpkg-query -W " + " ".join(pkgs) + " >/dev/null"
        line = line.replace("PKG_CONFIG_PATH=... LD_LIBRARY_PATH=... ", "")
        lines.append(line)
    return "set -eu\n" + "\n".join(lines) + "\n"


def run(script, cwd, env, what, expect):
    p = subprocess.run(["sh", "-c", script], cwd=cwd, env=env, capture_output=True, text=True,
                       timeout=900)
    if p.returncode != 0:
        sys.exit(f"{what}: exit {p.returncode}\n{p.stdout}\n{p.stderr}")
    for e in expect:
        if e not in p.stdout:
            sys.exit(f"{what}: no {e!r} in the output:\n{p.stdout}\n{p.stderr}")
    print(f"{what}: ok")
    print("  " + "\n  ".join(p.stdout.strip().splitlines()))


def main():
    build = os.path.abspath(sys.argv[1])
    work = os.path.join(build, "bindings", "doc-check")
    shutil.rmtree(work, ignore_errors=True)
    home = os.path.join(work, "home")
    os.makedirs(home)
    env = {"PATH": "/usr/bin:/bin", "HOME": home, "LANG": "C.UTF-8",
           "PKG_CONFIG_PATH": os.path.join(build, "meson-uninstalled"),
           "LD_LIBRARY_PATH": os.path.join(build, "lib")}
    version = subprocess.run(["pkg-config", "--modversion", "liblb"], env=env, check=True,
                             capture_output=True, text=True).stdout.strip()
    s = sections()
    common = [f"liblb {version}", "client-7 ->", "need ", "more bytes"]

    # Python: the install block runs in a copy of the checkout (pip builds in place); the
    # installed package finds liblb through pkg-config (no LIBLB_PATH).
    py = s["Python"]
    src = os.path.join(work, "checkout")
    shutil.copytree(os.path.join(ROOT, "bindings", "python"),
                    os.path.join(src, "bindings", "python"),
                    ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    open(os.path.join(home, "example.py"), "w").write(py[1][1])
    run(shell(py[0][1]) + "~/lbenv/bin/python ~/example.py\n", src, env, "python",
        common + ["rejected: LB_E_PROXY_NOT_PROXY", "payload at"])

    typed = [os.path.join(d, "liblb", "py.typed") for d in
             glob.glob(os.path.join(home, "lbenv", "lib", "python3*", "site-packages"))]
    if not typed or not all(os.path.exists(t) for t in typed):
        sys.exit("python: the installed package has no py.typed")

    # Rust: a new cargo project with the doc's dependency line and main.rs.
    rs = s["Rust"]
    run("set -eu\n/usr/bin/cargo new -q --vcs none demo-rs\n", home, env, "cargo new", [])
    proj = os.path.join(home, "demo-rs")
    with open(os.path.join(proj, "Cargo.toml"), "a") as f:
        f.write(rs[0][1].replace("[dependencies]\n", "").replace("/path/to/liblb", ROOT))
    open(os.path.join(proj, "src", "main.rs"), "w").write(rs[1][1])
    run(shell(rs[2][1]), proj, env, "rust", common + ["payload GET /"])

    # Go: a new module with the doc's go.mod and main.go.
    go = s["Go"]
    proj = os.path.join(home, "demo-go")
    os.makedirs(proj)
    open(os.path.join(proj, "go.mod"), "w").write(
        go[0][1].replace("/path/to/liblb", ROOT))
    open(os.path.join(proj, "main.go"), "w").write(go[1][1])
    run(shell(go[2][1]), proj, env, "go", common + ["rejected: LB_E_PROXY_NOT_PROXY"])


if __name__ == "__main__":
    main()
