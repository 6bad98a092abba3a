/* The flow table against the obvious open-addressing table (linear probing over the same key
 * encoding and hash, a power-of-two size at most 3/4 full, no LRU, no expiry, its memory
 * advised for huge pages as the flow table's is), measured in
 * the same run: lookups that hit and miss, and inserts that keep the table at its size (a new
 * flow in, the oldest out), at 1e4 entries by default and 1e6 and 4e6 with --full. Every
 * operation builds the key and hashes it (lb_flowtab_key4()), as a packet would.
 *
 *   bench_flowtab [--quick] [--full]     one JSON line per case (bench/bench.h), in ns of
 *                                         this thread's CPU time per operation
 *   bench_flowtab --quality               eviction quality against exact LRU (doc/flowtab.md)
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* CPU time of this thread: the 2-vCPU machine these figures come from runs many builds at
 * once, and wall time there counts the time spent descheduled (bench/bench.h). */
#define BENCH_CLOCK CLOCK_THREAD_CPUTIME_ID
#include "bench.h"
#include "lb/flowtab.h"

#define DST_PORT 443
#define IDLE_MS  86400000u /* a day: nothing expires while measuring */

static lb_flowtab_key key_for(uint32_t i)
{
    uint8_t src[4] = {(uint8_t)(i >> 24), (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i};
    static const uint8_t dst[4] = {192, 0, 2, 10};
    lb_flowtab_key k;
    lb_flowtab_key4(&k, src, dst, (uint16_t)((i * 2654435761u) >> 16), DST_PORT, 17, 0);
    return k;
}

#define MISS_BIT 0x80000000u /* keys of this range are never inserted */

/* ---- the baseline: linear probing ----------------------------------------------------------- */

struct oa_slot {
    uint64_t key[5];
    uint64_t hash;
    uint64_t data;
    uint32_t target;
    uint32_t used;
};

struct oa {
    struct oa_slot *s;
    uint64_t mask;
};

static void oa_init(struct oa *t, uint32_t n)
{
    uint64_t size = 16;
    while (size * 3 < (uint64_t)n * 4)
        size <<= 1;
    t->s = calloc(size, sizeof(*t->s));
    if (!t->s)
        abort();
#ifdef MADV_HUGEPAGE
    if (size * sizeof(*t->s) >= (4u << 20)) { /* as lb_flowtab_new() does */
        uintptr_t from = ((uintptr_t)t->s + 4095) & ~(uintptr_t)4095;
        uintptr_t to = ((uintptr_t)t->s + size * sizeof(*t->s)) & ~(uintptr_t)4095;
        (void)madvise((void *)from, to - from, MADV_HUGEPAGE);
    }
#endif
    t->mask = size - 1;
}

static inline int oa_eq(const struct oa_slot *s, const lb_flowtab_key *k)
{
    uint64_t w[5], d = 0;
    memcpy(w, k->enc, sizeof(w));
    for (int i = 0; i < 5; i++)
        d |= s->key[i] ^ w[i];
    return d == 0;
}

static inline int oa_lookup(const struct oa *t, const lb_flowtab_key *k, uint32_t *target)
{
    for (uint64_t i = k->hash & t->mask;; i = (i + 1) & t->mask) {
        const struct oa_slot *s = &t->s[i];
        if (!s->used)
            return -1;
        if (oa_eq(s, k)) {
            *target = s->target;
            return 0;
        }
    }
}

static inline void oa_insert(struct oa *t, const lb_flowtab_key *k, uint32_t target)
{
    uint64_t i = k->hash & t->mask;
    while (t->s[i].used && !oa_eq(&t->s[i], k))
        i = (i + 1) & t->mask;
    struct oa_slot *s = &t->s[i];
    memcpy(s->key, k->enc, sizeof(s->key));
    s->hash = k->hash;
    s->target = target;
    s->data = 0;
    s->used = 1;
}

/* Deletion by backward shift (Knuth's algorithm R): no tombstones. */
static inline void oa_remove(struct oa *t, const lb_flowtab_key *k)
{
    uint64_t i = k->hash & t->mask;
    while (t->s[i].used && !oa_eq(&t->s[i], k))
        i = (i + 1) & t->mask;
    if (!t->s[i].used)
        return;
    for (uint64_t j = (i + 1) & t->mask; t->s[j].used; j = (j + 1) & t->mask) {
        uint64_t h = t->s[j].hash & t->mask;
        if (i <= j ? (i < h && h <= j) : (i < h || h <= j))
            continue; /* its home is in (i, j]: it stays */
        t->s[i] = t->s[j];
        i = j;
    }
    t->s[i].used = 0;
}

/* ---- cases ---------------------------------------------------------------------------------- */

struct ctx {
    uint32_t n;
    lb_flowtab *ft;
    struct oa oa;
    uint64_t rng;
    uint32_t lo, hi; /* the flows present: [lo, hi) */
    uint64_t now;
    uint64_t ops;
};

static uint32_t sizes[] = {10000, 1000000, 4000000};
static uint32_t current_n;

static struct ctx *ctx_new(int flowtab, int full)
{
    struct ctx *c = calloc(1, sizeof(*c));
    c->n = current_n;
    c->rng = 42;
    c->now = 1000;
    if (flowtab) {
        lb_flowtab_config cfg;
        lb_flowtab_config_init(&cfg, sizeof(cfg));
        /* 7/8 full (below the 93% where the first evictions appear), or exactly full */
        cfg.capacity = full ? c->n : (uint32_t)(((uint64_t)c->n * 8 + 6) / 7);
        cfg.idle_timeout_ms = IDLE_MS;
        if (lb_flowtab_new(&c->ft, &cfg))
            abort();
    } else {
        oa_init(&c->oa, c->n);
    }
    for (uint32_t i = 0; i < c->n; i++) {
        lb_flowtab_key k = key_for(i);
        if (flowtab) {
            if (lb_flowtab_insert(c->ft, &k, i & 63, i, c->now) < 0)
                abort();
        } else {
            oa_insert(&c->oa, &k, i & 63);
        }
    }
    c->hi = c->n;
    return c;
}

static void ctx_free(void *p)
{
    struct ctx *c = p;
    lb_flowtab_free(c->ft);
    free(c->oa.s);
    free(c);
}

static inline uint32_t next_index(struct ctx *c)
{
    c->rng = c->rng * 6364136223846793005ull + 1442695040888963407ull;
    return c->lo + (uint32_t)(((c->rng >> 32) * (c->hi - c->lo)) >> 32);
}

static void *setup_ft(void) { return ctx_new(1, 0); }
static void *setup_ft_full(void) { return ctx_new(1, 1); }
static void *setup_oa(void) { return ctx_new(0, 0); }

static void run_ft_hit(void *p, uint64_t ops)
{
    struct ctx *c = p;
    uint64_t sum = 0;
    for (uint64_t k = 0; k < ops; k++) {
        lb_flowtab_key key = key_for(next_index(c));
        uint32_t target = 0;
        if (lb_flowtab_lookup(c->ft, &key, c->now + (c->ops++ >> 10), &target, NULL))
            abort();
        sum += target;
    }
    bench_sink += sum;
}

static void run_oa_hit(void *p, uint64_t ops)
{
    struct ctx *c = p;
    uint64_t sum = 0;
    for (uint64_t k = 0; k < ops; k++) {
        lb_flowtab_key key = key_for(next_index(c));
        uint32_t target = 0;
        if (oa_lookup(&c->oa, &key, &target))
            abort();
        sum += target;
    }
    bench_sink += sum;
}

static void run_ft_miss(void *p, uint64_t ops)
{
    struct ctx *c = p;
    uint64_t sum = 0;
    for (uint64_t k = 0; k < ops; k++) {
        lb_flowtab_key key = key_for(next_index(c) | MISS_BIT);
        sum += (uint64_t)lb_flowtab_lookup(c->ft, &key, c->now + (c->ops++ >> 10), NULL, NULL);
    }
    bench_sink += sum;
}

static void run_oa_miss(void *p, uint64_t ops)
{
    struct ctx *c = p;
    uint64_t sum = 0;
    for (uint64_t k = 0; k < ops; k++) {
        lb_flowtab_key key = key_for(next_index(c) | MISS_BIT);
        uint32_t target;
        sum += (uint64_t)oa_lookup(&c->oa, &key, &target);
    }
    bench_sink += sum;
}

/* A new flow in, the oldest out: the table stays at n flows. */
static void run_ft_insert(void *p, uint64_t ops)
{
    struct ctx *c = p;
    for (uint64_t k = 0; k < ops; k++) {
        uint64_t now = c->now + (c->ops++ >> 10);
        lb_flowtab_key in = key_for(c->hi++ & ~MISS_BIT), out = key_for(c->lo++ & ~MISS_BIT);
        if (lb_flowtab_insert(c->ft, &in, 1, 0, now) < 0)
            abort();
        bench_sink += (uint64_t)lb_flowtab_remove(c->ft, &out, now);
    }
}

/* The table full: every new flow evicts the least recently used of its buckets. */
static void run_ft_insert_evict(void *p, uint64_t ops)
{
    struct ctx *c = p;
    for (uint64_t k = 0; k < ops; k++) {
        lb_flowtab_key in = key_for(c->hi++ & ~MISS_BIT);
        if (lb_flowtab_insert(c->ft, &in, 1, 0, c->now + (c->ops++ >> 10)) < 0)
            abort();
    }
}

static void run_oa_insert(void *p, uint64_t ops)
{
    struct ctx *c = p;
    for (uint64_t k = 0; k < ops; k++) {
        lb_flowtab_key in = key_for(c->hi++ & ~MISS_BIT), out = key_for(c->lo++ & ~MISS_BIT);
        oa_insert(&c->oa, &in, 1);
        oa_remove(&c->oa, &out);
    }
}

#define NSIZES 3
#define NKINDS 8
static char names[NSIZES][NKINDS][48], params[NSIZES][NKINDS][160];
static struct bench_case cases[NSIZES * NKINDS];

/* Each case's setup reads the size from the case name's table row. */
static void *(*const setups[NKINDS])(void) = {setup_ft, setup_oa, setup_ft, setup_oa,
                                               setup_ft, setup_oa, setup_ft_full, setup_oa};

static const char *const kinds[NKINDS] = {
    "flowtab_lookup_hit", "open_lookup_hit", "flowtab_lookup_miss", "open_lookup_miss",
    "flowtab_insert",     "open_insert",     "flowtab_insert_evict", "open_insert_evict"};
static void (*const runs[NKINDS])(void *, uint64_t) = {
    run_ft_hit,    run_oa_hit,    run_ft_miss,         run_oa_miss,
    run_ft_insert, run_oa_insert, run_ft_insert_evict, run_oa_insert};

/* bench.h calls setup() with no argument: one trampoline per size sets the size first. */
static void *setup_sized(int size, int kind)
{
    current_n = sizes[size];
    return setups[kind]();
}
#define TRAMPOLINES(s)                                                                         \
    static void *setup_##s##_0(void) { return setup_sized(s, 0); }                             \
    static void *setup_##s##_1(void) { return setup_sized(s, 1); }                             \
    static void *setup_##s##_2(void) { return setup_sized(s, 2); }                             \
    static void *setup_##s##_3(void) { return setup_sized(s, 3); }                             \
    static void *setup_##s##_4(void) { return setup_sized(s, 4); }                             \
    static void *setup_##s##_5(void) { return setup_sized(s, 5); }                             \
    static void *setup_##s##_6(void) { return setup_sized(s, 6); }                             \
    static void *setup_##s##_7(void) { return setup_sized(s, 7); }
TRAMPOLINES(0)
TRAMPOLINES(1)
TRAMPOLINES(2)
static void *(*const sized_setups[NSIZES][NKINDS])(void) = {
    {setup_0_0, setup_0_1, setup_0_2, setup_0_3, setup_0_4, setup_0_5, setup_0_6, setup_0_7},
    {setup_1_0, setup_1_1, setup_1_2, setup_1_3, setup_1_4, setup_1_5, setup_1_6, setup_1_7},
    {setup_2_0, setup_2_1, setup_2_2, setup_2_3, setup_2_4, setup_2_5, setup_2_6, setup_2_7}};

static size_t build_cases(int nsizes)
{
    size_t n = 0;
    static const char *const size_names[NSIZES] = {"1e4", "1e6", "4e6"};
    for (int s = 0; s < nsizes; s++) {
        for (int k = 0; k < NKINDS; k++) {
            snprintf(names[s][k], sizeof(names[s][k]), "%s_%s", kinds[k], size_names[s]);
            uint32_t cap = k == 6 ? sizes[s] : (uint32_t)(((uint64_t)sizes[s] * 8 + 6) / 7);
            cap = (cap + LB_FLOWTAB_BUCKET_SLOTS - 1) / LB_FLOWTAB_BUCKET_SLOTS *
                  LB_FLOWTAB_BUCKET_SLOTS;
            if (k & 1) {
                uint64_t slots = 16;
                while (slots * 3 < (uint64_t)sizes[s] * 4)
                    slots <<= 1;
                snprintf(params[s][k], sizeof(params[s][k]),
                         "{\"entries\": %u, \"slots\": %llu, \"bytes\": %llu}", sizes[s],
                         (unsigned long long)slots,
                         (unsigned long long)(slots * sizeof(struct oa_slot)));
            } else {
                snprintf(params[s][k], sizeof(params[s][k]),
                         "{\"entries\": %u, \"capacity\": %u, \"bytes\": %llu}", sizes[s], cap,
                         (unsigned long long)lb_flowtab_memory_for(cap));
            }
            cases[n].name = names[s][k];
            cases[n].params = params[s][k];
            cases[n].baseline = (k & 1) ? NULL : names[s][k + 1];
            cases[n].setup = sized_setups[s][k];
            cases[n].run = runs[k];
            cases[n].teardown = ctx_free;
            n++;
        }
    }
    return n;
}

/* ---- eviction quality ------------------------------------------------------------------------ */

struct counter_user {
    uint64_t evicted_active;
};

static void count_end(void *user, const lb_flowtab_end *e)
{
    struct counter_user *u = user;
    if (e->reason == LB_FLOWTAB_END_EVICTED && e->data == 1)
        u->evicted_active++;
}

/* A established flows (two datagrams each at the start) each sending a datagram per round,
 * and F new one-datagram flows per round (a flood of source ports): exact LRU with capacity
 * C keeps every active flow iff A + F <= C and none otherwise (the round-robin reuse distance
 * is A + F - 1). */
static void quality_run(uint32_t cap, uint32_t active, uint32_t flood, int rounds, uint32_t evict)
{
    struct counter_user u = {0};
    lb_flowtab_config cfg;
    lb_flowtab_config_init(&cfg, sizeof(cfg));
    cfg.capacity = cap;
    cfg.idle_timeout_ms = IDLE_MS;
    cfg.on_end = count_end;
    cfg.user = &u;
    cfg.evict = evict;
    lb_flowtab *t;
    if (lb_flowtab_new(&t, &cfg))
        abort();
    uint64_t now = 1, hits = 0, lookups = 0;
    uint32_t next_new = 1u << 24;
    for (uint32_t a = 0; a < active; a++) { /* established: two datagrams each, no flood */
        lb_flowtab_key k = key_for(a);
        if (lb_flowtab_insert(t, &k, 0, 1, now++) < 0 || lb_flowtab_lookup(t, &k, now++, NULL,
                                                                             NULL))
            abort();
    }
    for (int r = 1; r <= rounds; r++) {
        for (uint32_t a = 0; a < active; a++) {
            /* the flood interleaved with the active flows */
            for (uint32_t f = (uint32_t)((uint64_t)a * flood / active);
                 f < (uint32_t)((uint64_t)(a + 1) * flood / active); f++) {
                lb_flowtab_key k = key_for(next_new++);
                if (lb_flowtab_insert(t, &k, 0, 0, now++) < 0)
                    abort();
            }
            lb_flowtab_key k = key_for(a);
            if (lb_flowtab_lookup(t, &k, now++, NULL, NULL) == 0)
                hits++;
            else if (lb_flowtab_insert(t, &k, 0, 1, now) < 0)
                abort();
            lookups++;
        }
    }
    lb_flowtab_free(t);
    double ratio = (double)hits / (double)lookups;
    printf("{\"quality\": \"active_flows_under_flood\", \"evict\": \"%s\", \"capacity\": %u, "
           "\"active\": %u, \"new_per_round\": %u, \"load\": %.3f, \"hit_ratio\": %.5f, "
           "\"exact_lru_hit_ratio\": %d, \"active_evictions\": %llu}\n",
           evict ? "new_first" : "lru", cap, active, flood, (double)(active + flood) / cap, ratio,
           active + flood <= cap ? 1 : 0, (unsigned long long)u.evicted_active);
}

/* The same workload through a CLOCK table (a reference bit per slot, set by a hit and not by
 * the insert; a hand that clears bits until it finds a clear one to evict), simulated over
 * flow numbers: its hit ratio and the longest sweep one insert needed. */
static void quality_clock(uint32_t cap, uint32_t active, uint32_t flood, int rounds)
{
    uint32_t ids = (1u << 24) + flood * (uint32_t)(rounds + 1) + 1;
    uint32_t *where = malloc((size_t)ids * sizeof(*where)); /* flow -> slot + 1, 0: absent */
    uint32_t *slot_id = calloc(cap, sizeof(*slot_id));
    uint8_t *ref = calloc(cap, 1);
    if (!where || !slot_id || !ref)
        abort();
    memset(where, 0, (size_t)ids * sizeof(*where));
    uint32_t used = 0, hand = 0, next_new = 1u << 24;
    uint64_t hits = 0, lookups = 0, longest = 0;
    /* insert flow f (absent); returns its slot */
#define CLOCK_INSERT(f)                                                                        \
    do {                                                                                       \
        uint32_t s_;                                                                           \
        if (used < cap) {                                                                      \
            s_ = used++;                                                                       \
        } else {                                                                               \
            uint64_t steps_ = 0;                                                               \
            while (ref[hand]) {                                                                \
                ref[hand] = 0;                                                                 \
                hand = hand + 1 == cap ? 0 : hand + 1;                                         \
                steps_++;                                                                      \
            }                                                                                  \
            if (steps_ > longest)                                                              \
                longest = steps_;                                                              \
            s_ = hand;                                                                         \
            where[slot_id[s_]] = 0;                                                            \
            hand = hand + 1 == cap ? 0 : hand + 1;                                             \
        }                                                                                      \
        slot_id[s_] = (f);                                                                     \
        ref[s_] = 0;                                                                           \
        where[(f)] = s_ + 1;                                                                   \
    } while (0)
    for (uint32_t a = 0; a < active; a++) {
        CLOCK_INSERT(a);
        ref[where[a] - 1] = 1;
    }
    for (int r = 1; r <= rounds; r++) {
        for (uint32_t a = 0; a < active; a++) {
            for (uint32_t f = (uint32_t)((uint64_t)a * flood / active);
                 f < (uint32_t)((uint64_t)(a + 1) * flood / active); f++) {
                uint32_t id = next_new++;
                CLOCK_INSERT(id);
            }
            if (where[a]) {
                ref[where[a] - 1] = 1;
                hits++;
            } else {
                CLOCK_INSERT(a);
            }
            lookups++;
        }
    }
#undef CLOCK_INSERT
    printf("{\"quality\": \"active_flows_under_flood\", \"evict\": \"clock\", \"capacity\": %u, "
           "\"active\": %u, \"new_per_round\": %u, \"load\": %.3f, \"hit_ratio\": %.5f, "
           "\"exact_lru_hit_ratio\": %d, \"longest_sweep\": %llu}\n",
           cap, active, flood, (double)(active + flood) / cap, (double)hits / (double)lookups,
           active + flood <= cap ? 1 : 0, (unsigned long long)longest);
    free(where);
    free(slot_id);
    free(ref);
}

static void quality_fill(uint32_t cap)
{
    lb_flowtab_config cfg;
    lb_flowtab_config_init(&cfg, sizeof(cfg));
    cfg.capacity = cap;
    cfg.idle_timeout_ms = IDLE_MS;
    lb_flowtab *t;
    if (lb_flowtab_new(&t, &cfg))
        abort();
    lb_flowtab_stats s;
    memset(&s, 0, sizeof(s));
    s.struct_size = sizeof(s);
    uint32_t i = 0;
    for (;; i++) {
        lb_flowtab_key k = key_for(i);
        if (lb_flowtab_insert(t, &k, 0, 0, 1) < 0)
            abort();
        lb_flowtab_get_stats(t, &s);
        if (s.evicted)
            break;
    }
    /* time to remove every flow of one target in a full table (64 targets) */
    for (uint32_t j = 0; j < cap; j++) {
        lb_flowtab_key k = key_for(i + 1 + j);
        if (lb_flowtab_insert(t, &k, j & 63, 0, 2) < 0)
            abort();
    }
    double t0 = bench_now_ns();
    int64_t removed = lb_flowtab_remove_target(t, 7, 3);
    double ms = (bench_now_ns() - t0) / 1e6;
    printf("{\"quality\": \"fill_before_first_eviction\", \"capacity\": %u, \"fill\": %.4f, "
           "\"remove_target_ms\": %.2f, \"removed\": %lld}\n",
           cap, (double)i / cap, ms, (long long)removed);
    lb_flowtab_free(t);
}

int main(int argc, char **argv)
{
    int full = 0, quality = 0, single = 0;
    char *args[16];
    int n = 0;
    for (int i = 0; i < argc && n < 16; i++) {
        if (!strcmp(argv[i], "--full"))
            full = 1;
        else if (!strcmp(argv[i], "--quality"))
            quality = 1;
        else
            args[n++] = argv[i];
        if (!strcmp(argv[i], "--case"))
            single = 1;
    }
    if (quality) {
        quality_fill(1u << 16);
        quality_fill(1u << 20);
        const uint32_t cap = 1u << 16;
        static const double loads[] = {0.5, 0.75, 0.9, 1.0, 1.5, 3.0};
        for (size_t i = 0; i < sizeof(loads) / sizeof(loads[0]); i++) {
            uint32_t total = (uint32_t)(loads[i] * cap);
            for (uint32_t evict = 0; evict < 2; evict++) {
                quality_run(cap, total / 4, total - total / 4, 20, evict);
                quality_run(cap, total / 2, total - total / 2, 20, evict);
            }
            quality_clock(cap, total / 4, total - total / 4, 20);
            quality_clock(cap, total / 2, total - total / 2, 20);
        }
        return 0;
    }
    size_t count = build_cases(full || single ? NSIZES : 1);
    return bench_main(n, args, cases, count);
}
