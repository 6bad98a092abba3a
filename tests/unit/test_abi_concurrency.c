/* Every call whose thread class is `reader` (abi/liblb.api.json), run from several threads at
 * once on one handle, alongside the `writer` calls its class allows, as doc/ABI.md defines
 * them; ThreadSanitizer runs this test (its name holds "concurrency"). The
 * abi-reader-coverage test checks that every reader call of the description appears in a
 * concurrency test. Each thread checks its answers against the ones computed before the
 * threads started, so a torn or racy read fails the test even without a sanitizer. */
#include "lbtest.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "lb.h"

#define THREADS 4
#define ROUNDS  2000

typedef void *(*worker_fn)(void *);

static void run_threads(worker_fn fn, void *arg)
{
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, fn, arg), 0);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
}

static lb_pool *make_pool(uint32_t n)
{
    lb_pool *p = NULL;
    assert_lb_ok(lb_pool_new(&p));
    for (uint32_t id = 1; id <= n; id++) {
        char key[32];
        int len = snprintf(key, sizeof(key), "10.0.0.%u:80", id);
        assert_lb_ok(lb_pool_add(p, id, key, (size_t)len, id % 3 + 1, id % 2));
    }
    return p;
}

/* ---- pool: readers only (its mutators are exclusive) -------------------------------------- */

struct pool_ctx {
    lb_pool *p;
    atomic_int bad;
};

static void *pool_reader(void *arg)
{
    struct pool_ctx *c = arg;
    for (int r = 0; r < ROUNDS / 10; r++) {
        if (lb_pool_count(c->p) != 16)
            c->bad++;
        lb_target_info ti = {.struct_size = sizeof(ti)};
        uint32_t id = 0;
        if (lb_pool_at(c->p, (size_t)(r % 16), &ti) ||
            lb_pool_find_key(c->p, ti.key, ti.key_len, &id) || id != ti.id)
            c->bad++;
        lb_pool *copy = NULL;
        if (lb_pool_clone(&copy, c->p) || lb_pool_count(copy) != 16)
            c->bad++;
        lb_pool_free(copy);
    }
    return NULL;
}

static void pool_readers(void **state)
{
    (void)state;
    struct pool_ctx c = {.p = make_pool(16)};
    run_threads(pool_reader, &c);
    assert_int_equal(c.bad, 0);
    lb_pool_free(c.p);
}

/* ---- loads: readers with the writer (track/untrack of other ids) -------------------------- */

struct loads_ctx {
    lb_loads *l;
    uint32_t slot;
    atomic_int bad;
    atomic_int stop;
};

static void *loads_reader(void *arg)
{
    struct loads_ctx *c = arg;
    for (int r = 0; r < ROUNDS; r++) {
        if (lb_loads_add(c->l, c->slot, 1, NULL) || lb_loads_add(c->l, c->slot, -1, NULL))
            c->bad++;
        if (lb_loads_capacity(c->l) != 64 || lb_loads_flags(c->l) != 0)
            c->bad++;
        (void)lb_loads_get(c->l, c->slot);
        (void)lb_loads_total(c->l);
    }
    return NULL;
}

static void *loads_writer(void *arg)
{
    struct loads_ctx *c = arg;
    while (!atomic_load(&c->stop))
        for (uint32_t id = 100; id < 110; id++) {
            uint32_t s;
            if (lb_loads_track(c->l, id, &s) || lb_loads_slot(c->l, id, &s) ||
                lb_loads_untrack(c->l, id))
                c->bad++;
        }
    return NULL;
}

static void loads_readers_with_writer(void **state)
{
    (void)state;
    struct loads_ctx c = {0};
    assert_lb_ok(lb_loads_new(&c.l, 64));
    assert_lb_ok(lb_loads_track(c.l, 1, &c.slot));
    pthread_t w;
    assert_int_equal(pthread_create(&w, NULL, loads_writer, &c), 0);
    run_threads(loads_reader, &c);
    atomic_store(&c.stop, 1);
    assert_int_equal(pthread_join(w, NULL), 0);
    assert_int_equal(c.bad, 0);
    assert_int_equal(lb_loads_get(c.l, c.slot), 0);
    assert_int_equal(lb_loads_total(c.l), 0);
    lb_loads_free(c.l);
}

/* ---- maglev and chash: immutable tables ------------------------------------------------- */

struct table_ctx {
    lb_maglev *m, *m2;
    lb_chash *ring;
    uint32_t want[256];
    uint32_t want_ring[256];
    uint64_t digest;
    atomic_int bad;
};

static void *table_reader(void *arg)
{
    struct table_ctx *c = arg;
    for (int r = 0; r < ROUNDS / 4; r++) {
        uint64_t h = (uint64_t)(r % 256) * 0x9E3779B97F4A7C15ull;
        uint32_t id = lb_maglev_lookup(c->m, h), idx = lb_maglev_lookup_index(c->m, h);
        uint32_t tid = 0, entries = 0, at = 0, changed = 0, w = 0, pts = 0;
        if (id != c->want[r % 256] || lb_maglev_target_at(c->m, idx, &tid, NULL, &entries) ||
            tid != id || lb_maglev_index_of(c->m, id, &at) || at != idx ||
            lb_maglev_entries(c->m, id, &entries) || entries == 0)
            c->bad++;
        if (lb_maglev_size(c->m) != 1009 || lb_maglev_target_count(c->m) != 16 ||
            lb_maglev_digest(c->m) != c->digest ||
            lb_maglev_slot_owner(c->m, (uint32_t)r % 1009) == LB_NO_TARGET ||
            lb_maglev_diff(c->m, c->m2, &changed) || changed == 0)
            c->bad++;
        if (lb_chash_lookup(c->ring, h) != c->want_ring[r % 256] ||
            lb_chash_point_count(c->ring) == 0 || lb_chash_target_count(c->ring) != 16 ||
            lb_chash_target_at(c->ring, (uint32_t)r % 16, &tid, &w, &pts))
            c->bad++;
        uint64_t bound = 0;
        if (lb_chash_bound(c->ring, tid, 125, 100, &bound) || bound == 0)
            c->bad++;
        uint32_t picked;
        if (lb_chash_pick_bounded(c->ring, h, 125, &picked) || lb_chash_release(c->ring, picked))
            c->bad++;
    }
    return NULL;
}

static void maglev_and_chash_readers(void **state)
{
    (void)state;
    struct table_ctx c = {0};
    lb_pool *p = make_pool(16);
    lb_loads *l = NULL;
    assert_lb_ok(lb_loads_new(&l, 32));
    for (uint32_t id = 1; id <= 16; id++)
        assert_lb_ok(lb_loads_track(l, id, NULL));
    assert_lb_ok(lb_maglev_build(&c.m, p, 1009));
    assert_lb_ok(lb_pool_set_weight(p, 3, 9));
    assert_lb_ok(lb_maglev_build(&c.m2, p, 1009));
    lb_chash_options o = {.struct_size = sizeof(o), .loads = l};
    assert_lb_ok(lb_chash_new(&c.ring, p, &o));
    for (int i = 0; i < 256; i++) {
        uint64_t h = (uint64_t)i * 0x9E3779B97F4A7C15ull;
        c.want[i] = lb_maglev_lookup(c.m, h);
        c.want_ring[i] = lb_chash_lookup(c.ring, h);
    }
    c.digest = lb_maglev_digest(c.m);
    run_threads(table_reader, &c);
    assert_int_equal(c.bad, 0);
    assert_int_equal(lb_loads_total(l), 0); /* every bounded pick was released */
    lb_chash_free(c.ring);
    lb_maglev_free(c.m);
    lb_maglev_free(c.m2);
    lb_loads_free(l);
    lb_pool_free(p);
}

/* ---- wrr and leastconn accessors while picking --------------------------------------------- */

struct sel_ctx {
    lb_wrr *w;
    lb_leastconn *lc;
    uint64_t cycle;
    atomic_int bad;
};

static void *sel_reader(void *arg)
{
    struct sel_ctx *c = arg;
    for (int r = 0; r < ROUNDS; r++) {
        uint32_t id;
        if (lb_wrr_pick(c->w, &id) || lb_wrr_cycle(c->w) != c->cycle || lb_wrr_count(c->w) != 16)
            c->bad++;
        (void)lb_wrr_skipped(c->w);
        if (lb_leastconn_pick(c->lc, &id) || lb_leastconn_count(c->lc) != 16)
            c->bad++;
        uint32_t active;
        if (lb_leastconn_active(c->lc, id, &active) || lb_leastconn_release(c->lc, id))
            c->bad++;
    }
    return NULL;
}

static void wrr_and_leastconn_readers(void **state)
{
    (void)state;
    struct sel_ctx c = {0};
    lb_pool *p = make_pool(16);
    lb_loads *l = NULL;
    assert_lb_ok(lb_loads_new(&l, 32));
    assert_lb_ok(lb_wrr_new(&c.w, p, NULL));
    assert_lb_ok(lb_leastconn_new(&c.lc, p, l, NULL));
    c.cycle = lb_wrr_cycle(c.w);
    run_threads(sel_reader, &c);
    assert_int_equal(c.bad, 0);
    assert_int_equal(lb_loads_total(l), 0);
    lb_leastconn_free(c.lc);
    lb_wrr_free(c.w);
    lb_loads_free(l);
    lb_pool_free(p);
}

/* ---- health: readers only (its mutators are exclusive) ------------------------------------ */

struct health_ctx {
    lb_health *h;
    uint64_t gen;
    atomic_int bad;
};

static void *health_reader(void *arg)
{
    struct health_ctx *c = arg;
    for (int r = 0; r < ROUNDS / 4; r++) {
        lb_health_target t = {.struct_size = sizeof(t)};
        lb_health_status s = {.struct_size = sizeof(s)};
        uint32_t id = (uint32_t)r % 8 + 1;
        if (lb_health_count(c->h) != 8 || lb_health_generation(c->h) != c->gen ||
            lb_health_get(c->h, id, &t) || t.id != id || lb_health_at(c->h, (size_t)r % 8, &t) ||
            lb_health_is_eligible(c->h, id) != 1 || lb_health_status_get(c->h, &s) ||
            s.targets != 8 || lb_health_next_deadline(c->h) == LB_HEALTH_NEVER)
            c->bad++;
        (void)lb_health_pending_events(c->h);
    }
    return NULL;
}

static void health_readers(void **state)
{
    (void)state;
    lb_health_config cfg;
    lb_health_config_init(&cfg, sizeof(cfg));
    cfg.initial_state = LB_HEALTH_STATE_HEALTHY;
    struct health_ctx c = {0};
    assert_lb_ok(lb_health_new(&c.h, &cfg));
    for (uint32_t id = 1; id <= 8; id++)
        assert_lb_ok(lb_health_register(c.h, id, 1, 0));
    c.gen = lb_health_generation(c.h);
    run_threads(health_reader, &c);
    assert_int_equal(c.bad, 0);
    lb_health_free(c.h);
}

/* ---- balancer: every call but new and free, from every thread ------------------------------ */

struct bal_ctx {
    lb_balancer *b;
    atomic_int bad;
    atomic_uint next;
};

static void *bal_worker(void *arg)
{
    struct bal_ctx *c = arg;
    uint32_t me = atomic_fetch_add(&c->next, 1);
    for (int r = 0; r < 200; r++) {
        /* each thread adds, changes and removes targets of its own: a new id each time, since
         * a removed target drains until other threads release what they picked from it */
        uint32_t own = 1000 + me * 100 + (uint32_t)r / 20;
        uint64_t now = (uint64_t)r;
        uint32_t id;
        int rc = lb_balancer_pick(c->b, (uint64_t)r * 77 + me, &id);
        if (rc == 0 && lb_balancer_release(c->b, id, now))
            c->bad++;
        lb_pick_request req = {.struct_size = sizeof(req), .flow_hash = (uint64_t)r};
        rc = lb_balancer_pick_ex(c->b, &req, &id);
        if (rc == 0 && lb_balancer_release(c->b, id, now))
            c->bad++;
        if (r % 20 == 0) {
            if (lb_balancer_add(c->b, own, &own, sizeof(own), 1, me % 2, 0, now) ||
                lb_balancer_set_weight(c->b, own, 2, now) ||
                lb_balancer_set_zone(c->b, own, 1, now) || lb_balancer_report(c->b, own, 1, now) ||
                lb_balancer_report_passive(c->b, own, 1, now) ||
                lb_balancer_drain(c->b, own, now) || lb_balancer_undrain(c->b, own, now) ||
                lb_balancer_remove(c->b, own, now))
                c->bad++;
            uint64_t due;
            if (lb_balancer_next_check(c->b, 1, &due) ||
                lb_balancer_set_zone_share(c->b, me % 2, 50, now))
                c->bad++;
            lb_event ev[8];
            if (lb_balancer_tick(c->b, now, ev, sizeof(ev[0]), 8) < 0)
                c->bad++;
            (void)lb_balancer_next_deadline(c->b);
            lb_target_stats ts = {.struct_size = sizeof(ts)};
            lb_balancer_stats bs = {.struct_size = sizeof(bs)};
            uint32_t ids[64];
            if (lb_balancer_get_target_stats(c->b, 1, &ts) || lb_balancer_get_stats(c->b, &bs) ||
                lb_balancer_targets(c->b, ids, 64) < 8)
                c->bad++;
        }
    }
    return NULL;
}

static void balancer_every_reader_call(void **state)
{
    (void)state;
    for (uint32_t alg = LB_ALG_MAGLEV; alg <= LB_ALG_P2C; alg++) {
        /* the default drain delay (300 s) never passes here, so every connection picked
         * from a removed target is still released to it (no release may fail) */
        lb_balancer_config cfg = {.struct_size = sizeof(cfg), .algorithm = alg, .table_size = 1009};
        struct bal_ctx c = {0};
        assert_lb_ok(lb_balancer_new(&c.b, &cfg));
        for (uint32_t id = 1; id <= 8; id++)
            assert_lb_ok(lb_balancer_add(c.b, id, &id, sizeof(id), 1, id % 2, 0, 0));
        run_threads(bal_worker, &c);
        assert_int_equal(c.bad, 0);
        lb_balancer_stats bs = {.struct_size = sizeof(bs)};
        assert_lb_ok(lb_balancer_get_stats(c.b, &bs));
        assert_int_equal(bs.bad_releases, 0);
        for (uint32_t id = 1; id <= 8; id++) {
            lb_target_stats ts = {.struct_size = sizeof(ts)};
            assert_lb_ok(lb_balancer_get_target_stats(c.b, id, &ts));
            assert_int_equal(ts.active, 0); /* every pick was released exactly once */
        }
        lb_balancer_free(c.b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pool_readers),
        cmocka_unit_test(loads_readers_with_writer),
        cmocka_unit_test(maglev_and_chash_readers),
        cmocka_unit_test(wrr_and_leastconn_readers),
        cmocka_unit_test(health_readers),
        cmocka_unit_test(balancer_every_reader_call),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
