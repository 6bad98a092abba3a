/* Fuzz harness for the TLS ClientHello decoder (libFuzzer entry point; tests/fuzz/fuzz_main.c
 * replays a corpus with a plain main()).
 *
 * For each input: decode with a scratch buffer; every view must lie inside the input or the
 * scratch; the iterators must tile the extensions and ALPN exactly; JA3/JA4 must succeed;
 * the server name's verdict must equal lb_tls_host_check()'s and host matching must agree
 * with it. Then prefixes must answer "need more" with a bound the whole input honours (or
 * the same error), no scratch must mean LB_E_TLS_SCRATCH exactly when fragmented, and the
 * cap must bite exactly at the hello's size. Any disagreement aborts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb/tls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_tls: check failed at line %d: %s\n", __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static uint8_t scratch[LB_TLS_DEFAULT_MAX_HELLO];

static int decode(const uint8_t *buf, size_t len, uint32_t cap, uint8_t *scr, lb_tls_hello *h,
                  size_t *need)
{
    lb_tls_options o;
    lb_tls_options_init(&o, sizeof(o));
    o.max_hello_size = cap;
    lb_tls_hello_init(h, sizeof(*h));
    *need = 0;
    int rc = lb_tls_decode(buf, len, &o, scr, scr ? sizeof(scratch) : 0, h, need);
    CHECK(rc != 0);
    if (rc == LB_E_NEED_MORE)
        CHECK(*need >= 1);
    if (rc > 0)
        CHECK((size_t)rc <= len && h->bytes == (uint32_t)rc);
    return rc;
}

static void inside(const uint8_t *p, size_t n, const uint8_t *base, size_t len)
{
    if (p)
        CHECK(p >= base && p + n <= base + len);
    else
        CHECK(n == 0);
}

static void check_hello(const lb_tls_hello *h, const uint8_t *data, size_t size)
{
    const uint8_t *base = h->fragmented ? scratch : data;
    size_t blen = h->fragmented ? sizeof(scratch) : size;
    inside(h->random, 32, base, blen);
    inside(h->session_id, h->session_id_len, base, blen);
    inside(h->cipher_suites, h->cipher_suites_len, base, blen);
    inside(h->extensions, h->extensions_len, base, blen);
    inside(h->alpn, h->alpn_len, base, blen);
    inside(h->versions, h->versions_len, base, blen);
    inside(h->sig_algs, h->sig_algs_len, base, blen);
    inside(h->groups, h->groups_len, base, blen);
    inside(h->point_formats, h->point_formats_len, base, blen);
    CHECK(h->cipher_suites_len >= 2 && h->cipher_suites_len % 2 == 0);
    CHECK(h->session_id_len <= 32);

    size_t cur = 0, n = 0;
    uint16_t type, dlen;
    const uint8_t *d;
    int rc, ech = 0;
    while ((rc = lb_tls_ext_next(h, &cur, &type, &d, &dlen)) == 1) {
        n++;
        ech |= type == LB_TLS_EXT_ECH;
    }
    CHECK(rc == 0 && cur == h->extensions_len && n == h->extension_count && ech == h->ech);
    cur = n = 0;
    uint8_t nlen;
    while ((rc = lb_tls_alpn_next(h, &cur, &d, &nlen)) == 1)
        n++;
    CHECK(rc == 0 && cur == h->alpn_len && n == h->alpn_count);

    if (h->sni_present) {
        inside(h->sni, h->sni_len, base, blen);
        CHECK(h->sni_error == lb_tls_host_check((const char *)h->sni, h->sni_len));
        static const char *const pats[] = {"*", "*.example.com", "www.example.com"};
        size_t idx = 9;
        rc = lb_tls_host_match(pats, 3, (const char *)h->sni, h->sni_len, &idx);
        CHECK(h->sni_error == LB_OK ? rc == LB_OK && idx < 3 : rc == h->sni_error);
    } else {
        CHECK(h->sni == NULL && h->sni_error == LB_OK);
    }

    char ja3[LB_TLS_JA3_SIZE], ja4[LB_TLS_JA4_SIZE];
    CHECK(lb_tls_ja3(h, ja3, sizeof(ja3)) == LB_OK && strlen(ja3) == 32);
    rc = lb_tls_ja4(h, ja4, sizeof(ja4));
    CHECK(rc == LB_OK || rc == LB_E_TLS_FP_TOO_MANY);
    if (rc == LB_OK)
        CHECK(strlen(ja4) == 36 && ja4[0] == 't' && ja4[10] == '_' && ja4[23] == '_');
}

/* A prefix of k bytes: need more (within what the whole input provides), or the whole
 * input's answer. */
static void prefix(const uint8_t *data, size_t k, int rc)
{
    lb_tls_hello p;
    size_t need;
    int prc = decode(data, k, 0, scratch, &p, &need);
    if (prc == LB_E_NEED_MORE)
        CHECK(rc <= 0 || need <= (size_t)rc - k);
    else
        CHECK(prc == rc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lb_tls_hello h, p;
    size_t need, pneed;
    int rc = decode(data, size, 0, scratch, &h, &need);
    if (rc > 0)
        check_hello(&h, data, size);

    /* Prefixes: need more (within what the whole input provides) or the same answer. */
    size_t step = size / 16 + 1;
    for (size_t k = 0; k < size; k += step)
        prefix(data, k, rc);
    if (size > 0)
        prefix(data, size - 1, rc);

    if (rc > 0) {
        /* Without scratch: the same result unless the hello was fragmented. */
        int nrc = decode(data, size, 0, NULL, &p, &pneed);
        if (h.fragmented)
            CHECK(nrc == LB_E_TLS_SCRATCH && pneed == h.hello_len);
        else
            CHECK(nrc == rc && p.sni == h.sni && p.extension_count == h.extension_count);
        /* The cap bites exactly at the hello's size. */
        CHECK(decode(data, size, h.hello_len + 4, scratch, &p, &pneed) == rc);
        CHECK(decode(data, size, h.hello_len + 3, scratch, &p, &pneed) == LB_E_TLS_TOO_LARGE);
    }

    /* The input as a host name and as a pattern. */
    size_t n = size < 300 ? size : 300;
    int hc = lb_tls_host_check((const char *)data, n);
    CHECK(hc == LB_OK || hc == LB_E_TLS_SNI_INVALID || hc == LB_E_TLS_SNI_IP_LITERAL);
    char pat[301];
    memcpy(pat, data, n);
    pat[n] = 0;
    int pc = lb_tls_host_pattern_check(pat);
    CHECK(pc == LB_OK || pc == LB_E_TLS_BAD_PATTERN);
    if (pc == LB_OK && hc == LB_OK && memchr(data, 0, n) == NULL) {
        const char *pats[] = {pat};
        size_t idx = 9;
        if (pat[0] != '*') /* an exact name matches itself */
            CHECK(lb_tls_host_match(pats, 1, pat, n, &idx) == LB_OK && idx == 0);
    }
    return 0;
}
