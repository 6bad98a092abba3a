/* PROXY protocol v2 TLVs: tiling checks, the iterator, typed accessors and the builder. */
#include <errno.h>
#include <string.h>

#include "internal/abi.h"
#include "internal/proxy.h"
#include "internal/util.h"

int lb__proxy_tlv_check(const uint8_t *p, size_t len, size_t *crc_off)
{
    size_t i = 0;
    if (crc_off)
        *crc_off = SIZE_MAX;
    while (i < len) {
        if (len - i < 3)
            return LB_E_PROXY_TLV_TRUNCATED;
        size_t vl = lb__load_be16(p + i + 1);
        if (vl > len - i - 3)
            return LB_E_PROXY_TLV_OVERRUN;
        if (crc_off && p[i] == LB_PROXY_TLV_CRC32C) {
            if (vl != 4 || *crc_off != SIZE_MAX)
                return LB_E_PROXY_BAD_CRC_TLV;
            *crc_off = i + 3;
        }
        i += 3 + vl;
    }
    return 0;
}

/* One step over a TLV region: 1 and the TLV, 0 at the end, or the tiling fault. */
static int tlv_step(const uint8_t *p, size_t len, size_t *cursor, lb_proxy_tlv *tlv)
{
    size_t i = *cursor;
    if (i >= len)
        return 0;
    if (len - i < 3)
        return LB_E_PROXY_TLV_TRUNCATED;
    size_t vl = lb__load_be16(p + i + 1);
    if (vl > len - i - 3)
        return LB_E_PROXY_TLV_OVERRUN;
    *tlv = (lb_proxy_tlv){.type = p[i], .length = (uint16_t)vl, .value = p + i + 3};
    *cursor = i + 3 + vl;
    return 1;
}

LB_API int lb_proxy_tlv_next(const lb_proxy_header *h, size_t *cursor, lb_proxy_tlv *tlv)
{
    if (!h || !cursor || !tlv || (!h->tlvs && h->tlvs_len))
        return -EINVAL;
    return tlv_step(h->tlvs, h->tlvs_len, cursor, tlv);
}

LB_API int lb_proxy_tlv_find(const lb_proxy_header *h, uint8_t type, lb_proxy_tlv *tlv)
{
    size_t cur = 0;
    int rc;
    lb_proxy_tlv t;
    if (!tlv)
        return -EINVAL;
    while ((rc = lb_proxy_tlv_next(h, &cur, &t)) == 1) {
        if (t.type == type) {
            *tlv = t;
            return 0;
        }
    }
    return rc < 0 ? rc : LB_E_PROXY_TLV_ABSENT;
}

/* Strict UTF-8 (no overlongs, no surrogates, at most U+10FFFF). */
static int utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t k;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            k = 1, cp = c & 0x1Fu, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            k = 2, cp = c & 0x0Fu, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            k = 3, cp = c & 0x07u, min = 0x10000;
        } else {
            return 0;
        }
        if (n - i - 1 < k)
            return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + j] & 0x3Fu);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += k + 1;
    }
    return 1;
}

LB_API int lb_proxy_get_alpn(const lb_proxy_header *h, lb_proxy_tlv *tlv)
{
    return lb_proxy_tlv_find(h, LB_PROXY_TLV_ALPN, tlv);
}

LB_API int lb_proxy_get_authority(const lb_proxy_header *h, lb_proxy_tlv *tlv)
{
    int rc = lb_proxy_tlv_find(h, LB_PROXY_TLV_AUTHORITY, tlv);
    if (rc == 0 && (tlv->length == 0 || !utf8_valid(tlv->value, tlv->length)))
        return LB_E_PROXY_TLV_MALFORMED;
    return rc;
}

LB_API int lb_proxy_get_unique_id(const lb_proxy_header *h, lb_proxy_tlv *tlv)
{
    int rc = lb_proxy_tlv_find(h, LB_PROXY_TLV_UNIQUE_ID, tlv);
    if (rc == 0 && tlv->length > LB_PROXY_UNIQUE_ID_MAX)
        return LB_E_PROXY_TLV_MALFORMED;
    return rc;
}

LB_API int lb_proxy_get_netns(const lb_proxy_header *h, lb_proxy_tlv *tlv)
{
    return lb_proxy_tlv_find(h, LB_PROXY_TLV_NETNS, tlv);
}

LB_API int lb_proxy_get_noop(const lb_proxy_header *h, lb_proxy_tlv *tlv, size_t *total_bytes)
{
    size_t cur = 0, total = 0;
    int rc, found = 0;
    lb_proxy_tlv t;
    if (!tlv)
        return -EINVAL;
    while ((rc = lb_proxy_tlv_next(h, &cur, &t)) == 1) {
        if (t.type != LB_PROXY_TLV_NOOP)
            continue;
        if (!found)
            *tlv = t;
        found = 1;
        total += 3 + (size_t)t.length;
    }
    if (rc < 0)
        return rc;
    if (total_bytes)
        *total_bytes = total;
    return found ? 0 : LB_E_PROXY_TLV_ABSENT;
}

LB_API int lb_proxy_get_crc32c(const lb_proxy_header *h, uint32_t *crc)
{
    lb_proxy_tlv t;
    if (!crc)
        return -EINVAL;
    int rc = lb_proxy_tlv_find(h, LB_PROXY_TLV_CRC32C, &t);
    if (rc)
        return rc;
    if (t.length != 4)
        return LB_E_PROXY_BAD_CRC_TLV;
    *crc = lb__load_be32(t.value);
    return 0;
}

LB_API int lb_proxy_get_ssl(const lb_proxy_header *h, lb_proxy_ssl *ssl)
{
    lb_proxy_tlv t;
    if (!ssl)
        return -EINVAL;
    int rc = lb_proxy_tlv_find(h, LB_PROXY_TLV_SSL, &t);
    if (rc)
        return rc;
    if (t.length < 5 || lb__proxy_tlv_check(t.value + 5, t.length - 5u, NULL))
        return LB_E_PROXY_TLV_MALFORMED;
    *ssl = (lb_proxy_ssl){.client = t.value[0],
                          .verify = lb__load_be32(t.value + 1),
                          .sub_tlvs = t.value + 5,
                          .sub_len = (uint16_t)(t.length - 5)};
    return 0;
}

LB_API int lb_proxy_ssl_next(const lb_proxy_ssl *ssl, size_t *cursor, lb_proxy_tlv *tlv)
{
    if (!ssl || !cursor || !tlv || (!ssl->sub_tlvs && ssl->sub_len))
        return -EINVAL;
    int rc = tlv_step(ssl->sub_tlvs, ssl->sub_len, cursor, tlv);
    return rc < 0 ? LB_E_PROXY_TLV_MALFORMED : rc;
}

LB_API int lb_proxy_ssl_find(const lb_proxy_ssl *ssl, uint8_t type, lb_proxy_tlv *tlv)
{
    size_t cur = 0;
    int rc;
    lb_proxy_tlv t;
    if (!tlv)
        return -EINVAL;
    while ((rc = lb_proxy_ssl_next(ssl, &cur, &t)) == 1) {
        if (t.type == type) {
            *tlv = t;
            return 0;
        }
    }
    return rc < 0 ? rc : LB_E_PROXY_TLV_ABSENT;
}

LB_API int lb_proxy_ssl_cert_verified(const lb_proxy_ssl *ssl)
{
    return ssl && (ssl->client & (LB_PROXY_SSL_CLIENT_CERT_CONN | LB_PROXY_SSL_CLIENT_CERT_SESS)) &&
           ssl->verify == 0;
}

static int printable_ascii(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x21 || s[i] > 0x7E)
            return 0;
    return 1;
}

LB_API int lb_proxy_get_aws_vpce_id(const lb_proxy_header *h, lb_proxy_tlv *id)
{
    lb_proxy_tlv t;
    if (!id)
        return -EINVAL;
    int rc = lb_proxy_tlv_find(h, LB_PROXY_TLV_AWS, &t);
    if (rc)
        return rc;
    if (t.length < 2 || t.value[0] != 0x01 || !printable_ascii(t.value + 1, t.length - 1u))
        return LB_E_PROXY_TLV_MALFORMED;
    *id = (lb_proxy_tlv){.type = t.type, .length = (uint16_t)(t.length - 1), .value = t.value + 1};
    return 0;
}

LB_API int lb_proxy_get_azure_linkid(const lb_proxy_header *h, uint32_t *linkid)
{
    lb_proxy_tlv t;
    if (!linkid)
        return -EINVAL;
    int rc = lb_proxy_tlv_find(h, LB_PROXY_TLV_AZURE, &t);
    if (rc)
        return rc;
    if (t.length != 5 || t.value[0] != 0x01)
        return LB_E_PROXY_TLV_MALFORMED;
    *linkid = (uint32_t)t.value[1] | (uint32_t)t.value[2] << 8 | (uint32_t)t.value[3] << 16 |
              (uint32_t)t.value[4] << 24;
    return 0;
}

LB_API int lb_proxy_get_gcp_psc_id(const lb_proxy_header *h, uint64_t *psc_id)
{
    lb_proxy_tlv t;
    if (!psc_id)
        return -EINVAL;
    int rc = lb_proxy_tlv_find(h, LB_PROXY_TLV_GCP, &t);
    if (rc)
        return rc;
    if (t.length != 8)
        return LB_E_PROXY_TLV_MALFORMED;
    *psc_id = (uint64_t)lb__load_be32(t.value) << 32 | lb__load_be32(t.value + 4);
    return 0;
}

/* ---- builder ------------------------------------------------------------------------- */

#define TLVB_SIZE_1_0 LB__SIZE_UPTO(lb_proxy_tlv_builder, len)

LB_API void lb_proxy_tlvb_init(lb_proxy_tlv_builder *b, size_t size, uint8_t *storage, size_t cap)
{
    lb_proxy_tlv_builder v = {.buf = storage, .cap = storage ? cap : 0};
    lb__struct_init(b, size, &v, sizeof(v));
}

/* A builder the caller initialised with a size this library accepts. */
static int tlvb_check(const lb_proxy_tlv_builder *b)
{
    if (!b)
        return -EINVAL;
    return lb__struct_size_of(b) < TLVB_SIZE_1_0 ? LB_E_STRUCT_SIZE : 0;
}

/* Appends a TLV made of a prefix and a value (either may be empty). */
static int tlvb_put(lb_proxy_tlv_builder *b, uint8_t type, const void *pre, size_t pre_len,
                    const void *value, size_t len)
{
    int rc = tlvb_check(b);
    if (rc)
        return rc;
    if ((!value && len) || b->len > b->cap)
        return -EINVAL;
    if (type == LB_PROXY_TLV_CRC32C)
        return LB_E_PROXY_BAD_CRC_TLV;
    size_t vl = pre_len + len;
    if (vl > 65535)
        return LB_E_PROXY_TOO_LARGE;
    if (b->cap - b->len < 3 + vl)
        return -ENOSPC;
    uint8_t *w = b->buf + b->len;
    w[0] = type;
    lb__store_be16(w + 1, (uint16_t)vl);
    if (pre_len)
        memcpy(w + 3, pre, pre_len);
    if (len)
        memcpy(w + 3 + pre_len, value, len);
    b->len += 3 + vl;
    return 0;
}

LB_API int lb_proxy_tlvb_add(lb_proxy_tlv_builder *b, uint8_t type, const void *value, size_t len)
{
    return tlvb_put(b, type, NULL, 0, value, len);
}

LB_API int lb_proxy_tlvb_add_alpn(lb_proxy_tlv_builder *b, const void *alpn, size_t len)
{
    return tlvb_put(b, LB_PROXY_TLV_ALPN, NULL, 0, alpn, len);
}

LB_API int lb_proxy_tlvb_add_authority(lb_proxy_tlv_builder *b, const char *host)
{
    if (!host)
        return -EINVAL;
    size_t n = strlen(host);
    if (n == 0 || !utf8_valid((const uint8_t *)host, n))
        return LB_E_PROXY_TLV_MALFORMED;
    return tlvb_put(b, LB_PROXY_TLV_AUTHORITY, NULL, 0, host, n);
}

LB_API int lb_proxy_tlvb_add_unique_id(lb_proxy_tlv_builder *b, const void *id, size_t len)
{
    if (len > LB_PROXY_UNIQUE_ID_MAX)
        return LB_E_PROXY_TLV_MALFORMED;
    return tlvb_put(b, LB_PROXY_TLV_UNIQUE_ID, NULL, 0, id, len);
}

LB_API int lb_proxy_tlvb_add_netns(lb_proxy_tlv_builder *b, const char *ns)
{
    if (!ns)
        return -EINVAL;
    return tlvb_put(b, LB_PROXY_TLV_NETNS, NULL, 0, ns, strlen(ns));
}

LB_API int lb_proxy_tlvb_add_noop(lb_proxy_tlv_builder *b, size_t len)
{
    if (!b)
        return -EINVAL;
    if (len > 65535)
        return LB_E_PROXY_TOO_LARGE;
    if (b->len > b->cap || b->cap - b->len < 3 + len)
        return -ENOSPC;
    uint8_t *w = b->buf + b->len;
    w[0] = LB_PROXY_TLV_NOOP;
    lb__store_be16(w + 1, (uint16_t)len);
    memset(w + 3, 0, len);
    b->len += 3 + len;
    return 0;
}

LB_API int lb_proxy_tlvb_add_ssl(lb_proxy_tlv_builder *b, uint8_t client, uint32_t verify,
                                 const lb_proxy_tlv_builder *sub)
{
    uint8_t pre[5] = {client};
    lb__store_be32(pre + 1, verify);
    if (sub && tlvb_check(sub))
        return tlvb_check(sub);
    if (sub && (sub->len > sub->cap || (!sub->buf && sub->len)))
        return -EINVAL;
    return tlvb_put(b, LB_PROXY_TLV_SSL, pre, 5, sub ? sub->buf : NULL, sub ? sub->len : 0);
}

LB_API int lb_proxy_tlvb_add_aws_vpce_id(lb_proxy_tlv_builder *b, const char *vpce_id)
{
    static const uint8_t subtype = 0x01;
    if (!vpce_id)
        return -EINVAL;
    size_t n = strlen(vpce_id);
    if (n == 0 || !printable_ascii((const uint8_t *)vpce_id, n))
        return LB_E_PROXY_TLV_MALFORMED;
    return tlvb_put(b, LB_PROXY_TLV_AWS, &subtype, 1, vpce_id, n);
}

LB_API int lb_proxy_tlvb_add_azure_linkid(lb_proxy_tlv_builder *b, uint32_t linkid)
{
    uint8_t v[5] = {0x01, (uint8_t)linkid, (uint8_t)(linkid >> 8), (uint8_t)(linkid >> 16),
                    (uint8_t)(linkid >> 24)};
    return tlvb_put(b, LB_PROXY_TLV_AZURE, NULL, 0, v, 5);
}

LB_API int lb_proxy_tlvb_add_gcp_psc_id(lb_proxy_tlv_builder *b, uint64_t psc_id)
{
    uint8_t v[8];
    lb__store_be32(v, (uint32_t)(psc_id >> 32));
    lb__store_be32(v + 4, (uint32_t)psc_id);
    return tlvb_put(b, LB_PROXY_TLV_GCP, NULL, 0, v, 8);
}
