/* Stateful selectors. WRR pick against nginx's O(n) smooth WRR; least-connections pick +
 * release (exact tree, scalable tree, two choices) against an O(n) scan over the same atomic
 * counts. "lc_p2c" is two choices in its scalable mode (LB_LEASTCONN_CHOICES_SCALABLE),
 * "lc_p2c_exact" on exact shared counts (LB_LEASTCONN_CHOICES, the balancer's p2c). "_2t" ("_4t", "_8t") cases run two (four, eight) threads inside the case, each doing
 * `ops` operations on the shared selector: their ns_per_op is wall time / ops, that is ns per
 * operation per thread. The nginx baseline's two threads each own a private copy (as nginx
 * workers do). The 4- and 8-thread cases have the same selector's 1-thread case as baseline:
 * their ratio is the cost of contention (on a 2-core machine, more threads than cores share
 * the cores: those cases show contention and time slicing, not parallel speed-up). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "lb/leastconn.h"
#include "lb/loads.h"
#include "lb/pool.h"
#include "lb/wrr.h"

#define HELD 4096 /* connections kept open per thread, released oldest first */

static uint64_t rnd(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static lb_pool *make_pool(uint32_t n)
{
    lb_pool *p;
    uint64_t s = 1;
    if (lb_pool_new(&p))
        abort();
    for (uint32_t i = 0; i < n; i++) {
        char key[16];
        int len = snprintf(key, sizeof(key), "t%u", i);
        if (lb_pool_add(p, i, key, (size_t)len, 1 + (uint32_t)(rnd(&s) % 100), 0))
            abort();
    }
    return p;
}

/* Two threads run @fn(ctx, ops) each. */
static void run_2t(void *(*fn)(void *), void *a, void *b)
{
    pthread_t t;
    if (pthread_create(&t, NULL, fn, a))
        abort();
    fn(b);
    pthread_join(t, NULL);
}

/* @n threads (this one included) run @fn on args[0..n). */
static void run_nt(void *(*fn)(void *), void **args, int n)
{
    pthread_t t[8];
    for (int k = 1; k < n; k++)
        if (pthread_create(&t[k], NULL, fn, args[k]))
            abort();
    fn(args[0]);
    for (int k = 1; k < n; k++)
        pthread_join(t[k], NULL);
}

/* ---- WRR ---- */

struct nginx_wrr {
    uint32_t n;
    int64_t total;
    int64_t *w, *cur;
    uint64_t ops;
};

static struct nginx_wrr *nginx_new(uint32_t n)
{
    struct nginx_wrr *g = calloc(1, sizeof(*g));
    g->n = n;
    g->w = malloc(n * sizeof(int64_t));
    g->cur = calloc(n, sizeof(int64_t));
    uint64_t s = 1;
    for (uint32_t i = 0; i < n; i++) {
        g->w[i] = 1 + (int64_t)(rnd(&s) % 100);
        g->total += g->w[i];
    }
    return g;
}

static uint32_t nginx_pick(struct nginx_wrr *g)
{
    uint32_t best = 0;
    int64_t bv = INT64_MIN;
    for (uint32_t i = 0; i < g->n; i++) {
        int64_t v = g->cur[i] += g->w[i];
        if (v > bv) {
            bv = v;
            best = i;
        }
    }
    g->cur[best] -= g->total;
    return best;
}

static void *nginx_loop(void *arg)
{
    struct nginx_wrr *g = arg;
    uint64_t acc = 0;
    for (uint64_t k = 0; k < g->ops; k++)
        acc += nginx_pick(g);
    bench_sink = acc;
    return NULL;
}

struct nginx_pair {
    struct nginx_wrr *a, *b;
};

static void nginx_free(struct nginx_wrr *g)
{
    free(g->w);
    free(g->cur);
    free(g);
}

#define NGINX_SETUP(N)                                                                             \
    static void *setup_nginx_##N(void)                                                             \
    {                                                                                              \
        struct nginx_pair *p = malloc(sizeof(*p));                                                 \
        p->a = nginx_new(N);                                                                       \
        p->b = nginx_new(N);                                                                       \
        return p;                                                                                  \
    }
NGINX_SETUP(10)
NGINX_SETUP(1000)
NGINX_SETUP(100000)

static void teardown_nginx(void *ctx)
{
    struct nginx_pair *p = ctx;
    nginx_free(p->a);
    nginx_free(p->b);
    free(p);
}

static void run_nginx(void *ctx, uint64_t ops)
{
    struct nginx_pair *p = ctx;
    p->a->ops = ops;
    nginx_loop(p->a);
}

static void run_nginx_2t(void *ctx, uint64_t ops)
{
    struct nginx_pair *p = ctx;
    p->a->ops = p->b->ops = ops;
    run_2t(nginx_loop, p->a, p->b);
}

struct wrr_ctx {
    lb_wrr *r;
    lb_pool *p;
    uint64_t ops;
};

#define WRR_SETUP(N)                                                                               \
    static void *setup_wrr_##N(void)                                                               \
    {                                                                                              \
        struct wrr_ctx *c = calloc(1, sizeof(*c));                                                 \
        c->p = make_pool(N);                                                                       \
        lb_wrr_options o = {.struct_size = sizeof(o), .seed = 42, .prev = NULL};                   \
        if (lb_wrr_new(&c->r, c->p, &o))                                                           \
            abort();                                                                               \
        return c;                                                                                  \
    }
WRR_SETUP(10)
WRR_SETUP(1000)
WRR_SETUP(100000)

static void teardown_wrr(void *ctx)
{
    struct wrr_ctx *c = ctx;
    lb_wrr_free(c->r);
    lb_pool_free(c->p);
    free(c);
}

static void *wrr_loop(void *arg)
{
    struct wrr_ctx *c = arg;
    uint64_t acc = 0;
    for (uint64_t k = 0; k < c->ops; k++) {
        uint32_t id;
        if (lb_wrr_pick(c->r, &id))
            abort();
        acc += id;
    }
    bench_sink = acc;
    return NULL;
}

static void run_wrr(void *ctx, uint64_t ops)
{
    struct wrr_ctx *c = ctx;
    c->ops = ops;
    wrr_loop(c);
}

static void run_wrr_2t(void *ctx, uint64_t ops)
{
    struct wrr_ctx *c = ctx;
    c->ops = ops;
    run_2t(wrr_loop, c, c);
}

#define WRR_NT(T)                                                                                  \
    static void run_wrr_##T##t(void *ctx, uint64_t ops)                                            \
    {                                                                                              \
        struct wrr_ctx *c = ctx;                                                                   \
        void *args[8] = {c, c, c, c, c, c, c, c};                                                  \
        c->ops = ops;                                                                              \
        run_nt(wrr_loop, args, T);                                                                 \
    }
WRR_NT(4)
WRR_NT(8)

/* ---- least connections ---- */

/* The baseline: an O(n) scan for the least (a+1)/w over the same kind of atomic counters. */
struct scan {
    uint32_t n;
    uint32_t *w;
    _Atomic uint32_t *active;
};

/* Each thread's state on cache lines of its own: a loop that wrote its `head` on the line
 * holding the next thread's `c` would measure false sharing in the harness. */
struct lc_thread {
    _Alignas(64) struct lc_ctx *c;
    uint32_t held[HELD];
    uint32_t head;
    uint64_t ops;
};

struct lc_ctx {
    uint32_t mode; /* 0 exact, 1 choices (exact counts), 2 scan, 3 scalable, 4 choices scalable */
    lb_pool *p;
    lb_loads *l;
    lb_leastconn *lc;
    struct scan s;
    struct lc_thread t[8];
};

static uint32_t scan_pick(struct scan *s)
{
    uint32_t best = 0, ba = atomic_load_explicit(&s->active[0], memory_order_relaxed);
    for (uint32_t i = 1; i < s->n; i++) {
        uint32_t a = atomic_load_explicit(&s->active[i], memory_order_relaxed);
        if (((uint64_t)a + 1) * s->w[best] < ((uint64_t)ba + 1) * s->w[i]) {
            best = i;
            ba = a;
        }
    }
    atomic_fetch_add_explicit(&s->active[best], 1, memory_order_relaxed);
    return best;
}

static uint32_t lc_pick(struct lc_ctx *c)
{
    if (c->mode == 2)
        return scan_pick(&c->s);
    uint32_t id;
    if (lb_leastconn_pick(c->lc, &id))
        abort();
    return id;
}

static void lc_release(struct lc_ctx *c, uint32_t id)
{
    if (c->mode == 2)
        atomic_fetch_sub_explicit(&c->s.active[id], 1, memory_order_relaxed);
    else if (lb_leastconn_release(c->lc, id))
        abort();
}

static void *lc_setup_nt(uint32_t mode, uint32_t n, int threads);

static void *lc_setup(uint32_t mode, uint32_t n)
{
    return lc_setup_nt(mode, n, 2);
}

static void *lc_setup_nt(uint32_t mode, uint32_t n, int threads)
{
    struct lc_ctx *c = aligned_alloc(64, (sizeof(*c) + 63) & ~(size_t)63);
    memset(c, 0, sizeof(*c));
    c->mode = mode;
    c->p = make_pool(n);
    if (mode == 2) {
        c->s.n = n;
        c->s.w = malloc(n * sizeof(uint32_t));
        c->s.active = calloc(n, sizeof(*c->s.active));
        for (uint32_t i = 0; i < n; i++) {
            lb_target_info ti = {sizeof(ti), 0, 0, 0, NULL, 0};
            if (lb_pool_at(c->p, i, &ti))
                abort();
            c->s.w[i] = ti.weight;
        }
    } else {
        static const uint32_t lc_mode[] = {LB_LEASTCONN_EXACT, LB_LEASTCONN_CHOICES, 0,
                                           LB_LEASTCONN_SCALABLE, LB_LEASTCONN_CHOICES_SCALABLE};
        lb_leastconn_options o = {sizeof(o), lc_mode[mode], 2, 0, 7};
        /* Least connections alone needs no running total (bounded-load hashing does). */
        if (lb_loads_new_ex(&c->l, n, LB_LOADS_NO_TOTAL) ||
            lb_leastconn_new(&c->lc, c->p, c->l, &o))
            abort();
    }
    for (int t = 0; t < threads; t++) { /* a steady state: HELD connections open per thread */
        c->t[t].c = c;
        for (uint32_t k = 0; k < HELD; k++)
            c->t[t].held[k] = lc_pick(c);
    }
    return c;
}

static void lc_teardown(void *ctx)
{
    struct lc_ctx *c = ctx;
    lb_leastconn_free(c->lc);
    lb_loads_free(c->l);
    lb_pool_free(c->p);
    free(c->s.w);
    free(c->s.active);
    free(c);
}

static void *lc_loop(void *arg)
{
    struct lc_thread *t = arg;
    for (uint64_t k = 0; k < t->ops; k++) {
        uint32_t old = t->held[t->head];
        t->held[t->head] = lc_pick(t->c);
        lc_release(t->c, old);
        t->head = (t->head + 1) % HELD;
    }
    return NULL;
}

static void run_lc(void *ctx, uint64_t ops)
{
    struct lc_ctx *c = ctx;
    c->t[0].ops = ops;
    lc_loop(&c->t[0]);
}

static void run_lc_2t(void *ctx, uint64_t ops)
{
    struct lc_ctx *c = ctx;
    c->t[0].ops = c->t[1].ops = ops;
    run_2t(lc_loop, &c->t[0], &c->t[1]);
}

#define LC_NT(T)                                                                                   \
    static void run_lc_##T##t(void *ctx, uint64_t ops)                                             \
    {                                                                                              \
        struct lc_ctx *c = ctx;                                                                    \
        void *args[8];                                                                             \
        for (int k = 0; k < T; k++) {                                                              \
            c->t[k].ops = ops;                                                                     \
            args[k] = &c->t[k];                                                                    \
        }                                                                                          \
        run_nt(lc_loop, args, T);                                                                  \
    }
LC_NT(4)
LC_NT(8)

#define LC_SETUP_NT(NAME, MODE, T)                                                                 \
    static void *setup_##NAME##_##T##t_1000(void)                                                  \
    {                                                                                              \
        return lc_setup_nt(MODE, 1000, T);                                                         \
    }
LC_SETUP_NT(exact, 0, 4)
LC_SETUP_NT(exact, 0, 8)
LC_SETUP_NT(p2c, 4, 4)
LC_SETUP_NT(p2c, 4, 8)
LC_SETUP_NT(p2c_exact, 1, 4)
LC_SETUP_NT(p2c_exact, 1, 8)
LC_SETUP_NT(scalable, 3, 4)
LC_SETUP_NT(scalable, 3, 8)

#define LC_SETUP(NAME, MODE, N)                                                                    \
    static void *setup_##NAME##_##N(void)                                                          \
    {                                                                                              \
        return lc_setup(MODE, N);                                                                  \
    }
LC_SETUP(exact, 0, 10)
LC_SETUP(exact, 0, 1000)
LC_SETUP(exact, 0, 100000)
LC_SETUP(p2c, 4, 10)
LC_SETUP(p2c, 4, 1000)
LC_SETUP(p2c, 4, 100000)
LC_SETUP(p2c_exact, 1, 10)
LC_SETUP(p2c_exact, 1, 1000)
LC_SETUP(p2c_exact, 1, 100000)
LC_SETUP(scalable, 3, 1000)
LC_SETUP(scan, 2, 10)
LC_SETUP(scan, 2, 1000)
LC_SETUP(scan, 2, 100000)

#define P1(N) "{\"n\": " #N ", \"threads\": 1}"
#define P2(N) "{\"n\": " #N ", \"threads\": 2, \"unit\": \"ns per op per thread\"}"
#define PT(N, T) "{\"n\": " #N ", \"threads\": " #T ", \"unit\": \"ns per op per thread\"}"

int main(int argc, char **argv)
{
    static const struct bench_case cases[] = {
        {"nginx_swrr_n10", P1(10), NULL, setup_nginx_10, run_nginx, teardown_nginx},
        {"nginx_swrr_n1000", P1(1000), NULL, setup_nginx_1000, run_nginx, teardown_nginx},
        {"nginx_swrr_n100000", P1(100000), NULL, setup_nginx_100000, run_nginx, teardown_nginx},
        {"nginx_swrr_2t_n1000", P2(1000), NULL, setup_nginx_1000, run_nginx_2t, teardown_nginx},
        {"wrr_pick_n10", P1(10), "nginx_swrr_n10", setup_wrr_10, run_wrr, teardown_wrr},
        {"wrr_pick_n1000", P1(1000), "nginx_swrr_n1000", setup_wrr_1000, run_wrr, teardown_wrr},
        {"wrr_pick_n100000", P1(100000), "nginx_swrr_n100000", setup_wrr_100000, run_wrr,
         teardown_wrr},
        {"wrr_pick_2t_n1000", P2(1000), "nginx_swrr_2t_n1000", setup_wrr_1000, run_wrr_2t,
         teardown_wrr},
        {"wrr_pick_2t_n100000", P2(100000), "nginx_swrr_2t_n1000", setup_wrr_100000, run_wrr_2t,
         teardown_wrr},
        {"lc_scan_n10", P1(10), NULL, setup_scan_10, run_lc, lc_teardown},
        {"lc_scan_n1000", P1(1000), NULL, setup_scan_1000, run_lc, lc_teardown},
        {"lc_scan_n100000", P1(100000), NULL, setup_scan_100000, run_lc, lc_teardown},
        {"lc_scan_2t_n1000", P2(1000), NULL, setup_scan_1000, run_lc_2t, lc_teardown},
        {"lc_exact_n10", P1(10), "lc_scan_n10", setup_exact_10, run_lc, lc_teardown},
        {"lc_exact_n1000", P1(1000), "lc_scan_n1000", setup_exact_1000, run_lc, lc_teardown},
        {"lc_exact_n100000", P1(100000), "lc_scan_n100000", setup_exact_100000, run_lc,
         lc_teardown},
        {"lc_exact_2t_n1000", P2(1000), "lc_scan_2t_n1000", setup_exact_1000, run_lc_2t,
         lc_teardown},
        {"lc_p2c_n10", P1(10), "lc_scan_n10", setup_p2c_10, run_lc, lc_teardown},
        {"lc_p2c_n1000", P1(1000), "lc_scan_n1000", setup_p2c_1000, run_lc, lc_teardown},
        {"lc_p2c_n100000", P1(100000), "lc_scan_n100000", setup_p2c_100000, run_lc, lc_teardown},
        {"lc_p2c_2t_n1000", P2(1000), "lc_scan_2t_n1000", setup_p2c_1000, run_lc_2t, lc_teardown},
        {"lc_p2c_exact_n10", P1(10), "lc_scan_n10", setup_p2c_exact_10, run_lc, lc_teardown},
        {"lc_p2c_exact_n1000", P1(1000), "lc_scan_n1000", setup_p2c_exact_1000, run_lc,
         lc_teardown},
        {"lc_p2c_exact_n100000", P1(100000), "lc_scan_n100000", setup_p2c_exact_100000, run_lc,
         lc_teardown},
        {"lc_p2c_exact_2t_n1000", P2(1000), "lc_scan_2t_n1000", setup_p2c_exact_1000, run_lc_2t,
         lc_teardown},
        {"lc_scalable_n1000", P1(1000), "lc_scan_n1000", setup_scalable_1000, run_lc,
         lc_teardown},
        {"lc_scalable_2t_n1000", P2(1000), "lc_scan_2t_n1000", setup_scalable_1000, run_lc_2t,
         lc_teardown},
        {"wrr_pick_4t_n1000", PT(1000, 4), "wrr_pick_n1000", setup_wrr_1000, run_wrr_4t,
         teardown_wrr},
        {"wrr_pick_8t_n1000", PT(1000, 8), "wrr_pick_n1000", setup_wrr_1000, run_wrr_8t,
         teardown_wrr},
        {"lc_exact_4t_n1000", PT(1000, 4), "lc_exact_n1000", setup_exact_4t_1000, run_lc_4t,
         lc_teardown},
        {"lc_exact_8t_n1000", PT(1000, 8), "lc_exact_n1000", setup_exact_8t_1000, run_lc_8t,
         lc_teardown},
        {"lc_p2c_4t_n1000", PT(1000, 4), "lc_p2c_n1000", setup_p2c_4t_1000, run_lc_4t,
         lc_teardown},
        {"lc_p2c_8t_n1000", PT(1000, 8), "lc_p2c_n1000", setup_p2c_8t_1000, run_lc_8t,
         lc_teardown},
        {"lc_p2c_exact_4t_n1000", PT(1000, 4), "lc_p2c_exact_n1000", setup_p2c_exact_4t_1000,
         run_lc_4t, lc_teardown},
        {"lc_p2c_exact_8t_n1000", PT(1000, 8), "lc_p2c_exact_n1000", setup_p2c_exact_8t_1000,
         run_lc_8t, lc_teardown},
        {"lc_scalable_4t_n1000", PT(1000, 4), "lc_scalable_n1000", setup_scalable_4t_1000,
         run_lc_4t, lc_teardown},
        {"lc_scalable_8t_n1000", PT(1000, 8), "lc_scalable_n1000", setup_scalable_8t_1000,
         run_lc_8t, lc_teardown},
    };
    return bench_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
