/* A TCP listener built on liblb's PROXY protocol decoder, for the interop test.
 *
 * Usage: proxy_listener ADDR PORT SECONDS
 * Listens on ADDR:PORT (PORT 0: any free port), prints "listening PORT", then for each
 * connection prints one JSON line with the decoded header (or the error) and the first line of
 * application bytes that followed it, replies "ok\n" and closes. Reads are incremental (the
 * header may arrive in pieces) with a 3 s header deadline per connection. Exits after SECONDS
 * or on SIGTERM. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lb/proxy.h"

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
    (void)sig;
    stop = 1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void print_text(const uint8_t *p, size_t n)
{
    putchar('"');
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '"' || p[i] == '\\')
            printf("\\%c", p[i]);
        else if (p[i] >= 0x20 && p[i] < 0x7F)
            putchar(p[i]);
        else
            printf("\\u%04x", p[i]);
    }
    putchar('"');
}

static void print_addr(const char *key, const lb_proxy_header *h, int dst)
{
    char text[INET6_ADDRSTRLEN];
    const uint8_t *a = dst ? h->dst_addr : h->src_addr;
    printf(", \"%s\": ", key);
    if (h->command != LB_PROXY_CMD_PROXY || h->family == LB_PROXY_FAM_UNSPEC)
        printf("null");
    else if (h->family == LB_PROXY_FAM_INET)
        printf("\"%s\"", inet_ntop(AF_INET, a, text, sizeof(text)));
    else if (h->family == LB_PROXY_FAM_INET6)
        printf("\"%s\"", inet_ntop(AF_INET6, a, text, sizeof(text)));
    else
        print_text(dst ? h->dst_path : h->src_path, dst ? h->dst_path_len : h->src_path_len);
}

static void handle(int fd)
{
    static const char *fam[] = {"UNSPEC", "INET", "INET6", "UNIX"};
    static const char *tr[] = {"UNSPEC", "STREAM", "DGRAM", "?"};
    uint8_t buf[70000];
    size_t len = 0, need = 0;
    lb_proxy_header h;
    memset(&h, 0, sizeof(h));
    h.struct_size = sizeof(h);
    double deadline = now_s() + 3.0;
    int rc = LB_E_NEED_MORE, reads = 0;
    while (rc == LB_E_NEED_MORE) {
        int left = (int)((deadline - now_s()) * 1000);
        struct pollfd p = {fd, POLLIN, 0};
        if (left <= 0 || poll(&p, 1, left) <= 0) {
            printf("{\"result\": \"error\", \"error\": \"timeout\", \"bytes\": %zu}\n", len);
            return;
        }
        ssize_t n = read(fd, buf + len, sizeof(buf) - len);
        if (n <= 0) {
            printf("{\"result\": \"error\", \"error\": \"closed\", \"bytes\": %zu}\n", len);
            return;
        }
        len += (size_t)n;
        reads++;
        rc = lb_proxy_decode(buf, len, NULL, &h, &need);
    }
    if (rc < 0) {
        printf("{\"result\": \"error\", \"error\": \"%s\", \"bytes\": %zu}\n", lb_err_name(rc),
               len);
        return;
    }
    /* The first line of application bytes (LOCAL health checks send none). */
    size_t app = (size_t)rc;
    if (h.command == LB_PROXY_CMD_PROXY) {
        while (!memchr(buf + app, '\n', len - app) && now_s() < deadline && len < sizeof(buf)) {
            struct pollfd p = {fd, POLLIN, 0};
            if (poll(&p, 1, 200) <= 0)
                continue;
            ssize_t n = read(fd, buf + len, sizeof(buf) - len);
            if (n <= 0)
                break;
            len += (size_t)n;
        }
    }
    const uint8_t *nl = memchr(buf + app, '\n', len - app);
    printf("{\"result\": \"ok\", \"version\": %u, \"command\": \"%s\", \"family\": \"%s\", "
           "\"transport\": \"%s\", \"header_length\": %d, \"reads\": %d",
           h.version, h.command ? "PROXY" : "LOCAL", fam[h.family & 3], tr[h.transport & 3], rc,
           reads);
    print_addr("src_addr", &h, 0);
    print_addr("dst_addr", &h, 1);
    printf(", \"src_port\": %u, \"dst_port\": %u, \"crc32c\": \"%s\", \"tlvs\": [", h.src_port,
           h.dst_port, h.crc32c_present ? "valid" : "absent");
    size_t cur = 0;
    lb_proxy_tlv t;
    for (int i = 0; lb_proxy_tlv_next(&h, &cur, &t) == 1; i++) {
        printf("%s{\"type\": %u, \"length\": %u, \"value\": ", i ? ", " : "", t.type, t.length);
        print_text(t.value, t.length);
        printf("}");
    }
    printf("], \"app\": ");
    print_text(buf + app, nl ? (size_t)(nl - (buf + app)) : len - app);
    printf("}\n");
    if (h.command == LB_PROXY_CMD_PROXY) {
        ssize_t w = write(fd, "ok\n", 3);
        (void)w;
    }
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: proxy_listener ADDR PORT SECONDS\n");
        return 2;
    }
    signal(SIGTERM, on_term);
    signal(SIGPIPE, SIG_IGN);
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    socklen_t sl;
    int port = atoi(argv[2]), fam = strchr(argv[1], ':') ? AF_INET6 : AF_INET;
    if (fam == AF_INET) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, argv[1], &s4->sin_addr) != 1)
            return 2;
        sl = sizeof(*s4);
    } else {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, argv[1], &s6->sin6_addr) != 1)
            return 2;
        sl = sizeof(*s6);
    }
    int one = 1, ls = socket(fam, SOCK_STREAM, 0);
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ls < 0 || bind(ls, (struct sockaddr *)&ss, sl) != 0 || listen(ls, 64) != 0) {
        perror("proxy_listener");
        return 1;
    }
    sl = sizeof(ss);
    getsockname(ls, (struct sockaddr *)&ss, &sl);
    printf("listening %u\n", ntohs(fam == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                                  : ((struct sockaddr_in6 *)&ss)->sin6_port));
    fflush(stdout);
    double end = now_s() + atof(argv[3]);
    while (!stop && now_s() < end) {
        struct pollfd p = {ls, POLLIN, 0};
        if (poll(&p, 1, 200) <= 0)
            continue;
        int fd = accept(ls, NULL, NULL);
        if (fd < 0)
            continue;
        handle(fd);
        fflush(stdout);
        close(fd);
    }
    close(ls);
    return 0;
}
