/* lbtool zones: what share of the traffic each zone's targets receive (doc/zones.md). */
#define _GNU_SOURCE
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb.h"
#include "lbtool.h"

static const char zones_help[] =
    "usage: lbtool zones --zone NAME=TARGETS[@LB_SHARE][,healthy=H][,priority=P]...\n"
    "                    [--mode off|on|zone-aware|affinity] [--local-percent P]\n"
    "                    [--min-cluster-size N] [--local NAME] [--evacuate NAME]...\n"
    "                    [--gb-per-month X --usd-per-gb Y] [--table]\n\n"
    "Plans the share of all traffic each zone's targets receive (doc/zones.md).\n"
    "  --zone NAME=TARGETS...  a zone with TARGETS targets of equal weight; @LB_SHARE is the\n"
    "                          percent of incoming traffic its load-balancer node receives\n"
    "                          (omitted: zones split what is left evenly); healthy=H healthy\n"
    "                          targets (default all); priority=P its priority level (default 0)\n"
    "  --mode M                off, on (default), zone-aware (Envoy) or affinity\n"
    "  --local-percent P       affinity mode: percent kept in the local zone (default 100)\n"
    "  --min-cluster-size N    zone-aware mode: healthy targets needed (default 6)\n"
    "  --local NAME            also show how NAME's load-balancer node splits its traffic\n"
    "  --evacuate NAME         shift traffic away from zone NAME (repeatable)\n"
    "  --gb-per-month X        volume in GB, with --usd-per-gb: the cross-zone cost\n"
    "  --usd-per-gb Y          price per GB crossing zones\n"
    "  --table                 print a table instead of JSON\n";

#define MAX_ARGS LB_ZONE_MAX

static int parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    if (!*s)
        return -1;
    double v = strtod(s, &end);
    if (*end || !isfinite(v) || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse_u32(const char *s, uint32_t *out)
{
    uint64_t v;
    if (lbt_parse_u64(s, UINT32_MAX, &v))
        return -1;
    *out = (uint32_t)v;
    return 0;
}

/* NAME=TARGETS[@LB_SHARE][,healthy=H][,priority=P] into the plan as zone @id. Returns 0, a
 * liblb error (< 0), or 1 for a usage error. */
static int add_zone(lb_zone_plan *plan, uint32_t id, const char *arg)
{
    char buf[256];
    if (strlen(arg) >= sizeof(buf))
        return 1;
    strcpy(buf, arg);
    char *eq = strchr(buf, '=');
    if (!eq || eq == buf)
        return 1;
    *eq = 0;
    char *save = NULL, *spec = strtok_r(eq + 1, ",", &save);
    if (!spec)
        return 1;
    double share = LB_ZONE_INCOMING_EVEN;
    char *at = strchr(spec, '@');
    if (at) {
        *at = 0;
        if (parse_double(at + 1, 0.0, 100.0, &share))
            return 1;
        share /= 100.0;
    }
    uint32_t total, healthy, priority = 0;
    if (parse_u32(spec, &total))
        return 1;
    healthy = total;
    for (char *kv = strtok_r(NULL, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        if (!strncmp(kv, "healthy=", 8) && !parse_u32(kv + 8, &healthy))
            continue;
        if (!strncmp(kv, "priority=", 9) && !parse_u32(kv + 9, &priority))
            continue;
        return 1;
    }
    if (healthy > total)
        return 1;
    int rc = lb_zone_add(plan, id, buf, priority);
    if (!rc)
        rc = lb_zone_set_counts(plan, id, total, healthy, 1);
    if (!rc)
        rc = lb_zone_set_incoming(plan, id, share);
    return rc;
}

/* Six decimals, without libm (lbtool does not link it). Values here are 0..1e12. */
static double round6(double v)
{
    double x = v * 1e6;
    return (double)(long long)(x < 0 ? x - 0.5 : x + 0.5) / 1e6;
}

static double pct(double fraction)
{
    return round6(fraction * 100.0);
}

struct zones_args {
    const char *zone[MAX_ARGS];
    const char *evacuate[MAX_ARGS];
    size_t nzone, nevacuate;
    lb_zone_options opts;
    int has_local_percent, table, has_gb, has_usd;
    const char *local;
    double gb, usd_per_gb;
};

/* The zone id (its --zone position) of NAME. */
static int find_zone(const struct zones_args *a, const char *name, uint32_t *id)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < a->nzone; i++) {
        if (!strncmp(a->zone[i], name, len) && a->zone[i][len] == '=') {
            *id = (uint32_t)i;
            return 0;
        }
    }
    return LB_E_ZONE_UNKNOWN;
}

static int parse_args(int argc, char **argv, struct zones_args *a)
{
    static const struct option opts[] = {{"zone", required_argument, 0, 'z'},
                                         {"mode", required_argument, 0, 'm'},
                                         {"local-percent", required_argument, 0, 'p'},
                                         {"min-cluster-size", required_argument, 0, 'c'},
                                         {"local", required_argument, 0, 'l'},
                                         {"evacuate", required_argument, 0, 'e'},
                                         {"gb-per-month", required_argument, 0, 'g'},
                                         {"usd-per-gb", required_argument, 0, 'u'},
                                         {"table", no_argument, 0, 't'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    lb_zone_options_init(&a->opts, sizeof(a->opts));
    int c;
    double v;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'h':
            fputs(zones_help, stdout);
            return -1;
        case 'z':
            if (a->nzone == MAX_ARGS)
                return lbt_usage("zones", "too many zones (at most %d)", MAX_ARGS);
            a->zone[a->nzone++] = optarg;
            break;
        case 'e':
            if (a->nevacuate == MAX_ARGS)
                return lbt_usage("zones", "too many --evacuate");
            a->evacuate[a->nevacuate++] = optarg;
            break;
        case 'm': {
            uint32_t m = 0;
            while (m <= LB_ZONE_MODE_AFFINITY && strcmp(lb_zone_mode_name(m), optarg))
                m++;
            if (m > LB_ZONE_MODE_AFFINITY)
                return lbt_usage("zones", "unknown mode '%s'", optarg);
            a->opts.mode = m;
            break;
        }
        case 'p':
            if (parse_double(optarg, 0.0, 100.0, &v))
                return lbt_usage("zones", "bad --local-percent '%s' (0-100)", optarg);
            a->opts.local_fraction = v / 100.0;
            a->has_local_percent = 1;
            break;
        case 'c':
            if (parse_u32(optarg, &a->opts.min_cluster_size))
                return lbt_usage("zones", "bad --min-cluster-size '%s'", optarg);
            break;
        case 'l':
            a->local = optarg;
            break;
        case 'g':
            if (parse_double(optarg, 0.0, HUGE_VAL, &a->gb))
                return lbt_usage("zones", "bad --gb-per-month '%s'", optarg);
            a->has_gb = 1;
            break;
        case 'u':
            if (parse_double(optarg, 0.0, HUGE_VAL, &a->usd_per_gb))
                return lbt_usage("zones", "bad --usd-per-gb '%s'", optarg);
            a->has_usd = 1;
            break;
        case 't':
            a->table = 1;
            break;
        default:
            return lbt_usage("zones", "unknown option or missing value: '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return lbt_usage("zones", "unexpected argument '%s'", argv[optind]);
    if (!a->nzone)
        return lbt_usage("zones", "give at least one --zone NAME=TARGETS");
    if (a->has_gb != a->has_usd)
        return lbt_usage("zones", "--gb-per-month and --usd-per-gb go together");
    if (a->has_local_percent && a->opts.mode != LB_ZONE_MODE_AFFINITY)
        return lbt_usage("zones", "--local-percent needs --mode affinity");
    return 0;
}

/* Builds the plan from the arguments; returns 0, a liblb error, or 1 after a usage error. */
static int build(const struct zones_args *a, lb_zone_plan **out)
{
    int rc = lb_zone_plan_new(out, &a->opts);
    if (rc)
        return rc;
    for (size_t i = 0; i < a->nzone; i++) {
        rc = add_zone(*out, (uint32_t)i, a->zone[i]);
        if (rc == 1) {
            lbt_usage("zones",
                      "bad --zone '%s' (NAME=TARGETS[@LB_SHARE][,healthy=H]"
                      "[,priority=P])",
                      a->zone[i]);
            return 1;
        }
        if (rc)
            return rc;
    }
    for (size_t i = 0; i < a->nevacuate && !rc; i++) {
        uint32_t id;
        rc = find_zone(a, a->evacuate[i], &id);
        if (!rc)
            rc = lb_zone_set_evacuated(*out, id, 1);
    }
    return rc;
}

static void print_table(const struct zones_args *a, cJSON *o)
{
    printf("mode %s\n%-16s %4s %7s %7s %-11s %9s %11s\n",
           cJSON_GetObjectItem(o, "mode")->valuestring, "zone", "prio", "targets", "healthy",
           "state", "share %", "per target %");
    cJSON *z;
    cJSON_ArrayForEach(z, cJSON_GetObjectItem(o, "zones"))
    {
        printf("%-16s %4d %7d %7d %-11s %9.4f %11.4f\n",
               cJSON_GetObjectItem(z, "name")->valuestring,
               cJSON_GetObjectItem(z, "priority")->valueint,
               cJSON_GetObjectItem(z, "targets")->valueint,
               cJSON_GetObjectItem(z, "healthy")->valueint,
               cJSON_GetObjectItem(z, "state")->valuestring,
               cJSON_GetObjectItem(z, "share_percent")->valuedouble,
               cJSON_GetObjectItem(z, "per_target_percent")->valuedouble);
    }
    printf("cross-zone %.4f %%\n", cJSON_GetObjectItem(o, "cross_zone_percent")->valuedouble);
    cJSON *r = cJSON_GetObjectItem(o, "max_over_min");
    if (cJSON_IsNull(r))
        printf("max/min    none (a target receives nothing)\n");
    else
        printf("max/min    %.4f\n", r->valuedouble);
    cJSON *cost = cJSON_GetObjectItem(o, "cost");
    if (cost)
        printf("cost       %.4f GB cross-zone, %.2f USD\n",
               cJSON_GetObjectItem(cost, "cross_zone_gb")->valuedouble,
               cJSON_GetObjectItem(cost, "usd")->valuedouble);
    cJSON *loc = cJSON_GetObjectItem(o, "local");
    if (loc) {
        printf("node %s keeps %.4f %% local; sends", a->local,
               cJSON_GetObjectItem(loc, "local_percent")->valuedouble);
        cJSON *t;
        cJSON_ArrayForEach(t, cJSON_GetObjectItem(loc, "to"))
        {
            printf(" %s %.4f %%", t->string, t->valuedouble);
        }
        printf("\n");
    }
}

/* The report as JSON; returns 0 or a liblb error. */
static int report(const struct zones_args *a, lb_zone_plan *plan, cJSON *o)
{
    cJSON_AddStringToObject(o, "mode", lb_zone_mode_name(a->opts.mode));
    cJSON *list = cJSON_AddArrayToObject(o, "zones");
    size_t n = lb_zone_count(plan);
    for (size_t i = 0; i < n; i++) {
        lb_zone_report r = {.struct_size = sizeof(r)};
        int rc = lb_zone_plan_zone(plan, i, &r);
        if (rc)
            return rc;
        cJSON *z = cJSON_CreateObject();
        cJSON_AddStringToObject(z, "name", r.name);
        cJSON_AddNumberToObject(z, "targets", r.targets);
        cJSON_AddNumberToObject(z, "healthy", r.healthy);
        cJSON_AddNumberToObject(z, "priority", r.priority);
        cJSON_AddStringToObject(z, "state", lb_zone_state_name(r.state));
        cJSON_AddNumberToObject(z, "incoming_percent", pct(r.incoming));
        cJSON_AddNumberToObject(z, "share_percent", pct(r.share));
        cJSON_AddNumberToObject(z, "per_target_percent", pct(r.per_target));
        cJSON_AddItemToArray(list, z);
    }
    lb_zone_summary s = {.struct_size = sizeof(s)};
    int rc = lb_zone_plan_summary(plan, &s);
    if (rc)
        return rc;
    cJSON_AddNumberToObject(o, "cross_zone_percent", pct(s.cross_zone));
    if (s.has_max_over_min)
        cJSON_AddNumberToObject(o, "max_over_min", round6(s.max_over_min));
    else
        cJSON_AddNullToObject(o, "max_over_min");
    if (a->has_gb) {
        double gb, usd;
        rc = lb_zone_transfer_cost(s.cross_zone, a->gb, a->usd_per_gb, &gb, &usd);
        if (rc)
            return rc;
        cJSON *c = cJSON_AddObjectToObject(o, "cost");
        cJSON_AddNumberToObject(c, "cross_zone_gb", round6(gb));
        cJSON_AddNumberToObject(c, "usd", round6(usd));
    }
    if (a->local) {
        uint32_t id;
        double to[LB_ZONE_MAX];
        if ((rc = find_zone(a, a->local, &id)) ||
            (rc = lb_zone_plan_route(plan, id, to, LB_ZONE_MAX)))
            return rc;
        cJSON *l = cJSON_AddObjectToObject(o, "local");
        cJSON_AddStringToObject(l, "zone", a->local);
        cJSON *t = cJSON_CreateObject();
        for (size_t i = 0; i < n; i++) {
            lb_zone_report r = {.struct_size = sizeof(r)};
            if ((rc = lb_zone_plan_zone(plan, i, &r)))
                return rc;
            if (r.id == id)
                cJSON_AddNumberToObject(l, "local_percent", pct(to[i]));
            cJSON_AddNumberToObject(t, r.name, pct(to[i]));
        }
        cJSON_AddItemToObject(l, "to", t);
    }
    return 0;
}

int lbt_cmd_zones(int argc, char **argv)
{
    struct zones_args a;
    memset(&a, 0, sizeof(a));
    int rc = parse_args(argc, argv, &a);
    if (rc < 0)
        return LBT_EXIT_OK; /* --help */
    if (rc)
        return rc;
    lb_zone_plan *plan = NULL;
    rc = build(&a, &plan);
    if (rc == 1) {
        lb_zone_plan_free(plan);
        return LBT_EXIT_USAGE;
    }
    cJSON *o = cJSON_CreateObject();
    if (!rc)
        rc = report(&a, plan, o);
    lb_zone_plan_free(plan);
    if (rc) {
        cJSON_Delete(o);
        return lbt_fail(rc, "%s", lb_strerror(rc));
    }
    if (!a.table)
        return lbt_print(o);
    print_table(&a, o);
    cJSON_Delete(o);
    return LBT_EXIT_OK;
}
