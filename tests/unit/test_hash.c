/* The hash module: pinned vectors, mapped addresses, encodings that never collide. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include <xxhash.h>

#include "lbtest.h"
#include "lb/hash.h"

static int parse_hexkey(const char *s, uint8_t *out, size_t cap)
{
    if (!strcmp(s, "-"))
        return 0;
    size_t n = strlen(s) / 2;
    if (n > cap)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1)
            return -1;
        out[i] = (uint8_t)v;
    }
    return (int)n;
}

static void vectors_match(void **state)
{
    (void)state;
    char path[1024];
    snprintf(path, sizeof(path), "%s/hash_vectors.txt", lbt_data_dir());
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[4096];
    int checked = 0;
    while (fgets(line, sizeof(line), f)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        char kind[8], a[64], b[64], key[2100];
        unsigned proto, sp, dp;
        uint64_t seed, want, got;
        uint8_t sa[16], da[16], kb[1024];
        if (sscanf(line, "flow4 %u %63s %63s %u %u %" SCNx64 " %" SCNx64, &proto, a, b, &sp, &dp,
                   &seed, &want) == 7) {
            assert_int_equal(inet_pton(AF_INET, a, sa), 1);
            assert_int_equal(inet_pton(AF_INET, b, da), 1);
            got = lb_hash_flow4(sa, da, (uint16_t)sp, (uint16_t)dp, (uint8_t)proto, seed);
        } else if (sscanf(line, "flow6 %u %63s %63s %u %u %" SCNx64 " %" SCNx64, &proto, a, b,
                          &sp, &dp, &seed, &want) == 7) {
            assert_int_equal(inet_pton(AF_INET6, a, sa), 1);
            assert_int_equal(inet_pton(AF_INET6, b, da), 1);
            got = lb_hash_flow6(sa, da, (uint16_t)sp, (uint16_t)dp, (uint8_t)proto, seed);
        } else if (sscanf(line, "src4 %63s %" SCNx64 " %" SCNx64, a, &seed, &want) == 3) {
            assert_int_equal(inet_pton(AF_INET, a, sa), 1);
            got = lb_hash_src4(sa, seed);
        } else if (sscanf(line, "src6 %63s %" SCNx64 " %" SCNx64, a, &seed, &want) == 3) {
            assert_int_equal(inet_pton(AF_INET6, a, sa), 1);
            got = lb_hash_src6(sa, seed);
        } else if (sscanf(line, "key %2099s %" SCNx64 " %" SCNx64, key, &seed, &want) == 3) {
            int n = parse_hexkey(key, kb, sizeof(kb));
            assert_true(n >= 0);
            got = lb_hash_key(kb, (size_t)n, seed);
        } else {
            fail_msg("unparsable vector line: %s", line);
            return;
        }
        (void)kind;
        if (got != want)
            fail_msg("vector mismatch: %s got 0x%016" PRIx64, line, got);
        checked++;
    }
    fclose(f);
    assert_true(checked >= 100);
}

static void mapped_ipv6_hashes_as_ipv4(void **state)
{
    (void)state;
    uint8_t s4[4] = {192, 0, 2, 1}, d4[4] = {198, 51, 100, 7};
    uint8_t s6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1};
    uint8_t d6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 51, 100, 7};
    for (uint64_t seed = 0; seed < 5; seed++) {
        assert_true(lb_hash_flow4(s4, d4, 5555, 443, 6, seed) ==
                    lb_hash_flow6(s6, d6, 5555, 443, 6, seed));
        assert_true(lb_hash_src4(s4, seed) == lb_hash_src6(s6, seed));
    }
    /* Through socket addresses: AF_INET against AF_INET6 mapped, and mixed. */
    struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons(5555)};
    struct sockaddr_in b4 = {.sin_family = AF_INET, .sin_port = htons(443)};
    memcpy(&a4.sin_addr, s4, 4);
    memcpy(&b4.sin_addr, d4, 4);
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons(5555)};
    struct sockaddr_in6 b6 = {.sin6_family = AF_INET6, .sin6_port = htons(443)};
    memcpy(&a6.sin6_addr, s6, 16);
    memcpy(&b6.sin6_addr, d6, 16);
    uint64_t h1, h2, h3;
    assert_lb_ok(lb_hash_flow_sockaddr((struct sockaddr *)&a4, (struct sockaddr *)&b4, 6, 9, &h1));
    assert_lb_ok(lb_hash_flow_sockaddr((struct sockaddr *)&a6, (struct sockaddr *)&b6, 6, 9, &h2));
    assert_lb_ok(lb_hash_flow_sockaddr((struct sockaddr *)&a6, (struct sockaddr *)&b4, 6, 9, &h3));
    assert_true(h1 == h2 && h2 == h3);
    assert_true(h1 == lb_hash_flow4(s4, d4, 5555, 443, 6, 9));
    assert_lb_ok(lb_hash_src_sockaddr((struct sockaddr *)&a6, 3, &h1));
    assert_true(h1 == lb_hash_src4(s4, 3));
    /* A real IPv6 address and an IPv4 one cannot form one flow. */
    a6.sin6_addr.s6_addr[0] = 0x20;
    assert_lb_err(lb_hash_flow_sockaddr((struct sockaddr *)&a6, (struct sockaddr *)&b4, 6, 9, &h3),
                  -EAFNOSUPPORT);
    struct sockaddr bad = {.sa_family = AF_UNIX};
    assert_lb_err(lb_hash_src_sockaddr(&bad, 0, &h1), -EAFNOSUPPORT);
    assert_lb_err(lb_hash_src_sockaddr(NULL, 0, &h1), -EINVAL);
}

/* The encodings start with distinct tags: the same bytes as a key never hash like a flow. */
static void encodings_never_collide(void **state)
{
    (void)state;
    uint8_t s4[4] = {10, 0, 0, 1}, d4[4] = {10, 0, 0, 2};
    uint8_t enc[16] = {LB_HASH_TAG_FLOW4, 6, 0x04, 0xd2, 0, 80, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2};
    uint64_t flow = lb_hash_flow4(s4, d4, 1234, 80, 6, 0);
    /* The documented encoding hashes to the flow's hash ... */
    assert_true(XXH3_64bits_withSeed(enc, sizeof(enc), 0) == flow);
    /* ... and the same bytes given as a key do not (the key tag comes first). */
    assert_true(lb_hash_key(enc, sizeof(enc), 0) != flow);
    assert_true(lb_hash_key(enc + 1, sizeof(enc) - 1, 0) != flow);
    uint8_t k[17] = {LB_HASH_TAG_KEY};
    memcpy(k + 1, enc, sizeof(enc));
    assert_true(XXH3_64bits_withSeed(k, sizeof(k), 0) == lb_hash_key(enc, sizeof(enc), 0));
    /* Source-only keys differ from keys holding the same 4 bytes. */
    assert_true(lb_hash_src4(s4, 0) != lb_hash_key(s4, 4, 0));
    /* Long keys (streamed) agree with the one-shot definition. */
    uint8_t big[600];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i * 7);
    big[0] = LB_HASH_TAG_KEY;
    for (size_t len = 250; len < 260; len++)
        assert_true(lb_hash_key(big + 1, len, 77) == XXH3_64bits_withSeed(big, len + 1, 77));
}

static void seeds_change_hashes(void **state)
{
    (void)state;
    uint64_t seen[64];
    for (uint64_t s = 0; s < 64; s++) {
        seen[s] = lb_hash_key("x", 1, s);
        for (uint64_t t = 0; t < s; t++)
            assert_true(seen[t] != seen[s]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(vectors_match),
        cmocka_unit_test(mapped_ipv6_hashes_as_ipv4),
        cmocka_unit_test(encodings_never_collide),
        cmocka_unit_test(seeds_change_hashes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
