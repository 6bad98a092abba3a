/* The balancer's writer side: configuration, the target registry, health (lib/health.c),
 * zones (lib/zone.c), operator drains, events, statistics. Every function here runs under the
 * writer lock; lib/balancer_snap.c turns the registry into the snapshots that picks read. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "internal/abi.h"
#include "internal/balancer.h"
#include "internal/pool.h"
#include "internal/util.h"

#define DEFAULT_TABLE_SIZE  LB_MAGLEV_DEFAULT_SIZE
#define DEFAULT_MAX_TARGETS 4096u
#define MAX_TARGETS_LIMIT   (1u << 24)
#define TIME_MAX_MS         3600000u
/* First-release sizes (doc/ABI.md): a caller's struct may be this size or larger. */
#define CONFIG_SIZE_1_0       LB__SIZE_UPTO(lb_balancer_config, event_queue_max)
#define EVENT_SIZE_1_0        LB__SIZE_UPTO(lb_event, at_ms)
#define TARGET_STATS_SIZE_1_0 LB__SIZE_UPTO(lb_target_stats, max_conns)
#define STATS_SIZE_1_0        LB__SIZE_UPTO(lb_balancer_stats, bad_releases)
#define KEY_SEED              0x4c4242414c4b4559ull /* the key hash of the rendezvous fallback */

/* ---- configuration ----------------------------------------------------------------------- */

static int is_prime(uint32_t n)
{
    if (n < 2)
        return 0;
    for (uint32_t d = 2; (uint64_t)d * d <= n; d++)
        if (n % d == 0)
            return 0;
    return 1;
}

static uint32_t or_default(uint32_t v, uint32_t def)
{
    return v ? v : def;
}

/* Apply defaults and check ranges. */
static int config_resolve(const lb_balancer_config *in, lb_balancer_config *c)
{
    *c = (lb_balancer_config){.struct_size = sizeof(*c)};
    if (in) {
        int rc = lb__struct_in(c, sizeof(*c), in, in->struct_size, CONFIG_SIZE_1_0);
        if (rc)
            return rc;
    }
    if (c->algorithm > LB_ALG_P2C || c->wait_for_checks > 1 ||
        c->keep_connections_on_unhealthy > 1 || c->fail_closed > 1 ||
        c->zone_mode > LB_BALANCER_ZONE_AFFINITY)
        return LB_E_BALANCER_CONFIG;
    c->table_size = or_default(c->table_size, DEFAULT_TABLE_SIZE);
    if (c->algorithm == LB_ALG_MAGLEV) {
        if (c->table_size > LB_MAGLEV_MAX_SIZE)
            return LB_E_BALANCER_CONFIG;
        if (!is_prime(c->table_size))
            return LB_E_MAGLEV_NOT_PRIME;
        if (!c->max_targets)
            c->max_targets =
                c->table_size < DEFAULT_MAX_TARGETS ? c->table_size : DEFAULT_MAX_TARGETS;
        if (c->max_targets > c->table_size)
            return LB_E_BALANCER_CONFIG;
    }
    c->max_targets = or_default(c->max_targets, DEFAULT_MAX_TARGETS);
    c->bound_percent = or_default(c->bound_percent, LB_CHASH_DEFAULT_BALANCE);
    c->rise = or_default(c->rise, 2);
    c->fall = or_default(c->fall, 3);
    c->check_interval_ms = or_default(c->check_interval_ms, 2000);
    c->deregistration_delay_ms = or_default(c->deregistration_delay_ms, 300000);
    c->eject_base_ms = or_default(c->eject_base_ms, 30000);
    c->max_eject_percent = or_default(c->max_eject_percent, 10);
    c->local_percent = or_default(c->local_percent, 100);
    c->min_cluster_size = or_default(c->min_cluster_size, LB_ZONE_DEFAULT_MIN_CLUSTER_SIZE);
    c->event_queue_max = or_default(c->event_queue_max, LB_BALANCER_DEFAULT_EVENT_QUEUE);
    if (c->event_queue_max > LB_BALANCER_MAX_EVENT_QUEUE)
        return LB_E_BALANCER_CONFIG;
    if (c->max_targets > MAX_TARGETS_LIMIT || c->bound_percent < 100 || c->bound_percent > 100000 ||
        c->rise > 100 || c->fall > 100 || c->check_interval_ms < 100 ||
        c->check_interval_ms > TIME_MAX_MS ||
        (c->deregistration_delay_ms > TIME_MAX_MS &&
         c->deregistration_delay_ms != LB_BALANCER_DRAIN_IMMEDIATE) ||
        c->slow_start_ms > TIME_MAX_MS || c->panic_percent > 100 ||
        c->eject_after_failures > 1000 || c->eject_base_ms > TIME_MAX_MS ||
        c->max_eject_percent > 100 || c->local_percent > 100)
        return LB_E_BALANCER_CONFIG;
    return 0;
}

static uint32_t ramp_step_ms(const lb_balancer *b)
{
    uint32_t step = b->cfg.slow_start_ms / 10;
    return step ? step : 1;
}

/* ---- events ------------------------------------------------------------------------------ */

static void push_event(lb_balancer *b, uint32_t type, uint32_t id, uint32_t old_state,
                       uint32_t new_state, uint32_t reason, uint32_t conns, uint64_t at)
{
    if (b->ev_len >= b->cfg.event_queue_max) {
        b->ev_dropped++; /* bounded: the newest event is lost, and counted */
        return;
    }
    if (b->ev_len == b->ev_cap) {
        size_t cap = b->ev_cap ? b->ev_cap * 2 : 64;
        if (cap > b->cfg.event_queue_max)
            cap = b->cfg.event_queue_max;
        lb_event *ev = malloc(cap * sizeof(*ev));
        if (!ev) {
            b->ev_dropped++;
            return;
        }
        for (size_t i = 0; i < b->ev_len; i++)
            ev[i] = b->ev[(b->ev_head + i) % b->ev_cap];
        free(b->ev);
        b->ev = ev;
        b->ev_head = 0;
        b->ev_cap = cap;
    }
    b->ev[(b->ev_head + b->ev_len++) % b->ev_cap] = (lb_event){
        .struct_size = sizeof(lb_event),
        .type = type,
        .target_id = id,
        .old_state = old_state,
        .new_state = new_state,
        .reason = reason,
        .connections = conns,
        .at_ms = at,
    };
}

/* ---- the registry ------------------------------------------------------------------------ */

static struct lb__bal_target *find(lb_balancer *b, uint32_t id)
{
    long i = lb__pool_index_of(b->pool, id);
    return i < 0 ? NULL : &b->tg[i];
}

static uint32_t active_of(const lb_balancer *b, const struct lb__bal_target *t)
{
    return lb_loads_get(b->loads, t->slot);
}

static uint32_t public_state(const struct lb__bal_target *t, uint32_t health_state)
{
    if (t->gone || health_state == LB_HEALTH_STATE_REMOVED)
        return LB_STATE_REMOVED;
    if (t->admin_drain || t->removing || health_state == LB_HEALTH_STATE_DRAINING)
        return LB_STATE_DRAINING;
    switch (health_state) {
    case LB_HEALTH_STATE_INITIAL:
        return LB_STATE_INITIAL;
    case LB_HEALTH_STATE_HEALTHY:
        return LB_STATE_HEALTHY;
    default: /* EJECTED, UNHEALTHY */
        return LB_STATE_UNHEALTHY;
    }
}

static uint32_t health_state_of(const lb_balancer *b, uint32_t id)
{
    lb_health_target ht = {.struct_size = sizeof(ht)};
    if (lb_health_get(b->health, id, &ht))
        return LB_HEALTH_STATE_REMOVED;
    return ht.state;
}

static uint32_t map_reason(uint32_t r)
{
    switch (r) {
    case LB_HEALTH_R_REGISTERED:
        return LB_REASON_REGISTERED;
    case LB_HEALTH_R_CHECK_PASSED:
        return LB_REASON_CHECK_PASSED;
    case LB_HEALTH_R_CHECKS_FAILED:
        return LB_REASON_CHECK_FAILED;
    case LB_HEALTH_R_DEREGISTERED:
        return LB_REASON_DEREGISTERED;
    case LB_HEALTH_R_DRAINED:
        return LB_REASON_DRAINED;
    case LB_HEALTH_R_DEADLINE:
        return LB_REASON_DEADLINE;
    case LB_HEALTH_R_EJECTED:
        return LB_REASON_EJECTED;
    case LB_HEALTH_R_EJECTION_END:
        return LB_REASON_EJECTION_ENDED;
    default: /* slow-start end, fail-open changes: no state change of the balancer's own */
        return 0;
    }
}

/* lb_health's transitions, translated into the balancer's events (called under the lock,
 * from inside lb_health calls). */
static void on_health_event(const lb_health_event *ev, void *user)
{
    lb_balancer *b = user;
    b->dirty = 1;
    if (ev->id == LB_NO_TARGET)
        return;
    struct lb__bal_target *t = find(b, ev->id);
    if (!t)
        return;
    uint32_t reason = map_reason(ev->reason);
    if (ev->new_state == LB_HEALTH_STATE_REMOVED)
        t->gone = 1;
    if (ev->close_connections)
        push_event(b, LB_EVENT_CLOSE, t->id, t->pub_state, t->pub_state, reason,
                   ev->close_connections, ev->at_ms);
    uint32_t ns = public_state(t, ev->new_state);
    if (reason && (ns != t->pub_state || reason == LB_REASON_REGISTERED))
        push_event(b, LB_EVENT_STATE, t->id, t->pub_state, ns, reason, ev->connections, ev->at_ms);
    t->pub_state = ns;
}

/* Give lb_health the current connection counts (at the time it has already reached, so that
 * no deadline fires with a stale count). */
static void sync_counts(lb_balancer *b, uint32_t skip_id)
{
    for (size_t i = 0; i < b->n; i++) {
        struct lb__bal_target *t = &b->tg[i];
        uint32_t c = active_of(b, t);
        if (c != t->synced && !t->gone && t->id != skip_id) {
            t->synced = c;
            (void)lb_health_set_conns(b->health, t->id, c, b->hnow);
        }
    }
}

/* Bring lb_health to @now: counts first, then its deadlines. */
static void health_advance(lb_balancer *b, uint64_t now, uint32_t skip_id)
{
    sync_counts(b, skip_id);
    if (now > b->hnow) {
        (void)lb_health_tick(b->health, now);
        b->hnow = now;
    }
}

/* Drop the targets lb_health reports REMOVED: out of the registry, a snapshot without them,
 * then (once no reader can hold their slot) their counters are freed. */
static size_t drop_gone(lb_balancer *b, uint64_t now)
{
    uint32_t gone_ids[64];
    size_t n_gone = 0;
    for (size_t i = 0; i < b->n && n_gone < LB_ARRAY_LEN(gone_ids) &&
                       b->n_zombies + n_gone < b->cfg.max_targets;) {
        struct lb__bal_target *t = &b->tg[i];
        if (!t->gone) {
            i++;
            continue;
        }
        gone_ids[n_gone++] = t->id;
        b->picks_gone += atomic_exchange_explicit(&b->picks[t->slot].n, 0, memory_order_relaxed);
        (void)lb_health_forget(b->health, t->id);
        (void)lb_pool_remove(b->pool, t->id);
        memmove(t, t + 1, (b->n - i - 1) * sizeof(*t));
        b->n--;
    }
    if (!n_gone)
        return 0;
    /* Their counters are freed once no reader can hold their slots: after this publish (or
     * the next successful one, lb__bal_publish()). */
    for (size_t k = 0; k < n_gone; k++)
        b->zombies[b->n_zombies++] = gone_ids[k];
    (void)lb__bal_publish(b);
    for (size_t k = 0; k < n_gone; k++)
        push_event(b, LB_EVENT_REMOVED, gone_ids[k], LB_STATE_REMOVED, LB_STATE_REMOVED,
                   LB_REASON_DRAINED, 0, now);
    return n_gone;
}

/* Operator drains: deadlines and early ends. */
static void admin_drains(lb_balancer *b, uint64_t now)
{
    for (size_t i = 0; i < b->n; i++) {
        struct lb__bal_target *t = &b->tg[i];
        if (!t->admin_drain || t->drain_deadline == UINT64_MAX)
            continue;
        uint32_t c = active_of(b, t);
        if (c && t->drain_deadline > now)
            continue;
        if (c)
            push_event(b, LB_EVENT_CLOSE, t->id, LB_STATE_DRAINING, LB_STATE_DRAINING,
                       LB_REASON_DEADLINE, c, t->drain_deadline);
        push_event(b, LB_EVENT_STATE, t->id, LB_STATE_DRAINING, LB_STATE_DRAINING,
                   c ? LB_REASON_DEADLINE : LB_REASON_DRAINED, c, c ? t->drain_deadline : now);
        t->drain_deadline = UINT64_MAX;
    }
}

/* After every change: drop removed targets and publish what changed. */
static int settle(lb_balancer *b, uint64_t now)
{
    sync_counts(b, LB_NO_TARGET);
    while (drop_gone(b, now))
        ;
    return b->dirty ? lb__bal_publish(b) : 0;
}

/* ---- effective weights (called by the snapshot builder) ----------------------------------- */

static int zone_weights(lb_balancer *b, uint32_t *w, const uint8_t *el)
{
    lb_zone_options o;
    lb_zone_options_init(&o, sizeof(o));
    static const uint32_t modes[] = {LB_ZONE_MODE_ON, LB_ZONE_MODE_OFF, LB_ZONE_MODE_AWARE,
                                     LB_ZONE_MODE_AFFINITY};
    o.mode = modes[b->cfg.zone_mode];
    o.min_cluster_size = b->cfg.min_cluster_size;
    o.local_fraction = b->cfg.local_percent / 100.0;
    lb_zone_plan *plan = NULL;
    uint32_t *ids = malloc((b->n + 1) * sizeof(*ids));
    uint32_t *zw = malloc((b->n + 1) * sizeof(*zw));
    int rc = ids && zw ? lb_zone_plan_new(&plan, &o) : -ENOMEM;
    char name[32];
    if (!rc) {
        snprintf(name, sizeof(name), "zone-%u", b->cfg.local_zone);
        rc = lb_zone_add(plan, b->cfg.local_zone, name, 0);
    }
    size_t n = 0;
    for (size_t i = 0; i < b->n && !rc; i++) {
        if (!el[i] || !w[i])
            continue;
        snprintf(name, sizeof(name), "zone-%u", b->tg[i].zone);
        int z = lb_zone_add(plan, b->tg[i].zone, name, 0);
        if (z && z != -EEXIST)
            rc = z;
        if (!rc)
            rc = lb_zone_target_add(plan, b->tg[i].id, b->tg[i].zone, w[i], 1);
        ids[n++] = b->tg[i].id;
    }
    for (size_t k = 0; k < b->n_shares && !rc; k++) {
        int s = lb_zone_set_incoming(plan, b->shares[k].zone, b->shares[k].percent / 100.0);
        if (s && s != LB_E_ZONE_UNKNOWN)
            rc = s;
    }
    if (!rc)
        rc = lb_zone_plan_weights(plan, b->cfg.local_zone, ids, n, zw, NULL);
    if (!rc)
        for (size_t i = 0, k = 0; i < b->n; i++)
            if (el[i] && w[i])
                w[i] = zw[k++];
    lb_zone_plan_free(plan);
    free(ids);
    free(zw);
    /* No zone can serve (or too many zones): keep the weights as they are. */
    return rc == -ENOMEM ? rc : 0;
}

int lb__bal_effective(lb_balancer *b, uint32_t *w, uint8_t *el, uint8_t *dr, uint32_t *fail_open)
{
    uint32_t registered = 0, healthy = 0;
    lb_health_target ht = {.struct_size = sizeof(ht)};
    for (size_t i = 0; i < b->n; i++) {
        const struct lb__bal_target *t = &b->tg[i];
        if (lb_health_get(b->health, t->id, &ht))
            ht.state = LB_HEALTH_STATE_REMOVED;
        dr[i] = t->admin_drain || t->removing || t->leaving ||
                ht.state == LB_HEALTH_STATE_DRAINING || ht.state == LB_HEALTH_STATE_REMOVED;
        el[i] = !dr[i] && ht.eligible;
        w[i] = el[i] ? ht.effective_weight : t->weight;
        registered += !dr[i];
        healthy += el[i];
    }
    *fail_open =
        !b->cfg.fail_closed && registered &&
        (healthy == 0 || (uint64_t)healthy * 100 < (uint64_t)b->cfg.panic_percent * registered);
    if (*fail_open)
        for (size_t i = 0; i < b->n; i++)
            el[i] = !dr[i];
    if (b->cfg.zone_mode != LB_BALANCER_ZONE_ALL && !*fail_open)
        return zone_weights(b, w, el);
    return 0;
}

/* ---- lifecycle --------------------------------------------------------------------------- */

LB_API int lb_balancer_new(lb_balancer **out, const lb_balancer_config *cfg)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    lb_balancer_config c;
    int rc = config_resolve(cfg, &c);
    if (rc)
        return rc;
    size_t size = (sizeof(lb_balancer) + 63) & ~(size_t)63;
    lb_balancer *b = aligned_alloc(64, size);
    if (!b)
        return -ENOMEM;
    memset(b, 0, size);
    b->cfg = c;
    b->algorithm = c.algorithm;
    b->bound_percent = c.bound_percent;
    b->ramp_next = UINT64_MAX;
    atomic_init(&b->current, NULL);
    atomic_init(&b->epoch, 0);
    atomic_init(&b->no_target, 0);
    atomic_init(&b->bad_releases, 0);
    for (unsigned i = 0; i < LB__BAL_STRIPES; i++) {
        atomic_init(&b->stripes[i].readers[0], 0);
        atomic_init(&b->stripes[i].readers[1], 0);
    }
    if (pthread_mutex_init(&b->lock, NULL)) {
        free(b);
        return -ENOMEM;
    }
    lb_health_config hc;
    lb_health_config_init(&hc, sizeof(hc));
    hc.initial_state = c.wait_for_checks ? LB_HEALTH_STATE_INITIAL : LB_HEALTH_STATE_HEALTHY;
    hc.healthy_threshold = c.rise;
    hc.unhealthy_threshold = c.fall;
    hc.interval_ms = hc.fast_interval_ms = hc.down_interval_ms = c.check_interval_ms;
    hc.on_fail = c.keep_connections_on_unhealthy ? LB_HEALTH_ON_FAIL_KEEP : LB_HEALTH_ON_FAIL_CLOSE;
    hc.deregistration_delay_ms =
        c.deregistration_delay_ms == LB_BALANCER_DRAIN_IMMEDIATE ? 0 : c.deregistration_delay_ms;
    hc.passive_failures = c.eject_after_failures;
    hc.ejection_base_ms = c.eject_base_ms;
    hc.ejection_max_ms = c.eject_base_ms * 10u < TIME_MAX_MS ? c.eject_base_ms * 10u : TIME_MAX_MS;
    if (hc.ejection_max_ms < c.eject_base_ms)
        hc.ejection_max_ms = c.eject_base_ms;
    hc.max_ejection_percent = c.max_eject_percent;
    hc.slow_start_window_ms = c.slow_start_ms;
    hc.slow_start_step_ms =
        c.slow_start_ms / 10 ? (c.slow_start_ms / 10 > 60000 ? 60000 : c.slow_start_ms / 10) : 1;
    hc.fail_open = 0; /* the balancer decides fail-open itself (operator drains count) */
    hc.seed = c.seed;
    hc.on_event = on_health_event;
    hc.user = b;
    /* Only bounded-load hashing reads the total on every pick; without it, a pick and a release
     * each touch just the target's counter (no shared cache line for all threads). */
    rc = lb_loads_new_ex(&b->loads, c.max_targets,
                         c.algorithm == LB_ALG_RING_BOUNDED ? 0 : LB_LOADS_NO_TOTAL);
    if (!rc)
        rc = lb_pool_new(&b->pool);
    if (!rc) {
        rc = lb_health_new(&b->health, &hc);
        if (rc == -ERANGE || rc == -EINVAL)
            rc = LB_E_BALANCER_CONFIG;
    }
    if (!rc) {
        b->picks = aligned_alloc(64, (size_t)c.max_targets * sizeof(*b->picks));
        b->zombies = malloc((size_t)c.max_targets * sizeof(*b->zombies));
        if (!b->picks || !b->zombies)
            rc = -ENOMEM;
        else
            for (uint32_t i = 0; i < c.max_targets; i++)
                atomic_init(&b->picks[i].n, 0);
    }
    if (!rc)
        rc = lb__bal_publish(b);
    if (rc) {
        lb_balancer_free(b);
        return rc;
    }
    *out = b;
    return 0;
}

LB_API void lb_balancer_free(lb_balancer *b)
{
    if (!b)
        return;
    lb__bal_snap_free(b, atomic_load_explicit(&b->current, memory_order_relaxed));
    for (uint32_t i = 0; i < b->n_retired; i++)
        lb__bal_snap_free(b, b->retired[i]);
    lb_health_free(b->health);
    lb_pool_free(b->pool);
    lb_loads_free(b->loads);
    free(b->picks);
    free(b->zombies);
    free(b->tg);
    free(b->ev);
    free(b->shares);
    pthread_mutex_destroy(&b->lock);
    free(b);
}

/* ---- changes ----------------------------------------------------------------------------- */

/* Lock @b and find target @id (NULL, with *rc = -ENOENT, when it is not registered). The
 * caller unlocks with done(). */
static struct lb__bal_target *lock_target(lb_balancer *b, uint32_t id, int *rc)
{
    pthread_mutex_lock(&b->lock);
    struct lb__bal_target *t = find(b, id);
    *rc = t ? 0 : -ENOENT;
    return t;
}

/* Publish what a change made at @now changed (when @changed), unlock, return @rc or the
 * publication's error. */
static int done(lb_balancer *b, int rc, int changed, uint64_t now)
{
    if (changed) {
        b->dirty = 1;
        rc = settle(b, now);
    }
    pthread_mutex_unlock(&b->lock);
    return rc;
}

static void set_state(lb_balancer *b, struct lb__bal_target *t, uint32_t state, uint32_t reason,
                      uint64_t now)
{
    if (state != t->pub_state)
        push_event(b, LB_EVENT_STATE, t->id, t->pub_state, state, reason, active_of(b, t), now);
    t->pub_state = state;
}

LB_API int lb_balancer_add(lb_balancer *b, uint32_t id, const void *key, size_t key_len,
                           uint32_t weight, uint32_t zone, uint32_t max_conns, uint64_t now_ms)
{
    if (!b || !key || id == LB_NO_TARGET)
        return -EINVAL;
    if (key_len == 0 || key_len > LB_POOL_KEY_MAX)
        return LB_E_POOL_BAD_KEY;
    if (weight > LB_WEIGHT_MAX)
        return LB_E_POOL_BAD_WEIGHT;
    pthread_mutex_lock(&b->lock);
    /* A removed id's counter must be freed before the id can be tracked again. */
    int rc = b->n_zombies ? lb__bal_publish(b) : 0;
    if (!rc && lb__pool_index_of(b->pool, id) >= 0)
        rc = -EEXIST;
    if (!rc && b->n >= b->cfg.max_targets)
        rc = -ENOSPC;
    if (!rc && b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        struct lb__bal_target *tg = realloc(b->tg, cap * sizeof(*tg));
        if (tg) {
            b->tg = tg;
            b->cap = cap;
        } else {
            rc = -ENOMEM;
        }
    }
    if (rc)
        return done(b, rc, 0, now_ms);
    health_advance(b, now_ms, LB_NO_TARGET);
    rc = lb_pool_add(b->pool, id, key, key_len, weight, zone);
    uint32_t slot = 0;
    if (!rc && (rc = lb_loads_track(b->loads, id, &slot)) != 0)
        (void)lb_pool_remove(b->pool, id);
    if (rc)
        return done(b, rc, 0, now_ms);
    atomic_store_explicit(&b->picks[slot].n, 0, memory_order_relaxed);
    b->tg[b->n++] = (struct lb__bal_target){
        .id = id,
        .weight = weight,
        .zone = zone,
        .max_conns = max_conns,
        .slot = slot,
        .pub_state = LB_STATE_REMOVED, /* the registration event reports removed -> x */
        .drain_deadline = UINT64_MAX,
        .key_hash = XXH3_64bits_withSeed(key, key_len, KEY_SEED),
    };
    rc = lb_health_register(b->health, id, weight, now_ms);
    if (rc) {
        b->n--;
        (void)lb_loads_untrack(b->loads, id);
        (void)lb_pool_remove(b->pool, id);
    }
    return done(b, rc, rc == 0, now_ms);
}

/* Make @t ineligible and wait until every pick that could still choose it has finished, so
 * that its connection count is final (but for releases) when the drain begins. */
static int drain_begin(lb_balancer *b, struct lb__bal_target *t, uint64_t now)
{
    health_advance(b, now, LB_NO_TARGET);
    t->leaving = 1;
    int rc = lb__bal_publish(b);
    t->leaving = 0;
    if (!rc)
        lb__bal_synchronize(b);
    return rc;
}

LB_API int lb_balancer_remove(lb_balancer *b, uint32_t id, uint64_t now_ms)
{
    if (!b || id == LB_NO_TARGET)
        return -EINVAL;
    int rc;
    struct lb__bal_target *t = lock_target(b, id, &rc);
    if (!t || t->removing)
        return done(b, rc, 0, now_ms);
    rc = drain_begin(b, t, now_ms);
    if (rc)
        return done(b, rc, 0, now_ms);
    sync_counts(b, LB_NO_TARGET);
    t->removing = 1;
    t->admin_drain = 0;
    t->drain_deadline = UINT64_MAX;
    set_state(b, t, LB_STATE_DRAINING, LB_REASON_DEREGISTERED, now_ms);
    (void)lb_health_deregister(b->health, id, now_ms); /* lb_health drives the drain */
    return done(b, 0, 1, now_ms);
}

LB_API int lb_balancer_drain(lb_balancer *b, uint32_t id, uint64_t now_ms)
{
    if (!b || id == LB_NO_TARGET)
        return -EINVAL;
    int rc;
    struct lb__bal_target *t = lock_target(b, id, &rc);
    if (!t || t->removing || t->admin_drain)
        return done(b, rc, 0, now_ms);
    rc = drain_begin(b, t, now_ms);
    if (rc)
        return done(b, rc, 0, now_ms);
    uint32_t delay = b->cfg.deregistration_delay_ms;
    t->admin_drain = 1;
    t->drain_deadline = delay == LB_BALANCER_DRAIN_IMMEDIATE ? now_ms : now_ms + delay;
    set_state(b, t, LB_STATE_DRAINING, LB_REASON_DEREGISTERED, now_ms);
    admin_drains(b, now_ms);
    return done(b, 0, 1, now_ms);
}

LB_API int lb_balancer_undrain(lb_balancer *b, uint32_t id, uint64_t now_ms)
{
    if (!b || id == LB_NO_TARGET)
        return -EINVAL;
    int rc;
    struct lb__bal_target *t = lock_target(b, id, &rc);
    if (t && (!t->admin_drain || t->removing))
        rc = LB_E_HEALTH_BAD_STATE;
    if (rc)
        return done(b, rc, 0, now_ms);
    health_advance(b, now_ms, LB_NO_TARGET);
    t->admin_drain = 0;
    t->drain_deadline = UINT64_MAX;
    set_state(b, t, public_state(t, health_state_of(b, id)), LB_REASON_UNDRAINED, now_ms);
    return done(b, 0, 1, now_ms);
}

LB_API int lb_balancer_set_weight(lb_balancer *b, uint32_t id, uint32_t weight, uint64_t now_ms)
{
    if (!b || id == LB_NO_TARGET)
        return -EINVAL;
    if (weight > LB_WEIGHT_MAX)
        return LB_E_POOL_BAD_WEIGHT;
    int rc;
    struct lb__bal_target *t = lock_target(b, id, &rc);
    if (!t || t->weight == weight)
        return done(b, rc, 0, now_ms);
    health_advance(b, now_ms, LB_NO_TARGET);
    t->weight = weight;
    (void)lb_pool_set_weight(b->pool, id, weight);
    (void)lb_health_set_weight(b->health, id, weight, now_ms);
    return done(b, 0, 1, now_ms);
}

LB_API int lb_balancer_set_zone(lb_balancer *b, uint32_t id, uint32_t zone, uint64_t now_ms)
{
    if (!b || id == LB_NO_TARGET)
        return -EINVAL;
    int rc;
    struct lb__bal_target *t = lock_target(b, id, &rc);
    if (!t || t->zone == zone)
        return done(b, rc, 0, now_ms);
    health_advance(b, now_ms, LB_NO_TARGET);
    t->zone = zone;
    (void)lb_pool_set_zone(b->pool, id, zone);
    return done(b, 0, 1, now_ms);
}

LB_API int lb_balancer_set_zone_share(lb_balancer *b, uint32_t zone, uint32_t share_percent,
                                      uint64_t now_ms)
{
    if (!b)
        return -EINVAL;
    if (share_percent > 100)
        return -ERANGE;
    pthread_mutex_lock(&b->lock);
    size_t k = 0;
    while (k < b->n_shares && b->shares[k].zone != zone)
        k++;
    if (k == b->n_shares) {
        struct lb__zone_share *sh = realloc(b->shares, (k + 1) * sizeof(*sh));
        if (!sh)
            return done(b, -ENOMEM, 0, now_ms);
        b->shares = sh;
        b->n_shares++;
        b->shares[k].zone = zone;
    }
    b->shares[k].percent = share_percent;
    health_advance(b, now_ms, LB_NO_TARGET);
    return done(b, 0, 1, now_ms);
}

LB_API int lb_balancer_report(lb_balancer *b, uint32_t id, int check_ok, uint64_t now_ms)
{
    if (!b || id == LB_NO_TARGET)
        return -EINVAL;
    int rc;
    if (!lock_target(b, id, &rc))
        return done(b, rc, 0, now_ms);
    health_advance(b, now_ms, LB_NO_TARGET);
    /* A deregistered target's checks no longer matter (BAD_STATE): accepted, ignored. */
    (void)lb_health_check_result(b->health, id, check_ok != 0, now_ms);
    return done(b, settle(b, now_ms), 0, now_ms);
}

LB_API int lb_balancer_report_passive(lb_balancer *b, uint32_t id, int ok, uint64_t now_ms)
{
    if (!b || id == LB_NO_TARGET)
        return -EINVAL;
    int rc;
    if (!lock_target(b, id, &rc))
        return done(b, rc, 0, now_ms);
    health_advance(b, now_ms, LB_NO_TARGET);
    uint32_t signal = ok ? LB_HEALTH_SIG_CONNECT_OK : LB_HEALTH_SIG_CONNECT_FAIL;
    (void)lb_health_passive(b->health, id, signal, now_ms);
    return done(b, settle(b, now_ms), 0, now_ms);
}

LB_API int lb_balancer_next_check(lb_balancer *b, uint32_t id, uint64_t *due_ms)
{
    if (!b || !due_ms || id == LB_NO_TARGET)
        return -EINVAL;
    pthread_mutex_lock(&b->lock);
    lb_health_target ht = {.struct_size = sizeof(ht)};
    int rc = find(b, id) ? lb_health_get(b->health, id, &ht) : -ENOENT;
    if (!rc)
        *due_ms = ht.next_check_ms;
    pthread_mutex_unlock(&b->lock);
    return rc;
}

void lb__bal_last_release(lb_balancer *b, uint32_t id, uint64_t now_ms)
{
    pthread_mutex_lock(&b->lock);
    struct lb__bal_target *t = find(b, id);
    if (t && active_of(b, t) == 0) {
        /* This target's count changed now; the others' at an unknown time since. */
        health_advance(b, now_ms, id);
        sync_counts(b, LB_NO_TARGET); /* a removed target's drain ends here (lb_health: DRAINED) */
        if (t->admin_drain)
            admin_drains(b, now_ms);
        (void)settle(b, now_ms);
    }
    pthread_mutex_unlock(&b->lock);
}

/* ---- time and events ---------------------------------------------------------------------- */

static int any_ramping(const lb_balancer *b)
{
    lb_health_target ht = {.struct_size = sizeof(ht)};
    for (size_t i = 0; i < b->n; i++)
        if (!lb_health_get(b->health, b->tg[i].id, &ht) && ht.slow_start)
            return 1;
    return 0;
}

LB_API int lb_balancer_tick(lb_balancer *b, uint64_t now_ms, lb_event *events, size_t event_size,
                            size_t cap)
{
    if (!b || (cap && !events))
        return -EINVAL;
    if (cap && lb__elem_check(event_size, EVENT_SIZE_1_0))
        return LB_E_STRUCT_SIZE;
    if (cap > INT32_MAX)
        cap = INT32_MAX;
    pthread_mutex_lock(&b->lock);
    health_advance(b, now_ms, LB_NO_TARGET);
    admin_drains(b, now_ms);
    if (b->ramp_next <= now_ms)
        b->dirty = 1; /* a slow-start step: rebuild with the ramped weights */
    (void)settle(b, now_ms);
    if (b->cfg.slow_start_ms && any_ramping(b)) {
        uint64_t step = ramp_step_ms(b);
        b->ramp_next = (now_ms / step + 1) * step;
    } else {
        b->ramp_next = UINT64_MAX;
    }
    size_t n = 0;
    while (n < cap && b->ev_len) {
        lb_event ev = b->ev[b->ev_head];
        ev.struct_size = (uint32_t)(event_size < sizeof(ev) ? event_size : sizeof(ev));
        lb__struct_out(lb__elem(events, event_size, n++), event_size, &ev, sizeof(ev));
        b->ev_head = (b->ev_head + 1) % b->ev_cap;
        b->ev_len--;
    }
    pthread_mutex_unlock(&b->lock);
    return (int)n;
}

LB_API uint64_t lb_balancer_next_deadline(lb_balancer *b)
{
    if (!b)
        return UINT64_MAX;
    pthread_mutex_lock(&b->lock);
    uint64_t d = UINT64_MAX;
    if (b->ev_len || b->dirty) {
        d = 0;
    } else {
        lb_health_target ht = {.struct_size = sizeof(ht)};
        int ramping = 0;
        for (size_t i = 0; i < b->n; i++) {
            const struct lb__bal_target *t = &b->tg[i];
            if (t->admin_drain && t->drain_deadline < d)
                d = t->drain_deadline;
            if (lb_health_get(b->health, t->id, &ht))
                continue;
            if ((ht.state == LB_HEALTH_STATE_DRAINING || ht.state == LB_HEALTH_STATE_EJECTED) &&
                ht.until_ms < d)
                d = ht.until_ms;
            ramping |= ht.slow_start != 0;
        }
        if (ramping) {
            uint64_t step = ramp_step_ms(b);
            uint64_t next = b->ramp_next != UINT64_MAX ? b->ramp_next : (b->hnow / step + 1) * step;
            d = next < d ? next : d;
        }
    }
    pthread_mutex_unlock(&b->lock);
    return d;
}

/* ---- statistics -------------------------------------------------------------------------- */

LB_API int lb_balancer_get_target_stats(lb_balancer *b, uint32_t id, lb_target_stats *out)
{
    if (!b || !out || id == LB_NO_TARGET)
        return -EINVAL;
    if (lb__out_check(out, TARGET_STATS_SIZE_1_0))
        return LB_E_STRUCT_SIZE;
    pthread_mutex_lock(&b->lock);
    struct lb__bal_target *t = find(b, id);
    int rc = t ? 0 : -ENOENT;
    if (t) {
        const struct lb__snap *s = atomic_load_explicit(&b->current, memory_order_relaxed);
        const struct lb__snap_ent *e = lb__bal_snap_find(s, id);
        lb_target_stats st = {
            .struct_size = sizeof(*out),
            .id = id,
            .state = t->pub_state,
            .eligible = e ? e->eligible : 0,
            .weight = t->weight,
            .effective_weight = e ? e->weight : 0,
            .zone = t->zone,
            .active = active_of(b, t),
            .picks = atomic_load_explicit(&b->picks[t->slot].n, memory_order_relaxed),
            .table_entries = e ? e->entries : 0,
            .max_conns = t->max_conns,
        };
        lb__struct_put(out, &st, sizeof(st));
    }
    pthread_mutex_unlock(&b->lock);
    return rc;
}

LB_API int lb_balancer_get_stats(lb_balancer *b, lb_balancer_stats *out)
{
    if (!b || !out)
        return -EINVAL;
    if (lb__out_check(out, STATS_SIZE_1_0))
        return LB_E_STRUCT_SIZE;
    pthread_mutex_lock(&b->lock);
    const struct lb__snap *s = atomic_load_explicit(&b->current, memory_order_relaxed);
    uint64_t picks = b->picks_gone;
    for (size_t i = 0; i < b->n; i++)
        picks += atomic_load_explicit(&b->picks[b->tg[i].slot].n, memory_order_relaxed);
    lb_balancer_stats st = {
        .struct_size = sizeof(*out),
        .targets = (uint32_t)b->n,
        .eligible = s->n_elig,
        .fail_open = s->fail_open,
        .generation = s->generation,
        .table_digest = s->sel->digest,
        .picks = picks,
        .no_target = atomic_load_explicit(&b->no_target, memory_order_relaxed),
        .retired_snapshots = b->n_retired,
        .events_queued = (uint32_t)b->ev_len,
        .events_dropped = b->ev_dropped,
        .bad_releases = atomic_load_explicit(&b->bad_releases, memory_order_relaxed),
    };
    lb__struct_put(out, &st, sizeof(st));
    pthread_mutex_unlock(&b->lock);
    return 0;
}

LB_API int lb_balancer_targets(lb_balancer *b, uint32_t *ids, size_t cap)
{
    if (!b || (cap && !ids))
        return -EINVAL;
    pthread_mutex_lock(&b->lock);
    for (size_t i = 0; i < b->n && i < cap; i++)
        ids[i] = b->tg[i].id;
    int n = (int)b->n;
    pthread_mutex_unlock(&b->lock);
    return n;
}

/* ---- names ------------------------------------------------------------------------------- */

LB_API const char *lb_balancer_state_name(uint32_t state)
{
    static const char *const names[] = {"initial", "healthy", "unhealthy", "draining", "removed"};
    return state < LB_ARRAY_LEN(names) ? names[state] : "unknown";
}

LB_API const char *lb_balancer_reason_name(uint32_t reason)
{
    static const char *const names[] = {
        NULL,      "registered", "check_passed", "check_failed",   "deregistered",
        "drained", "deadline",   "ejected",      "ejection_ended", "undrained"};
    return reason && reason < LB_ARRAY_LEN(names) ? names[reason] : "unknown";
}

LB_API const char *lb_balancer_algorithm_name(uint32_t algorithm)
{
    static const char *const names[] = {"maglev", "ring",      "ring-bounded",
                                        "wrr",    "leastconn", "p2c"};
    return algorithm < LB_ARRAY_LEN(names) ? names[algorithm] : "unknown";
}
