/* lbfwd admin HTTP (libmicrohttpd, its own thread): /metrics, /targets, /ready and target
 * changes. Requests are parsed by admin_req.c; changes go to the balancer and the registry. */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <errno.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lbfwd.h"

/* ---- a growable text buffer ---------------------------------------------------------------- */
struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if (b->p && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t ncap = b->cap ? b->cap * 2 : 8192;
        while (ncap < b->len + (size_t)n + 1)
            ncap *= 2;
        char *np = realloc(b->p, ncap);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = ncap;
    }
}

static void stat_line(struct sbuf *b, const char *name, const char *type, const char *help,
                      const char *labels, uint64_t v)
{
    if (help)
        sb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
    sb_printf(b, "%s%s %llu\n", name, labels ? labels : "", (unsigned long long)v);
}

#define LD(x) atomic_load_explicit(&(x), memory_order_relaxed)

static const char *target_state(struct lbf_app *app, struct lbf_target *t, lb_target_stats *ts)
{
    memset(ts, 0, sizeof(*ts));
    ts->struct_size = sizeof(*ts);
    if (atomic_load(&t->gone) ||
        lb_balancer_get_target_stats(lbf_bal(app, t->pool), t->id, ts) != 0) {
        memset(ts, 0, sizeof(*ts));
        return "removed";
    }
    return lb_balancer_state_name(ts->state);
}

/* ---- per-target metrics: one row each ------------------------------------------------------ */
struct target_sample {
    const struct lbf_target *t;
    const lb_target_stats *st; /* zeros for a removed target */
    const char *state;
};

typedef uint64_t (*target_metric_fn)(const struct target_sample *s);

static uint64_t tm_active(const struct target_sample *s)
{
    return s->st->active;
}
static uint64_t tm_conns(const struct target_sample *s)
{
    return LD(s->t->conns);
}
static uint64_t tm_picks(const struct target_sample *s)
{
    return s->st->picks;
}
static uint64_t tm_bytes_in(const struct target_sample *s)
{
    return LD(s->t->bytes_in);
}
static uint64_t tm_bytes_out(const struct target_sample *s)
{
    return LD(s->t->bytes_out);
}
static uint64_t tm_failures(const struct target_sample *s)
{
    return LD(s->t->connect_failures);
}
static uint64_t tm_udp_flows(const struct target_sample *s)
{
    return LD(s->t->udp_flows);
}
static uint64_t tm_udp_active(const struct target_sample *s)
{
    return LD(s->t->udp_active);
}
static uint64_t tm_udp_dgrams_in(const struct target_sample *s)
{
    return LD(s->t->udp_dgrams_in);
}
static uint64_t tm_udp_dgrams_out(const struct target_sample *s)
{
    return LD(s->t->udp_dgrams_out);
}
static uint64_t tm_udp_bytes_in(const struct target_sample *s)
{
    return LD(s->t->udp_bytes_in);
}
static uint64_t tm_udp_bytes_out(const struct target_sample *s)
{
    return LD(s->t->udp_bytes_out);
}
static uint64_t tm_udp_refused(const struct target_sample *s)
{
    return LD(s->t->udp_refused);
}
static uint64_t tm_udp_unanswered(const struct target_sample *s)
{
    return LD(s->t->udp_unanswered);
}
static uint64_t tm_checks_ok(const struct target_sample *s)
{
    return LD(s->t->checks_ok);
}
static uint64_t tm_checks_failed(const struct target_sample *s)
{
    return LD(s->t->checks_failed);
}
static uint64_t tm_weight(const struct target_sample *s)
{
    return s->st->weight;
}
static uint64_t tm_eligible(const struct target_sample *s)
{
    return s->st->eligible;
}
static uint64_t tm_entries(const struct target_sample *s)
{
    return s->st->table_entries;
}
static uint64_t tm_draining(const struct target_sample *s)
{
    return strcmp(s->state, "draining") == 0;
}
static uint64_t tm_healthy(const struct target_sample *s)
{
    return strcmp(s->state, "healthy") == 0;
}

static const struct {
    const char *name, *type, *help;
    target_metric_fn value;
} target_metrics[] = {
    {"lbfwd_target_active", "gauge", "Active connections (balancer count).", tm_active},
    {"lbfwd_target_connections_total", "counter", "Connections sent to the target.", tm_conns},
    {"lbfwd_target_picks_total", "counter", "Balancer picks.", tm_picks},
    {"lbfwd_target_bytes_in_total", "counter", "Bytes client to target.", tm_bytes_in},
    {"lbfwd_target_bytes_out_total", "counter", "Bytes target to client.", tm_bytes_out},
    {"lbfwd_target_connect_failures_total", "counter", "Failed connects.", tm_failures},
    {"lbfwd_target_udp_flows_total", "counter", "UDP flows sent to the target.", tm_udp_flows},
    {"lbfwd_target_udp_flows_active", "gauge", "UDP flows on the target now.", tm_udp_active},
    {"lbfwd_target_udp_datagrams_in_total", "counter", "UDP datagrams client to target.",
     tm_udp_dgrams_in},
    {"lbfwd_target_udp_datagrams_out_total", "counter", "UDP datagrams target to client.",
     tm_udp_dgrams_out},
    {"lbfwd_target_udp_bytes_in_total", "counter", "UDP payload bytes client to target.",
     tm_udp_bytes_in},
    {"lbfwd_target_udp_bytes_out_total", "counter", "UDP payload bytes target to client.",
     tm_udp_bytes_out},
    {"lbfwd_target_udp_refused_total", "counter",
     "ICMP port unreachable from the target (the flow ended).", tm_udp_refused},
    {"lbfwd_target_udp_unanswered_total", "counter", "UDP flows that ended without a reply.",
     tm_udp_unanswered},
    {"lbfwd_target_checks_ok_total", "counter", "Passed health checks.", tm_checks_ok},
    {"lbfwd_target_checks_failed_total", "counter", "Failed health checks.", tm_checks_failed},
    {"lbfwd_target_weight", "gauge", "Configured weight.", tm_weight},
    {"lbfwd_target_eligible", "gauge", "1 when eligible for new connections.", tm_eligible},
    {"lbfwd_target_table_entries", "gauge", "Maglev table entries owned.", tm_entries},
    {"lbfwd_target_draining", "gauge", "1 while draining.", tm_draining},
    {"lbfwd_target_healthy", "gauge", "1 while healthy.", tm_healthy},
};

/* Each metric's lines for every listed target (Prometheus groups a metric's samples). */
static void render_target_metrics(struct lbf_app *app, struct sbuf *b, struct lbf_target **ts,
                                  int n)
{
    lb_target_stats *st = n ? malloc(sizeof(*st) * (size_t)n) : NULL;
    const char **states = n ? malloc(sizeof(*states) * (size_t)n) : NULL;
    if (n && (!st || !states)) {
        b->oom = 1;
        n = 0;
    }
    for (int i = 0; i < n; i++)
        states[i] = target_state(app, ts[i], &st[i]);
    char lab[200];
    for (size_t m = 0; m < sizeof(target_metrics) / sizeof(target_metrics[0]); m++) {
        sb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", target_metrics[m].name, target_metrics[m].help,
                  target_metrics[m].name, target_metrics[m].type);
        for (int i = 0; i < n; i++) {
            struct target_sample smp = {ts[i], &st[i], states[i]};
            snprintf(lab, sizeof(lab), "{target=\"%s\",state=\"%s\"}", ts[i]->name, states[i]);
            stat_line(b, target_metrics[m].name, target_metrics[m].type, NULL, lab,
                      target_metrics[m].value(&smp));
        }
    }
    free(st);
    free(states);
}

/* Pools (target groups) and SNI routes: one row per pool (its balancer's own counts, so a
 * connection costs nothing more), per route pattern ever configured. */
static void render_pool_metrics(struct lbf_app *app, struct sbuf *b)
{
    static const struct {
        const char *name, *type, *help;
    } fam[] = {
        {"lbfwd_pool_picks_total", "counter", "Targets picked in the pool (connections, retries)."},
        {"lbfwd_pool_no_target_total", "counter", "Picks in the pool that found no target."},
        {"lbfwd_pool_targets", "gauge", "Targets registered in the pool's balancer."},
        {"lbfwd_pool_eligible_targets", "gauge", "Targets of the pool eligible now."},
    };
    int np = atomic_load(&app->n_pools);
    lb_balancer_stats bs[LBF_MAX_POOLS];
    for (int p = 0; p < np; p++) {
        memset(&bs[p], 0, sizeof(bs[p]));
        bs[p].struct_size = sizeof(bs[p]);
        (void)lb_balancer_get_stats(app->pools[p].bal, &bs[p]);
    }
    char lab[LBF_PATTERN_MAX + 32];
    for (size_t f = 0; f < sizeof(fam) / sizeof(fam[0]); f++) {
        sb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", fam[f].name, fam[f].help, fam[f].name,
                  fam[f].type);
        for (int p = 0; p < np; p++) {
            uint64_t v = f == 0   ? bs[p].picks
                         : f == 1 ? bs[p].no_target
                         : f == 2 ? bs[p].targets
                                  : bs[p].eligible;
            snprintf(lab, sizeof(lab), "{pool=\"%s\"}", app->pools[p].name);
            stat_line(b, fam[f].name, "", NULL, lab, v);
        }
    }
    int nr = atomic_load(&app->n_route_stats);
    sb_printf(b, "# HELP lbfwd_route_connections_total Connections an SNI route took, by "
                 "pattern.\n# TYPE lbfwd_route_connections_total counter\n");
    for (int r = 0; r < nr; r++) {
        snprintf(lab, sizeof(lab), "{route=\"%s\"}", app->route_stats[r].pattern);
        stat_line(b, "lbfwd_route_connections_total", "", NULL, lab, LD(app->route_stats[r].conns));
    }
    struct lbf_stats *s = &app->st;
    sb_printf(b, "# HELP lbfwd_sni_closed_total Connections closed while reading the "
                 "ClientHello, by reason.\n# TYPE lbfwd_sni_closed_total counter\n");
    stat_line(b, "lbfwd_sni_closed_total", "", NULL, "{reason=\"unmatched\"}",
              LD(s->sni_unmatched));
    stat_line(b, "lbfwd_sni_closed_total", "", NULL, "{reason=\"malformed\"}",
              LD(s->sni_malformed));
    stat_line(b, "lbfwd_sni_closed_total", "", NULL, "{reason=\"timeout\"}", LD(s->sni_timeout));
}

/* UDP listener counters: one sample per listener and one without a label (the total). */
static const struct {
    const char *name, *type, *help;
    size_t off;
} udp_metrics[] = {
#define UM(n, t, h, f) {n, t, h, offsetof(struct lbf_udp_stats, f)}
    UM("lbfwd_udp_flows_created_total", "counter", "UDP flows created.", flows_created),
    UM("lbfwd_udp_flows_active", "gauge", "UDP flows now.", flows_active),
    UM("lbfwd_udp_flows_expired_total", "counter", "UDP flows ended idle (udp_idle_timeout).",
       flows_expired),
    UM("lbfwd_udp_flows_evicted_total", "counter",
       "UDP flows evicted from a full flow table (udp_flows).", flows_evicted),
    UM("lbfwd_udp_flows_responses_total", "counter", "UDP flows ended after udp_responses replies.",
       flows_responses),
    UM("lbfwd_udp_flows_refused_total", "counter",
       "UDP flows ended by an ICMP port unreachable from their target.", flows_refused),
    UM("lbfwd_udp_flows_closed_total", "counter",
       "UDP flows ended by a drain deadline, a target removal or shutdown.", flows_drain_closed),
    UM("lbfwd_udp_datagrams_in_total", "counter", "UDP datagrams client to target.", dgrams_in),
    UM("lbfwd_udp_datagrams_out_total", "counter", "UDP datagrams target to client.", dgrams_out),
    UM("lbfwd_udp_bytes_in_total", "counter", "UDP payload bytes client to target.", bytes_in),
    UM("lbfwd_udp_bytes_out_total", "counter", "UDP payload bytes target to client.", bytes_out),
    UM("lbfwd_udp_dropped_oversized_total", "counter",
       "UDP datagrams dropped: larger than udp_max_datagram.", dropped_oversized),
    UM("lbfwd_udp_dropped_no_target_total", "counter",
       "UDP datagrams of new flows dropped: no eligible target.", dropped_no_target),
    UM("lbfwd_udp_dropped_no_socket_total", "counter",
       "UDP datagrams of new flows dropped: no upstream socket.", dropped_no_socket),
    UM("lbfwd_udp_dropped_send_total", "counter", "UDP datagrams whose send failed.",
       dropped_send),
    UM("lbfwd_udp_dropped_late_total", "counter",
       "UDP datagrams from targets dropped: sent after their flow's udp_responses replies.",
       dropped_late),
#undef UM
};

static void render_udp_metrics(struct lbf_app *app, struct sbuf *b)
{
    if (app->cfg.n_udp_listen == 0)
        return;
    char lab[LB_ADDR_TEXT_MAX + LBF_NAME_MAX + 48];
    for (size_t m = 0; m < sizeof(udp_metrics) / sizeof(udp_metrics[0]); m++) {
        const _Atomic uint64_t *tot =
            (const _Atomic uint64_t *)(const void *)((const char *)&app->udp_st[LBF_MAX_LISTEN] +
                                                     udp_metrics[m].off);
        stat_line(b, udp_metrics[m].name, udp_metrics[m].type, udp_metrics[m].help, NULL,
                  LD(*tot));
        for (int i = 0; i < app->cfg.n_udp_listen; i++) {
            const _Atomic uint64_t *v =
                (const _Atomic uint64_t *)(const void *)((const char *)&app->udp_st[i] +
                                                         udp_metrics[m].off);
            snprintf(lab, sizeof(lab), "{listener=\"udp:%s\",pool=\"%s\"}",
                     app->udp_bound[i].text, app->cfg.udp_pool[i]);
            stat_line(b, udp_metrics[m].name, "", NULL, lab, LD(*v));
        }
    }
}

char *lbf_render_metrics(struct lbf_app *app)
{
    struct sbuf b = {0};
    struct lbf_stats *s = &app->st;
    char lab[200];
    lb_balancer_stats bs;
    memset(&bs, 0, sizeof(bs));
    bs.struct_size = sizeof(bs);
    (void)lb_balancer_get_stats(lbf_bal(app, 0), &bs); /* the default pool's */

    stat_line(&b, "lbfwd_connections_accepted_total", "counter", "Client connections accepted.",
              NULL, LD(s->accepted));
    stat_line(&b, "lbfwd_connections_closed_total", "counter", "Client connections ended.", NULL,
              LD(s->completed));
    stat_line(&b, "lbfwd_connections_active", "gauge", "Client connections open now.", NULL,
              LD(s->active));
    sb_printf(&b, "# HELP lbfwd_refused_total Connections refused at once, by reason.\n"
                  "# TYPE lbfwd_refused_total counter\n");
    stat_line(&b, "lbfwd_refused_total", "", NULL, "{reason=\"no_target\"}",
              LD(s->refused_no_target));
    stat_line(&b, "lbfwd_refused_total", "", NULL, "{reason=\"target_full\"}", LD(s->refused_full));
    stat_line(&b, "lbfwd_refused_total", "", NULL, "{reason=\"max_conns\"}",
              LD(s->refused_max_conns));
    stat_line(&b, "lbfwd_refused_total", "", NULL, "{reason=\"no_fd\"}", LD(s->refused_emfile));
    sb_printf(&b, "# HELP lbfwd_proxy_violations_total PROXY protocol violations, by kind.\n"
                  "# TYPE lbfwd_proxy_violations_total counter\n");
    stat_line(&b, "lbfwd_proxy_violations_total", "", NULL, "{kind=\"missing\"}",
              LD(s->proxy_missing));
    stat_line(&b, "lbfwd_proxy_violations_total", "", NULL, "{kind=\"invalid\"}",
              LD(s->proxy_invalid));
    stat_line(&b, "lbfwd_proxy_violations_total", "", NULL, "{kind=\"untrusted\"}",
              LD(s->proxy_untrusted));
    stat_line(&b, "lbfwd_proxy_violations_total", "", NULL, "{kind=\"timeout\"}",
              LD(s->proxy_timeout));
    sb_printf(&b, "# HELP lbfwd_errors_total Connection errors and timeouts, by kind.\n"
                  "# TYPE lbfwd_errors_total counter\n");
    stat_line(&b, "lbfwd_errors_total", "", NULL, "{kind=\"connect_failed\"}",
              LD(s->connect_failed));
    stat_line(&b, "lbfwd_errors_total", "", NULL, "{kind=\"connect_timeout\"}",
              LD(s->connect_timeout));
    stat_line(&b, "lbfwd_errors_total", "", NULL, "{kind=\"gave_up\"}", LD(s->give_up));
    stat_line(&b, "lbfwd_errors_total", "", NULL, "{kind=\"reset\"}", LD(s->resets));
    stat_line(&b, "lbfwd_errors_total", "", NULL, "{kind=\"idle_timeout\"}", LD(s->idle_timeout));
    stat_line(&b, "lbfwd_errors_total", "", NULL, "{kind=\"half_closed_timeout\"}",
              LD(s->half_closed_timeout));
    stat_line(&b, "lbfwd_errors_total", "", NULL, "{kind=\"drain_deadline\"}", LD(s->drain_closed));
    stat_line(&b, "lbfwd_connect_retries_total", "counter", "Connects retried on another target.",
              NULL, LD(s->retries));
    sb_printf(&b, "# HELP lbfwd_bytes_total Bytes forwarded (in: client to target).\n"
                  "# TYPE lbfwd_bytes_total counter\n");
    stat_line(&b, "lbfwd_bytes_total", "", NULL, "{direction=\"in\"}", LD(s->bytes_in));
    stat_line(&b, "lbfwd_bytes_total", "", NULL, "{direction=\"out\"}", LD(s->bytes_out));
    stat_line(&b, "lbfwd_pipes_created_total", "counter", "Pipes created for splice.", NULL,
              LD(s->pipes_created));
    stat_line(&b, "lbfwd_smart_connect_acks_total", "counter",
              "Handshake ACKs toward targets sent alone: nothing to carry them in time.", NULL,
              LD(s->delack_flushed));
    stat_line(&b, "lbfwd_smart_accept_acks_total", "counter",
              "ACKs of a client's first bytes sent alone: no answer to carry them in time.", NULL,
              LD(s->cdelack_flushed));
    sb_printf(&b, "# HELP lbfwd_checks_total Health checks, by result.\n"
                  "# TYPE lbfwd_checks_total counter\n");
    stat_line(&b, "lbfwd_checks_total", "", NULL, "{result=\"ok\"}", LD(s->checks_ok));
    stat_line(&b, "lbfwd_checks_total", "", NULL, "{result=\"failed\"}", LD(s->checks_failed));
    sb_printf(&b, "# HELP lbfwd_reloads_total Configuration reloads, by result.\n"
                  "# TYPE lbfwd_reloads_total counter\n");
    stat_line(&b, "lbfwd_reloads_total", "", NULL, "{result=\"ok\"}", LD(s->reloads));
    stat_line(&b, "lbfwd_reloads_total", "", NULL, "{result=\"failed\"}", LD(s->reload_failures));
    render_udp_metrics(app, &b);
    stat_line(&b, "lbfwd_balancer_picks_total", "counter", "Successful picks.", NULL, bs.picks);
    stat_line(&b, "lbfwd_balancer_no_target_total", "counter", "Picks with no eligible target.",
              NULL, bs.no_target);
    stat_line(&b, "lbfwd_balancer_targets", "gauge", "Registered targets.", NULL, bs.targets);
    stat_line(&b, "lbfwd_balancer_eligible_targets", "gauge", "Targets eligible now.", NULL,
              bs.eligible);
    stat_line(&b, "lbfwd_balancer_fail_open", "gauge", "1 while failing open.", NULL, bs.fail_open);
    stat_line(&b, "lbfwd_balancer_generation", "counter", "Snapshots published.", NULL,
              bs.generation);
    stat_line(&b, "lbfwd_balancer_events_dropped_total", "counter",
              "Balancer events lost to a full queue.", NULL, bs.events_dropped);
    stat_line(&b, "lbfwd_balancer_bad_releases_total", "counter",
              "Releases of an unknown target or a connection not held.", NULL, bs.bad_releases);
    snprintf(lab, sizeof(lab), "{algorithm=\"%s\",digest=\"0x%016llx\"}",
             lb_balancer_algorithm_name(app->cfg.algorithm)
                 ? lb_balancer_algorithm_name(app->cfg.algorithm)
                 : "unknown",
             (unsigned long long)bs.table_digest);
    stat_line(&b, "lbfwd_table_info", "gauge",
              "The selector and the digest of the Maglev table (equal configurations, equal "
              "digests).",
              lab, 1);

    render_pool_metrics(app, &b);
    struct lbf_target **ts = malloc(sizeof(*ts) * LBF_TARGETS_LISTED);
    pthread_mutex_lock(&app->reg.mu);
    stat_line(&b, "lbfwd_target_records", "gauge",
              "Target records held (registered, draining, gone but not yet freed).", NULL,
              app->reg.n_records);
    stat_line(&b, "lbfwd_target_ids", "gauge",
              "Target ids handed out so far (ids of removed targets are reused).", NULL,
              app->reg.next_id);
    int n = ts ? lbf_targets_visible(app, ts, LBF_TARGETS_LISTED, lbf_now_ms()) : 0;
    render_target_metrics(app, &b, ts, n);
    pthread_mutex_unlock(&app->reg.mu);
    free(ts);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p ? b.p : strdup("");
}

char *lbf_render_targets(struct lbf_app *app)
{
    cJSON *arr = cJSON_CreateArray();
    struct lbf_target **ts = malloc(sizeof(*ts) * LBF_TARGETS_LISTED);
    pthread_mutex_lock(&app->reg.mu);
    int n = ts ? lbf_targets_visible(app, ts, LBF_TARGETS_LISTED, lbf_now_ms()) : 0;
    for (int i = 0; i < n && arr; i++) {
        struct lbf_target *t = ts[i];
        lb_target_stats st;
        const char *state = target_state(app, t, &st);
        cJSON *o = cJSON_CreateObject();
        if (!o)
            break;
        cJSON_AddStringToObject(o, "name", t->name);
        cJSON_AddStringToObject(o, "addr", t->addr.text);
        cJSON_AddStringToObject(o, "zone", t->zone_name);
        cJSON_AddStringToObject(o, "pool", app->pools[t->pool].name);
        cJSON_AddNumberToObject(o, "weight", atomic_load(&t->weight));
        cJSON_AddStringToObject(o, "state", state);
        cJSON_AddNumberToObject(o, "active", st.active);
        cJSON_AddBoolToObject(o, "eligible", st.eligible != 0);
        cJSON_AddNumberToObject(o, "connections", (double)LD(t->conns));
        cJSON_AddNumberToObject(o, "picks", (double)st.picks);
        cJSON_AddNumberToObject(o, "connect_failures", (double)LD(t->connect_failures));
        cJSON_AddNumberToObject(o, "maxconn", t->maxconn);
        cJSON_AddNumberToObject(o, "udp_flows", (double)LD(t->udp_flows));
        cJSON_AddNumberToObject(o, "udp_active", (double)LD(t->udp_active));
        cJSON_AddItemToArray(arr, o);
    }
    pthread_mutex_unlock(&app->reg.mu);
    free(ts);
    char *out = arr ? cJSON_PrintUnformatted(arr) : NULL;
    cJSON_Delete(arr);
    return out;
}

int lbf_is_ready(struct lbf_app *app)
{
    lb_balancer_stats bs;
    memset(&bs, 0, sizeof(bs));
    bs.struct_size = sizeof(bs);
    if (!atomic_load(&app->listening))
        return 0;
    int np = atomic_load(&app->n_pools);
    for (int p = 0; p < np; p++) /* ready when some pool can take a connection */
        if (lb_balancer_get_stats(lbf_bal(app, (uint32_t)p), &bs) == 0 && bs.eligible > 0)
            return 1;
    return 0;
}

/* ---- HTTP ---------------------------------------------------------------------------------- */
struct arg_list {
    struct lbf_kv kv[16];
    size_t n;
    int overflow;
    int nul; /* a key or value held a NUL byte (%00) */
};

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   size_t key_size, const char *value, size_t value_size)
{
    (void)kind;
    struct arg_list *a = cls;
    if (strlen(key) != key_size || (value && strlen(value) != value_size)) {
        a->nul = 1;
        return MHD_NO;
    }
    if (a->n >= 16) {
        a->overflow = 1;
        return MHD_NO;
    }
    a->kv[a->n].key = key;
    a->kv[a->n].value = value;
    a->n++;
    return MHD_YES;
}

/* ---- who may ask ----------------------------------------------------------------------------
 * Every request: a Host that names the admin address (or an admin_host name), and no foreign
 * Origin (a browser page elsewhere, or a DNS-rebound name). Mutating calls: the bearer token
 * when admin_token_file is set. Per connection: its request headers within
 * LBF_ADMIN_HEADER_MS of its start (or of its previous answer), and at most
 * LBF_ADMIN_PER_CLIENT connections per client address. */
#define LBF_ADMIN_HEADER_MS  2000
#define LBF_ADMIN_IDLE_S     5
#define LBF_ADMIN_PER_CLIENT 8
#define LBF_ADMIN_CONNS      64
#define LBF_ADMIN_HOSTS      (LBF_MAX_ADMIN_HOSTS * 2 + 4)

static char allowed_hosts[LBF_ADMIN_HOSTS][LBF_HOST_MAX + 8];
static int n_allowed_hosts;

/* Adds "NAME" (port 0) or "NAME:PORT" to the Hosts answered. */
static void allow_host(const char *name, unsigned port)
{
    if (n_allowed_hosts >= LBF_ADMIN_HOSTS)
        return;
    char *h = allowed_hosts[n_allowed_hosts++];
    if (port)
        snprintf(h, sizeof(allowed_hosts[0]), "%s:%u", name, port);
    else
        snprintf(h, sizeof(allowed_hosts[0]), "%s", name);
}

/* Whether an admin_host entry names its port: "name:9090", "[v6]:9090" (not a bare "v6::1"). */
static int has_port(const char *h)
{
    const char *colon = strrchr(h, ':');
    if (!colon || colon[1] == '\0')
        return 0;
    return h[0] == '[' ? colon > strchr(h, ']') : strchr(h, ':') == colon;
}

/* The admin address as bound ("127.0.0.1:PORT", "[::1]:PORT"), localhost:PORT for a loopback or
 * wildcard address (a loopback one also without the port), the loopback addresses for a
 * wildcard one, and the admin_host names. */
static void make_allowed_hosts(struct lbf_app *app)
{
    const struct lbf_addr *a = &app->admin_bound;
    unsigned port = a->ss.ss_family == AF_INET
                        ? ntohs(((const struct sockaddr_in *)&a->ss)->sin_port)
                        : ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
    n_allowed_hosts = 0;
    allow_host(a->text, 0);
    int wild = lbf_addr_is_wildcard(a);
    if (lbf_addr_is_loopback(a) || wild)
        allow_host("localhost", port);
    if (lbf_addr_is_loopback(a)) { /* a loopback literal without its port is no rebound name */
        char ip[LB_ADDR_TEXT_MAX];
        lbf_strlcpy(ip, a->text, sizeof(ip));
        char *colon = strrchr(ip, ':');
        if (colon)
            *colon = '\0';
        allow_host(ip, 0);
        allow_host("localhost", 0);
    }
    if (wild) {
        allow_host("127.0.0.1", port);
        if (a->ss.ss_family == AF_INET6)
            allow_host("[::1]", port);
    }
    for (int i = 0; i < app->cfg.n_admin_hosts; i++) {
        const char *h = app->cfg.admin_hosts[i];
        allow_host(h, has_port(h) ? 0 : port);
        if (!has_port(h) && port == 80)
            allow_host(h, 0);
    }
}

static int host_allowed(const char *host)
{
    for (int i = 0; host && i < n_allowed_hosts; i++)
        if (strcasecmp(host, allowed_hosts[i]) == 0)
            return 1;
    return 0;
}

static int origin_allowed(const char *origin)
{
    if (!origin)
        return 1; /* not a browser's cross-site request */
    return strncasecmp(origin, "http://", 7) == 0 && host_allowed(origin + 7);
}

/* Compares the whole length whatever the first difference (no timing clue to the token). */
static int token_equal(const char *got, const char *want)
{
    size_t gn = strlen(got), wn = strlen(want);
    unsigned diff = (unsigned)(gn != wn);
    for (size_t i = 0; i < wn; i++)
        diff |= (unsigned)(unsigned char)want[i] ^ (unsigned)(unsigned char)(i < gn ? got[i] : 0);
    return diff == 0;
}

static int authorized(struct lbf_app *app, struct MHD_Connection *con)
{
    if (!app->cfg.admin_token[0])
        return 1;
    const char *h = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Authorization");
    return h && strncasecmp(h, "Bearer ", 7) == 0 && token_equal(h + 7, app->cfg.admin_token);
}

/* Connections and their header deadlines (0: none, a request is being answered). libmicrohttpd
 * calls the notifications in its thread; the control thread sweeps (lbf_admin_sweep()). */
struct admin_conn {
    int fd;
    int used;
    uint64_t deadline;
};
static struct admin_conn admin_conns[LBF_ADMIN_CONNS];
static pthread_mutex_t admin_mu = PTHREAD_MUTEX_INITIALIZER;

static void set_deadline(struct admin_conn *ac, uint64_t deadline)
{
    if (!ac)
        return;
    pthread_mutex_lock(&admin_mu);
    ac->deadline = deadline;
    pthread_mutex_unlock(&admin_mu);
}

static void notify_connection(void *cls, struct MHD_Connection *con, void **socket_context,
                              enum MHD_ConnectionNotificationCode code)
{
    (void)cls;
    pthread_mutex_lock(&admin_mu);
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(con, MHD_CONNECTION_INFO_CONNECTION_FD);
        *socket_context = NULL;
        for (int i = 0; ci && i < LBF_ADMIN_CONNS; i++) {
            if (!admin_conns[i].used) {
                admin_conns[i].used = 1;
                admin_conns[i].fd = ci->connect_fd;
                admin_conns[i].deadline = lbf_now_ms() + LBF_ADMIN_HEADER_MS;
                *socket_context = &admin_conns[i];
                break;
            }
        }
    } else if (*socket_context) {
        struct admin_conn *ac = *socket_context;
        ac->used = 0;
        ac->deadline = 0;
        *socket_context = NULL;
    }
    pthread_mutex_unlock(&admin_mu);
}

static struct admin_conn *conn_of(struct MHD_Connection *con)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(con, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

static void request_completed(void *cls, struct MHD_Connection *con, void **con_cls,
                              enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)con_cls;
    (void)toe;
    /* a kept-alive connection's next request: its headers within the same deadline */
    set_deadline(conn_of(con), lbf_now_ms() + LBF_ADMIN_HEADER_MS);
}

uint64_t lbf_admin_sweep(struct lbf_app *app, uint64_t now)
{
    uint64_t next = UINT64_MAX;
    if (!app->mhd)
        return next;
    pthread_mutex_lock(&admin_mu);
    for (int i = 0; i < LBF_ADMIN_CONNS; i++) {
        struct admin_conn *ac = &admin_conns[i];
        if (!ac->used || !ac->deadline)
            continue;
        if (ac->deadline <= now) {
            /* libmicrohttpd sees the end and closes it (the descriptor stays its own until
             * its close notification, which takes admin_mu) */
            shutdown(ac->fd, SHUT_RDWR);
            ac->deadline = 0;
        } else if (ac->deadline < next) {
            next = ac->deadline;
        }
    }
    pthread_mutex_unlock(&admin_mu);
    return next;
}

static enum MHD_Result reply(struct MHD_Connection *con, unsigned status, const char *ctype,
                             char *body /* malloc'd, owned */)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", ctype);
    if (status == 401)
        MHD_add_response_header(r, "WWW-Authenticate", "Bearer realm=\"lbfwd\"");
    enum MHD_Result ret = MHD_queue_response(con, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result reply_json(struct MHD_Connection *con, unsigned status, const char *key,
                                  const char *msg)
{
    cJSON *o = cJSON_CreateObject();
    char *body = NULL;
    if (o) {
        cJSON_AddStringToObject(o, key, msg);
        body = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
    }
    if (!body)
        return MHD_NO;
    return reply(con, status, "application/json", body);
}

static int status_of(int rc)
{
    if (rc == 0)
        return 200;
    if (rc == -ENOENT)
        return 404;
    if (rc == LB_E_HEALTH_BAD_STATE || rc == -EEXIST)
        return 409;
    if (rc == -ENOSPC || rc == -ENOMEM)
        return 503;
    return 400;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *con, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
    (void)version;
    (void)upload_data;
    static int marker;
    struct lbf_app *app = cls;
    if (*con_cls == NULL) {
        *con_cls = &marker;
        return MHD_YES;
    }
    if (*upload_data_size) { /* bodies are ignored: everything is in the query */
        *upload_data_size = 0;
        return MHD_YES;
    }
    set_deadline(conn_of(con), 0); /* the headers are in */
    if (!host_allowed(MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Host")))
        return reply_json(con, 403, "error", "Host is not this admin address (see admin_host)");
    if (!origin_allowed(MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Origin")))
        return reply_json(con, 403, "error", "cross-origin request refused");
    struct arg_list args = {.n = 0};
    MHD_get_connection_values_n(con, MHD_GET_ARGUMENT_KIND, collect_arg, &args);
    if (args.nul)
        return reply_json(con, 400, "error", "NUL byte in an argument");
    if (args.overflow)
        return reply_json(con, 400, "error", "too many arguments");
    struct lbf_admin_req req;
    char msg[256];
    int st = lbf_admin_parse(method, url, args.kv, args.n, &req, msg, sizeof(msg));
    if (st != 0)
        return reply_json(con, (unsigned)st, "error", msg);
    if (lbf_admin_mutates(req.action) && !authorized(app, con))
        return reply_json(con, 401, "error", "bearer token required (Authorization: Bearer)");
    uint64_t now = lbf_now_ms();
    int rc = 0;
    switch (req.action) {
    case LBF_ADMIN_METRICS: {
        char *body = lbf_render_metrics(app);
        if (!body)
            return reply_json(con, 503, "error", "out of memory");
        return reply(con, 200, "text/plain; version=0.0.4", body);
    }
    case LBF_ADMIN_TARGETS: {
        char *body = lbf_render_targets(app);
        if (!body)
            return reply_json(con, 503, "error", "out of memory");
        return reply(con, 200, "application/json", body);
    }
    case LBF_ADMIN_READY:
        return lbf_is_ready(app) ? reply_json(con, 200, "status", "ready")
                                 : reply_json(con, 503, "status", "not ready");
    case LBF_ADMIN_ADD: {
        struct lbf_target_conf tc;
        memset(&tc, 0, sizeof(tc));
        lbf_strlcpy(tc.name, req.name, sizeof(tc.name));
        lbf_strlcpy(tc.zone, req.zone, sizeof(tc.zone));
        lbf_strlcpy(tc.pool, req.pool, sizeof(tc.pool));
        tc.addr = req.addr;
        tc.weight = req.weight;
        rc = lbf_target_add(app, &tc, msg, sizeof(msg));
        if (rc != 0)
            return reply_json(con, (unsigned)status_of(rc), "error", msg);
        lbf_log("lbfwd: admin: target %s (%s) added", tc.name, tc.addr.text);
        return reply_json(con, 201, "status", "added");
    }
    default:
        break;
    }
    if (req.action == LBF_ADMIN_DELETE) {
        rc = lbf_target_delete(app, req.name);
    } else {
        pthread_mutex_lock(&app->reg.mu);
        struct lbf_target *t = lbf_target_by_name(app, req.name, 0);
        if (!t)
            rc = -ENOENT;
        else if (req.action == LBF_ADMIN_DRAIN)
            rc = lb_balancer_drain(lbf_bal(app, t->pool), t->id, now);
        else if (req.action == LBF_ADMIN_UNDRAIN)
            rc = lb_balancer_undrain(lbf_bal(app, t->pool), t->id, now);
        else {
            rc = lb_balancer_set_weight(lbf_bal(app, t->pool), t->id, req.weight, now);
            if (rc == 0)
                atomic_store(&t->weight, req.weight);
        }
        pthread_mutex_unlock(&app->reg.mu);
    }
    if (rc == -ENOENT)
        return reply_json(con, 404, "error", "no such target");
    if (rc != 0)
        return reply_json(con, (unsigned)status_of(rc), "error", lb_strerror(rc));
    lbf_log("lbfwd: admin: %s %s", method, url);
    uint64_t one = 1; /* the control loop ticks the balancer now */
    ssize_t wr = write(app->wake_fd, &one, sizeof(one));
    (void)wr;
    return reply_json(con, 200, "status", "ok");
}

int lbf_admin_start(struct lbf_app *app, char *msg, size_t cap)
{
    if (!app->cfg.admin_set)
        return 0;
    make_allowed_hosts(app);
    struct MHD_Daemon *d = MHD_start_daemon(
        /* poll(): no FD_SETSIZE limit (UDP flows take descriptors past 1024), and unlike
         * MHD_USE_AUTO's epoll it does not churn memory while lbfwd is out of descriptors */
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG, 0, NULL, NULL, handle,
        app,
        MHD_OPTION_LISTEN_SOCKET, app->admin_fd, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)LBF_ADMIN_CONNS, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned)LBF_ADMIN_PER_CLIENT, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)LBF_ADMIN_IDLE_S,
        MHD_OPTION_NOTIFY_CONNECTION, notify_connection, NULL, MHD_OPTION_NOTIFY_COMPLETED,
        request_completed, NULL, MHD_OPTION_END);
    if (!d) {
        snprintf(msg, cap, "cannot start the admin server on %s", app->admin_bound.text);
        return -1;
    }
    app->mhd = d;
    return 0;
}

void lbf_admin_stop(struct lbf_app *app)
{
    if (app->mhd)
        MHD_stop_daemon(app->mhd);
    app->mhd = NULL;
}
