/* lbfwd: main thread. Loads the configuration (exit 2 when bad, before anything starts), binds
 * the listeners and the admin socket, drops privileges, starts the workers, then runs the
 * control loop: signals, balancer ticks and events, health checks, reloads. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lb/version.h"
#include "lbfwd.h"

#define TAG_SIGNAL 1u
#define TAG_WAKE   2u

static struct lbf_app *g_app;

uint64_t lbf_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void lbf_log(const char *fmt, ...)
{
    char line[600];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n =
        snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        return;
    size_t len =
        (size_t)n +
        ((size_t)m < sizeof(line) - (size_t)n - 1 ? (size_t)m : sizeof(line) - (size_t)n - 2);
    line[len++] = '\n';
    int fd = g_app ? g_app->log_fd : 2;
    ssize_t r = write(fd, line, len);
    (void)r;
}

static int open_log(const char *path)
{
    if (!*path)
        return dup(2);
    return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
}

/* Retired live settings: freed once every worker has started a new turn since the swap
 * (workers never keep the pointer across turns; see lbf_workers_min_epoch()). */
struct retired {
    struct lbf_live *lv;
    uint64_t epoch;
    struct retired *next;
};
static struct retired *retired_lives;

static void retire_collect(struct lbf_app *app, int all)
{
    uint64_t seen = all ? UINT64_MAX : lbf_workers_min_epoch(app);
    struct retired **pp = &retired_lives;
    while (*pp) {
        struct retired *r = *pp;
        if (r->epoch <= seen) {
            *pp = r->next;
            free(r->lv);
            free(r);
        } else {
            pp = &r->next;
        }
    }
}

static void retire_live(struct lbf_app *app, struct lbf_live *old)
{
    struct retired *r = malloc(sizeof(*r));
    uint64_t epoch = atomic_fetch_add(&app->live_epoch, 1) + 1;
    if (!r) { /* cannot track it: keep it (a small block) rather than risk a use after free */
        return;
    }
    r->lv = old;
    r->epoch = epoch;
    r->next = retired_lives;
    retired_lives = r;
}

static void write_ready_file(struct lbf_app *app)
{
    if (!app->cfg.ready_file[0])
        return;
    char tmp[LBF_PATH_MAX + 8];
    snprintf(tmp, sizeof(tmp), "%s.tmp", app->cfg.ready_file);
    FILE *f = fopen(tmp, "we");
    if (!f) {
        lbf_log("lbfwd: cannot write %s: %s", tmp, strerror(errno));
        return;
    }
    fprintf(f, "{\"pid\": %ld, \"listen\": [", (long)getpid());
    for (int i = 0; i < app->cfg.n_listen; i++)
        fprintf(f, "%s\"%s\"", i ? ", " : "", app->bound[i].text);
    fprintf(f, "], \"udp_listen\": [");
    for (int i = 0; i < app->cfg.n_udp_listen; i++)
        fprintf(f, "%s\"%s\"", i ? ", " : "", app->udp_bound[i].text);
    fprintf(f, "], \"admin\": ");
    if (app->cfg.admin_set)
        fprintf(f, "\"%s\"", app->admin_bound.text);
    else
        fprintf(f, "null");
    fprintf(f, ", \"workers\": %d}\n", app->n_workers);
    fclose(f);
    if (rename(tmp, app->cfg.ready_file) != 0)
        lbf_log("lbfwd: cannot rename %s: %s", tmp, strerror(errno));
}

/* What a configuration needs of this host, checked before anything starts (and by
 * --check-config): the user exists; the log and the ready file can be created where named. */
static int check_host(const struct lbf_config *cfg, struct lbf_cfg_error *err)
{
    const char *where = cfg->config_file[0] ? cfg->config_file : "configuration";
    if (cfg->user[0] && !getpwnam(cfg->user)) {
        snprintf(err->where, sizeof(err->where), "%s", where);
        snprintf(err->msg, sizeof(err->msg), "user: no such user '%s'", cfg->user);
        return -1;
    }
    const struct {
        const char *name, *path;
    } files[] = {{"log", cfg->log_path}, {"ready_file", cfg->ready_file}};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        if (!files[i].path[0])
            continue;
        char dir[LBF_PATH_MAX];
        lbf_strlcpy(dir, files[i].path, sizeof(dir));
        char *slash = strrchr(dir, '/');
        if (!slash)
            snprintf(dir, sizeof(dir), ".");
        else if (slash == dir)
            dir[1] = '\0';
        else
            *slash = '\0';
        struct stat st;
        if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
            snprintf(err->where, sizeof(err->where), "%s", where);
            const char *why = stat(dir, &st) != 0 ? strerror(errno) : "is not a directory";
            snprintf(err->msg, sizeof(err->msg), "%s: directory %.120s: %s", files[i].name, dir,
                     why);
            return -1;
        }
    }
    return 0;
}

static int drop_privileges(const char *user)
{
    struct passwd *pw = getpwnam(user);
    if (!pw) {
        fprintf(stderr, "lbfwd: --user %s: no such user\n", user);
        return -1;
    }
    if (setgroups(0, NULL) != 0 && errno != EPERM) {
        fprintf(stderr, "lbfwd: setgroups: %s\n", strerror(errno));
        return -1;
    }
    if (setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) {
        fprintf(stderr, "lbfwd: cannot become %s: %s\n", user, strerror(errno));
        return -1;
    }
    if (setuid(0) == 0 && pw->pw_uid != 0) {
        fprintf(stderr, "lbfwd: privileges could not be dropped\n");
        return -1;
    }
    return 0;
}

static void pool_events(struct lbf_app *app, uint32_t pool, uint64_t now);

static void handle_events(struct lbf_app *app, uint64_t now)
{
    int np = atomic_load(&app->n_pools);
    for (int p = 0; p < np; p++)
        pool_events(app, (uint32_t)p, now);
}

static void pool_events(struct lbf_app *app, uint32_t pool, uint64_t now)
{
    lb_event ev[64];
    for (;;) {
        int n = lb_balancer_tick(lbf_bal(app, pool), now, ev, sizeof(*ev), 64);
        if (n <= 0)
            break;
        int close_needed = 0;
        for (int i = 0; i < n; i++) {
            struct lbf_target *t = lbf_target_get(app, ev[i].target_id);
            if (t && t->pool != pool) /* ids are lbfwd's: each names one pool's target */
                t = NULL;
            const char *name = t ? t->name : "?";
            switch (ev[i].type) {
            case LB_EVENT_STATE:
                lbf_log("lbfwd: event target=%s %s -> %s reason=%s connections=%u", name,
                        lb_balancer_state_name(ev[i].old_state),
                        lb_balancer_state_name(ev[i].new_state),
                        lb_balancer_reason_name(ev[i].reason), ev[i].connections);
                break;
            case LB_EVENT_CLOSE:
                lbf_log("lbfwd: event target=%s close %u connections", name, ev[i].connections);
                if (t) {
                    atomic_fetch_add(&t->close_gen, 1);
                    close_needed = 1;
                }
                break;
            case LB_EVENT_REMOVED:
                lbf_log("lbfwd: event target=%s removed", name);
                if (t)
                    lbf_target_gone(app, t, now);
                break;
            default:
                break;
            }
        }
        if (close_needed)
            lbf_workers_signal_close(app);
        if (n < 64)
            break;
    }
}

static void do_reload(struct lbf_app *app)
{
    struct lbf_config ncfg;
    struct lbf_cli cli;
    struct lbf_cfg_error err;
    if (lbf_config_load(&ncfg, app->argc, app->argv, &cli, &err) != 0) {
        lbf_log("lbfwd: reload failed, keeping the running configuration: %s: %s", err.where,
                err.msg);
        atomic_fetch_add(&app->st.reload_failures, 1);
        lbf_config_free(&ncfg);
        return;
    }
    struct lbf_config *cur = &app->cfg;
    int same_listen = ncfg.n_listen == cur->n_listen;
    for (int i = 0; same_listen && i < ncfg.n_listen; i++)
        same_listen = ncfg.listen[i].len == cur->listen[i].len &&
                      memcmp(&ncfg.listen[i].ss, &cur->listen[i].ss, ncfg.listen[i].len) == 0;
    same_listen = same_listen && ncfg.n_udp_listen == cur->n_udp_listen;
    for (int i = 0; same_listen && i < ncfg.n_udp_listen; i++)
        same_listen = ncfg.udp_listen[i].len == cur->udp_listen[i].len &&
                      strcmp(ncfg.udp_pool[i], cur->udp_pool[i]) == 0 &&
                      memcmp(&ncfg.udp_listen[i].ss, &cur->udp_listen[i].ss,
                             ncfg.udp_listen[i].len) == 0;
    int same_udp = ncfg.udp_idle_timeout_ms == cur->udp_idle_timeout_ms &&
                   ncfg.udp_responses == cur->udp_responses && ncfg.udp_flows == cur->udp_flows &&
                   ncfg.udp_max_datagram == cur->udp_max_datagram &&
                   ncfg.udp_rcvbuf == cur->udp_rcvbuf;
    /* settings fixed at start (sockets, threads, table shape): named when a reload changes
     * them, and kept */
    const struct {
        const char *name;
        int changed;
    } fixed[] = {
        {"listen", !same_listen},
        {"workers", ncfg.workers != cur->workers},
        {"algorithm", ncfg.algorithm != cur->algorithm},
        {"table_size", ncfg.table_size != cur->table_size},
        {"admin", ncfg.admin_set != cur->admin_set},
        {"check kind", ncfg.check_kind != cur->check_kind},
        {"splice", ncfg.splice != cur->splice},
        {"smart_connect", ncfg.smart_connect != cur->smart_connect},
        {"smart_accept", ncfg.smart_accept != cur->smart_accept},
        {"udp_* setting", !same_udp},
    };
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        if (fixed[i].changed)
            lbf_log("lbfwd: reload: a new %s needs a restart; kept", fixed[i].name);
    char msg[300];
    if (lbf_pools_apply(app, &ncfg, msg, sizeof(msg)) != 0) {
        lbf_log("lbfwd: reload failed, keeping the running configuration: %s", msg);
        atomic_fetch_add(&app->st.reload_failures, 1);
        lbf_config_free(&ncfg);
        return;
    }
    lbf_targets_apply(app, &ncfg);
    struct lbf_live *nl = lbf_live_from_config(app, &ncfg);
    if (nl) {
        struct lbf_live *old = atomic_exchange(&app->live, nl);
        retire_live(app, old);
    }
    /* settings read by the control thread */
    cur->check_interval_ms = ncfg.check_interval_ms;
    cur->check_timeout_ms = ncfg.check_timeout_ms;
    cur->announce_delay_ms = ncfg.announce_delay_ms;
    memcpy(cur->check_path, ncfg.check_path, sizeof(cur->check_path));
    if (strcmp(ncfg.log_path, cur->log_path) != 0)
        lbf_log("lbfwd: reload: a new log path needs a restart; kept");
    lbf_config_free(&ncfg);
    atomic_fetch_add(&app->st.reloads, 1);
    lbf_log("lbfwd: reloaded %s", cur->config_file[0] ? cur->config_file : "(flags only)");
}

static void reopen_log(struct lbf_app *app)
{
    if (!app->cfg.log_path[0])
        return;
    int fd = open_log(app->cfg.log_path);
    if (fd < 0) {
        lbf_log("lbfwd: cannot reopen %s: %s", app->cfg.log_path, strerror(errno));
        return;
    }
    dup3(fd, app->log_fd, O_CLOEXEC); /* same descriptor number: workers never see a gap */
    close(fd);
    lbf_log("lbfwd: log reopened");
}

/* The control loop's state: its epoll and signal descriptors, and the SIGTERM drain. */
struct control {
    int epfd;
    int sfd;
    int stopping;
    uint64_t stop_deadline;
    int announcing; /* SIGTERM seen, /ready 503, listeners open until announce_deadline */
    uint64_t announce_deadline;
};

/* Signals to a signalfd, the wake eventfd, and the control epoll watching both. */
static int control_open(struct lbf_app *app, struct control *ctl)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* every thread inherits the mask */
    memset(ctl, 0, sizeof(*ctl));
    ctl->sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    app->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    ctl->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (ctl->sfd < 0 || app->wake_fd < 0 || ctl->epfd < 0) {
        fprintf(stderr, "lbfwd: setup: %s\n", strerror(errno));
        return -1;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TAG_SIGNAL};
    epoll_ctl(ctl->epfd, EPOLL_CTL_ADD, ctl->sfd, &ev);
    ev.data.u64 = TAG_WAKE;
    epoll_ctl(ctl->epfd, EPOLL_CTL_ADD, app->wake_fd, &ev);
    return 0;
}

static int admin_bind(struct lbf_app *app, char *msg, size_t cap)
{
    struct lbf_config *cfg = &app->cfg;
    app->admin_fd = -1;
    if (!cfg->admin_set)
        return 0;
    app->admin_fd = lbf_listen_socket(&cfg->admin, 0, msg, cap);
    if (app->admin_fd < 0)
        return -1;
    app->admin_bound = cfg->admin;
    app->admin_bound.len = sizeof(app->admin_bound.ss);
    getsockname(app->admin_fd, (struct sockaddr *)&app->admin_bound.ss, &app->admin_bound.len);
    lb_addr_format((struct sockaddr *)&app->admin_bound.ss, app->admin_bound.text,
                   sizeof(app->admin_bound.text));
    return 0;
}

/* Everything up to serving: the log, the balancer, the control descriptors, the listeners and
 * the admin socket, the targets (once lbfwd's own addresses are known: none may be one of
 * them), fewer privileges, the admin server and the workers. 0, or the exit status. */
static int start(struct lbf_app *app, struct control *ctl)
{
    char msg[300];
    struct lbf_config *cfg = &app->cfg;
    app->log_fd = open_log(cfg->log_path);
    if (app->log_fd < 0) {
        fprintf(stderr, "lbfwd: cannot open log %s: %s\n", cfg->log_path, strerror(errno));
        return 1;
    }
    if (lbf_pools_apply(app, cfg, msg, sizeof(msg)) != 0) {
        fprintf(stderr, "lbfwd: %s\n", msg);
        return 1;
    }
    struct lbf_live *lv = lbf_live_from_config(app, cfg);
    if (!lv)
        return 1;
    atomic_store(&app->live, lv);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    app->n_workers = cfg->workers ? cfg->workers : (ncpu > 0 ? (int)ncpu : 1);
    if (control_open(app, ctl) != 0 || lbf_workers_start(app) != 0)
        return 1;
    if (admin_bind(app, msg, sizeof(msg)) != 0) {
        fprintf(stderr, "lbfwd: admin: %s\n", msg);
        return 1;
    }
    for (int i = 0; i < cfg->n_targets; i++) {
        if (lbf_target_add(app, &cfg->targets[i], msg, sizeof(msg)) != 0) {
            fprintf(stderr, "lbfwd: %s\n", msg);
            return 2;
        }
    }
    if (cfg->user[0] && drop_privileges(cfg->user) != 0)
        return 1;
    if (lbf_admin_start(app, msg, sizeof(msg)) != 0) {
        fprintf(stderr, "lbfwd: %s\n", msg);
        return 1;
    }
    if (lbf_workers_run(app) != 0) {
        fprintf(stderr, "lbfwd: cannot start workers\n");
        return 1;
    }
    lbf_log("lbfwd: listening on %s (+%d more, %d UDP), %d workers, %s, %d targets, admin %s",
            cfg->n_listen ? app->bound[0].text : "-", cfg->n_listen ? cfg->n_listen - 1 : 0,
            cfg->n_udp_listen, app->n_workers,
            lb_balancer_algorithm_name(cfg->algorithm), cfg->n_targets,
            cfg->admin_set ? app->admin_bound.text : "off");
    write_ready_file(app);
    return 0;
}

/* One turn's housekeeping: balancer events, retired settings, health checks, late admin
 * headers, freed target records. Returns when the loop must run next. */
static uint64_t housekeeping(struct lbf_app *app, struct control *ctl, uint64_t now)
{
    handle_events(app, now);
    if (retired_lives)
        retire_collect(app, 0);
    uint64_t next = now + 1000;
    uint64_t deadlines[] = {lbf_health_run(app, ctl->epfd, now), lbf_admin_sweep(app, now)};
    for (size_t i = 0; i < sizeof(deadlines) / sizeof(deadlines[0]); i++)
        if (deadlines[i] < next)
            next = deadlines[i];
    int np = atomic_load(&app->n_pools);
    for (int p = 0; p < np; p++) {
        uint64_t d = lb_balancer_next_deadline(app->pools[p].bal);
        if (d < next)
            next = d;
    }
    lbf_targets_reclaim(app, lbf_workers_min_epoch(app));
    if (lbf_targets_reclaim_pending(app) && now + 100 < next)
        next = now + 100;
    return next;
}

/* SIGTERM (after the announce delay, if any): the listeners close, the connections drain. */
static void begin_drain(struct lbf_app *app, struct control *ctl, uint64_t now)
{
    ctl->announcing = 0;
    ctl->stopping = 1;
    ctl->stop_deadline = now + app->cfg.drain_timeout_ms;
    lbf_log("lbfwd: stop accepting, draining %llu connections (at most %u ms)",
            (unsigned long long)atomic_load(&app->st.active), app->cfg.drain_timeout_ms);
    lbf_workers_stop_accepting(app);
}

static void on_signals(struct lbf_app *app, struct control *ctl, uint64_t now)
{
    struct signalfd_siginfo si;
    while (read(ctl->sfd, &si, sizeof(si)) == sizeof(si)) {
        if (si.ssi_signo == SIGHUP) {
            do_reload(app);
        } else if (si.ssi_signo == SIGUSR1) {
            reopen_log(app);
        } else if (ctl->stopping) {
            continue;
        } else if (!ctl->announcing && app->cfg.announce_delay_ms > 0) {
            /* not ready from now on (the node's route is withdrawn); the listeners still
             * accept what the network sends meanwhile */
            ctl->announcing = 1;
            ctl->announce_deadline = now + app->cfg.announce_delay_ms;
            atomic_store(&app->listening, 0);
            lbf_log("lbfwd: %s: not ready; still accepting for %u ms (announce delay)",
                    si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT", app->cfg.announce_delay_ms);
        } else {
            /* no announce delay, or a second signal during it */
            lbf_log("lbfwd: %s", si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
            begin_drain(app, ctl, now);
        }
    }
}

static void on_event(struct lbf_app *app, struct control *ctl, const struct epoll_event *ev,
                     uint64_t now)
{
    uint64_t tag = ev->data.u64;
    if (tag == TAG_WAKE) {
        uint64_t v;
        ssize_t r = read(app->wake_fd, &v, sizeof(v));
        (void)r;
    } else if (tag == TAG_SIGNAL) {
        on_signals(app, ctl, now);
    } else if (tag >= LBF_TAG_CHECK) {
        pthread_mutex_lock(&app->reg.mu);
        struct lbf_target *t = lbf_target_get(app, (uint32_t)(tag - LBF_TAG_CHECK));
        if (t)
            lbf_health_event(app, t, ctl->epfd, ev->events, now);
        pthread_mutex_unlock(&app->reg.mu);
    }
}

/* After SIGTERM: 1 once the last connection ended or the drain deadline passed (then the rest
 * are closed); otherwise lowers `next` to poll the count. */
static int drained(struct lbf_app *app, struct control *ctl, uint64_t now, uint64_t *next)
{
    if (atomic_load(&app->st.active) == 0)
        return 1;
    if (now >= ctl->stop_deadline) {
        lbf_log("lbfwd: drain timeout: closing %llu connections",
                (unsigned long long)atomic_load(&app->st.active));
        lbf_workers_close_all(app);
        return 1;
    }
    if (now + 50 < *next)
        *next = now + 50;
    return 0;
}

static void control_loop(struct lbf_app *app, struct control *ctl)
{
    for (;;) {
        uint64_t now = lbf_now_ms();
        uint64_t next = housekeeping(app, ctl, now);
        if (ctl->announcing && now >= ctl->announce_deadline)
            begin_drain(app, ctl, now);
        if (ctl->announcing && ctl->announce_deadline < next)
            next = ctl->announce_deadline;
        if (ctl->stopping && drained(app, ctl, now, &next))
            return;
        int timeout = next <= now ? 0 : (int)(next - now);
        struct epoll_event evs[64];
        int n = epoll_wait(ctl->epfd, evs, 64, timeout);
        now = lbf_now_ms();
        for (int i = 0; i < n; i++)
            on_event(app, ctl, &evs[i], now);
    }
}

static void shut_down(struct lbf_app *app, struct control *ctl)
{
    lbf_workers_join(app);
    lbf_admin_stop(app);
    pthread_mutex_lock(&app->reg.mu);
    for (uint32_t i = 0; i < app->reg.next_id; i++) {
        struct lbf_target *t = atomic_load(&app->reg.by_id[i]);
        if (t)
            lbf_health_stop(app, t);
    }
    pthread_mutex_unlock(&app->reg.mu);
    if (app->cfg.ready_file[0])
        unlink(app->cfg.ready_file);
    lbf_log("lbfwd: stopped (%llu connections served)",
            (unsigned long long)atomic_load(&app->st.completed));
    close(ctl->epfd);
    close(ctl->sfd);
    close(app->wake_fd);
    if (app->admin_fd >= 0)
        close(app->admin_fd);
}

static int run(struct lbf_app *app)
{
    struct control ctl;
    int rc = start(app, &ctl);
    if (rc != 0)
        return rc;
    control_loop(app, &ctl);
    shut_down(app, &ctl);
    return 0;
}

int main(int argc, char **argv)
{
    static struct lbf_app app;
    struct lbf_cli cli;
    struct lbf_cfg_error err;
    signal(SIGPIPE, SIG_IGN);
    int rc = lbf_config_load(&app.cfg, argc, argv, &cli, &err);
    if (rc < 0) {
        fprintf(stderr, "lbfwd: %s: %s\n", err.where, err.msg);
        lbf_config_free(&app.cfg);
        return 2;
    }
    if (cli.help) {
        lbf_usage(stdout);
        return 0;
    }
    if (cli.version) {
        printf("lbfwd (liblb %s)\n", LB_VERSION_STRING);
        return 0;
    }
    if (cli.demo) {
        lbf_config_free(&app.cfg);
        return lbf_demo(argv[0]);
    }
    if (check_host(&app.cfg, &err) != 0) {
        fprintf(stderr, "lbfwd: %s: %s\n", err.where, err.msg);
        lbf_config_free(&app.cfg);
        return 2;
    }
    if (cli.check_config) {
        printf("lbfwd: configuration OK (%d listen addresses, %d UDP, %d targets)\n",
               app.cfg.n_listen, app.cfg.n_udp_listen, app.cfg.n_targets);
        lbf_config_free(&app.cfg);
        return 0;
    }
    app.argc = argc;
    app.argv = argv;
    if (lbf_registry_init(&app.reg) != 0)
        return 1;
    g_app = &app;
    rc = run(&app);
    lbf_pools_free(&app);
    lbf_registry_free(&app.reg);
    free(atomic_load(&app.live));
    retire_collect(&app, 1);
    lbf_config_free(&app.cfg);
    if (app.log_fd > 2)
        close(app.log_fd);
    return rc;
}
