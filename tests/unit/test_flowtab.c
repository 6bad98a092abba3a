/* The flow table: keys, insert/lookup/touch, idle expiry at its boundary, LRU eviction,
 * removal, capacity and memory, bad arguments, and a randomized check of every call and
 * every reported end against a plain reference model (lists of slots, 64-bit times). */
#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "lbtest.h"
#include "lb/flowtab.h"
#include "lb/hash.h"

/* Sanitizers replace malloc: mallinfo2() then says nothing about the heap. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define LBT_SANITIZED_MALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) ||                    \
    __has_feature(memory_sanitizer)
#define LBT_SANITIZED_MALLOC 1
#endif
#endif

/* ---- helpers ------------------------------------------------------------------------------ */

#define SEED 0x5eed5eed12345678ull

/* Flow number n: an IPv4 client 10.x.y.z:port to 192.0.2.1:53, or an IPv6 one when odd
 * n is asked for with v6. */
static lb_flowtab_key key_of(uint32_t n, int v6)
{
    lb_flowtab_key k;
    uint16_t sport = (uint16_t)(1024 + n % 60000);
    if (v6) {
        uint8_t src[16] = {0x20, 0x01, 0x0d, 0xb8}, dst[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 1};
        memcpy(src + 12, &n, 4);
        dst[15] = 1;
        assert_lb_ok(lb_flowtab_key6(&k, src, dst, sport, 53, 17, SEED));
    } else {
        uint8_t src[4] = {10, (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
        uint8_t dst[4] = {192, 0, 2, 1};
        assert_lb_ok(lb_flowtab_key4(&k, src, dst, sport, 53, 17, SEED));
    }
    return k;
}

/* What the end callback saw. */
#define MAX_ENDS 4096
struct ends {
    uint32_t n;
    uint32_t reason[MAX_ENDS], target[MAX_ENDS];
    uint64_t data[MAX_ENDS], last_use[MAX_ENDS];
    lb_flowtab_key key[MAX_ENDS];
};

static void on_end(void *user, const lb_flowtab_end *e)
{
    struct ends *s = user;
    assert_int_equal(e->struct_size, sizeof(lb_flowtab_end));
    assert_non_null(e->key);
    if (s->n < MAX_ENDS) {
        s->reason[s->n] = e->reason;
        s->target[s->n] = e->target;
        s->data[s->n] = e->data;
        s->last_use[s->n] = e->last_use_ms;
        s->key[s->n] = *e->key;
    }
    s->n++;
}

static uint32_t policy = LB_FLOWTAB_EVICT_LRU; /* of the tables table() makes */

static lb_flowtab *table(uint32_t capacity, uint32_t idle, struct ends *ends)
{
    lb_flowtab_config cfg;
    lb_flowtab_config_init(&cfg, sizeof(cfg));
    cfg.evict = policy;
    cfg.capacity = capacity;
    cfg.idle_timeout_ms = idle;
    cfg.on_end = ends ? on_end : NULL;
    cfg.user = ends;
    lb_flowtab *t;
    assert_lb_ok(lb_flowtab_new(&t, &cfg));
    return t;
}

static lb_flowtab_stats stats(const lb_flowtab *t)
{
    lb_flowtab_stats s;
    memset(&s, 0, sizeof(s));
    s.struct_size = sizeof(s);
    assert_lb_ok(lb_flowtab_get_stats(t, &s));
    return s;
}

/* ---- keys --------------------------------------------------------------------------------- */

static void keys_match_hash(void **state)
{
    (void)state;
    uint8_t s4[4] = {198, 51, 100, 7}, d4[4] = {203, 0, 113, 9};
    uint8_t s6[16], d6[16], m6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 51, 100, 7};
    uint8_t md6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 203, 0, 113, 9};
    inet_pton(AF_INET6, "2001:db8::1", s6);
    inet_pton(AF_INET6, "2001:db8::2", d6);
    lb_flowtab_key k;
    assert_lb_ok(lb_flowtab_key4(&k, s4, d4, 40000, 53, 17, 7));
    assert_int_equal(k.len, 16);
    assert_int_equal(k.enc[0], LB_HASH_TAG_FLOW4);
    assert_true(k.hash == lb_hash_flow4(s4, d4, 40000, 53, 17, 7));
    for (size_t i = 16; i < sizeof(k.enc); i++)
        assert_int_equal(k.enc[i], 0);
    lb_flowtab_key k6;
    assert_lb_ok(lb_flowtab_key6(&k6, s6, d6, 40000, 53, 17, 7));
    assert_int_equal(k6.len, 48);
    assert_int_equal(k6.enc[0], LB_HASH_TAG_FLOW6);
    assert_true(k6.hash == lb_hash_flow6(s6, d6, 40000, 53, 17, 7));
    /* both mapped: the IPv4 key */
    lb_flowtab_key km;
    assert_lb_ok(lb_flowtab_key6(&km, m6, md6, 40000, 53, 17, 7));
    assert_memory_equal(&km, &k, sizeof(k));
    /* from socket addresses, an AF_INET source with a mapped AF_INET6 destination */
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(40000);
    memcpy(&sa.sin_addr, s4, 4);
    struct sockaddr_in6 da = {0};
    da.sin6_family = AF_INET6;
    da.sin6_port = htons(53);
    memcpy(&da.sin6_addr, md6, 16);
    lb_flowtab_key ks;
    assert_lb_ok(lb_flowtab_key_sockaddr(&ks, (struct sockaddr *)&sa, (struct sockaddr *)&da,
                                         17, 7));
    assert_memory_equal(&ks, &k, sizeof(k));
    uint64_t h;
    assert_lb_ok(lb_hash_flow_sockaddr((struct sockaddr *)&sa, (struct sockaddr *)&da, 17, 7, &h));
    assert_true(h == ks.hash);
    /* IPv4 with a non-mapped IPv6 address, another family, NULLs */
    struct sockaddr_in6 v6 = {0};
    v6.sin6_family = AF_INET6;
    memcpy(&v6.sin6_addr, d6, 16);
    assert_lb_err(lb_flowtab_key_sockaddr(&ks, (struct sockaddr *)&sa, (struct sockaddr *)&v6,
                                          17, 7),
                  -EAFNOSUPPORT);
    struct sockaddr un = {0};
    un.sa_family = AF_UNIX;
    assert_lb_err(lb_flowtab_key_sockaddr(&ks, &un, &un, 17, 7), -EAFNOSUPPORT);
    assert_lb_err(lb_flowtab_key4(NULL, s4, d4, 1, 2, 17, 0), -EINVAL);
    assert_lb_err(lb_flowtab_key4(&k, NULL, d4, 1, 2, 17, 0), -EINVAL);
    assert_lb_err(lb_flowtab_key6(&k, s6, NULL, 1, 2, 17, 0), -EINVAL);
    assert_lb_err(lb_flowtab_key_sockaddr(&k, NULL, &un, 17, 0), -EINVAL);
    /* shards: in range, and every shard used */
    uint32_t seen = 0;
    for (uint32_t n = 0; n < 200; n++) {
        lb_flowtab_key x = key_of(n, 0);
        uint32_t s = lb_flowtab_shard(&x, 4);
        assert_true(s < 4);
        seen |= 1u << s;
    }
    assert_int_equal(seen, 0xf);
    assert_int_equal(lb_flowtab_shard(NULL, 4), 0);
    assert_int_equal(lb_flowtab_shard(&k, 0), 0);
}

/* ---- the per-packet calls ------------------------------------------------------------------ */

static void insert_lookup_touch(void **state)
{
    (void)state;
    struct ends ends = {0};
    lb_flowtab *t = table(1024, 30000, &ends);
    for (uint32_t n = 0; n < 500; n++) {
        lb_flowtab_key k = key_of(n, n & 1);
        assert_int_equal(lb_flowtab_insert(t, &k, n % 7, 1000 + n, 100), 0);
    }
    for (uint32_t n = 0; n < 500; n++) {
        lb_flowtab_key k = key_of(n, n & 1);
        uint32_t target = 99;
        uint64_t data = 0;
        assert_lb_ok(lb_flowtab_lookup(t, &k, 200, &target, &data));
        assert_int_equal(target, n % 7);
        assert_int_equal(data, 1000 + n);
        /* the other family's key of the same number is another flow */
        lb_flowtab_key other = key_of(n, !(n & 1));
        assert_lb_err(lb_flowtab_lookup(t, &other, 200, NULL, NULL), LB_E_FLOWTAB_NOT_FOUND);
    }
    lb_flowtab_stats s = stats(t);
    assert_int_equal(s.active, 500);
    assert_int_equal(s.inserted, 500);
    assert_int_equal(s.lookups, 1000);
    assert_int_equal(s.hits, 500);
    assert_int_equal(s.capacity, 1024);
    /* replace: a new target and data, counted, no new flow */
    lb_flowtab_key k = key_of(3, 1);
    assert_int_equal(lb_flowtab_insert(t, &k, 42, 4242, 300), 1);
    uint32_t target;
    uint64_t data, last;
    assert_lb_ok(lb_flowtab_peek(t, &k, 300, &target, &data, &last));
    assert_int_equal(target, 42);
    assert_int_equal(data, 4242);
    assert_int_equal(last, 300);
    /* touch moves the last use; peek does not */
    assert_lb_ok(lb_flowtab_touch(t, &k, 450));
    assert_lb_ok(lb_flowtab_peek(t, &k, 600, NULL, NULL, &last));
    assert_int_equal(last, 450);
    lb_flowtab_key absent = key_of(100000, 0);
    assert_lb_err(lb_flowtab_touch(t, &absent, 450), LB_E_FLOWTAB_NOT_FOUND);
    assert_lb_err(lb_flowtab_peek(t, &absent, 450, NULL, NULL, NULL), LB_E_FLOWTAB_NOT_FOUND);
    s = stats(t);
    assert_int_equal(s.active, 500);
    assert_int_equal(s.replaced, 1);
    assert_int_equal(s.inserted, 500);
    assert_int_equal(ends.n, 0);
    lb_flowtab_free(t);
}

static void idle_expiry_boundary(void **state)
{
    (void)state;
    struct ends ends = {0};
    lb_flowtab *t = table(64, 1000, &ends);
    lb_flowtab_key k = key_of(1, 0);
    assert_int_equal(lb_flowtab_insert(t, &k, 5, 55, 5000), 0);
    assert_lb_ok(lb_flowtab_lookup(t, &k, 5999, NULL, NULL)); /* idle 999: alive, touched */
    assert_lb_ok(lb_flowtab_peek(t, &k, 6998, NULL, NULL, NULL)); /* idle 999 */
    assert_lb_err(lb_flowtab_peek(t, &k, 6999, NULL, NULL, NULL), LB_E_FLOWTAB_NOT_FOUND);
    assert_int_equal(ends.n, 0); /* peek removes nothing */
    assert_lb_err(lb_flowtab_lookup(t, &k, 6999, NULL, NULL), LB_E_FLOWTAB_NOT_FOUND);
    assert_int_equal(ends.n, 1);
    assert_int_equal(ends.reason[0], LB_FLOWTAB_END_EXPIRED);
    assert_int_equal(ends.target[0], 5);
    assert_int_equal(ends.data[0], 55);
    assert_int_equal(ends.last_use[0], 5999);
    assert_memory_equal(&ends.key[0], &k, sizeof(k));
    lb_flowtab_stats s = stats(t);
    assert_int_equal(s.active, 0);
    assert_int_equal(s.expired, 1);
    assert_int_equal(s.hits, 1);
    /* a time earlier than one seen counts as that time */
    assert_int_equal(lb_flowtab_insert(t, &k, 6, 66, 10), 0);
    assert_lb_ok(lb_flowtab_peek(t, &k, 0, NULL, NULL, NULL));
    assert_lb_err(lb_flowtab_peek(t, &k, 7999, NULL, NULL, NULL), LB_E_FLOWTAB_NOT_FOUND);
    /* expiry through the incremental call, with a budget */
    assert_int_equal(lb_flowtab_expire(t, 7998, 8), 0);
    assert_int_equal(lb_flowtab_expire(t, 7999, 0), 0);
    assert_int_equal(lb_flowtab_expire(t, 7999, 1000), 1);
    assert_int_equal(ends.n, 2);
    assert_int_equal(ends.last_use[1], 6999);
    /* times past 2^32 ms and long pauses: last uses stay exact */
    uint64_t base = (1ull << 32) - 300;
    for (uint32_t n = 0; n < 20; n++) {
        lb_flowtab_key x = key_of(n, 1);
        assert_int_equal(lb_flowtab_insert(t, &x, n, n, base + n * 40), 0);
    }
    for (uint32_t n = 0; n < 20; n++) {
        lb_flowtab_key x = key_of(n, 1);
        uint64_t last;
        assert_lb_ok(lb_flowtab_peek(t, &x, base + 999, NULL, NULL, &last));
        assert_true(last == base + n * 40);
    }
    /* 3 * 2^32 ms later every flow is idle, although its 32-bit stamp looks fresh */
    uint64_t later = base + 3 * (1ull << 32);
    lb_flowtab_key x0 = key_of(0, 1);
    assert_lb_err(lb_flowtab_peek(t, &x0, later, NULL, NULL, NULL), LB_E_FLOWTAB_NOT_FOUND);
    ends.n = 0;
    assert_int_equal(lb_flowtab_expire(t, later, 1000), 20);
    assert_int_equal(ends.n, 20);
    for (uint32_t i = 0; i < 20; i++) {
        assert_int_equal(ends.reason[i], LB_FLOWTAB_END_EXPIRED);
        assert_true(ends.last_use[i] == base + ends.target[i] * 40);
    }
    assert_int_equal(stats(t).active, 0);
    lb_flowtab_free(t);
}

static void expire_is_incremental(void **state)
{
    (void)state;
    struct ends ends = {0};
    lb_flowtab *t = table(4096, 100, &ends);
    uint32_t nb = lb_flowtab_buckets(t);
    assert_int_equal(nb, 512);
    for (uint32_t n = 0; n < 3000; n++) {
        lb_flowtab_key k = key_of(n, n & 1);
        assert_true(lb_flowtab_insert(t, &k, 1, n, 1000) >= 0);
    }
    uint64_t active = stats(t).active;
    assert_true(active > 2900);
    /* at most 8 flows per visited bucket; after nb buckets in all, nothing is left */
    int64_t total = 0;
    for (uint32_t step = 0; step < nb / 16; step++) {
        int64_t r = lb_flowtab_expire(t, 2000, 16);
        assert_true(r >= 0 && r <= 16 * 8);
        total += r;
    }
    assert_int_equal(total, active);
    assert_int_equal(ends.n, active);
    assert_int_equal(stats(t).active, 0);
    assert_int_equal(stats(t).expired, active);
    assert_int_equal(lb_flowtab_expire(t, 3000, UINT32_MAX), 0);
    lb_flowtab_free(t);
}

/* One bucket (capacity 8): the least recently used flow is the one evicted. */
static void lru_eviction(void **state)
{
    (void)state;
    struct ends ends = {0};
    lb_flowtab *t = table(8, 60000, &ends);
    assert_int_equal(lb_flowtab_capacity(t), 8);
    for (uint32_t n = 0; n < 8; n++) {
        lb_flowtab_key k = key_of(n, 0);
        assert_int_equal(lb_flowtab_insert(t, &k, n, n, 10 + n), 0);
    }
    lb_flowtab_key k0 = key_of(0, 0), k1 = key_of(1, 0), k2 = key_of(2, 0);
    assert_lb_ok(lb_flowtab_lookup(t, &k0, 100, NULL, NULL)); /* 0 used last: 1 is LRU */
    lb_flowtab_key k8 = key_of(8, 0);
    assert_int_equal(lb_flowtab_insert(t, &k8, 8, 8, 101), 0);
    assert_int_equal(ends.n, 1);
    assert_int_equal(ends.reason[0], LB_FLOWTAB_END_EVICTED);
    assert_memory_equal(&ends.key[0], &k1, sizeof(k1));
    assert_int_equal(ends.target[0], 1);
    assert_int_equal(ends.last_use[0], 11);
    assert_lb_err(lb_flowtab_peek(t, &k1, 101, NULL, NULL, NULL), LB_E_FLOWTAB_NOT_FOUND);
    assert_lb_ok(lb_flowtab_peek(t, &k0, 101, NULL, NULL, NULL));
    assert_lb_ok(lb_flowtab_touch(t, &k2, 102)); /* now 3 is LRU */
    lb_flowtab_key k9 = key_of(9, 0);
    assert_int_equal(lb_flowtab_insert(t, &k9, 9, 9, 103), 0);
    assert_int_equal(ends.n, 2);
    assert_int_equal(ends.target[1], 3);
    lb_flowtab_stats s = stats(t);
    assert_int_equal(s.evicted, 2);
    assert_int_equal(s.active, 8);
    assert_int_equal(s.inserted, 10);
    /* an idle flow is taken before a live one is evicted (and counted as expired) */
    lb_flowtab_key k10 = key_of(10, 0);
    assert_int_equal(lb_flowtab_insert(t, &k10, 10, 10, 60014), 0); /* 4 idle since 14 */
    assert_int_equal(ends.n, 3);
    assert_int_equal(ends.reason[2], LB_FLOWTAB_END_EXPIRED);
    assert_int_equal(ends.target[2], 4);
    assert_int_equal(stats(t).evicted, 2);
    assert_int_equal(stats(t).expired, 1);
    lb_flowtab_free(t);
}

/* One bucket: with EVICT_NEW_FIRST, a flow seen again outlives older one-packet flows. */
static void new_first_eviction(void **state)
{
    (void)state;
    for (int pass = 0; pass < 2; pass++) {
        struct ends ends = {0};
        policy = pass ? LB_FLOWTAB_EVICT_NEW_FIRST : LB_FLOWTAB_EVICT_LRU;
        lb_flowtab *t = table(8, 60000, &ends);
        policy = LB_FLOWTAB_EVICT_LRU;
        lb_flowtab_key k0 = key_of(0, 0);
        assert_int_equal(lb_flowtab_insert(t, &k0, 0, 0, 10), 0);
        assert_lb_ok(lb_flowtab_lookup(t, &k0, 11, NULL, NULL)); /* seen again, at 11 */
        for (uint32_t n = 1; n < 8; n++) {
            lb_flowtab_key k = key_of(n, 0);
            assert_int_equal(lb_flowtab_insert(t, &k, n, n, 11 + n), 0);
        }
        lb_flowtab_key k8 = key_of(8, 0);
        assert_int_equal(lb_flowtab_insert(t, &k8, 8, 8, 30), 0);
        assert_int_equal(ends.n, 1);
        assert_int_equal(ends.reason[0], LB_FLOWTAB_END_EVICTED);
        /* LRU: flow 0 (last used at 11); new first: flow 1, the oldest one-packet flow */
        assert_int_equal(ends.target[0], pass ? 1 : 0);
        if (pass) {
            /* once every flow has been seen again, the least recently used goes */
            for (uint32_t n = 2; n < 9; n++) {
                lb_flowtab_key k = key_of(n, 0);
                assert_lb_ok(lb_flowtab_touch(t, &k, 30 + n));
            }
            lb_flowtab_key k9 = key_of(9, 0);
            assert_int_equal(lb_flowtab_insert(t, &k9, 9, 9, 50), 0);
            assert_int_equal(ends.n, 2);
            assert_int_equal(ends.target[1], 0);
        }
        lb_flowtab_free(t);
    }
}

static void remove_and_remove_target(void **state)
{
    (void)state;
    struct ends ends = {0};
    lb_flowtab *t = table(2048, 60000, &ends);
    for (uint32_t n = 0; n < 1000; n++) {
        lb_flowtab_key k = key_of(n, n & 1);
        assert_int_equal(lb_flowtab_insert(t, &k, n % 4, n, 1), 0);
    }
    lb_flowtab_key k = key_of(5, 1);
    assert_lb_ok(lb_flowtab_remove(t, &k, 2));
    assert_lb_err(lb_flowtab_remove(t, &k, 2), LB_E_FLOWTAB_NOT_FOUND);
    assert_lb_err(lb_flowtab_lookup(t, &k, 2, NULL, NULL), LB_E_FLOWTAB_NOT_FOUND);
    assert_int_equal(ends.n, 1);
    assert_int_equal(ends.reason[0], LB_FLOWTAB_END_REMOVED);
    /* the flow moves: its next packet creates it on another target */
    assert_int_equal(lb_flowtab_insert(t, &k, 3, 5, 3), 0);
    /* target 2 goes: its 250 flows, no other */
    ends.n = 0;
    assert_int_equal(lb_flowtab_remove_target(t, 2, 4), 250);
    assert_int_equal(ends.n, 250);
    for (uint32_t i = 0; i < 250; i++) {
        assert_int_equal(ends.reason[i], LB_FLOWTAB_END_TARGET_REMOVED);
        assert_int_equal(ends.target[i], 2);
        assert_int_equal(ends.data[i] % 4, 2);
    }
    assert_int_equal(lb_flowtab_remove_target(t, 2, 5), 0);
    for (uint32_t n = 0; n < 1000; n++) {
        lb_flowtab_key x = key_of(n, n & 1);
        uint32_t target;
        int rc = lb_flowtab_peek(t, &x, 5, &target, NULL, NULL);
        if (n % 4 == 2)
            assert_lb_err(rc, LB_E_FLOWTAB_NOT_FOUND);
        else
            assert_lb_ok(rc);
    }
    lb_flowtab_stats s = stats(t);
    assert_int_equal(s.removed, 251);
    assert_int_equal(s.active, 750);
    assert_int_equal(lb_flowtab_remove_target(NULL, 1, 0), -EINVAL);
    lb_flowtab_free(t);
}

/* ---- capacity and memory -------------------------------------------------------------------- */

static void capacity_and_memory(void **state)
{
    (void)state;
    /* rounded up to whole buckets; memory as stated */
    lb_flowtab *t = table(1001, 1000, NULL);
    assert_int_equal(lb_flowtab_capacity(t), 1008);
    assert_int_equal(lb_flowtab_buckets(t), 126);
    uint64_t mem = lb_flowtab_memory(t);
    assert_true(mem == lb_flowtab_memory_for(1001));
    assert_true(mem >= 1008ull * LB_FLOWTAB_ENTRY_BYTES);
    assert_true(mem <= 1008ull * LB_FLOWTAB_ENTRY_BYTES + 1024);
    assert_true(stats(t).memory_bytes == mem);
    lb_flowtab_free(t);
    assert_true(lb_flowtab_memory_for(0) == 0);
    assert_true(lb_flowtab_memory_for(LB_FLOWTAB_CAPACITY_MAX + 1u) == 0);
    assert_true(lb_flowtab_memory_for(LB_FLOWTAB_CAPACITY_MAX) >=
                (uint64_t)LB_FLOWTAB_CAPACITY_MAX * LB_FLOWTAB_ENTRY_BYTES);

    /* A flood of new flows: never more than the capacity, every flow accounted for. Most of
     * the capacity fills before the first eviction. */
    struct ends ends = {0};
    const uint32_t cap = 1u << 16;
    t = table(cap, 60000, &ends);
#ifndef LBT_SANITIZED_MALLOC
    struct mallinfo2 before = mallinfo2();
#endif
    uint64_t first_eviction = 0;
    for (uint32_t n = 0; n < 4 * cap; n++) {
        lb_flowtab_key k = key_of(n, n % 3 == 0);
        assert_int_equal(lb_flowtab_insert(t, &k, n & 15, n, 1 + n / 64), 0);
        lb_flowtab_stats s = stats(t);
        assert_true(s.active <= cap);
        if (!first_eviction && s.evicted)
            first_eviction = n;
        assert_true(s.inserted == s.active + s.evicted);
        if (n % 7 == 0) {
            lb_flowtab_key old = key_of(n / 2, (n / 2) % 3 == 0);
            int rc = lb_flowtab_lookup(t, &old, 1 + n / 64, NULL, NULL);
            assert_true(rc == 0 || rc == LB_E_FLOWTAB_NOT_FOUND);
        }
    }
    assert_true(first_eviction > cap * 9 / 10); /* doc/flowtab.md: 93% */
    assert_int_equal(stats(t).active, cap);     /* full in the steady state */
    assert_true(lb_flowtab_expire(t, 1ull << 40, UINT32_MAX) == cap);
    assert_true(lb_flowtab_remove_target(t, 1, 1ull << 40) == 0);
#ifndef LBT_SANITIZED_MALLOC
    /* nothing allocated after creation */
    struct mallinfo2 after = mallinfo2();
    assert_true(after.uordblks == before.uordblks);
    assert_true(after.hblkhd == before.hblkhd);
#endif
    assert_int_equal(ends.n, 4 * cap);
    lb_flowtab_free(t);

#ifndef LBT_SANITIZED_MALLOC
    /* the memory stated is the memory allocated */
    struct mallinfo2 m0 = mallinfo2();
    t = table(1u << 20, 1000, NULL);
    struct mallinfo2 m1 = mallinfo2();
    uint64_t got = (m1.uordblks + m1.hblkhd) - (m0.uordblks + m0.hblkhd);
    assert_true(got >= lb_flowtab_memory(t));
    assert_true(got <= lb_flowtab_memory(t) + 8192);
    lb_flowtab_free(t);
#endif
}

/* ---- bad arguments ------------------------------------------------------------------------ */

static void bad_arguments(void **state)
{
    (void)state;
    lb_flowtab *t;
    lb_flowtab_config cfg;
    lb_flowtab_config_init(&cfg, sizeof(cfg));
    assert_int_equal(cfg.struct_size, sizeof(cfg));
    assert_int_equal(cfg.capacity, 65536);
    assert_int_equal(cfg.idle_timeout_ms, LB_FLOWTAB_IDLE_DEFAULT);
    assert_null(cfg.on_end);
    assert_lb_err(lb_flowtab_new(NULL, &cfg), -EINVAL);
    cfg.capacity = 0;
    assert_lb_err(lb_flowtab_new(&t, &cfg), -EINVAL);
    assert_null(t);
    cfg.capacity = LB_FLOWTAB_CAPACITY_MAX + 1u;
    assert_lb_err(lb_flowtab_new(&t, &cfg), -EINVAL);
    cfg.capacity = 8;
    cfg.idle_timeout_ms = 0;
    assert_lb_err(lb_flowtab_new(&t, &cfg), -EINVAL);
    cfg.idle_timeout_ms = LB_FLOWTAB_IDLE_MAX + 1u;
    assert_lb_err(lb_flowtab_new(&t, &cfg), -EINVAL);
    cfg.idle_timeout_ms = 10;
    cfg.evict = 2;
    assert_lb_err(lb_flowtab_new(&t, &cfg), -EINVAL);
    cfg.evict = LB_FLOWTAB_EVICT_LRU;
    /* struct sizes: too small, a newer caller's zero tail (accepted) and non-zero tail */
    cfg.struct_size = 8;
    assert_lb_err(lb_flowtab_new(&t, &cfg), LB_E_STRUCT_SIZE);
    struct {
        lb_flowtab_config c;
        uint64_t extra;
    } newer;
    memset(&newer, 0, sizeof(newer));
    lb_flowtab_config_init(&newer.c, sizeof(newer));
    assert_int_equal(newer.c.struct_size, sizeof(newer));
    assert_int_equal(newer.c.capacity, 65536);
    newer.c.capacity = 16;
    assert_lb_ok(lb_flowtab_new(&t, &newer.c));
    assert_int_equal(lb_flowtab_capacity(t), 16);
    lb_flowtab_free(t);
    newer.extra = 1;
    assert_lb_err(lb_flowtab_new(&t, &newer.c), LB_E_STRUCT_TOO_NEW);
    lb_flowtab_config_init(NULL, sizeof(cfg));
    /* defaults from NULL */
    assert_lb_ok(lb_flowtab_new(&t, NULL));
    assert_int_equal(lb_flowtab_capacity(t), 65536);
    /* keys */
    lb_flowtab_key k = key_of(1, 0), bad = k;
    bad.len = 20;
    assert_lb_err(lb_flowtab_insert(t, &bad, 1, 1, 1), -EINVAL);
    assert_lb_err(lb_flowtab_lookup(t, &bad, 1, NULL, NULL), -EINVAL);
    assert_lb_err(lb_flowtab_insert(NULL, &k, 1, 1, 1), -EINVAL);
    assert_lb_err(lb_flowtab_insert(t, NULL, 1, 1, 1), -EINVAL);
    assert_lb_err(lb_flowtab_lookup(NULL, &k, 1, NULL, NULL), -EINVAL);
    assert_lb_err(lb_flowtab_lookup(t, NULL, 1, NULL, NULL), -EINVAL);
    assert_lb_err(lb_flowtab_peek(NULL, &k, 1, NULL, NULL, NULL), -EINVAL);
    assert_lb_err(lb_flowtab_touch(t, NULL, 1), -EINVAL);
    assert_lb_err(lb_flowtab_remove(t, &bad, 1), -EINVAL);
    assert_true(lb_flowtab_expire(NULL, 1, 1) == -EINVAL);
    assert_int_equal(stats(t).lookups, 0); /* rejected calls count nothing */
    /* stats struct sizes */
    lb_flowtab_stats s;
    memset(&s, 0, sizeof(s));
    s.struct_size = 8;
    assert_lb_err(lb_flowtab_get_stats(t, &s), LB_E_STRUCT_SIZE);
    assert_lb_err(lb_flowtab_get_stats(t, NULL), -EINVAL);
    assert_lb_err(lb_flowtab_get_stats(NULL, &s), -EINVAL);
    struct {
        lb_flowtab_stats s;
        uint64_t extra;
    } big;
    memset(&big, 0xaa, sizeof(big));
    big.s.struct_size = sizeof(big);
    assert_lb_ok(lb_flowtab_get_stats(t, &big.s));
    assert_int_equal(big.s.struct_size, sizeof(big));
    assert_int_equal(big.extra, 0); /* a newer caller's tail is zeroed */
    assert_int_equal(big.s.capacity, 65536);
    lb_flowtab_free(t);
    lb_flowtab_free(NULL);
    assert_int_equal(lb_flowtab_capacity(NULL), 0);
    assert_true(lb_flowtab_memory(NULL) == 0);
    assert_string_equal(lb_flowtab_end_name(LB_FLOWTAB_END_EXPIRED), "expired");
    assert_string_equal(lb_flowtab_end_name(LB_FLOWTAB_END_EVICTED), "evicted");
    assert_string_equal(lb_flowtab_end_name(LB_FLOWTAB_END_REMOVED), "removed");
    assert_string_equal(lb_flowtab_end_name(LB_FLOWTAB_END_TARGET_REMOVED), "target_removed");
    assert_string_equal(lb_flowtab_end_name(0), "unknown");
    assert_string_equal(lb_err_name(LB_E_FLOWTAB_NOT_FOUND), "LB_E_FLOWTAB_NOT_FOUND");
}

/* ---- the model check ---------------------------------------------------------------------- */

/* The reference: buckets of 8 slots holding a flow number and its last use (64-bit), with
 * the documented rules written plainly (doc/flowtab.md): a flow is in one of the buckets
 * b0 = floor(lo32(hash) * B / 2^32) and b0 + 1 + floor(lo32(tag * 0x9E3779B1) * (B - 1) / 2^32)
 * (mod B); idle when now - last_use >= idle; a lookup of an idle flow, an insert and a
 * removal by target first remove the idle flows of the buckets they write (a touch does only
 * when the bucket's last such reap is 2^31 ms old); a new flow goes to the bucket with more
 * free slots (the first on a tie), lowest free slot; else, below 31/32 of the capacity, a
 * flow of its buckets (first bucket first, lowest slot first) moves to a free slot of its
 * other bucket; else the least recently used of the 16 (first bucket first, lowest slot first
 * on a tie) goes; with EVICT_NEW_FIRST, of those not looked up or touched since their
 * insert when there are any. */
#define MB    8 /* buckets */
#define MKEYS 300

struct model {
    int used[MB][8];
    uint32_t flow[MB][8];
    uint64_t last[MB][8];
    uint64_t reaped[MB];
    int seen[MB][8];
    uint32_t evict;
    uint32_t target[MKEYS];
    uint64_t data[MKEYS];
    uint64_t clock, idle;
    uint32_t cursor;
    struct ends want; /* the ends the model reports */
};

static lb_flowtab_key mkeys[MKEYS];

static void model_bucket(uint32_t f, uint32_t b[2])
{
    uint64_t h = mkeys[f].hash;
    uint16_t tag = (uint16_t)(((h ^ (h >> 31)) * 0x9E3779B97F4A7C15ull) >> 48);
    tag = tag ? tag : 1;
    b[0] = (uint32_t)(((uint64_t)(uint32_t)h * MB) >> 32);
    uint32_t off = 1 + (uint32_t)(((uint64_t)(uint32_t)(tag * 0x9E3779B1u) * (MB - 1)) >> 32);
    b[1] = (b[0] + off) % MB;
}

static int64_t model_reap(struct model *m, uint32_t b);

static int model_free_slot(const struct model *m, uint32_t b)
{
    for (int i = 0; i < 8; i++)
        if (!m->used[b][i])
            return i;
    return -1;
}

/* Moves the flow of slot i of bucket b to its other bucket when that has a free slot. */
static int model_move_out(struct model *m, uint32_t b, int i)
{
    uint32_t g = m->flow[b][i], gb[2];
    model_bucket(g, gb);
    uint32_t alt = gb[0] == b ? gb[1] : gb[0];
    if (model_free_slot(m, alt) < 0)
        return 0;
    model_reap(m, alt);
    int j = model_free_slot(m, alt);
    m->used[alt][j] = 1;
    m->flow[alt][j] = g;
    m->last[alt][j] = m->last[b][i];
    m->seen[alt][j] = m->seen[b][i];
    m->used[b][i] = 0;
    return 1;
}

static void model_end(struct model *m, uint32_t b, int i, uint32_t reason)
{
    struct ends *w = &m->want;
    uint32_t f = m->flow[b][i];
    if (w->n < MAX_ENDS) {
        w->reason[w->n] = reason;
        w->target[w->n] = m->target[f];
        w->data[w->n] = m->data[f];
        w->last_use[w->n] = m->last[b][i];
        w->key[w->n] = mkeys[f];
    }
    w->n++;
    m->used[b][i] = 0;
}

static int64_t model_reap(struct model *m, uint32_t b)
{
    int64_t n = 0;
    for (int i = 0; i < 8; i++)
        if (m->used[b][i] && m->clock - m->last[b][i] >= m->idle) {
            model_end(m, b, i, LB_FLOWTAB_END_EXPIRED);
            n++;
        }
    m->reaped[b] = m->clock;
    return n;
}

static int model_find(struct model *m, uint32_t f, uint32_t *bo, int *io)
{
    uint32_t b[2];
    model_bucket(f, b);
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 8; i++)
            if (m->used[b[k]][i] && m->flow[b[k]][i] == f) {
                *bo = b[k];
                *io = i;
                return 1;
            }
    return 0;
}

static void model_time(struct model *m, uint64_t now)
{
    if (now > m->clock)
        m->clock = now;
}

static int model_get(struct model *m, uint32_t f, uint64_t now, int use, uint32_t *bo, int *io)
{
    model_time(m, now);
    if (!model_find(m, f, bo, io))
        return LB_E_FLOWTAB_NOT_FOUND;
    if (m->clock - m->last[*bo][*io] >= m->idle) {
        model_reap(m, *bo);
        return LB_E_FLOWTAB_NOT_FOUND;
    }
    if (use) {
        if (m->clock - m->reaped[*bo] >= (1ull << 31))
            model_reap(m, *bo);
        m->last[*bo][*io] = m->clock;
        m->seen[*bo][*io] = 1;
    }
    return 0;
}

static int model_insert(struct model *m, uint32_t f, uint32_t target, uint64_t data,
                        uint64_t now)
{
    model_time(m, now);
    uint32_t b, bk[2];
    int i;
    if (model_find(m, f, &b, &i)) {
        model_reap(m, b);
        if (m->used[b][i]) {
            m->target[f] = target;
            m->data[f] = data;
            m->last[b][i] = m->clock;
            return 1;
        }
    }
    model_bucket(f, bk);
    model_reap(m, bk[0]);
    if (bk[1] != bk[0])
        model_reap(m, bk[1]);
    int nfree[2] = {0, 0};
    for (int k = 0; k < 2; k++)
        for (int j = 0; j < 8; j++)
            nfree[k] += !m->used[bk[k]][j];
    if (bk[1] == bk[0])
        nfree[1] = 0;
    int active = 0, moved = 0;
    for (uint32_t bb = 0; bb < MB; bb++)
        for (int j = 0; j < 8; j++)
            active += m->used[bb][j];
    if (nfree[0] || nfree[1]) {
        b = bk[nfree[1] > nfree[0]];
        for (i = 0; m->used[b][i]; i++)
            ;
        moved = 1;
    } else if (active < MB * 8 - MB * 8 / 32) { /* room elsewhere: move a flow */
        for (int k = 0; k < 2 && !moved; k++)
            for (int j = 0; j < 8 && !moved; j++)
                if (model_move_out(m, bk[k], j)) {
                    b = bk[k];
                    i = j;
                    moved = 1;
                }
    }
    if (!moved) {
        /* the candidates: all 16, or with NEW_FIRST the unseen ones if there are any */
        int only_unseen = 0;
        if (m->evict == LB_FLOWTAB_EVICT_NEW_FIRST)
            for (int k = 0; k < 2; k++)
                for (int j = 0; j < 8; j++)
                    only_unseen |= !m->seen[bk[k]][j];
        int found = 0;
        for (int k = 0; k < 2; k++)
            for (int j = 0; j < 8; j++) {
                if (only_unseen && m->seen[bk[k]][j])
                    continue;
                if (!found || m->last[bk[k]][j] < m->last[b][i]) {
                    b = bk[k];
                    i = j;
                    found = 1;
                }
            }
        model_end(m, b, i, LB_FLOWTAB_END_EVICTED);
    }
    m->used[b][i] = 1;
    m->flow[b][i] = f;
    m->last[b][i] = m->clock;
    m->seen[b][i] = 0;
    m->target[f] = target;
    m->data[f] = data;
    return 0;
}

static void check_ends(const struct ends *got, const struct ends *want)
{
    assert_int_equal(got->n, want->n);
    for (uint32_t i = 0; i < got->n && i < MAX_ENDS; i++) {
        assert_int_equal(got->reason[i], want->reason[i]);
        assert_int_equal(got->target[i], want->target[i]);
        assert_true(got->data[i] == want->data[i]);
        assert_true(got->last_use[i] == want->last_use[i]);
        assert_memory_equal(&got->key[i], &want->key[i], sizeof(lb_flowtab_key));
    }
}

static void model_run(uint64_t seed, uint64_t start, uint32_t idle, int ops, int all_ends,
                      uint32_t evict)
{
    struct ends *got = calloc(1, sizeof(*got));
    struct model *m = calloc(1, sizeof(*m));
    m->idle = idle;
    m->clock = 0;
    m->evict = evict;
    policy = evict;
    lb_flowtab *t = table(MB * 8, idle, got);
    policy = LB_FLOWTAB_EVICT_LRU;
    assert_int_equal(lb_flowtab_buckets(t), MB);
    for (uint32_t f = 0; f < MKEYS; f++)
        mkeys[f] = key_of(f * 7919u, f & 1);
    uint64_t now = start;
    for (int op = 0; op < ops; op++) {
        uint64_t r = lbt_rand(&seed);
        uint32_t f = (uint32_t)(r >> 32) % MKEYS;
        /* time: mostly small steps, sometimes the idle timeout, rarely more than 2^32 ms */
        uint32_t dt = (uint32_t)(r >> 8) % 1000;
        if (dt < 700)
            now += dt % 4;
        else if (dt < 997)
            now += dt % (idle / 256 + 1);
        else if (dt < 999)
            now += idle - 1 + dt % 3;
        else
            now += (1ull << 32) + dt;
        uint64_t at = (r & 0xff) == 0 ? now - 50 : now; /* now and then, a time from the past */
        got->n = m->want.n = 0;
        int rc, want;
        uint32_t kind = (uint32_t)(r >> 20) % 100, b;
        int i;
        if (kind < 40) {
            uint32_t tg = (uint32_t)(r >> 40) % 5;
            rc = lb_flowtab_insert(t, &mkeys[f], tg, r, at);
            want = model_insert(m, f, tg, r, at);
        } else if (kind < 75) {
            uint32_t tg = 99;
            uint64_t d = 0;
            rc = lb_flowtab_lookup(t, &mkeys[f], at, &tg, &d);
            want = model_get(m, f, at, 1, &b, &i);
            if (want == 0) {
                assert_int_equal(tg, m->target[f]);
                assert_true(d == m->data[f]);
            }
        } else if (kind < 82) {
            rc = lb_flowtab_touch(t, &mkeys[f], at);
            want = model_get(m, f, at, 1, &b, &i);
        } else if (kind < 90) {
            uint64_t last = 0;
            rc = lb_flowtab_peek(t, &mkeys[f], at, NULL, NULL, &last);
            uint64_t c = m->clock > at ? m->clock : at;
            want = model_find(m, f, &b, &i) && c - m->last[b][i] < m->idle
                       ? 0
                       : LB_E_FLOWTAB_NOT_FOUND;
            if (want == 0)
                assert_true(last == m->last[b][i]);
        } else if (kind < 95) {
            rc = lb_flowtab_remove(t, &mkeys[f], at);
            want = model_get(m, f, at, 0, &b, &i);
            if (want == 0)
                model_end(m, b, i, LB_FLOWTAB_END_REMOVED);
        } else if (kind < 97) {
            uint32_t tg = (uint32_t)(r >> 40) % 5;
            rc = (int)lb_flowtab_remove_target(t, tg, at);
            model_time(m, at);
            want = 0;
            for (uint32_t bb = 0; bb < MB; bb++) {
                int any = 0;
                for (int j = 0; j < 8; j++)
                    any |= m->used[bb][j];
                if (!any)
                    continue;
                model_reap(m, bb);
                for (int j = 0; j < 8; j++)
                    if (m->used[bb][j] && m->target[m->flow[bb][j]] == tg) {
                        model_end(m, bb, j, LB_FLOWTAB_END_TARGET_REMOVED);
                        want++;
                    }
            }
        } else {
            uint32_t budget = (uint32_t)(r >> 40) % 5;
            rc = (int)lb_flowtab_expire(t, at, budget);
            model_time(m, at);
            want = 0;
            for (uint32_t k = 0; k < budget; k++) {
                want += (int)model_reap(m, m->cursor);
                m->cursor = (m->cursor + 1) % MB;
            }
        }
        if (rc != want)
            fail_msg("op %d kind %u: got %d (%s), want %d (%s)", op, kind, rc, lb_err_name(rc),
                     want, lb_err_name(want));
        check_ends(got, &m->want);
        /* the whole content agrees */
        if (op % 64 == 0) {
            uint64_t live = 0;
            for (uint32_t bb = 0; bb < MB; bb++)
                for (int j = 0; j < 8; j++)
                    live += m->used[bb][j];
            assert_true(stats(t).active == live);
            for (uint32_t g = 0; g < MKEYS; g++) {
                uint32_t tg;
                int p = lb_flowtab_peek(t, &mkeys[g], 0, &tg, NULL, NULL);
                int w = model_find(m, g, &b, &i) && m->clock - m->last[b][i] < m->idle;
                assert_int_equal(p == 0, w);
                if (w)
                    assert_int_equal(tg, m->target[g]);
            }
        }
    }
    lb_flowtab_stats s = stats(t);
    if (all_ends) /* every kind of end happened */
        assert_true(s.evicted > 100 && s.expired > 100 && s.removed > 100 && s.replaced > 100);
    else
        assert_true(s.expired > 1000);
    assert_true(s.inserted == s.active + s.evicted + s.expired + s.removed);
    lb_flowtab_free(t);
    free(m);
    free(got);
}

static void model_check(void **state)
{
    (void)state;
    for (uint32_t evict = 0; evict < 2; evict++) {
        model_run(1, 1000, 5000, 200000, 1, evict);
        model_run(2, (1ull << 32) - 20000, 60000, 200000, 1, evict); /* across 2^32 ms */
        model_run(3, 0, 1, 50000, 0, evict); /* everything idles at once */
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(keys_match_hash),
        cmocka_unit_test(insert_lookup_touch),
        cmocka_unit_test(idle_expiry_boundary),
        cmocka_unit_test(expire_is_incremental),
        cmocka_unit_test(lru_eviction),
        cmocka_unit_test(new_first_eviction),
        cmocka_unit_test(remove_and_remove_target),
        cmocka_unit_test(capacity_and_memory),
        cmocka_unit_test(bad_arguments),
        cmocka_unit_test(model_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
