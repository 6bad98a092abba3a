#!/usr/bin/env python3
"""The Maglev modules when servers fail or change, in the stock nginx.

Every answer must be liblb's pick with the servers that cannot take the request excluded
(lb_balancer_pick_ex through ctypes): nothing else.

1. A dead server (nothing listens on its port; not marked down), http `maglev $arg_k` and
   stream `maglev source`: no request or connection fails; keys of live servers stay where
   the table puts them, with no retry; the dead server's keys go where liblb's retry rule
   sends them; nginx pays at most one failed connect per worker (max_fails=1 remembers it).
2. One live server marked `down`, plus a reload: exactly that server's keys move (to liblb's
   choice without it), no other key moves.
3. A reload with a changed server list (the dead and the down server removed, a new one
   added): every key lands where lbtool names with the new list.
"""

from nginx_common import (Expect, Nginx, check, free_ports, hash_key, hash_src4, http_get,
                          lbtool_lookups, require, source_addresses, tcp_read)

N_KEYS = 2000
N_SOURCES = 600


def confs(front, sfront, live, slive, servers, sservers):
    listens = "".join("        listen 127.0.0.1:%d;\n" % p for p in live)
    slistens = "".join("        listen 127.0.0.1:%d;\n" % p for p in slive)
    http = f"""
    upstream u {{
        maglev $arg_k;
{servers}    }}
    server {{
        listen 127.0.0.1:{front};
        location / {{
            proxy_pass http://u;
            add_header X-Up $upstream_addr always;
        }}
    }}
    server {{
{listens}        location / {{ return 200 "127.0.0.1:$server_port"; }}
    }}
"""
    stream = f"""
    upstream s {{
        maglev source;
{sservers}    }}
    server {{ listen 127.0.0.1:{sfront}; proxy_pass s; }}
    server {{
{slistens}        return "127.0.0.1:$server_port";
    }}
"""
    return http, stream


def server_lines(targets, down=(), extra=" max_fails=1 fail_timeout=60s"):
    return "".join("        server %s%s%s;\n" % (k, extra, " down" if k in down else "")
                   for k in targets)


def ask_all(front, keys):
    out = {}
    for k in keys:
        status, headers, body = http_get("127.0.0.1", front, "/?k=" + k)
        out[k] = (status, body, headers.get("x-up", ""))
    return out


def main():
    require()
    ports = free_ports(13)
    front, sfront = ports[0], ports[1]
    live, dead, newcomer = ports[2:6], ports[6], ports[7]
    slive, sdead = ports[8:12], ports[12]               # the stream side's own servers
    names = ["127.0.0.1:%d" % p for p in live]
    dead_name = "127.0.0.1:%d" % dead
    targets = names[:2] + [dead_name] + names[2:]       # the dead one in the middle
    snames = ["127.0.0.1:%d" % p for p in slive]
    sdead_name = "127.0.0.1:%d" % sdead
    stargets = snames[:1] + [sdead_name] + snames[1:]
    stable = Expect([(t, 1) for t in stargets])
    keys = ["k%d" % i for i in range(N_KEYS)]
    srcs = source_addresses(N_SOURCES)
    table = Expect([(t, 1) for t in targets])
    home = {k: table.pick(hash_key(k)) for k in keys}
    check(sum(1 for k in keys if home[k] == dead_name) > 100,
          "the dead server owns %d of the %d keys"
          % (sum(1 for k in keys if home[k] == dead_name), N_KEYS))

    http, stream = confs(front, sfront, live, slive, server_lines(targets),
                         server_lines(stargets))
    ngx = Nginx(http, stream, wait=[("127.0.0.1", front), ("127.0.0.1", sfront)])
    try:
        # 1. a dead server
        got = ask_all(front, keys)
        failed = [k for k in keys if got[k][0] != 200]
        check(not failed, "dead server, http: all %d requests answered 200 (%s)"
              % (N_KEYS, failed[:5] or "none failed"))
        wrong = [k for k in keys if got[k][1] != table.pick(hash_key(k), [dead_name])]
        check(not wrong, "dead server, http: each key where liblb's pick with the dead server "
              "excluded says (%s)" % ([(k, got[k]) for k in wrong[:5]] or "all equal"))
        stayed = [k for k in keys if home[k] != dead_name]
        check(all(got[k][1] == home[k] and got[k][2] == home[k] for k in stayed),
              "dead server, http: the %d keys of live servers did not move, with no retry"
              % len(stayed))
        retried = [k for k in keys if "," in got[k][2]]
        check(all(got[k][2].split(",")[0].strip() == dead_name for k in retried)
              and 1 <= len(retried) <= ngx.workers,
              "dead server, http: %d failed connect(s) to it in all (at most one per worker: "
              "max_fails), each retried (%s)" % (len(retried), [got[k][2] for k in retried]))

        wrong = []
        for s in srcs:
            ans = tcp_read("127.0.0.1", sfront, src=s)
            if ans != stable.pick(hash_src4(s), [sdead_name]):
                wrong.append((s, ans))
        check(not wrong, "dead server, stream: %d clients answered, each where liblb's pick "
              "without the dead server says; clients of live servers unmoved (%s)"
              % (N_SOURCES, wrong[:5] or "all equal"))
        before = {k: got[k][1] for k in keys}

        # 2. `down` plus reload
        x = names[1]
        http, stream = confs(front, sfront, live, slive, server_lines(targets, down=[x]),
                             server_lines(stargets))
        ngx.reload(http, stream)
        got = ask_all(front, keys)
        check(all(got[k][0] == 200 for k in keys), "after down + reload: every request answered")
        wrong = [k for k in keys if got[k][1] != table.pick(hash_key(k), [x, dead_name])]
        check(not wrong, "after down + reload: each key where liblb's pick without the down and "
              "the dead server says (%s)" % ([(k, got[k]) for k in wrong[:5]] or "all equal"))
        moved = [k for k in keys if got[k][1] != before[k]]
        owned = [k for k in keys if before[k] == x]
        check(sorted(moved) == sorted(owned) and owned,
              "after down + reload: exactly the %d keys of %s moved (%d moved)"
              % (len(owned), x, len(moved)))

        # 3. a changed server list
        new_names = names[:1] + names[2:] + ["127.0.0.1:%d" % newcomer]
        new_live = live[:1] + live[2:] + [newcomer]
        http, stream = confs(front, sfront, new_live, slive,
                             server_lines(new_names, extra=""), server_lines(stargets))
        ngx.reload(http, stream)
        want, _ = lbtool_lookups([(t, 1) for t in new_names], keys)
        got = ask_all(front, keys)
        wrong = [k for k in keys if got[k][1] != want[k] or got[k][2] != want[k]]
        check(not wrong, "after a reload with another server list: each key where lbtool names "
              "with the new list (%s)" % ([(k, got[k], want[k]) for k in wrong[:5]] or
                                          "all equal"))
    finally:
        ngx.stop()


if __name__ == "__main__":
    main()
