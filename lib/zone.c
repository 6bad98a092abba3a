/* Zone plans: a pure model of how traffic splits over zones and priority levels
 * (doc/zones.md). Solved lazily and cached until the plan changes. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal/abi.h"
#include "lb/zone.h"

struct zone {
    uint32_t id;
    uint32_t priority;
    char name[LB_ZONE_NAME_MAX + 1];
    double incoming; /* < 0: an even part of what the others leave */
    double threshold;
    uint32_t action;
    int evacuated;
    int is_counts;
    uint32_t count_total, count_healthy, count_weight;
    uint32_t n_explicit; /* explicit targets in this zone */
};

/* What solving finds for one zone. */
struct zsolved {
    double total_w, healthy_w;
    uint32_t total_n, healthy_n;     /* targets, healthy targets (any weight) */
    uint32_t total_pos, healthy_pos; /* the same among targets of weight > 0 */
    uint32_t level;
    uint32_t state;
    int all_serve; /* every target of weight > 0 serves (fail-open, panic) */
    double cap;    /* serving weight; 0 when the zone serves nothing */
    double in;     /* incoming fraction of its node */
    double share;  /* fraction of all traffic its targets serve */
};

struct level {
    uint32_t priority;
    double total_w, healthy_w, load, cap, downstream;
    uint32_t healthy_pos;
    int panic;
};

struct target {
    uint32_t id;
    uint32_t zone; /* index */
    uint32_t weight;
    int healthy;
};

struct lb_zone_plan {
    lb_zone_options opts;
    size_t nzones, nlevels, ntargets, cap_targets;
    struct target *targets; /* sorted by id */
    int dirty;
    int status;
    double cross;
    double max_over_min; /* 0: undefined */
    struct zone zones[LB_ZONE_MAX];
    struct zsolved sol[LB_ZONE_MAX];
    struct level levels[LB_ZONE_MAX];
    double to[LB_ZONE_MAX]; /* route scratch */
};

/* First-release sizes (doc/ABI.md). */
#define OPTIONS_SIZE_1_0 LB__SIZE_UPTO(lb_zone_options, panic_threshold)
#define REPORT_SIZE_1_0  LB__SIZE_UPTO(lb_zone_report, per_target)
#define SUMMARY_SIZE_1_0 LB__SIZE_UPTO(lb_zone_summary, max_over_min)

/* ---- options, lifecycle ------------------------------------------------ */

static void options_default(lb_zone_options *o)
{
    *o = (lb_zone_options){
        .struct_size = sizeof(*o),
        .mode = LB_ZONE_MODE_ON,
        .min_cluster_size = LB_ZONE_DEFAULT_MIN_CLUSTER_SIZE,
        .local_fraction = 1.0,
        .overprovisioning = LB_ZONE_DEFAULT_OVERPROVISIONING,
        .panic_threshold = LB_ZONE_DEFAULT_PANIC_THRESHOLD,
    };
}

void lb_zone_options_init(lb_zone_options *opts, size_t size)
{
    lb_zone_options o;
    options_default(&o);
    lb__struct_init(opts, size, &o, sizeof(o));
}

static int is_fraction(double v)
{
    return isfinite(v) && v >= 0.0 && v <= 1.0;
}

/* Reads a caller's options into *o (the struct-extension rule) and checks them. */
static int options_read(const lb_zone_options *in, lb_zone_options *o)
{
    options_default(o);
    int rc = lb__struct_in(o, sizeof(*o), in, in->struct_size, OPTIONS_SIZE_1_0);
    if (rc)
        return rc;
    o->struct_size = sizeof(*o);
    if (o->reserved0 || o->mode > LB_ZONE_MODE_AFFINITY || !is_fraction(o->local_fraction) ||
        !isfinite(o->overprovisioning) || o->overprovisioning < 1.0 ||
        !is_fraction(o->panic_threshold))
        return -EINVAL;
    return 0;
}

int lb_zone_plan_new(lb_zone_plan **out, const lb_zone_options *opts)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    lb_zone_options o;
    options_default(&o);
    if (opts) {
        int rc = options_read(opts, &o);
        if (rc)
            return rc;
    }
    lb_zone_plan *p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->opts = o;
    p->dirty = 1;
    *out = p;
    return 0;
}

void lb_zone_plan_free(lb_zone_plan *plan)
{
    if (!plan)
        return;
    free(plan->targets);
    free(plan);
}

int lb_zone_plan_set_options(lb_zone_plan *plan, const lb_zone_options *opts)
{
    if (!plan || !opts)
        return -EINVAL;
    lb_zone_options o;
    int rc = options_read(opts, &o);
    if (rc)
        return rc;
    plan->opts = o;
    plan->dirty = 1;
    return 0;
}

/* ---- zones and targets ------------------------------------------------- */

static struct zone *zone_find(lb_zone_plan *plan, uint32_t id, size_t *index)
{
    for (size_t i = 0; i < plan->nzones; i++) {
        if (plan->zones[i].id == id) {
            if (index)
                *index = i;
            return &plan->zones[i];
        }
    }
    return NULL;
}

/* The position of @id in the sorted target array, or where it would go (*found = 0). */
static size_t target_pos(const lb_zone_plan *plan, uint32_t id, int *found)
{
    size_t lo = 0, hi = plan->ntargets;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (plan->targets[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < plan->ntargets && plan->targets[lo].id == id;
    return lo;
}

static int target_get(lb_zone_plan *plan, uint32_t id, struct target **t)
{
    int found;
    size_t pos = target_pos(plan, id, &found);
    if (!found)
        return -ENOENT;
    *t = &plan->targets[pos];
    return 0;
}

int lb_zone_add(lb_zone_plan *plan, uint32_t zone_id, const char *name, uint32_t priority)
{
    if (!plan || !name)
        return -EINVAL;
    size_t len = strlen(name);
    if (len == 0 || len > LB_ZONE_NAME_MAX)
        return -EINVAL;
    for (size_t i = 0; i < plan->nzones; i++)
        if (plan->zones[i].id == zone_id || !strcmp(plan->zones[i].name, name))
            return -EEXIST;
    if (plan->nzones == LB_ZONE_MAX)
        return -ENOSPC;
    struct zone *z = &plan->zones[plan->nzones++];
    memset(z, 0, sizeof(*z));
    z->id = zone_id;
    z->priority = priority;
    memcpy(z->name, name, len + 1);
    z->incoming = LB_ZONE_INCOMING_EVEN;
    z->action = LB_ZONE_FAIL_OVER;
    plan->dirty = 1;
    return 0;
}

int lb_zone_set_incoming(lb_zone_plan *plan, uint32_t zone_id, double fraction)
{
    if (!plan || !(is_fraction(fraction) || fraction == LB_ZONE_INCOMING_EVEN))
        return -EINVAL;
    struct zone *z = zone_find(plan, zone_id, NULL);
    if (!z)
        return LB_E_ZONE_UNKNOWN;
    z->incoming = fraction;
    plan->dirty = 1;
    return 0;
}

int lb_zone_set_threshold(lb_zone_plan *plan, uint32_t zone_id, double min_healthy, uint32_t action)
{
    if (!plan || !is_fraction(min_healthy) || action > LB_ZONE_FAIL_OPEN)
        return -EINVAL;
    struct zone *z = zone_find(plan, zone_id, NULL);
    if (!z)
        return LB_E_ZONE_UNKNOWN;
    z->threshold = min_healthy;
    z->action = action;
    plan->dirty = 1;
    return 0;
}

int lb_zone_set_evacuated(lb_zone_plan *plan, uint32_t zone_id, int evacuated)
{
    if (!plan)
        return -EINVAL;
    struct zone *z = zone_find(plan, zone_id, NULL);
    if (!z)
        return LB_E_ZONE_UNKNOWN;
    z->evacuated = evacuated != 0;
    plan->dirty = 1;
    return 0;
}

int lb_zone_set_counts(lb_zone_plan *plan, uint32_t zone_id, uint32_t total, uint32_t healthy,
                       uint32_t weight)
{
    if (!plan || healthy > total)
        return -EINVAL;
    if (weight > LB_WEIGHT_MAX)
        return LB_E_POOL_BAD_WEIGHT;
    struct zone *z = zone_find(plan, zone_id, NULL);
    if (!z)
        return LB_E_ZONE_UNKNOWN;
    if (z->n_explicit)
        return LB_E_ZONE_MIXED;
    z->is_counts = total > 0; /* 0 clears the counts: the zone may take targets again */
    z->count_total = total;
    z->count_healthy = healthy;
    z->count_weight = weight;
    plan->dirty = 1;
    return 0;
}

int lb_zone_target_add(lb_zone_plan *plan, uint32_t target_id, uint32_t zone_id, uint32_t weight,
                       int healthy)
{
    if (!plan || target_id == LB_NO_TARGET)
        return -EINVAL;
    if (weight > LB_WEIGHT_MAX)
        return LB_E_POOL_BAD_WEIGHT;
    size_t zi;
    struct zone *z = zone_find(plan, zone_id, &zi);
    if (!z)
        return LB_E_ZONE_UNKNOWN;
    if (z->is_counts)
        return LB_E_ZONE_MIXED;
    int found;
    size_t pos = target_pos(plan, target_id, &found);
    if (found)
        return -EEXIST;
    if (plan->ntargets == plan->cap_targets) {
        size_t cap = plan->cap_targets ? plan->cap_targets * 2 : 16;
        struct target *t = realloc(plan->targets, cap * sizeof(*t));
        if (!t)
            return -ENOMEM;
        plan->targets = t;
        plan->cap_targets = cap;
    }
    memmove(&plan->targets[pos + 1], &plan->targets[pos],
            (plan->ntargets - pos) * sizeof(plan->targets[0]));
    plan->targets[pos] = (struct target){target_id, (uint32_t)zi, weight, healthy != 0};
    plan->ntargets++;
    z->n_explicit++;
    plan->dirty = 1;
    return 0;
}

int lb_zone_target_set(lb_zone_plan *plan, uint32_t target_id, uint32_t weight, int healthy)
{
    if (!plan)
        return -EINVAL;
    if (weight > LB_WEIGHT_MAX)
        return LB_E_POOL_BAD_WEIGHT;
    struct target *t;
    if (target_get(plan, target_id, &t))
        return -ENOENT;
    t->weight = weight;
    t->healthy = healthy != 0;
    plan->dirty = 1;
    return 0;
}

int lb_zone_target_remove(lb_zone_plan *plan, uint32_t target_id)
{
    if (!plan)
        return -EINVAL;
    int found;
    size_t pos = target_pos(plan, target_id, &found);
    if (!found)
        return -ENOENT;
    plan->zones[plan->targets[pos].zone].n_explicit--;
    memmove(&plan->targets[pos], &plan->targets[pos + 1],
            (plan->ntargets - pos - 1) * sizeof(plan->targets[0]));
    plan->ntargets--;
    plan->dirty = 1;
    return 0;
}

size_t lb_zone_count(const lb_zone_plan *plan)
{
    return plan ? plan->nzones : 0;
}

/* ---- solving ----------------------------------------------------------- */

/* Weights and counts per zone. */
static void sum_zones(lb_zone_plan *plan)
{
    for (size_t i = 0; i < plan->nzones; i++) {
        const struct zone *z = &plan->zones[i];
        struct zsolved *s = &plan->sol[i];
        memset(s, 0, sizeof(*s));
        if (z->is_counts) {
            s->total_n = z->count_total;
            s->healthy_n = z->count_healthy;
            s->total_w = (double)z->count_total * z->count_weight;
            s->healthy_w = (double)z->count_healthy * z->count_weight;
            s->total_pos = z->count_weight ? z->count_total : 0;
            s->healthy_pos = z->count_weight ? z->count_healthy : 0;
        }
    }
    for (size_t i = 0; i < plan->ntargets; i++) {
        const struct target *t = &plan->targets[i];
        struct zsolved *s = &plan->sol[t->zone];
        s->total_n++;
        s->total_w += t->weight;
        s->total_pos += t->weight > 0;
        if (t->healthy) {
            s->healthy_n++;
            s->healthy_w += t->weight;
            s->healthy_pos += t->weight > 0;
        }
    }
}

/* Distinct priorities in ascending order; each zone gets its level's index. */
static void build_levels(lb_zone_plan *plan)
{
    plan->nlevels = 0;
    for (size_t i = 0; i < plan->nzones; i++) {
        uint32_t pr = plan->zones[i].priority;
        size_t j = 0;
        while (j < plan->nlevels && plan->levels[j].priority < pr)
            j++;
        if (j < plan->nlevels && plan->levels[j].priority == pr)
            continue;
        memmove(&plan->levels[j + 1], &plan->levels[j],
                (plan->nlevels - j) * sizeof(plan->levels[0]));
        memset(&plan->levels[j], 0, sizeof(plan->levels[0]));
        plan->levels[j].priority = pr;
        plan->nlevels++;
    }
    for (size_t i = 0; i < plan->nzones; i++)
        for (size_t j = 0; j < plan->nlevels; j++)
            if (plan->levels[j].priority == plan->zones[i].priority)
                plan->sol[i].level = (uint32_t)j;
}

/* Each zone's state and serving weight before panic is known. */
static void zone_states(lb_zone_plan *plan)
{
    for (size_t i = 0; i < plan->nzones; i++) {
        const struct zone *z = &plan->zones[i];
        struct zsolved *s = &plan->sol[i];
        if (z->evacuated) {
            s->state = LB_ZONE_STATE_EVACUATED;
        } else if (s->total_w <= 0.0) {
            s->state = LB_ZONE_STATE_DOWN;
        } else if (z->threshold > 0.0 && s->healthy_w / s->total_w < z->threshold) {
            s->state = z->action == LB_ZONE_FAIL_OPEN ? LB_ZONE_STATE_FAIL_OPEN
                                                      : LB_ZONE_STATE_FAILED_OVER;
        } else {
            s->state = s->healthy_w > 0.0 ? LB_ZONE_STATE_UP : LB_ZONE_STATE_DOWN;
        }
        s->all_serve = s->state == LB_ZONE_STATE_FAIL_OPEN;
        s->cap = s->state == LB_ZONE_STATE_UP ? s->healthy_w : s->all_serve ? s->total_w : 0.0;
    }
}

/* Envoy's priority load: health(P) = min(1, overprovisioning * healthy / total); levels take
 * traffic in order, normalised when their health sums under 1; panic only then. */
static int level_loads(lb_zone_plan *plan)
{
    for (size_t i = 0; i < plan->nzones; i++) {
        const struct zsolved *s = &plan->sol[i];
        struct level *l = &plan->levels[s->level];
        if (s->state == LB_ZONE_STATE_EVACUATED)
            continue;
        l->total_w += s->total_w;
        if (s->state == LB_ZONE_STATE_UP || s->state == LB_ZONE_STATE_FAIL_OPEN)
            l->healthy_w += s->healthy_w;
    }
    double health[LB_ZONE_MAX], sum = 0.0;
    for (size_t j = 0; j < plan->nlevels; j++) {
        const struct level *l = &plan->levels[j];
        health[j] = 0.0;
        if (l->total_w > 0.0) {
            health[j] = plan->opts.overprovisioning * l->healthy_w / l->total_w;
            if (health[j] > 1.0)
                health[j] = 1.0;
        }
        sum += health[j];
    }
    if (sum <= 0.0) {
        /* Nothing healthy anywhere: the first level with targets takes all, in panic. */
        for (size_t j = 0; j < plan->nlevels; j++) {
            if (plan->levels[j].total_w > 0.0) {
                plan->levels[j].load = 1.0;
                plan->levels[j].panic = 1;
                return 0;
            }
        }
        return LB_E_NO_TARGET;
    }
    /* a tolerance so that healths summing to 1 up to rounding do not count as short */
    int short_of_capacity = sum < 1.0 - 1e-12;
    double remaining = 1.0;
    for (size_t j = 0; j < plan->nlevels; j++) {
        struct level *l = &plan->levels[j];
        double h = short_of_capacity ? health[j] / sum : health[j];
        l->load = h < remaining ? h : remaining;
        remaining -= l->load;
        l->panic = short_of_capacity && l->total_w > 0.0 &&
                   l->healthy_w / l->total_w < plan->opts.panic_threshold;
    }
    return 0;
}

/* A level in panic serves with every target of its zones that are not evacuated. */
static void apply_panic(lb_zone_plan *plan)
{
    for (size_t i = 0; i < plan->nzones; i++) {
        struct zsolved *s = &plan->sol[i];
        struct level *l = &plan->levels[s->level];
        if (l->panic && s->state != LB_ZONE_STATE_EVACUATED && s->total_w > 0.0) {
            s->state = LB_ZONE_STATE_PANIC;
            s->all_serve = 1;
            s->cap = s->total_w;
        }
        l->cap += s->cap;
        if (s->cap > 0.0)
            l->healthy_pos += s->healthy_pos;
    }
}

/* Incoming fractions: explicit ones, the rest even; then evacuated nodes (and, cross-zone off,
 * nodes whose zone cannot serve) hand theirs to the others in proportion (DNS failover). */
static int incoming(lb_zone_plan *plan)
{
    double set = 0.0;
    size_t unset = 0;
    for (size_t i = 0; i < plan->nzones; i++) {
        if (plan->zones[i].incoming < 0.0)
            unset++;
        else
            set += plan->zones[i].incoming;
    }
    if (set > 1.0 + 1e-9 || (unset == 0 && set <= 0.0))
        return LB_E_ZONE_BAD_INCOMING;
    double even = unset && set < 1.0 ? (1.0 - set) / (double)unset : 0.0;
    double avail = 0.0;
    size_t navail = 0;
    for (size_t i = 0; i < plan->nzones; i++) {
        struct zsolved *s = &plan->sol[i];
        int ok = s->state != LB_ZONE_STATE_EVACUATED &&
                 !(plan->opts.mode == LB_ZONE_MODE_OFF && s->cap <= 0.0);
        double base = plan->zones[i].incoming < 0.0 ? even : plan->zones[i].incoming;
        s->in = ok ? base : -1.0; /* -1: unavailable */
        if (ok) {
            avail += base;
            navail++;
        }
    }
    if (navail == 0)
        return LB_E_NO_TARGET;
    for (size_t i = 0; i < plan->nzones; i++) {
        struct zsolved *s = &plan->sol[i];
        if (s->in < 0.0)
            s->in = 0.0;
        else
            s->in = avail > 0.0 ? s->in / avail : 1.0 / (double)navail;
        plan->levels[s->level].downstream += s->in;
    }
    return 0;
}

static void spread(lb_zone_plan *plan, uint32_t level, double amount, double *to)
{
    const struct level *l = &plan->levels[level];
    for (size_t d = 0; d < plan->nzones; d++)
        if (plan->sol[d].level == level && plan->sol[d].cap > 0.0)
            to[d] += amount * plan->sol[d].cap / l->cap;
}

/* Envoy's zone-aware split of one level's traffic for the node of zone @s. */
static void route_aware(lb_zone_plan *plan, size_t s, uint32_t level, double load, double *to)
{
    const struct level *l = &plan->levels[level];
    const struct zsolved *loc = &plan->sol[s];
    if (l->panic || l->healthy_pos < plan->opts.min_cluster_size || l->downstream <= 0.0 ||
        loc->in <= 0.0) {
        spread(plan, level, load, to);
        return;
    }
    double up = loc->cap / l->cap, down = loc->in / l->downstream;
    if (up >= down) {
        to[s] += load;
        return;
    }
    double local = up / down, spare_sum = 0.0;
    for (size_t d = 0; d < plan->nzones; d++) {
        const struct zsolved *z = &plan->sol[d];
        if (d != s && z->level == level) {
            double spare = z->cap / l->cap - z->in / l->downstream;
            spare_sum += spare > 0.0 ? spare : 0.0;
        }
    }
    if (spare_sum <= 0.0) {
        spread(plan, level, load, to);
        return;
    }
    to[s] += load * local;
    for (size_t d = 0; d < plan->nzones; d++) {
        const struct zsolved *z = &plan->sol[d];
        if (d != s && z->level == level) {
            double spare = z->cap / l->cap - z->in / l->downstream;
            if (spare > 0.0)
                to[d] += load * (1.0 - local) * spare / spare_sum;
        }
    }
}

/* How the node of zone @s splits its traffic over the zones (fractions summing to 1). */
static void route(lb_zone_plan *plan, size_t s, double *to)
{
    memset(to, 0, plan->nzones * sizeof(*to));
    const struct zsolved *loc = &plan->sol[s];
    for (uint32_t j = 0; j < plan->nlevels; j++) {
        double load = plan->levels[j].load;
        if (load <= 0.0)
            continue;
        if (loc->level != j) {
            spread(plan, j, load, to);
            continue;
        }
        switch (plan->opts.mode) {
        case LB_ZONE_MODE_OFF:
            if (loc->cap > 0.0)
                to[s] += load;
            else
                spread(plan, j, load, to);
            break;
        case LB_ZONE_MODE_AFFINITY: {
            double keep = loc->cap > 0.0 ? plan->opts.local_fraction : 0.0;
            to[s] += load * keep;
            spread(plan, j, load * (1.0 - keep), to);
            break;
        }
        case LB_ZONE_MODE_AWARE:
            route_aware(plan, s, j, load, to);
            break;
        default:
            spread(plan, j, load, to);
            break;
        }
    }
}

/* The serving weight of a zone (its targets' share is share * weight / this). */
static double serving_weight(const struct zsolved *s)
{
    if (s->cap <= 0.0)
        return 0.0;
    return s->all_serve ? s->total_w : s->healthy_w;
}

static void system_shares(lb_zone_plan *plan)
{
    plan->cross = 0.0;
    for (size_t d = 0; d < plan->nzones; d++)
        plan->sol[d].share = 0.0;
    for (size_t s = 0; s < plan->nzones; s++) {
        double in = plan->sol[s].in;
        if (in <= 0.0)
            continue;
        route(plan, s, plan->to);
        double away = 0.0;
        for (size_t d = 0; d < plan->nzones; d++) {
            plan->sol[d].share += in * plan->to[d];
            if (d != s)
                away += plan->to[d];
        }
        plan->cross += in * away;
    }
    /* max/min load per unit weight over the targets that should serve (weight > 0 and healthy,
     * or serving in fail-open and panic); undefined when one of them gets nothing. Within a
     * zone every serving target has the same load per unit weight. */
    double hi = 0.0, lo = 0.0;
    int defined = 1, any = 0;
    for (size_t d = 0; d < plan->nzones && defined; d++) {
        const struct zsolved *s = &plan->sol[d];
        double w = serving_weight(s);
        if (w <= 0.0 && s->healthy_pos == 0)
            continue; /* nothing here should serve */
        if (w <= 0.0 || s->share <= 0.0) {
            defined = 0;
            break;
        }
        double per = s->share / w;
        if (!any || per > hi)
            hi = per;
        if (!any || per < lo)
            lo = per;
        any = 1;
    }
    plan->max_over_min = defined && any ? hi / lo : 0.0;
}

static int solve(lb_zone_plan *plan)
{
    if (!plan->dirty)
        return plan->status;
    plan->dirty = 0;
    sum_zones(plan);
    build_levels(plan);
    zone_states(plan);
    int rc = level_loads(plan);
    if (rc == 0) {
        apply_panic(plan);
        rc = incoming(plan);
    }
    if (rc == 0)
        system_shares(plan);
    plan->status = rc;
    return rc;
}

/* ---- queries ----------------------------------------------------------- */

int lb_zone_plan_zone(lb_zone_plan *plan, size_t index, lb_zone_report *out)
{
    if (!plan || !out)
        return -EINVAL;
    if (lb__out_check(out, REPORT_SIZE_1_0))
        return LB_E_STRUCT_SIZE;
    if (index >= plan->nzones)
        return -ENOENT;
    int rc = solve(plan);
    if (rc)
        return rc;
    const struct zone *z = &plan->zones[index];
    const struct zsolved *s = &plan->sol[index];
    lb_zone_report r = {
        .id = z->id,
        .name = z->name,
        .priority = z->priority,
        .state = s->state,
        .targets = s->total_n,
        .healthy = s->healthy_n,
        .serving = s->cap > 0.0 ? (s->all_serve ? s->total_pos : s->healthy_pos) : 0,
        .is_counts = (uint32_t)z->is_counts,
        .incoming = s->in,
        .share = s->share,
    };
    r.per_target = r.serving ? s->share / r.serving : 0.0;
    lb__struct_put(out, &r, sizeof(r));
    return 0;
}

int lb_zone_plan_summary(lb_zone_plan *plan, lb_zone_summary *out)
{
    if (!plan || !out)
        return -EINVAL;
    if (lb__out_check(out, SUMMARY_SIZE_1_0))
        return LB_E_STRUCT_SIZE;
    int rc = solve(plan);
    if (rc)
        return rc;
    lb_zone_summary r = {
        .has_max_over_min = plan->max_over_min > 0.0,
        .cross_zone = plan->cross,
        .max_over_min = plan->max_over_min,
    };
    lb__struct_put(out, &r, sizeof(r));
    return 0;
}

int lb_zone_plan_priority_load(lb_zone_plan *plan, uint32_t priority, double *load)
{
    if (!plan || !load)
        return -EINVAL;
    int rc = solve(plan);
    if (rc)
        return rc;
    *load = 0.0;
    for (size_t j = 0; j < plan->nlevels; j++)
        if (plan->levels[j].priority == priority)
            *load = plan->levels[j].load;
    return 0;
}

/* A target's part of its zone's traffic. */
static double target_part(const lb_zone_plan *plan, const struct target *t)
{
    const struct zsolved *s = &plan->sol[t->zone];
    double w = serving_weight(s);
    if (w <= 0.0 || t->weight == 0 || !(t->healthy || s->all_serve))
        return 0.0;
    return (double)t->weight / w;
}

int lb_zone_plan_shares(lb_zone_plan *plan, const uint32_t *ids, size_t n, double *shares)
{
    if (!plan || (n && (!ids || !shares)))
        return -EINVAL;
    int rc = solve(plan);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++) {
        struct target *t;
        if ((rc = target_get(plan, ids[i], &t)))
            return rc;
        shares[i] = plan->sol[t->zone].share * target_part(plan, t);
    }
    return 0;
}

int lb_zone_plan_route(lb_zone_plan *plan, uint32_t local_zone, double *to, size_t cap)
{
    if (!plan || !to)
        return -EINVAL;
    size_t s;
    if (!zone_find(plan, local_zone, &s))
        return LB_E_ZONE_UNKNOWN;
    if (cap < plan->nzones)
        return -ENOSPC;
    int rc = solve(plan);
    if (rc)
        return rc;
    route(plan, s, to);
    return 0;
}

int lb_zone_plan_weights(lb_zone_plan *plan, uint32_t local_zone, const uint32_t *ids, size_t n,
                         uint32_t *weights, double *fractions)
{
    if (!plan || (n && !ids))
        return -EINVAL;
    size_t s;
    if (!zone_find(plan, local_zone, &s))
        return LB_E_ZONE_UNKNOWN;
    int rc = solve(plan);
    if (rc)
        return rc;
    route(plan, s, plan->to);
    /* The scale: the largest fraction over every explicit target of the plan, so that a
     * target's weight does not depend on which ids the caller asks about. */
    double max = 0.0;
    for (size_t i = 0; i < plan->ntargets; i++) {
        const struct target *t = &plan->targets[i];
        double f = plan->to[t->zone] * target_part(plan, t);
        if (f > max)
            max = f;
    }
    for (size_t i = 0; i < n; i++) {
        struct target *t;
        if ((rc = target_get(plan, ids[i], &t)))
            return rc;
        double f = plan->to[t->zone] * target_part(plan, t);
        if (fractions)
            fractions[i] = f;
        if (weights) {
            double w = f > 0.0 ? floor(f / max * (double)LB_WEIGHT_MAX + 0.5) : 0.0;
            if (f > 0.0 && w < 1.0)
                w = 1.0;
            weights[i] = (uint32_t)(w > (double)LB_WEIGHT_MAX ? LB_WEIGHT_MAX : w);
        }
    }
    return 0;
}

int lb_zone_transfer_cost(double cross_zone, double gb, double usd_per_gb, double *cross_gb,
                          double *usd)
{
    if (!is_fraction(cross_zone) || !isfinite(gb) || gb < 0.0 || !isfinite(usd_per_gb) ||
        usd_per_gb < 0.0)
        return -EINVAL;
    double x = cross_zone * gb;
    if (cross_gb)
        *cross_gb = x;
    if (usd)
        *usd = x * usd_per_gb;
    return 0;
}

const char *lb_zone_mode_name(uint32_t mode)
{
    static const char *const names[] = {"off", "on", "zone-aware", "affinity"};
    return mode < sizeof(names) / sizeof(names[0]) ? names[mode] : "unknown";
}

const char *lb_zone_state_name(uint32_t state)
{
    static const char *const names[] = {"up",        "down",      "failed-over",
                                        "fail-open", "evacuated", "panic"};
    return state < sizeof(names) / sizeof(names[0]) ? names[state] : "unknown";
}
