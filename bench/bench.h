/* The microbenchmark harness: every bench program registers cases, each measured against a
 * baseline case in the same run, alternating A B A B, median of several runs. Output: one JSON
 * object per line:
 *   {"bench": NAME, "params": {...}, "ns_per_op": x, "baseline": NAME,
 *    "baseline_ns_per_op": y, "ratio": x / y}
 * `PROG --list` lists the cases; `PROG --case NAME --iters N` runs only NAME for N
 * operations (bench/callgrind.py uses it to count instructions per operation);
 * `PROG --quick` runs shorter (for smoke tests). */
#ifndef LB_BENCH_H
#define LB_BENCH_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct bench_case {
    const char *name;     /* unique in the program, e.g. "maglev_lookup" */
    const char *params;   /* a JSON object as text, e.g. "{\"n\": 1000, \"m\": 65537}" */
    const char *baseline; /* the name of this case's baseline case; NULL for a baseline */
    void *(*setup)(void); /* builds inputs once (may be NULL) */
    void (*run)(void *ctx, uint64_t ops); /* performs exactly @ops operations */
    void (*teardown)(void *ctx);          /* may be NULL */
};

/* Results go here so the optimiser cannot drop the work. */
static volatile uint64_t bench_sink;

/* The clock a program measures with: wall time by default; a program whose cases are long
 * memory-bound loops may define BENCH_CLOCK as CLOCK_THREAD_CPUTIME_ID before including this
 * file, so that time spent descheduled on a loaded machine is not counted. */
#ifndef BENCH_CLOCK
#define BENCH_CLOCK CLOCK_MONOTONIC
#endif

static inline double bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(BENCH_CLOCK, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static inline double bench_time(const struct bench_case *c, void *ctx, uint64_t ops)
{
    double t0 = bench_now_ns();
    c->run(ctx, ops);
    return (bench_now_ns() - t0) / (double)ops;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static inline const struct bench_case *bench_find(const struct bench_case *cases, size_t n,
                                                  const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (name && !strcmp(cases[i].name, name))
            return &cases[i];
    return NULL;
}

/* Operations for about @target_ns of work. */
static inline uint64_t bench_calibrate(const struct bench_case *c, void *ctx, double target_ns)
{
    uint64_t ops = 16;
    for (;;) {
        double ns = bench_time(c, ctx, ops) * (double)ops;
        if (ns > target_ns / 8 || ops > (1ull << 34))
            return (uint64_t)((double)ops * target_ns / (ns > 1 ? ns : 1)) + 1;
        ops *= 8;
    }
}

static inline int bench_main(int argc, char **argv, const struct bench_case *cases, size_t n)
{
    int quick = 0;
    const char *only = NULL;
    uint64_t iters = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--list")) {
            for (size_t k = 0; k < n; k++)
                printf("%s\n", cases[k].name);
            return 0;
        } else if (!strcmp(argv[i], "--quick")) {
            quick = 1;
        } else if (!strcmp(argv[i], "--case") && i + 1 < argc) {
            only = argv[++i];
        } else if (!strcmp(argv[i], "--iters") && i + 1 < argc) {
            iters = strtoull(argv[++i], NULL, 10);
        } else {
            fprintf(stderr, "usage: %s [--list] [--quick] [--case NAME --iters N]\n", argv[0]);
            return 2;
        }
    }
    if (only) {
        const struct bench_case *c = bench_find(cases, n, only);
        if (!c || !iters) {
            fprintf(stderr, "unknown case '%s' or no --iters\n", only);
            return 2;
        }
        void *ctx = c->setup ? c->setup() : NULL;
        c->run(ctx, iters);
        if (c->teardown)
            c->teardown(ctx);
        return 0;
    }
    const int reps = quick ? 3 : 7;
    const double target = quick ? 5e6 : 4e7;
    for (size_t k = 0; k < n; k++) {
        const struct bench_case *c = &cases[k], *b = bench_find(cases, n, c->baseline);
        if (!c->baseline)
            continue;
        if (!b) {
            fprintf(stderr, "case %s: baseline %s not found\n", c->name, c->baseline);
            return 1;
        }
        void *cx = c->setup ? c->setup() : NULL;
        void *bx = b->setup ? b->setup() : NULL;
        uint64_t cops = bench_calibrate(c, cx, target), bops = bench_calibrate(b, bx, target);
        double ct[16], bt[16];
        for (int r = 0; r < reps; r++) { /* A B A B */
            ct[r] = bench_time(c, cx, cops);
            bt[r] = bench_time(b, bx, bops);
        }
        qsort(ct, (size_t)reps, sizeof(double), bench_cmp_double);
        qsort(bt, (size_t)reps, sizeof(double), bench_cmp_double);
        double cm = ct[reps / 2], bm = bt[reps / 2];
        printf("{\"bench\": \"%s\", \"params\": %s, \"ns_per_op\": %.3f, \"baseline\": \"%s\", "
               "\"baseline_ns_per_op\": %.3f, \"ratio\": %.3f}\n",
               c->name, c->params ? c->params : "{}", cm, b->name, bm, bm > 0 ? cm / bm : 0.0);
        fflush(stdout);
        if (c->teardown)
            c->teardown(cx);
        if (b->teardown)
            b->teardown(bx);
    }
    return 0;
}

#endif /* LB_BENCH_H */
