/* lbtool proxy: decode a PROXY protocol header to JSON, or encode one from addresses and TLVs. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lb.h"
#include "lbtool.h"

static const char proxy_help[] =
    "usage: lbtool proxy decode [--hex HEX] [--allow-unspec] [--max-size N]\n"
    "                           [--v1-only | --v2-only]\n"
    "       lbtool proxy encode --version 1|2 (--src ADDR:PORT --dst ADDR:PORT | --local)\n"
    "                           [--authority S] [--alpn S] [--unique-id HEX]\n"
    "                           [--tlv TYPE=HEX]... [--crc32c] [--noop-align N] [--hex]\n\n"
    "decode: reads a header from --hex HEX or raw bytes on stdin and prints it as JSON\n"
    "  (version, command, family, transport, addresses, ports, header_length, crc32c, tlvs).\n"
    "  --allow-unspec   accept v2 PROXY with family UNSPEC\n"
    "  --max-size N     largest accepted header (default 4096, at most 65551)\n"
    "  --v1-only, --v2-only  accept only that version\n"
    "encode: writes a header to stdout (raw bytes, or lowercase hex and a newline with --hex).\n"
    "  ADDR:PORT is 1.2.3.4:80, [2001:db8::1]:443 or unix:/path (v2 only).\n"
    "  --local          a LOCAL header (v1: PROXY UNKNOWN); --src/--dst are then optional\n"
    "  --authority, --alpn, --unique-id, --tlv TYPE=HEX (TYPE decimal or 0x hex) add TLVs in\n"
    "  the order given, after the CRC32C TLV that --crc32c adds first; --noop-align N pads\n"
    "  the header with a NOOP TLV to a multiple of N bytes.\n";

/* ---- decode -------------------------------------------------------------------------- */

static const char *family_name(int f)
{
    static const char *n[] = {"UNSPEC", "INET", "INET6", "UNIX"};
    return n[f & 3];
}

static const char *transport_name(int t)
{
    static const char *n[] = {"UNSPEC", "STREAM", "DGRAM", "?"};
    return n[t & 3];
}

static const char *tlv_name(uint8_t type)
{
    switch (type) {
    case LB_PROXY_TLV_ALPN:
        return "ALPN";
    case LB_PROXY_TLV_AUTHORITY:
        return "AUTHORITY";
    case LB_PROXY_TLV_CRC32C:
        return "CRC32C";
    case LB_PROXY_TLV_NOOP:
        return "NOOP";
    case LB_PROXY_TLV_UNIQUE_ID:
        return "UNIQUE_ID";
    case LB_PROXY_TLV_SSL:
        return "SSL";
    case LB_PROXY_TLV_NETNS:
        return "NETNS";
    case LB_PROXY_TLV_AWS:
        return "AWS";
    case LB_PROXY_TLV_AZURE:
        return "AZURE";
    case LB_PROXY_TLV_GCP:
        return "GCP";
    default:
        return "UNKNOWN";
    }
}

static const char *ssl_sub_name(uint8_t type)
{
    static const char *n[] = {"SSL_VERSION", "SSL_CN",    "SSL_CIPHER",     "SSL_SIG_ALG",
                              "SSL_KEY_ALG", "SSL_GROUP", "SSL_SIG_SCHEME", "SSL_CLIENT_CERT"};
    return type >= 0x21 && type <= 0x28 ? n[type - 0x21] : "UNKNOWN";
}

/* Printable ASCII text (no control characters, no bytes cJSON would pass through raw). */
static int is_text(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] < 0x20 || p[i] > 0x7E)
            return 0;
    return 1;
}

static cJSON *text_or_hex(const uint8_t *p, size_t n)
{
    if (!is_text(p, n))
        return lbt_hex_bytes(p, n);
    char *s = strndup((const char *)p, n);
    cJSON *j = cJSON_CreateString(s ? s : "");
    free(s);
    return j;
}

static void add_error(cJSON *item, int rc)
{
    cJSON_AddStringToObject(item, "error", lb_err_name(rc));
}

/* The value of a TLV whose accessor looks at the first TLV of its type: only the first one is
 * interpreted, later ones are shown raw. */
static void tlv_value(const lb_proxy_header *h, const lb_proxy_tlv *t, int first, cJSON *item)
{
    lb_proxy_tlv v;
    int rc;
    if (!first) {
        cJSON_AddItemToObject(item, "value", lbt_hex_bytes(t->value, t->length));
        return;
    }
    switch (t->type) {
    case LB_PROXY_TLV_ALPN:
    case LB_PROXY_TLV_NETNS:
        cJSON_AddItemToObject(item, "value", text_or_hex(t->value, t->length));
        return;
    case LB_PROXY_TLV_AUTHORITY:
        if ((rc = lb_proxy_get_authority(h, &v)) != 0)
            add_error(item, rc);
        else
            cJSON_AddItemToObject(item, "value", text_or_hex(v.value, v.length));
        return;
    case LB_PROXY_TLV_UNIQUE_ID:
        if ((rc = lb_proxy_get_unique_id(h, &v)) != 0)
            add_error(item, rc);
        else
            cJSON_AddItemToObject(item, "value", lbt_hex_bytes(v.value, v.length));
        return;
    case LB_PROXY_TLV_SSL: {
        lb_proxy_ssl ssl;
        if ((rc = lb_proxy_get_ssl(h, &ssl)) != 0) {
            add_error(item, rc);
            return;
        }
        cJSON *o = cJSON_CreateObject(), *subs = cJSON_CreateArray();
        cJSON_AddNumberToObject(o, "client", ssl.client);
        cJSON_AddNumberToObject(o, "verify", ssl.verify);
        cJSON_AddBoolToObject(o, "cert_verified", lb_proxy_ssl_cert_verified(&ssl));
        size_t cur = 0;
        while (lb_proxy_ssl_next(&ssl, &cur, &v) == 1) {
            cJSON *s = cJSON_CreateObject();
            cJSON_AddNumberToObject(s, "type", v.type);
            cJSON_AddStringToObject(s, "name", ssl_sub_name(v.type));
            cJSON_AddNumberToObject(s, "length", v.length);
            cJSON_AddItemToObject(s, "value",
                                  v.type == LB_PROXY_TLV_SSL_CLIENT_CERT
                                      ? lbt_hex_bytes(v.value, v.length)
                                      : text_or_hex(v.value, v.length));
            cJSON_AddItemToArray(subs, s);
        }
        cJSON_AddItemToObject(o, "sub_tlvs", subs);
        cJSON_AddItemToObject(item, "value", o);
        return;
    }
    case LB_PROXY_TLV_AWS:
        if ((rc = lb_proxy_get_aws_vpce_id(h, &v)) != 0) {
            add_error(item, rc);
        } else {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddItemToObject(o, "vpce_id", text_or_hex(v.value, v.length));
            cJSON_AddItemToObject(item, "value", o);
        }
        return;
    case LB_PROXY_TLV_AZURE: {
        uint32_t id;
        if ((rc = lb_proxy_get_azure_linkid(h, &id)) != 0) {
            add_error(item, rc);
        } else {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "linkid", id);
            cJSON_AddItemToObject(item, "value", o);
        }
        return;
    }
    case LB_PROXY_TLV_GCP: {
        uint64_t id;
        if ((rc = lb_proxy_get_gcp_psc_id(h, &id)) != 0) {
            add_error(item, rc);
        } else {
            cJSON *o = cJSON_CreateObject();
            char num[24];
            snprintf(num, sizeof(num), "%llu", (unsigned long long)id);
            cJSON_AddStringToObject(o, "psc_connection_id", num); /* exact beyond 2^53 */
            cJSON_AddItemToObject(item, "value", o);
        }
        return;
    }
    default:
        cJSON_AddItemToObject(item, "value", lbt_hex_bytes(t->value, t->length));
        return;
    }
}

static cJSON *addr_json(const lb_proxy_header *h, int dst)
{
    char text[INET6_ADDRSTRLEN];
    const uint8_t *a = dst ? h->dst_addr : h->src_addr;
    if (h->command == LB_PROXY_CMD_LOCAL)
        return cJSON_CreateNull();
    switch (h->family) {
    case LB_PROXY_FAM_INET:
        return cJSON_CreateString(inet_ntop(AF_INET, a, text, sizeof(text)));
    case LB_PROXY_FAM_INET6:
        return cJSON_CreateString(inet_ntop(AF_INET6, a, text, sizeof(text)));
    case LB_PROXY_FAM_UNIX: {
        char path[LB_PROXY_UNIX_PATH_MAX + 1];
        size_t n = dst ? h->dst_path_len : h->src_path_len;
        memcpy(path, dst ? h->dst_path : h->src_path, n);
        path[n] = 0;
        return cJSON_CreateString(path);
    }
    default:
        return cJSON_CreateNull();
    }
}

static int proxy_decode(int argc, char **argv)
{
    static const struct option opts[] = {{"hex", required_argument, NULL, 'x'},
                                         {"allow-unspec", no_argument, NULL, 'u'},
                                         {"max-size", required_argument, NULL, 'm'},
                                         {"v1-only", no_argument, NULL, '1'},
                                         {"v2-only", no_argument, NULL, '2'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    lb_proxy_options o;
    memset(&o, 0, sizeof(o));
    o.struct_size = sizeof(o);
    const char *hex = NULL;
    uint64_t v;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'x':
            hex = optarg;
            break;
        case 'u':
            o.allow_unspec = 1;
            break;
        case 'm':
            if (lbt_parse_u64(optarg, LB_PROXY_MAX_HEADER, &v) || v < LB_PROXY_V2_FIXED)
                return lbt_usage("proxy decode", "--max-size must be 16..%u", LB_PROXY_MAX_HEADER);
            o.max_header_size = (uint32_t)v;
            break;
        case '1':
        case '2':
            if (o.versions)
                return lbt_usage("proxy decode", "--v1-only and --v2-only exclude each other");
            o.versions = c == '1' ? LB_PROXY_V1 : LB_PROXY_V2;
            break;
        case 'h':
            fputs(proxy_help, stdout);
            return LBT_EXIT_OK;
        default:
            return lbt_usage("proxy decode", "unknown option");
        }
    }
    if (optind != argc)
        return lbt_usage("proxy decode", "unexpected argument '%s'", argv[optind]);
    uint8_t *buf = NULL;
    long n;
    const size_t max_in = 2 * LB_PROXY_MAX_HEADER;
    if (hex) {
        buf = malloc(strlen(hex) / 2 + 1);
        if (!buf)
            return lbt_fail(-ENOMEM, NULL);
        n = lbt_parse_hex(hex, buf, strlen(hex) / 2 + 1);
        if (n < 0) {
            free(buf);
            return lbt_usage("proxy decode", "--hex: not hexadecimal");
        }
    } else {
        n = lbt_read_stdin(&buf, max_in);
        if (n < 0) {
            free(buf);
            return lbt_fail(-EINVAL, "stdin: unreadable or more than %zu bytes", max_in);
        }
    }
    lb_proxy_header h;
    memset(&h, 0, sizeof(h));
    h.struct_size = sizeof(h);
    size_t need = 0;
    int rc = lb_proxy_decode(buf, (size_t)n, &o, &h, &need);
    if (rc == LB_E_NEED_MORE) {
        free(buf);
        return lbt_fail(rc, "the input ends before the header does (at least %zu more bytes)",
                        need);
    }
    if (rc < 0) {
        free(buf);
        return lbt_fail(rc, NULL);
    }
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "version", h.version);
    cJSON_AddStringToObject(j, "command", h.command ? "PROXY" : "LOCAL");
    cJSON_AddStringToObject(j, "family", family_name(h.family));
    cJSON_AddStringToObject(j, "transport", transport_name(h.transport));
    cJSON_AddItemToObject(j, "src_addr", addr_json(&h, 0));
    cJSON_AddItemToObject(j, "dst_addr", addr_json(&h, 1));
    int ports = h.command == LB_PROXY_CMD_PROXY &&
                (h.family == LB_PROXY_FAM_INET || h.family == LB_PROXY_FAM_INET6);
    cJSON_AddItemToObject(j, "src_port",
                          ports ? cJSON_CreateNumber(h.src_port) : cJSON_CreateNull());
    cJSON_AddItemToObject(j, "dst_port",
                          ports ? cJSON_CreateNumber(h.dst_port) : cJSON_CreateNull());
    cJSON_AddNumberToObject(j, "header_length", rc);
    cJSON_AddStringToObject(j, "crc32c", h.crc32c_present ? "valid" : "absent");
    cJSON *list = cJSON_CreateArray();
    size_t cur = 0;
    lb_proxy_tlv t;
    uint8_t seen[256] = {0};
    while (lb_proxy_tlv_next(&h, &cur, &t) == 1) {
        cJSON *item = cJSON_CreateObject();
        cJSON_AddNumberToObject(item, "type", t.type);
        cJSON_AddStringToObject(item, "name", tlv_name(t.type));
        cJSON_AddNumberToObject(item, "length", t.length);
        tlv_value(&h, &t, !seen[t.type], item);
        seen[t.type] = 1;
        cJSON_AddItemToArray(list, item);
    }
    cJSON_AddItemToObject(j, "tlvs", list);
    free(buf);
    return lbt_print(j);
}

/* ---- encode -------------------------------------------------------------------------- */

static int proxy_encode(int argc, char **argv)
{
    static const struct option opts[] = {{"version", required_argument, NULL, 'V'},
                                         {"src", required_argument, NULL, 's'},
                                         {"dst", required_argument, NULL, 'd'},
                                         {"local", no_argument, NULL, 'l'},
                                         {"authority", required_argument, NULL, 'a'},
                                         {"alpn", required_argument, NULL, 'p'},
                                         {"unique-id", required_argument, NULL, 'u'},
                                         {"tlv", required_argument, NULL, 't'},
                                         {"crc32c", no_argument, NULL, 'c'},
                                         {"noop-align", required_argument, NULL, 'n'},
                                         {"hex", no_argument, NULL, 'x'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    static uint8_t tlvs[LB_PROXY_MAX_HEADER], val[LB_PROXY_MAX_HEADER];
    static uint8_t out[LB_PROXY_MAX_HEADER];
    lb_proxy_tlv_builder tb;
    lb_proxy_tlvb_init(&tb, sizeof(tb), tlvs, sizeof(tlvs));
    lb_proxy_encode_params p;
    memset(&p, 0, sizeof(p));
    p.struct_size = sizeof(p);
    p.command = LB_PROXY_CMD_PROXY;
    struct sockaddr_storage src, dst;
    const char *src_text = NULL, *dst_text = NULL;
    int as_hex = 0, c, rc = 0;
    uint64_t v;
    long n;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'V':
            if (lbt_parse_u64(optarg, 2, &v) || v < 1)
                return lbt_usage("proxy encode", "--version must be 1 or 2");
            p.version = (uint8_t)v;
            break;
        case 's':
            src_text = optarg;
            break;
        case 'd':
            dst_text = optarg;
            break;
        case 'l':
            p.command = LB_PROXY_CMD_LOCAL;
            break;
        case 'a':
            rc = lb_proxy_tlvb_add_authority(&tb, optarg);
            break;
        case 'p':
            rc = lb_proxy_tlvb_add_alpn(&tb, optarg, strlen(optarg));
            break;
        case 'u':
            n = lbt_parse_hex(optarg, val, sizeof(val));
            if (n < 0)
                return lbt_usage("proxy encode", "--unique-id: not hexadecimal");
            rc = lb_proxy_tlvb_add_unique_id(&tb, val, (size_t)n);
            break;
        case 't': {
            char *eq = strchr(optarg, '=');
            if (!eq)
                return lbt_usage("proxy encode", "--tlv wants TYPE=HEX");
            *eq = 0;
            if (lbt_parse_u64(optarg, 255, &v))
                return lbt_usage("proxy encode", "--tlv: TYPE must be 0..255");
            n = lbt_parse_hex(eq + 1, val, sizeof(val));
            if (n < 0)
                return lbt_usage("proxy encode", "--tlv: value not hexadecimal");
            rc = lb_proxy_tlvb_add(&tb, (uint8_t)v, val, (size_t)n);
            break;
        }
        case 'c':
            p.crc32c = 1;
            break;
        case 'n':
            if (lbt_parse_u64(optarg, 4096, &v))
                return lbt_usage("proxy encode", "--noop-align must be 0..4096");
            p.noop_align = (uint32_t)v;
            break;
        case 'x':
            as_hex = 1;
            break;
        case 'h':
            fputs(proxy_help, stdout);
            return LBT_EXIT_OK;
        default:
            return lbt_usage("proxy encode", "unknown option");
        }
        if (rc)
            return lbt_fail(rc, "TLV rejected");
    }
    if (optind != argc)
        return lbt_usage("proxy encode", "unexpected argument '%s'", argv[optind]);
    if (!p.version)
        return lbt_usage("proxy encode", "--version is required");
    if (p.command == LB_PROXY_CMD_PROXY && (!src_text || !dst_text))
        return lbt_usage("proxy encode", "--src and --dst are required without --local");
    if (src_text || dst_text) {
        if (!src_text || !dst_text)
            return lbt_usage("proxy encode", "give both --src and --dst");
        if ((rc = lb_addr_parse(src_text, &src, NULL)) != 0)
            return lbt_fail(rc, "--src %s", src_text);
        if ((rc = lb_addr_parse(dst_text, &dst, NULL)) != 0)
            return lbt_fail(rc, "--dst %s", dst_text);
        p.src = (const struct sockaddr *)&src;
        p.dst = (const struct sockaddr *)&dst;
    }
    p.tlvs = tb.len ? tb.buf : NULL;
    p.tlvs_len = tb.len;
    size_t need = 0;
    rc = lb_proxy_encode(out, sizeof(out), &p, &need);
    if (rc < 0)
        return lbt_fail(rc, NULL);
    if (as_hex) {
        for (int i = 0; i < rc; i++)
            printf("%02x", out[i]);
        printf("\n");
    } else if (fwrite(out, 1, (size_t)rc, stdout) != (size_t)rc) {
        return lbt_fail(-EIO, "write failed");
    }
    return fflush(stdout) == 0 ? LBT_EXIT_OK : LBT_EXIT_FAIL;
}

int lbt_cmd_proxy(int argc, char **argv)
{
    static const struct lbt_sub subs[] = {{"decode", proxy_decode}, {"encode", proxy_encode}};
    return lbt_run_sub("proxy", proxy_help, "decode or encode", subs, 2, argc, argv);
}
