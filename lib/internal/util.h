/* Small helpers shared by liblb's sources. Never installed. */
#ifndef LB_INTERNAL_UTIL_H
#define LB_INTERNAL_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define LB_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#if defined(__GNUC__) || defined(__clang__)
#define LB_LIKELY(x)   __builtin_expect(!!(x), 1)
#define LB_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define LB_LIKELY(x)   (x)
#define LB_UNLIKELY(x) (x)
#endif

static inline uint16_t lb__load_be16(const uint8_t *p)
{
    return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

static inline uint32_t lb__load_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void lb__store_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void lb__store_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* The splitmix64 finaliser: a bijective 64-bit mix. */
static inline uint64_t lb__mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* splitmix64: a fast, well-mixed deterministic generator for seeded jitter and sampling. */
static inline uint64_t lb__splitmix64(uint64_t *state)
{
    return lb__mix64(*state += 0x9E3779B97F4A7C15ull);
}

/* The calling thread's stripe, 0 .. LB__STRIPES - 1: threads are numbered in the order they
 * first ask, so the first LB__STRIPES threads get distinct stripes. Stateful selectors keep
 * per-stripe state (tickets, counts, random draws) so that threads write different cache lines. */
#define LB__STRIPES 16u

/* The library's thread-local variables (about 120 bytes in all) use the initial-exec model:
 * an offset from the thread pointer, where the default model of a shared library calls
 * __tls_get_addr() on every access (the stateful selectors' picks make one to three). A
 * library loaded with dlopen() takes the space from glibc's surplus of static TLS (512 bytes
 * kept for such libraries: rtld.optional_static_tls). */
#define LB__TLS _Thread_local __attribute__((tls_model("initial-exec")))
extern LB__TLS uint32_t lb__tl_stripe; /* stripe + 1; 0 until assigned */
uint32_t lb__stripe_assign(void);

static inline uint32_t lb__stripe(void)
{
    uint32_t s = lb__tl_stripe;
    return LB_LIKELY(s) ? s - 1 : lb__stripe_assign();
}

/* 1 if @n is prime (trial division by odd numbers; n < 2^32). */
static inline int lb__is_prime(uint32_t n)
{
    if (n < 2)
        return 0;
    if (n % 2 == 0)
        return n == 2;
    for (uint32_t d = 3; d <= n / d; d += 2)
        if (n % d == 0)
            return 0;
    return 1;
}

/* Target key order: bytewise unsigned comparison, a proper prefix sorts first. */
static inline int lb__key_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c)
        return c;
    return (alen > blen) - (alen < blen);
}

#endif /* LB_INTERNAL_UTIL_H */
