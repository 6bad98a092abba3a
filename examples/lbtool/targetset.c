/* lbtool: the target set of the hash-selector commands (targetset.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb.h"
#include "lbtool.h"
#include "targetset.h"

/* Appends "KEY" or, when @with_weight, "KEY=WEIGHT" (weight default 1). -1 on bad input. */
static int push(struct lbt_ts_list *l, const char *arg, int with_weight)
{
    uint64_t w = 1;
    size_t klen = strlen(arg);
    const char *eq = with_weight ? strrchr(arg, '=') : NULL;
    if (eq) {
        if (lbt_parse_u64(eq + 1, UINT32_MAX, &w))
            return -1;
        klen = (size_t)(eq - arg);
    }
    if (!klen)
        return -1;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 8;
        char **k = realloc(l->key, cap * sizeof(*k));
        if (!k)
            return -1;
        l->key = k;
        uint32_t *wt = realloc(l->weight, cap * sizeof(*wt));
        if (!wt)
            return -1;
        l->weight = wt;
        l->cap = cap;
    }
    char *copy = strndup(arg, klen);
    if (!copy)
        return -1;
    l->key[l->n] = copy;
    l->weight[l->n++] = (uint32_t)w;
    return 0;
}

static void list_clear(struct lbt_ts_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->key[i]);
    free(l->key);
    free(l->weight);
    memset(l, 0, sizeof(*l));
}

/* A pool of the targets, target i with id i. Returns 0, or the exit code of a printed error. */
static int build_pool(lb_pool **out, const struct lbt_ts_list *l)
{
    lb_pool *p;
    int err = lb_pool_new(&p);
    if (err)
        return lbt_fail(err, NULL);
    for (size_t i = 0; i < l->n; i++) {
        err = lb_pool_add(p, (uint32_t)i, l->key[i], strlen(l->key[i]), l->weight[i], 0);
        if (err) {
            lb_pool_free(p);
            return lbt_fail(err, "target '%s' (weight %u): %s", l->key[i], (unsigned)l->weight[i],
                            lb_strerror(err));
        }
    }
    *out = p;
    return 0;
}

/* The id of the target @key of @pool, for option @opt. 0, or the exit code of a printed
 * error. */
static int find_target(const lb_pool *pool, const char *opt, const char *key, uint32_t *id)
{
    int err = lb_pool_find_key(pool, key, strlen(key), id);
    return err ? lbt_fail(err, "%s '%s': no such target", opt, key) : 0;
}

/* Removes, adds and reweights targets in @after (a clone of @before); a key added back keeps
 * its id from @before. 0, or the exit code of a printed error. */
static int change_pool(lb_pool *after, const lb_pool *before, const struct lbt_ts *ts)
{
    uint32_t id;
    int rc;
    for (size_t i = 0; i < ts->rm.n; i++) {
        if ((rc = find_target(after, "--remove", ts->rm.key[i], &id)) != 0)
            return rc;
        lb_pool_remove(after, id);
    }
    for (size_t i = 0; i < ts->add.n; i++) {
        const char *k = ts->add.key[i];
        id = (uint32_t)(lb_pool_count(before) + i);
        lb_pool_find_key(before, k, strlen(k), &id);
        int err = lb_pool_add(after, id, k, strlen(k), ts->add.weight[i], 0);
        if (err)
            return lbt_fail(err, "--add '%s': %s", k, lb_strerror(err));
    }
    for (size_t i = 0; i < ts->set.n; i++) {
        const char *k = ts->set.key[i];
        if ((rc = find_target(after, "--set", k, &id)) != 0)
            return rc;
        int err = lb_pool_set_weight(after, id, ts->set.weight[i]);
        if (err)
            return lbt_fail(err, "--set '%s': %s", k, lb_strerror(err));
    }
    return 0;
}

void lbt_ts_add_key(cJSON *o, const char *name, const uint8_t *key, size_t len)
{
    char *s = strndup((const char *)key, len);
    cJSON_AddStringToObject(o, name, s ? s : "");
    free(s);
}

/* Adds the key of target @id of @pool, or null for LB_NO_TARGET. */
static void add_target(cJSON *o, const char *name, const lb_pool *pool, uint32_t id)
{
    lb_target_info ti = {.struct_size = sizeof(ti)};
    if (id != LB_NO_TARGET && lb_pool_get(pool, id, &ti) == 0)
        lbt_ts_add_key(o, name, ti.key, ti.key_len);
    else
        cJSON_AddNullToObject(o, name);
}

uint64_t lbt_ts_weight_sum(const lb_pool *pool)
{
    uint64_t sum = 0;
    lb_target_info ti = {.struct_size = sizeof(ti)};
    for (size_t i = 0; i < lb_pool_count(pool); i++)
        if (lb_pool_at(pool, i, &ti) == 0)
            sum += ti.weight;
    return sum;
}

/* The shared options; those that need a flag in lbt_ts_cmd.shared are left out without it. */
static const struct option shared_opts[] = {{"target", required_argument, 0, 't'},
                                            {"remove", required_argument, 0, 'r'},
                                            {"add", required_argument, 0, 'a'},
                                            {"set", required_argument, 0, 's'},
                                            {"lookup-key", required_argument, 0, 'l'},
                                            {"help", no_argument, 0, 'h'}};
#define OPTS_MAX 24 /* shared and own options, and the end */

static unsigned shared_flag(int c)
{
    return c == 'r' || c == 'a' ? LBT_TS_CHANGE : c == 's' ? LBT_TS_SET : 0;
}

/* The getopt_long table of @cmd: the shared options it takes, then its own. -1 when they do
 * not fit (a mistake in the command's table). */
static int option_table(struct option *all, const struct lbt_ts_cmd *cmd)
{
    size_t n = 0;
    for (size_t i = 0; i < sizeof(shared_opts) / sizeof(shared_opts[0]); i++) {
        unsigned need = shared_flag(shared_opts[i].val);
        if (!need || (cmd->shared & need))
            all[n++] = shared_opts[i];
    }
    for (const struct option *o = cmd->opts; o && o->name; o++) {
        if (n == OPTS_MAX - 1)
            return -1;
        all[n++] = *o;
    }
    all[n] = (struct option){0, 0, 0, 0};
    return 0;
}

/* Takes a shared option: 0, or -1 on a bad value. */
static int shared_option(struct lbt_ts *ts, int c, const char *arg)
{
    switch (c) {
    case 't':
        return push(&ts->targets, arg, 1);
    case 'r':
        return push(&ts->rm, arg, 0);
    case 'a':
        return push(&ts->add, arg, 1);
    case 's':
        return !strchr(arg, '=') || push(&ts->set, arg, 1) ? -1 : 0;
    default: /* 'l' */
        return push(&ts->lookups, arg, 0);
    }
}

/* Returned by finish and parse when the command line is good and the pools are built. */
#define RUN (-1)

/* After the options (@next: getopt's optind): no stray argument, at least one target; builds
 * the pool and, with a change, the changed pool. */
static int finish(struct lbt_ts *ts, const char *cmd, int argc, char **argv, int next)
{
    if (next < argc)
        return lbt_usage(cmd, "unexpected argument '%s'", argv[next]);
    if (!ts->targets.n)
        return lbt_usage(cmd, "give at least one --target KEY[=WEIGHT]");
    int rc = build_pool(&ts->pool, &ts->targets);
    if (rc)
        return rc;
    if (!(ts->rm.n || ts->add.n || ts->set.n))
        return RUN;
    int err = lb_pool_clone(&ts->after, ts->pool);
    if (err)
        return lbt_fail(err, NULL);
    rc = change_pool(ts->after, ts->pool, ts);
    return rc ? rc : RUN;
}

/* Parses @argv into @ts and the command's own options: RUN, or the exit code after printing the
 * help, a usage error or an error object. */
static int parse(struct lbt_ts *ts, const struct lbt_ts_cmd *cmd, int argc, char **argv)
{
    struct option opts[OPTS_MAX];
    if (option_table(opts, cmd))
        return lbt_fail(-E2BIG, "%s: too many options", cmd->name);
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'h') {
            fputs(cmd->help, stdout);
            return LBT_EXIT_OK;
        }
        if (c == '?')
            return lbt_usage(cmd->name, "unknown option or missing value: '%s'", argv[optind - 1]);
        int own = c == 0 || !strchr("tralsh", c);
        if (own ? cmd->option(cmd->ctx, c, optarg) : shared_option(ts, c, optarg))
            return lbt_usage(cmd->name, "bad value '%s' for %s", optarg ? optarg : "",
                             argv[optind - 2]);
    }
    return finish(ts, cmd->name, argc, argv, optind);
}

void lbt_ts_add_lookups(cJSON *out, const struct lbt_ts *ts,
                        uint32_t (*lookup)(const void *sel, uint64_t hash), const void *sel,
                        const void *sel2)
{
    if (!ts->lookups.n)
        return;
    cJSON *list = cJSON_AddArrayToObject(out, "lookups");
    for (size_t i = 0; i < ts->lookups.n; i++) {
        const char *k = ts->lookups.key[i];
        uint64_t h = lb_hash_key(k, strlen(k), 0);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "key", k);
        cJSON_AddItemToObject(o, "hash", lbt_hex64(h));
        add_target(o, "target", ts->pool, lookup(sel, h));
        if (sel2)
            add_target(o, "target_after", ts->after, lookup(sel2, h));
        cJSON_AddItemToArray(list, o);
    }
}

static void clear(struct lbt_ts *ts)
{
    lb_pool_free(ts->pool);
    lb_pool_free(ts->after);
    list_clear(&ts->targets);
    list_clear(&ts->rm);
    list_clear(&ts->add);
    list_clear(&ts->set);
    list_clear(&ts->lookups);
}

int lbt_ts_main(const struct lbt_ts_cmd *cmd, int argc, char **argv)
{
    struct lbt_ts ts = {0};
    int rc = parse(&ts, cmd, argc, argv);
    if (rc == RUN)
        rc = cmd->run(&ts, cmd->ctx);
    clear(&ts);
    return rc;
}
