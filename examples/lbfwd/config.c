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

#include "lb/maglev.h"
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
    cfg->zone_mode = LB_ZONE_MODE_ALL;
    cfg->connect_timeout_ms = 2000;
    cfg->idle_timeout_ms = 300000;
    cfg->half_closed_timeout_ms = 30000;
    cfg->proxy_timeout_ms = 3000;
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
        return parse_ip_addr(value, &t->addr, msg, cap);
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
    snprintf(msg, cap, "unknown target option '%s'", key);
    return -1;
}

static void target_defaults(struct lbf_target_conf *t)
{
    memset(t, 0, sizeof(*t));
    t->weight = 1;
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
    if (!lbf_valid_name(buf))
        return snprintf(msg, cap, "bad target name '%s' ([A-Za-z0-9._-], 1..64)", buf), -1;
    lbf_strlcpy(out->name, buf, sizeof(out->name));
    char *rest = eq + 1;
    char *save = NULL;
    int first = 1;
    for (char *tok = strtok_r(rest, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (first) {
            first = 0;
            if (parse_ip_addr(tok, &out->addr, msg, cap) != 0)
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

static int set_duration(uint32_t *dst, const char *key, const char *value,
                        struct lbf_cfg_error *err)
{
    if (lbf_parse_duration(value, dst) != 0)
        return fail(err,
                    "bad duration for %s: '%s' (e.g. 250ms, 2s, 5m; bare numbers are "
                    "seconds; at most 24h)",
                    key, value);
    return 0;
}

int lbf_config_set(struct lbf_config *cfg, const char *rawkey, const char *value, int line,
                   struct lbf_cfg_error *err)
{
    char key[64];
    char msg[256];
    uint32_t u;
    if (!value)
        value = "";
    if (canon_key(rawkey, key, sizeof(key)) != 0)
        return fail(err, "unknown setting '%s'", rawkey);

    if (strcmp(key, "listen") == 0) {
        if (cfg->n_listen >= LBF_MAX_LISTEN)
            return fail(err, "too many listen addresses (at most %d)", LBF_MAX_LISTEN);
        if (parse_ip_addr(value, &cfg->listen[cfg->n_listen], msg, sizeof(msg)) != 0)
            return fail(err, "%s", msg);
        cfg->n_listen++;
        return 0;
    }
    if (strcmp(key, "target") == 0) {
        struct lbf_target_conf t;
        if (lbf_parse_target_spec(value, &t, msg, sizeof(msg)) != 0)
            return fail(err, "%s", msg);
        t.line = line;
        return lbf_config_add_target(cfg, &t, err);
    }
    if (strcmp(key, "workers") == 0) {
        if (lbf_parse_u32(value, 256, &u) != 0)
            return fail(err, "bad workers '%s' (0..256; 0 is one per core)", value);
        cfg->workers = (int)u;
        return 0;
    }
    if (strcmp(key, "algorithm") == 0) {
        if (parse_algorithm(value, &cfg->algorithm) != 0)
            return fail(err,
                        "unknown algorithm '%s' (maglev, ring, ring-bounded, wrr, leastconn, "
                        "p2c, rendezvous)",
                        value);
        return 0;
    }
    if (strcmp(key, "affinity") == 0) {
        if (strcmp(value, "source") == 0)
            cfg->affinity_source = 1;
        else if (strcmp(value, "none") == 0 || strcmp(value, "flow") == 0)
            cfg->affinity_source = 0;
        else
            return fail(err, "bad affinity '%s' (source or none)", value);
        return 0;
    }
    if (strcmp(key, "table_size") == 0) {
        snprintf(msg, sizeof(msg), "out of range");
        if (lbf_parse_u32(value, LB_MAGLEV_MAX_SIZE, &u) != 0 ||
            check_table_size(u, msg, sizeof(msg)) != 0)
            return fail(err, "bad table_size '%s': %s (a prime from 2 to %u)", value, msg,
                        LB_MAGLEV_MAX_SIZE);
        cfg->table_size = u;
        return 0;
    }
    if (strcmp(key, "seed") == 0) {
        if (parse_u64(value, &cfg->seed) != 0)
            return fail(err, "bad seed '%s' (decimal or 0x hex, 64 bits)", value);
        return 0;
    }
    if (strcmp(key, "zone") == 0) {
        if (!lbf_valid_name(value))
            return fail(err, "bad zone name '%s' ([A-Za-z0-9._-], 1..64)", value);
        lbf_strlcpy(cfg->zone, value, sizeof(cfg->zone));
        return 0;
    }
    if (strcmp(key, "zone_mode") == 0) {
        if (parse_zone_mode(value, &cfg->zone_mode) != 0)
            return fail(err, "bad zone_mode '%s' (all, local, aware, affinity)", value);
        return 0;
    }
    if (strcmp(key, "max_conns") == 0) {
        if (lbf_parse_u32(value, 10000000, &cfg->max_conns) != 0)
            return fail(err, "bad max_conns '%s' (0..10000000; 0 is no limit)", value);
        return 0;
    }
    if (strcmp(key, "connect_timeout") == 0)
        return set_duration(&cfg->connect_timeout_ms, key, value, err);
    if (strcmp(key, "idle_timeout") == 0)
        return set_duration(&cfg->idle_timeout_ms, key, value, err);
    if (strcmp(key, "half_closed_timeout") == 0)
        return set_duration(&cfg->half_closed_timeout_ms, key, value, err);
    if (strcmp(key, "proxy_timeout") == 0)
        return set_duration(&cfg->proxy_timeout_ms, key, value, err);
    if (strcmp(key, "drain_timeout") == 0) {
        if (set_duration(&cfg->drain_timeout_ms, key, value, err) != 0)
            return -1;
        if (cfg->drain_timeout_ms > 3600000)
            return fail(err, "drain_timeout '%s' above 60m", value);
        return 0;
    }
    if (strcmp(key, "slow_start") == 0) {
        if (set_duration(&cfg->slow_start_ms, key, value, err) != 0)
            return -1;
        if (cfg->slow_start_ms > 3600000)
            return fail(err, "slow_start '%s' above 60m", value);
        return 0;
    }
    if (strcmp(key, "max_eject_percent") == 0) {
        if (lbf_parse_u32(value, 100, &cfg->max_eject_percent) != 0 || cfg->max_eject_percent == 0)
            return fail(err, "bad max_eject_percent '%s' (1..100)", value);
        return 0;
    }
    if (strcmp(key, "eject_after") == 0) {
        if (lbf_parse_u32(value, 1000, &cfg->eject_after) != 0)
            return fail(err, "bad eject_after '%s' (0..1000; 0 is off)", value);
        return 0;
    }
    if (strcmp(key, "check_interval") == 0)
        return set_duration(&cfg->check_interval_ms, key, value, err);
    if (strcmp(key, "check_timeout") == 0)
        return set_duration(&cfg->check_timeout_ms, key, value, err);
    if (strcmp(key, "retries") == 0) {
        if (lbf_parse_u32(value, LBF_MAX_RETRIES, &cfg->retries) != 0)
            return fail(err, "bad retries '%s' (0..%d)", value, LBF_MAX_RETRIES);
        return 0;
    }
    if (strcmp(key, "rise") == 0 || strcmp(key, "fall") == 0) {
        if (lbf_parse_u32(value, 100, &u) != 0 || u == 0)
            return fail(err, "bad %s '%s' (1..100)", key, value);
        *(key[0] == 'r' ? &cfg->rise : &cfg->fall) = u;
        return 0;
    }
    if (strcmp(key, "send_proxy") == 0) {
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
    if (strcmp(key, "accept_proxy") == 0)
        return parse_cidr_list(cfg, value, err);
    if (strcmp(key, "check") == 0) {
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
    if (strcmp(key, "admin") == 0) {
        if (parse_ip_addr(value, &cfg->admin, msg, sizeof(msg)) != 0)
            return fail(err, "%s", msg);
        cfg->admin_set = 1;
        return 0;
    }
    if (strcmp(key, "log") == 0 || strcmp(key, "ready_file") == 0) {
        char *dst = key[0] == 'l' ? cfg->log_path : cfg->ready_file;
        if (strlen(value) >= LBF_PATH_MAX || !*value)
            return fail(err, "bad %s path", key);
        lbf_strlcpy(dst, value, LBF_PATH_MAX);
        return 0;
    }
    if (strcmp(key, "user") == 0) {
        if (!*value || strlen(value) > LBF_NAME_MAX)
            return fail(err, "bad user '%s'", value);
        lbf_strlcpy(cfg->user, value, sizeof(cfg->user));
        return 0;
    }
    int *flag = strcmp(key, "send_proxy_crc32c") == 0    ? &cfg->send_proxy_crc32c
                : strcmp(key, "fail_closed") == 0        ? &cfg->fail_closed
                : strcmp(key, "admin_allow_remote") == 0 ? &cfg->admin_allow_remote
                : strcmp(key, "access_log") == 0         ? &cfg->access_log
                : strcmp(key, "splice") == 0             ? &cfg->splice
                : strcmp(key, "smart_connect") == 0      ? &cfg->smart_connect
                : strcmp(key, "smart_accept") == 0       ? &cfg->smart_accept
                                                         : NULL;
    if (flag) {
        if (parse_bool(value, flag) != 0)
            return fail(err, "bad boolean for %s: '%s' (yes/no, on/off, true/false, 1/0)", key,
                        value);
        return 0;
    }
    return fail(err, "unknown setting '%s'", rawkey);
}

int lbf_config_set_target_key(struct lbf_config *cfg, const char *name, const char *key,
                              const char *value, int line, struct lbf_cfg_error *err)
{
    /* `line` is where the [target NAME] section starts (for "no addr" errors) */
    char msg[256];
    struct lbf_target_conf *t = lbf_config_find_target(cfg, name);
    if (!t) {
        struct lbf_target_conf nt;
        if (!lbf_valid_name(name))
            return fail(err, "bad target name '%s' ([A-Za-z0-9._-], 1..64)", name);
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

/* ---- INI file ------------------------------------------------------------------------------ */
struct ini_ctx {
    struct lbf_config *cfg;
    struct lbf_cfg_error *err;
    const char *pos;
    int line;
    int err_line;
    int section_line;
    int too_long;
    char section_target[LBF_NAME_MAX + 2];
    char last_section[128];
};

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
    const char *p = str;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '[')
        c->section_line = c->line;
    return str;
}

static int ini_handler_fn(void *user, const char *section, const char *name, const char *value)
{
    struct ini_ctx *c = user;
    if (c->err_line)
        return 0;
    int rc;
    if (section[0] == '\0' || strcmp(section, "lbfwd") == 0) {
        rc = lbf_config_set(c->cfg, name, value, c->line, c->err);
    } else if (strncmp(section, "target ", 7) == 0) {
        const char *tn = section + 7;
        while (*tn == ' ')
            tn++;
        rc = lbf_config_set_target_key(c->cfg, tn, name, value, c->section_line, c->err);
    } else {
        rc = fail(c->err, "unknown section [%s] (expected [lbfwd] or [target NAME])", section);
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

static int is_loopback(const struct lbf_addr *a)
{
    if (a->ss.ss_family == AF_INET) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)&a->ss;
        return (ntohl(s->sin_addr.s_addr) >> 24) == 127;
    }
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&a->ss;
    return IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr);
}

int lbf_config_validate(const struct lbf_config *cfg, struct lbf_cfg_error *err)
{
    if (cfg->n_listen == 0)
        return fail(err, "no listen address (--listen ADDR:PORT or listen = in [lbfwd])");
    for (int i = 0; i < cfg->n_listen; i++)
        for (int j = 0; j < i; j++)
            if (cfg->listen[i].len == cfg->listen[j].len &&
                memcmp(&cfg->listen[i].ss, &cfg->listen[j].ss, cfg->listen[i].len) == 0)
                return fail(err, "listen address %s given twice", cfg->listen[i].text);
    if (cfg->admin_set && !cfg->admin_allow_remote && !is_loopback(&cfg->admin))
        return fail(err, "admin address %s is not loopback (needs admin_allow_remote)",
                    cfg->admin.text);
    if (cfg->send_proxy_crc32c && cfg->send_proxy != 2)
        return fail(err, "send_proxy_crc32c needs send_proxy v2");
    if (cfg->check_timeout_ms == 0 || cfg->check_interval_ms == 0)
        return fail(err, "check_interval and check_timeout must be above zero");
    if (cfg->connect_timeout_ms == 0 || cfg->proxy_timeout_ms == 0)
        return fail(err, "connect_timeout and proxy_timeout must be above zero");
    for (int i = 0; i < cfg->n_targets; i++)
        if (cfg->targets[i].addr.len == 0)
            return fail(err, "target '%s' has no address", cfg->targets[i].name);
    return 0;
}

/* ---- command line -------------------------------------------------------------------------- */
static const char *const bool_flags[] = {"send-proxy-crc32c", "admin-allow-remote", "access-log",
                                         "splice", "fail-closed", "smart-connect",
                                         "smart-accept"};

static int is_bool_flag(const char *name)
{
    for (size_t i = 0; i < sizeof(bool_flags) / sizeof(bool_flags[0]); i++)
        if (strcmp(name, bool_flags[i]) == 0)
            return 1;
    return 0;
}

/* Walks the flags: pass 0 reads the control flags, pass 1 applies settings. */
static int walk_flags(struct lbf_config *cfg, int argc, char **argv, struct lbf_cli *cli, int pass,
                      const char **config_path, struct lbf_cfg_error *err)
{
    int cleared_listen = 0, cleared_cidrs = 0;
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
            cleared_listen = 1;
        }
        if (strcmp(name, "accept-proxy") == 0 && !cleared_cidrs) {
            cfg->n_accept_proxy = 0;
            cleared_cidrs = 1;
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
    if (lbf_config_validate(cfg, err) != 0) {
        snprintf(err->where, sizeof(err->where), "%s", path ? path : "configuration");
        return -1;
    }
    return 0;
}

const char *lbf_usage_text(void)
{
    return "usage: lbfwd [--config FILE] [--listen ADDR:PORT]... [--target "
           "NAME=ADDR:PORT[,weight=W][,zone=Z][,maxconn=N][,check_port=P]]...\n"
           "             [options]\n"
           "       lbfwd --check-config [--config FILE] [options]\n"
           "       lbfwd --demo\n"
           "\n"
           "Listening and workers:\n"
           "  --listen ADDR:PORT          listen address, IPv4 or [IPv6] (repeatable)\n"
           "  --workers N                 worker threads (default: one per core)\n"
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
           "Timeouts (250ms, 2s, 5m; bare numbers are seconds):\n"
           "  --connect-timeout D (2s)  --idle-timeout D (5m)  --half-closed-timeout D (30s)\n"
           "  --proxy-timeout D (3s)    --drain-timeout D (300s)\n"
           "PROXY protocol:\n"
           "  --send-proxy v1|v2|none     header toward targets; --send-proxy-crc32c (v2)\n"
           "  --accept-proxy CIDR[,CIDR]  sources that must send a header (others must not)\n"
           "Health checks:\n"
           "  --check tcp|http:/PATH|none (default tcp)  --check-interval D (2s)\n"
           "  --check-timeout D (1s)  --rise N (2)  --fall N (3)\n"
           "Operation:\n"
           "  --admin ADDR:PORT           admin/metrics HTTP (loopback unless "
           "--admin-allow-remote)\n"
           "  --log FILE                  access and event log (default stderr; SIGUSR1 "
           "reopens)\n"
           "  --no-access-log             no line per connection\n"
           "  --ready-file FILE           written once listening (JSON: pid, listen, admin)\n"
           "  --user USER                 drop privileges after binding\n"
           "  --check-config              validate the configuration and exit (2 when bad)\n"
           "  --demo                      play the load-balancing lab on loopback\n"
           "Signals: SIGTERM drains then exits 0; SIGHUP reloads --config; SIGUSR1 reopens the "
           "log.\n";
}
