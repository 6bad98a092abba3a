/* lbfwd target registry: names, addresses and counters per target id, kept next to the liblb
 * balancer that owns selection, health and draining. Names are indexed; a removed target's
 * record is freed and its id reused once no worker can still read it (lbf_targets_reclaim()),
 * and a copy stays listed as `removed` among the last LBF_REMOVED_KEEP removals for at most
 * LBF_REMOVED_KEEP_MS. */
#define _GNU_SOURCE
#include <errno.h>
#include <ifaddrs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbfwd.h"

int lbf_registry_init(struct lbf_registry *r)
{
    memset(r, 0, sizeof(*r));
    r->by_id = calloc(LBF_MAX_IDS, sizeof(*r->by_id));
    r->free_ids = calloc(LBF_MAX_IDS, sizeof(*r->free_ids));
    r->by_name = calloc(LBF_NAME_BUCKETS, sizeof(*r->by_name));
    r->removed = calloc(LBF_REMOVED_KEEP, sizeof(*r->removed));
    if (!r->by_id || !r->free_ids || !r->by_name || !r->removed) {
        free(r->by_id);
        free(r->free_ids);
        free(r->by_name);
        free(r->removed);
        r->by_id = NULL;
        return -ENOMEM;
    }
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
    free(r->free_ids);
    free(r->by_name);
    free(r->removed);
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

/* ---- the name index -------------------------------------------------------------------------- */
static struct lbf_target **name_bucket(struct lbf_registry *r, const char *name)
{
    uint32_t h = 2166136261u; /* FNV-1a: names are short and not chosen against us by peers */
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 16777619u;
    return &r->by_name[h & (LBF_NAME_BUCKETS - 1)];
}

static void name_link(struct lbf_registry *r, struct lbf_target *t)
{
    struct lbf_target **b = name_bucket(r, t->name);
    t->name_next = *b;
    *b = t;
}

static void name_unlink(struct lbf_registry *r, struct lbf_target *t)
{
    for (struct lbf_target **pp = name_bucket(r, t->name); *pp; pp = &(*pp)->name_next) {
        if (*pp == t) {
            *pp = t->name_next;
            t->name_next = NULL;
            return;
        }
    }
}

struct lbf_target *lbf_target_by_name(struct lbf_app *app, const char *name, int include_removing)
{
    struct lbf_target *found = NULL;
    for (struct lbf_target *t = *name_bucket(&app->reg, name); t; t = t->name_next) {
        if (strcmp(t->name, name) != 0 || atomic_load(&t->gone))
            continue;
        if (!atomic_load(&t->removing))
            return t; /* at most one record of a name is not removing */
        if (include_removing)
            found = t;
    }
    return found;
}

/* ---- records and ids ---------------------------------------------------------------------------
 */
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

static int take_id(struct lbf_registry *r, uint32_t *id)
{
    if (r->n_free) {
        *id = r->free_ids[--r->n_free];
        return 0;
    }
    if (r->next_id >= LBF_MAX_IDS)
        return -1;
    *id = r->next_id++;
    return 0;
}

static void put_id(struct lbf_registry *r, uint32_t id)
{
    r->free_ids[r->n_free++] = id;
}

/* The bytes the balancer places a target by: its name, or, while a draining record of the same
 * name still holds that key (a reload changed its address: make-before-break), "NAME@ADDR"
 * (then "NAME@ADDR#N" should that be taken too). */
static int balancer_add(struct lbf_app *app, struct lbf_target *t, uint32_t weight)
{
    char key[LBF_NAME_MAX + LB_ADDR_TEXT_MAX + 16];
    int rc = LB_E_POOL_DUPLICATE_KEY;
    for (int k = 0; k < 8 && rc == LB_E_POOL_DUPLICATE_KEY; k++) {
        if (k == 0)
            snprintf(key, sizeof(key), "%s", t->name);
        else if (k == 1)
            snprintf(key, sizeof(key), "%s@%s", t->name, t->addr.text);
        else
            snprintf(key, sizeof(key), "%s@%s#%d", t->name, t->addr.text, k);
        rc = lb_balancer_add(lbf_bal(app, t->pool), t->id, key, strlen(key), weight, t->zone,
                             t->maxconn, lbf_now_ms());
    }
    return rc;
}

/* Whether `a` is one of this host's addresses (a wildcard socket answers on each). */
static int host_has_ip(const struct lbf_addr *a)
{
    struct ifaddrs *ifs = NULL;
    int found = 0;
    if (getifaddrs(&ifs) != 0)
        return 0;
    for (struct ifaddrs *i = ifs; i && !found; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != a->ss.ss_family)
            continue;
        struct lbf_addr ia;
        memset(&ia, 0, sizeof(ia));
        memcpy(&ia.ss, i->ifa_addr,
               i->ifa_addr->sa_family == AF_INET ? sizeof(struct sockaddr_in)
                                                 : sizeof(struct sockaddr_in6));
        found = lbf_addr_same_ip(&ia, a);
    }
    freeifaddrs(ifs);
    return found;
}

/* A connection to `a` reaches `own`, one of lbfwd's own sockets (a wildcard one also answers
 * on the host's other addresses; an IPv6 wildcard on IPv4 ones too). */
static int reaches(const struct lbf_addr *a, const struct lbf_addr *own)
{
    if (lbf_addr_reaches(a, own))
        return 1;
    if (!lbf_addr_is_wildcard(own) || lbf_addr_port(own) != lbf_addr_port(a) ||
        (own->ss.ss_family == AF_INET && a->ss.ss_family != AF_INET))
        return 0;
    return host_has_ip(a);
}

/* Refuses a target at lbfwd's own listener (a loop until descriptors run out) or admin address
 * (data-port clients would reach the admin API). */
static int own_address(struct lbf_app *app, const struct lbf_target_conf *tc, char *msg, size_t cap)
{
    for (int i = 0; i < app->cfg.n_listen; i++) {
        if (app->bound[i].len && reaches(&tc->addr, &app->bound[i])) {
            snprintf(msg, cap, "target '%s' at %s is lbfwd's own listener %s", tc->name,
                     tc->addr.text, app->bound[i].text);
            return 1;
        }
    }
    if (app->cfg.admin_set && app->admin_bound.len && reaches(&tc->addr, &app->admin_bound)) {
        snprintf(msg, cap, "target '%s' at %s is lbfwd's own admin address %s", tc->name,
                 tc->addr.text, app->admin_bound.text);
        return 1;
    }
    return 0;
}

/* `replace`: a record of the same name may still be draining (a reload's make-before-break). */
static int add_locked(struct lbf_app *app, const struct lbf_target_conf *tc, int replace, char *msg,
                      size_t cap)
{
    struct lbf_target *old = lbf_target_by_name(app, tc->name, 1);
    if (old && (!replace || !atomic_load(&old->removing))) {
        snprintf(msg, cap, "target '%s' exists (or is still draining)", tc->name);
        return -EEXIST;
    }
    if (own_address(app, tc, msg, cap))
        return -EINVAL;
    int pool = lbf_pool_by_name(app, tc->pool[0] ? tc->pool : LBF_DEFAULT_POOL);
    if (pool < 0) {
        snprintf(msg, cap, "target '%s': no pool '%s'", tc->name, tc->pool);
        return -EINVAL;
    }
    uint32_t id;
    if (take_id(&app->reg, &id) != 0) {
        snprintf(msg, cap, "too many targets at once (%u records, removed ones included)",
                 (unsigned)LBF_MAX_IDS);
        return -ENOSPC;
    }
    struct lbf_target *t = calloc(1, sizeof(*t));
    if (!t) {
        put_id(&app->reg, id);
        snprintf(msg, cap, "out of memory");
        return -ENOMEM;
    }
    t->id = id;
    t->pool = (uint32_t)pool;
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
    int rc = balancer_add(app, t, tc->weight);
    if (rc != 0) {
        snprintf(msg, cap, "cannot add target '%s': %s", tc->name, lb_strerror(rc));
        atomic_store_explicit(&app->reg.by_id[t->id], NULL, memory_order_release);
        free(t);
        put_id(&app->reg, id);
        return rc == LB_E_POOL_DUPLICATE_KEY ? -EEXIST : rc;
    }
    name_link(&app->reg, t);
    app->reg.n_records++;
    return 0;
}

int lbf_target_add(struct lbf_app *app, const struct lbf_target_conf *tc, char *msg, size_t cap)
{
    pthread_mutex_lock(&app->reg.mu);
    int rc = add_locked(app, tc, 0, msg, cap);
    pthread_mutex_unlock(&app->reg.mu);
    return rc;
}

static int delete_locked(struct lbf_app *app, struct lbf_target *t)
{
    int rc = lb_balancer_remove(lbf_bal(app, t->pool), t->id, lbf_now_ms());
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

void lbf_target_gone(struct lbf_app *app, struct lbf_target *t, uint64_t now)
{
    pthread_mutex_lock(&app->reg.mu);
    if (!atomic_load(&t->gone)) {
        lbf_health_stop(app, t);
        atomic_store(&t->gone_at, now);
        atomic_store(&t->gone, 1);
        name_unlink(&app->reg, t);
        t->grave_next = app->reg.graveyard;
        app->reg.graveyard = t;
    }
    pthread_mutex_unlock(&app->reg.mu);
}

/* Keeps a copy of a freed record for the `removed` listing; an older copy of the same name
 * goes (only the last removal of a name is listed). */
static void remember_removed(struct lbf_registry *r, const struct lbf_target *t)
{
    for (uint32_t i = 0; i < r->n_removed; i++)
        if (strcmp(r->removed[i].name, t->name) == 0)
            r->removed[i].name[0] = '\0';
    memcpy(&r->removed[r->removed_head], t, sizeof(*t));
    r->removed[r->removed_head].name_next = NULL;
    r->removed[r->removed_head].grave_next = NULL;
    r->removed_head = (r->removed_head + 1) % LBF_REMOVED_KEEP;
    if (r->n_removed < LBF_REMOVED_KEEP)
        r->n_removed++;
}

void lbf_targets_reclaim(struct lbf_app *app, uint64_t min_epoch)
{
    int wake = 0;
    pthread_mutex_lock(&app->reg.mu);
    struct lbf_target **pp = &app->reg.graveyard;
    while (*pp) {
        struct lbf_target *t = *pp;
        if (atomic_load(&t->holders) != 0) { /* a connection still ends on it */
            t->free_epoch = 0;
            pp = &t->grave_next;
            continue;
        }
        if (!t->free_epoch) { /* every worker must begin a turn after this */
            t->free_epoch = atomic_fetch_add(&app->live_epoch, 1) + 1;
            wake = 1;
            pp = &t->grave_next;
            continue;
        }
        if (min_epoch < t->free_epoch) {
            pp = &t->grave_next;
            continue;
        }
        *pp = t->grave_next;
        atomic_store_explicit(&app->reg.by_id[t->id], NULL, memory_order_release);
        remember_removed(&app->reg, t);
        put_id(&app->reg, t->id);
        app->reg.n_records--;
        free(t);
    }
    pthread_mutex_unlock(&app->reg.mu);
    if (wake) /* idle workers would not begin a turn on their own */
        lbf_workers_wake(app);
}

int lbf_targets_reclaim_pending(struct lbf_app *app)
{
    pthread_mutex_lock(&app->reg.mu);
    int pending = app->reg.graveyard != NULL;
    pthread_mutex_unlock(&app->reg.mu);
    return pending;
}

int lbf_targets_visible(struct lbf_app *app, struct lbf_target **out, int cap, uint64_t now)
{
    struct lbf_registry *r = &app->reg;
    int n = 0;
    for (uint32_t i = 0; i < r->next_id && n < cap; i++) {
        struct lbf_target *t = atomic_load(&r->by_id[i]);
        if (!t)
            continue;
        if (atomic_load(&t->gone) && lbf_target_by_name(app, t->name, 1))
            continue; /* gone, and its name is back */
        out[n++] = t;
    }
    for (uint32_t k = 0; k < r->n_removed && n < cap; k++) {
        uint32_t i = (r->removed_head + LBF_REMOVED_KEEP - 1 - k) % LBF_REMOVED_KEEP;
        struct lbf_target *t = &r->removed[i];
        if (!t->name[0] || now > atomic_load(&t->gone_at) + LBF_REMOVED_KEEP_MS)
            continue;
        if (lbf_target_by_name(app, t->name, 1))
            continue;
        out[n++] = t;
    }
    return n;
}

static int same_addr(const struct lbf_addr *a, const struct lbf_addr *b)
{
    return a->len == b->len && memcmp(&a->ss, &b->ss, a->len) == 0;
}

/* Reload: the file is the truth. Changed weights and zones are updated in place; a changed
 * address or maxconn replaces the target make-before-break: the new record takes new
 * connections at once while the old one drains. */
void lbf_targets_apply(struct lbf_app *app, const struct lbf_config *ncfg)
{
    char msg[256];
    uint64_t now = lbf_now_ms();
    pthread_mutex_lock(&app->reg.mu);
    /* deleted or replaced targets */
    for (uint32_t i = 0; i < app->reg.next_id; i++) {
        struct lbf_target *t = atomic_load(&app->reg.by_id[i]);
        if (!t || atomic_load(&t->removing) || atomic_load(&t->gone))
            continue;
        const struct lbf_target_conf *tc =
            lbf_config_find_target((struct lbf_config *)ncfg, t->name);
        if (!tc || !same_addr(&tc->addr, &t->addr) || tc->maxconn != t->maxconn ||
            lbf_pool_by_name(app, tc->pool[0] ? tc->pool : LBF_DEFAULT_POOL) != (int)t->pool) {
            lbf_log("lbfwd: reload: target %s drains", t->name);
            delete_locked(app, t);
        }
    }
    for (int k = 0; k < ncfg->n_targets; k++) {
        const struct lbf_target_conf *tc = &ncfg->targets[k];
        struct lbf_target *t = lbf_target_by_name(app, tc->name, 0);
        if (t) {
            if (atomic_load(&t->weight) != tc->weight &&
                lb_balancer_set_weight(lbf_bal(app, t->pool), t->id, tc->weight, now) == 0)
                atomic_store(&t->weight, tc->weight);
            uint32_t z = lbf_zone_id(&app->reg, tc->zone);
            if (z != t->zone && lb_balancer_set_zone(lbf_bal(app, t->pool), t->id, z, now) == 0) {
                t->zone = z;
                lbf_strlcpy(t->zone_name, tc->zone, sizeof(t->zone_name));
            }
            make_check_addr(t, tc->check_port);
            continue;
        }
        if (add_locked(app, tc, 1, msg, sizeof(msg)) != 0)
            lbf_log("lbfwd: reload: %s", msg);
        else
            lbf_log("lbfwd: reload: target %s (%s) added", tc->name, tc->addr.text);
    }
    pthread_mutex_unlock(&app->reg.mu);
}

struct lbf_live *lbf_live_from_config(struct lbf_app *app, const struct lbf_config *cfg)
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
    lv->access_log = cfg->access_log;
    memcpy(lv->accept_proxy, cfg->accept_proxy, sizeof(lv->accept_proxy));
    lv->n_accept_proxy = cfg->n_accept_proxy;
    lbf_live_routes(app, cfg, lv);
    return lv;
}
