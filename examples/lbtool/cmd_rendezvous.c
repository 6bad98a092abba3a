/* lbtool rendezvous: build a weighted rendezvous selector from targets given on the command
 * line and describe it: shares of a key set, what moves with a change, lookups of keys. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb.h"
#include "lbtool.h"
#include "targetset.h"

#define KEYS_MAX 10000000u

static const char rendezvous_help[] =
    "usage: lbtool rendezvous --target KEY[=WEIGHT]... [--remove KEY]... [--add KEY[=WEIGHT]]...\n"
    "                         [--set KEY=WEIGHT]... [--keys N] [--lookup-key S]...\n\n"
    "Builds a weighted rendezvous selector (doc/rendezvous.md) and prints it as JSON.\n"
    "  --target KEY[=W]     a target: its key and weight 0-65535 (default 1); repeatable\n"
    "  --remove KEY         remove a target for the changed selector (\"after\"); repeatable\n"
    "  --add KEY[=W]        add a target for the changed selector; repeatable\n"
    "  --set KEY=W          change a target's weight for the changed selector; repeatable\n"
    "  --keys N             route the keys \"0\" .. \"N-1\" (lb_hash_key(S, seed 0)); at most\n"
    "                       10000000\n"
    "  --lookup-key S       look up lb_hash_key(S, seed 0); repeatable\n"
    "Output: targets (in the order given: key, weight, expected share = weight / total, and\n"
    "with --keys: keys, share), with --keys: keys, max_over_avg; with a change: after\n"
    "{targets, max_over_avg} and with --keys: moved (keys whose target changed);\n"
    "with --lookup-key: lookups [{key, hash, target, target_after}].\n";

static uint64_t key_hash(uint64_t k)
{
    char s[24];
    int n = snprintf(s, sizeof(s), "%llu", (unsigned long long)k);
    return lb_hash_key(s, (size_t)n, 0);
}

/* The "targets" array and max_over_avg of a selector built from @pool; @counts (by pool
 * position, NULL without --keys) holds the keys each target won. */
static void describe(cJSON *obj, const lb_pool *pool, const uint64_t *counts, uint64_t keys)
{
    cJSON *list = cJSON_AddArrayToObject(obj, "targets");
    const size_t n = lb_pool_count(pool);
    const uint64_t wsum = lbt_ts_weight_sum(pool);
    lb_target_info ti = {.struct_size = sizeof(ti)};
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        if (lb_pool_at(pool, i, &ti))
            continue;
        double expected = wsum ? ti.weight / (double)wsum : 0;
        cJSON *o = cJSON_CreateObject();
        lbt_ts_add_key(o, "key", ti.key, ti.key_len);
        cJSON_AddNumberToObject(o, "weight", ti.weight);
        cJSON_AddNumberToObject(o, "expected", expected);
        if (counts) {
            double share = keys ? counts[i] / (double)keys : 0;
            cJSON_AddNumberToObject(o, "keys", (double)counts[i]);
            cJSON_AddNumberToObject(o, "share", share);
            if (expected > 0 && share / expected > worst)
                worst = share / expected;
        }
        cJSON_AddItemToArray(list, o);
    }
    if (counts)
        cJSON_AddNumberToObject(obj, "max_over_avg", worst);
}

/* Route the keys through @r: per pool position counts, and each key's target id in @ids. */
static int route(const lb_rendezvous *r, const lb_pool *pool, uint64_t keys, uint64_t **counts,
                 uint32_t *ids)
{
    size_t n = lb_pool_count(pool);
    *counts = calloc(n ? n : 1, sizeof(**counts));
    if (!*counts)
        return -ENOMEM;
    for (uint64_t k = 0; k < keys; k++) {
        uint32_t id = lb_rendezvous_lookup(r, key_hash(k));
        ids[k] = id;
        lb_target_info ti = {.struct_size = sizeof(ti)};
        for (size_t i = 0; id != LB_NO_TARGET && i < n; i++)
            if (lb_pool_at(pool, i, &ti) == 0 && ti.id == id) {
                (*counts)[i]++;
                break;
            }
    }
    return 0;
}

static uint32_t lookup(const void *r, uint64_t h)
{
    return lb_rendezvous_lookup(r, h);
}

static int rendezvous_option(void *ctx, int c, const char *arg)
{
    (void)c; /* 'k' */
    return lbt_parse_u64(arg, KEYS_MAX, ctx);
}

/* Builds the selectors, routes the keys and prints the result. */
static int rendezvous_run(const struct lbt_ts *ts, void *ctx)
{
    const uint64_t keys = *(const uint64_t *)ctx;
    lb_rendezvous *r = NULL, *r2 = NULL;
    uint64_t *counts = NULL, *counts2 = NULL;
    uint32_t *ids = NULL, *ids2 = NULL;
    cJSON *out;
    int rc, err;
    if ((err = lb_rendezvous_build(&r, ts->pool)) != 0 ||
        (ts->after && (err = lb_rendezvous_build(&r2, ts->after)) != 0)) {
        rc = lbt_fail(err, "cannot build the selector: %s", lb_strerror(err));
        goto done;
    }
    if (keys) {
        ids = malloc(keys * sizeof(*ids));
        ids2 = malloc(keys * sizeof(*ids2));
        if (!ids || !ids2 || route(r, ts->pool, keys, &counts, ids) ||
            (r2 && route(r2, ts->after, keys, &counts2, ids2))) {
            rc = lbt_fail(-ENOMEM, NULL);
            goto done;
        }
    }
    out = cJSON_CreateObject();
    describe(out, ts->pool, counts, keys);
    if (keys)
        cJSON_AddNumberToObject(out, "keys", (double)keys);
    if (r2) {
        describe(cJSON_AddObjectToObject(out, "after"), ts->after, counts2, keys);
        if (keys) {
            uint64_t moved = 0;
            for (uint64_t k = 0; k < keys; k++)
                moved += ids[k] != ids2[k];
            cJSON_AddNumberToObject(out, "moved", (double)moved);
        }
    }
    lbt_ts_add_lookups(out, ts, lookup, r, r2);
    rc = lbt_print(out);
done:
    lb_rendezvous_free(r);
    lb_rendezvous_free(r2);
    free(counts);
    free(counts2);
    free(ids);
    free(ids2);
    return rc;
}

int lbt_cmd_rendezvous(int argc, char **argv)
{
    static const struct option own[] = {{"keys", required_argument, 0, 'k'}, {0, 0, 0, 0}};
    uint64_t keys = 0;
    const struct lbt_ts_cmd cmd = {"rendezvous", rendezvous_help, LBT_TS_CHANGE | LBT_TS_SET,
                                   own, rendezvous_option, rendezvous_run, &keys};
    return lbt_ts_main(&cmd, argc, argv);
}
