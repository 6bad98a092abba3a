/* lbfwd: the reference epoll L4 forwarder built on liblb's public API.
 *
 * Threads: the main thread is the control loop (signals, health checks, balancer ticks,
 * reloads); each worker runs its own epoll loop with its own SO_REUSEPORT listeners; the admin
 * HTTP server runs in libmicrohttpd's thread. Workers read target records through an array of
 * atomic pointers. A connection holds its target's id (and counts itself in the record's
 * `holders`); a removed target's record is freed, and its id reused, only once the balancer has
 * reported it gone, no connection holds it and every worker has begun a new turn since (see
 * lbf_targets_reclaim()), so a worker holding an id can always read its record. */
#ifndef LBFWD_H
#define LBFWD_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "lb/addr.h"
#include "lb/balancer.h"

/* ---- limits ------------------------------------------------------------------------------ */
#define LBF_NAME_MAX        64 /* target and zone names: [A-Za-z0-9._-]{1,64} */
#define LBF_MAX_LISTEN      16
#define LBF_MAX_CIDRS       64
#define LBF_MAX_TARGETS     4096  /* registered at once (the balancer's max_targets) */
#define LBF_MAX_IDS         65536 /* records at once (live, draining, gone but not yet freed) */
#define LBF_REMOVED_KEEP    1000  /* removed targets still listed as `removed` ... */
#define LBF_REMOVED_KEEP_MS 60000 /* ... for at most this long */
#define LBF_TARGETS_LISTED  (2 * LBF_MAX_TARGETS + LBF_REMOVED_KEEP) /* /targets at most */
#define LBF_NAME_BUCKETS    8192 /* name index buckets (a power of two) */
#define LBF_MAX_ZONES       64
#define LBF_PATH_MAX        512
#define LBF_CHECK_PATH_MAX  256
#define LBF_MAX_RETRIES     8
#define LBF_DURATION_MAX_MS (24u * 3600u * 1000u)
#define LBF_MAX_ADMIN_HOSTS 8   /* admin_host names */
#define LBF_HOST_MAX        255 /* one admin_host name */
#define LBF_TOKEN_MAX       256 /* the admin bearer token's bytes */
#define LBF_MAX_POOLS       32  /* target groups, "default" included */
#define LBF_MAX_ROUTES      64  /* SNI routes ("none" included) */
#define LBF_ROUTE_STATS     256 /* route counters kept over reloads (distinct patterns) */
#define LBF_PATTERN_MAX     253 /* a route's pattern: a host name (LB_TLS_HOST_MAX) */
#define LBF_DEFAULT_POOL    "default"

/* ---- configuration (config.c) ------------------------------------------------------------ */
enum lbf_check_kind { LBF_CHECK_NONE = 0, LBF_CHECK_TCP = 1, LBF_CHECK_HTTP = 2 };

struct lbf_addr {
    struct sockaddr_storage ss;
    socklen_t len;
    char text[LB_ADDR_TEXT_MAX];
};

struct lbf_target_conf {
    char name[LBF_NAME_MAX + 1];
    char zone[LBF_NAME_MAX + 1];
    struct lbf_addr addr;
    uint32_t weight;
    uint32_t maxconn;
    uint32_t check_port; /* 0: the target's own port */
    char pool[LBF_NAME_MAX + 1]; /* its target group ("default") */
    int line;            /* where it was defined (0: command line or admin) */
};

/* A [pool NAME] section: the settings it gives; the others follow [lbfwd]'s. */
enum {
    LBF_PSET_ALGORITHM = 1,
    LBF_PSET_AFFINITY = 2,
    LBF_PSET_TABLE_SIZE = 4,
    LBF_PSET_SEED = 8,
    LBF_PSET_CHECK = 16,
    LBF_PSET_CHECK_INTERVAL = 32,
    LBF_PSET_CHECK_TIMEOUT = 64
};
struct lbf_pool_conf {
    char name[LBF_NAME_MAX + 1];
    unsigned set; /* LBF_PSET_* */
    uint32_t algorithm;
    int affinity_source;
    uint32_t table_size;
    uint64_t seed;
    int check_kind;
    char check_path[LBF_CHECK_PATH_MAX];
    uint32_t check_interval_ms;
    uint32_t check_timeout_ms;
};

/* `route = PATTERN=POOL`: PATTERN a host name, *.suffix, * or none. */
struct lbf_route_conf {
    char pattern[LBF_PATTERN_MAX + 1];
    char pool[LBF_NAME_MAX + 1];
};

struct lbf_config {
    struct lbf_addr listen[LBF_MAX_LISTEN];
    int n_listen;
    struct lbf_addr udp_listen[LBF_MAX_LISTEN]; /* `udp:ADDR:PORT` listeners (udp.c) */
    char udp_pool[LBF_MAX_LISTEN][LBF_NAME_MAX + 1]; /* each one's pool (`,pool=`) */
    int n_udp_listen;
    uint32_t udp_idle_timeout_ms; /* a flow ends after this long without a datagram */
    uint32_t udp_responses;       /* 0: no limit; else a flow ends after this many replies */
    uint32_t udp_flows;           /* flow table capacity per worker */
    uint32_t udp_max_datagram;    /* larger datagrams are dropped (and counted) */
    uint32_t udp_rcvbuf;          /* SO_RCVBUF of each UDP listener socket; 0: the system's */
    int workers; /* 0: one per core */
    uint32_t algorithm;
    int affinity_source;
    uint32_t table_size;
    uint64_t seed;
    char zone[LBF_NAME_MAX + 1];
    uint32_t zone_mode;
    uint32_t max_conns; /* 0: no limit */
    uint32_t connect_timeout_ms;
    uint32_t idle_timeout_ms;
    uint32_t half_closed_timeout_ms;
    uint32_t proxy_timeout_ms;
    uint32_t drain_timeout_ms;
    uint32_t announce_delay_ms; /* SIGTERM: /ready 503 this long before the listeners close */
    uint32_t slow_start_ms;
    uint32_t eject_after;
    uint32_t max_eject_percent;
    int fail_closed;
    uint32_t retries;
    int send_proxy; /* 0 none, 1 v1, 2 v2 */
    int send_proxy_crc32c;
    lb_cidr accept_proxy[LBF_MAX_CIDRS];
    int n_accept_proxy;
    int check_kind;
    char check_path[LBF_CHECK_PATH_MAX];
    uint32_t check_interval_ms;
    uint32_t check_timeout_ms;
    uint32_t rise;
    uint32_t fall;
    int admin_set;
    struct lbf_addr admin;
    int admin_allow_remote;
    char admin_token_file[LBF_PATH_MAX]; /* the bearer token mutating admin calls need */
    char admin_token[LBF_TOKEN_MAX + 1]; /* its contents (read by lbf_config_load()) */
    char admin_hosts[LBF_MAX_ADMIN_HOSTS][LBF_HOST_MAX + 1]; /* more names for Host */
    int n_admin_hosts;
    char log_path[LBF_PATH_MAX];
    int access_log;
    char user[LBF_NAME_MAX + 1];
    char ready_file[LBF_PATH_MAX];
    int splice;
    int smart_connect; /* delay the handshake ACK toward targets until the first bytes */
    int smart_accept;  /* delay the ACK of a client's first bytes until the answer */
    struct lbf_pool_conf pools[LBF_MAX_POOLS]; /* [pool NAME] sections */
    int n_pools;
    struct lbf_route_conf routes[LBF_MAX_ROUTES];
    int n_routes;
    uint32_t sni_timeout_ms;
    struct lbf_target_conf *targets;
    int n_targets;
    int cap_targets;
    char config_file[LBF_PATH_MAX];
};

/* Where a configuration error is and why. */
struct lbf_cfg_error {
    char where[LBF_PATH_MAX + 32]; /* "FILE:LINE" or "--flag" */
    char msg[256];
};

void lbf_config_init(struct lbf_config *cfg);
void lbf_config_free(struct lbf_config *cfg);
/* Sets one setting by its name (file key or flag without "--", '-' or '_'). 0 or -1 with
 * err->msg set. `line` is recorded on targets. */
int lbf_config_set(struct lbf_config *cfg, const char *key, const char *value, int line,
                   struct lbf_cfg_error *err);
/* Sets a key of a `[target NAME]` section. */
int lbf_config_set_target_key(struct lbf_config *cfg, const char *name, const char *key,
                              const char *value, int line, struct lbf_cfg_error *err);
/* Sets a key of a `[pool NAME]` section. */
int lbf_config_set_pool_key(struct lbf_config *cfg, const char *name, const char *key,
                            const char *value, struct lbf_cfg_error *err);
/* A pool's settings: its section's, the others [lbfwd]'s (every field of `out` is set). */
void lbf_config_pool(const struct lbf_config *cfg, const char *name, struct lbf_pool_conf *out);
/* Parses the text of a configuration file (NUL-terminated); `file` names it in errors. */
int lbf_config_parse_text(struct lbf_config *cfg, const char *text, const char *file,
                          struct lbf_cfg_error *err);
/* Reads and parses a configuration file. */
int lbf_config_parse_file(struct lbf_config *cfg, const char *path, struct lbf_cfg_error *err);
/* Checks the whole configuration (after file and flags). */
int lbf_config_validate(const struct lbf_config *cfg, struct lbf_cfg_error *err);
/* Parses "NAME=ADDR:PORT[,weight=W][,zone=Z][,maxconn=N][,check_port=P]". */
int lbf_parse_target_spec(const char *spec, struct lbf_target_conf *out, char *msg, size_t cap);
/* Durations: "250ms", "2s", "5m", "3" (seconds). */
int lbf_parse_duration(const char *s, uint32_t *ms);
int lbf_parse_u32(const char *s, uint32_t max, uint32_t *out);
int lbf_valid_name(const char *s);
/* Addresses: 127.0.0.0/8 or ::1; 0.0.0.0 or ::; the same IP; whether a connection to `target`
 * reaches the socket bound at `own` (same port, and the same IP or `own` a wildcard and
 * `target` loopback; a wildcard `own` also takes the host's other addresses, which only the
 * running lbfwd knows). */
uint16_t lbf_addr_port(const struct lbf_addr *a); /* host order */
int lbf_addr_is_loopback(const struct lbf_addr *a);
int lbf_addr_is_wildcard(const struct lbf_addr *a);
int lbf_addr_same_ip(const struct lbf_addr *a, const struct lbf_addr *b);
int lbf_addr_reaches(const struct lbf_addr *target, const struct lbf_addr *own);
/* A target name: a name as above, or an IP address text with its port ("127.0.0.1:9001",
 * "[::1]:9001"), the way nginx names a peer, so that both use the same Maglev keys. */
int lbf_valid_target_name(const char *s);
/* The message part for a bad target name. */
#define LBF_TARGET_NAME_RULE "[A-Za-z0-9._-], 1..64, or ADDR:PORT"
/* Copies a NUL-terminated string that fits (checked by the caller's validation); truncates
 * otherwise. */
void lbf_strlcpy(char *dst, const char *src, size_t cap);
/* Finds a target by name; NULL when absent. */
struct lbf_target_conf *lbf_config_find_target(struct lbf_config *cfg, const char *name);
int lbf_config_add_target(struct lbf_config *cfg, const struct lbf_target_conf *t,
                          struct lbf_cfg_error *err);
/* Full command line (flags over the file): 0 ok, 1 asked to exit 0 (help/version),
 * -1 error (err set). */
struct lbf_cli {
    int check_config;
    int demo;
    int help;
    int version;
};
int lbf_config_load(struct lbf_config *cfg, int argc, char **argv, struct lbf_cli *cli,
                    struct lbf_cfg_error *err);
void lbf_usage(FILE *out);

/* ---- admin requests (admin_req.c) --------------------------------------------------------- */
enum lbf_admin_action {
    LBF_ADMIN_METRICS = 1,
    LBF_ADMIN_TARGETS,
    LBF_ADMIN_READY,
    LBF_ADMIN_DRAIN,
    LBF_ADMIN_UNDRAIN,
    LBF_ADMIN_WEIGHT,
    LBF_ADMIN_ADD,
    LBF_ADMIN_DELETE
};

struct lbf_kv {
    const char *key;
    const char *value; /* may be NULL ("?flag") */
};

struct lbf_admin_req {
    int action;
    char name[LBF_NAME_MAX + 1];
    uint32_t weight;
    int has_weight;
    char zone[LBF_NAME_MAX + 1];
    char pool[LBF_NAME_MAX + 1]; /* add: an existing pool ("default") */
    struct lbf_addr addr;
};

/* Parses a request: returns 0, or an HTTP status (400, 404 for an unknown path, 405) with
 * `msg` set. Target existence is checked later by the caller. */
int lbf_admin_parse(const char *method, const char *path, const struct lbf_kv *args, size_t n_args,
                    struct lbf_admin_req *out, char *msg, size_t cap);
/* Whether an action changes state (and so needs the bearer token when one is set). */
int lbf_admin_mutates(int action);

/* ---- targets (targets.c) -------------------------------------------------------------------- */
struct lbf_target {
    uint32_t id;
    char name[LBF_NAME_MAX + 1];
    char zone_name[LBF_NAME_MAX + 1];
    uint32_t zone;
    struct lbf_addr addr;
    struct lbf_addr check_addr;
    uint32_t maxconn;
    uint32_t pool; /* index in app->pools: the balancer that holds it */
    _Atomic uint32_t weight;
    _Atomic uint32_t close_gen; /* bumped to close its connections (drain deadline) */
    _Atomic int removing;       /* deleted (admin or reload): drains, then removed */
    _Atomic int gone;           /* LB_EVENT_REMOVED seen */
    _Atomic uint64_t gone_at;
    _Atomic int passive_failing;
    _Atomic uint64_t conns;
    _Atomic uint64_t bytes_in;  /* client to target */
    _Atomic uint64_t bytes_out; /* target to client */
    _Atomic uint64_t connect_failures;
    _Atomic uint64_t checks_ok;
    _Atomic uint64_t checks_failed;
    _Atomic uint64_t udp_flows;         /* UDP flows sent to the target */
    _Atomic uint64_t udp_active;        /* UDP flows on it now */
    _Atomic uint64_t udp_dgrams_in;     /* datagrams client to target */
    _Atomic uint64_t udp_dgrams_out;    /* datagrams target to client */
    _Atomic uint64_t udp_bytes_in;      /* UDP payload bytes client to target */
    _Atomic uint64_t udp_bytes_out;     /* UDP payload bytes target to client */
    _Atomic uint64_t udp_refused;       /* ICMP port unreachable (ECONNREFUSED) */
    _Atomic uint64_t udp_unanswered;    /* flows that ended without a reply */
    _Atomic uint32_t holders; /* connections holding this id (workers) */
    /* registry bookkeeping, under reg.mu */
    struct lbf_target *name_next;  /* name index chain (while not gone) */
    struct lbf_target *grave_next; /* gone, waiting to be freed */
    uint64_t free_epoch;           /* live_epoch bumped for the free (0: not yet) */
    /* health check state: control thread only */
    int chk_fd;
    int chk_phase;
    int chk_graceful;
    uint64_t chk_deadline;
    uint64_t chk_due;
    uint32_t chk_got;
    char chk_buf[16];
};

struct lbf_registry {
    pthread_mutex_t mu;
    _Atomic(struct lbf_target *) *by_id; /* LBF_MAX_IDS slots */
    uint32_t next_id;   /* ids below this have been handed out (the high-water mark) */
    uint32_t *free_ids; /* ids to reuse (a stack of LBF_MAX_IDS) */
    uint32_t n_free;
    uint32_t n_records;               /* records allocated now */
    struct lbf_target **by_name;      /* LBF_NAME_BUCKETS chains of records not gone */
    struct lbf_target *graveyard;     /* gone records waiting to be freed */
    struct lbf_target *removed;       /* LBF_REMOVED_KEEP copies of the last freed records */
    uint32_t removed_head, n_removed; /* ring: the next slot, how many are filled */
    char zones[LBF_MAX_ZONES][LBF_NAME_MAX + 1];
    int n_zones;
};

/* ---- the running forwarder (fwd.c, main.c) ------------------------------------------------ */
struct lbf_stats {
    _Atomic uint64_t accepted;
    _Atomic uint64_t completed;
    _Atomic uint64_t refused_no_target;
    _Atomic uint64_t refused_full;
    _Atomic uint64_t refused_max_conns;
    _Atomic uint64_t refused_emfile;
    _Atomic uint64_t proxy_missing;   /* trusted source without a valid header */
    _Atomic uint64_t proxy_invalid;   /* malformed header from a trusted source */
    _Atomic uint64_t proxy_untrusted; /* a header from an untrusted source */
    _Atomic uint64_t proxy_timeout;
    _Atomic uint64_t connect_failed;
    _Atomic uint64_t connect_timeout;
    _Atomic uint64_t retries;
    _Atomic uint64_t give_up;
    _Atomic uint64_t idle_timeout;
    _Atomic uint64_t half_closed_timeout;
    _Atomic uint64_t resets;
    _Atomic uint64_t drain_closed;
    _Atomic uint64_t bytes_in;
    _Atomic uint64_t bytes_out;
    _Atomic uint64_t active;
    _Atomic uint64_t pipes_created;
    _Atomic uint64_t delack_flushed;  /* smart connect: held ACKs sent with nothing to carry them */
    _Atomic uint64_t cdelack_flushed; /* smart accept: the same toward clients */
    _Atomic uint64_t checks_ok;
    _Atomic uint64_t checks_failed;
    _Atomic uint64_t reloads;
    _Atomic uint64_t reload_failures;
    _Atomic uint64_t sni_unmatched; /* a hello (or none) that no route takes: closed */
    _Atomic uint64_t sni_malformed; /* not a valid ClientHello (nor plainly not TLS) */
    _Atomic uint64_t sni_timeout;   /* no complete hello within sni_timeout */
};

/* A target group: its own balancer. Pools are only added (reload), never removed, so that a
 * worker can index app->pools below app->n_pools at any time. */
struct lbf_pool {
    char name[LBF_NAME_MAX + 1];
    lb_balancer *bal;
    uint32_t algorithm; /* fixed at creation */
    uint32_t table_size;
    uint64_t seed;
    /* health checks (control thread; kind fixed at creation, the rest set again at reload) */
    int check_kind;
    char check_path[LBF_CHECK_PATH_MAX];
    uint32_t check_interval_ms;
    uint32_t check_timeout_ms;
};

/* A route's counter, kept by pattern over reloads. */
struct lbf_route_stat {
    char pattern[LBF_PATTERN_MAX + 1];
    _Atomic uint64_t conns;
};

/* UDP counters (udp.c), per listener and in total (index LBF_MAX_LISTEN). */
struct lbf_udp_stats {
    _Atomic uint64_t flows_created;
    _Atomic uint64_t flows_active;
    _Atomic uint64_t flows_expired;     /* idle for udp_idle_timeout */
    _Atomic uint64_t flows_evicted;     /* the flow table was full */
    _Atomic uint64_t flows_responses;   /* ended after udp_responses replies */
    _Atomic uint64_t flows_refused;     /* ICMP port unreachable from the target */
    _Atomic uint64_t flows_drain_closed; /* drain deadline, target removal, shutdown */
    _Atomic uint64_t dgrams_in;         /* client to target */
    _Atomic uint64_t dgrams_out;        /* target to client */
    _Atomic uint64_t bytes_in;
    _Atomic uint64_t bytes_out;
    _Atomic uint64_t dropped_oversized; /* truncated on receive */
    _Atomic uint64_t dropped_no_target; /* no eligible target */
    _Atomic uint64_t dropped_no_socket; /* no upstream socket (descriptors) */
    _Atomic uint64_t dropped_send;      /* a send failed (buffer full, ...) */
    _Atomic uint64_t dropped_late;      /* from a target after its flow ended (udp_responses) */
};

/* Settings workers read on every connection; replaced whole on reload. */
struct lbf_live {
    uint32_t connect_timeout_ms;
    uint32_t idle_timeout_ms;
    uint32_t half_closed_timeout_ms;
    uint32_t proxy_timeout_ms;
    uint32_t retries;
    uint32_t max_conns;
    int send_proxy;
    int send_proxy_crc32c;
    int access_log;
    lb_cidr accept_proxy[LBF_MAX_CIDRS];
    int n_accept_proxy;
    /* per pool (index in app->pools): flow hashing */
    int pool_affinity[LBF_MAX_POOLS];
    uint64_t pool_seed[LBF_MAX_POOLS];
    /* SNI routes; routing is on when n_routes or none_route >= 0 */
    uint32_t sni_timeout_ms;
    int n_routes;                          /* host patterns (not "none") */
    const char *route_pat[LBF_MAX_ROUTES]; /* -> route_text, for lb_tls_host_match() */
    char route_text[LBF_MAX_ROUTES][LBF_PATTERN_MAX + 1];
    uint8_t route_pool[LBF_MAX_ROUTES + 1]; /* [n_routes]: the none route's */
    uint16_t route_stat[LBF_MAX_ROUTES + 1];
    int none_route; /* n_routes when a `none` route exists, else -1 */
};

struct lbf_worker;

struct lbf_app {
    struct lbf_config cfg;
    struct lbf_pool pools[LBF_MAX_POOLS]; /* [0] is "default" */
    _Atomic int n_pools;
    struct lbf_route_stat route_stats[LBF_ROUTE_STATS];
    _Atomic int n_route_stats;
    struct lbf_registry reg;
    struct lbf_stats st;
    _Atomic(struct lbf_live *) live;
    _Atomic uint64_t live_epoch; /* bumped after each swap of `live` */
    struct lbf_worker *workers;
    int n_workers;
    int listen_fds_first[LBF_MAX_LISTEN]; /* worker 0's listeners (ports known) */
    struct lbf_addr bound[LBF_MAX_LISTEN];
    struct lbf_addr udp_bound[LBF_MAX_LISTEN];
    struct lbf_udp_stats udp_st[LBF_MAX_LISTEN + 1]; /* per UDP listener, then the total */
    _Atomic int stopping; /* SIGTERM: stop accepting */
    _Atomic int listening;
    int log_fd;
    int admin_fd;
    struct lbf_addr admin_bound;
    void *mhd;
    int wake_fd; /* eventfd waking the control loop */
    int argc;
    char **argv;
};

/* main.c */
uint64_t lbf_now_ms(void);
void lbf_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* targets.c */
int lbf_registry_init(struct lbf_registry *r);
void lbf_registry_free(struct lbf_registry *r);
static inline struct lbf_target *lbf_target_get(struct lbf_app *app, uint32_t id)
{
    if (id >= LBF_MAX_IDS)
        return NULL;
    return atomic_load_explicit(&app->reg.by_id[id], memory_order_acquire);
}
/* Looks a live (not removing) target up by name; call with reg.mu held. */
struct lbf_target *lbf_target_by_name(struct lbf_app *app, const char *name, int include_removing);
/* Adds a target to the registry and the balancer (takes reg.mu). 0, or an error code. */
int lbf_target_add(struct lbf_app *app, const struct lbf_target_conf *tc, char *msg, size_t cap);
/* Deletes (drains then removes) a target by name (takes reg.mu). 0, -ENOENT, or an error. */
int lbf_target_delete(struct lbf_app *app, const char *name);
/* Applies a reloaded configuration's targets (make-before-break for changed addresses). */
void lbf_targets_apply(struct lbf_app *app, const struct lbf_config *ncfg);
/* The balancer reported the target gone (LB_EVENT_REMOVED): out of the name index, its checks
 * stopped, queued to be freed. Control thread. */
void lbf_target_gone(struct lbf_app *app, struct lbf_target *t, uint64_t now);
/* Frees gone records no connection holds once every worker has begun a turn after the
 * record's epoch (`min_epoch`: lbf_workers_min_epoch()), and reuses their ids. Control
 * thread. */
void lbf_targets_reclaim(struct lbf_app *app, uint64_t min_epoch);
/* Whether gone records wait to be freed. */
int lbf_targets_reclaim_pending(struct lbf_app *app);
/* The targets /targets and /metrics list: registered ones, gone ones whose name is not back,
 * and copies of the last removals (at most LBF_REMOVED_KEEP, LBF_REMOVED_KEEP_MS old); call
 * with reg.mu held. */
int lbf_targets_visible(struct lbf_app *app, struct lbf_target **out, int cap, uint64_t now);
uint32_t lbf_zone_id(struct lbf_registry *r, const char *name);
struct lbf_live *lbf_live_from_config(struct lbf_app *app, const struct lbf_config *cfg);

/* pools.c: target groups and SNI routes */
/* The index of a pool in app->pools; -1 when there is none of that name. */
int lbf_pool_by_name(struct lbf_app *app, const char *name);
static inline lb_balancer *lbf_bal(struct lbf_app *app, uint32_t pool)
{
    return app->pools[pool].bal;
}
/* Creates the pools a configuration names ("default", [pool] sections, targets' and routes'
 * pools) that do not exist yet; at a reload, says which changed settings need a restart.
 * Control thread. 0, or -1 with msg set. */
int lbf_pools_apply(struct lbf_app *app, const struct lbf_config *cfg, char *msg, size_t cap);
void lbf_pools_free(struct lbf_app *app);
/* Fills a live block's per-pool and route fields (pools exist: lbf_pools_apply() first). */
void lbf_live_routes(struct lbf_app *app, const struct lbf_config *cfg, struct lbf_live *lv);

/* fwd.c */
int lbf_workers_start(struct lbf_app *app);
void lbf_workers_wake(struct lbf_app *app);
void lbf_workers_stop_accepting(struct lbf_app *app);
void lbf_workers_join(struct lbf_app *app);
int lbf_workers_run(struct lbf_app *app);
/* The oldest live_epoch a worker has seen at the start of its current turn. */
uint64_t lbf_workers_min_epoch(struct lbf_app *app);
void lbf_workers_signal_close(struct lbf_app *app);
void lbf_workers_close_all(struct lbf_app *app);
int lbf_listen_socket(const struct lbf_addr *a, int reuseport, char *msg, size_t cap);
struct lbf_ep;
/* A connection's endpoints in compact form (struct lbf_ep, with the PROXY glue below). */
void lbf_ep_from_sockaddr(struct lbf_ep *ep, const struct sockaddr *sa);
socklen_t lbf_ep_to_sockaddr(const struct lbf_ep *ep, struct sockaddr_storage *ss);

/* udp.c: a worker's UDP listeners and flows. Each worker has its own SO_REUSEPORT socket per
 * UDP listener (the kernel keeps a client 5-tuple on one socket, hence on one worker) and its
 * own lb_flowtab; every flow has a connected upstream socket in the worker's epoll. */
struct lbf_udp;
#define LBF_TAG_UDP_LISTEN 48                  /* worker epoll tag: + UDP listener index */
#define LBF_TAG_UDP_FLOW   (UINT64_C(1) << 63) /* worker epoll tag: | flow slot */
/* Opens the worker's UDP sockets (worker 0 first: it learns the bound ports into
 * app->udp_bound) and registers them in `ep`. NULL with msg set on failure. */
struct lbf_udp *lbf_udp_new(struct lbf_app *app, int ep, int widx, char *msg, size_t cap);
void lbf_udp_listener_ready(struct lbf_udp *u, int li, uint64_t now);
void lbf_udp_flow_ready(struct lbf_udp *u, uint64_t tag, uint32_t events, uint64_t now);
/* End of a worker turn: sends the replies batched, ends idle flows (a bounded sweep). */
void lbf_udp_turn_end(struct lbf_udp *u, uint64_t now);
/* Ends flows whose target's close generation moved (drain deadline), or all of them. */
void lbf_udp_close_flows(struct lbf_udp *u, int all, uint64_t now);
/* Milliseconds until the next sweep is due. */
int lbf_udp_next_ms(const struct lbf_udp *u, uint64_t now);
void lbf_udp_stop_listening(struct lbf_udp *u);
/* Ends every flow and frees everything. */
void lbf_udp_free(struct lbf_udp *u, uint64_t now);

/* health.c: control-thread health checks */
/* Runs due checks, advances in-flight ones; returns the next time it needs to run. */
uint64_t lbf_health_run(struct lbf_app *app, int epfd, uint64_t now);
void lbf_health_event(struct lbf_app *app, struct lbf_target *t, int epfd, uint32_t events,
                      uint64_t now);
#define LBF_TAG_CHECK 1024u /* control epoll tag base: + target id */
void lbf_health_stop(struct lbf_app *app, struct lbf_target *t);

/* admin.c */
int lbf_admin_start(struct lbf_app *app, char *msg, size_t cap);
/* Closes admin connections whose request headers are late; returns when to sweep next
 * (UINT64_MAX: nothing pending). Control thread. */
uint64_t lbf_admin_sweep(struct lbf_app *app, uint64_t now);
void lbf_admin_stop(struct lbf_app *app);
/* Renders /metrics or /targets into a malloc'd string. */
char *lbf_render_metrics(struct lbf_app *app);
char *lbf_render_targets(struct lbf_app *app);
int lbf_is_ready(struct lbf_app *app);

/* proxyglue.c: PROXY protocol through lb/proxy.h */
/* Compact client/server endpoints kept per connection. */
struct lbf_ep {
    uint8_t family; /* AF_INET, AF_INET6, 0 unknown */
    uint8_t addr[16];
    uint16_t port; /* host order */
};
/* Returns liblb's result: > 0 the header length (src/dst filled for PROXY; src->family 0 for
 * LOCAL, UNKNOWN or UNIX), -EAGAIN for more bytes, LB_E_PROXY_NOT_PROXY, or another
 * LB_E_PROXY_* for an invalid header. */
int lbf_proxy_decode(const uint8_t *buf, size_t len, struct lbf_ep *src, struct lbf_ep *dst);
/* Encodes a PROXY header (version 1 or 2; local: LOCAL command) into buf; returns its
 * length or liblb's error code. */
int lbf_proxy_encode(int version, int crc32c, int local, const struct lbf_ep *src,
                     const struct lbf_ep *dst, uint8_t *buf, size_t cap);

/* demo.c */
int lbf_demo(const char *self);

#endif /* LBFWD_H */
