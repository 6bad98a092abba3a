/* TLS ClientHello decoder, fingerprints and host matching through the public API: the vectors
 * of tests/data/tls_vectors.txt (every decoder error, the published JA3/JA4 examples, real
 * browser-shaped hellos), byte-at-a-time equivalence and the "need more" bound over each of
 * them, zero-copy and scratch views, the iterators, the struct-size rules, and host patterns. */
#include <errno.h>
#include <string.h>

#include "lbtest.h"
#include "lbtest_vectors.h"

#include "lb/tls.h"

#define vec lbt_vec

static struct vec *vecs;
static size_t nvecs;

static int load_vectors(void **state)
{
    (void)state;
    nvecs = lbt_load_vectors("tls_vectors.txt", &vecs, 512);
    return nvecs > 100 ? 0 : -1;
}

static int free_vectors(void **state)
{
    (void)state;
    lbt_free_vectors(vecs, nvecs);
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

static uint8_t scratch[LB_TLS_MAX_HELLO_LIMIT];

/* Decodes with the vector's options; `scratch=N` limits the scratch buffer. */
static int decode_opts(const uint8_t *buf, size_t len, const char *opts, lb_tls_hello *h,
                       size_t *need)
{
    lb_tls_options o;
    lb_tls_options_init(&o, sizeof(o));
    const char *m = strstr(opts, "max=");
    if (m)
        o.max_hello_size = (uint32_t)strtoul(m + 4, NULL, 10);
    size_t slen = 65536;
    const char *s = strstr(opts, "scratch=");
    if (s)
        slen = strtoul(s + 8, NULL, 10);
    memset(h, 0xA5, sizeof(*h));
    lb_tls_hello_init(h, sizeof(*h));
    return lb_tls_decode(buf, len, &o, slen ? scratch : NULL, slen, h, need);
}

/* The vector file's EXPECT text for a decode result. */
static void describe(int rc, const lb_tls_hello *h, char *out, size_t cap)
{
    if (rc <= 0) {
        snprintf(out, cap, "ERR %s", lb_err_name(rc));
        return;
    }
    char ja3[LB_TLS_JA3_SIZE], ja4[LB_TLS_JA4_SIZE];
    assert_lb_ok(lb_tls_ja3(h, ja3, sizeof(ja3)));
    assert_lb_ok(lb_tls_ja4(h, ja4, sizeof(ja4)));
    char sni[600] = "-";
    if (h->sni_present) {
        int printable = 1;
        for (uint32_t i = 0; i < h->sni_len; i++)
            printable &= h->sni[i] >= 0x21 && h->sni[i] <= 0x7e;
        if (printable) {
            snprintf(sni, sizeof(sni), "%.*s", (int)h->sni_len, (const char *)h->sni);
        } else {
            snprintf(sni, sizeof(sni), "0x");
            for (uint32_t i = 0; i < h->sni_len && i < 290; i++)
                snprintf(sni + 2 + 2 * i, 3, "%02x", h->sni[i]);
        }
    }
    snprintf(out, cap, "OK %d %s %s %04x %d %u %u %u %s %s", rc, sni, lb_err_name(h->sni_error),
             h->version, h->ech, h->cipher_suites_len / 2, h->extension_count, h->alpn_count,
             ja3, ja4);
}

static void test_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < nvecs; i++) {
        const struct vec *v = &vecs[i];
        lb_tls_hello h;
        size_t need = 0;
        int rc = decode_opts(v->data, v->len, v->opts, &h, &need);
        char got[800];
        describe(rc, &h, got, sizeof(got));
        if (strcmp(got, v->expect))
            fail_msg("%s: got '%s', want '%s'", v->name, got, v->expect);
        if (rc == LB_E_NEED_MORE)
            assert_true(need >= 1);
        if (rc > 0) {
            assert_int_equal(h.bytes, (uint32_t)rc);
            assert_int_equal(h.struct_size, sizeof(h));
            /* zero-copy: views into the input unless fragmented, else into the scratch */
            const uint8_t *base = h.fragmented ? scratch : v->data;
            assert_true(h.random >= base && h.random + 32 <= base + (h.fragmented ? sizeof(scratch) : v->len));
            if (!h.fragmented)
                assert_ptr_equal(h.random, v->data + 11);
        }
    }
}

/* Every prefix of a vector: "need more" with a bound that the rest of the input honours, or
 * the vector's own error (errors are final, and more input never changes them). */
static void test_byte_at_a_time(void **state)
{
    (void)state;
    for (size_t i = 0; i < nvecs; i++) {
        const struct vec *v = &vecs[i];
        lb_tls_hello whole, h;
        size_t need;
        int want = decode_opts(v->data, v->len, v->opts, &whole, &need);
        int first_err = 0;
        for (size_t k = 0; k < v->len; k++) {
            need = 0;
            int rc = decode_opts(v->data, k, v->opts, &h, &need);
            if (rc == LB_E_NEED_MORE) {
                assert_true(need >= 1);
                if (!first_err && want > 0 && need > (size_t)want - k)
                    fail_msg("%s: prefix %zu needs %zu, but the hello ends at %d", v->name, k,
                             need, want);
                assert_int_equal(first_err, 0);
                continue;
            }
            if (rc > 0) /* a shorter prefix may already hold the whole hello */
                assert_int_equal(rc, want);
            else if (want != LB_E_TLS_SCRATCH)
                assert_lb_err(rc, want);
            first_err = rc;
        }
    }
}

static void test_every_error_has_a_vector(void **state)
{
    (void)state;
    static const int decoder_errors[] = {
        LB_E_TLS_NOT_TLS,       LB_E_TLS_SSLV2,       LB_E_TLS_NOT_CLIENT_HELLO,
        LB_E_TLS_RECORD_TYPE,   LB_E_TLS_RECORD_TOO_LONG, LB_E_TLS_RECORD_EMPTY,
        LB_E_TLS_TOO_LARGE,     LB_E_TLS_BAD_VERSION, LB_E_TLS_TRUNCATED,
        LB_E_TLS_MALFORMED,     LB_E_TLS_TRAILING,    LB_E_TLS_DUPLICATE_EXTENSION,
        LB_E_TLS_BAD_EXTENSION, LB_E_TLS_SNI_INVALID, LB_E_TLS_SNI_IP_LITERAL,
        LB_E_TLS_SCRATCH,       LB_E_NEED_MORE};
    for (size_t e = 0; e < sizeof(decoder_errors) / sizeof(decoder_errors[0]); e++) {
        const char *name = lb_err_name(decoder_errors[e]);
        int found = 0;
        for (size_t i = 0; i < nvecs && !found; i++)
            found = strstr(vecs[i].expect, name) != NULL;
        if (!found)
            fail_msg("no vector for %s", name);
        assert_string_not_equal(lb_strerror(decoder_errors[e]), "Unknown error");
    }
}

/* Exact "need more" counts where the rule is simple to state. */
static void test_need_counts(void **state)
{
    (void)state;
    const struct vec *v = find_vec("foxio_ja4_example");
    lb_tls_hello h;
    size_t need;
    /* nothing: a record header and the smallest possible hello (45 bytes) */
    assert_lb_err(decode_opts(v->data, 0, "", &h, &need), LB_E_NEED_MORE);
    assert_int_equal(need, 5 + 45);
    /* the record header: the record's payload */
    assert_lb_err(decode_opts(v->data, 5, "", &h, &need), LB_E_NEED_MORE);
    assert_int_equal(need, v->len - 5);
    /* one byte short: one byte */
    assert_lb_err(decode_opts(v->data, v->len - 1, "", &h, &need), LB_E_NEED_MORE);
    assert_int_equal(need, 1);
    /* a fragmented hello cut after its first record: a header and the rest of the hello */
    const struct vec *f = find_vec("second_record_missing");
    const struct vec *t = find_vec("foxio_three_records");
    assert_lb_err(decode_opts(f->data, f->len, "", &h, &need), LB_E_NEED_MORE);
    assert_int_equal(need, 5 + (v->len - 5 - 100));
    (void)t;
    /* the scratch a fragmented hello needs is its body */
    assert_lb_err(decode_opts(t->data, t->len, "scratch=0", &h, &need), LB_E_TLS_SCRATCH);
    assert_int_equal(need, v->len - 5 - 4);
}

static void test_fields(void **state)
{
    (void)state;
    const struct vec *v = find_vec("foxio_ja4_example");
    lb_tls_hello h;
    assert_int_equal(decode_opts(v->data, v->len, "", &h, NULL), (int)v->len);
    assert_int_equal(h.legacy_version, LB_TLS_VERSION_TLS12);
    assert_int_equal(h.version, LB_TLS_VERSION_TLS13);
    assert_int_equal(h.fragmented, 0);
    assert_int_equal(h.session_id_len, 32);
    assert_int_equal(h.cipher_suites_len, 32);
    assert_int_equal(lb_tls_u16_at(h.cipher_suites, 0), 0x3a3a);
    assert_true(lb_tls_is_grease(lb_tls_u16_at(h.cipher_suites, 0)));
    assert_int_equal(lb_tls_u16_at(h.cipher_suites, 1), 0x1301);
    assert_false(lb_tls_is_grease(0x1301));
    assert_false(lb_tls_is_grease(0x0a1a));
    assert_int_equal(h.sni_len, 11);
    assert_memory_equal(h.sni, "example.com", 11);
    assert_int_equal(h.sni_error, LB_OK);
    assert_int_equal(h.alpn_count, 2);
    assert_int_equal(h.versions_len, 6);
    assert_int_equal(h.sig_algs_len, 16);
    assert_int_equal(h.groups_len, 8);
    assert_int_equal(h.point_formats_len, 1);
    /* extensions in wire order */
    static const uint16_t order[] = {0x2a2a, 0x001b, 0x0000, 0x0033, 0x0010, 0x4469,
                                     0x0017, 0x002d, 0x000d, 0x0005, 0x0023, 0x0012,
                                     0x002b, 0xff01, 0x000b, 0x000a, 0x0015, 0xdada};
    size_t cur = 0, n = 0;
    uint16_t type, dlen;
    const uint8_t *data;
    int rc;
    while ((rc = lb_tls_ext_next(&h, &cur, &type, &data, &dlen)) == 1) {
        assert_true(n < 18);
        assert_int_equal(type, order[n++]);
        assert_true(data >= h.extensions && data + dlen <= h.extensions + h.extensions_len);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(n, h.extension_count);
    assert_int_equal(n, 18);
    /* ALPN names */
    cur = 0;
    const uint8_t *name;
    uint8_t nlen;
    assert_int_equal(lb_tls_alpn_next(&h, &cur, &name, &nlen), 1);
    assert_int_equal(nlen, 2);
    assert_memory_equal(name, "h2", 2);
    assert_int_equal(lb_tls_alpn_next(&h, &cur, &name, &nlen), 1);
    assert_memory_equal(name, "http/1.1", 8);
    assert_int_equal(lb_tls_alpn_next(&h, &cur, &name, &nlen), 0);
    /* bad cursors and arguments */
    cur = h.alpn_len + 1;
    assert_lb_err(lb_tls_alpn_next(&h, &cur, &name, &nlen), -EINVAL);
    cur = h.extensions_len - 1; /* too short for an extension header */
    assert_lb_err(lb_tls_ext_next(&h, &cur, &type, &data, &dlen), -EINVAL);
    cur = h.extensions_len + 1;
    assert_lb_err(lb_tls_ext_next(&h, &cur, &type, &data, &dlen), -EINVAL);
    assert_lb_err(lb_tls_ext_next(NULL, &cur, &type, &data, &dlen), -EINVAL);
    assert_lb_err(lb_tls_alpn_next(&h, NULL, &name, &nlen), -EINVAL);
    /* published fingerprints (FoxIO's JA4.md example) */
    char ja4[LB_TLS_JA4_SIZE], ja3[LB_TLS_JA3_SIZE];
    assert_lb_ok(lb_tls_ja4(&h, ja4, sizeof(ja4)));
    assert_string_equal(ja4, "t13d1516h2_8daaf6152771_e5627efa2ab1");
    assert_lb_err(lb_tls_ja4(&h, ja4, sizeof(ja4) - 1), -ENOSPC);
    assert_lb_err(lb_tls_ja3(&h, ja3, sizeof(ja3) - 1), -ENOSPC);
    assert_lb_err(lb_tls_ja4(NULL, ja4, sizeof(ja4)), -EINVAL);
    assert_lb_err(lb_tls_ja3(&h, NULL, sizeof(ja3)), -EINVAL);
}

/* Chrome 143's hello through browserleaks.com, with its published JA3 and JA4, whole and
 * reassembled from two records. */
static void test_published_chrome(void **state)
{
    (void)state;
    const char *names[] = {"chrome143_ech_mlkem", "chrome143_two_records"};
    for (int i = 0; i < 2; i++) {
        const struct vec *v = find_vec(names[i]);
        lb_tls_hello h;
        assert_int_equal(decode_opts(v->data, v->len, "", &h, NULL), (int)v->len);
        assert_int_equal(h.fragmented, i);
        assert_int_equal(h.ech, 1);
        char ja3[LB_TLS_JA3_SIZE], ja4[LB_TLS_JA4_SIZE];
        assert_lb_ok(lb_tls_ja3(&h, ja3, sizeof(ja3)));
        assert_lb_ok(lb_tls_ja4(&h, ja4, sizeof(ja4)));
        assert_string_equal(ja3, "98487aa16281980e7d1120d399efb6a4");
        assert_string_equal(ja4, "t13d1516h2_8daaf6152771_d8a2da3f94cd");
        if (h.fragmented)
            assert_true(h.sni >= scratch && h.sni < scratch + sizeof(scratch));
        else
            assert_true(h.sni > v->data && h.sni < v->data + v->len);
    }
}

static void test_bad_arguments(void **state)
{
    (void)state;
    const struct vec *v = find_vec("foxio_ja4_example");
    lb_tls_hello h;
    lb_tls_hello_init(&h, sizeof(h));
    size_t need = 7;
    assert_lb_err(lb_tls_decode(v->data, v->len, NULL, NULL, 0, NULL, &need), -EINVAL);
    assert_lb_err(lb_tls_decode(NULL, 3, NULL, NULL, 0, &h, &need), -EINVAL);
    assert_lb_err(lb_tls_decode(NULL, 0, NULL, NULL, 0, &h, &need), LB_E_NEED_MORE);
    /* without `need` */
    assert_lb_err(lb_tls_decode(v->data, 10, NULL, NULL, 0, &h, NULL), LB_E_NEED_MORE);
    assert_int_equal(lb_tls_decode(v->data, v->len, NULL, NULL, 0, &h, NULL), (int)v->len);
    /* options: sizes, reserved fields, the cap's range */
    lb_tls_options o;
    lb_tls_options_init(&o, sizeof(o));
    assert_int_equal(o.struct_size, sizeof(o));
    assert_int_equal(o.max_hello_size, LB_TLS_DEFAULT_MAX_HELLO);
    o.max_hello_size = LB_TLS_MAX_HELLO_LIMIT + 1;
    assert_lb_err(lb_tls_decode(v->data, v->len, &o, NULL, 0, &h, NULL), -EINVAL);
    o.max_hello_size = 0;
    o.reserved[1] = 1;
    assert_lb_err(lb_tls_decode(v->data, v->len, &o, NULL, 0, &h, NULL), -EINVAL);
    lb_tls_options_init(&o, sizeof(o));
    o.struct_size = 4;
    assert_lb_err(lb_tls_decode(v->data, v->len, &o, NULL, 0, &h, NULL), LB_E_STRUCT_SIZE);
    /* a newer caller's options: a zero tail is fine, a non-zero one is refused */
    struct {
        lb_tls_options o;
        uint32_t future[2];
    } big;
    memset(&big, 0, sizeof(big));
    lb_tls_options_init(&big.o, sizeof(big));
    assert_int_equal(big.o.struct_size, sizeof(lb_tls_options));
    big.o.struct_size = sizeof(big);
    assert_int_equal(lb_tls_decode(v->data, v->len, &big.o, NULL, 0, &h, NULL), (int)v->len);
    big.future[1] = 9;
    assert_lb_err(lb_tls_decode(v->data, v->len, &big.o, NULL, 0, &h, NULL), LB_E_STRUCT_TOO_NEW);
    /* results: too small a struct_size; a newer caller's tail is zeroed */
    lb_tls_hello_init(&h, sizeof(h));
    h.struct_size = 8;
    assert_lb_err(lb_tls_decode(v->data, v->len, NULL, NULL, 0, &h, NULL), LB_E_STRUCT_SIZE);
    struct {
        lb_tls_hello h;
        uint64_t future;
    } bh;
    memset(&bh, 0x5a, sizeof(bh));
    lb_tls_hello_init(&bh.h, sizeof(bh));
    bh.h.struct_size = sizeof(bh);
    bh.future = 77;
    assert_int_equal(lb_tls_decode(v->data, v->len, NULL, NULL, 0, &bh.h, NULL), (int)v->len);
    assert_int_equal(bh.future, 0);
    assert_int_equal(bh.h.struct_size, sizeof(lb_tls_hello));
    /* init with a tiny size writes nothing past it */
    uint32_t small[2] = {0, 0xdeadbeef};
    lb_tls_hello_init((lb_tls_hello *)(void *)small, sizeof(uint32_t));
    assert_int_equal(small[0], sizeof(uint32_t));
    assert_int_equal(small[1], 0xdeadbeef);
    lb_tls_options_init((lb_tls_options *)(void *)small, sizeof(uint32_t));
    assert_int_equal(small[1], 0xdeadbeef);
    lb_tls_options_init(NULL, sizeof(o));
    lb_tls_hello_init(NULL, sizeof(h));
}

static void test_host_check(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        int want;
    } cases[] = {
        {"example.com", LB_OK},
        {"a", LB_OK},
        {"xn--bcher-kva.example", LB_OK},
        {"A-1.B-2.example", LB_OK},
        {"", LB_E_TLS_SNI_INVALID},
        {"example.com.", LB_E_TLS_SNI_INVALID},
        {".example.com", LB_E_TLS_SNI_INVALID},
        {"a..b", LB_E_TLS_SNI_INVALID},
        {"-a.b", LB_E_TLS_SNI_INVALID},
        {"a-.b", LB_E_TLS_SNI_INVALID},
        {"a.b-", LB_E_TLS_SNI_INVALID},
        {"a_b.c", LB_E_TLS_SNI_INVALID},
        {"a b.c", LB_E_TLS_SNI_INVALID},
        {"host.123", LB_E_TLS_SNI_INVALID},
        {"10.0.0.1", LB_E_TLS_SNI_IP_LITERAL},
        {"1", LB_E_TLS_SNI_IP_LITERAL},
        {"::1", LB_E_TLS_SNI_IP_LITERAL},
        {"[2001:db8::1]", LB_E_TLS_SNI_IP_LITERAL},
        {"::ffff:10.0.0.1", LB_E_TLS_SNI_IP_LITERAL},
        {"host:443", LB_E_TLS_SNI_INVALID},
        {"*.example.com", LB_E_TLS_SNI_INVALID},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (lb_tls_host_check(cases[i].name, strlen(cases[i].name)) != cases[i].want)
            fail_msg("%s: got %s", cases[i].name,
                     lb_err_name(lb_tls_host_check(cases[i].name, strlen(cases[i].name))));
    char label[80], name[300];
    memset(label, 'a', 63);
    label[63] = 0;
    assert_lb_ok(lb_tls_host_check(label, 63));
    assert_lb_err(lb_tls_host_check(label, 64), LB_E_TLS_SNI_INVALID); /* 'a' * 63 + NUL */
    memset(name, 'a', sizeof(name));
    for (int i = 63; i < 300; i += 64)
        name[i] = '.';
    assert_lb_ok(lb_tls_host_check(name, 253));
    assert_lb_err(lb_tls_host_check(name, 254), LB_E_TLS_SNI_INVALID);
    label[5] = 0;
    memset(label, 'a', 64);
    assert_lb_err(lb_tls_host_check(label, 64), LB_E_TLS_SNI_INVALID);
    assert_lb_err(lb_tls_host_check(NULL, 3), LB_E_TLS_SNI_INVALID);
}

static void test_host_match(void **state)
{
    (void)state;
    const char *pats[] = {"*", "*.example.com", "www.example.com", "*.eu.example.com",
                          "API.Example.COM", "*.example.com"};
    const size_t n = sizeof(pats) / sizeof(pats[0]);
    static const struct {
        const char *host;
        int want;
    } cases[] = {
        {"www.example.com", 2},  {"WWW.EXAMPLE.COM", 2}, {"api.example.com", 4},
        {"a.example.com", 1},    {"a.b.example.com", 1}, {"x.eu.example.com", 3},
        {"y.x.eu.example.com", 3}, {"eu.example.com", 1}, {"example.com", 0},
        {"other.org", 0},        {"xexample.com", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t idx = 99;
        assert_lb_ok(lb_tls_host_match(pats, n, cases[i].host, strlen(cases[i].host), &idx));
        if ((int)idx != cases[i].want)
            fail_msg("%s: matched %s", cases[i].host, pats[idx]);
    }
    /* without the catch-all */
    size_t idx = 99;
    assert_lb_err(lb_tls_host_match(pats + 1, n - 1, "example.com", 11, &idx), LB_E_TLS_NO_MATCH);
    assert_lb_err(lb_tls_host_match(pats + 1, n - 1, "xexample.com", 12, &idx), LB_E_TLS_NO_MATCH);
    assert_lb_err(lb_tls_host_match(pats, 0, "example.com", 11, &idx), LB_E_TLS_NO_MATCH);
    assert_int_equal(idx, 99);
    /* bad host names and patterns */
    assert_lb_err(lb_tls_host_match(pats, n, "10.1.2.3", 8, &idx), LB_E_TLS_SNI_IP_LITERAL);
    assert_lb_err(lb_tls_host_match(pats, n, "a_b.example.com", 15, &idx), LB_E_TLS_SNI_INVALID);
    const char *bad[][1] = {{"*.*.example.com"}, {"w*.example.com"}, {"*example.com"}, {""},
                            {"*."},              {"example.com."},  {"**"},           {"1.2.3.4"}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (lb_tls_host_pattern_check(bad[i][0]) != LB_E_TLS_BAD_PATTERN)
            fail_msg("pattern '%s' accepted", bad[i][0]);
        assert_lb_err(lb_tls_host_match(bad[i], 1, "a.example.com", 13, &idx),
                      LB_E_TLS_BAD_PATTERN);
    }
    assert_lb_ok(lb_tls_host_pattern_check("*"));
    assert_lb_ok(lb_tls_host_pattern_check("*.com"));
    assert_lb_ok(lb_tls_host_pattern_check("Example.COM"));
    assert_lb_err(lb_tls_host_pattern_check(NULL), -EINVAL);
    assert_lb_err(lb_tls_host_match(NULL, 1, "a.b", 3, &idx), -EINVAL);
    assert_lb_err(lb_tls_host_match(pats, n, NULL, 3, &idx), -EINVAL);
    assert_lb_err(lb_tls_host_match(pats, n, "a.b", 3, NULL), -EINVAL);
    const char *with_null[] = {"a.b", NULL};
    assert_lb_err(lb_tls_host_match(with_null, 2, "a.b", 3, &idx), -EINVAL);
}

/* JA4 refuses lists longer than it sorts; JA3 has no such limit. */
static void test_fingerprint_limits(void **state)
{
    (void)state;
    size_t n = LB_TLS_FP_MAX_ITEMS + 1, body_len = 2 + 32 + 1 + 2 + 2 * n + 2;
    size_t len = 5 + 4 + body_len;
    (void)len;
    uint8_t *buf = calloc(1, 4 + body_len), *p = buf;
    *p++ = 1, *p++ = 0, *p++ = (uint8_t)(body_len >> 8), *p++ = (uint8_t)body_len;
    *p++ = 3, *p++ = 3;
    p += 32;
    *p++ = 0;
    *p++ = (uint8_t)((2 * n) >> 8), *p++ = (uint8_t)(2 * n);
    for (size_t i = 0; i < n; i++)
        *p++ = (uint8_t)((i + 1) >> 8), *p++ = (uint8_t)(i + 1);
    *p++ = 1, *p++ = 0;
    /* split into records of 4096 bytes into `rec` */
    size_t msg = (size_t)(p - buf), out = 0;
    uint8_t *rec = malloc(msg + 5 * (msg / 4096 + 1));
    for (size_t off = 0; off < msg; off += 4096) {
        size_t k = msg - off < 4096 ? msg - off : 4096;
        rec[out++] = 22, rec[out++] = 3, rec[out++] = 1;
        rec[out++] = (uint8_t)(k >> 8), rec[out++] = (uint8_t)k;
        memcpy(rec + out, buf + off, k);
        out += k;
    }
    lb_tls_options o;
    lb_tls_options_init(&o, sizeof(o));
    o.max_hello_size = (uint32_t)msg;
    lb_tls_hello h;
    lb_tls_hello_init(&h, sizeof(h));
    assert_int_equal(lb_tls_decode(rec, out, &o, scratch, sizeof(scratch), &h, NULL), (int)out);
    assert_int_equal(h.fragmented, 1);
    char ja3[LB_TLS_JA3_SIZE], ja4[LB_TLS_JA4_SIZE];
    assert_lb_ok(lb_tls_ja3(&h, ja3, sizeof(ja3)));
    assert_lb_err(lb_tls_ja4(&h, ja4, sizeof(ja4)), LB_E_TLS_FP_TOO_MANY);
    /* a cap one byte smaller refuses it */
    o.max_hello_size = (uint32_t)msg - 1;
    assert_lb_err(lb_tls_decode(rec, out, &o, scratch, sizeof(scratch), &h, NULL),
                  LB_E_TLS_TOO_LARGE);
    free(rec);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),         cmocka_unit_test(test_byte_at_a_time),
        cmocka_unit_test(test_every_error_has_a_vector),
        cmocka_unit_test(test_need_counts),     cmocka_unit_test(test_fields),
        cmocka_unit_test(test_published_chrome), cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_host_check),      cmocka_unit_test(test_host_match),
        cmocka_unit_test(test_fingerprint_limits),
    };
    return cmocka_run_group_tests(tests, load_vectors, free_vectors);
}
