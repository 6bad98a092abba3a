/* fleet_sim: what one machine cannot show (doc/scaling.md, "The simulation").
 *
 * N load-balancer nodes behind a router's ECMP route and M targets chosen with liblb's real
 * tables (public API: lb/maglev.h, lb/chash.h), replaying a day of churn (nodes replaced,
 * targets deployed) against a population of flows. For each combination of
 *   ECMP:      plain (hash-threshold, RFC 2992, as Linux's nexthop groups) or resilient
 *              (Linux's resilient nexthop groups: buckets, idle-bucket migration),
 *   selector:  Maglev or the consistent-hash ring (one entry each in SELECTORS[]),
 *   forwarder: proxy (terminates TCP, as lbfwd: a flow that changes node breaks),
 *              l4 (a packet forwarder without a flow table: a flow whose target choice
 *              changes breaks), l4+flowtable (connection tracking on each node: a flow that
 *              stays on its node keeps its target; one that moves breaks if the new node's
 *              choice differs),
 * it prints one JSON line with the share of flows broken over the day and the share of
 * flows each change moves. Deterministic for a given --seed; bounded by --max-seconds.
 *
 * The models, precisely:
 * - Router hash: a 31-bit hash of the 5-tuple, independent of the selectors' flow hash (as
 *   the kernel's jhash-based multipath hash with its own seed).
 * - Plain group (kernel nexthop_select_path_hthr): next hop i of n (equal weights) owns the
 *   hashes up to upper_bound_i = round((i + 1) * 2^31 / n) - 1; the first whose bound is at
 *   or above the hash wins. Next hops keep their order; a joining node is appended, a leaving
 *   node is removed from its place (which shifts every bound after it).
 * - Resilient group (kernel nh_res_table_select / nh_res_table_upkeep): B buckets, bucket =
 *   hash mod B. Each next hop wants round-closest cumulative shares of B. Every idle_timer
 *   seconds (one tick), in bucket order, a bucket migrates to the first next hop below its
 *   share when its own next hop is gone (at once), or is above its share and the bucket is
 *   idle: no "chatty" flow (one that sends at least once per idle_timer; --chatty share of the
 *   flows) maps to it. With --unbalanced-timer U > 0, after U seconds of imbalance busy
 *   buckets are moved too. Flows in a migrated bucket move node, chatty or not.
 * - Flows: --flows active at any time, exponential lifetimes (--flow-life mean), each ended
 *   flow replaced by a new one (which takes the current state: never broken at birth).
 *   A flow is counted once however often it breaks; flows whose target is deployed away
 *   are lost with their target (reported apart, not counted as broken by the balancer).
 * - min_member_fill (resilient rows): the emptiest member's buckets over its share, the lowest
 *   seen just before a node change: how close to balance the group got between changes.
 * - Nodes share one configuration (same tables on every node at every instant; the skew of a
 *   rolling change is measured by the fleet test, tests/fleet).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lb/chash.h"
#include "lb/hash.h"
#include "lb/maglev.h"
#include "lb/pool.h"
#include "lb/rendezvous.h"

/* ---- selectors: one table entry each --------------------------------------------------- */

struct selector {
    const char *name;
    /* builds the selector over the pool's targets (n of them, weight 1 each) */
    int (*build)(void **tab, const lb_pool *pool, uint32_t n);
    uint32_t (*lookup)(const void *tab, uint64_t flow_hash); /* a target id */
    void (*free)(void *tab);
    /* the most targets it is run with (0: any): rendezvous scores every target per lookup */
    uint32_t max_targets;
};

static int is_prime(uint32_t n)
{
    if (n < 2)
        return 0;
    for (uint32_t d = 2; (uint64_t)d * d <= n; d++)
        if (n % d == 0)
            return 0;
    return 1;
}

/* Maglev: the table size is a prime of at least 10 slots per target, 65537 at the least. */
static int maglev_build(void **tab, const lb_pool *pool, uint32_t n)
{
    uint32_t size = n * 10u < 65537u ? 65537u : n * 10u;
    while (!is_prime(size))
        size++;
    return lb_maglev_build((lb_maglev **)tab, pool, size);
}

static uint32_t maglev_lookup(const void *tab, uint64_t h)
{
    return lb_maglev_lookup(tab, h);
}

static void maglev_free(void *tab)
{
    lb_maglev_free(tab);
}

/* The ring: 160 points per target (the default), fewer past 2^20 points in all. */
static int ring_build(void **tab, const lb_pool *pool, uint32_t n)
{
    lb_chash_options o;
    memset(&o, 0, sizeof(o));
    o.struct_size = sizeof(o);
    o.points_per_weight = n * 160u > (1u << 20) ? (1u << 20) / n : 160u;
    if (o.points_per_weight == 0)
        o.points_per_weight = 1;
    return lb_chash_new((lb_chash **)tab, pool, &o);
}

static uint32_t ring_lookup(const void *tab, uint64_t h)
{
    return lb_chash_lookup(tab, h);
}

static void ring_free(void *tab)
{
    lb_chash_free(tab);
}

/* Weighted rendezvous hashing: O(targets) per lookup, the choice for a few dozen to a few
 * thousand targets (doc/rendezvous.md), so it is run up to 1000 targets. */
static int rendezvous_build(void **tab, const lb_pool *pool, uint32_t n)
{
    (void)n;
    return lb_rendezvous_build((lb_rendezvous **)tab, pool);
}

static uint32_t rendezvous_lookup(const void *tab, uint64_t h)
{
    return lb_rendezvous_lookup(tab, h);
}

static void rendezvous_free(void *tab)
{
    lb_rendezvous_free(tab);
}

static const struct selector SELECTORS[] = {
    {"maglev", maglev_build, maglev_lookup, maglev_free, 0},
    {"ring", ring_build, ring_lookup, ring_free, 0},
    {"rendezvous", rendezvous_build, rendezvous_lookup, rendezvous_free, 1000},
};
#define NSEL (sizeof(SELECTORS) / sizeof(SELECTORS[0]))

/* Whether selector k runs with this many targets. */
static int sel_on(size_t k, uint32_t targets)
{
    return !SELECTORS[k].max_targets || targets <= SELECTORS[k].max_targets;
}

enum { E_PLAIN, E_RESILIENT, NECMP };
enum { F_PROXY, F_L4, F_L4FT, NFWD };
static const char *const ECMP_NAMES[NECMP] = {"plain", "resilient"};
static const char *const FWD_NAMES[NFWD] = {"proxy", "l4", "l4+flowtable"};
#define BIT(e, s, f) (1u << (((e) * NSEL + (s)) * NFWD + (f)))

/* ---- parameters and state ------------------------------------------------------------ */

struct params {
    uint32_t nodes, targets, flows, node_events, deploys, buckets, life_s, idle_s, unbal_s;
    double hours, chatty, deploy_share, max_seconds;
    uint64_t seed;
};

struct flow {
    uint64_t th;          /* the selectors' flow hash (lb_hash_flow4) */
    uint32_t rh;          /* the router's 31-bit multipath hash */
    uint32_t node[NECMP]; /* where each ECMP model sends it now */
    uint32_t t0[NSEL];    /* the target each selector gave it at its start */
    double end;
    uint32_t broken; /* BIT(e, s, f) */
    uint8_t lost;    /* bit s: its target (under selector s) was deployed away */
    uint8_t chatty;
};

struct sim {
    struct params p;
    uint64_t rng;
    /* nodes */
    uint32_t *order; /* the plain group's next hops, in order */
    uint32_t n_order, next_node_id;
    uint32_t *bucket; /* the resilient group: bucket -> node id */
    uint8_t *member;  /* node id -> 1 while in the group */
    uint32_t cap_nodes;
    double unbalanced_since; /* < 0: balanced */
    /* targets */
    lb_pool *pool;
    uint32_t *tids; /* current target ids */
    uint8_t *gone;  /* target id -> 1 once deployed away */
    uint32_t next_tid, cap_tids;
    void *tab[NSEL];
    /* flows */
    struct flow *fl;
    /* results */
    uint64_t total, broken[NECMP][NSEL][NFWD], lost[NSEL];
    uint64_t node_moves[NECMP], target_moves[NSEL], node_changes, target_changes;
};

static uint64_t rnd(uint64_t *s) /* splitmix64 */
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double rnd01(uint64_t *s)
{
    return ((double)(rnd(s) >> 11) + 0.5) / 9007199254740992.0;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "fleet_sim: %s: %d\n", what, rc);
    exit(1);
}

static void *xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n ? n : 1, sz);
    if (!p)
        die("out of memory", -ENOMEM);
    return p;
}

/* ---- ECMP ---------------------------------------------------------------------------- */

static uint32_t plain_lookup(const struct sim *s, uint32_t rh)
{
    /* the first next hop whose upper bound round((i + 1) 2^31 / n) - 1 is >= rh */
    uint32_t lo = 0, hi = s->n_order - 1, n = s->n_order;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        uint64_t ub = ((((uint64_t)(mid + 1)) << 31) + n / 2) / n - 1;
        if (rh <= ub)
            hi = mid;
        else
            lo = mid + 1;
    }
    return s->order[lo];
}

static uint32_t res_lookup(const struct sim *s, uint32_t rh)
{
    return s->bucket[rh % s->p.buckets];
}

static uint32_t ecmp_lookup(const struct sim *s, int e, uint32_t rh)
{
    return e == E_PLAIN ? plain_lookup(s, rh) : res_lookup(s, rh);
}

/* Each member's wanted bucket count: round-closest cumulative shares, in member order. */
static void res_wants(const struct sim *s, uint32_t *wants)
{
    uint32_t n = s->n_order, prev = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t ub = (uint32_t)(((uint64_t)s->p.buckets * (i + 1) + n / 2) / n);
        wants[s->order[i]] = ub - prev;
        prev = ub;
    }
}

/* One upkeep pass; returns the number of buckets migrated. */
static uint32_t res_upkeep(struct sim *s, double now)
{
    uint32_t B = s->p.buckets;
    uint32_t *wants = xcalloc(s->cap_nodes, sizeof(uint32_t));
    uint32_t *count = xcalloc(s->cap_nodes, sizeof(uint32_t));
    uint8_t *busy = xcalloc(B, 1);
    res_wants(s, wants);
    for (uint32_t b = 0; b < B; b++)
        count[s->bucket[b]]++;
    int unbalanced = 0;
    for (uint32_t i = 0; i < s->n_order; i++)
        if (count[s->order[i]] != wants[s->order[i]])
            unbalanced = 1;
    if (!unbalanced) {
        s->unbalanced_since = -1;
    } else {
        if (s->unbalanced_since < 0)
            s->unbalanced_since = now;
        for (uint32_t i = 0; i < s->p.flows; i++)
            if (s->fl[i].chatty)
                busy[s->fl[i].rh % B] = 1;
    }
    int force = unbalanced && s->p.unbal_s > 0 && now - s->unbalanced_since >= s->p.unbal_s;
    uint32_t moved = 0, under = 0;
    for (uint32_t b = 0; b < B && unbalanced; b++) {
        uint32_t nh = s->bucket[b];
        int gone = !s->member[nh];
        if (!gone && (count[nh] <= wants[nh] || (busy[b] && !force)))
            continue;
        while (under < s->n_order && count[s->order[under]] >= wants[s->order[under]])
            under++;
        if (under == s->n_order)
            break;
        uint32_t to = s->order[under];
        count[nh]--;
        count[to]++;
        s->bucket[b] = to;
        moved++;
    }
    free(wants);
    free(count);
    free(busy);
    return moved;
}

/* How far the resilient group is from balance: the emptiest member's buckets over its share
 * (1: balanced; low: too few idle buckets could move). */
static double res_min_fill(const struct sim *s)
{
    double min_fill = 1;
    uint32_t *wants = xcalloc(s->cap_nodes, sizeof(uint32_t));
    uint32_t *count = xcalloc(s->cap_nodes, sizeof(uint32_t));
    res_wants(s, wants);
    for (uint32_t b = 0; b < s->p.buckets; b++)
        count[s->bucket[b]]++;
    for (uint32_t i = 0; i < s->n_order; i++) {
        uint32_t id = s->order[i];
        if (wants[id] && (double)count[id] / wants[id] < min_fill)
            min_fill = (double)count[id] / wants[id];
    }
    free(wants);
    free(count);
    return min_fill;
}

/* ---- targets ------------------------------------------------------------------------- */

static void add_target(struct sim *s, uint32_t slot)
{
    uint32_t id = s->next_tid++;
    if (id >= s->cap_tids) {
        uint32_t cap = s->cap_tids * 2;
        s->gone = realloc(s->gone, cap);
        if (!s->gone)
            die("out of memory", -ENOMEM);
        memset(s->gone + s->cap_tids, 0, cap - s->cap_tids);
        s->cap_tids = cap;
    }
    s->tids[slot] = id;
}

/* A fresh pool of the current targets (removing thousands of targets one by one from a
 * large pool costs O(n) each), then fresh tables. */
static void rebuild(struct sim *s)
{
    lb_pool_free(s->pool);
    int rc = lb_pool_new(&s->pool);
    if (rc != 0)
        die("lb_pool_new", rc);
    for (uint32_t i = 0; i < s->p.targets; i++) {
        char key[32];
        int n = snprintf(key, sizeof(key), "target-%u", s->tids[i]);
        rc = lb_pool_add(s->pool, s->tids[i], key, (size_t)n, 1, 0);
        if (rc != 0)
            die("lb_pool_add", rc);
    }
    for (size_t k = 0; k < NSEL; k++) {
        void *t = NULL;
        if (!sel_on(k, s->p.targets))
            continue;
        rc = SELECTORS[k].build(&t, s->pool, s->p.targets);
        if (rc != 0)
            die(SELECTORS[k].name, rc);
        if (s->tab[k])
            SELECTORS[k].free(s->tab[k]);
        s->tab[k] = t;
    }
}

/* ---- flows --------------------------------------------------------------------------- */

static void new_flow(struct sim *s, struct flow *f, double now)
{
    uint8_t src[4], dst[4] = {10, 0, 0, 1};
    uint64_t r = rnd(&s->rng);
    memcpy(src, &r, 4);
    uint16_t sport = (uint16_t)(1024 + (r >> 32) % 64512);
    memset(f, 0, sizeof(*f));
    f->th = lb_hash_flow4(src, dst, sport, 443, 6, s->p.seed);
    f->rh = (uint32_t)(lb_hash_flow4(src, dst, sport, 443, 6, ~s->p.seed) >> 33);
    for (int e = 0; e < NECMP; e++)
        f->node[e] = ecmp_lookup(s, e, f->rh);
    for (size_t k = 0; k < NSEL; k++)
        f->t0[k] = sel_on(k, s->p.targets) ? SELECTORS[k].lookup(s->tab[k], f->th) : 0;
    f->end = now - log(rnd01(&s->rng)) * s->p.life_s;
    f->chatty = rnd01(&s->rng) < s->p.chatty;
}

static void retire(struct sim *s, const struct flow *f)
{
    s->total++;
    for (int e = 0; e < NECMP; e++)
        for (size_t k = 0; k < NSEL; k++)
            for (int w = 0; w < NFWD; w++)
                if (f->broken & BIT(e, k, w))
                    s->broken[e][k][w]++;
    for (size_t k = 0; k < NSEL; k++)
        if (f->lost & (1u << k))
            s->lost[k]++;
}

/* After a change of ECMP model e's state: flows that changed node. */
static void eval_nodes(struct sim *s, int e)
{
    for (uint32_t i = 0; i < s->p.flows; i++) {
        struct flow *f = &s->fl[i];
        uint32_t n = ecmp_lookup(s, e, f->rh);
        if (n == f->node[e])
            continue;
        f->node[e] = n;
        s->node_moves[e]++;
        for (size_t k = 0; k < NSEL; k++) {
            f->broken |= BIT(e, k, F_PROXY); /* a proxy's connection ends in the node */
            if ((f->lost & (1u << k)) || !sel_on(k, s->p.targets))
                continue;
            if (SELECTORS[k].lookup(s->tab[k], f->th) != f->t0[k])
                f->broken |= BIT(e, k, F_L4FT); /* the new node picks another target */
        }
    }
}

/* After a deploy (tables rebuilt): flows whose target is gone or whose choice moved. */
static void eval_targets(struct sim *s)
{
    for (uint32_t i = 0; i < s->p.flows; i++) {
        struct flow *f = &s->fl[i];
        for (size_t k = 0; k < NSEL; k++) {
            if ((f->lost & (1u << k)) || !sel_on(k, s->p.targets))
                continue;
            if (s->gone[f->t0[k]]) {
                f->lost |= (uint8_t)(1u << k);
                continue;
            }
            if (SELECTORS[k].lookup(s->tab[k], f->th) != f->t0[k]) {
                if (!(f->broken & BIT(0, k, F_L4))) /* moved by this deploy */
                    s->target_moves[k]++;
                for (int e = 0; e < NECMP; e++)
                    f->broken |= BIT(e, k, F_L4); /* stateless: every packet re-picks */
            }
        }
    }
}

/* ---- membership changes ------------------------------------------------------------ */

static void node_join(struct sim *s)
{
    uint32_t id = s->next_node_id++;
    if (id >= s->cap_nodes)
        die("too many node events", -ERANGE);
    s->member[id] = 1;
    s->order[s->n_order++] = id;
}

static void node_leave(struct sim *s)
{
    uint32_t at = (uint32_t)(rnd(&s->rng) % s->n_order);
    s->member[s->order[at]] = 0;
    memmove(s->order + at, s->order + at + 1, (s->n_order - at - 1) * sizeof(uint32_t));
    s->n_order--;
}

static void deploy(struct sim *s)
{
    uint32_t k = (uint32_t)(s->p.targets * s->p.deploy_share + 0.5);
    if (k < 1)
        k = 1;
    for (uint32_t j = 0; j < k; j++) {
        uint32_t slot = (uint32_t)(rnd(&s->rng) % s->p.targets);
        s->gone[s->tids[slot]] = 1;
        add_target(s, slot);
    }
    rebuild(s);
}

/* ---- one run ------------------------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void run(const struct params *p)
{
    double t_start = now_s();
    struct sim s;
    memset(&s, 0, sizeof(s));
    s.p = *p;
    s.rng = p->seed ^ ((uint64_t)p->nodes << 32) ^ p->targets;
    s.cap_nodes = p->nodes + p->node_events + 1;
    s.order = xcalloc(s.cap_nodes, sizeof(uint32_t));
    s.member = xcalloc(s.cap_nodes, 1);
    s.bucket = xcalloc(p->buckets, sizeof(uint32_t));
    s.unbalanced_since = -1;
    for (uint32_t i = 0; i < p->nodes; i++)
        node_join(&s);
    for (uint32_t b = 0; b < p->buckets; b++) /* a new group: buckets dealt evenly in order */
        s.bucket[b] = s.order[(uint64_t)b * s.n_order / p->buckets];
    s.cap_tids = p->targets * 2;
    s.tids = xcalloc(p->targets, sizeof(uint32_t));
    s.gone = xcalloc(s.cap_tids, 1);
    for (uint32_t i = 0; i < p->targets; i++)
        add_target(&s, i);
    rebuild(&s);
    s.fl = xcalloc(p->flows, sizeof(struct flow));
    for (uint32_t i = 0; i < p->flows; i++)
        new_flow(&s, &s.fl[i], 0);

    double day = p->hours * 3600.0, tick = p->idle_s;
    double node_every = p->node_events ? day / p->node_events : day * 2;
    double deploy_every = p->deploys ? day / p->deploys : day * 2;
    double next_leave = node_every / 2, next_join = -1, next_deploy = deploy_every / 2;
    double now = 0;
    int truncated = 0;
    double min_fill = 1;
    uint32_t joins = 0, leaves = 0, deploys = 0;
    while (now < day) {
        if (now_s() - t_start > p->max_seconds) {
            truncated = 1;
            break;
        }
        now += tick;
        for (uint32_t i = 0; i < p->flows; i++)
            if (s.fl[i].end <= now) {
                retire(&s, &s.fl[i]);
                new_flow(&s, &s.fl[i], now);
            }
        int changed = 0;
        if ((next_leave >= 0 && now >= next_leave) || (next_join >= 0 && now >= next_join)) {
            double fill = res_min_fill(&s); /* just before the next change */
            if (fill < min_fill)
                min_fill = fill;
        }
        /* a node is replaced: it leaves, a new one joins half an interval later */
        if (next_leave >= 0 && now >= next_leave && s.n_order > 1) {
            node_leave(&s);
            leaves++;
            next_join = next_leave + node_every / 2;
            next_leave = -1;
            changed = 1;
        }
        if (next_join >= 0 && now >= next_join) {
            node_join(&s);
            joins++;
            next_join = -1;
            if (leaves < p->node_events)
                next_leave = now + node_every / 2;
            changed = 1;
        }
        if (changed) {
            s.node_changes++;
            eval_nodes(&s, E_PLAIN);
        }
        if (res_upkeep(&s, now) > 0)
            eval_nodes(&s, E_RESILIENT);
        if (p->deploys && now >= next_deploy && deploys < p->deploys) {
            deploy(&s);
            deploys++;
            s.target_changes++;
            next_deploy += deploy_every;
            eval_targets(&s);
        }
    }
    for (uint32_t i = 0; i < p->flows; i++)
        retire(&s, &s.fl[i]);

    double secs = now_s() - t_start;
    char head[512];
    snprintf(head, sizeof(head),
             "{\"sim\": \"fleet\", \"nodes\": %u, \"targets\": %u, \"flows_active\": %u, "
             "\"hours\": %.2f, \"truncated\": %s, \"node_leaves\": %u, \"node_joins\": %u, "
             "\"deploys\": %u, \"deploy_share\": %.3f, \"buckets\": %u, \"chatty\": %.2f, "
             "\"flows_total\": %llu",
             p->nodes, p->targets, p->flows, now / 3600.0, truncated ? "true" : "false", leaves,
             joins, deploys, p->deploy_share, p->buckets, p->chatty,
             (unsigned long long)s.total);
    double denom = (double)s.total;
    for (int e = 0; e < NECMP; e++) {
        double per_change = s.node_changes ? (double)s.node_moves[e] /
                                                 ((double)s.node_changes * p->flows)
                                           : 0;
        printf("%s, \"ecmp\": \"%s\", \"selector\": \"any\", \"forwarder\": \"proxy\", "
               "\"broken_share\": %.6f, \"node_moved_per_change\": %.4f, "
               "\"min_member_fill\": %.3f}\n",
               head, ECMP_NAMES[e], s.broken[e][0][F_PROXY] / denom, per_change,
               e == E_RESILIENT ? min_fill : 1.0);
        for (size_t k = 0; k < NSEL; k++)
            for (int w = F_L4; w < NFWD && sel_on(k, p->targets); w++)
                printf("%s, \"ecmp\": \"%s\", \"selector\": \"%s\", \"forwarder\": \"%s\", "
                       "\"broken_share\": %.6f, \"target_moved_per_deploy\": %.5f, "
                       "\"lost_with_target_share\": %.6f}\n",
                       head, ECMP_NAMES[e], SELECTORS[k].name, FWD_NAMES[w],
                       s.broken[e][k][w] / denom,
                       s.target_changes ? (double)s.target_moves[k] /
                                              ((double)s.target_changes * p->flows)
                                        : 0,
                       s.lost[k] / denom);
    }
    printf("{\"sim\": \"fleet-run\", \"nodes\": %u, \"targets\": %u, \"seconds\": %.2f}\n",
           p->nodes, p->targets, secs);
    fflush(stdout);
    for (size_t k = 0; k < NSEL; k++)
        if (s.tab[k])
            SELECTORS[k].free(s.tab[k]);
    lb_pool_free(s.pool);
    free(s.fl);
    free(s.tids);
    free(s.gone);
    free(s.order);
    free(s.member);
    free(s.bucket);
}

/* ---- command line -------------------------------------------------------------------- */

static int parse_list(const char *arg, uint32_t *out, int max, uint32_t lo, uint32_t hi)
{
    int n = 0;
    char *copy = strdup(arg), *save = NULL;
    if (!copy)
        return -1;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        char *end;
        unsigned long v = strtoul(t, &end, 10);
        if (*end || v < lo || v > hi || n == max) {
            free(copy);
            return -1;
        }
        out[n++] = (uint32_t)v;
    }
    free(copy);
    return n;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: fleet_sim [--nodes N[,N...]] [--targets M[,M...]] [--flows F] [--hours H]\n"
            "  [--node-events K] [--deploys D] [--deploy-share X] [--flow-life S] [--chatty X]\n"
            "  [--idle-timer S] [--unbalanced-timer S] [--buckets B] [--seed S]\n"
            "  [--max-seconds S]\n"
            "nodes 10..1000 (default 10,100,1000), targets 100..100000 (default 100,10000,100000);\n"
            "every (N, M) pair is run; one JSON line per ECMP x selector x forwarder.\n");
}

int main(int argc, char **argv)
{
    uint32_t nodes[8] = {10, 100, 1000}, targets[8] = {100, 10000, 100000};
    int n_nodes = 3, n_targets = 3;
    struct params p = {.flows = 20000, .node_events = 24, .deploys = 48, .buckets = 0,
                       .life_s = 600, .idle_s = 120, .unbal_s = 0, .hours = 24,
                       .chatty = 0.1, .deploy_share = 0.05, .max_seconds = 300,
                       .seed = 20261207};
    for (int i = 1; i < argc; i += 2) { /* --name VALUE pairs */
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        int bad = 0;
        if (!strcmp(a, "--help")) {
            usage();
            return 0;
        } else if (!v) {
            bad = 1;
        } else if (!strcmp(a, "--nodes")) {
            bad = (n_nodes = parse_list(v, nodes, 8, 10, 1000)) <= 0;
        } else if (!strcmp(a, "--targets")) {
            bad = (n_targets = parse_list(v, targets, 8, 100, 100000)) <= 0;
        } else if (!strcmp(a, "--flows")) {
            unsigned long x = strtoul(v, &end, 10);
            bad = *end || x < 100 || x > 10000000;
            p.flows = (uint32_t)x;
        } else if (!strcmp(a, "--hours")) {
            p.hours = strtod(v, &end);
            bad = *end || !(p.hours > 0 && p.hours <= 168);
        } else if (!strcmp(a, "--node-events") || !strcmp(a, "--deploys") ||
                   !strcmp(a, "--flow-life") || !strcmp(a, "--idle-timer") ||
                   !strcmp(a, "--unbalanced-timer") || !strcmp(a, "--buckets")) {
            unsigned long x = strtoul(v, &end, 10);
            bad = *end || x > 100000;
            uint32_t *dst = !strcmp(a, "--node-events") ? &p.node_events
                            : !strcmp(a, "--deploys")   ? &p.deploys
                            : !strcmp(a, "--flow-life") ? &p.life_s
                            : !strcmp(a, "--idle-timer") ? &p.idle_s
                            : !strcmp(a, "--buckets")    ? &p.buckets
                                                         : &p.unbal_s;
            *dst = (uint32_t)x;
            if ((dst == &p.life_s || dst == &p.idle_s) && x == 0)
                bad = 1;
            if (dst == &p.buckets && x != 0 && (x < 2 || x > 65535))
                bad = 1;
        } else if (!strcmp(a, "--deploy-share") || !strcmp(a, "--chatty")) {
            double x = strtod(v, &end);
            bad = *end || !(x >= 0 && x <= 1);
            *(!strcmp(a, "--chatty") ? &p.chatty : &p.deploy_share) = x;
        } else if (!strcmp(a, "--seed")) {
            p.seed = strtoull(v, &end, 0);
            bad = *end != '\0';
        } else if (!strcmp(a, "--max-seconds")) {
            p.max_seconds = strtod(v, &end);
            bad = *end || !(p.max_seconds > 0 && p.max_seconds <= 3600);
        } else {
            bad = 1;
        }
        if (bad) {
            fprintf(stderr, "fleet_sim: bad option or value: %s %s\n", a, v ? v : "");
            usage();
            return 2;
        }
    }
    uint32_t fixed_buckets = p.buckets;
    for (int i = 0; i < n_nodes; i++)
        for (int j = 0; j < n_targets; j++) {
            p.nodes = nodes[i];
            p.targets = targets[j];
            /* 32 buckets a node, 128 at the least, 32768 at the most (16-bit in the kernel) */
            p.buckets = fixed_buckets ? fixed_buckets
                                      : (nodes[i] * 32 < 128     ? 128
                                         : nodes[i] * 32 > 32768 ? 32768
                                                                 : nodes[i] * 32);
            if (p.buckets < p.nodes) {
                fprintf(stderr, "fleet_sim: %u buckets for %u nodes\n", p.buckets, p.nodes);
                return 2;
            }
            run(&p);
        }
    return 0;
}
