/* CRC-32C (Castagnoli): SSE4.2 crc32 instructions when the CPU has them, detected once;
 * slicing-by-8 tables otherwise. */
#include <stdint.h>
#include <string.h>

#include "internal/proxy.h"
#include "internal/util.h"

#include "crc32c_table.inc"

uint32_t lb__crc32c_sw(uint32_t crc, const void *data, size_t len)
{
    const uint8_t *p = data;
    uint32_t c = ~crc;
    while (len && ((uintptr_t)p & 7)) {
        c = crc32c_table[0][(c ^ *p++) & 0xFF] ^ (c >> 8);
        len--;
    }
    while (len >= 8) {
        uint32_t lo = c ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                           (uint32_t)p[3] << 24);
        uint32_t hi =
            (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
        c = crc32c_table[7][lo & 0xFF] ^ crc32c_table[6][(lo >> 8) & 0xFF] ^
            crc32c_table[5][(lo >> 16) & 0xFF] ^ crc32c_table[4][lo >> 24] ^
            crc32c_table[3][hi & 0xFF] ^ crc32c_table[2][(hi >> 8) & 0xFF] ^
            crc32c_table[1][(hi >> 16) & 0xFF] ^ crc32c_table[0][hi >> 24];
        p += 8;
        len -= 8;
    }
    while (len--)
        c = crc32c_table[0][(c ^ *p++) & 0xFF] ^ (c >> 8);
    return ~c;
}

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define LB_CRC32C_X86 1
#include <nmmintrin.h>

__attribute__((target("sse4.2"))) uint32_t lb__crc32c_hw(uint32_t crc, const void *data, size_t len)
{
    const uint8_t *p = data;
    uint32_t c = ~crc;
#if defined(__x86_64__)
    uint64_t c64 = c;
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c64 = _mm_crc32_u64(c64, v);
        p += 8;
        len -= 8;
    }
    c = (uint32_t)c64;
#endif
    while (len >= 4) {
        uint32_t v;
        memcpy(&v, p, 4);
        c = _mm_crc32_u32(c, v);
        p += 4;
        len -= 4;
    }
    while (len--)
        c = _mm_crc32_u8(c, *p++);
    return ~c;
}

/* The running (not finalised) CRC over n bytes: 8-byte words, then a 4, 2, 1-byte tail. */
__attribute__((target("sse4.2"))) static inline uint32_t hw_run(uint32_t crc, const uint8_t *p,
                                                                size_t n)
{
#if defined(__x86_64__)
    uint64_t c = crc;
    for (; n >= 8; n -= 8, p += 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = _mm_crc32_u64(c, v);
    }
    crc = (uint32_t)c;
#endif
    for (; n >= 4; n -= 4, p += 4) {
        uint32_t v;
        memcpy(&v, p, 4);
        crc = _mm_crc32_u32(crc, v);
    }
    if (n >= 2) {
        uint16_t v;
        memcpy(&v, p, 2);
        crc = _mm_crc32_u16(crc, v);
        n -= 2;
        p += 2;
    }
    if (n)
        crc = _mm_crc32_u8(crc, *p);
    return crc;
}

/* The CRC of p[0..len) with p[zoff..zoff+4) read as zero: the 16 bytes around the hole go
 * through a zeroed copy, so the instruction chain stays in 8-byte words (its latency is what
 * costs). */
__attribute__((target("sse4.2"))) static uint32_t crc32c_hw_masked(const uint8_t *p, size_t len,
                                                                   size_t zoff)
{
    uint8_t tmp[16];
    size_t a = zoff & ~(size_t)7, n = len - a < 16 ? len - a : 16;
    uint32_t c = hw_run(0xFFFFFFFFu, p, a);
    memcpy(tmp, p + a, n);
    memset(tmp + (zoff - a), 0, 4);
    c = hw_run(c, tmp, n);
    c = hw_run(c, p + a + n, len - a - n);
    return ~c;
}

uint32_t lb__crc32c_masked(const uint8_t *p, size_t len, size_t zoff)
{
    static const uint8_t zero[4];
    if (lb__crc32c_hw_supported())
        return crc32c_hw_masked(p, len, zoff);
    uint32_t c = lb__crc32c_sw(0, p, zoff);
    c = lb__crc32c_sw(c, zero, 4);
    return lb__crc32c_sw(c, p + zoff + 4, len - zoff - 4);
}

int lb__crc32c_hw_supported(void)
{
    /* 0: not yet known, 1: no, 2: yes. Racing first calls store the same value. */
    static int state;
    int s = __atomic_load_n(&state, __ATOMIC_RELAXED);
    if (s == 0) {
        __builtin_cpu_init();
        s = __builtin_cpu_supports("sse4.2") ? 2 : 1;
        __atomic_store_n(&state, s, __ATOMIC_RELAXED);
    }
    return s == 2;
}
#else
uint32_t lb__crc32c_masked(const uint8_t *p, size_t len, size_t zoff)
{
    static const uint8_t zero[4];
    uint32_t c = lb__crc32c_sw(0, p, zoff);
    c = lb__crc32c_sw(c, zero, 4);
    return lb__crc32c_sw(c, p + zoff + 4, len - zoff - 4);
}

uint32_t lb__crc32c_hw(uint32_t crc, const void *data, size_t len)
{
    return lb__crc32c_sw(crc, data, len);
}

int lb__crc32c_hw_supported(void)
{
    return 0;
}
#endif

LB_API uint32_t lb_crc32c(uint32_t crc, const void *data, size_t len)
{
    if (!data)
        return crc;
    return lb__crc32c_hw_supported() ? lb__crc32c_hw(crc, data, len)
                                     : lb__crc32c_sw(crc, data, len);
}
