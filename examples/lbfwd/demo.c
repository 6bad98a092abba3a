/* lbfwd --demo: the seed's load-balancing lab on loopback, measured and checked.
 *
 * Starts three backends (threads of this process, two zones) that decode the PROXY v2 header
 * lbfwd sends (with liblb's decoder) and answer with their name and the client address they
 * were told; starts lbfwd itself three times as child processes (5-tuple hashing, source
 * affinity, zone-local); then plays: even distribution, client address through PROXY, source
 * affinity, zones, draining one target under load with connections held open, all targets
 * gone, and back. Every step checks its measured result; the exit status is non-zero when one
 * is wrong. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lb/proxy.h"
#include "lbfwd.h"

#define N_BACKENDS 3
#define DIST_CONNS 3000

struct backend {
    const char *name;
    const char *zone;
    int fd;
    uint16_t port;
    pthread_t th;
    _Atomic uint64_t conns;
    _Atomic uint64_t proxy_bad;
};

static struct backend g_be[N_BACKENDS] = {
    {.name = "web-a1", .zone = "zone-a"},
    {.name = "web-a2", .zone = "zone-a"},
    {.name = "web-b1", .zone = "zone-b"},
};
static _Atomic int g_stop;
static int g_failed;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

static void verdict(int ok, const char *what)
{
    say("  %s %s\n", ok ? "[ok]  " : "[FAIL]", what);
    if (!ok)
        g_failed = 1;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- backends ------------------------------------------------------------------------------ */
static ssize_t read_some(int fd, uint8_t *buf, size_t cap, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, timeout_ms) <= 0)
        return -1;
    return recv(fd, buf, cap, 0);
}

static void serve_one(struct backend *be, int c)
{
    uint8_t buf[1024];
    size_t len = 0;
    lb_proxy_header h;
    int hl = LB_E_NEED_MORE;
    /* the header first (one piece from lbfwd), then the client's line */
    while (len < sizeof(buf)) {
        ssize_t n = read_some(c, buf + len, sizeof(buf) - len, 3000);
        if (n <= 0)
            return; /* a health check (LOCAL header then close) or a dead client */
        len += (size_t)n;
        memset(&h, 0, sizeof(h));
        h.struct_size = sizeof(h);
        hl = lb_proxy_decode(buf, len, NULL, &h, NULL);
        if (hl != LB_E_NEED_MORE)
            break;
    }
    if (hl <= 0) {
        atomic_fetch_add(&be->proxy_bad, 1);
        return;
    }
    if (h.command == LB_PROXY_CMD_LOCAL)
        return; /* health check */
    while (!memchr(buf + hl, '\n', len - (size_t)hl) && len < sizeof(buf)) {
        ssize_t n = read_some(c, buf + len, sizeof(buf) - len, 3000);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    atomic_fetch_add(&be->conns, 1);
    char ip[64] = "?";
    if (h.family == LB_PROXY_FAM_INET)
        inet_ntop(AF_INET, h.src_addr, ip, sizeof(ip));
    else if (h.family == LB_PROXY_FAM_INET6)
        inet_ntop(AF_INET6, h.src_addr, ip, sizeof(ip));
    char out[160];
    int n = snprintf(out, sizeof(out), "%s %s %u\n", be->name, ip, h.src_port);
    ssize_t w = send(c, out, (size_t)n, MSG_NOSIGNAL);
    (void)w;
}

struct served {
    struct backend *be;
    int fd;
};

static void *serve_main(void *arg)
{
    struct served *sv = arg;
    serve_one(sv->be, sv->fd);
    close(sv->fd);
    free(sv);
    return NULL;
}

/* One thread per connection: connections held open must not block the others. */
static void *backend_main(void *arg)
{
    struct backend *be = arg;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    while (!atomic_load(&g_stop)) {
        struct pollfd p = {.fd = be->fd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            continue;
        int c = accept4(be->fd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0)
            continue;
        struct served *sv = malloc(sizeof(*sv));
        pthread_t th;
        if (!sv) {
            close(c);
            continue;
        }
        sv->be = be;
        sv->fd = c;
        if (pthread_create(&th, &attr, serve_main, sv) != 0) {
            close(c);
            free(sv);
        }
    }
    pthread_attr_destroy(&attr);
    return NULL;
}

static int start_backends(void)
{
    for (int i = 0; i < N_BACKENDS; i++) {
        struct backend *be = &g_be[i];
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
        be->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        socklen_t al = sizeof(a);
        if (be->fd < 0 || bind(be->fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
            listen(be->fd, 1024) != 0 || getsockname(be->fd, (struct sockaddr *)&a, &al) != 0)
            return -1;
        be->port = ntohs(a.sin_port);
        if (pthread_create(&be->th, NULL, backend_main, be) != 0)
            return -1;
    }
    return 0;
}

/* ---- lbfwd children ------------------------------------------------------------------------ */
struct child {
    pid_t pid;
    char dir[64];
    uint16_t port;
    uint16_t admin_port;
};

/* mode: 0 plain (5-tuple), 1 source affinity, 2 zone-local (cross-zone off) */
static int spawn_lbfwd(struct child *ch, const char *self, int mode)
{
    char ready[128], logf[128], tg[N_BACKENDS][128];
    snprintf(ch->dir, sizeof(ch->dir), "/tmp/lbfwd-demo-XXXXXX");
    if (!mkdtemp(ch->dir))
        return -1;
    snprintf(ready, sizeof(ready), "%s/ready.json", ch->dir);
    snprintf(logf, sizeof(logf), "%s/lbfwd.log", ch->dir);
    const char *argv[64];
    int n = 0;
    argv[n++] = "lbfwd";
    argv[n++] = "--listen";
    argv[n++] = "127.0.0.1:0";
    argv[n++] = "--admin";
    argv[n++] = "127.0.0.1:0";
    argv[n++] = "--ready-file";
    argv[n++] = ready;
    argv[n++] = "--log";
    argv[n++] = logf;
    argv[n++] = "--workers";
    argv[n++] = "2";
    argv[n++] = "--send-proxy";
    argv[n++] = "v2";
    argv[n++] = "--check-interval";
    argv[n++] = "500ms";
    argv[n++] = "--drain-timeout";
    argv[n++] = "20s";
    argv[n++] = "--zone";
    argv[n++] = "zone-a";
    if (mode == 1) {
        argv[n++] = "--affinity";
        argv[n++] = "source";
    } else if (mode == 2) {
        argv[n++] = "--zone-mode";
        argv[n++] = "local";
    }
    for (int i = 0; i < N_BACKENDS; i++) {
        snprintf(tg[i], sizeof(tg[i]), "%s=127.0.0.1:%u,zone=%s", g_be[i].name, g_be[i].port,
                 g_be[i].zone);
        argv[n++] = "--target";
        argv[n++] = tg[i];
    }
    argv[n] = NULL;
    ch->pid = fork();
    if (ch->pid < 0)
        return -1;
    if (ch->pid == 0) {
        execv(self, (char *const *)argv);
        _exit(127);
    }
    uint64_t deadline = mono_ms() + 10000;
    while (mono_ms() < deadline) {
        FILE *f = fopen(ready, "re");
        if (f) {
            char buf[512];
            size_t len = fread(buf, 1, sizeof(buf) - 1, f);
            fclose(f);
            buf[len] = '\0';
            cJSON *j = cJSON_Parse(buf);
            cJSON *l = j ? cJSON_GetObjectItem(j, "listen") : NULL;
            cJSON *ad = j ? cJSON_GetObjectItem(j, "admin") : NULL;
            const char *ls =
                l && cJSON_GetArrayItem(l, 0) ? cJSON_GetArrayItem(l, 0)->valuestring : NULL;
            if (ls && ad && cJSON_IsString(ad)) {
                ch->port = (uint16_t)atoi(strrchr(ls, ':') + 1);
                ch->admin_port = (uint16_t)atoi(strrchr(ad->valuestring, ':') + 1);
            }
            cJSON_Delete(j);
            if (ch->port)
                return 0;
        }
        int st;
        if (waitpid(ch->pid, &st, WNOHANG) == ch->pid) {
            ch->pid = 0;
            return -1;
        }
        usleep(20000);
    }
    return -1;
}

static int stop_lbfwd(struct child *ch)
{
    int st = 0;
    if (ch->pid <= 0)
        return -1;
    kill(ch->pid, SIGTERM);
    for (int i = 0; i < 500; i++) {
        if (waitpid(ch->pid, &st, WNOHANG) == ch->pid) {
            ch->pid = 0;
            return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        }
        usleep(10000);
    }
    kill(ch->pid, SIGKILL);
    waitpid(ch->pid, &st, 0);
    ch->pid = 0;
    return -1;
}

static void cleanup_child(struct child *ch)
{
    char p[160];
    if (ch->pid > 0)
        stop_lbfwd(ch);
    snprintf(p, sizeof(p), "%s/lbfwd.log", ch->dir);
    unlink(p);
    snprintf(p, sizeof(p), "%s/ready.json", ch->dir);
    unlink(p);
    rmdir(ch->dir);
}

/* ---- clients ------------------------------------------------------------------------------- */
static int connect_from(const char *src_ip, uint16_t port, struct sockaddr_in *local)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {3, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (src_ip) {
        struct sockaddr_in s = {.sin_family = AF_INET};
        inet_pton(AF_INET, src_ip, &s.sin_addr);
        if (bind(fd, (struct sockaddr *)&s, sizeof(s)) != 0) {
            close(fd);
            return -1;
        }
    }
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(0x7f000001)};
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    socklen_t ll = sizeof(*local);
    getsockname(fd, (struct sockaddr *)local, &ll);
    return fd;
}

/* Sends a line and reads the answer "NAME IP PORT". Returns the backend index or -1; sets
 * *addr_ok when the PROXY address matched this client's socket. */
static int finish_request(int fd, const struct sockaddr_in *local, int *addr_ok)
{
    char buf[256];
    size_t len = 0;
    if (send(fd, "hello\n", 6, MSG_NOSIGNAL) != 6) {
        close(fd);
        return -1;
    }
    for (;;) {
        ssize_t n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    char name[64], ip[64];
    unsigned port;
    if (sscanf(buf, "%63s %63s %u", name, ip, &port) != 3)
        return -1;
    if (addr_ok) {
        char mine[64];
        inet_ntop(AF_INET, &local->sin_addr, mine, sizeof(mine));
        *addr_ok = strcmp(mine, ip) == 0 && port == ntohs(local->sin_port);
    }
    for (int i = 0; i < N_BACKENDS; i++)
        if (strcmp(name, g_be[i].name) == 0)
            return i;
    return -1;
}

static int request(uint16_t port, const char *src_ip, int *addr_ok)
{
    struct sockaddr_in local;
    int fd = connect_from(src_ip, port, &local);
    if (fd < 0)
        return -1;
    return finish_request(fd, &local, addr_ok);
}

/* A minimal HTTP/1.0 client for the admin API; returns the status or -1. */
static int admin(uint16_t port, const char *method, const char *path, char *body, size_t cap)
{
    struct sockaddr_in local;
    int fd = connect_from(NULL, port, &local);
    if (fd < 0)
        return -1;
    char req[512];
    int n = snprintf(req, sizeof(req), "%s %s HTTP/1.0\r\nHost: 127.0.0.1:%u\r\n\r\n", method, path,
                     (unsigned)port);
    if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
        close(fd);
        return -1;
    }
    char buf[16384];
    size_t len = 0;
    for (;;) {
        ssize_t r = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    buf[len] = '\0';
    int status = -1;
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
        return -1;
    if (body) {
        const char *b = strstr(buf, "\r\n\r\n");
        snprintf(body, cap, "%s", b ? b + 4 : "");
    }
    return status;
}

/* ---- the lab ------------------------------------------------------------------------------- */
struct stream_arg {
    uint16_t port;
    _Atomic int run;
    _Atomic uint64_t ok, failed;
    _Atomic uint64_t per[N_BACKENDS];
};

static void *stream_main(void *arg)
{
    struct stream_arg *s = arg;
    while (atomic_load(&s->run)) {
        int b = request(s->port, NULL, NULL);
        if (b < 0)
            atomic_fetch_add(&s->failed, 1);
        else {
            atomic_fetch_add(&s->ok, 1);
            atomic_fetch_add(&s->per[b], 1);
        }
    }
    return NULL;
}

static void step_distribution(struct child *ch)
{
    int per[N_BACKENDS] = {0}, failed = 0, addr_bad = 0;
    say("\n1. Even distribution: %d connections through lbfwd (Maglev on the 5-tuple)\n",
        DIST_CONNS);
    uint64_t t0 = mono_ms();
    for (int i = 0; i < DIST_CONNS; i++) {
        int ok = 0;
        int b = request(ch->port, NULL, &ok);
        if (b < 0)
            failed++;
        else
            per[b]++;
        if (b >= 0 && !ok)
            addr_bad++;
    }
    uint64_t ms = mono_ms() - t0;
    int even = failed == 0;
    for (int i = 0; i < N_BACKENDS; i++) {
        double share = 100.0 * per[i] / DIST_CONNS;
        say("     %-7s (%s) %5d connections  %5.1f %%\n", g_be[i].name, g_be[i].zone, per[i],
            share);
        if (per[i] < DIST_CONNS / 3 * 85 / 100 || per[i] > DIST_CONNS / 3 * 115 / 100)
            even = 0;
    }
    say("     %d failed, %llu ms (%.0f connections/s, one client)\n", failed,
        (unsigned long long)ms, ms ? 1000.0 * DIST_CONNS / (double)ms : 0.0);
    verdict(even, "each target within +-15 % of a third, no failure");
    say("\n2. Client address through PROXY v2: each backend decodes the header lbfwd sent\n");
    say("     %d of %d answers carried this client's own address and port\n",
        DIST_CONNS - failed - addr_bad, DIST_CONNS - failed);
    verdict(addr_bad == 0 && failed == 0, "the target sees the real client, not lbfwd");
}

static void step_affinity(struct child *plain, struct child *sticky)
{
    say("\n3. Source affinity (--affinity source) against the 5-tuple default\n");
    int seen_sticky[N_BACKENDS] = {0}, seen_plain[N_BACKENDS] = {0}, failed = 0;
    for (int i = 0; i < 100; i++) {
        int b = request(sticky->port, "127.0.0.2", NULL);
        int c = request(plain->port, "127.0.0.2", NULL);
        if (b < 0 || c < 0) {
            failed++;
            continue;
        }
        seen_sticky[b]++;
        seen_plain[c]++;
    }
    int n_sticky = 0, n_plain = 0;
    for (int i = 0; i < N_BACKENDS; i++) {
        n_sticky += seen_sticky[i] > 0;
        n_plain += seen_plain[i] > 0;
    }
    say("     client 127.0.0.2, 100 connections: with affinity %d target(s) used, without %d\n",
        n_sticky, n_plain);
    int spread[N_BACKENDS] = {0};
    for (int k = 3; k < 63; k++) {
        char ip[32];
        snprintf(ip, sizeof(ip), "127.0.0.%d", k);
        int first = -1, same = 1;
        for (int r = 0; r < 3; r++) {
            int b = request(sticky->port, ip, NULL);
            if (b < 0) {
                failed++;
                continue;
            }
            if (first < 0)
                first = b;
            same &= b == first;
        }
        if (first >= 0)
            spread[first]++;
        if (!same)
            n_sticky = 99;
    }
    say("     60 other clients with affinity: %d / %d / %d per target, each client on one target\n",
        spread[0], spread[1], spread[2]);
    verdict(failed == 0 && n_sticky == 1, "with affinity a client stays on one target");
    verdict(n_plain == N_BACKENDS, "without affinity its connections spread over all targets");
    verdict(spread[0] && spread[1] && spread[2], "with affinity, different clients still spread");
}

static void step_zones(struct child *local)
{
    int per[N_BACKENDS] = {0}, failed = 0;
    say("\n4. Zones: an lbfwd in zone-a with --zone-mode local (cross-zone off), 600 "
        "connections\n");
    for (int i = 0; i < 600; i++) {
        int b = request(local->port, NULL, NULL);
        if (b < 0)
            failed++;
        else
            per[b]++;
    }
    for (int i = 0; i < N_BACKENDS; i++)
        say("     %-7s (%s) %4d\n", g_be[i].name, g_be[i].zone, per[i]);
    verdict(failed == 0 && per[2] == 0 && per[0] > 200 && per[1] > 200,
            "only the local zone's targets serve, evenly");
}

static void step_drain(struct child *ch)
{
    char path[128];
    say("\n5. Draining %s under a continuous stream, with 20 connections held open across it\n",
        g_be[1].name);
    /* held connections: opened (and picked) before the drain, finished after it */
    int held[20];
    struct sockaddr_in held_local[20];
    for (int i = 0; i < 20; i++)
        held[i] = connect_from(NULL, ch->port, &held_local[i]);
    static struct stream_arg s;
    memset(&s, 0, sizeof(s));
    s.port = ch->port;
    atomic_store(&s.run, 1);
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, stream_main, &s);
    usleep(500000);
    snprintf(path, sizeof(path), "/targets/%s/drain", g_be[1].name);
    uint64_t before_ok = atomic_load(&s.ok);
    int st = admin(ch->admin_port, "POST", path, NULL, 0);
    usleep(100000); /* connections picked just before the drain finish */
    uint64_t b1_mark = atomic_load(&s.per[1]);
    usleep(1000000);
    uint64_t b1_after = atomic_load(&s.per[1]) - b1_mark;
    atomic_store(&s.run, 0);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    int held_ok = 0, held_on_drained = 0;
    for (int i = 0; i < 20; i++) {
        if (held[i] < 0)
            continue;
        int b = finish_request(held[i], &held_local[i], NULL);
        held_ok += b >= 0;
        held_on_drained += b == 1;
    }
    say("     POST %s -> %d; %llu connections during the run (%llu after the drain), %llu "
        "failed\n",
        path, st, (unsigned long long)atomic_load(&s.ok),
        (unsigned long long)(atomic_load(&s.ok) - before_ok),
        (unsigned long long)atomic_load(&s.failed));
    say("     new connections to %s after the drain: %llu; held connections finished: %d of 20 "
        "(%d of them on %s)\n",
        g_be[1].name, (unsigned long long)b1_after, held_ok, held_on_drained, g_be[1].name);
    verdict(st == 200 && atomic_load(&s.failed) == 0, "no failed connection while draining");
    verdict(b1_after == 0, "the draining target gets no new connections");
    verdict(held_ok == 20, "connections open across the drain complete normally");
    snprintf(path, sizeof(path), "/targets/%s/undrain", g_be[1].name);
    st = admin(ch->admin_port, "POST", path, NULL, 0);
    verdict(st == 200, "undrain puts it back in service");
}

static int target_count(struct child *ch)
{
    char body[16384];
    if (admin(ch->admin_port, "GET", "/targets", body, sizeof(body)) != 200)
        return -1;
    cJSON *j = cJSON_Parse(body);
    int n = 0;
    for (cJSON *t = j ? j->child : NULL; t; t = t->next) {
        cJSON *s = cJSON_GetObjectItem(t, "state");
        if (s && cJSON_IsString(s) && strcmp(s->valuestring, "removed") != 0)
            n++;
    }
    cJSON_Delete(j);
    return n;
}

static void step_gone_and_back(struct child *ch)
{
    char path[160];
    say("\n6. All targets gone (DELETE each), then back (POST /targets)\n");
    int ok = 1;
    for (int i = 0; i < N_BACKENDS; i++) {
        snprintf(path, sizeof(path), "/targets/%s", g_be[i].name);
        ok &= admin(ch->admin_port, "DELETE", path, NULL, 0) == 200;
    }
    for (int i = 0; i < 100 && target_count(ch) != 0; i++)
        usleep(20000);
    int ready = admin(ch->admin_port, "GET", "/ready", NULL, 0);
    struct sockaddr_in local;
    uint64_t t0 = mono_ms();
    int fd = connect_from(NULL, ch->port, &local);
    int refused = 0;
    if (fd >= 0) {
        char c;
        ssize_t w = send(fd, "hello\n", 6, MSG_NOSIGNAL);
        ssize_t r = recv(fd, &c, 1, 0);
        refused = r <= 0 && !(r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
        (void)w;
        close(fd);
    }
    uint64_t ms = mono_ms() - t0;
    say("     targets left: %d; GET /ready -> %d; a new connection was %s after %llu ms\n",
        target_count(ch), ready, refused ? "refused" : "NOT refused", (unsigned long long)ms);
    verdict(ok && refused && ms < 500 && ready == 503,
            "no target: immediate refusal (like the lab's 503), not a hang");
    for (int i = 0; i < N_BACKENDS; i++) {
        snprintf(path, sizeof(path), "/targets?name=%s&addr=127.0.0.1:%u&zone=%s", g_be[i].name,
                 g_be[i].port, g_be[i].zone);
        int st = -1;
        for (int k = 0; k < 100; k++) { /* 409 while the old one finishes removing */
            st = admin(ch->admin_port, "POST", path, NULL, 0);
            if (st != 409)
                break;
            usleep(20000);
        }
        ok &= st == 201;
    }
    int per[N_BACKENDS] = {0}, failed = 0;
    for (int i = 0; i < 300; i++) {
        int b = request(ch->port, NULL, NULL);
        if (b < 0)
            failed++;
        else
            per[b]++;
    }
    say("     re-added: 300 connections -> %d / %d / %d, %d failed\n", per[0], per[1], per[2],
        failed);
    verdict(ok && failed == 0 && per[0] && per[1] && per[2], "targets back: traffic flows again");
}

int lbf_demo(const char *self_arg)
{
    char self[512];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        snprintf(self, sizeof(self), "%s", self_arg);
    else
        self[n] = '\0';
    signal(SIGPIPE, SIG_IGN);
    say("lbfwd --demo: the load-balancing lab on loopback (three backends in two zones, lbfwd, "
        "a client)\n");
    if (start_backends() != 0) {
        say("demo: cannot start backends: %s\n", strerror(errno));
        return 1;
    }
    for (int i = 0; i < N_BACKENDS; i++)
        say("  backend %-7s 127.0.0.1:%u  %s\n", g_be[i].name, g_be[i].port, g_be[i].zone);
    struct child plain = {0}, sticky = {0}, local = {0};
    if (spawn_lbfwd(&plain, self, 0) != 0 || spawn_lbfwd(&sticky, self, 1) != 0 ||
        spawn_lbfwd(&local, self, 2) != 0) {
        say("demo: cannot start lbfwd\n");
        cleanup_child(&plain);
        cleanup_child(&sticky);
        cleanup_child(&local);
        atomic_store(&g_stop, 1);
        return 1;
    }
    say("  lbfwd          127.0.0.1:%u  (admin 127.0.0.1:%u, send-proxy v2, health checks every "
        "500 ms)\n",
        plain.port, plain.admin_port);
    say("  lbfwd sticky   127.0.0.1:%u  (--affinity source)\n", sticky.port);
    say("  lbfwd local    127.0.0.1:%u  (--zone zone-a --zone-mode local)\n", local.port);

    step_distribution(&plain);
    step_affinity(&plain, &sticky);
    step_zones(&local);
    step_drain(&plain);
    step_gone_and_back(&plain);

    int rc1 = stop_lbfwd(&plain), rc2 = stop_lbfwd(&sticky), rc3 = stop_lbfwd(&local);
    say("\n7. SIGTERM: the lbfwd instances drained and exited with %d, %d and %d\n", rc1, rc2, rc3);
    verdict(rc1 == 0 && rc2 == 0 && rc3 == 0, "graceful stop exits 0");
    uint64_t bad = 0;
    for (int i = 0; i < N_BACKENDS; i++)
        bad += atomic_load(&g_be[i].proxy_bad);
    verdict(bad == 0, "every PROXY header lbfwd sent decoded cleanly");
    cleanup_child(&plain);
    cleanup_child(&sticky);
    cleanup_child(&local);
    atomic_store(&g_stop, 1);
    for (int i = 0; i < N_BACKENDS; i++) {
        pthread_join(g_be[i].th, NULL);
        close(g_be[i].fd);
    }
    say("\n%s\n", g_failed ? "demo: SOME CHECKS FAILED" : "demo: every check passed");
    return g_failed ? 1 : 0;
}
