/* The library's internal MD5 and SHA-256 (lib/tls_digest.c) against their standards' vectors:
 * RFC 1321 appendix A.5 and FIPS 180-2 appendix B (one block, two blocks, a million 'a'),
 * and any split of the input over update calls gives the same digest. */
#include <string.h>

#include "lbtest.h"

#include "internal/digest.h"

static void hex(const uint8_t *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void digest(int sha, const void *msg, size_t len, size_t step, char *out)
{
    lb__digest d;
    if (sha)
        lb__sha256_init(&d);
    else
        lb__md5_init(&d);
    const uint8_t *p = msg;
    for (size_t off = 0; off < len; off += step)
        lb__digest_update(&d, p + off, len - off < step ? len - off : step);
    uint8_t md[LB_SHA256_SIZE];
    lb__digest_final(&d, md);
    hex(md, sha ? LB_SHA256_SIZE : LB_MD5_SIZE, out);
}

static void check(int sha, const char *msg, const char *want)
{
    static const size_t steps[] = {1, 3, 55, 56, 63, 64, 65, 1000};
    char got[65];
    size_t len = strlen(msg);
    digest(sha, msg, len, len ? len : 1, got);
    if (strcmp(got, want))
        fail_msg("%s(\"%s\") = %s, want %s", sha ? "sha256" : "md5", msg, got, want);
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        digest(sha, msg, len, steps[i], got);
        assert_string_equal(got, want);
    }
}

static void test_md5_rfc1321(void **state)
{
    (void)state;
    check(0, "", "d41d8cd98f00b204e9800998ecf8427e");
    check(0, "a", "0cc175b9c0f1b6a831c399e269772661");
    check(0, "abc", "900150983cd24fb0d6963f7d28e17f72");
    check(0, "message digest", "f96b697d7cb7938d525a2f31aaf161d0");
    check(0, "abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b");
    check(0, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
          "d174ab98d277d9f5a5611c2c9f419d9f");
    check(0, "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
          "57edf4a22be3c955ac49da2e2107b67a");
}

static void test_sha256_fips180(void **state)
{
    (void)state;
    check(1, "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    check(1, "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    check(1, "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* 55, 56 and 64 bytes: the padding's boundary cases */
    char m[129];
    memset(m, 'a', sizeof(m));
    m[55] = 0;
    check(1, m, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
    memset(m, 'a', sizeof(m));
    m[56] = 0;
    check(1, m, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
    memset(m, 'a', sizeof(m));
    m[64] = 0;
    check(1, m, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
}

static void test_million_a(void **state)
{
    (void)state;
    char *m = malloc(1000000 + 1);
    memset(m, 'a', 1000000);
    m[1000000] = 0;
    char got[65];
    digest(1, m, 1000000, 4096, got);
    assert_string_equal(got, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    digest(0, m, 1000000, 777, got);
    assert_string_equal(got, "7707d6ae4e027c70eea2a935c2296f21");
    free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_md5_rfc1321),
        cmocka_unit_test(test_sha256_fips180),
        cmocka_unit_test(test_million_a),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
