/* The balancer under concurrency (run under ThreadSanitizer in CI): picker threads pick and
 * release while a writer drains, re-weights, adds and removes targets; no pick that began
 * after drain() returned ever returns the drained target; counts balance; and after 100,000
 * updates under concurrent picks at most two retired snapshots are alive. */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "lb/balancer.h"
#include "lbtest.h"

#define PICKERS          2
#define PICKS_PER_THREAD 500000 /* a million in all */
#define HOLD             8      /* connections each picker keeps open */
#define MAX_ID           4096

struct shared {
    lb_balancer *b;
    _Atomic int stop;
    _Atomic uint64_t now;
    _Atomic uint64_t seq;            /* bumped by the writer after each drain returned */
    _Atomic uint64_t banned[MAX_ID]; /* seq value from which a target may not be picked */
    _Atomic uint64_t violations;
    _Atomic uint64_t picked;
    _Atomic uint64_t released;
    uint64_t updates;
};

static void add_target(lb_balancer *b, uint32_t id, uint32_t weight, uint64_t now)
{
    char key[32];
    snprintf(key, sizeof(key), "backend-%u", id);
    assert_lb_ok(lb_balancer_add(b, id, key, strlen(key), weight, id % 3, 0, now));
}

/* A Maglev balancer with targets 1..n (delay 0: the default). */
static lb_balancer *make(uint32_t table_size, uint32_t max_targets, uint32_t delay, uint32_t n)
{
    lb_balancer_config c;
    memset(&c, 0, sizeof(c));
    c.struct_size = sizeof(c);
    c.algorithm = LB_ALG_MAGLEV;
    c.table_size = table_size;
    c.max_targets = max_targets;
    c.deregistration_delay_ms = delay;
    lb_balancer *b = NULL;
    assert_lb_ok(lb_balancer_new(&b, &c));
    for (uint32_t id = 1; id <= n; id++)
        add_target(b, id, 1, 0);
    return b;
}

/* After a drain or removal of @id returned: picks that begin from now on must not return it. */
static void ban(struct shared *sh, uint32_t id)
{
    uint64_t s = atomic_load(&sh->seq) + 1;
    if (!atomic_load(&sh->banned[id]))
        atomic_store(&sh->banned[id], s);
    atomic_store(&sh->seq, s);
}

static void *picker(void *arg)
{
    struct shared *sh = arg;
    uint32_t held[HOLD];
    unsigned n_held = 0, next = 0;
    uint64_t seed = (uint64_t)(uintptr_t)arg ^ (uint64_t)pthread_self();
    lb_pick_request r;
    memset(&r, 0, sizeof(r));
    r.struct_size = sizeof(r);
    for (int k = 0; k < PICKS_PER_THREAD; k++) {
        uint64_t began = atomic_load(&sh->seq);
        uint64_t h = lbt_rand(&seed);
        uint32_t id;
        int rc;
        if (k % 16 == 0) { /* sticky and excluded picks take the same path */
            r.flow_hash = h;
            r.flags = LB_PICK_STICKY;
            r.preferred_id = (uint32_t)(h % 64);
            rc = lb_balancer_pick_ex(sh->b, &r, &id);
        } else {
            rc = lb_balancer_pick(sh->b, h, &id);
        }
        if (rc == 0) {
            uint64_t ban = id < MAX_ID ? atomic_load(&sh->banned[id]) : 0;
            if (ban && ban <= began)
                atomic_fetch_add(&sh->violations, 1);
            atomic_fetch_add_explicit(&sh->picked, 1, memory_order_relaxed);
            if (n_held == HOLD) {
                lb_balancer_release(sh->b, held[next], atomic_load(&sh->now));
                atomic_fetch_add_explicit(&sh->released, 1, memory_order_relaxed);
                held[next] = id;
                next = (next + 1) % HOLD;
            } else {
                held[n_held++] = id;
            }
        } else if (rc != LB_E_NO_TARGET) {
            atomic_fetch_add(&sh->violations, 1);
        }
    }
    for (unsigned i = 0; i < n_held; i++) {
        lb_balancer_release(sh->b, held[i], atomic_load(&sh->now));
        atomic_fetch_add_explicit(&sh->released, 1, memory_order_relaxed);
    }
    return NULL;
}

/* Drain, re-weight, undrain, add and remove while the pickers run. */
static void *writer(void *arg)
{
    struct shared *sh = arg;
    lb_balancer *b = sh->b;
    uint64_t seed = 99;
    uint32_t next_id = 100;
    lb_event ev[64];
    uint64_t changes = 0;
    while (!atomic_load(&sh->stop) || changes < 1000) {
        uint64_t now = atomic_fetch_add(&sh->now, 3) + 3;
        uint32_t ids[256];
        int n = lb_balancer_targets(b, ids, 256);
        assert_true(n >= 0 && n <= 256);
        uint32_t id = n ? ids[lbt_rand(&seed) % (uint64_t)n] : 0;
        switch (lbt_rand(&seed) % 5) {
        case 0: /* drain, then check: no later pick may return it */
            if (!n)
                break;
            if (lb_balancer_drain(b, id, now) == 0) {
                ban(sh, id);
                changes++;
            }
            break;
        case 1:
            if (n) {
                uint64_t was = atomic_exchange(&sh->banned[id], 0);
                if (lb_balancer_undrain(b, id, now) == 0) {
                    changes++;
                    break;
                }
                atomic_store(&sh->banned[id], was); /* still out (being removed, ...) */
                if (lb_balancer_set_weight(b, id, 1 + (uint32_t)(lbt_rand(&seed) % 9), now) == 0)
                    changes++;
            }
            break;
        case 2:
            if (n && lb_balancer_set_weight(b, id, 1 + (uint32_t)(lbt_rand(&seed) % 9), now) == 0)
                changes++;
            break;
        case 3:
            if (n < 40 && next_id < MAX_ID) {
                add_target(b, next_id++, 1 + (uint32_t)(lbt_rand(&seed) % 4), now);
                changes++;
            }
            break;
        default:
            if (n > 8 && lb_balancer_remove(b, id, now) == 0) {
                ban(sh, id);
                changes++;
            }
            break;
        }
        int got;
        while ((got = lb_balancer_tick(b, now, ev, sizeof(*ev), 64)) > 0)
            for (int i = 0; i < got; i++)
                assert_int_equal(ev[i].struct_size, sizeof(lb_event));
        assert_true(got == 0);
    }
    sh->updates = changes;
    return NULL;
}

static void test_concurrency_picks_and_changes(void **state)
{
    (void)state;
    static struct shared sh;
    memset(&sh, 0, sizeof(sh));
    sh.b = make(1009, 64, 50, 16);
    pthread_t p[PICKERS], w;
    for (int i = 0; i < PICKERS; i++)
        assert_int_equal(pthread_create(&p[i], NULL, picker, &sh), 0);
    assert_int_equal(pthread_create(&w, NULL, writer, &sh), 0);
    for (int i = 0; i < PICKERS; i++)
        assert_int_equal(pthread_join(p[i], NULL), 0);
    atomic_store(&sh.stop, 1);
    assert_int_equal(pthread_join(w, NULL), 0);

    assert_int_equal(atomic_load(&sh.violations), 0);
    assert_true(sh.updates >= 1000);
    assert_int_equal(atomic_load(&sh.picked), atomic_load(&sh.released));
    assert_true(atomic_load(&sh.picked) > PICKERS * PICKS_PER_THREAD / 2);
    /* counts balance: every connection released, every pick counted */
    uint32_t ids[256];
    int n = lb_balancer_targets(sh.b, ids, 256);
    for (int i = 0; i < n; i++) {
        lb_target_stats ts;
        memset(&ts, 0, sizeof(ts));
        ts.struct_size = sizeof(ts);
        assert_lb_ok(lb_balancer_get_target_stats(sh.b, ids[i], &ts));
        assert_int_equal(ts.active, 0);
    }
    lb_balancer_stats s;
    memset(&s, 0, sizeof(s));
    s.struct_size = sizeof(s);
    assert_lb_ok(lb_balancer_get_stats(sh.b, &s));
    assert_int_equal(s.picks, atomic_load(&sh.picked));
    assert_true(s.generation >= 1000);
    assert_true(s.retired_snapshots <= 2);
    lb_balancer_free(sh.b);
}

/* 100,000 updates under concurrent picks; the writer watches the retired count. */
struct churn {
    lb_balancer *b;
    _Atomic int stop;
    _Atomic uint64_t picks;
};

static void *churn_picker(void *arg)
{
    struct churn *c = arg;
    uint64_t seed = 5, work = 0;
    while (!atomic_load(&c->stop)) {
        uint32_t id;
        if (lb_balancer_pick(c->b, lbt_rand(&seed), &id) == 0) {
            lb_balancer_release(c->b, id, 0);
            atomic_fetch_add_explicit(&c->picks, 1, memory_order_relaxed);
        }
        for (int k = 0; k < 64; k++) /* a proxy does other work between picks */
            work += lbt_rand(&seed);
    }
    atomic_fetch_add_explicit(&c->picks, work & 1, memory_order_relaxed);
    return NULL;
}

static void test_concurrency_retired_snapshots(void **state)
{
    (void)state;
    static struct churn c;
    memset(&c, 0, sizeof(c));
    c.b = make(257, 16, 0, 8);
    pthread_t p[PICKERS];
    for (int i = 0; i < PICKERS; i++)
        assert_int_equal(pthread_create(&p[i], NULL, churn_picker, &c), 0);
    lb_balancer_stats s;
    memset(&s, 0, sizeof(s));
    s.struct_size = sizeof(s);
    assert_lb_ok(lb_balancer_get_stats(c.b, &s));
    uint64_t gen0 = s.generation;
    uint32_t max_retired = 0;
    for (uint32_t k = 0; k < 100000; k++) {
        assert_lb_ok(lb_balancer_set_weight(c.b, 1 + k % 8, 1 + (k / 8) % 2 * 2, k));
        if (k % 64 == 0) {
            assert_lb_ok(lb_balancer_get_stats(c.b, &s));
            max_retired = s.retired_snapshots > max_retired ? s.retired_snapshots : max_retired;
        }
    }
    atomic_store(&c.stop, 1);
    for (int i = 0; i < PICKERS; i++)
        assert_int_equal(pthread_join(p[i], NULL), 0);
    assert_lb_ok(lb_balancer_get_stats(c.b, &s));
    assert_true(s.generation - gen0 >= 100000 - 8);
    assert_true(s.retired_snapshots <= 2);
    assert_true(max_retired <= 2);
    assert_true(atomic_load(&c.picks) > 0);
    lb_balancer_free(c.b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrency_picks_and_changes),
        cmocka_unit_test(test_concurrency_retired_snapshots),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
