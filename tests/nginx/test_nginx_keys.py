#!/usr/bin/env python3
"""The Maglev modules in the stock nginx: every request or connection lands on the server
liblb names.

- http, `maglev $arg_k`: 3000 distinct keys, each on the server `lbtool maglev --lookup-key`
  names (one lbtool run for all), with weights 1, 2, 3 and 4; the shares follow the weights;
  the same through an upstream with a shared-memory `zone` (peers copied by nginx after the
  table is built) and a small table size (`table_size=251`).
- stream, `maglev source`: 2000 distinct client addresses 127.a.b.c, each connection on the
  server liblb names for lb_hash_src4(client, seed 0) (ctypes); http `maglev source` the same
  for 500 of them; stream `maglev $remote_addr` for lb_hash_key of the address text (lbtool).
"""

import collections

from nginx_common import (Expect, Nginx, check, free_ports, hash_src4, http_get, lbtool_lookups,
                          require, source_addresses, tcp_read)

N_KEYS = 3000
N_SOURCES = 2000


def main():
    require()
    ports = free_ports(13)
    front_http, front_zone, front_stream, front_raddr, front_hsrc = ports[:5]
    backs = ports[5:9]            # http backends, weights 1..4
    sbacks = ports[9:13]          # stream backends
    weights = [1, 2, 3, 4]
    http_targets = [("127.0.0.1:%d" % p, w) for p, w in zip(backs, weights)]
    stream_targets = [("127.0.0.1:%d" % p, 1) for p in sbacks]
    servers = "".join("        server %s weight=%d;\n" % t for t in http_targets)
    sservers = "".join("        server %s;\n" % t[0] for t in stream_targets)
    listens = "".join("        listen 127.0.0.1:%d;\n" % p for p in backs)
    slistens = "".join("        listen 127.0.0.1:%d;\n" % p for p in sbacks)
    http = f"""
    upstream by_arg {{
        maglev $arg_k;
{servers}    }}
    upstream by_arg_zone {{
        zone maglev_test 256k;
        maglev $arg_k table_size=251;
{servers}    }}
    server {{
        listen 127.0.0.1:{front_http};
        location / {{ proxy_pass http://by_arg; }}
    }}
    upstream by_source_http {{
        maglev source;
{servers}    }}
    server {{
        listen 127.0.0.1:{front_zone};
        location / {{ proxy_pass http://by_arg_zone; }}
    }}
    server {{
        listen 127.0.0.1:{front_hsrc};
        location / {{ proxy_pass http://by_source_http; }}
    }}
    server {{
{listens}        location / {{ return 200 "127.0.0.1:$server_port"; }}
    }}
"""
    stream = f"""
    upstream by_source {{
        maglev source;
{sservers}    }}
    upstream by_remote_addr {{
        maglev $remote_addr;
{sservers}    }}
    server {{ listen 127.0.0.1:{front_stream}; proxy_pass by_source; }}
    server {{ listen 127.0.0.1:{front_raddr}; proxy_pass by_remote_addr; }}
    server {{
{slistens}        return "127.0.0.1:$server_port";
    }}
"""
    ngx = Nginx(http, stream, wait=[("127.0.0.1", p) for p in (front_http, front_stream)])
    try:
        keys = ["user-%d" % i for i in range(N_KEYS)]
        want, table = lbtool_lookups(http_targets, keys)
        got = {}
        for k in keys:
            status, _, body = http_get("127.0.0.1", front_http, "/?k=" + k)
            got[k] = body if status == 200 else "status %d" % status
        wrong = [k for k in keys if got[k] != want[k]]
        check(not wrong, "http maglev $arg_k: %d keys, each on the server lbtool names (%s)"
              % (N_KEYS, "wrong: %s" % [(k, got[k], want[k]) for k in wrong[:5]] if wrong
                 else "all equal"))
        counts = collections.Counter(got.values())
        total_w = sum(weights)
        for (key, w) in http_targets:
            share = counts[key] / N_KEYS
            entries = next(t["entries"] for t in table["targets"] if t["key"] == key)
            check(abs(entries / table["table_size"] - w / total_w) < 0.01,
                  "%s weight %d: %d of the table's %d slots (%.3f; weight share %.3f)"
                  % (key, w, entries, table["table_size"], entries / table["table_size"],
                     w / total_w))
            check(abs(share - w / total_w) < 0.045,  # 5 standard deviations of 3000 draws
                  "%s weight %d: %.3f of the keys (weight share %.3f)"
                  % (key, w, share, w / total_w))

        want_small, _ = lbtool_lookups(http_targets, keys[:1000], table_size=251)
        wrong = []
        for k in keys[:1000]:
            status, _, body = http_get("127.0.0.1", front_zone, "/?k=" + k)
            if body != want_small[k]:
                wrong.append((k, body, want_small[k]))
        check(not wrong, "http, upstream with a zone and table_size=251: 1000 keys where "
              "lbtool --size 251 says (%s)" % (wrong[:5] or "all equal"))

        exp = Expect(stream_targets)
        srcs = source_addresses(N_SOURCES)
        wrong = []
        for src in srcs:
            ans = tcp_read("127.0.0.1", front_stream, src=src)
            if ans != exp.pick(hash_src4(src)):
                wrong.append((src, ans, exp.pick(hash_src4(src))))
        check(not wrong, "stream maglev source: %d client addresses, each on the server liblb "
              "names for lb_hash_src4 (%s)" % (N_SOURCES, wrong[:5] or "all equal"))

        hexp = Expect(http_targets)
        wrong = []
        for src in srcs[:500]:
            _, _, body = http_get("127.0.0.1", front_hsrc, "/", src=src)
            if body != hexp.pick(hash_src4(src)):
                wrong.append((src, body, hexp.pick(hash_src4(src))))
        check(not wrong, "http maglev source: 500 client addresses, each on the server liblb "
              "names (%s)" % (wrong[:5] or "all equal"))

        few = srcs[:500]
        want_ra, _ = lbtool_lookups(stream_targets, few)
        wrong = [(s, a, want_ra[s]) for s in few
                 for a in [tcp_read("127.0.0.1", front_raddr, src=s)] if a != want_ra[s]]
        check(not wrong, "stream maglev $remote_addr: 500 clients where lbtool --lookup-key "
              "ADDRESS says (%s)" % (wrong[:5] or "all equal"))
    finally:
        ngx.stop()


if __name__ == "__main__":
    main()
