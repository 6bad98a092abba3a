/* Weighted rendezvous hashing: the vectors of doc/rendezvous.md, the table's definition, the
 * minimal-disruption property (only keys to or from the changed target move) and shares that
 * follow weights; the balancer's "rendezvous" algorithm agrees with the selector. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbtest.h"
#include "lb/balancer.h"
#include "lb/pool.h"
#include "lb/rendezvous.h"

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* A pool from "key=weight,key=weight" (ids 0, 1, ... in that order). */
static lb_pool *pool_of(const char *spec)
{
    lb_pool *p;
    assert_lb_ok(lb_pool_new(&p));
    char buf[4096];
    snprintf(buf, sizeof(buf), "%s", spec);
    uint32_t id = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        char *eq = strrchr(tok, '=');
        assert_non_null(eq);
        *eq = 0;
        assert_lb_ok(lb_pool_add(p, id++, tok, strlen(tok), (uint32_t)atoi(eq + 1), 0));
    }
    return p;
}

static const char *key_of(const lb_pool *p, uint32_t id, char *out, size_t cap)
{
    lb_target_info ti = {.struct_size = sizeof(ti)};
    assert_lb_ok(lb_pool_get(p, id, &ti));
    snprintf(out, cap, "%.*s", (int)ti.key_len, (const char *)ti.key);
    return out;
}

static void vectors_match(void **state)
{
    (void)state;
    char path[4096];
    snprintf(path, sizeof(path), "%s/rendezvous_vectors.txt", lbt_data_dir());
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char line[1 << 16];
    int checked = 0;
    while (fgets(line, sizeof(line), f)) {
        char a[8192], b[4096], c[8192];
        if (line[0] == '#')
            continue;
        if (sscanf(line, "draw %4095s %4095s %8191s", a, b, c) == 3) {
            char spec[8300];
            snprintf(spec, sizeof(spec), "%s=1", a);
            lb_pool *p = pool_of(spec);
            lb_rendezvous *r;
            assert_lb_ok(lb_rendezvous_build(&r, p));
            assert_int_equal(lb_rendezvous_draw(r, 0, strtoull(b, NULL, 16)),
                             strtoull(c, NULL, 10));
            lb_rendezvous_free(r);
            lb_pool_free(p);
            checked++;
        } else if (sscanf(line, "lookup %8191s %4095s %8191s", a, b, c) == 3) {
            lb_pool *p = pool_of(a);
            lb_rendezvous *r;
            assert_lb_ok(lb_rendezvous_build(&r, p));
            char k[4096];
            uint32_t id = lb_rendezvous_lookup(r, strtoull(b, NULL, 16));
            assert_string_equal(key_of(p, id, k, sizeof(k)), c);
            lb_rendezvous_free(r);
            lb_pool_free(p);
            checked++;
        } else if (sscanf(line, "counts %8191s %4095s %8191s", a, b, c) == 3) {
            lb_pool *p = pool_of(a);
            lb_rendezvous *r;
            assert_lb_ok(lb_rendezvous_build(&r, p));
            uint32_t n = (uint32_t)lb_rendezvous_target_count(r);
            uint64_t *cnt = calloc(n, sizeof(*cnt));
            assert_non_null(cnt);
            uint64_t keys = strtoull(b, NULL, 10);
            for (uint64_t k = 0; k < keys; k++)
                cnt[lb_rendezvous_lookup_index(r, mix64(k))]++;
            char *s = c;
            for (uint32_t i = 0; i < n; i++) {
                char *end;
                assert_int_equal(cnt[i], strtoull(s, &end, 10));
                s = *end == ',' ? end + 1 : end;
            }
            free(cnt);
            lb_rendezvous_free(r);
            lb_pool_free(p);
            checked++;
        }
    }
    fclose(f);
    assert_true(checked >= 40);
}

/* Keys 0..n-1 through pools @p and @q: only keys won by @changed before or after may differ. */
static uint32_t moved_outside(const lb_pool *p, const lb_pool *q, uint32_t changed, uint32_t n,
                              uint32_t *moved)
{
    lb_rendezvous *r1, *r2;
    assert_lb_ok(lb_rendezvous_build(&r1, p));
    assert_lb_ok(lb_rendezvous_build(&r2, q));
    uint32_t bad = 0;
    *moved = 0;
    for (uint32_t k = 0; k < n; k++) {
        uint64_t h = mix64(k * 0x9E3779B97F4A7C15ull + 1);
        uint32_t a = lb_rendezvous_lookup(r1, h), b = lb_rendezvous_lookup(r2, h);
        if (a != b) {
            (*moved)++;
            bad += a != changed && b != changed;
        }
    }
    lb_rendezvous_free(r1);
    lb_rendezvous_free(r2);
    return bad;
}

static void minimal_disruption(void **state)
{
    (void)state;
    const uint32_t n = 40000;
    lb_pool *p;
    assert_lb_ok(lb_pool_new(&p));
    char key[32];
    for (uint32_t i = 0; i < 30; i++) {
        int len = snprintf(key, sizeof(key), "10.0.%u.%u:80", i / 7, i);
        assert_lb_ok(lb_pool_add(p, i, key, (size_t)len, 1 + (i * 13) % 50, 0));
    }
    uint32_t moved;
    for (uint32_t t = 0; t < 30; t += 7) {
        lb_pool *q;
        /* weight up, weight down */
        uint32_t cur = 1 + (t * 13) % 50;
        uint32_t ws[] = {cur * 4, cur > 1 ? cur / 2 : 3};
        for (size_t k = 0; k < 2; k++) {
            assert_lb_ok(lb_pool_clone(&q, p));
            assert_lb_ok(lb_pool_set_weight(q, t, ws[k]));
            assert_int_equal(moved_outside(p, q, t, n, &moved), 0);
            assert_true(moved > 0);
            lb_pool_free(q);
        }
        /* removal */
        assert_lb_ok(lb_pool_clone(&q, p));
        assert_lb_ok(lb_pool_remove(q, t));
        assert_int_equal(moved_outside(p, q, t, n, &moved), 0);
        assert_true(moved > 0);
        lb_pool_free(q);
    }
    /* addition */
    lb_pool *q;
    assert_lb_ok(lb_pool_clone(&q, p));
    assert_lb_ok(lb_pool_add(q, 99, "new", 3, 25, 0));
    assert_int_equal(moved_outside(p, q, 99, n, &moved), 0);
    assert_true(moved > 0);
    lb_pool_free(q);
    lb_pool_free(p);
}

static void shares_follow_weights(void **state)
{
    (void)state;
    lb_pool *p;
    assert_lb_ok(lb_pool_new(&p));
    const uint32_t w[] = {1, 2, 3, 5, 8, 13, 21, 34, 0, 65535};
    uint64_t total = 0;
    char key[16];
    for (uint32_t i = 0; i < 9; i++) { /* 0 weight: not in the selector */
        int len = snprintf(key, sizeof(key), "t%u", i);
        assert_lb_ok(lb_pool_add(p, i, key, (size_t)len, w[i], 0));
        total += w[i];
    }
    lb_rendezvous *r;
    assert_lb_ok(lb_rendezvous_build(&r, p));
    assert_int_equal(lb_rendezvous_target_count(r), 8);
    const uint32_t n = 200000;
    uint32_t cnt[9] = {0};
    for (uint32_t k = 0; k < n; k++) {
        uint32_t id = lb_rendezvous_lookup(r, mix64(k + 12345));
        assert_true(id < 8);
        cnt[id]++;
    }
    for (uint32_t i = 0; i < 8; i++) {
        double expect = (double)n * w[i] / (double)total;
        double tol = 0.015 * n * w[i] / (double)total + 4.5 * __builtin_sqrt(expect) + 5;
        if (__builtin_fabs(cnt[i] - expect) > tol)
            fail_msg("target %u: %u keys, expected %.0f", i, cnt[i], expect);
    }
    lb_rendezvous_free(r);
    lb_pool_free(p);
}

static void api_edges(void **state)
{
    (void)state;
    lb_rendezvous *r = NULL;
    lb_pool *p;
    assert_lb_ok(lb_pool_new(&p));
    assert_lb_err(lb_rendezvous_build(NULL, p), -EINVAL);
    assert_lb_err(lb_rendezvous_build(&r, NULL), -EINVAL);
    assert_lb_ok(lb_rendezvous_build(&r, p)); /* empty */
    assert_int_equal(lb_rendezvous_lookup(r, 1), LB_NO_TARGET);
    assert_int_equal(lb_rendezvous_lookup_index(r, 1), LB_NO_TARGET);
    assert_int_equal(lb_rendezvous_target_count(r), 0);
    assert_int_equal(lb_rendezvous_draw(r, 0, 1), UINT64_MAX);
    assert_lb_err(lb_rendezvous_target_at(r, 0, NULL, NULL), -ENOENT);
    lb_rendezvous_free(r);
    assert_lb_ok(lb_pool_add(p, 7, "b", 1, 3, 0));
    assert_lb_ok(lb_pool_add(p, 8, "a", 1, 5, 0));
    assert_lb_ok(lb_rendezvous_build(&r, p));
    uint32_t id, wt;
    assert_lb_ok(lb_rendezvous_target_at(r, 0, &id, &wt)); /* sorted by key */
    assert_int_equal(id, 8);
    assert_int_equal(wt, 5);
    assert_lb_err(lb_rendezvous_target_at(NULL, 0, &id, &wt), -EINVAL);
    assert_int_equal(lb_rendezvous_lookup(NULL, 1), LB_NO_TARGET);
    assert_int_equal(lb_rendezvous_target_count(NULL), 0);
    lb_rendezvous_free(r);
    lb_rendezvous_free(NULL);
    lb_pool_free(p);
}

/* The balancer's "rendezvous" picks what the selector built from the same targets picks. */
static void balancer_agrees(void **state)
{
    (void)state;
    uint32_t alg;
    assert_lb_ok(lb_algorithm_from_name("rendezvous", &alg));
    lb_balancer_config c = {.struct_size = sizeof(c), .algorithm = alg};
    lb_balancer *b;
    assert_lb_ok(lb_balancer_new(&b, &c));
    lb_pool *p;
    assert_lb_ok(lb_pool_new(&p));
    char key[16];
    for (uint32_t i = 1; i <= 12; i++) {
        int len = snprintf(key, sizeof(key), "srv-%u", i);
        assert_lb_ok(lb_balancer_add(b, i, key, (size_t)len, i, 0, 0, 0));
        assert_lb_ok(lb_pool_add(p, i, key, (size_t)len, i, 0));
    }
    lb_rendezvous *r;
    assert_lb_ok(lb_rendezvous_build(&r, p));
    for (uint32_t k = 0; k < 5000; k++) {
        uint32_t id;
        assert_lb_ok(lb_balancer_pick(b, mix64(k), &id));
        assert_int_equal(id, lb_rendezvous_lookup(r, mix64(k)));
        lb_balancer_release(b, id, 0);
    }
    lb_rendezvous_free(r);
    lb_pool_free(p);
    lb_balancer_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(vectors_match),
        cmocka_unit_test(minimal_disruption),
        cmocka_unit_test(shares_follow_weights),
        cmocka_unit_test(api_edges),
        cmocka_unit_test(balancer_agrees),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
