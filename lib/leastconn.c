/* Weighted least connections. Exact mode: a tournament tree whose nodes hold the index of
 * the best leaf below them; a leaf is one 64-bit word (excluded bit, pick stamp, count)
 * changed by compare-and-swap, after which the path to the root is refreshed (twice per node
 * when a compare-and-swap on it fails, so that a finished update is never lost: Jayanti's
 * double refresh). Choices mode: k uniform samples compared on the shared lb_loads counts. */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "internal/pool.h"
#include "lb/leastconn.h"

#define NONE       UINT32_MAX
#define COUNT_BITS 24
#define COUNT_MASK ((1ull << COUNT_BITS) - 1)
#define STAMP_BITS 38
#define STAMP_MASK ((1ull << STAMP_BITS) - 1)
#define EXCLUDED   (1ull << 63)
#define NO_WEIGHT  (1ull << 62) /* weight 0: never picked, whatever set_excluded says */
#define UNPICKABLE (EXCLUDED | NO_WEIGHT)

struct lb_leastconn {
    _Alignas(64) _Atomic uint64_t clock; /* pick stamps (exact) or sampling counter */
    uint32_t mode, choices, scan_below;
    uint32_t n, m; /* targets; leaves in the tree (a power of two) */
    uint64_t seed;
    lb_loads *loads;
    uint32_t *ids, *w, *slot;
    uint32_t *map; /* id -> index + 1, open addressing */
    uint32_t map_mask;
    _Atomic uint64_t *leaf; /* exact mode */
    _Atomic uint32_t *node; /* exact mode: node[1] is the root */
    _Atomic uint8_t *excl;  /* choices mode */
};

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static long index_of(const lb_leastconn *lc, uint32_t id)
{
    for (uint32_t h = (uint32_t)mix64(id) & lc->map_mask;; h = (h + 1) & lc->map_mask) {
        uint32_t v = lc->map[h];
        if (!v)
            return -1;
        if (lc->ids[v - 1] == id)
            return (long)(v - 1);
    }
}

/* Is leaf a (with word wa) a better pick than leaf b? NONE and unpickable leaves lose. */
static int better(const lb_leastconn *lc, uint32_t a, uint64_t wa, uint32_t b, uint64_t wb)
{
    int oka = !(wa & UNPICKABLE), okb = !(wb & UNPICKABLE);
    if (oka != okb)
        return oka;
    if (!oka)
        return a < b; /* NONE (all ones) loses */
    uint64_t x = ((wa & COUNT_MASK) + 1) * lc->w[b], y = ((wb & COUNT_MASK) + 1) * lc->w[a];
    if (x != y)
        return x < y;
    uint64_t sa = (wa >> COUNT_BITS) & STAMP_MASK, sb = (wb >> COUNT_BITS) & STAMP_MASK;
    if (sa != sb) /* older stamp first, in serial-number order */
        return ((sa - sb) & STAMP_MASK) > (STAMP_MASK >> 1);
    return a < b;
}

static uint32_t child_value(const lb_leastconn *lc, uint32_t c)
{
    if (c >= lc->m)
        return c - lc->m < lc->n ? c - lc->m : NONE;
    return atomic_load_explicit(&lc->node[c], memory_order_acquire);
}

static uint64_t leaf_word(lb_leastconn *lc, uint32_t i)
{
    return i == NONE ? UNPICKABLE : atomic_load_explicit(&lc->leaf[i], memory_order_acquire);
}

/* Recomputes node v from its children; returns its value afterwards. */
static uint32_t refresh(lb_leastconn *lc, uint32_t v)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        uint32_t old = atomic_load_explicit(&lc->node[v], memory_order_acquire);
        uint32_t l = child_value(lc, 2 * v), r = child_value(lc, 2 * v + 1);
        uint32_t best = better(lc, l, leaf_word(lc, l), r, leaf_word(lc, r)) ? l : r;
        if (best == old)
            return old;
        if (atomic_compare_exchange_strong_explicit(&lc->node[v], &old, best, memory_order_acq_rel,
                                                    memory_order_acquire))
            return best;
    }
    return atomic_load_explicit(&lc->node[v], memory_order_acquire);
}

/* Leaf i changed: refresh its path until a node neither changes nor holds i. */
static void propagate(lb_leastconn *lc, uint32_t i)
{
    for (uint32_t v = (i + lc->m) / 2; v >= 1; v /= 2) {
        uint32_t before = atomic_load_explicit(&lc->node[v], memory_order_relaxed);
        uint32_t after = refresh(lc, v);
        if (after == before && after != i)
            return;
    }
}

/* Adds @delta (+1 or -1) to leaf i's count, stamping picks; fails at the bounds. */
static int leaf_add(lb_leastconn *lc, uint32_t i, int delta, uint64_t expect_word, int check)
{
    uint64_t w = check ? expect_word : atomic_load_explicit(&lc->leaf[i], memory_order_relaxed);
    for (;;) {
        uint64_t cnt = w & COUNT_MASK, nw;
        if (delta > 0) {
            if (cnt >= COUNT_MASK || (w & UNPICKABLE))
                return -EAGAIN;
            uint64_t stamp = atomic_load_explicit(&lc->clock, memory_order_relaxed);
            atomic_store_explicit(&lc->clock, stamp + 1, memory_order_relaxed);
            nw = (w & UNPICKABLE) | ((stamp & STAMP_MASK) << COUNT_BITS) | (cnt + 1);
        } else {
            if (!cnt)
                return -ERANGE;
            nw = w - 1;
        }
        if (atomic_compare_exchange_weak_explicit(&lc->leaf[i], &w, nw, memory_order_acq_rel,
                                                  memory_order_relaxed))
            return 0;
        if (check)
            return -EAGAIN; /* the pick saw a stale word: look at the tree again */
    }
}

static int pick_exact(lb_leastconn *lc, uint32_t *id)
{
    for (;;) {
        uint32_t i = lc->m == 1 ? (lc->n ? 0 : NONE)
                                : atomic_load_explicit(&lc->node[1], memory_order_acquire);
        uint64_t w = leaf_word(lc, i);
        if (w & UNPICKABLE)
            return LB_E_SELECTOR_EMPTY;
        if ((w & COUNT_MASK) >= COUNT_MASK)
            return -ENOSPC;
        if (leaf_add(lc, i, +1, w, 1) == 0) {
            propagate(lc, i);
            lb_loads_add(lc->loads, lc->slot[i], 1);
            *id = lc->ids[i];
            return 0;
        }
        propagate(lc, i);
    }
}

static uint64_t next_random(lb_leastconn *lc)
{
    /* A racy counter is enough: two threads drawing the same number only repeat a sample. */
    uint64_t c = atomic_load_explicit(&lc->clock, memory_order_relaxed);
    atomic_store_explicit(&lc->clock, c + 1, memory_order_relaxed);
    return mix64(lc->seed + c * 0x9E3779B97F4A7C15ull);
}

static int pickable(lb_leastconn *lc, uint32_t i)
{
    return lc->w[i] && !atomic_load_explicit(&lc->excl[i], memory_order_relaxed);
}

/* (a+1)/w of i below that of j? */
static int lighter(lb_leastconn *lc, uint32_t i, uint32_t ai, uint32_t j, uint32_t aj)
{
    return ((uint64_t)ai + 1) * lc->w[j] < ((uint64_t)aj + 1) * lc->w[i];
}

static int pick_choices(lb_leastconn *lc, uint32_t *id)
{
    uint32_t best = NONE, best_a = 0;
    if (lc->n > lc->scan_below) {
        uint64_t r = next_random(lc);
        for (uint32_t k = 0, tries = 0; k < lc->choices && tries < 4 * lc->choices; tries++) {
            if (tries && !(tries & 1))
                r = mix64(r + tries);
            uint32_t i = (uint32_t)(((r & 0xffffffffu) * lc->n) >> 32);
            r = (r >> 32) | (r << 32);
            if (!pickable(lc, i))
                continue;
            k++;
            uint32_t a = lb_loads_get(lc->loads, lc->slot[i]);
            if (best == NONE || lighter(lc, i, a, best, best_a))
                best = i, best_a = a;
        }
    }
    if (best == NONE) { /* small pool, or samples all excluded: scan from a rotating start */
        uint32_t start = (uint32_t)(next_random(lc) % lc->n);
        for (uint32_t k = 0; k < lc->n; k++) {
            uint32_t i = start + k < lc->n ? start + k : start + k - lc->n;
            if (!pickable(lc, i))
                continue;
            uint32_t a = lb_loads_get(lc->loads, lc->slot[i]);
            if (best == NONE || lighter(lc, i, a, best, best_a))
                best = i, best_a = a;
        }
        if (best == NONE)
            return LB_E_SELECTOR_EMPTY;
    }
    lb_loads_add(lc->loads, lc->slot[best], 1);
    *id = lc->ids[best];
    return 0;
}

LB_API int lb_leastconn_pick(lb_leastconn *lc, uint32_t *id)
{
    if (!lc || !id)
        return -EINVAL;
    if (!lc->n)
        return LB_E_SELECTOR_EMPTY;
    return lc->mode == LB_LEASTCONN_EXACT ? pick_exact(lc, id) : pick_choices(lc, id);
}

LB_API int lb_leastconn_release(lb_leastconn *lc, uint32_t id)
{
    if (!lc)
        return -EINVAL;
    long i = index_of(lc, id);
    if (i < 0)
        return -ENOENT;
    if (lc->mode == LB_LEASTCONN_EXACT) {
        int rc = leaf_add(lc, (uint32_t)i, -1, 0, 0);
        if (rc)
            return rc;
        propagate(lc, (uint32_t)i);
    } else {
        /* Decrement only a positive count, so that a spurious release cannot hide another. */
        if (!lb_loads_get(lc->loads, lc->slot[i]))
            return -ERANGE;
    }
    lb_loads_add(lc->loads, lc->slot[i], -1);
    return 0;
}

LB_API int lb_leastconn_set_excluded(lb_leastconn *lc, uint32_t id, int excluded)
{
    if (!lc)
        return -EINVAL;
    long i = index_of(lc, id);
    if (i < 0)
        return -ENOENT;
    if (lc->mode != LB_LEASTCONN_EXACT) {
        atomic_store_explicit(&lc->excl[i], excluded ? 1 : 0, memory_order_relaxed);
        return 0;
    }
    if (excluded)
        atomic_fetch_or_explicit(&lc->leaf[i], EXCLUDED, memory_order_acq_rel);
    else
        atomic_fetch_and_explicit(&lc->leaf[i], ~EXCLUDED, memory_order_acq_rel);
    propagate(lc, (uint32_t)i);
    return 0;
}

LB_API int lb_leastconn_active(const lb_leastconn *lc, uint32_t id, uint32_t *active)
{
    if (!lc || !active)
        return -EINVAL;
    long i = index_of(lc, id);
    if (i < 0)
        return -ENOENT;
    if (lc->mode == LB_LEASTCONN_EXACT)
        *active =
            (uint32_t)(atomic_load_explicit(&((lb_leastconn *)lc)->leaf[i], memory_order_relaxed) &
                       COUNT_MASK);
    else
        *active = lb_loads_get(lc->loads, lc->slot[i]);
    return 0;
}

LB_API size_t lb_leastconn_count(const lb_leastconn *lc)
{
    return lc ? lc->n : 0;
}

LB_API void lb_leastconn_free(lb_leastconn *lc)
{
    if (!lc)
        return;
    free(lc->ids);
    free(lc->w);
    free(lc->slot);
    free(lc->map);
    free(lc->leaf);
    free(lc->node);
    free(lc->excl);
    free(lc);
}

static int build_tree(lb_leastconn *lc)
{
    lc->leaf = malloc(lc->n * sizeof(*lc->leaf));
    lc->node = malloc(lc->m * sizeof(*lc->node));
    if (!lc->leaf || !lc->node)
        return -ENOMEM;
    for (uint32_t i = 0; i < lc->n; i++) {
        uint64_t a = lb_loads_get(lc->loads, lc->slot[i]);
        atomic_init(&lc->leaf[i], (a < COUNT_MASK ? a : COUNT_MASK) | (lc->w[i] ? 0 : NO_WEIGHT));
    }
    atomic_init(&lc->node[0], NONE);
    for (uint32_t v = lc->m - 1; v >= 1; v--) {
        atomic_init(&lc->node[v], NONE);
        refresh(lc, v);
    }
    return 0;
}

LB_API int lb_leastconn_new(lb_leastconn **out, const lb_pool *pool, lb_loads *loads,
                            const lb_leastconn_options *opts)
{
    if (!out || !pool || !loads)
        return -EINVAL;
    lb_leastconn_options o = {sizeof(o), LB_LEASTCONN_EXACT, 2, 4, 0};
    if (opts) {
        if (opts->struct_size < sizeof(o) || opts->mode > LB_LEASTCONN_CHOICES ||
            opts->choices > 16)
            return -EINVAL;
        o.mode = opts->mode;
        o.choices = opts->choices ? opts->choices : 2;
        o.scan_below = opts->scan_below ? opts->scan_below : 4;
        o.seed = opts->seed;
    }
    size_t pn;
    const struct lb__target *t = lb__pool_targets(pool, &pn);
    lb_leastconn *lc = aligned_alloc(64, sizeof(*lc));
    if (!lc)
        return -ENOMEM;
    memset(lc, 0, sizeof(*lc));
    atomic_init(&lc->clock, 1); /* stamp 0: never picked, older than any pick */
    lc->mode = o.mode;
    lc->choices = o.choices;
    lc->scan_below = o.scan_below;
    lc->seed = o.seed;
    lc->loads = loads;
    lc->n = (uint32_t)pn;
    lc->m = 1;
    while (lc->m < lc->n)
        lc->m *= 2;
    uint32_t map_cap = 16;
    while (map_cap < 2 * lc->n)
        map_cap *= 2;
    lc->map_mask = map_cap - 1;
    size_t cap = pn ? pn : 1;
    lc->ids = malloc(cap * sizeof(uint32_t));
    lc->w = malloc(cap * sizeof(uint32_t));
    lc->slot = malloc(cap * sizeof(uint32_t));
    lc->map = calloc(map_cap, sizeof(uint32_t));
    lc->excl = calloc(cap, sizeof(*lc->excl));
    int rc = (!lc->ids || !lc->w || !lc->slot || !lc->map || !lc->excl) ? -ENOMEM : 0;
    for (uint32_t i = 0; !rc && i < lc->n; i++) {
        lc->ids[i] = t[i].id;
        lc->w[i] = t[i].weight;
        rc = lb_loads_track(loads, t[i].id, &lc->slot[i]);
        uint32_t h = (uint32_t)mix64(t[i].id) & lc->map_mask;
        while (lc->map[h])
            h = (h + 1) & lc->map_mask;
        lc->map[h] = i + 1;
    }
    if (!rc && lc->mode == LB_LEASTCONN_EXACT)
        rc = build_tree(lc);
    if (rc) {
        lb_leastconn_free(lc);
        return rc;
    }
    *out = lc;
    return 0;
}
