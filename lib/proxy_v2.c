/* PROXY protocol: the decoder's entry point, the v2 (binary) decoder and encoder. */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "internal/abi.h"
#include "internal/proxy.h"

/* First-release sizes (doc/ABI.md). */
#define HEADER_SIZE_1_0  LB__SIZE_UPTO(lb_proxy_header, reserved1)
#define OPTIONS_SIZE_1_0 LB__SIZE_UPTO(lb_proxy_options, max_header_size)
#define PARAMS_SIZE_1_0  LB__SIZE_UPTO(lb_proxy_encode_params, tlvs_len)
#include "internal/util.h"

const uint8_t lb__proxy_v2_sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                      0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

/* Bytes of the address block of a PROXY header's fam/proto byte; -1 for an invalid byte. */
static int v2_block_len(uint8_t fam_proto)
{
    static const int16_t len_of_fam[4] = {0, 12, 36, 216};
    unsigned fam = fam_proto >> 4, proto = fam_proto & 0x0Fu;
    if (fam_proto == 0)
        return 0;
    if (fam - 1u > 2u || proto - 1u > 1u)
        return -1;
    return len_of_fam[fam];
}

/* The error of an invalid fam/proto byte of a PROXY header. */
static int v2_fam_error(uint8_t fam_proto)
{
    unsigned fam = fam_proto >> 4, proto = fam_proto & 0x0F;
    if (fam > 3)
        return LB_E_PROXY_BAD_FAMILY;
    if (proto > 2)
        return LB_E_PROXY_BAD_TRANSPORT;
    /* A family without a transport, or a transport without a family. */
    return fam == 0 ? LB_E_PROXY_BAD_FAMILY : LB_E_PROXY_BAD_TRANSPORT;
}

/* Checks bytes 12 and 13 (as far as present: n is 13 or 14+); returns 0 or the fault. */
static int v2_check_cmd_fam(const uint8_t *buf, size_t n, int accept)
{
    if (!accept)
        return LB_E_PROXY_VERSION_REFUSED;
    if ((buf[12] >> 4) != 2)
        return LB_E_PROXY_BAD_VERSION;
    unsigned cmd = buf[12] & 0x0F;
    if (cmd > 1)
        return LB_E_PROXY_BAD_COMMAND;
    if (n > 13 && cmd == 1 && v2_block_len(buf[13]) < 0)
        return v2_fam_error(buf[13]);
    return 0;
}

/* The slow path: fewer than 16 bytes. Every check depends only on bytes present. */
static int v2_partial(const uint8_t *buf, size_t len, int accept, size_t *need)
{
    size_t n = len < 12 ? len : 12;
    if (memcmp(buf, lb__proxy_v2_sig, n) != 0) {
        size_t i = 0;
        while (buf[i] == lb__proxy_v2_sig[i])
            i++;
        return i < 5 ? LB_E_PROXY_NOT_PROXY : LB_E_PROXY_BAD_SIGNATURE;
    }
    if (len > 12) {
        int rc = v2_check_cmd_fam(buf, len, accept);
        if (rc)
            return rc;
    }
    if (need)
        *need = 16 - len;
    return LB_E_NEED_MORE;
}

/* The addresses and ports of an INET (block 12) or INET6 (block 36) address block. */
static inline void v2_inet(lb_proxy_header *out, const uint8_t *a, int block)
{
    if (block == 12) {
        memset(out->src_addr, 0, 16);
        memset(out->dst_addr, 0, 16);
        memcpy(out->src_addr, a, 4);
        memcpy(out->dst_addr, a + 4, 4);
        out->src_port = lb__load_be16(a + 8);
        out->dst_port = lb__load_be16(a + 10);
    } else {
        memcpy(out->src_addr, a, 16);
        memcpy(out->dst_addr, a + 16, 16);
        out->src_port = lb__load_be16(a + 32);
        out->dst_port = lb__load_be16(a + 34);
    }
}

static int v2_check_crc(const uint8_t *buf, size_t total, size_t off)
{
    return lb__crc32c_masked(buf, total, off) == lb__load_be32(buf + off) ? 0
                                                                          : LB_E_PROXY_CRC_MISMATCH;
}

/* The 12-byte signature as a 64-bit and a 32-bit word (compared with memcpy'd loads). */
static int v2_sig_ok(const uint8_t *buf)
{
    uint64_t a, sa;
    uint32_t b, sb;
    memcpy(&a, buf, 8);
    memcpy(&b, buf + 8, 4);
    memcpy(&sa, lb__proxy_v2_sig, 8);
    memcpy(&sb, lb__proxy_v2_sig + 8, 4);
    return a == sa && b == sb;
}

int lb__proxy_decode_v2(const uint8_t *buf, size_t len, uint32_t max, uint32_t flags,
                        lb_proxy_header *out, size_t *need)
{
    int accept = (flags & LB__PROXY_V2_REFUSED) == 0;
    if (LB_UNLIKELY(len < 16))
        return v2_partial(buf, len, accept, need);
    if (LB_UNLIKELY(!v2_sig_ok(buf)))
        return v2_partial(buf, 12, accept, need);
    int cmd = buf[12] & 0x0F, block;
    if (LB_LIKELY(buf[12] == 0x21 && accept)) {
        block = v2_block_len(buf[13]);
        if (LB_UNLIKELY(block < 0))
            return v2_fam_error(buf[13]);
    } else {
        int rc = v2_check_cmd_fam(buf, 16, accept);
        if (rc)
            return rc;
        block = v2_block_len(buf[13]);
    }
    size_t total = 16 + (size_t)lb__load_be16(buf + 14);
    if (LB_UNLIKELY(total > max))
        return LB_E_PROXY_TOO_LARGE;
    if (cmd == LB_PROXY_CMD_PROXY) {
        if (LB_UNLIKELY((size_t)block > total - 16))
            return LB_E_PROXY_SHORT_LENGTH;
        if (LB_UNLIKELY(block == 0 && !(flags & LB__PROXY_ALLOW_UNSPEC)))
            return LB_E_PROXY_UNSPEC_REFUSED;
    } else if (block < 0 || (size_t)block > total - 16) {
        /* LOCAL: the family is ignored; with no usable address block there are no TLVs. */
        block = (int)(total - 16);
    }
    if (LB_UNLIKELY(len < total)) {
        if (need)
            *need = total - len;
        return LB_E_NEED_MORE;
    }
    const uint8_t *tlv = buf + 16 + block;
    size_t tlv_len = total - 16 - (size_t)block;
    uint8_t crc_present = 0;
    if (tlv_len) {
        size_t crc_off;
        int rc = lb__proxy_tlv_check(tlv, tlv_len, &crc_off);
        if (LB_UNLIKELY(rc))
            return rc;
        if (crc_off != SIZE_MAX) {
            rc = v2_check_crc(buf, total, (size_t)(tlv - buf) + crc_off);
            if (rc)
                return rc;
            crc_present = 1;
        }
    }
    /* Valid: only now is the result written. */
    out->crc32c_present = crc_present;
    out->tlvs = tlv_len ? tlv : NULL;
    out->tlvs_len = (uint32_t)tlv_len;
    out->version = 2;
    out->command = (uint8_t)cmd;
    out->header_len = (uint32_t)total;
    out->src_path = out->dst_path = NULL;
    out->src_path_len = out->dst_path_len = 0;
    const uint8_t *a = buf + 16;
    if (cmd == LB_PROXY_CMD_LOCAL || block == 0) {
        out->family = LB_PROXY_FAM_UNSPEC;
        out->transport = LB_PROXY_TRANSPORT_UNSPEC;
        out->src_port = out->dst_port = 0;
        memset(out->src_addr, 0, 16);
        memset(out->dst_addr, 0, 16);
        return (int)total;
    }
    out->family = (uint8_t)(buf[13] >> 4);
    out->transport = (uint8_t)(buf[13] & 0x0F);
    if (block != 216) {
        v2_inet(out, a, block);
    } else {
        memset(out->src_addr, 0, 16);
        memset(out->dst_addr, 0, 16);
        out->src_port = out->dst_port = 0;
        out->src_path = a;
        out->dst_path = a + LB_PROXY_UNIX_PATH_MAX;
        const uint8_t *z = memchr(a, 0, LB_PROXY_UNIX_PATH_MAX);
        out->src_path_len = (uint16_t)(z ? (size_t)(z - a) : LB_PROXY_UNIX_PATH_MAX);
        z = memchr(a + LB_PROXY_UNIX_PATH_MAX, 0, LB_PROXY_UNIX_PATH_MAX);
        out->dst_path_len = (uint16_t)(z ? (size_t)(z - out->dst_path) : LB_PROXY_UNIX_PATH_MAX);
    }
    return (int)total;
}

/* The common case, PROXY over INET or INET6 with no TLVs, under the default options: the same
 * result as lb__proxy_decode_v2() (which handles everything else), in fewer steps. */
static inline int v2_fast(const uint8_t *buf, size_t len, uint32_t max, lb_proxy_header *out)
{
    if (len < 28 || !v2_sig_ok(buf) || buf[12] != 0x21)
        return 0;
    unsigned fam = buf[13] >> 4, proto = buf[13] & 0x0Fu, l = lb__load_be16(buf + 14);
    if (proto - 1u > 1u || 16 + l > max)
        return 0;
    if (!(fam == LB_PROXY_FAM_INET && l == 12) &&
        !(fam == LB_PROXY_FAM_INET6 && l == 36 && len >= 52))
        return 0;
    v2_inet(out, buf + 16, (int)l);
    out->version = 2;
    out->command = LB_PROXY_CMD_PROXY;
    out->family = (uint8_t)fam;
    out->transport = (uint8_t)proto;
    out->header_len = 16 + l;
    out->src_path = out->dst_path = NULL;
    out->src_path_len = out->dst_path_len = 0;
    out->crc32c_present = 0;
    out->tlvs = NULL;
    out->tlvs_len = 0;
    return (int)(16 + l);
}

static inline int decode(const uint8_t *buf, size_t len, const lb_proxy_options *opts,
                         lb_proxy_header *out, size_t *need)
{
    uint32_t versions = LB_PROXY_V1 | LB_PROXY_V2, allow_unspec = 0;
    uint32_t max = LB_PROXY_DEFAULT_MAX_HEADER;
    if (opts) {
        lb_proxy_options o;
        int rc = lb__struct_in(&o, sizeof(o), opts, opts->struct_size, OPTIONS_SIZE_1_0);
        if (rc)
            return rc;
        if (o.versions)
            versions = o.versions;
        allow_unspec = o.allow_unspec != 0;
        if (o.max_header_size)
            max = o.max_header_size;
        if ((versions & ~(LB_PROXY_V1 | LB_PROXY_V2)) || max < LB_PROXY_V2_FIXED ||
            max > LB_PROXY_MAX_HEADER)
            return -EINVAL;
    }
    if (LB_UNLIKELY(len == 0)) {
        if (need)
            *need = (versions & LB_PROXY_V1) ? 15 : 16;
        return LB_E_NEED_MORE;
    }
    if (buf[0] == '\r') {
        if (versions & LB_PROXY_V2) {
            int rc = v2_fast(buf, len, max, out);
            if (rc > 0)
                return rc;
        }
        return lb__proxy_decode_v2(buf, len, max,
                                   (allow_unspec ? LB__PROXY_ALLOW_UNSPEC : 0u) |
                                       ((versions & LB_PROXY_V2) ? 0u : LB__PROXY_V2_REFUSED),
                                   out, need);
    }
    if (buf[0] == 'P')
        return lb__proxy_decode_v1(buf, len, (versions & LB_PROXY_V1) ? max : 0, out, need);
    return LB_E_PROXY_NOT_PROXY;
}

LB_API int lb_proxy_decode(const uint8_t *buf, size_t len, const lb_proxy_options *opts,
                           lb_proxy_header *out, size_t *need)
{
    if (LB_UNLIKELY(!out || (!buf && len)))
        return -EINVAL;
    size_t out_size = out->struct_size;
    if (LB_UNLIKELY(out_size < HEADER_SIZE_1_0))
        return LB_E_STRUCT_SIZE;
    int rc = decode(buf, len, opts, out, need);
    /* Reserved and unknown fields are zeroed last: a store through `out` may alias `buf`
     * (bytes), so zeroing them first would make the decoder reload what it already read. */
    memset(out->reserved0, 0, sizeof(out->reserved0));
    out->reserved1 = 0;
    if (out_size > sizeof(*out)) { /* a newer caller: what this library does not know is 0 */
        memset((uint8_t *)out + sizeof(*out), 0, out_size - sizeof(*out));
        out->struct_size = sizeof(*out); /* the bytes this library writes */
    }
    return rc;
}

/* ---- encoder ------------------------------------------------------------------------ */

int lb__proxy_pair(const struct sockaddr *src, const struct sockaddr *dst,
                   struct lb__proxy_pair *out)
{
    if (!src || !dst)
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    const struct sockaddr *sa[2] = {src, dst};
    int fam[2];
    for (int i = 0; i < 2; i++) {
        uint8_t *addr = i ? out->dst : out->src;
        uint16_t *port = i ? &out->dport : &out->sport;
        if (sa[i]->sa_family == AF_INET) {
            const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)sa[i];
            memcpy(addr, &s4->sin_addr, 4);
            *port = ntohs(s4->sin_port);
            fam[i] = LB_PROXY_FAM_INET;
        } else if (sa[i]->sa_family == AF_INET6) {
            const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)sa[i];
            memcpy(addr, &s6->sin6_addr, 16);
            *port = ntohs(s6->sin6_port);
            fam[i] = LB_PROXY_FAM_INET6;
        } else if (sa[i]->sa_family == AF_UNIX) {
            const struct sockaddr_un *su = (const struct sockaddr_un *)(const void *)sa[i];
            const char **path = i ? &out->dpath : &out->spath;
            size_t *plen = i ? &out->dplen : &out->splen;
            *path = su->sun_path;
            *plen = strnlen(su->sun_path, sizeof(su->sun_path));
            if (*plen > LB_PROXY_UNIX_PATH_MAX)
                *plen = LB_PROXY_UNIX_PATH_MAX;
            fam[i] = LB_PROXY_FAM_UNIX;
        } else {
            return -EAFNOSUPPORT;
        }
    }
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    int v4like[2];
    for (int i = 0; i < 2; i++) {
        const uint8_t *addr = i ? out->dst : out->src;
        v4like[i] = fam[i] == LB_PROXY_FAM_INET ||
                    (fam[i] == LB_PROXY_FAM_INET6 && !memcmp(addr, mapped, 12));
    }
    if (v4like[0] && v4like[1]) {
        for (int i = 0; i < 2; i++) {
            uint8_t *addr = i ? out->dst : out->src;
            if (fam[i] == LB_PROXY_FAM_INET6) {
                memmove(addr, addr + 12, 4);
                memset(addr + 4, 0, 12);
            }
        }
        out->family = LB_PROXY_FAM_INET;
        return 0;
    }
    if (fam[0] != fam[1])
        return LB_E_PROXY_FAMILY_MISMATCH;
    out->family = fam[0];
    return 0;
}

int lb__proxy_encode_v2(uint8_t *buf, size_t cap, const lb_proxy_encode_params *p, size_t *need)
{
    struct lb__proxy_pair pair;
    int rc;
    size_t crc_off;
    if (p->tlvs_len) {
        if (!p->tlvs)
            return -EINVAL;
        rc = lb__proxy_tlv_check(p->tlvs, p->tlvs_len, &crc_off);
        if (rc)
            return rc;
        if (crc_off != SIZE_MAX)
            return LB_E_PROXY_BAD_CRC_TLV;
    }
    uint8_t fam_proto = 0;
    size_t block = 0;
    if (p->command == LB_PROXY_CMD_PROXY && (p->src || p->dst)) {
        rc = lb__proxy_pair(p->src, p->dst, &pair);
        if (rc)
            return rc;
        block = pair.family == LB_PROXY_FAM_INET    ? 12
                : pair.family == LB_PROXY_FAM_INET6 ? 36
                                                    : 216;
        fam_proto = (uint8_t)(pair.family << 4 | (p->dgram ? 2 : 1));
    } else if (p->command == LB_PROXY_CMD_PROXY && p->dgram) {
        return -EINVAL; /* UNSPEC has no transport */
    }
    size_t total = 16 + block + (p->crc32c ? 7 : 0) + p->tlvs_len, pad = 0;
    if (p->noop_align > 1) {
        size_t r = total % p->noop_align;
        pad = r ? p->noop_align - r : 0;
        while (pad && pad < 3)
            pad += p->noop_align;
    }
    total += pad;
    if (total > LB_PROXY_MAX_HEADER)
        return LB_E_PROXY_TOO_LARGE;
    if (need)
        *need = total;
    if (cap < total)
        return -ENOSPC;
    memcpy(buf, lb__proxy_v2_sig, 12);
    buf[12] = (uint8_t)(0x20 | p->command);
    buf[13] = fam_proto;
    lb__store_be16(buf + 14, (uint16_t)(total - 16));
    uint8_t *w = buf + 16;
    if (block == 12) {
        memcpy(w, pair.src, 4);
        memcpy(w + 4, pair.dst, 4);
        lb__store_be16(w + 8, pair.sport);
        lb__store_be16(w + 10, pair.dport);
    } else if (block == 36) {
        memcpy(w, pair.src, 16);
        memcpy(w + 16, pair.dst, 16);
        lb__store_be16(w + 32, pair.sport);
        lb__store_be16(w + 34, pair.dport);
    } else if (block == 216) {
        memset(w, 0, 216);
        memcpy(w, pair.spath, pair.splen);
        memcpy(w + LB_PROXY_UNIX_PATH_MAX, pair.dpath, pair.dplen);
    }
    w += block;
    uint8_t *crc = NULL;
    if (p->crc32c) {
        w[0] = LB_PROXY_TLV_CRC32C;
        lb__store_be16(w + 1, 4);
        crc = w + 3;
        memset(crc, 0, 4);
        w += 7;
    }
    if (p->tlvs_len) {
        memcpy(w, p->tlvs, p->tlvs_len);
        w += p->tlvs_len;
    }
    if (pad) {
        w[0] = LB_PROXY_TLV_NOOP;
        lb__store_be16(w + 1, (uint16_t)(pad - 3));
        memset(w + 3, 0, pad - 3);
    }
    if (crc)
        lb__store_be32(crc, lb_crc32c(0, buf, total));
    return (int)total;
}

LB_API int lb_proxy_encode(uint8_t *buf, size_t cap, const lb_proxy_encode_params *p, size_t *need)
{
    if (!p)
        return -EINVAL;
    lb_proxy_encode_params pl;
    if (p->struct_size != sizeof(pl)) { /* another release's caller: read it by the rule */
        int rc = lb__struct_in(&pl, sizeof(pl), p, p->struct_size, PARAMS_SIZE_1_0);
        if (rc)
            return rc;
        p = &pl;
    }
    if ((!buf && cap) || p->command > 1 || p->noop_align > 4096 || p->reserved0)
        return -EINVAL;
    if (p->version == 2)
        return lb__proxy_encode_v2(buf, cap, p, need);
    if (p->version == 1)
        return lb__proxy_encode_v1(buf, cap, p, need);
    return -EINVAL;
}
