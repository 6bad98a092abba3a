/* lbtool leastconn: a seeded workload of connections with random durations, placed by a
 * least-connections selector; prints each target's peak and mean active connections. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb.h"
#include "lbtool.h"

static const char leastconn_help[] =
    "usage: lbtool leastconn --target KEY=W... [--connections N] [--rate R]\n"
    "                        [--mean-duration D] [--mode M] [--choices K]\n"
    "                        [--drain KEY]... [--seed S]\n\n"
    "Simulates a workload: connection k arrives at time k / R and lasts a time drawn\n"
    "uniformly from [0, 2D) (seeded); connections that have ended are released before\n"
    "each arrival. Each arrival is placed by a least-connections selector\n"
    "(doc/stateful-selectors.md). Targets named by --drain take no new connections.\n"
    "  --target KEY=W      a target: key and weight 0..65535 (repeatable)\n"
    "  --connections N     connections to simulate, 1..10000000 (default 10000)\n"
    "  --rate R            arrivals per time unit, 1..1000000 (default 10)\n"
    "  --mean-duration D   mean connection duration in time units, 1..1000000 (default 50)\n"
    "  --mode M            exact (default), choices (power of k choices), scalable or\n"
    "                      choices-scalable (per-thread counts published in batches,\n"
    "                      doc/stateful-selectors.md)\n"
    "  --choices K         samples per pick in the choices modes, 1..16 (default 2)\n"
    "  --drain KEY         exclude a target from new picks (repeatable)\n"
    "  --seed S            workload and sampling seed (default 1)\n"
    "Output: {\"mode\", \"connections\", \"targets\": [{\"key\", \"weight\", \"picks\",\n"
    "         \"peak_active\", \"mean_active\"}]}; means are over the arrival instants.\n";

/* The selector's modes by name (--mode, and "mode" in the output). */
static const struct {
    const char *name;
    uint32_t mode;
} modes[] = {
    {"exact", LB_LEASTCONN_EXACT},
    {"choices", LB_LEASTCONN_CHOICES},
    {"scalable", LB_LEASTCONN_SCALABLE},
    {"choices-scalable", LB_LEASTCONN_CHOICES_SCALABLE},
};

static int mode_of(const char *name, uint32_t *mode)
{
    for (size_t k = 0; k < sizeof(modes) / sizeof(modes[0]); k++)
        if (!strcmp(modes[k].name, name)) {
            *mode = modes[k].mode;
            return 0;
        }
    return -1;
}

static const char *mode_name(uint32_t mode)
{
    for (size_t k = 0; k < sizeof(modes) / sizeof(modes[0]); k++)
        if (modes[k].mode == mode)
            return modes[k].name;
    return "unknown";
}

static uint64_t next_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Open connections by end time: a binary min-heap (the workload, not the selection). */
struct conn {
    double end;
    uint32_t id;
};

static void conn_push(struct conn *h, size_t *n, struct conn c)
{
    size_t k = (*n)++;
    while (k && h[(k - 1) / 2].end > c.end) {
        h[k] = h[(k - 1) / 2];
        k = (k - 1) / 2;
    }
    h[k] = c;
}

static struct conn conn_pop(struct conn *h, size_t *n)
{
    struct conn top = h[0], last = h[--(*n)];
    size_t k = 0;
    for (;;) {
        size_t c = 2 * k + 1;
        if (c >= *n)
            break;
        if (c + 1 < *n && h[c + 1].end < h[c].end)
            c++;
        if (h[c].end >= last.end)
            break;
        h[k] = h[c];
        k = c;
    }
    if (*n)
        h[k] = last;
    return top;
}

struct sim {
    uint64_t conns, rate, duration, seed;
    lb_leastconn_options opts;
    lb_pool *pool;
    uint32_t ntargets;
    uint64_t *picks, *peak;
    double *sum;
};

static int simulate(struct sim *s, lb_leastconn *lc)
{
    struct conn *heap = malloc(s->conns * sizeof(*heap));
    if (!heap)
        return -ENOMEM;
    size_t open = 0;
    uint64_t rs = s->seed;
    int rc = 0;
    for (uint64_t k = 0; k < s->conns && !rc; k++) {
        double now = (double)k / (double)s->rate;
        while (open && heap[0].end <= now && !rc)
            rc = lb_leastconn_release(lc, conn_pop(heap, &open).id);
        uint32_t id;
        if (!rc)
            rc = lb_leastconn_pick(lc, &id);
        if (rc)
            break;
        s->picks[id]++;
        double u = ((double)(next_rand(&rs) >> 11) + 0.5) / 9007199254740992.0;
        conn_push(heap, &open, (struct conn){now + 2.0 * u * (double)s->duration, id});
        for (uint32_t t = 0; t < s->ntargets; t++) {
            uint32_t a = 0;
            lb_leastconn_active(lc, t, &a);
            s->peak[t] = a > s->peak[t] ? a : s->peak[t];
            s->sum[t] += a;
        }
    }
    free(heap);
    return rc;
}

static int run(struct sim *s, char **drain, int ndrain)
{
    lb_loads *loads;
    lb_leastconn *lc = NULL;
    int rc = lb_loads_new(&loads, s->ntargets);
    if (!rc)
        rc = lb_leastconn_new(&lc, s->pool, loads, &s->opts);
    for (int d = 0; !rc && d < ndrain; d++) {
        uint32_t id;
        rc = lb_pool_find_key(s->pool, drain[d], strlen(drain[d]), &id);
        if (!rc)
            rc = lb_leastconn_set_excluded(lc, id, 1);
    }
    if (!rc)
        rc = simulate(s, lc);
    lb_leastconn_free(lc);
    lb_loads_free(loads);
    return rc;
}

int lbt_cmd_leastconn(int argc, char **argv)
{
    static const struct option opts[] = {
        {"target", required_argument, 0, 't'}, {"connections", required_argument, 0, 'n'},
        {"rate", required_argument, 0, 'r'},   {"mean-duration", required_argument, 0, 'd'},
        {"mode", required_argument, 0, 'm'},   {"choices", required_argument, 0, 'k'},
        {"drain", required_argument, 0, 'D'},  {"seed", required_argument, 0, 's'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
    struct sim s = {10000, 10, 50,   1,    {sizeof(lb_leastconn_options), 0, 0, 0, 1},
                    NULL,  0,  NULL, NULL, NULL};
    char *drain[64];
    int ndrain = 0, c, rc = 0, usage = 0;
    uint64_t v;
    if (lb_pool_new(&s.pool))
        return lbt_fail(-ENOMEM, NULL);
    opterr = 0;
    while (!usage && (c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'h':
            lb_pool_free(s.pool);
            fputs(leastconn_help, stdout);
            return LBT_EXIT_OK;
        case 't':
            rc = lbt_add_weighted_target(s.pool, s.ntargets++, optarg);
            usage = rc == 1;
            if (rc < 0) {
                lb_pool_free(s.pool);
                return lbt_fail(rc, "cannot add target '%s': %s", optarg, lb_strerror(rc));
            }
            break;
        case 'n':
            usage = lbt_parse_u64(optarg, 10000000, &s.conns) || !s.conns;
            break;
        case 'r':
            usage = lbt_parse_u64(optarg, 1000000, &s.rate) || !s.rate;
            break;
        case 'd':
            usage = lbt_parse_u64(optarg, 1000000, &s.duration) || !s.duration;
            break;
        case 'm':
            usage = mode_of(optarg, &s.opts.mode) != 0;
            break;
        case 'k':
            usage = lbt_parse_u64(optarg, 16, &v) || !v;
            s.opts.choices = (uint32_t)v;
            break;
        case 'D':
            usage = ndrain == 64;
            if (!usage)
                drain[ndrain++] = optarg;
            break;
        case 's':
            usage = lbt_parse_u64(optarg, UINT64_MAX, &s.seed);
            s.opts.seed = s.seed;
            break;
        default:
            usage = 1;
        }
    }
    if (usage || optind < argc || !s.ntargets) {
        lb_pool_free(s.pool);
        if (usage)
            return lbt_usage("leastconn", "bad option or value: '%s'", argv[optind - 1]);
        if (optind < argc)
            return lbt_usage("leastconn", "unexpected argument '%s'", argv[optind]);
        return lbt_usage("leastconn", "need at least one --target");
    }
    s.picks = calloc(s.ntargets, sizeof(uint64_t));
    s.peak = calloc(s.ntargets, sizeof(uint64_t));
    s.sum = calloc(s.ntargets, sizeof(double));
    rc = s.picks && s.peak && s.sum ? run(&s, drain, ndrain) : -ENOMEM;
    cJSON *out = NULL;
    if (!rc) {
        out = cJSON_CreateObject();
        cJSON_AddStringToObject(out, "mode", mode_name(s.opts.mode));
        cJSON_AddNumberToObject(out, "connections", (double)s.conns);
        cJSON *list = cJSON_AddArrayToObject(out, "targets");
        for (uint32_t t = 0; t < s.ntargets; t++) {
            lb_target_info ti = {sizeof(ti), 0, 0, 0, NULL, 0};
            char *key = lbt_target_key(s.pool, t);
            lb_pool_get(s.pool, t, &ti);
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "key", key ? key : "");
            cJSON_AddNumberToObject(o, "weight", ti.weight);
            cJSON_AddNumberToObject(o, "picks", (double)s.picks[t]);
            cJSON_AddNumberToObject(o, "peak_active", (double)s.peak[t]);
            cJSON_AddNumberToObject(o, "mean_active",
                                    (double)(uint64_t)(s.sum[t] / (double)s.conns * 1000 + 0.5) /
                                        1000);
            cJSON_AddItemToArray(list, o);
            free(key);
        }
    }
    free(s.picks);
    free(s.peak);
    free(s.sum);
    lb_pool_free(s.pool);
    if (rc)
        return lbt_fail(rc, "simulation failed: %s", lb_strerror(rc));
    return lbt_print(out);
}
