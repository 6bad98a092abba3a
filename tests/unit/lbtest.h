/* Shared helpers for liblb's cmocka tests. */
#ifndef LBTEST_H
#define LBTEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "lb/common.h"

/* cmocka 1.1.5 prints a failing negative code as a huge hex number: say which error it was. */
#define assert_lb_ok(expr)                                                                      \
    do {                                                                                        \
        int lbt_rc_ = (expr);                                                                   \
        if (lbt_rc_ != 0)                                                                       \
            fail_msg("%s returned %d (%s: %s)", #expr, lbt_rc_, lb_err_name(lbt_rc_),         \
                     lb_strerror(lbt_rc_));                                                     \
    } while (0)

#define assert_lb_err(expr, want)                                                               \
    do {                                                                                        \
        int lbt_rc_ = (expr), lbt_want_ = (want);                                               \
        if (lbt_rc_ != lbt_want_)                                                               \
            fail_msg("%s returned %d (%s), want %d (%s)", #expr, lbt_rc_,                      \
                     lb_err_name(lbt_rc_), lbt_want_, lb_err_name(lbt_want_));                  \
    } while (0)

/* A small deterministic generator for property tests (fixed seeds). */
static inline uint64_t lbt_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Directory of tests/data, from the LB_TEST_DATA environment variable set by Meson. */
static inline const char *lbt_data_dir(void)
{
    const char *d = getenv("LB_TEST_DATA");
    return d ? d : "tests/data";
}

#endif /* LBTEST_H */
