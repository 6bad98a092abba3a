/* CRC-32C: the public lb_crc32c() and both internal implementations (SSE4.2 and tables) against
 * published vectors, against each other over random lengths and alignments, and chaining. */
#include <string.h>

#include "lbtest.h"

#include "internal/proxy.h"

typedef uint32_t (*crc_fn)(uint32_t, const void *, size_t);

static void check_vectors(crc_fn f)
{
    /* RFC 3720 (iSCSI) B.4 and the common check value. */
    static uint8_t zeros[32], ones[32], inc[32], dec[32];
    for (int i = 0; i < 32; i++) {
        ones[i] = 0xFF;
        inc[i] = (uint8_t)i;
        dec[i] = (uint8_t)(31 - i);
    }
    assert_int_equal(f(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(f(0, zeros, 32), 0x8A9136AAu);
    assert_int_equal(f(0, ones, 32), 0x62A8AB43u);
    assert_int_equal(f(0, inc, 32), 0x46DD794Eu);
    assert_int_equal(f(0, dec, 32), 0x113FDB5Cu);
    assert_int_equal(f(0, "", 0), 0u);
    assert_int_equal(f(0, "a", 1), 0xC1D04330u);
    /* Chaining equals one pass. */
    assert_int_equal(f(f(0, "12345", 5), "6789", 4), 0xE3069283u);
}

static void test_sw(void **state)
{
    (void)state;
    check_vectors(lb__crc32c_sw);
}

static void test_hw(void **state)
{
    (void)state;
    /* Always callable: falls back to the tables where SSE4.2 is missing. */
    if (lb__crc32c_hw_supported() || !lb__crc32c_hw_supported())
        check_vectors(lb__crc32c_hw);
    check_vectors(lb_crc32c);
    assert_int_equal(lb_crc32c(123, NULL, 5), 123u);
#if defined(__x86_64__)
    assert_true(lb__crc32c_hw_supported() == lb__crc32c_hw_supported());
#endif
}

static void test_sw_equals_hw(void **state)
{
    (void)state;
    static uint8_t buf[4096 + 16];
    uint64_t seed = 99;
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)lbt_rand(&seed);
    for (int iter = 0; iter < 20000; iter++) {
        uint64_t r = lbt_rand(&seed);
        size_t off = r % 16, len = (r >> 8) % 4096;
        uint32_t init = (uint32_t)(r >> 32);
        uint32_t a = lb__crc32c_sw(init, buf + off, len), b = lb__crc32c_hw(init, buf + off, len);
        if (a != b)
            fail_msg("off %zu len %zu: sw %08x hw %08x", off, len, a, b);
        assert_int_equal(lb_crc32c(init, buf + off, len), a);
        size_t cut = len ? (r >> 20) % len : 0;
        assert_int_equal(
            lb__crc32c_sw(lb__crc32c_sw(init, buf + off, cut), buf + off + cut, len - cut), a);
    }
}

/* The CRC with a 4-byte hole read as zero equals the CRC of a copy with those bytes zeroed. */
static void test_masked(void **state)
{
    (void)state;
    static uint8_t buf[600], copy[600];
    uint64_t seed = 7;
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)lbt_rand(&seed);
    for (size_t len = 4; len < 300; len++) {
        for (size_t zoff = 0; zoff + 4 <= len; zoff += 1 + len / 40) {
            memcpy(copy, buf, len);
            memset(copy + zoff, 0, 4);
            uint32_t want = lb__crc32c_sw(0, copy, len);
            assert_int_equal(lb__crc32c_masked(buf, len, zoff), want);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sw),
        cmocka_unit_test(test_hw),
        cmocka_unit_test(test_sw_equals_hw),
        cmocka_unit_test(test_masked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
