/* lbtool wrr: the picks of a smooth weighted round robin selector. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb.h"
#include "lbtool.h"

static const char wrr_help[] =
    "usage: lbtool wrr --target KEY=W... --picks N [--seed S]\n\n"
    "Builds a smooth weighted round robin selector (doc/stateful-selectors.md) over the\n"
    "targets and prints its first N picks.\n"
    "  --target KEY=W  a target: its key and weight 0..65535 (repeatable, in pool order)\n"
    "  --picks N       how many picks to print, 0..1000000\n"
    "  --seed S        start offset seed, decimal or 0x hex (default 0: the cycle's start)\n"
    "Output: {\"cycle\": sum of weights, \"sequence\": [keys in pick order],\n"
    "         \"counts\": {key: picks}}.\n";

int lbt_add_weighted_target(lb_pool *pool, uint32_t id, const char *arg)
{
    const char *eq = strrchr(arg, '=');
    uint64_t w;
    if (!eq || eq == arg || lbt_parse_u64(eq + 1, UINT32_MAX, &w))
        return 1;
    return lb_pool_add(pool, id, arg, (size_t)(eq - arg), (uint32_t)w, 0);
}

char *lbt_target_key(const lb_pool *pool, uint32_t id)
{
    lb_target_info ti = {sizeof(ti), 0, 0, 0, NULL, 0};
    if (lb_pool_get(pool, id, &ti))
        return NULL;
    return strndup((const char *)ti.key, ti.key_len);
}

int lbt_cmd_wrr(int argc, char **argv)
{
    static const struct option opts[] = {{"target", required_argument, 0, 't'},
                                         {"picks", required_argument, 0, 'n'},
                                         {"seed", required_argument, 0, 's'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    uint64_t seed = 0, picks = 0;
    int c, have_picks = 0;
    lb_pool *pool;
    if (lb_pool_new(&pool))
        return lbt_fail(-ENOMEM, NULL);
    uint32_t next_id = 0;
    int rc = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'h') {
            lb_pool_free(pool);
            fputs(wrr_help, stdout);
            return LBT_EXIT_OK;
        } else if (c == 't') {
            rc = lbt_add_weighted_target(pool, next_id++, optarg);
            if (rc == 1) {
                lb_pool_free(pool);
                return lbt_usage("wrr", "bad --target '%s': want KEY=WEIGHT", optarg);
            }
            if (rc < 0) {
                lb_pool_free(pool);
                return lbt_fail(rc, "cannot add target '%s': %s", optarg, lb_strerror(rc));
            }
        } else if (c == 'n') {
            if (lbt_parse_u64(optarg, 1000000, &picks)) {
                lb_pool_free(pool);
                return lbt_usage("wrr", "bad --picks '%s': want 0..1000000", optarg);
            }
            have_picks = 1;
        } else if (c == 's') {
            if (lbt_parse_u64(optarg, UINT64_MAX, &seed)) {
                lb_pool_free(pool);
                return lbt_usage("wrr", "bad --seed '%s'", optarg);
            }
        } else {
            lb_pool_free(pool);
            return lbt_usage("wrr", "unknown option or missing value: '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc || !next_id || !have_picks) {
        lb_pool_free(pool);
        if (optind < argc)
            return lbt_usage("wrr", "unexpected argument '%s'", argv[optind]);
        return lbt_usage("wrr", "need at least one --target and --picks");
    }
    lb_wrr_options o = {.struct_size = sizeof(o), .seed = seed, .prev = NULL};
    lb_wrr *r;
    rc = lb_wrr_new(&r, pool, &o);
    if (rc) {
        lb_pool_free(pool);
        return lbt_fail(rc, "cannot build the selector: %s", lb_strerror(rc));
    }
    uint64_t *counts = calloc(next_id, sizeof(uint64_t));
    cJSON *out = cJSON_CreateObject();
    cJSON_AddNumberToObject(out, "cycle", (double)lb_wrr_cycle(r));
    cJSON *seq = cJSON_AddArrayToObject(out, "sequence");
    for (uint64_t k = 0; k < picks && counts; k++) {
        uint32_t id;
        rc = lb_wrr_pick(r, &id);
        if (rc)
            break;
        counts[id]++;
        char *key = lbt_target_key(pool, id);
        cJSON_AddItemToArray(seq, cJSON_CreateString(key ? key : ""));
        free(key);
    }
    if (!counts)
        rc = -ENOMEM;
    if (rc) {
        cJSON_Delete(out);
        free(counts);
        lb_wrr_free(r);
        lb_pool_free(pool);
        return lbt_fail(rc, "cannot pick: %s", lb_strerror(rc));
    }
    cJSON *cnt = cJSON_AddObjectToObject(out, "counts");
    for (uint32_t id = 0; id < next_id; id++) {
        char *key = lbt_target_key(pool, id);
        cJSON_AddNumberToObject(cnt, key ? key : "", (double)counts[id]);
        free(key);
    }
    free(counts);
    lb_wrr_free(r);
    lb_pool_free(pool);
    return lbt_print(out);
}
