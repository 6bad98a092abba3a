/* lbtool chash: build a consistent-hash ring from targets given on the command line, map a
 * key stream onto it, and place the same stream with bounded loads. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb.h"
#include "lbtool.h"
#include "targetset.h"

static const char chash_help[] =
    "usage: lbtool chash --target KEY[=WEIGHT]... [--points-per-weight P] [--keys N]\n"
    "                    [--distinct D] [--zipf] [--seed S] [--balance-factor C]\n"
    "                    [--lookup-key S]...\n\n"
    "Builds a consistent-hash ring (include/lb/chash.h) and prints it as JSON.\n"
    "  --target KEY[=W]       a target: its key and weight 0-65535 (default 1); repeatable\n"
    "  --points-per-weight P  ring points per unit of weight (default 160)\n"
    "  --keys N               length of the key stream (default 10000)\n"
    "  --distinct D           distinct keys \"key-0\" .. \"key-(D-1)\" (default N), hashed\n"
    "                         with lb_hash_key(seed 0)\n"
    "  --zipf                 draw keys with probability 1/(k+1) (Zipf, s = 1) instead of\n"
    "                         taking them in turn\n"
    "  --seed S               seed of the Zipf draws (default 1)\n"
    "  --balance-factor C     also place the stream with bounded loads, factor C >= 1\n"
    "                         (e.g. 1.25); connections are never released\n"
    "  --lookup-key S         look up lb_hash_key(S, seed 0); repeatable\n"
    "Output: points, points_per_weight, stream, targets (in the order given: key, weight,\n"
    "points, keys, share), max_over_avg (largest keys / (N x weight / total weight)),\n"
    "bounded {balance_factor, targets [{key, load, bound}], max_load, max_over_avg, moved},\n"
    "lookups [{key, hash, target}].\n";

struct stream {
    uint64_t n, distinct, seed;
    int zipf;
    double *cdf; /* Zipf CDF over the distinct keys */
};

static uint64_t next_random(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* The hash of the stream's @i-th key. */
static uint64_t stream_hash(struct stream *st, uint64_t i, uint64_t *rng)
{
    uint64_t k = i % st->distinct;
    if (st->zipf) {
        double u = (double)(next_random(rng) >> 11) / 9007199254740992.0;
        uint64_t lo = 0, hi = st->distinct - 1;
        while (lo < hi) {
            uint64_t mid = (lo + hi) / 2;
            if (st->cdf[mid] < u)
                lo = mid + 1;
            else
                hi = mid;
        }
        k = lo;
    }
    char buf[32];
    int len = snprintf(buf, sizeof(buf), "key-%llu", (unsigned long long)k);
    return lb_hash_key(buf, (size_t)len, 0);
}

static int stream_init(struct stream *st)
{
    if (!st->zipf)
        return 0;
    st->cdf = malloc(st->distinct * sizeof(double));
    if (!st->cdf)
        return -ENOMEM;
    double sum = 0;
    for (uint64_t k = 0; k < st->distinct; k++)
        sum += 1.0 / (double)(k + 1);
    double acc = 0;
    for (uint64_t k = 0; k < st->distinct; k++) {
        acc += 1.0 / (double)(k + 1) / sum;
        st->cdf[k] = acc;
    }
    st->cdf[st->distinct - 1] = 1.0;
    return 0;
}

static uint64_t weight_total(const struct lbt_ts_list *l)
{
    uint64_t w = 0;
    for (size_t i = 0; i < l->n; i++)
        w += l->weight[i];
    return w;
}

static void distribution(cJSON *out, const lb_chash *ring, const struct lbt_ts_list *l,
                         struct stream *st)
{
    uint64_t *hits = calloc(l->n, sizeof(uint64_t));
    uint32_t *points = calloc(l->n, sizeof(uint32_t));
    if (!hits || !points)
        goto out;
    for (uint32_t i = 0; i < lb_chash_target_count(ring); i++) {
        uint32_t id, p;
        if (lb_chash_target_at(ring, i, &id, NULL, &p) == 0)
            points[id] = p;
    }
    uint64_t rng = st->seed;
    for (uint64_t i = 0; i < st->n; i++) {
        uint32_t id = lb_chash_lookup(ring, stream_hash(st, i, &rng));
        if (id != LB_NO_TARGET)
            hits[id]++;
    }
    const double wsum = (double)weight_total(l);
    double worst = 0;
    cJSON *list = cJSON_AddArrayToObject(out, "targets");
    for (size_t i = 0; i < l->n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "key", l->key[i]);
        cJSON_AddNumberToObject(o, "weight", l->weight[i]);
        cJSON_AddNumberToObject(o, "points", points[i]);
        cJSON_AddNumberToObject(o, "keys", (double)hits[i]);
        cJSON_AddNumberToObject(o, "share", st->n ? (double)hits[i] / (double)st->n : 0);
        cJSON_AddItemToArray(list, o);
        if (l->weight[i] && st->n) {
            double r = (double)hits[i] / ((double)st->n * l->weight[i] / wsum);
            worst = r > worst ? r : worst;
        }
    }
    cJSON_AddNumberToObject(out, "max_over_avg", worst);
out:
    free(hits);
    free(points);
}

/* Places the whole stream with bounded loads on a ring sharing @loads. */
static int bounded(cJSON *out, const lb_pool *pool, const struct lbt_ts_list *l, struct stream *st,
                   uint32_t ppw, uint32_t pct)
{
    lb_loads *loads = NULL;
    lb_chash *ring = NULL;
    int err = lb_loads_new(&loads, (uint32_t)l->n);
    for (size_t i = 0; !err && i < l->n; i++)
        err = lb_loads_track(loads, (uint32_t)i, NULL);
    lb_chash_options o = {.struct_size = sizeof(o), .points_per_weight = ppw, .loads = loads};
    if (!err)
        err = lb_chash_new(&ring, pool, &o);
    uint64_t rng = st->seed, moved = 0;
    for (uint64_t i = 0; !err && i < st->n; i++) {
        uint64_t h = stream_hash(st, i, &rng);
        uint32_t id;
        err = lb_chash_pick_bounded(ring, h, pct, &id);
        moved += !err && id != lb_chash_lookup(ring, h);
    }
    if (!err) {
        cJSON *b = cJSON_AddObjectToObject(out, "bounded");
        cJSON_AddNumberToObject(b, "balance_factor", pct / 100.0);
        cJSON *list = cJSON_AddArrayToObject(b, "targets");
        const double wsum = (double)weight_total(l), total = (double)lb_loads_total(loads);
        double worst = 0;
        uint32_t max_load = 0;
        for (size_t i = 0; i < l->n; i++) {
            uint32_t slot = 0, load = 0;
            uint64_t bound = 0;
            if (lb_loads_slot(loads, (uint32_t)i, &slot) == 0)
                load = lb_loads_get(loads, slot);
            if (l->weight[i])
                lb_chash_bound(ring, (uint32_t)i, pct, lb_loads_total(loads), &bound);
            cJSON *t = cJSON_CreateObject();
            cJSON_AddStringToObject(t, "key", l->key[i]);
            cJSON_AddNumberToObject(t, "load", load);
            cJSON_AddNumberToObject(t, "bound", (double)bound);
            cJSON_AddItemToArray(list, t);
            max_load = load > max_load ? load : max_load;
            if (l->weight[i] && total > 0) {
                double r = load / (total * l->weight[i] / wsum);
                worst = r > worst ? r : worst;
            }
        }
        cJSON_AddNumberToObject(b, "max_load", max_load);
        cJSON_AddNumberToObject(b, "max_over_avg", worst);
        cJSON_AddNumberToObject(b, "moved", (double)moved);
    }
    lb_chash_free(ring);
    lb_loads_free(loads);
    return err;
}

static int parse_factor(const char *s, uint32_t *pct)
{
    char *end;
    errno = 0;
    double c = strtod(s, &end);
    if (errno || *end || end == s || !(c >= 1.0 && c <= 1000.0))
        return -1;
    *pct = (uint32_t)(c * 100.0 + 0.5);
    return 0;
}

/* The options of lbtool chash besides the target set's. */
struct chash_opts {
    struct stream st;
    uint64_t ppw;
    uint32_t pct; /* balance factor in percent; 0: none */
};

static int chash_option(void *ctx, int c, const char *arg)
{
    struct chash_opts *o = ctx;
    switch (c) {
    case 'p':
        return lbt_parse_u64(arg, LB_CHASH_MAX_POINTS, &o->ppw) || o->ppw == 0 ? -1 : 0;
    case 'n':
        return lbt_parse_u64(arg, 100000000, &o->st.n);
    case 'D':
        return lbt_parse_u64(arg, 10000000, &o->st.distinct) || o->st.distinct == 0 ? -1 : 0;
    case 'z':
        o->st.zipf = 1;
        return 0;
    case 'S':
        return lbt_parse_u64(arg, UINT64_MAX, &o->st.seed);
    default: /* 'c' */
        return parse_factor(arg, &o->pct);
    }
}

static uint32_t lookup(const void *ring, uint64_t h)
{
    return lb_chash_lookup(ring, h);
}

/* Builds the ring, maps the stream and prints the result. */
static int chash_run(const struct lbt_ts *ts, void *ctx)
{
    struct chash_opts *o = ctx;
    struct stream *st = &o->st;
    if (!st->distinct)
        st->distinct = st->n ? st->n : 1;
    if (stream_init(st))
        return lbt_fail(-ENOMEM, NULL);
    lb_chash *ring = NULL;
    lb_chash_options co = {.struct_size = sizeof(co), .points_per_weight = (uint32_t)o->ppw};
    int err = lb_chash_new(&ring, ts->pool, &co);
    if (err) {
        free(st->cdf);
        return lbt_fail(err, "cannot build the ring: %s", lb_strerror(err));
    }
    cJSON *out = cJSON_CreateObject();
    cJSON_AddNumberToObject(out, "points", lb_chash_point_count(ring));
    cJSON_AddNumberToObject(out, "points_per_weight", (double)o->ppw);
    cJSON *s = cJSON_AddObjectToObject(out, "stream");
    cJSON_AddNumberToObject(s, "keys", (double)st->n);
    cJSON_AddNumberToObject(s, "distinct", (double)st->distinct);
    cJSON_AddStringToObject(s, "distribution", st->zipf ? "zipf" : "uniform");
    cJSON_AddNumberToObject(s, "seed", (double)st->seed);
    distribution(out, ring, &ts->targets, st);
    int rc;
    if (o->pct && (err = bounded(out, ts->pool, &ts->targets, st, (uint32_t)o->ppw, o->pct)) != 0) {
        cJSON_Delete(out);
        rc = lbt_fail(err, "bounded placement failed: %s", lb_strerror(err));
    } else {
        lbt_ts_add_lookups(out, ts, lookup, ring, NULL);
        rc = lbt_print(out);
    }
    lb_chash_free(ring);
    free(st->cdf);
    return rc;
}

int lbt_cmd_chash(int argc, char **argv)
{
    static const struct option own[] = {{"points-per-weight", required_argument, 0, 'p'},
                                        {"keys", required_argument, 0, 'n'},
                                        {"distinct", required_argument, 0, 'D'},
                                        {"zipf", no_argument, 0, 'z'},
                                        {"seed", required_argument, 0, 'S'},
                                        {"balance-factor", required_argument, 0, 'c'},
                                        {0, 0, 0, 0}};
    struct chash_opts o = {.st = {10000, 0, 1, 0, NULL}, .ppw = LB_CHASH_DEFAULT_POINTS};
    const struct lbt_ts_cmd cmd = {"chash", chash_help, 0, own, chash_option, chash_run, &o};
    return lbt_ts_main(&cmd, argc, argv);
}
