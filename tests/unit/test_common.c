/* The common module: error codes, names, messages, version. */
#include <errno.h>
#include <string.h>

#include "lbtest.h"
#include "lb/version.h"

static void every_code_has_a_name_and_a_message(void **state)
{
    (void)state;
    size_t n = lb_err_count();
    assert_true(n > 10);
    for (size_t i = 0; i < n; i++) {
        int code = lb_err_at(i);
        const char *name = lb_err_name(code), *msg = lb_strerror(code);
        assert_non_null(name);
        assert_non_null(msg);
        assert_string_not_equal(name, "unknown");
        assert_string_not_equal(msg, "Unknown error");
        assert_true(strlen(msg) > 3);
        if (code <= LB_E_BASE) {
            assert_true(code > LB_E_LAST);
            assert_memory_equal(name, "LB_E_", 5);
        } else if (code < 0) {
            assert_true(-code < 4096); /* an errno */
            assert_int_equal(name[0], 'E');
        } else {
            assert_int_equal(code, 0);
            assert_string_equal(name, "LB_OK");
        }
        /* names and codes are unique */
        for (size_t j = 0; j < i; j++) {
            assert_int_not_equal(lb_err_at(j), code);
            assert_string_not_equal(lb_err_name(lb_err_at(j)), name);
        }
    }
    assert_int_equal(lb_err_at(n), 0);
}

static void unknown_codes_are_answered(void **state)
{
    (void)state;
    assert_string_equal(lb_err_name(-5999), "unknown");
    assert_string_equal(lb_strerror(-5999), "Unknown error");
    assert_string_equal(lb_err_name(12345), "unknown");
    assert_string_equal(lb_err_name(-EINVAL), "EINVAL");
    assert_string_equal(lb_err_name(-EAGAIN), "unknown"); /* liblb never returns it */
    assert_string_equal(lb_err_name(LB_E_NEED_MORE), "LB_E_NEED_MORE");
    assert_string_equal(lb_err_name(LB_E_NO_TARGET), "LB_E_NO_TARGET");
}

static void version_matches_header(void **state)
{
    (void)state;
    assert_int_equal(lb_version_number(), LB_VERSION_NUMBER);
    assert_string_equal(lb_version_string(), LB_VERSION_STRING);
    char buf[32];
    snprintf(buf, sizeof(buf), "%d.%d.%d", LB_VERSION_MAJOR, LB_VERSION_MINOR, LB_VERSION_PATCH);
    assert_string_equal(buf, lb_version_string());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_code_has_a_name_and_a_message),
        cmocka_unit_test(unknown_codes_are_answered),
        cmocka_unit_test(version_matches_header),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
