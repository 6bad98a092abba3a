/* UDP load generator and echo backend for bench/forwarder/udp.py, in C so that the proxies
 * under test, not the load, are the limit (a Python generator saturated its core before a
 * proxy capped at a quarter of a core did).
 *
 *   udpload echo ADDR PORT
 *       A UDP echo server: recvmmsg() up to 64 datagrams, sendmmsg() each back to its sender.
 *       Runs until killed.
 *   udpload load ADDR PORT SOCKS WINDOW SIZE SECONDS [SRC [fresh]]
 *       Closed-loop load: SOCKS sockets bound to SRC (default 127.0.0.3) and connected to
 *       ADDR:PORT (one client 5-tuple each), WINDOW datagrams of SIZE bytes in flight on each;
 *       every datagram that comes back is answered by a new one on the same socket (received
 *       and sent in batches: recvmmsg(), then one sendmmsg() of as many). A socket that got
 *       nothing for 200 ms has lost its window: it is sent again and counted as resent.
 *       With `fresh` (WINDOW 1), each request leaves from a new source port, as a DNS stub
 *       resolver's queries do: the socket that got its reply gives up its port
 *       (connect(AF_UNSPEC): the kernel releases an autobound port as close() does) and
 *       connects again from a new one the kernel picks as for a new socket. That costs the load
 *       core about a quarter of a new socket (socket(), bind(), connect(), epoll_ctl(),
 *       close()), which kept the load core from keeping up with a fast proxy while the proxy
 *       ran (the proxy's cgroup quota makes the load arrive in bursts).
 *       Prints one JSON object: {"round_trips": N, "resent": N, "seconds": S}.
 *
 * Every loop is bounded by the run's duration; the echo server by its caller's kill. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH   64
#define MAX_DGR 65536
#define LOST_MS 200

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int parse_addr(const char *a, const char *p, struct sockaddr_in *out)
{
    memset(out, 0, sizeof(*out));
    out->sin_family = AF_INET;
    char *end;
    long port = strtol(p, &end, 10);
    if (*end || port < 0 || port > 65535 || inet_pton(AF_INET, a, &out->sin_addr) != 1) {
        fprintf(stderr, "udpload: bad address %s:%s\n", a, p);
        return -1;
    }
    out->sin_port = htons((uint16_t)port);
    return 0;
}

static long arg_long(const char *s, long lo, long hi, const char *what)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v < lo || v > hi) {
        fprintf(stderr, "udpload: %s must be %ld..%ld, not '%s'\n", what, lo, hi, s);
        exit(2);
    }
    return v;
}

static int echo(const struct sockaddr_in *addr)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int big = 1 << 22;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big)) != 0 ||
        bind(fd, (const struct sockaddr *)addr, sizeof(*addr)) != 0) {
        perror("udpload echo");
        return 1;
    }
    static uint8_t buf[BATCH][MAX_DGR];
    struct mmsghdr m[BATCH];
    struct iovec iov[BATCH];
    struct sockaddr_in from[BATCH];
    for (;;) {
        for (int i = 0; i < BATCH; i++) {
            iov[i] = (struct iovec){.iov_base = buf[i], .iov_len = MAX_DGR};
            m[i].msg_hdr = (struct msghdr){.msg_name = &from[i],
                                           .msg_namelen = sizeof(from[i]),
                                           .msg_iov = &iov[i],
                                           .msg_iovlen = 1};
        }
        int n = recvmmsg(fd, m, BATCH, MSG_WAITFORONE, NULL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("udpload echo: recvmmsg");
            return 1;
        }
        for (int i = 0; i < n; i++)
            iov[i].iov_len = m[i].msg_len;
        int off = 0;
        while (off < n) { /* a datagram the kernel refuses is skipped, as a network drops it */
            int r = sendmmsg(fd, m + off, (unsigned)(n - off), 0);
            off += r > 0 ? r : 1;
        }
    }
}

struct client {
    int fd;
    uint64_t last; /* ms of its last reply (or refill) */
};

/* A client socket bound to src's address (a new port), connected to dst, in ep as `idx`. */
static int client_socket(int ep, const struct sockaddr_in *dst, const struct sockaddr_in *src,
                         uint32_t idx)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in s = *src;
    s.sin_port = 0;
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = idx};
    if (fd < 0 || bind(fd, (struct sockaddr *)&s, sizeof(s)) != 0 ||
        connect(fd, (const struct sockaddr *)dst, sizeof(*dst)) != 0 ||
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
        perror("udpload load: socket");
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* Moves a client socket to a new source port (see the top): 0, or -1 reported. */
static int new_port(int fd, const struct sockaddr_in *dst)
{
    const struct sockaddr none = {.sa_family = AF_UNSPEC};
    if (connect(fd, &none, sizeof(none)) != 0 ||
        connect(fd, (const struct sockaddr *)dst, sizeof(*dst)) != 0) {
        perror("udpload load: new port");
        return -1;
    }
    return 0;
}

static int load(const struct sockaddr_in *dst, int n_socks, int window, size_t size, double seconds,
                const struct sockaddr_in *src, int fresh)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct client *c = calloc((size_t)n_socks, sizeof(*c));
    static uint8_t payload[MAX_DGR], rbuf[BATCH][MAX_DGR];
    memset(payload, 'x', size);
    if (ep < 0 || !c) {
        perror("udpload load");
        return 1;
    }
    struct mmsghdr sm[BATCH], rm[BATCH];
    struct iovec siov = {.iov_base = payload, .iov_len = size}, riov[BATCH];
    for (int i = 0; i < BATCH; i++) {
        sm[i].msg_hdr = (struct msghdr){.msg_iov = &siov, .msg_iovlen = 1};
        riov[i] = (struct iovec){.iov_base = rbuf[i], .iov_len = MAX_DGR};
        rm[i].msg_hdr = (struct msghdr){.msg_iov = &riov[i], .msg_iovlen = 1};
    }
    uint64_t t0 = now_ms(), end = t0 + (uint64_t)(seconds * 1000), next_check = t0 + LOST_MS;
    for (int i = 0; i < n_socks; i++) {
        int fd = client_socket(ep, dst, src, (uint32_t)i);
        if (fd < 0)
            return 1;
        c[i].fd = fd;
        c[i].last = t0;
        (void)sendmmsg(fd, sm, (unsigned)window, MSG_DONTWAIT);
    }
    uint64_t got = 0, lost = 0;
    struct epoll_event evs[256];
    for (;;) {
        uint64_t now = now_ms();
        if (now >= end)
            break;
        int n = epoll_wait(ep, evs, 256, 20);
        now = now_ms();
        for (int e = 0; e < n; e++) {
            struct client *cl = &c[evs[e].data.u32];
            for (int round = 0; round < 4; round++) {
                int k = recvmmsg(cl->fd, rm, (unsigned)(window < BATCH ? window : BATCH),
                                 MSG_DONTWAIT, NULL);
                if (k <= 0)
                    break;
                got += (uint64_t)k;
                cl->last = now;
                if (fresh && new_port(cl->fd, dst) != 0) /* the next request: a new port */
                    return 1;
                (void)sendmmsg(cl->fd, sm, (unsigned)k, MSG_DONTWAIT);
                if (k < window)
                    break;
            }
        }
        if (now >= next_check) {
            next_check = now + LOST_MS;
            for (int i = 0; i < n_socks; i++) {
                if (now - c[i].last > LOST_MS) {
                    (void)sendmmsg(c[i].fd, sm, (unsigned)window, MSG_DONTWAIT);
                    lost += (uint64_t)window;
                    c[i].last = now;
                }
            }
        }
    }
    double dt = (double)(now_ms() - t0) / 1000.0;
    printf("{\"round_trips\": %llu, \"resent\": %llu, \"seconds\": %.3f}\n",
           (unsigned long long)got, (unsigned long long)lost, dt);
    return 0;
}

int main(int argc, char **argv)
{
    struct sockaddr_in dst, src;
    if (argc == 4 && strcmp(argv[1], "echo") == 0) {
        if (parse_addr(argv[2], argv[3], &dst) != 0)
            return 2;
        return echo(&dst);
    }
    if (argc >= 8 && argc <= 10 && strcmp(argv[1], "load") == 0) {
        if (parse_addr(argv[2], argv[3], &dst) != 0 ||
            parse_addr(argc >= 9 ? argv[8] : "127.0.0.3", "0", &src) != 0)
            return 2;
        int fresh = argc == 10 && strcmp(argv[9], "fresh") == 0;
        if (argc == 10 && !fresh) {
            fprintf(stderr, "udpload: unknown option '%s'\n", argv[9]);
            return 2;
        }
        int socks = (int)arg_long(argv[4], 1, 100000, "SOCKS");
        int window = (int)arg_long(argv[5], 1, BATCH, "WINDOW");
        size_t size = (size_t)arg_long(argv[6], 1, 65507, "SIZE");
        double seconds = (double)arg_long(argv[7], 1, 3600, "SECONDS");
        if (fresh && window != 1) {
            fprintf(stderr, "udpload: fresh needs WINDOW 1\n");
            return 2;
        }
        return load(&dst, socks, window, size, seconds, &src, fresh);
    }
    fprintf(stderr, "usage: udpload echo ADDR PORT\n"
                    "       udpload load ADDR PORT SOCKS WINDOW SIZE SECONDS [SRC [fresh]]\n");
    return 2;
}
