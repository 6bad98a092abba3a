/* MD5 (RFC 1321) and SHA-256 (FIPS 180-4), small and portable, for the JA3 and JA4
 * fingerprints (lib/tls_fp.c). Never installed, never exported: liblb links libxxhash alone
 * and the fingerprints hash a few hundred bytes per hello (doc/tls.md). Not for security. */
#ifndef LB_INTERNAL_DIGEST_H
#define LB_INTERNAL_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#define LB_MD5_SIZE    16
#define LB_SHA256_SIZE 32

/* One state for both: the chaining words, the byte count, a partial block. */
typedef struct lb__digest {
    uint32_t h[8];
    uint64_t bytes;
    uint8_t block[64];
    size_t fill;
    int sha256; /* 1: SHA-256, 0: MD5 */
} lb__digest;

void lb__md5_init(lb__digest *d);
void lb__sha256_init(lb__digest *d);
void lb__digest_update(lb__digest *d, const void *data, size_t len);
/* Writes 16 (MD5) or 32 (SHA-256) bytes. */
void lb__digest_final(lb__digest *d, uint8_t *out);

#endif /* LB_INTERNAL_DIGEST_H */
