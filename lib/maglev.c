/* Maglev lookup tables, built as doc/maglev.md specifies: targets sorted by key, offset and
 * skip from seeded XXH3 of the key, turns given by integer weight arithmetic, an occupancy
 * bitmap instead of the N x M permutation, and 16-bit entries while the targets fit. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "internal/maglev.h"
#include "internal/pool.h"
#include "internal/util.h"
#include "lb/hash.h"
#include "lb/maglev.h"

/* Entries are indices into the sorted target list. */
#ifndef ENDGAME_PERCENT
#define ENDGAME_PERCENT 100
#endif
#define NARROW_MAX 65535u

struct lb_maglev {
    uint32_t size;
    uint32_t count;
    /* M, or 1 for an empty table whose one entry leads to ids[0] = LB_NO_TARGET: lookups
     * then need no test for emptiness. */
    uint32_t lookup_size;
    uint16_t *narrow; /* one of narrow / wide holds the M entries */
    uint32_t *wide;
    uint32_t *ids;     /* by index */
    uint32_t *weights; /* by index */
    uint32_t *entries; /* by index */
    struct lb__id_index *by_id;
    uint64_t digest;
};

/* The slot of a flow hash: floor(h * M / 2^64): the high half of a 128-bit product, or
 * the same value from two 32 x 32 products. */
static inline uint32_t slot_of(uint64_t h, uint32_t m)
{
#ifdef __SIZEOF_INT128__
    __extension__ typedef unsigned __int128 u128;
    return (uint32_t)(((u128)h * m) >> 64);
#else
    uint64_t lo = (h & 0xffffffffu) * m;
    uint64_t hi = (h >> 32) * m;
    return (uint32_t)((hi + (lo >> 32)) >> 32);
#endif
}

int lb__is_prime(uint32_t n)
{
    if (n < 2)
        return 0;
    if (n % 2 == 0)
        return n == 2;
    for (uint32_t d = 3; d <= n / d; d += 2) {
        if (n % d == 0)
            return 0;
    }
    return 1;
}

int lb__key_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c)
        return c;
    return (alen > blen) - (alen < blen);
}

static int target_ptr_cmp(const void *x, const void *y)
{
    const struct lb__target *a = *(const struct lb__target *const *)x;
    const struct lb__target *b = *(const struct lb__target *const *)y;
    return lb__key_cmp(a->key, a->key_len, b->key, b->key_len);
}

int lb__sorted_targets(const lb_pool *pool, const struct lb__target ***out, uint32_t *count)
{
    size_t n;
    const struct lb__target *t = lb__pool_targets(pool, &n);
    size_t w = 0;
    for (size_t i = 0; i < n; i++)
        w += t[i].weight > 0;
    if (w > UINT32_MAX - 1)
        return -ERANGE;
    const struct lb__target **v = malloc((w ? w : 1) * sizeof(*v));
    if (!v)
        return -ENOMEM;
    w = 0;
    for (size_t i = 0; i < n; i++) {
        if (t[i].weight > 0)
            v[w++] = &t[i];
    }
    qsort(v, w, sizeof(*v), target_ptr_cmp);
    *out = v;
    *count = (uint32_t)w;
    return 0;
}

static int id_cmp(const void *x, const void *y)
{
    const struct lb__id_index *a = x, *b = y;
    return (a->id > b->id) - (a->id < b->id);
}

struct lb__id_index *lb__id_index_new(const struct lb__target *const *sorted, uint32_t n)
{
    struct lb__id_index *map = malloc((n ? n : 1) * sizeof(*map));
    if (!map)
        return NULL;
    for (uint32_t i = 0; i < n; i++) {
        map[i].id = sorted[i]->id;
        map[i].index = i;
    }
    qsort(map, n, sizeof(*map), id_cmp);
    return map;
}

long lb__id_index_find(const struct lb__id_index *map, uint32_t n, uint32_t id)
{
    uint32_t lo = 0, hi = n; /* no bsearch(): a release looks its target up on every call */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (map[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && map[lo].id == id ? (long)map[lo].index : -1;
}

/* The state of one target while the table fills. */
struct probe {
    uint32_t pos;  /* next slot of its preference list */
    uint32_t skip; /* 1 .. M-1 */
};

struct fill {
    uint64_t *occupied; /* bitmap of claimed slots */
    struct probe *probe;
    uint16_t *narrow;
    uint32_t *wide;
    uint32_t *entries;
    uint32_t m;
    uint32_t filled;
    /* Endgame: once only `nempty` <= ENDGAME(M) slots are left, a turn computes where each
     * empty slot stands in the target's preference list instead of probing for it. */
    uint32_t endgame_at; /* filled count at which the endgame starts */
    int endgame;         /* started: `empty` lists the empty slots */
    uint32_t *empty;     /* room for M - endgame_at slots */
    uint32_t nempty;
    uint32_t *inverse; /* per target: skip^-1 mod M, 0 until needed */
    uint64_t barrett;  /* floor((2^64 - 1) / M) */
};

static inline void claim(struct fill *f, uint32_t i, uint32_t p)
{
    f->occupied[p >> 6] |= 1ull << (p & 63);
    if (f->narrow)
        f->narrow[p] = (uint16_t)i;
    else
        f->wide[p] = i;
    f->entries[i]++;
    p += f->probe[i].skip;
    if (p >= f->m)
        p -= f->m;
    f->probe[i].pos = p;
    f->filled++;
}

/* How many slots are left for the endgame: probing for one of E empty slots takes M / E
 * probes on average, computing it costs E multiplications, so switch near sqrt(M). */
static uint32_t endgame_size(uint32_t m)
{
    uint32_t r = 1;
    while ((uint64_t)r * r < m)
        r++;
    uint64_t e = (uint64_t)r * ENDGAME_PERCENT / 100;
    return e < m ? (uint32_t)e : m;
}

/* a^-1 mod m for a prime m and 0 < a < m (extended Euclid). */
static uint32_t mod_inverse(uint32_t a, uint32_t m)
{
    int64_t t = 0, nt = 1, r = m, nr = a;
    while (nr) {
        int64_t q = r / nr, x;
        x = t - q * nt;
        t = nt;
        nt = x;
        x = r - q * nr;
        r = nr;
        nr = x;
    }
    return (uint32_t)(t < 0 ? t + m : t);
}

/* x mod m for x < 2^48, by Barrett reduction (no division). */
static inline uint32_t mod_m(const struct fill *f, uint64_t x)
{
    __extension__ typedef unsigned __int128 u128;
    uint64_t q = (uint64_t)(((u128)x * f->barrett) >> 64);
    uint64_t r = x - q * f->m; /* q is at most 1 short: x < 2^48 */
    return (uint32_t)(r >= f->m ? r - f->m : r);
}

static void endgame_start(struct fill *f)
{
    for (uint32_t s = 0; s < f->m; s++) {
        if (!(f->occupied[s >> 6] >> (s & 63) & 1))
            f->empty[f->nempty++] = s;
    }
    f->endgame = 1;
}

/* The endgame turn: the empty slot s that comes first in target i's preference list from its
 * current position pos is the one with the smallest (s - pos) * skip^-1 mod M (the number of
 * steps from pos to s). Every slot before pos in the list is already taken. */
static void endgame_turn(struct fill *f, uint32_t i)
{
    if (!f->inverse[i])
        f->inverse[i] = mod_inverse(f->probe[i].skip, f->m);
    const uint64_t inv = f->inverse[i];
    const uint32_t pos = f->probe[i].pos, m = f->m;
    uint32_t best = UINT32_MAX, at = 0;
    for (uint32_t k = 0; k < f->nempty; k++) {
        uint32_t s = f->empty[k];
        uint32_t steps = mod_m(f, (uint64_t)(s >= pos ? s - pos : s + m - pos) * inv);
        if (steps < best) {
            best = steps;
            at = k;
        }
    }
    uint32_t p = f->empty[at];
    f->empty[at] = f->empty[--f->nempty];
    claim(f, i, p);
}

/* Target @i takes a turn: it claims the next empty slot of its preference list. */
static inline void take_turn(struct fill *f, uint32_t i)
{
    if (LB_UNLIKELY(f->filled >= f->endgame_at)) {
        if (!f->endgame)
            endgame_start(f);
        endgame_turn(f, i);
        return;
    }
    uint32_t p = f->probe[i].pos;
    const uint32_t skip = f->probe[i].skip, m = f->m;
    while (f->occupied[p >> 6] >> (p & 63) & 1) {
        p += skip;
        if (p >= m)
            p -= m;
    }
    claim(f, i, p);
}

/* Equal weights: every target takes a turn in every round. */
static void fill_equal(struct fill *f, uint32_t n)
{
    for (;;) {
        for (uint32_t i = 0; i < n; i++) {
            take_turn(f, i);
            if (f->filled == f->m)
                return;
        }
    }
}

/* Round t, target i takes a turn iff t * w_i >= turns_i * W (W the largest weight). Scanning
 * every target each round costs about M * W / mean(w) checks. */
static void fill_scan(struct fill *f, uint32_t n, const uint32_t *w, uint32_t wmax, uint64_t *turns)
{
    for (uint64_t t = 0;; t++) {
        for (uint32_t i = 0; i < n; i++) {
            if (t * w[i] < turns[i] * wmax)
                continue;
            turns[i]++;
            take_turn(f, i);
            if (f->filled == f->m)
                return;
        }
    }
}

/* The same turn order from a min-heap of (next round, index): target i's next round is
 * ceil(turns_i * W / w_i). Used when weights are so uneven that scanning would be slow. */
static void fill_heap(struct fill *f, uint32_t n, const uint32_t *w, uint32_t wmax, uint64_t *heap)
{
    /* Keys are round << 24 | index: rounds stay below 2^40 (M * W) and indices below 2^24
     * (N <= M < 2^24), so a key fits 64 bits. Round 0 for all:
     * the heap starts sorted. */
    for (uint32_t i = 0; i < n; i++)
        heap[i] = i;
    for (;;) {
        uint64_t top = heap[0];
        uint32_t i = (uint32_t)(top & 0xffffff);
        take_turn(f, i);
        if (f->filled == f->m)
            return;
        uint64_t turns = f->entries[i];
        uint64_t next = (turns * wmax + w[i] - 1) / w[i];
        uint64_t key = next << 24 | i;
        /* Sift the new key down from the root. */
        uint32_t k = 0;
        for (;;) {
            uint32_t c = 2 * k + 1;
            if (c >= n)
                break;
            if (c + 1 < n && heap[c + 1] < heap[c])
                c++;
            if (heap[c] >= key)
                break;
            heap[k] = heap[c];
            k = c;
        }
        heap[k] = key;
    }
}

static inline uint32_t entry_at(const lb_maglev *t, uint32_t s)
{
    return t->narrow ? t->narrow[s] : t->wide[s];
}

/* The digest stream (doc/maglev.md), hashed in chunks. */
struct digest {
    XXH3_state_t *st;
    size_t used;
    uint8_t buf[4096];
};

static void put32(struct digest *d, uint32_t v)
{
    if (d->used + 4 > sizeof(d->buf)) {
        XXH3_64bits_update(d->st, d->buf, d->used);
        d->used = 0;
    }
    uint8_t *p = d->buf + d->used; /* little-endian */
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
    d->used += 4;
}

static void put_bytes(struct digest *d, const uint8_t *p, size_t len)
{
    XXH3_64bits_update(d->st, d->buf, d->used);
    d->used = 0;
    XXH3_64bits_update(d->st, p, len);
}

static int table_digest(lb_maglev *t, const struct lb__target *const *sorted)
{
    struct digest *d = malloc(sizeof(*d));
    XXH3_state_t *st = XXH3_createState();
    int err = -ENOMEM;
    if (d && st) {
        d->st = st;
        d->used = 0;
        XXH3_64bits_reset_withSeed(st, LB_MAGLEV_SEED_DIGEST);
        put32(d, t->size);
        put32(d, t->count);
        for (uint32_t i = 0; i < t->count; i++) {
            put32(d, sorted[i]->key_len);
            put_bytes(d, sorted[i]->key, sorted[i]->key_len);
            put32(d, sorted[i]->weight);
        }
        for (uint32_t s = 0; t->count && s < t->size; s++)
            put32(d, entry_at(t, s));
        XXH3_64bits_update(st, d->buf, d->used);
        t->digest = XXH3_64bits_digest(st);
        err = 0;
    }
    XXH3_freeState(st);
    free(d);
    return err;
}

static int fill_table(lb_maglev *t, const struct lb__target *const *sorted)
{
    const uint32_t n = t->count, m = t->size;
    struct fill f = {0};
    f.m = m;
    f.narrow = t->narrow;
    f.wide = t->wide;
    f.entries = t->entries;
    f.occupied = calloc((m + 63) / 64, sizeof(uint64_t));
    f.probe = malloc(n * sizeof(*f.probe));
    uint32_t endgame = endgame_size(m);
    f.endgame_at = m - endgame;
    f.empty = malloc((size_t)endgame * sizeof(uint32_t));
    f.inverse = calloc(n, sizeof(uint32_t));
    f.barrett = UINT64_MAX / m;
    /* Scratch for the weighted fills: turn counts (scan) or the heap. */
    uint64_t *scratch = calloc(n, sizeof(uint64_t));
    int err = -ENOMEM;
    if (!f.occupied || !f.probe || !f.empty || !f.inverse || !scratch)
        goto out;
    uint32_t wmax = 0, wmin = UINT32_MAX;
    uint64_t wsum = 0;
    for (uint32_t i = 0; i < n; i++) {
        const struct lb__target *x = sorted[i];
        f.probe[i].pos = (uint32_t)(lb_hash_key(x->key, x->key_len, LB_MAGLEV_SEED_OFFSET) % m);
        f.probe[i].skip =
            (uint32_t)(lb_hash_key(x->key, x->key_len, LB_MAGLEV_SEED_SKIP) % (m - 1)) + 1;
        wmax = x->weight > wmax ? x->weight : wmax;
        wmin = x->weight < wmin ? x->weight : wmin;
        wsum += x->weight;
    }
    if (wmin == wmax)
        fill_equal(&f, n);
    else if ((uint64_t)wmax * n <= 8 * wsum)
        fill_scan(&f, n, t->weights, wmax, scratch);
    else
        fill_heap(&f, n, t->weights, wmax, scratch);
    err = 0;
out:
    free(f.occupied);
    free(f.probe);
    free(f.empty);
    free(f.inverse);
    free(scratch);
    return err;
}

LB_API int lb_maglev_build(lb_maglev **out, const lb_pool *pool, uint32_t table_size)
{
    if (!out || !pool)
        return -EINVAL;
    if (table_size < 2 || table_size > LB_MAGLEV_MAX_SIZE)
        return -ERANGE;
    if (!lb__is_prime(table_size))
        return LB_E_MAGLEV_NOT_PRIME;
    const struct lb__target **sorted;
    uint32_t n;
    int err = lb__sorted_targets(pool, &sorted, &n);
    if (err)
        return err;
    if (n > table_size) {
        free(sorted);
        return LB_E_MAGLEV_TOO_SMALL;
    }
    lb_maglev *t = calloc(1, sizeof(*t));
    err = -ENOMEM;
    if (!t)
        goto fail;
    t->size = table_size;
    t->count = n;
    size_t cnt = n ? n : 1;
    t->ids = malloc(cnt * sizeof(uint32_t));
    t->weights = malloc(cnt * sizeof(uint32_t));
    t->entries = calloc(cnt, sizeof(uint32_t));
    t->by_id = lb__id_index_new(sorted, n);
    if (!t->ids || !t->weights || !t->entries || !t->by_id)
        goto fail;
    for (uint32_t i = 0; i < n; i++) {
        t->ids[i] = sorted[i]->id;
        t->weights[i] = sorted[i]->weight;
    }
    t->lookup_size = n ? table_size : 1;
    if (!n) {
        t->narrow = calloc(1, sizeof(uint16_t));
        if (!t->narrow)
            goto fail;
        t->ids[0] = LB_NO_TARGET;
    } else {
        if (n <= NARROW_MAX)
            t->narrow = malloc((size_t)table_size * sizeof(uint16_t));
        else
            t->wide = malloc((size_t)table_size * sizeof(uint32_t));
        if (!t->narrow && !t->wide)
            goto fail;
        err = fill_table(t, sorted);
        if (err)
            goto fail;
    }
    err = table_digest(t, sorted);
    if (err)
        goto fail;
    free(sorted);
    *out = t;
    return 0;
fail:
    free(sorted);
    lb_maglev_free(t);
    return err;
}

LB_API void lb_maglev_free(lb_maglev *table)
{
    if (!table)
        return;
    free(table->narrow);
    free(table->wide);
    free(table->ids);
    free(table->weights);
    free(table->entries);
    free(table->by_id);
    free(table);
}

LB_API uint32_t lb_maglev_lookup_index(const lb_maglev *table, uint64_t flow_hash)
{
    if (!table || !table->count)
        return LB_NO_TARGET;
    return entry_at(table, slot_of(flow_hash, table->size));
}

LB_API uint32_t lb_maglev_lookup(const lb_maglev *table, uint64_t flow_hash)
{
    if (!table)
        return LB_NO_TARGET;
    return table->ids[entry_at(table, slot_of(flow_hash, table->lookup_size))];
}

LB_API uint32_t lb_maglev_size(const lb_maglev *table)
{
    return table ? table->size : 0;
}

LB_API size_t lb_maglev_target_count(const lb_maglev *table)
{
    return table ? table->count : 0;
}

LB_API int lb_maglev_target_at(const lb_maglev *table, size_t index, uint32_t *id, uint32_t *weight,
                               uint32_t *entries)
{
    if (!table)
        return -EINVAL;
    if (index >= table->count)
        return -ENOENT;
    if (id)
        *id = table->ids[index];
    if (weight)
        *weight = table->weights[index];
    if (entries)
        *entries = table->entries[index];
    return 0;
}

LB_API int lb_maglev_index_of(const lb_maglev *table, uint32_t id, uint32_t *index)
{
    if (!table || !index)
        return -EINVAL;
    long i = lb__id_index_find(table->by_id, table->count, id);
    if (i < 0)
        return -ENOENT;
    *index = (uint32_t)i;
    return 0;
}

LB_API int lb_maglev_entries(const lb_maglev *table, uint32_t id, uint32_t *entries)
{
    uint32_t index;
    if (!entries)
        return -EINVAL;
    int err = lb_maglev_index_of(table, id, &index);
    if (err)
        return err;
    *entries = table->entries[index];
    return 0;
}

LB_API uint32_t lb_maglev_slot_owner(const lb_maglev *table, uint32_t slot)
{
    if (!table || !table->count || slot >= table->size)
        return LB_NO_TARGET;
    return table->ids[entry_at(table, slot)];
}

LB_API int lb_maglev_diff(const lb_maglev *a, const lb_maglev *b, uint32_t *slots_changed)
{
    if (!a || !b || !slots_changed || a->size != b->size)
        return -EINVAL;
    uint32_t changed = 0;
    for (uint32_t s = 0; s < a->size; s++)
        changed += lb_maglev_slot_owner(a, s) != lb_maglev_slot_owner(b, s);
    *slots_changed = changed;
    return 0;
}

LB_API uint64_t lb_maglev_digest(const lb_maglev *table)
{
    return table ? table->digest : 0;
}

LB_API uint32_t lb_maglev_default_size(void)
{
    return LB_MAGLEV_DEFAULT_SIZE;
}
