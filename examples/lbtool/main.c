/* lbtool: liblb's features as commands with JSON output. */
#include <stdio.h>
#include <string.h>

#include "lbtool.h"

struct command {
    const char *name;
    lbt_cmd_fn fn;
    const char *summary;
};

/* Each module adds its subcommand in its own section. */
static const struct command commands[] = {
    /* foundation */
    {"version", lbt_cmd_version, "print liblb's version"},
    {"hash", lbt_cmd_hash, "hash a flow, a source address or a key"},
    /* proxy */
    {"proxy", lbt_cmd_proxy, "decode or encode a PROXY protocol v1/v2 header"},

    /* maglev, chash */
    {"maglev", lbt_cmd_maglev, "build a Maglev table: balance, digest, disruption"},
    {"chash", lbt_cmd_chash, "a consistent-hash ring: distribution, bounded loads"},

    /* wrr, leastconn */
    {"wrr", lbt_cmd_wrr, "smooth weighted round robin picks"},
    {"leastconn", lbt_cmd_leastconn, "simulate least-connections picks"},

    /* rendezvous */
    {"rendezvous", lbt_cmd_rendezvous, "weighted rendezvous hashing: shares, what moves"},

    /* zone */
    {"zones", lbt_cmd_zones, "plan traffic shares across zones and regions"},

    /* balancer */
    {"balancer", lbt_cmd_balancer, "a balancer: picks, states, drains, zones, events"},

    /* tls */
    {"tls", lbt_cmd_tls, "decode a TLS ClientHello (SNI, ALPN, JA3, JA4); match host names"},

};

static void usage(FILE *f)
{
    fprintf(f, "usage: lbtool COMMAND [OPTIONS]\n\n"
               "Diagnostics for liblb: every command prints JSON on stdout.\n"
               "A failed operation prints {\"error\": NAME, \"message\": TEXT} and exits 1;\n"
               "a usage error prints to stderr and exits 2.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'lbtool COMMAND --help' describes each command.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return LBT_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return LBT_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].fn(argc - 1, argv + 1);
    }
    fprintf(stderr, "lbtool: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return LBT_EXIT_USAGE;
}
