/* lbfwd admin requests: method + path + decoded query arguments to an action. Pure parsing (the
 * fuzz harness links it alone); whether a named target exists is checked by the caller. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include "lbfwd.h"

static int bad(char *msg, size_t cap, int status, const char *text)
{
    snprintf(msg, cap, "%s", text);
    return status;
}

static const char *arg(const struct lbf_kv *args, size_t n, const char *key, int *dup)
{
    const char *found = NULL;
    *dup = 0;
    for (size_t i = 0; i < n; i++) {
        if (args[i].key && strcmp(args[i].key, key) == 0) {
            if (found)
                *dup = 1;
            found = args[i].value ? args[i].value : "";
        }
    }
    return found;
}

/* Every argument must be one of the allowed keys. */
static int only_keys(const struct lbf_kv *args, size_t n, const char *const *allowed,
                     size_t n_allowed)
{
    for (size_t i = 0; i < n; i++) {
        int ok = 0;
        if (!args[i].key)
            return 0;
        for (size_t j = 0; j < n_allowed; j++)
            if (strcmp(args[i].key, allowed[j]) == 0)
                ok = 1;
        if (!ok)
            return 0;
    }
    return 1;
}

/* Splits "/targets/NAME/VERB" into parts; returns the number of segments (at most 3) or -1. */
static int split_path(const char *path, char seg[3][LBF_NAME_MAX + 2])
{
    int n = 0;
    const char *p = path;
    if (*p != '/')
        return -1;
    while (*p == '/') {
        p++;
        if (*p == '\0')
            break;
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (n >= 3 || len == 0 || len > LBF_NAME_MAX)
            return -1;
        memcpy(seg[n], p, len);
        seg[n][len] = '\0';
        n++;
        p += len;
    }
    return *p == '\0' ? n : -1;
}

int lbf_admin_parse(const char *method, const char *path, const struct lbf_kv *args, size_t n_args,
                    struct lbf_admin_req *out, char *msg, size_t cap)
{
    char seg[3][LBF_NAME_MAX + 2];
    int dup;
    memset(out, 0, sizeof(*out));
    if (!method || !path)
        return bad(msg, cap, 400, "bad request");
    int is_get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    int is_post = strcmp(method, "POST") == 0;
    int is_delete = strcmp(method, "DELETE") == 0;
    int n = split_path(path, seg);
    if (n <= 0)
        return bad(msg, cap, 404, "no such resource");

    if (n == 1 && (strcmp(seg[0], "metrics") == 0 || strcmp(seg[0], "ready") == 0)) {
        if (!is_get)
            return bad(msg, cap, 405, "method not allowed (GET)");
        if (n_args)
            return bad(msg, cap, 400, "takes no arguments");
        out->action = seg[0][0] == 'm' ? LBF_ADMIN_METRICS : LBF_ADMIN_READY;
        return 0;
    }
    if (strcmp(seg[0], "targets") != 0)
        return bad(msg, cap, 404, "no such resource");

    if (n == 1) {
        if (is_get) {
            if (n_args)
                return bad(msg, cap, 400, "takes no arguments");
            out->action = LBF_ADMIN_TARGETS;
            return 0;
        }
        if (!is_post)
            return bad(msg, cap, 405, "method not allowed (GET, POST)");
        static const char *const allowed[] = {"name", "addr", "weight", "zone", "pool"};
        if (!only_keys(args, n_args, allowed, 5))
            return bad(msg, cap, 400, "unknown argument (name, addr, weight, zone, pool)");
        const char *name = arg(args, n_args, "name", &dup);
        if (!name || dup || !lbf_valid_target_name(name))
            return bad(msg, cap, 400, "missing or bad name (" LBF_TARGET_NAME_RULE ")");
        const char *addr = arg(args, n_args, "addr", &dup);
        if (!addr || dup)
            return bad(msg, cap, 400, "missing addr (ADDR:PORT)");
        /* Reuse the target-spec parser so the grammar is the same everywhere. */
        char spec[256];
        struct lbf_target_conf tc;
        char m2[200];
        if (snprintf(spec, sizeof(spec), "%s=%s", name, addr) >= (int)sizeof(spec) ||
            strchr(addr, ',') || lbf_parse_target_spec(spec, &tc, m2, sizeof(m2)) != 0)
            return bad(msg, cap, 400, "bad addr (ADDR:PORT or [ADDR6]:PORT)");
        out->action = LBF_ADMIN_ADD;
        lbf_strlcpy(out->name, name, sizeof(out->name));
        out->addr = tc.addr;
        out->weight = 1;
        const char *w = arg(args, n_args, "weight", &dup);
        if (w) {
            if (dup || lbf_parse_u32(w, LB_WEIGHT_MAX, &out->weight) != 0)
                return bad(msg, cap, 400, "bad weight (0..65535)");
            out->has_weight = 1;
        }
        const char *z = arg(args, n_args, "zone", &dup);
        if (z) {
            if (dup || !lbf_valid_name(z))
                return bad(msg, cap, 400, "bad zone name");
            lbf_strlcpy(out->zone, z, sizeof(out->zone));
        }
        const char *pl = arg(args, n_args, "pool", &dup);
        if (pl && (dup || !lbf_valid_name(pl)))
            return bad(msg, cap, 400, "bad pool name");
        lbf_strlcpy(out->pool, pl ? pl : LBF_DEFAULT_POOL, sizeof(out->pool));
        return 0;
    }
    if (!lbf_valid_target_name(seg[1]))
        return bad(msg, cap, 404, "no such target");
    lbf_strlcpy(out->name, seg[1], sizeof(out->name));
    if (n == 2) {
        if (!is_delete)
            return bad(msg, cap, 405, "method not allowed (DELETE)");
        if (n_args)
            return bad(msg, cap, 400, "DELETE takes no arguments");
        out->action = LBF_ADMIN_DELETE;
        return 0;
    }
    if (!is_post)
        return bad(msg, cap, 405, "method not allowed (POST)");
    if (strcmp(seg[2], "drain") == 0 || strcmp(seg[2], "undrain") == 0) {
        if (n_args)
            return bad(msg, cap, 400, "takes no arguments");
        out->action = seg[2][0] == 'd' ? LBF_ADMIN_DRAIN : LBF_ADMIN_UNDRAIN;
        return 0;
    }
    if (strcmp(seg[2], "weight") == 0) {
        static const char *const allowed[] = {"value"};
        const char *v = arg(args, n_args, "value", &dup);
        if (!only_keys(args, n_args, allowed, 1) || !v || dup ||
            lbf_parse_u32(v, LB_WEIGHT_MAX, &out->weight) != 0)
            return bad(msg, cap, 400, "bad or missing value (weight 0..65535)");
        out->has_weight = 1;
        out->action = LBF_ADMIN_WEIGHT;
        return 0;
    }
    return bad(msg, cap, 404, "no such resource");
}

int lbf_admin_mutates(int action)
{
    return action != LBF_ADMIN_METRICS && action != LBF_ADMIN_TARGETS && action != LBF_ADMIN_READY;
}
