/* lbtool tls: decode a TLS ClientHello to JSON (server name, ALPN, versions, ECH, JA3, JA4,
 * cipher suites, extensions), and match a host name against host-name patterns. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb.h"
#include "lbtool.h"

static const char tls_help[] =
    "usage: lbtool tls decode [--hex HEX] [--max-size N]\n"
    "       lbtool tls match HOST PATTERN...\n\n"
    "decode: reads the first bytes of a TLS connection from --hex HEX or raw bytes on stdin\n"
    "  and prints the ClientHello as JSON: sni (null without a valid host name), alpn,\n"
    "  versions (supported_versions, else the legacy version), ech, ja3, ja4, cipher_suites,\n"
    "  extensions (numbers, in order, GREASE included) and bytes (record bytes consumed).\n"
    "  A server name that is not a host name adds sni_error (the name of the error).\n"
    "  --max-size N     largest accepted ClientHello (default 16384, at most 1048576)\n"
    "match: the pattern that matches HOST most specifically (exact name, *.suffix or *),\n"
    "  as {\"host\", \"pattern\", \"index\"}; no match is the error LB_E_TLS_NO_MATCH.\n";

/* "TLS1.3" .. "SSL3.0", or "0x7f1c" for a version without a name. */
static cJSON *version_item(uint16_t v)
{
    static const char *names[] = {"SSL3.0", "TLS1.0", "TLS1.1", "TLS1.2", "TLS1.3"};
    if (v >= LB_TLS_VERSION_SSL3 && v <= LB_TLS_VERSION_TLS13)
        return cJSON_CreateString(names[v - LB_TLS_VERSION_SSL3]);
    char buf[8];
    snprintf(buf, sizeof(buf), "0x%04x", v);
    return cJSON_CreateString(buf);
}

/* Printable ASCII as a string, anything else as lower-case hex. */
static cJSON *text_or_hex(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] < 0x20 || p[i] > 0x7e)
            return lbt_hex_bytes(p, n);
    char *s = strndup((const char *)p, n);
    cJSON *j = cJSON_CreateString(s ? s : "");
    free(s);
    return j;
}

static cJSON *u16_list(const uint8_t *list, size_t bytes)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < bytes / 2; i++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber(lb_tls_u16_at(list, i)));
    return a;
}

static cJSON *hello_json(const lb_tls_hello *h)
{
    cJSON *o = cJSON_CreateObject();
    if (h->sni_present && h->sni_error == LB_OK)
        cJSON_AddItemToObject(o, "sni", text_or_hex(h->sni, h->sni_len));
    else
        cJSON_AddNullToObject(o, "sni");
    if (h->sni_present && h->sni_error != LB_OK)
        cJSON_AddStringToObject(o, "sni_error", lb_err_name(h->sni_error));
    cJSON *alpn = cJSON_AddArrayToObject(o, "alpn");
    size_t cur = 0;
    const uint8_t *name;
    uint8_t nlen;
    while (lb_tls_alpn_next(h, &cur, &name, &nlen) == 1)
        cJSON_AddItemToArray(alpn, text_or_hex(name, nlen));
    cJSON *versions = cJSON_AddArrayToObject(o, "versions");
    for (size_t i = 0; i < h->versions_len / 2; i++) {
        uint16_t v = lb_tls_u16_at(h->versions, i);
        if (!lb_tls_is_grease(v))
            cJSON_AddItemToArray(versions, version_item(v));
    }
    if (!h->versions)
        cJSON_AddItemToArray(versions, version_item(h->legacy_version));
    cJSON_AddBoolToObject(o, "ech", h->ech);
    char ja3[LB_TLS_JA3_SIZE], ja4[LB_TLS_JA4_SIZE];
    if (lb_tls_ja3(h, ja3, sizeof(ja3)) == LB_OK)
        cJSON_AddStringToObject(o, "ja3", ja3);
    else
        cJSON_AddNullToObject(o, "ja3");
    if (lb_tls_ja4(h, ja4, sizeof(ja4)) == LB_OK)
        cJSON_AddStringToObject(o, "ja4", ja4);
    else
        cJSON_AddNullToObject(o, "ja4");
    cJSON_AddItemToObject(o, "cipher_suites", u16_list(h->cipher_suites, h->cipher_suites_len));
    cJSON *exts = cJSON_AddArrayToObject(o, "extensions");
    cur = 0;
    uint16_t type, dlen;
    const uint8_t *data;
    while (lb_tls_ext_next(h, &cur, &type, &data, &dlen) == 1)
        cJSON_AddItemToArray(exts, cJSON_CreateNumber(type));
    cJSON_AddNumberToObject(o, "bytes", h->bytes);
    return o;
}

static int tls_decode(int argc, char **argv)
{
    static const struct option opts[] = {{"hex", required_argument, NULL, 'x'},
                                         {"max-size", required_argument, NULL, 'm'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    lb_tls_options o;
    lb_tls_options_init(&o, sizeof(o));
    const char *hex = NULL;
    uint64_t v;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'x':
            hex = optarg;
            break;
        case 'm':
            if (lbt_parse_u64(optarg, LB_TLS_MAX_HELLO_LIMIT, &v) || v == 0)
                return lbt_usage("tls decode", "--max-size must be 1..%u", LB_TLS_MAX_HELLO_LIMIT);
            o.max_hello_size = (uint32_t)v;
            break;
        case 'h':
            fputs(tls_help, stdout);
            return LBT_EXIT_OK;
        default:
            return lbt_usage("tls decode", "unknown option");
        }
    }
    if (optind != argc)
        return lbt_usage("tls decode", "unexpected argument '%s'", argv[optind]);
    /* records of a hello at the cap: the hello and a header for each byte at worst */
    uint8_t *buf;
    size_t n;
    int ec = lbt_read_input("tls decode", hex, 6 * (size_t)LB_TLS_MAX_HELLO_LIMIT, &buf, &n);
    if (ec != LBT_EXIT_OK)
        return ec;
    uint8_t *scratch = malloc(o.max_hello_size);
    if (!scratch) {
        free(buf);
        return lbt_fail(-ENOMEM, NULL);
    }
    lb_tls_hello h;
    lb_tls_hello_init(&h, sizeof(h));
    size_t need = 0;
    int rc = lb_tls_decode(buf, n, &o, scratch, o.max_hello_size, &h, &need);
    if (rc == LB_E_NEED_MORE)
        rc = lbt_fail(rc, "the input ends before the ClientHello does (at least %zu more bytes)",
                      need);
    else if (rc < 0)
        rc = lbt_fail(rc, NULL);
    else
        rc = lbt_print(hello_json(&h));
    free(scratch);
    free(buf);
    return rc;
}

static int tls_match(int argc, char **argv)
{
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        fputs(tls_help, stdout);
        return LBT_EXIT_OK;
    }
    if (argc < 3)
        return lbt_usage("tls match", "HOST and at least one PATTERN are required");
    const char *host = argv[1];
    const char *const *pats = (const char *const *)argv + 2;
    size_t count = (size_t)argc - 2, idx = 0;
    for (size_t i = 0; i < count; i++)
        if (lb_tls_host_pattern_check(pats[i]) != LB_OK)
            return lbt_fail(LB_E_TLS_BAD_PATTERN, "pattern '%s' is not a host name, *.host or *",
                            pats[i]);
    int rc = lb_tls_host_match(pats, count, host, strlen(host), &idx);
    if (rc != LB_OK)
        return lbt_fail(rc, NULL);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "host", host);
    cJSON_AddStringToObject(o, "pattern", pats[idx]);
    cJSON_AddNumberToObject(o, "index", (double)idx);
    return lbt_print(o);
}

int lbt_cmd_tls(int argc, char **argv)
{
    static const struct lbt_sub subs[] = {{"decode", tls_decode}, {"match", tls_match}};
    return lbt_run_sub("tls", tls_help, "decode or match", subs, 2, argc, argv);
}
