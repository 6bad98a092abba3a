/* A consistent-hash ring: sorted 64-bit points with a bucket index on their top bits, and
 * bounded-load picks (Mirrokni et al.) over per-target atomic counters in an lb_loads. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal/abi.h"
#include "internal/loads.h"
#include "internal/maglev.h"
#include "internal/util.h"
#include "lb/chash.h"
#include "lb/hash.h"

#define BALANCE_MAX 100000u

__extension__ typedef unsigned __int128 u128;

struct point {
    uint64_t hash;
    uint32_t index; /* owner: the target's index */
};

struct lb_chash {
    uint32_t points;  /* P */
    uint32_t count;   /* targets */
    struct point *pt; /* P points sorted by hash: hash and owner share a cache line */
    uint32_t *bucket; /* nb + 1 starts: points whose hash >> shift == b are [bucket[b], [b+1]) */
    unsigned shift;
    uint32_t *ids;     /* by index */
    uint32_t *weights; /* by index */
    uint32_t *npoints; /* by index */
    uint32_t *slots;   /* by index: counter slot in loads */
    uint32_t *id_map;  /* open addressing, id -> index + 1 (0 empty), for O(1) releases */
    uint32_t id_mask;
    uint64_t weight_sum;
    lb_loads *loads;
};

static int point_cmp(const void *x, const void *y)
{
    const struct point *a = x, *b = y;
    if (a->hash != b->hash)
        return (a->hash > b->hash) - (a->hash < b->hash);
    return (a->index > b->index) - (a->index < b->index);
}

/* Hashes target @x's @n points into @p (point j: key || be32(j)). */
static void make_points(const struct lb__target *x, uint32_t index, uint32_t n, struct point *p)
{
    uint8_t buf[LB_POOL_KEY_MAX + 4];
    memcpy(buf, x->key, x->key_len);
    for (uint32_t j = 0; j < n; j++) {
        lb__store_be32(buf + x->key_len, j);
        p[j].hash = lb_hash_key(buf, x->key_len + 4, LB_CHASH_SEED);
        p[j].index = index;
    }
}

/* About four points per bucket: a small index (it is read on every lookup) and a short
 * search inside one or two cache lines of points. */
static int build_index(lb_chash *r, const struct point *pts)
{
    unsigned bits = 1;
    while (bits < 22 && (1u << bits) < r->points / 4)
        bits++;
    uint32_t nb = 1u << bits;
    r->shift = 64 - bits;
    r->bucket = malloc(((size_t)nb + 1) * sizeof(uint32_t));
    if (!r->bucket)
        return -ENOMEM;
    uint32_t k = 0;
    for (uint32_t b = 0; b < nb; b++) {
        r->bucket[b] = k;
        while (k < r->points && (pts[k].hash >> r->shift) == b)
            k++;
    }
    r->bucket[nb] = k;
    return 0;
}

static int build_ring(lb_chash *r, const struct lb__target *const *sorted, uint32_t ppw)
{
    uint64_t total = 0;
    for (uint32_t i = 0; i < r->count; i++)
        total += (uint64_t)sorted[i]->weight * ppw;
    if (total > LB_CHASH_MAX_POINTS)
        return -ERANGE;
    r->points = (uint32_t)total;
    if (!total)
        return 0;
    struct point *pts = malloc((size_t)total * sizeof(*pts));
    if (!pts)
        return -ENOMEM;
    uint32_t at = 0;
    for (uint32_t i = 0; i < r->count; i++) {
        uint32_t n = sorted[i]->weight * ppw;
        make_points(sorted[i], i, n, pts + at);
        r->npoints[i] = n;
        at += n;
    }
    qsort(pts, total, sizeof(*pts), point_cmp);
    r->pt = pts;
    return build_index(r, pts);
}

static inline uint32_t id_home(uint32_t id, uint32_t mask)
{
    return (id * 0x9E3779B1u) & mask;
}

static int build_id_map(lb_chash *r)
{
    uint32_t cap = 4;
    while (cap < 2 * r->count)
        cap *= 2;
    r->id_map = calloc(cap, sizeof(uint32_t));
    if (!r->id_map)
        return -ENOMEM;
    r->id_mask = cap - 1;
    for (uint32_t i = 0; i < r->count; i++) {
        uint32_t h = id_home(r->ids[i], r->id_mask);
        while (r->id_map[h])
            h = (h + 1) & r->id_mask;
        r->id_map[h] = i + 1;
    }
    return 0;
}

static inline long index_of(const lb_chash *r, uint32_t id)
{
    for (uint32_t h = id_home(id, r->id_mask);; h = (h + 1) & r->id_mask) {
        uint32_t v = r->id_map[h];
        if (!v)
            return -1;
        if (r->ids[v - 1] == id)
            return (long)(v - 1);
    }
}

LB_API int lb_chash_new(lb_chash **out, const lb_pool *pool, const lb_chash_options *opts)
{
    if (!out || !pool)
        return -EINVAL;
    uint32_t ppw = LB_CHASH_DEFAULT_POINTS;
    lb_loads *loads = NULL;
    lb_chash_options o;
    if (opts) {
        int rc = lb__struct_in(&o, sizeof(o), opts, opts->struct_size,
                               LB__SIZE_UPTO(lb_chash_options, loads));
        if (rc)
            return rc;
        opts = &o;
        if (opts->points_per_weight > LB_CHASH_MAX_POINTS)
            return -ERANGE;
        if (opts->points_per_weight)
            ppw = opts->points_per_weight;
        loads = opts->loads;
    }
    const struct lb__target **sorted;
    uint32_t n;
    int err = lb__sorted_targets(pool, &sorted, &n);
    if (err)
        return err;
    lb_chash *r = calloc(1, sizeof(*r));
    err = -ENOMEM;
    if (!r)
        goto fail;
    r->count = n;
    r->loads = loads;
    size_t cnt = n ? n : 1;
    r->ids = malloc(cnt * sizeof(uint32_t));
    r->weights = malloc(cnt * sizeof(uint32_t));
    r->npoints = calloc(cnt, sizeof(uint32_t));
    r->slots = malloc(cnt * sizeof(uint32_t));
    if (!r->ids || !r->weights || !r->npoints || !r->slots)
        goto fail;
    for (uint32_t i = 0; i < n; i++) {
        r->ids[i] = sorted[i]->id;
        r->weights[i] = sorted[i]->weight;
        r->weight_sum += sorted[i]->weight;
        r->slots[i] = UINT32_MAX;
        if (loads && (err = lb_loads_slot(loads, sorted[i]->id, &r->slots[i])) != 0)
            goto fail;
    }
    err = build_ring(r, sorted, ppw);
    if (!err)
        err = build_id_map(r);
    if (err)
        goto fail;
    free(sorted);
    *out = r;
    return 0;
fail:
    free(sorted);
    lb_chash_free(r);
    return err;
}

LB_API void lb_chash_free(lb_chash *ring)
{
    if (!ring)
        return;
    free(ring->pt);
    free(ring->bucket);
    free(ring->ids);
    free(ring->weights);
    free(ring->npoints);
    free(ring->slots);
    free(ring->id_map);
    free(ring);
}

/* Position of the first point at or after @h, wrapping to 0. */
static inline uint32_t find_point(const lb_chash *r, uint64_t h)
{
    uint64_t b = h >> r->shift;
    uint32_t lo = r->bucket[b], hi = r->bucket[b + 1];
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (r->pt[mid].hash < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo == r->points ? 0 : lo;
}

LB_API uint32_t lb_chash_lookup(const lb_chash *ring, uint64_t hash)
{
    if (!ring || !ring->points)
        return LB_NO_TARGET;
    return ring->ids[ring->pt[find_point(ring, hash)].index];
}

static inline uint64_t bound_of(const lb_chash *r, uint32_t index, uint32_t pct, uint64_t load)
{
    u128 num = (u128)pct * load * r->weights[index];
    u128 den = (u128)100 * r->weight_sum;
    return (uint64_t)((num + den - 1) / den);
}

/* count <= ceil(pct * load * w / (100 * W)) without a division: for integers,
 * count <= ceil(x / d) exactly when (count - 1) * d < x. */
static inline int within_bound(const lb_chash *r, uint32_t index, uint32_t pct, uint64_t load,
                               uint64_t count)
{
    if (count == 0)
        return 1;
    return (u128)(count - 1) * (100 * r->weight_sum) <
           (u128)((uint64_t)pct * r->weights[index]) * load;
}

LB_API int lb_chash_pick_bounded(const lb_chash *ring, uint64_t hash, uint32_t balance_pct,
                                 uint32_t *target_id)
{
    if (!ring || !target_id || !ring->loads || balance_pct < 100 || balance_pct > BALANCE_MAX)
        return -EINVAL;
    if (!ring->points)
        return LB_E_NO_TARGET;
    lb_loads *loads = ring->loads;
    const uint32_t start = find_point(ring, hash);
    uint32_t pos = start, last = UINT32_MAX;
    for (uint32_t step = 0; step < ring->points; step++) {
        uint32_t i = ring->pt[pos].index;
        if (++pos == ring->points)
            pos = 0;
        if (i == last)
            continue;
        last = i;
        const uint32_t slot = ring->slots[i];
        /* Cheap test first, so that full targets are not touched: would one more fit? */
        if (!within_bound(ring, i, balance_pct, lb_loads_total(loads) + 1,
                          (uint64_t)lb_loads_get(loads, slot) + 1))
            continue;
        uint32_t now = lb__loads_inc(loads, slot, 1);
        if (within_bound(ring, i, balance_pct, lb_loads_total(loads), now)) {
            *target_id = ring->ids[i];
            return 0;
        }
        lb__loads_release(loads, slot);
    }
    /* Every target full: only when picks race or counts changed from outside. */
    uint32_t i = ring->pt[start].index;
    lb__loads_inc(loads, ring->slots[i], 1);
    *target_id = ring->ids[i];
    return 0;
}

LB_API int lb_chash_release(const lb_chash *ring, uint32_t target_id)
{
    if (!ring || !ring->loads)
        return -EINVAL;
    long i = index_of(ring, target_id);
    if (i < 0)
        return -ENOENT;
    return lb__loads_release(ring->loads, ring->slots[i]) ? 0 : -ERANGE;
}

LB_API int lb_chash_bound(const lb_chash *ring, uint32_t target_id, uint32_t balance_pct,
                          uint64_t load, uint64_t *bound)
{
    if (!ring || !bound || balance_pct < 100 || balance_pct > BALANCE_MAX)
        return -EINVAL;
    long i = index_of(ring, target_id);
    if (i < 0)
        return -ENOENT;
    *bound = bound_of(ring, (uint32_t)i, balance_pct, load);
    return 0;
}

LB_API size_t lb_chash_point_count(const lb_chash *ring)
{
    return ring ? ring->points : 0;
}

LB_API size_t lb_chash_target_count(const lb_chash *ring)
{
    return ring ? ring->count : 0;
}

LB_API int lb_chash_target_at(const lb_chash *ring, size_t index, uint32_t *id, uint32_t *weight,
                              uint32_t *points)
{
    if (!ring)
        return -EINVAL;
    if (index >= ring->count)
        return -ENOENT;
    if (id)
        *id = ring->ids[index];
    if (weight)
        *weight = ring->weights[index];
    if (points)
        *points = ring->npoints[index];
    return 0;
}
