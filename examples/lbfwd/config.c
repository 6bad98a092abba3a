/* lbfwd configuration: one setter for every setting, used by the INI file (libinih) and by the
 * command line alike. Pure parsing: no sockets, no threads (the fuzz harness links it alone). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lb/maglev.h"
#include "lb/tls.h"
#include "lb/pool.h"
#include "lbfwd.h"

#define CFG_LINE_MAX 199 /* libinih's line buffer is 200 bytes */

static int fail(struct lbf_cfg_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int fail(struct lbf_cfg_error *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return -1;
}

void lbf_config_init(struct lbf_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->algorithm = LB_ALG_MAGLEV;
    cfg->table_size = 65537;
    cfg->zone_mode = LB_BALANCER_ZONE_ALL;
    cfg->connect_timeout_ms = 2000;
    cfg->idle_timeout_ms = 300000;
    cfg->half_closed_timeout_ms = 30000;
    cfg->proxy_timeout_ms = 3000;
    cfg->sni_timeout_ms = 5000;
    cfg->drain_timeout_ms = 300000;
    cfg->retries = 2;
    cfg->check_kind = LBF_CHECK_TCP;
    cfg->check_interval_ms = 2000;
    cfg->check_timeout_ms = 1000;
    cfg->rise = 2;
    cfg->fall = 3;
    cfg->access_log = 1;
    cfg->splice = 1;
    cfg->smart_connect = 1;
    cfg->smart_accept = 1;
    cfg->udp_idle_timeout_ms = 30000;
    cfg->udp_flows = 65536;
    cfg->udp_max_datagram = 65507;
}

void lbf_config_free(struct lbf_config *cfg)
{
    free(cfg->targets);
    cfg->targets = NULL;
    cfg->n_targets = cfg->cap_targets = 0;
}

int lbf_parse_u32(const char *s, uint32_t max, uint32_t *out)
{
    uint64_t v = 0;
    if (!s || !*s)
        return -1;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (uint64_t)(*p - '0');
        if (v > max)
            return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (!s || !*s)
        return -1;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        const char *p = s + 2;
        if (!*p || strlen(p) > 16)
            return -1;
        for (; *p; p++) {
            int d = isdigit((unsigned char)*p) ? *p - '0'
                    : (*p >= 'a' && *p <= 'f') ? *p - 'a' + 10
                    : (*p >= 'A' && *p <= 'F') ? *p - 'A' + 10
                                               : -1;
            if (d < 0)
                return -1;
            v = (v << 4) | (uint64_t)d;
        }
        *out = v;
        return 0;
    }
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        uint64_t d = (uint64_t)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int lbf_parse_duration(const char *s, uint32_t *ms)
{
    char num[24];
    size_t n = 0;
    uint32_t v, mult = 1000;
    if (!s)
        return -1;
    while (s[n] >= '0' && s[n] <= '9') {
        if (n + 1 >= sizeof(num))
            return -1;
        num[n] = s[n];
        n++;
    }
    num[n] = '\0';
    if (n == 0)
        return -1;
    const char *unit = s + n;
    if (strcmp(unit, "") == 0 || strcmp(unit, "s") == 0)
        mult = 1000;
    else if (strcmp(unit, "ms") == 0)
        mult = 1;
    else if (strcmp(unit, "m") == 0)
        mult = 60000;
    else
        return -1;
    if (lbf_parse_u32(num, LBF_DURATION_MAX_MS, &v) != 0)
        return -1;
    if ((uint64_t)v * mult > LBF_DURATION_MAX_MS)
        return -1;
    *ms = v * mult;
    return 0;
}

static int parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"1", "yes", "true", "on"};
    static const char *const no[] = {"0", "no", "false", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0)
            return *out = 1, 0;
        if (strcasecmp(s, no[i]) == 0)
            return *out = 0, 0;
    }
    return -1;
}

void lbf_strlcpy(char *dst, const char *src, size_t cap)
{
    size_t n = strlen(src);
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

int lbf_valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > LBF_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && c != '.' && c != '_' && c != '-')
            return 0;
    }
    return 1;
}

int lbf_valid_target_name(const char *s)
{
    struct sockaddr_storage ss;
    uint32_t len = 0;
    if (lbf_valid_name(s))
        return 1;
    return strlen(s) <= LBF_NAME_MAX && lb_addr_parse(s, &ss, &len) == 0 &&
           (ss.ss_family == AF_INET || ss.ss_family == AF_INET6);
}

static int parse_ip_addr(const char *text, struct lbf_addr *out, char *msg, size_t cap)
{
    uint32_t len = 0;
    memset(out, 0, sizeof(*out));
    int rc = lb_addr_parse(text, &out->ss, &len);
    if (rc != 0) {
        snprintf(msg, cap, "bad address '%s' (%s)", text, lb_strerror(rc));
        return -1;
    }
    if (out->ss.ss_family != AF_INET && out->ss.ss_family != AF_INET6) {
        snprintf(msg, cap, "bad address '%s' (IPv4 or IPv6 needed)", text);
        return -1;
    }
    out->len = (socklen_t)len;
    if (lb_addr_format((const struct sockaddr *)&out->ss, out->text, sizeof(out->text)) < 0)
        snprintf(out->text, sizeof(out->text), "%s", text);
    return 0;
}

uint16_t lbf_addr_port(const struct lbf_addr *a)
{
    return ntohs(a->ss.ss_family == AF_INET ? ((const struct sockaddr_in *)&a->ss)->sin_port
                                            : ((const struct sockaddr_in6 *)&a->ss)->sin6_port);
}

/* A target's address: a port, and an address a connection can go to (not the unspecified
 * address, a broadcast or a multicast address). */
static int parse_target_addr(const char *text, struct lbf_addr *out, char *msg, size_t cap)
{
    if (parse_ip_addr(text, out, msg, cap) != 0)
        return -1;
    if (lbf_addr_port(out) == 0) {
        snprintf(msg, cap, "bad target address '%s' (port 0)", text);
        return -1;
    }
    int bad = 0;
    if (out->ss.ss_family == AF_INET) {
        uint32_t ip = ntohl(((const struct sockaddr_in *)&out->ss)->sin_addr.s_addr);
        bad = ip == 0 || ip == 0xffffffffu || (ip >> 28) == 0xe; /* any, broadcast, multicast */
    } else {
        const struct in6_addr *ip6 = &((const struct sockaddr_in6 *)&out->ss)->sin6_addr;
        bad = IN6_IS_ADDR_UNSPECIFIED(ip6) || IN6_IS_ADDR_MULTICAST(ip6);
    }
    if (bad) {
        snprintf(msg, cap,
                 "bad target address '%s' (unspecified, broadcast or multicast: not a host)", text);
        return -1;
    }
    return 0;
}

/* Copies a token into a bounded buffer; -1 when it does not fit. */
static int copy_token(char *dst, size_t cap, const char *src, size_t n)
{
    if (n >= cap)
        return -1;
    memcpy(dst, src, n);
    dst[n] = '\0';
    return 0;
}

static int target_option(struct lbf_target_conf *t, const char *key, const char *value, char *msg,
                         size_t cap)
{
    if (strcmp(key, "addr") == 0)
        return parse_target_addr(value, &t->addr, msg, cap);
    if (strcmp(key, "weight") == 0) {
        if (lbf_parse_u32(value, LB_WEIGHT_MAX, &t->weight) != 0)
            return snprintf(msg, cap, "bad weight '%s' (0..%u)", value, LB_WEIGHT_MAX), -1;
        return 0;
    }
    if (strcmp(key, "zone") == 0) {
        if (!lbf_valid_name(value))
            return snprintf(msg, cap, "bad zone name '%s'", value), -1;
        lbf_strlcpy(t->zone, value, sizeof(t->zone));
        return 0;
    }
    if (strcmp(key, "maxconn") == 0 || strcmp(key, "max_conns") == 0) {
        if (lbf_parse_u32(value, 10000000, &t->maxconn) != 0)
            return snprintf(msg, cap, "bad maxconn '%s'", value), -1;
        return 0;
    }
    if (strcmp(key, "check_port") == 0) {
        if (lbf_parse_u32(value, 65535, &t->check_port) != 0 || t->check_port == 0)
            return snprintf(msg, cap, "bad check_port '%s' (1..65535)", value), -1;
        return 0;
    }
    if (strcmp(key, "pool") == 0) {
        if (!lbf_valid_name(value))
            return snprintf(msg, cap, "bad pool name '%s' ([A-Za-z0-9._-], 1..64)", value), -1;
        lbf_strlcpy(t->pool, value, sizeof(t->pool));
        return 0;
    }
    snprintf(msg, cap, "unknown target option '%s'", key);
    return -1;
}

static void target_defaults(struct lbf_target_conf *t)
{
    memset(t, 0, sizeof(*t));
    t->weight = 1;
    lbf_strlcpy(t->pool, LBF_DEFAULT_POOL, sizeof(t->pool));
}

int lbf_parse_target_spec(const char *spec, struct lbf_target_conf *out, char *msg, size_t cap)
{
    char buf[512];
    target_defaults(out);
    if (strlen(spec) >= sizeof(buf))
        return snprintf(msg, cap, "target specification too long"), -1;
    snprintf(buf, sizeof(buf), "%s", spec);
    char *eq = strchr(buf, '=');
    if (!eq)
        return snprintf(msg, cap, "bad target '%s' (NAME=ADDR:PORT[,key=value...])", spec), -1;
    *eq = '\0';
    if (!lbf_valid_target_name(buf))
        return snprintf(msg, cap, "bad target name '%s' (" LBF_TARGET_NAME_RULE ")", buf), -1;
    lbf_strlcpy(out->name, buf, sizeof(out->name));
    char *rest = eq + 1;
    char *save = NULL;
    int first = 1;
    for (char *tok = strtok_r(rest, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (first) {
            first = 0;
            if (parse_target_addr(tok, &out->addr, msg, cap) != 0)
                return -1;
            continue;
        }
        char *kv = strchr(tok, '=');
        if (!kv)
            return snprintf(msg, cap, "bad target option '%s' (key=value)", tok), -1;
        *kv = '\0';
        if (strcmp(tok, "addr") == 0)
            return snprintf(msg, cap, "target address given twice"), -1;
        if (target_option(out, tok, kv + 1, msg, cap) != 0)
            return -1;
    }
    if (first)
        return snprintf(msg, cap, "target '%s' has no address", out->name), -1;
    return 0;
}

struct lbf_target_conf *lbf_config_find_target(struct lbf_config *cfg, const char *name)
{
    for (int i = 0; i < cfg->n_targets; i++)
        if (strcmp(cfg->targets[i].name, name) == 0)
            return &cfg->targets[i];
    return NULL;
}

int lbf_config_add_target(struct lbf_config *cfg, const struct lbf_target_conf *t,
                          struct lbf_cfg_error *err)
{
    if (lbf_config_find_target(cfg, t->name))
        return fail(err, "duplicate target '%s'", t->name);
    if (cfg->n_targets >= LBF_MAX_TARGETS)
        return fail(err, "too many targets (at most %d)", LBF_MAX_TARGETS);
    if (cfg->n_targets == cfg->cap_targets) {
        int ncap = cfg->cap_targets ? cfg->cap_targets * 2 : 8;
        struct lbf_target_conf *n = realloc(cfg->targets, (size_t)ncap * sizeof(*n));
        if (!n)
            return fail(err, "out of memory");
        cfg->targets = n;
        cfg->cap_targets = ncap;
    }
    cfg->targets[cfg->n_targets++] = *t;
    return 0;
}

static int parse_cidr_list(struct lbf_config *cfg, const char *value, struct lbf_cfg_error *err)
{
    char buf[1024];
    if (strlen(value) >= sizeof(buf))
        return fail(err, "accept_proxy list too long");
    snprintf(buf, sizeof(buf), "%s", value);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        if (cfg->n_accept_proxy >= LBF_MAX_CIDRS)
            return fail(err, "too many accept_proxy CIDRs (at most %d)", LBF_MAX_CIDRS);
        int rc = lb_cidr_parse(tok, &cfg->accept_proxy[cfg->n_accept_proxy]);
        if (rc != 0)
            return fail(err, "bad CIDR '%s' (%s)", tok, lb_strerror(rc));
        cfg->n_accept_proxy++;
    }
    return 0;
}

/* The library's list of algorithm names (lb_algorithm_from_name()). */
static int parse_algorithm(const char *v, uint32_t *alg)
{
    return lb_algorithm_from_name(v, alg) == LB_OK ? 0 : -1;
}

static int parse_zone_mode(const char *v, uint32_t *mode)
{
    static const char *const names[] = {"all", "local", "aware", "affinity"};
    for (uint32_t m = 0; m < 4; m++)
        if (strcmp(v, names[m]) == 0)
            return *mode = m, 0;
    return -1;
}

/* A Maglev table size as liblb accepts it (range and primality), asked of liblb itself. */
static int check_table_size(uint32_t size, char *msg, size_t cap)
{
    lb_pool *pool = NULL;
    lb_maglev *table = NULL;
    int rc = lb_pool_new(&pool);
    if (rc == 0)
        rc = lb_maglev_build(&table, pool, size);
    lb_maglev_free(table);
    lb_pool_free(pool);
    if (rc != 0)
        snprintf(msg, cap, "%s", rc == -ERANGE ? "out of range" : lb_strerror(rc));
    return rc;
}

/* Canonical key: lower case, '-' as '_'. */
static int canon_key(const char *key, char *out, size_t cap)
{
    size_t n = strlen(key);
    if (n == 0 || n >= cap)
        return -1;
    for (size_t i = 0; i <= n; i++)
        out[i] = key[i] == '-' ? '_' : (char)tolower((unsigned char)key[i]);
    return 0;
}

/* ---- settings: one table row each ------------------------------------------------------------
 * A row names the setting (its file key; the flag is the same with dashes), the setter, and for
 * the generic setters the field and its bounds. Adding a setting is adding a row (and its field
 * in struct lbf_config, and its line in the usage text and doc/lbfwd.md). */
struct setting;
typedef int (*setting_fn)(struct lbf_config *cfg, const struct setting *s, const char *value,
                          int line, struct lbf_cfg_error *err);

struct setting {
    const char *name;
    setting_fn set;
    size_t off;        /* the field, for set_u32, set_duration, set_bool and set_path */
    uint32_t min, max; /* bounds of set_u32 and set_duration (max 0: LBF_DURATION_MAX_MS) */
    const char *what;  /* the value's grammar, in errors */
};

#define FIELD(cfg, s, type) ((type *)(void *)((char *)(cfg) + (s)->off))

static int set_u32(struct lbf_config *cfg, const struct setting *s, const char *value, int line,
                   struct lbf_cfg_error *err)
{
    (void)line;
    uint32_t v;
    if (lbf_parse_u32(value, s->max, &v) != 0 || v < s->min)
        return fail(err, "bad %s '%s' (%s)", s->name, value, s->what);
    *FIELD(cfg, s, uint32_t) = v;
    return 0;
}

static int set_duration(struct lbf_config *cfg, const struct setting *s, const char *value,
                        int line, struct lbf_cfg_error *err)
{
    (void)line;
    uint32_t v;
    if (lbf_parse_duration(value, &v) != 0)
        return fail(err,
                    "bad duration for %s: '%s' (e.g. 250ms, 2s, 5m; bare numbers are "
                    "seconds; at most 24h)",
                    s->name, value);
    if (s->max && v > s->max)
        return fail(err, "%s '%s' above %s", s->name, value, s->what);
    *FIELD(cfg, s, uint32_t) = v;
    return 0;
}

static int set_bool(struct lbf_config *cfg, const struct setting *s, const char *value, int line,
                    struct lbf_cfg_error *err)
{
    (void)line;
    if (parse_bool(value, FIELD(cfg, s, int)) != 0)
        return fail(err, "bad boolean for %s: '%s' (yes/no, on/off, true/false, 1/0)", s->name,
                    value);
    return 0;
}

static int set_path(struct lbf_config *cfg, const struct setting *s, const char *value, int line,
                    struct lbf_cfg_error *err)
{
    (void)line;
    if (strlen(value) >= LBF_PATH_MAX || !*value)
        return fail(err, "bad %s path", s->name);
    lbf_strlcpy(FIELD(cfg, s, char), value, LBF_PATH_MAX);
    return 0;
}

static int add_listen(struct lbf_addr *list, int *n, const char *text, const char *what,
                      struct lbf_cfg_error *err)
{
    char msg[256];
    if (*n >= LBF_MAX_LISTEN)
        return fail(err, "too many %slisten addresses (at most %d)", what, LBF_MAX_LISTEN);
    if (parse_ip_addr(text, &list[*n], msg, sizeof(msg)) != 0)
        return fail(err, "%s", msg);
    (*n)++;
    return 0;
}

/* "ADDR:PORT" (TCP) or "udp:ADDR:PORT[,pool=NAME]" (the pool `default` without pool=). */
static int set_listen(struct lbf_config *cfg, const struct setting *s, const char *value, int line,
                      struct lbf_cfg_error *err)
{
    (void)s;
    (void)line;
    char addr[LB_ADDR_TEXT_MAX + 8];
    if (strncmp(value, "udp:", 4) != 0)
        return add_listen(cfg->listen, &cfg->n_listen, value, "", err);
    const char *a = value + 4, *comma = strchr(a, ',');
    size_t alen = comma ? (size_t)(comma - a) : strlen(a);
    if (alen == 0 || alen >= sizeof(addr))
        return fail(err, "bad UDP listen address '%s' (udp:ADDR:PORT[,pool=NAME])", value);
    memcpy(addr, a, alen);
    addr[alen] = 0;
    if (comma) {
        const char *opt = comma + 1;
        if (strncmp(opt, "pool=", 5) != 0)
            return fail(err, "bad UDP listen option '%s' in '%s' (pool=NAME)", opt, value);
        if (!lbf_valid_name(opt + 5))
            return fail(err, "bad pool name '%s' in '%s' ([A-Za-z0-9._-], 1..64)", opt + 5,
                        value);
    }
    int k = cfg->n_udp_listen;
    if (add_listen(cfg->udp_listen, &cfg->n_udp_listen, addr, "UDP ", err) != 0)
        return -1;
    lbf_strlcpy(cfg->udp_pool[k], comma ? comma + 6 : LBF_DEFAULT_POOL, sizeof(cfg->udp_pool[k]));
    return 0;
}

static int set_target(struct lbf_config *cfg, const struct setting *s, const char *value, int line,
                      struct lbf_cfg_error *err)
{
    (void)s;
    char msg[256];
    struct lbf_target_conf t;
    if (lbf_parse_target_spec(value, &t, msg, sizeof(msg)) != 0)
        return fail(err, "%s", msg);
    t.line = line;
    return lbf_config_add_target(cfg, &t, err);
}

static int set_workers(struct lbf_config *cfg, const struct setting *s, const char *value, int line,
                       struct lbf_cfg_error *err)
{
    (void)s;
    (void)line;
    uint32_t u;
    if (lbf_parse_u32(value, 256, &u) != 0)
        return fail(err, "bad workers '%s' (0..256; 0 is one per core)", value);
    cfg->workers = (int)u;
    return 0;
}

static int set_algorithm(struct lbf_config *cfg, const struct setting *s, const char *value,
                         int line, struct lbf_cfg_error *err)
{
    (void)s;
    (void)line;
    if (parse_algorithm(value, &cfg->algorithm) == 0)
        return 0;
    char names[160] = "";
    size_t used = 0;
    for (size_t i = 0; i < lb_algorithm_count() && used < sizeof(names); i++) {
        uint32_t alg = 0;
        if (lb_algorithm_at(i, &alg) == LB_OK)
            used += (size_t)snprintf(names + used, sizeof(names) - used, "%s%s", i ? ", " : "",
                                     lb_algorithm_name(alg));
    }
    return fail(err, "unknown algorithm '%s' (%s)", value, names);
}

static int set_affinity(struct lbf_config *cfg, const struct setting *s, const char *value,
                        int line, struct lbf_cfg_error *err)
{
    (void)s;
    (void)line;
    if (strcmp(value, "source") == 0)
        cfg->affinity_source = 1;
    else if (strcmp(value, "none") == 0 || strcmp(value, "flow") == 0)
        cfg->affinity_source = 0;
    else
        return fail(err, "bad affinity '%s' (source or none)", value);
    return 0;
}

static int set_table_size(struct lbf_config *cfg, const struct setting *s, const char *value,
                          int line, struct lbf_cfg_error *err)
{
    (void)s;
    (void)line;
    char msg[256];
    uint32_t u;
    snprintf(msg, sizeof(msg), "out of range");
    if (lbf_parse_u32(value, LB_MAGLEV_MAX_SIZE, &u) != 0 ||
        check_table_size(u, msg, sizeof(msg)) != 0)
        return fail(err, "bad table_size '%s': %s (a prime from 2 to %u)", value, msg,
                    LB_MAGLEV_MAX_SIZE);
    cfg->table_size = u;
    return 0;
}

static int set_seed(struct lbf_config *cfg, const struct setting *s, const char *value, int line,
                    struct lbf_cfg_error *err)
{
    (void)s;
    (void)line;
    if (parse_u64(value, &cfg->seed) != 0)
        return fail(err, "bad seed '%s' (decimal or 0x hex, 64 bits)", value);
    return 0;
}

static int set_zone(struct lbf_config *cfg, const struct setting *s, const char *value, int line,
                    struct lbf_cfg_error *err)
{
    (void)s;
    (void)line;
    if (!lbf_valid_name(value))
        return fail(err, "bad zone name '%s' ([A-Za-z0-9._-], 1..64)", value);
    lbf_strlcpy(cfg->zone, value, sizeof(cfg->zone));
    return 0;
}

static int set_zone_mode(struct lbf_config *cfg, const struct setting *s, const char *value,
                         int line, struct lbf_cfg_error *err)
{
    (void)s;
    (void)line;
    if (parse_zone_mode(value, &cfg->zone_mode) != 0)
        return fail(err, "bad zone_mode '%s' (all, local, aware, affinity)", value);
    return 0;
}

static int set_send_proxy(struct lbf_config *cfg, const struct setting *s, const char *value,
                          int line, struct lbf_cfg_error *err)
{
    (void)s;
    (void)line;
    if (strcmp(value, "v1") == 0 || strcmp(value, "1") == 0)
        cfg->send_proxy = 1;
    else if (strcmp(value, "v2") == 0 || strcmp(value, "2") == 0)
        cfg->send_proxy = 2;
    else if (strcmp(value, "none") == 0 || strcmp(value, "off") == 0)
        cfg->send_proxy = 0;
    else
        return fail(err, "bad send_proxy '%s' (v1, v2 or none)", value);
    return 0;
}

static int set_accept_proxy(struct lbf_config *cfg, const struct setting *s, const char *value,
                            int line, struct lbf_cfg_error *err)
{
    (void)s;
    (void)line;
    return parse_cidr_list(cfg, value, err);
}

static int set_check(struct lbf_config *cfg, const struct setting *s, const char *value, int line,
                     struct lbf_cfg_error *err)
{
    (void)s;
    (void)line;
    if (strcmp(value, "tcp") == 0) {
        cfg->check_kind = LBF_CHECK_TCP;
    } else if (strcmp(value, "none") == 0) {
        cfg->check_kind = LBF_CHECK_NONE;
    } else if (strncmp(value, "http:", 5) == 0 && value[5] == '/') {
        const char *p = value + 5;
        if (strlen(p) >= sizeof(cfg->check_path))
            return fail(err, "check path too long");
        for (const char *q = p; *q; q++)
            if ((unsigned char)*q <= ' ' || (unsigned char)*q >= 0x7f)
                return fail(err, "bad character in check path '%s'", p);
        cfg->check_kind = LBF_CHECK_HTTP;
        lbf_strlcpy(cfg->check_path, p, sizeof(cfg->check_path));
    } else {
        return fail(err, "bad check '%s' (tcp, http:/PATH or none)", value);
    }
    return 0;
}

static int set_admin(struct lbf_config *cfg, const struct setting *s, const char *value, int line,
                     struct lbf_cfg_error *err)
{
    (void)s;
    (void)line;
    char msg[256];
    if (parse_ip_addr(value, &cfg->admin, msg, sizeof(msg)) != 0)
        return fail(err, "%s", msg);
    cfg->admin_set = 1;
    return 0;
}

/* A name a client may send as the admin API's Host: a DNS name or an address, with an optional
 * port ("lb1.example.com", "lb1:9090", "10.0.0.5:9090", "[2001:db8::5]:9090"). */
static int valid_host(const char *h)
{
    size_t n = strlen(h);
    if (n == 0 || n > LBF_HOST_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)h[i];
        if (!isalnum(c) && c != '.' && c != '-' && c != ':' && c != '[' && c != ']')
            return 0;
    }
    return 1;
}

static int set_admin_host(struct lbf_config *cfg, const struct setting *s, const char *value,
                          int line, struct lbf_cfg_error *err)
{
    (void)s;
    (void)line;
    char buf[1024];
    if (strlen(value) >= sizeof(buf))
        return fail(err, "admin_host list too long");
    snprintf(buf, sizeof(buf), "%s", value);
    char *save = NULL;
    int any = 0;
    for (char *tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        if (cfg->n_admin_hosts >= LBF_MAX_ADMIN_HOSTS)
            return fail(err, "too many admin_host names (at most %d)", LBF_MAX_ADMIN_HOSTS);
        if (!valid_host(tok))
            return fail(err, "bad admin_host '%s' (a host name or address, optionally :PORT)", tok);
        lbf_strlcpy(cfg->admin_hosts[cfg->n_admin_hosts++], tok, LBF_HOST_MAX + 1);
        any = 1;
    }
    if (!any)
        return fail(err, "bad admin_host '' (a host name or address, optionally :PORT)");
    return 0;
}

static int set_user(struct lbf_config *cfg, const struct setting *s, const char *value, int line,
                    struct lbf_cfg_error *err)
{
    (void)s;
    (void)line;
    if (!*value || strlen(value) > LBF_NAME_MAX)
        return fail(err, "bad user '%s'", value);
    lbf_strlcpy(cfg->user, value, sizeof(cfg->user));
    return 0;
}

/* `route = PATTERN=POOL`: PATTERN a host name, *.suffix, * (any name) or none (no name, or
 * not TLS); checked by liblb's lb_tls_host_pattern_check(). */
static int set_route(struct lbf_config *cfg, const struct setting *s, const char *value, int line,
                     struct lbf_cfg_error *err)
{
    (void)s;
    (void)line;
    const char *eq = strrchr(value, '=');
    if (!eq)
        return fail(err, "bad route '%s' (PATTERN=POOL)", value);
    size_t n = (size_t)(eq - value);
    struct lbf_route_conf r;
    if (copy_token(r.pattern, sizeof(r.pattern), value, n) != 0 || n == 0)
        return fail(err, "bad route pattern in '%s' (a host name, *.suffix, * or none)", value);
    if (strcmp(r.pattern, "none") != 0 && lb_tls_host_pattern_check(r.pattern) != LB_OK)
        return fail(err, "bad route pattern '%s' (a host name, *.suffix, * or none)", r.pattern);
    if (!lbf_valid_name(eq + 1))
        return fail(err, "bad pool name '%s' in route ([A-Za-z0-9._-], 1..64)", eq + 1);
    lbf_strlcpy(r.pool, eq + 1, sizeof(r.pool));
    for (int i = 0; i < cfg->n_routes; i++)
        if (strcasecmp(cfg->routes[i].pattern, r.pattern) == 0)
            return fail(err, "route pattern '%s' given twice", r.pattern);
    if (cfg->n_routes >= LBF_MAX_ROUTES)
        return fail(err, "too many routes (at most %d)", LBF_MAX_ROUTES);
    cfg->routes[cfg->n_routes++] = r;
    return 0;
}

#define CFG_OFF(field) offsetof(struct lbf_config, field)
static const struct setting settings[] = {
    /* listening and workers */
    {"listen", set_listen, 0, 0, 0, NULL},
    {"workers", set_workers, 0, 0, 0, NULL},
    {"max_conns", set_u32, CFG_OFF(max_conns), 0, 10000000, "0..10000000; 0 is no limit"},
    {"splice", set_bool, CFG_OFF(splice), 0, 0, NULL},
    {"smart_connect", set_bool, CFG_OFF(smart_connect), 0, 0, NULL},
    {"smart_accept", set_bool, CFG_OFF(smart_accept), 0, 0, NULL},
    {"udp_flows", set_u32, CFG_OFF(udp_flows), 8, 16777216, "8..16777216 per worker"},
    {"udp_max_datagram", set_u32, CFG_OFF(udp_max_datagram), 1, 65527, "1..65527 bytes"},
    {"udp_responses", set_u32, CFG_OFF(udp_responses), 0, 1000000, "0..1000000; 0 is no limit"},
    {"udp_rcvbuf", set_u32, CFG_OFF(udp_rcvbuf), 0, 1073741824,
     "0..1073741824 bytes; 0 is the system's default"},
    /* targets and selection */
    {"target", set_target, 0, 0, 0, NULL},
    {"algorithm", set_algorithm, 0, 0, 0, NULL},
    {"affinity", set_affinity, 0, 0, 0, NULL},
    {"table_size", set_table_size, 0, 0, 0, NULL},
    {"seed", set_seed, 0, 0, 0, NULL},
    {"zone", set_zone, 0, 0, 0, NULL},
    {"zone_mode", set_zone_mode, 0, 0, 0, NULL},
    {"retries", set_u32, CFG_OFF(retries), 0, LBF_MAX_RETRIES, "0..8"},
    {"slow_start", set_duration, CFG_OFF(slow_start_ms), 0, 3600000, "60m"},
    {"eject_after", set_u32, CFG_OFF(eject_after), 0, 1000, "0..1000; 0 is off"},
    {"max_eject_percent", set_u32, CFG_OFF(max_eject_percent), 1, 100, "1..100"},
    {"fail_closed", set_bool, CFG_OFF(fail_closed), 0, 0, NULL},
    /* SNI routes to pools */
    {"route", set_route, 0, 0, 0, NULL},
    /* timeouts */
    {"connect_timeout", set_duration, CFG_OFF(connect_timeout_ms), 0, 0, NULL},
    {"idle_timeout", set_duration, CFG_OFF(idle_timeout_ms), 0, 0, NULL},
    {"udp_idle_timeout", set_duration, CFG_OFF(udp_idle_timeout_ms), 1, 0, NULL},
    {"half_closed_timeout", set_duration, CFG_OFF(half_closed_timeout_ms), 0, 0, NULL},
    {"proxy_timeout", set_duration, CFG_OFF(proxy_timeout_ms), 0, 0, NULL},
    {"sni_timeout", set_duration, CFG_OFF(sni_timeout_ms), 0, 600000, "10m"},
    {"drain_timeout", set_duration, CFG_OFF(drain_timeout_ms), 0, 3600000, "60m"},
    {"announce_delay", set_duration, CFG_OFF(announce_delay_ms), 0, 600000, "10m"},
    /* PROXY protocol */
    {"send_proxy", set_send_proxy, 0, 0, 0, NULL},
    {"send_proxy_crc32c", set_bool, CFG_OFF(send_proxy_crc32c), 0, 0, NULL},
    {"accept_proxy", set_accept_proxy, 0, 0, 0, NULL},
    /* health checks */
    {"check", set_check, 0, 0, 0, NULL},
    {"check_interval", set_duration, CFG_OFF(check_interval_ms), 0, 0, NULL},
    {"check_timeout", set_duration, CFG_OFF(check_timeout_ms), 0, 0, NULL},
    {"rise", set_u32, CFG_OFF(rise), 1, 100, "1..100"},
    {"fall", set_u32, CFG_OFF(fall), 1, 100, "1..100"},
    /* operation */
    {"admin", set_admin, 0, 0, 0, NULL},
    {"admin_allow_remote", set_bool, CFG_OFF(admin_allow_remote), 0, 0, NULL},
    {"admin_token_file", set_path, CFG_OFF(admin_token_file), 0, 0, NULL},
    {"admin_host", set_admin_host, 0, 0, 0, NULL},
    {"log", set_path, CFG_OFF(log_path), 0, 0, NULL},
    {"access_log", set_bool, CFG_OFF(access_log), 0, 0, NULL},
    {"ready_file", set_path, CFG_OFF(ready_file), 0, 0, NULL},
    {"user", set_user, 0, 0, 0, NULL},
};

static const struct setting *find_setting(const char *key)
{
    for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++)
        if (strcmp(settings[i].name, key) == 0)
            return &settings[i];
    return NULL;
}

int lbf_config_set(struct lbf_config *cfg, const char *rawkey, const char *value, int line,
                   struct lbf_cfg_error *err)
{
    char key[64];
    const struct setting *s = canon_key(rawkey, key, sizeof(key)) == 0 ? find_setting(key) : NULL;
    if (!s)
        return fail(err, "unknown setting '%s'", rawkey);
    return s->set(cfg, s, value ? value : "", line, err);
}

int lbf_config_set_target_key(struct lbf_config *cfg, const char *name, const char *key,
                              const char *value, int line, struct lbf_cfg_error *err)
{
    /* `line` is where the [target NAME] section starts (for "no addr" errors) */
    char msg[256];
    struct lbf_target_conf *t = lbf_config_find_target(cfg, name);
    if (!t) {
        struct lbf_target_conf nt;
        if (!lbf_valid_target_name(name))
            return fail(err, "bad target name '%s' (" LBF_TARGET_NAME_RULE ")", name);
        target_defaults(&nt);
        lbf_strlcpy(nt.name, name, sizeof(nt.name));
        nt.line = line;
        if (lbf_config_add_target(cfg, &nt, err) != 0)
            return -1;
        t = &cfg->targets[cfg->n_targets - 1];
    }
    if (target_option(t, key, value ? value : "", msg, sizeof(msg)) != 0)
        return fail(err, "%s", msg);
    return 0;
}

/* ---- [pool NAME] sections ------------------------------------------------------------------
 * The selection settings of [lbfwd] that a pool may give its own way; each is parsed by the
 * same setter as in [lbfwd] (into a scratch configuration), so the grammar and errors agree. */
static const struct {
    const char *key;
    unsigned bit;
} pool_keys[] = {
    {"algorithm", LBF_PSET_ALGORITHM},
    {"affinity", LBF_PSET_AFFINITY},
    {"table_size", LBF_PSET_TABLE_SIZE},
    {"seed", LBF_PSET_SEED},
    {"check", LBF_PSET_CHECK},
    {"check_interval", LBF_PSET_CHECK_INTERVAL},
    {"check_timeout", LBF_PSET_CHECK_TIMEOUT},
};

static struct lbf_pool_conf *find_pool(struct lbf_config *cfg, const char *name)
{
    for (int i = 0; i < cfg->n_pools; i++)
        if (strcmp(cfg->pools[i].name, name) == 0)
            return &cfg->pools[i];
    return NULL;
}

int lbf_config_set_pool_key(struct lbf_config *cfg, const char *name, const char *rawkey,
                            const char *value, struct lbf_cfg_error *err)
{
    char key[64];
    if (!lbf_valid_name(name))
        return fail(err, "bad pool name '%s' ([A-Za-z0-9._-], 1..64)", name);
    unsigned bit = 0;
    if (canon_key(rawkey, key, sizeof(key)) == 0)
        for (size_t i = 0; i < sizeof(pool_keys) / sizeof(pool_keys[0]); i++)
            if (strcmp(pool_keys[i].key, key) == 0)
                bit = pool_keys[i].bit;
    if (!bit)
        return fail(err,
                    "unknown pool setting '%s' (algorithm, affinity, table_size, seed, check, "
                    "check_interval, check_timeout)",
                    rawkey);
    struct lbf_pool_conf *p = find_pool(cfg, name);
    if (!p) {
        if (cfg->n_pools >= LBF_MAX_POOLS)
            return fail(err, "too many pools (at most %d)", LBF_MAX_POOLS);
        p = &cfg->pools[cfg->n_pools++];
        memset(p, 0, sizeof(*p));
        lbf_strlcpy(p->name, name, sizeof(p->name));
    }
    static struct lbf_config tmp; /* large; configuration parsing is single-threaded */
    lbf_config_init(&tmp);
    if (lbf_config_set(&tmp, key, value, 0, err) != 0)
        return -1;
    p->set |= bit;
    if (bit == LBF_PSET_ALGORITHM)
        p->algorithm = tmp.algorithm;
    else if (bit == LBF_PSET_AFFINITY)
        p->affinity_source = tmp.affinity_source;
    else if (bit == LBF_PSET_TABLE_SIZE)
        p->table_size = tmp.table_size;
    else if (bit == LBF_PSET_SEED)
        p->seed = tmp.seed;
    else if (bit == LBF_PSET_CHECK) {
        p->check_kind = tmp.check_kind;
        memcpy(p->check_path, tmp.check_path, sizeof(p->check_path));
    } else if (bit == LBF_PSET_CHECK_INTERVAL) {
        p->check_interval_ms = tmp.check_interval_ms;
    } else {
        p->check_timeout_ms = tmp.check_timeout_ms;
    }
    return 0;
}

void lbf_config_pool(const struct lbf_config *cfg, const char *name, struct lbf_pool_conf *out)
{
    const struct lbf_pool_conf *p = find_pool((struct lbf_config *)cfg, name);
    memset(out, 0, sizeof(*out));
    lbf_strlcpy(out->name, name, sizeof(out->name));
    unsigned set = p ? p->set : 0;
    out->set = set;
    out->algorithm = (set & LBF_PSET_ALGORITHM) ? p->algorithm : cfg->algorithm;
    out->affinity_source = (set & LBF_PSET_AFFINITY) ? p->affinity_source : cfg->affinity_source;
    out->table_size = (set & LBF_PSET_TABLE_SIZE) ? p->table_size : cfg->table_size;
    out->seed = (set & LBF_PSET_SEED) ? p->seed : cfg->seed;
    const struct lbf_pool_conf *ck = (set & LBF_PSET_CHECK) ? p : NULL;
    out->check_kind = ck ? ck->check_kind : cfg->check_kind;
    memcpy(out->check_path, ck ? ck->check_path : cfg->check_path, sizeof(out->check_path));
    out->check_interval_ms =
        (set & LBF_PSET_CHECK_INTERVAL) ? p->check_interval_ms : cfg->check_interval_ms;
    out->check_timeout_ms =
        (set & LBF_PSET_CHECK_TIMEOUT) ? p->check_timeout_ms : cfg->check_timeout_ms;
}

/* ---- INI file ------------------------------------------------------------------------------ */
struct ini_ctx {
    struct lbf_config *cfg;
    struct lbf_cfg_error *err;
    const char *pos;
    int line;
    int err_line;
    int section_line;
    int too_long;
    char section[CFG_LINE_MAX + 1]; /* the whole name: libinih keeps only 49 characters */
};

/* The target name of a "[target NAME]" header: NAME with each %XX decoded (so that a name
 * holding ']' can be written, e.g. [target [::1%5D:9001]); -1 for a bad escape or a name too
 * long. */
static int target_section_name(const char *s, char *out, size_t cap)
{
    size_t n = 0;
    for (; *s; s++) {
        unsigned v = (unsigned char)*s;
        if (*s == '%') {
            if (!isxdigit((unsigned char)s[1]) || !isxdigit((unsigned char)s[2]) ||
                sscanf(s + 1, "%2x", &v) != 1 || v == 0)
                return -1;
            s += 2;
        }
        if (n + 1 >= cap)
            return -1;
        out[n++] = (char)v;
    }
    out[n] = '\0';
    return 0;
}

/* A section header "[...]" at @p (room for @cap bytes): libinih ends a section's name at its
 * first ']', so in "[target [::1]:9001]" every ']' but the header's last one is rewritten as
 * %5D, which target_section_name() decodes. The header's whole text is kept in c->section
 * (libinih keeps only 49 characters), and a [target NAME] section for a name already defined is
 * an error (two sections of one name would merge). Returns -1 when the line is too long. */
static int section_header(struct ini_ctx *c, char *p, int cap)
{
    /* the header ends where libinih's inline comment starts: a ';' after a blank */
    char *end = p + strcspn(p, "\r\n");
    for (char *q = p + 1; q < end; q++) {
        if (*q == ';' && (q[-1] == ' ' || q[-1] == '\t')) {
            end = q;
            break;
        }
    }
    while (end > p && end[-1] != ']')
        end--;
    if (end <= p + 1) /* no ']': libinih reports the syntax error */
        return 0;
    end--; /* the header's last ']' */
    size_t inner = 0;
    for (char *q = p + 1; q < end; q++)
        inner += *q == ']';
    if (inner) {
        size_t rest = strlen(end);
        if ((size_t)(end - p) + 2 * inner + rest >= (size_t)cap)
            return -1;
        memmove(end + 2 * inner, end, rest + 1);
        for (char *q = end - 1; q > p; q--) {
            if (*q != ']') {
                q[2 * inner] = *q;
                continue;
            }
            inner--;
            memcpy(q + 2 * inner, "%5D", 3);
        }
        end = strchr(p + 1, ']');
    }
    size_t n = (size_t)(end - p - 1);
    if (n >= sizeof(c->section))
        return -1;
    memcpy(c->section, p + 1, n);
    c->section[n] = '\0';
    c->section_line = c->line;
    if (strncmp(c->section, "pool ", 5) == 0) {
        const char *pn = c->section + 5;
        while (*pn == ' ')
            pn++;
        if (find_pool(c->cfg, pn)) { /* two sections of one name would merge */
            c->err_line = c->line;
            fail(c->err, "duplicate [pool %s] section", pn);
        }
        return 0;
    }
    if (strncmp(c->section, "target ", 7) != 0)
        return 0;
    const char *tn = c->section + 7;
    char decoded[LBF_NAME_MAX + 2];
    while (*tn == ' ')
        tn++;
    if (target_section_name(tn, decoded, sizeof(decoded)) != 0)
        return 0; /* the handler names the bad name */
    const struct lbf_target_conf *t = lbf_config_find_target(c->cfg, decoded);
    if (t) {
        c->err_line = c->line;
        if (t->line)
            fail(c->err, "duplicate target '%s' (also defined at line %d)", decoded, t->line);
        else
            fail(c->err, "duplicate target '%s'", decoded);
    }
    return 0;
}

/* fgets-like reader that counts lines, so errors carry the right line number. */
static char *ini_reader_fn(char *str, int num, void *stream)
{
    struct ini_ctx *c = stream;
    if (c->err_line || !*c->pos)
        return NULL;
    const char *nl = strchr(c->pos, '\n');
    size_t n = nl ? (size_t)(nl - c->pos + 1) : strlen(c->pos);
    c->line++;
    if (n > CFG_LINE_MAX || (int)n >= num) {
        c->too_long = 1;
        c->err_line = c->line;
        fail(c->err, "line too long (at most %d characters)", CFG_LINE_MAX - 1);
        return NULL;
    }
    memcpy(str, c->pos, n);
    str[n] = '\0';
    c->pos += n;
    char *p = str;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '[') {
        if (section_header(c, p, num - (int)(p - str)) != 0) {
            c->err_line = c->line;
            fail(c->err, "line too long (at most %d characters)", CFG_LINE_MAX - 1);
            return NULL;
        }
    }
    return c->err_line ? NULL : str;
}

static int ini_handler_fn(void *user, const char *truncated, const char *name, const char *value)
{
    struct ini_ctx *c = user;
    (void)truncated; /* libinih's copy of the section name: c->section is whole */
    const char *section = c->section;
    if (c->err_line)
        return 0;
    int rc;
    if (section[0] == '\0' || strcmp(section, "lbfwd") == 0) {
        rc = lbf_config_set(c->cfg, name, value, c->line, c->err);
    } else if (strncmp(section, "target ", 7) == 0) {
        const char *tn = section + 7;
        char decoded[LBF_NAME_MAX + 2];
        while (*tn == ' ')
            tn++;
        if (target_section_name(tn, decoded, sizeof(decoded)) != 0)
            rc = fail(c->err, "bad target name '%s' (%%XX escapes, " LBF_TARGET_NAME_RULE ")",
                      tn);
        else
            rc = lbf_config_set_target_key(c->cfg, decoded, name, value, c->section_line,
                                           c->err);
    } else if (strncmp(section, "pool ", 5) == 0) {
        const char *pn = section + 5;
        while (*pn == ' ')
            pn++;
        rc = lbf_config_set_pool_key(c->cfg, pn, name, value, c->err);
    } else {
        rc = fail(c->err, "unknown section [%s] (expected [lbfwd], [target NAME] or [pool NAME])",
                  section);
    }
    if (rc != 0)
        c->err_line = c->line;
    return rc == 0;
}

int lbf_config_parse_text(struct lbf_config *cfg, const char *text, const char *file,
                          struct lbf_cfg_error *err)
{
    struct ini_ctx c;
    memset(&c, 0, sizeof(c));
    c.cfg = cfg;
    c.err = err;
    c.pos = text;
    if (err)
        err->msg[0] = '\0';
    int rc = ini_parse_stream(ini_reader_fn, &c, ini_handler_fn, &c);
    if (c.err_line) {
        if (err)
            snprintf(err->where, sizeof(err->where), "%s:%d", file, c.err_line);
        return -1;
    }
    if (rc != 0) {
        if (err) {
            snprintf(err->where, sizeof(err->where), "%s:%d", file, rc > 0 ? rc : 0);
            snprintf(err->msg, sizeof(err->msg),
                     "syntax error (expected [section], key = value, or a comment)");
        }
        return -1;
    }
    /* A [target NAME] section must have given an address. */
    for (int i = 0; i < cfg->n_targets; i++) {
        if (cfg->targets[i].addr.len == 0) {
            if (err) {
                snprintf(err->where, sizeof(err->where), "%s:%d", file, cfg->targets[i].line);
                snprintf(err->msg, sizeof(err->msg), "target '%s' has no addr",
                         cfg->targets[i].name);
            }
            return -1;
        }
    }
    return 0;
}

int lbf_config_parse_file(struct lbf_config *cfg, const char *path, struct lbf_cfg_error *err)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        snprintf(err->where, sizeof(err->where), "%s", path);
        snprintf(err->msg, sizeof(err->msg), "cannot open: %s", strerror(errno));
        return -1;
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (len + 1 >= cap) {
            if (cap >= (1u << 24)) {
                free(buf);
                fclose(f);
                snprintf(err->where, sizeof(err->where), "%s", path);
                snprintf(err->msg, sizeof(err->msg), "file too large (16 MiB at most)");
                return -1;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0)
            break;
    }
    int ferr = ferror(f);
    fclose(f);
    if (!buf || ferr) {
        free(buf);
        snprintf(err->where, sizeof(err->where), "%s", path);
        snprintf(err->msg, sizeof(err->msg), "cannot read");
        return -1;
    }
    buf[len] = '\0';
    if (strlen(buf) != len) {
        free(buf);
        snprintf(err->where, sizeof(err->where), "%s", path);
        snprintf(err->msg, sizeof(err->msg), "file contains a NUL byte");
        return -1;
    }
    int rc = lbf_config_parse_text(cfg, buf, path, err);
    free(buf);
    return rc;
}

int lbf_addr_is_loopback(const struct lbf_addr *a)
{
    if (a->ss.ss_family == AF_INET) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)&a->ss;
        return (ntohl(s->sin_addr.s_addr) >> 24) == 127;
    }
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&a->ss;
    return IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr);
}

int lbf_addr_is_wildcard(const struct lbf_addr *a)
{
    if (a->ss.ss_family == AF_INET)
        return ((const struct sockaddr_in *)&a->ss)->sin_addr.s_addr == htonl(INADDR_ANY);
    return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)&a->ss)->sin6_addr);
}

int lbf_addr_same_ip(const struct lbf_addr *a, const struct lbf_addr *b)
{
    if (a->ss.ss_family != b->ss.ss_family)
        return 0;
    if (a->ss.ss_family == AF_INET)
        return ((const struct sockaddr_in *)&a->ss)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)&b->ss)->sin_addr.s_addr;
    return memcmp(&((const struct sockaddr_in6 *)&a->ss)->sin6_addr,
                  &((const struct sockaddr_in6 *)&b->ss)->sin6_addr, 16) == 0;
}

int lbf_addr_reaches(const struct lbf_addr *target, const struct lbf_addr *own)
{
    if (lbf_addr_port(own) == 0 || lbf_addr_port(own) != lbf_addr_port(target))
        return 0;
    if (lbf_addr_same_ip(target, own))
        return 1;
    return lbf_addr_is_wildcard(own) && lbf_addr_is_loopback(target) &&
           (own->ss.ss_family == target->ss.ss_family || own->ss.ss_family == AF_INET6);
}

static int listen_twice(const struct lbf_addr *list, int n, const char *prefix,
                        struct lbf_cfg_error *err)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++)
            if (list[i].len == list[j].len && memcmp(&list[i].ss, &list[j].ss, list[i].len) == 0)
                return fail(err, "listen address %s%s given twice", prefix, list[i].text);
    return 0;
}

int lbf_config_validate(const struct lbf_config *cfg, struct lbf_cfg_error *err)
{
    if (cfg->n_listen == 0 && cfg->n_udp_listen == 0)
        return fail(err, "no listen address (--listen ADDR:PORT or listen = in [lbfwd])");
    if (listen_twice(cfg->listen, cfg->n_listen, "", err) != 0 ||
        listen_twice(cfg->udp_listen, cfg->n_udp_listen, "udp:", err) != 0)
        return -1;
    if (cfg->udp_idle_timeout_ms == 0)
        return fail(err, "udp_idle_timeout must be above zero");
    if (cfg->admin_set && !lbf_addr_is_loopback(&cfg->admin) &&
        (!cfg->admin_allow_remote || !cfg->admin_token_file[0]))
        return fail(err,
                    "admin address %s is not loopback (needs admin_allow_remote and "
                    "admin_token_file)",
                    cfg->admin.text);
    if (cfg->send_proxy_crc32c && cfg->send_proxy != 2)
        return fail(err, "send_proxy_crc32c needs send_proxy v2");
    if (cfg->check_timeout_ms == 0 || cfg->check_interval_ms == 0)
        return fail(err, "check_interval and check_timeout must be above zero");
    for (int i = 0; i < cfg->n_pools; i++) {
        struct lbf_pool_conf pc;
        lbf_config_pool(cfg, cfg->pools[i].name, &pc);
        if (pc.check_timeout_ms == 0 || pc.check_interval_ms == 0)
            return fail(err, "pool %s: check_interval and check_timeout must be above zero",
                        pc.name);
    }
    if (cfg->connect_timeout_ms == 0 || cfg->proxy_timeout_ms == 0)
        return fail(err, "connect_timeout and proxy_timeout must be above zero");
    /* a route's or a UDP listener's pool must exist: a [pool] section, a target's pool, or
     * "default" */
    for (int r = 0; r < cfg->n_routes + cfg->n_udp_listen; r++) {
        const char *pn = r < cfg->n_routes ? cfg->routes[r].pool : cfg->udp_pool[r - cfg->n_routes];
        int known = strcmp(pn, LBF_DEFAULT_POOL) == 0 || find_pool((struct lbf_config *)cfg, pn);
        for (int i = 0; !known && i < cfg->n_targets; i++)
            known = strcmp(cfg->targets[i].pool, pn) == 0;
        if (known)
            continue;
        if (r < cfg->n_routes)
            return fail(err, "route '%s' names pool '%s', which no target or [pool] section has",
                        cfg->routes[r].pattern, pn);
        return fail(err, "UDP listener udp:%s names pool '%s', which no target or [pool] "
                    "section has", cfg->udp_listen[r - cfg->n_routes].text, pn);
    }
    {
        /* every distinct pool gets a balancer: at most LBF_MAX_POOLS */
        char names[LBF_MAX_POOLS][LBF_NAME_MAX + 1];
        int n = 0;
        const char *pn;
        for (int i = -1; i < cfg->n_pools + cfg->n_targets; i++) {
            pn = i < 0              ? LBF_DEFAULT_POOL
                 : i < cfg->n_pools ? cfg->pools[i].name
                                    : cfg->targets[i - cfg->n_pools].pool;
            int seen = 0;
            for (int k = 0; k < n && !seen; k++)
                seen = strcmp(names[k], pn) == 0;
            if (seen)
                continue;
            if (n >= LBF_MAX_POOLS)
                return fail(err, "too many pools (at most %d)", LBF_MAX_POOLS);
            lbf_strlcpy(names[n++], pn, sizeof(names[0]));
        }
    }
    if (cfg->n_routes && cfg->sni_timeout_ms == 0)
        return fail(err, "sni_timeout must be above zero");
    for (int i = 0; i < cfg->n_targets; i++) {
        const struct lbf_target_conf *t = &cfg->targets[i];
        if (t->addr.len == 0)
            return fail(err, "target '%s' has no address", t->name);
        for (int l = 0; l < cfg->n_listen; l++)
            if (lbf_addr_reaches(&t->addr, &cfg->listen[l]))
                return fail(err, "target '%s' at %s is lbfwd's own listener %s", t->name,
                            t->addr.text, cfg->listen[l].text);
        for (int l = 0; l < cfg->n_udp_listen; l++)
            if (lbf_addr_reaches(&t->addr, &cfg->udp_listen[l]))
                return fail(err, "target '%s' at %s is lbfwd's own listener udp:%s", t->name,
                            t->addr.text, cfg->udp_listen[l].text);
        if (cfg->admin_set && lbf_addr_reaches(&t->addr, &cfg->admin))
            return fail(err, "target '%s' at %s is lbfwd's own admin address %s", t->name,
                        t->addr.text, cfg->admin.text);
    }
    return 0;
}

/* Reads the admin bearer token: one line of 16 to LBF_TOKEN_MAX printable characters (a final
 * newline is not part of it). */
static int read_token(struct lbf_config *cfg, struct lbf_cfg_error *err)
{
    FILE *f = fopen(cfg->admin_token_file, "re");
    if (!f)
        return fail(err, "admin_token_file %s: %s", cfg->admin_token_file, strerror(errno));
    char buf[LBF_TOKEN_MAX + 3];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    if (n < 16 || n > LBF_TOKEN_MAX)
        return fail(err, "admin_token_file %s: the token must be 16 to %d characters",
                    cfg->admin_token_file, LBF_TOKEN_MAX);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)buf[i] <= ' ' || (unsigned char)buf[i] >= 0x7f)
            return fail(err, "admin_token_file %s: the token must be printable ASCII",
                        cfg->admin_token_file);
    memcpy(cfg->admin_token, buf, n + 1);
    return 0;
}

/* ---- command line -------------------------------------------------------------------------- */
/* A flag spelled NAME (dashes) that is a boolean setting: it may stand alone or as --no-NAME. */
static int is_bool_flag(const char *name)
{
    char key[64];
    const struct setting *s = canon_key(name, key, sizeof(key)) == 0 ? find_setting(key) : NULL;
    return s && s->set == set_bool;
}

/* Walks the flags: pass 0 reads the control flags, pass 1 applies settings. */
static int walk_flags(struct lbf_config *cfg, int argc, char **argv, struct lbf_cli *cli, int pass,
                      const char **config_path, struct lbf_cfg_error *err)
{
    int cleared_listen = 0, cleared_cidrs = 0, cleared_hosts = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        char name[64];
        const char *value = NULL;
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            snprintf(err->where, sizeof(err->where), "%s", a);
            return fail(err, "unexpected argument (settings are --name VALUE)");
        }
        const char *eq = strchr(a + 2, '=');
        size_t n = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);
        if (copy_token(name, sizeof(name), a + 2, n) != 0) {
            snprintf(err->where, sizeof(err->where), "%.60s", a);
            return fail(err, "unknown option");
        }
        snprintf(err->where, sizeof(err->where), "--%s", name);
        if (eq)
            value = eq + 1;
        if (strcmp(name, "help") == 0 || strcmp(name, "version") == 0 ||
            strcmp(name, "check-config") == 0 || strcmp(name, "demo") == 0) {
            if (value)
                return fail(err, "takes no value");
            if (pass == 0) {
                if (name[0] == 'h')
                    cli->help = 1;
                else if (name[0] == 'v')
                    cli->version = 1;
                else if (name[0] == 'c')
                    cli->check_config = 1;
                else
                    cli->demo = 1;
            }
            continue;
        }
        if (strncmp(name, "no-", 3) == 0 && is_bool_flag(name + 3) && !value) {
            if (pass == 1 && lbf_config_set(cfg, name + 3, "no", 0, err) != 0)
                return -1;
            continue;
        }
        if (!value) {
            if (is_bool_flag(name)) {
                value = "yes";
            } else {
                if (i + 1 >= argc)
                    return fail(err, "needs a value");
                value = argv[++i];
            }
        }
        if (strcmp(name, "config") == 0) {
            if (pass == 0)
                *config_path = value;
            continue;
        }
        if (pass == 0)
            continue;
        if (strcmp(name, "listen") == 0 && !cleared_listen) {
            cfg->n_listen = 0;
            cfg->n_udp_listen = 0;
            cleared_listen = 1;
        }
        if (strcmp(name, "accept-proxy") == 0 && !cleared_cidrs) {
            cfg->n_accept_proxy = 0;
            cleared_cidrs = 1;
        }
        if (strcmp(name, "admin-host") == 0 && !cleared_hosts) {
            cfg->n_admin_hosts = 0;
            cleared_hosts = 1;
        }
        if (strchr(name, '_')) /* flags are spelled with dashes */
            return fail(err, "unknown option");
        if (lbf_config_set(cfg, name, value, 0, err) != 0)
            return -1;
    }
    return 0;
}

int lbf_config_load(struct lbf_config *cfg, int argc, char **argv, struct lbf_cli *cli,
                    struct lbf_cfg_error *err)
{
    const char *path = NULL;
    memset(cli, 0, sizeof(*cli));
    memset(err, 0, sizeof(*err));
    lbf_config_init(cfg);
    if (walk_flags(cfg, argc, argv, cli, 0, &path, err) != 0)
        return -1;
    if (cli->help || cli->version)
        return 1;
    if (path) {
        if (strlen(path) >= sizeof(cfg->config_file)) {
            snprintf(err->where, sizeof(err->where), "--config");
            return fail(err, "path too long");
        }
        if (lbf_config_parse_file(cfg, path, err) != 0)
            return -1;
        lbf_strlcpy(cfg->config_file, path, sizeof(cfg->config_file));
    }
    if (walk_flags(cfg, argc, argv, cli, 1, &path, err) != 0)
        return -1;
    if (cli->demo)
        return 0;
    if (lbf_config_validate(cfg, err) != 0 ||
        (cfg->admin_token_file[0] && read_token(cfg, err) != 0)) {
        snprintf(err->where, sizeof(err->where), "%s", path ? path : "configuration");
        return -1;
    }
    return 0;
}

/* (two strings: C11 promises string literals of 4,095 characters only) */
void lbf_usage(FILE *out)
{
    fputs("usage: lbfwd [--config FILE] [--listen ADDR:PORT]... [--target "
          "NAME=ADDR:PORT[,weight=W][,zone=Z][,maxconn=N][,check_port=P][,pool=POOL]]...\n"
          "             [options]\n"
          "       lbfwd --check-config [--config FILE] [options]\n"
          "       lbfwd --demo\n"
          "\n"
          "Listening and workers:\n"
          "  --listen ADDR:PORT          listen address, IPv4 or [IPv6] (repeatable)\n"
          "  --listen udp:ADDR:PORT[,pool=default]\n"
          "                              a UDP listener (flows: see --udp-idle-timeout)\n"
          "  --udp-idle-timeout D (30s)  a UDP flow ends after D without a datagram\n"
          "  --udp-responses N           a UDP flow ends after N replies (0: no limit; 1 "
          "suits DNS)\n"
          "  --udp-flows N               UDP flows per worker, least recently used evicted "
          "(65536)\n"
          "  --udp-max-datagram B        larger datagrams are dropped (65507)\n"
          "  --udp-rcvbuf B              receive buffer of each UDP listener socket (0: the\n"
          "                              system's net.core.rmem_default)\n",
          out);
    fputs("  --workers N                 worker threads (default: one per core)\n"
          "  --max-conns N               connections at once (default: no limit)\n"
          "  --splice / --no-splice      zero-copy forwarding with splice(2) (default on)\n"
          "  --smart-connect / --no-smart-connect\n"
          "                              the first bytes carry the handshake ACK (default on)\n"
          "  --smart-accept / --no-smart-accept\n"
          "                              the first answer carries the ACK of the client's first\n"
          "                              bytes (default on)\n"
          "Selection (liblb balancer):\n"
          "  --algorithm A               maglev (default), ring, ring-bounded, wrr, leastconn, "
          "p2c, rendezvous\n"
          "  --affinity source|none      hash the client address only (stickiness)\n"
          "  --table-size P              Maglev table size, a prime (default 65537)\n"
          "  --seed S                    hash seed (decimal or 0x hex)\n"
          "  --zone Z                    this instance's zone; --zone-mode "
          "all|local|aware|affinity\n"
          "  --retries N                 connect retries on other targets (default 2)\n"
          "  --slow-start D              ramp new targets up over D (default off)\n"
          "  --eject-after N             eject a target after N failed connects (default off);\n"
          "  --max-eject-percent P       at most P % of the targets ejected at once (10)\n"
          "  --fail-closed               no healthy target: refuse (default: fail open)\n"
          "Target groups and SNI routes:\n"
          "  --route PATTERN=POOL        route TLS connections by their ClientHello's server\n"
          "                              name: a host name, *.suffix, * or none (no name, or\n"
          "                              not TLS); the longest match wins; no match: closed\n"
          "                              (repeatable; [pool NAME] sections set algorithm,\n"
          "                              affinity, table_size, seed, check, check_interval,\n"
          "                              check_timeout per pool)\n"
          "  --sni-timeout D (5s)        time to read a whole ClientHello\n"
          "Timeouts (250ms, 2s, 5m; bare numbers are seconds):\n"
          "  --connect-timeout D (2s)  --idle-timeout D (5m)  --half-closed-timeout D (30s)\n"
          "  --proxy-timeout D (3s)    --drain-timeout D (300s)\n"
          "  --announce-delay D (0)    at SIGTERM, /ready answers 503 for D before the "
          "listeners close\n"
          "PROXY protocol:\n"
          "  --send-proxy v1|v2|none     header toward targets; --send-proxy-crc32c (v2)\n"
          "  --accept-proxy CIDR[,CIDR]  sources that must send a header (others must not)\n"
          "Health checks:\n"
          "  --check tcp|http:/PATH|none (default tcp)  --check-interval D (2s)\n"
          "  --check-timeout D (1s)  --rise N (2)  --fall N (3)\n"
          "Operation:\n"
          "  --admin ADDR:PORT           admin/metrics HTTP (loopback unless "
          "--admin-allow-remote)\n"
          "  --admin-token-file FILE     bearer token every mutating admin call needs\n"
          "                              (required with --admin-allow-remote)\n"
          "  --admin-host NAME[:PORT]    a further Host the admin API answers to\n"
          "  --log FILE                  access and event log (default stderr; SIGUSR1 "
          "reopens)\n"
          "  --no-access-log             no line per connection\n"
          "  --ready-file FILE           written once listening (JSON: pid, listen, admin)\n"
          "  --user USER                 drop privileges after binding\n"
          "  --check-config              validate the configuration and exit (2 when bad)\n"
          "  --demo                      play the load-balancing lab on loopback\n"
          "Signals: SIGTERM drains then exits 0; SIGHUP reloads --config; SIGUSR1 reopens the "
          "log.\n",
          out);
}
