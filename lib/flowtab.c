/* The flow table (doc/flowtab.md): two-choice hashing into buckets of 8 slots, each bucket a
 * 64-byte header of tags and last-use stamps, entries of 64 bytes in a separate array; idle
 * expiry by stamp; eviction of the least recently used of the 16 slots a new flow may take.
 *
 * Stamps are the low 32 bits of the table's clock, read relative to the bucket's `reaped`
 * time: every flow of a bucket was last used within 2^31 ms of it (either side), so
 * `reaped + (int32)(stamp - reaped)` is its exact last use, however long ago that was. A reap
 * (removing a bucket's idle flows) sets `reaped` to now and leaves flows used less than idle
 * (< 2^31) ms before; a touch sets a stamp to now, after a reap if now is 2^31 ms or more
 * past `reaped` (once in 24.8 days per bucket). */
/* madvise(MADV_HUGEPAGE) is a Linux extension of <sys/mman.h>. */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "internal/abi.h"
#include "internal/hash.h"
#include "internal/util.h"
#include "lb/flowtab.h"

#define WAYS    LB_FLOWTAB_BUCKET_SLOTS
#define KWORDS  5 /* the key words kept: an IPv6 encoding's last 8 bytes are always zero */
#define LINE    64

struct bucket {
    uint16_t tag[WAYS];   /* 0: free slot */
    uint32_t stamp[WAYS]; /* last use: low 32 bits of the table clock */
    uint64_t reaped;      /* table clock at the last reap */
    uint8_t secondary;    /* bit i: slot i's flow is in its second bucket */
    uint8_t seen;         /* bit i: slot i's flow was looked up or touched since its insert */
    uint8_t reserved[6];
};

struct entry {
    uint64_t key[KWORDS];
    uint64_t hash;
    uint64_t data;
    uint32_t target;
    uint32_t len;
};

_Static_assert(sizeof(struct bucket) == LINE, "a bucket header is one cache line");
_Static_assert(sizeof(struct entry) == LINE, "an entry is one cache line");
_Static_assert(LB_FLOWTAB_ENTRY_BYTES == LINE + LINE / WAYS, "entry bytes as documented");

/* Counters a reader thread may load while the owner works: the owner alone stores them
 * (relaxed load and store, no read-modify-write: one plain instruction each on x86-64). */
typedef _Atomic uint64_t counter;

struct lb_flowtab {
    struct bucket *buckets;
    struct entry *entries;
    void *mem;
    uint32_t nbuckets;
    uint32_t capacity;
    uint32_t idle;
    uint32_t evict;
    uint32_t cursor; /* next bucket for lb_flowtab_expire() */
    uint64_t clock;  /* the latest now_ms seen */
    lb_flowtab_end_fn on_end;
    void *user;
    uint64_t memory;
    counter active, inserted, replaced, expired, evicted, removed, lookups, hits;
};

static inline void bump(counter *c, int64_t d)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + (uint64_t)d,
                          memory_order_relaxed);
}

static inline uint64_t get(const counter *c)
{
    return atomic_load_explicit((counter *)c, memory_order_relaxed);
}

/* ---- keys ------------------------------------------------------------------------------- */

static void key_finish(lb_flowtab_key *key, const uint64_t w[6], size_t len, uint64_t seed)
{
    memset(key, 0, sizeof(*key));
    memcpy(key->enc, w, len);
    key->len = (uint32_t)len;
    key->hash = lb__hash_enc(key->enc, len, seed);
}

typedef size_t (*encoder)(uint64_t w[6], const uint8_t *src, const uint8_t *dst, uint16_t sport,
                         uint16_t dport, uint8_t proto);

static int key_of(lb_flowtab_key *key, encoder enc, const uint8_t *src, const uint8_t *dst,
                  uint16_t sport, uint16_t dport, uint8_t proto, uint64_t seed)
{
    if (!key || !src || !dst)
        return -EINVAL;
    uint64_t w[6];
    key_finish(key, w, enc(w, src, dst, sport, dport, proto), seed);
    return 0;
}

LB_API int lb_flowtab_key4(lb_flowtab_key *key, const uint8_t *src, const uint8_t *dst,
                           uint16_t sport, uint16_t dport, uint8_t proto, uint64_t seed)
{
    return key_of(key, lb__flow_enc4, src, dst, sport, dport, proto, seed);
}

LB_API int lb_flowtab_key6(lb_flowtab_key *key, const uint8_t *src, const uint8_t *dst,
                           uint16_t sport, uint16_t dport, uint8_t proto, uint64_t seed)
{
    return key_of(key, lb__flow_enc6, src, dst, sport, dport, proto, seed);
}

LB_API int lb_flowtab_key_sockaddr(lb_flowtab_key *key, const struct sockaddr *src,
                                   const struct sockaddr *dst, uint8_t proto, uint64_t seed)
{
    if (!key || !src || !dst)
        return -EINVAL;
    uint64_t w[6];
    int len = lb__flow_enc_sockaddr(w, src, dst, proto);
    if (len < 0)
        return len;
    key_finish(key, w, (size_t)len, seed);
    return 0;
}

static inline uint32_t range32(uint32_t x, uint32_t n)
{
    return (uint32_t)(((uint64_t)x * n) >> 32);
}

/* The distance from a flow's first bucket to its second, from its tag alone (1 .. B - 1; 0
 * for one bucket), so that a flow's other bucket is known from the header: the flows of a
 * full bucket can move to make room (partial-key cuckoo hashing, as in cuckoo filters). */
static inline uint32_t offset_of(uint32_t nbuckets, uint16_t tag)
{
    return nbuckets > 1 ? 1 + range32(tag * 0x9E3779B1u, nbuckets - 1) : 0;
}

/* From bucket b to the flow's other bucket: forwards from its first, back from its second. */
static inline uint32_t step(const lb_flowtab *t, uint32_t b, uint16_t tag, int secondary)
{
    uint32_t off = offset_of(t->nbuckets, tag);
    if (!secondary)
        return b + off >= t->nbuckets ? b + off - t->nbuckets : b + off;
    return b >= off ? b - off : b + t->nbuckets - off;
}

/* The parts of a hash the table uses: the tag from a remix of the hash, the first bucket
 * from its low half, the second from the tag. */
struct probe {
    uint64_t key[KWORDS];
    uint64_t hash;
    uint32_t b[2];
    uint16_t tag;
};

static inline int probe_init(const lb_flowtab *t, const lb_flowtab_key *key, struct probe *p)
{
    if (LB_UNLIKELY(key->len != 16 && key->len != 48))
        return -EINVAL;
    memcpy(p->key, key->enc, sizeof(p->key));
    if (key->len == 16) /* the bytes past len are zero for a built key; make sure */
        p->key[2] = p->key[3] = p->key[4] = 0;
    p->hash = key->hash;
    uint16_t tag = (uint16_t)(((key->hash ^ (key->hash >> 31)) * 0x9E3779B97F4A7C15ull) >> 48);
    p->tag = tag ? tag : 1;
    p->b[0] = range32((uint32_t)key->hash, t->nbuckets);
    p->b[1] = step(t, p->b[0], p->tag, 0);
    return 0;
}

static inline int key_equal(const struct entry *e, const struct probe *p)
{
    uint64_t d = 0;
    for (int i = 0; i < KWORDS; i++)
        d |= e->key[i] ^ p->key[i];
    return d == 0;
}

static inline unsigned tag_match(const struct bucket *b, uint16_t tag)
{
#ifdef __SSE2__
    __m128i v = _mm_cmpeq_epi16(_mm_loadu_si128((const __m128i *)(const void *)b->tag),
                                _mm_set1_epi16((short)tag));
    return (unsigned)_mm_movemask_epi8(_mm_packs_epi16(v, _mm_setzero_si128()));
#else
    unsigned m = 0;
    for (unsigned i = 0; i < WAYS; i++)
        m |= (unsigned)(b->tag[i] == tag) << i;
    return m;
#endif
}

static inline unsigned used_mask(const struct bucket *b)
{
    return ~tag_match(b, 0) & ((1u << WAYS) - 1);
}

/* ---- time --------------------------------------------------------------------------------- */

static inline uint64_t advance(lb_flowtab *t, uint64_t now)
{
    if (now > t->clock)
        t->clock = now;
    return t->clock;
}

/* When slot i was last used: exact, since it was within 2^31 ms of the bucket's reap. */
static inline uint64_t last_use(const struct bucket *b, unsigned i)
{
    return b->reaped + (uint64_t)(int64_t)(int32_t)(b->stamp[i] - (uint32_t)b->reaped);
}

#define STAMP_SPAN (1ull << 31)

static inline int is_idle(const lb_flowtab *t, const struct bucket *b, unsigned i, uint64_t now)
{
    return now - last_use(b, i) >= t->idle;
}

/* Removes slot i of bucket bi and reports it. */
static void drop(lb_flowtab *t, uint32_t bi, unsigned i, uint32_t reason, uint64_t now)
{
    struct bucket *b = &t->buckets[bi];
    if (t->on_end) {
        const struct entry *e = &t->entries[(size_t)bi * WAYS + i];
        lb_flowtab_key key;
        memset(&key, 0, sizeof(key));
        memcpy(key.enc, e->key, sizeof(e->key));
        key.len = e->len;
        key.hash = e->hash;
        lb_flowtab_end end;
        memset(&end, 0, sizeof(end));
        end.struct_size = sizeof(end);
        end.reason = reason;
        end.target = e->target;
        end.data = e->data;
        end.last_use_ms = last_use(b, i);
        end.key = &key;
        t->on_end(t->user, &end);
    }
    b->tag[i] = 0;
    bump(&t->active, -1);
    switch (reason) {
    case LB_FLOWTAB_END_EXPIRED: bump(&t->expired, 1); break;
    case LB_FLOWTAB_END_EVICTED: bump(&t->evicted, 1); break;
    default: bump(&t->removed, 1); break;
    }
}

/* Removes the idle flows of bucket bi; afterwards every flow in it has age < idle. */
static int64_t reap(lb_flowtab *t, uint32_t bi, uint64_t now)
{
    struct bucket *b = &t->buckets[bi];
    /* Slot i is idle when its stamp, relative to `reaped`, is at most now - reaped - idle:
     * eight 32-bit comparisons (the limit clamped to the stamps' range). */
    int64_t limit = (int64_t)(now - b->reaped) - (int64_t)t->idle;
    int32_t lim = limit > INT32_MAX ? INT32_MAX : (int32_t)limit;
    uint32_t r = (uint32_t)b->reaped;
    unsigned idle = 0;
#ifdef __SSE2__
    const __m128i rv = _mm_set1_epi32((int32_t)r), lv = _mm_set1_epi32(lim);
    const __m128i lo = _mm_sub_epi32(_mm_loadu_si128((const __m128i *)(const void *)b->stamp), rv);
    const __m128i hi =
        _mm_sub_epi32(_mm_loadu_si128((const __m128i *)(const void *)(b->stamp + 4)), rv);
    unsigned live = (unsigned)_mm_movemask_ps(_mm_castsi128_ps(_mm_cmpgt_epi32(lo, lv))) |
                    (unsigned)_mm_movemask_ps(_mm_castsi128_ps(_mm_cmpgt_epi32(hi, lv))) << 4;
    idle = ~live & 0xffu;
#else
    for (unsigned i = 0; i < WAYS; i++)
        idle |= (unsigned)((int32_t)(b->stamp[i] - r) <= lim) << i;
#endif
    idle &= used_mask(b);
    int64_t n = 0;
    while (idle) {
        unsigned i = (unsigned)__builtin_ctz(idle);
        idle &= idle - 1;
        drop(t, bi, i, LB_FLOWTAB_END_EXPIRED, now);
        n++;
    }
    b->reaped = now;
    return n;
}

/* The slot of a flow, live or idle: 0 and *bi, *slot when found. */
static inline int find(const lb_flowtab *t, const struct probe *p, uint32_t *bi, unsigned *slot)
{
    for (int k = 0; k < 2; k++) {
        const struct bucket *b = &t->buckets[p->b[k]];
        unsigned m = tag_match(b, p->tag);
        while (m) {
            unsigned i = (unsigned)__builtin_ctz(m);
            m &= m - 1;
            if (key_equal(&t->entries[(size_t)p->b[k] * WAYS + i], p)) {
                *bi = p->b[k];
                *slot = i;
                return 0;
            }
        }
        if (p->b[1] == p->b[0])
            break;
    }
    return LB_E_FLOWTAB_NOT_FOUND;
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

static void config_defaults(lb_flowtab_config *c)
{
    memset(c, 0, sizeof(*c));
    c->struct_size = sizeof(*c);
    c->capacity = 65536;
    c->idle_timeout_ms = LB_FLOWTAB_IDLE_DEFAULT;
}

LB_API void lb_flowtab_config_init(lb_flowtab_config *cfg, size_t size)
{
    if (!cfg)
        return;
    lb_flowtab_config def;
    config_defaults(&def);
    if (size < sizeof(uint32_t)) {
        memset(cfg, 0, size);
        return;
    }
    lb__struct_out(cfg, size, &def, sizeof(def));
    cfg->struct_size = (uint32_t)(size > UINT32_MAX ? UINT32_MAX : size);
}

static uint64_t memory_for(uint32_t nbuckets)
{
    return (uint64_t)nbuckets * LB_FLOWTAB_BUCKET_SLOTS * LB_FLOWTAB_ENTRY_BYTES +
           sizeof(struct lb_flowtab) + LINE;
}

static int capacity_ok(uint32_t capacity)
{
    return capacity >= 1 && capacity <= LB_FLOWTAB_CAPACITY_MAX;
}

LB_API uint64_t lb_flowtab_memory_for(uint32_t capacity)
{
    return capacity_ok(capacity) ? memory_for((capacity + WAYS - 1) / WAYS) : 0;
}

LB_API int lb_flowtab_new(lb_flowtab **out, const lb_flowtab_config *cfg)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    lb_flowtab_config c;
    if (cfg) {
        int rc = lb__struct_in(&c, sizeof(c), cfg, cfg->struct_size, sizeof(c));
        if (rc)
            return rc;
    } else {
        config_defaults(&c);
    }
    if (!capacity_ok(c.capacity) || c.idle_timeout_ms < 1 ||
        c.idle_timeout_ms > LB_FLOWTAB_IDLE_MAX || c.evict > LB_FLOWTAB_EVICT_NEW_FIRST)
        return -EINVAL;
    uint32_t nb = (c.capacity + WAYS - 1) / WAYS;
    lb_flowtab *t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    /* One allocation: the headers, then the entries, each on cache-line boundaries. */
    uint64_t bytes = (uint64_t)nb * (sizeof(struct bucket) + WAYS * sizeof(struct entry)) + LINE;
    if (bytes > SIZE_MAX) { /* a 32-bit address space */
        free(t);
        return -ENOMEM;
    }
    size_t hb = (size_t)nb * sizeof(struct bucket);
    t->mem = calloc(1, (size_t)bytes);
    if (!t->mem) {
        free(t);
        return -ENOMEM;
    }
#ifdef MADV_HUGEPAGE
    /* A hint: huge pages where the kernel gives them on request (transparent huge pages in
     * `madvise` mode). A large table is read at random, one or two lines a packet; 4 KiB
     * pages then cost a TLB miss on most of them. */
    if (bytes >= (4u << 20)) {
        uintptr_t from = ((uintptr_t)t->mem + 4095) & ~(uintptr_t)4095;
        uintptr_t to = ((uintptr_t)t->mem + (size_t)bytes) & ~(uintptr_t)4095;
        (void)madvise((void *)from, to - from, MADV_HUGEPAGE);
    }
#endif
    uintptr_t base = ((uintptr_t)t->mem + LINE - 1) & ~(uintptr_t)(LINE - 1);
    t->buckets = (struct bucket *)base;
    t->entries = (struct entry *)(base + hb);
    t->nbuckets = nb;
    t->capacity = nb * WAYS;
    t->idle = c.idle_timeout_ms;
    t->evict = c.evict;
    t->on_end = c.on_end;
    t->user = c.user;
    t->memory = memory_for(nb);
    *out = t;
    return 0;
}

LB_API void lb_flowtab_free(lb_flowtab *t)
{
    if (!t)
        return;
    free(t->mem);
    free(t);
}

/* ---- the per-packet calls ------------------------------------------------------------------ */

/* Finds a live flow; an idle one is reaped with its bucket. Marks it used when `use`. */
static int get_flow(lb_flowtab *t, const lb_flowtab_key *key, uint64_t now, int use,
                    uint32_t *bi_out, unsigned *slot_out)
{
    struct probe p;
    if (!t || !key || probe_init(t, key, &p))
        return -EINVAL;
    __builtin_prefetch(&t->buckets[p.b[1]]);
    now = advance(t, now);
    uint32_t bi;
    unsigned i;
    if (find(t, &p, &bi, &i))
        return LB_E_FLOWTAB_NOT_FOUND;
    struct bucket *b = &t->buckets[bi];
    if (is_idle(t, b, i, now)) {
        reap(t, bi, now); /* removes this flow, and its bucket's other idle ones */
        return LB_E_FLOWTAB_NOT_FOUND;
    }
    if (use) {
        if (LB_UNLIKELY(now - b->reaped >= STAMP_SPAN))
            reap(t, bi, now); /* keeps every stamp within 2^31 ms of `reaped` */
        b->stamp[i] = (uint32_t)now;
        b->seen |= (uint8_t)(1u << i);
    }
    *bi_out = bi;
    *slot_out = i;
    return 0;
}

LB_API int lb_flowtab_lookup(lb_flowtab *t, const lb_flowtab_key *key, uint64_t now_ms,
                             uint32_t *target, uint64_t *data)
{
    uint32_t bi;
    unsigned i;
    int rc = get_flow(t, key, now_ms, 1, &bi, &i);
    if (rc == -EINVAL)
        return rc;
    bump(&t->lookups, 1);
    if (rc)
        return rc;
    /* release: a reader that sees this hit also sees its lookup (hits <= lookups) */
    atomic_store_explicit(&t->hits, atomic_load_explicit(&t->hits, memory_order_relaxed) + 1,
                          memory_order_release);
    const struct entry *e = &t->entries[(size_t)bi * WAYS + i];
    if (target)
        *target = e->target;
    if (data)
        *data = e->data;
    return 0;
}

LB_API int lb_flowtab_touch(lb_flowtab *t, const lb_flowtab_key *key, uint64_t now_ms)
{
    uint32_t bi;
    unsigned i;
    return get_flow(t, key, now_ms, 1, &bi, &i);
}

LB_API int lb_flowtab_peek(const lb_flowtab *t, const lb_flowtab_key *key, uint64_t now_ms,
                           uint32_t *target, uint64_t *data, uint64_t *last_use_ms)
{
    struct probe p;
    if (!t || !key || probe_init(t, key, &p))
        return -EINVAL;
    uint64_t now = now_ms > t->clock ? now_ms : t->clock;
    uint32_t bi;
    unsigned i;
    if (find(t, &p, &bi, &i))
        return LB_E_FLOWTAB_NOT_FOUND;
    const struct bucket *b = &t->buckets[bi];
    if (is_idle(t, b, i, now))
        return LB_E_FLOWTAB_NOT_FOUND;
    const struct entry *e = &t->entries[(size_t)bi * WAYS + i];
    if (target)
        *target = e->target;
    if (data)
        *data = e->data;
    if (last_use_ms)
        *last_use_ms = last_use(b, i);
    return 0;
}

/* Moves the flow in slot i of bucket bi to a free slot of its other bucket, when that has
 * one. */
static int move_out(lb_flowtab *t, uint32_t bi, unsigned i, uint64_t now)
{
    struct bucket *b = &t->buckets[bi];
    int sec = b->secondary >> i & 1;
    uint32_t ai = step(t, bi, b->tag[i], sec);
    if (ai == bi || !tag_match(&t->buckets[ai], 0))
        return 0;
    struct bucket *a = &t->buckets[ai];
    reap(t, ai, now); /* a write to the bucket (its flows are all younger than idle after) */
    unsigned j = (unsigned)__builtin_ctz(tag_match(a, 0));
    t->entries[(size_t)ai * WAYS + j] = t->entries[(size_t)bi * WAYS + i];
    a->tag[j] = b->tag[i];
    a->stamp[j] = b->stamp[i]; /* a live flow of a bucket reaped at now: still exact */
    a->secondary = (uint8_t)((a->secondary & ~(1u << j)) | (unsigned)!sec << j);
    a->seen = (uint8_t)((a->seen & ~(1u << j)) | (b->seen >> i & 1u) << j);
    b->tag[i] = 0;
    return 1;
}

/* The slot for a new flow: a free one in the emptier of its buckets (after reaping both);
 * else, while the table is not nearly full, a slot freed by moving one of their flows to its
 * other bucket; else the least recently used of their 16 flows is evicted. *k_out tells
 * which of the flow's buckets it is. */
static void place(lb_flowtab *t, const struct probe *p, uint64_t now, int *k_out,
                  unsigned *slot_out)
{
    int two = p->b[1] != p->b[0];
    reap(t, p->b[0], now);
    if (two)
        reap(t, p->b[1], now);
    unsigned free0 = tag_match(&t->buckets[p->b[0]], 0);
    unsigned free1 = two ? tag_match(&t->buckets[p->b[1]], 0) : 0;
    if (free0 || free1) {
        int k = __builtin_popcount(free1) > __builtin_popcount(free0);
        *k_out = k;
        *slot_out = (unsigned)__builtin_ctz(k ? free1 : free0);
        return;
    }
    if (get(&t->active) < t->capacity - t->capacity / 32) {
        for (int k = 0; k < 1 + two; k++)
            for (unsigned i = 0; i < WAYS; i++)
                if (move_out(t, p->b[k], i, now)) {
                    *k_out = k;
                    *slot_out = i;
                    return;
                }
    }
    int best_k = 0;
    unsigned best_i = 0;
    int64_t oldest = -1; /* the largest age: both buckets were just reaped, ages < 2^31 */
    /* the candidates: all 16, or with EVICT_NEW_FIRST those not seen since insert, if any */
    unsigned cand[2] = {0xff, two ? 0xff : 0};
    if (t->evict == LB_FLOWTAB_EVICT_NEW_FIRST) {
        unsigned n0 = ~t->buckets[p->b[0]].seen & 0xffu;
        unsigned n1 = two ? ~t->buckets[p->b[1]].seen & 0xffu : 0;
        if (n0 | n1) {
            cand[0] = n0;
            cand[1] = n1;
        }
    }
    for (int k = 0; k < 1 + two; k++) {
        const struct bucket *b = &t->buckets[p->b[k]];
        for (unsigned i = 0; i < WAYS; i++) {
            int64_t age = (uint32_t)now - b->stamp[i];
            if ((cand[k] >> i & 1) && age > oldest) {
                oldest = age;
                best_k = k;
                best_i = i;
            }
        }
    }
    drop(t, p->b[best_k], best_i, LB_FLOWTAB_END_EVICTED, now);
    *k_out = best_k;
    *slot_out = best_i;
}

LB_API int lb_flowtab_insert(lb_flowtab *t, const lb_flowtab_key *key, uint32_t target,
                             uint64_t data, uint64_t now_ms)
{
    struct probe p;
    if (!t || !key || probe_init(t, key, &p))
        return -EINVAL;
    __builtin_prefetch(&t->buckets[p.b[1]]);
    uint64_t now = advance(t, now_ms);
    uint32_t bi;
    unsigned i;
    int rc = find(t, &p, &bi, &i);
    if (rc == 0) {
        reap(t, bi, now);
        if (t->buckets[bi].tag[i] == p.tag) { /* still there: update it */
            struct entry *e = &t->entries[(size_t)bi * WAYS + i];
            e->target = target;
            e->data = data;
            t->buckets[bi].stamp[i] = (uint32_t)now;
            bump(&t->replaced, 1);
            return 1;
        }
    }
    int k;
    place(t, &p, now, &k, &i);
    bi = p.b[k];
    struct bucket *b = &t->buckets[bi];
    struct entry *e = &t->entries[(size_t)bi * WAYS + i];
    memcpy(e->key, p.key, sizeof(e->key));
    e->hash = p.hash;
    e->data = data;
    e->target = target;
    e->len = key->len;
    b->tag[i] = p.tag;
    b->stamp[i] = (uint32_t)now;
    b->secondary = (uint8_t)((b->secondary & ~(1u << i)) | (unsigned)k << i);
    b->seen = (uint8_t)(b->seen & ~(1u << i));
    bump(&t->active, 1);
    bump(&t->inserted, 1);
    return 0;
}

LB_API int lb_flowtab_remove(lb_flowtab *t, const lb_flowtab_key *key, uint64_t now_ms)
{
    uint32_t bi;
    unsigned i;
    int rc = get_flow(t, key, now_ms, 0, &bi, &i);
    if (rc)
        return rc;
    drop(t, bi, i, LB_FLOWTAB_END_REMOVED, t->clock);
    return 0;
}

LB_API int64_t lb_flowtab_remove_target(lb_flowtab *t, uint32_t target, uint64_t now_ms)
{
    if (!t)
        return -EINVAL;
    uint64_t now = advance(t, now_ms);
    int64_t n = 0;
    for (uint32_t bi = 0; bi < t->nbuckets; bi++) {
        unsigned used = used_mask(&t->buckets[bi]);
        if (!used)
            continue;
        reap(t, bi, now);
        used = used_mask(&t->buckets[bi]);
        while (used) {
            unsigned i = (unsigned)__builtin_ctz(used);
            used &= used - 1;
            if (t->entries[(size_t)bi * WAYS + i].target == target) {
                drop(t, bi, i, LB_FLOWTAB_END_TARGET_REMOVED, now);
                n++;
            }
        }
    }
    return n;
}

LB_API int64_t lb_flowtab_expire(lb_flowtab *t, uint64_t now_ms, uint32_t max_buckets)
{
    if (!t)
        return -EINVAL;
    uint64_t now = advance(t, now_ms);
    int64_t n = 0;
    if (max_buckets > t->nbuckets)
        max_buckets = t->nbuckets;
    for (uint32_t k = 0; k < max_buckets; k++) {
        uint32_t bi = t->cursor;
        t->cursor = bi + 1 == t->nbuckets ? 0 : bi + 1;
        if (used_mask(&t->buckets[bi]))
            n += reap(t, bi, now);
    }
    return n;
}

/* ---- introspection -------------------------------------------------------------------------- */

LB_API int lb_flowtab_get_stats(const lb_flowtab *t, lb_flowtab_stats *out)
{
    if (!t || !out)
        return -EINVAL;
    if (out->struct_size < sizeof(lb_flowtab_stats))
        return LB_E_STRUCT_SIZE;
    lb_flowtab_stats s;
    memset(&s, 0, sizeof(s));
    s.struct_size = out->struct_size;
    s.capacity = t->capacity;
    s.active = get(&t->active);
    s.inserted = get(&t->inserted);
    s.replaced = get(&t->replaced);
    s.expired = get(&t->expired);
    s.evicted = get(&t->evicted);
    s.removed = get(&t->removed);
    s.hits = atomic_load_explicit((counter *)&t->hits, memory_order_acquire);
    s.lookups = get(&t->lookups);
    s.memory_bytes = t->memory;
    lb__struct_out(out, out->struct_size, &s, sizeof(s));
    return 0;
}

LB_API uint32_t lb_flowtab_capacity(const lb_flowtab *t)
{
    return t ? t->capacity : 0;
}

LB_API uint32_t lb_flowtab_buckets(const lb_flowtab *t)
{
    return t ? t->nbuckets : 0;
}

LB_API uint64_t lb_flowtab_memory(const lb_flowtab *t)
{
    return t ? t->memory : 0;
}

LB_API uint32_t lb_flowtab_shard(const lb_flowtab_key *key, uint32_t shards)
{
    if (!key || !shards)
        return 0;
    uint64_t s = key->hash; /* remixed: the table's buckets use the hash's own bits */
    return (uint32_t)((lb__splitmix64(&s) >> 32) * shards >> 32);
}

LB_API const char *lb_flowtab_end_name(uint32_t reason)
{
    switch (reason) {
    case LB_FLOWTAB_END_EXPIRED: return "expired";
    case LB_FLOWTAB_END_EVICTED: return "evicted";
    case LB_FLOWTAB_END_REMOVED: return "removed";
    case LB_FLOWTAB_END_TARGET_REMOVED: return "target_removed";
    default: return "unknown";
    }
}
