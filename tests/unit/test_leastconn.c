/* Weighted least connections: exact picks against a reference scan over random workloads,
 * choices mode, draining, weight 0, counts shared with lb_loads across rebuilds. */
#include <errno.h>
#include <string.h>

#include "lbtest.h"
#include "lb/leastconn.h"
#include "lb/loads.h"
#include "lb/pool.h"

#define MAXN      64
#define MODEL_CAP 640 /* the largest pool the reference model holds */

static lb_pool *make_pool(const uint32_t *w, size_t n)
{
    lb_pool *p;
    assert_lb_ok(lb_pool_new(&p));
    for (size_t i = 0; i < n; i++) {
        char key[32];
        int len = snprintf(key, sizeof(key), "t%zu", i);
        assert_lb_ok(lb_pool_add(p, (uint32_t)(1000 + i), key, (size_t)len, w[i], 0));
    }
    return p;
}

static lb_leastconn *make_lc(const lb_pool *p, lb_loads *l, uint32_t mode, uint64_t seed)
{
    lb_leastconn_options o = {sizeof(o), mode, 2, 0, seed};
    lb_leastconn *lc;
    assert_lb_ok(lb_leastconn_new(&lc, p, l, &o));
    return lc;
}

/* The reference: minimise (a+1)/w over pickable targets; ties to the least recently picked,
 * then pool order. */
struct model {
    size_t n;
    uint32_t w[MODEL_CAP], active[MODEL_CAP];
    uint64_t last[MODEL_CAP];
    int excluded[MODEL_CAP];
    uint64_t clock;
};

static long model_pick(struct model *m)
{
    long best = -1;
    for (size_t i = 0; i < m->n; i++) {
        if (!m->w[i] || m->excluded[i])
            continue;
        if (best < 0) {
            best = (long)i;
            continue;
        }
        uint64_t x = ((uint64_t)m->active[i] + 1) * m->w[best];
        uint64_t y = ((uint64_t)m->active[best] + 1) * m->w[i];
        if (x < y || (x == y && m->last[i] < m->last[best]))
            best = (long)i;
    }
    if (best >= 0) {
        m->active[best]++;
        m->last[best] = ++m->clock;
    }
    return best;
}

/* The selector and the lb_loads table both count what the model counts. */
static void assert_counts(const lb_leastconn *lc, const lb_loads *l, const struct model *m)
{
    for (size_t i = 0; i < m->n; i++) {
        uint32_t a, slot;
        assert_lb_ok(lb_leastconn_active(lc, 1000 + (uint32_t)i, &a));
        assert_int_equal(a, m->active[i]);
        assert_lb_ok(lb_loads_slot(l, 1000 + (uint32_t)i, &slot));
        assert_int_equal(lb_loads_get(l, slot), m->active[i]);
    }
}

static void exact_matches_reference(void **state)
{
    (void)state;
    uint64_t rs = 424242;
    for (int set = 0; set < 300; set++) {
        struct model m = {0};
        m.n = 1 + lbt_rand(&rs) % MAXN;
        for (size_t i = 0; i < m.n; i++)
            m.w[i] = (uint32_t)(lbt_rand(&rs) % 5 == 0 ? 0 : 1 + lbt_rand(&rs) % 9);
        lb_pool *p = make_pool(m.w, m.n);
        lb_loads *l;
        assert_lb_ok(lb_loads_new(&l, MAXN));
        lb_leastconn *lc = make_lc(p, l, LB_LEASTCONN_EXACT, 0);
        assert_int_equal(lb_leastconn_count(lc), m.n);
        for (int op = 0; op < 2000; op++) {
            uint64_t r = lbt_rand(&rs) % 100;
            if (r < 55) {
                long want = model_pick(&m);
                uint32_t id;
                if (want < 0) {
                    assert_lb_err(lb_leastconn_pick(lc, &id), LB_E_SELECTOR_EMPTY);
                } else {
                    assert_lb_ok(lb_leastconn_pick(lc, &id));
                    assert_int_equal(id, 1000 + want);
                }
            } else if (r < 95) {
                size_t i = lbt_rand(&rs) % m.n;
                if (m.active[i]) {
                    assert_lb_ok(lb_leastconn_release(lc, 1000 + (uint32_t)i));
                    m.active[i]--;
                } else {
                    assert_lb_err(lb_leastconn_release(lc, 1000 + (uint32_t)i), -ERANGE);
                }
            } else {
                size_t i = lbt_rand(&rs) % m.n;
                m.excluded[i] = !m.excluded[i];
                assert_lb_ok(lb_leastconn_set_excluded(lc, 1000 + (uint32_t)i, m.excluded[i]));
            }
        }
        assert_counts(lc, l, &m);
        /* A rebuild (a new snapshot) starts from the shared counts. */
        lb_leastconn *lc2 = make_lc(p, l, LB_LEASTCONN_EXACT, 0);
        for (size_t i = 0; i < m.n; i++) {
            uint32_t a;
            assert_lb_ok(lb_leastconn_active(lc2, 1000 + (uint32_t)i, &a));
            assert_int_equal(a, m.active[i]);
        }
        lb_leastconn_free(lc2);
        lb_leastconn_free(lc);
        lb_loads_free(l);
        lb_pool_free(p);
    }
}

/* The benchmark's pattern and its variations, on pools deep enough for a tall tree: connections
 * held in a FIFO, each pick followed by the release of the oldest (a release typically makes
 * its target the next minimum, which the selector serves from a parked slot instead of the
 * tree), mixed with double picks, double releases, releases of the just-picked target, and
 * drains. Every pick must be the reference's, tie-break included. */
static void exact_fifo_matches_reference(void **state)
{
    (void)state;
    static struct model m;
    static uint32_t fifo[4 * MODEL_CAP];
    uint64_t rs = 777;
    for (int set = 0; set < 40; set++) {
        memset(&m, 0, sizeof(m));
        m.n = 1 + lbt_rand(&rs) % MODEL_CAP;
        for (size_t i = 0; i < m.n; i++)
            m.w[i] = (uint32_t)(lbt_rand(&rs) % 10 == 0 ? 0 : 1 + lbt_rand(&rs) % 100);
        lb_pool *p = make_pool(m.w, m.n);
        lb_loads *l;
        assert_lb_ok(lb_loads_new_ex(&l, MODEL_CAP, set % 2 ? LB_LOADS_NO_TOTAL : 0));
        lb_leastconn *lc = make_lc(p, l, LB_LEASTCONN_EXACT, 0);
        size_t cap = 1 + lbt_rand(&rs) % (4 * m.n), head = 0, len = 0;
        for (int op = 0; op < 3000; op++) {
            uint64_t r = lbt_rand(&rs) % 100;
            int picks = r < 5 ? 2 : 1, releases = r >= 5 && r < 10 ? 2 : 1;
            for (int k = 0; k < picks && len < cap; k++) {
                long want = model_pick(&m);
                uint32_t id;
                if (want < 0) {
                    assert_lb_err(lb_leastconn_pick(lc, &id), LB_E_SELECTOR_EMPTY);
                    break;
                }
                assert_lb_ok(lb_leastconn_pick(lc, &id));
                assert_int_equal(id, 1000 + want);
                fifo[(head + len++) % cap] = (uint32_t)want;
            }
            for (int k = 0; k < releases && len > 0; k++) {
                uint32_t i;
                if (r >= 10 && r < 13) { /* the newest: the target just picked */
                    i = fifo[(head + --len) % cap];
                } else {
                    i = fifo[head];
                    head = (head + 1) % cap;
                    len--;
                }
                assert_lb_ok(lb_leastconn_release(lc, 1000 + i));
                m.active[i]--;
            }
            if (r >= 97) {
                size_t i = lbt_rand(&rs) % m.n;
                m.excluded[i] = !m.excluded[i];
                assert_lb_ok(lb_leastconn_set_excluded(lc, 1000 + (uint32_t)i, m.excluded[i]));
            }
        }
        assert_counts(lc, l, &m);
        lb_leastconn_free(lc);
        lb_loads_free(l);
        lb_pool_free(p);
    }
}

static void round_robin_ties(void **state)
{
    (void)state;
    const uint32_t w[] = {2, 2, 2, 2};
    lb_pool *p = make_pool(w, 4);
    lb_loads *l;
    assert_lb_ok(lb_loads_new(&l, 8));
    lb_leastconn *lc = make_lc(p, l, LB_LEASTCONN_EXACT, 0);
    /* pick and release at once: every pick is a four-way tie, served in turn */
    for (int k = 0; k < 40; k++) {
        uint32_t id;
        assert_lb_ok(lb_leastconn_pick(lc, &id));
        assert_int_equal(id, 1000 + k % 4);
        assert_lb_ok(lb_leastconn_release(lc, id));
    }
    lb_leastconn_free(lc);
    lb_loads_free(l);
    lb_pool_free(p);
}

static void choices_mode_in(uint32_t mode);

/* Both choices modes (on one thread the scalable mode's counts are exact: one stripe). */
static void choices_mode(void **state)
{
    (void)state;
    const uint32_t modes[] = {LB_LEASTCONN_CHOICES, LB_LEASTCONN_CHOICES_SCALABLE};
    for (size_t mi = 0; mi < 2; mi++)
        choices_mode_in(modes[mi]);
}

static void choices_mode_in(uint32_t mode)
{
    uint64_t rs = 99;
    /* Small pools are scanned: every pick is a true minimum. */
    for (int set = 0; set < 100; set++) {
        struct model m = {0};
        m.n = 1 + lbt_rand(&rs) % 4;
        for (size_t i = 0; i < m.n; i++)
            m.w[i] = 1 + (uint32_t)(lbt_rand(&rs) % 5);
        lb_pool *p = make_pool(m.w, m.n);
        lb_loads *l;
        assert_lb_ok(lb_loads_new(&l, 8));
        lb_leastconn *lc = make_lc(p, l, mode, lbt_rand(&rs));
        for (int op = 0; op < 300; op++) {
            uint32_t id;
            assert_lb_ok(lb_leastconn_pick(lc, &id));
            size_t i = id - 1000;
            for (size_t j = 0; j < m.n; j++)
                assert_true(((uint64_t)m.active[i] + 1) * m.w[j] <=
                            ((uint64_t)m.active[j] + 1) * m.w[i]);
            m.active[i]++;
            if (lbt_rand(&rs) % 2) {
                size_t k = lbt_rand(&rs) % m.n;
                if (m.active[k]) {
                    assert_lb_ok(lb_leastconn_release(lc, 1000 + (uint32_t)k));
                    m.active[k]--;
                }
            }
        }
        lb_leastconn_free(lc);
        lb_loads_free(l);
        lb_pool_free(p);
    }
    /* A large pool: two choices keep the load near weight-proportional. */
    uint32_t w[MAXN];
    for (int i = 0; i < MAXN; i++)
        w[i] = i < 8 ? 0 : (uint32_t)(1 + i % 4);
    lb_pool *p = make_pool(w, MAXN);
    lb_loads *l;
    assert_lb_ok(lb_loads_new(&l, MAXN));
    lb_leastconn *lc = make_lc(p, l, mode, 1);
    assert_lb_ok(lb_leastconn_set_excluded(lc, 1000 + 9, 1));
    uint32_t total_w = 0;
    for (int i = 8; i < MAXN; i++)
        total_w += i == 9 ? 0 : w[i];
    for (int k = 0; k < 10 * (int)total_w; k++) {
        uint32_t id;
        assert_lb_ok(lb_leastconn_pick(lc, &id));
        assert_true(id >= 1000 + 8 && id != 1000 + 9);
    }
    for (int i = 10; i < MAXN; i++) {
        uint32_t a;
        assert_lb_ok(lb_leastconn_active(lc, 1000 + (uint32_t)i, &a));
        assert_true(a + 0.0 >= 10.0 * w[i] * 0.6 && a + 0.0 <= 10.0 * w[i] * 1.4 + 2);
    }
    assert_lb_ok(lb_leastconn_set_excluded(lc, 1000 + 9, 0));
    uint32_t id, a9;
    assert_lb_ok(lb_leastconn_pick(lc, &id)); /* target 9 is the only idle one: a sample finds
                                                 it or not, but it is pickable again */
    assert_lb_ok(lb_leastconn_active(lc, 1000 + 9, &a9));
    assert_true(a9 <= 1);
    lb_leastconn_free(lc);
    lb_loads_free(l);
    lb_pool_free(p);
}

static void draining_keeps_counts(void **state)
{
    (void)state;
    const uint32_t w[] = {1, 1};
    for (uint32_t mode = 0; mode <= 1; mode++) {
        lb_pool *p = make_pool(w, 2);
        lb_loads *l;
        assert_lb_ok(lb_loads_new(&l, 4));
        lb_leastconn *lc = make_lc(p, l, mode, 3);
        uint32_t id, a;
        for (int k = 0; k < 10; k++)
            assert_lb_ok(lb_leastconn_pick(lc, &id));
        assert_lb_ok(lb_leastconn_set_excluded(lc, 1000, 1));
        for (int k = 0; k < 10; k++) {
            assert_lb_ok(lb_leastconn_pick(lc, &id));
            assert_int_equal(id, 1001);
        }
        assert_lb_ok(lb_leastconn_active(lc, 1000, &a));
        assert_int_equal(a, 5);
        for (int k = 0; k < 5; k++)
            assert_lb_ok(lb_leastconn_release(lc, 1000));
        assert_lb_err(lb_leastconn_release(lc, 1000), -ERANGE);
        assert_lb_ok(lb_leastconn_set_excluded(lc, 1001, 1));
        assert_lb_err(lb_leastconn_pick(lc, &id), LB_E_SELECTOR_EMPTY);
        assert_int_equal(lb_loads_total(l), 15);
        lb_leastconn_free(lc);
        lb_loads_free(l);
        lb_pool_free(p);
    }
}

/* Dense ids (a direct id table) and sparse ids (hashed) behave the same, on tables with and
 * without a running total: every pick is counted and released by id, unknown ids fail. */
static void id_maps_and_tables(void **state)
{
    (void)state;
    const uint32_t base[3] = {0, 5, 0xFFFFFF00u}, step[3] = {1, 3, 7777};
    const uint32_t absent[3] = {20, 6, 0xFFFFFF01u}; /* past the table, a gap, hashed */
    for (int kind = 0; kind < 3; kind++)
        for (uint32_t mode = 0; mode <= 1; mode++)
            for (uint32_t flags = 0; flags <= LB_LOADS_NO_TOTAL; flags++) {
                lb_pool *p;
                assert_lb_ok(lb_pool_new(&p));
                uint32_t ids[20];
                for (uint32_t i = 0; i < 20; i++) {
                    ids[i] = base[kind] - (kind == 2 ? i * step[kind] : 0) +
                             (kind == 2 ? 0 : i * step[kind]);
                    assert_lb_ok(lb_pool_add(p, ids[i], &ids[i], 4, 1 + i % 3, 0));
                }
                lb_loads *l;
                assert_lb_ok(lb_loads_new_ex(&l, 32, flags));
                lb_leastconn *lc = make_lc(p, l, mode, 5);
                uint32_t got[200];
                for (int k = 0; k < 200; k++)
                    assert_lb_ok(lb_leastconn_pick(lc, &got[k]));
                assert_int_equal(lb_loads_total(l), 200);
                for (int k = 0; k < 200; k++)
                    assert_lb_ok(lb_leastconn_release(lc, got[k]));
                assert_int_equal(lb_loads_total(l), 0);
                for (uint32_t i = 0; i < 20; i++) {
                    uint32_t a;
                    assert_lb_ok(lb_leastconn_active(lc, ids[i], &a));
                    assert_int_equal(a, 0);
                    assert_lb_err(lb_leastconn_release(lc, ids[i]), -ERANGE);
                }
                uint32_t a;
                assert_lb_err(lb_leastconn_release(lc, absent[kind]), -ENOENT);
                assert_lb_err(lb_leastconn_active(lc, 0xFFFFFFFEu - 1, &a), -ENOENT);
                assert_lb_err(lb_leastconn_set_excluded(lc, 1000000, 1), -ENOENT);
                lb_leastconn_free(lc);
                lb_loads_free(l);
                lb_pool_free(p);
            }
}

static void errors(void **state)
{
    (void)state;
    const uint32_t w[] = {0, 3};
    lb_pool *p = make_pool(w, 2), *empty;
    assert_lb_ok(lb_pool_new(&empty));
    lb_loads *l, *tiny;
    assert_lb_ok(lb_loads_new(&l, 4));
    assert_lb_ok(lb_loads_new(&tiny, 1));
    lb_leastconn *lc;
    lb_leastconn_options bad = {sizeof(bad), 7, 2, 0, 0};
    assert_lb_err(lb_leastconn_new(&lc, p, l, &bad), -EINVAL);
    bad.mode = LB_LEASTCONN_CHOICES_SCALABLE + 1; /* the first unknown mode */
    assert_lb_err(lb_leastconn_new(&lc, p, l, &bad), -EINVAL);
    bad.mode = LB_LEASTCONN_CHOICES;
    bad.choices = 17;
    assert_lb_err(lb_leastconn_new(&lc, p, l, &bad), -EINVAL);
    bad.struct_size = 4;
    assert_lb_err(lb_leastconn_new(&lc, p, l, &bad), LB_E_STRUCT_SIZE);
    assert_lb_err(lb_leastconn_new(&lc, p, NULL, NULL), -EINVAL);
    assert_lb_err(lb_leastconn_new(&lc, p, tiny, NULL), -ENOSPC);
    assert_lb_ok(lb_leastconn_new(&lc, p, l, NULL));
    uint32_t id, a;
    for (int k = 0; k < 5; k++) {
        assert_lb_ok(lb_leastconn_pick(lc, &id));
        assert_int_equal(id, 1001); /* weight 0 never picked */
    }
    assert_lb_err(lb_leastconn_release(lc, 77), -ENOENT);
    assert_lb_err(lb_leastconn_set_excluded(lc, 77, 1), -ENOENT);
    assert_lb_err(lb_leastconn_active(lc, 77, &a), -ENOENT);
    assert_lb_err(lb_leastconn_pick(lc, NULL), -EINVAL);
    assert_lb_err(lb_leastconn_release(NULL, 1), -EINVAL);
    lb_leastconn_free(lc);
    for (uint32_t mode = 0; mode <= 1; mode++) {
        lc = make_lc(empty, l, mode, 0);
        assert_lb_err(lb_leastconn_pick(lc, &id), LB_E_SELECTOR_EMPTY);
        assert_int_equal(lb_leastconn_count(lc), 0);
        lb_leastconn_free(lc);
    }
    lb_leastconn_free(NULL);
    lb_loads_free(l);
    lb_loads_free(tiny);
    lb_pool_free(p);
    lb_pool_free(empty);
}

/* Scalable mode from one thread: true counts exact, published counts (lb_loads) within
 * B = 1 stripe x batch, every pick within the documented bound of the exact choice, drains
 * respected, an empty or all-excluded selector refuses. */
static void scalable_mode(void **state)
{
    (void)state;
    enum { NS = 50 };
    uint32_t w[NS];
    uint64_t rs = 77;
    for (int i = 0; i < NS; i++)
        w[i] = 1 + (uint32_t)(lbt_rand(&rs) % 6);
    lb_pool *p = make_pool(w, NS);
    lb_loads *l;
    assert_lb_ok(lb_loads_new(&l, NS));
    lb_leastconn *lc = make_lc(p, l, LB_LEASTCONN_SCALABLE, 9);
    const uint64_t b = LB_LEASTCONN_SCALABLE_BATCH;
    uint32_t a[NS] = {0};
    for (int op = 0; op < 20000; op++) {
        if (op % 500 == 0 && op) /* drain one target for a while: end the last drain */
            assert_lb_ok(lb_leastconn_set_excluded(lc, 1000 + (uint32_t)(op / 500 - 1) % NS, 0));
        if (op % 500 == 0)
            assert_lb_ok(lb_leastconn_set_excluded(lc, 1000 + (uint32_t)(op / 500) % NS,
                                                   (op / 500) % 2));
        uint32_t id;
        assert_lb_ok(lb_leastconn_pick(lc, &id));
        size_t i = id - 1000;
        assert_true(i != (size_t)((op / 500) % NS) || (op / 500) % 2 == 0);
        for (size_t j = 0; j < NS; j++) {
            if (j == (size_t)((op / 500) % NS) && (op / 500) % 2)
                continue; /* excluded: not a candidate */
            if (((uint64_t)a[i] + 1) * w[j] > ((uint64_t)a[j] + 1) * w[i] + b * w[j] + b * w[i])
                fail_msg("op %d: picked %zu (a %u, w %u), but %zu has a %u, w %u", op, i, a[i],
                         w[i], j, a[j], w[j]);
        }
        a[i]++;
        if (lbt_rand(&rs) % 3) { /* release a random open connection */
            size_t k = lbt_rand(&rs) % NS;
            if (a[k]) {
                assert_lb_ok(lb_leastconn_release(lc, 1000 + (uint32_t)k));
                a[k]--;
            }
        }
    }
    for (size_t i = 0; i < NS; i++) {
        uint32_t act, slot;
        assert_lb_ok(lb_leastconn_active(lc, 1000 + (uint32_t)i, &act));
        assert_int_equal(act, a[i]);
        assert_lb_ok(lb_loads_slot(l, 1000 + (uint32_t)i, &slot));
        uint32_t pub = lb_loads_get(l, slot);
        assert_true(pub + b >= a[i] && pub <= a[i] + b);
    }
    for (size_t i = 0; i < NS; i++)
        assert_lb_ok(lb_leastconn_set_excluded(lc, 1000 + (uint32_t)i, 1));
    uint32_t id;
    assert_lb_err(lb_leastconn_pick(lc, &id), LB_E_SELECTOR_EMPTY);
    lb_leastconn_free(lc);
    lb_pool *empty;
    assert_lb_ok(lb_pool_new(&empty));
    lc = make_lc(empty, l, LB_LEASTCONN_SCALABLE, 0);
    assert_lb_err(lb_leastconn_pick(lc, &id), LB_E_SELECTOR_EMPTY);
    lb_leastconn_free(lc);
    lb_pool_free(empty);
    lb_loads_free(l);
    lb_pool_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exact_matches_reference),
        cmocka_unit_test(exact_fifo_matches_reference),
        cmocka_unit_test(round_robin_ties),
        cmocka_unit_test(choices_mode),
        cmocka_unit_test(draining_keeps_counts),
        cmocka_unit_test(id_maps_and_tables),
        cmocka_unit_test(errors),
        cmocka_unit_test(scalable_mode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
