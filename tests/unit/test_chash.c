/* The consistent-hash ring: lookups, weights, minimal disruption, order independence, and
 * bounded loads under a Zipf key stream (sequential and with racing threads). */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "lbtest.h"
#include "lb/chash.h"
#include "lb/hash.h"
#include "lb/loads.h"
#include "lb/pool.h"

/* "node-<i>" with id i + 1, weight weights[i] (or 1), added in a shuffled order when seed != 0;
 * every id is tracked in @loads when given. */
static lb_pool *make_pool(uint32_t n, const uint32_t *weights, uint64_t seed, lb_loads *loads)
{
    lb_pool *p;
    assert_lb_ok(lb_pool_new(&p));
    uint32_t order[1000];
    assert_true(n <= 1000);
    for (uint32_t i = 0; i < n; i++)
        order[i] = i;
    for (uint32_t i = n; seed && i > 1; i--) {
        uint32_t j = (uint32_t)(lbt_rand(&seed) % i), x = order[i - 1];
        order[i - 1] = order[j];
        order[j] = x;
    }
    for (uint32_t k = 0; k < n; k++) {
        uint32_t i = order[k];
        char key[32];
        int len = snprintf(key, sizeof(key), "node-%u", i);
        assert_lb_ok(lb_pool_add(p, i + 1, key, (size_t)len, weights ? weights[i] : 1, 0));
        if (loads)
            assert_lb_ok(lb_loads_track(loads, i + 1, NULL));
    }
    return p;
}

static lb_chash *make_ring(const lb_pool *p, uint32_t ppw, lb_loads *loads)
{
    lb_chash_options o;
    memset(&o, 0, sizeof(o));
    o.struct_size = sizeof(o);
    o.points_per_weight = ppw;
    o.loads = loads;
    lb_chash *r;
    assert_lb_ok(lb_chash_new(&r, p, &o));
    return r;
}

static void distribution_follows_weights(void **state)
{
    (void)state;
    uint32_t w[10] = {1, 1, 2, 2, 3, 3, 4, 4, 5, 5};
    lb_pool *p = make_pool(10, w, 0, NULL);
    lb_chash *r = make_ring(p, 0, NULL);
    assert_int_equal(lb_chash_point_count(r), 30 * LB_CHASH_DEFAULT_POINTS);
    assert_int_equal(lb_chash_target_count(r), 10);
    uint64_t hits[11] = {0}, rs = 11;
    const int keys = 300000;
    for (int k = 0; k < keys; k++) {
        uint32_t id = lb_chash_lookup(r, lbt_rand(&rs));
        assert_true(id >= 1 && id <= 10);
        hits[id]++;
    }
    for (uint32_t i = 0; i < 10; i++) {
        double share = (double)keys * w[i] / 30.0;
        /* 160 points per unit of weight: a few % of spread, far inside 25 %. */
        if (fabs((double)hits[i + 1] - share) > 0.25 * share)
            fail_msg("target %u: %llu keys, want about %.0f", i, (unsigned long long)hits[i + 1],
                     share);
        uint32_t pts;
        assert_lb_ok(lb_chash_target_at(r, i, NULL, NULL, &pts));
    }
    lb_chash_free(r);
    lb_pool_free(p);
}

struct ref_point {
    uint64_t hash;
    uint32_t id;
};

static int ref_cmp(const void *x, const void *y)
{
    const struct ref_point *a = x, *b = y;
    return (a->hash > b->hash) - (a->hash < b->hash);
}

/* The ring as include/lb/chash.h documents it, built here from the point formula, against a
 * linear search: the first point at or after the hash, wrapping. */
static void lookup_matches_documented_points(void **state)
{
    (void)state;
    static const char *keys[] = {"alpha", "beta", "gamma:80", "d", "epsilon"};
    static const uint32_t w[] = {1, 2, 3, 0, 5};
    const uint32_t ppw = 7;
    lb_pool *p;
    assert_lb_ok(lb_pool_new(&p));
    struct ref_point pts[100];
    size_t n = 0;
    for (uint32_t i = 0; i < 5; i++) {
        size_t len = strlen(keys[i]);
        assert_lb_ok(lb_pool_add(p, 10 + i, keys[i], len, w[i], 0));
        for (uint32_t j = 0; j < w[i] * ppw; j++) {
            uint8_t buf[32];
            memcpy(buf, keys[i], len);
            buf[len] = (uint8_t)(j >> 24);
            buf[len + 1] = (uint8_t)(j >> 16);
            buf[len + 2] = (uint8_t)(j >> 8);
            buf[len + 3] = (uint8_t)j;
            pts[n].hash = lb_hash_key(buf, len + 4, LB_CHASH_SEED);
            pts[n++].id = 10 + i;
        }
    }
    qsort(pts, n, sizeof(pts[0]), ref_cmp);
    lb_chash *r = make_ring(p, ppw, NULL);
    assert_int_equal(lb_chash_point_count(r), n);
    uint64_t rs = 3;
    for (int k = 0; k < 20000; k++) {
        uint64_t h = lbt_rand(&rs);
        if (k < (int)n)
            h = pts[k].hash - (k % 2); /* on a point, and just before it */
        else if (k == (int)n)
            h = 0;
        else if (k == (int)n + 1)
            h = UINT64_MAX;
        uint32_t want = pts[0].id;
        for (size_t i = 0; i < n; i++) {
            if (pts[i].hash >= h) {
                want = pts[i].id;
                break;
            }
        }
        assert_int_equal(lb_chash_lookup(r, h), want);
    }
    uint32_t pts_of;
    assert_lb_ok(lb_chash_target_at(r, 0, NULL, NULL, &pts_of));
    assert_int_equal(pts_of, w[0] * ppw); /* "alpha" sorts first */
    assert_int_equal(lb_chash_target_count(r), 4);
    lb_chash_free(r);
    lb_pool_free(p);
}

static void removal_moves_only_its_keys(void **state)
{
    (void)state;
    lb_pool *p = make_pool(50, NULL, 0, NULL);
    lb_chash *a = make_ring(p, 40, NULL);
    assert_lb_ok(lb_pool_remove(p, 17));
    lb_chash *b = make_ring(p, 40, NULL);
    uint64_t rs = 5;
    int moved = 0;
    for (int k = 0; k < 100000; k++) {
        uint64_t h = lbt_rand(&rs);
        uint32_t x = lb_chash_lookup(a, h), y = lb_chash_lookup(b, h);
        if (x != 17)
            assert_int_equal(x, y);
        else
            moved++;
        assert_int_not_equal(y, 17);
    }
    assert_true(moved > 0);
    lb_chash_free(a);
    lb_chash_free(b);
    lb_pool_free(p);
}

static void insertion_order_invariance(void **state)
{
    (void)state;
    uint32_t w[200];
    uint64_t rs = 77;
    for (int i = 0; i < 200; i++)
        w[i] = (uint32_t)(lbt_rand(&rs) % 4);
    lb_pool *p = make_pool(200, w, 0, NULL), *q = make_pool(200, w, 12345, NULL);
    lb_chash *a = make_ring(p, 16, NULL), *b = make_ring(q, 16, NULL);
    assert_int_equal(lb_chash_point_count(a), lb_chash_point_count(b));
    for (int k = 0; k < 50000; k++) {
        uint64_t h = lbt_rand(&rs);
        assert_int_equal(lb_chash_lookup(a, h), lb_chash_lookup(b, h));
    }
    lb_chash_free(a);
    lb_chash_free(b);
    lb_pool_free(p);
    lb_pool_free(q);
}

/* Zipf(s) over [0, n) by inverse CDF on a precomputed table. */
struct zipf {
    double *cdf;
    uint32_t n;
};

static struct zipf zipf_new(uint32_t n, double s)
{
    struct zipf z = {malloc(n * sizeof(double)), n};
    double sum = 0;
    for (uint32_t i = 0; i < n; i++)
        sum += 1.0 / pow(i + 1, s);
    double acc = 0;
    for (uint32_t i = 0; i < n; i++) {
        acc += 1.0 / pow(i + 1, s) / sum;
        z.cdf[i] = acc;
    }
    return z;
}

static uint32_t zipf_draw(const struct zipf *z, uint64_t *rs)
{
    double u = (double)(lbt_rand(rs) >> 11) / 9007199254740992.0;
    uint32_t lo = 0, hi = z->n - 1;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (z->cdf[mid] < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static uint64_t key_hash(uint32_t key)
{
    char buf[32];
    int len = snprintf(buf, sizeof(buf), "user-%u", key);
    return lb_hash_key(buf, (size_t)len, 0);
}

static void check_all_within_bound(const lb_chash *r, lb_loads *l, uint32_t n, uint32_t pct,
                                   uint64_t slack)
{
    uint64_t total = lb_loads_total(l);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t id, slot;
        uint64_t bound;
        assert_lb_ok(lb_chash_target_at(r, i, &id, NULL, NULL));
        assert_lb_ok(lb_loads_slot(l, id, &slot));
        assert_lb_ok(lb_chash_bound(r, id, pct, total + slack, &bound));
        if (lb_loads_get(l, slot) > bound)
            fail_msg("target %u holds %u > bound %llu (total %llu)", id, lb_loads_get(l, slot),
                     (unsigned long long)bound, (unsigned long long)total);
    }
}

static void bounded_loads_zipf(void **state)
{
    (void)state;
    static const uint32_t pcts[] = {100, 110, 125, 200};
    for (int weighted = 0; weighted < 2; weighted++) {
        for (size_t c = 0; c < sizeof(pcts) / sizeof(pcts[0]); c++) {
            const uint32_t n = 20, pct = pcts[c];
            uint32_t w[20];
            for (uint32_t i = 0; i < n; i++)
                w[i] = weighted ? i % 4 + 1 : 1;
            lb_loads *l;
            assert_lb_ok(lb_loads_new(&l, 64));
            lb_pool *p = make_pool(n, w, 0, l);
            lb_chash *r = make_ring(p, 100, l);
            struct zipf z = zipf_new(1000, 1.3);
            uint64_t rs = 2024 + c;
            /* Phase 1: only arrivals; every target within its bound at every step. */
            uint32_t *held = malloc(20000 * sizeof(*held));
            uint32_t nheld = 0, moved = 0;
            for (int k = 0; k < 4000; k++) {
                uint64_t h = key_hash(zipf_draw(&z, &rs));
                uint32_t id;
                assert_lb_ok(lb_chash_pick_bounded(r, h, pct, &id));
                moved += id != lb_chash_lookup(r, h);
                held[nheld++] = id;
                check_all_within_bound(r, l, n, pct, 0);
            }
            assert_true(moved > 0); /* the skew did force keys off their home target */
            /* Phase 2: arrivals and departures; the chosen target within its bound. */
            for (int k = 0; k < 20000; k++) {
                if (nheld && lbt_rand(&rs) % 2) {
                    uint32_t j = (uint32_t)(lbt_rand(&rs) % nheld);
                    assert_lb_ok(lb_chash_release(r, held[j]));
                    held[j] = held[--nheld];
                    continue;
                }
                uint32_t id, slot;
                uint64_t bound;
                assert_lb_ok(lb_chash_pick_bounded(r, key_hash(zipf_draw(&z, &rs)), pct, &id));
                held[nheld++] = id;
                assert_lb_ok(lb_loads_slot(l, id, &slot));
                assert_lb_ok(lb_chash_bound(r, id, pct, lb_loads_total(l), &bound));
                assert_true(lb_loads_get(l, slot) <= bound);
            }
            while (nheld)
                assert_lb_ok(lb_chash_release(r, held[--nheld]));
            assert_int_equal(lb_loads_total(l), 0);
            free(held);
            free(z.cdf);
            lb_chash_free(r);
            lb_pool_free(p);
            lb_loads_free(l);
        }
    }
}

static void bounded_pick_prefers_home(void **state)
{
    (void)state;
    lb_loads *l;
    assert_lb_ok(lb_loads_new(&l, 16));
    lb_pool *p = make_pool(8, NULL, 0, l);
    lb_chash *r = make_ring(p, 0, l);
    uint64_t rs = 9;
    /* With spread-out keys and c = 2, nobody is ever full: picks equal lookups. */
    for (int k = 0; k < 64; k++) {
        uint64_t h = lbt_rand(&rs);
        uint32_t id;
        assert_lb_ok(lb_chash_pick_bounded(r, h, 100000, &id));
        assert_int_equal(id, lb_chash_lookup(r, h));
    }
    uint64_t bound;
    assert_lb_ok(lb_chash_bound(r, 1, 125, 80, &bound));
    assert_int_equal(bound, 13); /* ceil(1.25 * 80 / 8) = 12.5 -> 13 */
    assert_lb_ok(lb_chash_bound(r, 1, 100, 80, &bound));
    assert_int_equal(bound, 10);
    lb_chash_free(r);
    lb_pool_free(p);
    lb_loads_free(l);
}

struct racer {
    const lb_chash *ring;
    uint64_t seed;
    const struct zipf *z;
    int picks;
};

static void *race(void *arg)
{
    struct racer *x = arg;
    for (int k = 0; k < x->picks; k++) {
        uint32_t id;
        if (lb_chash_pick_bounded(x->ring, key_hash(zipf_draw(x->z, &x->seed)), 125, &id))
            return arg; /* non-NULL: failure */
    }
    return NULL;
}

static void *race_release(void *arg)
{
    struct racer *x = arg;
    for (int k = 0; k < x->picks; k++) {
        uint32_t id;
        if (lb_chash_pick_bounded(x->ring, key_hash(zipf_draw(x->z, &x->seed)), 125, &id) ||
            lb_chash_release(x->ring, id))
            return arg;
    }
    return NULL;
}

static void bounded_loads_threads(void **state)
{
    (void)state;
    enum { THREADS = 4, PICKS = 5000 };
    lb_loads *l;
    assert_lb_ok(lb_loads_new(&l, 32));
    lb_pool *p = make_pool(16, NULL, 0, l);
    lb_chash *r = make_ring(p, 50, l);
    struct zipf z = zipf_new(500, 1.2);
    for (int phase = 0; phase < 2; phase++) {
        pthread_t th[THREADS];
        struct racer x[THREADS];
        for (int i = 0; i < THREADS; i++) {
            x[i] = (struct racer){r, 100 + (uint64_t)i + 10 * (uint64_t)phase, &z, PICKS};
            assert_int_equal(pthread_create(&th[i], NULL, phase ? race_release : race, &x[i]), 0);
        }
        for (int i = 0; i < THREADS; i++) {
            void *ret;
            assert_int_equal(pthread_join(th[i], &ret), 0);
            assert_null(ret);
        }
        if (phase == 0) {
            assert_int_equal(lb_loads_total(l), THREADS * PICKS);
            /* Documented slack: bound(L + r) with r = THREADS - 1 racing picks. */
            check_all_within_bound(r, l, 16, 125, THREADS - 1);
        } else {
            assert_int_equal(lb_loads_total(l), THREADS * PICKS); /* releases matched */
        }
    }
    free(z.cdf);
    lb_chash_free(r);
    lb_pool_free(p);
    lb_loads_free(l);
}

static void affinity_compositions(void **state)
{
    (void)state;
    lb_pool *p = make_pool(30, NULL, 0, NULL);
    lb_chash *r = make_ring(p, 0, NULL);
    uint8_t src[4] = {203, 0, 113, 9}, dst[4] = {10, 1, 1, 1};
    uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 203, 0, 113, 9};
    uint32_t home = lb_chash_lookup(r, lb_hash_src4(src, 0));
    assert_int_equal(lb_chash_lookup(r, lb_hash_src6(mapped, 0)), home);
    int differ = 0;
    for (uint16_t port = 2000; port < 2100; port++) {
        assert_int_equal(lb_chash_lookup(r, lb_hash_src4(src, 0)), home);
        differ |= lb_chash_lookup(r, lb_hash_flow4(src, dst, port, 443, 6, 0)) != home;
    }
    assert_true(differ);
    assert_int_equal(lb_chash_lookup(r, lb_hash_key("uid=42", 6, 0)),
                     lb_chash_lookup(r, lb_hash_key("uid=42", 6, 0)));
    lb_chash_free(r);
    lb_pool_free(p);
}

static void errors(void **state)
{
    (void)state;
    lb_loads *l;
    assert_lb_ok(lb_loads_new(&l, 8));
    lb_pool *p = make_pool(4, NULL, 0, NULL);
    lb_chash *r = NULL;
    lb_chash_options o;
    memset(&o, 0, sizeof(o));
    assert_lb_err(lb_chash_new(&r, p, &o), LB_E_STRUCT_SIZE); /* struct_size not set */
    o.struct_size = sizeof(o);
    o.loads = l;
    assert_lb_err(lb_chash_new(&r, p, &o), -ENOENT); /* targets not tracked */
    assert_lb_err(lb_chash_new(NULL, p, NULL), -EINVAL);
    assert_lb_err(lb_chash_new(&r, NULL, NULL), -EINVAL);
    o.loads = NULL;
    o.points_per_weight = LB_CHASH_MAX_POINTS;
    assert_lb_err(lb_chash_new(&r, p, &o), -ERANGE);
    o.points_per_weight = LB_CHASH_MAX_POINTS + 1;
    assert_lb_err(lb_chash_new(&r, p, &o), -ERANGE);
    assert_null(r);
    assert_lb_ok(lb_chash_new(&r, p, NULL));
    uint32_t id;
    uint64_t b;
    assert_lb_err(lb_chash_pick_bounded(r, 1, 125, &id), -EINVAL); /* no loads table */
    assert_lb_err(lb_chash_release(r, 1), -EINVAL);
    assert_lb_err(lb_chash_bound(r, 99, 125, 1, &b), -ENOENT);
    assert_lb_err(lb_chash_bound(r, 1, 99, 1, &b), -EINVAL);
    assert_lb_err(lb_chash_target_at(r, 4, NULL, NULL, NULL), -ENOENT);
    assert_lb_err(lb_chash_target_at(NULL, 0, NULL, NULL, NULL), -EINVAL);
    lb_chash_free(r);
    for (uint32_t i = 1; i <= 4; i++)
        assert_lb_ok(lb_loads_track(l, i, NULL));
    o.points_per_weight = 0;
    o.loads = l;
    assert_lb_ok(lb_chash_new(&r, p, &o));
    assert_lb_err(lb_chash_pick_bounded(r, 1, 99, &id), -EINVAL);
    assert_lb_err(lb_chash_pick_bounded(r, 1, 100001, &id), -EINVAL);
    assert_lb_err(lb_chash_pick_bounded(r, 1, 125, NULL), -EINVAL);
    assert_lb_err(lb_chash_release(r, 99), -ENOENT);
    lb_chash_free(r);
    /* An empty ring (no weighted target). */
    lb_pool *e;
    assert_lb_ok(lb_pool_new(&e));
    assert_lb_ok(lb_pool_add(e, 1, "zero", 4, 0, 0));
    assert_lb_ok(lb_chash_new(&r, e, &o));
    assert_int_equal(lb_chash_point_count(r), 0);
    assert_int_equal(lb_chash_lookup(r, 5), LB_NO_TARGET);
    assert_lb_err(lb_chash_pick_bounded(r, 5, 125, &id), LB_E_NO_TARGET);
    lb_chash_free(r);
    lb_chash_free(NULL);
    assert_int_equal(lb_chash_lookup(NULL, 5), LB_NO_TARGET);
    assert_int_equal(lb_chash_point_count(NULL), 0);
    assert_int_equal(lb_chash_target_count(NULL), 0);
    lb_pool_free(e);
    lb_pool_free(p);
    lb_loads_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(distribution_follows_weights),
        cmocka_unit_test(lookup_matches_documented_points),
        cmocka_unit_test(removal_moves_only_its_keys),
        cmocka_unit_test(insertion_order_invariance),
        cmocka_unit_test(bounded_loads_zipf),
        cmocka_unit_test(bounded_pick_prefers_home),
        cmocka_unit_test(bounded_loads_threads),
        cmocka_unit_test(affinity_compositions),
        cmocka_unit_test(errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
