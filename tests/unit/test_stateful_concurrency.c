/* Many threads at once: least-connections picks and releases keep exact counts (both
 * modes), WRR tickets hand out exactly the single-threaded schedule, and a rebuild from a
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
        struct lc_worker w[THREADS];
        pthread_t th[THREADS];
        for (int t = 0; t < THREADS; t++) {
            memset(&w[t], 0, sizeof(w[t]));
            w[t].lc = lc;
            w[t].seed = (uint64_t)t + 1;
            assert_int_equal(pthread_create(&th[t], NULL, lc_run, &w[t]), 0);
        }
        uint32_t expect[N] = {0};
        uint64_t total = 0;
        for (int t = 0; t < THREADS; t++) {
            assert_int_equal(pthread_join(th[t], NULL), 0);
            assert_int_equal(w[t].errors, 0);
            for (uint32_t j = 0; j < w[t].nheld; j++) {
                expect[w[t].held[j]]++;
                total++;
            }
        }
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
