/* lbtool balancer: build a balancer, apply changes, pick a stream of flows, and print what each
 * target received, its state and the events. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb.h"
#include "lbtool.h"

static const char balancer_help[] =
    "usage: lbtool balancer --target KEY[=WEIGHT][@ZONE]... [--algorithm NAME]\n"
    "                       [--table-size M] [--seed S] [--zone-mode MODE] [--local-zone Z]\n"
    "                       [--local-percent P] [--drain KEY]... [--remove KEY]...\n"
    "                       [--fail KEY]... [--flows N] [--hold]\n\n"
    "Builds a balancer (lb/balancer.h) with the targets given (ids 1, 2, ... in order), applies\n"
    "the changes, picks N flows (flow i hashes as lb_hash_key of i, 8 bytes little-endian,\n"
    "with the seed) and prints each target's state, weights, Maglev entries and picks, and the\n"
    "events.\n"
    "  --target KEY[=W][@Z]  a target: key, weight (default 1), zone id (default 0)\n"
    "  --algorithm NAME      maglev (default), ring, ring-bounded, wrr, leastconn, p2c\n"
    "  --table-size M        Maglev table size, a prime (default 65537)\n"
    "  --seed S              seed of the balancer and of the flow hashes (default 0)\n"
    "  --zone-mode MODE      all (default), local, aware, affinity\n"
    "  --local-zone Z        this node's zone id (default 0)\n"
    "  --local-percent P     the share kept local in affinity mode (default 100)\n"
    "  --drain KEY           drain a target (an operator's drain)\n"
    "  --remove KEY          deregister a target (drains, then removes it)\n"
    "  --fail KEY            the target fails its health checks\n"
    "  --flows N             flows to pick, 0..100000000 (default 10000)\n"
    "  --hold                keep every picked connection open (least connections needs load)\n";

#define MAX_TARGETS 4096
#define MAX_FLOWS   100000000u /* the cap of the other commands' counts (chash --keys) */

struct target_arg {
    char *key;
    uint32_t weight, zone;
};

struct args {
    lb_balancer_config cfg;
    struct target_arg t[MAX_TARGETS];
    size_t n;
    const char *drain[MAX_TARGETS], *remove[MAX_TARGETS], *fail[MAX_TARGETS];
    size_t n_drain, n_remove, n_fail;
    uint64_t flows;
    int hold;
};

static int parse_target(char *s, struct target_arg *t)
{
    uint64_t v;
    t->weight = 1;
    t->zone = 0;
    char *at = strrchr(s, '@');
    if (at) {
        *at = 0;
        if (lbt_parse_u64(at + 1, UINT32_MAX - 1, &v))
            return -1;
        t->zone = (uint32_t)v;
    }
    char *eq = strrchr(s, '=');
    if (eq) {
        *eq = 0;
        if (lbt_parse_u64(eq + 1, LB_WEIGHT_MAX, &v))
            return -1;
        t->weight = (uint32_t)v;
    }
    t->key = s;
    return *s ? 0 : -1;
}

static int parse_name(const char *s, const char *const *names, size_t n, uint32_t *out)
{
    for (uint32_t i = 0; i < n; i++)
        if (names[i] && !strcmp(s, names[i])) {
            *out = i;
            return 0;
        }
    return -1;
}

static int parse_args(int argc, char **argv, struct args *a)
{
    static const struct option opts[] = {{"target", required_argument, NULL, 't'},
                                         {"algorithm", required_argument, NULL, 'a'},
                                         {"table-size", required_argument, NULL, 'm'},
                                         {"seed", required_argument, NULL, 's'},
                                         {"zone-mode", required_argument, NULL, 'z'},
                                         {"local-zone", required_argument, NULL, 'l'},
                                         {"local-percent", required_argument, NULL, 'p'},
                                         {"drain", required_argument, NULL, 'd'},
                                         {"remove", required_argument, NULL, 'r'},
                                         {"fail", required_argument, NULL, 'f'},
                                         {"flows", required_argument, NULL, 'n'},
                                         {"hold", no_argument, NULL, 'H'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    static const char *const modes[] = {"all", "local", "aware", "affinity"};
    uint64_t v;
    a->flows = 10000;
    a->cfg.struct_size = sizeof(a->cfg);
    a->cfg.fall = 1;
    a->cfg.deregistration_delay_ms = 1000;
    optind = 1;
    opterr = 0;
    for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
        switch (c) {
        case 'h':
            fputs(balancer_help, stdout);
            return LBT_EXIT_OK + 100;
        case 't':
            if (a->n == MAX_TARGETS || parse_target(optarg, &a->t[a->n++]))
                return lbt_usage("balancer", "bad --target '%s'", optarg);
            break;
        case 'a': {
            uint32_t alg;
            const char *names[] = {lb_balancer_algorithm_name(0), lb_balancer_algorithm_name(1),
                                   lb_balancer_algorithm_name(2), lb_balancer_algorithm_name(3),
                                   lb_balancer_algorithm_name(4), lb_balancer_algorithm_name(5)};
            if (parse_name(optarg, names, 6, &alg))
                return lbt_usage("balancer", "unknown --algorithm '%s'", optarg);
            a->cfg.algorithm = alg;
            break;
        }
        case 'm':
        case 's':
        case 'l':
        case 'p':
        case 'n':
            if (c == 'n' && lbt_parse_u64(optarg, MAX_FLOWS, &v))
                return lbt_usage("balancer", "bad --flows '%s': want 0..%u", optarg, MAX_FLOWS);
            if (lbt_parse_u64(optarg, c == 's' ? UINT64_MAX : UINT32_MAX, &v))
                return lbt_usage("balancer", "bad number '%s'", optarg);
            if (c == 'm')
                a->cfg.table_size = (uint32_t)v;
            else if (c == 's')
                a->cfg.seed = v;
            else if (c == 'l')
                a->cfg.local_zone = (uint32_t)v;
            else if (c == 'p')
                a->cfg.local_percent = (uint32_t)v;
            else
                a->flows = v;
            break;
        case 'z':
            if (parse_name(optarg, modes, 4, &a->cfg.zone_mode))
                return lbt_usage("balancer", "unknown --zone-mode '%s'", optarg);
            break;
        case 'd':
            a->drain[a->n_drain++ % MAX_TARGETS] = optarg;
            break;
        case 'r':
            a->remove[a->n_remove++ % MAX_TARGETS] = optarg;
            break;
        case 'f':
            a->fail[a->n_fail++ % MAX_TARGETS] = optarg;
            break;
        case 'H':
            a->hold = 1;
            break;
        default:
            return lbt_usage("balancer", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return lbt_usage("balancer", "unexpected argument '%s'", argv[optind]);
    if (!a->n)
        return lbt_usage("balancer", "give at least one --target");
    if (a->n_drain > MAX_TARGETS || a->n_remove > MAX_TARGETS || a->n_fail > MAX_TARGETS)
        return lbt_usage("balancer", "too many changes");
    if (!a->cfg.max_targets)
        a->cfg.max_targets = (uint32_t)a->n;
    return 0;
}

/* The id of the target with @key (ids are positions + 1), or 0. */
static uint32_t id_of(const struct args *a, const char *key)
{
    for (size_t i = 0; i < a->n; i++)
        if (!strcmp(a->t[i].key, key))
            return (uint32_t)i + 1;
    return 0;
}

static const char *key_of(const struct args *a, uint32_t id)
{
    return id >= 1 && id <= a->n ? a->t[id - 1].key : "?";
}

/* Apply every change; returns 0 or a liblb error (with its message printed). */
static int apply(lb_balancer *b, const struct args *a)
{
    int rc = 0;
    for (size_t i = 0; i < a->n && !rc; i++)
        if ((rc = lb_balancer_add(b, (uint32_t)i + 1, a->t[i].key, strlen(a->t[i].key),
                                  a->t[i].weight, a->t[i].zone, 0, 0)))
            return lbt_fail(rc, "target '%s': %s", a->t[i].key, lb_strerror(rc));
    const char *const *lists[] = {a->fail, a->drain, a->remove};
    const size_t counts[] = {a->n_fail, a->n_drain, a->n_remove};
    for (int l = 0; l < 3; l++) {
        for (size_t k = 0; k < counts[l]; k++) {
            uint32_t id = id_of(a, lists[l][k]);
            if (!id)
                return lbt_fail(-ENOENT, "unknown target '%s'", lists[l][k]);
            rc = l == 0   ? lb_balancer_report(b, id, 0, 1)
                 : l == 1 ? lb_balancer_drain(b, id, 1)
                          : lb_balancer_remove(b, id, 1);
            if (rc)
                return lbt_fail(rc, "target '%s': %s", lists[l][k], lb_strerror(rc));
        }
    }
    return 0;
}

static cJSON *report(lb_balancer *b, const struct args *a, uint64_t no_target, const lb_event *ev,
                     int n_ev)
{
    lb_balancer_stats s = {.struct_size = sizeof(s)};
    if (lb_balancer_get_stats(b, &s))
        return NULL;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "algorithm", lb_balancer_algorithm_name(a->cfg.algorithm));
    cJSON_AddNumberToObject(o, "generation", (double)s.generation);
    cJSON_AddBoolToObject(o, "fail_open", s.fail_open);
    if (a->cfg.algorithm == LB_ALG_MAGLEV)
        cJSON_AddItemToObject(o, "table_digest", lbt_hex64(s.table_digest));
    else
        cJSON_AddNullToObject(o, "table_digest");
    cJSON_AddNumberToObject(o, "eligible", s.eligible);
    cJSON_AddNumberToObject(o, "flows", (double)a->flows);
    cJSON_AddNumberToObject(o, "no_target", (double)no_target);
    cJSON *targets = cJSON_AddArrayToObject(o, "targets");
    for (size_t i = 0; i < a->n; i++) {
        cJSON *t = cJSON_CreateObject();
        cJSON_AddStringToObject(t, "key", a->t[i].key);
        cJSON_AddNumberToObject(t, "id", (double)i + 1);
        cJSON_AddNumberToObject(t, "zone", a->t[i].zone);
        lb_target_stats ts = {.struct_size = sizeof(ts)};
        if (lb_balancer_get_target_stats(b, (uint32_t)i + 1, &ts) == 0) {
            cJSON_AddStringToObject(t, "state", lb_balancer_state_name(ts.state));
            cJSON_AddBoolToObject(t, "eligible", ts.eligible);
            cJSON_AddNumberToObject(t, "weight", ts.weight);
            cJSON_AddNumberToObject(t, "effective_weight", ts.effective_weight);
            cJSON_AddNumberToObject(t, "table_entries", ts.table_entries);
            cJSON_AddNumberToObject(t, "active", ts.active);
            cJSON_AddNumberToObject(t, "picks", (double)ts.picks);
            cJSON_AddNumberToObject(t, "share",
                                    a->flows ? (double)ts.picks / (double)a->flows : 0.0);
        } else {
            cJSON_AddStringToObject(t, "state", lb_balancer_state_name(LB_STATE_REMOVED));
        }
        cJSON_AddItemToArray(targets, t);
    }
    static const char *const types[] = {NULL, "state", "close", "removed"};
    cJSON *events = cJSON_AddArrayToObject(o, "events");
    for (int i = 0; i < n_ev; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "type", ev[i].type <= 3 ? types[ev[i].type] : "?");
        cJSON_AddStringToObject(e, "target", key_of(a, ev[i].target_id));
        if (ev[i].type == LB_EVENT_STATE) {
            cJSON_AddStringToObject(e, "old_state", lb_balancer_state_name(ev[i].old_state));
            cJSON_AddStringToObject(e, "new_state", lb_balancer_state_name(ev[i].new_state));
            cJSON_AddStringToObject(e, "reason", lb_balancer_reason_name(ev[i].reason));
        }
        cJSON_AddNumberToObject(e, "connections", ev[i].connections);
        cJSON_AddItemToArray(events, e);
    }
    return o;
}

int lbt_cmd_balancer(int argc, char **argv)
{
    struct args *a = calloc(1, sizeof(*a));
    if (!a)
        return lbt_fail(-ENOMEM, NULL);
    int rc = parse_args(argc, argv, a);
    if (rc) {
        free(a);
        return rc == LBT_EXIT_OK + 100 ? LBT_EXIT_OK : rc;
    }
    lb_balancer *b = NULL;
    rc = lb_balancer_new(&b, &a->cfg);
    if (rc) {
        free(a);
        return lbt_fail(rc, "%s", lb_strerror(rc));
    }
    int exit_code = apply(b, a);
    if (exit_code == 0) {
        uint64_t no_target = 0;
        for (uint64_t i = 0; i < a->flows; i++) {
            uint8_t le[8];
            for (int k = 0; k < 8; k++)
                le[k] = (uint8_t)(i >> (8 * k));
            uint32_t id;
            if (lb_balancer_pick(b, lb_hash_key(le, 8, a->cfg.seed), &id) != 0)
                no_target++;
            else if (!a->hold)
                lb_balancer_release(b, id, 1);
        }
        lb_event *ev = calloc(4 * a->n + 16, sizeof(*ev));
        int n_ev = ev ? lb_balancer_tick(b, 1, ev, sizeof(*ev), 4 * a->n + 16) : 0;
        cJSON *o = ev ? report(b, a, no_target, ev, n_ev < 0 ? 0 : n_ev) : NULL;
        exit_code = o ? lbt_print(o) : lbt_fail(-ENOMEM, NULL);
        free(ev);
    }
    lb_balancer_free(b);
    free(a);
    return exit_code;
}
