/* Weighted least connections.
 *
 * Exact mode: a binary tournament tree whose nodes hold the index of the
 * best leaf below them. A leaf is one 64-bit word: excluded and no-weight flags in the top
 * bits and the key (active + 1) / weight in 24.32 fixed point below them, so that comparing
 * two leaves is comparing two integers (the key is exact: distinct ratios get distinct keys in
 * the same order). The count is recovered from the key and the weight. A leaf changes by
 * compare-and-swap, after which its path towards the root is refreshed (Jayanti's double
 * refresh over versioned node words). Ties go to the older pick stamp (a separate word per
 * leaf), then to pool order. The latest release is parked beside the tree rather than
 * propagated (see release_tree()), which in a pick-then-release steady state saves both
 * full-path refreshes.
 *
 * Choices mode: k uniform samples compared on the shared lb_loads counts.
 *
 * Both update the lb_loads counters inline (internal/loads.h). */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "internal/abi.h"
#include "internal/loads.h"
#include "internal/pool.h"
#include "lb/leastconn.h"

#define NONE      UINT32_MAX
#define COUNT_MAX LB_LEASTCONN_ACTIVE_MAX
#define KEY_SHIFT 32 /* keys (active + 1) / weight in 24.32 fixed point: exact ordering */
#define KEY_MASK  ((1ull << 57) - 1)

__extension__ typedef unsigned __int128 u128;
#define EXCLUDED      (1ull << 63)
#define NO_WEIGHT     (1ull << 62) /* weight 0 or padding: never picked, whatever set_excluded says */
#define UNPICKABLE    (EXCLUDED | NO_WEIGHT)
#define DIRECT_MAX(n) (4 * (uint64_t)(n) + 64) /* ids below this: a direct id -> index table */

struct lb_leastconn {
    _Alignas(64) _Atomic uint64_t clock; /* pick stamps (exact) or sampling counter: own line */
    _Atomic uint64_t pending; /* exact mode: a released leaf not yet propagated (see below) */
    _Alignas(64) uint32_t mode, choices, scan_below;
    uint32_t n, m, inner; /* targets; leaves (a power of two); internal tree nodes */
    uint64_t seed;
    lb_loads *loads;
    uint32_t *ids, *slot;
    uint32_t *w;            /* weights; exact mode: max(1, w), padded to m leaves */
    _Atomic uint32_t *effw; /* choices mode: the weight, or 0 while excluded */
    uint32_t *map;          /* id -> index + 1: direct (ids < direct) or open addressing */
    uint32_t map_mask, direct;
    _Atomic uint64_t *leaf;  /* exact mode, m leaves (padding unpickable): flags | key */
    _Atomic uint64_t *stamp; /* exact mode: the clock at each leaf's latest pick (0: never) */
    _Atomic uint64_t *node;  /* exact mode: node[0] is the root; children of v: 2v + 1, 2v + 2 */
};

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline long index_of(const lb_leastconn *lc, uint32_t id)
{
    if (lc->direct)
        return id < lc->direct ? (long)lc->map[id] - 1 : -1;
    for (uint32_t h = (uint32_t)mix64(id) & lc->map_mask;; h = (h + 1) & lc->map_mask) {
        uint32_t v = lc->map[h];
        if (!v)
            return -1;
        if (lc->ids[v - 1] == id)
            return (long)(v - 1);
    }
}

/* The better pick of leaves a and b: unpickable leaves lose (their flag bits are the word's
 * top bits); then the lesser key; then the older pick stamp; then the lower index. The arrays
 * are passed in so that callers keep them in registers across their atomic operations. */
static inline uint32_t better_of(_Atomic uint64_t *leaf, _Atomic uint64_t *stamp, uint32_t a,
                                 uint32_t b)
{
    uint64_t wa = atomic_load_explicit(&leaf[a], memory_order_seq_cst); /* see release_tree() */
    uint64_t wb = atomic_load_explicit(&leaf[b], memory_order_seq_cst);
    if (__builtin_expect(wa != wb, 1))
        return wa < wb ? a : b;
    uint64_t sa = atomic_load_explicit(&stamp[a], memory_order_relaxed);
    uint64_t sb = atomic_load_explicit(&stamp[b], memory_order_relaxed);
    if (sa != sb)
        return sa < sb ? a : b;
    return a < b ? a : b;
}

/* The key of `active` connections at weight w (w 0 counts as 1: such leaves are unpickable).
 * Distinct values of (active + 1) / w differ by at least 2^-32 (w <= 65535), so the keys of
 * distinct ratios differ, in the same order, and equal ratios give equal keys. */
static inline uint64_t key_of(uint64_t active, uint32_t w)
{
    return ((active + 1) << KEY_SHIFT) / w;
}

/* The number of connections a leaf word counts: the inverse of key_of(). */
static inline uint64_t active_of(uint64_t word, uint32_t w)
{
    u128 kw = (u128)(word & KEY_MASK) * w;
    return (uint64_t)((kw + ((1ull << KEY_SHIFT) - 1)) >> KEY_SHIFT) - 1;
}

static inline uint64_t leaf_word(lb_leastconn *lc, uint32_t i)
{
    return atomic_load_explicit(&lc->leaf[i], memory_order_seq_cst);
}

static inline uint32_t root(lb_leastconn *lc)
{
    return lc->inner ? (uint32_t)atomic_load_explicit(&lc->node[0], memory_order_acquire) : 0;
}

/* The best leaf among node v's children (2v + 1 and 2v + 2), from their current values. */
static inline uint32_t best_child(const lb_leastconn *lc, uint32_t v)
{
    uint32_t c = 2 * v + 1;
    if (c >= lc->inner) /* the bottom level: both children are leaves */
        return better_of(lc->leaf, lc->stamp, c - lc->inner, c + 1 - lc->inner);
    return better_of(lc->leaf, lc->stamp,
                     (uint32_t)atomic_load_explicit(&lc->node[c], memory_order_acquire),
                     (uint32_t)atomic_load_explicit(&lc->node[c + 1], memory_order_acquire));
}

/* Leaf i changed: refresh its path (Jayanti's double refresh) until a node neither changes nor
 * holds i. A node word is the best leaf's index in its low half and a version in its high
 * half that every refresh bumps, changed or not: a refresh computed from children read before
 * another refresh's install then fails its compare-and-swap instead of overwriting it (no
 * ABA), and retries once; if that fails too, a refresh that read the children after this
 * update has succeeded, so this update is reflected either way. Each refresh reads the node
 * before its children (that argument needs the children read after the node's old value was
 * installed). With @to_root, every node of the path is refreshed. */
static inline __attribute__((always_inline)) void propagate(const lb_leastconn *lc, uint32_t i,
                                                            int to_root)
{
    _Atomic uint64_t *const node = lc->node;
    if (!lc->inner)
        return;
    for (uint32_t v = (lc->inner + i - 1) / 2;; v = (v - 1) / 2) {
        uint64_t old = atomic_load_explicit(&node[v], memory_order_acquire);
        uint32_t best = best_child(lc, v);
        int stop = !to_root && (best == (uint32_t)old) & (best != i);
        if (!atomic_compare_exchange_strong_explicit(&node[v], &old,
                                                     (old | 0xffffffffull) + 1 + best,
                                                     memory_order_acq_rel, memory_order_acquire)) {
            best = best_child(lc, v);
            atomic_compare_exchange_strong_explicit(&node[v], &old,
                                                    (old | 0xffffffffull) + 1 + best,
                                                    memory_order_acq_rel, memory_order_acquire);
            stop = 0; /* contended: carry on upwards */
        }
        if (stop || v == 0)
            return;
    }
}

/* Takes one connection off leaf i's count; -ERANGE when it has none. */
static int leaf_release(lb_leastconn *lc, uint32_t i)
{
    uint64_t w = atomic_load_explicit(&lc->leaf[i], memory_order_relaxed), cnt;
    do {
        cnt = active_of(w, lc->w[i]);
        if (!cnt)
            return -ERANGE;
    } while (!atomic_compare_exchange_weak_explicit(&lc->leaf[i], &w,
                                                    (w & UNPICKABLE) | key_of(cnt - 1, lc->w[i]),
                                                    memory_order_seq_cst, memory_order_relaxed));
    return 0;
}

/* The deferred release. In the steady state of a pick-then-release workload, a release
 * typically makes the released target the new minimum and the next pick takes it back: the
 * release would refresh the whole path to the root, then the pick the whole path again. So
 * the latest release is parked instead of propagated: its leaf index goes into lc->pending
 * (low half: index + 1, 0 when empty; high half: a tag bumped by every park, so that a late
 * unpark cannot remove a newer park), and the leaf, whose key only went down, is left
 * reflected in the tree with a key at least its current one.
 *
 * Invariant: every leaf but the parked one is reflected in the tree as usual, so the root
 * names the best of all leaves but the parked one, and a pick takes the better of the root's
 * leaf and the parked leaf, both compared on their current words (a refresh that happens to
 * read the parked leaf's lower key only brings the tree closer to the truth). Every other
 * change of a parked leaf (a pick through the root, a drain) propagates as usual.
 * - A release parks its leaf; if another leaf is parked, it propagates that one, takes its
 *   place, and propagates it once more (the first pass keeps picks from missing its lower key
 *   while it leaves the slot; the second reads any decrement made by a release that saw it
 *   still parked); if the slot changed meanwhile, it propagates its own leaf instead. A leaf
 *   parked already stays parked.
 * - A pick that takes the parked leaf unparks it and, like every pick, propagates the leaf it
 *   took, reading the current words: that covers the parked decrease as well.
 * A release that sees its leaf parked relies on the propagation by whoever unparks it (a pick
 * or an evicting release) to read its decrement: the unparker changes the slot and then reads
 * the leaf, this release writes the leaf and then reads the slot; with these accesses
 * sequentially consistent, one of the two sees the other's write. */
static inline void release_tree(lb_leastconn *lc, uint32_t i)
{
    uint64_t p = atomic_load_explicit(&lc->pending, memory_order_seq_cst);
    if ((uint32_t)p == i + 1)
        return; /* parked already: picks compare its current word */
    if ((uint32_t)p)
        propagate(lc, (uint32_t)p - 1, 0); /* reflect the parked leaf before taking its place */
    if (!atomic_compare_exchange_strong_explicit(&lc->pending, &p,
                                                 (((p >> 32) + 1) << 32) | (i + 1ull),
                                                 memory_order_seq_cst, memory_order_relaxed))
        propagate(lc, i, 0); /* the slot changed meanwhile: propagate as usual */
    else if ((uint32_t)p)
        propagate(lc, (uint32_t)p - 1, 0); /* evicted: read its latest word */
}

static int pick_exact(lb_leastconn *lc, uint32_t *id)
{
    for (int checked = 0;;) {
        uint32_t r = root(lc), i = r;
        uint64_t p = atomic_load_explicit(&lc->pending, memory_order_seq_cst);
        if ((uint32_t)p && (uint32_t)p - 1 != r)
            i = better_of(lc->leaf, lc->stamp, r, (uint32_t)p - 1);
        uint64_t w = leaf_word(lc, i);
        if (w & UNPICKABLE) {
            /* The root may name a target that another thread is excluding right now and whose
             * path it has not refreshed yet: refresh the whole path once, then believe it (the
             * parked leaf, if any, is unpickable too: it lost to the root's). */
            if (checked++ || !lc->inner)
                return LB_E_SELECTOR_EMPTY;
            propagate(lc, r, 1);
            continue;
        }
        uint64_t cnt = active_of(w, lc->w[i]);
        if (cnt >= COUNT_MAX)
            return -ENOSPC;
        /* Claim the slot against the word compared last: two pickers cannot both take it. */
        if (atomic_compare_exchange_strong_explicit(&lc->leaf[i], &w, key_of(cnt + 1, lc->w[i]),
                                                    memory_order_seq_cst, memory_order_relaxed)) {
            /* A racy clock: two pickers may share a stamp (then pool order decides). */
            uint64_t stamp = atomic_load_explicit(&lc->clock, memory_order_relaxed);
            atomic_store_explicit(&lc->clock, stamp + 1, memory_order_relaxed);
            atomic_store_explicit(&lc->stamp[i], stamp, memory_order_relaxed);
            if ((uint32_t)p == i + 1) /* unpark (unless re-parked since: the tag differs) */
                atomic_compare_exchange_strong_explicit(&lc->pending, &p, p & ~0xffffffffull,
                                                        memory_order_seq_cst, memory_order_relaxed);
            propagate(lc, i, 0);
            lb__loads_inc(lc->loads, lc->slot[i], 1);
            *id = lc->ids[i];
            return 0;
        }
        propagate(lc, i, 0);
    }
}

static inline uint64_t next_random(lb_leastconn *lc)
{
    /* A racy counter is enough: two threads drawing the same number only repeat a sample. */
    uint64_t c = atomic_load_explicit(&lc->clock, memory_order_relaxed);
    atomic_store_explicit(&lc->clock, c + 1, memory_order_relaxed);
    return mix64(lc->seed + c * 0x9E3779B97F4A7C15ull);
}

/* (a+1)/wi below (b+1)/wj? */
static inline int lighter(uint32_t wi, uint32_t a, uint32_t wj, uint32_t b)
{
    return ((uint64_t)a + 1) * wj < ((uint64_t)b + 1) * wi;
}

static int pick_choices(lb_leastconn *lc, uint32_t *id)
{
    uint32_t best = NONE, best_a = 0, best_w = 0;
    if (lc->n > lc->scan_below) {
        uint64_t r = next_random(lc);
        if (lc->choices == 2) { /* the default, unrolled: both samples from one random word */
            uint32_t i = (uint32_t)(((r & 0xffffffffu) * lc->n) >> 32);
            uint32_t j = (uint32_t)(((r >> 32) * lc->n) >> 32);
            uint32_t wi = atomic_load_explicit(&lc->effw[i], memory_order_relaxed);
            uint32_t wj = atomic_load_explicit(&lc->effw[j], memory_order_relaxed);
            if (wi && wj) {
                uint32_t ai = lb__loads_get(lc->loads, lc->slot[i]);
                uint32_t aj = lb__loads_get(lc->loads, lc->slot[j]);
                best = lighter(wj, aj, wi, ai) ? j : i;
                lb__loads_inc(lc->loads, lc->slot[best], 1);
                *id = lc->ids[best];
                return 0;
            }
        }
        for (uint32_t k = 0, tries = 0; k < lc->choices && tries < 4 * lc->choices; tries++) {
            if (tries && !(tries & 1))
                r = mix64(r + tries);
            uint32_t i = (uint32_t)(((r & 0xffffffffu) * lc->n) >> 32);
            r = (r >> 32) | (r << 32);
            uint32_t wi = atomic_load_explicit(&lc->effw[i], memory_order_relaxed);
            if (!wi)
                continue;
            k++;
            uint32_t a = lb__loads_get(lc->loads, lc->slot[i]);
            if (best == NONE || lighter(wi, a, best_w, best_a))
                best = i, best_a = a, best_w = wi;
        }
    }
    if (best == NONE) { /* small pool, or samples all excluded: scan from a rotating start */
        uint32_t start = (uint32_t)(next_random(lc) % lc->n);
        for (uint32_t k = 0; k < lc->n; k++) {
            uint32_t i = start + k < lc->n ? start + k : start + k - lc->n;
            uint32_t wi = atomic_load_explicit(&lc->effw[i], memory_order_relaxed);
            if (!wi)
                continue;
            uint32_t a = lb__loads_get(lc->loads, lc->slot[i]);
            if (best == NONE || lighter(wi, a, best_w, best_a))
                best = i, best_a = a, best_w = wi;
        }
        if (best == NONE)
            return LB_E_SELECTOR_EMPTY;
    }
    lb__loads_inc(lc->loads, lc->slot[best], 1);
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
    uint32_t now;
    if (lc->mode == LB_LEASTCONN_EXACT) {
        int rc = leaf_release(lc, (uint32_t)i);
        if (rc)
            return rc;
        release_tree(lc, (uint32_t)i);
        lb__loads_dec(lc->loads, lc->slot[i], 1, &now);
        return 0;
    }
    /* Decrement only a positive count, so that a spurious release cannot hide another. */
    return lb__loads_dec(lc->loads, lc->slot[i], 1, &now) ? 0 : -ERANGE;
}

LB_API int lb_leastconn_set_excluded(lb_leastconn *lc, uint32_t id, int excluded)
{
    if (!lc)
        return -EINVAL;
    long i = index_of(lc, id);
    if (i < 0)
        return -ENOENT;
    if (lc->mode != LB_LEASTCONN_EXACT) {
        atomic_store_explicit(&lc->effw[i], excluded ? 0 : lc->w[i], memory_order_relaxed);
        return 0;
    }
    if (excluded)
        atomic_fetch_or_explicit(&lc->leaf[i], EXCLUDED, memory_order_acq_rel);
    else
        atomic_fetch_and_explicit(&lc->leaf[i], ~EXCLUDED, memory_order_acq_rel);
    propagate(lc, (uint32_t)i, 0);
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
        *active = (uint32_t)active_of(
            atomic_load_explicit(&((lb_leastconn *)lc)->leaf[i], memory_order_relaxed), lc->w[i]);
    else
        *active = lb__loads_get(lc->loads, lc->slot[i]);
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
    free(lc->stamp);
    free(lc->node);
    free(lc->effw);
    free(lc);
}

static int build_tree(lb_leastconn *lc)
{
    lc->m = 1;
    while (lc->m < lc->n)
        lc->m *= 2;
    lc->inner = lc->m - 1;
    uint32_t *w = realloc(lc->w, lc->m * sizeof(uint32_t));
    if (!w)
        return -ENOMEM;
    lc->w = w;
    lc->leaf = malloc(lc->m * sizeof(*lc->leaf));
    lc->stamp = malloc(lc->m * sizeof(*lc->stamp));
    lc->node = malloc((lc->inner ? lc->inner : 1) * sizeof(*lc->node));
    if (!lc->leaf || !lc->stamp || !lc->node)
        return -ENOMEM;
    for (uint32_t i = 0; i < lc->m; i++) {
        uint64_t a = i < lc->n ? lb__loads_get(lc->loads, lc->slot[i]) : 0;
        int unusable = i >= lc->n || !lc->w[i];
        if (unusable)
            lc->w[i] = 1; /* compared only as unpickable */
        atomic_init(&lc->leaf[i],
                    key_of(a < COUNT_MAX ? a : COUNT_MAX, lc->w[i]) | (unusable ? NO_WEIGHT : 0));
        atomic_init(&lc->stamp[i], 0); /* never picked: older than any pick */
    }
    for (uint32_t v = lc->inner; v-- > 0;) {
        atomic_init(&lc->node[v], best_child(lc, v));
    }
    return 0;
}

static int build_map(lb_leastconn *lc)
{
    uint32_t max_id = 0;
    for (uint32_t i = 0; i < lc->n; i++)
        max_id = lc->ids[i] > max_id ? lc->ids[i] : max_id;
    if (lc->n && max_id < DIRECT_MAX(lc->n)) {
        lc->direct = max_id + 1;
        lc->map = calloc(lc->direct, sizeof(uint32_t));
        if (!lc->map)
            return -ENOMEM;
        for (uint32_t i = 0; i < lc->n; i++)
            lc->map[lc->ids[i]] = i + 1;
        return 0;
    }
    uint32_t map_cap = 16;
    while (map_cap < 2 * lc->n)
        map_cap *= 2;
    lc->map_mask = map_cap - 1;
    lc->map = calloc(map_cap, sizeof(uint32_t));
    if (!lc->map)
        return -ENOMEM;
    for (uint32_t i = 0; i < lc->n; i++) {
        uint32_t h = (uint32_t)mix64(lc->ids[i]) & lc->map_mask;
        while (lc->map[h])
            h = (h + 1) & lc->map_mask;
        lc->map[h] = i + 1;
    }
    return 0;
}

LB_API int lb_leastconn_new(lb_leastconn **out, const lb_pool *pool, lb_loads *loads,
                            const lb_leastconn_options *opts)
{
    if (!out || !pool || !loads)
        return -EINVAL;
    lb_leastconn_options o = {sizeof(o), LB_LEASTCONN_EXACT, 2, 4, 0};
    lb_leastconn_options in;
    if (opts) {
        int rc = lb__struct_in(&in, sizeof(in), opts, opts->struct_size,
                               LB__SIZE_UPTO(lb_leastconn_options, seed));
        if (rc)
            return rc;
        opts = &in;
        if (opts->mode > LB_LEASTCONN_CHOICES || opts->choices > 16)
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
    atomic_init(&lc->pending, 0);
    lc->mode = o.mode;
    lc->choices = o.choices;
    lc->scan_below = o.scan_below;
    lc->seed = o.seed;
    lc->loads = loads;
    lc->n = (uint32_t)pn;
    size_t cap = pn ? pn : 1;
    lc->ids = malloc(cap * sizeof(uint32_t));
    lc->w = malloc(cap * sizeof(uint32_t));
    lc->slot = malloc(cap * sizeof(uint32_t));
    lc->effw = malloc(cap * sizeof(*lc->effw));
    int rc = (!lc->ids || !lc->w || !lc->slot || !lc->effw) ? -ENOMEM : 0;
    for (uint32_t i = 0; !rc && i < lc->n; i++) {
        lc->ids[i] = t[i].id;
        lc->w[i] = t[i].weight;
        atomic_init(&lc->effw[i], t[i].weight);
        rc = lb_loads_track(loads, t[i].id, &lc->slot[i]);
    }
    if (!rc)
        rc = build_map(lc);
    if (!rc && lc->mode == LB_LEASTCONN_EXACT)
        rc = build_tree(lc);
    if (rc) {
        lb_leastconn_free(lc);
        return rc;
    }
    *out = lc;
    return 0;
}
