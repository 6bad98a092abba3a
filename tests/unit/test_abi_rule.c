/* lib/internal/abi.h, the one implementation of the struct-extension rule, across releases:
 * a struct of "release 1" and its "release 2" with one field appended, read and written by
 * either side. (The public structs are all at their first release, so the shared-library
 * tests in test_abi_structs.c can only show the new-caller side; this shows the old-caller
 * side that every later release relies on.) */
#include "lbtest.h"

#include <stddef.h>
#include <string.h>

#include "internal/abi.h"

typedef struct v1 {
    uint32_t struct_size;
    uint32_t a;
    uint64_t b;
} v1;

typedef struct v2 { /* release 2 appends c (and an explicit reserved field) */
    uint32_t struct_size;
    uint32_t a;
    uint64_t b;
    uint32_t c;
    uint32_t reserved0;
} v2;

#define V_MIN LB__SIZE_UPTO(v1, b)

static void old_caller_new_library(void **state)
{
    (void)state;
    v1 old = {.struct_size = sizeof(old), .a = 1, .b = 2};
    v2 lib;
    memset(&lib, 0xA5, sizeof(lib));
    assert_lb_ok(lb__struct_in(&lib, sizeof(lib), &old, old.struct_size, V_MIN));
    assert_int_equal(lib.a, 1);
    assert_int_equal(lib.b, 2);
    assert_int_equal(lib.c, 0); /* what the old caller cannot say reads as zero (a default) */
    assert_int_equal(lib.reserved0, 0);

    /* The library fills the old caller's struct: only its bytes are written. */
    struct {
        v1 s;
        unsigned char guard[16];
    } out;
    memset(&out, 0xA5, sizeof(out));
    out.s.struct_size = sizeof(out.s);
    assert_lb_ok(lb__out_check(&out.s, V_MIN));
    v2 full = {.a = 5, .b = 6, .c = 7};
    lb__struct_put(&out.s, &full, sizeof(full));
    assert_int_equal(out.s.struct_size, sizeof(v1));
    assert_int_equal(out.s.a, 5);
    assert_int_equal(out.s.b, 6);
    for (size_t i = 0; i < sizeof(out.guard); i++)
        assert_int_equal(out.guard[i], 0xA5);
}

static void new_caller_old_library(void **state)
{
    (void)state;
    v2 caller = {.struct_size = sizeof(caller), .a = 1, .b = 2};
    v1 lib = {0};
    assert_lb_ok(lb__struct_in(&lib, sizeof(lib), &caller, caller.struct_size, V_MIN));
    assert_int_equal(lib.a, 1);
    caller.c = 3; /* a field the old library cannot honour: refused, never ignored */
    assert_lb_err(lb__struct_in(&lib, sizeof(lib), &caller, caller.struct_size, V_MIN),
                  LB_E_STRUCT_TOO_NEW);
    v2 out;
    memset(&out, 0xA5, sizeof(out));
    out.struct_size = sizeof(out);
    v1 have = {.a = 8, .b = 9};
    lb__struct_put(&out, &have, sizeof(have));
    assert_int_equal(out.struct_size, sizeof(v1)); /* tells the caller what was written */
    assert_int_equal(out.a, 8);
    assert_int_equal(out.c, 0);
    assert_int_equal(out.reserved0, 0);
}

static void too_small_and_elements(void **state)
{
    (void)state;
    v1 s = {.struct_size = 4};
    v1 lib = {0};
    assert_lb_err(lb__struct_in(&lib, sizeof(lib), &s, s.struct_size, V_MIN), LB_E_STRUCT_SIZE);
    assert_lb_err(lb__out_check(&s, V_MIN), LB_E_STRUCT_SIZE);
    assert_lb_err(lb__elem_check(V_MIN - 1, V_MIN), LB_E_STRUCT_SIZE);
    assert_lb_ok(lb__elem_check(sizeof(v2), V_MIN));
    v2 arr[3];
    assert_ptr_equal(lb__elem(arr, sizeof(v2), 2), &arr[2]);
    v2 init;
    memset(&init, 0xA5, sizeof(init));
    v1 def = {.a = 4, .b = 5};
    lb__struct_init(&init, sizeof(init), &def, sizeof(def));
    assert_int_equal(init.struct_size, sizeof(v2));
    assert_int_equal(init.a, 4);
    assert_int_equal(init.c, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(old_caller_new_library),
        cmocka_unit_test(new_caller_old_library),
        cmocka_unit_test(too_small_and_elements),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
