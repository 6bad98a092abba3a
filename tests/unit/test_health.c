/* The health and draining state machine, through its public API: every transition and reason,
 * the AWS draining timeline, flapping, slow start, fail-open/closed, passive ejection, check
 * scheduling, and a randomized invariant test over thousands of event sequences. */
#include <errno.h>
#include <string.h>

#include "lbtest.h"
#include "lb/health.h"

#define S 1000u /* one second in ms */

static lb_health_config config(void)
{
    lb_health_config c;
    lb_health_config_init(&c, sizeof(c));
    return c;
}

static lb_health *make(const lb_health_config *c)
{
    lb_health *h = NULL;
    assert_lb_ok(lb_health_new(&h, c));
    assert_non_null(h);
    return h;
}

static lb_health_target view(const lb_health *h, uint32_t id)
{
    lb_health_target t;
    memset(&t, 0, sizeof(t));
    t.struct_size = sizeof(t);
    assert_lb_ok(lb_health_get(h, id, &t));
    return t;
}

static lb_health_status status(const lb_health *h)
{
    lb_health_status s;
    memset(&s, 0, sizeof(s));
    s.struct_size = sizeof(s);
    assert_lb_ok(lb_health_status_get(h, &s));
    return s;
}

/* Pop the next queued event and check it. */
static lb_health_event expect_ev(lb_health *h, uint32_t id, uint32_t old_state, uint32_t new_state,
                                 uint32_t reason)
{
    lb_health_event ev;
    memset(&ev, 0, sizeof(ev));
    if (lb_health_poll_events(h, &ev, sizeof(ev), 1) != 1)
        fail_msg("no event queued, want %s -> %s (%s) for %u", lb_health_state_name(old_state),
                 lb_health_state_name(new_state), lb_health_reason_name(reason), id);
    if (ev.id != id || ev.old_state != old_state || ev.new_state != new_state ||
        ev.reason != reason)
        fail_msg("event %u %s -> %s (%s), want %u %s -> %s (%s)", ev.id,
                 lb_health_state_name(ev.old_state), lb_health_state_name(ev.new_state),
                 lb_health_reason_name(ev.reason), id, lb_health_state_name(old_state),
                 lb_health_state_name(new_state), lb_health_reason_name(reason));
    assert_int_equal(ev.struct_size, sizeof(ev));
    return ev;
}

static void expect_no_ev(lb_health *h)
{
    lb_health_event ev;
    if (lb_health_poll_events(h, &ev, sizeof(ev), 1) == 1)
        fail_msg("unexpected event %u %s -> %s (%s)", ev.id, lb_health_state_name(ev.old_state),
                 lb_health_state_name(ev.new_state), lb_health_reason_name(ev.reason));
}

static void drain_events(lb_health *h)
{
    lb_health_event evs[64];
    while (lb_health_poll_events(h, evs, sizeof(*evs), 64) > 0)
        ;
}

static void open_n(lb_health *h, uint32_t id, uint32_t n, uint64_t now)
{
    for (uint32_t i = 0; i < n; i++)
        assert_lb_ok(lb_health_conn_open(h, id, now));
}

static void checks_ok(lb_health *h, uint32_t id, uint32_t n, uint64_t now)
{
    for (uint32_t i = 0; i < n; i++)
        assert_lb_ok(lb_health_check_result(h, id, 1, now));
}

static void checks_bad(lb_health *h, uint32_t id, uint32_t n, uint64_t now)
{
    for (uint32_t i = 0; i < n; i++)
        assert_lb_ok(lb_health_check_result(h, id, 0, now));
}

/* ---- configuration ----------------------------------------------------------------------- */

static void config_defaults_and_ranges(void **state)
{
    (void)state;
    lb_health_config c = config();
    assert_int_equal(c.struct_size, sizeof(c));
    assert_int_equal(c.initial_state, LB_HEALTH_STATE_INITIAL);
    assert_int_equal(c.healthy_threshold, 2);
    assert_int_equal(c.unhealthy_threshold, 3);
    assert_int_equal(c.deregistration_delay_ms, 300 * S);
    assert_int_equal(c.fail_open, 1);
    assert_int_equal(c.slow_start_window_ms, 0);
    lb_health *h = NULL;
    assert_lb_ok(lb_health_new(&h, NULL));
    lb_health_free(h);
    lb_health_free(NULL);
    assert_lb_err(lb_health_new(NULL, &c), -EINVAL);

    struct {
        size_t off;
        uint32_t bad;
    } cases[] = {
        {offsetof(lb_health_config, initial_state), LB_HEALTH_STATE_UNHEALTHY},
        {offsetof(lb_health_config, healthy_threshold), 0},
        {offsetof(lb_health_config, unhealthy_threshold), 101},
        {offsetof(lb_health_config, interval_ms), 99},
        {offsetof(lb_health_config, fast_interval_ms), LB_HEALTH_TIME_MAX_MS + 1},
        {offsetof(lb_health_config, down_interval_ms), 0},
        {offsetof(lb_health_config, jitter_percent), 51},
        {offsetof(lb_health_config, on_fail), 3},
        {offsetof(lb_health_config, deregistration_delay_ms), LB_HEALTH_DELAY_MAX_MS + 1},
        {offsetof(lb_health_config, passive_failures), 1001},
        {offsetof(lb_health_config, ejection_base_ms), 0},
        {offsetof(lb_health_config, ejection_max_ms), 29999}, /* below the base */
        {offsetof(lb_health_config, ejection_decay_ms), 0},
        {offsetof(lb_health_config, max_ejection_percent), 101},
        {offsetof(lb_health_config, slow_start_window_ms), LB_HEALTH_TIME_MAX_MS + 1},
        {offsetof(lb_health_config, slow_start_aggression_milli), 99},
        {offsetof(lb_health_config, slow_start_min_percent), 101},
        {offsetof(lb_health_config, slow_start_step_ms), 0},
        {offsetof(lb_health_config, fail_open), 2},
        {offsetof(lb_health_config, fail_open_percent), 101},
        {offsetof(lb_health_config, event_queue_max), (1u << 20) + 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        lb_health_config b = config();
        memcpy((char *)&b + cases[i].off, &cases[i].bad, sizeof(uint32_t));
        h = NULL;
        assert_lb_err(lb_health_new(&h, &b), -ERANGE);
        assert_null(h);
    }
    /* the edges of the ranges are accepted */
    c.deregistration_delay_ms = LB_HEALTH_DELAY_MAX_MS;
    c.jitter_percent = 50;
    c.max_ejection_percent = 100;
    c.slow_start_window_ms = LB_HEALTH_TIME_MAX_MS;
    assert_lb_ok(lb_health_new(&h, &c));
    lb_health_free(h);
    c.deregistration_delay_ms = 0;
    c.jitter_percent = 0;
    c.passive_failures = 0;
    assert_lb_ok(lb_health_new(&h, &c));
    lb_health_free(h);
    c.struct_size = 8;
    assert_lb_err(lb_health_new(&h, &c), LB_E_STRUCT_SIZE);
}

static void bad_arguments(void **state)
{
    (void)state;
    lb_health *h = make(NULL);
    assert_int_equal(lb_health_next_deadline(h), LB_HEALTH_NEVER);
    assert_lb_err(lb_health_register(NULL, 1, 1, 0), -EINVAL);
    assert_lb_err(lb_health_register(h, LB_NO_TARGET, 1, 0), -EINVAL);
    assert_lb_err(lb_health_register(h, 1, LB_WEIGHT_MAX + 1, 0), LB_E_POOL_BAD_WEIGHT);
    assert_lb_ok(lb_health_register(h, 1, 1, 0));
    assert_lb_err(lb_health_register(h, 1, 1, 0), -EEXIST);
    assert_lb_err(lb_health_deregister(h, 2, 0), -ENOENT);
    assert_lb_err(lb_health_check_result(h, 2, 1, 0), -ENOENT);
    assert_lb_err(lb_health_passive(h, 2, LB_HEALTH_SIG_RESET, 0), -ENOENT);
    assert_lb_err(lb_health_passive(h, 1, 3, 0), -EINVAL);
    assert_lb_err(lb_health_conn_open(h, 2, 0), -ENOENT);
    assert_lb_err(lb_health_conn_close(h, 2, 0), -ENOENT);
    assert_lb_err(lb_health_set_conns(h, 2, 0, 0), -ENOENT);
    assert_lb_err(lb_health_set_weight(h, 1, 70000, 0), LB_E_POOL_BAD_WEIGHT);
    assert_lb_err(lb_health_set_weight(h, 2, 7, 0), -ENOENT);
    assert_lb_err(lb_health_forget(h, 2), -ENOENT);
    assert_lb_err(lb_health_forget(h, 1), LB_E_HEALTH_BAD_STATE);
    assert_lb_err(lb_health_tick(NULL, 0), -EINVAL);
    assert_lb_err(lb_health_is_eligible(h, 2), -ENOENT);
    assert_lb_err(lb_health_is_eligible(NULL, 1), -EINVAL);
    assert_lb_err(lb_health_checks_due(h, 0, NULL, 1), -EINVAL);
    assert_lb_err(lb_health_poll_events(h, NULL, sizeof(lb_health_event), 1), -EINVAL);
    lb_health_target t;
    memset(&t, 0, sizeof(t));
    assert_lb_err(lb_health_get(h, 1, &t), LB_E_STRUCT_SIZE); /* struct_size not set */
    t.struct_size = sizeof(t);
    assert_lb_err(lb_health_at(h, 1, &t), -ENOENT);
    lb_health_status s;
    memset(&s, 0, sizeof(s));
    assert_lb_err(lb_health_status_get(h, &s), LB_E_STRUCT_SIZE);
    assert_int_equal(lb_health_next_deadline(NULL), LB_HEALTH_NEVER);
    assert_int_equal(lb_health_count(NULL), 0);
    assert_int_equal(lb_health_generation(NULL), 0);
    assert_string_equal(lb_health_state_name(LB_HEALTH_STATE_DRAINING), "DRAINING");
    assert_string_equal(lb_health_state_name(99), "unknown");
    assert_string_equal(lb_health_reason_name(LB_HEALTH_R_DEADLINE), "DEADLINE");
    assert_string_equal(lb_health_reason_name(LB_HEALTH_R_FAIL_OPEN_END), "FAIL_OPEN_END");
    assert_string_equal(lb_health_reason_name(11), "unknown");
    assert_string_equal(lb_err_name(LB_E_HEALTH_NOT_ELIGIBLE), "LB_E_HEALTH_NOT_ELIGIBLE");
    lb_health_free(h);
}

/* ---- transitions ------------------------------------------------------------------------- */

static void initial_rise_and_fall(void **state)
{
    (void)state;
    lb_health_config c = config();
    c.fail_open = 0; /* eligibility without fail-open */
    lb_health *h = make(&c);
    assert_lb_ok(lb_health_register(h, 1, 10, 0));
    expect_ev(h, 1, LB_HEALTH_STATE_REMOVED, LB_HEALTH_STATE_INITIAL, LB_HEALTH_R_REGISTERED);
    assert_int_equal(view(h, 1).state, LB_HEALTH_STATE_INITIAL);
    assert_int_equal(lb_health_is_eligible(h, 1), 0);
    assert_lb_err(lb_health_conn_open(h, 1, 0), LB_E_HEALTH_NOT_ELIGIBLE);
    checks_ok(h, 1, 1, 1 * S);
    expect_no_ev(h);
    assert_int_equal(view(h, 1).state, LB_HEALTH_STATE_INITIAL);
    checks_ok(h, 1, 1, 2 * S); /* rise = 2 */
    lb_health_event ev =
        expect_ev(h, 1, LB_HEALTH_STATE_INITIAL, LB_HEALTH_STATE_HEALTHY, LB_HEALTH_R_CHECK_PASSED);
    assert_int_equal(ev.at_ms, 2 * S);
    assert_int_equal(ev.eligible, 1);
    lb_health_target t = view(h, 1);
    assert_int_equal(t.eligible, 1);
    assert_int_equal(t.effective_weight, 10);
    assert_int_equal(t.reason, LB_HEALTH_R_CHECK_PASSED);
    assert_int_equal(t.since_ms, 2 * S);
    /* fall = 3, no connections: straight to UNHEALTHY */
    checks_bad(h, 1, 2, 3 * S);
    expect_no_ev(h);
    checks_bad(h, 1, 1, 4 * S);
    ev = expect_ev(h, 1, LB_HEALTH_STATE_HEALTHY, LB_HEALTH_STATE_UNHEALTHY,
                   LB_HEALTH_R_CHECKS_FAILED);
    assert_int_equal(ev.eligible, 0);
    assert_int_equal(ev.close_connections, 0);
    assert_int_equal(view(h, 1).effective_weight, 0);
    checks_ok(h, 1, 2, 5 * S);
    expect_ev(h, 1, LB_HEALTH_STATE_UNHEALTHY, LB_HEALTH_STATE_HEALTHY, LB_HEALTH_R_CHECK_PASSED);
    /* INITIAL can fall straight to UNHEALTHY */
    assert_lb_ok(lb_health_register(h, 2, 10, 6 * S));
    expect_ev(h, 2, LB_HEALTH_STATE_REMOVED, LB_HEALTH_STATE_INITIAL, LB_HEALTH_R_REGISTERED);
    checks_bad(h, 2, 3, 7 * S);
    expect_ev(h, 2, LB_HEALTH_STATE_INITIAL, LB_HEALTH_STATE_UNHEALTHY, LB_HEALTH_R_CHECKS_FAILED);
    lb_health_free(h);
}

static void initial_state_healthy(void **state)
{
    (void)state;
    lb_health_config c = config();
    c.initial_state = LB_HEALTH_STATE_HEALTHY;
    lb_health *h = make(&c);
    assert_lb_ok(lb_health_register(h, 5, 3, 100));
    lb_health_event ev =
        expect_ev(h, 5, LB_HEALTH_STATE_REMOVED, LB_HEALTH_STATE_HEALTHY, LB_HEALTH_R_REGISTERED);
    assert_int_equal(ev.eligible, 1);
    assert_int_equal(lb_health_is_eligible(h, 5), 1);
    assert_lb_ok(lb_health_conn_open(h, 5, 100));
    assert_int_equal(view(h, 5).connections, 1);
    lb_health_free(h);
}

/* A machine whose HEALTHY target 1 held @conns connections when its checks failed (at 1 s). */
static lb_health *failed_with_conns(const lb_health_config *c, uint32_t conns)
{
    lb_health *h = make(c);
    assert_lb_ok(lb_health_register(h, 1, 1, 0));
    drain_events(h);
    open_n(h, 1, conns, 0);
    checks_bad(h, 1, c->unhealthy_threshold, S);
    return h;
}

static void failed_checks_drain_keep_or_close(void **state)
{
    (void)state;
    lb_health_config c = config();
    c.initial_state = LB_HEALTH_STATE_HEALTHY;
    c.unhealthy_threshold = 2;
    c.deregistration_delay_ms = 60 * S;
    c.fail_open = 0;

    /* drain (default): DRAINING, then UNHEALTHY at the last close */
    lb_health *h = make(&c);
    assert_lb_ok(lb_health_register(h, 1, 1, 0));
    drain_events(h);
    open_n(h, 1, 4, 0);
    checks_bad(h, 1, 2, 10 * S);
    lb_health_event ev = expect_ev(h, 1, LB_HEALTH_STATE_HEALTHY, LB_HEALTH_STATE_DRAINING,
                                   LB_HEALTH_R_CHECKS_FAILED);
    assert_int_equal(ev.connections, 4);
    assert_int_equal(ev.close_connections, 0);
    assert_int_equal(view(h, 1).until_ms, 70 * S);
    assert_lb_err(lb_health_conn_open(h, 1, 11 * S), LB_E_HEALTH_NOT_ELIGIBLE);
    for (int i = 0; i < 3; i++)
        assert_lb_ok(lb_health_conn_close(h, 1, 20 * S));
    expect_no_ev(h);
    assert_lb_ok(lb_health_conn_close(h, 1, 30 * S));
    ev = expect_ev(h, 1, LB_HEALTH_STATE_DRAINING, LB_HEALTH_STATE_UNHEALTHY, LB_HEALTH_R_DRAINED);
    assert_int_equal(ev.at_ms, 30 * S);
    /* recovers, fails again with connections, this time the deadline comes first */
    checks_ok(h, 1, 2, 40 * S);
    expect_ev(h, 1, LB_HEALTH_STATE_UNHEALTHY, LB_HEALTH_STATE_HEALTHY, LB_HEALTH_R_CHECK_PASSED);
    open_n(h, 1, 2, 40 * S);
    checks_bad(h, 1, 2, 50 * S);
    expect_ev(h, 1, LB_HEALTH_STATE_HEALTHY, LB_HEALTH_STATE_DRAINING, LB_HEALTH_R_CHECKS_FAILED);
    assert_lb_ok(lb_health_tick(h, 110 * S - 1));
    expect_no_ev(h);
    assert_lb_ok(lb_health_tick(h, 110 * S));
    ev = expect_ev(h, 1, LB_HEALTH_STATE_DRAINING, LB_HEALTH_STATE_UNHEALTHY, LB_HEALTH_R_DEADLINE);
    assert_int_equal(ev.close_connections, 2);
    assert_int_equal(ev.at_ms, 110 * S);
    /* a target draining after failures comes back if its checks pass again */
    checks_ok(h, 1, 2, 120 * S);
    expect_ev(h, 1, LB_HEALTH_STATE_UNHEALTHY, LB_HEALTH_STATE_HEALTHY, LB_HEALTH_R_CHECK_PASSED);
    checks_bad(h, 1, 2, 130 * S);
    expect_ev(h, 1, LB_HEALTH_STATE_HEALTHY, LB_HEALTH_STATE_DRAINING, LB_HEALTH_R_CHECKS_FAILED);
    checks_ok(h, 1, 2, 140 * S);
    expect_ev(h, 1, LB_HEALTH_STATE_DRAINING, LB_HEALTH_STATE_HEALTHY, LB_HEALTH_R_CHECK_PASSED);
    assert_int_equal(view(h, 1).until_ms, LB_HEALTH_NEVER);
    lb_health_free(h);

    /* keep: UNHEALTHY at once, connections left alone */
    c.on_fail = LB_HEALTH_ON_FAIL_KEEP;
    h = failed_with_conns(&c, 3);
    ev = expect_ev(h, 1, LB_HEALTH_STATE_HEALTHY, LB_HEALTH_STATE_UNHEALTHY,
                   LB_HEALTH_R_CHECKS_FAILED);
    assert_int_equal(ev.connections, 3);
    assert_int_equal(ev.close_connections, 0);
    assert_int_equal(view(h, 1).connections, 3);
    lb_health_free(h);

    /* close: UNHEALTHY at once, the caller is told to close them all */
    c.on_fail = LB_HEALTH_ON_FAIL_CLOSE;
    h = failed_with_conns(&c, 3);
    ev = expect_ev(h, 1, LB_HEALTH_STATE_HEALTHY, LB_HEALTH_STATE_UNHEALTHY,
                   LB_HEALTH_R_CHECKS_FAILED);
    assert_int_equal(ev.close_connections, 3);
    lb_health_free(h);

    /* drain with a zero delay: the deadline is now */
    c.on_fail = LB_HEALTH_ON_FAIL_DRAIN;
    c.deregistration_delay_ms = 0;
    h = failed_with_conns(&c, 3);
    expect_ev(h, 1, LB_HEALTH_STATE_HEALTHY, LB_HEALTH_STATE_DRAINING, LB_HEALTH_R_CHECKS_FAILED);
    ev = expect_ev(h, 1, LB_HEALTH_STATE_DRAINING, LB_HEALTH_STATE_UNHEALTHY, LB_HEALTH_R_DEADLINE);
    assert_int_equal(ev.close_connections, 3);
    lb_health_free(h);
}

/* The course's timeline (AWS deregistration delay): 50 connections, 300 s. */
static void aws_draining_timeline(void **state)
{
    (void)state;
    lb_health_config c = config();
    c.initial_state = LB_HEALTH_STATE_HEALTHY;
    assert_int_equal(c.deregistration_delay_ms, 300 * S);

    /* every connection completes before the deadline: leaves at the last close */
    lb_health *h = make(&c);
    assert_lb_ok(lb_health_register(h, 1, 1, 0));
    assert_lb_ok(lb_health_register(h, 2, 1, 0));
    open_n(h, 1, 50, 0);
    drain_events(h);
    assert_lb_ok(lb_health_deregister(h, 1, 0));
    lb_health_event ev = expect_ev(h, 1, LB_HEALTH_STATE_HEALTHY, LB_HEALTH_STATE_DRAINING,
                                   LB_HEALTH_R_DEREGISTERED);
    assert_int_equal(ev.connections, 50);
    assert_int_equal(ev.eligible, 0);
    assert_lb_err(lb_health_conn_open(h, 1, 0), LB_E_HEALTH_NOT_ELIGIBLE); /* at once */
    assert_int_equal(view(h, 1).until_ms, 300 * S);
    assert_int_equal(view(h, 1).next_check_ms, LB_HEALTH_NEVER);
    for (int i = 0; i < 45; i++) /* t=10 s: 45 complete naturally */
        assert_lb_ok(lb_health_conn_close(h, 1, 10 * S));
    expect_no_ev(h);
    for (int i = 0; i < 4; i++)
        assert_lb_ok(lb_health_conn_close(h, 1, 60 * S));
    assert_int_equal(view(h, 1).state, LB_HEALTH_STATE_DRAINING);
    assert_int_equal(view(h, 1).connections, 1);
    assert_lb_ok(lb_health_conn_close(h, 1, 200 * S));
    ev = expect_ev(h, 1, LB_HEALTH_STATE_DRAINING, LB_HEALTH_STATE_REMOVED, LB_HEALTH_R_DRAINED);
    assert_int_equal(ev.at_ms, 200 * S);
    assert_int_equal(ev.connections, 0);
    assert_int_equal(ev.close_connections, 0);
    assert_lb_err(lb_health_conn_close(h, 1, 201 * S), -ERANGE); /* never negative */
    assert_int_equal(view(h, 1).connections, 0);
    lb_health_free(h);

    /* 3 long connections remain at 300 s: the module reports them for closing */
    h = make(&c);
    assert_lb_ok(lb_health_register(h, 1, 1, 0));
    assert_lb_ok(lb_health_register(h, 2, 1, 0));
    open_n(h, 1, 50, 0);
    assert_lb_ok(lb_health_deregister(h, 1, 0));
    drain_events(h);
    for (int i = 0; i < 47; i++)
        assert_lb_ok(lb_health_conn_close(h, 1, 10 * S));
    assert_int_equal(lb_health_next_deadline(h) <= 300 * S, 1);
    assert_lb_ok(lb_health_tick(h, 300 * S - 1));
    expect_no_ev(h);
    assert_int_equal(view(h, 1).state, LB_HEALTH_STATE_DRAINING);
    assert_lb_ok(lb_health_tick(h, 300 * S));
    ev = expect_ev(h, 1, LB_HEALTH_STATE_DRAINING, LB_HEALTH_STATE_REMOVED, LB_HEALTH_R_DEADLINE);
    assert_int_equal(ev.at_ms, 300 * S);
    assert_int_equal(ev.connections, 3);
    assert_int_equal(ev.close_connections, 3);
    /* the caller closes them; their closes are still counted, down to zero */
    for (int i = 0; i < 3; i++)
        assert_lb_ok(lb_health_conn_close(h, 1, 300 * S));
    assert_lb_err(lb_health_conn_close(h, 1, 300 * S), -ERANGE);
    expect_no_ev(h);
    lb_health_free(h);

    /* a late tick reports the deadline itself, not the time of the tick */
    h = make(&c);
    assert_lb_ok(lb_health_register(h, 1, 1, 0));
    open_n(h, 1, 50, 0);
    assert_lb_ok(lb_health_deregister(h, 1, 5 * S));
    drain_events(h);
    assert_int_equal(lb_health_next_deadline(h), 305 * S);
    assert_lb_ok(lb_health_tick(h, 900 * S));
    ev = expect_ev(h, 1, LB_HEALTH_STATE_DRAINING, LB_HEALTH_STATE_REMOVED, LB_HEALTH_R_DEADLINE);
    assert_int_equal(ev.at_ms, 305 * S);
    assert_int_equal(ev.close_connections, 50);
    assert_int_equal(lb_health_next_deadline(h), LB_HEALTH_NEVER);
    lb_health_free(h);

    /* the course's variant: a health-check failure drains the same way */
    c.unhealthy_threshold = 1;
    c.fail_open = 0;
    h = make(&c);
    assert_lb_ok(lb_health_register(h, 1, 1, 0));
    open_n(h, 1, 50, 0);
    drain_events(h);
    checks_bad(h, 1, 1, 0);
    expect_ev(h, 1, LB_HEALTH_STATE_HEALTHY, LB_HEALTH_STATE_DRAINING, LB_HEALTH_R_CHECKS_FAILED);
    for (int i = 0; i < 45; i++)
        assert_lb_ok(lb_health_conn_close(h, 1, 10 * S));
    assert_lb_ok(lb_health_tick(h, 300 * S));
    ev = expect_ev(h, 1, LB_HEALTH_STATE_DRAINING, LB_HEALTH_STATE_UNHEALTHY, LB_HEALTH_R_DEADLINE);
    assert_int_equal(ev.close_connections, 5);
    lb_health_free(h);
}

static void deregister_remove_forget_reregister(void **state)
{
    (void)state;
    lb_health_config c = config();
    c.deregistration_delay_ms = 0;
    lb_health *h = make(&c);
    /* no connections: DRAINING and REMOVED at once */
    assert_lb_ok(lb_health_register(h, 1, 1, 0));
    assert_lb_ok(lb_health_deregister(h, 1, S));
    expect_ev(h, 1, LB_HEALTH_STATE_REMOVED, LB_HEALTH_STATE_INITIAL, LB_HEALTH_R_REGISTERED);
    expect_ev(h, LB_NO_TARGET, 0, 0, LB_HEALTH_R_FAIL_OPEN);
    expect_ev(h, 1, LB_HEALTH_STATE_INITIAL, LB_HEALTH_STATE_DRAINING, LB_HEALTH_R_DEREGISTERED);
    expect_ev(h, 1, LB_HEALTH_STATE_DRAINING, LB_HEALTH_STATE_REMOVED, LB_HEALTH_R_DRAINED);
    expect_ev(h, LB_NO_TARGET, 0, 0, LB_HEALTH_R_FAIL_OPEN_END);
    assert_lb_err(lb_health_deregister(h, 1, S), LB_E_HEALTH_BAD_STATE);
    assert_lb_err(lb_health_check_result(h, 1, 1, S), LB_E_HEALTH_BAD_STATE);
    assert_lb_err(lb_health_conn_open(h, 1, S), LB_E_HEALTH_NOT_ELIGIBLE);
    /* zero delay with connections: the deadline is now */
    assert_lb_ok(lb_health_register(h, 2, 1, 0));
    checks_ok(h, 2, 2, S);
    open_n(h, 2, 7, S);
    drain_events(h);
    assert_lb_ok(lb_health_deregister(h, 2, 2 * S));
    expect_ev(h, 2, LB_HEALTH_STATE_HEALTHY, LB_HEALTH_STATE_DRAINING, LB_HEALTH_R_DEREGISTERED);
    lb_health_event ev =
        expect_ev(h, 2, LB_HEALTH_STATE_DRAINING, LB_HEALTH_STATE_REMOVED, LB_HEALTH_R_DEADLINE);
    assert_int_equal(ev.close_connections, 7);
    /* forget and re-register */
    assert_int_equal(lb_health_count(h), 2);
    uint64_t g = lb_health_generation(h);
    assert_lb_ok(lb_health_forget(h, 1));
    assert_int_equal(lb_health_generation(h), g + 1);
    assert_int_equal(lb_health_count(h), 1);
    assert_lb_err(lb_health_get(h, 1, &(lb_health_target){.struct_size = sizeof(lb_health_target)}),
                  -ENOENT);
    assert_lb_ok(lb_health_register(h, 2, 9, 3 * S)); /* a REMOVED target comes back */
    ev = expect_ev(h, 2, LB_HEALTH_STATE_REMOVED, LB_HEALTH_STATE_INITIAL, LB_HEALTH_R_REGISTERED);
    assert_int_equal(ev.connections, 7); /* its old connections are still counted */
    assert_int_equal(view(h, 2).weight, 9);
    assert_int_equal(view(h, 2).next_check_ms, 3 * S);
    lb_health_free(h);
}

static void deregister_while_failure_draining_keeps_deadline(void **state)
{
    (void)state;
    lb_health_config c = config();
    c.initial_state = LB_HEALTH_STATE_HEALTHY;
    c.unhealthy_threshold = 1;
    c.deregistration_delay_ms = 100 * S;
    lb_health *h = make(&c);
    assert_lb_ok(lb_health_register(h, 1, 1, 0));
    assert_lb_ok(lb_health_register(h, 2, 1, 0));
    open_n(h, 1, 2, 0);
    checks_bad(h, 1, 1, 10 * S);
    drain_events(h);
    assert_lb_ok(lb_health_deregister(h, 1, 50 * S));
    expect_ev(h, 1, LB_HEALTH_STATE_DRAINING, LB_HEALTH_STATE_DRAINING, LB_HEALTH_R_DEREGISTERED);
    assert_int_equal(view(h, 1).until_ms, 110 * S);
    assert_lb_ok(lb_health_tick(h, 110 * S));
    lb_health_event ev =
        expect_ev(h, 1, LB_HEALTH_STATE_DRAINING, LB_HEALTH_STATE_REMOVED, LB_HEALTH_R_DEADLINE);
    assert_int_equal(ev.close_connections, 2);
    lb_health_free(h);
}

static void flapping_checks_do_not_flap_state(void **state)
{
    (void)state;
    lb_health_config c = config(); /* rise 2, fall 3 */
    c.initial_state = LB_HEALTH_STATE_HEALTHY;
    c.jitter_percent = 0;
    c.fail_open = 0;
    lb_health *h = make(&c);
    assert_lb_ok(lb_health_register(h, 1, 1, 0));
    drain_events(h);
    assert_int_equal(lb_health_checks_due(h, 0, NULL, 0), 0);
    uint64_t gen = lb_health_generation(h);
    uint64_t now = 0;
    /* F F P F F P ...: never three failures in a row */
    for (int i = 0; i < 300; i++) {
        now += S;
        int ok = i % 3 == 2;
        assert_lb_ok(lb_health_check_result(h, 1, ok, now));
        /* a streak under way uses the fast interval, a steady state the normal one */
        uint64_t want = now + (ok ? c.interval_ms : c.fast_interval_ms);
        assert_int_equal(view(h, 1).next_check_ms, want);
    }
    expect_no_ev(h);
    assert_int_equal(view(h, 1).state, LB_HEALTH_STATE_HEALTHY);
    assert_int_equal(lb_health_generation(h), gen);
    /* down, then P F P F ...: never two passes in a row */
    checks_bad(h, 1, 3, now);
    expect_ev(h, 1, LB_HEALTH_STATE_HEALTHY, LB_HEALTH_STATE_UNHEALTHY, LB_HEALTH_R_CHECKS_FAILED);
    for (int i = 0; i < 300; i++) {
        now += S;
        int ok = i % 2 == 0;
        assert_lb_ok(lb_health_check_result(h, 1, ok, now));
        uint64_t want = now + (ok ? c.fast_interval_ms : c.down_interval_ms);
        assert_int_equal(view(h, 1).next_check_ms, want);
    }
    expect_no_ev(h);
    assert_int_equal(view(h, 1).state, LB_HEALTH_STATE_UNHEALTHY);
    /* a flapping target with rise = fall = 1 does change every time */
    lb_health_free(h);
    c.healthy_threshold = 1;
    c.unhealthy_threshold = 1;
    c.fail_open = 0;
    h = make(&c);
    assert_lb_ok(lb_health_register(h, 1, 1, 0));
    drain_events(h);
    for (int i = 0; i < 10; i++) {
        checks_bad(h, 1, 1, (uint64_t)i * S);
        expect_ev(h, 1, LB_HEALTH_STATE_HEALTHY, LB_HEALTH_STATE_UNHEALTHY,
                  LB_HEALTH_R_CHECKS_FAILED);
        checks_ok(h, 1, 1, (uint64_t)i * S + 500);
        expect_ev(h, 1, LB_HEALTH_STATE_UNHEALTHY, LB_HEALTH_STATE_HEALTHY,
                  LB_HEALTH_R_CHECK_PASSED);
    }
    lb_health_free(h);
}

/* The transitions not walked above: deregistering from UNHEALTHY and EJECTED, and an ejected
 * (or INITIAL, under fail-open) target with connections failing into a drain. */
static void remaining_transitions(void **state)
{
    (void)state;
    lb_health_config c = config();
    c.initial_state = LB_HEALTH_STATE_HEALTHY;
    c.unhealthy_threshold = 1;
    c.passive_failures = 1;
    c.max_ejection_percent = 100;
    lb_health *h = make(&c);
    for (uint32_t id = 1; id <= 4; id++)
        assert_lb_ok(lb_health_register(h, id, 1, 0));
    checks_bad(h, 1, 1, S);
    assert_lb_ok(lb_health_passive(h, 2, LB_HEALTH_SIG_CONNECT_FAIL, S));
    open_n(h, 3, 2, S);
    assert_lb_ok(lb_health_passive(h, 3, LB_HEALTH_SIG_RESET, S));
    drain_events(h);
    assert_lb_ok(lb_health_deregister(h, 1, 2 * S));
    expect_ev(h, 1, LB_HEALTH_STATE_UNHEALTHY, LB_HEALTH_STATE_DRAINING, LB_HEALTH_R_DEREGISTERED);
    expect_ev(h, 1, LB_HEALTH_STATE_DRAINING, LB_HEALTH_STATE_REMOVED, LB_HEALTH_R_DRAINED);
    assert_lb_ok(lb_health_deregister(h, 2, 2 * S));
    expect_ev(h, 2, LB_HEALTH_STATE_EJECTED, LB_HEALTH_STATE_DRAINING, LB_HEALTH_R_DEREGISTERED);
    expect_ev(h, 2, LB_HEALTH_STATE_DRAINING, LB_HEALTH_STATE_REMOVED, LB_HEALTH_R_DRAINED);
    checks_bad(h, 3, 1, 3 * S);
    lb_health_event ev = expect_ev(h, 3, LB_HEALTH_STATE_EJECTED, LB_HEALTH_STATE_DRAINING,
                                   LB_HEALTH_R_CHECKS_FAILED);
    assert_int_equal(ev.connections, 2);
    assert_int_equal(view(h, 3).until_ms, 3 * S + c.deregistration_delay_ms);
    lb_health_free(h);

    /* INITIAL targets take connections under fail-open; failing, they drain */
    c = config();
    c.unhealthy_threshold = 1;
    h = make(&c);
    assert_lb_ok(lb_health_register(h, 1, 1, 0));
    open_n(h, 1, 1, 0);
    drain_events(h);
    checks_bad(h, 1, 1, S);
    expect_ev(h, 1, LB_HEALTH_STATE_INITIAL, LB_HEALTH_STATE_DRAINING, LB_HEALTH_R_CHECKS_FAILED);
    assert_int_equal(view(h, 1).eligible, 1); /* unhealthy, still in fail-open */
    assert_lb_ok(lb_health_conn_close(h, 1, 2 * S));
    expect_ev(h, 1, LB_HEALTH_STATE_DRAINING, LB_HEALTH_STATE_UNHEALTHY, LB_HEALTH_R_DRAINED);
    lb_health_free(h);
}

/* ---- slow start -------------------------------------------------------------------------- */

static uint32_t ew_at(lb_health *h, uint32_t id, uint64_t now)
{
    assert_lb_ok(lb_health_tick(h, now));
    return view(h, id).effective_weight;
}

static void slow_start_linear(void **state)
{
    (void)state;
    lb_health_config c = config();
    c.initial_state = LB_HEALTH_STATE_HEALTHY;
    c.slow_start_window_ms = 100 * S;
    c.slow_start_min_percent = 10;
    lb_health *h = make(&c);
    assert_lb_ok(lb_health_register(h, 1, 1000, 0));
    assert_int_equal(view(h, 1).slow_start, 0); /* alone: nobody else to carry traffic */
    assert_int_equal(view(h, 1).effective_weight, 1000);
    assert_lb_ok(lb_health_register(h, 2, 1000, 10 * S));
    assert_int_equal(view(h, 2).slow_start, 1);
    assert_int_equal(view(h, 2).eligible, 1);
    assert_int_equal(view(h, 2).effective_weight, 100); /* the 10 % floor at t = 0 */
    uint32_t ids[4];
    assert_int_equal(lb_health_checks_due(h, 10 * S, ids, 4), 2); /* checks ~2 s, ~10 s away */
    assert_int_equal(lb_health_next_deadline(h), 10 * S + c.slow_start_step_ms);
    assert_int_equal(ew_at(h, 2, 15 * S), 100);       /* 5 % -> floored to 10 % */
    assert_int_equal(ew_at(h, 2, 35 * S), 250);       /* 25 % */
    assert_int_equal(ew_at(h, 2, 35 * S + 999), 259); /* integer floor of 25.999 % */
    assert_int_equal(ew_at(h, 2, 60 * S), 500);
    assert_int_equal(ew_at(h, 2, 109 * S), 990);
    drain_events(h);
    assert_int_equal(ew_at(h, 2, 110 * S), 1000);
    assert_int_equal(view(h, 2).slow_start, 0);
    lb_health_event ev = expect_ev(h, 2, LB_HEALTH_STATE_HEALTHY, LB_HEALTH_STATE_HEALTHY,
                                   LB_HEALTH_R_SLOW_START_END);
    assert_int_equal(ev.at_ms, 110 * S);
    /* weight limits: 0 stays 0, 65535 stays in range, small weights never drop to 0 */
    assert_lb_ok(lb_health_register(h, 3, 0, 110 * S));
    assert_lb_ok(lb_health_register(h, 4, LB_WEIGHT_MAX, 110 * S));
    assert_lb_ok(lb_health_register(h, 5, 1, 110 * S));
    assert_int_equal(view(h, 3).effective_weight, 0);
    assert_int_equal(view(h, 4).effective_weight, (LB_WEIGHT_MAX * 10 + 99) / 100);
    assert_int_equal(view(h, 5).effective_weight, 1);
    assert_int_equal(ew_at(h, 4, 160 * S), LB_WEIGHT_MAX / 2);
    assert_int_equal(ew_at(h, 4, 210 * S), LB_WEIGHT_MAX);
    lb_health_free(h);

    /* AWS-style: linear with no floor (still at least 1 while the weight is not 0) */
    c.slow_start_min_percent = 0;
    h = make(&c);
    assert_lb_ok(lb_health_register(h, 1, 1000, 0));
    assert_lb_ok(lb_health_register(h, 2, 1000, 0));
    assert_int_equal(view(h, 2).effective_weight, 1);
    assert_int_equal(ew_at(h, 2, 5 * S), 50);
    lb_health_free(h);
}

static void slow_start_aggression(void **state)
{
    (void)state;
    lb_health_config c = config();
    c.initial_state = LB_HEALTH_STATE_HEALTHY;
    c.slow_start_window_ms = 100 * S;
    c.slow_start_aggression_milli = 2000; /* sqrt: faster start */
    lb_health *h = make(&c);
    assert_lb_ok(lb_health_register(h, 1, 1000, 0));
    assert_lb_ok(lb_health_register(h, 2, 1000, 0));
    assert_int_equal(ew_at(h, 2, 30 * S), 547); /* 1000 * sqrt(0.3) = 547.7 */
    assert_int_equal(ew_at(h, 2, 50 * S), 707); /* 1000 * sqrt(0.5) = 707.1 */
    assert_int_equal(ew_at(h, 2, 100 * S), 1000);
    lb_health_free(h);
    c.slow_start_aggression_milli = 500; /* square: slower start */
    h = make(&c);
    assert_lb_ok(lb_health_register(h, 1, 1000, 0));
    assert_lb_ok(lb_health_register(h, 2, 1000, 0));
    assert_int_equal(ew_at(h, 2, 10 * S), 100); /* 1 % -> the 10 % floor */
    assert_int_equal(ew_at(h, 2, 50 * S), 250);
    assert_int_equal(ew_at(h, 2, 90 * S), 810);
    lb_health_free(h);
}

static void slow_start_needs_a_settled_peer(void **state)
{
    (void)state;
    lb_health_config c = config();
    c.initial_state = LB_HEALTH_STATE_HEALTHY;
    c.slow_start_window_ms = 100 * S;
    c.unhealthy_threshold = 1;
    c.healthy_threshold = 1;
    lb_health *h = make(&c);
    assert_lb_ok(lb_health_register(h, 1, 100, 0)); /* A: alone, no ramp */
    assert_lb_ok(lb_health_register(h, 2, 100, 0)); /* B: ramps (A is settled) */
    assert_int_equal(view(h, 2).slow_start, 1);
    checks_bad(h, 1, 1, S); /* A goes down: only B is healthy, and B is ramping */
    assert_lb_ok(lb_health_register(h, 3, 100, 2 * S));
    assert_int_equal(view(h, 3).slow_start, 0);
    assert_int_equal(view(h, 3).effective_weight, 100);
    /* A comes back: C is healthy and settled, so A ramps */
    checks_ok(h, 1, 1, 3 * S);
    assert_int_equal(view(h, 1).slow_start, 1);
    /* leaving HEALTHY ends the ramp */
    checks_bad(h, 1, 1, 4 * S);
    assert_int_equal(view(h, 1).slow_start, 0);
    lb_health_free(h);
}

/* ---- fail open / closed ------------------------------------------------------------------ */

static void fail_open_and_closed(void **state)
{
    (void)state;
    lb_health_config c = config();
    c.initial_state = LB_HEALTH_STATE_HEALTHY;
    c.unhealthy_threshold = 1;
    c.healthy_threshold = 1;
    lb_health *h = make(&c);
    for (uint32_t id = 1; id <= 3; id++)
        assert_lb_ok(lb_health_register(h, id, id * 10, 0));
    assert_lb_ok(lb_health_register(h, 4, 40, 0));
    assert_lb_ok(lb_health_deregister(h, 4, 0));
    open_n(h, 4, 0, 0);
    drain_events(h);
    assert_int_equal(status(h).fail_open, 0);
    for (uint32_t id = 1; id <= 3; id++)
        checks_bad(h, id, 1, S);
    expect_ev(h, 1, LB_HEALTH_STATE_HEALTHY, LB_HEALTH_STATE_UNHEALTHY, LB_HEALTH_R_CHECKS_FAILED);
    expect_ev(h, 2, LB_HEALTH_STATE_HEALTHY, LB_HEALTH_STATE_UNHEALTHY, LB_HEALTH_R_CHECKS_FAILED);
    lb_health_event ev = expect_ev(h, 3, LB_HEALTH_STATE_HEALTHY, LB_HEALTH_STATE_UNHEALTHY,
                                   LB_HEALTH_R_CHECKS_FAILED);
    assert_int_equal(ev.eligible, 0);
    ev = expect_ev(h, LB_NO_TARGET, 0, 0, LB_HEALTH_R_FAIL_OPEN);
    assert_int_equal(ev.eligible, 1);
    lb_health_status s = status(h);
    assert_int_equal(s.fail_open, 1);
    assert_int_equal(s.healthy, 0);
    assert_int_equal(s.registered, 3);
    assert_int_equal(s.eligible, 3);
    for (uint32_t id = 1; id <= 3; id++) {
        lb_health_target t = view(h, id);
        assert_int_equal(t.state, LB_HEALTH_STATE_UNHEALTHY);
        assert_int_equal(t.eligible, 1);
        assert_int_equal(t.effective_weight, id * 10);
    }
    assert_int_equal(view(h, 4).eligible, 0); /* deregistered: never */
    assert_lb_ok(lb_health_conn_open(h, 2, S));
    /* one recovers: fail-open ends, the others are not eligible any more */
    checks_ok(h, 1, 1, 2 * S);
    expect_ev(h, 1, LB_HEALTH_STATE_UNHEALTHY, LB_HEALTH_STATE_HEALTHY, LB_HEALTH_R_CHECK_PASSED);
    expect_ev(h, LB_NO_TARGET, 0, 0, LB_HEALTH_R_FAIL_OPEN_END);
    assert_int_equal(status(h).fail_open, 0);
    assert_int_equal(view(h, 2).eligible, 0);
    assert_int_equal(view(h, 2).effective_weight, 0);
    assert_lb_err(lb_health_conn_open(h, 2, 2 * S), LB_E_HEALTH_NOT_ELIGIBLE);
    lb_health_free(h);

    /* a threshold: fail open below 50 % healthy (Envoy's panic threshold) */
    c.fail_open_percent = 50;
    h = make(&c);
    for (uint32_t id = 1; id <= 4; id++)
        assert_lb_ok(lb_health_register(h, id, 1, 0));
    checks_bad(h, 1, 1, S);
    checks_bad(h, 2, 1, S);
    assert_int_equal(status(h).fail_open, 0); /* 2 of 4 = 50 % */
    checks_bad(h, 3, 1, S);
    assert_int_equal(status(h).fail_open, 1); /* 1 of 4 */
    assert_int_equal(status(h).eligible, 4);
    lb_health_free(h);

    /* fail closed: nothing is eligible */
    c.fail_open = 0;
    c.fail_open_percent = 0;
    h = make(&c);
    for (uint32_t id = 1; id <= 3; id++)
        assert_lb_ok(lb_health_register(h, id, 1, 0));
    for (uint32_t id = 1; id <= 3; id++)
        checks_bad(h, id, 1, S);
    s = status(h);
    assert_int_equal(s.fail_open, 0);
    assert_int_equal(s.eligible, 0);
    for (uint32_t id = 1; id <= 3; id++)
        assert_lb_err(lb_health_conn_open(h, id, S), LB_E_HEALTH_NOT_ELIGIBLE);
    lb_health_free(h);

    /* a new pool waiting for its first checks fails open by default (AWS) */
    c = config();
    h = make(&c);
    assert_lb_ok(lb_health_register(h, 1, 1, 0));
    assert_int_equal(status(h).fail_open, 1);
    assert_int_equal(lb_health_is_eligible(h, 1), 1);
    lb_health_free(h);
}

/* ---- passive ejection -------------------------------------------------------------------- */

static void passive_ejection_grows_and_is_capped(void **state)
{
    (void)state;
    lb_health_config c = config(); /* 5 failures, 30 s base, 300 s max, 10 % */
    c.initial_state = LB_HEALTH_STATE_HEALTHY;
    lb_health *h = make(&c);
    for (uint32_t id = 1; id <= 20; id++) /* 10 % of 20: two at most */
        assert_lb_ok(lb_health_register(h, id, 1, 0));
    drain_events(h);
    /* a success in between restarts the count */
    for (int i = 0; i < 4; i++)
        assert_lb_ok(lb_health_passive(h, 1, LB_HEALTH_SIG_CONNECT_FAIL, S));
    assert_lb_ok(lb_health_passive(h, 1, LB_HEALTH_SIG_CONNECT_OK, S));
    for (int i = 0; i < 4; i++)
        assert_lb_ok(lb_health_passive(h, 1, LB_HEALTH_SIG_RESET, S));
    expect_no_ev(h);
    assert_lb_ok(lb_health_passive(h, 1, LB_HEALTH_SIG_RESET, S));
    lb_health_event ev =
        expect_ev(h, 1, LB_HEALTH_STATE_HEALTHY, LB_HEALTH_STATE_EJECTED, LB_HEALTH_R_EJECTED);
    assert_int_equal(ev.eligible, 0);
    lb_health_target t = view(h, 1);
    assert_int_equal(t.until_ms, 31 * S);
    assert_int_equal(t.ejections, 1);
    assert_int_equal(t.effective_weight, 0);
    assert_lb_err(lb_health_conn_open(h, 1, 2 * S), LB_E_HEALTH_NOT_ELIGIBLE);
    assert_int_equal(lb_health_next_deadline(h) <= 31 * S, 1);
    assert_lb_ok(lb_health_tick(h, 31 * S));
    ev =
        expect_ev(h, 1, LB_HEALTH_STATE_EJECTED, LB_HEALTH_STATE_HEALTHY, LB_HEALTH_R_EJECTION_END);
    assert_int_equal(ev.at_ms, 31 * S);
    /* ejected again at once: 60 s, then 90 s */
    uint64_t now = 31 * S;
    uint64_t want[] = {60 * S,  90 * S,  120 * S, 150 * S, 180 * S,
                       210 * S, 240 * S, 270 * S, 300 * S, 300 * S};
    for (size_t k = 0; k < sizeof(want) / sizeof(want[0]); k++) {
        for (int i = 0; i < 5; i++)
            assert_lb_ok(lb_health_passive(h, 1, LB_HEALTH_SIG_CONNECT_FAIL, now));
        t = view(h, 1);
        assert_int_equal(t.state, LB_HEALTH_STATE_EJECTED);
        assert_int_equal(t.until_ms - now, want[k]);
        now = t.until_ms;
        assert_lb_ok(lb_health_tick(h, now));
        assert_int_equal(view(h, 1).state, LB_HEALTH_STATE_HEALTHY);
    }
    /* the multiplier (11) decays by one per 10 s out of ejection: 55 s later it is 11 - 5 */
    now += 55 * S;
    for (int i = 0; i < 5; i++)
        assert_lb_ok(lb_health_passive(h, 1, LB_HEALTH_SIG_CONNECT_FAIL, now));
    t = view(h, 1);
    assert_int_equal(t.ejections, 7);
    assert_int_equal(t.until_ms - now, 210 * S);
    /* a second target may go; a third would exceed 10 % of 20 */
    for (int i = 0; i < 5; i++)
        assert_lb_ok(lb_health_passive(h, 2, LB_HEALTH_SIG_CONNECT_FAIL, now));
    assert_int_equal(view(h, 2).state, LB_HEALTH_STATE_EJECTED);
    drain_events(h);
    for (int i = 0; i < 8; i++)
        assert_lb_ok(lb_health_passive(h, 3, LB_HEALTH_SIG_CONNECT_FAIL, now));
    assert_int_equal(view(h, 3).state, LB_HEALTH_STATE_HEALTHY);
    lb_health_status s = status(h);
    assert_int_equal(s.ejected, 2);
    assert_int_equal(s.ejections_refused, 4);
    expect_no_ev(h);
    /* an ejected target that also fails its checks goes UNHEALTHY */
    checks_bad(h, 2, 3, now + S);
    expect_ev(h, 2, LB_HEALTH_STATE_EJECTED, LB_HEALTH_STATE_UNHEALTHY, LB_HEALTH_R_CHECKS_FAILED);
    /* once target 2 is no longer ejected, target 3's next failure ejects it */
    assert_lb_ok(lb_health_passive(h, 3, LB_HEALTH_SIG_CONNECT_FAIL, now + S));
    assert_int_equal(view(h, 3).state, LB_HEALTH_STATE_EJECTED);
    /* passive signals on targets that are not HEALTHY are ignored */
    for (int i = 0; i < 10; i++)
        assert_lb_ok(lb_health_passive(h, 2, LB_HEALTH_SIG_CONNECT_FAIL, now + S));
    assert_int_equal(view(h, 2).state, LB_HEALTH_STATE_UNHEALTHY);
    lb_health_free(h);

    /* a small pool never ejects with the default 10 %; 100 % lets it eject everything */
    h = make(&c);
    for (uint32_t id = 1; id <= 5; id++)
        assert_lb_ok(lb_health_register(h, id, 1, 0));
    for (int i = 0; i < 20; i++)
        assert_lb_ok(lb_health_passive(h, 1, LB_HEALTH_SIG_CONNECT_FAIL, 0));
    assert_int_equal(view(h, 1).state, LB_HEALTH_STATE_HEALTHY);
    lb_health_free(h);
    c.max_ejection_percent = 100;
    c.passive_failures = 1;
    h = make(&c);
    for (uint32_t id = 1; id <= 5; id++) {
        assert_lb_ok(lb_health_register(h, id, 1, 0));
        assert_lb_ok(lb_health_passive(h, id, LB_HEALTH_SIG_CONNECT_FAIL, 0));
    }
    assert_int_equal(status(h).ejected, 5);
    assert_int_equal(status(h).fail_open, 1); /* nobody healthy: fail open covers them */
    assert_int_equal(lb_health_is_eligible(h, 3), 1);
    lb_health_free(h);
}

/* ---- check scheduling -------------------------------------------------------------------- */

static void check_scheduling_and_jitter(void **state)
{
    (void)state;
    lb_health_config c = config(); /* 10 s / 2 s / 30 s, jitter 10 % */
    c.seed = 42;
    lb_health *h = make(&c);
    enum { N = 200 };
    for (uint32_t id = 0; id < N; id++)
        assert_lb_ok(lb_health_register(h, id, 1, 0));
    uint32_t ids[N];
    /* all due at once; the cap is respected and the rest stay due */
    assert_int_equal(lb_health_checks_due(h, 0, ids, 50), 50);
    assert_int_equal(ids[0], 0);
    assert_int_equal(ids[49], 49);
    assert_int_equal(lb_health_checks_due(h, 0, ids, N), N - 50);
    assert_int_equal(ids[0], 50);
    assert_int_equal(lb_health_checks_due(h, 0, ids, N), 0);
    /* INITIAL: fast interval, +-10 % */
    uint64_t lo = UINT64_MAX, hi = 0;
    for (uint32_t id = 0; id < N; id++) {
        uint64_t n = view(h, id).next_check_ms;
        assert_in_range(n, 1800, 2200);
        lo = n < lo ? n : lo;
        hi = n > hi ? n : hi;
    }
    assert_true(hi - lo > 200); /* spread, not lock-step */
    assert_int_equal(lb_health_next_deadline(h), lo);
    /* healthy and steady: 9..11 s; a failing streak: fast; down: 27..33 s */
    for (uint32_t id = 0; id < N; id++)
        checks_ok(h, id, 2, 3 * S);
    for (uint32_t id = 0; id < N; id++)
        assert_in_range(view(h, id).next_check_ms, 3 * S + 9000, 3 * S + 11000);
    checks_bad(h, 7, 1, 4 * S);
    assert_in_range(view(h, 7).next_check_ms, 4 * S + 1800, 4 * S + 2200);
    checks_bad(h, 7, 2, 5 * S);
    assert_int_equal(view(h, 7).state, LB_HEALTH_STATE_UNHEALTHY);
    assert_in_range(view(h, 7).next_check_ms, 5 * S + 27000, 5 * S + 33000);
    checks_ok(h, 7, 1, 6 * S);
    assert_in_range(view(h, 7).next_check_ms, 6 * S + 1800, 6 * S + 2200);
    /* checks_due reschedules what it returns */
    uint64_t due = view(h, 7).next_check_ms;
    assert_int_equal(lb_health_checks_due(h, due, ids, N) >= 1, 1);
    assert_in_range(view(h, 7).next_check_ms, due + 1800, due + 2200);
    lb_health_free(h);

    /* the same seed gives the same schedule; another seed another one; 0 % is exact */
    uint64_t first[3][8];
    uint64_t seeds[3] = {1, 1, 2};
    for (int r = 0; r < 3; r++) {
        c.seed = seeds[r];
        h = make(&c);
        for (uint32_t id = 0; id < 8; id++) {
            assert_lb_ok(lb_health_register(h, id, 1, 0));
            checks_ok(h, id, 1, 0);
            first[r][id] = view(h, id).next_check_ms;
        }
        lb_health_free(h);
    }
    assert_memory_equal(first[0], first[1], sizeof(first[0]));
    assert_memory_not_equal(first[0], first[2], sizeof(first[0]));
    c.jitter_percent = 0;
    h = make(&c);
    assert_lb_ok(lb_health_register(h, 1, 1, 0));
    checks_ok(h, 1, 1, 100);
    assert_int_equal(view(h, 1).next_check_ms, 100 + c.fast_interval_ms);
    assert_lb_ok(lb_health_deregister(h, 1, 200));
    assert_int_equal(lb_health_checks_due(h, 10 * S, ids, N), 0);
    lb_health_free(h);
}

/* ---- generation, iteration, callback ----------------------------------------------------- */

struct cb_log {
    int calls;
    lb_health_event last;
};

static void on_event(const lb_health_event *ev, void *user)
{
    struct cb_log *log = user;
    log->calls++;
    log->last = *ev;
}

static void generation_iteration_callback(void **state)
{
    (void)state;
    struct cb_log log;
    memset(&log, 0, sizeof(log));
    lb_health_config c = config();
    c.initial_state = LB_HEALTH_STATE_HEALTHY;
    c.on_event = on_event;
    c.user = &log;
    lb_health *h = make(&c);
    assert_int_equal(lb_health_generation(h), 0);
    assert_lb_ok(lb_health_register(h, 30, 3, 0));
    assert_lb_ok(lb_health_register(h, 10, 1, 0));
    assert_lb_ok(lb_health_register(h, 20, 2, 0));
    assert_int_equal(log.calls, 3);
    assert_int_equal(log.last.id, 20);
    assert_int_equal(lb_health_pending_events(h), 0); /* the callback got them */
    uint64_t g = lb_health_generation(h);
    assert_int_equal(g, 3);
    lb_health_target t;
    memset(&t, 0, sizeof(t));
    t.struct_size = sizeof(t);
    for (size_t i = 0; i < 3; i++) {
        assert_lb_ok(lb_health_at(h, i, &t));
        assert_int_equal(t.id, (i + 1) * 10); /* id order */
        assert_int_equal(t.effective_weight, i + 1);
    }
    /* nothing changes: same generation */
    checks_ok(h, 10, 5, S);
    assert_lb_ok(lb_health_conn_open(h, 10, S));
    assert_lb_ok(lb_health_tick(h, 2 * S));
    assert_int_equal(lb_health_generation(h), g);
    /* a weight change is a change, and only that target's changed_gen moves */
    assert_lb_ok(lb_health_set_weight(h, 20, 7, 3 * S));
    assert_int_equal(lb_health_generation(h), g + 1);
    assert_int_equal(view(h, 20).changed_gen, g + 1);
    assert_int_equal(view(h, 20).effective_weight, 7);
    assert_true(view(h, 10).changed_gen <= g);
    lb_health_free(h);

    /* the event queue drops (and counts) what does not fit */
    c = config();
    c.event_queue_max = 2;
    h = make(&c);
    for (uint32_t id = 1; id <= 4; id++)
        assert_lb_ok(lb_health_register(h, id, 1, 0));
    assert_int_equal(lb_health_pending_events(h), 2);
    assert_true(status(h).events_dropped >= 2);
    lb_health_event evs[4];
    assert_int_equal(lb_health_poll_events(h, evs, sizeof(*evs), 4), 2);
    assert_int_equal(evs[0].id, 1);
    assert_int_equal(lb_health_poll_events(h, evs, sizeof(*evs), 4), 0);
    lb_health_free(h);
}

static void connection_counts(void **state)
{
    (void)state;
    lb_health_config c = config();
    c.initial_state = LB_HEALTH_STATE_HEALTHY;
    lb_health *h = make(&c);
    assert_lb_ok(lb_health_register(h, 1, 1, 0));
    assert_lb_ok(lb_health_register(h, 2, 1, 0));
    assert_lb_err(lb_health_conn_close(h, 1, 0), -ERANGE);
    assert_int_equal(view(h, 1).connections, 0);
    open_n(h, 1, 3, 0);
    assert_lb_ok(lb_health_set_conns(h, 1, 10, 0));
    assert_int_equal(view(h, 1).connections, 10);
    assert_lb_ok(lb_health_deregister(h, 1, S));
    drain_events(h);
    assert_int_equal(lb_health_conn_add(h, 1, S), 0); /* late, from a stale snapshot */
    assert_int_equal(view(h, 1).connections, 11);
    assert_int_equal(lb_health_conn_add(h, 2, S), 1);
    assert_lb_err(lb_health_conn_add(h, 3, S), -ENOENT);
    assert_lb_ok(lb_health_conn_close(h, 2, S));
    assert_lb_ok(lb_health_set_conns(h, 1, 4, 2 * S)); /* a reconciled count */
    expect_no_ev(h);
    assert_lb_ok(lb_health_set_conns(h, 1, 0, 3 * S)); /* all gone: drained */
    expect_ev(h, 1, LB_HEALTH_STATE_DRAINING, LB_HEALTH_STATE_REMOVED, LB_HEALTH_R_DRAINED);
    /* time never goes back: an earlier now_ms is taken as the latest seen */
    assert_lb_ok(lb_health_deregister(h, 2, 0));
    lb_health_event ev = expect_ev(h, 2, LB_HEALTH_STATE_HEALTHY, LB_HEALTH_STATE_DRAINING,
                                   LB_HEALTH_R_DEREGISTERED);
    assert_int_equal(ev.at_ms, 3 * S);
    lb_health_free(h);
}

/* ---- randomized invariants --------------------------------------------------------------- */

enum { RT = 8 };

/* How often each reason appeared over all sequences: proves the sequences reach every path. */
static uint64_t reason_seen[LB_HEALTH_R_FAIL_OPEN_END + 1];

struct model {
    uint32_t conns[RT];
    uint32_t state[RT];
    int known[RT];
};

static void check_invariants(lb_health *h, const lb_health_config *c, struct model *m, uint64_t now)
{
    lb_health_event evs[32];
    int k;
    while ((k = lb_health_poll_events(h, evs, sizeof(*evs), 32)) > 0) {
        for (int i = 0; i < k; i++) {
            const lb_health_event *e = &evs[i];
            assert_true(e->at_ms <= now);
            assert_in_range(e->reason, 0, LB_HEALTH_R_FAIL_OPEN_END);
            reason_seen[e->reason]++;
            if (e->id == LB_NO_TARGET)
                continue;
            assert_in_range(e->id, 0, RT - 1);
            uint32_t before = m->known[e->id] ? m->state[e->id] : LB_HEALTH_STATE_REMOVED;
            if (e->old_state != before)
                fail_msg("event for %u says %s -> %s, model had %s", e->id,
                         lb_health_state_name(e->old_state), lb_health_state_name(e->new_state),
                         lb_health_state_name(before));
            m->state[e->id] = e->new_state;
            m->known[e->id] = 1;
            assert_true(e->close_connections <= e->connections);
            if (e->reason == LB_HEALTH_R_EJECTED) {
                lb_health_status s = status(h);
                assert_true((uint64_t)s.ejected * 100 <=
                            (uint64_t)c->max_ejection_percent * s.registered);
            }
        }
    }
    lb_health_status s = status(h);
    uint64_t deadline = lb_health_next_deadline(h);
    for (uint32_t id = 0; id < RT; id++) {
        lb_health_target t;
        memset(&t, 0, sizeof(t));
        t.struct_size = sizeof(t);
        if (lb_health_get(h, id, &t) != 0) {
            assert_false(m->known[id]);
            continue;
        }
        assert_int_equal(t.state, m->state[id]);       /* events tell the whole story */
        assert_int_equal(t.connections, m->conns[id]); /* never negative, never lost */
        assert_true(t.effective_weight <= t.weight);
        if (!t.eligible)
            assert_int_equal(t.effective_weight, 0);
        if (t.eligible && t.state != LB_HEALTH_STATE_HEALTHY) {
            assert_int_equal(s.fail_open, 1);
            assert_true(t.state != LB_HEALTH_STATE_REMOVED);
        }
        if (t.state == LB_HEALTH_STATE_HEALTHY && t.weight > 0)
            assert_true(t.effective_weight > 0);
        if (t.state == LB_HEALTH_STATE_DRAINING) {
            if (t.until_ms <= now)
                fail_msg("target %u DRAINING (%s) since %llu until %llu at %llu, %u conns", id,
                         lb_health_reason_name(t.reason), (unsigned long long)t.since_ms,
                         (unsigned long long)t.until_ms, (unsigned long long)now, t.connections);
            assert_true(t.until_ms - t.since_ms <= c->deregistration_delay_ms);
            assert_true(t.connections > 0);
        }
        if (t.state == LB_HEALTH_STATE_EJECTED)
            assert_true(t.until_ms > now);
        /* the caller is asked back in time for every deadline, check and ramp step */
        assert_true(deadline <= t.until_ms);
        assert_true(deadline <= t.next_check_ms);
        if (t.slow_start)
            assert_true(deadline <= now + c->slow_start_step_ms);
    }
    if (!c->fail_open)
        assert_int_equal(s.fail_open, 0);
}

static void randomized_invariants(void **state)
{
    (void)state;
    uint64_t seed = 0x5EED0006ull;
    for (int seq = 0; seq < 3000; seq++) {
        lb_health_config c = config();
        c.seed = lbt_rand(&seed);
        c.initial_state = lbt_rand(&seed) % 2 ? LB_HEALTH_STATE_HEALTHY : LB_HEALTH_STATE_INITIAL;
        c.healthy_threshold = 1 + (uint32_t)(lbt_rand(&seed) % 3);
        c.unhealthy_threshold = 1 + (uint32_t)(lbt_rand(&seed) % 3);
        c.on_fail = (uint32_t)(lbt_rand(&seed) % 3);
        c.deregistration_delay_ms = (uint32_t)(lbt_rand(&seed) % 4) * 5000;
        c.passive_failures = (uint32_t)(lbt_rand(&seed) % 4);
        c.ejection_base_ms = 1000 + (uint32_t)(lbt_rand(&seed) % 5000);
        c.ejection_max_ms = c.ejection_base_ms * 3;
        c.max_ejection_percent = (uint32_t)(lbt_rand(&seed) % 60);
        c.slow_start_window_ms = (uint32_t)(lbt_rand(&seed) % 3) * 4000;
        c.slow_start_aggression_milli = lbt_rand(&seed) % 2 ? 1000 : 1500;
        c.fail_open = (uint32_t)(lbt_rand(&seed) % 2);
        c.fail_open_percent = (uint32_t)(lbt_rand(&seed) % 3) * 30;
        lb_health *h = make(&c);
        struct model m;
        memset(&m, 0, sizeof(m));
        uint64_t now = 0, seen = 0; /* seen: the last time the machine was told */
        for (int step = 0; step < 150; step++) {
            now += lbt_rand(&seed) % 1500;
            uint32_t id = (uint32_t)(lbt_rand(&seed) % RT);
            uint32_t op = (uint32_t)(lbt_rand(&seed) % 100);
            int rc;
            if (op < 8) {
                rc = lb_health_register(h, id, (uint32_t)(lbt_rand(&seed) % 100), now);
                assert_true(rc == 0 || rc == -EEXIST);
            } else if (op < 13) {
                rc = lb_health_deregister(h, id, now);
                assert_true(rc == 0 || rc == -ENOENT || rc == LB_E_HEALTH_BAD_STATE);
            } else if (op < 40) {
                rc = lb_health_check_result(h, id, (int)(lbt_rand(&seed) % 3 != 0), now);
                assert_true(rc == 0 || rc == -ENOENT || rc == LB_E_HEALTH_BAD_STATE);
            } else if (op < 50) {
                rc = lb_health_passive(h, id, (uint32_t)(lbt_rand(&seed) % 3), now);
                assert_true(rc == 0 || rc == -ENOENT);
            } else if (op < 72) {
                /* a new connection is allowed exactly when the target is eligible */
                assert_lb_ok(lb_health_tick(h, now));
                int el = lb_health_is_eligible(h, id);
                rc = lb_health_conn_open(h, id, now);
                if (el == -ENOENT) {
                    assert_lb_err(rc, -ENOENT);
                } else if (el == 1) {
                    assert_lb_ok(rc);
                    m.conns[id]++;
                } else {
                    assert_lb_err(rc, LB_E_HEALTH_NOT_ELIGIBLE);
                }
            } else if (op < 76) {
                /* a connection from a stale snapshot: counted whatever the state */
                assert_lb_ok(lb_health_tick(h, now));
                int el = lb_health_is_eligible(h, id);
                rc = lb_health_conn_add(h, id, now);
                assert_int_equal(rc, el);
                if (rc >= 0)
                    m.conns[id]++;
            } else if (op < 92) {
                rc = lb_health_conn_close(h, id, now);
                if (rc == 0)
                    m.conns[id]--;
                else if (rc == -ERANGE)
                    assert_int_equal(m.conns[id], 0);
                else
                    assert_lb_err(rc, -ENOENT);
            } else if (op < 95) {
                rc = lb_health_forget(h, id); /* takes no time: the machine's clock stays */
                now = seen;
                if (rc == 0) {
                    m.known[id] = 0;
                    m.conns[id] = 0;
                }
            } else {
                /* jump straight to the next deadline, as a caller's timer would */
                uint64_t d = lb_health_next_deadline(h);
                if (d != LB_HEALTH_NEVER && d > now)
                    now = d;
                assert_lb_ok(lb_health_tick(h, now));
                uint32_t ids[RT];
                rc = lb_health_checks_due(h, now, ids, RT);
                assert_true(rc >= 0);
            }
            seen = now;
            check_invariants(h, &c, &m, now);
        }
        lb_health_free(h);
    }
    for (uint32_t r = 0; r <= LB_HEALTH_R_FAIL_OPEN_END; r++)
        if (reason_seen[r] < 20)
            fail_msg("reason %s seen only %llu times", lb_health_reason_name(r),
                     (unsigned long long)reason_seen[r]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(config_defaults_and_ranges),
        cmocka_unit_test(bad_arguments),
        cmocka_unit_test(initial_rise_and_fall),
        cmocka_unit_test(initial_state_healthy),
        cmocka_unit_test(failed_checks_drain_keep_or_close),
        cmocka_unit_test(aws_draining_timeline),
        cmocka_unit_test(deregister_remove_forget_reregister),
        cmocka_unit_test(deregister_while_failure_draining_keeps_deadline),
        cmocka_unit_test(flapping_checks_do_not_flap_state),
        cmocka_unit_test(remaining_transitions),
        cmocka_unit_test(slow_start_linear),
        cmocka_unit_test(slow_start_aggression),
        cmocka_unit_test(slow_start_needs_a_settled_peer),
        cmocka_unit_test(fail_open_and_closed),
        cmocka_unit_test(passive_ejection_grows_and_is_capped),
        cmocka_unit_test(check_scheduling_and_jitter),
        cmocka_unit_test(generation_iteration_callback),
        cmocka_unit_test(connection_counts),
        cmocka_unit_test(randomized_invariants),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
