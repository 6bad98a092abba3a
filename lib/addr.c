/* Address text and CIDR ranges, shared by every program that takes addresses on its
 * command line or in its configuration. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "lb/addr.h"

static int parse_port(const char *s, uint16_t *port)
{
    if (!*s || strlen(s) > 5)
        return LB_E_ADDR_PORT;
    unsigned long v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return LB_E_ADDR_PORT;
        v = v * 10 + (unsigned long)(*p - '0');
    }
    if (v > 65535)
        return LB_E_ADDR_PORT;
    *port = (uint16_t)v;
    return 0;
}

LB_API int lb_addr_parse(const char *text, struct sockaddr_storage *out, uint32_t *out_len)
{
    if (!text || !out)
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    uint32_t len;
    if (strncmp(text, "unix:", 5) == 0) {
        struct sockaddr_un *un = (struct sockaddr_un *)(void *)out;
        const char *path = text + 5;
        size_t plen = strlen(path);
        if (plen == 0)
            return LB_E_ADDR_SYNTAX;
        if (plen >= sizeof(un->sun_path))
            return -ENAMETOOLONG;
        un->sun_family = AF_UNIX;
        memcpy(un->sun_path, path, plen + 1);
        len = (uint32_t)(offsetof(struct sockaddr_un, sun_path) + plen + 1);
    } else if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close || close[1] != ':')
            return close ? LB_E_ADDR_PORT : LB_E_ADDR_SYNTAX;
        char host[INET6_ADDRSTRLEN];
        size_t hlen = (size_t)(close - text - 1);
        if (hlen == 0 || hlen >= sizeof(host))
            return LB_E_ADDR_SYNTAX;
        memcpy(host, text + 1, hlen);
        host[hlen] = 0;
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)(void *)out;
        if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
            return LB_E_ADDR_SYNTAX;
        uint16_t port;
        int err = parse_port(close + 2, &port);
        if (err)
            return err;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        len = sizeof(*in6);
    } else {
        const char *colon = strrchr(text, ':');
        if (!colon)
            return LB_E_ADDR_PORT;
        char host[INET_ADDRSTRLEN];
        size_t hlen = (size_t)(colon - text);
        if (hlen == 0 || hlen >= sizeof(host) || memchr(text, ':', hlen))
            return LB_E_ADDR_SYNTAX;
        memcpy(host, text, hlen);
        host[hlen] = 0;
        struct sockaddr_in *in = (struct sockaddr_in *)(void *)out;
        if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
            return LB_E_ADDR_SYNTAX;
        uint16_t port;
        int err = parse_port(colon + 1, &port);
        if (err)
            return err;
        in->sin_family = AF_INET;
        in->sin_port = htons(port);
        len = sizeof(*in);
    }
    if (out_len)
        *out_len = len;
    return 0;
}

LB_API int lb_addr_format(const struct sockaddr *sa, char *buf, size_t cap)
{
    if (!sa || !buf)
        return -EINVAL;
    char host[INET6_ADDRSTRLEN];
    int n;
    switch (sa->sa_family) {
    case AF_INET: {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        n = snprintf(buf, cap, "%s:%u", host, (unsigned)ntohs(in->sin_port));
        break;
    }
    case AF_INET6: {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        n = snprintf(buf, cap, "[%s]:%u", host, (unsigned)ntohs(in6->sin6_port));
        break;
    }
    case AF_UNIX: {
        const struct sockaddr_un *un = (const struct sockaddr_un *)(const void *)sa;
        n = snprintf(buf, cap, "unix:%.*s", (int)sizeof(un->sun_path), un->sun_path);
        break;
    }
    default:
        return -EAFNOSUPPORT;
    }
    if (n < 0 || (size_t)n >= cap)
        return -ENOSPC;
    return n;
}

LB_API int lb_cidr_parse(const char *text, lb_cidr *out)
{
    if (!text || !out)
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    char host[INET6_ADDRSTRLEN];
    const char *slash = strchr(text, '/');
    size_t hlen = slash ? (size_t)(slash - text) : strlen(text);
    if (hlen == 0 || hlen >= sizeof(host))
        return LB_E_ADDR_SYNTAX;
    memcpy(host, text, hlen);
    host[hlen] = 0;
    unsigned bits;
    if (inet_pton(AF_INET, host, out->addr) == 1) {
        out->family = AF_INET;
        bits = 32;
    } else if (inet_pton(AF_INET6, host, out->addr) == 1) {
        out->family = AF_INET6;
        bits = 128;
    } else {
        return LB_E_ADDR_SYNTAX;
    }
    unsigned prefix = bits;
    if (slash) {
        const char *p = slash + 1;
        if (!*p || strlen(p) > 3)
            return LB_E_ADDR_SYNTAX;
        prefix = 0;
        for (; *p; p++) {
            if (*p < '0' || *p > '9')
                return LB_E_ADDR_SYNTAX;
            prefix = prefix * 10 + (unsigned)(*p - '0');
        }
        if (prefix > bits)
            return LB_E_ADDR_SYNTAX;
    }
    out->prefix_len = prefix;
    for (unsigned i = 0; i < bits / 8; i++) {
        unsigned keep = prefix > i * 8 ? prefix - i * 8 : 0;
        if (keep < 8)
            out->addr[i] &= (uint8_t)(0xFF00u >> keep);
    }
    return 0;
}

static int prefix_equal(const uint8_t *a, const uint8_t *net, unsigned prefix)
{
    unsigned full = prefix / 8, rest = prefix % 8;
    if (memcmp(a, net, full) != 0)
        return 0;
    if (rest == 0)
        return 1;
    uint8_t mask = (uint8_t)(0xFF00u >> rest);
    return (a[full] & mask) == net[full];
}

LB_API int lb_cidr_contains(const lb_cidr *cidr, const struct sockaddr *sa)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (!cidr || !sa)
        return 0;
    const uint8_t *a;
    unsigned family = sa->sa_family;
    if (family == AF_INET) {
        a = (const uint8_t *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr;
    } else if (family == AF_INET6) {
        a = (const uint8_t *)&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
        if (cidr->family == AF_INET && memcmp(a, mapped, 12) == 0) {
            a += 12;
            family = AF_INET;
        }
    } else {
        return 0;
    }
    if (family != cidr->family)
        return 0;
    return prefix_equal(a, cidr->addr, cidr->prefix_len);
}
