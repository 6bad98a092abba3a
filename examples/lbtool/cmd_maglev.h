/* Helpers shared by lbtool's hash-selector commands (cmd_maglev.c, cmd_chash.c): target lists
 * given as KEY[=WEIGHT] and the pools built from them. Argument handling only. */
#ifndef LBTOOL_CMD_MAGLEV_H
#define LBTOOL_CMD_MAGLEV_H

#include <stdlib.h>
#include <string.h>

#include "lb.h"
#include "lbtool.h"

struct lbt_hs_targets {
    char **key;
    uint32_t *weight;
    size_t n, cap;
};

/* Appends "KEY" or, when @with_weight, "KEY=WEIGHT" (weight default 1). -1 on bad input. */
static inline int lbt_hs_push(struct lbt_hs_targets *l, const char *arg, int with_weight)
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

static inline void lbt_hs_clear(struct lbt_hs_targets *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->key[i]);
    free(l->key);
    free(l->weight);
    memset(l, 0, sizeof(*l));
}

/* A pool of the targets, target i with id i. Returns 0, or the exit code of a printed error. */
static inline int lbt_hs_pool(lb_pool **out, const struct lbt_hs_targets *l)
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

/* Adds the key bytes as a JSON string (keys given on the command line are text). */
static inline void lbt_hs_add_key(cJSON *o, const char *name, const uint8_t *key, size_t len)
{
    char *s = strndup((const char *)key, len);
    cJSON_AddStringToObject(o, name, s ? s : "");
    free(s);
}

/* Adds the key of target @id of @pool, or null for LB_NO_TARGET. */
static inline void lbt_hs_add_target(cJSON *o, const char *name, const lb_pool *pool, uint32_t id)
{
    lb_target_info ti = {.struct_size = sizeof(ti)};
    if (id != LB_NO_TARGET && lb_pool_get(pool, id, &ti) == 0)
        lbt_hs_add_key(o, name, ti.key, ti.key_len);
    else
        cJSON_AddNullToObject(o, name);
}

/* Removes, adds and (when @set is not NULL) reweights targets; a key added back keeps its id
 * from @before, so that comparisons by owner id count it as the same target. */
static inline int lbt_hs_change_pool(lb_pool *after, const lb_pool *before,
                                     const struct lbt_hs_targets *rm,
                                     const struct lbt_hs_targets *add,
                                     const struct lbt_hs_targets *set)
{
    for (size_t i = 0; i < rm->n; i++) {
        uint32_t id;
        int err = lb_pool_find_key(after, rm->key[i], strlen(rm->key[i]), &id);
        if (err)
            return lbt_fail(err, "--remove '%s': no such target", rm->key[i]);
        lb_pool_remove(after, id);
    }
    for (size_t i = 0; i < add->n; i++) {
        uint32_t id = (uint32_t)(lb_pool_count(before) + i);
        lb_pool_find_key(before, add->key[i], strlen(add->key[i]), &id);
        int err = lb_pool_add(after, id, add->key[i], strlen(add->key[i]), add->weight[i], 0);
        if (err)
            return lbt_fail(err, "--add '%s': %s", add->key[i], lb_strerror(err));
    }
    for (size_t i = 0; set && i < set->n; i++) {
        uint32_t id;
        int err = lb_pool_find_key(after, set->key[i], strlen(set->key[i]), &id);
        if (err)
            return lbt_fail(err, "--set '%s': no such target", set->key[i]);
        if ((err = lb_pool_set_weight(after, id, set->weight[i])) != 0)
            return lbt_fail(err, "--set '%s': %s", set->key[i], lb_strerror(err));
    }
    return 0;
}

/* The options lbtool's hash-selector commands share, and the pools built from them. */
struct lbt_hs_args {
    struct lbt_hs_targets targets, rm, add, set, lookups;
    lb_pool *pool;  /* the targets */
    lb_pool *after; /* with --remove/--add/--set: the changed pool; else NULL */
};

/* Takes a shared option (c: 't' --target, 'r' --remove, 'a' --add, 's' --set KEY=W,
 * 'l' --lookup-key): 1 when @c is one of them (*bad then says whether its value was bad). */
static inline int lbt_hs_option(struct lbt_hs_args *a, int c, const char *arg, int *bad)
{
    switch (c) {
    case 't':
        *bad = lbt_hs_push(&a->targets, arg, 1);
        return 1;
    case 'r':
        *bad = lbt_hs_push(&a->rm, arg, 0);
        return 1;
    case 'a':
        *bad = lbt_hs_push(&a->add, arg, 1);
        return 1;
    case 's':
        *bad = !strchr(arg, '=') || lbt_hs_push(&a->set, arg, 1);
        return 1;
    case 'l':
        *bad = lbt_hs_push(&a->lookups, arg, 0);
        return 1;
    default:
        return 0;
    }
}

/* After the options (@next: getopt's optind): no stray argument, at least one target; builds
 * the pool and, with a change, the changed pool. 0, or the exit code of a printed error. */
static inline int lbt_hs_finish(struct lbt_hs_args *a, const char *cmd, int argc, char **argv,
                                int next)
{
    if (next < argc)
        return lbt_usage(cmd, "unexpected argument '%s'", argv[next]);
    if (!a->targets.n)
        return lbt_usage(cmd, "give at least one --target KEY[=WEIGHT]");
    int rc = lbt_hs_pool(&a->pool, &a->targets);
    if (rc || !(a->rm.n || a->add.n || a->set.n))
        return rc;
    int err = lb_pool_clone(&a->after, a->pool);
    if (err)
        return lbt_fail(err, NULL);
    return lbt_hs_change_pool(a->after, a->pool, &a->rm, &a->add, &a->set);
}

/* The "lookups" array: each --lookup-key's hash (lb_hash_key(S, seed 0)), its target in @sel
 * and, with a changed selector @sel2, its target_after. */
static inline void lbt_hs_add_lookups(cJSON *out, const struct lbt_hs_args *a,
                                      uint32_t (*lookup)(const void *sel, uint64_t hash),
                                      const void *sel, const void *sel2)
{
    if (!a->lookups.n)
        return;
    cJSON *list = cJSON_AddArrayToObject(out, "lookups");
    for (size_t i = 0; i < a->lookups.n; i++) {
        const char *k = a->lookups.key[i];
        uint64_t h = lb_hash_key(k, strlen(k), 0);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "key", k);
        cJSON_AddItemToObject(o, "hash", lbt_hex64(h));
        lbt_hs_add_target(o, "target", a->pool, lookup(sel, h));
        if (sel2)
            lbt_hs_add_target(o, "target_after", a->after, lookup(sel2, h));
        cJSON_AddItemToArray(list, o);
    }
}

static inline void lbt_hs_args_clear(struct lbt_hs_args *a)
{
    lb_pool_free(a->pool);
    lb_pool_free(a->after);
    lbt_hs_clear(&a->targets);
    lbt_hs_clear(&a->rm);
    lbt_hs_clear(&a->add);
    lbt_hs_clear(&a->set);
    lbt_hs_clear(&a->lookups);
}

#endif /* LBTOOL_CMD_MAGLEV_H */
