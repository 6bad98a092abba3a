/* PROXY protocol decoder and encoder through the public API: the vectors of
 * tests/data/proxy_vectors.txt (every spec rule and every decoder error, v1 and v2), byte-at-a-time
 * equivalence over each of them, typed accessors, the encoder's exact bytes and errors, and
 * decode(encode(x)) == x over generated headers. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "lbtest.h"

#include "lb/proxy.h"

/* ---- the vector file ------------------------------------------------------------------ */

struct vec {
    char name[80];
    uint8_t *data;
    size_t len;
    char expect[600];
    char opts[64];
};

static struct vec *vecs;
static size_t nvecs;

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static int load_vectors(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof(path), "%s/proxy_vectors.txt", lbt_data_dir());
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t cap = 1 << 18;
    char *line = malloc(cap);
    vecs = calloc(512, sizeof(*vecs));
    while (fgets(line, (int)cap, f)) {
        if (line[0] == '#')
            continue;
        line[strcspn(line, "\n")] = 0;
        char *save = NULL, *name = strtok_r(line, "\t", &save), *hex = strtok_r(NULL, "\t", &save);
        char *expect = strtok_r(NULL, "\t", &save), *opts = strtok_r(NULL, "\t", &save);
        if (!name || !hex || !expect || nvecs == 512)
            return -1;
        struct vec *v = &vecs[nvecs++];
        snprintf(v->name, sizeof(v->name), "%s", name);
        snprintf(v->expect, sizeof(v->expect), "%s", expect);
        snprintf(v->opts, sizeof(v->opts), "%s", opts ? opts : "");
        if (!strcmp(hex, "-")) /* the empty input */
            hex[0] = 0;
        v->len = strlen(hex) / 2;
        v->data = malloc(v->len + 1);
        for (size_t i = 0; i < v->len; i++)
            v->data[i] = (uint8_t)(hexval(hex[2 * i]) << 4 | hexval(hex[2 * i + 1]));
    }
    free(line);
    fclose(f);
    return nvecs > 100 ? 0 : -1;
}

static int free_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < nvecs; i++)
        free(vecs[i].data);
    free(vecs);
    return 0;
}

static const struct vec *find_vec(const char *name)
{
    for (size_t i = 0; i < nvecs; i++)
        if (!strcmp(vecs[i].name, name))
            return &vecs[i];
    fail_msg("no vector %s", name);
    return NULL;
}

static void parse_opts(const char *s, lb_proxy_options *o)
{
    memset(o, 0, sizeof(*o));
    o->struct_size = sizeof(*o);
    if (strstr(s, "v1only"))
        o->versions = LB_PROXY_V1;
    if (strstr(s, "v2only"))
        o->versions = LB_PROXY_V2;
    if (strstr(s, "unspec"))
        o->allow_unspec = 1;
    const char *m = strstr(s, "max=");
    if (m)
        o->max_header_size = (uint32_t)strtoul(m + 4, NULL, 10);
}

static int decode(const uint8_t *buf, size_t len, const lb_proxy_options *o, lb_proxy_header *h,
                  size_t *need)
{
    memset(h, 0xA5, sizeof(*h));
    h->struct_size = sizeof(*h);
    return lb_proxy_decode(buf, len, o, h, need);
}

static const char *fam_name(int f)
{
    static const char *n[] = {"UNSPEC", "INET", "INET6", "UNIX"};
    return f >= 0 && f < 4 ? n[f] : "?";
}

static const char *tr_name(int t)
{
    static const char *n[] = {"UNSPEC", "STREAM", "DGRAM"};
    return t >= 0 && t < 3 ? n[t] : "?";
}

static void addr_text(const lb_proxy_header *h, int dst, char *out, size_t cap)
{
    const uint8_t *a = dst ? h->dst_addr : h->src_addr;
    if (h->family == LB_PROXY_FAM_INET)
        inet_ntop(AF_INET, a, out, (socklen_t)cap);
    else if (h->family == LB_PROXY_FAM_INET6)
        inet_ntop(AF_INET6, a, out, (socklen_t)cap);
    else if (h->family == LB_PROXY_FAM_UNIX)
        snprintf(out, cap, "unix:%.*s", dst ? h->dst_path_len : h->src_path_len,
                 (const char *)(dst ? h->dst_path : h->src_path));
    else
        snprintf(out, cap, "-");
}

static int count_tlvs(const lb_proxy_header *h)
{
    size_t cur = 0;
    lb_proxy_tlv t;
    int n = 0, rc;
    while ((rc = lb_proxy_tlv_next(h, &cur, &t)) == 1)
        n++;
    assert_int_equal(rc, 0);
    return n;
}

/* The header as the vector file's OK line prints it. */
static void describe(const lb_proxy_header *h, int rc, char *out, size_t cap)
{
    char s[128], d[128], sp[8] = "-", dp[8] = "-";
    addr_text(h, 0, s, sizeof(s));
    addr_text(h, 1, d, sizeof(d));
    if (h->family == LB_PROXY_FAM_INET || h->family == LB_PROXY_FAM_INET6) {
        snprintf(sp, sizeof(sp), "%u", h->src_port);
        snprintf(dp, sizeof(dp), "%u", h->dst_port);
    }
    snprintf(out, cap, "OK %d %u %s %s %s %s %s %s %s %u %d", rc, h->version,
             h->command ? "PROXY" : "LOCAL", fam_name(h->family), tr_name(h->transport), s, sp, d,
             dp, h->crc32c_present, count_tlvs(h));
}

static void check_vector(const struct vec *v)
{
    lb_proxy_options o;
    lb_proxy_header h, hp;
    size_t need = 0;
    parse_opts(v->opts, &o);
    int rc = decode(v->data, v->len, &o, &h, &need);
    char got[600];
    if (rc > 0)
        describe(&h, rc, got, sizeof(got));
    else
        snprintf(got, sizeof(got), "ERR %s", lb_err_name(rc));
    if (strcmp(got, v->expect))
        fail_msg("%s: got '%s', want '%s'", v->name, got, v->expect);
    if (rc > 0) {
        assert_int_equal(h.header_len, (unsigned)rc);
        assert_true((size_t)rc <= v->len);
        if (h.tlvs)
            assert_true(h.tlvs >= v->data && h.tlvs + h.tlvs_len == v->data + rc);
    }
    if (rc == LB_E_NEED_MORE)
        assert_true(need >= 1);

    /* Byte at a time: every prefix gives LB_E_NEED_MORE or the whole result, and once a prefix
     * gives
     * the result every longer one does; "need" never asks for more than the header has. */
    int settled = 0;
    for (size_t k = 0; k <= v->len; k++) {
        size_t pn = 0;
        int prc = decode(v->data, k, &o, &hp, &pn);
        if (prc == LB_E_NEED_MORE) {
            if (settled)
                fail_msg("%s: prefix %zu: LB_E_NEED_MORE after the result", v->name, k);
            assert_true(pn >= 1);
            /* need is a lower bound of what a complete header still needs. */
            if (rc > 0 && k + pn > (size_t)rc)
                fail_msg("%s: prefix %zu said need %zu, header is %d bytes", v->name, k, pn, rc);
            continue;
        }
        if (prc != rc)
            fail_msg("%s: prefix %zu returned %d (%s), whole %d (%s)", v->name, k, prc,
                     lb_err_name(prc), rc, lb_err_name(rc));
        if (rc > 0)
            assert_memory_equal(&hp, &h, sizeof(h));
        settled = 1;
    }
}

static void test_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < nvecs; i++)
        check_vector(&vecs[i]);
}

/* Every decoder fault has at least one vector. */
static void test_every_error_has_a_vector(void **state)
{
    (void)state;
    static const int codes[] = {LB_E_PROXY_NOT_PROXY,
                                LB_E_PROXY_BAD_SIGNATURE,
                                LB_E_PROXY_BAD_VERSION,
                                LB_E_PROXY_VERSION_REFUSED,
                                LB_E_PROXY_BAD_COMMAND,
                                LB_E_PROXY_BAD_FAMILY,
                                LB_E_PROXY_BAD_TRANSPORT,
                                LB_E_PROXY_UNSPEC_REFUSED,
                                LB_E_PROXY_SHORT_LENGTH,
                                LB_E_PROXY_TOO_LARGE,
                                LB_E_PROXY_V1_SYNTAX,
                                LB_E_PROXY_V1_TOO_LONG,
                                LB_E_PROXY_BAD_ADDRESS,
                                LB_E_PROXY_BAD_PORT,
                                LB_E_PROXY_TLV_TRUNCATED,
                                LB_E_PROXY_TLV_OVERRUN,
                                LB_E_PROXY_CRC_MISMATCH,
                                LB_E_PROXY_BAD_CRC_TLV,
                                LB_E_NEED_MORE};
    for (size_t c = 0; c < sizeof(codes) / sizeof(codes[0]); c++) {
        char want[80];
        int n = 0;
        snprintf(want, sizeof(want), "ERR %s", lb_err_name(codes[c]));
        for (size_t i = 0; i < nvecs; i++)
            n += !strcmp(vecs[i].expect, want);
        if (n == 0)
            fail_msg("no vector for %s", want);
    }
    /* Every liblb proxy code has a distinct name and message. */
    for (int code = LB_E_PROXY_NOT_PROXY; code >= LB_E_PROXY_V1_UNSUPPORTED; code--) {
        assert_string_not_equal(lb_err_name(code), "UNKNOWN");
        assert_true(strncmp(lb_err_name(code), "LB_E_PROXY_", 11) == 0);
    }
}

static void test_bad_arguments(void **state)
{
    (void)state;
    lb_proxy_header h;
    lb_proxy_options o;
    memset(&h, 0, sizeof(h));
    memset(&o, 0, sizeof(o));
    h.struct_size = sizeof(h);
    o.struct_size = sizeof(o);
    const uint8_t *v = (const uint8_t *)"PROXY UNKNOWN\r\n";
    assert_lb_err(lb_proxy_decode(v, 15, NULL, NULL, NULL), -EINVAL);
    assert_lb_err(lb_proxy_decode(NULL, 15, NULL, &h, NULL), -EINVAL);
    h.struct_size = 4;
    assert_lb_err(lb_proxy_decode(v, 15, NULL, &h, NULL), LB_E_STRUCT_SIZE);
    h.struct_size = sizeof(h);
    o.max_header_size = 15;
    assert_lb_err(lb_proxy_decode(v, 15, &o, &h, NULL), -EINVAL);
    o.max_header_size = LB_PROXY_MAX_HEADER + 1;
    assert_lb_err(lb_proxy_decode(v, 15, &o, &h, NULL), -EINVAL);
    o.max_header_size = 0;
    o.versions = 4;
    assert_lb_err(lb_proxy_decode(v, 15, &o, &h, NULL), -EINVAL);
    o.versions = 0;
    o.struct_size = 0;
    assert_lb_err(lb_proxy_decode(v, 15, &o, &h, NULL), LB_E_STRUCT_SIZE);
    /* A struct shorter than the first release's is refused (doc/ABI.md). */
    o.struct_size = (uint32_t)offsetof(lb_proxy_options, allow_unspec);
    o.versions = LB_PROXY_V2;
    assert_lb_err(lb_proxy_decode(v, 15, &o, &h, NULL), LB_E_STRUCT_SIZE);
    assert_int_equal(lb_proxy_decode(v, 15, NULL, &h, NULL), 15);
    size_t need = 0;
    assert_lb_err(lb_proxy_decode(NULL, 0, NULL, &h, &need), LB_E_NEED_MORE);
    assert_int_equal(need, 15);
    o.struct_size = sizeof(o);
    o.versions = LB_PROXY_V2;
    assert_lb_err(lb_proxy_decode(NULL, 0, &o, &h, &need), LB_E_NEED_MORE);
    assert_int_equal(need, 16);
    /* need may be NULL. */
    assert_lb_err(lb_proxy_decode(v, 3, NULL, &h, NULL), LB_E_NEED_MORE);
    assert_lb_err(lb_proxy_decode(find_vec("v2_inet_stream")->data, 20, NULL, &h, NULL),
                  LB_E_NEED_MORE);
    assert_lb_err(lb_proxy_decode(find_vec("v2_inet_stream")->data, 3, NULL, &h, NULL),
                  LB_E_NEED_MORE);
}

static void decode_vec(const char *name, lb_proxy_header *h)
{
    const struct vec *v = find_vec(name);
    lb_proxy_options o;
    parse_opts(v->opts, &o);
    int rc = decode(v->data, v->len, &o, h, NULL);
    assert_true(rc > 0);
}

static void assert_tlv_str(const lb_proxy_tlv *t, const char *s)
{
    assert_int_equal(t->length, strlen(s));
    assert_memory_equal(t->value, s, strlen(s));
}

static void test_accessors(void **state)
{
    (void)state;
    lb_proxy_header h;
    lb_proxy_tlv t;
    uint32_t crc, linkid;
    uint64_t psc;
    size_t pad;
    lb_proxy_ssl ssl;

    decode_vec("v2_inet_crc_authority_uid_aws", &h);
    assert_lb_ok(lb_proxy_get_crc32c(&h, &crc));
    assert_int_equal(crc, lb_crc32c(0, NULL, 0) == 0 ? crc : 0); /* present */
    assert_lb_ok(lb_proxy_get_authority(&h, &t));
    assert_tlv_str(&t, "example.com");
    assert_lb_ok(lb_proxy_get_unique_id(&h, &t));
    assert_tlv_str(&t, "id-1");
    assert_lb_ok(lb_proxy_get_aws_vpce_id(&h, &t));
    assert_tlv_str(&t, "vpce-08d2bf15fac5001c9");
    assert_lb_err(lb_proxy_get_alpn(&h, &t), LB_E_PROXY_TLV_ABSENT);
    assert_lb_err(lb_proxy_get_netns(&h, &t), LB_E_PROXY_TLV_ABSENT);
    assert_lb_err(lb_proxy_get_ssl(&h, &ssl), LB_E_PROXY_TLV_ABSENT);
    assert_lb_err(lb_proxy_get_azure_linkid(&h, &linkid), LB_E_PROXY_TLV_ABSENT);
    assert_lb_err(lb_proxy_get_gcp_psc_id(&h, &psc), LB_E_PROXY_TLV_ABSENT);
    assert_lb_err(lb_proxy_get_noop(&h, &t, &pad), LB_E_PROXY_TLV_ABSENT);
    /* The iterator gives the TLVs in wire order, CRC32C first. */
    size_t cur = 0;
    static const uint8_t order[] = {0x03, 0x02, 0x05, 0xEA};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(lb_proxy_tlv_next(&h, &cur, &t), 1);
        assert_int_equal(t.type, order[i]);
    }
    assert_int_equal(lb_proxy_tlv_next(&h, &cur, &t), 0);
    assert_int_equal(lb_proxy_tlv_next(&h, &cur, &t), 0);

    decode_vec("v2_inet_tlvs", &h);
    assert_lb_ok(lb_proxy_get_alpn(&h, &t));
    assert_tlv_str(&t, "h2");
    assert_lb_ok(lb_proxy_get_netns(&h, &t));
    assert_tlv_str(&t, "blue");
    assert_lb_ok(lb_proxy_get_unique_id(&h, &t));
    assert_int_equal(t.length, 32);
    assert_lb_err(lb_proxy_get_crc32c(&h, &crc), LB_E_PROXY_TLV_ABSENT);

    decode_vec("v2_local_aws_health_check", &h);
    assert_int_equal(h.command, LB_PROXY_CMD_LOCAL);
    assert_lb_ok(lb_proxy_get_aws_vpce_id(&h, &t));
    assert_tlv_str(&t, "vpce-08d2bf15fac5001c9");
    assert_lb_ok(lb_proxy_get_noop(&h, &t, &pad));
    assert_int_equal(t.length, 5);
    assert_int_equal(pad, 8);
    assert_lb_ok(lb_proxy_get_crc32c(&h, &crc));

    decode_vec("v2_ssl_subtlvs", &h);
    assert_lb_ok(lb_proxy_get_ssl(&h, &ssl));
    assert_int_equal(ssl.client, 7);
    assert_int_equal(ssl.verify, 0);
    assert_true(lb_proxy_ssl_cert_verified(&ssl));
    assert_lb_ok(lb_proxy_ssl_find(&ssl, LB_PROXY_TLV_SSL_VERSION, &t));
    assert_tlv_str(&t, "TLSv1.3");
    assert_lb_ok(lb_proxy_ssl_find(&ssl, LB_PROXY_TLV_SSL_CN, &t));
    assert_tlv_str(&t, "client");
    assert_lb_ok(lb_proxy_ssl_find(&ssl, LB_PROXY_TLV_SSL_CIPHER, &t));
    assert_tlv_str(&t, "TLS_AES_128_GCM_SHA256");
    assert_lb_err(lb_proxy_ssl_find(&ssl, LB_PROXY_TLV_SSL_CLIENT_CERT, &t), LB_E_PROXY_TLV_ABSENT);
    /* verify == 0 without a CERT bit is not a verified certificate. */
    ssl.client = LB_PROXY_SSL_CLIENT_SSL;
    assert_false(lb_proxy_ssl_cert_verified(&ssl));
    ssl.client = LB_PROXY_SSL_CLIENT_CERT_SESS;
    ssl.verify = 1;
    assert_false(lb_proxy_ssl_cert_verified(&ssl));
    assert_false(lb_proxy_ssl_cert_verified(NULL));
    /* Sub-TLVs that do not tile, reached through a hand-made SSL view. */
    static const uint8_t bad_sub[] = {0x21, 0x00, 0x09, 'x'};
    lb_proxy_ssl bad = {.client = 1, .sub_tlvs = bad_sub, .sub_len = sizeof(bad_sub)};
    cur = 0;
    assert_lb_err(lb_proxy_ssl_next(&bad, &cur, &t), LB_E_PROXY_TLV_MALFORMED);
    assert_lb_err(lb_proxy_ssl_find(&bad, 0x22, &t), LB_E_PROXY_TLV_MALFORMED);

    decode_vec("v2_azure_gcp", &h);
    assert_lb_ok(lb_proxy_get_azure_linkid(&h, &linkid));
    assert_int_equal(linkid, 0x12345678);
    assert_lb_ok(lb_proxy_get_gcp_psc_id(&h, &psc));
    assert_true(psc == 0x0102030405060708ull);

    /* Malformed vendor (and SSL, UNIQUE_ID, AUTHORITY) TLVs: the header is accepted, the
     * accessor says what is wrong. */
    decode_vec("v2_malformed_vendor_tlvs_accepted", &h);
    assert_lb_err(lb_proxy_get_aws_vpce_id(&h, &t), LB_E_PROXY_TLV_MALFORMED);
    assert_lb_err(lb_proxy_get_azure_linkid(&h, &linkid), LB_E_PROXY_TLV_MALFORMED);
    assert_lb_err(lb_proxy_get_gcp_psc_id(&h, &psc), LB_E_PROXY_TLV_MALFORMED);
    assert_lb_err(lb_proxy_get_ssl(&h, &ssl), LB_E_PROXY_TLV_MALFORMED);
    assert_lb_err(lb_proxy_get_unique_id(&h, &t), LB_E_PROXY_TLV_MALFORMED);
    assert_lb_err(lb_proxy_get_authority(&h, &t), LB_E_PROXY_TLV_MALFORMED);

    /* v1 headers and bare LOCAL headers carry no TLVs. */
    decode_vec("v1_tcp4", &h);
    assert_null(h.tlvs);
    assert_lb_err(lb_proxy_tlv_find(&h, 1, &t), LB_E_PROXY_TLV_ABSENT);
    decode_vec("v2_local_inet_no_address_block", &h);
    assert_null(h.tlvs);
    assert_int_equal(h.tlvs_len, 0);

    /* Application bytes after the header are never TLVs. */
    decode_vec("v2_app_bytes_after_are_not_tlvs", &h);
    assert_int_equal(h.tlvs_len, 0);
    assert_int_equal(count_tlvs(&h), 0);

    /* Argument checks. */
    cur = 0;
    assert_lb_err(lb_proxy_tlv_next(NULL, &cur, &t), -EINVAL);
    assert_lb_err(lb_proxy_tlv_next(&h, NULL, &t), -EINVAL);
    assert_lb_err(lb_proxy_tlv_find(&h, 1, NULL), -EINVAL);
    assert_lb_err(lb_proxy_get_crc32c(&h, NULL), -EINVAL);
    assert_lb_err(lb_proxy_get_ssl(&h, NULL), -EINVAL);
    assert_lb_err(lb_proxy_get_aws_vpce_id(&h, NULL), -EINVAL);
    assert_lb_err(lb_proxy_get_azure_linkid(&h, NULL), -EINVAL);
    assert_lb_err(lb_proxy_get_gcp_psc_id(&h, NULL), -EINVAL);
    assert_lb_err(lb_proxy_get_noop(&h, NULL, NULL), -EINVAL);
    assert_lb_err(lb_proxy_ssl_next(NULL, &cur, &t), -EINVAL);
    assert_lb_err(lb_proxy_ssl_find(&ssl, 1, NULL), -EINVAL);
    /* A hand-made header whose TLV region does not tile. */
    static const uint8_t cut[] = {0x01, 0x00};
    static const uint8_t over[] = {0x01, 0x00, 0x02, 'x'};
    h.tlvs = cut;
    h.tlvs_len = sizeof(cut);
    cur = 0;
    assert_lb_err(lb_proxy_tlv_next(&h, &cur, &t), LB_E_PROXY_TLV_TRUNCATED);
    assert_lb_err(lb_proxy_get_noop(&h, &t, NULL), LB_E_PROXY_TLV_TRUNCATED);
    h.tlvs = over;
    h.tlvs_len = sizeof(over);
    assert_lb_err(lb_proxy_tlv_find(&h, 1, &t), LB_E_PROXY_TLV_OVERRUN);
    /* A hand-made CRC32C TLV of the wrong length. */
    static const uint8_t crc3[] = {0x03, 0x00, 0x03, 1, 2, 3};
    h.tlvs = crc3;
    h.tlvs_len = sizeof(crc3);
    assert_lb_err(lb_proxy_get_crc32c(&h, &crc), LB_E_PROXY_BAD_CRC_TLV);
}

/* ---- encoder -------------------------------------------------------------------------- */

static struct sockaddr_in sin4(const char *a, uint16_t port)
{
    struct sockaddr_in s;
    memset(&s, 0, sizeof(s));
    s.sin_family = AF_INET;
    s.sin_port = htons(port);
    assert_int_equal(inet_pton(AF_INET, a, &s.sin_addr), 1);
    return s;
}

static struct sockaddr_in6 sin6(const char *a, uint16_t port)
{
    struct sockaddr_in6 s;
    memset(&s, 0, sizeof(s));
    s.sin6_family = AF_INET6;
    s.sin6_port = htons(port);
    assert_int_equal(inet_pton(AF_INET6, a, &s.sin6_addr), 1);
    return s;
}

static struct sockaddr_un sun_path(const char *p)
{
    struct sockaddr_un s;
    memset(&s, 0, sizeof(s));
    s.sun_family = AF_UNIX;
    memcpy(s.sun_path, p, strlen(p) < sizeof(s.sun_path) ? strlen(p) : sizeof(s.sun_path));
    return s;
}

static lb_proxy_encode_params params(int version, int command, const void *src, const void *dst)
{
    lb_proxy_encode_params p;
    memset(&p, 0, sizeof(p));
    p.struct_size = sizeof(p);
    p.version = (uint8_t)version;
    p.command = (uint8_t)command;
    p.src = src;
    p.dst = dst;
    return p;
}

static void assert_encodes(const lb_proxy_encode_params *p, const char *want, size_t want_len)
{
    uint8_t buf[512];
    size_t need = 0;
    int rc = lb_proxy_encode(buf, sizeof(buf), p, &need);
    if (rc != (int)want_len)
        fail_msg("encode returned %d (%s), want %zu", rc, lb_err_name(rc), want_len);
    assert_int_equal(need, want_len);
    assert_memory_equal(buf, want, want_len);
}

static void test_encode_v1(void **state)
{
    (void)state;
    struct sockaddr_in a = sin4("192.0.2.1", 56324), b = sin4("198.51.100.7", 443);
    struct sockaddr_in6 c = sin6("2001:db8::1", 1234), d = sin6("2001:db8:1::ff", 8443);
    struct sockaddr_in6 m = sin6("::ffff:10.0.0.1", 7);
    lb_proxy_encode_params p = params(1, LB_PROXY_CMD_PROXY, &a, &b);
    const char *w = "PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\n";
    assert_encodes(&p, w, strlen(w));
    p = params(1, LB_PROXY_CMD_PROXY, &c, &d);
    w = "PROXY TCP6 2001:db8::1 2001:db8:1::ff 1234 8443\r\n";
    assert_encodes(&p, w, strlen(w));
    /* IPv4 with IPv4-mapped IPv6 (either side) is TCP4. */
    p = params(1, LB_PROXY_CMD_PROXY, &m, &b);
    w = "PROXY TCP4 10.0.0.1 198.51.100.7 7 443\r\n";
    assert_encodes(&p, w, strlen(w));
    p = params(1, LB_PROXY_CMD_PROXY, &a, &m);
    w = "PROXY TCP4 192.0.2.1 10.0.0.1 56324 7\r\n";
    assert_encodes(&p, w, strlen(w));
    /* IPv6 text as RFC 5952 writes it. */
    static const char *const v6[][2] = {{"2001:0db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"},
                                        {"1:0:2:3:4:5:6:7", "1:0:2:3:4:5:6:7"},
                                        {"0:0:0:0:0:0:0:0", "::"},
                                        {"1::", "1::"},
                                        {"::2:0:0:3", "::2:0:0:3"},
                                        {"1:0:0:2:0:0:0:3", "1:0:0:2::3"},
                                        {"ABCD:EF01:0:0:0:0:0:1", "abcd:ef01::1"},
                                        {"::ffff:1.2.3.4", "::ffff:102:304"}};
    for (size_t i = 0; i < sizeof(v6) / sizeof(v6[0]); i++) {
        struct sockaddr_in6 x = sin6(v6[i][0], 1), y = sin6("2001:db8::ff", 2);
        char line[160];
        snprintf(line, sizeof(line), "PROXY TCP6 %s 2001:db8::ff 1 2\r\n", v6[i][1]);
        p = params(1, LB_PROXY_CMD_PROXY, &x, &y);
        assert_encodes(&p, line, strlen(line));
    }
    /* LOCAL is "PROXY UNKNOWN\r\n", addresses or not. */
    p = params(1, LB_PROXY_CMD_LOCAL, NULL, NULL);
    assert_encodes(&p, "PROXY UNKNOWN\r\n", 15);
    p = params(1, LB_PROXY_CMD_LOCAL, &a, &b);
    assert_encodes(&p, "PROXY UNKNOWN\r\n", 15);

    uint8_t buf[128];
    size_t need = 0;
    p = params(1, LB_PROXY_CMD_PROXY, &a, &d);
    assert_lb_err(lb_proxy_encode(buf, sizeof(buf), &p, &need), LB_E_PROXY_FAMILY_MISMATCH);
    struct sockaddr_un u = sun_path("/tmp/x");
    p = params(1, LB_PROXY_CMD_PROXY, &u, &u);
    assert_lb_err(lb_proxy_encode(buf, sizeof(buf), &p, &need), LB_E_PROXY_V1_UNSUPPORTED);
    p = params(1, LB_PROXY_CMD_PROXY, &a, &b);
    p.crc32c = 1;
    assert_lb_err(lb_proxy_encode(buf, sizeof(buf), &p, &need), LB_E_PROXY_V1_UNSUPPORTED);
    p.crc32c = 0;
    p.dgram = 1;
    assert_lb_err(lb_proxy_encode(buf, sizeof(buf), &p, &need), LB_E_PROXY_V1_UNSUPPORTED);
    p.dgram = 0;
    p.noop_align = 8;
    assert_lb_err(lb_proxy_encode(buf, sizeof(buf), &p, &need), LB_E_PROXY_V1_UNSUPPORTED);
    p.noop_align = 0;
    static const uint8_t one_tlv[] = {1, 0, 1, 'x'};
    p.tlvs = one_tlv;
    p.tlvs_len = sizeof(one_tlv);
    assert_lb_err(lb_proxy_encode(buf, sizeof(buf), &p, &need), LB_E_PROXY_V1_UNSUPPORTED);
    p = params(1, LB_PROXY_CMD_PROXY, NULL, NULL);
    assert_lb_err(lb_proxy_encode(buf, sizeof(buf), &p, &need), -EINVAL);
    /* Too small: the size needed, nothing written. */
    p = params(1, LB_PROXY_CMD_PROXY, &a, &b);
    memset(buf, 0x77, sizeof(buf));
    assert_lb_err(lb_proxy_encode(buf, 10, &p, &need), -ENOSPC);
    assert_int_equal(need, 45);
    assert_int_equal(buf[0], 0x77);
    assert_lb_err(lb_proxy_encode(NULL, 0, &p, &need), -ENOSPC);
    assert_int_equal(need, 45);
    assert_int_equal(lb_proxy_encode(buf, 45, &p, NULL), 45);
    /* Two longest IPv6 texts do not fit 107 bytes. */
    struct sockaddr_in6 l1 = sin6("1111:2222:3333:4444:5555:6666:7777:8888", 65535);
    struct sockaddr_in6 l2 = sin6("::1.2.3.4", 65535);
    struct sockaddr_in6 l3 = sin6("1111:2222:3333:4444:5555:6666:7777:8888", 65535);
    p = params(1, LB_PROXY_CMD_PROXY, &l1, &l3);
    assert_int_equal(lb_proxy_encode(buf, sizeof(buf), &p, &need), 104);
    p = params(1, LB_PROXY_CMD_PROXY, &l2, &l3);
    assert_true(lb_proxy_encode(buf, sizeof(buf), &p, &need) > 0);
    /* Bad parameters. */
    p.version = 3;
    assert_lb_err(lb_proxy_encode(buf, sizeof(buf), &p, &need), -EINVAL);
    p.version = 1;
    p.command = 2;
    assert_lb_err(lb_proxy_encode(buf, sizeof(buf), &p, &need), -EINVAL);
    p.command = 1;
    p.struct_size = 4;
    assert_lb_err(lb_proxy_encode(buf, sizeof(buf), &p, &need), LB_E_STRUCT_SIZE);
    assert_lb_err(lb_proxy_encode(buf, sizeof(buf), NULL, &need), -EINVAL);
    p.struct_size = sizeof(p);
    assert_lb_err(lb_proxy_encode(NULL, 10, &p, &need), -EINVAL);
    struct sockaddr bad;
    memset(&bad, 0, sizeof(bad));
    bad.sa_family = AF_APPLETALK;
    p.src = &bad;
    assert_lb_err(lb_proxy_encode(buf, sizeof(buf), &p, &need), -EAFNOSUPPORT);
}

static void test_encode_v2(void **state)
{
    (void)state;
    struct sockaddr_in a = sin4("192.0.2.1", 56324), b = sin4("198.51.100.7", 443);
    struct sockaddr_in6 m = sin6("::ffff:192.0.2.1", 56324);
    uint8_t buf[1024], want[64];
    size_t need;
    const struct vec *v = find_vec("v2_inet_stream");
    lb_proxy_encode_params p = params(2, LB_PROXY_CMD_PROXY, &a, &b);
    assert_encodes(&p, (const char *)v->data, v->len);
    p = params(2, LB_PROXY_CMD_PROXY, &m, &b);
    assert_encodes(&p, (const char *)v->data, v->len);
    p.dgram = 1;
    assert_encodes(&p, (const char *)find_vec("v2_inet_dgram")->data, 28);
    v = find_vec("v2_inet6_stream");
    struct sockaddr_in6 c = sin6("2001:db8::1", 1234), d = sin6("2001:db8:1::ff", 8443);
    p = params(2, LB_PROXY_CMD_PROXY, &c, &d);
    assert_encodes(&p, (const char *)v->data, v->len);
    struct sockaddr_un us = sun_path("/run/src.sock"), ud = sun_path("/run/dst.sock");
    p = params(2, LB_PROXY_CMD_PROXY, &us, &ud);
    assert_encodes(&p, (const char *)find_vec("v2_unix_stream")->data, 232);
    p = params(2, LB_PROXY_CMD_LOCAL, &a, &b);
    assert_encodes(&p, (const char *)find_vec("v2_local_bare")->data, 16);
    /* CRC32C first, big-endian; the same bytes as the independently computed vector. */
    v = find_vec("v2_inet_crc_authority_uid_aws");
    uint8_t st[256];
    lb_proxy_tlv_builder tb;
    lb_proxy_tlvb_init(&tb, sizeof(tb), st, sizeof(st));
    assert_lb_ok(lb_proxy_tlvb_add_authority(&tb, "example.com"));
    assert_lb_ok(lb_proxy_tlvb_add_unique_id(&tb, "id-1", 4));
    assert_lb_ok(lb_proxy_tlvb_add_aws_vpce_id(&tb, "vpce-08d2bf15fac5001c9"));
    p = params(2, LB_PROXY_CMD_PROXY, &a, &b);
    p.crc32c = 1;
    p.tlvs = tb.buf;
    p.tlvs_len = tb.len;
    assert_encodes(&p, (const char *)v->data, v->len);
    /* The AWS health check: LOCAL, CRC32C, AWS, NOOP. */
    v = find_vec("v2_local_aws_health_check");
    lb_proxy_tlvb_init(&tb, sizeof(tb), st, sizeof(st));
    assert_lb_ok(lb_proxy_tlvb_add_aws_vpce_id(&tb, "vpce-08d2bf15fac5001c9"));
    assert_lb_ok(lb_proxy_tlvb_add_noop(&tb, 5));
    p = params(2, LB_PROXY_CMD_LOCAL, NULL, NULL);
    p.crc32c = 1;
    p.tlvs = tb.buf;
    p.tlvs_len = tb.len;
    assert_encodes(&p, (const char *)v->data, v->len);
    /* SSL, Azure, GCP. */
    lb_proxy_tlv_builder sub;
    uint8_t sst[128];
    lb_proxy_tlvb_init(&sub, sizeof(sub), sst, sizeof(sst));
    assert_lb_ok(lb_proxy_tlvb_add(&sub, LB_PROXY_TLV_SSL_VERSION, "TLSv1.3", 7));
    assert_lb_ok(lb_proxy_tlvb_add(&sub, LB_PROXY_TLV_SSL_CN, "client", 6));
    assert_lb_ok(lb_proxy_tlvb_add(&sub, LB_PROXY_TLV_SSL_CIPHER, "TLS_AES_128_GCM_SHA256", 22));
    lb_proxy_tlvb_init(&tb, sizeof(tb), st, sizeof(st));
    assert_lb_ok(lb_proxy_tlvb_add_ssl(&tb, 7, 0, &sub));
    p = params(2, LB_PROXY_CMD_PROXY, &a, &b);
    p.tlvs = tb.buf;
    p.tlvs_len = tb.len;
    v = find_vec("v2_ssl_subtlvs");
    assert_encodes(&p, (const char *)v->data, v->len);
    lb_proxy_tlvb_init(&tb, sizeof(tb), st, sizeof(st));
    assert_lb_ok(lb_proxy_tlvb_add_azure_linkid(&tb, 0x12345678));
    assert_lb_ok(lb_proxy_tlvb_add_gcp_psc_id(&tb, 0x0102030405060708ull));
    p.tlvs_len = tb.len;
    v = find_vec("v2_azure_gcp");
    assert_encodes(&p, (const char *)v->data, v->len);
    lb_proxy_tlvb_init(&tb, sizeof(tb), st, sizeof(st));
    assert_lb_ok(lb_proxy_tlvb_add_alpn(&tb, "h2", 2));
    assert_lb_ok(lb_proxy_tlvb_add_authority(&tb, "example.com"));
    assert_lb_ok(lb_proxy_tlvb_add_unique_id(&tb,
                                             "\x01\x01\x01\x01\x01\x01\x01\x01"
                                             "\x01\x01\x01\x01\x01\x01\x01\x01"
                                             "\x01\x01\x01\x01\x01\x01\x01\x01"
                                             "\x01\x01\x01\x01\x01\x01\x01\x01",
                                             32));
    assert_lb_ok(lb_proxy_tlvb_add_netns(&tb, "blue"));
    p.tlvs_len = tb.len;
    v = find_vec("v2_inet_tlvs");
    assert_encodes(&p, (const char *)v->data, v->len);

    /* NOOP padding to an alignment, for every alignment and TLV length. */
    for (uint32_t align = 2; align <= 64; align++) {
        for (size_t extra = 0; extra < 20; extra++) {
            lb_proxy_tlvb_init(&tb, sizeof(tb), st, sizeof(st));
            assert_lb_ok(lb_proxy_tlvb_add(&tb, 0xF1, st + 200, extra));
            p = params(2, LB_PROXY_CMD_PROXY, &a, &b);
            p.tlvs = tb.buf;
            p.tlvs_len = tb.len;
            p.noop_align = align;
            p.crc32c = (uint8_t)(extra & 1);
            int rc = lb_proxy_encode(buf, sizeof(buf), &p, &need);
            assert_true(rc > 0);
            assert_int_equal(rc % (int)align, 0);
            lb_proxy_header h;
            assert_int_equal(decode(buf, (size_t)rc, NULL, &h, NULL), rc);
            size_t pad = 0;
            lb_proxy_tlv t;
            int has = lb_proxy_get_noop(&h, &t, &pad);
            assert_true(has == 0 || has == LB_E_PROXY_TLV_ABSENT);
            size_t unpadded = 28 + (extra & 1 ? 7 : 0) + 3 + extra;
            assert_int_equal((size_t)rc, unpadded + pad);
            assert_true(pad == 0 || pad >= 3);
            assert_true(pad < align + 3);
        }
    }

    /* Errors. */
    p = params(2, LB_PROXY_CMD_PROXY, &a, &b);
    assert_lb_err(lb_proxy_encode(buf, 27, &p, &need), -ENOSPC);
    assert_int_equal(need, 28);
    struct sockaddr_un u = sun_path("/x");
    p = params(2, LB_PROXY_CMD_PROXY, &a, &u);
    assert_lb_err(lb_proxy_encode(buf, sizeof(buf), &p, &need), LB_E_PROXY_FAMILY_MISMATCH);
    p = params(2, LB_PROXY_CMD_PROXY, &a, NULL);
    assert_lb_err(lb_proxy_encode(buf, sizeof(buf), &p, &need), -EINVAL);
    p = params(2, LB_PROXY_CMD_PROXY, NULL, NULL);
    assert_int_equal(lb_proxy_encode(buf, sizeof(buf), &p, &need), 16);
    memcpy(want, find_vec("v2_proxy_unspec_refused")->data, 16);
    assert_memory_equal(buf, want, 16);
    p.dgram = 1;
    assert_lb_err(lb_proxy_encode(buf, sizeof(buf), &p, &need), -EINVAL);
    p = params(2, LB_PROXY_CMD_PROXY, &a, &b);
    static const uint8_t cut[] = {1, 0};
    static const uint8_t over[] = {1, 0, 5, 'x'};
    static const uint8_t crc[] = {3, 0, 4, 0, 0, 0, 0};
    p.tlvs = cut;
    p.tlvs_len = sizeof(cut);
    assert_lb_err(lb_proxy_encode(buf, sizeof(buf), &p, &need), LB_E_PROXY_TLV_TRUNCATED);
    p.tlvs = over;
    p.tlvs_len = sizeof(over);
    assert_lb_err(lb_proxy_encode(buf, sizeof(buf), &p, &need), LB_E_PROXY_TLV_OVERRUN);
    p.tlvs = crc;
    p.tlvs_len = sizeof(crc);
    assert_lb_err(lb_proxy_encode(buf, sizeof(buf), &p, &need), LB_E_PROXY_BAD_CRC_TLV);
    p.tlvs = NULL;
    assert_lb_err(lb_proxy_encode(buf, sizeof(buf), &p, &need), -EINVAL);
    p.tlvs_len = 0;
    p.noop_align = 4097;
    assert_lb_err(lb_proxy_encode(buf, sizeof(buf), &p, &need), -EINVAL);
    /* Larger than 16 + 65535. */
    static uint8_t huge[70000];
    lb_proxy_tlvb_init(&tb, sizeof(tb), huge, sizeof(huge));
    assert_lb_ok(lb_proxy_tlvb_add_noop(&tb, 65535 - 12 - 3));
    p.noop_align = 0;
    p.tlvs = tb.buf;
    p.tlvs_len = tb.len;
    static uint8_t out[70000];
    assert_int_equal(lb_proxy_encode(out, sizeof(out), &p, &need), 16 + 65535);
    p.crc32c = 1;
    assert_lb_err(lb_proxy_encode(out, sizeof(out), &p, &need), LB_E_PROXY_TOO_LARGE);
}

static void test_builder(void **state)
{
    (void)state;
    uint8_t st[16];
    lb_proxy_tlv_builder b;
    lb_proxy_tlvb_init(&b, sizeof(b), st, sizeof(st));
    assert_int_equal(b.struct_size, sizeof(b));
    assert_lb_ok(lb_proxy_tlvb_add(&b, 0xE5, "abcdefghij", 10));
    assert_int_equal(b.len, 13);
    assert_lb_err(lb_proxy_tlvb_add(&b, 0xE5, "a", 1), -ENOSPC);
    assert_int_equal(b.len, 13);
    assert_lb_err(lb_proxy_tlvb_add_noop(&b, 1), -ENOSPC);
    assert_lb_ok(lb_proxy_tlvb_add_noop(&b, 0));
    assert_int_equal(b.len, 16);
    lb_proxy_tlvb_init(&b, sizeof(b), st, sizeof(st));
    assert_lb_err(lb_proxy_tlvb_add(&b, LB_PROXY_TLV_CRC32C, "abcd", 4), LB_E_PROXY_BAD_CRC_TLV);
    assert_lb_err(lb_proxy_tlvb_add(&b, 1, NULL, 1), -EINVAL);
    assert_lb_err(lb_proxy_tlvb_add(NULL, 1, "a", 1), -EINVAL);
    assert_lb_err(lb_proxy_tlvb_add(&b, 1, st, 65536), LB_E_PROXY_TOO_LARGE);
    assert_lb_err(lb_proxy_tlvb_add_noop(&b, 65536), LB_E_PROXY_TOO_LARGE);
    assert_lb_err(lb_proxy_tlvb_add_noop(NULL, 1), -EINVAL);
    assert_lb_err(lb_proxy_tlvb_add_authority(&b, ""), LB_E_PROXY_TLV_MALFORMED);
    assert_lb_err(lb_proxy_tlvb_add_authority(&b, "\xc0\xaf"), LB_E_PROXY_TLV_MALFORMED);
    assert_lb_err(lb_proxy_tlvb_add_authority(&b, "\xed\xa0\x80"), LB_E_PROXY_TLV_MALFORMED);
    assert_lb_err(lb_proxy_tlvb_add_authority(&b, "\xf4\x90\x80\x80"), LB_E_PROXY_TLV_MALFORMED);
    assert_lb_err(lb_proxy_tlvb_add_authority(&b, "\xe2\x82"), LB_E_PROXY_TLV_MALFORMED);
    assert_lb_err(lb_proxy_tlvb_add_authority(&b, "\xff"), LB_E_PROXY_TLV_MALFORMED);
    assert_lb_err(lb_proxy_tlvb_add_authority(&b, NULL), -EINVAL);
    assert_lb_ok(lb_proxy_tlvb_add_authority(&b, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"));
    lb_proxy_tlvb_init(&b, sizeof(b), st, sizeof(st));
    assert_lb_err(lb_proxy_tlvb_add_aws_vpce_id(&b, ""), LB_E_PROXY_TLV_MALFORMED);
    assert_lb_err(lb_proxy_tlvb_add_aws_vpce_id(&b, "a b"), LB_E_PROXY_TLV_MALFORMED);
    assert_lb_err(lb_proxy_tlvb_add_aws_vpce_id(&b, NULL), -EINVAL);
    assert_lb_err(lb_proxy_tlvb_add_netns(&b, NULL), -EINVAL);
    static uint8_t big[200];
    assert_lb_err(lb_proxy_tlvb_add_unique_id(&b, big, 129), LB_E_PROXY_TLV_MALFORMED);
    lb_proxy_tlv_builder bad = {.struct_size = sizeof(bad), .buf = st, .cap = 4, .len = 8};
    assert_lb_err(lb_proxy_tlvb_add_ssl(&b, 1, 0, &bad), -EINVAL);
    lb_proxy_tlvb_init(&b, sizeof(b), st, sizeof(st));
    assert_lb_ok(lb_proxy_tlvb_add_ssl(&b, 1, 0, NULL));
    assert_int_equal(b.len, 8);
    lb_proxy_tlvb_init(NULL, sizeof(lb_proxy_tlv_builder), st, 1);
    lb_proxy_tlvb_init(&b, sizeof(b), NULL, 100);
    assert_int_equal(b.cap, 0);
}

/* ---- decode(encode(x)) == x --------------------------------------------------------------- */

struct gen_tlv {
    uint8_t type;
    uint16_t len;
    uint8_t value[300];
};

static void test_roundtrip(void **state)
{
    (void)state;
    uint64_t seed = 0x5EED5EEDull;
    static uint8_t buf[4096];
    static uint8_t tstore[2400];
    int counts[4] = {0};
    for (int iter = 0; iter < 120000; iter++) {
        uint64_t r = lbt_rand(&seed);
        int version = 1 + (int)(r & 1);
        int local = (r >> 1) % 16 == 0;
        int kind = (int)((r >> 5) % 5); /* 0 v4, 1 v6, 2 unix, 3 mapped+v4, 4 mapped both */
        if (version == 1 && kind == 2)
            kind = 0;
        struct sockaddr_storage ss, sd;
        memset(&ss, 0, sizeof(ss));
        memset(&sd, 0, sizeof(sd));
        uint64_t ra = lbt_rand(&seed), rb = lbt_rand(&seed), rc2 = lbt_rand(&seed);
        uint8_t want_src[16] = {0}, want_dst[16] = {0};
        uint16_t sp = (uint16_t)ra, dp = (uint16_t)(ra >> 16);
        int fam;
        if (kind == 1) {
            struct sockaddr_in6 *s = (void *)&ss, *d = (void *)&sd;
            s->sin6_family = d->sin6_family = AF_INET6;
            memcpy(&s->sin6_addr, &rb, 8);
            memcpy((uint8_t *)&s->sin6_addr + 8, &rc2, 8);
            memcpy(&d->sin6_addr, &rc2, 8);
            memcpy((uint8_t *)&d->sin6_addr + 8, &ra, 8);
            /* sometimes runs of zeros, to exercise "::" */
            if (ra & (1ull << 40))
                memset((uint8_t *)&s->sin6_addr + (ra >> 41) % 8, 0, (ra >> 44) % 9);
            if (((uint8_t *)&s->sin6_addr)[0] == 0 && ((uint8_t *)&s->sin6_addr)[10] == 0xFF)
                ((uint8_t *)&s->sin6_addr)[0] = 0x20; /* stay clear of IPv4-mapped */
            ((uint8_t *)&d->sin6_addr)[0] |= 0x20;
            s->sin6_port = htons(sp);
            d->sin6_port = htons(dp);
            memcpy(want_src, &s->sin6_addr, 16);
            memcpy(want_dst, &d->sin6_addr, 16);
            fam = LB_PROXY_FAM_INET6;
        } else if (kind == 2) {
            struct sockaddr_un *s = (void *)&ss, *d = (void *)&sd;
            s->sun_family = d->sun_family = AF_UNIX;
            size_t n = 1 + ra % 107, m = 1 + rb % 108;
            for (size_t i = 0; i < n; i++)
                s->sun_path[i] = (char)('a' + (rc2 >> (i % 40)) % 26);
            for (size_t i = 0; i < m; i++)
                d->sun_path[i] = (char)('A' + (ra >> (i % 40)) % 26);
            memcpy(want_src, s->sun_path, 16);
            memcpy(want_dst, d->sun_path, 16);
            fam = LB_PROXY_FAM_UNIX;
        } else {
            struct sockaddr_in *s4 = (void *)&ss, *d4 = (void *)&sd;
            s4->sin_family = d4->sin_family = AF_INET;
            memcpy(&s4->sin_addr, &rb, 4);
            memcpy(&d4->sin_addr, (uint8_t *)&rb + 4, 4);
            s4->sin_port = htons(sp);
            d4->sin_port = htons(dp);
            memcpy(want_src, &s4->sin_addr, 4);
            memcpy(want_dst, &d4->sin_addr, 4);
            if (kind >= 3) { /* rewrite as IPv4-mapped IPv6 */
                struct sockaddr_in6 m6;
                memset(&m6, 0, sizeof(m6));
                m6.sin6_family = AF_INET6;
                ((uint8_t *)&m6.sin6_addr)[10] = ((uint8_t *)&m6.sin6_addr)[11] = 0xFF;
                memcpy((uint8_t *)&m6.sin6_addr + 12, want_src, 4);
                m6.sin6_port = htons(sp);
                memcpy(&ss, &m6, sizeof(m6));
                if (kind == 4) {
                    memcpy((uint8_t *)&m6.sin6_addr + 12, want_dst, 4);
                    m6.sin6_port = htons(dp);
                    memcpy(&sd, &m6, sizeof(m6));
                }
            }
            fam = LB_PROXY_FAM_INET;
        }
        lb_proxy_encode_params p =
            params(version, local ? LB_PROXY_CMD_LOCAL : LB_PROXY_CMD_PROXY, &ss, &sd);
        struct gen_tlv tl[6];
        int ntl = 0;
        lb_proxy_tlv_builder tb;
        lb_proxy_tlvb_init(&tb, sizeof(tb), tstore, sizeof(tstore));
        if (version == 2) {
            p.dgram = (uint8_t)(!local && (rc2 & 1));
            p.crc32c = (uint8_t)((rc2 >> 1) & 1);
            p.noop_align = (rc2 >> 2) % 4 == 0 ? (uint32_t)(1 + (rc2 >> 8) % 32) : 0;
            ntl = (int)((rc2 >> 16) % 7);
            for (int i = 0; i < ntl; i++) {
                uint64_t x = lbt_rand(&seed);
                static const uint8_t types[] = {0x01, 0x02, 0x04, 0x05, 0x20, 0x30, 0xE0,
                                                0xEA, 0xEE, 0xF0, 0x00, 0xFF, 0x21, 0x99};
                tl[i].type = types[x % sizeof(types)];
                tl[i].len = (uint16_t)((x >> 8) % 300);
                for (int k = 0; k < tl[i].len; k++)
                    tl[i].value[k] = (uint8_t)(x >> ((k * 7) % 56));
                assert_lb_ok(lb_proxy_tlvb_add(&tb, tl[i].type, tl[i].value, tl[i].len));
            }
            p.tlvs = tb.buf;
            p.tlvs_len = tb.len;
        }
        size_t need = 0;
        int n = lb_proxy_encode(buf, sizeof(buf), &p, &need);
        assert_true(n > 0);
        assert_int_equal(need, (size_t)n);
        /* Application bytes after the header must not change anything. */
        buf[n] = 0x03;
        buf[n + 1] = 0x00;
        lb_proxy_header h;
        int got = decode(buf, (size_t)n + 2, NULL, &h, NULL);
        if (got != n)
            fail_msg("iter %d: decode %d (%s), encoded %d", iter, got, lb_err_name(got), n);
        assert_int_equal(h.version, version);
        if (local) {
            assert_int_equal(h.command, LB_PROXY_CMD_LOCAL);
            assert_int_equal(h.family, LB_PROXY_FAM_UNSPEC);
        } else {
            counts[fam]++;
            assert_int_equal(h.command, LB_PROXY_CMD_PROXY);
            assert_int_equal(h.family, fam);
            assert_int_equal(h.transport,
                             p.dgram ? LB_PROXY_TRANSPORT_DGRAM : LB_PROXY_TRANSPORT_STREAM);
            if (fam == LB_PROXY_FAM_UNIX) {
                const struct sockaddr_un *s = (const void *)&ss, *d = (const void *)&sd;
                assert_int_equal(h.src_path_len, strnlen(s->sun_path, 108));
                assert_int_equal(h.dst_path_len, strnlen(d->sun_path, 108));
                assert_memory_equal(h.src_path, s->sun_path, h.src_path_len);
                assert_memory_equal(h.dst_path, d->sun_path, h.dst_path_len);
            } else {
                assert_memory_equal(h.src_addr, want_src, 16);
                assert_memory_equal(h.dst_addr, want_dst, 16);
                assert_int_equal(h.src_port, sp);
                assert_int_equal(h.dst_port, dp);
            }
        }
        if (version == 2) {
            assert_int_equal(h.crc32c_present, p.crc32c);
            size_t cur = 0;
            lb_proxy_tlv t;
            if (p.crc32c) {
                assert_int_equal(lb_proxy_tlv_next(&h, &cur, &t), 1);
                assert_int_equal(t.type, LB_PROXY_TLV_CRC32C);
            }
            for (int i = 0; i < ntl; i++) {
                assert_int_equal(lb_proxy_tlv_next(&h, &cur, &t), 1);
                assert_int_equal(t.type, tl[i].type);
                assert_int_equal(t.length, tl[i].len);
                assert_memory_equal(t.value, tl[i].value, tl[i].len);
            }
            int last = lb_proxy_tlv_next(&h, &cur, &t);
            if (last == 1) { /* only the alignment padding may follow */
                assert_int_equal(t.type, LB_PROXY_TLV_NOOP);
                assert_true(p.noop_align > 1);
                assert_int_equal(lb_proxy_tlv_next(&h, &cur, &t), 0);
            }
            if (p.noop_align)
                assert_int_equal(n % (int)p.noop_align, 0);
        }
        /* Byte-at-a-time on a sample. */
        if (iter % 97 == 0) {
            for (int k = 0; k < n; k++) {
                lb_proxy_header hp;
                assert_lb_err(decode(buf, (size_t)k, NULL, &hp, NULL), LB_E_NEED_MORE);
            }
        }
    }
    for (int f = 1; f < 4; f++)
        assert_true(counts[f] > 10000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),       cmocka_unit_test(test_every_error_has_a_vector),
        cmocka_unit_test(test_bad_arguments), cmocka_unit_test(test_accessors),
        cmocka_unit_test(test_encode_v1),     cmocka_unit_test(test_encode_v2),
        cmocka_unit_test(test_builder),       cmocka_unit_test(test_roundtrip),
    };
    return cmocka_run_group_tests(tests, load_vectors, free_vectors);
}
