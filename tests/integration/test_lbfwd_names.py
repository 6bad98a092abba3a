#!/usr/bin/env python3
"""lbfwd targets named by their address text (127.0.0.1:9001, [::1]:9001), the way nginx names
its peers, so that both use the same Maglev keys (doc/lbfwd.md, "Target names").

- flags: --target 127.0.0.1:P=127.0.0.1:P,weight=2 and --target [::1]:P=[::1]:P;
- the configuration file: [target 127.0.0.1:P], [target [::1]:P] (lbfwd reads the ']' inside
  the header) and [target [::1%5D:P] (the same name, escaped);
- admin URLs: the name percent-encoded (/targets/%5B::1%5D:P/drain) or not;
- refused: a name that is neither a name nor an address, a bad %-escape, a section name that
  libinih would cut short.
"""

import os
import subprocess
import tempfile
import urllib.parse

import lbfwd_common as L


def refused(args, config=None, want=""):
    with tempfile.TemporaryDirectory() as d:
        argv = [L.LBFWD, "--check-config"] + list(args)
        if config is not None:
            path = os.path.join(d, "lbfwd.ini")
            with open(path, "w") as f:
                f.write(config)
            argv += ["--config", path]
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        err = p.stderr.decode()
        return p.returncode != 0 and want in err, err.strip()


def main():
    b4 = L.Backend("v4")
    b6 = L.Backend("v6", host="::1")
    b6b = L.Backend("v6b", host="::1")
    p4, p6, p6b = b4.port, b6.port, b6b.port
    n4, n6, n6b = "127.0.0.1:%d" % p4, "[::1]:%d" % p6, "[::1]:%d" % p6b
    try:
        f = L.Lbfwd(["--listen", "127.0.0.1:0", "--check", "none",
                     "--target", "%s=%s,weight=2" % (n4, n4), "--target", "%s=%s" % (n6, n6)])
        try:
            t = f.targets()
            L.check(sorted(t) == sorted([n4, n6]) and t[n4]["weight"] == 2,
                    "flags: targets named %s and %s" % (n4, n6))
            names = {L.request(f.host, f.port)["name"] for _ in range(20)}
            L.check(names <= {"v4", "v6"} and names, "flags: connections reach %s" % names)
            st, body = f.admin("POST", "/targets/%s/drain" % urllib.parse.quote(n6, safe=":"))
            L.check(st == 200 and f.targets()[n6]["state"] == "draining",
                    "admin: POST /targets/%s/drain drains %s (%d %s)"
                    % (urllib.parse.quote(n6, safe=":"), n6, st, body))
            st, body = f.admin("POST", "/targets?name=%s&addr=%s" % (
                urllib.parse.quote(n6b), urllib.parse.quote(n6b)))
            L.check(st == 201 and n6b in f.targets(), "admin: POST /targets?name=%s adds it (%d)"
                    % (urllib.parse.quote(n6b), st))
            st, body = f.admin("DELETE", "/targets/" + n4)
            L.check(st == 200, "admin: DELETE /targets/%s, the name unencoded (%d %s)"
                    % (n4, st, body))
            st, body = f.admin("POST", "/targets/%5B::1:9/drain")
            L.check(st == 404, "admin: /targets/%%5B::1:9/drain is no target (%d)" % st)
        finally:
            f.stop()

        ini = ("[lbfwd]\ncheck = none\n[target %s]\naddr = %s\n[target %s]   ; IPv6, as is\n"
               "addr = %s\n[target [::1%%5D:%d]\naddr = %s\nweight = 3\n"
               % (n4, n4, n6, n6, p6b, n6b))
        f = L.Lbfwd(["--listen", "127.0.0.1:0"], config=ini)
        try:
            t = f.targets()
            L.check(sorted(t) == sorted([n4, n6, n6b]) and t[n6b]["weight"] == 3,
                    "configuration file: [target %s], [target %s], [target [::1%%5D:%d] name "
                    "%s" % (n4, n6, p6b, sorted(t)))
        finally:
            f.stop()

        for args, config, want in [
            (["--target", "[::1:9=[::1]:9"], None, "bad target name '[::1:9'"),
            (["--target", "1.2.3.4:x=1.2.3.4:9"], None, "bad target name '1.2.3.4:x'"),
            (["--listen", "127.0.0.1:1"], "[target [::1%5G:9]\naddr = [::1]:9\n",
             "bad target name '[::1%5G:9'"),
            # section names are kept whole (libinih's 49 characters do not cut them): a name
            # over 64 characters is refused as a name
            (["--listen", "127.0.0.1:1"], "[target [2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff]:65535.x"
             "xxxxxxxxxxxxxxxxxx]\naddr = [::1]:9\n", "bad target name"),
        ]:
            ok, err = refused(args, config, want)
            L.check(ok, "refused with '%s' (%s)" % (want, err))
    finally:
        for b in (b4, b6, b6b):
            b.stop()


if __name__ == "__main__":
    main()
