/* The balancer's pick + release against the bare selector it wraps, in the same run: Maglev
 * (pick + release against lb_maglev_lookup) and least connections (against
 * lb_leastconn_pick + lb_leastconn_release), at N = 100 and 1000 targets, single-threaded and
 * with 2 threads. The difference is the cost of the snapshot scheme (two reader-counter
 * updates), the id -> slot map, the connection count and the pick counter. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "lb/balancer.h"
#include "lb/leastconn.h"
#include "lb/loads.h"
#include "lb/maglev.h"
#include "lb/pool.h"

#define NHASH 4096

struct ctx {
    uint32_t n;
    uint32_t threads;
    uint64_t hashes[NHASH];
    lb_pool *pool;
    lb_maglev *maglev;
    lb_loads *loads;
    lb_leastconn *lc;
    lb_balancer *b;
};

static void fill_pool(struct ctx *c)
{
    if (lb_pool_new(&c->pool))
        abort();
    for (uint32_t i = 0; i < c->n; i++) {
        char key[32];
        snprintf(key, sizeof(key), "10.0.%u.%u:8080", i / 256, i % 256);
        if (lb_pool_add(c->pool, i + 1, key, strlen(key), 1, 0))
            abort();
    }
    uint64_t s = 1234;
    for (int i = 0; i < NHASH; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        c->hashes[i] = s ^ (s >> 29);
    }
}

static struct ctx *new_ctx(uint32_t n, uint32_t threads)
{
    struct ctx *c = calloc(1, sizeof(*c));
    if (!c)
        abort();
    c->n = n;
    c->threads = threads;
    fill_pool(c);
    return c;
}

static struct ctx *with_balancer(struct ctx *c, uint32_t algorithm)
{
    lb_balancer_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.struct_size = sizeof(cfg);
    cfg.algorithm = algorithm;
    if (lb_balancer_new(&c->b, &cfg))
        abort();
    lb_target_info ti = {.struct_size = sizeof(ti)};
    for (uint32_t i = 0; i < c->n; i++) {
        if (lb_pool_at(c->pool, i, &ti) ||
            lb_balancer_add(c->b, ti.id, ti.key, ti.key_len, 1, 0, 0, 0))
            abort();
    }
    return c;
}

static void teardown(void *p)
{
    struct ctx *c = p;
    lb_balancer_free(c->b);
    lb_leastconn_free(c->lc);
    lb_loads_free(c->loads);
    lb_maglev_free(c->maglev);
    lb_pool_free(c->pool);
    free(c);
}

/* ---- the loops ---- */

static void loop_bare_maglev(struct ctx *c, uint64_t ops)
{
    uint64_t acc = 0;
    for (uint64_t i = 0; i < ops; i++)
        acc += lb_maglev_lookup(c->maglev, c->hashes[i & (NHASH - 1)]);
    bench_sink = acc;
}

static void loop_bare_leastconn(struct ctx *c, uint64_t ops)
{
    uint64_t acc = 0;
    uint32_t id;
    for (uint64_t i = 0; i < ops; i++) {
        if (lb_leastconn_pick(c->lc, &id) == 0) {
            acc += id;
            lb_leastconn_release(c->lc, id);
        }
    }
    bench_sink = acc;
}

static void loop_balancer(struct ctx *c, uint64_t ops)
{
    uint64_t acc = 0;
    uint32_t id;
    for (uint64_t i = 0; i < ops; i++) {
        if (lb_balancer_pick(c->b, c->hashes[i & (NHASH - 1)], &id) == 0) {
            acc += id;
            lb_balancer_release(c->b, id, 0);
        }
    }
    bench_sink = acc;
}

struct job {
    struct ctx *c;
    void (*loop)(struct ctx *, uint64_t);
    uint64_t ops;
};

static void *job_main(void *p)
{
    struct job *j = p;
    j->loop(j->c, j->ops);
    return NULL;
}

/* Run @loop for @ops operations in all, split over the context's threads. */
static void run_threads(struct ctx *c, void (*loop)(struct ctx *, uint64_t), uint64_t ops)
{
    if (c->threads <= 1) {
        loop(c, ops);
        return;
    }
    pthread_t t[8];
    struct job j[8];
    for (uint32_t i = 0; i < c->threads; i++) {
        j[i] = (struct job){c, loop, ops / c->threads};
        if (pthread_create(&t[i], NULL, job_main, &j[i]))
            abort();
    }
    for (uint32_t i = 0; i < c->threads; i++)
        pthread_join(t[i], NULL);
}

static void run_bare_maglev(void *p, uint64_t ops)
{
    run_threads(p, loop_bare_maglev, ops);
}

static void run_bare_leastconn(void *p, uint64_t ops)
{
    run_threads(p, loop_bare_leastconn, ops);
}

static void run_balancer(void *p, uint64_t ops)
{
    run_threads(p, loop_balancer, ops);
}

/* ---- setups ---- */

static struct ctx *bare_maglev(uint32_t n, uint32_t threads)
{
    struct ctx *c = new_ctx(n, threads);
    if (lb_maglev_build(&c->maglev, c->pool, LB_MAGLEV_DEFAULT_SIZE))
        abort();
    return c;
}

static struct ctx *bare_leastconn(uint32_t n, uint32_t threads)
{
    struct ctx *c = new_ctx(n, threads);
    if (lb_loads_new(&c->loads, n) || lb_leastconn_new(&c->lc, c->pool, c->loads, NULL))
        abort();
    return c;
}

#define SETUPS(N, T)                                                                               \
    static void *bare_maglev_##N##_##T(void)                                                       \
    {                                                                                              \
        return bare_maglev(N, T);                                                                  \
    }                                                                                              \
    static void *bal_maglev_##N##_##T(void)                                                        \
    {                                                                                              \
        return with_balancer(new_ctx(N, T), LB_ALG_MAGLEV);                                        \
    }                                                                                              \
    static void *bare_leastconn_##N##_##T(void)                                                    \
    {                                                                                              \
        return bare_leastconn(N, T);                                                               \
    }                                                                                              \
    static void *bal_leastconn_##N##_##T(void)                                                     \
    {                                                                                              \
        return with_balancer(new_ctx(N, T), LB_ALG_LEASTCONN);                                     \
    }

SETUPS(100, 1)
SETUPS(1000, 1)
SETUPS(100, 2)
SETUPS(1000, 2)

#define CASES(N, T)                                                                                \
    {"maglev_lookup_n" #N "_t" #T,                                                                 \
     "{\"n\": " #N ", \"threads\": " #T "}",                                                       \
     NULL,                                                                                         \
     bare_maglev_##N##_##T,                                                                        \
     run_bare_maglev,                                                                              \
     teardown},                                                                                    \
        {"balancer_maglev_n" #N "_t" #T,                                                           \
         "{\"n\": " #N ", \"threads\": " #T "}",                                                   \
         "maglev_lookup_n" #N "_t" #T,                                                             \
         bal_maglev_##N##_##T,                                                                     \
         run_balancer,                                                                             \
         teardown},                                                                                \
        {"leastconn_pick_release_n" #N "_t" #T,                                                    \
         "{\"n\": " #N ", \"threads\": " #T "}",                                                   \
         NULL,                                                                                     \
         bare_leastconn_##N##_##T,                                                                 \
         run_bare_leastconn,                                                                       \
         teardown},                                                                                \
    {                                                                                              \
        "balancer_leastconn_n" #N "_t" #T, "{\"n\": " #N ", \"threads\": " #T "}",                 \
            "leastconn_pick_release_n" #N "_t" #T, bal_leastconn_##N##_##T, run_balancer, teardown \
    }

int main(int argc, char **argv)
{
    static const struct bench_case cases[] = {
        CASES(100, 1),
        CASES(1000, 1),
        CASES(100, 2),
        CASES(1000, 2),
    };
    return bench_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
