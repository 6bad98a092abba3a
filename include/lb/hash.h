/** @file
 * @brief Flow keys and their hash: a specified byte encoding hashed with seeded XXH3-64.
 *
 * A flow key is one of: an IPv4 or IPv6 5-tuple, a source address alone (L4 stickiness), or
 * arbitrary key bytes (a cookie value, a user id). Each kind has a canonical byte encoding
 * that starts with its own tag byte, so two different keys never encode to the same bytes;
 * the hash is `XXH3_64bits_withSeed(encoding, length, seed)` from the system libxxhash.
 * The encoding is specified byte by byte in doc/hashing.md so that other languages can
 * reproduce every hash; tests/data/hash_vectors.txt pins it.
 *
 * An IPv4-mapped IPv6 address (0:0:0:0:0:ffff:a.b.c.d) hashes exactly like the plain IPv4 address,
 * so IPv4 and dual-stack listeners agree.
 *
 * Addresses are byte arrays in network order (as in `struct in_addr` / `struct in6_addr`);
 * ports are in host byte order.
 *
 * Threading: every function here is pure and safe from any number of threads. None allocates.
 */
#ifndef LB_HASH_H
#define LB_HASH_H

#include "lb/common.h"

#ifdef __cplusplus
extern "C" {
#endif

struct sockaddr;

/** Tag byte of an IPv4 5-tuple encoding. */
#define LB_HASH_TAG_FLOW4 0x04
/** Tag byte of an IPv6 5-tuple encoding. */
#define LB_HASH_TAG_FLOW6 0x06
/** Tag byte of an IPv4 source-address encoding. */
#define LB_HASH_TAG_SRC4 0x14
/** Tag byte of an IPv6 source-address encoding. */
#define LB_HASH_TAG_SRC6 0x16
/** Tag byte of an arbitrary-key encoding. */
#define LB_HASH_TAG_KEY 0x4B

/**
 * @brief Hash an IPv4 5-tuple.
 * @param src source address, 4 bytes in network order (borrowed).
 * @param dst destination address, 4 bytes in network order (borrowed).
 * @param sport source port (host order).
 * @param dport destination port (host order).
 * @param proto IP protocol number (6 TCP, 17 UDP).
 * @param seed hash seed.
 * @thread pure
 */
LB_API uint64_t lb_hash_flow4(const uint8_t *src, const uint8_t *dst, uint16_t sport,
                              uint16_t dport, uint8_t proto, uint64_t seed);

/**
 * @brief Hash an IPv6 5-tuple. When both addresses are IPv4-mapped, the result equals
 *        lb_hash_flow4() of the embedded IPv4 addresses.
 * @param src source address, 16 bytes in network order (borrowed).
 * @param dst destination address, 16 bytes in network order (borrowed).
 * @param sport source port (host order).
 * @param dport destination port (host order).
 * @param proto IP protocol number.
 * @param seed hash seed.
 * @thread pure
 */
LB_API uint64_t lb_hash_flow6(const uint8_t *src, const uint8_t *dst, uint16_t sport,
                              uint16_t dport, uint8_t proto, uint64_t seed);

/**
 * @brief Hash an IPv4 source address alone (source-IP affinity).
 * @param src 4 bytes in network order (borrowed).
 * @param seed hash seed.
 * @thread pure
 */
LB_API uint64_t lb_hash_src4(const uint8_t *src, uint64_t seed);

/**
 * @brief Hash an IPv6 source address alone. An IPv4-mapped address hashes as
 *        lb_hash_src4() of the embedded IPv4 address.
 * @param src 16 bytes in network order (borrowed).
 * @param seed hash seed.
 * @thread pure
 */
LB_API uint64_t lb_hash_src6(const uint8_t *src, uint64_t seed);

/**
 * @brief Hash arbitrary key bytes (a cookie value, a header, a user id).
 * @param key the bytes (borrowed; may be NULL when @p len is 0).
 * @param len number of bytes.
 * @param seed hash seed.
 * @thread pure
 */
LB_API uint64_t lb_hash_key(const void *key, size_t len, uint64_t seed);

/**
 * @brief Hash the 5-tuple of two socket addresses (`AF_INET` or `AF_INET6`, may be mixed
 *        only when the IPv6 one is IPv4-mapped).
 * @param src source socket address (borrowed).
 * @param dst destination socket address (borrowed).
 * @param proto IP protocol number.
 * @param seed hash seed.
 * @param[out] hash the hash.
 * @return 0, -EINVAL for a NULL argument, -EAFNOSUPPORT for another family or a mix of
 *         IPv4 and a non-mapped IPv6 address.
 * @thread pure
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval EAFNOSUPPORT Address family not supported
 */
LB_API int lb_hash_flow_sockaddr(const struct sockaddr *src, const struct sockaddr *dst,
                                 uint8_t proto, uint64_t seed, uint64_t *hash);

/**
 * @brief Hash the address of a socket address alone (its port is ignored).
 * @param src socket address, `AF_INET` or `AF_INET6` (borrowed).
 * @param seed hash seed.
 * @param[out] hash the hash.
 * @return 0, -EINVAL for a NULL argument, -EAFNOSUPPORT for another family.
 * @thread pure
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval EAFNOSUPPORT Address family not supported
 */
LB_API int lb_hash_src_sockaddr(const struct sockaddr *src, uint64_t seed, uint64_t *hash);

#ifdef __cplusplus
}
#endif

#endif /* LB_HASH_H */
