/* lbtool maglev: build a Maglev table from targets given on the command line and describe it:
 * balance, digest, disruption of a change, lookups of keys. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb.h"
#include "lbtool.h"
#include "targetset.h"

static const char maglev_help[] =
    "usage: lbtool maglev [--size M] --target KEY[=WEIGHT]... [--remove KEY]...\n"
    "                     [--add KEY[=WEIGHT]]... [--lookup-key S]... [--dump]\n\n"
    "Builds a Maglev table (doc/maglev.md) and prints it as JSON.\n"
    "  --size M             table size, a prime (default 65537)\n"
    "  --target KEY[=W]     a target: its key and weight 0-65535 (default 1); repeatable\n"
    "  --remove KEY         remove a target for the changed table (\"after\"); repeatable\n"
    "  --add KEY[=W]        add a target for the changed table; repeatable\n"
    "  --lookup-key S       look up lb_hash_key(S, seed 0) in the table(s); repeatable\n"
    "  --dump               print the M entries (\"table\": index of the owner in \"targets\")\n"
    "Output: table_size, digest, targets (in the order given: key, weight, entries, share of\n"
    "the table), max_over_avg (the largest entries / (M x weight / total weight)), table,\n"
    "and with --remove/--add: after {targets, digest, max_over_avg}, slots_changed;\n"
    "with --lookup-key: lookups [{key, hash, target, target_after}].\n";

/* The "targets" array and max_over_avg of a table built from @pool. */
static void describe(cJSON *obj, const lb_pool *pool, const lb_maglev *t)
{
    cJSON *list = cJSON_AddArrayToObject(obj, "targets");
    const size_t n = lb_pool_count(pool);
    const uint64_t wsum = lbt_ts_weight_sum(pool);
    lb_target_info ti = {.struct_size = sizeof(ti)};
    const double m = lb_maglev_size(t);
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        if (lb_pool_at(pool, i, &ti))
            continue;
        uint32_t e = 0;
        if (lb_maglev_entries(t, ti.id, &e))
            e = 0; /* weight 0: not in the table */
        cJSON *o = cJSON_CreateObject();
        lbt_ts_add_key(o, "key", ti.key, ti.key_len);
        cJSON_AddNumberToObject(o, "weight", ti.weight);
        cJSON_AddNumberToObject(o, "entries", e);
        cJSON_AddNumberToObject(o, "share", e / m);
        cJSON_AddItemToArray(list, o);
        if (ti.weight) {
            double ratio = e / (m * ti.weight / (double)wsum);
            worst = ratio > worst ? ratio : worst;
        }
    }
    cJSON_AddNumberToObject(obj, "max_over_avg", worst);
}

/* Owner of slot @s as its position in @pool (insertion order), or -1. */
static void dump(cJSON *obj, const lb_pool *pool, const lb_maglev *t)
{
    const uint32_t m = lb_maglev_size(t);
    const size_t n = lb_pool_count(pool);
    /* Position in the pool of each table index. */
    uint32_t count = lb_maglev_target_count(t);
    long *pos = calloc(count ? count : 1, sizeof(long));
    int *entries = malloc((size_t)m * sizeof(int));
    if (!pos || !entries) {
        free(pos);
        free(entries);
        return;
    }
    lb_target_info ti = {.struct_size = sizeof(ti)};
    for (size_t i = 0; i < n; i++) {
        uint32_t idx;
        if (lb_pool_at(pool, i, &ti) == 0 && lb_maglev_index_of(t, ti.id, &idx) == 0)
            pos[idx] = (long)i;
    }
    for (uint32_t s = 0; s < m; s++) {
        uint32_t id = lb_maglev_slot_owner(t, s), idx;
        entries[s] = lb_maglev_index_of(t, id, &idx) == 0 ? (int)pos[idx] : -1;
    }
    cJSON_AddItemToObject(obj, "table", cJSON_CreateIntArray(entries, (int)m));
    free(pos);
    free(entries);
}

static uint32_t lookup(const void *t, uint64_t h)
{
    return lb_maglev_lookup(t, h);
}

/* The options of lbtool maglev besides the target set's. */
struct maglev_opts {
    uint64_t size;
    int dump;
};

static int maglev_option(void *ctx, int c, const char *arg)
{
    struct maglev_opts *o = ctx;
    if (c == 'd') {
        o->dump = 1;
        return 0;
    }
    return lbt_parse_u64(arg, UINT32_MAX, &o->size); /* 'm' */
}

/* Builds the tables and prints them. */
static int maglev_run(const struct lbt_ts *ts, void *ctx)
{
    const struct maglev_opts *o = ctx;
    lb_maglev *t = NULL, *t2 = NULL;
    cJSON *out;
    int rc, err = lb_maglev_build(&t, ts->pool, (uint32_t)o->size);
    if (err) {
        rc = lbt_fail(err, "cannot build a table of size %llu: %s", (unsigned long long)o->size,
                      lb_strerror(err));
        goto done;
    }
    if (ts->after && (err = lb_maglev_build(&t2, ts->after, (uint32_t)o->size)) != 0) {
        rc = lbt_fail(err, "cannot build the changed table: %s", lb_strerror(err));
        goto done;
    }
    out = cJSON_CreateObject();
    cJSON_AddNumberToObject(out, "table_size", lb_maglev_size(t));
    cJSON_AddItemToObject(out, "digest", lbt_hex64(lb_maglev_digest(t)));
    describe(out, ts->pool, t);
    if (o->dump)
        dump(out, ts->pool, t);
    if (t2) {
        cJSON *a = cJSON_AddObjectToObject(out, "after");
        cJSON_AddItemToObject(a, "digest", lbt_hex64(lb_maglev_digest(t2)));
        describe(a, ts->after, t2);
        if (o->dump)
            dump(a, ts->after, t2);
        uint32_t changed = 0;
        lb_maglev_diff(t, t2, &changed);
        cJSON_AddNumberToObject(out, "slots_changed", changed);
    }
    lbt_ts_add_lookups(out, ts, lookup, t, t2);
    rc = lbt_print(out);
done:
    lb_maglev_free(t);
    lb_maglev_free(t2);
    return rc;
}

int lbt_cmd_maglev(int argc, char **argv)
{
    static const struct option own[] = {{"size", required_argument, 0, 'm'},
                                        {"dump", no_argument, 0, 'd'},
                                        {0, 0, 0, 0}};
    struct maglev_opts o = {.size = LB_MAGLEV_DEFAULT_SIZE};
    const struct lbt_ts_cmd cmd = {"maglev", maglev_help, LBT_TS_CHANGE, own, maglev_option,
                                   maglev_run, &o};
    return lbt_ts_main(&cmd, argc, argv);
}
