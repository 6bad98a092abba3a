/* Weighted rendezvous hashing, as doc/rendezvous.md specifies: targets sorted by key, a key
 * hash per target (seeded XXH3), per flow a 48-bit uniform draw u from splitmix64's finaliser
 * of (flow hash XOR key hash), its fixed-point -log2 from a 257-entry table with linear
 * interpolation, and the lowest draw / weight wins (compared by cross-multiplication, exact in
 * 64 bits). Integer arithmetic only: no libm. */
#include <errno.h>
#include <stdlib.h>

#include <xxhash.h>

#include "internal/pool.h"
#include "internal/selector.h"
#include "internal/util.h"
#include "lb/rendezvous.h"

struct lb_rendezvous {
    uint32_t count;
    uint32_t *ids;
    uint32_t *weights;
    uint64_t *key_hash;
};

/* T[j] = 2^32 * log2(1 + j / 256), computed by doc/rendezvous.md's squaring algorithm
 * (tests/unit/test_rendezvous.c recomputes it). */
static const uint64_t log2_table[257] = {
    0x00000000u, 0x01709c46u, 0x02dfca16u, 0x044d8c45u, 0x05b9e5a1u, 0x0724d8eeu,
    0x088e68eau, 0x09f6984au, 0x0b5d69bau, 0x0cc2dfe1u, 0x0e26fd5cu, 0x0f89c4c1u,
    0x10eb389fu, 0x124b5b7eu, 0x13aa2fddu, 0x1507b836u, 0x1663f6fau, 0x17beee96u,
    0x1918a16eu, 0x1a7111dfu, 0x1bc84240u, 0x1d1e34e3u, 0x1e72ec11u, 0x1fc66a0fu,
    0x2118b119u, 0x2269c369u, 0x23b9a32eu, 0x25085296u, 0x2655d3c4u, 0x27a228dbu,
    0x28ed53f3u, 0x2a375720u, 0x2b803473u, 0x2cc7edf5u, 0x2e0e85a9u, 0x2f53fd8fu,
    0x309857a0u, 0x31db95d0u, 0x331dba0eu, 0x345ec646u, 0x359ebc5bu, 0x36dd9e2eu,
    0x381b6d9bu, 0x39582c78u, 0x3a93dc98u, 0x3bce7fc7u, 0x3d0817ceu, 0x3e40a672u,
    0x3f782d72u, 0x40aeae89u, 0x41e42b6eu, 0x4318a5d5u, 0x444c1f6bu, 0x457e99dau,
    0x46b016cau, 0x47e097dbu, 0x49101eacu, 0x4a3eacd6u, 0x4b6c43f1u, 0x4c98e58du,
    0x4dc4933au, 0x4eef4e82u, 0x501918ecu, 0x5141f3fbu, 0x5269e12fu, 0x5390e203u,
    0x54b6f7f1u, 0x55dc246cu, 0x570068e7u, 0x5823c6d0u, 0x59463f91u, 0x5a67d492u,
    0x5b888736u, 0x5ca858dfu, 0x5dc74ae9u, 0x5ee55eb1u, 0x6002958cu, 0x611ef0cfu,
    0x623a71cbu, 0x635519ceu, 0x646eea24u, 0x6587e414u, 0x66a008e4u, 0x67b759d6u,
    0x68cdd829u, 0x69e3851bu, 0x6af861e5u, 0x6c0c6fbfu, 0x6d1fafdcu, 0x6e32236fu,
    0x6f43cba7u, 0x7054a9b0u, 0x7164beb4u, 0x72740bdbu, 0x73829248u, 0x74905320u,
    0x759d4f80u, 0x76a98888u, 0x77b4ff51u, 0x78bfb4f4u, 0x79c9aa87u, 0x7ad2e11fu,
    0x7bdb59ccu, 0x7ce3159eu, 0x7dea15a3u, 0x7ef05ae4u, 0x7ff5e66au, 0x80fab93bu,
    0x81fed45cu, 0x830238cfu, 0x8404e793u, 0x8506e1a7u, 0x86082806u, 0x8708bbaau,
    0x88089d8au, 0x8907ce9cu, 0x8a064fd5u, 0x8b042224u, 0x8c01467bu, 0x8cfdbdc7u,
    0x8df988f4u, 0x8ef4a8ecu, 0x8fef1e98u, 0x90e8eaddu, 0x91e20ea1u, 0x92da8ac5u,
    0x93d2602cu, 0x94c98fb3u, 0x95c01a39u, 0x96b6009au, 0x97ab43afu, 0x989fe450u,
    0x9993e355u, 0x9a874192u, 0x9b79ffdbu, 0x9c6c1f01u, 0x9d5d9fd5u, 0x9e4e8324u,
    0x9f3ec9bcu, 0xa02e7469u, 0xa11d83f4u, 0xa20bf926u, 0xa2f9d4c5u, 0xa3e71796u,
    0xa4d3c25eu, 0xa5bfd5dfu, 0xa6ab52d9u, 0xa7963a0du, 0xa8808c38u, 0xa96a4a17u,
    0xaa537465u, 0xab3c0bdcu, 0xac241134u, 0xad0b8525u, 0xadf26865u, 0xaed8bba8u,
    0xafbe7fa0u, 0xb0a3b501u, 0xb1885c7au, 0xb26c76bbu, 0xb3500472u, 0xb433064bu,
    0xb5157cf2u, 0xb5f76912u, 0xb6d8cb53u, 0xb7b9a45eu, 0xb899f4d8u, 0xb979bd68u,
    0xba58feb2u, 0xbb37b959u, 0xbc15edfeu, 0xbcf39d44u, 0xbdd0c7c9u, 0xbead6e2du,
    0xbf89910cu, 0xc0653103u, 0xc1404eadu, 0xc21aeaa6u, 0xc2f50585u, 0xc3ce9fe3u,
    0xc4a7ba58u, 0xc5805578u, 0xc65871dau, 0xc7301011u, 0xc80730b0u, 0xc8ddd448u,
    0xc9b3fb6du, 0xca89a6acu, 0xcb5ed695u, 0xcc338bb6u, 0xcd07c69du, 0xcddb87d5u,
    0xceaecfeau, 0xcf819f66u, 0xd053f6d2u, 0xd125d6b7u, 0xd1f73f9cu, 0xd2c83208u,
    0xd398ae81u, 0xd468b58bu, 0xd53847acu, 0xd6076564u, 0xd6d60f38u, 0xd7a445a8u,
    0xd8720935u, 0xd93f5a5fu, 0xda0c39a5u, 0xdad8a784u, 0xdba4a47au, 0xdc703104u,
    0xdd3b4d9cu, 0xde05fabfu, 0xded038e6u, 0xdf9a088au, 0xe0636a23u, 0xe12c5e2bu,
    0xe1f4e517u, 0xe2bcff5du, 0xe384ad74u, 0xe44befd0u, 0xe512c6e5u, 0xe5d93326u,
    0xe69f3506u, 0xe764ccf6u, 0xe829fb69u, 0xe8eec0cdu, 0xe9b31d93u, 0xea77122bu,
    0xeb3a9f01u, 0xebfdc484u, 0xecc08321u, 0xed82db45u, 0xee44cd59u, 0xef0659cbu,
    0xefc78104u, 0xf088436du, 0xf148a170u, 0xf2089b75u, 0xf2c831e4u, 0xf3876523u,
    0xf446359bu, 0xf504a3afu, 0xf5c2afc6u, 0xf6805a44u, 0xf73da38du, 0xf7fa8c05u,
    0xf8b7140eu, 0xf9733c0bu, 0xfa2f045eu, 0xfaea6d67u, 0xfba57787u, 0xfc60231eu,
    0xfd1a708bu, 0xfdd4602eu, 0xfe8df263u, 0xff47278au, 0x100000000ull
};

/* 2^32 * log2(u) for 1 <= u <= 2^48, in fixed point (doc/rendezvous.md, "log2fix"). */
static inline uint64_t log2fix(uint64_t u)
{
    uint32_t k = 63u - (uint32_t)__builtin_clzll(u); /* floor(log2 u), 0 .. 48 */
    uint64_t t = (u << (47 - k)) - (1ull << 47);       /* the fraction, 47 bits */
    uint32_t j = (uint32_t)(t >> 39);
    uint64_t r = t & ((1ull << 39) - 1);
    return ((uint64_t)k << 32) + log2_table[j] +
           (((log2_table[j + 1] - log2_table[j]) * r) >> 39);
}

/* The draw L of a target with key hash @kh for flow hash @h. */
static inline uint64_t draw(uint64_t h, uint64_t kh)
{
    uint64_t u = (lb__mix64(h ^ kh) >> 16) + 1;
    return (48ull << 32) - log2fix(u);
}

static uint32_t best_of(const lb_rendezvous *r, uint64_t h)
{
    uint32_t best = 0;
    uint64_t bl = draw(h, r->key_hash[0]), bw = r->weights[0];
    for (uint32_t i = 1; i < r->count; i++) {
        uint64_t l = draw(h, r->key_hash[i]), w = r->weights[i];
        if (l * bw < bl * w) { /* l / w < bl / bw; a tie keeps the earlier key */
            best = i;
            bl = l;
            bw = w;
        }
    }
    return best;
}

LB_API int lb_rendezvous_build(lb_rendezvous **out, const lb_pool *pool)
{
    if (!out || !pool)
        return -EINVAL;
    const struct lb__target **sorted;
    uint32_t n;
    int err = lb__sorted_targets(pool, &sorted, &n);
    if (err)
        return err;
    lb_rendezvous *r = calloc(1, sizeof(*r));
    size_t cap = n ? n : 1;
    if (r) {
        r->ids = malloc(cap * sizeof(*r->ids));
        r->weights = malloc(cap * sizeof(*r->weights));
        r->key_hash = malloc(cap * sizeof(*r->key_hash));
    }
    if (!r || !r->ids || !r->weights || !r->key_hash) {
        free(sorted);
        lb_rendezvous_free(r);
        return -ENOMEM;
    }
    r->count = n;
    for (uint32_t i = 0; i < n; i++) {
        r->ids[i] = sorted[i]->id;
        r->weights[i] = sorted[i]->weight;
        r->key_hash[i] =
            XXH3_64bits_withSeed(sorted[i]->key, sorted[i]->key_len, LB_RENDEZVOUS_SEED_KEY);
    }
    free(sorted);
    *out = r;
    return 0;
}

LB_API void lb_rendezvous_free(lb_rendezvous *r)
{
    if (!r)
        return;
    free(r->ids);
    free(r->weights);
    free(r->key_hash);
    free(r);
}

LB_API uint32_t lb_rendezvous_lookup_index(const lb_rendezvous *r, uint64_t flow_hash)
{
    if (!r || !r->count)
        return LB_NO_TARGET;
    return best_of(r, flow_hash);
}

LB_API uint32_t lb_rendezvous_lookup(const lb_rendezvous *r, uint64_t flow_hash)
{
    if (!r || !r->count)
        return LB_NO_TARGET;
    return r->ids[best_of(r, flow_hash)];
}

LB_API size_t lb_rendezvous_target_count(const lb_rendezvous *r)
{
    return r ? r->count : 0;
}

LB_API int lb_rendezvous_target_at(const lb_rendezvous *r, size_t index, uint32_t *id,
                                   uint32_t *weight)
{
    if (!r)
        return -EINVAL;
    if (index >= r->count)
        return -ENOENT;
    if (id)
        *id = r->ids[index];
    if (weight)
        *weight = r->weights[index];
    return 0;
}

LB_API uint64_t lb_rendezvous_draw(const lb_rendezvous *r, size_t index, uint64_t flow_hash)
{
    if (!r || index >= r->count)
        return UINT64_MAX;
    return draw(flow_hash, r->key_hash[index]);
}

/* ---- the balancer's selector (internal/selector.h) ----------------------------------------- */

static int sel_build(void **state, const struct lb__sel_input *in)
{
    return lb_rendezvous_build((lb_rendezvous **)state, in->pool);
}

static int sel_pick(void *state, const struct lb__sel_pick *p, uint32_t *pos, int *counted)
{
    const lb_rendezvous *r = state;
    *counted = 0;
    if (!r->count)
        return LB_E_NO_TARGET;
    *pos = best_of(r, p->hash);
    return 0;
}

static void sel_free(void *state)
{
    lb_rendezvous_free(state);
}

const struct lb__selector lb__sel_rendezvous = {
    .name = "rendezvous",
    .needs = LB__SEL_HASHED,
    .build = sel_build,
    .pick = sel_pick,
    .free_state = sel_free,
};
