/* Flow-key encodings and their seeded XXH3-64 hash; the layout is specified in
 * doc/hashing.md and pinned by tests/data/hash_vectors.txt. */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

/* Inline XXH3 from the system header: the hash of a 14-byte tuple is then a few ns with no
 * call through the PLT. The library still links libxxhash (Requires.private). */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "lb/hash.h"
#include "internal/hash.h"
#include "internal/util.h"

static const uint8_t v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static int is_v4_mapped(const uint8_t *a)
{
    return memcmp(a, v4_mapped_prefix, sizeof(v4_mapped_prefix)) == 0;
}

/* The fixed-size encodings are built as whole 64-bit words (not byte by byte) so that XXH3's
 * 8-byte loads are served by store forwarding: a 14-byte layout written field by field cost
 * a store-forwarding stall that doubled the time of a hash. */
static uint64_t header_word(uint8_t tag, uint8_t proto, uint16_t sport, uint16_t dport)
{
    uint8_t b[8] = {tag, proto, (uint8_t)(sport >> 8), (uint8_t)sport, (uint8_t)(dport >> 8),
                    (uint8_t)dport, 0, 0};
    uint64_t w;
    memcpy(&w, b, 8);
    return w;
}

size_t lb__flow_enc4(uint64_t w[6], const uint8_t *src, const uint8_t *dst, uint16_t sport,
                     uint16_t dport, uint8_t proto)
{
    w[0] = header_word(LB_HASH_TAG_FLOW4, proto, sport, dport);
    memcpy((uint8_t *)w + 8, src, 4);
    memcpy((uint8_t *)w + 12, dst, 4);
    return 16;
}

size_t lb__flow_enc6(uint64_t w[6], const uint8_t *src, const uint8_t *dst, uint16_t sport,
                     uint16_t dport, uint8_t proto)
{
    if (is_v4_mapped(src) && is_v4_mapped(dst))
        return lb__flow_enc4(w, src + 12, dst + 12, sport, dport, proto);
    w[0] = header_word(LB_HASH_TAG_FLOW6, proto, sport, dport);
    memcpy(&w[1], src, 16);
    memcpy(&w[3], dst, 16);
    w[5] = 0;
    return 48;
}

uint64_t lb__hash_enc(const void *enc, size_t len, uint64_t seed)
{
    return XXH3_64bits_withSeed(enc, len, seed);
}

LB_API uint64_t lb_hash_flow4(const uint8_t *src, const uint8_t *dst, uint16_t sport,
                              uint16_t dport, uint8_t proto, uint64_t seed)
{
    uint64_t w[6];
    return XXH3_64bits_withSeed(w, lb__flow_enc4(w, src, dst, sport, dport, proto), seed);
}

LB_API uint64_t lb_hash_flow6(const uint8_t *src, const uint8_t *dst, uint16_t sport,
                              uint16_t dport, uint8_t proto, uint64_t seed)
{
    uint64_t w[6];
    return XXH3_64bits_withSeed(w, lb__flow_enc6(w, src, dst, sport, dport, proto), seed);
}

LB_API uint64_t lb_hash_src4(const uint8_t *src, uint64_t seed)
{
    uint64_t w = header_word(LB_HASH_TAG_SRC4, 0, 0, 0);
    memcpy((uint8_t *)&w + 4, src, 4);
    return XXH3_64bits_withSeed(&w, sizeof(w), seed);
}

LB_API uint64_t lb_hash_src6(const uint8_t *src, uint64_t seed)
{
    if (is_v4_mapped(src))
        return lb_hash_src4(src + 12, seed);
    uint64_t w[3];
    w[0] = header_word(LB_HASH_TAG_SRC6, 0, 0, 0);
    memcpy(&w[1], src, 16);
    return XXH3_64bits_withSeed(w, sizeof(w), seed);
}

LB_API uint64_t lb_hash_key(const void *key, size_t len, uint64_t seed)
{
    uint8_t buf[256];
    if (len < sizeof(buf)) {
        buf[0] = LB_HASH_TAG_KEY;
        if (len)
            memcpy(buf + 1, key, len);
        return XXH3_64bits_withSeed(buf, len + 1, seed);
    }
    /* Long keys: the streaming API gives the same hash as one call over tag + key. */
    XXH3_state_t state;
    memset(&state, 0, sizeof(state));
    const uint8_t tag = LB_HASH_TAG_KEY;
    XXH3_64bits_reset_withSeed(&state, seed);
    XXH3_64bits_update(&state, &tag, 1);
    XXH3_64bits_update(&state, key, len);
    return XXH3_64bits_digest(&state);
}

/* The address bytes of an AF_INET or AF_INET6 socket address, as 4 or 16 bytes. */
static int sockaddr_bytes(const struct sockaddr *sa, const uint8_t **addr, uint16_t *port)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        *addr = (const uint8_t *)&in->sin_addr;
        *port = ntohs(in->sin_port);
        return 4;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        *addr = (const uint8_t *)&in6->sin6_addr;
        *port = ntohs(in6->sin6_port);
        return 16;
    }
    return 0;
}

int lb__flow_enc_sockaddr(uint64_t w[6], const struct sockaddr *src, const struct sockaddr *dst,
                          uint8_t proto)
{
    const uint8_t *sa, *da;
    uint16_t sp, dp;
    int sl = sockaddr_bytes(src, &sa, &sp);
    int dl = sockaddr_bytes(dst, &da, &dp);
    if (!sl || !dl)
        return -EAFNOSUPPORT;
    /* Fold IPv4-mapped IPv6 to IPv4 so a mixed pair still has one family. */
    if (sl == 16 && is_v4_mapped(sa)) {
        sa += 12;
        sl = 4;
    }
    if (dl == 16 && is_v4_mapped(da)) {
        da += 12;
        dl = 4;
    }
    if (sl != dl)
        return -EAFNOSUPPORT;
    return (int)(sl == 4 ? lb__flow_enc4(w, sa, da, sp, dp, proto)
                         : lb__flow_enc6(w, sa, da, sp, dp, proto));
}

LB_API int lb_hash_flow_sockaddr(const struct sockaddr *src, const struct sockaddr *dst,
                                 uint8_t proto, uint64_t seed, uint64_t *hash)
{
    if (!src || !dst || !hash)
        return -EINVAL;
    uint64_t w[6];
    int len = lb__flow_enc_sockaddr(w, src, dst, proto);
    if (len < 0)
        return len;
    *hash = XXH3_64bits_withSeed(w, (size_t)len, seed);
    return 0;
}

LB_API int lb_hash_src_sockaddr(const struct sockaddr *src, uint64_t seed, uint64_t *hash)
{
    if (!src || !hash)
        return -EINVAL;
    const uint8_t *sa;
    uint16_t sp;
    int sl = sockaddr_bytes(src, &sa, &sp);
    if (!sl)
        return -EAFNOSUPPORT;
    *hash = sl == 4 ? lb_hash_src4(sa, seed) : lb_hash_src6(sa, seed);
    return 0;
}
