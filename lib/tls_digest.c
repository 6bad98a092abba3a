/* MD5 (RFC 1321) and SHA-256 (FIPS 180-4): one buffering and padding path, two compression
 * functions. Both pad the same way (0x80, zeros, the bit length in 8 bytes); MD5 stores words
 * and the length little-endian, SHA-256 big-endian. */
#include <string.h>

#include "internal/digest.h"

static uint32_t rol(uint32_t x, unsigned n)
{
    return x << n | x >> (32 - n);
}

static uint32_t ror(uint32_t x, unsigned n)
{
    return x >> n | x << (32 - n);
}

/* MD5's sines (floor(abs(sin(i + 1)) * 2^32)). */
static const uint32_t md5_k[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613,
    0xfd469501, 0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193,
    0xa679438e, 0x49b40821, 0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d,
    0x02441453, 0xd8a1e681, 0xe7d3fbc8, 0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed,
    0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a, 0xfffa3942, 0x8771f681, 0x6d9d6122,
    0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70, 0x289b7ec6, 0xeaa127fa,
    0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665, 0xf4292244,
    0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb,
    0xeb86d391};

/* One MD5 step: a = b + ((a + f + k + m) <<< s). */
#define MD5_STEP(f, a, b, c, d, m, k, s) (a) = (b) + rol((a) + f((b), (c), (d)) + (m) + (k), (s))
#define MD5_F(b, c, d) ((((c) ^ (d)) & (b)) ^ (d))
#define MD5_G(b, c, d) ((((b) ^ (c)) & (d)) ^ (c))
#define MD5_H(b, c, d) ((b) ^ (c) ^ (d))
#define MD5_I(b, c, d) ((c) ^ ((b) | ~(d)))

static void md5_block(uint32_t *h, const uint8_t *p)
{
    uint32_t m[16];
    for (int i = 0; i < 16; i++)
        m[i] = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16 |
               (uint32_t)p[4 * i + 3] << 24;
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3];
    /* four rounds of sixteen steps; each round takes the words in its own order */
    for (int i = 0; i < 16; i += 4) {
        MD5_STEP(MD5_F, a, b, c, d, m[i], md5_k[i], 7);
        MD5_STEP(MD5_F, d, a, b, c, m[i + 1], md5_k[i + 1], 12);
        MD5_STEP(MD5_F, c, d, a, b, m[i + 2], md5_k[i + 2], 17);
        MD5_STEP(MD5_F, b, c, d, a, m[i + 3], md5_k[i + 3], 22);
    }
    for (int i = 16; i < 32; i += 4) {
        MD5_STEP(MD5_G, a, b, c, d, m[(5 * i + 1) % 16], md5_k[i], 5);
        MD5_STEP(MD5_G, d, a, b, c, m[(5 * i + 6) % 16], md5_k[i + 1], 9);
        MD5_STEP(MD5_G, c, d, a, b, m[(5 * i + 11) % 16], md5_k[i + 2], 14);
        MD5_STEP(MD5_G, b, c, d, a, m[(5 * i + 16) % 16], md5_k[i + 3], 20);
    }
    for (int i = 32; i < 48; i += 4) {
        MD5_STEP(MD5_H, a, b, c, d, m[(3 * i + 5) % 16], md5_k[i], 4);
        MD5_STEP(MD5_H, d, a, b, c, m[(3 * i + 8) % 16], md5_k[i + 1], 11);
        MD5_STEP(MD5_H, c, d, a, b, m[(3 * i + 11) % 16], md5_k[i + 2], 16);
        MD5_STEP(MD5_H, b, c, d, a, m[(3 * i + 14) % 16], md5_k[i + 3], 23);
    }
    for (int i = 48; i < 64; i += 4) {
        MD5_STEP(MD5_I, a, b, c, d, m[(7 * i) % 16], md5_k[i], 6);
        MD5_STEP(MD5_I, d, a, b, c, m[(7 * i + 7) % 16], md5_k[i + 1], 10);
        MD5_STEP(MD5_I, c, d, a, b, m[(7 * i + 14) % 16], md5_k[i + 2], 15);
        MD5_STEP(MD5_I, b, c, d, a, m[(7 * i + 21) % 16], md5_k[i + 3], 21);
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d;
}

/* SHA-256's round constants: the first 32 bits of the fractional parts of the cube roots of
 * the first 64 primes. */
static const uint32_t sha_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2};

/* One round: t1 goes into d (which becomes e), t1 + t2 into h (which becomes a). */
#define SHA_ROUND(a, b, c, d, e, f, g, h, i)                                                   \
    do {                                                                                       \
        uint32_t t1 = (h) + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + (((e) & (f)) ^ (~(e) & (g))) + \
                      sha_k[i] + w[i];                                                         \
        uint32_t t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + (((a) & (b)) ^ ((a) & (c)) ^ ((b) & (c))); \
        (d) += t1;                                                                             \
        (h) = t1 + t2;                                                                         \
    } while (0)

static void sha256_block(uint32_t *h, const uint8_t *p)
{
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    /* eight rounds per iteration, the names rotating instead of the values */
    for (int i = 0; i < 64; i += 8) {
        SHA_ROUND(a, b, c, d, e, f, g, k, i);
        SHA_ROUND(k, a, b, c, d, e, f, g, i + 1);
        SHA_ROUND(g, k, a, b, c, d, e, f, i + 2);
        SHA_ROUND(f, g, k, a, b, c, d, e, i + 3);
        SHA_ROUND(e, f, g, k, a, b, c, d, i + 4);
        SHA_ROUND(d, e, f, g, k, a, b, c, i + 5);
        SHA_ROUND(c, d, e, f, g, k, a, b, i + 6);
        SHA_ROUND(b, c, d, e, f, g, k, a, i + 7);
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += k;
}

void lb__md5_init(lb__digest *d)
{
    memset(d, 0, sizeof(*d));
    d->h[0] = 0x67452301, d->h[1] = 0xefcdab89, d->h[2] = 0x98badcfe, d->h[3] = 0x10325476;
}

void lb__sha256_init(lb__digest *d)
{
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memset(d, 0, sizeof(*d));
    memcpy(d->h, iv, sizeof(iv));
    d->sha256 = 1;
}

static void compress(lb__digest *d, const uint8_t *block)
{
    if (d->sha256)
        sha256_block(d->h, block);
    else
        md5_block(d->h, block);
}

void lb__digest_update(lb__digest *d, const void *data, size_t len)
{
    const uint8_t *p = (const uint8_t *)data;
    d->bytes += len;
    if (d->fill) {
        size_t n = 64 - d->fill < len ? 64 - d->fill : len;
        memcpy(d->block + d->fill, p, n);
        d->fill += n, p += n, len -= n;
        if (d->fill < 64)
            return;
        compress(d, d->block);
        d->fill = 0;
    }
    for (; len >= 64; p += 64, len -= 64)
        compress(d, p);
    memcpy(d->block, p, len);
    d->fill = len;
}

void lb__digest_final(lb__digest *d, uint8_t *out)
{
    uint64_t bits = d->bytes * 8;
    uint8_t pad[72];
    size_t n = (d->fill < 56 ? 56 : 120) - d->fill;
    memset(pad, 0, sizeof(pad));
    pad[0] = 0x80;
    for (int i = 0; i < 8; i++) /* the length: MD5 little-endian, SHA-256 big-endian */
        pad[n + (size_t)i] = (uint8_t)(bits >> (d->sha256 ? 56 - 8 * i : 8 * i));
    lb__digest_update(d, pad, n + 8);
    int words = d->sha256 ? 8 : 4;
    for (int i = 0; i < words; i++)
        for (int j = 0; j < 4; j++)
            out[4 * i + j] = (uint8_t)(d->h[i] >> (d->sha256 ? 24 - 8 * j : 8 * j));
}
