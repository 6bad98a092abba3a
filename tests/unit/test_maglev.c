/* Maglev tables: pinned vectors, balance (unweighted and weighted), disruption, order
 * independence, lookups, affinity compositions and errors. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "lbtest.h"
#include "lb/hash.h"
#include "lb/maglev.h"
#include "lb/pool.h"

/* Adds "backend-<i>" for i in [0, n) with weights[i] (or 1), in a shuffled order when
 * shuffle_seed is not 0; the id of backend-i is i + 1000. */
static lb_pool *make_pool(uint32_t n, const uint32_t *weights, uint64_t shuffle_seed)
{
    lb_pool *p;
    assert_lb_ok(lb_pool_new(&p));
    uint32_t *order = malloc(n * sizeof(*order));
    assert_non_null(order);
    for (uint32_t i = 0; i < n; i++)
        order[i] = i;
    if (shuffle_seed) {
        for (uint32_t i = n; i > 1; i--) {
            uint32_t j = (uint32_t)(lbt_rand(&shuffle_seed) % i);
            uint32_t x = order[i - 1];
            order[i - 1] = order[j];
            order[j] = x;
        }
    }
    for (uint32_t k = 0; k < n; k++) {
        uint32_t i = order[k];
        char key[32];
        int len = snprintf(key, sizeof(key), "backend-%u", i);
        assert_lb_ok(lb_pool_add(p, i + 1000, key, (size_t)len, weights ? weights[i] : 1, 0));
    }
    free(order);
    return p;
}

static uint64_t splitmix(uint64_t *state)
{
    return lbt_rand(state); /* lbt_rand is splitmix64, as doc/maglev.md's vectors use */
}

static void vectors_match(void **state)
{
    (void)state;
    char path[1024];
    snprintf(path, sizeof(path), "%s/maglev_vectors.txt", lbt_data_dir());
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char line[1 << 16];
    int checked = 0;
    while (fgets(line, sizeof(line), f)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        uint32_t m, n;
        uint64_t want;
        char spec[64];
        static char list[1 << 16];
        lb_pool *p = NULL;
        if (sscanf(line, "generated %" SCNu32 " %" SCNu32 " %63s %" SCNx64, &m, &n, spec, &want) ==
            4) {
            uint32_t *w = malloc(n * sizeof(*w));
            assert_non_null(w);
            uint64_t seed, wmax;
            for (uint32_t i = 0; i < n; i++)
                w[i] = 1;
            if (!strcmp(spec, "skew")) {
                w[0] = 65535;
            } else if (sscanf(spec, "random:%" SCNu64 ":%" SCNu64, &seed, &wmax) == 2) {
                for (uint32_t i = 0; i < n; i++)
                    w[i] = (uint32_t)(splitmix(&seed) % wmax) + 1;
            } else {
                assert_string_equal(spec, "equal");
            }
            p = make_pool(n, w, 0x5eed + n);
            free(w);
        } else if (sscanf(line, "explicit %" SCNu32 " %" SCNx64 " %65535s", &m, &want, list) == 3) {
            assert_lb_ok(lb_pool_new(&p));
            uint32_t id = 1;
            char *save = NULL;
            for (char *tok = strtok_r(list, ",", &save); tok && strcmp(tok, "-");
                 tok = strtok_r(NULL, ",", &save)) {
                char *eq = strchr(tok, '=');
                assert_non_null(eq);
                *eq = 0;
                assert_lb_ok(lb_pool_add(p, id++ * 7, tok, strlen(tok),
                                         (uint32_t)strtoul(eq + 1, NULL, 10), 0));
            }
        } else {
            fail_msg("unparsable vector line: %s", line);
        }
        lb_maglev *t;
        assert_lb_ok(lb_maglev_build(&t, p, m));
        if (lb_maglev_digest(t) != want)
            fail_msg("digest 0x%016" PRIx64 " for %s", lb_maglev_digest(t), line);
        lb_maglev_free(t);
        lb_pool_free(p);
        checked++;
    }
    fclose(f);
    assert_true(checked >= 15);
}

static void check_floor_ceil(uint32_t n, uint32_t m)
{
    lb_pool *p = make_pool(n, NULL, n * 31 + m);
    lb_maglev *t;
    assert_lb_ok(lb_maglev_build(&t, p, m));
    assert_int_equal(lb_maglev_target_count(t), n);
    uint64_t total = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t e;
        assert_lb_ok(lb_maglev_target_at(t, i, NULL, NULL, &e));
        if (e != m / n && e != (m + n - 1) / n)
            fail_msg("N=%u M=%u: target %u owns %u slots", n, m, i, e);
        total += e;
    }
    assert_int_equal(total, m);
    lb_maglev_free(t);
    lb_pool_free(p);
}

static void unweighted_floor_ceil(void **state)
{
    (void)state;
    static const uint32_t cases[][2] = {
        {1, 2},         {1, 7},          {2, 3},        {3, 3},        {5, 101},
        {10, 1009},     {7, 65537},      {100, 65537},  {1000, 65537}, {333, 65537},
        {1000, 655373}, {10000, 655373}, {65536, 65537}};
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++)
        check_floor_ceil(cases[c][0], cases[c][1]);
}

static void weighted_share(void **state)
{
    (void)state;
    static const uint32_t cases[][2] = {{10, 1009},   {50, 5003},   {100, 10007},
                                        {200, 65537}, {600, 65537}, {1000, 655373}};
    uint64_t rs = 4242;
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        for (int round = 0; round < 4; round++) {
            uint32_t n = cases[c][0], m = cases[c][1];
            uint32_t *w = malloc(n * sizeof(*w));
            uint64_t wsum = 0;
            for (uint32_t i = 0; i < n; i++) {
                w[i] = (uint32_t)(lbt_rand(&rs) % 1000) + 1;
                wsum += w[i];
            }
            lb_pool *p = make_pool(n, w, rs);
            lb_maglev *t;
            assert_lb_ok(lb_maglev_build(&t, p, m));
            for (uint32_t i = 0; i < n; i++) {
                uint32_t e;
                assert_lb_ok(lb_maglev_entries(t, i + 1000, &e));
                double share = (double)m * w[i] / (double)wsum;
                double tol = fmax(0.01 * share, 2.0);
                if (fabs((double)e - share) > tol)
                    fail_msg("N=%u M=%u w=%u: %u slots, share %.2f", n, m, w[i], e, share);
            }
            lb_maglev_free(t);
            lb_pool_free(p);
            free(w);
        }
    }
}

static void disruption_and_restore(void **state)
{
    (void)state;
    const uint32_t n = 1000, m = 65537;
    static const uint32_t ks[] = {1, 10, 50, 100};
    lb_pool *p = make_pool(n, NULL, 99);
    lb_maglev *before;
    assert_lb_ok(lb_maglev_build(&before, p, m));
    uint64_t rs = 7;
    for (size_t c = 0; c < sizeof(ks) / sizeof(ks[0]); c++) {
        uint32_t k = ks[c];
        lb_pool *q;
        assert_lb_ok(lb_pool_clone(&q, p));
        uint32_t removed[100];
        for (uint32_t r = 0; r < k;) {
            uint32_t i = (uint32_t)(lbt_rand(&rs) % n);
            if (lb_pool_remove(q, i + 1000) == 0)
                removed[r++] = i;
        }
        lb_maglev *after;
        assert_lb_ok(lb_maglev_build(&after, q, m));
        uint32_t changed;
        assert_lb_ok(lb_maglev_diff(before, after, &changed));
        double limit = ((double)k / n + 0.04) * m;
        if (changed > limit)
            fail_msg("k=%u: %u slots changed, limit %.0f", k, changed, limit);
        assert_true(changed >= 1);
        /* Add them back (in another order, with other ids): the identical table. */
        for (uint32_t r = k; r-- > 0;) {
            char key[32];
            int len = snprintf(key, sizeof(key), "backend-%u", removed[r]);
            assert_lb_ok(lb_pool_add(q, removed[r] + 500000, key, (size_t)len, 1, 0));
        }
        lb_maglev *again;
        assert_lb_ok(lb_maglev_build(&again, q, m));
        assert_true(lb_maglev_digest(again) == lb_maglev_digest(before));
        /* Ids differ for the re-added targets, so compare owners through the list order. */
        for (uint32_t s = 0; s < m; s += 97) {
            uint32_t a = lb_maglev_slot_owner(before, s), b = lb_maglev_slot_owner(again, s);
            assert_true(a == b || (b >= 500000 && a == b - 500000 + 1000));
        }
        lb_maglev_free(after);
        lb_maglev_free(again);
        lb_pool_free(q);
    }
    lb_maglev_free(before);
    lb_pool_free(p);
}

static void insertion_order_invariance(void **state)
{
    (void)state;
    uint64_t rs = 31337;
    for (int round = 0; round < 6; round++) {
        uint32_t n = 1 + (uint32_t)(lbt_rand(&rs) % 300);
        uint32_t w[300];
        for (uint32_t i = 0; i < n; i++)
            w[i] = round % 2 ? (uint32_t)(lbt_rand(&rs) % 2000) : 1;
        lb_pool *a = make_pool(n, w, 0), *b = make_pool(n, w, lbt_rand(&rs) | 1);
        lb_maglev *ta, *tb;
        assert_lb_ok(lb_maglev_build(&ta, a, 40009));
        assert_lb_ok(lb_maglev_build(&tb, b, 40009));
        assert_true(lb_maglev_digest(ta) == lb_maglev_digest(tb));
        uint32_t changed;
        assert_lb_ok(lb_maglev_diff(ta, tb, &changed));
        assert_int_equal(changed, 0);
        lb_maglev_free(ta);
        lb_maglev_free(tb);
        lb_pool_free(a);
        lb_pool_free(b);
    }
}

/* floor(h * m / 2^64), computed differently from the library: with 128-bit integers. */
static uint32_t slot_ref(uint64_t h, uint32_t m)
{
    __extension__ unsigned __int128 x = (unsigned __int128)h * m;
    return (uint32_t)(x >> 64);
}

static void lookups_follow_slots(void **state)
{
    (void)state;
    uint32_t w[50];
    for (uint32_t i = 0; i < 50; i++)
        w[i] = i % 5 + 1;
    lb_pool *p = make_pool(50, w, 3);
    lb_maglev *t;
    assert_lb_ok(lb_maglev_build(&t, p, 5003));
    assert_int_equal(lb_maglev_size(t), 5003);
    uint64_t rs = 1;
    uint64_t counted[50] = {0};
    for (int k = 0; k < 100000; k++) {
        uint64_t h = lbt_rand(&rs);
        if (k < 4)
            h = k == 0 ? 0 : k == 1 ? UINT64_MAX : k == 2 ? (1ull << 63) : 1;
        uint32_t id = lb_maglev_lookup(t, h), idx = lb_maglev_lookup_index(t, h), tid;
        assert_int_equal(id, lb_maglev_slot_owner(t, slot_ref(h, 5003)));
        assert_lb_ok(lb_maglev_target_at(t, idx, &tid, NULL, NULL));
        assert_int_equal(tid, id);
        uint32_t back;
        assert_lb_ok(lb_maglev_index_of(t, id, &back));
        assert_int_equal(back, idx);
        counted[idx]++;
    }
    /* Slot ownership counts match the table's own counts. */
    uint32_t own[50] = {0};
    for (uint32_t s = 0; s < 5003; s++) {
        uint32_t idx;
        assert_lb_ok(lb_maglev_index_of(t, lb_maglev_slot_owner(t, s), &idx));
        own[idx]++;
    }
    for (uint32_t i = 0; i < 50; i++) {
        uint32_t e;
        assert_lb_ok(lb_maglev_target_at(t, i, NULL, NULL, &e));
        assert_int_equal(e, own[i]);
        assert_true(counted[i] > 0);
    }
    /* The list is sorted by key. */
    lb_target_info a, b;
    a.struct_size = b.struct_size = sizeof(a);
    for (uint32_t i = 0; i + 1 < 50; i++) {
        uint32_t ia, ib;
        assert_lb_ok(lb_maglev_target_at(t, i, &ia, NULL, NULL));
        assert_lb_ok(lb_maglev_target_at(t, i + 1, &ib, NULL, NULL));
        assert_lb_ok(lb_pool_get(p, ia, &a));
        assert_lb_ok(lb_pool_get(p, ib, &b));
        size_t l = a.key_len < b.key_len ? a.key_len : b.key_len;
        int c = memcmp(a.key, b.key, l);
        assert_true(c < 0 || (c == 0 && a.key_len < b.key_len));
    }
    assert_int_equal(lb_maglev_slot_owner(t, 5003), LB_NO_TARGET);
    lb_maglev_free(t);
    lb_pool_free(p);
}

static void affinity_compositions(void **state)
{
    (void)state;
    lb_pool *p = make_pool(20, NULL, 5);
    lb_maglev *t;
    assert_lb_ok(lb_maglev_build(&t, p, 2003));
    uint8_t src[4] = {198, 51, 100, 7}, dst[4] = {10, 0, 0, 1};
    uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 51, 100, 7};
    /* Source-IP affinity: the target depends on the source alone. */
    uint32_t by_src = lb_maglev_lookup(t, lb_hash_src4(src, 0));
    assert_int_equal(lb_maglev_lookup(t, lb_hash_src6(mapped, 0)), by_src);
    int flows_differ = 0;
    for (uint16_t port = 1000; port < 1200; port++) {
        assert_int_equal(lb_maglev_lookup(t, lb_hash_src4(src, 0)), by_src);
        flows_differ |= lb_maglev_lookup(t, lb_hash_flow4(src, dst, port, 80, 6, 0)) != by_src;
    }
    assert_true(flows_differ); /* per-flow hashing does spread one client's connections */
    /* Key affinity: the same cookie always lands on the same target; keys spread. */
    uint32_t seen[20] = {0};
    for (int i = 0; i < 2000; i++) {
        char cookie[32];
        int len = snprintf(cookie, sizeof(cookie), "session=%d", i);
        uint32_t a = lb_maglev_lookup(t, lb_hash_key(cookie, (size_t)len, 0));
        assert_int_equal(lb_maglev_lookup(t, lb_hash_key(cookie, (size_t)len, 0)), a);
        uint32_t idx;
        assert_lb_ok(lb_maglev_index_of(t, a, &idx));
        seen[idx]++;
    }
    for (int i = 0; i < 20; i++)
        assert_true(seen[i] > 40); /* 100 expected each */
    lb_maglev_free(t);
    lb_pool_free(p);
}

static void weight_zero_and_empty(void **state)
{
    (void)state;
    lb_pool *p;
    assert_lb_ok(lb_pool_new(&p));
    lb_maglev *t;
    assert_lb_ok(lb_maglev_build(&t, p, 7));
    assert_int_equal(lb_maglev_lookup(t, 12345), LB_NO_TARGET);
    assert_int_equal(lb_maglev_lookup_index(t, 12345), LB_NO_TARGET);
    assert_int_equal(lb_maglev_target_count(t), 0);
    assert_int_equal(lb_maglev_slot_owner(t, 0), LB_NO_TARGET);
    lb_maglev_free(t);
    assert_lb_ok(lb_pool_add(p, 1, "zero", 4, 0, 0));
    assert_lb_ok(lb_pool_add(p, 2, "one", 3, 1, 0));
    assert_lb_ok(lb_maglev_build(&t, p, 7));
    uint32_t e, idx;
    assert_lb_err(lb_maglev_entries(t, 1, &e), -ENOENT);
    assert_lb_err(lb_maglev_index_of(t, 1, &idx), -ENOENT);
    assert_lb_ok(lb_maglev_entries(t, 2, &e));
    assert_int_equal(e, 7);
    for (uint64_t h = 0; h < 100; h++)
        assert_int_equal(lb_maglev_lookup(t, h * 0x9E3779B97F4A7C15ull), 2);
    /* A weight-0 target is invisible: same digest as without it. */
    lb_pool *q;
    assert_lb_ok(lb_pool_new(&q));
    assert_lb_ok(lb_pool_add(q, 9, "one", 3, 1, 0));
    lb_maglev *u;
    assert_lb_ok(lb_maglev_build(&u, q, 7));
    assert_true(lb_maglev_digest(t) == lb_maglev_digest(u));
    /* A weight change changes the digest. */
    lb_maglev *v;
    assert_lb_ok(lb_pool_set_weight(q, 9, 2));
    assert_lb_ok(lb_maglev_build(&v, q, 7));
    assert_true(lb_maglev_digest(v) != lb_maglev_digest(u));
    lb_maglev_free(t);
    lb_maglev_free(u);
    lb_maglev_free(v);
    lb_pool_free(p);
    lb_pool_free(q);
}

static void errors(void **state)
{
    (void)state;
    lb_pool *p = make_pool(10, NULL, 0);
    lb_maglev *t = NULL;
    assert_lb_err(lb_maglev_build(NULL, p, 7), -EINVAL);
    assert_lb_err(lb_maglev_build(&t, NULL, 7), -EINVAL);
    assert_lb_err(lb_maglev_build(&t, p, 0), -ERANGE);
    assert_lb_err(lb_maglev_build(&t, p, 1), -ERANGE);
    assert_lb_err(lb_maglev_build(&t, p, LB_MAGLEV_MAX_SIZE + 2), -ERANGE);
    static const uint32_t composites[] = {4, 65536, 65535, 1001, 25, 196611, 16777211};
    for (size_t i = 0; i < sizeof(composites) / sizeof(composites[0]); i++)
        assert_lb_err(lb_maglev_build(&t, p, composites[i]), LB_E_MAGLEV_NOT_PRIME);
    assert_lb_err(lb_maglev_build(&t, p, 7), LB_E_MAGLEV_TOO_SMALL);
    assert_null(t);
    assert_lb_ok(lb_maglev_build(&t, p, 11));
    lb_maglev *big;
    assert_lb_ok(lb_maglev_build(&big, p, 5000011));
    assert_int_equal(lb_maglev_size(big), 5000011);
    lb_maglev *max;
    assert_lb_ok(lb_maglev_build(&max, p, LB_MAGLEV_MAX_SIZE));
    uint32_t changed, e, idx;
    assert_lb_err(lb_maglev_diff(t, big, &changed), -EINVAL);
    assert_lb_err(lb_maglev_diff(t, NULL, &changed), -EINVAL);
    assert_lb_err(lb_maglev_diff(t, t, NULL), -EINVAL);
    assert_lb_ok(lb_maglev_diff(t, t, &changed));
    assert_int_equal(changed, 0);
    assert_lb_err(lb_maglev_entries(NULL, 1000, &e), -EINVAL);
    assert_lb_err(lb_maglev_entries(t, 1000, NULL), -EINVAL);
    assert_lb_err(lb_maglev_entries(t, 5, &e), -ENOENT);
    assert_lb_err(lb_maglev_index_of(t, 1000, NULL), -EINVAL);
    assert_lb_err(lb_maglev_target_at(NULL, 0, NULL, NULL, NULL), -EINVAL);
    assert_lb_err(lb_maglev_target_at(t, 10, NULL, NULL, NULL), -ENOENT);
    assert_lb_ok(lb_maglev_index_of(t, 1000, &idx));
    assert_int_equal(lb_maglev_lookup(NULL, 1), LB_NO_TARGET);
    assert_int_equal(lb_maglev_lookup_index(NULL, 1), LB_NO_TARGET);
    assert_int_equal(lb_maglev_size(NULL), 0);
    assert_int_equal(lb_maglev_target_count(NULL), 0);
    assert_true(lb_maglev_digest(NULL) == 0);
    assert_int_equal(lb_maglev_default_size(), 65537);
    assert_string_equal(lb_err_name(LB_E_MAGLEV_TOO_SMALL), "LB_E_MAGLEV_TOO_SMALL");
    assert_string_equal(lb_err_name(LB_E_MAGLEV_NOT_PRIME), "LB_E_MAGLEV_NOT_PRIME");
    lb_maglev_free(t);
    lb_maglev_free(big);
    lb_maglev_free(max);
    lb_maglev_free(NULL);
    lb_pool_free(p);
}

/* The built table does not depend on the pool afterwards. */
static void independent_of_pool(void **state)
{
    (void)state;
    lb_pool *p = make_pool(30, NULL, 8);
    lb_maglev *t;
    assert_lb_ok(lb_maglev_build(&t, p, 3001));
    uint64_t d = lb_maglev_digest(t);
    uint32_t owner = lb_maglev_slot_owner(t, 17);
    lb_pool_free(p);
    assert_true(lb_maglev_digest(t) == d);
    assert_int_equal(lb_maglev_slot_owner(t, 17), owner);
    lb_maglev_free(t);
}

struct reader {
    const lb_maglev *table;
    const uint32_t *want;
    int mismatches;
};

static void *read_table(void *arg)
{
    struct reader *r = arg;
    for (int round = 0; round < 20; round++) {
        uint64_t rs = 99;
        for (int k = 0; k < 5000; k++)
            r->mismatches += lb_maglev_lookup(r->table, lbt_rand(&rs)) != r->want[k];
    }
    return NULL;
}

/* Any number of threads look one table up at once (run under ThreadSanitizer too). */
static void concurrent_lookups(void **state)
{
    (void)state;
    lb_pool *p = make_pool(100, NULL, 4);
    lb_maglev *t;
    assert_lb_ok(lb_maglev_build(&t, p, 10007));
    static uint32_t want[5000];
    uint64_t rs = 99;
    for (int k = 0; k < 5000; k++)
        want[k] = lb_maglev_lookup(t, lbt_rand(&rs));
    pthread_t th[4];
    struct reader r[4];
    for (int i = 0; i < 4; i++) {
        r[i] = (struct reader){t, want, 0};
        assert_int_equal(pthread_create(&th[i], NULL, read_table, &r[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(r[i].mismatches, 0);
    }
    lb_maglev_free(t);
    lb_pool_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(vectors_match),
        cmocka_unit_test(unweighted_floor_ceil),
        cmocka_unit_test(weighted_share),
        cmocka_unit_test(disruption_and_restore),
        cmocka_unit_test(insertion_order_invariance),
        cmocka_unit_test(lookups_follow_slots),
        cmocka_unit_test(affinity_compositions),
        cmocka_unit_test(weight_zero_and_empty),
        cmocka_unit_test(errors),
        cmocka_unit_test(independent_of_pool),
        cmocka_unit_test(concurrent_lookups),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
