/* lbfwd target registry: names, addresses and counters per target id, kept next to the liblb
 * balancer that owns selection, health and draining. Ids are never reused, so workers can read
 * a record by id without locks. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbfwd.h"

int lbf_registry_init(struct lbf_registry *r)
{
    memset(r, 0, sizeof(*r));
    r->by_id = calloc(LBF_MAX_IDS, sizeof(*r->by_id));
    if (!r->by_id)
        return -1;
    pthread_mutex_init(&r->mu, NULL);
    return 0;
}

void lbf_registry_free(struct lbf_registry *r)
{
    if (!r->by_id)
        return;
    for (uint32_t i = 0; i < r->next_id; i++)
        free(atomic_load(&r->by_id[i]));
    free(r->by_id);
    r->by_id = NULL;
    pthread_mutex_destroy(&r->mu);
}

uint32_t lbf_zone_id(struct lbf_registry *r, const char *name)
{
    if (!name || !*name)
        return 0;
    for (int i = 0; i < r->n_zones; i++)
        if (strcmp(r->zones[i], name) == 0)
            return (uint32_t)i + 1;
    if (r->n_zones >= LBF_MAX_ZONES)
        return 0;
    snprintf(r->zones[r->n_zones], sizeof(r->zones[0]), "%s", name);
    return (uint32_t)++r->n_zones;
}

struct lbf_target *lbf_target_by_name(struct lbf_app *app, const char *name, int include_removing)
{
    struct lbf_target *found = NULL;
    for (uint32_t i = 0; i < app->reg.next_id; i++) {
        struct lbf_target *t = atomic_load(&app->reg.by_id[i]);
        if (!t || strcmp(t->name, name) != 0 || atomic_load(&t->gone))
            continue;
        if (!include_removing && atomic_load(&t->removing))
            continue;
        found = t;
    }
    return found;
}

static void make_check_addr(struct lbf_target *t, uint32_t check_port)
{
    t->check_addr = t->addr;
    if (!check_port)
        return;
    if (t->check_addr.ss.ss_family == AF_INET)
        ((struct sockaddr_in *)&t->check_addr.ss)->sin_port = htons((uint16_t)check_port);
    else
        ((struct sockaddr_in6 *)&t->check_addr.ss)->sin6_port = htons((uint16_t)check_port);
    lb_addr_format((struct sockaddr *)&t->check_addr.ss, t->check_addr.text,
                   sizeof(t->check_addr.text));
}

static int add_locked(struct lbf_app *app, const struct lbf_target_conf *tc, char *msg, size_t cap)
{
    if (lbf_target_by_name(app, tc->name, 1)) {
        snprintf(msg, cap, "target '%s' exists (or is still draining)", tc->name);
        return -EEXIST;
    }
    if (app->reg.next_id >= LBF_MAX_IDS) {
        snprintf(msg, cap, "no target ids left (restart lbfwd)");
        return -ENOSPC;
    }
    struct lbf_target *t = calloc(1, sizeof(*t));
    if (!t) {
        snprintf(msg, cap, "out of memory");
        return -ENOMEM;
    }
    t->id = app->reg.next_id;
    lbf_strlcpy(t->name, tc->name, sizeof(t->name));
    lbf_strlcpy(t->zone_name, tc->zone, sizeof(t->zone_name));
    t->zone = lbf_zone_id(&app->reg, tc->zone);
    t->addr = tc->addr;
    make_check_addr(t, tc->check_port);
    t->maxconn = tc->maxconn;
    atomic_store(&t->weight, tc->weight);
    t->chk_fd = -1;
    /* Published before the balancer knows the id: a worker may pick it as soon as
     * lb_balancer_add() returns, and must find its record. */
    atomic_store_explicit(&app->reg.by_id[t->id], t, memory_order_release);
    int rc = lb_balancer_add(app->bal, t->id, t->name, strlen(t->name), tc->weight, t->zone,
                             tc->maxconn, lbf_now_ms());
    if (rc != 0) {
        snprintf(msg, cap, "cannot add target '%s': %s", tc->name, lb_strerror(rc));
        atomic_store_explicit(&app->reg.by_id[t->id], NULL, memory_order_release);
        free(t);
        return rc == LB_E_POOL_DUPLICATE_KEY ? -EEXIST : rc;
    }
    app->reg.next_id++;
    return 0;
}

int lbf_target_add(struct lbf_app *app, const struct lbf_target_conf *tc, char *msg, size_t cap)
{
    pthread_mutex_lock(&app->reg.mu);
    int rc = add_locked(app, tc, msg, cap);
    pthread_mutex_unlock(&app->reg.mu);
    return rc;
}

static int delete_locked(struct lbf_app *app, struct lbf_target *t)
{
    int rc = lb_balancer_remove(app->bal, t->id, lbf_now_ms());
    if (rc == 0 || rc == -ENOENT)
        atomic_store(&t->removing, 1);
    return rc;
}

int lbf_target_delete(struct lbf_app *app, const char *name)
{
    pthread_mutex_lock(&app->reg.mu);
    struct lbf_target *t = lbf_target_by_name(app, name, 0);
    int rc = t ? delete_locked(app, t) : -ENOENT;
    pthread_mutex_unlock(&app->reg.mu);
    return rc;
}

static int same_addr(const struct lbf_addr *a, const struct lbf_addr *b)
{
    return a->len == b->len && memcmp(&a->ss, &b->ss, a->len) == 0;
}

/* Reload: the file is the truth. Changed weights and zones are updated in place; a changed
 * address or maxconn replaces the target (the old one drains; the new one is added once the
 * old one's name is free, see lbf_targets_retry_pending()). */
static struct lbf_target_conf *pending;
static int n_pending;

void lbf_targets_apply(struct lbf_app *app, const struct lbf_config *ncfg)
{
    char msg[256];
    uint64_t now = lbf_now_ms();
    pthread_mutex_lock(&app->reg.mu);
    /* deleted targets */
    for (uint32_t i = 0; i < app->reg.next_id; i++) {
        struct lbf_target *t = atomic_load(&app->reg.by_id[i]);
        if (!t || atomic_load(&t->removing) || atomic_load(&t->gone))
            continue;
        int keep = 0;
        for (int k = 0; k < ncfg->n_targets; k++) {
            const struct lbf_target_conf *tc = &ncfg->targets[k];
            if (strcmp(tc->name, t->name) == 0 && same_addr(&tc->addr, &t->addr) &&
                tc->maxconn == t->maxconn)
                keep = 1;
        }
        if (!keep) {
            lbf_log("lbfwd: reload: target %s drains", t->name);
            delete_locked(app, t);
        }
    }
    free(pending);
    pending = NULL;
    n_pending = 0;
    for (int k = 0; k < ncfg->n_targets; k++) {
        const struct lbf_target_conf *tc = &ncfg->targets[k];
        struct lbf_target *t = lbf_target_by_name(app, tc->name, 0);
        if (t) {
            if (atomic_load(&t->weight) != tc->weight &&
                lb_balancer_set_weight(app->bal, t->id, tc->weight, now) == 0)
                atomic_store(&t->weight, tc->weight);
            uint32_t z = lbf_zone_id(&app->reg, tc->zone);
            if (z != t->zone && lb_balancer_set_zone(app->bal, t->id, z, now) == 0) {
                t->zone = z;
                lbf_strlcpy(t->zone_name, tc->zone, sizeof(t->zone_name));
            }
            make_check_addr(t, tc->check_port);
            continue;
        }
        int rc = add_locked(app, tc, msg, sizeof(msg));
        if (rc == -EEXIST) {
            struct lbf_target_conf *np = realloc(pending, (size_t)(n_pending + 1) * sizeof(*np));
            if (np) {
                pending = np;
                pending[n_pending++] = *tc;
            }
        } else if (rc != 0) {
            lbf_log("lbfwd: reload: %s", msg);
        } else {
            lbf_log("lbfwd: reload: target %s added", tc->name);
        }
    }
    pthread_mutex_unlock(&app->reg.mu);
}

/* Adds reloaded targets whose name was still held by a draining one. Returns how many wait. */

int lbf_targets_retry_pending(struct lbf_app *app)
{
    char msg[256];
    pthread_mutex_lock(&app->reg.mu);
    int w = 0;
    for (int k = 0; k < n_pending; k++) {
        int rc = add_locked(app, &pending[k], msg, sizeof(msg));
        if (rc == -EEXIST)
            pending[w++] = pending[k];
        else if (rc != 0)
            lbf_log("lbfwd: reload: %s", msg);
        else
            lbf_log("lbfwd: reload: target %s added", pending[k].name);
    }
    n_pending = w;
    if (!w) {
        free(pending);
        pending = NULL;
    }
    pthread_mutex_unlock(&app->reg.mu);
    return w;
}

struct lbf_live *lbf_live_from_config(const struct lbf_config *cfg)
{
    struct lbf_live *lv = calloc(1, sizeof(*lv));
    if (!lv)
        return NULL;
    lv->connect_timeout_ms = cfg->connect_timeout_ms;
    lv->idle_timeout_ms = cfg->idle_timeout_ms ? cfg->idle_timeout_ms : LBF_DURATION_MAX_MS;
    lv->half_closed_timeout_ms =
        cfg->half_closed_timeout_ms ? cfg->half_closed_timeout_ms : LBF_DURATION_MAX_MS;
    lv->proxy_timeout_ms = cfg->proxy_timeout_ms;
    lv->retries = cfg->retries;
    lv->max_conns = cfg->max_conns;
    lv->send_proxy = cfg->send_proxy;
    lv->send_proxy_crc32c = cfg->send_proxy_crc32c;
    lv->affinity_source = cfg->affinity_source;
    lv->access_log = cfg->access_log;
    lv->seed = cfg->seed;
    memcpy(lv->accept_proxy, cfg->accept_proxy, sizeof(lv->accept_proxy));
    lv->n_accept_proxy = cfg->n_accept_proxy;
    return lv;
}
