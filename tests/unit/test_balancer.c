/* The balancer through its public API: configuration and argument errors, every algorithm,
 * connection accounting and limits, draining (the seed's timeline), health, fail-open, sticky
 * and excluded picks, zones, slow start, events, statistics. */
#include <errno.h>
#include <string.h>

#include "lb/balancer.h"
#include "lb/maglev.h"
#include "lb/pool.h"
#include "lbtest.h"

#define M 1009u

static lb_balancer_config config(uint32_t algorithm)
{
    lb_balancer_config c;
    memset(&c, 0, sizeof(c));
    c.struct_size = sizeof(c);
    c.algorithm = algorithm;
    c.table_size = M;
    c.max_targets = 64;
    c.seed = 7;
    return c;
}

static lb_balancer *make(const lb_balancer_config *c)
{
    lb_balancer *b = NULL;
    assert_lb_ok(lb_balancer_new(&b, c));
    assert_non_null(b);
    return b;
}

static void add_named(lb_balancer *b, uint32_t id, uint32_t weight, uint32_t zone,
                      uint32_t max_conns, uint64_t now)
{
    char key[32];
    snprintf(key, sizeof(key), "target-%u", id);
    assert_lb_ok(lb_balancer_add(b, id, key, strlen(key), weight, zone, max_conns, now));
}

static lb_balancer *make_n(uint32_t algorithm, uint32_t n)
{
    lb_balancer_config c = config(algorithm);
    lb_balancer *b = make(&c);
    for (uint32_t i = 1; i <= n; i++)
        add_named(b, i, 1, 0, 0, 0);
    return b;
}

static lb_target_stats tstats(lb_balancer *b, uint32_t id)
{
    lb_target_stats s;
    memset(&s, 0, sizeof(s));
    s.struct_size = sizeof(s);
    assert_lb_ok(lb_balancer_get_target_stats(b, id, &s));
    return s;
}

static lb_balancer_stats bstats(lb_balancer *b)
{
    lb_balancer_stats s;
    memset(&s, 0, sizeof(s));
    s.struct_size = sizeof(s);
    assert_lb_ok(lb_balancer_get_stats(b, &s));
    return s;
}

static uint32_t pick_ok(lb_balancer *b, uint64_t h)
{
    uint32_t id = LB_NO_TARGET;
    assert_lb_ok(lb_balancer_pick(b, h, &id));
    return id;
}

/* Collect every queued event at @now. */
static int drain_events(lb_balancer *b, uint64_t now, lb_event *ev, int cap)
{
    int n = lb_balancer_tick(b, now, ev, sizeof(*ev), (size_t)cap);
    assert_true(n >= 0);
    return n;
}

static const lb_event *find_event(const lb_event *ev, int n, uint32_t type, uint32_t id,
                                  uint32_t reason)
{
    for (int i = 0; i < n; i++)
        if (ev[i].type == type && ev[i].target_id == id && (!reason || ev[i].reason == reason))
            return &ev[i];
    return NULL;
}

/* ---- configuration and arguments ---------------------------------------------------------- */

static void test_config_errors(void **state)
{
    (void)state;
    lb_balancer *b = NULL;
    assert_lb_err(lb_balancer_new(NULL, NULL), -EINVAL);
    lb_balancer_config c = config(LB_ALG_MAGLEV);
    c.struct_size = 4;
    assert_lb_err(lb_balancer_new(&b, &c), LB_E_STRUCT_SIZE);
    assert_null(b);
    c = config(9);
    assert_lb_err(lb_balancer_new(&b, &c), LB_E_BALANCER_CONFIG);
    c = config(LB_ALG_MAGLEV);
    c.table_size = 1000;
    assert_lb_err(lb_balancer_new(&b, &c), LB_E_MAGLEV_NOT_PRIME);
    c = config(LB_ALG_MAGLEV);
    c.max_targets = M + 1;
    assert_lb_err(lb_balancer_new(&b, &c), LB_E_BALANCER_CONFIG);
    struct {
        size_t off;
        uint32_t bad;
    } fields[] = {
        {offsetof(lb_balancer_config, bound_percent), 99},
        {offsetof(lb_balancer_config, rise), 101},
        {offsetof(lb_balancer_config, fall), 101},
        {offsetof(lb_balancer_config, check_interval_ms), 99},
        {offsetof(lb_balancer_config, deregistration_delay_ms), 3600001},
        {offsetof(lb_balancer_config, slow_start_ms), 3600001},
        {offsetof(lb_balancer_config, panic_percent), 101},
        {offsetof(lb_balancer_config, wait_for_checks), 2},
        {offsetof(lb_balancer_config, fail_closed), 2},
        {offsetof(lb_balancer_config, keep_connections_on_unhealthy), 2},
        {offsetof(lb_balancer_config, eject_after_failures), 1001},
        {offsetof(lb_balancer_config, max_eject_percent), 101},
        {offsetof(lb_balancer_config, zone_mode), 4},
        {offsetof(lb_balancer_config, local_percent), 101},
    };
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        c = config(LB_ALG_RING);
        memcpy((char *)&c + fields[i].off, &fields[i].bad, sizeof(uint32_t));
        assert_lb_err(lb_balancer_new(&b, &c), LB_E_BALANCER_CONFIG);
        assert_null(b);
    }
    /* NULL means every default; IMMEDIATE is a valid delay. */
    assert_lb_ok(lb_balancer_new(&b, NULL));
    lb_balancer_free(b);
    c = config(LB_ALG_MAGLEV);
    c.deregistration_delay_ms = LB_BALANCER_DRAIN_IMMEDIATE;
    b = make(&c);
    lb_balancer_free(b);
    lb_balancer_free(NULL);
}

static void test_argument_errors(void **state)
{
    (void)state;
    lb_balancer_config c = config(LB_ALG_MAGLEV);
    c.max_targets = 3;
    lb_balancer *b = make(&c);
    uint32_t id;
    assert_lb_err(lb_balancer_pick(b, 1, &id), LB_E_NO_TARGET);
    assert_lb_err(lb_balancer_pick(NULL, 1, &id), -EINVAL);
    assert_lb_err(lb_balancer_pick(b, 1, NULL), -EINVAL);
    assert_lb_err(lb_balancer_add(b, LB_NO_TARGET, "a", 1, 1, 0, 0, 0), -EINVAL);
    assert_lb_err(lb_balancer_add(b, 1, NULL, 1, 1, 0, 0, 0), -EINVAL);
    assert_lb_err(lb_balancer_add(b, 1, "a", 0, 1, 0, 0, 0), LB_E_POOL_BAD_KEY);
    static char big[LB_POOL_KEY_MAX + 1];
    assert_lb_err(lb_balancer_add(b, 1, big, sizeof(big), 1, 0, 0, 0), LB_E_POOL_BAD_KEY);
    assert_lb_err(lb_balancer_add(b, 1, "a", 1, LB_WEIGHT_MAX + 1, 0, 0, 0), LB_E_POOL_BAD_WEIGHT);
    assert_lb_ok(lb_balancer_add(b, 1, "a", 1, 1, 0, 0, 0));
    assert_lb_err(lb_balancer_add(b, 1, "b", 1, 1, 0, 0, 0), -EEXIST);
    assert_lb_err(lb_balancer_add(b, 2, "a", 1, 1, 0, 0, 0), LB_E_POOL_DUPLICATE_KEY);
    assert_lb_ok(lb_balancer_add(b, 2, "b", 1, 1, 0, 0, 0));
    assert_lb_ok(lb_balancer_add(b, 3, "c", 1, 1, 0, 0, 0));
    assert_lb_err(lb_balancer_add(b, 4, "d", 1, 1, 0, 0, 0), -ENOSPC);
    assert_lb_err(lb_balancer_remove(b, 9, 0), -ENOENT);
    assert_lb_err(lb_balancer_drain(b, 9, 0), -ENOENT);
    assert_lb_err(lb_balancer_undrain(b, 9, 0), -ENOENT);
    assert_lb_err(lb_balancer_undrain(b, 1, 0), LB_E_HEALTH_BAD_STATE);
    assert_lb_err(lb_balancer_set_weight(b, 9, 1, 0), -ENOENT);
    assert_lb_err(lb_balancer_set_weight(b, 1, LB_WEIGHT_MAX + 1, 0), LB_E_POOL_BAD_WEIGHT);
    assert_lb_err(lb_balancer_set_zone(b, 9, 1, 0), -ENOENT);
    assert_lb_err(lb_balancer_set_zone_share(b, 1, 101, 0), -ERANGE);
    assert_lb_err(lb_balancer_report(b, 9, 1, 0), -ENOENT);
    assert_lb_err(lb_balancer_report_passive(b, 9, 1, 0), -ENOENT);
    uint64_t due;
    assert_lb_err(lb_balancer_next_check(b, 9, &due), -ENOENT);
    assert_lb_err(lb_balancer_next_check(b, 1, NULL), -EINVAL);
    assert_lb_err(lb_balancer_tick(b, 0, NULL, sizeof(lb_event), 1), -EINVAL);
    assert_lb_err(lb_balancer_tick(NULL, 0, NULL, sizeof(lb_event), 0), -EINVAL);
    assert_lb_err(lb_balancer_targets(b, NULL, 1), -EINVAL);
    lb_target_stats ts;
    memset(&ts, 0, sizeof(ts));
    assert_lb_err(lb_balancer_get_target_stats(b, 1, &ts), LB_E_STRUCT_SIZE); /* struct_size */
    ts.struct_size = sizeof(ts);
    assert_lb_err(lb_balancer_get_target_stats(b, 9, &ts), -ENOENT);
    lb_balancer_stats bs;
    memset(&bs, 0, sizeof(bs));
    assert_lb_err(lb_balancer_get_stats(b, &bs), LB_E_STRUCT_SIZE);
    lb_pick_request r;
    memset(&r, 0, sizeof(r));
    assert_lb_err(lb_balancer_pick_ex(b, &r, &id), LB_E_STRUCT_SIZE); /* struct_size */
    r.struct_size = sizeof(r);
    r.flags = 2;
    assert_lb_err(lb_balancer_pick_ex(b, &r, &id), -EINVAL);
    r.flags = 0;
    r.n_exclude = 1;
    assert_lb_err(lb_balancer_pick_ex(b, &r, &id), -EINVAL);
    assert_int_equal(lb_balancer_next_deadline(NULL), UINT64_MAX);
    assert_lb_err(lb_balancer_release(NULL, 1, 0), -EINVAL);
    assert_lb_err(lb_balancer_release(b, 99, 0), -ENOENT); /* unknown: an error, counted */
    assert_int_equal(bstats(b).bad_releases, 1);
    lb_balancer_free(b);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(lb_balancer_state_name(LB_STATE_INITIAL), "initial");
    assert_string_equal(lb_balancer_state_name(LB_STATE_HEALTHY), "healthy");
    assert_string_equal(lb_balancer_state_name(LB_STATE_UNHEALTHY), "unhealthy");
    assert_string_equal(lb_balancer_state_name(LB_STATE_DRAINING), "draining");
    assert_string_equal(lb_balancer_state_name(LB_STATE_REMOVED), "removed");
    assert_string_equal(lb_balancer_state_name(5), "unknown");
    const char *reasons[] = {"unknown",        "registered", "check_passed", "check_failed",
                             "deregistered",   "drained",    "deadline",     "ejected",
                             "ejection_ended", "undrained",  "unknown"};
    for (uint32_t r = 0; r < sizeof(reasons) / sizeof(reasons[0]); r++)
        assert_string_equal(lb_balancer_reason_name(r), reasons[r]);
    const char *algs[] = {"maglev", "ring", "ring-bounded", "wrr", "leastconn", "p2c"};
    for (uint32_t a = 0; a < 6; a++)
        assert_string_equal(lb_balancer_algorithm_name(a), algs[a]);
    assert_string_equal(lb_balancer_algorithm_name(6), "unknown");
}

/* ---- algorithms ----------------------------------------------------------------------------- */

static void test_maglev_table(void **state)
{
    (void)state;
    lb_balancer *b = make_n(LB_ALG_MAGLEV, 10);
    /* The balancer's table is the Maglev table of its targets. */
    lb_pool *pool;
    assert_lb_ok(lb_pool_new(&pool));
    for (uint32_t i = 1; i <= 10; i++) {
        char key[32];
        snprintf(key, sizeof(key), "target-%u", i);
        assert_lb_ok(lb_pool_add(pool, i, key, strlen(key), 1, 0));
    }
    lb_maglev *t;
    assert_lb_ok(lb_maglev_build(&t, pool, M));
    lb_balancer_stats s = bstats(b);
    assert_int_equal(s.table_digest, lb_maglev_digest(t));
    assert_int_equal(s.targets, 10);
    assert_int_equal(s.eligible, 10);
    assert_int_equal(s.fail_open, 0);
    uint32_t total = 0;
    for (uint32_t i = 1; i <= 10; i++) {
        lb_target_stats ts = tstats(b, i);
        uint32_t e;
        assert_lb_ok(lb_maglev_entries(t, i, &e));
        assert_int_equal(ts.table_entries, e);
        assert_true(e == M / 10 || e == M / 10 + 1);
        total += e;
    }
    assert_int_equal(total, M);
    uint64_t seed = 1;
    for (int k = 0; k < 5000; k++) {
        uint64_t h = lbt_rand(&seed);
        uint32_t id = pick_ok(b, h);
        assert_int_equal(id, lb_maglev_lookup(t, h));
        lb_balancer_release(b, id, 0);
    }
    for (uint32_t i = 1; i <= 10; i++)
        assert_int_equal(tstats(b, i).active, 0);
    assert_int_equal(bstats(b).picks, 5000);
    lb_maglev_free(t);
    lb_pool_free(pool);
    lb_balancer_free(b);
}

/* Every algorithm picks only registered targets, in proportion to weight, and keeps counts. */
static void test_every_algorithm(void **state)
{
    (void)state;
    for (uint32_t alg = LB_ALG_MAGLEV; alg <= LB_ALG_P2C; alg++) {
        lb_balancer_config c = config(alg);
        lb_balancer *b = make(&c);
        add_named(b, 1, 1, 0, 0, 0);
        add_named(b, 2, 2, 0, 0, 0);
        add_named(b, 3, 1, 0, 0, 0);
        uint32_t count[4] = {0};
        uint64_t seed = 11;
        const int n = 4000;
        for (int k = 0; k < n; k++) {
            uint32_t id = pick_ok(b, lbt_rand(&seed));
            assert_true(id >= 1 && id <= 3);
            count[id]++; /* held: least-connections needs load to weigh */
        }
        /* weight 2 takes about half (consistent hashing tolerates some spread) */
        if (count[2] <= n * 40 / 100 || count[2] >= n * 60 / 100)
            fail_msg("%s: %u %u %u", lb_balancer_algorithm_name(alg), count[1], count[2], count[3]);
        assert_true(count[2] > n * 40 / 100 && count[2] < n * 60 / 100);
        assert_true(count[1] > n * 15 / 100 && count[3] > n * 15 / 100);
        if (alg == LB_ALG_WRR)
            assert_int_equal(count[2], n / 2);
        for (uint32_t i = 1; i <= 3; i++) {
            assert_int_equal(tstats(b, i).active, count[i]);
            assert_int_equal(tstats(b, i).picks, count[i]);
            for (uint32_t k = 0; k < count[i]; k++)
                lb_balancer_release(b, i, 0);
            assert_int_equal(tstats(b, i).active, 0);
        }
        lb_balancer_free(b);
    }
}

static void test_hash_consistency(void **state)
{
    (void)state;
    uint32_t algs[] = {LB_ALG_MAGLEV, LB_ALG_RING};
    for (size_t a = 0; a < 2; a++) {
        lb_balancer *b = make_n(algs[a], 8);
        uint32_t before[512];
        uint64_t seed = 3;
        for (int k = 0; k < 512; k++) {
            before[k] = pick_ok(b, lbt_rand(&seed));
            lb_balancer_release(b, before[k], 0);
        }
        assert_lb_ok(lb_balancer_drain(b, 8, 0));
        seed = 3;
        int moved = 0;
        for (int k = 0; k < 512; k++) {
            uint32_t id = pick_ok(b, lbt_rand(&seed));
            lb_balancer_release(b, id, 0);
            assert_int_not_equal(id, 8);
            moved += id != before[k] && before[k] != 8;
        }
        /* only the drained target's flows move (Maglev: a few more) */
        assert_true(moved < 512 / 20);
        lb_balancer_free(b);
    }
}

static void test_leastconn_and_p2c_balance(void **state)
{
    (void)state;
    uint32_t algs[] = {LB_ALG_LEASTCONN, LB_ALG_P2C};
    for (size_t a = 0; a < 2; a++) {
        lb_balancer *b = make_n(algs[a], 6);
        uint64_t seed = 5;
        for (int k = 0; k < 600; k++)
            pick_ok(b, lbt_rand(&seed));
        uint32_t lo = UINT32_MAX, hi = 0;
        for (uint32_t i = 1; i <= 6; i++) {
            uint32_t act = tstats(b, i).active;
            lo = act < lo ? act : lo;
            hi = act > hi ? act : hi;
        }
        if (algs[a] == LB_ALG_LEASTCONN)
            assert_int_equal(hi, lo); /* exact: 100 each */
        else
            assert_true(hi - lo <= 10);
        lb_balancer_free(b);
    }
}

static void test_ring_bounded(void **state)
{
    (void)state;
    lb_balancer_config c = config(LB_ALG_RING_BOUNDED);
    c.bound_percent = 125;
    lb_balancer *b = make(&c);
    for (uint32_t i = 1; i <= 8; i++)
        add_named(b, i, 1, 0, 0, 0);
    /* One hot key: connections must spread once its target is full. */
    for (uint32_t k = 1; k <= 800; k++) {
        pick_ok(b, 42);
        for (uint32_t i = 1; i <= 8; i++)
            assert_true(tstats(b, i).active <= (125 * k + 8 * 100 - 1) / (8 * 100));
    }
    lb_balancer_free(b);
}

static void test_max_conns(void **state)
{
    (void)state;
    lb_balancer_config c = config(LB_ALG_MAGLEV);
    lb_balancer *b = make(&c);
    add_named(b, 1, 1, 0, 2, 0);
    uint32_t id;
    pick_ok(b, 1);
    pick_ok(b, 2);
    assert_lb_err(lb_balancer_pick(b, 3, &id), LB_E_BALANCER_TARGET_FULL);
    assert_int_equal(tstats(b, 1).active, 2);
    assert_int_equal(tstats(b, 1).picks, 2);
    assert_int_equal(tstats(b, 1).max_conns, 2);
    lb_balancer_release(b, 1, 0);
    assert_int_equal(pick_ok(b, 3), 1);
    lb_balancer_free(b);
}

/* ---- draining ---------------------------------------------------------------------------- */

/* The seed's timeline: a target with 50 connections is deregistered with a 300 s delay;
 * 45 close by 10 s, 48 by 30 s, 49 by 60 s; at 300 s the last one must be closed. */
static void test_seed_drain_timeline(void **state)
{
    (void)state;
    lb_balancer_config c = config(LB_ALG_MAGLEV);
    c.deregistration_delay_ms = 300000;
    lb_balancer *b = make(&c);
    add_named(b, 1, 1, 0, 0, 0);
    for (int k = 0; k < 50; k++)
        assert_int_equal(pick_ok(b, (uint64_t)k), 1);
    add_named(b, 2, 1, 0, 0, 0);
    lb_event ev[16];
    drain_events(b, 0, ev, 16);
    assert_lb_ok(lb_balancer_remove(b, 1, 0));
    for (int k = 0; k < 100; k++) /* no new connection from now on */
        assert_int_equal(pick_ok(b, (uint64_t)k), 2);
    int n = drain_events(b, 0, ev, 16);
    const lb_event *e = find_event(ev, n, LB_EVENT_STATE, 1, LB_REASON_DEREGISTERED);
    assert_non_null(e);
    assert_int_equal(e->old_state, LB_STATE_HEALTHY);
    assert_int_equal(e->new_state, LB_STATE_DRAINING);
    assert_int_equal(e->connections, 50);
    assert_int_equal(tstats(b, 1).state, LB_STATE_DRAINING);
    assert_int_equal(tstats(b, 1).eligible, 0);
    assert_int_equal(lb_balancer_next_deadline(b), 300000);
    const struct {
        uint64_t at;
        int closed;
    } steps[] = {{10000, 45}, {30000, 48}, {60000, 49}};
    int closed = 0;
    for (size_t s = 0; s < 3; s++) {
        for (; closed < steps[s].closed; closed++)
            lb_balancer_release(b, 1, steps[s].at);
        assert_int_equal(drain_events(b, steps[s].at, ev, 16), 0);
        assert_int_equal(tstats(b, 1).active, 50 - steps[s].closed);
    }
    assert_int_equal(drain_events(b, 299999, ev, 16), 0);
    assert_int_equal(tstats(b, 1).state, LB_STATE_DRAINING);
    n = drain_events(b, 300000, ev, 16);
    assert_int_equal(n, 3);
    assert_int_equal(ev[0].type, LB_EVENT_CLOSE);
    assert_int_equal(ev[0].target_id, 1);
    assert_int_equal(ev[0].connections, 1);
    assert_int_equal(ev[1].type, LB_EVENT_STATE);
    assert_int_equal(ev[1].new_state, LB_STATE_REMOVED);
    assert_int_equal(ev[1].reason, LB_REASON_DEADLINE);
    assert_int_equal(ev[1].at_ms, 300000);
    assert_int_equal(ev[2].type, LB_EVENT_REMOVED);
    lb_target_stats ts = {.struct_size = sizeof(ts)};
    assert_lb_err(lb_balancer_get_target_stats(b, 1, &ts), -ENOENT);
    assert_int_equal(bstats(b).targets, 1);
    /* the caller closes the last one after the removal: an error, counted */
    assert_lb_err(lb_balancer_release(b, 1, 300001), -ENOENT);
    assert_int_equal(bstats(b).bad_releases, 1);
    /* the id may be reused */
    add_named(b, 1, 1, 0, 0, 300001);
    assert_int_equal(tstats(b, 1).active, 0);
    assert_int_equal(tstats(b, 1).picks, 0);
    lb_balancer_free(b);
}

/* Draining ends early at the last release. */
static void test_drain_ends_at_last_release(void **state)
{
    (void)state;
    lb_balancer *b = make_n(LB_ALG_MAGLEV, 2);
    uint32_t ids[3];
    for (int k = 0; k < 3; k++)
        ids[k] = pick_ok(b, (uint64_t)k * 7919);
    uint32_t victim = ids[0];
    int held = 0;
    for (int k = 0; k < 3; k++)
        held += ids[k] == victim;
    lb_event ev[16];
    drain_events(b, 0, ev, 16);
    assert_lb_ok(lb_balancer_remove(b, victim, 1000));
    for (int k = 0; k < 3; k++)
        if (ids[k] == victim)
            lb_balancer_release(b, victim, 2000);
    assert_int_equal(lb_balancer_next_deadline(b), 0); /* events are waiting */
    int n = drain_events(b, 2000, ev, 16);
    const lb_event *e = find_event(ev, n, LB_EVENT_STATE, victim, LB_REASON_DRAINED);
    assert_non_null(e);
    assert_int_equal(e->new_state, LB_STATE_REMOVED);
    assert_int_equal(e->at_ms, 2000);
    assert_non_null(find_event(ev, n, LB_EVENT_REMOVED, victim, 0));
    assert_null(find_event(ev, n, LB_EVENT_CLOSE, victim, 0));
    assert_int_equal(bstats(b).targets, 1);
    assert_true(held >= 1);
    /* a target with no connection is removed at once */
    uint32_t other = victim == 1 ? 2 : 1;
    for (int k = 0; k < 3; k++)
        if (ids[k] == other)
            lb_balancer_release(b, other, 3000);
    assert_lb_ok(lb_balancer_remove(b, other, 3000));
    n = drain_events(b, 3000, ev, 16);
    assert_non_null(find_event(ev, n, LB_EVENT_REMOVED, other, 0));
    assert_int_equal(bstats(b).targets, 0);
    uint32_t id;
    assert_lb_err(lb_balancer_pick(b, 1, &id), LB_E_NO_TARGET);
    assert_int_equal(bstats(b).no_target, 1);
    lb_balancer_free(b);
}

/* An operator's drain: no new connections, the deadline closes the rest, undrain restores. */
static void test_operator_drain(void **state)
{
    (void)state;
    lb_balancer_config c = config(LB_ALG_MAGLEV);
    c.deregistration_delay_ms = 5000;
    lb_balancer *b = make(&c);
    add_named(b, 1, 1, 0, 0, 0);
    add_named(b, 2, 1, 0, 0, 0);
    pick_ok(b, 1);
    uint32_t held = pick_ok(b, 1); /* same hash: same target, 2 connections */
    lb_event ev[16];
    drain_events(b, 0, ev, 16);
    assert_lb_ok(lb_balancer_drain(b, held, 100));
    assert_lb_ok(lb_balancer_drain(b, held, 200)); /* again: nothing changes */
    uint64_t seed = 9;
    for (int k = 0; k < 200; k++) {
        uint32_t id = pick_ok(b, lbt_rand(&seed));
        assert_int_not_equal(id, held);
        lb_balancer_release(b, id, 100);
    }
    assert_int_equal(lb_balancer_next_deadline(b), 0);
    int n = drain_events(b, 100, ev, 16);
    assert_int_equal(n, 1);
    assert_int_equal(ev[0].new_state, LB_STATE_DRAINING);
    assert_int_equal(ev[0].connections, 2);
    assert_int_equal(lb_balancer_next_deadline(b), 5100);
    lb_balancer_release(b, held, 1000);
    n = drain_events(b, 5100, ev, 16);
    assert_int_equal(n, 2);
    assert_int_equal(ev[0].type, LB_EVENT_CLOSE);
    assert_int_equal(ev[0].connections, 1);
    assert_int_equal(ev[1].reason, LB_REASON_DEADLINE);
    assert_int_equal(ev[1].new_state, LB_STATE_DRAINING);
    assert_int_equal(tstats(b, held).state, LB_STATE_DRAINING); /* stays until undrained */
    assert_int_equal(bstats(b).targets, 2);
    lb_balancer_release(b, held, 6000);
    assert_lb_ok(lb_balancer_undrain(b, held, 6000));
    n = drain_events(b, 6000, ev, 16);
    assert_int_equal(n, 1);
    assert_int_equal(ev[0].reason, LB_REASON_UNDRAINED);
    assert_int_equal(ev[0].new_state, LB_STATE_HEALTHY);
    assert_int_equal(pick_ok(b, 1), held);
    /* a drain with no connection ends at once; then removal */
    lb_balancer_release(b, held, 6000);
    assert_lb_ok(lb_balancer_drain(b, held, 7000));
    n = drain_events(b, 7000, ev, 16);
    assert_non_null(find_event(ev, n, LB_EVENT_STATE, held, LB_REASON_DRAINED));
    assert_lb_ok(lb_balancer_remove(b, held, 8000));
    assert_lb_err(lb_balancer_undrain(b, held, 8000), -ENOENT);
    n = drain_events(b, 8000, ev, 16);
    assert_non_null(find_event(ev, n, LB_EVENT_REMOVED, held, 0));
    lb_balancer_free(b);
}

static void test_drain_immediate(void **state)
{
    (void)state;
    lb_balancer_config c = config(LB_ALG_WRR);
    c.deregistration_delay_ms = LB_BALANCER_DRAIN_IMMEDIATE;
    lb_balancer *b = make(&c);
    add_named(b, 1, 1, 0, 0, 0);
    add_named(b, 2, 1, 0, 0, 0);
    for (int k = 0; k < 4; k++)
        pick_ok(b, 0);
    lb_event ev[16];
    drain_events(b, 0, ev, 16);
    assert_lb_ok(lb_balancer_remove(b, 1, 10));
    int n = drain_events(b, 10, ev, 16);
    const lb_event *e = find_event(ev, n, LB_EVENT_CLOSE, 1, 0);
    assert_non_null(e);
    assert_int_equal(e->connections, 2);
    assert_non_null(find_event(ev, n, LB_EVENT_REMOVED, 1, 0));
    lb_balancer_free(b);
}

/* ---- health --------------------------------------------------------------------------------- */

static void test_health_checks(void **state)
{
    (void)state;
    lb_balancer_config c = config(LB_ALG_MAGLEV);
    c.wait_for_checks = 1;
    c.rise = 2;
    c.fall = 2;
    c.check_interval_ms = 1000;
    lb_balancer *b = make(&c);
    add_named(b, 1, 1, 0, 0, 0);
    add_named(b, 2, 1, 0, 0, 0);
    assert_int_equal(tstats(b, 1).state, LB_STATE_INITIAL);
    /* nobody healthy: fail open */
    assert_int_equal(bstats(b).fail_open, 1);
    assert_int_equal(bstats(b).eligible, 2);
    uint64_t due;
    assert_lb_ok(lb_balancer_next_check(b, 1, &due));
    assert_int_equal(due, 0);
    assert_lb_ok(lb_balancer_report(b, 1, 1, 10));
    assert_int_equal(tstats(b, 1).state, LB_STATE_INITIAL);
    assert_lb_ok(lb_balancer_report(b, 1, 1, 20));
    assert_int_equal(tstats(b, 1).state, LB_STATE_HEALTHY);
    assert_lb_ok(lb_balancer_next_check(b, 1, &due));
    assert_true(due > 20 && due <= 20 + 1100);
    lb_balancer_stats s = bstats(b);
    assert_int_equal(s.fail_open, 0);
    assert_int_equal(s.eligible, 1);
    for (uint64_t h = 0; h < 100; h++) {
        assert_int_equal(pick_ok(b, h * 0x9E3779B97F4A7C15ull), 1);
        lb_balancer_release(b, 1, 30);
    }
    lb_event ev[16];
    int n = drain_events(b, 30, ev, 16);
    const lb_event *e = find_event(ev, n, LB_EVENT_STATE, 1, LB_REASON_CHECK_PASSED);
    assert_non_null(e);
    assert_int_equal(e->old_state, LB_STATE_INITIAL);
    assert_int_equal(e->at_ms, 20);
    /* failing checks with connections: the balancer says close them */
    pick_ok(b, 1);
    pick_ok(b, 2);
    assert_lb_ok(lb_balancer_report(b, 1, 0, 40));
    assert_lb_ok(lb_balancer_report(b, 1, 0, 50));
    assert_int_equal(tstats(b, 1).state, LB_STATE_UNHEALTHY);
    n = drain_events(b, 50, ev, 16);
    e = find_event(ev, n, LB_EVENT_CLOSE, 1, 0);
    assert_non_null(e);
    assert_int_equal(e->connections, 2);
    assert_non_null(find_event(ev, n, LB_EVENT_STATE, 1, LB_REASON_CHECK_FAILED));
    assert_int_equal(bstats(b).fail_open, 1); /* nobody healthy again */
    lb_balancer_free(b);
}

/* keep_connections_on_unhealthy: a failing target keeps its connections (no close event);
 * checks of a target being removed are accepted and ignored. */
static void test_keep_connections(void **state)
{
    (void)state;
    lb_balancer_config c = config(LB_ALG_MAGLEV);
    c.fall = 1;
    c.keep_connections_on_unhealthy = 1;
    lb_balancer *b = make(&c);
    add_named(b, 1, 1, 0, 0, 0);
    add_named(b, 2, 1, 0, 0, 0);
    uint32_t id = pick_ok(b, 3);
    lb_event ev[16];
    drain_events(b, 0, ev, 16);
    assert_lb_ok(lb_balancer_report(b, id, 0, 10));
    int n = drain_events(b, 10, ev, 16);
    assert_non_null(find_event(ev, n, LB_EVENT_STATE, id, LB_REASON_CHECK_FAILED));
    assert_null(find_event(ev, n, LB_EVENT_CLOSE, id, 0));
    assert_int_equal(tstats(b, id).active, 1);
    assert_int_equal(tstats(b, id).state, LB_STATE_UNHEALTHY);
    assert_lb_ok(lb_balancer_remove(b, id, 20));
    assert_lb_ok(lb_balancer_report(b, id, 1, 30));
    assert_int_equal(tstats(b, id).state, LB_STATE_DRAINING);
    lb_balancer_release(b, id, 40);
    n = drain_events(b, 40, ev, 16);
    assert_non_null(find_event(ev, n, LB_EVENT_REMOVED, id, 0));
    lb_balancer_free(b);
}

/* Fail-open when every check fails; fail-closed refuses. */
static void test_fail_open(void **state)
{
    (void)state;
    for (uint32_t closed = 0; closed <= 1; closed++) {
        lb_balancer_config c = config(LB_ALG_MAGLEV);
        c.fall = 1;
        c.fail_closed = closed;
        lb_balancer *b = make(&c);
        for (uint32_t i = 1; i <= 4; i++)
            add_named(b, i, 1, 0, 0, 0);
        for (uint32_t i = 1; i <= 3; i++)
            assert_lb_ok(lb_balancer_report(b, i, 0, 10));
        for (uint64_t h = 0; h < 200; h++) {
            assert_int_equal(pick_ok(b, h * 0x9E3779B97F4A7C15ull), 4);
            lb_balancer_release(b, 4, 10);
        }
        assert_lb_ok(lb_balancer_report(b, 4, 0, 20));
        lb_balancer_stats s = bstats(b);
        uint32_t id;
        if (closed) {
            assert_int_equal(s.fail_open, 0);
            assert_int_equal(s.eligible, 0);
            assert_lb_err(lb_balancer_pick(b, 1, &id), LB_E_NO_TARGET);
        } else {
            assert_int_equal(s.fail_open, 1);
            assert_int_equal(s.eligible, 4);
            uint32_t seen[5] = {0};
            for (uint64_t h = 0; h < 400; h++) {
                id = pick_ok(b, h * 0x9E3779B97F4A7C15ull);
                seen[id]++;
                lb_balancer_release(b, id, 20);
            }
            for (uint32_t i = 1; i <= 4; i++)
                assert_true(seen[i] > 0);
            /* a drained target stays out even under fail-open */
            assert_lb_ok(lb_balancer_drain(b, 2, 30));
            for (uint64_t h = 0; h < 400; h++) {
                id = pick_ok(b, h * 0x9E3779B97F4A7C15ull);
                assert_int_not_equal(id, 2);
                lb_balancer_release(b, id, 30);
            }
            /* one check passing ends fail-open (rise 2) */
            assert_lb_ok(lb_balancer_report(b, 3, 1, 40));
            assert_lb_ok(lb_balancer_report(b, 3, 1, 50));
            assert_int_equal(bstats(b).fail_open, 0);
            assert_int_equal(pick_ok(b, 77), 3);
        }
        lb_balancer_free(b);
    }
}

static void test_panic_percent(void **state)
{
    (void)state;
    lb_balancer_config c = config(LB_ALG_MAGLEV);
    c.fall = 1;
    c.panic_percent = 50;
    lb_balancer *b = make(&c);
    for (uint32_t i = 1; i <= 4; i++)
        add_named(b, i, 1, 0, 0, 0);
    assert_lb_ok(lb_balancer_report(b, 1, 0, 10));
    assert_int_equal(bstats(b).fail_open, 0); /* 3 of 4 healthy */
    assert_int_equal(bstats(b).eligible, 3);
    assert_lb_ok(lb_balancer_report(b, 2, 0, 10));
    assert_int_equal(bstats(b).fail_open, 0); /* 2 of 4: not under 50 % */
    assert_lb_ok(lb_balancer_report(b, 3, 0, 10));
    assert_int_equal(bstats(b).fail_open, 1); /* 1 of 4 */
    assert_int_equal(bstats(b).eligible, 4);
    lb_balancer_free(b);
}

static void test_passive_ejection(void **state)
{
    (void)state;
    lb_balancer_config c = config(LB_ALG_MAGLEV);
    c.eject_after_failures = 3;
    c.eject_base_ms = 1000;
    c.max_eject_percent = 50;
    lb_balancer *b = make(&c);
    for (uint32_t i = 1; i <= 4; i++)
        add_named(b, i, 1, 0, 0, 0);
    for (int k = 0; k < 3; k++)
        assert_lb_ok(lb_balancer_report_passive(b, 2, 0, 100));
    assert_int_equal(tstats(b, 2).state, LB_STATE_UNHEALTHY);
    assert_int_equal(tstats(b, 2).eligible, 0);
    assert_int_equal(lb_balancer_next_deadline(b), 0);
    lb_event ev[16];
    int n = drain_events(b, 100, ev, 16);
    assert_non_null(find_event(ev, n, LB_EVENT_STATE, 2, LB_REASON_EJECTED));
    assert_int_equal(lb_balancer_next_deadline(b), 1100);
    n = drain_events(b, 1100, ev, 16);
    assert_non_null(find_event(ev, n, LB_EVENT_STATE, 2, LB_REASON_EJECTION_ENDED));
    assert_int_equal(tstats(b, 2).state, LB_STATE_HEALTHY);
    assert_int_equal(tstats(b, 2).eligible, 1);
    lb_balancer_free(b);
}

/* ---- sticky and excluded picks -------------------------------------------------------------- */

static void test_sticky_fallback(void **state)
{
    (void)state;
    lb_balancer *b = make_n(LB_ALG_MAGLEV, 5);
    lb_pick_request r;
    memset(&r, 0, sizeof(r));
    r.struct_size = sizeof(r);
    r.flags = LB_PICK_STICKY;
    uint32_t id;
    uint64_t seed = 21;
    for (int k = 0; k < 100; k++) {
        r.flow_hash = lbt_rand(&seed);
        r.preferred_id = 3;
        assert_lb_ok(lb_balancer_pick_ex(b, &r, &id));
        assert_int_equal(id, 3);
        lb_balancer_release(b, id, 0);
    }
    assert_lb_ok(lb_balancer_drain(b, 3, 0));
    seed = 21;
    for (int k = 0; k < 100; k++) {
        r.flow_hash = lbt_rand(&seed);
        assert_lb_ok(lb_balancer_pick_ex(b, &r, &id));
        assert_int_not_equal(id, 3);
        /* the fallback is the normal pick for the hash */
        assert_int_equal(id, pick_ok(b, r.flow_hash));
        lb_balancer_release(b, id, 0);
        lb_balancer_release(b, id, 0);
    }
    r.preferred_id = 77; /* unknown: normal pick */
    assert_lb_ok(lb_balancer_pick_ex(b, &r, &id));
    assert_int_equal(id, pick_ok(b, r.flow_hash));
    lb_balancer_free(b);
}

static void test_exclude(void **state)
{
    (void)state;
    for (uint32_t alg = LB_ALG_MAGLEV; alg <= LB_ALG_P2C; alg++) {
        lb_balancer *b = make_n(alg, 4);
        lb_pick_request r;
        memset(&r, 0, sizeof(r));
        r.struct_size = sizeof(r);
        uint32_t excl[3], id, again;
        uint64_t seed = 31;
        for (int k = 0; k < 200; k++) {
            r.flow_hash = lbt_rand(&seed);
            excl[0] = pick_ok(b, r.flow_hash);
            lb_balancer_release(b, excl[0], 0);
            excl[1] = 1 + (uint32_t)(r.flow_hash % 4);
            r.exclude = excl;
            r.n_exclude = 2;
            assert_lb_ok(lb_balancer_pick_ex(b, &r, &id));
            assert_true(id != excl[0] && id != excl[1]);
            lb_balancer_release(b, id, 0);
            if (alg == LB_ALG_MAGLEV || alg == LB_ALG_RING) { /* consistent next choice */
                assert_lb_ok(lb_balancer_pick_ex(b, &r, &again));
                assert_int_equal(again, id);
                lb_balancer_release(b, again, 0);
            }
        }
        excl[0] = 1, excl[1] = 2, excl[2] = 3;
        r.n_exclude = 3;
        assert_lb_ok(lb_balancer_pick_ex(b, &r, &id));
        assert_int_equal(id, 4);
        lb_balancer_release(b, id, 0);
        for (uint32_t i = 1; i <= 4; i++)
            assert_int_equal(tstats(b, i).active, 0);
        lb_balancer_free(b);
    }
}

/* ---- zones ---------------------------------------------------------------------------------- */

static void test_zone_local(void **state)
{
    (void)state;
    lb_balancer_config c = config(LB_ALG_MAGLEV);
    c.zone_mode = LB_BALANCER_ZONE_LOCAL;
    c.local_zone = 1;
    lb_balancer *b = make(&c);
    add_named(b, 1, 1, 1, 0, 0);
    add_named(b, 2, 1, 1, 0, 0);
    add_named(b, 3, 1, 2, 0, 0);
    add_named(b, 4, 1, 2, 0, 0);
    uint64_t seed = 41;
    for (int k = 0; k < 500; k++) {
        uint32_t id = pick_ok(b, lbt_rand(&seed));
        assert_true(id == 1 || id == 2);
        lb_balancer_release(b, id, 0);
    }
    assert_int_equal(tstats(b, 3).effective_weight, 0);
    assert_int_equal(tstats(b, 3).eligible, 0);
    /* a target moved into the local zone takes traffic */
    assert_lb_ok(lb_balancer_set_zone(b, 3, 1, 0));
    uint32_t seen3 = 0;
    for (int k = 0; k < 500; k++) {
        uint32_t id = pick_ok(b, lbt_rand(&seed));
        assert_true(id != 4);
        seen3 += id == 3;
        lb_balancer_release(b, id, 0);
    }
    assert_true(seen3 > 100);
    /* the local zone empty: its traffic goes elsewhere rather than nowhere */
    assert_lb_ok(lb_balancer_drain(b, 1, 0));
    assert_lb_ok(lb_balancer_drain(b, 2, 0));
    assert_lb_ok(lb_balancer_drain(b, 3, 0));
    assert_int_equal(pick_ok(b, 5), 4);
    lb_balancer_free(b);
}

static void test_zone_aware_and_affinity(void **state)
{
    (void)state;
    /* Envoy's example: upstream 2/4/2 targets, downstream 40/40/20; zone 1 keeps 62.5 %. */
    lb_balancer_config c = config(LB_ALG_WRR);
    c.zone_mode = LB_BALANCER_ZONE_AWARE;
    c.local_zone = 1;
    lb_balancer *b = make(&c);
    uint32_t id = 1;
    const uint32_t per_zone[3] = {2, 4, 2};
    for (uint32_t z = 0; z < 3; z++)
        for (uint32_t k = 0; k < per_zone[z]; k++)
            add_named(b, id++, 1, z + 1, 0, 0);
    assert_lb_ok(lb_balancer_set_zone_share(b, 1, 40, 0));
    assert_lb_ok(lb_balancer_set_zone_share(b, 2, 40, 0));
    assert_lb_ok(lb_balancer_set_zone_share(b, 3, 20, 0));
    uint32_t local = 0;
    const int n = 8000;
    for (int k = 0; k < n; k++) {
        uint32_t t = pick_ok(b, (uint64_t)k);
        local += t <= 2;
        lb_balancer_release(b, t, 0);
    }
    assert_true(local > n * 60 / 100 && local < n * 65 / 100);
    lb_balancer_free(b);

    c = config(LB_ALG_WRR);
    c.zone_mode = LB_BALANCER_ZONE_AFFINITY;
    c.local_zone = 2;
    c.local_percent = 100;
    b = make(&c);
    add_named(b, 1, 1, 1, 0, 0);
    add_named(b, 2, 1, 2, 0, 0);
    for (int k = 0; k < 100; k++) {
        assert_int_equal(pick_ok(b, (uint64_t)k), 2);
        lb_balancer_release(b, 2, 0);
    }
    lb_balancer_free(b);
}

/* ---- slow start ------------------------------------------------------------------------------ */

static void test_slow_start_steps(void **state)
{
    (void)state;
    lb_balancer_config c = config(LB_ALG_MAGLEV);
    c.slow_start_ms = 10000;
    lb_balancer *b = make(&c);
    for (uint32_t i = 1; i <= 4; i++)
        add_named(b, i, 1, 0, 0, 0);
    lb_event ev[32];
    drain_events(b, 20000, ev, 32); /* every ramp of the first four is over */
    assert_int_equal(tstats(b, 4).effective_weight, 1);
    add_named(b, 5, 100, 0, 0, 20000);
    for (uint32_t i = 1; i <= 4; i++)
        assert_lb_ok(lb_balancer_set_weight(b, i, 100, 20000));
    uint32_t first = tstats(b, 5).table_entries;
    uint32_t prev = first, rises = 0;
    uint64_t gen0 = bstats(b).generation;
    assert_true(first < M / 5 / 4); /* about 10 % of its share at first */
    for (uint64_t t = 20000; t <= 31000; t += 250) {
        drain_events(b, t, ev, 32);
        uint64_t d = lb_balancer_next_deadline(b);
        assert_true(d > t && (t >= 30000 || d <= t + 1000));
        uint32_t e = tstats(b, 5).table_entries;
        assert_true(e >= prev);
        rises += e > prev;
        prev = e;
    }
    /* it rose in steps (one per window / 10) to its full share */
    assert_true(rises >= 8);
    assert_true(prev == M / 5 || prev == M / 5 + 1);
    assert_true(bstats(b).generation - gen0 <= 12);
    lb_balancer_free(b);
}

/* ---- randomized invariants ---------------------------------------------------------------- */

/* Random operations on every algorithm; after each pick the target is registered, eligible and
 * not draining; every target's active count equals the connections the test holds on it; a
 * removed target leaves with LB_EVENT_REMOVED. */
static void test_random_invariants(void **state)
{
    (void)state;
    enum { IDS = 24, STEPS = 3000, HOLD = 256 };
    for (uint32_t alg = LB_ALG_MAGLEV; alg <= LB_ALG_P2C; alg++) {
        lb_balancer_config c = config(alg);
        c.deregistration_delay_ms = 40;
        c.fall = 2;
        c.slow_start_ms = 30;
        lb_balancer *b = make(&c);
        uint32_t held[HOLD], n_held = 0, model[IDS + 1] = {0};
        int registered[IDS + 1] = {0}, removing[IDS + 1] = {0};
        uint64_t seed = 1000 + alg, now = 0, picks = 0, removals = 0;
        lb_event ev[64];
        for (int step = 0; step < STEPS; step++) {
            now += lbt_rand(&seed) % 4;
            uint32_t id = 1 + (uint32_t)(lbt_rand(&seed) % IDS);
            uint32_t op = (uint32_t)(lbt_rand(&seed) % 16);
            if (op < 6) { /* pick */
                uint32_t got;
                int rc = lb_balancer_pick(b, lbt_rand(&seed), &got);
                if (rc == 0) {
                    lb_target_stats ts = tstats(b, got);
                    assert_true(ts.eligible && ts.state != LB_STATE_DRAINING);
                    model[got]++;
                    picks++;
                    if (n_held == HOLD) {
                        uint32_t k = (uint32_t)(lbt_rand(&seed) % HOLD);
                        lb_balancer_release(b, held[k], now);
                        model[held[k]]--;
                        held[k] = got;
                    } else {
                        held[n_held++] = got;
                    }
                } else {
                    assert_int_equal(rc, LB_E_NO_TARGET);
                }
            } else if (op < 9 && n_held) { /* release */
                uint32_t k = (uint32_t)(lbt_rand(&seed) % n_held);
                lb_balancer_release(b, held[k], now);
                model[held[k]]--;
                held[k] = held[--n_held];
            } else if (op == 9 && !registered[id]) { /* also re-adds a removed id */
                add_named(b, id, 1 + (uint32_t)(lbt_rand(&seed) % 5), id % 2, 0, now);
                registered[id] = 1;
            } else if (op >= 10 && op <= 14 && registered[id]) {
                int rc;
                if (op == 10)
                    rc = lb_balancer_remove(b, id, now);
                else if (op == 11)
                    rc = lb_balancer_drain(b, id, now);
                else if (op == 12)
                    rc = lb_balancer_undrain(b, id, now);
                else if (op == 13)
                    rc = lb_balancer_set_weight(b, id, (uint32_t)(lbt_rand(&seed) % 4), now);
                else
                    rc = lb_balancer_report(b, id, (int)(lbt_rand(&seed) % 3 != 0), now);
                /* a removed target is gone before its LB_EVENT_REMOVED is read */
                if (rc == -ENOENT)
                    assert_true(removing[id]);
                else if (op == 12)
                    assert_true(rc == 0 || rc == LB_E_HEALTH_BAD_STATE);
                else
                    assert_lb_ok(rc);
                removing[id] |= op == 10;
            } else if (op >= 10 && op <= 14) {
                continue;
            } else {
                int n;
                while ((n = drain_events(b, now, ev, 64)) > 0)
                    for (int i = 0; i < n; i++)
                        if (ev[i].type == LB_EVENT_REMOVED) {
                            removals++;
                            registered[ev[i].target_id] = 0;
                            removing[ev[i].target_id] = 0;
                            /* the test closes what was left (LB_EVENT_CLOSE) */
                            for (uint32_t k = 0; k < n_held;)
                                if (held[k] == ev[i].target_id)
                                    held[k] = held[--n_held];
                                else
                                    k++;
                            model[ev[i].target_id] = 0;
                        }
            }
            for (uint32_t i = 1; i <= IDS; i++) {
                if (!registered[i])
                    continue;
                lb_target_stats ts = {.struct_size = sizeof(ts)};
                if (lb_balancer_get_target_stats(b, i, &ts) == 0)
                    assert_int_equal(ts.active, model[i]);
            }
        }
        assert_int_equal(bstats(b).picks, picks);
        if (removals <= 20 || picks <= 800)
            fail_msg("%s: %llu removals, %llu picks", lb_balancer_algorithm_name(alg),
                     (unsigned long long)removals, (unsigned long long)picks);
        lb_balancer_free(b);
    }
}

/* ---- registry and statistics --------------------------------------------------------------- */

static void test_targets_and_weights(void **state)
{
    (void)state;
    lb_balancer *b = make_n(LB_ALG_MAGLEV, 5);
    uint32_t ids[8];
    assert_int_equal(lb_balancer_targets(b, NULL, 0), 5);
    assert_int_equal(lb_balancer_targets(b, ids, 3), 5);
    assert_int_equal(ids[0], 1);
    assert_int_equal(ids[2], 3);
    assert_int_equal(lb_balancer_targets(b, ids, 8), 5);
    assert_int_equal(ids[4], 5);
    uint64_t g = bstats(b).generation;
    assert_lb_ok(lb_balancer_set_weight(b, 2, 0, 0));
    assert_true(bstats(b).generation > g);
    lb_target_stats ts = tstats(b, 2);
    assert_int_equal(ts.weight, 0);
    assert_int_equal(ts.eligible, 0);
    assert_int_equal(ts.table_entries, 0);
    assert_int_equal(ts.state, LB_STATE_HEALTHY);
    for (uint64_t h = 0; h < 300; h++) {
        uint32_t id = pick_ok(b, h * 0x9E3779B97F4A7C15ull);
        assert_int_not_equal(id, 2);
        lb_balancer_release(b, id, 0);
    }
    assert_lb_ok(lb_balancer_set_weight(b, 2, 3, 0));
    ts = tstats(b, 2);
    assert_int_equal(ts.effective_weight, 3);
    assert_true(ts.table_entries > M * 3 / 7 - 20);
    /* unchanged weight: nothing published */
    g = bstats(b).generation;
    assert_lb_ok(lb_balancer_set_weight(b, 2, 3, 0));
    assert_int_equal(bstats(b).generation, g);
    lb_balancer_free(b);
}

/* ---- no silent failure ----------------------------------------------------------------- */

static void test_bad_releases_are_counted(void **state)
{
    (void)state;
    lb_balancer *b = NULL;
    assert_lb_ok(lb_balancer_new(&b, NULL));
    add_named(b, 1, 1, 0, 0, 0);
    uint32_t id = pick_ok(b, 7);
    assert_lb_ok(lb_balancer_release(b, id, 0));
    assert_lb_err(lb_balancer_release(b, id, 0), -ERANGE); /* a second release */
    assert_lb_err(lb_balancer_release(b, 5, 0), -ENOENT);  /* never a target */
    assert_int_equal(bstats(b).bad_releases, 2);
    assert_int_equal(tstats(b, 1).active, 0); /* the count never went below zero */
    lb_balancer_free(b);
}

static void test_event_queue_is_bounded(void **state)
{
    (void)state;
    lb_balancer_config c = {.struct_size = sizeof(c), .event_queue_max = 4};
    lb_balancer *b = NULL;
    assert_lb_ok(lb_balancer_new(&b, &c));
    for (uint32_t id = 1; id <= 10; id++) /* one registration event each */
        add_named(b, id, 1, 0, 0, 0);
    lb_balancer_stats s = bstats(b);
    assert_int_equal(s.events_queued, 4);
    assert_int_equal(s.events_dropped, 6);
    lb_event ev[16];
    assert_int_equal(drain_events(b, 0, ev, 16), 4); /* the oldest four: the newest were lost */
    for (uint32_t i = 0; i < 4; i++)
        assert_int_equal(ev[i].target_id, i + 1);
    s = bstats(b);
    assert_int_equal(s.events_queued, 0);
    assert_int_equal(s.events_dropped, 6);
    add_named(b, 11, 1, 0, 0, 0); /* room again */
    assert_int_equal(drain_events(b, 0, ev, 16), 1);
    assert_int_equal(ev[0].target_id, 11);
    lb_balancer_free(b);
    c.event_queue_max = LB_BALANCER_MAX_EVENT_QUEUE + 1;
    assert_lb_err(lb_balancer_new(&b, &c), LB_E_BALANCER_CONFIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_argument_errors),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_maglev_table),
        cmocka_unit_test(test_every_algorithm),
        cmocka_unit_test(test_hash_consistency),
        cmocka_unit_test(test_leastconn_and_p2c_balance),
        cmocka_unit_test(test_ring_bounded),
        cmocka_unit_test(test_max_conns),
        cmocka_unit_test(test_seed_drain_timeline),
        cmocka_unit_test(test_drain_ends_at_last_release),
        cmocka_unit_test(test_operator_drain),
        cmocka_unit_test(test_drain_immediate),
        cmocka_unit_test(test_health_checks),
        cmocka_unit_test(test_keep_connections),
        cmocka_unit_test(test_fail_open),
        cmocka_unit_test(test_panic_percent),
        cmocka_unit_test(test_passive_ejection),
        cmocka_unit_test(test_sticky_fallback),
        cmocka_unit_test(test_exclude),
        cmocka_unit_test(test_zone_local),
        cmocka_unit_test(test_zone_aware_and_affinity),
        cmocka_unit_test(test_slow_start_steps),
        cmocka_unit_test(test_targets_and_weights),
        cmocka_unit_test(test_random_invariants),
        cmocka_unit_test(test_bad_releases_are_counted),
        cmocka_unit_test(test_event_queue_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
