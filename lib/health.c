/* Health and connection-draining state machine: pure, single writer, time passed in.
 * Targets live in an array sorted by id (binary search, deterministic iteration order). Every
 * call with a time first advances the machine (deadlines, ejection ends, ramps), then applies
 * its change, then refreshes every target's (state, eligible, effective weight) view, because
 * fail-open makes eligibility a property of the whole pool. Both full passes are skipped when
 * nothing is due (`wake`) and nothing changed (`dirty`), so that the per-connection calls
 * (conn_open, conn_close) cost a binary search. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lb/health.h"
#include "internal/abi.h"
#include "internal/util.h"

/* First-release sizes (doc/ABI.md). */
#define CONFIG_SIZE_1_0 LB__SIZE_UPTO(lb_health_config, user)
#define EVENT_SIZE_1_0  LB__SIZE_UPTO(lb_health_event, close_connections)
#define TARGET_SIZE_1_0 LB__SIZE_UPTO(lb_health_target, until_ms)
#define STATUS_SIZE_1_0 LB__SIZE_UPTO(lb_health_status, generation)

struct target {
    uint32_t id;
    uint32_t weight;
    uint32_t conns;
    uint8_t state;
    uint8_t reason;
    uint8_t deregistered;
    uint8_t ramping;
    uint32_t ok_run;      /* consecutive passed checks */
    uint32_t fail_run;    /* consecutive failed checks */
    uint32_t passive_run; /* consecutive passive failures */
    uint32_t ejections;   /* ejection multiplier before decay */
    uint64_t last_eject_end;
    uint64_t until; /* drain deadline (DRAINING) or ejection end (EJECTED) */
    uint64_t ramp_start;
    uint64_t next_check;
    uint64_t since;
    uint64_t sched_count; /* feeds the jitter generator */
    /* the published view */
    uint8_t view_state;
    uint8_t view_eligible;
    uint32_t view_weight;
    uint64_t changed_gen;
};

struct lb_health {
    lb_health_config cfg;
    struct target *t;
    size_t n, cap;
    uint64_t now;
    uint64_t wake; /* earliest drain deadline, ejection end or slow-start step */
    int dirty;     /* something changed since the last refresh */
    uint64_t gen;
    int fail_open;
    lb_health_event *q;
    size_t q_head, q_len, q_cap;
    uint64_t dropped;
    uint64_t refused;
};

static void config_default(lb_health_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->struct_size = sizeof(*cfg);
    cfg->initial_state = LB_HEALTH_STATE_INITIAL;
    cfg->healthy_threshold = 2;
    cfg->unhealthy_threshold = 3;
    cfg->interval_ms = 10000;
    cfg->fast_interval_ms = 2000;
    cfg->down_interval_ms = 30000;
    cfg->jitter_percent = 10;
    cfg->on_fail = LB_HEALTH_ON_FAIL_DRAIN;
    cfg->deregistration_delay_ms = 300000;
    cfg->passive_failures = 5;
    cfg->ejection_base_ms = 30000;
    cfg->ejection_max_ms = 300000;
    cfg->ejection_decay_ms = 10000;
    cfg->max_ejection_percent = 10;
    cfg->slow_start_window_ms = 0;
    cfg->slow_start_aggression_milli = 1000;
    cfg->slow_start_min_percent = 10;
    cfg->slow_start_step_ms = 1000;
    cfg->fail_open = 1;
    cfg->fail_open_percent = 0;
    cfg->event_queue_max = 4096;
}

LB_API void lb_health_config_init(lb_health_config *cfg, size_t size)
{
    lb_health_config def;
    config_default(&def);
    lb__struct_init(cfg, size, &def, sizeof(def));
}

static int in_range(uint32_t v, uint32_t lo, uint32_t hi)
{
    return v >= lo && v <= hi;
}

static int config_check(const lb_health_config *c)
{
    if (c->initial_state != LB_HEALTH_STATE_INITIAL && c->initial_state != LB_HEALTH_STATE_HEALTHY)
        return -ERANGE;
    if (!in_range(c->healthy_threshold, 1, 100) || !in_range(c->unhealthy_threshold, 1, 100))
        return -ERANGE;
    if (!in_range(c->interval_ms, 100, LB_HEALTH_TIME_MAX_MS) ||
        !in_range(c->fast_interval_ms, 100, LB_HEALTH_TIME_MAX_MS) ||
        !in_range(c->down_interval_ms, 100, LB_HEALTH_TIME_MAX_MS))
        return -ERANGE;
    if (c->jitter_percent > 50 || c->on_fail > LB_HEALTH_ON_FAIL_CLOSE)
        return -ERANGE;
    if (c->deregistration_delay_ms > LB_HEALTH_DELAY_MAX_MS || c->passive_failures > 1000)
        return -ERANGE;
    if (!in_range(c->ejection_base_ms, 1, LB_HEALTH_TIME_MAX_MS) ||
        !in_range(c->ejection_max_ms, c->ejection_base_ms, LB_HEALTH_TIME_MAX_MS) ||
        !in_range(c->ejection_decay_ms, 1, LB_HEALTH_TIME_MAX_MS) || c->max_ejection_percent > 100)
        return -ERANGE;
    if (c->slow_start_window_ms > LB_HEALTH_TIME_MAX_MS ||
        !in_range(c->slow_start_aggression_milli, 100, 10000) || c->slow_start_min_percent > 100 ||
        !in_range(c->slow_start_step_ms, 1, 60000))
        return -ERANGE;
    if (c->fail_open > 1 || c->fail_open_percent > 100 || c->event_queue_max > (1u << 20))
        return -ERANGE;
    return 0;
}

LB_API int lb_health_new(lb_health **out, const lb_health_config *cfg)
{
    if (!out)
        return -EINVAL;
    lb_health_config c;
    config_default(&c);
    int rc = cfg ? lb__struct_in(&c, sizeof(c), cfg, cfg->struct_size, CONFIG_SIZE_1_0) : 0;
    if (rc)
        return rc;
    c.struct_size = sizeof(c);
    cfg = &c;
    rc = config_check(cfg);
    if (rc)
        return rc;
    lb_health *h = calloc(1, sizeof(*h));
    if (!h)
        return -ENOMEM;
    h->cfg = *cfg;
    h->wake = LB_HEALTH_NEVER;
    *out = h;
    return 0;
}

LB_API void lb_health_free(lb_health *h)
{
    if (!h)
        return;
    free(h->t);
    free(h->q);
    free(h);
}

/* ---- lookup ------------------------------------------------------------------------------ */

/* Index of the first target with id >= @id. */
static size_t lower_bound(const lb_health *h, uint32_t id)
{
    size_t lo = 0, hi = h->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (h->t[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static struct target *find(const lb_health *h, uint32_t id)
{
    size_t i = lower_bound(h, id);
    return i < h->n && h->t[i].id == id ? &h->t[i] : NULL;
}

/* ---- events ------------------------------------------------------------------------------ */

static void queue_push(lb_health *h, const lb_health_event *ev)
{
    if (h->q_head + h->q_len == h->q_cap && h->q_head > 0) {
        memmove(h->q, h->q + h->q_head, h->q_len * sizeof(*h->q));
        h->q_head = 0;
    }
    if (h->q_len == h->q_cap) {
        size_t ncap = h->q_cap ? h->q_cap * 2 : 16;
        if (ncap > h->cfg.event_queue_max)
            ncap = h->cfg.event_queue_max;
        lb_health_event *nq = ncap > h->q_cap ? realloc(h->q, ncap * sizeof(*nq)) : NULL;
        if (!nq) {
            h->dropped++;
            return;
        }
        h->q = nq;
        h->q_cap = ncap;
    }
    h->q[h->q_head + h->q_len++] = *ev;
}

static void emit(lb_health *h, uint32_t id, uint64_t at, uint32_t old_state, uint32_t new_state,
                 uint32_t reason, uint32_t eligible, uint32_t conns, uint32_t close)
{
    lb_health_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.struct_size = sizeof(ev);
    ev.id = id;
    ev.at_ms = at;
    ev.old_state = old_state;
    ev.new_state = new_state;
    ev.reason = reason;
    ev.eligible = eligible;
    ev.connections = conns;
    ev.close_connections = close;
    if (h->cfg.on_event)
        h->cfg.on_event(&ev, h->cfg.user);
    else
        queue_push(h, &ev);
}

/* ---- eligibility and weights ------------------------------------------------------------- */

static int eligible(const lb_health *h, const struct target *t)
{
    if (t->state == LB_HEALTH_STATE_HEALTHY)
        return 1;
    return h->fail_open && !t->deregistered && t->state != LB_HEALTH_STATE_REMOVED;
}

static uint32_t ramp_weight(const lb_health *h, const struct target *t)
{
    const lb_health_config *c = &h->cfg;
    uint64_t w = t->weight, win = c->slow_start_window_ms;
    uint64_t elapsed = h->now > t->ramp_start ? h->now - t->ramp_start : 0;
    if (w == 0 || elapsed >= win)
        return (uint32_t)w;
    uint64_t ew;
    if (c->slow_start_aggression_milli == 1000) {
        ew = w * elapsed / win; /* exact integer floor */
    } else {
        double f = pow((double)elapsed / (double)win, 1000.0 / c->slow_start_aggression_milli);
        ew = (uint64_t)floor((double)w * f);
        if (ew > w)
            ew = w;
    }
    uint64_t min_w = (w * c->slow_start_min_percent + 99) / 100;
    if (ew < min_w)
        ew = min_w;
    return (uint32_t)(ew ? ew : 1);
}

static void counts(const lb_health *h, uint32_t *registered, uint32_t *healthy, uint32_t *ejected)
{
    uint32_t r = 0, hl = 0, e = 0;
    for (size_t i = 0; i < h->n; i++) {
        const struct target *t = &h->t[i];
        r += !t->deregistered && t->state != LB_HEALTH_STATE_REMOVED;
        hl += t->state == LB_HEALTH_STATE_HEALTHY;
        e += t->state == LB_HEALTH_STATE_EJECTED;
    }
    *registered = r;
    *healthy = hl;
    *ejected = e;
}

/* Recompute fail-open, every target's view and the wake time; bump the generation if any view
 * changed. */
static void refresh(lb_health *h)
{
    if (!h->dirty)
        return;
    h->dirty = 0;
    uint32_t reg, healthy, ej;
    counts(h, &reg, &healthy, &ej);
    int fo = h->cfg.fail_open && reg > 0 &&
             (healthy == 0 || (uint64_t)healthy * 100 < (uint64_t)h->cfg.fail_open_percent * reg);
    uint64_t next_gen = h->gen + 1;
    int changed = 0;
    if (fo != h->fail_open) {
        h->fail_open = fo;
        changed = 1;
        emit(h, LB_NO_TARGET, h->now, 0, 0, fo ? LB_HEALTH_R_FAIL_OPEN : LB_HEALTH_R_FAIL_OPEN_END,
             (uint32_t)fo, 0, 0);
    }
    uint64_t wake = LB_HEALTH_NEVER;
    for (size_t i = 0; i < h->n; i++) {
        struct target *t = &h->t[i];
        if ((t->state == LB_HEALTH_STATE_DRAINING || t->state == LB_HEALTH_STATE_EJECTED) &&
            t->until < wake)
            wake = t->until;
        if (t->ramping) {
            uint64_t step = h->now + h->cfg.slow_start_step_ms;
            uint64_t end = t->ramp_start + h->cfg.slow_start_window_ms;
            wake = step < wake ? step : wake;
            wake = end < wake ? end : wake;
        }
        uint8_t el = (uint8_t)eligible(h, t);
        uint32_t ew = !el ? 0 : t->ramping ? ramp_weight(h, t) : t->weight;
        if (el != t->view_eligible || ew != t->view_weight || t->state != t->view_state) {
            t->view_eligible = el;
            t->view_weight = ew;
            t->view_state = t->state;
            t->changed_gen = next_gen;
            changed = 1;
        }
    }
    if (changed)
        h->gen = next_gen;
    h->wake = wake;
}

/* ---- transitions ------------------------------------------------------------------------- */

static void set_state(lb_health *h, struct target *t, uint32_t state, uint32_t reason, uint64_t at,
                      uint32_t close)
{
    uint32_t old = t->state;
    h->dirty = 1;
    t->state = (uint8_t)state;
    t->reason = (uint8_t)reason;
    t->since = at;
    t->ok_run = t->fail_run = 0;
    if (state != LB_HEALTH_STATE_HEALTHY)
        t->ramping = 0;
    if (state != LB_HEALTH_STATE_DRAINING && state != LB_HEALTH_STATE_EJECTED)
        t->until = LB_HEALTH_NEVER;
    emit(h, t->id, at, old, state, reason, (uint32_t)eligible(h, t), t->conns, close);
}

static uint64_t check_interval(const lb_health *h, const struct target *t)
{
    const lb_health_config *c = &h->cfg;
    if (t->deregistered || t->state == LB_HEALTH_STATE_REMOVED)
        return 0;
    switch (t->state) {
    case LB_HEALTH_STATE_INITIAL:
        return c->fast_interval_ms;
    case LB_HEALTH_STATE_HEALTHY:
    case LB_HEALTH_STATE_EJECTED:
        return t->fail_run ? c->fast_interval_ms : c->interval_ms;
    default: /* UNHEALTHY, DRAINING after failed checks */
        return t->ok_run ? c->fast_interval_ms : c->down_interval_ms;
    }
}

static void schedule(lb_health *h, struct target *t, uint64_t now)
{
    uint64_t iv = check_interval(h, t);
    if (!iv) {
        t->next_check = LB_HEALTH_NEVER;
        return;
    }
    uint64_t span = iv * h->cfg.jitter_percent / 100;
    uint64_t s = h->cfg.seed ^ ((uint64_t)t->id * 0xD6E8FEB86659FD93ull) ^
                 (t->sched_count++ * 0x9E3779B97F4A7C15ull);
    uint64_t r = lb__splitmix64(&s);
    t->next_check = now + iv - span + r % (2 * span + 1);
}

static void maybe_slow_start(lb_health *h, struct target *t, uint64_t at)
{
    if (!h->cfg.slow_start_window_ms)
        return;
    for (size_t i = 0; i < h->n; i++) {
        const struct target *u = &h->t[i];
        if (u != t && u->state == LB_HEALTH_STATE_HEALTHY && !u->ramping) {
            t->ramping = 1;
            t->ramp_start = at;
            return;
        }
    }
}

static void finish_drain(lb_health *h, struct target *t, uint32_t reason, uint64_t at)
{
    uint32_t close = reason == LB_HEALTH_R_DEADLINE ? t->conns : 0;
    set_state(h, t, t->deregistered ? LB_HEALTH_STATE_REMOVED : LB_HEALTH_STATE_UNHEALTHY, reason,
              at, close);
    if (t->state == LB_HEALTH_STATE_REMOVED)
        t->next_check = LB_HEALTH_NEVER;
}

/* The end of a drain that may already be due (no connections, or a zero delay). */
static void drain_check(lb_health *h, struct target *t, uint64_t now)
{
    if (t->state != LB_HEALTH_STATE_DRAINING)
        return;
    if (t->conns == 0)
        finish_drain(h, t, LB_HEALTH_R_DRAINED, now);
    else if (t->until <= now)
        finish_drain(h, t, LB_HEALTH_R_DEADLINE, t->until);
}

static void go_up(lb_health *h, struct target *t, uint32_t reason, uint64_t at)
{
    set_state(h, t, LB_HEALTH_STATE_HEALTHY, reason, at, 0);
    t->passive_run = 0;
    maybe_slow_start(h, t, at);
}

static void go_down(lb_health *h, struct target *t, uint64_t now)
{
    uint32_t mode = h->cfg.on_fail;
    if (mode == LB_HEALTH_ON_FAIL_DRAIN && t->conns > 0) {
        t->until = now + h->cfg.deregistration_delay_ms;
        set_state(h, t, LB_HEALTH_STATE_DRAINING, LB_HEALTH_R_CHECKS_FAILED, now, 0);
        drain_check(h, t, now);
        return;
    }
    set_state(h, t, LB_HEALTH_STATE_UNHEALTHY, LB_HEALTH_R_CHECKS_FAILED, now,
              mode == LB_HEALTH_ON_FAIL_CLOSE ? t->conns : 0);
}

/* Apply everything due at or before @now, in each target's own order. Without @force, only
 * when something is due (the wake time has come). */
static void advance(lb_health *h, uint64_t now, int force)
{
    if (now > h->now)
        h->now = now;
    now = h->now;
    if (!force && now < h->wake)
        return;
    h->dirty = 1; /* ramping weights move with time; the wake time is recomputed */
    uint64_t window = h->cfg.slow_start_window_ms;
    for (size_t i = 0; i < h->n; i++) {
        struct target *t = &h->t[i];
        if (t->state == LB_HEALTH_STATE_DRAINING && t->until <= now)
            finish_drain(h, t, LB_HEALTH_R_DEADLINE, t->until);
        if (t->state == LB_HEALTH_STATE_EJECTED && t->until <= now) {
            uint64_t end = t->until;
            t->last_eject_end = end;
            go_up(h, t, LB_HEALTH_R_EJECTION_END, end);
        }
        if (t->ramping && now - t->ramp_start >= window) {
            t->ramping = 0;
            emit(h, t->id, t->ramp_start + window, t->state, t->state, LB_HEALTH_R_SLOW_START_END,
                 (uint32_t)eligible(h, t), t->conns, 0);
        }
    }
}

/* Common entry of every writer call about one target. */
static int enter(lb_health *h, uint32_t id, uint64_t now, struct target **out)
{
    if (!h || id == LB_NO_TARGET)
        return -EINVAL;
    advance(h, now, 0);
    *out = find(h, id);
    if (!*out) {
        refresh(h);
        return -ENOENT;
    }
    return 0;
}

/* ---- public calls ------------------------------------------------------------------------ */

LB_API int lb_health_register(lb_health *h, uint32_t id, uint32_t weight, uint64_t now_ms)
{
    if (!h || id == LB_NO_TARGET)
        return -EINVAL;
    if (weight > LB_WEIGHT_MAX)
        return LB_E_POOL_BAD_WEIGHT;
    advance(h, now_ms, 0);
    now_ms = h->now;
    size_t i = lower_bound(h, id);
    struct target *t;
    uint32_t conns = 0;
    if (i < h->n && h->t[i].id == id) {
        t = &h->t[i];
        if (t->state != LB_HEALTH_STATE_REMOVED) {
            refresh(h);
            return -EEXIST;
        }
        conns = t->conns;
    } else {
        if (h->n == h->cap) {
            size_t ncap = h->cap ? h->cap * 2 : 16;
            struct target *nt = realloc(h->t, ncap * sizeof(*nt));
            if (!nt) {
                refresh(h);
                return -ENOMEM;
            }
            h->t = nt;
            h->cap = ncap;
        }
        memmove(&h->t[i + 1], &h->t[i], (h->n - i) * sizeof(*h->t));
        h->n++;
        t = &h->t[i];
    }
    memset(t, 0, sizeof(*t));
    t->id = id;
    t->weight = weight;
    t->conns = conns;
    t->state = LB_HEALTH_STATE_REMOVED;
    t->view_state = LB_HEALTH_STATE_REMOVED;
    t->until = LB_HEALTH_NEVER;
    set_state(h, t, h->cfg.initial_state, LB_HEALTH_R_REGISTERED, now_ms, 0);
    if (t->state == LB_HEALTH_STATE_HEALTHY)
        maybe_slow_start(h, t, now_ms);
    t->next_check = now_ms;
    refresh(h);
    return 0;
}

LB_API int lb_health_deregister(lb_health *h, uint32_t id, uint64_t now_ms)
{
    struct target *t;
    int rc = enter(h, id, now_ms, &t);
    if (rc)
        return rc;
    now_ms = h->now;
    if (t->deregistered) {
        refresh(h);
        return LB_E_HEALTH_BAD_STATE;
    }
    t->deregistered = 1;
    t->next_check = LB_HEALTH_NEVER;
    if (t->state != LB_HEALTH_STATE_DRAINING)
        t->until = now_ms + h->cfg.deregistration_delay_ms;
    set_state(h, t, LB_HEALTH_STATE_DRAINING, LB_HEALTH_R_DEREGISTERED, now_ms, 0);
    drain_check(h, t, now_ms);
    refresh(h);
    return 0;
}

LB_API int lb_health_forget(lb_health *h, uint32_t id)
{
    if (!h || id == LB_NO_TARGET)
        return -EINVAL;
    size_t i = lower_bound(h, id);
    if (i >= h->n || h->t[i].id != id)
        return -ENOENT;
    if (h->t[i].state != LB_HEALTH_STATE_REMOVED)
        return LB_E_HEALTH_BAD_STATE;
    memmove(&h->t[i], &h->t[i + 1], (h->n - i - 1) * sizeof(*h->t));
    h->n--;
    h->gen++; /* the set of targets changed */
    return 0;
}

LB_API int lb_health_set_weight(lb_health *h, uint32_t id, uint32_t weight, uint64_t now_ms)
{
    struct target *t;
    if (h && weight > LB_WEIGHT_MAX && id != LB_NO_TARGET)
        return LB_E_POOL_BAD_WEIGHT;
    int rc = enter(h, id, now_ms, &t);
    if (rc)
        return rc;
    t->weight = weight;
    h->dirty = 1;
    refresh(h);
    return 0;
}

LB_API int lb_health_check_result(lb_health *h, uint32_t id, int ok, uint64_t now_ms)
{
    struct target *t;
    int rc = enter(h, id, now_ms, &t);
    if (rc)
        return rc;
    now_ms = h->now;
    if (t->deregistered || t->state == LB_HEALTH_STATE_REMOVED) {
        refresh(h);
        return LB_E_HEALTH_BAD_STATE;
    }
    uint32_t st = t->state;
    if (ok) {
        t->fail_run = 0;
        t->ok_run++;
        if ((st == LB_HEALTH_STATE_INITIAL || st == LB_HEALTH_STATE_UNHEALTHY ||
             st == LB_HEALTH_STATE_DRAINING) &&
            t->ok_run >= h->cfg.healthy_threshold)
            go_up(h, t, LB_HEALTH_R_CHECK_PASSED, now_ms);
    } else {
        t->ok_run = 0;
        t->fail_run++;
        if ((st == LB_HEALTH_STATE_INITIAL || st == LB_HEALTH_STATE_HEALTHY ||
             st == LB_HEALTH_STATE_EJECTED) &&
            t->fail_run >= h->cfg.unhealthy_threshold)
            go_down(h, t, now_ms);
    }
    schedule(h, t, now_ms);
    refresh(h);
    return 0;
}

LB_API int lb_health_checks_due(lb_health *h, uint64_t now_ms, uint32_t *ids, size_t cap)
{
    if (!h || (cap && !ids))
        return -EINVAL;
    advance(h, now_ms, 0);
    now_ms = h->now;
    size_t w = 0;
    for (size_t i = 0; i < h->n && w < cap && w < (size_t)INT32_MAX; i++) {
        struct target *t = &h->t[i];
        if (t->next_check <= now_ms) {
            ids[w++] = t->id;
            schedule(h, t, now_ms);
        }
    }
    refresh(h);
    return (int)w;
}

static void try_eject(lb_health *h, struct target *t, uint64_t now)
{
    const lb_health_config *c = &h->cfg;
    uint32_t reg, healthy, ej;
    counts(h, &reg, &healthy, &ej);
    if ((uint64_t)(ej + 1) * 100 > (uint64_t)c->max_ejection_percent * reg) {
        h->refused++;
        return;
    }
    if (t->ejections) {
        uint64_t decay = (now - t->last_eject_end) / c->ejection_decay_ms;
        t->ejections = decay >= t->ejections ? 0 : t->ejections - (uint32_t)decay;
    }
    if (t->ejections < 1000000)
        t->ejections++;
    uint64_t dur = (uint64_t)c->ejection_base_ms * t->ejections;
    if (dur > c->ejection_max_ms)
        dur = c->ejection_max_ms;
    t->until = now + dur;
    t->passive_run = 0;
    set_state(h, t, LB_HEALTH_STATE_EJECTED, LB_HEALTH_R_EJECTED, now, 0);
}

LB_API int lb_health_passive(lb_health *h, uint32_t id, uint32_t signal, uint64_t now_ms)
{
    struct target *t;
    if (h && signal > LB_HEALTH_SIG_RESET)
        return -EINVAL;
    int rc = enter(h, id, now_ms, &t);
    if (rc)
        return rc;
    if (signal == LB_HEALTH_SIG_CONNECT_OK) {
        t->passive_run = 0;
    } else if (t->state == LB_HEALTH_STATE_HEALTHY && h->cfg.passive_failures) {
        if (t->passive_run < UINT32_MAX)
            t->passive_run++;
        if (t->passive_run >= h->cfg.passive_failures)
            try_eject(h, t, h->now);
    }
    refresh(h);
    return 0;
}

LB_API int lb_health_conn_open(lb_health *h, uint32_t id, uint64_t now_ms)
{
    struct target *t;
    int rc = enter(h, id, now_ms, &t);
    if (rc)
        return rc;
    refresh(h);
    if (!t->view_eligible)
        return LB_E_HEALTH_NOT_ELIGIBLE;
    if (t->conns == UINT32_MAX)
        return -EOVERFLOW;
    t->conns++;
    return 0;
}

LB_API int lb_health_conn_add(lb_health *h, uint32_t id, uint64_t now_ms)
{
    struct target *t;
    int rc = enter(h, id, now_ms, &t);
    if (rc)
        return rc;
    refresh(h);
    if (t->conns == UINT32_MAX)
        return -EOVERFLOW;
    t->conns++;
    return t->view_eligible;
}

LB_API int lb_health_conn_close(lb_health *h, uint32_t id, uint64_t now_ms)
{
    struct target *t;
    int rc = enter(h, id, now_ms, &t);
    if (rc)
        return rc;
    if (t->conns == 0) {
        rc = -ERANGE;
    } else {
        t->conns--;
        drain_check(h, t, h->now);
    }
    refresh(h);
    return rc;
}

LB_API int lb_health_set_conns(lb_health *h, uint32_t id, uint32_t connections, uint64_t now_ms)
{
    struct target *t;
    int rc = enter(h, id, now_ms, &t);
    if (rc)
        return rc;
    t->conns = connections;
    drain_check(h, t, h->now);
    refresh(h);
    return 0;
}

LB_API int lb_health_tick(lb_health *h, uint64_t now_ms)
{
    if (!h)
        return -EINVAL;
    advance(h, now_ms, 1);
    refresh(h);
    return 0;
}

LB_API uint64_t lb_health_next_deadline(const lb_health *h)
{
    if (!h)
        return LB_HEALTH_NEVER;
    uint64_t d = h->wake; /* kept current by every writer call */
    for (size_t i = 0; i < h->n; i++)
        d = h->t[i].next_check < d ? h->t[i].next_check : d;
    return d;
}

LB_API int lb_health_is_eligible(const lb_health *h, uint32_t id)
{
    if (!h)
        return -EINVAL;
    const struct target *t = find(h, id);
    return t ? t->view_eligible : -ENOENT;
}

static void fill_view(const struct target *t, lb_health_target *out)
{
    out->id = t->id;
    out->state = t->state;
    out->reason = t->reason;
    out->eligible = t->view_eligible;
    out->slow_start = t->ramping;
    out->weight = t->weight;
    out->effective_weight = t->view_weight;
    out->connections = t->conns;
    out->ejections = t->ejections;
    out->changed_gen = t->changed_gen;
    out->since_ms = t->since;
    out->next_check_ms = t->next_check;
    out->until_ms = (t->state == LB_HEALTH_STATE_DRAINING || t->state == LB_HEALTH_STATE_EJECTED)
                        ? t->until
                        : LB_HEALTH_NEVER;
}

/* Fills a caller's view (any size from the first release's up). */
static int put_view(const struct target *t, lb_health_target *out)
{
    lb_health_target v = {.struct_size = sizeof(v)};
    fill_view(t, &v);
    lb__struct_put(out, &v, sizeof(v));
    return 0;
}

LB_API int lb_health_get(const lb_health *h, uint32_t id, lb_health_target *out)
{
    if (!h || !out)
        return -EINVAL;
    if (lb__out_check(out, TARGET_SIZE_1_0))
        return LB_E_STRUCT_SIZE;
    const struct target *t = find(h, id);
    if (!t)
        return -ENOENT;
    return put_view(t, out);
}

LB_API size_t lb_health_count(const lb_health *h)
{
    return h ? h->n : 0;
}

LB_API int lb_health_at(const lb_health *h, size_t index, lb_health_target *out)
{
    if (!h || !out)
        return -EINVAL;
    if (lb__out_check(out, TARGET_SIZE_1_0))
        return LB_E_STRUCT_SIZE;
    if (index >= h->n)
        return -ENOENT;
    return put_view(&h->t[index], out);
}

LB_API uint64_t lb_health_generation(const lb_health *h)
{
    return h ? h->gen : 0;
}

LB_API int lb_health_status_get(const lb_health *h, lb_health_status *out)
{
    if (!h || !out)
        return -EINVAL;
    if (lb__out_check(out, STATUS_SIZE_1_0))
        return LB_E_STRUCT_SIZE;
    uint32_t reg, healthy, ej, draining = 0, el = 0;
    counts(h, &reg, &healthy, &ej);
    for (size_t i = 0; i < h->n; i++) {
        draining += h->t[i].state == LB_HEALTH_STATE_DRAINING;
        el += h->t[i].view_eligible;
    }
    lb_health_status st = {
        .targets = (uint32_t)h->n,
        .registered = reg,
        .healthy = healthy,
        .ejected = ej,
        .draining = draining,
        .eligible = el,
        .fail_open = (uint32_t)h->fail_open,
        .events_dropped = h->dropped,
        .ejections_refused = h->refused,
        .generation = h->gen,
    };
    lb__struct_put(out, &st, sizeof(st));
    return 0;
}

LB_API int lb_health_poll_events(lb_health *h, lb_health_event *events, size_t event_size,
                                 size_t cap)
{
    if (!h || (cap && !events))
        return -EINVAL;
    if (cap && lb__elem_check(event_size, EVENT_SIZE_1_0))
        return LB_E_STRUCT_SIZE;
    size_t k = h->q_len < cap ? h->q_len : cap;
    if (k > (size_t)INT32_MAX)
        k = INT32_MAX;
    for (size_t i = 0; i < k; i++) {
        lb_health_event ev = h->q[h->q_head + i];
        ev.struct_size = (uint32_t)(event_size < sizeof(ev) ? event_size : sizeof(ev));
        lb__struct_out(lb__elem(events, event_size, i), event_size, &ev, sizeof(ev));
    }
    h->q_head += k;
    h->q_len -= k;
    if (!h->q_len)
        h->q_head = 0;
    return (int)k;
}

LB_API size_t lb_health_pending_events(const lb_health *h)
{
    return h ? h->q_len : 0;
}

LB_API const char *lb_health_state_name(uint32_t state)
{
    static const char *const names[] = {"INITIAL",   "HEALTHY",  "EJECTED",
                                        "UNHEALTHY", "DRAINING", "REMOVED"};
    return state < LB_ARRAY_LEN(names) ? names[state] : "unknown";
}

LB_API const char *lb_health_reason_name(uint32_t reason)
{
    static const char *const names[] = {
        "REGISTERED", "CHECK_PASSED", "CHECKS_FAILED",  "DEREGISTERED", "DRAINED",      "DEADLINE",
        "EJECTED",    "EJECTION_END", "SLOW_START_END", "FAIL_OPEN",    "FAIL_OPEN_END"};
    return reason < LB_ARRAY_LEN(names) ? names[reason] : "unknown";
}
