/* lbtool hash: the hash of flows, source addresses and keys, as liblb's selectors see them. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "lb.h"
#include "lbtool.h"

static const char hash_help[] =
    "usage: lbtool hash [--seed S] (--flow SRC,DST[,PROTO] | --src ADDR | --key TEXT |\n"
    "                               --key-hex HEX)...\n\n"
    "Hashes each input with liblb's flow-key encoding and seeded XXH3-64 (doc/hashing.md).\n"
    "  --flow SRC,DST[,PROTO]  a 5-tuple: SRC and DST as 1.2.3.4:80 or [2001:db8::1]:443,\n"
    "                          PROTO tcp (default), udp or a number 0-255\n"
    "  --src ADDR              a source address alone (1.2.3.4 or 2001:db8::1)\n"
    "  --key TEXT              arbitrary key bytes (a cookie value, a user id)\n"
    "  --key-hex HEX           arbitrary key bytes given in hex\n"
    "  --seed S                the seed, decimal or 0x hex (default 0)\n"
    "Inputs are repeatable and printed in the order given, each with its hash as \"0x...\".\n";

static int parse_proto(const char *s, uint8_t *proto)
{
    uint64_t v;
    if (!strcmp(s, "tcp"))
        *proto = 6;
    else if (!strcmp(s, "udp"))
        *proto = 17;
    else if (lbt_parse_u64(s, 255, &v) == 0)
        *proto = (uint8_t)v;
    else
        return -1;
    return 0;
}

/* Returns 0, a liblb error (<0), or 1 for a usage error (message on stderr). */
static int hash_flow(const char *arg, uint64_t seed, cJSON *item)
{
    char *copy = strdup(arg);
    if (!copy)
        return -ENOMEM;
    char *parts[3] = {0};
    int n = 0;
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok && n < 3;
         tok = strtok_r(NULL, ",", &save))
        parts[n++] = tok;
    int rc = 0;
    uint8_t proto = 6;
    struct sockaddr_storage src, dst;
    if (n < 2 || (n == 3 && parse_proto(parts[2], &proto))) {
        rc = 1;
    } else if ((rc = lb_addr_parse(parts[0], &src, NULL)) == 0 &&
               (rc = lb_addr_parse(parts[1], &dst, NULL)) == 0) {
        uint64_t h;
        rc = lb_hash_flow_sockaddr((struct sockaddr *)&src, (struct sockaddr *)&dst, proto, seed,
                                   &h);
        if (rc == 0) {
            cJSON_AddStringToObject(item, "kind", "flow");
            cJSON_AddStringToObject(item, "input", arg);
            cJSON_AddNumberToObject(item, "proto", proto);
            cJSON_AddItemToObject(item, "hash", lbt_hex64(h));
        }
    }
    free(copy);
    return rc;
}

static int hash_src(const char *arg, uint64_t seed, cJSON *item)
{
    uint8_t a[16];
    uint64_t h;
    if (inet_pton(AF_INET, arg, a) == 1)
        h = lb_hash_src4(a, seed);
    else if (inet_pton(AF_INET6, arg, a) == 1)
        h = lb_hash_src6(a, seed);
    else
        return LB_E_ADDR_SYNTAX;
    cJSON_AddStringToObject(item, "kind", "src");
    cJSON_AddStringToObject(item, "input", arg);
    cJSON_AddItemToObject(item, "hash", lbt_hex64(h));
    return 0;
}

int lbt_cmd_hash(int argc, char **argv)
{
    static const struct option opts[] = {
        {"flow", required_argument, 0, 'f'}, {"src", required_argument, 0, 's'},
        {"key", required_argument, 0, 'k'},  {"key-hex", required_argument, 0, 'x'},
        {"seed", required_argument, 0, 'S'}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    uint64_t seed = 0;
    int c, inputs = 0;
    /* First pass: the seed and the help, wherever they stand. */
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'h') {
            fputs(hash_help, stdout);
            return LBT_EXIT_OK;
        }
        if (c == '?' || c == ':')
            return lbt_usage("hash", "unknown option or missing value: '%s'",
                             argv[optind - 1]);
        if (c == 'S' && lbt_parse_u64(optarg, UINT64_MAX, &seed))
            return lbt_usage("hash", "bad seed '%s'", optarg);
        if (c != 'S')
            inputs++;
    }
    if (optind < argc)
        return lbt_usage("hash", "unexpected argument '%s'", argv[optind]);
    if (!inputs)
        return lbt_usage("hash", "nothing to hash: give --flow, --src, --key or --key-hex");

    cJSON *out = cJSON_CreateObject();
    cJSON_AddItemToObject(out, "seed", lbt_hex64(seed));
    cJSON *list = cJSON_AddArrayToObject(out, "hashes");
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'S')
            continue;
        cJSON *item = cJSON_CreateObject();
        cJSON_AddItemToArray(list, item);
        int rc = 0;
        if (c == 'f') {
            rc = hash_flow(optarg, seed, item);
            if (rc == 1) {
                cJSON_Delete(out);
                return lbt_usage("hash", "bad --flow '%s': want SRC,DST[,PROTO]", optarg);
            }
        } else if (c == 's') {
            rc = hash_src(optarg, seed, item);
        } else if (c == 'k') {
            cJSON_AddStringToObject(item, "kind", "key");
            cJSON_AddStringToObject(item, "input", optarg);
            cJSON_AddItemToObject(item, "hash", lbt_hex64(lb_hash_key(optarg, strlen(optarg),
                                                                       seed)));
        } else if (c == 'x') {
            size_t cap = strlen(optarg) / 2 + 1;
            uint8_t *buf = malloc(cap);
            long n = buf ? lbt_parse_hex(optarg, buf, cap) : -1;
            if (n < 0) {
                free(buf);
                cJSON_Delete(out);
                return lbt_usage("hash", "bad hex '%s'", optarg);
            }
            cJSON_AddStringToObject(item, "kind", "key");
            cJSON_AddStringToObject(item, "input_hex", optarg);
            cJSON_AddItemToObject(item, "hash", lbt_hex64(lb_hash_key(buf, (size_t)n, seed)));
            free(buf);
        }
        if (rc < 0) {
            cJSON_Delete(out);
            return lbt_fail(rc, "cannot hash '%s': %s", optarg, lb_strerror(rc));
        }
    }
    return lbt_print(out);
}
