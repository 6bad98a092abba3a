/* lbfwd UDP listeners: per worker one SO_REUSEPORT socket per `udp:` listener, read with
 * recvmmsg(); a per-worker lb_flowtab (new-first eviction) remembers each client 5-tuple's
 * target; every flow has its own connected upstream socket in the worker's epoll, so that a
 * reply is matched to its flow by the socket it arrives on and an ICMP port unreachable from the
 * target comes back as ECONNREFUSED on that flow alone. Replies are batched toward the clients
 * with sendmmsg(), from the address the client sent to (IP_PKTINFO / IPV6_PKTINFO on wildcard
 * listeners). All buffers and flow slots are allocated at start: nothing per datagram. Flow
 * expiry and eviction are the library's (lb_flowtab_expire(), lb_flowtab_insert()).
 *
 * Sends are grouped: the datagrams of one recvmmsg() batch go out per flow, one sendmmsg() on
 * the flow's socket, and datagrams of one flow that share a size (the last of a group may be
 * shorter) leave as one UDP GSO message (a UDP_SEGMENT control message): one pass through the
 * IP stack for the group, cut into datagrams by the kernel (or the device). The replies of a
 * flow read in one recvmmsg() are grouped the same way toward the client. A socket whose path
 * refuses GSO (EIO: no checksum offload; EINVAL or, on newer kernels, EMSGSIZE: the size does
 * not fit the path's MTU) remembers the largest size it still tries (0: none), and that group
 * goes out datagram by datagram.
 *
 * A flow ended by udp_responses leaves its socket parked with its 5-tuple in the table, for
 * the same client's next flow if that one picks the same target (flow_park(), doc/lbfwd.md).
 * A new flow of another client takes the oldest parked socket only after moving it to a new
 * local port (recycle()): the kernel releases the old port as close() would, so a parked
 * socket never carries another client's datagrams from the port its old client's target
 * knows, and what was sent to the old port is told apart by its destination port
 * (IP_ORIGDSTADDR) and dropped. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/udp.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "lb/flowtab.h"
#include "lb/hash.h"
#include "lbfwd.h"

#define BATCH     32 /* datagrams per recvmmsg()/sendmmsg() */
#define ROUNDS    4  /* batches per readiness event (fairness between sockets) */
#define CTL_SIZE  64 /* room for an IP_PKTINFO, IPV6_PKTINFO or *_ORIGDSTADDR control message
                        and a UDP_SEGMENT */
#define NO_SLOT   UINT32_MAX
#define GSO_SEGS  64    /* datagrams per GSO message (the kernel's UDP_MAX_SEGMENTS is >= 64) */
#define GSO_BYTES 65507 /* payload bytes per GSO message (an IPv4 packet's largest payload) */
#define GSO_ANY   UINT16_MAX /* gso_max of a socket that was never refused */
#define SEG_SPACE CMSG_SPACE(sizeof(uint16_t))
#define PARK_MAX  1024 /* parked sockets per worker at most (flow_park()) */

/* Why a flow ended, when it is lbfwd that removes it (lb_flowtab_remove()). */
enum { END_BY_TABLE = 0, END_REFUSED, END_CLOSED };

union sa46 {
    struct sockaddr sa;
    struct sockaddr_in v4;
    struct sockaddr_in6 v6;
};

union pktinfo {
    struct in_pktinfo v4;
    struct in6_pktinfo v6;
};

struct flow {
    lb_flowtab_key key;
    union sa46 client;
    socklen_t client_len;
    union pktinfo local; /* the address the client sent to (wildcard listeners) */
    int fd;              /* connected to the target; -1 for a free slot */
    uint32_t target;
    uint32_t close_gen;
    uint32_t replies;
    uint32_t next_free;
    uint32_t park_prev, park_next; /* the parked list, oldest first (flow_park()) */
    uint16_t gso_max;              /* largest datagram sent with GSO on fd (see the top) */
    uint16_t lport; /* fd's local port (network order) once recycled, else 0 (recycle()) */
    uint8_t pend_n;                /* datagrams of the current batch queued for it */
    uint8_t pend_head;             /* the first of them (index in the batch; chained by u->pnext) */
    uint8_t pend_tail;
    uint8_t li;
    uint8_t parked; /* its flow ended by udp_responses; the socket waits for the 5-tuple */
    uint8_t has_local;
    uint8_t v6;   /* fd is an AF_INET6 socket */
    uint8_t pool; /* its listener's pool: the balancer that holds its target */
};

struct lbf_udp {
    struct lbf_app *app;
    int ep;
    int lfd[LBF_MAX_LISTEN];
    int wildcard[LBF_MAX_LISTEN];
    uint8_t pool[LBF_MAX_LISTEN];      /* each listener's pool (index in app->pools) */
    uint16_t lgso_max[LBF_MAX_LISTEN]; /* each listener socket's gso_max */
    int n_lfd;
    lb_flowtab *ft;
    struct flow *flows;
    uint32_t n_slots;
    uint32_t free_head;
    int end_why;                   /* END_*, read by on_end() */
    uint32_t park_head, park_tail; /* parked flows' slots, oldest first (NO_SLOT: none) */
    uint32_t park_n, park_max;
    uint64_t now;
    uint64_t seed;
    uint32_t max_dgram;
    uint32_t responses;
    uint32_t sweep_ms;
    uint64_t last_sweep;
    /* receiving from clients */
    struct mmsghdr rmsg[BATCH];
    struct iovec riov[BATCH];
    union sa46 raddr[BATCH];
    _Alignas(struct cmsghdr) uint8_t rctl[BATCH][CTL_SIZE];
    uint8_t *rbuf;
    /* the batch's datagrams per flow, sent at the end of the batch */
    uint8_t pnext[BATCH];  /* the next datagram of the same flow */
    uint32_t pflow[BATCH]; /* slots of the flows with datagrams queued */
    int np;
    struct mmsghdr umsg[BATCH]; /* one flow's messages toward its target */
    struct iovec uiov[BATCH];
    uint16_t ucount[BATCH]; /* datagrams in each message */
    _Alignas(struct cmsghdr) uint8_t uctl[BATCH][SEG_SPACE];
    /* replies toward clients: received into the datagram slots siov (sd of them queued),
     * queued as sn messages (GSO groups or single datagrams), sent with one sendmmsg() */
    struct mmsghdr frmsg[BATCH]; /* receiving from a flow's socket */
    struct mmsghdr smsg[BATCH];
    struct iovec siov[BATCH];
    union sa46 saddr[BATCH];
    _Alignas(struct cmsghdr) uint8_t sctl[BATCH][CTL_SIZE];
    uint8_t *sbuf;
    int sd;  /* datagrams queued */
    int sn;  /* messages queued */
    int sli; /* their listener */
    /* counters of this turn, added to app->udp_st at its end */
    uint64_t d_in[LBF_MAX_LISTEN], b_in[LBF_MAX_LISTEN], d_out[LBF_MAX_LISTEN],
        b_out[LBF_MAX_LISTEN];
};

static void add(struct lbf_udp *u, int li, size_t field, uint64_t v)
{
    _Atomic uint64_t *a = (_Atomic uint64_t *)(void *)((char *)&u->app->udp_st[li] + field);
    _Atomic uint64_t *t =
        (_Atomic uint64_t *)(void *)((char *)&u->app->udp_st[LBF_MAX_LISTEN] + field);
    atomic_fetch_add_explicit(a, v, memory_order_relaxed);
    atomic_fetch_add_explicit(t, v, memory_order_relaxed);
}
#define ADD(u, li, f, v) add((u), (li), offsetof(struct lbf_udp_stats, f), (v))
#define TADD(t, f, v)    atomic_fetch_add_explicit(&(t)->f, (v), memory_order_relaxed)

/* Takes a parked flow out of the parked list. */
static void unpark(struct lbf_udp *u, struct flow *f)
{
    if (f->park_prev != NO_SLOT)
        u->flows[f->park_prev].park_next = f->park_next;
    else
        u->park_head = f->park_next;
    if (f->park_next != NO_SLOT)
        u->flows[f->park_next].park_prev = f->park_prev;
    else
        u->park_tail = f->park_prev;
    u->park_n--;
    f->parked = 0;
}

/* A flow ended: its counts and its pick are released (t: its target's record, which the
 * flow's slot still holds until its socket closes). */
static void flow_released(struct lbf_udp *u, struct flow *f, struct lbf_target *t)
{
    atomic_fetch_sub_explicit(&u->app->udp_st[f->li].flows_active, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&u->app->udp_st[LBF_MAX_LISTEN].flows_active, 1,
                              memory_order_relaxed);
    lb_balancer_release(lbf_bal(u->app, f->pool), f->target, u->now);
    if (t) {
        if (!f->replies)
            TADD(t, udp_unanswered, 1);
        atomic_fetch_sub_explicit(&t->udp_active, 1, memory_order_relaxed);
    }
}

/* lb_flowtab's report of a flow that left the table: its socket closes, its target is
 * released, its slot is free again. */
static void on_end(void *user, const lb_flowtab_end *end)
{
    struct lbf_udp *u = user;
    uint32_t slot = (uint32_t)end->data;
    if (slot >= u->n_slots)
        return;
    struct flow *f = &u->flows[slot];
    if (f->fd < 0)
        return;
    close(f->fd); /* leaves the epoll set */
    f->fd = -1;
    if (f->pend_n) { /* evicted by a new flow of the same batch: its datagrams go nowhere */
        ADD(u, f->li, dropped_send, f->pend_n);
        f->pend_n = 0;
    }
    struct lbf_target *t = lbf_target_get(u->app, f->target);
    if (f->parked) { /* its flow was accounted for when it ended: only the socket was left */
        unpark(u, f);
        goto freed;
    }
    switch (end->reason == LB_FLOWTAB_END_REMOVED ? u->end_why : END_BY_TABLE) {
    case END_REFUSED:
        ADD(u, f->li, flows_refused, 1);
        break;
    case END_CLOSED:
        ADD(u, f->li, flows_drain_closed, 1);
        break;
    default:
        if (end->reason == LB_FLOWTAB_END_EVICTED)
            ADD(u, f->li, flows_evicted, 1);
        else if (end->reason == LB_FLOWTAB_END_EXPIRED)
            ADD(u, f->li, flows_expired, 1);
        else
            ADD(u, f->li, flows_drain_closed, 1);
        break;
    }
    flow_released(u, f, t);
freed:
    if (t)
        atomic_fetch_sub_explicit(&t->holders, 1, memory_order_release);
    f->next_free = u->free_head;
    u->free_head = slot;
}

/* Removes a flow for a reason of lbfwd's (END_*). */
static void end_flow(struct lbf_udp *u, struct flow *f, int why)
{
    u->end_why = why;
    (void)lb_flowtab_remove(u->ft, &f->key, u->now); /* an idle one is reported as expired */
    u->end_why = END_BY_TABLE;
}

static int udp_socket(const struct lbf_addr *a, int wildcard, char *msg, size_t cap)
{
    int fd = socket(a->ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(msg, cap, "socket udp: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (a->ss.ss_family == AF_INET6) {
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
        if (wildcard)
            setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
    } else if (wildcard) {
        setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
    }
    if (bind(fd, (const struct sockaddr *)&a->ss, a->len) != 0) {
        snprintf(msg, cap, "bind udp:%s: %s", a->text, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* udp_rcvbuf on a listener socket: SO_RCVBUFFORCE (with CAP_NET_ADMIN, beyond
 * net.core.rmem_max), else SO_RCVBUF (capped by rmem_max); a size the kernel cut is logged
 * once (text: the listener; NULL for the other workers' sockets). The kernel reports twice
 * the size asked for (its bookkeeping overhead). */
static void set_rcvbuf(int fd, uint32_t bytes, const char *text)
{
    int v = (int)bytes, got = 0;
    socklen_t len = sizeof(got);
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof(v)) != 0)
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
    if (text && (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &len) != 0 || got / 2 < v))
        lbf_log("udp:%s: receive buffer %d bytes, not %d (net.core.rmem_max caps it without "
                "CAP_NET_ADMIN)",
                text, got / 2, v);
}

struct lbf_udp *lbf_udp_new(struct lbf_app *app, int ep, int widx, char *msg, size_t cap)
{
    const struct lbf_config *cfg = &app->cfg;
    struct lbf_udp *u = calloc(1, sizeof(*u));
    if (!u) {
        snprintf(msg, cap, "udp: out of memory");
        return NULL;
    }
    u->app = app;
    u->ep = ep;
    u->seed = cfg->seed;
    u->max_dgram = cfg->udp_max_datagram;
    u->responses = cfg->udp_responses;
    u->sweep_ms = cfg->udp_idle_timeout_ms / 8;
    if (u->sweep_ms < 10)
        u->sweep_ms = 10;
    if (u->sweep_ms > 1000)
        u->sweep_ms = 1000;
    u->now = u->last_sweep = lbf_now_ms();
    lb_flowtab_config fc;
    lb_flowtab_config_init(&fc, sizeof(fc));
    fc.capacity = cfg->udp_flows;
    fc.idle_timeout_ms = cfg->udp_idle_timeout_ms;
    fc.evict = LB_FLOWTAB_EVICT_NEW_FIRST;
    fc.on_end = on_end;
    fc.user = u;
    int rc = lb_flowtab_new(&u->ft, &fc);
    if (rc != 0) {
        snprintf(msg, cap, "udp flow table: %s", lb_err_name(rc));
        free(u);
        return NULL;
    }
    /* one slot more than the table holds: a new flow takes its slot before the insert that
     * may evict another */
    u->n_slots = lb_flowtab_capacity(u->ft) + 1;
    u->park_head = u->park_tail = NO_SLOT;
    u->park_max = lb_flowtab_capacity(u->ft) / 16;
    if (u->park_max > PARK_MAX)
        u->park_max = PARK_MAX;
    if (u->park_max < 1)
        u->park_max = 1;
    u->flows = calloc(u->n_slots, sizeof(*u->flows));
    u->rbuf = malloc((size_t)BATCH * u->max_dgram);
    u->sbuf = malloc((size_t)BATCH * u->max_dgram);
    if (!u->flows || !u->rbuf || !u->sbuf) {
        snprintf(msg, cap, "udp: out of memory");
        lbf_udp_free(u, u->now);
        return NULL;
    }
    for (uint32_t i = 0; i < u->n_slots; i++) {
        u->flows[i].fd = -1;
        u->flows[i].next_free = i + 1 < u->n_slots ? i + 1 : NO_SLOT;
    }
    u->free_head = 0;
    for (int i = 0; i < BATCH; i++) {
        u->riov[i].iov_base = u->rbuf + (size_t)i * u->max_dgram;
        u->siov[i].iov_base = u->sbuf + (size_t)i * u->max_dgram;
    }
    for (int i = 0; i < LBF_MAX_LISTEN; i++) {
        u->lfd[i] = -1;
        u->lgso_max[i] = GSO_ANY;
    }
    for (int i = 0; i < cfg->n_udp_listen; i++) {
        int pool = lbf_pool_by_name(app, cfg->udp_pool[i]);
        if (pool < 0) { /* the configuration check and lbf_pools_apply() made it */
            snprintf(msg, cap, "udp:%s: no pool '%s'", cfg->udp_listen[i].text, cfg->udp_pool[i]);
            lbf_udp_free(u, u->now);
            return NULL;
        }
        u->pool[i] = (uint8_t)pool;
        if (widx == 0)
            app->udp_bound[i] = cfg->udp_listen[i];
        struct lbf_addr *b = &app->udp_bound[i];
        u->wildcard[i] = lbf_addr_is_wildcard(b);
        int fd = udp_socket(b, u->wildcard[i], msg, cap);
        if (fd < 0) {
            lbf_udp_free(u, u->now);
            return NULL;
        }
        if (widx == 0) {
            b->len = sizeof(b->ss);
            getsockname(fd, (struct sockaddr *)&b->ss, &b->len);
            lb_addr_format((struct sockaddr *)&b->ss, b->text, sizeof(b->text));
        }
        u->lfd[i] = fd;
        u->n_lfd = i + 1;
        if (cfg->udp_rcvbuf)
            set_rcvbuf(fd, cfg->udp_rcvbuf, widx == 0 ? b->text : NULL);
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = LBF_TAG_UDP_LISTEN + (uint64_t)i};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
            snprintf(msg, cap, "epoll udp: %s", strerror(errno));
            lbf_udp_free(u, u->now);
            return NULL;
        }
    }
    return u;
}

/* A received datagram's first control message of type v4 (IPPROTO_IP) or v6 (IPPROTO_IPV6):
 * its data, its family in *fam; NULL when it has none. */
static const void *find_cmsg(const struct msghdr *mh, int v4, int v6, int *fam)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR((struct msghdr *)mh); c;
         c = CMSG_NXTHDR((struct msghdr *)mh, c)) {
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == v4)
            *fam = AF_INET;
        else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == v6)
            *fam = AF_INET6;
        else
            continue;
        return CMSG_DATA(c);
    }
    *fam = 0;
    return NULL;
}

/* The destination address of a datagram received on a wildcard listener: its family, 0 when
 * it has none. */
static int read_pktinfo(const struct msghdr *mh, union pktinfo *out)
{
    int fam = 0;
    const void *d = find_cmsg(mh, IP_PKTINFO, IPV6_PKTINFO, &fam);
    if (d)
        memcpy(out, d, fam == AF_INET ? sizeof(out->v4) : sizeof(out->v6));
    return fam;
}

/* The flow's local address as a socket address (for its key). */
static void local_sockaddr(const struct lbf_udp *u, int li, const union pktinfo *pi, int fam,
                           union sa46 *out)
{
    const struct lbf_addr *b = &u->app->udp_bound[li];
    memcpy(out, &b->ss, b->len < sizeof(*out) ? b->len : sizeof(*out));
    if (fam == AF_INET && b->ss.ss_family == AF_INET)
        out->v4.sin_addr = pi->v4.ipi_addr;
    else if (fam == AF_INET6 && b->ss.ss_family == AF_INET6)
        out->v6.sin6_addr = pi->v6.ipi6_addr;
}

/* A new flow's target (the pool's balancer), in *id; NULL (counted) when there is none. */
static struct lbf_target *flow_pick(struct lbf_udp *u, int li, const lb_flowtab_key *key,
                                    const union sa46 *client, uint32_t *id)
{
    struct lbf_app *app = u->app;
    struct lbf_live *lv = atomic_load_explicit(&app->live, memory_order_acquire);
    lb_pick_request req;
    memset(&req, 0, sizeof(req));
    req.struct_size = sizeof(req);
    /* the 5-tuple's hash is the flow key's (seed fixed at start); with affinity source, the
     * client address hashed with the pool's seed, as for TCP */
    int pool = u->pool[li];
    req.flow_hash = key->hash;
    if (lv->pool_affinity[pool] &&
        lb_hash_src_sockaddr(&client->sa, lv->pool_seed[pool], &req.flow_hash) != 0)
        req.flow_hash = key->hash;
    *id = LB_NO_TARGET;
    lb_balancer *bal = lbf_bal(app, (uint32_t)pool);
    if (lb_balancer_pick_ex(bal, &req, id) != 0) {
        ADD(u, li, dropped_no_target, 1);
        return NULL;
    }
    struct lbf_target *t = lbf_target_get(app, *id);
    if (!t) {
        lb_balancer_release(bal, *id, u->now);
        ADD(u, li, dropped_no_target, 1);
        return NULL;
    }
    return t;
}

/* A flow begins on target t (id): counted. */
static void flow_started(struct lbf_udp *u, struct flow *f, int li, struct lbf_target *t)
{
    f->replies = 0;
    f->li = (uint8_t)li;
    f->pool = u->pool[li];
    TADD(t, udp_flows, 1);
    TADD(t, udp_active, 1);
    ADD(u, li, flows_created, 1);
    ADD(u, li, flows_active, 1);
}

/* Reads and drops what waits on a parked flow's socket (replies after its flow's last one),
 * counted: 0 when the socket is clean, -1 when it reported an error (an ICMP port
 * unreachable). */
static int discard(struct lbf_udp *u, const struct flow *f)
{
    char b;
    int i = 0, rc = 0;
    for (; i < 2 * BATCH; i++) {
        if (recv(f->fd, &b, 1, MSG_DONTWAIT | MSG_TRUNC) < 0) {
            rc = errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
            break;
        }
    }
    if (i) /* else still more: the next readiness event goes on (or recycle()'s port check) */
        ADD(u, f->li, dropped_late, (uint64_t)i);
    return rc;
}

/* Gives parked flow f's socket to a new flow toward t, another client's: f leaves the table
 * (its flow was accounted for when it ended), the socket gives up its local port
 * (connect(AF_UNSPEC): the kernel unhashes the autobound port as close() does, so what the old
 * target sends to it is refused from now on), what waits on it is discarded, and it connects
 * to t from a new port the kernel picks as for a new socket. The new port is read back, and
 * from the first recycling on each datagram's destination port is received with it
 * (IP_ORIGDSTADDR), so that one the old target sent before the port was released and that
 * came in after the discard is dropped rather than taken for the new flow's reply. A
 * connect(AF_UNSPEC), a recv(), a connect() and a getsockname() cost about a third of a
 * socket(), connect(), epoll_ctl() and close(), and the socket stays in the epoll set with its
 * slot. (An ICMP error in flight in the microseconds between the unhash and the discard would
 * still be read by the new flow as a refusal: the kernel reports it on the socket, not by
 * port; a late datagram cannot be misread.) Returns 0 (f's slot now holds the socket, f->fd
 * and f->lport set); 1 when the socket's family is not t's (nothing changed); -1 when a call
 * failed (socket closed, slot freed). */
static int recycle(struct lbf_udp *u, struct flow *f, const struct lbf_target *t)
{
    int v6 = t->addr.ss.ss_family == AF_INET6;
    if (f->v6 != v6)
        return 1;
    int fd = f->fd;
    struct lbf_target *old = lbf_target_get(u->app, f->target);
    unpark(u, f);
    f->fd = -1; /* on_end() has nothing left to do: the socket is the new flow's */
    end_flow(u, f, END_CLOSED);
    f->fd = fd; /* (for discard()) */
    if (old)
        atomic_fetch_sub_explicit(&old->holders, 1, memory_order_release);
    const struct sockaddr none = {.sa_family = AF_UNSPEC};
    union sa46 me;
    socklen_t len = sizeof(me);
    int one = 1;
    if (connect(fd, &none, sizeof(none)) != 0 || discard(u, f) != 0 ||
        connect(fd, (const struct sockaddr *)&t->addr.ss, t->addr.len) != 0 ||
        getsockname(fd, &me.sa, &len) != 0 ||
        (!f->lport && setsockopt(fd, v6 ? IPPROTO_IPV6 : IPPROTO_IP,
                                 v6 ? IPV6_RECVORIGDSTADDR : IP_RECVORIGDSTADDR, &one,
                                 sizeof(one)) != 0)) {
        close(fd);
        f->fd = -1;
        f->lport = 0;
        f->next_free = u->free_head;
        u->free_head = (uint32_t)(f - u->flows);
        return -1;
    }
    f->lport = v6 ? me.v6.sin6_port : me.v4.sin_port;
    return 0;
}

/* The destination port (network order) of a datagram received with IP_ORIGDSTADDR or
 * IPV6_ORIGDSTADDR; 0 when it has none. */
static uint16_t orig_port(const struct msghdr *mh)
{
    int fam = 0;
    const void *d = find_cmsg(mh, IP_ORIGDSTADDR, IPV6_ORIGDSTADDR, &fam);
    union sa46 a;
    if (!d)
        return 0;
    memcpy(&a, d, fam == AF_INET ? sizeof(a.v4) : sizeof(a.v6));
    return fam == AF_INET ? a.v4.sin_port : a.v6.sin6_port;
}

/* A new flow on the target just picked (t, id): takes a parked socket (spare, else the oldest
 * parked one: recycle()) or opens its own, inserts the flow. */
static struct flow *flow_open(struct lbf_udp *u, int li, const lb_flowtab_key *key,
                              const union sa46 *client, socklen_t clen, const union pktinfo *pi,
                              int has_local, struct lbf_target *t, uint32_t id,
                              struct flow *spare)
{
    lb_balancer *bal = lbf_bal(u->app, u->pool[li]);
    struct flow *f = spare;
    if (!f && u->park_head != NO_SLOT)
        f = &u->flows[u->park_head];
    int r = f ? recycle(u, f, t) : 1;
    if (r == 1 && spare) /* the revived flow's own socket, of another family: it closes */
        end_flow(u, spare, END_CLOSED);
    if (r != 0) {
        int fd = socket(t->addr.ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (const struct sockaddr *)&t->addr.ss, t->addr.len) != 0) {
            close(fd);
            fd = -1;
        }
        uint32_t slot = u->free_head;
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = LBF_TAG_UDP_FLOW | slot};
        if (fd < 0 || slot == NO_SLOT || epoll_ctl(u->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
            if (fd >= 0)
                close(fd);
            lb_balancer_release(bal, id, u->now);
            ADD(u, li, dropped_no_socket, 1);
            return NULL;
        }
        f = &u->flows[slot];
        u->free_head = f->next_free;
        f->fd = fd;
        f->v6 = t->addr.ss.ss_family == AF_INET6;
        f->lport = 0;
    }
    atomic_fetch_add_explicit(&t->holders, 1, memory_order_acq_rel);
    f->key = *key;
    memcpy(&f->client, client, clen);
    f->client_len = clen;
    f->has_local = (uint8_t)has_local;
    if (has_local)
        f->local = *pi;
    f->target = id;
    f->close_gen = atomic_load_explicit(&t->close_gen, memory_order_acquire);
    f->gso_max = GSO_ANY;
    f->pend_n = 0;
    f->parked = 0;
    flow_started(u, f, li, t);
    (void)lb_flowtab_insert(u->ft, key, id, (uint64_t)(f - u->flows), u->now);
    return f;
}

/* A datagram of a new 5-tuple: pick a target, open the flow's upstream socket, insert it. */
static struct flow *flow_new(struct lbf_udp *u, int li, const lb_flowtab_key *key,
                             const union sa46 *client, socklen_t clen, const union pktinfo *pi,
                             int has_local)
{
    uint32_t id;
    struct lbf_target *t = flow_pick(u, li, key, client, &id);
    return t ? flow_open(u, li, key, client, clen, pi, has_local, t, id, NULL) : NULL;
}

/* A flow that reached udp_responses ends, but its connected socket stays with its 5-tuple in
 * the table (parked), so that the same client's next datagram, if its pick is the same
 * target, goes out on it without a socket(), connect(), epoll_ctl() and close(). At most
 * park_max are parked per worker (a sixteenth of the table, at most PARK_MAX, so that parked
 * sockets do not crowd out flows): the oldest is closed for a new one. */
static void flow_park(struct lbf_udp *u, struct flow *f)
{
    ADD(u, f->li, flows_responses, 1);
    flow_released(u, f, lbf_target_get(u->app, f->target));
    uint32_t slot = (uint32_t)(f - u->flows);
    f->parked = 1;
    f->park_prev = u->park_tail;
    f->park_next = NO_SLOT;
    if (u->park_tail != NO_SLOT)
        u->flows[u->park_tail].park_next = slot;
    else
        u->park_head = slot;
    u->park_tail = slot;
    if (++u->park_n > u->park_max) /* a parked flow's end counts nothing */
        end_flow(u, &u->flows[u->park_head], END_CLOSED);
}

/* A datagram of a parked flow's 5-tuple: a new flow, which keeps the parked socket when its
 * pick is the same target (the same record: the parked slot holds it), else moves the socket
 * to a new port toward its new target (recycle()). */
static struct flow *flow_revive(struct lbf_udp *u, struct flow *f, int li,
                                const lb_flowtab_key *key, const union sa46 *client, socklen_t clen,
                                const union pktinfo *pi, int has_local)
{
    uint32_t id;
    struct lbf_target *t = flow_pick(u, li, key, client, &id);
    if (!t)
        return NULL; /* stays parked */
    if (id == f->target && u->pool[li] == f->pool &&
        atomic_load_explicit(&t->close_gen, memory_order_acquire) == f->close_gen &&
        discard(u, f) == 0) {
        unpark(u, f);
        flow_started(u, f, li, t);
        return f;
    }
    return flow_open(u, li, key, client, clen, pi, has_local, t, id, f);
}

/* The count of datagrams, from iov[0] on, that one GSO message can carry: those of iov[0]'s
 * size, then at most one shorter (the kernel cuts a GSO payload into gso_size pieces, the
 * last one what remains). 1 when GSO is not worth it or not allowed (gso_max). */
static int gso_group(const struct iovec *iov, int n, uint16_t gso_max)
{
    size_t size = iov[0].iov_len, total = size;
    if (n < 2 || size == 0 || size > gso_max)
        return 1;
    int k = 1;
    while (k < n && k < GSO_SEGS) {
        size_t len = iov[k].iov_len;
        if (len == 0 || len > size || total + len > GSO_BYTES)
            break;
        total += len;
        k++;
        if (len < size)
            break;
    }
    return k;
}

/* Appends a UDP_SEGMENT control message (gso_size) after the `used` bytes of ctl. */
static void put_segment(struct msghdr *mh, uint8_t *ctl, size_t used, size_t gso_size)
{
    mh->msg_control = ctl;
    mh->msg_controllen = used + SEG_SPACE;
    struct cmsghdr *c = (struct cmsghdr *)(void *)(ctl + used);
    c->cmsg_level = SOL_UDP;
    c->cmsg_type = UDP_SEGMENT;
    c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
    uint16_t g = (uint16_t)gso_size;
    memcpy(CMSG_DATA(c), &g, sizeof(g));
}

/* Whether a send of a GSO message failed for GSO's sake (then its datagrams may go singly). */
static int gso_error(int err)
{
    return err == EIO || err == EINVAL || err == EMSGSIZE;
}

/* A GSO message the kernel refused (errno err): lowers the socket's gso_max below its size
 * so that no size as large is tried again (EIO: no GSO on this socket at all), then sends the
 * message's datagrams one by one with its other control messages. Returns the datagrams
 * sent, their bytes in *bytes. */
static int gso_refused(int fd, struct msghdr *mh, int err, uint16_t *gso_max, size_t *bytes)
{
    size_t size = mh->msg_iov[0].iov_len;
    if (err == EIO || size == 0)
        *gso_max = 0;
    else if (size <= *gso_max) /* (a message built before an earlier refusal may be larger) */
        *gso_max = (uint16_t)(size - 1);
    struct msghdr one = *mh;
    one.msg_controllen -= SEG_SPACE; /* the UDP_SEGMENT is always the last one */
    if (!one.msg_controllen)
        one.msg_control = NULL;
    one.msg_iovlen = 1;
    int sent = 0;
    for (size_t i = 0; i < mh->msg_iovlen; i++) {
        one.msg_iov = &mh->msg_iov[i];
        if (sendmsg(fd, &one, MSG_DONTWAIT) >= 0) {
            sent++;
            *bytes += mh->msg_iov[i].iov_len;
        }
    }
    return sent;
}

/* Sends a flow's datagrams of this batch (chained from f->pend_head) toward its target: one
 * sendmmsg() of GSO groups. An ICMP port unreachable from an earlier datagram (ECONNREFUSED)
 * ends the flow and the datagrams go to the flow that replaces it (a new pick). */
static void flow_send(struct lbf_udp *u, struct flow *f)
{
    int n = 0;
    for (int i = f->pend_head; n < f->pend_n; i = u->pnext[i]) {
        u->uiov[n].iov_base = u->riov[i].iov_base;
        u->uiov[n].iov_len = u->rmsg[i].msg_len;
        n++;
    }
    f->pend_n = 0;
    int m = 0;
    for (int d = 0; d < n; m++) {
        int k = gso_group(u->uiov + d, n - d, f->gso_max);
        struct msghdr *mh = &u->umsg[m].msg_hdr;
        memset(mh, 0, sizeof(*mh));
        mh->msg_iov = u->uiov + d;
        mh->msg_iovlen = (size_t)k;
        if (k > 1)
            put_segment(mh, u->uctl[m], 0, u->uiov[d].iov_len);
        u->ucount[m] = (uint16_t)k;
        d += k;
    }
    int off = 0, moved = 0;
    while (off < m) {
        int r = sendmmsg(f->fd, u->umsg + off, (unsigned)(m - off), MSG_DONTWAIT);
        int sent = 0;
        size_t bytes = 0;
        if (r > 0) {
            for (int k = off; k < off + r; k++) {
                sent += u->ucount[k];
                for (size_t i = 0; i < u->umsg[k].msg_hdr.msg_iovlen; i++)
                    bytes += u->umsg[k].msg_hdr.msg_iov[i].iov_len;
            }
        } else if (gso_error(errno) && u->ucount[off] > 1) {
            sent = gso_refused(f->fd, &u->umsg[off].msg_hdr, errno, &f->gso_max, &bytes);
            ADD(u, f->li, dropped_send, (uint64_t)(u->ucount[off] - sent));
            r = 1;
        } else if (errno == ECONNREFUSED && !moved) {
            struct lbf_target *t = lbf_target_get(u->app, f->target);
            if (t)
                TADD(t, udp_refused, 1);
            (void)lb_balancer_report_passive(lbf_bal(u->app, f->pool), f->target, 0, u->now);
            struct flow old = *f; /* the key, client and local address of the new flow */
            end_flow(u, f, END_REFUSED);
            f = flow_new(u, old.li, &old.key, &old.client, old.client_len, &old.local,
                         old.has_local);
            if (f && f->fd >= 0) {
                moved = 1;
                continue;
            }
            for (int k = off; k < m; k++)
                ADD(u, old.li, dropped_send, u->ucount[k]);
            return;
        } else {
            for (int k = off; k < m; k++)
                ADD(u, f->li, dropped_send, u->ucount[k]);
            break;
        }
        off += r;
        u->d_in[f->li] += (uint64_t)sent;
        u->b_in[f->li] += bytes;
        struct lbf_target *t = lbf_target_get(u->app, f->target);
        if (t) {
            TADD(t, udp_dgrams_in, (uint64_t)sent);
            TADD(t, udp_bytes_in, bytes);
        }
    }
}

/* Sends the datagrams of the batch, flow by flow. */
static void send_pending(struct lbf_udp *u)
{
    for (int i = 0; i < u->np; i++) {
        struct flow *f = &u->flows[u->pflow[i]];
        if (f->pend_n && f->fd >= 0)
            flow_send(u, f);
    }
    u->np = 0;
}

void lbf_udp_listener_ready(struct lbf_udp *u, int li, uint64_t now)
{
    u->now = now;
    int fd = u->lfd[li];
    for (int round = 0; round < ROUNDS && fd >= 0; round++) {
        for (int i = 0; i < BATCH; i++) {
            struct msghdr *mh = &u->rmsg[i].msg_hdr;
            u->riov[i].iov_len = u->max_dgram;
            mh->msg_name = &u->raddr[i];
            mh->msg_namelen = sizeof(u->raddr[i]);
            mh->msg_iov = &u->riov[i];
            mh->msg_iovlen = 1;
            mh->msg_control = u->wildcard[li] ? u->rctl[i] : NULL;
            mh->msg_controllen = u->wildcard[li] ? CTL_SIZE : 0;
            mh->msg_flags = 0;
        }
        int n = recvmmsg(fd, u->rmsg, BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0)
            return;
        for (int i = 0; i < n; i++) {
            struct msghdr *mh = &u->rmsg[i].msg_hdr;
            if (mh->msg_flags & MSG_TRUNC) {
                ADD(u, li, dropped_oversized, 1);
                continue;
            }
            union pktinfo pi;
            int fam = u->wildcard[li] ? read_pktinfo(mh, &pi) : 0;
            union sa46 local;
            local_sockaddr(u, li, &pi, fam, &local);
            lb_flowtab_key key;
            if (lb_flowtab_key_sockaddr(&key, &u->raddr[i].sa, &local.sa, IPPROTO_UDP, u->seed) !=
                0)
                continue;
            uint64_t data;
            struct flow *f = NULL;
            if (lb_flowtab_lookup(u->ft, &key, now, NULL, &data) == 0 && data < u->n_slots &&
                u->flows[data].fd >= 0)
                f = &u->flows[data];
            if (f && f->parked)
                f = flow_revive(u, f, li, &key, &u->raddr[i], mh->msg_namelen, &pi, fam != 0);
            else if (!f)
                f = flow_new(u, li, &key, &u->raddr[i], mh->msg_namelen, &pi, fam != 0);
            if (!f || f->fd < 0)
                continue;
            /* queued on its flow, sent after the batch */
            if (f->pend_n == 0) {
                f->pend_head = (uint8_t)i;
                u->pflow[u->np++] = (uint32_t)(f - u->flows);
            } else {
                u->pnext[f->pend_tail] = (uint8_t)i;
            }
            f->pend_tail = (uint8_t)i;
            f->pend_n++;
        }
        send_pending(u);
        if (n < BATCH)
            return;
    }
}

static void flush(struct lbf_udp *u)
{
    int fd = u->lfd[u->sli];
    int off = 0;
    while (off < u->sn) {
        int r = sendmmsg(fd, u->smsg + off, (unsigned)(u->sn - off), MSG_DONTWAIT);
        if (r > 0) {
            off += r;
            continue;
        }
        struct msghdr *mh = &u->smsg[off].msg_hdr;
        if (gso_error(errno) && mh->msg_iovlen > 1) {
            size_t bytes = 0;
            int sent = gso_refused(fd, mh, errno, &u->lgso_max[u->sli], &bytes);
            ADD(u, u->sli, dropped_send, mh->msg_iovlen - (size_t)sent);
            off++;
            continue;
        }
        uint64_t lost = 0;
        for (int k = off; k < u->sn; k++)
            lost += u->smsg[k].msg_hdr.msg_iovlen;
        ADD(u, u->sli, dropped_send, lost);
        break;
    }
    u->sn = 0;
    u->sd = 0;
}

/* Queues the datagrams siov[first..last) (replies of flow f) as messages toward its client. */
static void queue_replies(struct lbf_udp *u, const struct flow *f, int first, int last)
{
    for (int d = first; d < last;) {
        int k = gso_group(u->siov + d, last - d, u->lgso_max[f->li]);
        int j = u->sn++;
        struct msghdr *out = &u->smsg[j].msg_hdr;
        memset(out, 0, sizeof(*out));
        out->msg_iov = &u->siov[d];
        out->msg_iovlen = (size_t)k;
        memcpy(&u->saddr[j], &f->client, f->client_len);
        out->msg_name = &u->saddr[j];
        out->msg_namelen = f->client_len;
        size_t used = 0;
        if (f->has_local) {
            out->msg_control = u->sctl[j];
            struct cmsghdr *c = (struct cmsghdr *)(void *)u->sctl[j];
            if (f->client.sa.sa_family == AF_INET) {
                used = CMSG_SPACE(sizeof(struct in_pktinfo));
                c->cmsg_level = IPPROTO_IP;
                c->cmsg_type = IP_PKTINFO;
                c->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
                struct in_pktinfo p = {0};
                p.ipi_spec_dst = f->local.v4.ipi_addr;
                memcpy(CMSG_DATA(c), &p, sizeof(p));
            } else {
                used = CMSG_SPACE(sizeof(struct in6_pktinfo));
                c->cmsg_level = IPPROTO_IPV6;
                c->cmsg_type = IPV6_PKTINFO;
                c->cmsg_len = CMSG_LEN(sizeof(struct in6_pktinfo));
                memcpy(CMSG_DATA(c), &f->local.v6, sizeof(f->local.v6));
            }
            out->msg_controllen = used;
        }
        if (k > 1)
            put_segment(out, u->sctl[j], used, u->siov[d].iov_len);
        d += k;
    }
}

/* Readable (or an error) on a flow's upstream socket: replies, queued toward the client. */
void lbf_udp_flow_ready(struct lbf_udp *u, uint64_t tag, uint32_t events, uint64_t now)
{
    (void)events;
    u->now = now;
    uint64_t slot = tag & ~LBF_TAG_UDP_FLOW;
    if (slot >= u->n_slots || u->flows[slot].fd < 0)
        return; /* ended earlier in this turn */
    struct flow *f = &u->flows[slot];
    if (u->lfd[f->li] < 0)
        return;
    if (f->parked) { /* late replies of the ended flow: dropped, never sent on */
        if (discard(u, f) != 0)
            end_flow(u, f, END_CLOSED);
        return;
    }
    struct lbf_target *t = lbf_target_get(u->app, f->target);
    for (int round = 0; round < ROUNDS; round++) {
        if (u->sd && (u->sd == BATCH || u->sli != f->li))
            flush(u);
        u->sli = f->li;
        int room = BATCH - u->sd;
        if (u->responses && (uint32_t)room > u->responses - f->replies)
            room = (int)(u->responses - f->replies);
        for (int i = 0; i < room; i++) {
            struct msghdr *mh = &u->frmsg[i].msg_hdr;
            u->siov[u->sd + i].iov_len = u->max_dgram;
            memset(mh, 0, sizeof(*mh));
            mh->msg_iov = &u->siov[u->sd + i];
            mh->msg_iovlen = 1;
            if (f->lport) { /* recycled: each datagram's destination port (recycle()) */
                mh->msg_control = u->rctl[i];
                mh->msg_controllen = CTL_SIZE;
            }
        }
        int n = recvmmsg(f->fd, u->frmsg, (unsigned)room, MSG_DONTWAIT, NULL);
        if (n < 0) {
            if (errno == ECONNREFUSED) { /* ICMP port unreachable from the target */
                if (t)
                    TADD(t, udp_refused, 1);
                (void)lb_balancer_report_passive(lbf_bal(u->app, f->pool), f->target, 0, now);
                end_flow(u, f, END_REFUSED);
            }
            return;
        }
        if (n == 0)
            return;
        int first = u->sd, j = u->sd;
        uint64_t bytes = 0;
        for (int k = 0; k < n; k++) {
            if (f->lport && orig_port(&u->frmsg[k].msg_hdr) != f->lport) {
                ADD(u, f->li, dropped_late, 1); /* sent to the port before recycle() */
                continue;
            }
            if (u->frmsg[k].msg_hdr.msg_flags & MSG_TRUNC) {
                ADD(u, f->li, dropped_oversized, 1);
                continue;
            }
            int at = first + k;
            if (j != at) { /* keep the queue contiguous: swap the buffers */
                struct iovec tmp = u->siov[j];
                u->siov[j] = u->siov[at];
                u->siov[at] = tmp;
            }
            u->siov[j].iov_len = u->frmsg[k].msg_len;
            bytes += u->frmsg[k].msg_len;
            j++;
        }
        int got = j - first;
        queue_replies(u, f, first, j);
        u->sd = j;
        u->d_out[f->li] += (uint64_t)got;
        u->b_out[f->li] += bytes;
        if (got && t) {
            TADD(t, udp_dgrams_out, (uint64_t)got);
            TADD(t, udp_bytes_out, bytes);
        }
        if (got && f->replies == 0)
            (void)lb_balancer_report_passive(lbf_bal(u->app, f->pool), f->target, 1, now);
        f->replies += (uint32_t)got;
        if (got)
            (void)lb_flowtab_touch(u->ft, &f->key, now);
        if (u->responses && f->replies >= u->responses) {
            flow_park(u, f);
            return;
        }
        if (n < room)
            return;
    }
}

void lbf_udp_turn_end(struct lbf_udp *u, uint64_t now)
{
    u->now = now;
    if (u->sd)
        flush(u);
    for (int li = 0; li < u->n_lfd; li++) {
        if (u->d_in[li]) {
            ADD(u, li, dgrams_in, u->d_in[li]);
            ADD(u, li, bytes_in, u->b_in[li]);
            u->d_in[li] = u->b_in[li] = 0;
        }
        if (u->d_out[li]) {
            ADD(u, li, dgrams_out, u->d_out[li]);
            ADD(u, li, bytes_out, u->b_out[li]);
            u->d_out[li] = u->b_out[li] = 0;
        }
    }
    if (now < u->last_sweep + u->sweep_ms)
        return;
    /* every bucket visited twice per idle timeout: an idle flow ends within 1.5 timeouts */
    uint64_t buckets = lb_flowtab_buckets(u->ft);
    uint64_t budget = buckets * 2 * (now - u->last_sweep) / u->app->cfg.udp_idle_timeout_ms + 1;
    if (budget > buckets)
        budget = buckets;
    u->last_sweep = now;
    (void)lb_flowtab_expire(u->ft, now, (uint32_t)budget);
}

int lbf_udp_next_ms(const struct lbf_udp *u, uint64_t now)
{
    uint64_t due = u->last_sweep + u->sweep_ms;
    return due <= now ? 0 : (int)(due - now);
}

void lbf_udp_close_flows(struct lbf_udp *u, int all, uint64_t now)
{
    u->now = now;
    for (uint32_t i = 0; i < u->n_slots; i++) {
        struct flow *f = &u->flows[i];
        if (f->fd < 0)
            continue;
        struct lbf_target *t = lbf_target_get(u->app, f->target);
        if (all || (t && atomic_load_explicit(&t->close_gen, memory_order_acquire) != f->close_gen))
            end_flow(u, f, END_CLOSED);
        if (f->fd >= 0 && all) { /* not found in the table: cannot happen; never leak it */
            lb_flowtab_end e = {.struct_size = sizeof(e),
                                .reason = LB_FLOWTAB_END_EXPIRED,
                                .target = f->target,
                                .data = i,
                                .key = &f->key};
            on_end(u, &e);
        }
    }
}

void lbf_udp_stop_listening(struct lbf_udp *u)
{
    if (u->sd)
        flush(u);
    lbf_udp_close_flows(u, 1, u->now);
    for (int i = 0; i < u->n_lfd; i++) {
        if (u->lfd[i] >= 0) {
            epoll_ctl(u->ep, EPOLL_CTL_DEL, u->lfd[i], NULL);
            close(u->lfd[i]);
            u->lfd[i] = -1;
        }
    }
}

void lbf_udp_free(struct lbf_udp *u, uint64_t now)
{
    if (!u)
        return;
    u->now = now;
    if (u->flows)
        lbf_udp_stop_listening(u);
    for (int i = 0; i < u->n_lfd; i++)
        if (u->lfd[i] >= 0)
            close(u->lfd[i]);
    lb_flowtab_free(u->ft);
    free(u->flows);
    free(u->rbuf);
    free(u->sbuf);
    free(u);
}
