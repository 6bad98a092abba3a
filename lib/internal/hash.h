/* The flow-key encodings of doc/hashing.md, for the modules that keep keys (flowtab.c).
 * Never installed. An encoding is written as whole 64-bit words (`w` has room for 6). */
#ifndef LB_INTERNAL_HASH_H
#define LB_INTERNAL_HASH_H

#include <stddef.h>
#include <stdint.h>

struct sockaddr;

/* The IPv4 5-tuple encoding; returns its length, 16. */
size_t lb__flow_enc4(uint64_t w[6], const uint8_t *src, const uint8_t *dst, uint16_t sport,
                     uint16_t dport, uint8_t proto);

/* The IPv6 5-tuple encoding, or the IPv4 one when both addresses are IPv4-mapped; returns
 * its length, 48 or 16. */
size_t lb__flow_enc6(uint64_t w[6], const uint8_t *src, const uint8_t *dst, uint16_t sport,
                     uint16_t dport, uint8_t proto);

/* The encoding of two socket addresses' 5-tuple, folded as lb_hash_flow_sockaddr() folds it:
 * its length (16 or 48), or -EAFNOSUPPORT. The arguments are not NULL. */
int lb__flow_enc_sockaddr(uint64_t w[6], const struct sockaddr *src, const struct sockaddr *dst,
                          uint8_t proto);

/* liblb's hash of an encoding (seeded XXH3-64). */
uint64_t lb__hash_enc(const void *enc, size_t len, uint64_t seed);

#endif /* LB_INTERNAL_HASH_H */
