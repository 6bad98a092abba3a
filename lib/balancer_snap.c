/* The balancer's read side: immutable snapshots, their publication and reclamation, and the
 * lock-free picks and releases that read them.
 *
 * Reclamation is a two-epoch reader-counter scheme (doc/balancer.md): a reader increments the
 * counter of the current epoch parity in its stripe, loads the snapshot pointer, uses the
 * snapshot, and decrements the same counter. The writer swaps the pointer and retires the old
 * snapshot with the epoch of the swap; it flips the epoch whenever the parity the flip hands
 * to new readers is empty, and frees a snapshot two flips after its swap. A publish never
 * leaves more than LB__BAL_MAX_RETIRED snapshots alive: it waits for readers only when it
 * would. */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "internal/abi.h"
#include "internal/balancer.h"
#include "internal/loads.h"
#include "internal/pool.h"
#include "internal/util.h"

/* Excluded picks rehash into the selector this many times before the rendezvous fallback. */
#define REHASH_TRIES 8
/* P2C scans pools of at most this many targets in full. */
#define P2C_SCAN_BELOW 4

/* ---- the reader side of reclamation ----------------------------------------------------- */

/* A thread's stripe: a hash of where its stack is (threads' stacks lie megabytes apart, so
 * threads rarely share a stripe; sharing one only costs contention, never correctness). */
static inline unsigned stripe_of_thread(const void *on_stack)
{
    uint64_t a = (uint64_t)(uintptr_t)on_stack >> 16;
    return (unsigned)(lb__splitmix64(&a) >> 60) & (LB__BAL_STRIPES - 1);
}

static inline _Atomic uint64_t *read_enter(lb_balancer *b)
{
    unsigned parity = atomic_load_explicit(&b->epoch, memory_order_relaxed) & 1u;
    _Atomic uint64_t *c = &b->stripes[stripe_of_thread(&parity)].readers[parity];
    atomic_fetch_add_explicit(c, 1, memory_order_seq_cst);
    return c;
}

static inline void read_exit(_Atomic uint64_t *c)
{
    atomic_fetch_sub_explicit(c, 1, memory_order_release);
}

static inline struct lb__snap *read_current(lb_balancer *b)
{
    return atomic_load_explicit(&b->current, memory_order_seq_cst);
}

/* ---- the writer side ---------------------------------------------------------------------- */

/* Flip the epoch if no reader is left in the parity the flip hands to new readers. A snapshot
 * swapped out at epoch E is unreachable once the epoch reaches E + 2: the flips from E and
 * from E + 1 each saw one parity empty after the swap, and every reader that could have loaded
 * the old pointer counted itself in one of the two parities before loading it. */
static int try_flip(lb_balancer *b)
{
    uint32_t e = atomic_load_explicit(&b->epoch, memory_order_relaxed); /* writer-owned */
    unsigned next = (e + 1) & 1u;
    uint64_t busy = 0;
    for (unsigned i = 0; i < LB__BAL_STRIPES; i++)
        busy |= atomic_load_explicit(&b->stripes[i].readers[next], memory_order_seq_cst);
    if (busy)
        return 0;
    atomic_store_explicit(&b->epoch, e + 1, memory_order_seq_cst);
    return 1;
}

/* Free the retired snapshots no reader can hold; wait (spinning, then yielding) until at most
 * @keep remain. */
static void reclaim(lb_balancer *b, uint32_t keep)
{
    for (unsigned spins = 0;; spins++) {
        if (b->n_retired)
            for (int k = 0; k < 2 && try_flip(b); k++)
                ;
        uint32_t e = atomic_load_explicit(&b->epoch, memory_order_relaxed), kept = 0;
        for (uint32_t i = 0; i < b->n_retired; i++) {
            if (e - b->retired_epoch[i] >= 2) {
                lb__bal_snap_free(b, b->retired[i]);
            } else {
                b->retired[kept] = b->retired[i];
                b->retired_epoch[kept++] = b->retired_epoch[i];
            }
        }
        b->n_retired = kept;
        if (kept <= keep)
            return;
        if (spins >= 64)
            sched_yield();
    }
}

void lb__bal_synchronize(lb_balancer *b)
{
    reclaim(b, 0);
}

void lb__bal_sel_release(struct lb__sel *sel)
{
    if (!sel || --sel->refs)
        return;
    lb_maglev_free(sel->maglev);
    lb_chash_free(sel->ring);
    lb_wrr_free(sel->wrr);
    lb_leastconn_free(sel->lc);
    free(sel->ids);
    free(sel->weights);
    free(sel);
}

void lb__bal_snap_free(lb_balancer *b, struct lb__snap *s)
{
    (void)b;
    if (!s)
        return;
    lb__bal_sel_release(s->sel);
    free(s->ent);
    free(s->elig);
    free(s->map);
    free(s->by_sel);
    free(s);
}

static uint32_t map_home(uint32_t id, uint32_t mask)
{
    return (id * 0x9E3779B1u ^ id >> 15) & mask;
}

const struct lb__snap_ent *lb__bal_snap_find(const struct lb__snap *s, uint32_t id)
{
    if (!s || !s->map)
        return NULL;
    for (uint32_t i = map_home(id, s->map_mask);; i = (i + 1) & s->map_mask) {
        uint32_t v = s->map[i];
        if (!v)
            return NULL;
        if (s->ent[v - 1].id == id)
            return &s->ent[v - 1];
    }
}

/* Sort order of the eligible list: by key bytes (the same on every instance). */
struct keyref {
    const uint8_t *key;
    uint32_t len;
    uint32_t idx;
};

static int cmp_key(const void *a, const void *b)
{
    const struct keyref *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->key, y->key, n);
    if (c)
        return c;
    return (x->len > y->len) - (x->len < y->len);
}

static int sort_by_key(struct lb__snap *s, const struct lb__target *keys)
{
    struct keyref *r = malloc(((size_t)s->n_elig + 1) * sizeof(*r));
    if (!r)
        return -ENOMEM;
    for (uint32_t k = 0; k < s->n_elig; k++)
        r[k] = (struct keyref){keys[s->elig[k]].key, keys[s->elig[k]].key_len, s->elig[k]};
    qsort(r, s->n_elig, sizeof(*r), cmp_key);
    for (uint32_t k = 0; k < s->n_elig; k++)
        s->elig[k] = r[k].idx;
    free(r);
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* The selector inputs (id, effective weight) of the eligible targets, sorted by id. */
static int sel_inputs(const struct lb__snap *s, uint32_t **ids, uint32_t **weights, uint32_t *count)
{
    uint32_t n = 0;
    uint64_t *pairs = malloc(((size_t)s->n_elig + 1) * sizeof(*pairs));
    *ids = malloc(((size_t)s->n_elig + 1) * sizeof(**ids));
    *weights = malloc(((size_t)s->n_elig + 1) * sizeof(**weights));
    if (!pairs || !*ids || !*weights) {
        free(pairs);
        return -ENOMEM;
    }
    for (uint32_t k = 0; k < s->n_elig; k++) {
        const struct lb__snap_ent *e = &s->ent[s->elig[k]];
        pairs[n++] = (uint64_t)e->id << 32 | e->weight;
    }
    qsort(pairs, n, sizeof(*pairs), cmp_u64);
    for (uint32_t k = 0; k < n; k++) {
        (*ids)[k] = (uint32_t)(pairs[k] >> 32);
        (*weights)[k] = (uint32_t)pairs[k];
    }
    free(pairs);
    *count = n;
    return 0;
}

static int same_inputs(const struct lb__sel *sel, uint32_t algorithm, const uint32_t *ids,
                       const uint32_t *weights, uint32_t n)
{
    return sel && sel->algorithm == algorithm && sel->n == n &&
           !memcmp(sel->ids, ids, n * sizeof(*ids)) &&
           !memcmp(sel->weights, weights, n * sizeof(*weights));
}

/* The pool a selector is built from: the eligible targets with their effective weights. For
 * the ring, weights are rescaled so that the ring holds about 160 points per target. */
static int sel_pool(lb_balancer *b, const struct lb__snap *s, int for_ring, lb_pool **out)
{
    size_t count = 0;
    const struct lb__target *keys = lb__pool_targets(b->pool, &count);
    uint64_t total = 0;
    for (uint32_t k = 0; k < s->n_elig; k++)
        total += s->ent[s->elig[k]].weight;
    int rc = lb_pool_new(out);
    if (rc)
        return rc;
    for (uint32_t k = 0; k < s->n_elig && !rc; k++) {
        uint32_t i = s->elig[k];
        uint64_t w = s->ent[i].weight;
        if (for_ring) {
            w = (w * LB_CHASH_DEFAULT_POINTS * s->n_elig + total / 2) / total;
            w = w ? w : 1;
            w = w > LB_WEIGHT_MAX ? LB_WEIGHT_MAX : w;
        }
        rc = lb_pool_add(*out, keys[i].id, keys[i].key, keys[i].key_len, (uint32_t)w, keys[i].zone);
    }
    if (rc) {
        lb_pool_free(*out);
        *out = NULL;
    }
    return rc;
}

static int sel_build(lb_balancer *b, const struct lb__snap *s, const struct lb__sel *prev,
                     struct lb__sel *sel)
{
    lb_pool *pool = NULL;
    int rc =
        sel_pool(b, s, b->algorithm == LB_ALG_RING || b->algorithm == LB_ALG_RING_BOUNDED, &pool);
    if (rc)
        return rc;
    switch (b->algorithm) {
    case LB_ALG_MAGLEV:
        rc = lb_maglev_build(&sel->maglev, pool, b->cfg.table_size);
        if (!rc)
            sel->digest = lb_maglev_digest(sel->maglev);
        break;
    case LB_ALG_RING:
    case LB_ALG_RING_BOUNDED: {
        lb_chash_options o = {.struct_size = sizeof(o), .points_per_weight = 1, .loads = b->loads};
        rc = lb_chash_new(&sel->ring, pool, &o);
        break;
    }
    case LB_ALG_WRR: {
        lb_wrr_options o = {.struct_size = sizeof(o),
                            .seed = b->cfg.seed,
                            .prev = prev && prev->algorithm == LB_ALG_WRR ? prev->wrr : NULL};
        rc = lb_wrr_new(&sel->wrr, pool, &o);
        break;
    }
    case LB_ALG_LEASTCONN: {
        lb_leastconn_options o = {
            .struct_size = sizeof(o), .mode = LB_LEASTCONN_EXACT, .seed = b->cfg.seed};
        rc = lb_leastconn_new(&sel->lc, pool, b->loads, &o);
        break;
    }
    default: /* P2C samples the snapshot's eligible list directly */
        break;
    }
    lb_pool_free(pool);
    return rc;
}

/* Build the snapshot of the registry as it is now. */
static int snap_build(lb_balancer *b, struct lb__snap **out)
{
    size_t count = 0;
    const struct lb__target *keys = lb__pool_targets(b->pool, &count);
    uint32_t n = (uint32_t)b->n;
    struct lb__snap *s = calloc(1, sizeof(*s));
    uint32_t *w = calloc((size_t)n + 1, sizeof(*w));
    uint8_t *el = calloc((size_t)n + 1, 2);
    int rc = -ENOMEM;
    if (!s || !w || !el)
        goto fail;
    s->n = n;
    s->map_mask = 7;
    while (s->map_mask + 1 < 2 * n)
        s->map_mask = s->map_mask * 2 + 1;
    s->ent = calloc((size_t)n + 1, sizeof(*s->ent));
    s->elig = calloc((size_t)n + 1, sizeof(*s->elig));
    s->map = calloc((size_t)s->map_mask + 1, sizeof(*s->map));
    if (!s->ent || !s->elig || !s->map)
        goto fail;
    rc = lb__bal_effective(b, w, el, el + n, &s->fail_open);
    if (rc)
        goto fail;
    for (uint32_t i = 0; i < n; i++) {
        const struct lb__bal_target *t = &b->tg[i];
        struct lb__snap_ent *e = &s->ent[i];
        e->id = t->id;
        e->slot = t->slot;
        e->max_conns = t->max_conns;
        e->eligible = el[i] && w[i] > 0;
        e->weight = e->eligible ? w[i] : 0;
        e->draining = el[n + i];
        e->key_hash = t->key_hash;
        if (e->eligible)
            s->elig[s->n_elig++] = i;
        uint32_t h = map_home(t->id, s->map_mask);
        while (s->map[h])
            h = (h + 1) & s->map_mask;
        s->map[h] = i + 1;
    }
    rc = sort_by_key(s, keys);
    if (rc)
        goto fail;

    uint32_t *ids = NULL, *ws = NULL, m = 0;
    rc = sel_inputs(s, &ids, &ws, &m);
    if (rc) {
        free(ids);
        free(ws);
        goto fail;
    }
    struct lb__snap *cur = atomic_load_explicit(&b->current, memory_order_relaxed);
    struct lb__sel *prev = cur ? cur->sel : NULL;
    if (same_inputs(prev, b->algorithm, ids, ws, m)) {
        free(ids);
        free(ws);
        s->sel = prev;
        prev->refs++;
    } else {
        struct lb__sel *sel = calloc(1, sizeof(*sel));
        if (!sel) {
            free(ids);
            free(ws);
            rc = -ENOMEM;
            goto fail;
        }
        sel->refs = 1;
        sel->algorithm = b->algorithm;
        sel->n = m;
        sel->ids = ids;
        sel->weights = ws;
        s->sel = sel;
        rc = sel_build(b, s, prev, sel);
        if (rc)
            goto fail;
    }
    if (s->sel->maglev) {
        uint32_t tn = lb_maglev_target_count(s->sel->maglev);
        s->by_sel = malloc(((size_t)tn + 1) * sizeof(*s->by_sel));
        if (!s->by_sel) {
            rc = -ENOMEM;
            goto fail;
        }
        for (uint32_t k = 0; k < tn; k++) {
            uint32_t id = LB_NO_TARGET, entries = 0;
            (void)lb_maglev_target_at(s->sel->maglev, k, &id, NULL, &entries);
            struct lb__snap_ent *e = (struct lb__snap_ent *)lb__bal_snap_find(s, id);
            s->by_sel[k] = (uint32_t)(e - s->ent); /* every table target is in the snapshot */
            e->entries = entries;
        }
    }
    free(w);
    free(el);
    *out = s;
    return 0;
fail:
    free(w);
    free(el);
    lb__bal_snap_free(b, s);
    return rc;
}

int lb__bal_publish(lb_balancer *b)
{
    struct lb__snap *s = NULL;
    int rc = snap_build(b, &s);
    if (rc) {
        b->dirty = 1;
        return rc;
    }
    s->generation = ++b->generation;
    struct lb__snap *old = atomic_exchange_explicit(&b->current, s, memory_order_seq_cst);
    if (old) {
        b->retired[b->n_retired] = old;
        b->retired_epoch[b->n_retired++] = atomic_load_explicit(&b->epoch, memory_order_relaxed);
    }
    reclaim(b, b->n_zombies ? 0 : LB__BAL_MAX_RETIRED);
    /* No reader can hold the slots of targets removed before this snapshot any more (the
     * snapshots that held them are freed). */
    for (size_t k = 0; k < b->n_zombies; k++)
        (void)lb_loads_untrack(b->loads, b->zombies[k]);
    b->n_zombies = 0;
    b->dirty = 0;
    return 0;
}

/* ---- picks ------------------------------------------------------------------------------- */

static inline int is_excluded(const lb_pick_request *r, uint32_t id)
{
    for (uint32_t i = 0; r && i < r->n_exclude; i++)
        if (r->exclude[i] == id)
            return 1;
    return 0;
}

/* Count a new connection on @e unless it is at its limit. */
static inline int count_pick(lb_balancer *b, const struct lb__snap_ent *e)
{
    uint32_t n = lb__loads_inc(b->loads, e->slot, 1);
    if (e->max_conns && n > e->max_conns) {
        lb__loads_release(b->loads, e->slot);
        return LB_E_BALANCER_TARGET_FULL;
    }
    atomic_fetch_add_explicit(&b->picks[e->slot].n, 1, memory_order_relaxed);
    return 0;
}

/* A connection already counted by the selector (ring bounded, leastconn): apply the limit. */
static inline int keep_counted(lb_balancer *b, const struct lb__snap *s,
                               const struct lb__snap_ent *e)
{
    if (e->max_conns && lb_loads_get(b->loads, e->slot) > e->max_conns) {
        if (!s->sel->lc || lb_leastconn_release(s->sel->lc, e->id))
            lb__loads_release(b->loads, e->slot);
        return LB_E_BALANCER_TARGET_FULL;
    }
    atomic_fetch_add_explicit(&b->picks[e->slot].n, 1, memory_order_relaxed);
    return 0;
}

static inline uint64_t rehash(uint64_t h, uint32_t attempt)
{
    uint64_t st = h ^ ((uint64_t)attempt << 32 | attempt);
    return lb__splitmix64(&st);
}

/* The best of the targets considered so far for least connections: the lowest
 * (active + 1) / weight, the first one considered on a tie. */
struct least {
    const struct lb__snap_ent *best;
    uint64_t active, weight;
};

static void consider(lb_balancer *b, const lb_pick_request *r, const struct lb__snap_ent *e,
                     struct least *l)
{
    if (is_excluded(r, e->id))
        return;
    uint64_t a = (uint64_t)lb_loads_get(b->loads, e->slot) + 1;
    if (!l->best || a * l->weight < l->active * e->weight)
        *l = (struct least){e, a, e->weight};
}

/* P2C: two targets sampled by the hash, the one with the lower (active + 1) / weight wins;
 * small pools are scanned in full. */
static const struct lb__snap_ent *pick_p2c(lb_balancer *b, const struct lb__snap *s, uint64_t h,
                                           const lb_pick_request *r)
{
    struct least l = {NULL, 0, 1};
    uint32_t n = s->n_elig;
    if (n <= P2C_SCAN_BELOW) {
        for (uint32_t k = 0; k < n; k++)
            consider(b, r, &s->ent[s->elig[k]], &l);
        return l.best;
    }
    uint64_t st = h ^ b->cfg.seed;
    uint32_t first = (uint32_t)(((lb__splitmix64(&st) >> 32) * n) >> 32);
    uint32_t second = (uint32_t)(((lb__splitmix64(&st) >> 32) * (n - 1)) >> 32);
    second += second >= first;
    consider(b, r, &s->ent[s->elig[first]], &l);
    consider(b, r, &s->ent[s->elig[second]], &l);
    return l.best;
}

/* Leastconn with exclusions: the exact minimum of (active + 1) / weight over the rest. */
static const struct lb__snap_ent *scan_least(lb_balancer *b, const struct lb__snap *s,
                                             const lb_pick_request *r)
{
    struct least l = {NULL, 0, 1};
    for (uint32_t k = 0; k < s->n_elig; k++)
        consider(b, r, &s->ent[s->elig[k]], &l);
    return l.best;
}

/* The consistent fallback when the selector keeps choosing excluded targets: rendezvous
 * hashing over the eligible targets that are not excluded. */
static const struct lb__snap_ent *rendezvous(const struct lb__snap *s, uint64_t h,
                                             const lb_pick_request *r)
{
    const struct lb__snap_ent *best = NULL;
    uint64_t best_score = 0;
    for (uint32_t k = 0; k < s->n_elig; k++) {
        const struct lb__snap_ent *e = &s->ent[s->elig[k]];
        if (is_excluded(r, e->id))
            continue;
        uint64_t st = h ^ e->key_hash;
        uint64_t score = lb__splitmix64(&st);
        if (!best || score > best_score) {
            best = e;
            best_score = score;
        }
    }
    return best;
}

/* One pick from snapshot @s. */
static int snap_pick(lb_balancer *b, const struct lb__snap *s, uint64_t h, const lb_pick_request *r,
                     uint32_t *target_id)
{
    const struct lb__sel *sel = s->sel;
    const struct lb__snap_ent *e = NULL;
    uint32_t id;
    if (!s->n_elig)
        return LB_E_NO_TARGET;
    if (r && (r->flags & LB_PICK_STICKY)) {
        e = lb__bal_snap_find(s, r->preferred_id);
        if (e && e->eligible && !is_excluded(r, e->id) && count_pick(b, e) == 0) {
            *target_id = e->id;
            return 0;
        }
        e = NULL;
    }
    uint32_t tries = r && r->n_exclude ? REHASH_TRIES : 1;
    switch (sel->algorithm) {
    case LB_ALG_MAGLEV:
        for (uint32_t a = 0; a < tries && !e; a++) {
            uint32_t k = lb_maglev_lookup_index(sel->maglev, a ? rehash(h, a) : h);
            e = k == LB_NO_TARGET ? NULL : &s->ent[s->by_sel[k]];
            if (e && is_excluded(r, e->id))
                e = NULL;
        }
        break;
    case LB_ALG_RING:
        for (uint32_t a = 0; a < tries && !e; a++) {
            id = lb_chash_lookup(sel->ring, a ? rehash(h, a) : h);
            e = lb__bal_snap_find(s, id);
            if (e && is_excluded(r, id))
                e = NULL;
        }
        break;
    case LB_ALG_RING_BOUNDED:
        for (uint32_t a = 0; a < tries && !e; a++) {
            if (lb_chash_pick_bounded(sel->ring, a ? rehash(h, a) : h, b->bound_percent, &id))
                break;
            e = lb__bal_snap_find(s, id);
            if (!e)
                continue;
            if (is_excluded(r, id)) {
                lb__loads_release(b->loads, e->slot);
                e = NULL;
                continue;
            }
            int rc = keep_counted(b, s, e);
            if (rc)
                return rc;
            *target_id = id;
            return 0;
        }
        break;
    case LB_ALG_WRR:
        tries = r && r->n_exclude ? r->n_exclude + 1 : 1;
        for (uint32_t a = 0; a < tries && !e; a++) {
            if (lb_wrr_pick(sel->wrr, &id))
                break;
            e = lb__bal_snap_find(s, id);
            if (e && is_excluded(r, id))
                e = NULL;
        }
        break;
    case LB_ALG_LEASTCONN:
        if (r && r->n_exclude) {
            e = scan_least(b, s, r);
            break;
        }
        if (lb_leastconn_pick(sel->lc, &id) == 0) {
            e = lb__bal_snap_find(s, id);
            if (!e) /* cannot happen: the selector holds only snapshot targets */
                return LB_E_NO_TARGET;
            int rc = keep_counted(b, s, e);
            if (rc)
                return rc;
            *target_id = id;
            return 0;
        }
        break;
    default:
        for (uint32_t a = 0; a < tries && !e; a++)
            e = pick_p2c(b, s, a ? rehash(h, a) : h, r);
        break;
    }
    if (!e && r && r->n_exclude)
        e = rendezvous(s, h, r);
    if (!e)
        return LB_E_NO_TARGET;
    int rc = count_pick(b, e);
    if (rc)
        return rc;
    *target_id = e->id;
    return 0;
}

static int pick(lb_balancer *b, uint64_t h, const lb_pick_request *r, uint32_t *target_id)
{
    _Atomic uint64_t *c = read_enter(b);
    int rc = snap_pick(b, read_current(b), h, r, target_id);
    read_exit(c);
    if (rc == LB_E_NO_TARGET)
        atomic_fetch_add_explicit(&b->no_target, 1, memory_order_relaxed);
    return rc;
}

LB_API int lb_balancer_pick(lb_balancer *b, uint64_t flow_hash, uint32_t *target_id)
{
    if (LB_UNLIKELY(!b || !target_id))
        return -EINVAL;
    return pick(b, flow_hash, NULL, target_id);
}

LB_API int lb_balancer_pick_ex(lb_balancer *b, const lb_pick_request *req, uint32_t *target_id)
{
    if (!b || !req || !target_id)
        return -EINVAL;
    lb_pick_request r; /* the struct-extension rule; no allocation */
    int rc = lb__struct_in(&r, sizeof(r), req, req->struct_size,
                           LB__SIZE_UPTO(lb_pick_request, exclude));
    if (rc)
        return rc;
    if ((r.flags & ~(uint32_t)LB_PICK_STICKY) || (r.n_exclude && !r.exclude))
        return -EINVAL;
    return pick(b, r.flow_hash, &r, target_id);
}

LB_API int lb_balancer_release(lb_balancer *b, uint32_t target_id, uint64_t now_ms)
{
    if (!b)
        return -EINVAL;
    _Atomic uint64_t *c = read_enter(b);
    struct lb__snap *s = read_current(b);
    const struct lb__snap_ent *e = lb__bal_snap_find(s, target_id);
    int last = 0, rc = -ENOENT;
    if (e) {
        uint32_t left;
        if (s->sel->lc && e->eligible && lb_leastconn_release(s->sel->lc, target_id) == 0) {
            left = lb_loads_get(b->loads, e->slot);
            rc = 0;
        } else {
            rc = lb__loads_dec(b->loads, e->slot, 1, &left) ? 0 : -ERANGE;
        }
        if (rc == 0 && left == 0) {
            /* Reload: a drain published after our decrement must see it, or we see it. */
            const struct lb__snap *s2 = read_current(b);
            const struct lb__snap_ent *now = s2 == s ? e : lb__bal_snap_find(s2, target_id);
            last = now && now->draining;
        }
    }
    read_exit(c);
    if (rc)
        atomic_fetch_add_explicit(&b->bad_releases, 1, memory_order_relaxed);
    if (last)
        lb__bal_last_release(b, target_id, now_ms);
    return rc;
}
