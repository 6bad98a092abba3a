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
 * Both update the lb_loads counters inline (internal/loads.h).
 *
 * Scalable modes (least connections over the tree, or k choices): each thread counts in its
 * stripe's delta and publishes batches into pub[] (see sc_count()); the tree, the choices and
 * the lb_loads table see the published counts, lb_leastconn_active() the true ones. */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "internal/abi.h"
#include "internal/idmap.h"
#include "internal/loads.h"
#include "internal/pool.h"
#include "internal/selector.h"
#include "internal/util.h"
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
    uint32_t *map;          /* ids below `direct`: id -> index + 1 */
    uint32_t direct;
    struct lb__idmap idmap; /* otherwise */
    _Atomic uint64_t *leaf;  /* exact mode, m leaves (padding unpickable): flags | key */
    _Atomic uint64_t *stamp; /* exact mode: the clock at each leaf's latest pick (0: never) */
    _Atomic uint64_t *node;  /* exact mode: node[0] is the root; children of v: 2v + 1, 2v + 2 */
    /* scalable mode: the tree (and the lb_loads table) shows the published counts pub[i];
     * each stripe's picks and releases move its own delta[stripe * dstride + i] and publish
     * it in steps of SC_BATCH. True count = pub[i] + the stripes' deltas. */
    _Atomic int64_t *pub;
    _Atomic int32_t *delta;
    uint32_t dstride; /* a multiple of 16: stripes never share a cache line */
};

#define SC_BATCH ((int32_t)LB_LEASTCONN_SCALABLE_BATCH)
_Static_assert(LB__STRIPES == LB_LEASTCONN_STRIPES, "one stripe count");
#define TREE(lc) ((lc)->mode == LB_LEASTCONN_EXACT || (lc)->mode == LB_LEASTCONN_SCALABLE)
#define STRIPED(lc) ((lc)->mode >= LB_LEASTCONN_SCALABLE) /* counts in stripes (sc_count()) */

static inline long index_of(const lb_leastconn *lc, uint32_t id)
{
    if (lc->direct)
        return id < lc->direct ? (long)lc->map[id] - 1 : -1;
    return lb__idmap_find(&lc->idmap, lc->ids, sizeof(uint32_t), id);
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

static inline __attribute__((always_inline)) int pick_exact(lb_leastconn *lc, uint32_t *index)
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
            *index = i;
            return 0;
        }
        propagate(lc, i, 0);
    }
}

/* A thread's own sequence of draws: picks write no shared line for their randomness. Threads
 * are numbered in the order they first draw, so a single-threaded program with a given seed
 * repeats its picks. */
static LB__TLS uint64_t tl_draws;
static _Atomic uint64_t streams;

static inline uint64_t next_random(lb_leastconn *lc)
{
    if (LB_UNLIKELY(!tl_draws))
        tl_draws = lb__mix64(atomic_fetch_add_explicit(&streams, 1, memory_order_relaxed) + 1) | 1;
    tl_draws += 0x9E3779B97F4A7C15ull;
    return lb__mix64(lc->seed ^ tl_draws);
}

/* (a+1)/wi below (b+1)/wj? */
static inline int lighter(uint32_t wi, uint32_t a, uint32_t wj, uint32_t b)
{
    return ((uint64_t)a + 1) * wj < ((uint64_t)b + 1) * wi;
}

/* ---- scalable mode ---- */

static inline uint64_t clamp_count(int64_t v)
{
    return v < 0 ? 0 : v > (int64_t)COUNT_MAX ? COUNT_MAX : (uint64_t)v;
}

/* Show leaf i's published count in the tree and in the lb_loads table. Each compare-and-swap
 * reads the count after the word it replaces, so the last one to succeed shows every
 * publication that finished before it. */
static void sc_mirror(lb_leastconn *lc, uint32_t i)
{
    if (TREE(lc)) {
        uint64_t w = atomic_load_explicit(&lc->leaf[i], memory_order_seq_cst), nw;
        do {
            nw = (w & UNPICKABLE) |
                 key_of(clamp_count(atomic_load_explicit(&lc->pub[i], memory_order_seq_cst)),
                        lc->w[i]);
        } while (!atomic_compare_exchange_weak_explicit(&lc->leaf[i], &w, nw,
                                                        memory_order_seq_cst,
                                                        memory_order_seq_cst));
    }
    _Atomic uint32_t *a = &lc->loads->slots[lc->slot[i]].active;
    uint32_t old = atomic_load_explicit(a, memory_order_relaxed), c;
    do {
        c = (uint32_t)clamp_count(atomic_load_explicit(&lc->pub[i], memory_order_relaxed));
    } while (!atomic_compare_exchange_weak_explicit(a, &old, c, memory_order_relaxed,
                                                    memory_order_relaxed));
    if (lc->loads->keep_total)
        atomic_fetch_add_explicit(&lc->loads->total, (uint64_t)c - old, memory_order_relaxed);
    if (TREE(lc))
        propagate(lc, i, 0); /* ties: pool order (no shared clock to write) */
}

/* Move one connection on leaf i into the calling thread's stripe delta (+1 or -1); every
 * SC_BATCH of them in one direction are published. */
static inline void sc_count_in(lb_leastconn *lc, uint32_t stripe, uint32_t i, int32_t one)
{
    _Atomic int32_t *d = &lc->delta[(size_t)stripe * lc->dstride + i];
    atomic_fetch_add_explicit(d, one, memory_order_relaxed);
    int32_t v = atomic_load_explicit(d, memory_order_relaxed);
    while (LB_UNLIKELY(v * one >= SC_BATCH)) {
        if (atomic_compare_exchange_weak_explicit(d, &v, v - one * SC_BATCH, memory_order_relaxed,
                                                  memory_order_relaxed)) {
            atomic_fetch_add_explicit(&lc->pub[i], (int64_t)one * SC_BATCH, memory_order_seq_cst);
            sc_mirror(lc, i);
            break;
        }
    }
}

static inline void sc_count(lb_leastconn *lc, uint32_t i, int32_t one)
{
    sc_count_in(lc, lb__stripe(), i, one);
}

/* What stripe @stripe sees of leaf i's count: the published count and its own delta. */
static inline uint32_t sc_view(lb_leastconn *lc, uint32_t stripe, uint32_t i)
{
    int64_t v = atomic_load_explicit(&lc->pub[i], memory_order_relaxed) +
                atomic_load_explicit(&lc->delta[(size_t)stripe * lc->dstride + i],
                                     memory_order_relaxed);
    return v > 0 ? (uint32_t)v : 0; /* below COUNT_MAX + B: picks refuse at COUNT_MAX - B */
}

/* ---- choices mode ---- */

/* Whether position i may be sampled: a weight (not excluded by lb_leastconn_set_excluded())
 * and not excluded by the balancer's request @p (NULL: none). */
static inline uint32_t weight_if_open(lb_leastconn *lc, uint32_t i, const struct lb__sel_pick *p)
{
    uint32_t w = atomic_load_explicit(&lc->effw[i], memory_order_relaxed);
    return w && p && p->n_exclude && p->excluded(p, i) ? 0 : w;
}

/* Power of k choices from the random word @r: two distinct samples when k = 2 (the default),
 * a full scan of pools of at most scan_below targets. Counts the pick. */
static inline __attribute__((always_inline)) int
pick_choices(lb_leastconn *lc, uint64_t r, const struct lb__sel_pick *p, uint32_t *index,
             const int striped)
{
    uint32_t best = NONE, best_a = 0, best_w = 0;
    const uint32_t stripe = striped ? lb__stripe() : 0;
#define COUNT_OF(i) (striped ? sc_view(lc, stripe, (i)) : lb__loads_get(lc->loads, lc->slot[i]))
    if (lc->n > lc->scan_below) {
        if (lc->choices == 2) { /* the default, unrolled: both samples from one random word */
            uint32_t i = (uint32_t)(((r & 0xffffffffu) * lc->n) >> 32);
            uint32_t j = (uint32_t)(((r >> 32) * (lc->n - 1)) >> 32);
            j += j >= i;
            uint32_t wi = weight_if_open(lc, i, p);
            uint32_t wj = weight_if_open(lc, j, p);
            if (wi && wj) {
                uint32_t ai = COUNT_OF(i), aj = COUNT_OF(j);
                best = lighter(wj, aj, wi, ai) ? j : i;
                best_a = best == i ? ai : aj;
                goto count;
            }
        }
        for (uint32_t k = 0, tries = 0; k < lc->choices && tries < 4 * lc->choices; tries++) {
            if (tries && !(tries & 1))
                r = lb__mix64(r + tries);
            uint32_t i = (uint32_t)(((r & 0xffffffffu) * lc->n) >> 32);
            r = (r >> 32) | (r << 32);
            uint32_t wi = weight_if_open(lc, i, p);
            if (!wi)
                continue;
            k++;
            uint32_t a = COUNT_OF(i);
            if (best == NONE || lighter(wi, a, best_w, best_a))
                best = i, best_a = a, best_w = wi;
        }
    }
    if (best == NONE) { /* small pool, or samples all excluded: scan from a rotating start */
        uint32_t start = (uint32_t)(lb__mix64(r) % lc->n);
        for (uint32_t k = 0; k < lc->n; k++) {
            uint32_t i = start + k < lc->n ? start + k : start + k - lc->n;
            uint32_t wi = weight_if_open(lc, i, p);
            if (!wi)
                continue;
            uint32_t a = COUNT_OF(i);
            if (best == NONE || lighter(wi, a, best_w, best_a))
                best = i, best_a = a, best_w = wi;
        }
        if (best == NONE)
            return LB_E_SELECTOR_EMPTY;
    }
#undef COUNT_OF
count:
    if (striped) {
        if ((uint64_t)best_a + (uint64_t)LB__STRIPES * SC_BATCH >= COUNT_MAX)
            return -ENOSPC;
        sc_count_in(lc, stripe, best, 1);
    } else {
        lb__loads_inc(lc->loads, lc->slot[best], 1);
    }
    *index = best;
    return 0;
}

/* The root's target: the least (published count + 1) / weight. */
static int pick_scalable(lb_leastconn *lc, uint32_t *index)
{
    for (int checked = 0;;) {
        uint32_t i = root(lc);
        uint64_t w = leaf_word(lc, i);
        if (w & UNPICKABLE) { /* as in pick_exact(): refresh the path once, then believe it */
            if (checked++ || !lc->inner)
                return LB_E_SELECTOR_EMPTY;
            propagate(lc, i, 1);
            continue;
        }
        if (active_of(w, lc->w[i]) + (uint64_t)LB__STRIPES * SC_BATCH >= COUNT_MAX)
            return -ENOSPC;
        sc_count(lc, i, 1);
        *index = i;
        return 0;
    }
}

static uint32_t sc_active(const lb_leastconn *lc, uint32_t i)
{
    lb_leastconn *m = (lb_leastconn *)lc;
    int64_t a = atomic_load_explicit(&m->pub[i], memory_order_relaxed);
    for (uint32_t s = 0; s < LB__STRIPES; s++)
        a += atomic_load_explicit(&m->delta[(size_t)s * lc->dstride + i], memory_order_relaxed);
    return (uint32_t)clamp_count(a);
}

static int build_scalable(lb_leastconn *lc)
{
    lc->dstride = (lc->n + 15) & ~15u;
    lc->pub = malloc((lc->n ? lc->n : 1) * sizeof(*lc->pub));
    lc->delta = aligned_alloc(64, (size_t)LB__STRIPES * lc->dstride * sizeof(*lc->delta) + 64);
    if (!lc->pub || !lc->delta)
        return -ENOMEM;
    for (uint32_t i = 0; i < lc->n; i++)
        atomic_init(&lc->pub[i], (int64_t)lb__loads_get(lc->loads, lc->slot[i]));
    for (size_t k = 0; k < (size_t)LB__STRIPES * lc->dstride; k++)
        atomic_init(&lc->delta[k], 0);
    return 0;
}

static __attribute__((noinline)) int pick_choices_striped(lb_leastconn *lc, uint32_t *index)
{
    return pick_choices(lc, next_random(lc), NULL, index, 1);
}

LB_API int lb_leastconn_pick(lb_leastconn *lc, uint32_t *id)
{
    if (!lc || !id)
        return -EINVAL;
    if (!lc->n)
        return LB_E_SELECTOR_EMPTY;
    uint32_t i;
    int rc;
    switch (lc->mode) { /* striped choices apart: inlined, it made every mode save more registers */
    case LB_LEASTCONN_EXACT:
        rc = pick_exact(lc, &i);
        break;
    case LB_LEASTCONN_SCALABLE:
        rc = pick_scalable(lc, &i);
        break;
    case LB_LEASTCONN_CHOICES_SCALABLE:
        rc = pick_choices_striped(lc, &i);
        break;
    default:
        rc = pick_choices(lc, next_random(lc), NULL, &i, 0);
    }
    if (!rc)
        *id = lc->ids[i];
    return rc;
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
    if (STRIPED(lc)) { /* not checked: the count is spread over stripes */
        sc_count(lc, (uint32_t)i, -1);
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
    if (!TREE(lc)) {
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
    if (STRIPED(lc))
        *active = sc_active(lc, (uint32_t)i);
    else if (lc->mode == LB_LEASTCONN_EXACT)
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
    lb__idmap_free(&lc->idmap);
    free(lc->leaf);
    free(lc->stamp);
    free(lc->node);
    free(lc->effw);
    free(lc->pub);
    free(lc->delta);
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
    return lb__idmap_build(&lc->idmap, lc->ids, sizeof(uint32_t), lc->n);
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
        if (opts->mode > LB_LEASTCONN_CHOICES_SCALABLE || opts->choices > 16)
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
    if (!rc && TREE(lc))
        rc = build_tree(lc);
    if (!rc && STRIPED(lc))
        rc = build_scalable(lc);
    if (rc) {
        lb_leastconn_free(lc);
        return rc;
    }
    *out = lc;
    return 0;
}

/* ---- the balancer's selectors (internal/selector.h) ---------------------------------------- */

static int sel_build(void **state, const struct lb__sel_input *in, uint32_t mode)
{
    lb_leastconn_options o = {.struct_size = sizeof(o), .mode = mode, .seed = in->seed};
    return lb_leastconn_new((lb_leastconn **)state, in->pool, in->loads, &o);
}

static int sel_build_exact(void **state, const struct lb__sel_input *in)
{
    return sel_build(state, in, LB_LEASTCONN_EXACT);
}

static int sel_build_p2c(void **state, const struct lb__sel_input *in)
{
    return sel_build(state, in, LB_LEASTCONN_CHOICES);
}

/* Exact least connections. With exclusions, the tree (shared by every request) cannot skip
 * them: the exact minimum of (active + 1) / weight over the rest is found by a scan, and not
 * counted (the balancer counts it). */
static int sel_pick_exact(void *state, const struct lb__sel_pick *p, uint32_t *pos, int *counted)
{
    lb_leastconn *lc = state;
    *counted = 0;
    if (!lc->n)
        return LB_E_NO_TARGET;
    if (!p->n_exclude) {
        if (pick_exact(lc, pos))
            return LB_E_NO_TARGET;
        *counted = 1;
        return 0;
    }
    uint32_t best = NONE, best_a = 0, best_w = 1;
    for (uint32_t i = 0; i < lc->n; i++) {
        if (p->excluded(p, i))
            continue;
        uint32_t a = lb__loads_get(lc->loads, lc->slot[i]);
        if (best == NONE || lighter(lc->w[i], a, best_w, best_a))
            best = i, best_a = a, best_w = lc->w[i];
    }
    if (best == NONE)
        return LB_E_NO_TARGET;
    *pos = best;
    return 0;
}

/* Power of two choices, sampled by the flow hash (the same request samples the same pair). */
static int sel_pick_p2c(void *state, const struct lb__sel_pick *p, uint32_t *pos, int *counted)
{
    lb_leastconn *lc = state;
    *counted = 0;
    if (!lc->n || pick_choices(lc, lb__mix64(p->hash ^ p->seed), p, pos, 0))
        return LB_E_NO_TARGET;
    *counted = 1;
    return 0;
}

static int sel_release(void *state, uint32_t id)
{
    return lb_leastconn_release(state, id);
}

static void sel_free(void *state)
{
    lb_leastconn_free(state);
}

const struct lb__selector lb__sel_leastconn = {
    .name = "leastconn",
    .needs = LB__SEL_NEEDS_LOADS,
    .build = sel_build_exact,
    .pick = sel_pick_exact,
    .release = sel_release,
    .free_state = sel_free,
};

const struct lb__selector lb__sel_p2c = {
    .name = "p2c",
    .needs = LB__SEL_NEEDS_LOADS | LB__SEL_HASHED,
    .build = sel_build_p2c,
    .pick = sel_pick_p2c,
    .free_state = sel_free, /* a release is a plain decrement of the count */
};
