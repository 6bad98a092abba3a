/* Zone plans: the seed's cross-zone figures, Envoy's zone-aware example, priority spill-over,
 * evacuation, thresholds, panic, affinity, integer weights, and shares summing to 1. */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "lbtest.h"
#include "lb/zone.h"

#define EPS 1e-9

static lb_zone_plan *plan_mode(uint32_t mode)
{
    lb_zone_options o;
    lb_zone_options_init(&o, sizeof(o));
    o.mode = mode;
    lb_zone_plan *p;
    assert_lb_ok(lb_zone_plan_new(&p, &o));
    return p;
}

static void set_mode(lb_zone_plan *p, uint32_t mode)
{
    lb_zone_options o;
    lb_zone_options_init(&o, sizeof(o));
    o.mode = mode;
    assert_lb_ok(lb_zone_plan_set_options(p, &o));
}

/* A zone with @n anonymous targets, @h of them healthy, weight 1. */
static void counts(lb_zone_plan *p, uint32_t id, const char *name, uint32_t prio, uint32_t n,
                   uint32_t h)
{
    assert_lb_ok(lb_zone_add(p, id, name, prio));
    assert_lb_ok(lb_zone_set_counts(p, id, n, h, 1));
}

static lb_zone_report zone_at(lb_zone_plan *p, size_t i)
{
    lb_zone_report r;
    memset(&r, 0, sizeof(r));
    r.struct_size = sizeof(r);
    assert_lb_ok(lb_zone_plan_zone(p, i, &r));
    return r;
}

static lb_zone_summary summary(lb_zone_plan *p)
{
    lb_zone_summary s;
    memset(&s, 0, sizeof(s));
    s.struct_size = sizeof(s);
    assert_lb_ok(lb_zone_plan_summary(p, &s));
    return s;
}

static void near(double got, double want)
{
    if (fabs(got - want) > EPS)
        fail_msg("got %.12f, want %.12f", got, want);
}

/* Seed: 2 targets in A and 8 in B, DNS splitting evenly. */
static void seed_2_and_8(void **state)
{
    (void)state;
    lb_zone_plan *p = plan_mode(LB_ZONE_MODE_OFF);
    counts(p, 1, "a", 0, 2, 2);
    counts(p, 2, "b", 0, 8, 8);
    near(zone_at(p, 0).per_target, 0.25);
    near(zone_at(p, 1).per_target, 0.0625);
    near(zone_at(p, 0).incoming, 0.5);
    lb_zone_summary s = summary(p);
    near(s.cross_zone, 0.0);
    assert_int_equal(s.has_max_over_min, 1);
    near(s.max_over_min, 4.0);

    set_mode(p, LB_ZONE_MODE_ON);
    near(zone_at(p, 0).per_target, 0.10);
    near(zone_at(p, 1).per_target, 0.10);
    s = summary(p);
    /* node A sends 80 % of its half away, node B 20 % of its half */
    near(s.cross_zone, 0.5 * 0.8 + 0.5 * 0.2);
    near(s.max_over_min, 1.0);
    double gb, usd;
    assert_lb_ok(lb_zone_transfer_cost(s.cross_zone, 1000.0, 0.01, &gb, &usd));
    near(gb, 500.0);
    near(usd, 5.0);
    lb_zone_plan_free(p);
}

/* Seed exercise 5: 2 and 6 targets give 25 % and 8.33 % off, 12.5 % on. */
static void seed_2_and_6(void **state)
{
    (void)state;
    lb_zone_plan *p = plan_mode(LB_ZONE_MODE_OFF);
    counts(p, 1, "a", 0, 2, 2);
    counts(p, 2, "b", 0, 6, 6);
    near(zone_at(p, 0).per_target, 0.25);
    near(zone_at(p, 1).per_target, 0.5 / 6.0);
    near(summary(p).max_over_min, 3.0);
    set_mode(p, LB_ZONE_MODE_ON);
    near(zone_at(p, 0).per_target, 0.125);
    near(zone_at(p, 1).per_target, 0.125);
    lb_zone_plan_free(p);
}

/* The same figures through explicit targets, and the weights node A builds its selector with. */
static void seed_explicit_targets_and_weights(void **state)
{
    (void)state;
    lb_zone_plan *p = plan_mode(LB_ZONE_MODE_OFF);
    assert_lb_ok(lb_zone_add(p, 10, "a", 0));
    assert_lb_ok(lb_zone_add(p, 20, "b", 0));
    uint32_t ids[10];
    for (uint32_t i = 0; i < 10; i++) {
        ids[i] = 100 + i;
        assert_lb_ok(lb_zone_target_add(p, ids[i], i < 2 ? 10 : 20, 1, 1));
    }
    double sh[10];
    assert_lb_ok(lb_zone_plan_shares(p, ids, 10, sh));
    for (int i = 0; i < 10; i++)
        near(sh[i], i < 2 ? 0.25 : 0.0625);
    uint32_t w[10];
    double f[10];
    assert_lb_ok(lb_zone_plan_weights(p, 10, ids, 10, w, f));
    for (int i = 0; i < 10; i++) {
        assert_int_equal(w[i], i < 2 ? LB_WEIGHT_MAX : 0);
        near(f[i], i < 2 ? 0.5 : 0.0);
    }
    set_mode(p, LB_ZONE_MODE_ON);
    assert_lb_ok(lb_zone_plan_weights(p, 10, ids, 10, w, f));
    for (int i = 0; i < 10; i++) {
        assert_int_equal(w[i], LB_WEIGHT_MAX);
        near(f[i], 0.1);
    }
    /* a target going unhealthy changes the weights: the others share its part */
    assert_lb_ok(lb_zone_target_set(p, 105, 1, 0));
    assert_lb_ok(lb_zone_plan_weights(p, 20, ids, 10, w, f));
    assert_int_equal(w[5], 0);
    near(f[0], 1.0 / 9.0);
    near(summary(p).max_over_min, 1.0); /* unhealthy targets are not idle capacity */
    /* cross-zone off: zone B's 7 healthy targets share B's half */
    set_mode(p, LB_ZONE_MODE_OFF);
    near(summary(p).max_over_min, 0.25 / (0.5 / 7.0));
    /* node B's weight 0 for A's targets: A's healthy targets would idle if B took it all */
    assert_lb_ok(lb_zone_set_incoming(p, 10, 0.0));
    assert_int_equal(summary(p).has_max_over_min, 0);
    assert_lb_ok(lb_zone_set_incoming(p, 10, LB_ZONE_INCOMING_EVEN));
    set_mode(p, LB_ZONE_MODE_ON);
    assert_lb_ok(lb_zone_target_remove(p, 105));
    near(summary(p).max_over_min, 1.0);
    assert_lb_err(lb_zone_plan_shares(p, ids, 10, sh), -ENOENT);
    lb_zone_plan_free(p);
}

static void envoy_plan(lb_zone_plan **out, uint32_t a, uint32_t b, uint32_t c)
{
    lb_zone_plan *p = plan_mode(LB_ZONE_MODE_AWARE);
    counts(p, 1, "a", 0, a, a);
    counts(p, 2, "b", 0, b, b);
    counts(p, 3, "c", 0, c, c);
    assert_lb_ok(lb_zone_set_incoming(p, 1, 0.4));
    assert_lb_ok(lb_zone_set_incoming(p, 2, 0.4));
    assert_lb_ok(lb_zone_set_incoming(p, 3, 0.2));
    *out = p;
}

/* Envoy: upstream 25/50/25 against downstream 40/40/20. */
static void envoy_worked_example(void **state)
{
    (void)state;
    lb_zone_plan *p;
    envoy_plan(&p, 2, 4, 2);
    double to[3];
    assert_lb_ok(lb_zone_plan_route(p, 1, to, 3));
    near(to[0], 0.625);
    near(to[1], 0.25);
    near(to[2], 0.125); /* the rest split 2:1 */
    assert_lb_ok(lb_zone_plan_route(p, 2, to, 3));
    near(to[1], 1.0);
    assert_lb_ok(lb_zone_plan_route(p, 3, to, 3));
    near(to[2], 1.0);
    /* the result: every target equally loaded, 15 % crossing */
    lb_zone_summary s = summary(p);
    near(s.cross_zone, 0.4 * 0.375);
    near(s.max_over_min, 1.0);
    near(zone_at(p, 0).share, 0.25);
    near(zone_at(p, 1).share, 0.5);
    lb_zone_plan_free(p);
}

/* Under the minimum cluster size (4 healthy < 6) zone-aware routing is off: spread. */
static void envoy_min_cluster_size(void **state)
{
    (void)state;
    lb_zone_plan *p;
    envoy_plan(&p, 1, 2, 1);
    double to[3];
    assert_lb_ok(lb_zone_plan_route(p, 1, to, 3));
    near(to[0], 0.25);
    near(to[1], 0.5);
    near(to[2], 0.25);
    lb_zone_options o;
    lb_zone_options_init(&o, sizeof(o));
    o.mode = LB_ZONE_MODE_AWARE;
    o.min_cluster_size = 4;
    assert_lb_ok(lb_zone_plan_set_options(p, &o));
    assert_lb_ok(lb_zone_plan_route(p, 1, to, 3));
    near(to[0], 0.625);
    lb_zone_plan_free(p);
}

/* Panic (20 % healthy, short of capacity): every target serves; zone-aware routing is off. */
static void panic_turns_zone_aware_off(void **state)
{
    (void)state;
    lb_zone_plan *p = plan_mode(LB_ZONE_MODE_AWARE);
    counts(p, 1, "a", 0, 10, 2);
    counts(p, 2, "b", 0, 20, 4);
    lb_zone_options o;
    lb_zone_options_init(&o, sizeof(o));
    o.mode = LB_ZONE_MODE_AWARE;
    o.min_cluster_size = 1;
    o.panic_threshold = 0.0;
    assert_lb_ok(lb_zone_plan_set_options(p, &o));
    double to[2];
    assert_lb_ok(lb_zone_plan_route(p, 1, to, 2));
    near(to[0], 1.0 / 3.0 / 0.5); /* not in panic: 1/3 of capacity for 1/2 of traffic */
    assert_int_equal(zone_at(p, 0).state, LB_ZONE_STATE_UP);
    o.panic_threshold = 0.5;
    assert_lb_ok(lb_zone_plan_set_options(p, &o));
    assert_lb_ok(lb_zone_plan_route(p, 1, to, 2));
    near(to[0], 1.0 / 3.0);
    lb_zone_report r = zone_at(p, 0);
    assert_int_equal(r.state, LB_ZONE_STATE_PANIC);
    assert_int_equal(r.serving, 10);
    near(r.per_target, 1.0 / 30.0);
    lb_zone_plan_free(p);
}

/* Priority 0 keeps everything down to 1/1.4 (71.4 %) healthy, then the excess spills. */
static void priority_spill_over(void **state)
{
    (void)state;
    lb_zone_plan *p = plan_mode(LB_ZONE_MODE_ON);
    counts(p, 1, "east", 0, 100, 72);
    counts(p, 2, "west", 1, 100, 100);
    double l0, l1;
    assert_lb_ok(lb_zone_plan_priority_load(p, 0, &l0));
    near(l0, 1.0);
    assert_lb_ok(lb_zone_set_counts(p, 1, 100, 71, 1));
    assert_lb_ok(lb_zone_plan_priority_load(p, 0, &l0));
    assert_lb_ok(lb_zone_plan_priority_load(p, 1, &l1));
    near(l0, 1.4 * 0.71);
    near(l1, 1.0 - 1.4 * 0.71);
    assert_lb_ok(lb_zone_set_counts(p, 1, 100, 50, 1));
    assert_lb_ok(lb_zone_plan_priority_load(p, 0, &l0));
    near(l0, 0.7);
    near(zone_at(p, 1).share, 0.3);
    near(zone_at(p, 0).per_target, 0.7 / 50.0);
    /* both short: normalised to sum 1; both in panic */
    assert_lb_ok(lb_zone_set_counts(p, 1, 10, 2, 1));
    assert_lb_ok(lb_zone_set_counts(p, 2, 10, 1, 1));
    assert_lb_ok(lb_zone_plan_priority_load(p, 0, &l0));
    assert_lb_ok(lb_zone_plan_priority_load(p, 1, &l1));
    near(l0, 2.0 / 3.0);
    near(l1, 1.0 / 3.0);
    assert_int_equal(zone_at(p, 0).state, LB_ZONE_STATE_PANIC);
    near(zone_at(p, 0).per_target, 2.0 / 30.0);
    /* nothing healthy anywhere: priority 0 takes all, in panic */
    assert_lb_ok(lb_zone_set_counts(p, 1, 10, 0, 1));
    assert_lb_ok(lb_zone_set_counts(p, 2, 10, 0, 1));
    assert_lb_ok(lb_zone_plan_priority_load(p, 0, &l0));
    near(l0, 1.0);
    near(zone_at(p, 0).per_target, 0.1);
    lb_zone_plan_free(p);
}

/* A zone shift: the evacuated zone serves nothing, its node receives nothing, no spill. */
static void zone_evacuation(void **state)
{
    (void)state;
    for (uint32_t mode = 0; mode <= LB_ZONE_MODE_AFFINITY; mode++) {
        lb_zone_plan *p = plan_mode(mode);
        counts(p, 1, "a", 0, 4, 4);
        counts(p, 2, "b", 0, 4, 4);
        counts(p, 3, "c", 0, 4, 4);
        counts(p, 4, "far", 1, 4, 4);
        assert_lb_ok(lb_zone_set_evacuated(p, 2, 1));
        lb_zone_report b = zone_at(p, 1);
        assert_int_equal(b.state, LB_ZONE_STATE_EVACUATED);
        near(b.share, 0.0);
        near(b.incoming, 0.0);
        near(zone_at(p, 0).share, 0.5);
        near(zone_at(p, 2).share, 0.5);
        near(zone_at(p, 0).per_target, 0.125);
        double l1;
        assert_lb_ok(lb_zone_plan_priority_load(p, 1, &l1));
        near(l1, 0.0);
        assert_int_equal(summary(p).has_max_over_min, 0);
        /* the evacuated node still knows where a stray connection goes */
        double to[4];
        assert_lb_ok(lb_zone_plan_route(p, 2, to, 4));
        near(to[1], 0.0);
        near(to[0] + to[2], 1.0);
        assert_lb_ok(lb_zone_set_evacuated(p, 2, 0));
        near(zone_at(p, 1).share, 1.0 / 3.0);
        lb_zone_plan_free(p);
    }
}

/* Thresholds: under 50 % healthy a zone fails over to the others, or fails open. */
static void zone_thresholds(void **state)
{
    (void)state;
    lb_zone_plan *p = plan_mode(LB_ZONE_MODE_OFF);
    counts(p, 1, "a", 0, 4, 1);
    counts(p, 2, "b", 0, 4, 4);
    near(zone_at(p, 0).per_target, 0.5); /* one healthy target takes its node's half */
    assert_lb_ok(lb_zone_set_threshold(p, 1, 0.5, LB_ZONE_FAIL_OVER));
    lb_zone_report a = zone_at(p, 0);
    assert_int_equal(a.state, LB_ZONE_STATE_FAILED_OVER);
    near(a.share, 0.0);
    near(a.incoming, 0.0); /* cross-zone off: DNS fails the node over */
    near(zone_at(p, 1).per_target, 0.25);
    assert_lb_ok(lb_zone_set_threshold(p, 1, 0.5, LB_ZONE_FAIL_OPEN));
    a = zone_at(p, 0);
    assert_int_equal(a.state, LB_ZONE_STATE_FAIL_OPEN);
    assert_int_equal(a.serving, 4);
    near(a.per_target, 0.125);
    assert_lb_ok(lb_zone_set_threshold(p, 1, 0.0, LB_ZONE_FAIL_OVER));
    assert_int_equal(zone_at(p, 0).state, LB_ZONE_STATE_UP);
    lb_zone_plan_free(p);
}

/* Affinity: 85 % local, 15 % spread over all zones by capacity; 100 % equals cross-zone off. */
static void affinity_85(void **state)
{
    (void)state;
    lb_zone_options o;
    lb_zone_options_init(&o, sizeof(o));
    o.mode = LB_ZONE_MODE_AFFINITY;
    o.local_fraction = 0.85;
    lb_zone_plan *p;
    assert_lb_ok(lb_zone_plan_new(&p, &o));
    counts(p, 1, "a", 0, 2, 2);
    counts(p, 2, "b", 0, 8, 8);
    double to[2];
    assert_lb_ok(lb_zone_plan_route(p, 1, to, 2));
    near(to[0], 0.85 + 0.15 * 0.2);
    near(to[1], 0.15 * 0.8);
    assert_lb_ok(lb_zone_plan_route(p, 2, to, 2));
    near(to[1], 0.85 + 0.15 * 0.8);
    near(zone_at(p, 0).share, 0.5 * 0.88 + 0.5 * 0.03);
    near(summary(p).cross_zone, 0.5 * 0.12 + 0.5 * 0.03);
    o.local_fraction = 1.0;
    assert_lb_ok(lb_zone_plan_set_options(p, &o));
    near(zone_at(p, 0).per_target, 0.25);
    near(zone_at(p, 1).per_target, 0.0625);
    lb_zone_plan_free(p);
}

/* Integer weights: the largest maps to 65535, a positive fraction never rounds to 0. */
static void integer_weights(void **state)
{
    (void)state;
    lb_zone_options o;
    lb_zone_options_init(&o, sizeof(o));
    o.mode = LB_ZONE_MODE_AFFINITY;
    o.local_fraction = 0.999999;
    lb_zone_plan *p;
    assert_lb_ok(lb_zone_plan_new(&p, &o));
    assert_lb_ok(lb_zone_add(p, 1, "a", 0));
    assert_lb_ok(lb_zone_add(p, 2, "b", 0));
    assert_lb_ok(lb_zone_target_add(p, 7, 1, LB_WEIGHT_MAX, 1));
    assert_lb_ok(lb_zone_target_add(p, 8, 2, 1, 1));
    assert_lb_ok(lb_zone_target_add(p, 9, 2, 0, 1));
    uint32_t ids[3] = {8, 7, 9};
    uint32_t w[3], w2[3];
    double f[3];
    assert_lb_ok(lb_zone_plan_weights(p, 1, ids, 3, w, f));
    assert_true(f[0] > 0.0 && f[0] < 1e-10);
    assert_int_equal(w[0], 1);
    assert_int_equal(w[1], LB_WEIGHT_MAX);
    assert_int_equal(w[2], 0);
    /* cross-zone on: 65535:1 by weight */
    set_mode(p, LB_ZONE_MODE_ON);
    assert_lb_ok(lb_zone_plan_weights(p, 1, ids, 3, w, NULL));
    assert_int_equal(w[0], 1);
    assert_int_equal(w[1], LB_WEIGHT_MAX);
    /* one id alone gets the same weight as in the full list; repeat calls agree */
    assert_lb_ok(lb_zone_plan_weights(p, 1, ids, 1, w2, NULL));
    assert_int_equal(w2[0], w[0]);
    assert_lb_ok(lb_zone_plan_weights(p, 1, ids, 3, w2, NULL));
    assert_memory_equal(w, w2, sizeof(w));
    /* rounding to nearest: 1:3 gives 21845 */
    assert_lb_ok(lb_zone_target_set(p, 7, 3, 1));
    assert_lb_ok(lb_zone_plan_weights(p, 2, ids, 2, w, NULL));
    assert_int_equal(w[0], 21845);
    assert_int_equal(w[1], LB_WEIGHT_MAX);
    lb_zone_plan_free(p);
}

/* Many random plans (fixed seed): shares, routes and priority loads each sum to 1. */
static void shares_sum_to_one(void **state)
{
    (void)state;
    uint64_t seed = 0x5eed2026;
    int solved = 0;
    for (int iter = 0; iter < 2000; iter++) {
        lb_zone_options o;
        lb_zone_options_init(&o, sizeof(o));
        o.mode = (uint32_t)(lbt_rand(&seed) % 4);
        o.local_fraction = (double)(lbt_rand(&seed) % 101) / 100.0;
        o.min_cluster_size = (uint32_t)(lbt_rand(&seed) % 10);
        o.overprovisioning = 1.0 + (double)(lbt_rand(&seed) % 10) / 10.0;
        o.panic_threshold = (double)(lbt_rand(&seed) % 3) / 4.0;
        lb_zone_plan *p;
        assert_lb_ok(lb_zone_plan_new(&p, &o));
        uint32_t nz = 1 + (uint32_t)(lbt_rand(&seed) % 8), tid = 0;
        double set = 0.0;
        for (uint32_t z = 0; z < nz; z++) {
            char name[16];
            snprintf(name, sizeof(name), "z%u", z);
            assert_lb_ok(lb_zone_add(p, z, name, (uint32_t)(lbt_rand(&seed) % 3)));
            uint32_t n = (uint32_t)(lbt_rand(&seed) % 12);
            if (lbt_rand(&seed) % 2) {
                uint32_t h = n ? (uint32_t)(lbt_rand(&seed) % (n + 1)) : 0;
                assert_lb_ok(lb_zone_set_counts(p, z, n, h, 1 + (uint32_t)(lbt_rand(&seed) % 3)));
            } else {
                for (uint32_t i = 0; i < n; i++)
                    assert_lb_ok(lb_zone_target_add(p, tid++, z, (uint32_t)(lbt_rand(&seed) % 6),
                                                    lbt_rand(&seed) % 4 != 0));
            }
            if (lbt_rand(&seed) % 3 == 0) {
                double f = (double)(lbt_rand(&seed) % 40) / 100.0;
                if (set + f <= 1.0) {
                    assert_lb_ok(lb_zone_set_incoming(p, z, f));
                    set += f;
                }
            }
            if (lbt_rand(&seed) % 8 == 0)
                assert_lb_ok(lb_zone_set_evacuated(p, z, 1));
            if (lbt_rand(&seed) % 4 == 0)
                assert_lb_ok(lb_zone_set_threshold(p, z, (double)(lbt_rand(&seed) % 100) / 100.0,
                                                   (uint32_t)(lbt_rand(&seed) % 2)));
        }
        lb_zone_summary s;
        memset(&s, 0, sizeof(s));
        s.struct_size = sizeof(s);
        int rc = lb_zone_plan_summary(p, &s);
        if (rc == LB_E_NO_TARGET || rc == LB_E_ZONE_BAD_INCOMING) {
            lb_zone_plan_free(p);
            continue;
        }
        assert_lb_ok(rc);
        solved++;
        assert_true(s.cross_zone >= -EPS && s.cross_zone <= 1.0 + EPS);
        double zsum = 0.0, insum = 0.0, tsum = 0.0, lsum = 0.0;
        for (uint32_t z = 0; z < nz; z++) {
            lb_zone_report r = zone_at(p, z);
            zsum += r.share;
            insum += r.incoming;
            if (r.is_counts)
                tsum += r.per_target * r.serving;
            double to[8], rsum = 0.0;
            assert_lb_ok(lb_zone_plan_route(p, z, to, 8));
            for (uint32_t d = 0; d < nz; d++) {
                assert_true(to[d] >= 0.0);
                rsum += to[d];
            }
            near(rsum, 1.0);
        }
        for (uint32_t pr = 0; pr < 3; pr++) {
            double l;
            assert_lb_ok(lb_zone_plan_priority_load(p, pr, &l));
            lsum += l;
        }
        for (uint32_t t = 0; t < tid; t++) {
            double sh;
            uint32_t w;
            double f;
            assert_lb_ok(lb_zone_plan_shares(p, &t, 1, &sh));
            tsum += sh;
            assert_lb_ok(lb_zone_plan_weights(p, 0, &t, 1, &w, &f));
            assert_true((f > 0.0) == (w > 0));
        }
        near(zsum, 1.0);
        near(insum, 1.0);
        near(tsum, 1.0);
        near(lsum, 1.0);
        lb_zone_plan_free(p);
    }
    assert_true(solved > 1000);
}

static void errors(void **state)
{
    (void)state;
    lb_zone_plan *p;
    lb_zone_options o;
    lb_zone_options_init(&o, sizeof(o));
    assert_lb_err(lb_zone_plan_new(NULL, NULL), -EINVAL);
    o.mode = 4;
    assert_lb_err(lb_zone_plan_new(&p, &o), -EINVAL);
    lb_zone_options_init(&o, sizeof(o));
    o.overprovisioning = 0.9;
    assert_lb_err(lb_zone_plan_new(&p, &o), -EINVAL);
    lb_zone_options_init(&o, sizeof(o));
    o.local_fraction = NAN;
    assert_lb_err(lb_zone_plan_new(&p, &o), -EINVAL);
    lb_zone_options_init(&o, sizeof(o));
    o.struct_size = 4;
    assert_lb_err(lb_zone_plan_new(&p, &o), LB_E_STRUCT_SIZE);
    assert_lb_ok(lb_zone_plan_new(&p, NULL));

    lb_zone_summary s;
    memset(&s, 0, sizeof(s));
    s.struct_size = sizeof(s);
    assert_lb_err(lb_zone_plan_summary(p, &s), LB_E_NO_TARGET); /* no zones */
    assert_lb_err(lb_zone_add(p, 1, "", 0), -EINVAL);
    assert_lb_err(lb_zone_add(p, 1, NULL, 0), -EINVAL);
    char longname[LB_ZONE_NAME_MAX + 2];
    memset(longname, 'x', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = 0;
    assert_lb_err(lb_zone_add(p, 1, longname, 0), -EINVAL);
    longname[LB_ZONE_NAME_MAX] = 0;
    assert_lb_ok(lb_zone_add(p, 1, longname, 0));
    assert_lb_err(lb_zone_add(p, 1, "other", 0), -EEXIST);
    assert_lb_err(lb_zone_add(p, 2, longname, 0), -EEXIST);
    assert_lb_ok(lb_zone_add(p, 2, "b", 0));
    assert_lb_err(lb_zone_plan_summary(p, &s), LB_E_NO_TARGET); /* no targets */

    assert_lb_err(lb_zone_set_counts(p, 9, 1, 1, 1), LB_E_ZONE_UNKNOWN);
    assert_lb_err(lb_zone_set_counts(p, 1, 1, 2, 1), -EINVAL);
    assert_lb_err(lb_zone_set_counts(p, 1, 1, 1, LB_WEIGHT_MAX + 1), LB_E_POOL_BAD_WEIGHT);
    assert_lb_ok(lb_zone_set_counts(p, 1, 3, 3, 1));
    assert_lb_err(lb_zone_target_add(p, 5, 1, 1, 1), LB_E_ZONE_MIXED);
    assert_lb_err(lb_zone_target_add(p, 5, 9, 1, 1), LB_E_ZONE_UNKNOWN);
    assert_lb_err(lb_zone_target_add(p, LB_NO_TARGET, 2, 1, 1), -EINVAL);
    assert_lb_err(lb_zone_target_add(p, 5, 2, LB_WEIGHT_MAX + 1, 1), LB_E_POOL_BAD_WEIGHT);
    assert_lb_ok(lb_zone_target_add(p, 5, 2, 1, 1));
    assert_lb_err(lb_zone_target_add(p, 5, 2, 1, 1), -EEXIST);
    assert_lb_err(lb_zone_set_counts(p, 2, 1, 1, 1), LB_E_ZONE_MIXED);
    assert_lb_ok(lb_zone_add(p, 3, "c", 0));
    assert_lb_ok(lb_zone_set_counts(p, 3, 2, 2, 1));
    assert_lb_err(lb_zone_target_add(p, 6, 3, 1, 1), LB_E_ZONE_MIXED);
    assert_lb_ok(lb_zone_set_counts(p, 3, 0, 0, 1)); /* cleared */
    assert_lb_ok(lb_zone_target_add(p, 6, 3, 1, 1));
    assert_lb_ok(lb_zone_target_remove(p, 6));
    assert_lb_err(lb_zone_target_set(p, 6, 1, 1), -ENOENT);
    assert_lb_err(lb_zone_target_set(p, 5, LB_WEIGHT_MAX + 1, 1), LB_E_POOL_BAD_WEIGHT);
    assert_lb_err(lb_zone_target_remove(p, 6), -ENOENT);

    assert_lb_err(lb_zone_set_incoming(p, 1, 1.5), -EINVAL);
    assert_lb_err(lb_zone_set_incoming(p, 1, -0.5), -EINVAL);
    assert_lb_err(lb_zone_set_incoming(p, 9, 0.5), LB_E_ZONE_UNKNOWN);
    assert_lb_ok(lb_zone_set_incoming(p, 1, 0.7));
    assert_lb_ok(lb_zone_set_incoming(p, 2, 0.7));
    assert_lb_err(lb_zone_plan_summary(p, &s), LB_E_ZONE_BAD_INCOMING);
    assert_lb_ok(lb_zone_set_incoming(p, 1, 0.0));
    assert_lb_ok(lb_zone_set_incoming(p, 2, 0.0));
    assert_lb_ok(lb_zone_plan_summary(p, &s)); /* zone c takes the remainder */
    assert_lb_ok(lb_zone_set_incoming(p, 3, 0.0));
    assert_lb_err(lb_zone_plan_summary(p, &s), LB_E_ZONE_BAD_INCOMING);
    assert_lb_ok(lb_zone_set_incoming(p, 2, LB_ZONE_INCOMING_EVEN));
    assert_lb_ok(lb_zone_plan_summary(p, &s));

    assert_lb_err(lb_zone_set_threshold(p, 1, 1.1, LB_ZONE_FAIL_OVER), -EINVAL);
    assert_lb_err(lb_zone_set_threshold(p, 1, 0.5, 7), -EINVAL);
    assert_lb_err(lb_zone_set_threshold(p, 9, 0.5, 0), LB_E_ZONE_UNKNOWN);
    assert_lb_err(lb_zone_set_evacuated(p, 9, 1), LB_E_ZONE_UNKNOWN);

    double to[3];
    assert_lb_err(lb_zone_plan_route(p, 1, to, 2), -ENOSPC);
    assert_lb_err(lb_zone_plan_route(p, 9, to, 3), LB_E_ZONE_UNKNOWN);
    uint32_t bad = 77;
    uint32_t w;
    assert_lb_err(lb_zone_plan_weights(p, 1, &bad, 1, &w, NULL), -ENOENT);
    assert_lb_err(lb_zone_plan_weights(p, 9, &bad, 1, &w, NULL), LB_E_ZONE_UNKNOWN);
    lb_zone_report r;
    memset(&r, 0, sizeof(r));
    assert_lb_err(lb_zone_plan_zone(p, 0, &r), LB_E_STRUCT_SIZE); /* struct_size unset */
    r.struct_size = sizeof(r);
    assert_lb_err(lb_zone_plan_zone(p, 3, &r), -ENOENT);
    s.struct_size = 0;
    assert_lb_err(lb_zone_plan_summary(p, &s), LB_E_STRUCT_SIZE);

    /* all evacuated: nothing can serve */
    assert_lb_ok(lb_zone_set_evacuated(p, 1, 1));
    assert_lb_ok(lb_zone_set_evacuated(p, 2, 1));
    s.struct_size = sizeof(s);
    assert_lb_err(lb_zone_plan_summary(p, &s), LB_E_NO_TARGET);

    for (uint32_t i = 4; i <= LB_ZONE_MAX; i++) {
        char name[16];
        snprintf(name, sizeof(name), "z%u", i);
        assert_lb_ok(lb_zone_add(p, i, name, 0));
    }
    assert_lb_err(lb_zone_add(p, 1000, "full", 0), -ENOSPC);
    assert_int_equal(lb_zone_count(p), LB_ZONE_MAX);

    assert_lb_err(lb_zone_transfer_cost(-0.1, 1, 1, NULL, NULL), -EINVAL);
    assert_lb_err(lb_zone_transfer_cost(0.1, -1, 1, NULL, NULL), -EINVAL);
    assert_lb_err(lb_zone_transfer_cost(0.1, 1, INFINITY, NULL, NULL), -EINVAL);
    assert_string_equal(lb_zone_mode_name(LB_ZONE_MODE_AWARE), "zone-aware");
    assert_string_equal(lb_zone_mode_name(4), "unknown");
    assert_string_equal(lb_zone_state_name(LB_ZONE_STATE_FAILED_OVER), "failed-over");
    assert_string_equal(lb_zone_state_name(6), "unknown");
    assert_string_equal(lb_err_name(LB_E_ZONE_MIXED), "LB_E_ZONE_MIXED");
    lb_zone_plan_free(p);
    lb_zone_plan_free(NULL);
    assert_int_equal(lb_zone_count(NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(seed_2_and_8),
        cmocka_unit_test(seed_2_and_6),
        cmocka_unit_test(seed_explicit_targets_and_weights),
        cmocka_unit_test(envoy_worked_example),
        cmocka_unit_test(envoy_min_cluster_size),
        cmocka_unit_test(panic_turns_zone_aware_off),
        cmocka_unit_test(priority_spill_over),
        cmocka_unit_test(zone_evacuation),
        cmocka_unit_test(zone_thresholds),
        cmocka_unit_test(affinity_85),
        cmocka_unit_test(integer_weights),
        cmocka_unit_test(shares_sum_to_one),
        cmocka_unit_test(errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
