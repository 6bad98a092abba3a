#!/usr/bin/env python3
"""`nginx -t` with the Maglev modules: good configurations pass; each bad one is refused with
a message that names the problem, in http and in stream upstream blocks."""

from nginx_common import check, nginx_test, require

S = "        server 127.0.0.1:1;\n        server 127.0.0.1:2;\n"

GOOD = [
    ("maglev $arg_user;", S),
    ("maglev $remote_addr$remote_port table_size=65521;", S),
    ("maglev source;", S),
    ("maglev source table_size=2;", S),
    ("maglev $binary_remote_addr;", "        server 127.0.0.1:1 weight=65535 max_fails=3 "
     "fail_timeout=5s max_conns=10;\n        server 127.0.0.1:2 down;\n"),
    ("zone z 64k; maglev source;", S),
]

BAD = [
    ("maglev;", S, '"maglev" needs a key'),
    ('maglev "";', S, '"maglev" needs a key'),
    ("maglev $arg_user table_size=65536;", S, "table size 65536 is not a prime"),
    ("maglev $arg_user table_size=1;", S, 'table size "table_size=1" is out of range'),
    ("maglev $arg_user table_size=16777259;", S, "is out of range"),
    ("maglev $arg_user table_size=x;", S, 'table size "table_size=x" is out of range'),
    ("maglev $arg_user table_size=;", S, 'unknown maglev parameter "table_size="'),
    ("maglev $arg_user consistent;", S, 'unknown maglev parameter "consistent"'),
    ("maglev $arg_user table_size=7 table_size=11;", S, "table_size is given twice"),
    ("maglev $arg_user; maglev source;", S, '"maglev" directive is duplicate'),
    ("maglev source table_size=2;", S + "        server 127.0.0.1:3;\n",
     "table size 2 is smaller than the 3 servers"),
    ("maglev source;", S + "        server 127.0.0.1:3 backup;\n",
     'does not support parameter "backup"'),
    ("server 127.0.0.1:3 backup; maglev source;", S,
     'maglev does not support backup servers: "127.0.0.1:3"'),
    ("maglev source;", S + "        server 127.0.0.1:1;\n",
     'server "127.0.0.1:1" appears twice'),
    ("maglev source;", "        server 127.0.0.1:1 weight=65536;\n",
     'weight=65536 of server "127.0.0.1:1" is out of range'),
    ("maglev $undefined_variable_x;", S, 'unknown "undefined_variable_x" variable'),
]


def block(kind, directive, servers):
    directive = directive.replace("$arg_user", "$arg_user" if kind == "http" else "$remote_port")
    up = "    upstream u {\n        %s\n%s    }\n" % (directive, servers)
    if kind == "http":
        return up + "    server { listen 127.0.0.1:9; location / { proxy_pass http://u; } }\n", ""
    return "", up + "    server { listen 127.0.0.1:9; proxy_pass u; }\n"


def main():
    require()
    for kind in ("http", "stream"):
        for directive, servers in GOOD:
            rc, out = nginx_test(*block(kind, directive, servers))
            check(rc == 0, "%s: nginx -t accepts '%s'%s" % (kind, directive,
                                                             "" if rc == 0 else ": " + out))
        for directive, servers, want in BAD:
            rc, out = nginx_test(*block(kind, directive, servers))
            check(rc != 0 and want in out and "[emerg]" in out,
                  "%s: nginx -t refuses '%s' with '%s'%s"
                  % (kind, directive, want, "" if rc != 0 and want in out else ": " + out))


if __name__ == "__main__":
    main()
