/* Per-target counters: slots, reuse, totals, and exact counts under concurrent updates. */
#include <errno.h>
#include <pthread.h>

#include "lbtest.h"
#include "lb/loads.h"

static void track_and_count(void **state)
{
    (void)state;
    lb_loads *l;
    assert_lb_err(lb_loads_new(&l, 0), -ERANGE);
    assert_lb_ok(lb_loads_new(&l, 3));
    uint32_t a, b, c, again;
    assert_lb_ok(lb_loads_track(l, 100, &a));
    assert_lb_ok(lb_loads_track(l, 200, &b));
    assert_lb_ok(lb_loads_track(l, 100, &again));
    assert_int_equal(a, again);
    assert_lb_ok(lb_loads_track(l, 300, &c));
    assert_lb_err(lb_loads_track(l, 400, NULL), -ENOSPC);
    uint32_t n = 99;
    assert_lb_ok(lb_loads_add(l, a, 1, &n));
    assert_int_equal(n, 1);
    assert_lb_ok(lb_loads_add(l, a, 1, &n));
    assert_int_equal(n, 2);
    assert_lb_ok(lb_loads_add(l, b, 5, NULL));
    assert_int_equal(lb_loads_total(l), 7);
    assert_lb_err(lb_loads_add(l, b, -7, &n), -ERANGE); /* never below zero, and said so */
    assert_int_equal(n, 0);
    assert_lb_err(lb_loads_add(l, 3, 1, &n), -EINVAL); /* a slot out of range */
    assert_lb_err(lb_loads_add(NULL, a, 1, &n), -EINVAL);
    assert_lb_err(lb_loads_add(l, a, INT32_MAX, &n), 0);
    assert_int_equal(n, 2 + (uint32_t)INT32_MAX);
    assert_lb_err(lb_loads_add(l, a, INT32_MAX, &n), -EOVERFLOW);
    assert_lb_err(lb_loads_add(l, a, -INT32_MAX, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(lb_loads_total(l), 2);
    assert_lb_ok(lb_loads_untrack(l, 100));
    assert_int_equal(lb_loads_total(l), 0);
    assert_lb_err(lb_loads_slot(l, 100, &again), -ENOENT);
    assert_lb_err(lb_loads_untrack(l, 100), -ENOENT);
    assert_lb_ok(lb_loads_track(l, 400, &again));
    assert_int_equal(again, a); /* the freed slot is reused, starting at zero */
    assert_int_equal(lb_loads_get(l, again), 0);
    assert_lb_ok(lb_loads_slot(l, 300, &again));
    assert_int_equal(again, c);
    assert_int_equal(lb_loads_get(l, 99), 0);
    assert_int_equal(lb_loads_capacity(l), 3);
    lb_loads_free(l);
    lb_loads_free(NULL);
}

static void churn_reuses_slots(void **state)
{
    (void)state;
    lb_loads *l;
    assert_lb_ok(lb_loads_new(&l, 64));
    for (uint32_t round = 0; round < 1000; round++) {
        for (uint32_t i = 0; i < 64; i++)
            assert_lb_ok(lb_loads_track(l, round * 64 + i, NULL));
        for (uint32_t i = 0; i < 64; i++)
            assert_lb_ok(lb_loads_untrack(l, round * 64 + i));
    }
    lb_loads_free(l);
}

struct worker {
    lb_loads *l;
    uint32_t slots[4];
};

static void *hammer(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < 250000; i++) {
        uint32_t s = w->slots[i & 3];
        (void)lb_loads_add(w->l, s, 1, NULL);
        (void)lb_loads_add(w->l, s, 1, NULL);
        (void)lb_loads_add(w->l, s, -1, NULL);
    }
    return NULL;
}

static void exact_under_concurrency(void **state)
{
    (void)state;
    for (uint32_t flags = 0; flags <= LB_LOADS_NO_TOTAL; flags++) {
        lb_loads *l;
        assert_lb_ok(lb_loads_new_ex(&l, 4, flags));
        struct worker w = {.l = l};
        for (uint32_t i = 0; i < 4; i++)
            assert_lb_ok(lb_loads_track(l, i + 1, &w.slots[i]));
        pthread_t t[4];
        for (int i = 0; i < 4; i++)
            assert_int_equal(pthread_create(&t[i], NULL, hammer, &w), 0);
        for (int i = 0; i < 4; i++)
            pthread_join(t[i], NULL);
        uint64_t sum = 0;
        for (int i = 0; i < 4; i++) {
            assert_int_equal(lb_loads_get(l, w.slots[i]), 250000);
            sum += lb_loads_get(l, w.slots[i]);
        }
        assert_int_equal(lb_loads_total(l), sum);
        lb_loads_free(l);
    }
}

/* A table without a running total: the same counts, a total summed on demand. */
static void no_total(void **state)
{
    (void)state;
    lb_loads *l;
    assert_lb_err(lb_loads_new_ex(NULL, 4, 0), -EINVAL);
    assert_lb_err(lb_loads_new_ex(&l, 4, 2), -EINVAL);
    assert_lb_err(lb_loads_new_ex(&l, 0, LB_LOADS_NO_TOTAL), -ERANGE);
    assert_lb_ok(lb_loads_new_ex(&l, 4, 0));
    assert_int_equal(lb_loads_flags(l), 0);
    lb_loads_free(l);
    assert_lb_ok(lb_loads_new_ex(&l, 4, LB_LOADS_NO_TOTAL));
    assert_int_equal(lb_loads_flags(l), LB_LOADS_NO_TOTAL);
    assert_int_equal(lb_loads_flags(NULL), 0);
    uint32_t a, b;
    assert_lb_ok(lb_loads_track(l, 7, &a));
    assert_lb_ok(lb_loads_track(l, 8, &b));
    assert_lb_ok(lb_loads_add(l, a, 3, NULL));
    assert_lb_ok(lb_loads_add(l, b, 4, NULL));
    assert_int_equal(lb_loads_total(l), 7);
    assert_lb_err(lb_loads_add(l, b, -9, NULL), -ERANGE); /* never below zero */
    assert_int_equal(lb_loads_total(l), 3);
    assert_lb_ok(lb_loads_untrack(l, 7));
    assert_int_equal(lb_loads_total(l), 0);
    assert_lb_ok(lb_loads_track(l, 9, &a));
    assert_int_equal(lb_loads_get(l, a), 0);
    lb_loads_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(track_and_count),
        cmocka_unit_test(churn_reuses_slots),
        cmocka_unit_test(exact_under_concurrency),
        cmocka_unit_test(no_total),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
