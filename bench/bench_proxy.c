/* PROXY protocol decode and encode over many different pre-generated headers (v1 TCP4, v1 TCP6,
 * v2 IPv4, v2 IPv6, v2 IPv4 with CRC32C + AUTHORITY + UNIQUE_ID + AWS), each against memcpy of
 * the same bytes (the cost of merely touching the header). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "bench.h"
#include "lb/proxy.h"

#define N    1024
#define SLOT 256

enum kind { V1_TCP4, V1_TCP6, V2_IPV4, V2_IPV6, V2_TLVS };

struct set {
    uint8_t hdr[N][SLOT];
    size_t len[N];
    struct sockaddr_storage src[N], dst[N];
    uint8_t tlvs[N][160];
    size_t tlvs_len[N];
    uint8_t out[SLOT];
    int version, crc;
};

static struct set *make(enum kind k)
{
    struct set *s = calloc(1, sizeof(*s));
    uint64_t x = 0x1234567 + (uint64_t)k;
    s->version = k <= V1_TCP6 ? 1 : 2;
    s->crc = k == V2_TLVS;
    for (int i = 0; i < N; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t y = x * 0x9E3779B97F4A7C15ull;
        if (k == V1_TCP6 || k == V2_IPV6) {
            struct sockaddr_in6 *a = (void *)&s->src[i], *b = (void *)&s->dst[i];
            a->sin6_family = b->sin6_family = AF_INET6;
            uint8_t *p = a->sin6_addr.s6_addr, *q = b->sin6_addr.s6_addr;
            p[0] = 0x20, p[1] = 0x01, p[2] = 0x0d, p[3] = 0xb8;
            q[0] = 0x20, q[1] = 0x01, q[2] = 0x0d, q[3] = 0xb8;
            memcpy(p + 8, &x, 8);
            memcpy(q + 12, &y, 4);
            a->sin6_port = htons((uint16_t)(1024 + (x >> 20) % 64000));
            b->sin6_port = htons(443);
        } else {
            struct sockaddr_in *a = (void *)&s->src[i], *b = (void *)&s->dst[i];
            a->sin_family = b->sin_family = AF_INET;
            uint32_t sa = (uint32_t)(x >> 32), da = 0x0A000000u | (uint32_t)(y >> 40);
            a->sin_addr.s_addr = htonl(sa);
            b->sin_addr.s_addr = htonl(da);
            a->sin_port = htons((uint16_t)(1024 + (x >> 20) % 64000));
            b->sin_port = htons((uint16_t)(1 + (y >> 8) % 65535));
        }
        if (k == V2_TLVS) {
            char host[64], vpce[32];
            uint8_t uid[32];
            snprintf(host, sizeof(host), "svc-%u.example.com", (unsigned)(y % 100000));
            snprintf(vpce, sizeof(vpce), "vpce-%016llx", (unsigned long long)x);
            for (int j = 0; j < 32; j++)
                uid[j] = (uint8_t)(y >> (j % 56));
            lb_proxy_tlv_builder b;
            lb_proxy_tlvb_init(&b, sizeof(b), s->tlvs[i], sizeof(s->tlvs[i]));
            if (lb_proxy_tlvb_add_authority(&b, host) || lb_proxy_tlvb_add_unique_id(&b, uid, 32) ||
                lb_proxy_tlvb_add_aws_vpce_id(&b, vpce))
                abort();
            s->tlvs_len[i] = b.len;
        }
        lb_proxy_encode_params p;
        memset(&p, 0, sizeof(p));
        p.struct_size = sizeof(p);
        p.version = (uint8_t)s->version;
        p.command = LB_PROXY_CMD_PROXY;
        p.crc32c = (uint8_t)s->crc;
        p.src = (const struct sockaddr *)&s->src[i];
        p.dst = (const struct sockaddr *)&s->dst[i];
        p.tlvs = s->tlvs[i];
        p.tlvs_len = s->tlvs_len[i];
        int n = lb_proxy_encode(s->hdr[i], SLOT, &p, NULL);
        if (n <= 0)
            abort();
        s->len[i] = (size_t)n;
    }
    return s;
}

static void *s_v1_tcp4(void)
{
    return make(V1_TCP4);
}
static void *s_v1_tcp6(void)
{
    return make(V1_TCP6);
}
static void *s_v2_ipv4(void)
{
    return make(V2_IPV4);
}
static void *s_v2_ipv6(void)
{
    return make(V2_IPV6);
}
static void *s_v2_tlvs(void)
{
    return make(V2_TLVS);
}

static void run_decode(void *ctx, uint64_t ops)
{
    struct set *s = ctx;
    lb_proxy_header h;
    memset(&h, 0, sizeof(h));
    h.struct_size = sizeof(h);
    uint64_t acc = 0;
    for (uint64_t i = 0; i < ops; i++) {
        unsigned k = (unsigned)(i & (N - 1));
        int rc = lb_proxy_decode(s->hdr[k], s->len[k], NULL, &h, NULL);
        acc += (uint64_t)rc + h.src_port + h.src_addr[3];
    }
    bench_sink = acc;
}

static void run_encode(void *ctx, uint64_t ops)
{
    struct set *s = ctx;
    lb_proxy_encode_params p;
    memset(&p, 0, sizeof(p));
    p.struct_size = sizeof(p);
    p.version = (uint8_t)s->version;
    p.command = LB_PROXY_CMD_PROXY;
    p.crc32c = (uint8_t)s->crc;
    uint64_t acc = 0;
    for (uint64_t i = 0; i < ops; i++) {
        unsigned k = (unsigned)(i & (N - 1));
        p.src = (const struct sockaddr *)&s->src[k];
        p.dst = (const struct sockaddr *)&s->dst[k];
        p.tlvs = s->tlvs[k];
        p.tlvs_len = s->tlvs_len[k];
        int rc = lb_proxy_encode(s->out, SLOT, &p, NULL);
        acc += (uint64_t)rc + s->out[rc - 1];
    }
    bench_sink = acc;
}

/* Baseline: copy the same header bytes (what a zero-work "parser" would cost). */
static void run_memcpy(void *ctx, uint64_t ops)
{
    struct set *s = ctx;
    uint64_t acc = 0;
    for (uint64_t i = 0; i < ops; i++) {
        unsigned k = (unsigned)(i & (N - 1));
        memcpy(s->out, s->hdr[k], s->len[k]);
        __asm__ volatile("" : : "r"(s->out) : "memory");
        acc += s->out[s->len[k] - 1];
    }
    bench_sink = acc;
}

int main(int argc, char **argv)
{
    static const struct bench_case cases[] = {
        {"memcpy_v1_tcp4", "{\"headers\": 1024}", NULL, s_v1_tcp4, run_memcpy, free},
        {"memcpy_v1_tcp6", "{\"headers\": 1024}", NULL, s_v1_tcp6, run_memcpy, free},
        {"memcpy_v2_ipv4", "{\"headers\": 1024}", NULL, s_v2_ipv4, run_memcpy, free},
        {"memcpy_v2_ipv6", "{\"headers\": 1024}", NULL, s_v2_ipv6, run_memcpy, free},
        {"memcpy_v2_ipv4_tlvs_crc", "{\"headers\": 1024}", NULL, s_v2_tlvs, run_memcpy, free},
        {"decode_v1_tcp4", "{\"headers\": 1024, \"target_ns\": 60}", "memcpy_v1_tcp4", s_v1_tcp4,
         run_decode, free},
        {"decode_v1_tcp6", "{\"headers\": 1024}", "memcpy_v1_tcp6", s_v1_tcp6, run_decode, free},
        {"decode_v2_ipv4", "{\"headers\": 1024, \"target_ns\": 15}", "memcpy_v2_ipv4", s_v2_ipv4,
         run_decode, free},
        {"decode_v2_ipv6", "{\"headers\": 1024}", "memcpy_v2_ipv6", s_v2_ipv6, run_decode, free},
        {"decode_v2_ipv4_tlvs_crc",
         "{\"headers\": 1024, \"tlvs\": \"CRC32C AUTHORITY UNIQUE_ID AWS\", \"target_ns\": 60}",
         "memcpy_v2_ipv4_tlvs_crc", s_v2_tlvs, run_decode, free},
        {"encode_v1_tcp4", "{\"headers\": 1024}", "memcpy_v1_tcp4", s_v1_tcp4, run_encode, free},
        {"encode_v1_tcp6", "{\"headers\": 1024}", "memcpy_v1_tcp6", s_v1_tcp6, run_encode, free},
        {"encode_v2_ipv4", "{\"headers\": 1024}", "memcpy_v2_ipv4", s_v2_ipv4, run_encode, free},
        {"encode_v2_ipv6", "{\"headers\": 1024}", "memcpy_v2_ipv6", s_v2_ipv6, run_encode, free},
        {"encode_v2_ipv4_tlvs_crc",
         "{\"headers\": 1024, \"tlvs\": \"CRC32C AUTHORITY UNIQUE_ID AWS\"}",
         "memcpy_v2_ipv4_tlvs_crc", s_v2_tlvs, run_encode, free},
    };
    return bench_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
