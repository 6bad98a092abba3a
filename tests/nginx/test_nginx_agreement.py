#!/usr/bin/env python3
"""A mixed fleet agrees: nginx with `maglev source` and lbfwd with `--affinity source`, given
targets with the same keys (each server's address text, IPv4 and IPv6), send each client to
the same server.

Five servers (three on 127.0.0.1, two on [::1]), served by the nginx under test; lbfwd names
its targets by their address text, once on the command line (`--target
127.0.0.1:P=127.0.0.1:P`, `--target [::1]:P=[::1]:P,weight=2`) and once in a configuration
file (`[target [::1]:P]`). 1200 distinct clients 127.a.b.c connect through nginx and through
each lbfwd: every client reaches the same server three times, and that is the server liblb
names (lb_hash_src4, seed 0).
"""

from nginx_common import (Expect, Nginx, addr_text, check, free_ports, hash_src4, require,
                          source_addresses, tcp_read)
import lbfwd_common as L  # tests/integration, on the path nginx_common sets

N_SOURCES = 1200


def main():
    require()
    ports = free_ports(6)
    front = ports[0]
    hosts = ["127.0.0.1", "::1", "127.0.0.1", "::1", "127.0.0.1"]
    weights = [1, 2, 1, 1, 3]
    servers = [(h, p) for h, p in zip(hosts, ports[1:])]
    names = [addr_text(h, p) for h, p in servers]
    upstream = "".join("        server %s weight=%d;\n" % (n, w) for n, w in zip(names, weights))
    listens = "".join("        listen %s;\n" % n for n in names)
    stream = f"""
    upstream fleet {{
        maglev source;
{upstream}    }}
    server {{ listen 127.0.0.1:{front}; proxy_pass fleet; }}
    server {{
{listens}        return "$server_port";
    }}
"""
    ngx = Nginx("", stream, wait=[("127.0.0.1", front)])
    flag_fwd = file_fwd = None
    try:
        args = ["--listen", "127.0.0.1:0", "--check", "none", "--affinity", "source"]
        for n, w in zip(names, weights):
            args += ["--target", "%s=%s,weight=%d" % (n, n, w)]
        flag_fwd = L.Lbfwd(args)
        ini = "[lbfwd]\naffinity = source\ncheck = none\n"
        for n, w in zip(names, weights):
            ini += "[target %s]\naddr = %s\nweight = %d\n" % (n, n, w)
        file_fwd = L.Lbfwd(["--listen", "127.0.0.1:0"], config=ini)
        check(sorted(file_fwd.targets()) == sorted(names),
              "lbfwd from a configuration file: targets named %s" % sorted(file_fwd.targets()))

        exp = Expect(list(zip(names, weights)))
        port_of = {str(p): n for (_, p), n in zip(servers, names)}
        wrong, seen = [], set()
        for src in source_addresses(N_SOURCES):
            a = tcp_read("127.0.0.1", front, src=src)
            b = tcp_read(flag_fwd.host, flag_fwd.port, src=src)
            c = tcp_read(file_fwd.host, file_fwd.port, src=src)
            want = exp.pick(hash_src4(src))
            seen.add(a)
            if not (a == b == c and port_of.get(a) == want):
                wrong.append((src, port_of.get(a), port_of.get(b), port_of.get(c), want))
        check(not wrong, "%d clients: nginx maglev source, lbfwd --affinity source (flags) and "
              "lbfwd (file) each send every client to the same server, the one liblb names "
              "(%s)" % (N_SOURCES, wrong[:5] or "all agree"))
        check(len(seen) == len(servers), "every one of the %d servers got clients" % len(servers))
    finally:
        for f in (flag_fwd, file_fwd):
            if f:
                f.stop()
        ngx.stop()


if __name__ == "__main__":
    main()
