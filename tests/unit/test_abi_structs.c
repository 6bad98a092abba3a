/* The struct-extension rule of doc/ABI.md, seen from callers compiled against the library:
 * an "old caller" (its struct lacks the last field of this release) and a "new caller" (its
 * struct has one more field than this release knows), for structs the caller passes in, structs
 * the library fills, init functions and event arrays. Linked against the shared library. */
#include "lbtest.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "lb.h"

/* ---- callers from another release ------------------------------------------------------ */

/* A new caller's balancer configuration: one field more than this library knows. */
struct new_balancer_config {
    lb_balancer_config base;
    uint32_t future_field;
    uint32_t future_pad;
};

/* An old caller's balancer configuration: everything but the last field. */
#define OLD_CONFIG_SIZE offsetof(lb_balancer_config, event_queue_max)

struct new_event {
    lb_event base;
    uint64_t future_field;
};

struct new_health_event {
    lb_health_event base;
    uint64_t future_field;
};

struct new_stats {
    lb_balancer_stats base;
    uint64_t future_field;
};

struct new_health_config {
    lb_health_config base;
    uint64_t future_field;
};

struct new_zone_options {
    lb_zone_options base;
    double future_field;
};

struct new_proxy_header {
    lb_proxy_header base;
    uint64_t future_field;
};

struct new_pick_request {
    lb_pick_request base;
    uint64_t future_field;
};

/* ---- structs passed in -------------------------------------------------------------------- */

static void new_caller_config_zero_tail_is_accepted(void **state)
{
    (void)state;
    struct new_balancer_config c;
    memset(&c, 0, sizeof(c));
    c.base.struct_size = sizeof(c);
    c.base.table_size = 1009;
    lb_balancer *b = NULL;
    assert_lb_ok(lb_balancer_new(&b, &c.base));
    lb_balancer_free(b);
}

static void new_caller_config_nonzero_tail_is_refused(void **state)
{
    (void)state;
    struct new_balancer_config c;
    memset(&c, 0, sizeof(c));
    c.base.struct_size = sizeof(c);
    c.future_field = 1;
    lb_balancer *b = NULL;
    assert_lb_err(lb_balancer_new(&b, &c.base), LB_E_STRUCT_TOO_NEW);
    assert_null(b);
}

static void old_caller_config_is_refused(void **state)
{
    (void)state;
    /* 1.0 is the first release: nothing smaller than its struct exists, so a caller whose
     * struct lacks the last field gets a precise error, never a misread field. */
    lb_balancer_config c;
    memset(&c, 0, sizeof(c));
    c.struct_size = (uint32_t)OLD_CONFIG_SIZE;
    lb_balancer *b = NULL;
    assert_lb_err(lb_balancer_new(&b, &c), LB_E_STRUCT_SIZE);
    assert_null(b);
}

static void new_caller_pick_request(void **state)
{
    (void)state;
    lb_balancer *b = NULL;
    assert_lb_ok(lb_balancer_new(&b, NULL));
    assert_lb_ok(lb_balancer_add(b, 1, "a", 1, 1, 0, 0, 0));
    struct new_pick_request r;
    memset(&r, 0, sizeof(r));
    r.base.struct_size = sizeof(r);
    r.base.flow_hash = 42;
    uint32_t id = 0;
    assert_lb_ok(lb_balancer_pick_ex(b, &r.base, &id));
    assert_int_equal(id, 1);
    assert_lb_ok(lb_balancer_release(b, id, 0));
    r.future_field = 7;
    assert_lb_err(lb_balancer_pick_ex(b, &r.base, &id), LB_E_STRUCT_TOO_NEW);
    r.base.struct_size = (uint32_t)offsetof(lb_pick_request, exclude);
    assert_lb_err(lb_balancer_pick_ex(b, &r.base, &id), LB_E_STRUCT_SIZE);
    lb_balancer_free(b);
}

/* ---- init functions ------------------------------------------------------------------------ */

static void init_writes_only_the_callers_size(void **state)
{
    (void)state;
    /* An old caller: the library must not write past its struct (the guard stays intact). */
    struct {
        unsigned char cfg[offsetof(lb_health_config, user)];
        unsigned char guard[64];
    } old;
    memset(&old, 0xA5, sizeof(old));
    lb_health_config_init((lb_health_config *)(void *)old.cfg, sizeof(old.cfg));
    for (size_t i = 0; i < sizeof(old.guard); i++)
        assert_int_equal(old.guard[i], 0xA5);
    uint32_t size;
    memcpy(&size, old.cfg, sizeof(size));
    assert_int_equal(size, sizeof(old.cfg));
    /* ... and lb_health_new() refuses that size precisely (1.0 is the first release). */
    lb_health *h = NULL;
    assert_lb_err(lb_health_new(&h, (lb_health_config *)(void *)old.cfg), LB_E_STRUCT_SIZE);

    /* A new caller: defaults in what the library knows, zeros in the rest, its own size. */
    struct new_health_config n;
    memset(&n, 0xA5, sizeof(n));
    lb_health_config_init(&n.base, sizeof(n));
    assert_int_equal(n.base.struct_size, sizeof(n));
    assert_int_equal(n.base.healthy_threshold, 2);
    assert_int_equal(n.future_field, 0);
    assert_lb_ok(lb_health_new(&h, &n.base));
    lb_health_free(h);
    n.future_field = 3;
    assert_lb_err(lb_health_new(&h, &n.base), LB_E_STRUCT_TOO_NEW);

    struct new_zone_options z;
    memset(&z, 0xA5, sizeof(z));
    lb_zone_options_init(&z.base, sizeof(z));
    assert_int_equal(z.base.struct_size, sizeof(z));
    assert_int_equal(z.base.mode, LB_ZONE_MODE_ON);
    assert_true(z.future_field == 0.0);
    lb_zone_plan *p = NULL;
    assert_lb_ok(lb_zone_plan_new(&p, &z.base));
    z.future_field = 1.0;
    assert_lb_err(lb_zone_plan_set_options(p, &z.base), LB_E_STRUCT_TOO_NEW);
    lb_zone_plan_free(p);

    lb_zone_options_init(NULL, sizeof(lb_zone_options)); /* no-op */
    lb_zone_options_init(&z.base, 2);                    /* too small: writes nothing */
    assert_int_equal(z.base.struct_size, sizeof(z));

    lb_proxy_tlv_builder tb;
    uint8_t st[16];
    lb_proxy_tlvb_init(&tb, sizeof(tb), st, sizeof(st));
    assert_lb_ok(lb_proxy_tlvb_add_alpn(&tb, "h2", 2));
    tb.struct_size = 4;
    assert_lb_err(lb_proxy_tlvb_add_alpn(&tb, "h2", 2), LB_E_STRUCT_SIZE);
}

/* ---- structs the library fills --------------------------------------------------------- */

static void new_caller_stats_tail_is_zeroed(void **state)
{
    (void)state;
    lb_balancer *b = NULL;
    assert_lb_ok(lb_balancer_new(&b, NULL));
    struct new_stats s;
    memset(&s, 0xA5, sizeof(s));
    s.base.struct_size = sizeof(s);
    assert_lb_ok(lb_balancer_get_stats(b, &s.base));
    assert_int_equal(s.base.struct_size, sizeof(lb_balancer_stats)); /* what was written */
    assert_int_equal(s.future_field, 0);
    assert_int_equal(s.base.targets, 0);
    lb_balancer_stats old;
    memset(&old, 0, sizeof(old));
    old.struct_size = (uint32_t)offsetof(lb_balancer_stats, bad_releases);
    assert_lb_err(lb_balancer_get_stats(b, &old), LB_E_STRUCT_SIZE);
    lb_balancer_free(b);

    struct new_proxy_header h;
    memset(&h, 0xA5, sizeof(h));
    h.base.struct_size = sizeof(h);
    assert_int_equal(lb_proxy_decode((const uint8_t *)"PROXY UNKNOWN\r\n", 15, NULL, &h.base, NULL),
                     15);
    assert_int_equal(h.future_field, 0);
    assert_int_equal(h.base.struct_size, sizeof(lb_proxy_header));
    assert_int_equal(h.base.reserved1, 0);
    assert_int_equal(h.base.reserved0[0] | h.base.reserved0[1] | h.base.reserved0[2], 0);
}

/* ---- event arrays ------------------------------------------------------------------------- */

static void event_arrays_are_stepped_by_the_callers_size(void **state)
{
    (void)state;
    lb_balancer *b = NULL;
    assert_lb_ok(lb_balancer_new(&b, NULL));
    for (uint32_t id = 1; id <= 3; id++)
        assert_lb_ok(lb_balancer_add(b, id, &id, sizeof(id), 1, 0, 0, 0));
    struct new_event ev[4];
    memset(ev, 0xA5, sizeof(ev));
    assert_int_equal(lb_balancer_tick(b, 0, &ev[0].base, sizeof(ev[0]), 4), 3);
    for (uint32_t i = 0; i < 3; i++) {
        assert_int_equal(ev[i].base.struct_size, sizeof(lb_event));
        assert_int_equal(ev[i].base.type, LB_EVENT_STATE);
        assert_int_equal(ev[i].base.target_id, i + 1);
        assert_int_equal(ev[i].base.reserved0, 0);
        assert_int_equal(ev[i].future_field, 0);
    }
    assert_int_equal(ev[3].base.struct_size, 0xA5A5A5A5u); /* nothing past the events */
    assert_lb_err(lb_balancer_tick(b, 0, &ev[0].base, offsetof(lb_event, at_ms), 4),
                  LB_E_STRUCT_SIZE);
    assert_int_equal(lb_balancer_tick(b, 0, NULL, 0, 0), 0);
    lb_balancer_free(b);

    lb_health_config c;
    lb_health_config_init(&c, sizeof(c));
    lb_health *h = NULL;
    assert_lb_ok(lb_health_new(&h, &c));
    assert_lb_ok(lb_health_register(h, 7, 1, 0));
    assert_lb_ok(lb_health_register(h, 8, 1, 0));
    size_t pending = lb_health_pending_events(h);
    assert_true(pending >= 2 && pending < 8); /* two registrations (and pool events) */
    struct new_health_event he[8];
    memset(he, 0xA5, sizeof(he));
    assert_lb_err(lb_health_poll_events(h, &he[0].base, sizeof(lb_health_event) - 4, 8),
                  LB_E_STRUCT_SIZE);
    assert_int_equal(lb_health_poll_events(h, &he[0].base, sizeof(he[0]), 8), (int)pending);
    int seen = 0;
    for (size_t i = 0; i < pending; i++) {
        assert_int_equal(he[i].base.struct_size, sizeof(lb_health_event));
        assert_int_equal(he[i].future_field, 0);
        seen += he[i].base.id == 7 || he[i].base.id == 8;
    }
    assert_int_equal(seen, 2);
    assert_int_equal(he[pending].base.struct_size, 0xA5A5A5A5u);
    lb_health_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(new_caller_config_zero_tail_is_accepted),
        cmocka_unit_test(new_caller_config_nonzero_tail_is_refused),
        cmocka_unit_test(old_caller_config_is_refused),
        cmocka_unit_test(new_caller_pick_request),
        cmocka_unit_test(init_writes_only_the_callers_size),
        cmocka_unit_test(new_caller_stats_tail_is_zeroed),
        cmocka_unit_test(event_arrays_are_stepped_by_the_callers_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
