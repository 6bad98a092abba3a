/* DNS host names: validation of a server name, and matching against exact and wildcard
 * patterns (longest match wins). */
#include <errno.h>
#include <string.h>

#include "internal/tls.h"
#include "lb/tls.h"

static int is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

/* An IPv6 literal ("::1", "[2001:db8::1]", "::ffff:1.2.3.4"): hex digits, colons, dots and
 * brackets only, with at least one colon. */
static int is_ipv6_literal(const uint8_t *p, size_t n)
{
    int colon = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (c == ':')
            colon = 1;
        else if (!(is_digit(c) || ((c | 0x20u) >= 'a' && (c | 0x20u) <= 'f') || c == '.' ||
                   c == '[' || c == ']'))
            return 0;
    }
    return colon;
}

/* Character classes of a host name: one table lookup per byte. */
enum { C_BAD = 0, C_LETTER = 1, C_DIGIT = 2, C_HYPHEN = 3, C_DOT = 4 };
#define LETTERS8 C_LETTER, C_LETTER, C_LETTER, C_LETTER, C_LETTER, C_LETTER, C_LETTER, C_LETTER
#define DIGITS10 C_DIGIT, C_DIGIT, C_DIGIT, C_DIGIT, C_DIGIT, C_DIGIT, C_DIGIT, C_DIGIT, C_DIGIT, C_DIGIT
static const uint8_t char_class[256] = {
    ['-'] = C_HYPHEN, ['.'] = C_DOT, ['0'] = DIGITS10,
    ['A'] = LETTERS8, LETTERS8, LETTERS8, C_LETTER, C_LETTER,
    ['a'] = LETTERS8, LETTERS8, LETTERS8, C_LETTER, C_LETTER,
};

int lb__tls_host_check(const uint8_t *p, size_t n)
{
    if (n == 0 || n > LB_TLS_HOST_MAX)
        return LB_E_TLS_SNI_INVALID;
    size_t label = 0;   /* length of the current label */
    int all_digits = 1; /* the current label so far */
    int only_digits_and_dots = 1;
    uint8_t prev = C_DOT;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = char_class[p[i]];
        if (c == C_DOT) {
            if (prev == C_DOT || prev == C_HYPHEN) /* an empty label, or one ending in '-' */
                return LB_E_TLS_SNI_INVALID;
            label = 0;
            all_digits = 1;
        } else if (c == C_BAD) {
            return is_ipv6_literal(p, n) ? LB_E_TLS_SNI_IP_LITERAL : LB_E_TLS_SNI_INVALID;
        } else {
            if (c == C_HYPHEN && prev == C_DOT) /* a label starting with '-' */
                return LB_E_TLS_SNI_INVALID;
            if (c != C_DIGIT)
                all_digits = only_digits_and_dots = 0;
            if (++label > 63)
                return LB_E_TLS_SNI_INVALID;
        }
        prev = c;
    }
    if (prev == C_DOT || prev == C_HYPHEN) /* a final dot, or a final hyphen */
        return LB_E_TLS_SNI_INVALID;
    if (all_digits) /* no top-level domain is all digits (RFC 3696 section 2) */
        return only_digits_and_dots ? LB_E_TLS_SNI_IP_LITERAL : LB_E_TLS_SNI_INVALID;
    return LB_OK;
}

LB_API int lb_tls_host_check(const char *name, size_t len)
{
    if (!name)
        return LB_E_TLS_SNI_INVALID;
    return lb__tls_host_check((const uint8_t *)name, len);
}

LB_API int lb_tls_host_pattern_check(const char *pattern)
{
    if (!pattern)
        return -EINVAL;
    size_t n = strlen(pattern);
    if (n == 1 && pattern[0] == '*')
        return LB_OK;
    if (n >= 2 && pattern[0] == '*' && pattern[1] == '.')
        pattern += 2, n -= 2;
    return lb__tls_host_check((const uint8_t *)pattern, n) == LB_OK ? LB_OK
                                                                    : LB_E_TLS_BAD_PATTERN;
}

static int eq_nocase(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t x = (uint8_t)a[i], y = (uint8_t)b[i];
        if (x >= 'A' && x <= 'Z')
            x |= 0x20u;
        if (y >= 'A' && y <= 'Z')
            y |= 0x20u;
        if (x != y)
            return 0;
    }
    return 1;
}

/* How specifically a valid pattern matches a valid host: 0 not at all, 1 for `*`,
 * 2 + 2 * suffix length for `*.suffix`, 3 + 2 * host length for an exact name (above every
 * wildcard, whose suffix is shorter than the host). */
static size_t score(const char *pat, const char *host, size_t hlen)
{
    size_t n = strlen(pat);
    if (n == 1 && pat[0] == '*')
        return 1;
    if (pat[0] == '*') {
        size_t s = n - 2; /* "*.suffix": one or more labels, a dot, the suffix */
        if (hlen < s + 2 || host[hlen - s - 1] != '.' || !eq_nocase(pat + 2, host + hlen - s, s))
            return 0;
        return 2 + 2 * s;
    }
    return n == hlen && eq_nocase(pat, host, n) ? 3 + 2 * n : 0;
}

LB_API int lb_tls_host_match(const char *const *patterns, size_t count, const char *host,
                             size_t host_len, size_t *index)
{
    if ((!patterns && count) || !host || !index)
        return -EINVAL;
    int rc = lb__tls_host_check((const uint8_t *)host, host_len);
    if (rc != LB_OK)
        return rc;
    size_t best = 0, best_i = 0;
    for (size_t i = 0; i < count; i++) {
        if (!patterns[i])
            return -EINVAL;
        if (lb_tls_host_pattern_check(patterns[i]) != LB_OK)
            return LB_E_TLS_BAD_PATTERN;
        size_t s = score(patterns[i], host, host_len);
        if (s > best)
            best = s, best_i = i;
    }
    if (best == 0)
        return LB_E_TLS_NO_MATCH;
    *index = best_i;
    return LB_OK;
}
