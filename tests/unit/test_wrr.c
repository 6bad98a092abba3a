/* Smooth weighted round robin: the schedule's shape, exact counts per cycle, lag bounds and
 * window deviation against an nginx reference, seeds, and rebuilds that keep progress. */
#include <errno.h>
#include <string.h>

#include "lbtest.h"
#include "lb/pool.h"
#include "lb/wrr.h"

static lb_pool *make_pool(const uint32_t *w, size_t n)
{
    lb_pool *p;
    assert_lb_ok(lb_pool_new(&p));
    for (size_t i = 0; i < n; i++) {
        char key[32];
        int len = snprintf(key, sizeof(key), "t%zu", i);
        assert_lb_ok(lb_pool_add(p, (uint32_t)i, key, (size_t)len, w[i], 0));
    }
    return p;
}

static lb_wrr *make_wrr(const lb_pool *p, uint64_t seed, lb_wrr *prev)
{
    lb_wrr_options o = {.struct_size = sizeof(o), .seed = seed, .prev = prev};
    lb_wrr *r;
    assert_lb_ok(lb_wrr_new(&r, p, &o));
    return r;
}

static uint32_t pick(lb_wrr *r)
{
    uint32_t id = LB_NO_TARGET;
    assert_lb_ok(lb_wrr_pick(r, &id));
    return id;
}

/* nginx's smooth weighted round robin (ngx_http_upstream_get_peer), the reference. */
static void nginx_sequence(const uint32_t *w, size_t n, uint64_t len, uint32_t *out)
{
    int64_t *cur = calloc(n, sizeof(int64_t)), total = 0;
    for (size_t i = 0; i < n; i++)
        total += w[i];
    for (uint64_t t = 0; t < len; t++) {
        size_t best = n;
        for (size_t i = 0; i < n; i++) {
            if (!w[i])
                continue;
            cur[i] += w[i];
            if (best == n || cur[i] > cur[best])
                best = i;
        }
        cur[best] -= total;
        out[t] = (uint32_t)best;
    }
    free(cur);
}

/* The worst deviation from the ideal share over any window of a periodic sequence (one
 * period given), in units of 1/S picks: for each target max - min of S * picks - t * w. */
static int64_t window_deviation(const uint32_t *seq, const uint32_t *w, size_t n, uint64_t S)
{
    int64_t worst = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t d = 0, hi = 0, lo = 0;
        for (uint64_t t = 0; t < S; t++) {
            d += (seq[t] == i ? (int64_t)S : 0) - (int64_t)w[i];
            hi = d > hi ? d : hi;
            lo = d < lo ? d : lo;
        }
        worst = hi - lo > worst ? hi - lo : worst;
    }
    return worst;
}

static void nginx_example(void **state)
{
    (void)state;
    const uint32_t w[] = {5, 1, 1};
    lb_pool *p = make_pool(w, 3);
    lb_wrr *r = make_wrr(p, 0, NULL);
    assert_int_equal(lb_wrr_cycle(r), 7);
    assert_int_equal(lb_wrr_count(r), 3);
    char got[15] = {0};
    for (int k = 0; k < 14; k++)
        got[k] = (char)('a' + pick(r));
    assert_string_equal(got, "aabacaaaabacaa"); /* nginx's order, periodic, never aaaaabc */
    uint32_t ng[7];
    nginx_sequence(w, 3, 7, ng);
    char ngs[8] = {0};
    for (int k = 0; k < 7; k++)
        ngs[k] = (char)('a' + ng[k]);
    assert_string_equal(ngs, "aabacaa");
    lb_wrr_free(r);
    lb_pool_free(p);
}

/* Many random weight sets and seeds: every window of S picks holds exactly w_i of target i,
 * every lag stays below one pick, and the window deviation is compared with nginx's. */
static void cycle_properties(void **state)
{
    (void)state;
    uint64_t rs = 20261130;
    int sets = 0, better = 0, equal = 0, worse = 0;
    int64_t worst_excess = 0; /* in 1/1000 picks */
    for (int set = 0; set < 400; set++) {
        size_t n = 1 + lbt_rand(&rs) % 24;
        uint32_t range = (uint32_t[]){3, 10, 40, 300}[lbt_rand(&rs) % 4];
        uint32_t w[24];
        uint64_t S = 0;
        for (size_t i = 0; i < n; i++) {
            w[i] = (uint32_t)(lbt_rand(&rs) % (range + 1));
            S += w[i];
        }
        if (!S) {
            w[0] = 1;
            S = 1;
        }
        lb_pool *p = make_pool(w, n);
        lb_wrr *r = make_wrr(p, lbt_rand(&rs), NULL);
        assert_int_equal(lb_wrr_cycle(r), S);
        uint32_t *seq = malloc(3 * S * sizeof(uint32_t));
        for (uint64_t t = 0; t < 3 * S; t++)
            seq[t] = pick(r);
        for (int c = 0; c < 3; c++) {
            uint64_t cnt[24] = {0};
            for (uint64_t t = c * S; t < (c + 1) * S; t++)
                cnt[seq[t]]++;
            for (size_t i = 0; i < n; i++)
                assert_int_equal(cnt[i], w[i]);
        }
        /* Periodic from any start: picks at t and t + S are the same target. */
        for (uint64_t t = 0; t < 2 * S; t++)
            assert_int_equal(seq[t], seq[t + S]);
        int64_t ours = window_deviation(seq, w, n, S);
        assert_true(ours < 2 * (int64_t)S); /* deviation below two picks */
        uint32_t *ng = malloc(S * sizeof(uint32_t));
        nginx_sequence(w, n, S, ng);
        /* Unseeded, the schedule is nginx's, pick for pick (indices among weight > 0). */
        lb_wrr *r0 = make_wrr(p, 0, NULL);
        for (uint64_t t = 0; t < S; t++)
            assert_int_equal(pick(r0), ng[t]);
        lb_wrr_free(r0);
        int64_t theirs = window_deviation(ng, w, n, S);
        if (ours < theirs)
            better++;
        else if (ours == theirs)
            equal++;
        else
            worse++;
        int64_t excess = (ours - theirs) * 1000 / (int64_t)S;
        worst_excess = excess > worst_excess ? excess : worst_excess;
        sets++;
        free(ng);
        free(seq);
        lb_wrr_free(r);
        lb_pool_free(p);
    }
    print_message("window deviation vs nginx over %d sets: better %d, equal %d, worse %d, "
                  "worst excess %.3f picks\n",
                  sets, better, equal, worse, (double)worst_excess / 1000);
    /* The same schedule as nginx's from any seeded start: never a worse window. */
    assert_true(worst_excess < 500);
    assert_true(better + equal >= worse);
    assert_int_equal(worse, 0);
    assert_int_equal(worst_excess, 0);
}

/* 100,000 targets, weights up to 65535: the lag bound holds after a million picks. */
static void large_pool(void **state)
{
    (void)state;
    size_t n = 100000;
    uint32_t *w = malloc(n * sizeof(uint32_t));
    uint64_t rs = 7, S = 0;
    for (size_t i = 0; i < n; i++) {
        w[i] = 1 + (uint32_t)(lbt_rand(&rs) % 65535);
        S += w[i];
    }
    lb_pool *p = make_pool(w, n);
    lb_wrr *r = make_wrr(p, 99, NULL);
    assert_int_equal(lb_wrr_cycle(r), S);
    uint64_t *cnt = calloc(n, sizeof(uint64_t));
    uint64_t T = 1000000;
    for (uint64_t t = 0; t < T; t++)
        cnt[pick(r)]++;
    /* Started somewhere in the first 65536 picks: each count is within 2 of its share of
     * the picks from the cycle's start (one pick of lag at each end of the window). */
    for (size_t i = 0; i < n; i++) {
        double ideal = (double)T * w[i] / (double)S;
        assert_true(cnt[i] + 2.0 > ideal && (double)cnt[i] < ideal + 2.0);
    }
    free(cnt);
    free(w);
    lb_wrr_free(r);
    lb_pool_free(p);
}

/* Weights up to 65535: pick for pick nginx's sequence, across cycles too long to record
 * (the tournament keeps running over cycle boundaries), with exact counts per cycle. */
static void matches_nginx_long_cycles(void **state)
{
    (void)state;
    uint64_t rs = 31337;
    for (int set = 0; set < 3; set++) {
        size_t n = 20 + lbt_rand(&rs) % 30;
        uint32_t w[64];
        uint64_t S = 0;
        for (size_t i = 0; i < n; i++) {
            w[i] = set == 2 && i % 5 == 0 ? 0 : 30000 + (uint32_t)(lbt_rand(&rs) % 35536);
            S += w[i];
        }
        assert_true(S > (1u << 20)); /* longer than the recorded cycles */
        lb_pool *p = make_pool(w, n);
        lb_wrr *r = make_wrr(p, 0, NULL);
        uint64_t len = 2 * S + S / 3;
        uint32_t *ng = malloc(len * sizeof(uint32_t)); /* pool indices, which are the ids */
        nginx_sequence(w, n, len, ng);
        uint64_t *cnt = calloc(n, sizeof(uint64_t));
        for (uint64_t t = 0; t < len; t++) {
            uint32_t id = pick(r);
            if (id != ng[t])
                fail_msg("set %d pick %llu: %u, nginx %u", set, (unsigned long long)t, id, ng[t]);
            cnt[id]++;
            if ((t + 1) % S == 0) {
                for (size_t i = 0; i < n; i++)
                    assert_int_equal(cnt[i], w[i] * ((t + 1) / S));
            }
        }
        free(cnt);
        free(ng);
        lb_wrr_free(r);
        lb_pool_free(p);
    }
}

/* Rebuilding from the same pool with prev continues the exact same schedule. */
static void rebuild_continues(void **state)
{
    (void)state;
    uint64_t rs = 11;
    for (int set = 0; set < 60; set++) {
        size_t n = 1 + lbt_rand(&rs) % 50;
        uint32_t w[50];
        for (size_t i = 0; i < n; i++)
            w[i] = 1 + (uint32_t)(lbt_rand(&rs) % 200);
        lb_pool *p = make_pool(w, n);
        uint64_t seed = lbt_rand(&rs);
        lb_wrr *ref = make_wrr(p, seed, NULL), *r = make_wrr(p, seed, NULL);
        uint32_t k = 0, total = 6000;
        while (k < total) {
            uint32_t steps = 1 + (uint32_t)(lbt_rand(&rs) % 3000);
            for (uint32_t s = 0; s < steps && k < total; s++, k++)
                assert_int_equal(pick(r), pick(ref));
            lb_wrr *next = make_wrr(p, 0, r);
            lb_wrr_free(r);
            r = next;
        }
        lb_wrr_free(r);
        lb_wrr_free(ref);
        lb_pool_free(p);
    }
}

static void changes_keep_progress(void **state)
{
    (void)state;
    const uint32_t w[] = {1, 1, 1};
    lb_pool *p = make_pool(w, 3);
    lb_wrr *r = make_wrr(p, 0, NULL);
    assert_int_equal(pick(r), 0);
    assert_int_equal(pick(r), 1);
    assert_lb_ok(lb_pool_add(p, 3, "t3", 2, 1, 0));
    lb_wrr *r2 = make_wrr(p, 0, r);
    lb_wrr_free(r);
    assert_int_equal(pick(r2), 2); /* target 2 was due; a reset would start again at 0 */
    lb_wrr_free(r2);

    /* Random mid-cycle changes: weights change, targets come and go, weight 0 rests. */
    uint64_t rs = 5;
    for (int set = 0; set < 100; set++) {
        lb_pool *q;
        assert_lb_ok(lb_pool_new(&q));
        uint32_t next_id = 0;
        for (int i = 0; i < 8; i++, next_id++)
            assert_lb_ok(lb_pool_add(q, next_id, &next_id, 4, 1 + lbt_rand(&rs) % 20, 0));
        lb_wrr *cur = make_wrr(q, lbt_rand(&rs), NULL);
        for (int round = 0; round < 6; round++) {
            for (uint64_t t = lbt_rand(&rs) % lb_wrr_cycle(cur); t > 0; t--)
                (void)pick(cur);
            /* one change of each kind */
            lb_target_info ti = {sizeof(ti), 0, 0, 0, NULL, 0};
            assert_lb_ok(lb_pool_at(q, lbt_rand(&rs) % lb_pool_count(q), &ti));
            assert_lb_ok(lb_pool_set_weight(q, ti.id, (uint32_t)(lbt_rand(&rs) % 30)));
            assert_lb_ok(lb_pool_at(q, lbt_rand(&rs) % lb_pool_count(q), &ti));
            uint32_t removed = ti.id;
            assert_lb_ok(lb_pool_remove(q, removed));
            assert_lb_ok(lb_pool_add(q, next_id, &next_id, 4, 1 + lbt_rand(&rs) % 20, 0));
            next_id++;
            lb_wrr *nx = make_wrr(q, 0, cur);
            lb_wrr_free(cur);
            cur = nx;
            uint64_t S = lb_wrr_cycle(cur);
            if (!S) {
                uint32_t id;
                assert_lb_err(lb_wrr_pick(cur, &id), LB_E_SELECTOR_EMPTY);
                continue;
            }
            /* Over the next 4 cycles: nothing removed or at weight 0, counts near 4 * w. */
            uint32_t cnt[64] = {0};
            for (uint64_t t = 0; t < 4 * S; t++) {
                uint32_t id = pick(cur);
                lb_target_info g = {sizeof(g), 0, 0, 0, NULL, 0};
                assert_lb_ok(lb_pool_get(q, id, &g));
                assert_true(g.weight > 0);
                assert_int_not_equal(id, removed);
                cnt[id]++;
            }
            for (size_t k = 0; k < lb_pool_count(q); k++) {
                assert_lb_ok(lb_pool_at(q, k, &ti));
                int64_t diff = (int64_t)cnt[ti.id] - 4 * (int64_t)ti.weight;
                assert_true(diff >= -2 && diff <= 2);
            }
        }
        lb_wrr_free(cur);
        lb_pool_free(q);
    }
    lb_pool_free(p);
}

static void seeds_spread(void **state)
{
    (void)state;
    uint32_t w[100];
    for (int i = 0; i < 100; i++)
        w[i] = 10;
    lb_pool *p = make_pool(w, 100);
    uint32_t first[20];
    for (int s = 0; s < 20; s++) {
        lb_wrr *r = make_wrr(p, (uint64_t)s + 1, NULL);
        first[s] = pick(r);
        lb_wrr_free(r);
    }
    int distinct = 0;
    for (int s = 0; s < 20; s++) {
        int seen = 0;
        for (int k = 0; k < s; k++)
            seen |= first[k] == first[s];
        distinct += !seen;
    }
    assert_true(distinct >= 10);
    lb_pool_free(p);
}

static void empty_and_errors(void **state)
{
    (void)state;
    const uint32_t w[] = {0, 0};
    lb_pool *p = make_pool(w, 2);
    lb_wrr *r;
    uint32_t id;
    assert_lb_err(lb_wrr_new(NULL, p, NULL), -EINVAL);
    assert_lb_err(lb_wrr_new(&r, NULL, NULL), -EINVAL);
    lb_wrr_options bad = {.struct_size = 4, .seed = 0, .prev = NULL};
    assert_lb_err(lb_wrr_new(&r, p, &bad), LB_E_STRUCT_SIZE);
    assert_lb_ok(lb_wrr_new(&r, p, NULL));
    assert_lb_err(lb_wrr_pick(r, &id), LB_E_SELECTOR_EMPTY);
    assert_lb_err(lb_wrr_pick(r, NULL), -EINVAL);
    assert_lb_err(lb_wrr_pick(NULL, &id), -EINVAL);
    assert_int_equal(lb_wrr_cycle(r), 0);
    assert_int_equal(lb_wrr_count(NULL), 0);
    lb_wrr *r2 = make_wrr(p, 0, r); /* an empty prev is fine */
    lb_wrr_free(r2);
    lb_wrr_free(r);
    lb_wrr_free(NULL);
    lb_pool_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(nginx_example),     cmocka_unit_test(cycle_properties),
        cmocka_unit_test(large_pool),        cmocka_unit_test(matches_nginx_long_cycles),
        cmocka_unit_test(rebuild_continues), cmocka_unit_test(changes_keep_progress),
        cmocka_unit_test(seeds_spread),      cmocka_unit_test(empty_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
