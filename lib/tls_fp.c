/* JA3 (Salesforce) and JA4 (FoxIO) fingerprints of a decoded ClientHello. Both stream their
 * text into the digest piece by piece: nothing is allocated, and only JA4's sorted lists need
 * a bounded array on the stack. */
#include <errno.h>
#include <string.h>

#include "internal/digest.h"
#include "internal/util.h"
#include "lb/tls.h"

static const char hex_digits[] = "0123456789abcdef";

static void to_hex(const uint8_t *in, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex_digits[in[i] >> 4];
        out[2 * i + 1] = hex_digits[in[i] & 15];
    }
}

/* The fingerprint's text on its way into the digest, a block at a time (the digest's update
 * costs far more per call than per byte). */
struct sink {
    lb__digest d;
    size_t n;
    char buf[128];
};

static void sink_flush(struct sink *s)
{
    lb__digest_update(&s->d, s->buf, s->n);
    s->n = 0;
}

static void sink_put(struct sink *s, const char *p, size_t n)
{
    if (s->n + n > sizeof(s->buf))
        sink_flush(s);
    memcpy(s->buf + s->n, p, n);
    s->n += n;
}

/* Feeds `sep` (unless first) and the decimal digits of v. */
static void put_dec(struct sink *d, int *first, char sep, uint32_t v)
{
    char buf[12];
    size_t n = sizeof(buf);
    do
        buf[--n] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    if (!*first)
        buf[--n] = sep;
    *first = 0;
    sink_put(d, buf + n, sizeof(buf) - n);
}

/* Feeds the non-GREASE 16-bit entries of a list in decimal, '-'-separated. */
static void put_list16(struct sink *d, const uint8_t *list, size_t bytes)
{
    int first = 1;
    for (size_t i = 0; i < bytes / 2; i++) {
        uint16_t v = lb_tls_u16_at(list, i);
        if (!lb_tls_is_grease(v))
            put_dec(d, &first, '-', v);
    }
}

LB_API int lb_tls_ja3(const lb_tls_hello *h, char *out, size_t out_size)
{
    if (!h || !out)
        return -EINVAL;
    if (out_size < LB_TLS_JA3_SIZE)
        return -ENOSPC;
    struct sink d;
    lb__md5_init(&d.d);
    d.n = 0;
    int first = 1;
    put_dec(&d, &first, ',', h->legacy_version);
    sink_put(&d, ",", 1);
    put_list16(&d, h->cipher_suites, h->cipher_suites_len);
    sink_put(&d, ",", 1);
    size_t cur = 0;
    uint16_t type, dlen;
    const uint8_t *data;
    first = 1;
    while (lb_tls_ext_next(h, &cur, &type, &data, &dlen) == 1)
        if (!lb_tls_is_grease(type))
            put_dec(&d, &first, '-', type);
    sink_put(&d, ",", 1);
    put_list16(&d, h->groups, h->groups_len);
    sink_put(&d, ",", 1);
    first = 1;
    for (size_t i = 0; i < h->point_formats_len; i++)
        put_dec(&d, &first, '-', h->point_formats[i]);
    uint8_t md[LB_MD5_SIZE];
    sink_flush(&d);
    lb__digest_final(&d.d, md);
    to_hex(md, sizeof(md), out);
    out[32] = '\0';
    return LB_OK;
}

/* In-place heap sort of a few thousand 16-bit values. */
static void sift(uint16_t *a, size_t i, size_t n)
{
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            return;
        if (c + 1 < n && a[c + 1] > a[c])
            c++;
        if (a[i] >= a[c])
            return;
        uint16_t t = a[i];
        a[i] = a[c], a[c] = t;
        i = c;
    }
}

static void heap_sort(uint16_t *a, size_t n)
{
    for (size_t i = n / 2; i-- > 0;)
        sift(a, i, n);
    for (size_t end = n; end-- > 1;) {
        uint16_t t = a[0];
        a[0] = a[end], a[end] = t;
        sift(a, 0, end);
    }
}

/* Feeds `v` as 4 lower-case hex digits, comma-separated. */
static void put_hex16(struct sink *d, int *first, uint16_t v)
{
    char buf[5] = {',', hex_digits[v >> 12], hex_digits[(v >> 8) & 15], hex_digits[(v >> 4) & 15],
                   hex_digits[v & 15]};
    sink_put(d, *first ? buf + 1 : buf, *first ? 4 : 5);
    *first = 0;
}

/* The first 12 hex digits of SHA-256 over the sorted list, then `tail` if any; 12 zeros for an
 * empty list. */
static void hash12(uint16_t *a, size_t n, const uint8_t *tail, size_t tail_bytes, char *out)
{
    if (n == 0) {
        memset(out, '0', 12);
        return;
    }
    heap_sort(a, n);
    struct sink d;
    lb__sha256_init(&d.d);
    d.n = 0;
    int first = 1;
    for (size_t i = 0; i < n; i++)
        put_hex16(&d, &first, a[i]);
    first = 1;
    for (size_t i = 0; i < tail_bytes / 2; i++) {
        uint16_t v = lb_tls_u16_at(tail, i);
        if (lb_tls_is_grease(v))
            continue;
        if (first)
            sink_put(&d, "_", 1);
        put_hex16(&d, &first, v);
    }
    uint8_t md[LB_SHA256_SIZE];
    sink_flush(&d);
    lb__digest_final(&d.d, md);
    to_hex(md, 6, out);
}

static const char *version_code(uint16_t v)
{
    switch (v) {
    case 0x0304: return "13";
    case 0x0303: return "12";
    case 0x0302: return "11";
    case 0x0301: return "10";
    case 0x0300: return "s3";
    case 0x0002: return "s2";
    case 0xfeff: return "d1";
    case 0xfefd: return "d2";
    case 0xfefc: return "d3";
    default: return "00";
    }
}

static int is_alnum(uint8_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* The first and last characters of the first ALPN value; when either is not alphanumeric,
 * the first and last hex digits of the value instead; "00" without ALPN. */
static void alpn_code(const lb_tls_hello *h, char *out)
{
    size_t cur = 0;
    const uint8_t *name;
    uint8_t n;
    if (lb_tls_alpn_next(h, &cur, &name, &n) != 1) {
        out[0] = out[1] = '0';
        return;
    }
    if (is_alnum(name[0]) && is_alnum(name[n - 1])) {
        out[0] = (char)name[0];
        out[1] = (char)name[n - 1];
    } else {
        out[0] = hex_digits[name[0] >> 4];
        out[1] = hex_digits[name[n - 1] & 15];
    }
}

static void two_digits(size_t n, char *out)
{
    if (n > 99)
        n = 99;
    out[0] = (char)('0' + n / 10);
    out[1] = (char)('0' + n % 10);
}

LB_API int lb_tls_ja4(const lb_tls_hello *h, char *out, size_t out_size)
{
    if (!h || !out)
        return -EINVAL;
    if (out_size < LB_TLS_JA4_SIZE)
        return -ENOSPC;
    uint16_t items[LB_TLS_FP_MAX_ITEMS];
    size_t n = 0, ciphers = 0, exts = 0;
    int sni = 0;
    size_t cur = 0;
    uint16_t type, dlen;
    const uint8_t *data;
    /* extensions first: the part a needs their count and the SNI flag */
    while (lb_tls_ext_next(h, &cur, &type, &data, &dlen) == 1) {
        if (lb_tls_is_grease(type))
            continue;
        exts++;
        if (type == LB_TLS_EXT_SERVER_NAME)
            sni = 1;
        if (type == LB_TLS_EXT_SERVER_NAME || type == LB_TLS_EXT_ALPN)
            continue;
        if (n == LB_TLS_FP_MAX_ITEMS)
            return LB_E_TLS_FP_TOO_MANY;
        items[n++] = type;
    }
    if (h->cipher_suites_len / 2 > LB_TLS_FP_MAX_ITEMS ||
        h->sig_algs_len / 2 > LB_TLS_FP_MAX_ITEMS)
        return LB_E_TLS_FP_TOO_MANY;
    char *p = out;
    *p++ = 't';
    memcpy(p, version_code(h->version), 2), p += 2;
    *p++ = sni ? 'd' : 'i';
    for (size_t i = 0; i < h->cipher_suites_len / 2; i++)
        ciphers += !lb_tls_is_grease(lb_tls_u16_at(h->cipher_suites, i));
    two_digits(ciphers, p), p += 2;
    two_digits(exts, p), p += 2;
    alpn_code(h, p), p += 2;
    *p++ = '_';
    char *c_part = p + 13;
    /* c first: it reuses items[] before b fills it with the cipher suites */
    hash12(items, n, h->sig_algs, h->sig_algs_len, c_part);
    n = 0;
    for (size_t i = 0; i < h->cipher_suites_len / 2; i++) {
        uint16_t v = lb_tls_u16_at(h->cipher_suites, i);
        if (!lb_tls_is_grease(v))
            items[n++] = v;
    }
    hash12(items, n, NULL, 0, p);
    p[12] = '_';
    c_part[12] = '\0';
    return LB_OK;
}
