/* lbfwd's use of liblb's PROXY codec (lb/proxy.h): decode a header at the start of a trusted
 * connection, and encode the one sent toward targets. */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include "lb/proxy.h"
#include "lbfwd.h"

int lbf_proxy_decode(const uint8_t *buf, size_t len, struct lbf_ep *src, struct lbf_ep *dst)
{
    lb_proxy_options opts;
    lb_proxy_header h;
    size_t need = 0;
    memset(&opts, 0, sizeof(opts));
    opts.struct_size = sizeof(opts);
    opts.max_header_size = LB_PROXY_DEFAULT_MAX_HEADER;
    memset(&h, 0, sizeof(h));
    h.struct_size = sizeof(h);
    int rc = lb_proxy_decode(buf, len, &opts, &h, &need);
    if (rc <= 0)
        return rc;
    if (h.command == LB_PROXY_CMD_PROXY &&
        (h.family == LB_PROXY_FAM_INET || h.family == LB_PROXY_FAM_INET6)) {
        size_t n = h.family == LB_PROXY_FAM_INET ? 4 : 16;
        memset(src, 0, sizeof(*src));
        memset(dst, 0, sizeof(*dst));
        src->family = dst->family = h.family == LB_PROXY_FAM_INET ? AF_INET : AF_INET6;
        memcpy(src->addr, h.src_addr, n);
        memcpy(dst->addr, h.dst_addr, n);
        src->port = h.src_port;
        dst->port = h.dst_port;
    } else {
        /* LOCAL, UNKNOWN, UNIX: the real endpoints stay */
        src->family = 0;
    }
    return rc;
}

int lbf_proxy_encode(int version, int crc32c, int local, const struct lbf_ep *src,
                     const struct lbf_ep *dst, uint8_t *buf, size_t cap)
{
    struct sockaddr_storage s, d;
    lb_proxy_encode_params p;
    size_t need = 0;
    memset(&p, 0, sizeof(p));
    p.struct_size = sizeof(p);
    p.version = (uint8_t)version;
    p.crc32c = (uint8_t)(version == 2 && crc32c);
    if (!local && (!src || !dst || !lbf_ep_to_sockaddr(src, &s) || !lbf_ep_to_sockaddr(dst, &d) ||
                   src->family != dst->family))
        local = 1; /* no usable pair of addresses: say so (LOCAL / v1 UNKNOWN) */
    p.command = local ? LB_PROXY_CMD_LOCAL : LB_PROXY_CMD_PROXY;
    if (!local) {
        p.src = (const struct sockaddr *)&s;
        p.dst = (const struct sockaddr *)&d;
    }
    return lb_proxy_encode(buf, cap, &p, &need);
}
