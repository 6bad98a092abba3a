/* Flow hashing: lb_hash_flow4 over varied tuples against XXH3 of the same 16 bytes packed by
 * hand (the bare hash). */
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "bench.h"
#include "lb/hash.h"

#define NFLOWS 4096

struct flows {
    uint8_t src[NFLOWS][4], dst[NFLOWS][4];
    uint16_t sport[NFLOWS], dport[NFLOWS];
    uint64_t packed[NFLOWS][2];
};

static void *setup(void)
{
    struct flows *f = malloc(sizeof(*f));
    uint64_t s = 42;
    for (int i = 0; i < NFLOWS; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        memcpy(f->src[i], &s, 4);
        memcpy(f->dst[i], (uint8_t *)&s + 4, 4);
        f->sport[i] = (uint16_t)(s >> 17);
        f->dport[i] = (uint16_t)(s >> 40);
        uint8_t *p = (uint8_t *)f->packed[i];
        memset(p, 0, 16);
        p[0] = 4;
        p[1] = 6;
        memcpy(p + 2, &f->sport[i], 2);
        memcpy(p + 4, &f->dport[i], 2);
        memcpy(p + 8, f->src[i], 4);
        memcpy(p + 12, f->dst[i], 4);
    }
    return f;
}

static void run_flow4(void *ctx, uint64_t ops)
{
    struct flows *f = ctx;
    uint64_t acc = 0;
    for (uint64_t i = 0; i < ops; i++) {
        unsigned k = (unsigned)(i & (NFLOWS - 1));
        acc += lb_hash_flow4(f->src[k], f->dst[k], f->sport[k], f->dport[k], 6, 0);
    }
    bench_sink = acc;
}

static void run_xxh3(void *ctx, uint64_t ops)
{
    struct flows *f = ctx;
    uint64_t acc = 0;
    for (uint64_t i = 0; i < ops; i++)
        acc += XXH3_64bits_withSeed(f->packed[i & (NFLOWS - 1)], 16, 0);
    bench_sink = acc;
}

int main(int argc, char **argv)
{
    static const struct bench_case cases[] = {
        {"xxh3_16_bytes", "{}", NULL, setup, run_xxh3, free},
        {"hash_flow4", "{}", "xxh3_16_bytes", setup, run_flow4, free},
    };
    return bench_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
