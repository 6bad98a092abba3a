/* Hash-based selectors: Maglev lookup of IPv4 5-tuples (hash included) against the bare
 * hash of the same tuples, throughput and dependent-chain latency; Maglev build against a
 * straightforward implementation of the paper's pseudocode; ring lookup and bounded-load
 * pick against the bare hash and the plain ring lookup; weighted rendezvous lookup against
 * the obvious O(n) loop (doubles and libm's log) and Maglev lookup at N = 10, 100, 1000, and
 * its build against Maglev's. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "lb/chash.h"
#include "lb/hash.h"
#include "lb/loads.h"
#include "lb/maglev.h"
#include "lb/pool.h"
#include "lb/rendezvous.h"

#define NFLOWS 4096
#define OPEN   65536 /* connections open during bounded picks: about 65 per target */

struct ctx {
    uint8_t src[NFLOWS][4], dst[NFLOWS][4];
    uint16_t sport[NFLOWS], dport[NFLOWS];
    lb_pool *pool;
    lb_maglev *table;
    lb_chash *ring;
    lb_rendezvous *rdv;
    uint64_t *key_hash; /* the obvious loop's per-target key hashes */
    uint32_t *weight;
    lb_loads *loads;
    uint32_t n, m;
    /* the paper's build: its inputs, computed once like the pool */
    char (*keys)[24];
    /* bounded picks: the connections open, released OPEN picks later */
    uint32_t open[OPEN];
    uint64_t picks;
};

static lb_pool *make_pool(uint32_t n, char (**keys)[24])
{
    lb_pool *p;
    if (lb_pool_new(&p))
        abort();
    *keys = malloc(n * sizeof(**keys));
    for (uint32_t i = 0; i < n; i++) {
        int len = snprintf((*keys)[i], sizeof((*keys)[i]), "10.%u.%u.%u:80", i >> 16,
                           (i >> 8) & 255, i & 255);
        if (lb_pool_add(p, i, (*keys)[i], (size_t)len, 1, 0))
            abort();
    }
    return p;
}

static struct ctx *ctx_new(uint32_t n, uint32_t m, int with_table)
{
    struct ctx *c = calloc(1, sizeof(*c));
    uint64_t s = 42;
    for (int i = 0; i < NFLOWS; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        memcpy(c->src[i], &s, 4);
        memcpy(c->dst[i], (uint8_t *)&s + 4, 4);
        c->sport[i] = (uint16_t)(s >> 17);
        c->dport[i] = (uint16_t)(s >> 40);
    }
    c->n = n;
    c->m = m;
    c->pool = make_pool(n, &c->keys);
    if (with_table && lb_maglev_build(&c->table, c->pool, m))
        abort();
    return c;
}

static void ctx_free(void *p)
{
    struct ctx *c = p;
    lb_maglev_free(c->table);
    lb_chash_free(c->ring);
    lb_rendezvous_free(c->rdv);
    free(c->key_hash);
    free(c->weight);
    lb_loads_free(c->loads);
    lb_pool_free(c->pool);
    free(c->keys);
    free(c);
}

/* ---- lookups ---------------------------------------------------------------------------- */

static void *setup_flows(void)
{
    return ctx_new(1000, 65537, 1);
}

static void run_hash(void *p, uint64_t ops)
{
    struct ctx *c = p;
    uint64_t acc = 0;
    for (uint64_t i = 0; i < ops; i++) {
        unsigned k = (unsigned)(i & (NFLOWS - 1));
        acc += lb_hash_flow4(c->src[k], c->dst[k], c->sport[k], c->dport[k], 6, 0);
    }
    bench_sink = acc;
}

static void run_lookup(void *p, uint64_t ops)
{
    struct ctx *c = p;
    uint64_t acc = 0;
    for (uint64_t i = 0; i < ops; i++) {
        unsigned k = (unsigned)(i & (NFLOWS - 1));
        acc += lb_maglev_lookup(
            c->table, lb_hash_flow4(c->src[k], c->dst[k], c->sport[k], c->dport[k], 6, 0));
    }
    bench_sink = acc;
}

/* Latency: the next tuple depends on the previous answer. */
static void run_hash_chain(void *p, uint64_t ops)
{
    struct ctx *c = p;
    unsigned k = 0;
    for (uint64_t i = 0; i < ops; i++) {
        uint64_t h = lb_hash_flow4(c->src[k], c->dst[k], c->sport[k], c->dport[k], 6, 0);
        k = (k + (unsigned)(h & 1023) + 1) & (NFLOWS - 1);
    }
    bench_sink = k;
}

static void run_lookup_chain(void *p, uint64_t ops)
{
    struct ctx *c = p;
    unsigned k = 0;
    for (uint64_t i = 0; i < ops; i++) {
        uint32_t id = lb_maglev_lookup(
            c->table, lb_hash_flow4(c->src[k], c->dst[k], c->sport[k], c->dport[k], 6, 0));
        k = (k + id + 1) & (NFLOWS - 1);
    }
    bench_sink = k;
}

/* ---- build ------------------------------------------------------------------------------ */

/* The paper's Pseudocode 1 as written, with the permutation computed on the fly
 * (offset + j * skip) mod M instead of stored: entries of -1 mark empty slots. The same
 * hashes as liblb (offset and skip of each key), so both do the same work per probe. */
static void paper_build(struct ctx *c, int32_t *entry, uint32_t *offset, uint32_t *skip,
                        uint32_t *next)
{
    const uint32_t n = c->n, m = c->m;
    for (uint32_t i = 0; i < n; i++) {
        size_t len = strlen(c->keys[i]);
        offset[i] = (uint32_t)(lb_hash_key(c->keys[i], len, LB_MAGLEV_SEED_OFFSET) % m);
        skip[i] = (uint32_t)(lb_hash_key(c->keys[i], len, LB_MAGLEV_SEED_SKIP) % (m - 1)) + 1;
        next[i] = 0;
    }
    for (uint32_t j = 0; j < m; j++)
        entry[j] = -1;
    uint32_t filled = 0;
    for (;;) {
        for (uint32_t i = 0; i < n; i++) {
            uint32_t s = (uint32_t)((offset[i] + (uint64_t)next[i] * skip[i]) % m);
            while (entry[s] >= 0) {
                next[i]++;
                s = (uint32_t)((offset[i] + (uint64_t)next[i] * skip[i]) % m);
            }
            entry[s] = (int32_t)i;
            next[i]++;
            if (++filled == m)
                return;
        }
    }
}

static void run_paper_build(void *p, uint64_t ops)
{
    struct ctx *c = p;
    int32_t *entry = malloc(c->m * sizeof(int32_t));
    uint32_t *offset = malloc(c->n * sizeof(uint32_t)), *skip = malloc(c->n * sizeof(uint32_t));
    uint32_t *next = malloc(c->n * sizeof(uint32_t));
    uint64_t acc = 0;
    for (uint64_t i = 0; i < ops; i++) {
        paper_build(c, entry, offset, skip, next);
        acc += (uint64_t)entry[i % c->m];
    }
    free(entry);
    free(offset);
    free(skip);
    free(next);
    bench_sink = acc;
}

static void run_build(void *p, uint64_t ops)
{
    struct ctx *c = p;
    uint64_t acc = 0;
    for (uint64_t i = 0; i < ops; i++) {
        lb_maglev *t;
        if (lb_maglev_build(&t, c->pool, c->m))
            abort();
        acc += lb_maglev_digest(t);
        lb_maglev_free(t);
    }
    bench_sink = acc;
}

#define BUILD_SETUP(N, M)                                                                          \
    static void *setup_build_##N(void)                                                             \
    {                                                                                              \
        return ctx_new(N, M, 0);                                                                   \
    }
BUILD_SETUP(10, 65537)
BUILD_SETUP(100, 65537)
BUILD_SETUP(1000, 65537)
BUILD_SETUP(10000, 655373)

/* ---- rendezvous -------------------------------------------------------------------------- */

/* Flow hashes: the selectors' inputs alone, without the tuple hash. */
static uint64_t flow_hash_at(uint64_t i)
{
    uint64_t z = (i & (NFLOWS - 1)) * 0x9E3779B97F4A7C15ull + 1;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    return z ^ (z >> 29);
}

static struct ctx *rdv_ctx(uint32_t n)
{
    struct ctx *c = ctx_new(n, 65537, 1);
    if (lb_rendezvous_build(&c->rdv, c->pool))
        abort();
    c->key_hash = malloc(n * sizeof(*c->key_hash));
    c->weight = malloc(n * sizeof(*c->weight));
    for (uint32_t i = 0; i < n; i++) {
        c->key_hash[i] = lb_hash_key(c->keys[i], strlen(c->keys[i]), 7);
        c->weight[i] = 1 + i % 4;
    }
    return c;
}

/* The obvious weighted rendezvous: score -w / ln(u) in doubles, the highest wins. */
static void run_rdv_loop(void *p, uint64_t ops)
{
    struct ctx *c = p;
    uint64_t acc = 0;
    for (uint64_t i = 0; i < ops; i++) {
        uint64_t h = flow_hash_at(i);
        uint32_t best = 0;
        double best_score = -INFINITY;
        for (uint32_t k = 0; k < c->n; k++) {
            uint64_t z = (h ^ c->key_hash[k]) * 0xBF58476D1CE4E5B9ull;
            z ^= z >> 31;
            double u = ((double)(z >> 11) + 0.5) * 0x1p-53;
            double score = -(double)c->weight[k] / log(u);
            if (score > best_score) {
                best_score = score;
                best = k;
            }
        }
        acc += best;
    }
    bench_sink = acc;
}

static void run_rdv_lookup(void *p, uint64_t ops)
{
    struct ctx *c = p;
    uint64_t acc = 0;
    for (uint64_t i = 0; i < ops; i++)
        acc += lb_rendezvous_lookup(c->rdv, flow_hash_at(i));
    bench_sink = acc;
}

static void run_maglev_hash_lookup(void *p, uint64_t ops)
{
    struct ctx *c = p;
    uint64_t acc = 0;
    for (uint64_t i = 0; i < ops; i++)
        acc += lb_maglev_lookup(c->table, flow_hash_at(i));
    bench_sink = acc;
}

static void run_rdv_build(void *p, uint64_t ops)
{
    struct ctx *c = p;
    uint64_t acc = 0;
    for (uint64_t i = 0; i < ops; i++) {
        lb_rendezvous *r;
        if (lb_rendezvous_build(&r, c->pool))
            abort();
        acc += lb_rendezvous_target_count(r);
        lb_rendezvous_free(r);
    }
    bench_sink = acc;
}

#define RDV_SETUP(N)                                                                               \
    static void *setup_rdv_##N(void)                                                               \
    {                                                                                              \
        return rdv_ctx(N);                                                                         \
    }
RDV_SETUP(10)
RDV_SETUP(100)
RDV_SETUP(1000)

/* ---- ring ------------------------------------------------------------------------------- */

static void *setup_ring(void)
{
    struct ctx *c = ctx_new(1000, 65537, 0);
    if (lb_loads_new(&c->loads, 1000))
        abort();
    for (uint32_t i = 0; i < 1000; i++) {
        if (lb_loads_track(c->loads, i, NULL))
            abort();
    }
    lb_chash_options o = {.struct_size = sizeof(o), .loads = c->loads};
    if (lb_chash_new(&c->ring, c->pool, &o))
        abort();
    return c;
}

static void run_ring_lookup(void *p, uint64_t ops)
{
    struct ctx *c = p;
    uint64_t acc = 0;
    for (uint64_t i = 0; i < ops; i++) {
        unsigned k = (unsigned)(i & (NFLOWS - 1));
        uint16_t sport = (uint16_t)(c->sport[k] + (i >> 12)); /* new flows keep coming */
        acc +=
            lb_chash_lookup(c->ring, lb_hash_flow4(c->src[k], c->dst[k], sport, c->dport[k], 6, 0));
    }
    bench_sink = acc;
}

/* Bounded pick of a new connection and, to keep the load steady, release of the connection
 * picked 1000 ops before (1000 connections open at any time). */
static void run_ring_pick(void *p, uint64_t ops)
{
    struct ctx *c = p;
    uint64_t acc = 0;
    for (uint64_t i = 0; i < ops; i++, c->picks++) {
        unsigned k = (unsigned)(i & (NFLOWS - 1)), o = (unsigned)(c->picks & (OPEN - 1));
        if (c->picks >= OPEN)
            lb_chash_release(c->ring, c->open[o]);
        uint32_t id;
        uint16_t sport = (uint16_t)(c->sport[k] + (i >> 12));
        lb_chash_pick_bounded(c->ring,
                              lb_hash_flow4(c->src[k], c->dst[k], sport, c->dport[k], 6, 0),
                              LB_CHASH_DEFAULT_BALANCE, &id);
        c->open[o] = id;
        acc += id;
    }
    bench_sink = acc;
}

int main(int argc, char **argv)
{
    static const struct bench_case cases[] = {
        {"hash_flow4", "{}", NULL, setup_flows, run_hash, ctx_free},
        {"maglev_lookup_flow4", "{\"n\": 1000, \"m\": 65537}", "hash_flow4", setup_flows,
         run_lookup, ctx_free},
        {"hash_flow4_chain", "{}", NULL, setup_flows, run_hash_chain, ctx_free},
        {"maglev_lookup_flow4_chain", "{\"n\": 1000, \"m\": 65537}", "hash_flow4_chain",
         setup_flows, run_lookup_chain, ctx_free},
        {"paper_build_n10", "{\"n\": 10, \"m\": 65537}", NULL, setup_build_10, run_paper_build,
         ctx_free},
        {"maglev_build_n10", "{\"n\": 10, \"m\": 65537}", "paper_build_n10", setup_build_10,
         run_build, ctx_free},
        {"paper_build_n100", "{\"n\": 100, \"m\": 65537}", NULL, setup_build_100, run_paper_build,
         ctx_free},
        {"maglev_build_n100", "{\"n\": 100, \"m\": 65537}", "paper_build_n100", setup_build_100,
         run_build, ctx_free},
        {"paper_build_n1000", "{\"n\": 1000, \"m\": 65537}", NULL, setup_build_1000,
         run_paper_build, ctx_free},
        {"maglev_build_n1000", "{\"n\": 1000, \"m\": 65537}", "paper_build_n1000", setup_build_1000,
         run_build, ctx_free},
        {"paper_build_n10000", "{\"n\": 10000, \"m\": 655373}", NULL, setup_build_10000,
         run_paper_build, ctx_free},
        {"maglev_build_n10000", "{\"n\": 10000, \"m\": 655373}", "paper_build_n10000",
         setup_build_10000, run_build, ctx_free},
        {"chash_lookup_flow4", "{\"n\": 1000, \"points\": 160000}", "hash_flow4", setup_ring,
         run_ring_lookup, ctx_free},
        {"rendezvous_loop_n10", "{\"n\": 10}", NULL, setup_rdv_10, run_rdv_loop, ctx_free},
        {"rendezvous_lookup_n10", "{\"n\": 10}", "rendezvous_loop_n10", setup_rdv_10,
         run_rdv_lookup, ctx_free},
        {"maglev_lookup_n10", "{\"n\": 10, \"m\": 65537}", "rendezvous_lookup_n10",
         setup_rdv_10, run_maglev_hash_lookup, ctx_free},
        {"rendezvous_loop_n100", "{\"n\": 100}", NULL, setup_rdv_100, run_rdv_loop, ctx_free},
        {"rendezvous_lookup_n100", "{\"n\": 100}", "rendezvous_loop_n100", setup_rdv_100,
         run_rdv_lookup, ctx_free},
        {"maglev_lookup_n100", "{\"n\": 100, \"m\": 65537}", "rendezvous_lookup_n100",
         setup_rdv_100, run_maglev_hash_lookup, ctx_free},
        {"rendezvous_loop_n1000", "{\"n\": 1000}", NULL, setup_rdv_1000, run_rdv_loop, ctx_free},
        {"rendezvous_lookup_n1000", "{\"n\": 1000}", "rendezvous_loop_n1000", setup_rdv_1000,
         run_rdv_lookup, ctx_free},
        {"maglev_lookup_n1000", "{\"n\": 1000, \"m\": 65537}", "rendezvous_lookup_n1000",
         setup_rdv_1000, run_maglev_hash_lookup, ctx_free},
        {"rendezvous_build_n10", "{\"n\": 10}", "maglev_build_n10", setup_rdv_10, run_rdv_build,
         ctx_free},
        {"rendezvous_build_n100", "{\"n\": 100}", "maglev_build_n100", setup_rdv_100,
         run_rdv_build, ctx_free},
        {"rendezvous_build_n1000", "{\"n\": 1000}", "maglev_build_n1000", setup_rdv_1000,
         run_rdv_build, ctx_free},
        {"chash_pick_bounded_flow4", "{\"n\": 1000, \"points\": 160000, \"c\": 1.25}",
         "chash_lookup_flow4", setup_ring, run_ring_pick, ctx_free},
    };
    return bench_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
