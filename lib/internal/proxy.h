/* Internals shared by the PROXY protocol sources (lib/proxy_*.c, lib/crc32c.c). */
#ifndef LB_INTERNAL_PROXY_H
#define LB_INTERNAL_PROXY_H

#include <stddef.h>
#include <stdint.h>

#include "lb/proxy.h"

struct sockaddr;

/* The v2 signature. */
extern const uint8_t lb__proxy_v2_sig[12];

/* CRC-32C, portable (slicing-by-8) and SSE4.2 versions; lb__crc32c_hw_supported() says
 * whether the latter may be called. Both take and return the finalised CRC (0 to start). */
uint32_t lb__crc32c_sw(uint32_t crc, const void *data, size_t len);
uint32_t lb__crc32c_hw(uint32_t crc, const void *data, size_t len);
int lb__crc32c_hw_supported(void);
/* The CRC-32C of p[0..len) with the 4 bytes at p[zoff] read as zero (zoff + 4 <= len). */
uint32_t lb__crc32c_masked(const uint8_t *p, size_t len, size_t zoff);

/* Checks that @p len bytes of TLVs tile exactly; returns 0, LB_E_PROXY_TLV_TRUNCATED or
 * LB_E_PROXY_TLV_OVERRUN. When @p crc_off is not NULL, it receives the offset of the value of
 * the first CRC32C TLV or SIZE_MAX, and a CRC32C TLV of length != 4 or a second one gives
 * LB_E_PROXY_BAD_CRC_TLV. */
int lb__proxy_tlv_check(const uint8_t *p, size_t len, size_t *crc_off);

/* Decoders of each version: same contract as lb_proxy_decode() with validated options.
 * v1 is called with buf[0] == 'P' and @p max 0 when the options refuse v1; v2 with
 * buf[0] == '\r' and LB__PROXY_* @p flags. */
#define LB__PROXY_ALLOW_UNSPEC 0x1u
#define LB__PROXY_V2_REFUSED   0x2u
int lb__proxy_decode_v1(const uint8_t *buf, size_t len, uint32_t max, lb_proxy_header *out,
                        size_t *need);
int lb__proxy_decode_v2(const uint8_t *buf, size_t len, uint32_t max, uint32_t flags,
                        lb_proxy_header *out, size_t *need);

/* A source/destination pair resolved for encoding: family INET (IPv4 or IPv4-mapped on both
 * sides; 4-byte addresses), INET6 or UNIX (paths borrowed from the sockaddr_un). */
struct lb__proxy_pair {
    int family;
    uint8_t src[16], dst[16];
    uint16_t sport, dport;
    const char *spath, *dpath;
    size_t splen, dplen;
};
int lb__proxy_pair(const struct sockaddr *src, const struct sockaddr *dst,
                   struct lb__proxy_pair *out);

/* Encoders of each version: same contract as lb_proxy_encode() with validated parameters. */
int lb__proxy_encode_v1(uint8_t *buf, size_t cap, const lb_proxy_encode_params *p,
                        size_t *need);
int lb__proxy_encode_v2(uint8_t *buf, size_t cap, const lb_proxy_encode_params *p,
                        size_t *need);

#endif /* LB_INTERNAL_PROXY_H */
