/* lbfwd: target groups (pools, each its own liblb balancer) and SNI routes to them. The
 * routes' matching is liblb's (lb_tls_host_match()); this file only builds the tables. */
#include <stdio.h>
#include <string.h>

#include "lb/balancer.h"
#include "lb/common.h"
#include "lb/tls.h"
#include "lbfwd.h"

int lbf_pool_by_name(struct lbf_app *app, const char *name)
{
    int n = atomic_load_explicit(&app->n_pools, memory_order_acquire);
    for (int i = 0; i < n; i++)
        if (strcmp(app->pools[i].name, name) == 0)
            return i;
    return -1;
}

static int make_balancer(struct lbf_app *app, const struct lbf_config *cfg,
                         const struct lbf_pool_conf *pc, lb_balancer **out, char *msg, size_t cap)
{
    lb_balancer_config bc;
    memset(&bc, 0, sizeof(bc));
    bc.struct_size = sizeof(bc);
    bc.algorithm = pc->algorithm;
    bc.table_size = pc->table_size;
    bc.seed = pc->seed;
    bc.max_targets = LBF_MAX_TARGETS;
    bc.wait_for_checks = 0;
    bc.rise = cfg->rise;
    bc.fall = cfg->fall;
    bc.check_interval_ms = pc->check_interval_ms;
    bc.deregistration_delay_ms =
        cfg->drain_timeout_ms ? cfg->drain_timeout_ms : LB_BALANCER_DRAIN_IMMEDIATE;
    bc.keep_connections_on_unhealthy = 1; /* flapping checks leave established flows alone */
    bc.slow_start_ms = cfg->slow_start_ms;
    bc.eject_after_failures = cfg->eject_after;
    bc.max_eject_percent = cfg->max_eject_percent;
    bc.fail_closed = (uint32_t)cfg->fail_closed;
    bc.zone_mode = cfg->zone_mode;
    bc.local_zone = lbf_zone_id(&app->reg, cfg->zone);
    /* lbfwd learns removals (to free a record and reuse its id) and drain closes from events:
     * the largest queue, so that a control loop slowed by a loaded machine loses none while
     * service discovery churns targets (lbfwd_balancer_events_dropped_total shows if it did) */
    bc.event_queue_max = LB_BALANCER_MAX_EVENT_QUEUE;
    int rc = lb_balancer_new(out, &bc);
    if (rc != 0) {
        snprintf(msg, cap, "cannot create the balancer of pool %s: %s", pc->name, lb_strerror(rc));
        return -1;
    }
    return 0;
}

/* The check settings a reload may change (read by the control thread only). */
static void set_checks(struct lbf_pool *p, const struct lbf_pool_conf *pc)
{
    memcpy(p->check_path, pc->check_path, sizeof(p->check_path));
    p->check_interval_ms = pc->check_interval_ms;
    p->check_timeout_ms = pc->check_timeout_ms;
}

static int ensure(struct lbf_app *app, const struct lbf_config *cfg, const char *name, char *msg,
                  size_t cap)
{
    struct lbf_pool_conf pc;
    lbf_config_pool(cfg, name, &pc);
    int i = lbf_pool_by_name(app, name);
    if (i >= 0) {
        struct lbf_pool *p = &app->pools[i];
        if (p->algorithm != pc.algorithm || p->table_size != pc.table_size ||
            p->check_kind != pc.check_kind)
            lbf_log("lbfwd: reload: a new algorithm, table_size or check kind of pool %s needs "
                    "a restart; kept",
                    name);
        set_checks(p, &pc);
        return 0;
    }
    int n = atomic_load_explicit(&app->n_pools, memory_order_relaxed);
    if (n >= LBF_MAX_POOLS)
        return snprintf(msg, cap, "too many pools (at most %d)", LBF_MAX_POOLS), -1;
    struct lbf_pool *p = &app->pools[n];
    if (make_balancer(app, cfg, &pc, &p->bal, msg, cap) != 0)
        return -1;
    lbf_strlcpy(p->name, name, sizeof(p->name));
    p->algorithm = pc.algorithm;
    p->table_size = pc.table_size;
    p->seed = pc.seed;
    p->check_kind = pc.check_kind;
    set_checks(p, &pc);
    /* published after the record is whole: workers read pools below n_pools */
    atomic_store_explicit(&app->n_pools, n + 1, memory_order_release);
    return 0;
}

int lbf_pools_apply(struct lbf_app *app, const struct lbf_config *cfg, char *msg, size_t cap)
{
    if (ensure(app, cfg, LBF_DEFAULT_POOL, msg, cap) != 0)
        return -1;
    for (int i = 0; i < cfg->n_pools; i++)
        if (ensure(app, cfg, cfg->pools[i].name, msg, cap) != 0)
            return -1;
    for (int i = 0; i < cfg->n_targets; i++)
        if (ensure(app, cfg, cfg->targets[i].pool, msg, cap) != 0)
            return -1;
    for (int i = 0; i < cfg->n_routes; i++)
        if (ensure(app, cfg, cfg->routes[i].pool, msg, cap) != 0)
            return -1;
    for (int i = 0; i < cfg->n_udp_listen; i++)
        if (ensure(app, cfg, cfg->udp_pool[i], msg, cap) != 0)
            return -1;
    return 0;
}

void lbf_pools_free(struct lbf_app *app)
{
    int n = atomic_load(&app->n_pools);
    for (int i = 0; i < n; i++) {
        lb_balancer_free(app->pools[i].bal);
        app->pools[i].bal = NULL;
    }
    atomic_store(&app->n_pools, 0);
}

/* The counter slot of a route pattern, kept over reloads (shared by the last slot when more
 * distinct patterns than LBF_ROUTE_STATS were ever configured). Control thread. */
static uint16_t route_stat(struct lbf_app *app, const char *pattern)
{
    int n = atomic_load_explicit(&app->n_route_stats, memory_order_relaxed);
    for (int i = 0; i < n; i++)
        if (strcmp(app->route_stats[i].pattern, pattern) == 0)
            return (uint16_t)i;
    if (n >= LBF_ROUTE_STATS)
        return LBF_ROUTE_STATS - 1;
    lbf_strlcpy(app->route_stats[n].pattern, pattern, sizeof(app->route_stats[n].pattern));
    atomic_store_explicit(&app->n_route_stats, n + 1, memory_order_release);
    return (uint16_t)n;
}

void lbf_live_routes(struct lbf_app *app, const struct lbf_config *cfg, struct lbf_live *lv)
{
    int np = atomic_load(&app->n_pools);
    for (int i = 0; i < np; i++) {
        struct lbf_pool_conf pc;
        lbf_config_pool(cfg, app->pools[i].name, &pc);
        lv->pool_affinity[i] = pc.affinity_source;
        lv->pool_seed[i] = pc.seed;
    }
    lv->sni_timeout_ms = cfg->sni_timeout_ms;
    lv->n_routes = 0;
    lv->none_route = -1;
    int none_pool = -1;
    uint16_t none_stat = 0;
    for (int i = 0; i < cfg->n_routes; i++) {
        const struct lbf_route_conf *r = &cfg->routes[i];
        int p = lbf_pool_by_name(app, r->pool);
        if (p < 0) /* cannot happen: lbf_pools_apply() created it */
            continue;
        if (strcmp(r->pattern, "none") == 0) {
            none_pool = p;
            none_stat = route_stat(app, r->pattern);
            continue;
        }
        int k = lv->n_routes++;
        lbf_strlcpy(lv->route_text[k], r->pattern, sizeof(lv->route_text[k]));
        lv->route_pat[k] = lv->route_text[k];
        lv->route_pool[k] = (uint8_t)p;
        lv->route_stat[k] = route_stat(app, r->pattern);
    }
    if (none_pool >= 0) {
        lv->none_route = lv->n_routes;
        lv->route_pool[lv->n_routes] = (uint8_t)none_pool;
        lv->route_stat[lv->n_routes] = none_stat;
    }
}
