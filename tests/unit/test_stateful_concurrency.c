/* Many threads at once: least-connections picks and releases keep exact counts (exact and
 * choices modes; the scalable modes within their bound), WRR tickets hand out exactly the single-threaded schedule, and a rebuild from a
 * selector that is being picked from is safe. Run it alone under ThreadSanitizer:
 * `meson test -C build-tsan stateful_concurrency`. */
#include <pthread.h>
#include <string.h>

#include "lbtest.h"
#include "lb/leastconn.h"
#include "lb/loads.h"
#include "lb/pool.h"
#include "lb/wrr.h"

#define THREADS        4
#define N              40
#define OPS_PER_THREAD 250000 /* 4 x 250,000 picks and as many releases */
#define HOLD           16

static lb_pool *make_pool(size_t n, uint32_t wmax, uint64_t seed)
{
    lb_pool *p;
    assert_lb_ok(lb_pool_new(&p));
    for (size_t i = 0; i < n; i++) {
        char key[32];
        int len = snprintf(key, sizeof(key), "t%zu", i);
        assert_lb_ok(lb_pool_add(p, (uint32_t)i, key, (size_t)len,
                                 1 + (uint32_t)(lbt_rand(&seed) % wmax), 0));
    }
    return p;
}

struct lc_worker {
    lb_leastconn *lc;
    uint64_t seed;
    uint32_t held[HOLD]; /* connections still open at the end */
    uint32_t nheld;
    int errors;
};

static void *lc_run(void *arg)
{
    struct lc_worker *w = arg;
    for (int k = 0; k < OPS_PER_THREAD; k++) {
        uint32_t id;
        if (lb_leastconn_pick(w->lc, &id)) {
            w->errors++;
            continue;
        }
        if (w->nheld == HOLD) { /* close a random open connection */
            uint32_t j = (uint32_t)(lbt_rand(&w->seed) % HOLD);
            if (lb_leastconn_release(w->lc, w->held[j]))
                w->errors++;
            w->held[j] = id;
        } else {
            w->held[w->nheld++] = id;
        }
        if (k % 1000 == 0) /* drain and restore a target while others pick */
            lb_leastconn_set_excluded(w->lc, (uint32_t)(k / 1000) % N, (k / 1000) % 2);
    }
    return NULL;
}

/* Runs THREADS lc_run workers on @lc to the end; @a[i] gets the connections they still hold
 * on target i (and the return value their total). */
static uint64_t run_lc_workers(lb_leastconn *lc, uint64_t seed0, uint32_t *a)
{
    struct lc_worker w[THREADS];
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++) {
        memset(&w[t], 0, sizeof(w[t]));
        w[t].lc = lc;
        w[t].seed = seed0 + (uint64_t)t;
        assert_int_equal(pthread_create(&th[t], NULL, lc_run, &w[t]), 0);
    }
    uint64_t total = 0;
    for (int t = 0; t < THREADS; t++) {
        assert_int_equal(pthread_join(th[t], NULL), 0);
        assert_int_equal(w[t].errors, 0);
        for (uint32_t j = 0; j < w[t].nheld; j++) {
            a[w[t].held[j]]++;
            total++;
        }
    }
    return total;
}

static void leastconn_counts_exact(void **state)
{
    (void)state;
    for (uint32_t mode = 0; mode <= 1; mode++) {
        lb_pool *p = make_pool(N, 8, 3);
        lb_loads *l;
        assert_lb_ok(lb_loads_new(&l, N));
        lb_leastconn_options o = {sizeof(o), mode, 2, 0, 17};
        lb_leastconn *lc;
        assert_lb_ok(lb_leastconn_new(&lc, p, l, &o));
        uint32_t expect[N] = {0};
        uint64_t total = run_lc_workers(lc, 1, expect);
        for (uint32_t i = 0; i < N; i++) {
            uint32_t a, slot;
            assert_lb_ok(lb_leastconn_active(lc, i, &a));
            assert_int_equal(a, expect[i]);
            assert_lb_ok(lb_loads_slot(l, i, &slot));
            assert_int_equal(lb_loads_get(l, slot), expect[i]);
        }
        assert_int_equal(lb_loads_total(l), total);
        /* Quiescent again: with everything included, the exact pick is the true minimum. */
        for (uint32_t i = 0; i < N; i++)
            assert_lb_ok(lb_leastconn_set_excluded(lc, i, 0));
        if (mode == LB_LEASTCONN_EXACT) {
            uint32_t id, best = 0;
            lb_target_info ti = {sizeof(ti), 0, 0, 0, NULL, 0}, tb = ti;
            for (uint32_t i = 1; i < N; i++) {
                assert_lb_ok(lb_pool_get(p, i, &ti));
                assert_lb_ok(lb_pool_get(p, best, &tb));
                if (((uint64_t)expect[i] + 1) * tb.weight <
                    ((uint64_t)expect[best] + 1) * ti.weight)
                    best = i;
            }
            assert_lb_ok(lb_leastconn_pick(lc, &id));
            assert_lb_ok(lb_pool_get(p, id, &ti));
            assert_lb_ok(lb_pool_get(p, best, &tb));
            assert_true(((uint64_t)expect[id] + 1) * tb.weight ==
                        ((uint64_t)expect[best] + 1) * ti.weight);
        }
        lb_leastconn_free(lc);
        lb_loads_free(l);
        lb_pool_free(p);
    }
}

/* The scalable modes' documented bound: pick i is no further than B from the best of @a. */
static int within_bound(const uint32_t *a, const uint32_t *w, uint32_t n, uint32_t i, uint64_t b)
{
    for (uint32_t j = 0; j < n; j++)
        if (((uint64_t)a[i] + 1) * w[j] > ((uint64_t)a[j] + 1) * w[i] + b * w[j] + b * w[i])
            return 0;
    return 1;
}

/* Runs THREADS workers on a scalable-mode selector built with @o, then checks at the quiescent
 * point: every true count exact, every published count (the lb_loads table) within B = stripes
 * x batch of it; then 4N picks from this thread, each within the documented bound when @bounded
 * (the pick sees every target), and the true counts exact again. */
static void scalable_run_and_check(lb_leastconn_options o, uint64_t seed, int bounded)
{
    lb_pool *p = make_pool(N, 8, seed);
    lb_loads *l;
    assert_lb_ok(lb_loads_new(&l, N));
    lb_leastconn *lc;
    assert_lb_ok(lb_leastconn_new(&lc, p, l, &o));
    uint32_t a[N] = {0}, wt[N];
    (void)run_lc_workers(lc, seed + 2, a);
    const uint64_t b = (uint64_t)(THREADS + 1) * LB_LEASTCONN_SCALABLE_BATCH;
    lb_target_info ti = {sizeof(ti), 0, 0, 0, NULL, 0};
    for (uint32_t i = 0; i < N; i++) {
        uint32_t act, slot;
        assert_lb_ok(lb_pool_get(p, i, &ti));
        wt[i] = ti.weight;
        assert_lb_ok(lb_leastconn_set_excluded(lc, i, 0));
        assert_lb_ok(lb_leastconn_active(lc, i, &act));
        assert_int_equal(act, a[i]); /* the true count, exact */
        assert_lb_ok(lb_loads_slot(l, i, &slot));
        uint32_t pub = lb_loads_get(l, slot);
        assert_true(pub + b >= a[i] && pub <= a[i] + b);
    }
    for (int k = 0; k < 4 * N; k++) {
        uint32_t id;
        assert_lb_ok(lb_leastconn_pick(lc, &id));
        if (bounded)
            assert_true(within_bound(a, wt, N, id, b));
        a[id]++;
    }
    for (uint32_t i = 0; i < N; i++) {
        uint32_t act;
        assert_lb_ok(lb_leastconn_active(lc, i, &act));
        assert_int_equal(act, a[i]);
    }
    lb_leastconn_free(lc);
    lb_loads_free(l);
    lb_pool_free(p);
}

static void scalable_concurrency_bound(void **state)
{
    (void)state;
    lb_leastconn_options o = {sizeof(o), LB_LEASTCONN_SCALABLE, 0, 0, 3};
    scalable_run_and_check(o, 5, 1);
}

/* Scalable choices, sampling two targets and then scanning the pool (pools of up to N targets
 * scanned in full): the same checks; the bound on this thread's picks is checked for the
 * scanning selector (a sampling selector's bound is over its two samples, which a caller does
 * not see). */
static void choices_scalable_concurrency_bound(void **state)
{
    (void)state;
    for (uint32_t scan = 0; scan <= 1; scan++) {
        lb_leastconn_options o = {sizeof(o), LB_LEASTCONN_CHOICES_SCALABLE, 2, scan ? N : 0, 5};
        scalable_run_and_check(o, 11 + scan, (int)scan);
    }
}

struct churn_worker {
    lb_leastconn *lc;
    uint64_t seed;
    uint32_t held[HOLD];
    uint32_t head; /* fifo workers release their oldest connection (held[head]) */
    int fifo;
    int errors;
};

static void *churn_run(void *arg)
{
    struct churn_worker *w = arg;
    for (int k = 0; k < OPS_PER_THREAD / 5; k++) { /* keep HOLD open, release one */
        uint32_t j = w->fifo ? w->head : (uint32_t)(lbt_rand(&w->seed) % HOLD), id;
        w->head = (w->head + 1) % HOLD;
        if (lb_leastconn_pick(w->lc, &id) || lb_leastconn_release(w->lc, w->held[j]))
            w->errors++;
        else
            w->held[j] = id;
    }
    return NULL;
}

/* No drains this time, so nothing re-propagates afterwards: right after the threads stop, the
 * tree itself (with the parked release) must name a true minimum (no refresh lost to a
 * concurrent one), round after round, on a table without a running total. Half the workers
 * release their oldest connection first (the pattern that parks releases), half a random one.
 * After each round, a run of single-threaded picks must each take a least-loaded target. */
static void exact_tree_consistent(void **state)
{
    (void)state;
    lb_pool *p = make_pool(N, 8, 5);
    lb_loads *l;
    assert_lb_ok(lb_loads_new_ex(&l, N, LB_LOADS_NO_TOTAL));
    lb_leastconn_options o = {sizeof(o), LB_LEASTCONN_EXACT, 2, 0, 0};
    lb_leastconn *lc;
    assert_lb_ok(lb_leastconn_new(&lc, p, l, &o));
    struct churn_worker w[THREADS];
    for (int t = 0; t < THREADS; t++) {
        w[t].lc = lc;
        w[t].seed = 100 + (uint64_t)t;
        w[t].errors = 0;
        w[t].head = 0;
        w[t].fifo = t % 2;
        for (uint32_t j = 0; j < HOLD; j++)
            assert_lb_ok(lb_leastconn_pick(lc, &w[t].held[j]));
    }
    for (int round = 0; round < 5; round++) {
        pthread_t th[THREADS];
        for (int t = 0; t < THREADS; t++)
            assert_int_equal(pthread_create(&th[t], NULL, churn_run, &w[t]), 0);
        for (int t = 0; t < THREADS; t++) {
            assert_int_equal(pthread_join(th[t], NULL), 0);
            assert_int_equal(w[t].errors, 0);
        }
        uint32_t expect[N] = {0}, best = 0;
        for (int t = 0; t < THREADS; t++)
            for (uint32_t j = 0; j < HOLD; j++)
                expect[w[t].held[j]]++;
        lb_target_info ti = {sizeof(ti), 0, 0, 0, NULL, 0}, tb = ti;
        for (uint32_t i = 0; i < N; i++) {
            uint32_t a;
            assert_lb_ok(lb_leastconn_active(lc, i, &a));
            assert_int_equal(a, expect[i]);
            assert_lb_ok(lb_pool_get(p, i, &ti));
            assert_lb_ok(lb_pool_get(p, best, &tb));
            if (((uint64_t)expect[i] + 1) * tb.weight < ((uint64_t)expect[best] + 1) * ti.weight)
                best = i;
        }
        uint32_t id;
        assert_lb_ok(lb_leastconn_pick(lc, &id)); /* the tree's choice, then put it back */
        assert_lb_ok(lb_pool_get(p, id, &ti));
        assert_lb_ok(lb_pool_get(p, best, &tb));
        assert_true(((uint64_t)expect[id] + 1) * tb.weight ==
                    ((uint64_t)expect[best] + 1) * ti.weight);
        assert_lb_ok(lb_leastconn_release(lc, id));
        uint32_t extra[2 * N];
        for (uint32_t k = 0; k < 2 * N; k++) { /* more picks: each one a least-loaded target */
            assert_lb_ok(lb_leastconn_pick(lc, &extra[k]));
            assert_lb_ok(lb_pool_get(p, extra[k], &ti));
            for (uint32_t i = 0; i < N; i++) {
                assert_lb_ok(lb_pool_get(p, i, &tb));
                assert_true(((uint64_t)expect[extra[k]] + 1) * tb.weight <=
                            ((uint64_t)expect[i] + 1) * ti.weight);
            }
            expect[extra[k]]++;
        }
        for (uint32_t k = 0; k < 2 * N; k++)
            assert_lb_ok(lb_leastconn_release(lc, extra[k]));
    }
    assert_int_equal(lb_loads_total(l), THREADS * HOLD);
    lb_leastconn_free(lc);
    lb_loads_free(l);
    lb_pool_free(p);
}

struct wrr_worker {
    lb_wrr *r;
    uint64_t counts[N];
    int errors;
};

static void *wrr_run(void *arg)
{
    struct wrr_worker *w = arg;
    for (int k = 0; k < OPS_PER_THREAD; k++) {
        uint32_t id;
        if (lb_wrr_pick(w->r, &id) || id >= N)
            w->errors++;
        else
            w->counts[id]++;
    }
    return NULL;
}

struct rebuilder {
    lb_wrr *r;
    const lb_pool *p;
    int errors;
};

static void *wrr_rebuild(void *arg)
{
    struct rebuilder *b = arg;
    for (int k = 0; k < 50; k++) {
        lb_wrr_options o = {.struct_size = sizeof(o), .seed = 0, .prev = b->r};
        lb_wrr *next;
        if (lb_wrr_new(&next, b->p, &o))
            b->errors++;
        else
            lb_wrr_free(next);
    }
    return NULL;
}

static void wrr_tickets_exact(void **state)
{
    (void)state;
    lb_pool *p = make_pool(N, 1000, 9);
    lb_wrr_options o = {.struct_size = sizeof(o), .seed = 12345, .prev = NULL};
    lb_wrr *r, *ref;
    assert_lb_ok(lb_wrr_new(&r, p, &o));
    assert_lb_ok(lb_wrr_new(&ref, p, &o));
    struct wrr_worker w[THREADS];
    pthread_t th[THREADS + 1];
    struct rebuilder b = {r, p, 0};
    for (int t = 0; t < THREADS; t++) {
        memset(&w[t], 0, sizeof(w[t]));
        w[t].r = r;
        assert_int_equal(pthread_create(&th[t], NULL, wrr_run, &w[t]), 0);
    }
    assert_int_equal(pthread_create(&th[THREADS], NULL, wrr_rebuild, &b), 0);
    uint64_t got[N] = {0}, want[N] = {0};
    for (int t = 0; t < THREADS; t++) {
        assert_int_equal(pthread_join(th[t], NULL), 0);
        assert_int_equal(w[t].errors, 0);
        for (int i = 0; i < N; i++)
            got[i] += w[t].counts[i];
    }
    assert_int_equal(pthread_join(th[THREADS], NULL), 0);
    assert_int_equal(b.errors, 0);
    /* Together the threads took exactly the first THREADS * OPS + skipped entries of the
     * schedule, less the skipped ones (a picker descheduled for a whole ring of chunks). */
    uint64_t skipped = lb_wrr_skipped(r), missing = 0;
    print_message("wrr: %llu of %d tickets skipped\n", (unsigned long long)skipped,
                  THREADS * OPS_PER_THREAD);
    for (uint64_t k = 0; k < THREADS * OPS_PER_THREAD + skipped; k++) {
        uint32_t id;
        assert_lb_ok(lb_wrr_pick(ref, &id));
        want[id]++;
    }
    for (int i = 0; i < N; i++) {
        assert_true(got[i] <= want[i]);
        missing += want[i] - got[i];
    }
    assert_int_equal(missing, skipped);
    /* ... and a rebuild now continues where both stand. */
    lb_wrr_options c = {.struct_size = sizeof(c), .seed = 0, .prev = r};
    lb_wrr *next;
    assert_lb_ok(lb_wrr_new(&next, p, &c));
    for (int k = 0; k < 5000; k++) {
        uint32_t a, e;
        assert_lb_ok(lb_wrr_pick(next, &a));
        assert_lb_ok(lb_wrr_pick(ref, &e));
        assert_int_equal(a, e);
    }
    lb_wrr_free(next);
    lb_wrr_free(r);
    lb_wrr_free(ref);
    lb_pool_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(leastconn_counts_exact),
        cmocka_unit_test(exact_tree_consistent),
        cmocka_unit_test(wrr_tickets_exact),
        cmocka_unit_test(scalable_concurrency_bound),
        cmocka_unit_test(choices_scalable_concurrency_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
