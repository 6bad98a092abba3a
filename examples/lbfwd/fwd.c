/* lbfwd workers: one epoll loop per thread, its own SO_REUSEPORT listeners, and the connection
 * state machine (PROXY header wait, connect with retries, copy then splice both ways, half-close,
 * resets, timeouts). Edge-triggered: each socket is registered once for input and output, and the
 * connection remembers which side is readable or writable. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "lb/hash.h"
#include "lb/tls.h"
#include "lbfwd.h"

#define PIPE_CAP   (64 * 1024) /* bytes moved per splice */
#define COPY_CAP   (16 * 1024) /* copy buffer; a read that fills it switches to splice */
#define POOL_KEEP  64          /* idle pipes kept per worker */
#define ROUNDS     8           /* transfers per direction per turn (fairness) */
#define MAX_HDR    4096        /* largest PROXY header read from a trusted source */
#define DELACK_MS  1 /* smart connect/accept: how long a held ACK waits for bytes to ride on */
#define TAG_EVFD   1
#define TAG_LISTEN 16 /* + listener index */

#define SNI_PEEK (LB_TLS_DEFAULT_MAX_HELLO + 1024) /* hello records read at most (peeked) */

enum { ST_PROXY_WAIT = 1, ST_SNI_WAIT, ST_CONNECTING, ST_ESTABLISHED, ST_DEAD };
enum { TM_PROXY = 0, TM_CONNECT, TM_IDLE, TM_HALF, TM_DELACK, TM_SNI, TM_COUNT, TM_NONE = 255 };

/* flags: per side s (0 client, 1 target) */
#define F_R(s)      (1u << (0 + (s)))  /* readable */
#define F_W(s)      (1u << (2 + (s)))  /* writable */
#define F_EOF(s)    (1u << (4 + (s)))  /* read EOF from side s */
#define F_SHUT(s)   (1u << (6 + (s)))  /* we shut down writing toward side s */
#define F_UNCHECKED (1u << 8)          /* untrusted client: first bytes not yet checked */
#define F_PROXIED   (1u << 9)          /* client endpoint from a PROXY header */
#define F_READY     (1u << 10)         /* in the ready queue */
#define F_SPL(d)    (1u << (11 + (d))) /* direction d (source side d) moves data by splice */
#define F_HUP(s)    (1u << (13 + (s))) /* an event reported hang-up or error on side s */
#define F_TFIRST    (1u << 15)         /* the target ended first and got no byte after it */
#define F_HELD(s)   (1u << (16 + (s))) /* side s's socket holds its ACK (smart accept/connect) */
#define F_CSPOKE    (1u << 18)         /* the client's first bytes (or FIN) have arrived */

struct xfer {
    struct xfer *next; /* pool link */
    int rfd, wfd;      /* pipe; -1 in copy mode */
    uint32_t len, off; /* bytes in flight; copy-mode offset */
    char *buf;         /* copy mode only */
};

struct conn {
    struct conn *prev, *next; /* timer list */
    struct conn *rnext;       /* ready queue */
    uint64_t last_ms;
    uint64_t start_ms;
    uint64_t bytes[2]; /* [0] client to target, [1] target to client */
    struct xfer *x[2];
    int fd[2];
    uint32_t target_id;
    uint32_t close_gen;
    uint32_t flags;
    uint32_t excl[LBF_MAX_RETRIES + 1];
    uint8_t n_excl;
    uint8_t state;
    uint8_t timer;
    uint8_t lidx;
    uint8_t pool; /* index in app->pools (0: default) */
    struct lbf_ep client, server;
};

struct tlist {
    struct conn *head, *tail;
};

struct lbf_worker {
    struct lbf_app *app;
    int idx;
    pthread_t th;
    int ep;
    int evfd;
    int lfd[LBF_MAX_LISTEN];
    int n_lfd;
    int reserve_fd;
    uint64_t accept_paused_until; /* out of descriptors without a reserve: listeners muted */
    struct tlist timers[TM_COUNT];
    struct conn *ready_head, *ready_tail;
    struct conn *dead;    /* closed during this turn, freed at its end */
    struct xfer *pool[2]; /* [0] copy buffers, [1] pipes */
    int pool_n[2];
    uint64_t pool_used_ms; /* idle pipes and buffers are freed after a second without use */
    uint64_t conns;
    uint64_t now;
    uint32_t close_seq_seen;
    _Atomic uint64_t epoch_seen; /* app->live_epoch at the start of this turn */
    int listening;
    uint8_t *scratch;
    uint8_t *sni_buf;     /* SNI_PEEK bytes: a hello's records, peeked (the worker's, not a
                           * connection's: each read decodes from the start) */
    uint8_t *sni_scratch; /* LB_TLS_DEFAULT_MAX_HELLO: a fragmented hello reassembled */
    struct lbf_udp *udp; /* UDP listeners and flows (udp.c); NULL without UDP listeners */
};

static _Atomic uint32_t g_close_seq;
static _Atomic int g_close_all;
static _Atomic int g_exit;

/* ---- timers -------------------------------------------------------------------------------- */
static void tl_unlink(struct lbf_worker *w, struct conn *c)
{
    if (c->timer == TM_NONE)
        return;
    struct tlist *l = &w->timers[c->timer];
    if (c->prev)
        c->prev->next = c->next;
    else
        l->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        l->tail = c->prev;
    c->prev = c->next = NULL;
    c->timer = TM_NONE;
}

/* Moves the connection to the tail of a timer list: lists stay sorted by last_ms. */
static void tl_touch(struct lbf_worker *w, struct conn *c, int which)
{
    tl_unlink(w, c);
    struct tlist *l = &w->timers[which];
    c->timer = (uint8_t)which;
    c->last_ms = w->now;
    c->prev = l->tail;
    c->next = NULL;
    if (l->tail)
        l->tail->next = c;
    else
        l->head = c;
    l->tail = c;
}

static uint32_t timer_ms(const struct lbf_live *lv, int which)
{
    switch (which) {
    case TM_PROXY:
        return lv->proxy_timeout_ms;
    case TM_SNI:
        return lv->sni_timeout_ms;
    case TM_CONNECT:
        return lv->connect_timeout_ms;
    case TM_IDLE:
        return lv->idle_timeout_ms;
    case TM_DELACK:
        return DELACK_MS;
    default:
        return lv->half_closed_timeout_ms;
    }
}

/* ---- pipes and buffers --------------------------------------------------------------------- */
/* A transfer for one direction, taken only while bytes are in flight: a pipe when spl, else a
 * copy buffer. */
static struct xfer *xfer_get(struct lbf_worker *w, int spl)
{
    struct xfer *x = w->pool[spl];
    w->pool_used_ms = w->now;
    if (x) {
        w->pool[spl] = x->next;
        w->pool_n[spl]--;
        x->next = NULL;
        return x;
    }
    x = calloc(1, sizeof(*x));
    if (!x)
        return NULL;
    x->rfd = x->wfd = -1;
    if (spl) {
        int p[2];
        if (pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0) {
            free(x);
            return NULL;
        }
        x->rfd = p[0];
        x->wfd = p[1];
        atomic_fetch_add_explicit(&w->app->st.pipes_created, 1, memory_order_relaxed);
    } else {
        x->buf = malloc(COPY_CAP);
        if (!x->buf) {
            free(x);
            return NULL;
        }
    }
    return x;
}

static void xfer_destroy(struct xfer *x)
{
    if (x->rfd >= 0)
        close(x->rfd);
    if (x->wfd >= 0)
        close(x->wfd);
    free(x->buf);
    free(x);
}

/* Returns an empty transfer to the pool; one still holding bytes is destroyed. */
static void xfer_put(struct lbf_worker *w, struct xfer *x)
{
    if (!x)
        return;
    int spl = x->rfd >= 0;
    if (x->len != 0 || w->pool_n[spl] >= POOL_KEEP) {
        xfer_destroy(x);
        return;
    }
    x->off = 0;
    x->next = w->pool[spl];
    w->pool[spl] = x;
    w->pool_n[spl]++;
}

static void pool_trim(struct lbf_worker *w)
{
    for (int k = 0; k < 2; k++) {
        while (w->pool[k]) {
            struct xfer *x = w->pool[k];
            w->pool[k] = x->next;
            xfer_destroy(x);
        }
        w->pool_n[k] = 0;
    }
}

static ssize_t xfer_read(struct xfer *x, int src)
{
    if (x->rfd >= 0)
        return splice(src, NULL, x->wfd, NULL, PIPE_CAP, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    return recv(src, x->buf, COPY_CAP, 0);
}

/* more: the source has hung up, so its end of stream follows these bytes; the kernel holds a
 * last partial segment until the FIN that comes right after, and sends both in one packet. */
static ssize_t xfer_write(struct xfer *x, int dst, int more)
{
    if (x->rfd >= 0)
        return splice(x->rfd, NULL, dst, NULL, x->len,
                      SPLICE_F_MOVE | SPLICE_F_NONBLOCK | (more ? SPLICE_F_MORE : 0));
    ssize_t n = send(dst, x->buf + x->off, x->len, MSG_NOSIGNAL | (more ? MSG_MORE : 0));
    if (n > 0)
        x->off += (uint32_t)n;
    return n;
}

/* ---- endpoints ----------------------------------------------------------------------------- */
void lbf_ep_from_sockaddr(struct lbf_ep *ep, const struct sockaddr *sa)
{
    memset(ep, 0, sizeof(*ep));
    if (sa->sa_family == AF_INET) {
        struct sockaddr_in s;
        memcpy(&s, sa, sizeof(s)); /* the caller's buffer may be less aligned */
        ep->family = AF_INET;
        memcpy(ep->addr, &s.sin_addr, 4);
        ep->port = ntohs(s.sin_port);
    } else if (sa->sa_family == AF_INET6) {
        struct sockaddr_in6 s;
        memcpy(&s, sa, sizeof(s));
        ep->family = AF_INET6;
        memcpy(ep->addr, &s.sin6_addr, 16);
        ep->port = ntohs(s.sin6_port);
    }
}

socklen_t lbf_ep_to_sockaddr(const struct lbf_ep *ep, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (ep->family == AF_INET) {
        struct sockaddr_in *s = (struct sockaddr_in *)ss;
        s->sin_family = AF_INET;
        memcpy(&s->sin_addr, ep->addr, 4);
        s->sin_port = htons(ep->port);
        return sizeof(*s);
    }
    if (ep->family == AF_INET6) {
        struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;
        s->sin6_family = AF_INET6;
        memcpy(&s->sin6_addr, ep->addr, 16);
        s->sin6_port = htons(ep->port);
        return sizeof(*s);
    }
    return 0;
}

/* ---- closing and logging ------------------------------------------------------------------- */
static void set_rst(int fd)
{
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

static void access_log(struct lbf_worker *w, struct conn *c, const char *how)
{
    struct lbf_app *app = w->app;
    char cl[LB_ADDR_TEXT_MAX] = "-", tg[LB_ADDR_TEXT_MAX + LBF_NAME_MAX + 4] = "-", line[512];
    struct sockaddr_storage ss;
    if (lbf_ep_to_sockaddr(&c->client, &ss) &&
        lb_addr_format((struct sockaddr *)&ss, cl, sizeof(cl)) < 0)
        snprintf(cl, sizeof(cl), "-");
    struct lbf_target *t = c->target_id != LB_NO_TARGET ? lbf_target_get(app, c->target_id) : NULL;
    if (t)
        snprintf(tg, sizeof(tg), "%s(%s)", t->name, t->addr.text);
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof(line),
                     "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ conn client=%s%s target=%s in=%llu "
                     "out=%llu ms=%llu end=%s\n",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, cl, (c->flags & F_PROXIED) ? "(proxy)" : "", tg,
                     (unsigned long long)c->bytes[0], (unsigned long long)c->bytes[1],
                     (unsigned long long)(w->now - c->start_ms), how);
    if (n > 0) {
        ssize_t r = write(app->log_fd, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line));
        (void)r;
    }
}

static void ready_push(struct lbf_worker *w, struct conn *c)
{
    if (c->flags & F_READY)
        return;
    c->flags |= F_READY;
    c->rnext = NULL;
    if (w->ready_tail)
        w->ready_tail->rnext = c;
    else
        w->ready_head = c;
    w->ready_tail = c;
}

/* The connection no longer holds its target's id: the last access to the record. */
static void unhold(struct lbf_target *t)
{
    atomic_fetch_sub_explicit(&t->holders, 1, memory_order_release);
}

static void release_target(struct lbf_worker *w, struct conn *c)
{
    if (c->target_id == LB_NO_TARGET)
        return;
    struct lbf_target *t = lbf_target_get(w->app, c->target_id);
    lb_balancer_release(lbf_bal(w->app, c->pool), c->target_id, w->now);
    if (t) {
        atomic_fetch_add_explicit(&t->bytes_in, c->bytes[0], memory_order_relaxed);
        atomic_fetch_add_explicit(&t->bytes_out, c->bytes[1], memory_order_relaxed);
        unhold(t);
    }
}

/* How conn_close() ends each side: a reset (SO_LINGER 0) or a FIN. Bit s resets side s. */
enum conn_reset {
    RST_NONE = 0,
    RST_CLIENT = 1 << 0,
    RST_TARGET = 1 << 1,
    RST_BOTH = RST_CLIENT | RST_TARGET
};

/* Ends a connection; `rst` (enum conn_reset) names the sides that get a reset. */
static void conn_close(struct lbf_worker *w, struct conn *c, int rst, const char *how)
{
    struct lbf_app *app = w->app;
    struct lbf_live *lv = atomic_load_explicit(&app->live, memory_order_acquire);
    if (c->state == ST_DEAD)
        return;
    for (int s = 0; s < 2; s++) {
        if (c->fd[s] >= 0) {
            if (rst & (1 << s))
                set_rst(c->fd[s]);
            close(c->fd[s]);
            c->fd[s] = -1;
        }
        xfer_put(w, c->x[s]);
        c->x[s] = NULL;
    }
    atomic_fetch_add_explicit(&app->st.bytes_in, c->bytes[0], memory_order_relaxed);
    atomic_fetch_add_explicit(&app->st.bytes_out, c->bytes[1], memory_order_relaxed);
    if (lv->access_log)
        access_log(w, c, how);
    release_target(w, c);
    c->target_id = LB_NO_TARGET;
    tl_unlink(w, c);
    atomic_fetch_sub_explicit(&app->st.active, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&app->st.completed, 1, memory_order_relaxed);
    w->conns--;
    c->state = ST_DEAD;
    if (!(c->flags & F_READY)) {
        c->rnext = w->dead;
        w->dead = c;
    }
}

static void count(_Atomic uint64_t *ctr)
{
    atomic_fetch_add_explicit(ctr, 1, memory_order_relaxed);
}

/* ---- connecting ---------------------------------------------------------------------------- */
/* TCP_QUICKACK on fd: 0 puts it in delayed-ACK mode (its next ACK waits for bytes sent that
 * way to carry it; a listener's accepted sockets inherit the mode), 1 sends a held ACK now. */
static void quickack(int fd, int on)
{
    setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &on, sizeof(on));
}

static void start_connect(struct lbf_worker *w, struct conn *c);
static void run(struct lbf_worker *w, struct conn *c);

static uint64_t flow_hash(const struct lbf_live *lv, const struct conn *c)
{
    struct sockaddr_storage src, dst;
    uint64_t h = 0;
    if (!lbf_ep_to_sockaddr(&c->client, &src))
        return 0;
    uint64_t seed = lv->pool_seed[c->pool];
    if (lv->pool_affinity[c->pool]) {
        if (lb_hash_src_sockaddr((struct sockaddr *)&src, seed, &h) != 0)
            h = 0;
        return h;
    }
    if (!lbf_ep_to_sockaddr(&c->server, &dst) || c->server.family != c->client.family) {
        if (lb_hash_src_sockaddr((struct sockaddr *)&src, seed, &h) != 0)
            h = 0;
        return h;
    }
    if (lb_hash_flow_sockaddr((struct sockaddr *)&src, (struct sockaddr *)&dst, IPPROTO_TCP, seed,
                              &h) != 0)
        h = 0;
    return h;
}

static void connect_failed(struct lbf_worker *w, struct conn *c, int timed_out)
{
    struct lbf_app *app = w->app;
    struct lbf_live *lv = atomic_load_explicit(&app->live, memory_order_acquire);
    struct lbf_target *t = lbf_target_get(app, c->target_id);
    count(timed_out ? &app->st.connect_timeout : &app->st.connect_failed);
    if (t) {
        count(&t->connect_failures);
        atomic_store_explicit(&t->passive_failing, 1, memory_order_relaxed);
    }
    lb_balancer *bal = lbf_bal(app, c->pool);
    (void)lb_balancer_report_passive(bal, c->target_id, 0, w->now);
    lb_balancer_release(bal, c->target_id, w->now);
    if (t)
        unhold(t);
    if (c->n_excl < LBF_MAX_RETRIES + 1)
        c->excl[c->n_excl++] = c->target_id;
    c->target_id = LB_NO_TARGET;
    if (c->fd[1] >= 0) {
        close(c->fd[1]);
        c->fd[1] = -1;
    }
    if (c->n_excl <= lv->retries) {
        count(&app->st.retries);
        start_connect(w, c);
        return;
    }
    count(&app->st.give_up);
    conn_close(w, c, RST_CLIENT, timed_out ? "connect_timeout" : "connect_failed");
}

static void start_connect(struct lbf_worker *w, struct conn *c)
{
    struct lbf_app *app = w->app;
    struct lbf_live *lv = atomic_load_explicit(&app->live, memory_order_acquire);
    lb_pick_request req;
    uint32_t id = LB_NO_TARGET;
    memset(&req, 0, sizeof(req));
    req.struct_size = sizeof(req);
    req.flow_hash = flow_hash(lv, c);
    req.n_exclude = c->n_excl;
    req.exclude = c->n_excl ? c->excl : NULL;
    lb_balancer *bal = lbf_bal(app, c->pool);
    int rc = lb_balancer_pick_ex(bal, &req, &id);
    if (rc != 0) {
        if (rc == LB_E_BALANCER_TARGET_FULL) {
            count(&app->st.refused_full);
            conn_close(w, c, RST_CLIENT, "refused_target_full");
        } else {
            count(&app->st.refused_no_target);
            conn_close(w, c, RST_CLIENT,
                       rc == LB_E_NO_TARGET ? "refused_no_target" : lb_err_name(rc));
        }
        return;
    }
    struct lbf_target *t = lbf_target_get(app, id);
    if (!t) { /* cannot happen: records are published before the balancer knows their id */
        lb_balancer_release(bal, id, w->now);
        conn_close(w, c, RST_CLIENT, "error");
        return;
    }
    atomic_fetch_add_explicit(&t->holders, 1, memory_order_acq_rel);
    c->target_id = id;
    c->close_gen = atomic_load_explicit(&t->close_gen, memory_order_acquire);
    count(&t->conns);
    int fd = socket(t->addr.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        count(&app->st.refused_emfile);
        conn_close(w, c, RST_CLIENT, "no_socket");
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (app->cfg.smart_connect) {
        /* delayed-ACK mode before connecting: the kernel keeps the handshake's last ACK
         * and the first bytes sent carry it, one packet fewer, and the target sees the
         * connection and its first bytes in one wakeup (HAProxy's tcp-smart-connect) */
        quickack(fd, 0);
        c->flags |= F_HELD(1);
    }
    if (connect(fd, (const struct sockaddr *)&t->addr.ss, t->addr.len) != 0 &&
        errno != EINPROGRESS) {
        close(fd);
        connect_failed(w, c, 0);
        return;
    }
    c->fd[1] = fd;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                             .data.u64 = (uint64_t)(uintptr_t)c | 1u};
    if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
        conn_close(w, c, RST_BOTH, "error");
        return;
    }
    c->flags &= ~(F_R(1) | F_W(1) | F_HUP(1)); /* nothing from an earlier attempt */
    c->state = ST_CONNECTING;
    tl_touch(w, c, TM_CONNECT);
}

static void connect_done(struct lbf_worker *w, struct conn *c)
{
    struct lbf_app *app = w->app;
    struct lbf_live *lv = atomic_load_explicit(&app->live, memory_order_acquire);
    struct lbf_target *t = lbf_target_get(app, c->target_id);
    if (t && atomic_exchange_explicit(&t->passive_failing, 0, memory_order_relaxed))
        (void)lb_balancer_report_passive(lbf_bal(app, c->pool), c->target_id, 1, w->now);
    c->state = ST_ESTABLISHED;
    c->flags |= F_W(1);
    if (lv->send_proxy) {
        uint8_t hdr[536];
        int n = lbf_proxy_encode(lv->send_proxy, lv->send_proxy_crc32c, 0, &c->client, &c->server,
                                 hdr, sizeof(hdr));
        if (n <= 0 || send(c->fd[1], hdr, (size_t)n, MSG_NOSIGNAL) != n) {
            conn_close(w, c, RST_BOTH, "proxy_send_failed");
            return;
        }
    }
    if (lv->send_proxy)
        c->flags &= ~F_HELD(1); /* the header carried the ACK */
    tl_touch(w, c, TM_IDLE);
    run(w, c);
}

/* Whether side s holds an ACK that the end of the DELACK_MS wait must send: the target's
 * handshake ACK from the connect on; the client's from its first bytes on. */
static int ack_held(const struct conn *c, int s)
{
    return (c->flags & F_HELD(s)) && (s == 1 || (c->flags & F_CSPOKE));
}

/* A held ACK that nothing carried within DELACK_MS goes alone (TCP_QUICKACK 1 sends it).
 * Smart connect: nothing was sent to the target (no client byte, no PROXY header, no FIN); a
 * server that speaks first must not wait for the kernel's delayed-ACK timer (200 ms) to see
 * the connection. Smart accept: the client's first bytes got no answer yet; a client that
 * sends its request in two small writes under Nagle waits for this ACK before the second. */
static void delack_expired(struct lbf_worker *w, struct conn *c)
{
    for (int s = 0; s < 2; s++) {
        if (!ack_held(c, s))
            continue;
        c->flags &= ~F_HELD(s);
        count(s ? &w->app->st.delack_flushed : &w->app->st.cdelack_flushed);
        quickack(c->fd[s], 1);
    }
    tl_touch(w, c, (c->flags & (F_SHUT(0) | F_SHUT(1))) ? TM_HALF : TM_IDLE);
}

/* ---- SNI routes: the ClientHello picks the pool ---------------------------------------------
 * The hello is peeked, never consumed: every byte stays in the client's socket and is relayed
 * to the target unchanged. Each read decodes from the start (liblb's decoder keeps no state),
 * with the worker's buffers: a connection waiting for its hello holds nothing but its socket. */
static int routing(const struct lbf_live *lv)
{
    return lv->n_routes > 0 || lv->none_route >= 0;
}

static void sni_read(struct lbf_worker *w, struct conn *c)
{
    struct lbf_app *app = w->app;
    struct lbf_live *lv = atomic_load_explicit(&app->live, memory_order_acquire);
    ssize_t n = recv(c->fd[0], w->sni_buf, SNI_PEEK, MSG_PEEK);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        conn_close(w, c, RST_CLIENT, n == 0 ? "client_closed" : "client_reset");
        return;
    }
    lb_tls_hello h;
    lb_tls_hello_init(&h, sizeof(h));
    size_t need = 0;
    int r = lb_tls_decode(w->sni_buf, (size_t)n, NULL, w->sni_scratch, LB_TLS_DEFAULT_MAX_HELLO, &h,
                          &need);
    if (r == LB_E_NEED_MORE && n < SNI_PEEK && !(c->flags & F_HUP(0)))
        return; /* wait for more; the SNI timer bounds it */
    int route = -1;
    if (r == LB_E_TLS_NOT_TLS || (r > 0 && !h.sni_present)) {
        route = lv->none_route;
    } else if (r <= 0) { /* malformed, too large, or the client ended inside its hello */
        count(&app->st.sni_malformed);
        conn_close(w, c, RST_CLIENT, "sni_malformed");
        return;
    } else if (h.sni_error == LB_OK) {
        size_t k = 0;
        if (lb_tls_host_match(lv->route_pat, (size_t)lv->n_routes, (const char *)h.sni, h.sni_len,
                              &k) == LB_OK)
            route = (int)k;
    } /* an invalid name or an IP literal: no route takes it */
    if (route < 0) {
        count(&app->st.sni_unmatched);
        conn_close(w, c, RST_CLIENT, "sni_unmatched");
        return;
    }
    c->pool = lv->route_pool[route];
    count(&app->route_stats[lv->route_stat[route]].conns);
    c->flags |= F_R(0);
    start_connect(w, c);
}

/* `readable`: bytes after a PROXY header are already there. */
static void sni_begin(struct lbf_worker *w, struct conn *c, int readable)
{
    c->state = ST_SNI_WAIT;
    tl_touch(w, c, TM_SNI);
    if (readable)
        sni_read(w, c);
}

/* ---- PROXY header from trusted sources; none allowed from others --------------------------- */
static void proxy_read(struct lbf_worker *w, struct conn *c)
{
    struct lbf_app *app = w->app;
    ssize_t n = recv(c->fd[0], w->scratch, MAX_HDR, MSG_PEEK);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        count(&app->st.proxy_missing);
        conn_close(w, c, RST_CLIENT, n == 0 ? "proxy_missing" : "client_reset");
        return;
    }
    struct lbf_ep src = c->client, dst = c->server;
    int r = lbf_proxy_decode(w->scratch, (size_t)n, &src, &dst);
    if (r == LB_E_NEED_MORE) {
        if (n >= MAX_HDR) {
            count(&app->st.proxy_invalid);
            conn_close(w, c, RST_CLIENT, "proxy_too_long");
        }
        return; /* wait for more; the PROXY timer bounds it */
    }
    if (r == LB_E_PROXY_NOT_PROXY) {
        count(&app->st.proxy_missing);
        conn_close(w, c, RST_CLIENT, "proxy_missing");
        return;
    }
    if (r < 0) {
        count(&app->st.proxy_invalid);
        conn_close(w, c, RST_CLIENT, "proxy_invalid");
        return;
    }
    if (recv(c->fd[0], w->scratch, (size_t)r, 0) != r) {
        conn_close(w, c, RST_CLIENT, "error");
        return;
    }
    if (src.family) {
        c->client = src;
        c->server = dst;
        c->flags |= F_PROXIED;
    }
    if (n > r)
        c->flags |= F_R(0);
    struct lbf_live *lv = atomic_load_explicit(&app->live, memory_order_acquire);
    if (routing(lv)) {
        sni_begin(w, c, n > r);
        return;
    }
    start_connect(w, c);
}

/* Untrusted client: refuse when its first bytes are a PROXY header. 1 go on, 0 wait, -1 closed. */
static int check_first(struct lbf_worker *w, struct conn *c)
{
    struct lbf_app *app = w->app;
    ssize_t n = recv(c->fd[0], w->scratch, 16, MSG_PEEK);
    if (n < 0 && errno == EAGAIN) {
        c->flags &= ~F_R(0);
        return 0;
    }
    if (n <= 0) { /* EOF or error: the transfer path reports it */
        c->flags &= ~F_UNCHECKED;
        return 1;
    }
    struct lbf_ep src, dst;
    int r = lbf_proxy_decode(w->scratch, (size_t)n, &src, &dst);
    if (r == LB_E_PROXY_NOT_PROXY) {
        c->flags &= ~F_UNCHECKED;
        return 1;
    }
    if (r == LB_E_NEED_MORE && n < 12) {
        if (c->flags & F_HUP(0)) { /* the client ended there: a prefix, not a header */
            c->flags &= ~F_UNCHECKED;
            return 1;
        }
        c->flags &= ~F_R(0); /* could still become a signature: wait for more bytes */
        return 0;
    }
    count(&app->st.proxy_untrusted);
    conn_close(w, c, RST_BOTH, "proxy_untrusted");
    return -1;
}

/* ---- forwarding ---------------------------------------------------------------------------- */
enum { P_OK = 0, P_MORE = 1, P_RST_SRC = -1, P_RST_DST = -2, P_ERR = -3 };

static int pump(struct lbf_worker *w, struct conn *c, int d)
{
    int src = c->fd[d], dst = c->fd[1 - d];
    for (int round = 0;;) {
        struct xfer *x = c->x[d];
        if (x && x->len > 0) {
            if (!(c->flags & F_W(1 - d)))
                return P_OK;
            /* After a hang-up the source's queue ends in its FIN or an error, so the read that
             * follows this write returns 0 or fails at once, never EAGAIN: the FIN (or the
             * reset) always comes right after, and nothing stays held. */
            ssize_t n = xfer_write(x, dst, (c->flags & F_HUP(d)) != 0);
            if (n < 0) {
                if (errno == EAGAIN) {
                    c->flags &= ~F_W(1 - d);
                    return P_OK;
                }
                if (errno == EINTR)
                    continue;
                return (errno == EPIPE || errno == ECONNRESET) ? P_RST_DST : P_ERR;
            }
            x->len -= (uint32_t)n;
            c->bytes[d] += (uint64_t)n;
            if (d == 0)
                c->flags &= ~F_TFIRST; /* bytes after the target's FIN: it may still read */
            if (x->len == 0) {
                xfer_put(w, x);
                c->x[d] = NULL;
            }
            continue;
        }
        if (c->flags & F_EOF(d)) {
            if (!(c->flags & F_SHUT(1 - d))) {
                /* when the other way is already finished, close() sends this FIN */
                if ((c->flags & (F_EOF(1 - d) | F_SHUT(d))) != (F_EOF(1 - d) | F_SHUT(d)) ||
                    c->x[1 - d])
                    shutdown(dst, SHUT_WR);
                c->flags |= F_SHUT(1 - d);
            }
            return P_OK;
        }
        if (!(c->flags & F_R(d)))
            return P_OK;
        if (++round > ROUNDS)
            return P_MORE;
        if (!x) {
            x = xfer_get(w, (c->flags & F_SPL(d)) != 0);
            if (!x)
                return P_ERR;
            c->x[d] = x;
        }
        ssize_t n = xfer_read(x, src);
        if (n > 0) {
            x->len = (uint32_t)n;
            x->off = 0;
            if (x->rfd < 0 && n < COPY_CAP && !(c->flags & F_HUP(d))) {
                /* A short recv emptied the receive queue, and no hang-up was reported: with
                 * edge-triggered epoll the next arrival (data or FIN) brings a new event, so
                 * a read that would only say EAGAIN is skipped. */
                c->flags &= ~F_R(d);
            } else if (x->rfd < 0 && n == COPY_CAP && w->app->cfg.splice) {
                /* bulk: once this buffer is written, the direction moves by splice */
                c->flags |= F_SPL(d);
            }
            continue;
        }
        c->x[d] = NULL;
        xfer_put(w, x);
        if (n == 0) {
            if (d == 1 && !(c->flags & F_EOF(0)))
                c->flags |= F_TFIRST;
            c->flags |= F_EOF(d);
            continue;
        }
        if (errno == EAGAIN) {
            c->flags &= ~F_R(d);
            return P_OK;
        }
        if (errno == EINTR)
            continue;
        return (errno == ECONNRESET || errno == EPIPE || errno == ETIMEDOUT) ? P_RST_SRC : P_ERR;
    }
}

static void run(struct lbf_worker *w, struct conn *c)
{
    if (c->state != ST_ESTABLISHED)
        return;
    if ((c->flags & F_UNCHECKED) && (c->flags & F_R(0))) {
        if (check_first(w, c) < 0)
            return;
    }
    int more = 0;
    for (int d = 0; d < 2; d++) {
        if (d == 0 && (c->flags & F_UNCHECKED))
            continue;
        int r = pump(w, c, d);
        if (r == P_MORE) {
            more = 1;
            continue;
        }
        if (r < 0) {
            /* side d is the source; a reset on one side becomes a reset on the other */
            int rside = r == P_RST_SRC ? d : 1 - d;
            count(&w->app->st.resets);
            conn_close(w, c, RST_BOTH,
                       r == P_ERR   ? "error"
                       : rside == 0 ? "client_reset"
                                    : "target_reset");
            return;
        }
    }
    if ((c->flags & (F_EOF(0) | F_EOF(1) | F_SHUT(0) | F_SHUT(1))) ==
            (F_EOF(0) | F_EOF(1) | F_SHUT(0) | F_SHUT(1)) &&
        !c->x[0] && !c->x[1]) {
        /* the target closed first and was sent nothing after: a reset instead of a FIN
         * saves the target's ACK and its TIME_WAIT; the client sees the same either way */
        conn_close(w, c, (c->flags & F_TFIRST) ? RST_TARGET : RST_NONE, "done");
        return;
    }
    if (more)
        ready_push(w, c);
    /* the first bytes or the FIN sent toward a side carry that side's held ACK */
    for (int s = 0; s < 2; s++)
        if (c->bytes[1 - s] || (c->flags & F_SHUT(s)))
            c->flags &= ~F_HELD(s);
    if (ack_held(c, 0) || ack_held(c, 1)) {
        if (c->timer != TM_DELACK) /* the wait is not extended by later events */
            tl_touch(w, c, TM_DELACK);
        return;
    }
    tl_touch(w, c, (c->flags & (F_SHUT(0) | F_SHUT(1))) ? TM_HALF : TM_IDLE);
}

/* ---- events -------------------------------------------------------------------------------- */
static void conn_event(struct lbf_worker *w, struct conn *c, int side, uint32_t ev)
{
    if (c->state == ST_DEAD)
        return;
    if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        c->flags |= F_HUP(side);
    if (side == 0) {
        if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
            c->flags |= F_R(0) | F_CSPOKE;
        if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))
            c->flags |= F_W(0);
        if (c->state == ST_PROXY_WAIT) {
            proxy_read(w, c);
            return;
        }
        if (c->state == ST_SNI_WAIT) {
            sni_read(w, c);
            return;
        }
        if (c->state == ST_CONNECTING) {
            if (ev & EPOLLERR) {
                count(&w->app->st.resets);
                conn_close(w, c, RST_BOTH, "client_reset");
                return;
            }
            if ((c->flags & F_UNCHECKED) && (c->flags & F_R(0)))
                (void)check_first(w, c);
            return;
        }
    } else {
        if (c->state == ST_CONNECTING) {
            /* a failed connect reports EPOLLERR (its error is in SO_ERROR, not needed here) */
            if (ev & (EPOLLERR | EPOLLHUP)) {
                connect_failed(w, c, 0);
                return;
            }
            if (ev & EPOLLOUT) {
                if (ev & EPOLLIN)
                    c->flags |= F_R(1);
                connect_done(w, c);
            }
            return;
        }
        if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
            c->flags |= F_R(1);
        if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))
            c->flags |= F_W(1);
    }
    run(w, c);
}

/* Out of descriptors and the reserve could not be reopened (another thread took the freed
 * number): the level-triggered listeners would wake the loop at once, again and again, so they
 * are muted for 100 ms at a time until resume_accept() gets the reserve back. */
static void pause_accept(struct lbf_worker *w)
{
    for (int i = 0; i < w->n_lfd; i++) {
        struct epoll_event lev = {.events = 0, .data.u64 = TAG_LISTEN + (uint64_t)i};
        epoll_ctl(w->ep, EPOLL_CTL_MOD, w->lfd[i], &lev);
    }
    w->accept_paused_until = w->now + 100;
}

static void resume_accept(struct lbf_worker *w)
{
    if (!w->accept_paused_until || w->now < w->accept_paused_until)
        return;
    w->accept_paused_until = 0;
    if (w->reserve_fd < 0)
        w->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (w->reserve_fd < 0) {
        /* still no descriptor: an accept would fail too, and one that succeeded once some
         * were freed would leave the worker without its reserve for good; stay muted */
        w->accept_paused_until = w->now + 100;
        return;
    }
    if (!w->listening)
        return;
    for (int i = 0; i < w->n_lfd; i++) {
        struct epoll_event lev = {.events = EPOLLIN, .data.u64 = TAG_LISTEN + (uint64_t)i};
        epoll_ctl(w->ep, EPOLL_CTL_MOD, w->lfd[i], &lev);
    }
}

/* accept4() failed. Out of descriptors: accept and drop one connection with the reserve
 * descriptor so the queue drains and the loop does not spin. 1: try accepting again. */
static int accept_failed(struct lbf_worker *w, int lfd)
{
    struct lbf_app *app = w->app;
    if (errno == EINTR || errno == ECONNABORTED)
        return 1;
    if (errno != EMFILE && errno != ENFILE)
        return 0;
    count(&app->st.refused_emfile);
    int had_reserve = w->reserve_fd >= 0;
    if (had_reserve) {
        close(w->reserve_fd);
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0) {
            set_rst(fd);
            close(fd);
        }
    }
    w->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (w->reserve_fd < 0) {
        pause_accept(w);
        return 0;
    }
    return had_reserve;
}

/* Counts a new connection against max_conns; 0 (and the connection reset) over the limit. */
static int admit(struct lbf_worker *w, const struct lbf_live *lv, int fd)
{
    struct lbf_app *app = w->app;
    count(&app->st.accepted);
    uint64_t active = atomic_fetch_add_explicit(&app->st.active, 1, memory_order_relaxed);
    if (lv->max_conns && active >= lv->max_conns) {
        atomic_fetch_sub_explicit(&app->st.active, 1, memory_order_relaxed);
        count(&app->st.refused_max_conns);
        set_rst(fd);
        close(fd);
        return 0;
    }
    return 1;
}

/* A connection record for an accepted client on listener li; NULL (and the client reset)
 * without memory. The server endpoint is the listener's address, or for a wildcard listener
 * the address the client reached. */
static struct conn *conn_new(struct lbf_worker *w, int li, int fd,
                             const struct sockaddr_storage *ss)
{
    struct lbf_app *app = w->app;
    struct conn *c = calloc(1, sizeof(*c));
    if (!c) {
        atomic_fetch_sub_explicit(&app->st.active, 1, memory_order_relaxed);
        set_rst(fd);
        close(fd);
        return NULL;
    }
    w->conns++;
    c->fd[0] = fd;
    c->fd[1] = -1;
    c->target_id = LB_NO_TARGET;
    c->timer = TM_NONE;
    c->lidx = (uint8_t)li;
    c->start_ms = w->now;
    if (app->cfg.smart_accept)
        c->flags |= F_HELD(0); /* delayed-ACK mode, inherited from the listener */
    lbf_ep_from_sockaddr(&c->client, (const struct sockaddr *)ss);
    const struct lbf_addr *la = &app->bound[li];
    lbf_ep_from_sockaddr(&c->server, (const struct sockaddr *)&la->ss);
    int wildcard = 1;
    for (int b = 0; b < 16; b++)
        if (c->server.addr[b])
            wildcard = 0;
    if (wildcard) {
        struct sockaddr_storage ls;
        socklen_t ll = sizeof(ls);
        if (getsockname(fd, (struct sockaddr *)&ls, &ll) == 0)
            lbf_ep_from_sockaddr(&c->server, (struct sockaddr *)&ls);
    }
    return c;
}

/* A trusted source first sends its PROXY header (bounded by the PROXY timer); others connect at
 * once, their first bytes checked for a header they must not send when accept_proxy is on. */
static void conn_begin(struct lbf_worker *w, const struct lbf_live *lv, struct conn *c,
                       const struct sockaddr_storage *ss)
{
    int trusted = 0;
    for (int k = 0; k < lv->n_accept_proxy && !trusted; k++)
        trusted = lb_cidr_contains(&lv->accept_proxy[k], (const struct sockaddr *)ss) == 1;
    if (trusted) {
        c->state = ST_PROXY_WAIT;
        tl_touch(w, c, TM_PROXY);
        return;
    }
    if (lv->n_accept_proxy)
        c->flags |= F_UNCHECKED;
    if (routing(lv)) {
        sni_begin(w, c, 0);
        return;
    }
    start_connect(w, c);
}

static void accept_ready(struct lbf_worker *w, int li)
{
    struct lbf_live *lv = atomic_load_explicit(&w->app->live, memory_order_acquire);
    int lfd = w->lfd[li];
    for (int i = 0; i < 64 && w->listening; i++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        int fd = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (accept_failed(w, lfd))
                continue;
            return;
        }
        if (!admit(w, lv, fd))
            continue;
        struct conn *c = conn_new(w, li, fd, &ss);
        if (!c)
            continue;
        /* TCP_NODELAY is inherited from the listener */
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                                 .data.u64 = (uint64_t)(uintptr_t)c};
        if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
            conn_close(w, c, RST_CLIENT, "error");
            continue;
        }
        conn_begin(w, lv, c, &ss);
    }
}

static void expire(struct lbf_worker *w)
{
    struct lbf_live *lv = atomic_load_explicit(&w->app->live, memory_order_acquire);
    for (int k = 0; k < TM_COUNT; k++) {
        uint64_t limit = timer_ms(lv, k);
        struct conn *c;
        while ((c = w->timers[k].head) && c->last_ms + limit <= w->now) {
            switch (k) {
            case TM_PROXY:
                count(&w->app->st.proxy_timeout);
                conn_close(w, c, RST_CLIENT, "proxy_timeout");
                break;
            case TM_SNI:
                count(&w->app->st.sni_timeout);
                conn_close(w, c, RST_CLIENT, "sni_timeout");
                break;
            case TM_CONNECT:
                connect_failed(w, c, 1);
                break;
            case TM_IDLE:
                count(&w->app->st.idle_timeout);
                conn_close(w, c, RST_NONE, "idle_timeout");
                break;
            case TM_DELACK:
                delack_expired(w, c);
                break;
            default:
                count(&w->app->st.half_closed_timeout);
                conn_close(w, c, RST_NONE, "half_closed_timeout");
                break;
            }
        }
    }
}

static int next_timeout(struct lbf_worker *w)
{
    struct lbf_live *lv = atomic_load_explicit(&w->app->live, memory_order_acquire);
    uint64_t best = w->now + 1000;
    for (int k = 0; k < TM_COUNT; k++) {
        struct conn *c = w->timers[k].head;
        if (c && c->last_ms + timer_ms(lv, k) < best)
            best = c->last_ms + timer_ms(lv, k);
    }
    if ((w->pool[0] || w->pool[1]) && w->pool_used_ms + 1000 < best)
        best = w->pool_used_ms + 1000;
    if (w->accept_paused_until && w->accept_paused_until < best)
        best = w->accept_paused_until;
    if (w->udp) {
        int u = lbf_udp_next_ms(w->udp, w->now);
        if (w->now + (uint64_t)u < best)
            best = w->now + (uint64_t)u;
    }
    if (w->ready_head)
        return 0;
    return best <= w->now ? 0 : (int)(best - w->now);
}

/* Closes connections whose target's close generation moved (drain deadline), or all. */
static void scan_close(struct lbf_worker *w, int all)
{
    struct lbf_app *app = w->app;
    for (int k = 0; k < TM_COUNT; k++) {
        struct conn *c = w->timers[k].head;
        while (c) {
            struct conn *next = c->next;
            struct lbf_target *t =
                c->target_id != LB_NO_TARGET ? lbf_target_get(app, c->target_id) : NULL;
            if (all ||
                (t && atomic_load_explicit(&t->close_gen, memory_order_acquire) != c->close_gen)) {
                count(&app->st.drain_closed);
                conn_close(w, c, RST_BOTH, all ? "shutdown" : "drain_deadline");
            }
            c = next;
        }
    }
}

static void stop_listening(struct lbf_worker *w)
{
    if (!w->listening)
        return;
    w->listening = 0;
    for (int i = 0; i < w->n_lfd; i++) {
        epoll_ctl(w->ep, EPOLL_CTL_DEL, w->lfd[i], NULL);
        close(w->lfd[i]);
        w->lfd[i] = -1;
    }
    if (w->udp)
        lbf_udp_stop_listening(w->udp);
}

static void *worker_main(void *arg)
{
    struct lbf_worker *w = arg;
    struct lbf_app *app = w->app;
    struct epoll_event evs[256];
    w->now = lbf_now_ms();
    for (;;) {
        int n = epoll_wait(w->ep, evs, 256, next_timeout(w));
        /* from here on this turn reads `live` afresh: older settings may be freed */
        atomic_store(&w->epoch_seen, atomic_load(&app->live_epoch));
        w->now = lbf_now_ms();
        for (int i = 0; i < n; i++) {
            uint64_t tag = evs[i].data.u64;
            if (tag == TAG_EVFD) {
                uint64_t v;
                ssize_t r = read(w->evfd, &v, sizeof(v));
                (void)r;
                continue;
            }
            if (tag >= TAG_LISTEN && tag < TAG_LISTEN + LBF_MAX_LISTEN) {
                accept_ready(w, (int)(tag - TAG_LISTEN));
                continue;
            }
            if (tag & LBF_TAG_UDP_FLOW) {
                lbf_udp_flow_ready(w->udp, tag, evs[i].events, w->now);
                continue;
            }
            if (tag >= LBF_TAG_UDP_LISTEN && tag < LBF_TAG_UDP_LISTEN + LBF_MAX_LISTEN) {
                lbf_udp_listener_ready(w->udp, (int)(tag - LBF_TAG_UDP_LISTEN), w->now);
                continue;
            }
            struct conn *c = (struct conn *)(uintptr_t)(tag & ~(uint64_t)1);
            conn_event(w, c, (int)(tag & 1), evs[i].events);
        }
        if (w->udp)
            lbf_udp_turn_end(w->udp, w->now);
        /* connections that used their turn: one more round each, in order */
        struct conn *c = w->ready_head;
        w->ready_head = w->ready_tail = NULL;
        while (c) {
            struct conn *next = c->rnext;
            c->flags &= ~F_READY;
            if (c->state == ST_DEAD) {
                c->rnext = w->dead;
                w->dead = c;
            } else {
                run(w, c);
            }
            c = next;
        }
        expire(w);
        resume_accept(w);
        if (atomic_load_explicit(&app->stopping, memory_order_acquire))
            stop_listening(w);
        uint32_t seq = atomic_load_explicit(&g_close_seq, memory_order_acquire);
        if (seq != w->close_seq_seen) {
            w->close_seq_seen = seq;
            scan_close(w, 0);
            if (w->udp)
                lbf_udp_close_flows(w->udp, 0, w->now);
        }
        if (atomic_load_explicit(&g_close_all, memory_order_acquire)) {
            scan_close(w, 1);
            if (w->udp)
                lbf_udp_close_flows(w->udp, 1, w->now);
        }
        if ((w->pool[0] || w->pool[1]) && w->now >= w->pool_used_ms + 1000)
            pool_trim(w);
        while (w->dead) {
            struct conn *d = w->dead;
            w->dead = d->rnext;
            free(d);
        }
        if (atomic_load_explicit(&g_exit, memory_order_acquire) && w->conns == 0 && !w->ready_head)
            break;
    }
    stop_listening(w);
    pool_trim(w);
    if (w->udp) {
        lbf_udp_free(w->udp, lbf_now_ms());
        w->udp = NULL;
    }
    return NULL;
}

int lbf_listen_socket(const struct lbf_addr *a, int reuseport, char *msg, size_t cap)
{
    int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(msg, cap, "socket: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (reuseport)
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* accepted sockets inherit it */
    if (a->ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (const struct sockaddr *)&a->ss, a->len) != 0) {
        snprintf(msg, cap, "bind %s: %s", a->text, strerror(errno));
        close(fd);
        return -1;
    }
    if (listen(fd, 4096) != 0) {
        snprintf(msg, cap, "listen %s: %s", a->text, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* Creates the workers' listeners (first worker's first, to learn ports chosen by the kernel),
 * then starts the threads. */
int lbf_workers_start(struct lbf_app *app)
{
    char msg[256];
    struct lbf_config *cfg = &app->cfg;
    app->workers = calloc((size_t)app->n_workers, sizeof(*app->workers));
    if (!app->workers)
        return -1;
    for (int i = 0; i < cfg->n_listen; i++)
        app->bound[i] = cfg->listen[i];
    for (int wi = 0; wi < app->n_workers; wi++) {
        struct lbf_worker *w = &app->workers[wi];
        w->app = app;
        w->idx = wi;
        w->ep = epoll_create1(EPOLL_CLOEXEC);
        w->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        w->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        w->scratch = malloc(MAX_HDR);
        w->sni_buf = malloc(SNI_PEEK);
        w->sni_scratch = malloc(LB_TLS_DEFAULT_MAX_HELLO);
        if (w->ep < 0 || w->evfd < 0 || !w->scratch || !w->sni_buf || !w->sni_scratch) {
            lbf_log("lbfwd: worker setup: %s", strerror(errno));
            return -1;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TAG_EVFD};
        epoll_ctl(w->ep, EPOLL_CTL_ADD, w->evfd, &ev);
        for (int i = 0; i < cfg->n_listen; i++) {
            int fd = lbf_listen_socket(&app->bound[i], 1, msg, sizeof(msg));
            if (fd < 0) {
                lbf_log("lbfwd: %s", msg);
                return -1;
            }
            if (cfg->smart_accept) {
                /* Smart accept: accepted sockets inherit the listener's delayed-ACK mode, so
                 * the ACK of a client's first bytes waits for the answer to carry it (one
                 * packet fewer per connection, as HAProxy's tcp-smart-accept, at no call per
                 * connection; unlike TCP_DEFER_ACCEPT it does not hold back servers that
                 * speak first); run() bounds the wait to DELACK_MS */
                quickack(fd, 0);
            }
            if (wi == 0) {
                struct lbf_addr *b = &app->bound[i];
                b->len = sizeof(b->ss);
                getsockname(fd, (struct sockaddr *)&b->ss, &b->len);
                lb_addr_format((struct sockaddr *)&b->ss, b->text, sizeof(b->text));
            }
            w->lfd[i] = fd;
            struct epoll_event lev = {.events = EPOLLIN, .data.u64 = TAG_LISTEN + (uint64_t)i};
            epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &lev);
        }
        w->n_lfd = cfg->n_listen;
        w->listening = 1;
        if (cfg->n_udp_listen) {
            w->udp = lbf_udp_new(app, w->ep, wi, msg, sizeof(msg));
            if (!w->udp) {
                lbf_log("lbfwd: %s", msg);
                return -1;
            }
        }
    }
    return 0;
}

int lbf_workers_run(struct lbf_app *app)
{
    for (int wi = 0; wi < app->n_workers; wi++)
        if (pthread_create(&app->workers[wi].th, NULL, worker_main, &app->workers[wi]) != 0)
            return -1;
    atomic_store(&app->listening, 1);
    return 0;
}

uint64_t lbf_workers_min_epoch(struct lbf_app *app)
{
    uint64_t min = UINT64_MAX;
    for (int i = 0; i < app->n_workers; i++) {
        uint64_t e = atomic_load(&app->workers[i].epoch_seen);
        if (e < min)
            min = e;
    }
    return min;
}

void lbf_workers_wake(struct lbf_app *app)
{
    for (int i = 0; i < app->n_workers; i++) {
        uint64_t one = 1;
        ssize_t r = write(app->workers[i].evfd, &one, sizeof(one));
        (void)r;
    }
}

void lbf_workers_signal_close(struct lbf_app *app)
{
    atomic_fetch_add_explicit(&g_close_seq, 1, memory_order_acq_rel);
    lbf_workers_wake(app);
}

void lbf_workers_stop_accepting(struct lbf_app *app)
{
    atomic_store(&app->stopping, 1);
    atomic_store(&app->listening, 0);
    lbf_workers_wake(app);
}

void lbf_workers_close_all(struct lbf_app *app)
{
    atomic_store(&g_close_all, 1);
    lbf_workers_wake(app);
}

void lbf_workers_join(struct lbf_app *app)
{
    atomic_store(&g_exit, 1);
    lbf_workers_wake(app);
    for (int i = 0; i < app->n_workers; i++) {
        struct lbf_worker *w = &app->workers[i];
        pthread_join(w->th, NULL);
        close(w->ep);
        close(w->evfd);
        if (w->reserve_fd >= 0)
            close(w->reserve_fd);
        free(w->scratch);
        free(w->sni_buf);
        free(w->sni_scratch);
    }
    free(app->workers);
    app->workers = NULL;
}
