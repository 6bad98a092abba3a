/* lbfwd active health checks, run by the control thread: a TCP connect (or an HTTP GET), preceded
 * by a PROXY LOCAL header when targets expect PROXY. Results go to the balancer, which owns the
 * rise/fall logic and the target's state. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "lbfwd.h"

enum { CHK_IDLE = 0, CHK_CONNECTING, CHK_READING };

#define TAG_CHECK LBF_TAG_CHECK

/* Checks end with a reset (no TIME_WAIT pile-up), except right after sending a PROXY LOCAL
 * header: a reset could destroy it before the target reads it, so that one ends with a FIN. */
static void chk_close(struct lbf_target *t)
{
    if (t->chk_fd >= 0) {
        if (!t->chk_graceful) {
            struct linger lg = {1, 0};
            setsockopt(t->chk_fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        }
        close(t->chk_fd);
    }
    t->chk_graceful = 0;
    t->chk_fd = -1;
    t->chk_phase = CHK_IDLE;
}

static void chk_result(struct lbf_app *app, struct lbf_target *t, int ok, uint64_t now)
{
    chk_close(t);
    atomic_fetch_add_explicit(ok ? &t->checks_ok : &t->checks_failed, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(ok ? &app->st.checks_ok : &app->st.checks_failed, 1,
                              memory_order_relaxed);
    (void)lb_balancer_report(lbf_bal(app, t->pool), t->id, ok, now);
    uint64_t due = 0;
    if (lb_balancer_next_check(lbf_bal(app, t->pool), t->id, &due) != 0 || due <= now)
        due = now + app->pools[t->pool].check_interval_ms;
    t->chk_due = due;
}

void lbf_health_stop(struct lbf_app *app, struct lbf_target *t)
{
    (void)app;
    chk_close(t);
}

static void chk_start(struct lbf_app *app, struct lbf_target *t, int epfd, uint64_t now)
{
    int fd = socket(t->check_addr.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        t->chk_due =
            now + app->pools[t->pool].check_interval_ms; /* out of fds: not the target's fault */
        return;
    }
    t->chk_fd = fd;
    t->chk_got = 0;
    t->chk_deadline = now + app->pools[t->pool].check_timeout_ms;
    if (connect(fd, (struct sockaddr *)&t->check_addr.ss, t->check_addr.len) != 0 &&
        errno != EINPROGRESS) {
        chk_result(app, t, 0, now);
        return;
    }
    t->chk_phase = CHK_CONNECTING;
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.u64 = TAG_CHECK + t->id};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
        chk_result(app, t, 0, now);
}

void lbf_health_event(struct lbf_app *app, struct lbf_target *t, int epfd, uint32_t events,
                      uint64_t now)
{
    struct lbf_live *lv = atomic_load(&app->live);
    if (t->chk_fd < 0)
        return;
    if (t->chk_phase == CHK_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(t->chk_fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
            chk_result(app, t, 0, now);
            return;
        }
        if (!(events & EPOLLOUT))
            return;
        uint8_t out[600];
        size_t n = 0;
        if (lv->send_proxy) {
            int h = lbf_proxy_encode(lv->send_proxy, lv->send_proxy_crc32c, 1, NULL, NULL, out,
                                     sizeof(out));
            if (h <= 0) {
                chk_result(app, t, 0, now);
                return;
            }
            n = (size_t)h;
        }
        if (app->pools[t->pool].check_kind == LBF_CHECK_HTTP) {
            int m = snprintf((char *)out + n, sizeof(out) - n,
                             "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: lbfwd-check\r\n"
                             "Connection: close\r\n\r\n",
                             app->pools[t->pool].check_path, t->check_addr.text);
            if (m <= 0 || (size_t)m >= sizeof(out) - n) {
                chk_result(app, t, 0, now);
                return;
            }
            n += (size_t)m;
        }
        if (n && send(t->chk_fd, out, n, MSG_NOSIGNAL) != (ssize_t)n) {
            chk_result(app, t, 0, now);
            return;
        }
        if (app->pools[t->pool].check_kind != LBF_CHECK_HTTP) {
            t->chk_graceful = n > 0;
            chk_result(app, t, 1, now);
            return;
        }
        t->chk_phase = CHK_READING;
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TAG_CHECK + t->id};
        if (epoll_ctl(epfd, EPOLL_CTL_MOD, t->chk_fd, &ev) != 0)
            chk_result(app, t, 0, now);
        return;
    }
    /* reading "HTTP/1.x NNN" */
    ssize_t r = recv(t->chk_fd, t->chk_buf + t->chk_got, sizeof(t->chk_buf) - 1 - t->chk_got, 0);
    if (r < 0 && errno == EAGAIN)
        return;
    if (r <= 0) {
        chk_result(app, t, 0, now);
        return;
    }
    t->chk_got += (uint32_t)r;
    if (t->chk_got < 12)
        return;
    t->chk_buf[t->chk_got] = '\0';
    int ok = strncmp(t->chk_buf, "HTTP/1.", 7) == 0 && t->chk_buf[8] == ' ' &&
             (t->chk_buf[9] == '2' || t->chk_buf[9] == '3');
    chk_result(app, t, ok, now);
}

uint64_t lbf_health_run(struct lbf_app *app, int epfd, uint64_t now)
{
    uint64_t next = now + 1000;
    int np = atomic_load(&app->n_pools), checked = 0;
    for (int p = 0; p < np && !checked; p++)
        checked = app->pools[p].check_kind != LBF_CHECK_NONE;
    if (!checked)
        return UINT64_MAX;
    pthread_mutex_lock(&app->reg.mu);
    for (uint32_t i = 0; i < app->reg.next_id; i++) {
        struct lbf_target *t = atomic_load(&app->reg.by_id[i]);
        if (!t)
            continue;
        if (atomic_load(&t->gone)) {
            chk_close(t);
            continue;
        }
        if (app->pools[t->pool].check_kind == LBF_CHECK_NONE)
            continue;
        if (t->chk_fd >= 0) {
            if (t->chk_deadline <= now)
                chk_result(app, t, 0, now);
            else if (t->chk_deadline < next)
                next = t->chk_deadline;
            continue;
        }
        if (t->chk_due == 0) { /* first check: spread them over one interval */
            t->chk_due = now + (t->id * 7919u) % (app->pools[t->pool].check_interval_ms + 1);
        }
        if (t->chk_due <= now)
            chk_start(app, t, epfd, now);
        if (t->chk_fd >= 0 && t->chk_deadline < next)
            next = t->chk_deadline;
        else if (t->chk_fd < 0 && t->chk_due < next)
            next = t->chk_due;
    }
    pthread_mutex_unlock(&app->reg.mu);
    return next;
}
