/* PROXY protocol v1 (text): a strict sequential decoder and the encoder.
 *
 * The decoder reads the line one byte at a time and decides every fault from the bytes seen
 * so far, so a prefix of a header gives either LB_E_NEED_MORE or the whole header's result. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "internal/proxy.h"
#include "internal/util.h"

/* Longest textual IPv6 address (with an embedded dotted quad). */
#define IP6_TEXT_MAX 45

static int is_hex(uint8_t c)
{
    return (uint8_t)(c - '0') < 10 || (uint8_t)((c | 0x20) - 'a') < 6;
}

static unsigned hex_val(uint8_t c)
{
    return (uint8_t)(c - '0') < 10 ? (unsigned)(c - '0') : (unsigned)((c | 0x20) - 'a' + 10);
}

/* Strict dotted quad over exactly n bytes: four decimal 0-255 without leading zeros. */
static int parse_ip4_text(const uint8_t *s, size_t n, uint8_t out[4])
{
    size_t i = 0;
    for (int k = 0; k < 4; k++) {
        if (k) {
            if (i >= n || s[i] != '.')
                return -1;
            i++;
        }
        size_t start = i;
        unsigned v = 0;
        while (i < n && (uint8_t)(s[i] - '0') < 10 && i - start < 3)
            v = v * 10 + (unsigned)(s[i++] - '0');
        size_t d = i - start;
        if (d == 0 || v > 255 || (d > 1 && s[start] == '0'))
            return -1;
        out[k] = (uint8_t)v;
    }
    return i == n ? 0 : -1;
}

/* Strict textual IPv6 (RFC 4291 section 2.2, no zone id) over exactly n bytes. */
static int parse_ip6_text(const uint8_t *s, size_t n, uint8_t out[16])
{
    uint16_t w[8];
    int nw = 0, gap = -1;
    size_t i = 0;
    if (n < 2)
        return -1;
    if (s[0] == ':') {
        if (s[1] != ':')
            return -1;
        gap = 0;
        i = 2;
    }
    while (i < n) {
        size_t j = i;
        unsigned v = 0;
        while (j < n && is_hex(s[j]) && j - i < 4)
            v = v << 4 | hex_val(s[j++]);
        if (j < n && s[j] == '.') { /* a trailing dotted quad */
            uint8_t q[4];
            if (nw > 6 || parse_ip4_text(s + i, n - i, q))
                return -1;
            w[nw++] = (uint16_t)(q[0] << 8 | q[1]);
            w[nw++] = (uint16_t)(q[2] << 8 | q[3]);
            i = n;
            break;
        }
        if (j == i || nw == 8)
            return -1;
        w[nw++] = (uint16_t)v;
        if (j == n) {
            i = j;
            break;
        }
        if (s[j] != ':')
            return -1;
        j++;
        if (j < n && s[j] == ':') {
            if (gap >= 0)
                return -1;
            gap = nw;
            j++;
        } else if (j == n) {
            return -1; /* a single trailing colon */
        }
        i = j;
    }
    if (gap < 0 ? nw != 8 : nw > 7)
        return -1;
    uint16_t full[8] = {0};
    for (int g = 0; g < nw; g++)
        full[gap < 0 || g < gap ? g : 8 - (nw - g)] = w[g];
    for (int g = 0; g < 8; g++) {
        out[2 * g] = (uint8_t)(full[g] >> 8);
        out[2 * g + 1] = (uint8_t)full[g];
    }
    return 0;
}

/* ---- fast path ----------------------------------------------------------------------
 * For a complete TCP4/TCP6 line (a LF is present within the limit). Every field loop stops at
 * the first byte that cannot continue it, and LF continues none, so nothing past the LF is
 * read. It accepts exactly the lines the sequential parser below accepts, with the same result;
 * anything else (UNKNOWN, any fault) returns -1 and the sequential parser decides. */

#if defined(__GNUC__) || defined(__clang__)
#define FAST_INLINE static inline __attribute__((always_inline))
#else
#define FAST_INLINE static inline
#endif

/* A decimal 0..max (255 or 65535) without leading zeros; NULL when not one. A digit is read only
 * after the previous byte was a digit. */
FAST_INLINE const uint8_t *fast_num(const uint8_t *p, unsigned max, unsigned *out)
{
    unsigned v = (unsigned)(p[0] - '0'), d;
    if (v > 9)
        return NULL;
    if ((d = (unsigned)(p[1] - '0')) > 9) {
        *out = v;
        return p + 1;
    }
    if (v == 0)
        return NULL;
    v = v * 10 + d;
    if ((d = (unsigned)(p[2] - '0')) > 9) {
        *out = v;
        return p + 2;
    }
    v = v * 10 + d;
    p += 3;
    if (max > 999) { /* ports: up to two more digits */
        while ((d = (unsigned)(p[0] - '0')) <= 9 && v <= 6553) {
            v = v * 10 + d;
            p++;
        }
    }
    if ((unsigned)(p[0] - '0') <= 9 || v > max)
        return NULL;
    *out = v;
    return p;
}

FAST_INLINE const uint8_t *fast_ip4(const uint8_t *p, uint8_t out[4])
{
    for (int k = 0; k < 4; k++) {
        unsigned v;
        if (k && *p++ != '.')
            return NULL;
        p = fast_num(p, 255, &v);
        if (!p)
            return NULL;
        out[k] = (uint8_t)v;
    }
    return *p == ' ' ? p + 1 : NULL;
}

static const uint8_t *fast_ip6(const uint8_t *p, const uint8_t *nl, uint8_t out[16])
{
    const uint8_t *sp = memchr(p, ' ', (size_t)(nl - p));
    if (!sp || sp == p || sp - p > IP6_TEXT_MAX || parse_ip6_text(p, (size_t)(sp - p), out))
        return NULL;
    return sp + 1;
}

/* Fills the result of a v1 line: TCP4/TCP6 (PROXY), or UNSPEC (UNKNOWN, reported as LOCAL). */
FAST_INLINE int v1_result(lb_proxy_header *out, int fam, const uint8_t (*addr)[16], unsigned sport,
                          unsigned dport, size_t total)
{
    out->version = 1;
    out->command = fam ? LB_PROXY_CMD_PROXY : LB_PROXY_CMD_LOCAL;
    out->family = (uint8_t)fam;
    out->transport = fam ? LB_PROXY_TRANSPORT_STREAM : LB_PROXY_TRANSPORT_UNSPEC;
    out->src_port = (uint16_t)sport;
    out->dst_port = (uint16_t)dport;
    out->header_len = (uint32_t)total;
    if (addr) {
        memcpy(out->src_addr, addr[0], 16);
        memcpy(out->dst_addr, addr[1], 16);
    } else {
        memset(out->src_addr, 0, 16);
        memset(out->dst_addr, 0, 16);
    }
    out->src_path = out->dst_path = NULL;
    out->src_path_len = out->dst_path_len = 0;
    out->crc32c_present = 0;
    out->tlvs = NULL;
    out->tlvs_len = 0;
    return (int)total;
}

static int fast_v1(const uint8_t *buf, const uint8_t *nl, lb_proxy_header *out)
{
    static const uint8_t pre[8] = {'P', 'R', 'O', 'X', 'Y', ' ', 'T', 'C'};
    uint8_t addr[2][16];
    unsigned sport, dport;
    if (nl - buf < 30 || memcmp(buf, pre, 8) != 0 || buf[8] != 'P' || buf[10] != ' ')
        return -1;
    const uint8_t *p = buf + 11;
    memset(addr, 0, sizeof(addr));
    int fam;
    if (buf[9] == '4') {
        fam = LB_PROXY_FAM_INET;
        if (!(p = fast_ip4(p, addr[0])) || !(p = fast_ip4(p, addr[1])))
            return -1;
    } else if (buf[9] == '6') {
        fam = LB_PROXY_FAM_INET6;
        if (!(p = fast_ip6(p, nl, addr[0])) || !(p = fast_ip6(p, nl, addr[1])))
            return -1;
    } else {
        return -1;
    }
    if (!(p = fast_num(p, 65535, &sport)) || *p++ != ' ' || !(p = fast_num(p, 65535, &dport)) ||
        p[0] != '\r' || p + 1 != nl)
        return -1;
    return v1_result(out, fam, (const uint8_t(*)[16])addr, sport, dport, (size_t)(nl + 1 - buf));
}

/* The cursor over the visible bytes: NEXT() fetches one or jumps to the "ran out" exit. */
#define NEXT(c)                                                                                    \
    do {                                                                                           \
        if (LB_UNLIKELY(i >= end))                                                                 \
            goto ran_out;                                                                          \
        (c) = buf[i++];                                                                            \
    } while (0)

int lb__proxy_decode_v1(const uint8_t *buf, size_t len, uint32_t max, lb_proxy_header *out,
                        size_t *need)
{
    static const char sig[] = "PROXY ";
    size_t lim = max == 0 ? LB_PROXY_V1_MAX : (max < LB_PROXY_V1_MAX ? max : LB_PROXY_V1_MAX);
    size_t end = len < lim ? len : lim, i = 0;
    uint8_t c = 0;
    int fam;

    if (LB_LIKELY(max != 0 && end >= 32)) {
        const uint8_t *nl = memchr(buf, '\n', end);
        if (nl) {
            int rc = fast_v1(buf, nl, out);
            if (rc > 0)
                return rc;
        }
    }

    /* "PROXY": a mismatch means some other protocol; then exactly one space. */
    while (i < 5) {
        NEXT(c);
        if (c != (uint8_t)sig[i - 1])
            return LB_E_PROXY_NOT_PROXY;
    }
    NEXT(c);
    if (c != ' ')
        return LB_E_PROXY_V1_SYNTAX;
    if (max == 0)
        return LB_E_PROXY_VERSION_REFUSED;

    NEXT(c);
    if (c == 'U') {
        static const char unk[] = "NKNOWN";
        for (int k = 0; k < 6; k++) {
            NEXT(c);
            if (c != (uint8_t)unk[k])
                return LB_E_PROXY_V1_SYNTAX;
        }
        NEXT(c);
        if (c == ' ') {
            /* Anything up to CRLF is ignored; a lone CR or LF is part of it. */
            for (;;) {
                NEXT(c);
                while (c == '\r') {
                    NEXT(c);
                    if (c == '\n')
                        goto unknown_done;
                }
            }
        }
        if (c != '\r')
            return LB_E_PROXY_V1_SYNTAX;
        NEXT(c);
        if (c != '\n')
            return LB_E_PROXY_V1_SYNTAX;
    unknown_done:
        return v1_result(out, LB_PROXY_FAM_UNSPEC, NULL, 0, 0, i);
    }
    if (c != 'T')
        return LB_E_PROXY_V1_SYNTAX;
    NEXT(c);
    if (c != 'C')
        return LB_E_PROXY_V1_SYNTAX;
    NEXT(c);
    if (c != 'P')
        return LB_E_PROXY_V1_SYNTAX;
    NEXT(c);
    if (c == '4')
        fam = LB_PROXY_FAM_INET;
    else if (c == '6')
        fam = LB_PROXY_FAM_INET6;
    else
        return LB_E_PROXY_V1_SYNTAX;
    NEXT(c);
    if (c != ' ')
        return LB_E_PROXY_V1_SYNTAX;

    uint8_t addr[2][16];
    memset(addr, 0, sizeof(addr));
    for (int a = 0; a < 2; a++) {
        size_t start = i;
        if (fam == LB_PROXY_FAM_INET) {
            /* Octets as they come: digits, no leading zero, at most 255, three dots. */
            for (int k = 0; k < 4; k++) {
                unsigned v = 0, d = 0;
                for (;;) {
                    NEXT(c);
                    if ((uint8_t)(c - '0') < 10) {
                        if (d == 1 && v == 0)
                            return LB_E_PROXY_BAD_ADDRESS; /* leading zero */
                        v = v * 10 + (unsigned)(c - '0');
                        if (++d > 3 || v > 255)
                            return LB_E_PROXY_BAD_ADDRESS;
                        continue;
                    }
                    if (c == '\r' || c == '\n' || (c == ' ' && i - 1 == start))
                        return LB_E_PROXY_V1_SYNTAX;
                    if (d == 0 || c != (k < 3 ? '.' : ' '))
                        return LB_E_PROXY_BAD_ADDRESS;
                    break;
                }
                addr[a][k] = (uint8_t)v;
            }
        } else {
            for (;;) {
                NEXT(c);
                if (c == ' ')
                    break;
                if (c == '\r' || c == '\n')
                    return LB_E_PROXY_V1_SYNTAX;
                if (!(is_hex(c) || c == ':' || c == '.') || i - start > IP6_TEXT_MAX)
                    return LB_E_PROXY_BAD_ADDRESS;
            }
            if (i - 1 == start)
                return LB_E_PROXY_V1_SYNTAX;
            if (parse_ip6_text(buf + start, i - 1 - start, addr[a]))
                return LB_E_PROXY_BAD_ADDRESS;
        }
    }

    unsigned port[2];
    for (int a = 0; a < 2; a++) {
        unsigned v = 0, d = 0;
        uint8_t term = a ? '\r' : ' ';
        for (;;) {
            NEXT(c);
            if ((uint8_t)(c - '0') < 10) {
                if (d == 1 && v == 0)
                    return LB_E_PROXY_BAD_PORT; /* leading zero */
                v = v * 10 + (unsigned)(c - '0');
                if (++d > 5 || v > 65535)
                    return LB_E_PROXY_BAD_PORT;
                continue;
            }
            if (c == term && d > 0)
                break;
            if (c == ' ' || c == '\r' || c == '\n')
                return LB_E_PROXY_V1_SYNTAX;
            return LB_E_PROXY_BAD_PORT;
        }
        port[a] = v;
    }
    NEXT(c);
    if (c != '\n')
        return LB_E_PROXY_V1_SYNTAX;

    return v1_result(out, fam, (const uint8_t(*)[16])addr, port[0], port[1], i);

ran_out:
    if (len >= lim)
        return lim < LB_PROXY_V1_MAX ? LB_E_PROXY_TOO_LARGE : LB_E_PROXY_V1_TOO_LONG;
    if (need) {
        /* The shortest header is "PROXY UNKNOWN\r\n"; any line still needs its CRLF. */
        size_t n = (len && buf[len - 1] == '\r') ? 1 : 2;
        if (len < 15 && 15 - len > n)
            n = 15 - len;
        if (n > lim - len)
            n = lim - len;
        *need = n;
    }
    return LB_E_NEED_MORE;
}

/* ---- encoder ------------------------------------------------------------------------ */

static char *put_u(char *w, unsigned v)
{
    char tmp[5];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *w++ = tmp[--n];
    return w;
}

static char *put_ip4(char *w, const uint8_t *a)
{
    for (int k = 0; k < 4; k++) {
        unsigned v = a[k];
        if (k)
            *w++ = '.';
        if (v >= 100) {
            *w++ = (char)('0' + v / 100);
            v %= 100;
            *w++ = (char)('0' + v / 10);
        } else if (v >= 10) {
            *w++ = (char)('0' + v / 10);
        }
        *w++ = (char)('0' + v % 10);
    }
    return w;
}

static char *put_hex16(char *w, unsigned v)
{
    static const char hex[] = "0123456789abcdef";
    int shift = 12;
    while (shift > 0 && !(v >> shift))
        shift -= 4;
    for (; shift >= 0; shift -= 4)
        *w++ = hex[(v >> shift) & 0xF];
    return w;
}

/* RFC 5952 text: lowercase, no leading zeros, the longest run (first on a tie) of two or more
 * zero groups as "::". */
static char *put_ip6(char *w, const uint8_t *a)
{
    unsigned g[8];
    int best = -1, best_len = 0;
    for (int i = 0; i < 8; i++)
        g[i] = (unsigned)a[2 * i] << 8 | a[2 * i + 1];
    for (int i = 0; i < 8;) {
        int j = i;
        while (j < 8 && g[j] == 0)
            j++;
        if (j - i > best_len) {
            best = i;
            best_len = j - i;
        }
        i = j > i ? j : i + 1;
    }
    if (best_len < 2)
        best = -1;
    for (int i = 0; i < 8;) {
        if (i == best) {
            *w++ = ':';
            *w++ = ':';
            i += best_len;
            continue;
        }
        if (i > 0 && i != best + best_len)
            *w++ = ':';
        w = put_hex16(w, g[i++]);
    }
    return w;
}

int lb__proxy_encode_v1(uint8_t *buf, size_t cap, const lb_proxy_encode_params *p, size_t *need)
{
    char line[LB_PROXY_V1_MAX + 16];
    char *w = line;
    if (p->tlvs_len || p->crc32c || p->noop_align > 1 || p->dgram)
        return LB_E_PROXY_V1_UNSUPPORTED;
    memcpy(w, "PROXY ", 6);
    w += 6;
    if (p->command == LB_PROXY_CMD_LOCAL) {
        memcpy(w, "UNKNOWN", 7);
        w += 7;
    } else {
        struct lb__proxy_pair pair;
        int rc = lb__proxy_pair(p->src, p->dst, &pair);
        if (rc)
            return rc;
        if (pair.family == LB_PROXY_FAM_UNIX)
            return LB_E_PROXY_V1_UNSUPPORTED;
        if (pair.family == LB_PROXY_FAM_INET) {
            memcpy(w, "TCP4 ", 5);
            w = put_ip4(w + 5, pair.src);
            *w++ = ' ';
            w = put_ip4(w, pair.dst);
        } else {
            memcpy(w, "TCP6 ", 5);
            w = put_ip6(w + 5, pair.src);
            *w++ = ' ';
            w = put_ip6(w, pair.dst);
        }
        *w++ = ' ';
        w = put_u(w, pair.sport);
        *w++ = ' ';
        w = put_u(w, pair.dport);
    }
    *w++ = '\r';
    *w++ = '\n';
    size_t total = (size_t)(w - line);
    if (need)
        *need = total;
    if (cap < total)
        return -ENOSPC;
    memcpy(buf, line, total);
    return (int)total;
}
