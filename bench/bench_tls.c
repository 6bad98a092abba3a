/* TLS ClientHello inspection against the obvious efficient implementation of what a router
 * needs: a minimal SNI scanner (record header, handshake header, skip to the extensions, find
 * server_name, take its first host_name; bounds-checked, nothing validated, no reassembly),
 * as proxies that route by SNI write it. Measured in the same run, on the same bytes:
 *  - a browser-sized hello of 517 bytes (Chrome's shape: GREASE, 16 suites, 18 extensions,
 *    X25519 key share, padding), 64 variants with different names;
 *  - a 1,810 to 1,840-byte hello (the names vary) with an X25519MLKEM768 key share and ECH arriving in two TCP segments (1,448
 *    bytes, then the rest): each side is called once per segment, as an event loop does;
 *  - the same hello split over two TLS records (reassembled into scratch by the
 *    decoder; the scanner, which cannot reassemble, reads the one-record form);
 *  - decode plus JA3 and JA4 on the 517-byte hello. */
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "lb/tls.h"

#define N    64
#define SLOT 2048
#define MSS  1448

struct set {
    uint8_t buf[N][SLOT];
    size_t len[N];
    uint8_t scratch[LB_TLS_DEFAULT_MAX_HELLO];
};

static uint8_t *put16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)(v >> 8), p[1] = (uint8_t)v;
    return p + 2;
}

static uint8_t *ext(uint8_t *p, unsigned type, const void *data, size_t n)
{
    p = put16(p, type);
    p = put16(p, (unsigned)n);
    memcpy(p, data, n);
    return p + n;
}

/* A Chrome-shaped hello for `name`; big: an ML-KEM-768 hybrid key share (1,216 + 32 bytes)
 * instead of padding to 517 bytes. Returns the handshake message's length. */
static size_t hello(uint8_t *msg, const char *name, int big, uint64_t seed)
{
    static const unsigned suites[] = {0x3a3a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f,
                                      0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014,
                                      0x009c, 0x009d, 0x002f, 0x0035};
    uint8_t *p = msg + 4, tmp[SLOT];
    p = put16(p, 0x0303);
    for (int i = 0; i < 32; i++)
        *p++ = (uint8_t)(seed >> (i % 8 * 8)) ^ (uint8_t)i;
    *p++ = 32;
    for (int i = 0; i < 32; i++)
        *p++ = (uint8_t)(seed * 31 >> (i % 8 * 8));
    p = put16(p, (unsigned)(2 * (sizeof(suites) / sizeof(suites[0]))));
    for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++)
        p = put16(p, suites[i]);
    *p++ = 1, *p++ = 0;
    uint8_t *exts_len = p;
    p += 2;
    uint8_t *exts = p;
    p = ext(p, 0x2a2a, "", 0);
    size_t nl = strlen(name);
    uint8_t *q = put16(tmp, (unsigned)nl + 3);
    *q++ = 0;
    q = put16(q, (unsigned)nl);
    memcpy(q, name, nl);
    p = ext(p, 0x0000, tmp, nl + 5);
    p = ext(p, 0x0017, "", 0);
    p = ext(p, 0xff01, "\0", 1);
    p = ext(p, 0x000a, "\x00\x08\x4a\x4a\x00\x1d\x00\x17\x00\x18", 10);
    p = ext(p, 0x000b, "\x01\x00", 2);
    p = ext(p, 0x0023, "", 0);
    p = ext(p, 0x0010, "\x00\x0c\x02h2\x08http/1.1", 14);
    p = ext(p, 0x0005, "\x01\x00\x00\x00\x00", 5);
    p = ext(p, 0x000d, "\x00\x10\x04\x03\x08\x04\x04\x01\x05\x03\x08\x05\x05\x01\x08\x06\x06\x01", 18);
    p = ext(p, 0x0012, "", 0);
    /* key_share: GREASE, [X25519MLKEM768,] X25519 */
    q = tmp + 2;
    q = put16(q, 0x4a4a), q = put16(q, 1), *q++ = 0;
    if (big) {
        q = put16(q, 0x11ec), q = put16(q, 1216 + 32);
        for (int i = 0; i < 1216 + 32; i++)
            *q++ = (uint8_t)(seed >> (i % 7)) + (uint8_t)i;
    }
    q = put16(q, 0x001d), q = put16(q, 32);
    for (int i = 0; i < 32; i++)
        *q++ = (uint8_t)(seed >> (i % 5));
    put16(tmp, (unsigned)(q - tmp - 2));
    p = ext(p, 0x0033, tmp, (size_t)(q - tmp));
    p = ext(p, 0x002d, "\x01\x01", 2);
    p = ext(p, 0x002b, "\x06\x7a\x7a\x03\x04\x03\x03", 7);
    p = ext(p, 0x001b, "\x02\x00\x02", 3);
    p = ext(p, 0x4469, "\x00\x03\x02h2", 5);
    if (big) { /* an ECH outer extension: config id, a 32-byte key, a 208-byte payload */
        q = tmp;
        *q++ = 0, q = put16(q, 1), q = put16(q, 1), *q++ = 0x9a;
        q = put16(q, 32);
        memset(q, 0x11, 32), q += 32;
        q = put16(q, 208);
        memset(q, 0x22, 208), q += 208;
        p = ext(p, 0xfe0d, tmp, (size_t)(q - tmp));
    }
    if (!big) { /* padding to a 517-byte record, as Chrome pads */
        size_t now = (size_t)(p - msg) + 5 + 4 + 5;
        size_t pad = now < 517 ? 517 - now : 0;
        memset(tmp, 0, pad);
        p = ext(p, 0x0015, tmp, pad);
    }
    p = ext(p, 0xdada, "\0", 1);
    put16(exts_len, (unsigned)(p - exts));
    size_t body = (size_t)(p - msg) - 4;
    msg[0] = 1, msg[1] = (uint8_t)(body >> 16), msg[2] = (uint8_t)(body >> 8);
    msg[3] = (uint8_t)body;
    return body + 4;
}

/* The message in records: one, or two split at `split` bytes of the message. */
static size_t records(uint8_t *out, const uint8_t *msg, size_t n, size_t split)
{
    size_t pos = 0, w = 0;
    while (pos < n) {
        size_t k = split && pos == 0 ? split : n - pos;
        out[w++] = 22, out[w++] = 3, out[w++] = 1;
        out[w++] = (uint8_t)(k >> 8), out[w++] = (uint8_t)k;
        memcpy(out + w, msg + pos, k);
        w += k, pos += k;
    }
    return w;
}

static struct set *make(int big, size_t split)
{
    struct set *s = calloc(1, sizeof(*s));
    uint64_t x = 0x9E3779B97F4A7C15ull * (uint64_t)(big + 1);
    for (int i = 0; i < N; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        char name[64];
        snprintf(name, sizeof(name), "%s%u.%s", i % 3 ? "www" : "api-gateway-", (unsigned)(x % 1000),
                 i % 2 ? "example.com" : "shop.example.co.uk");
        uint8_t msg[SLOT];
        size_t n = hello(msg, name, big, x);
        s->len[i] = records(s->buf[i], msg, n, split);
        lb_tls_hello h;
        lb_tls_hello_init(&h, sizeof(h));
        if (lb_tls_decode(s->buf[i], s->len[i], NULL, s->scratch, sizeof(s->scratch), &h, NULL) !=
            (int)s->len[i])
            abort();
    }
    return s;
}

static void *s_517(void)
{
    struct set *s = make(0, 0);
    if (s->len[0] != 517)
        abort();
    return s;
}
static void *s_big(void)
{
    struct set *s = make(1, 0);
    if (s->len[0] < 1800 || s->len[0] > 1850)
        abort();
    return s;
}
static void *s_big_two_records(void)
{
    return make(1, 1200);
}

/* The baseline: the SNI scanner a proxy writes. 1 with the name, 0 without, -1 incomplete,
 * -2 not a hello it understands. */
static int sni_scan(const uint8_t *b, size_t len, const uint8_t **name, size_t *name_len)
{
    if (len < 5)
        return -1;
    if (b[0] != 22 || b[1] != 3)
        return -2;
    size_t rlen = (size_t)b[3] << 8 | b[4];
    if (len < 5 + rlen)
        return -1;
    const uint8_t *p = b + 5, *end = p + rlen;
    if (rlen < 4 || p[0] != 1)
        return -2;
    size_t hlen = (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
    if (hlen + 4 > rlen)
        return -2; /* fragmented: not handled */
    p += 4, end = p + hlen;
    if (end - p < 35)
        return -2;
    p += 34;
    p += 1 + p[0];
    if (end - p < 2)
        return -2;
    p += 2 + ((size_t)p[0] << 8 | p[1]);
    if (end - p < 1)
        return -2;
    p += 1 + p[0];
    if (end - p < 2)
        return 0;
    p += 2;
    while (end - p >= 4) {
        unsigned type = (unsigned)p[0] << 8 | p[1];
        size_t n = (size_t)p[2] << 8 | p[3];
        p += 4;
        if ((size_t)(end - p) < n)
            return -2;
        if (type == 0 && n >= 5 && p[2] == 0) {
            size_t l = (size_t)p[3] << 8 | p[4];
            if (l + 5 > n)
                return -2;
            *name = p + 5, *name_len = l;
            return 1;
        }
        p += n;
    }
    return 0;
}

static void run_scan(void *ctx, uint64_t ops)
{
    struct set *s = ctx;
    uint64_t acc = 0;
    for (uint64_t i = 0; i < ops; i++) {
        unsigned k = (unsigned)(i & (N - 1));
        const uint8_t *name = NULL;
        size_t nl = 0;
        acc += (uint64_t)sni_scan(s->buf[k], s->len[k], &name, &nl) + nl + name[nl - 1];
    }
    bench_sink = acc;
}

static void run_decode(void *ctx, uint64_t ops)
{
    struct set *s = ctx;
    lb_tls_hello h;
    lb_tls_hello_init(&h, sizeof(h));
    uint64_t acc = 0;
    for (uint64_t i = 0; i < ops; i++) {
        unsigned k = (unsigned)(i & (N - 1));
        int rc = lb_tls_decode(s->buf[k], s->len[k], NULL, s->scratch, sizeof(s->scratch), &h,
                               NULL);
        acc += (uint64_t)rc + h.sni_len + h.sni[h.sni_len - 1];
    }
    bench_sink = acc;
}

/* Two segments: the first MSS bytes (the answer is "need more"), then everything. */
static void run_scan_segments(void *ctx, uint64_t ops)
{
    struct set *s = ctx;
    uint64_t acc = 0;
    for (uint64_t i = 0; i < ops; i++) {
        unsigned k = (unsigned)(i & (N - 1));
        const uint8_t *name = NULL;
        size_t nl = 0;
        acc += (uint64_t)sni_scan(s->buf[k], MSS, &name, &nl);
        acc += (uint64_t)sni_scan(s->buf[k], s->len[k], &name, &nl) + nl + name[nl - 1];
    }
    bench_sink = acc;
}

static void run_decode_segments(void *ctx, uint64_t ops)
{
    struct set *s = ctx;
    lb_tls_hello h;
    lb_tls_hello_init(&h, sizeof(h));
    uint64_t acc = 0;
    size_t need;
    for (uint64_t i = 0; i < ops; i++) {
        unsigned k = (unsigned)(i & (N - 1));
        acc += (uint64_t)lb_tls_decode(s->buf[k], MSS, NULL, s->scratch, sizeof(s->scratch), &h,
                                       &need) + need;
        int rc = lb_tls_decode(s->buf[k], s->len[k], NULL, s->scratch, sizeof(s->scratch), &h,
                               NULL);
        acc += (uint64_t)rc + h.sni_len + h.sni[h.sni_len - 1];
    }
    bench_sink = acc;
}

static void run_decode_fingerprints(void *ctx, uint64_t ops)
{
    struct set *s = ctx;
    lb_tls_hello h;
    lb_tls_hello_init(&h, sizeof(h));
    char ja3[LB_TLS_JA3_SIZE], ja4[LB_TLS_JA4_SIZE];
    uint64_t acc = 0;
    for (uint64_t i = 0; i < ops; i++) {
        unsigned k = (unsigned)(i & (N - 1));
        int rc = lb_tls_decode(s->buf[k], s->len[k], NULL, s->scratch, sizeof(s->scratch), &h,
                               NULL);
        acc += (uint64_t)rc + (uint64_t)lb_tls_ja3(&h, ja3, sizeof(ja3)) +
               (uint64_t)lb_tls_ja4(&h, ja4, sizeof(ja4)) + (uint8_t)ja3[5] + (uint8_t)ja4[30];
    }
    bench_sink = acc;
}

int main(int argc, char **argv)
{
    static const struct bench_case cases[] = {
        {"sni_scan_517", "{\"hellos\": 64, \"bytes\": 517}", NULL, s_517, run_scan, free},
        {"sni_scan_1820_two_segments", "{\"hellos\": 64, \"bytes\": \"1,810-1,840\", \"segments\": 2}", NULL,
         s_big, run_scan_segments, free},
        {"sni_scan_1820", "{\"hellos\": 64, \"bytes\": \"1,810-1,840\"}", NULL, s_big, run_scan, free},
        {"tls_decode_517", "{\"hellos\": 64, \"bytes\": 517}", "sni_scan_517", s_517, run_decode,
         free},
        {"tls_decode_1820_two_segments", "{\"hellos\": 64, \"bytes\": \"1,810-1,840\", \"segments\": 2}",
         "sni_scan_1820_two_segments", s_big, run_decode_segments, free},
        {"tls_decode_1820_two_records", "{\"hellos\": 64, \"bytes\": \"1,815-1,845\", \"records\": 2}",
         "sni_scan_1820", s_big_two_records, run_decode, free},
        {"tls_decode_ja3_ja4_517", "{\"hellos\": 64, \"bytes\": 517}", "sni_scan_517", s_517,
         run_decode_fingerprints, free},
    };
    return bench_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
