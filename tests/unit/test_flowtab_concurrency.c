/* Per-worker flow tables, as the scalable use (doc/flowtab.md): several threads, each with its
 * own table, insert, look up, expire and evict at full speed while a monitor thread reads
 * every table's counters (the `reader` calls) and checks they are consistent. Run it under
 * ThreadSanitizer: `meson test -C build-tsan flowtab_concurrency`. */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "lbtest.h"
#include "lb/flowtab.h"

#define WORKERS 4
#define OPS     200000
#define CAP     4096

struct worker {
    lb_flowtab *t;
    uint64_t seed;
    uint64_t ends; /* flows the callback saw leave */
    uint64_t hits;
    int id;
};

static atomic_int running;

static void on_end(void *user, const lb_flowtab_end *e)
{
    struct worker *w = user;
    if ((int)(e->data >> 32) != w->id) /* a flow of this worker's own table */
        abort();
    w->ends++;
}

static void *work(void *arg)
{
    struct worker *w = arg;
    uint64_t now = 1;
    for (int k = 0; k < OPS; k++) {
        uint64_t r = lbt_rand(&w->seed);
        uint32_t n = (uint32_t)(r % (CAP * 2)); /* twice the capacity: evictions happen */
        uint8_t src[4] = {10, (uint8_t)w->id, (uint8_t)(n >> 8), (uint8_t)n};
        uint8_t dst[4] = {192, 0, 2, 1};
        lb_flowtab_key key;
        if (lb_flowtab_key4(&key, src, dst, (uint16_t)(n ^ 0x5555), 53, 17, 0))
            abort();
        now += (r >> 40) % 3;
        uint32_t target;
        if (lb_flowtab_lookup(w->t, &key, now, &target, NULL) == 0) {
            w->hits++;
            if (target != n % 10)
                abort();
        } else if (lb_flowtab_insert(w->t, &key, n % 10, (uint64_t)w->id << 32 | n, now) < 0) {
            abort();
        }
        if (k % 1000 == 0 && lb_flowtab_expire(w->t, now, 64) < 0)
            abort();
        if (k % 50000 == 0 && lb_flowtab_remove_target(w->t, (uint32_t)(r >> 50) % 10, now) < 0)
            abort();
    }
    return NULL;
}

struct monitor {
    struct worker *w;
    uint64_t reads;
    int errors;
};

static void *watch(void *arg)
{
    struct monitor *m = arg;
    uint64_t last_inserted[WORKERS] = {0};
    while (atomic_load(&running) || m->reads < 100) {
        for (int i = 0; i < WORKERS; i++) {
            lb_flowtab_stats s;
            memset(&s, 0, sizeof(s));
            s.struct_size = sizeof(s);
            if (lb_flowtab_get_stats(m->w[i].t, &s) || s.capacity != CAP ||
                s.active > CAP || s.inserted < last_inserted[i] || s.hits > s.lookups ||
                lb_flowtab_capacity(m->w[i].t) != CAP ||
                lb_flowtab_buckets(m->w[i].t) * 8 < CAP ||
                lb_flowtab_memory(m->w[i].t) != s.memory_bytes)
                m->errors++;
            last_inserted[i] = s.inserted;
            m->reads++;
        }
    }
    return NULL;
}

static void per_worker_tables(void **state)
{
    (void)state;
    struct worker w[WORKERS];
    pthread_t th[WORKERS], mt;
    memset(w, 0, sizeof(w));
    for (int i = 0; i < WORKERS; i++) {
        lb_flowtab_config cfg;
        lb_flowtab_config_init(&cfg, sizeof(cfg));
        cfg.capacity = CAP;
        cfg.idle_timeout_ms = 20000;
        cfg.on_end = on_end;
        cfg.user = &w[i];
        assert_lb_ok(lb_flowtab_new(&w[i].t, &cfg));
        w[i].seed = 1000 + (uint64_t)i;
        w[i].id = i;
    }
    struct monitor m = {w, 0, 0};
    atomic_store(&running, 1);
    assert_int_equal(pthread_create(&mt, NULL, watch, &m), 0);
    for (int i = 0; i < WORKERS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, work, &w[i]), 0);
    for (int i = 0; i < WORKERS; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    atomic_store(&running, 0);
    assert_int_equal(pthread_join(mt, NULL), 0);
    assert_int_equal(m.errors, 0);
    assert_true(m.reads >= 100);
    for (int i = 0; i < WORKERS; i++) {
        lb_flowtab_stats s;
        memset(&s, 0, sizeof(s));
        s.struct_size = sizeof(s);
        assert_lb_ok(lb_flowtab_get_stats(w[i].t, &s));
        /* every flow accounted for: in the table, or reported gone */
        assert_true(s.inserted == s.active + w[i].ends);
        assert_true(s.inserted == s.active + s.evicted + s.expired + s.removed);
        assert_true(s.evicted > 0 && s.hits > 0 && s.hits == w[i].hits);
        assert_true(s.lookups == OPS);
        lb_flowtab_free(w[i].t);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(per_worker_tables),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
