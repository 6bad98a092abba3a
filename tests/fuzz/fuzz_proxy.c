/* Fuzz harness for the PROXY protocol decoder (libFuzzer entry point; tests/fuzz/fuzz_main.c
 * replays a corpus with a plain main()).
 *
 * For each input, under several decoder options: decode; the same result incrementally, at the
 * sizes the decoder asks for; every TLV accessor; re-encode what was decoded (with the TLV
 * builder) and decode it again, which must give the same header; and the portable CRC-32C against
 * the hardware one. Any disagreement aborts. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "internal/proxy.h"
#include "lb/proxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_proxy: check failed at line %d: %s\n", __LINE__, #cond);         \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static int decode(const uint8_t *buf, size_t len, const lb_proxy_options *o, lb_proxy_header *h)
{
    size_t need = 0;
    memset(h, 0, sizeof(*h));
    h->struct_size = sizeof(*h);
    int rc = lb_proxy_decode(buf, len, o, h, &need);
    CHECK(rc != 0);
    if (rc == LB_E_NEED_MORE)
        CHECK(need >= 1 && need <= LB_PROXY_MAX_HEADER);
    if (rc > 0)
        CHECK((size_t)rc <= len && h->header_len == (uint32_t)rc);
    return rc;
}

/* Exercises every accessor; they must never fail for a reason other than their own. */
static void accessors(const lb_proxy_header *h)
{
    lb_proxy_tlv t;
    lb_proxy_ssl ssl;
    uint32_t u32;
    uint64_t u64;
    size_t pad, cur = 0;
    int rc, n = 0;
    while ((rc = lb_proxy_tlv_next(h, &cur, &t)) == 1) {
        CHECK(t.value >= h->tlvs && t.value + t.length <= h->tlvs + h->tlvs_len);
        n++;
    }
    CHECK(rc == 0 && cur == h->tlvs_len);
    rc = lb_proxy_get_alpn(h, &t);
    CHECK(rc == 0 || rc == LB_E_PROXY_TLV_ABSENT);
    rc = lb_proxy_get_authority(h, &t);
    CHECK(rc == 0 || rc == LB_E_PROXY_TLV_ABSENT || rc == LB_E_PROXY_TLV_MALFORMED);
    rc = lb_proxy_get_unique_id(h, &t);
    CHECK(rc == 0 || rc == LB_E_PROXY_TLV_ABSENT || rc == LB_E_PROXY_TLV_MALFORMED);
    rc = lb_proxy_get_netns(h, &t);
    CHECK(rc == 0 || rc == LB_E_PROXY_TLV_ABSENT);
    rc = lb_proxy_get_noop(h, &t, &pad);
    CHECK(rc == 0 || rc == LB_E_PROXY_TLV_ABSENT);
    rc = lb_proxy_get_crc32c(h, &u32);
    CHECK(rc == 0 ? h->crc32c_present : (rc == LB_E_PROXY_TLV_ABSENT && !h->crc32c_present));
    rc = lb_proxy_get_ssl(h, &ssl);
    CHECK(rc == 0 || rc == LB_E_PROXY_TLV_ABSENT || rc == LB_E_PROXY_TLV_MALFORMED);
    if (rc == 0) {
        cur = 0;
        while ((rc = lb_proxy_ssl_next(&ssl, &cur, &t)) == 1)
            CHECK(t.value + t.length <= ssl.sub_tlvs + ssl.sub_len);
        CHECK(rc == 0);
        rc = lb_proxy_ssl_find(&ssl, LB_PROXY_TLV_SSL_CN, &t);
        CHECK(rc == 0 || rc == LB_E_PROXY_TLV_ABSENT);
        (void)lb_proxy_ssl_cert_verified(&ssl);
    }
    rc = lb_proxy_get_aws_vpce_id(h, &t);
    CHECK(rc == 0 || rc == LB_E_PROXY_TLV_ABSENT || rc == LB_E_PROXY_TLV_MALFORMED);
    rc = lb_proxy_get_azure_linkid(h, &u32);
    CHECK(rc == 0 || rc == LB_E_PROXY_TLV_ABSENT || rc == LB_E_PROXY_TLV_MALFORMED);
    rc = lb_proxy_get_gcp_psc_id(h, &u64);
    CHECK(rc == 0 || rc == LB_E_PROXY_TLV_ABSENT || rc == LB_E_PROXY_TLV_MALFORMED);
    (void)n;
}

/* Rebuilds the TLVs (all but CRC32C) with the typed builder where the value allows it. */
static int rebuild_tlvs(const lb_proxy_header *h, lb_proxy_tlv_builder *b)
{
    size_t cur = 0;
    lb_proxy_tlv t;
    while (lb_proxy_tlv_next(h, &cur, &t) == 1) {
        int rc;
        char text[65536 + 1];
        if (t.type == LB_PROXY_TLV_CRC32C)
            continue;
        memcpy(text, t.value, t.length);
        text[t.length] = 0;
        int plain = memchr(t.value, 0, t.length) == NULL;
        if (t.type == LB_PROXY_TLV_AUTHORITY && plain && lb_proxy_tlvb_add_authority(b, text) == 0)
            continue;
        if (t.type == LB_PROXY_TLV_NETNS && plain) {
            rc = lb_proxy_tlvb_add_netns(b, text);
            CHECK(rc == 0);
            continue;
        }
        if (t.type == LB_PROXY_TLV_ALPN) {
            CHECK(lb_proxy_tlvb_add_alpn(b, t.value, t.length) == 0);
            continue;
        }
        if (t.type == LB_PROXY_TLV_UNIQUE_ID && t.length <= LB_PROXY_UNIQUE_ID_MAX) {
            CHECK(lb_proxy_tlvb_add_unique_id(b, t.value, t.length) == 0);
            continue;
        }
        if (t.type == LB_PROXY_TLV_NOOP && t.length && !t.value[0] &&
            !memcmp(t.value, t.value + 1, t.length - 1u)) {
            CHECK(lb_proxy_tlvb_add_noop(b, t.length) == 0);
            continue;
        }
        if (t.type == LB_PROXY_TLV_SSL && t.length >= 5) {
            lb_proxy_tlv_builder sub;
            lb_proxy_tlvb_init(&sub, sizeof(sub), (uint8_t *)(uintptr_t)(t.value + 5),
                               t.length - 5u);
            sub.len = t.length - 5u;
            uint32_t verify = (uint32_t)t.value[1] << 24 | (uint32_t)t.value[2] << 16 |
                              (uint32_t)t.value[3] << 8 | t.value[4];
            CHECK(lb_proxy_tlvb_add_ssl(b, t.value[0], verify, &sub) == 0);
            continue;
        }
        if (t.type == LB_PROXY_TLV_AZURE && t.length == 5 && t.value[0] == 1) {
            uint32_t id = (uint32_t)t.value[1] | (uint32_t)t.value[2] << 8 |
                          (uint32_t)t.value[3] << 16 | (uint32_t)t.value[4] << 24;
            CHECK(lb_proxy_tlvb_add_azure_linkid(b, id) == 0);
            continue;
        }
        if (t.type == LB_PROXY_TLV_GCP && t.length == 8) {
            uint64_t id = 0;
            for (int i = 0; i < 8; i++)
                id = id << 8 | t.value[i];
            CHECK(lb_proxy_tlvb_add_gcp_psc_id(b, id) == 0);
            continue;
        }
        if (t.type == LB_PROXY_TLV_AWS && t.length >= 2 && t.value[0] == 1 && plain &&
            lb_proxy_tlvb_add_aws_vpce_id(b, text + 1) == 0)
            continue;
        rc = lb_proxy_tlvb_add(b, t.type, t.value, t.length);
        CHECK(rc == 0);
    }
    return 0;
}

static int is_mapped(const uint8_t *a)
{
    static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    return !memcmp(a, prefix, 12);
}

static void reencode(const lb_proxy_header *h)
{
    static uint8_t tlvs[LB_PROXY_MAX_HEADER], out[LB_PROXY_MAX_HEADER + 16];
    struct sockaddr_storage s, d;
    memset(&s, 0, sizeof(s));
    memset(&d, 0, sizeof(d));
    lb_proxy_encode_params p;
    memset(&p, 0, sizeof(p));
    p.struct_size = sizeof(p);
    p.version = h->version;
    p.command = h->command;
    p.dgram = h->transport == LB_PROXY_TRANSPORT_DGRAM;
    p.crc32c = h->crc32c_present;
    lb_proxy_tlv_builder b;
    lb_proxy_tlvb_init(&b, sizeof(b), tlvs, sizeof(tlvs));
    rebuild_tlvs(h, &b);
    p.tlvs = b.len ? b.buf : NULL;
    p.tlvs_len = b.len;
    int expect_fam = h->family;
    if (h->family == LB_PROXY_FAM_INET) {
        struct sockaddr_in *s4 = (void *)&s, *d4 = (void *)&d;
        s4->sin_family = d4->sin_family = AF_INET;
        memcpy(&s4->sin_addr, h->src_addr, 4);
        memcpy(&d4->sin_addr, h->dst_addr, 4);
        s4->sin_port = htons(h->src_port);
        d4->sin_port = htons(h->dst_port);
    } else if (h->family == LB_PROXY_FAM_INET6) {
        struct sockaddr_in6 *s6 = (void *)&s, *d6 = (void *)&d;
        s6->sin6_family = d6->sin6_family = AF_INET6;
        memcpy(&s6->sin6_addr, h->src_addr, 16);
        memcpy(&d6->sin6_addr, h->dst_addr, 16);
        s6->sin6_port = htons(h->src_port);
        d6->sin6_port = htons(h->dst_port);
        if (is_mapped(h->src_addr) && is_mapped(h->dst_addr))
            expect_fam = LB_PROXY_FAM_INET;
    } else if (h->family == LB_PROXY_FAM_UNIX) {
        struct sockaddr_un *su = (void *)&s, *du = (void *)&d;
        su->sun_family = du->sun_family = AF_UNIX;
        memcpy(su->sun_path, h->src_path, h->src_path_len);
        memcpy(du->sun_path, h->dst_path, h->dst_path_len);
    }
    if (h->command == LB_PROXY_CMD_PROXY && h->family != LB_PROXY_FAM_UNSPEC) {
        p.src = (const struct sockaddr *)&s;
        p.dst = (const struct sockaddr *)&d;
    }
    size_t need = 0;
    int n = lb_proxy_encode(out, sizeof(out), &p, &need);
    if (n == LB_E_PROXY_TOO_LARGE) /* the rebuilt TLVs can only equal the original's size */
        CHECK(0);
    CHECK(n > 0 && need == (size_t)n);
    /* Too small a buffer: the size needed, and nothing written past the capacity. */
    if (n > 1) {
        size_t need2 = 0;
        CHECK(lb_proxy_encode(out, (size_t)n - 1, &p, &need2) == -ENOSPC && need2 == (size_t)n);
    }
    n = lb_proxy_encode(out, sizeof(out), &p, &need);
    lb_proxy_options o;
    memset(&o, 0, sizeof(o));
    o.struct_size = sizeof(o);
    o.allow_unspec = 1;
    o.max_header_size = LB_PROXY_MAX_HEADER;
    lb_proxy_header h2;
    int rc = decode(out, (size_t)n, &o, &h2);
    CHECK(rc == n);
    CHECK(h2.version == h->version && h2.command == h->command && h2.family == expect_fam);
    CHECK(h2.transport == h->transport && h2.crc32c_present == h->crc32c_present);
    if (h->family == LB_PROXY_FAM_UNIX) {
        CHECK(h2.src_path_len == h->src_path_len && h2.dst_path_len == h->dst_path_len);
        CHECK(!memcmp(h2.src_path, h->src_path, h->src_path_len));
        CHECK(!memcmp(h2.dst_path, h->dst_path, h->dst_path_len));
    } else if (expect_fam != h->family) {
        CHECK(!memcmp(h2.src_addr, h->src_addr + 12, 4) &&
              !memcmp(h2.dst_addr, h->dst_addr + 12, 4));
    } else {
        CHECK(!memcmp(h2.src_addr, h->src_addr, 16) && !memcmp(h2.dst_addr, h->dst_addr, 16));
    }
    CHECK(h2.src_port == h->src_port && h2.dst_port == h->dst_port);
    /* The other version, and NOOP padding: encodes or fails precisely. */
    lb_proxy_encode_params q = p;
    q.version = p.version == 1 ? 2 : 1;
    rc = lb_proxy_encode(out, sizeof(out), &q, &need);
    if (q.version == 1)
        CHECK(rc > 0 || rc == LB_E_PROXY_V1_UNSUPPORTED || rc == LB_E_PROXY_TOO_LARGE ||
              (rc == -EINVAL && !q.src));
    else
        CHECK(rc > 0);
    if (p.version == 2) {
        q = p;
        q.noop_align = 1u + (uint32_t)(h->header_len * 7u % 61u);
        rc = lb_proxy_encode(out, sizeof(out), &q, &need);
        CHECK(rc == LB_E_PROXY_TOO_LARGE || (rc > 0 && rc % (int)q.noop_align == 0));
    }
    /* Same TLVs in the same order, CRC32C aside (it moves first). */
    size_t c1 = 0, c2 = 0;
    lb_proxy_tlv t1, t2;
    for (;;) {
        int r1, r2;
        while ((r1 = lb_proxy_tlv_next(h, &c1, &t1)) == 1 && t1.type == LB_PROXY_TLV_CRC32C)
            ;
        while ((r2 = lb_proxy_tlv_next(&h2, &c2, &t2)) == 1 && t2.type == LB_PROXY_TLV_CRC32C)
            ;
        CHECK(r1 == r2);
        if (r1 != 1)
            break;
        CHECK(t1.type == t2.type && t1.length == t2.length);
        CHECK(!memcmp(t1.value, t2.value, t1.length));
    }
}

/* Incremental decoding, following the decoder's own `need` instead of trying every prefix:
 * LB_E_NEED_MORE names the minimum number of further bytes a header needs, so no header completes one
 * byte short of it. Where that shorter prefix is already a refusal, the prefixes in between are
 * tried one by one. The first prefix that settles must give the whole input's result. A few
 * decodes per input instead of one per byte. */
static void incremental(const uint8_t *data, size_t size, const lb_proxy_options *o, int rc,
                        const lb_proxy_header *h)
{
    lb_proxy_header hp;
    size_t k = 0;
    for (;;) {
        size_t need = 0;
        memset(&hp, 0, sizeof(hp));
        hp.struct_size = sizeof(hp);
        int prc = lb_proxy_decode(data, k, o, &hp, &need);
        if (prc != LB_E_NEED_MORE) {
            CHECK(prc == rc);
            if (rc > 0)
                CHECK(!memcmp(h, &hp, sizeof(hp)));
            return;
        }
        CHECK(need >= 1 && need <= LB_PROXY_MAX_HEADER);
        if (k == size) {
            CHECK(rc == LB_E_NEED_MORE);
            return;
        }
        if (need == 1 || k + need > size) {
            k++;
            continue;
        }
        int short_rc = decode(data, k + need - 1, o, &hp);
        CHECK(short_rc <= 0);
        k = short_rc == LB_E_NEED_MORE ? k + need : k + 1;
    }
}

static void one(const uint8_t *data, size_t size, const lb_proxy_options *o)
{
    lb_proxy_header h;
    int rc = decode(data, size, o, &h);
    incremental(data, size, o, rc, &h);
    if (rc > 0) {
        accessors(&h);
        reencode(&h);
    }
}

/* Argument checks never crash and never touch the input. */
static void bad_arguments(const uint8_t *data, size_t size)
{
    lb_proxy_header h;
    lb_proxy_options o;
    lb_proxy_encode_params p;
    memset(&h, 0, sizeof(h));
    memset(&o, 0, sizeof(o));
    memset(&p, 0, sizeof(p));
    CHECK(lb_proxy_decode(data, size, NULL, NULL, NULL) == -EINVAL);
    CHECK(size == 0 || lb_proxy_decode(NULL, size, NULL, &h, NULL) == -EINVAL);
    CHECK(lb_proxy_decode(data, size, NULL, &h, NULL) == LB_E_STRUCT_SIZE); /* struct_size 0 */
    h.struct_size = sizeof(h);
    CHECK(lb_proxy_decode(data, size, &o, &h, NULL) == LB_E_STRUCT_SIZE); /* options size 0 */
    o.struct_size = sizeof(o);
    o.max_header_size = 1;
    CHECK(lb_proxy_decode(data, size, &o, &h, NULL) == -EINVAL);
    CHECK(lb_proxy_encode(NULL, 0, NULL, NULL) == -EINVAL);
    p.struct_size = sizeof(p);
    p.version = 2;
    p.command = LB_PROXY_CMD_PROXY;
    p.tlvs = NULL;
    p.tlvs_len = 3;
    CHECK(lb_proxy_encode(NULL, 0, &p, NULL) == -EINVAL);
    p.tlvs_len = 0;
    p.dgram = 1;
    CHECK(lb_proxy_encode(NULL, 0, &p, NULL) == -EINVAL); /* UNSPEC with a transport */
    p.version = 7;
    CHECK(lb_proxy_encode(NULL, 0, &p, NULL) == -EINVAL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bad_arguments(data, size);
    lb_proxy_options o;
    memset(&o, 0, sizeof(o));
    o.struct_size = sizeof(o);
    one(data, size, NULL);
    o.allow_unspec = 1;
    o.max_header_size = LB_PROXY_MAX_HEADER;
    one(data, size, &o);
    o.allow_unspec = 0;
    o.max_header_size = 64;
    o.versions = size & 1 ? LB_PROXY_V1 : LB_PROXY_V2;
    one(data, size, &o);
    /* Differential CRC-32C: tables against the CPU's instructions. */
    uint32_t seed = size ? data[0] : 0;
    CHECK(lb__crc32c_sw(seed, data, size) == lb_crc32c(seed, data, size));
    CHECK(lb__crc32c_sw(seed, data, size) == lb__crc32c_hw(seed, data, size));
    return 0;
}
