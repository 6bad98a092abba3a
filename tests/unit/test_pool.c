/* The pool: add, remove, set weight, iterate; duplicates and ranges are errors. */
#include <errno.h>
#include <string.h>

#include "lbtest.h"
#include "lb/pool.h"

static lb_target_info info(void)
{
    lb_target_info i;
    memset(&i, 0, sizeof(i));
    i.struct_size = sizeof(i);
    return i;
}

static void add_get_iterate(void **state)
{
    (void)state;
    lb_pool *p;
    assert_lb_ok(lb_pool_new(&p));
    assert_int_equal(lb_pool_count(p), 0);
    assert_lb_ok(lb_pool_add(p, 7, "a", 1, 10, 1));
    assert_lb_ok(lb_pool_add(p, 3, "bb", 2, 0, 2));
    assert_lb_ok(lb_pool_add(p, 9, "ccc", 3, LB_WEIGHT_MAX, 1));
    assert_int_equal(lb_pool_count(p), 3);
    lb_target_info t = info();
    assert_lb_ok(lb_pool_at(p, 1, &t));
    assert_int_equal(t.id, 3);
    assert_int_equal(t.key_len, 2);
    assert_memory_equal(t.key, "bb", 2);
    assert_int_equal(t.weight, 0);
    assert_int_equal(t.zone, 2);
    assert_lb_err(lb_pool_at(p, 3, &t), -ENOENT);
    assert_lb_ok(lb_pool_get(p, 9, &t));
    assert_int_equal(t.weight, LB_WEIGHT_MAX);
    uint32_t id;
    assert_lb_ok(lb_pool_find_key(p, "ccc", 3, &id));
    assert_int_equal(id, 9);
    assert_lb_err(lb_pool_find_key(p, "cc", 2, &id), -ENOENT);
    /* struct_size must be set */
    lb_target_info z;
    memset(&z, 0, sizeof(z));
    assert_lb_err(lb_pool_get(p, 9, &z), LB_E_STRUCT_SIZE);
    lb_pool_free(p);
    lb_pool_free(NULL);
}

static void errors_leave_the_pool_unchanged(void **state)
{
    (void)state;
    lb_pool *p;
    assert_lb_ok(lb_pool_new(&p));
    assert_lb_ok(lb_pool_add(p, 1, "k1", 2, 1, 0));
    assert_lb_err(lb_pool_add(p, 1, "k2", 2, 1, 0), -EEXIST);
    assert_lb_err(lb_pool_add(p, 2, "k1", 2, 1, 0), LB_E_POOL_DUPLICATE_KEY);
    assert_lb_err(lb_pool_add(p, 2, "k2", 2, LB_WEIGHT_MAX + 1, 0), LB_E_POOL_BAD_WEIGHT);
    assert_lb_err(lb_pool_add(p, 2, "k2", 0, 1, 0), LB_E_POOL_BAD_KEY);
    static char big[LB_POOL_KEY_MAX + 1];
    memset(big, 'x', sizeof(big));
    assert_lb_err(lb_pool_add(p, 2, big, sizeof(big), 1, 0), LB_E_POOL_BAD_KEY);
    assert_lb_ok(lb_pool_add(p, 2, big, LB_POOL_KEY_MAX, 1, 0));
    assert_lb_err(lb_pool_add(p, LB_NO_TARGET, "k3", 2, 1, 0), -EINVAL);
    assert_lb_err(lb_pool_add(NULL, 3, "k3", 2, 1, 0), -EINVAL);
    assert_lb_err(lb_pool_add(p, 3, NULL, 2, 1, 0), -EINVAL);
    assert_int_equal(lb_pool_count(p), 2);
    assert_lb_err(lb_pool_set_weight(p, 1, 70000), LB_E_POOL_BAD_WEIGHT);
    assert_lb_err(lb_pool_set_weight(p, 5, 1), -ENOENT);
    assert_lb_err(lb_pool_remove(p, 5), -ENOENT);
    assert_lb_err(lb_pool_set_zone(p, 5, 1), -ENOENT);
    assert_lb_ok(lb_pool_set_weight(p, 1, 0));
    assert_lb_ok(lb_pool_set_zone(p, 1, 4));
    lb_target_info t = info();
    assert_lb_ok(lb_pool_get(p, 1, &t));
    assert_int_equal(t.weight, 0);
    assert_int_equal(t.zone, 4);
    lb_pool_free(p);
}

static void remove_keeps_order_and_frees_key(void **state)
{
    (void)state;
    lb_pool *p;
    assert_lb_ok(lb_pool_new(&p));
    char key[16];
    for (uint32_t i = 0; i < 100; i++) {
        int n = snprintf(key, sizeof(key), "t%u", i);
        assert_lb_ok(lb_pool_add(p, i * 3, key, (size_t)n, i, i % 3));
    }
    for (uint32_t i = 0; i < 100; i += 2)
        assert_lb_ok(lb_pool_remove(p, i * 3));
    assert_int_equal(lb_pool_count(p), 50);
    lb_target_info t = info();
    for (size_t i = 0; i < 50; i++) {
        assert_lb_ok(lb_pool_at(p, i, &t));
        assert_int_equal(t.id, (2 * i + 1) * 3);
    }
    /* The removed key and id can be reused. */
    assert_lb_ok(lb_pool_add(p, 0, "t0", 2, 1, 0));
    uint32_t id;
    assert_lb_ok(lb_pool_find_key(p, "t1", 2, &id));
    assert_int_equal(id, 3);
    lb_pool *c;
    assert_lb_ok(lb_pool_clone(&c, p));
    assert_lb_ok(lb_pool_remove(p, 3));
    assert_lb_ok(lb_pool_find_key(c, "t1", 2, &id));
    assert_int_equal(lb_pool_count(c), 51);
    lb_pool_free(c);
    lb_pool_free(p);
}

static void large_pool(void **state)
{
    (void)state;
    lb_pool *p;
    assert_lb_ok(lb_pool_new(&p));
    char key[16];
    uint64_t s = 1;
    for (uint32_t i = 0; i < 100000; i++) {
        int n = snprintf(key, sizeof(key), "k%u", i);
        assert_lb_ok(lb_pool_add(p, i * 2654435761u, key, (size_t)n,
                                 (uint32_t)(lbt_rand(&s) % 65536), 0));
    }
    assert_int_equal(lb_pool_count(p), 100000);
    uint32_t id;
    assert_lb_ok(lb_pool_find_key(p, "k99999", 6, &id));
    assert_int_equal(id, 99999u * 2654435761u);
    lb_pool_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(add_get_iterate),
        cmocka_unit_test(errors_leave_the_pool_unchanged),
        cmocka_unit_test(remove_keeps_order_and_frees_key),
        cmocka_unit_test(large_pool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
