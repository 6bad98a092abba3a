/* The TLS ClientHello decoder: record walk, reassembly, and the hello's fields.
 *
 * Two passes over the records. The first checks every record header and the handshake
 * header, counts the hello's bytes and says "need more", an error, or where the hello ends;
 * it copies nothing. Only when the hello spans several records does the second pass copy the
 * body's fragments into the caller's scratch buffer, so the fields can be read as one
 * contiguous view. Then the body is parsed; every length is checked against what encloses it
 * before a byte under it is read. */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "internal/abi.h"
#include "internal/tls.h"
#include "internal/util.h"
#include "lb/tls.h"

#define CONTENT_HANDSHAKE 22u
#define HS_CLIENT_HELLO   1u
#define HS_HEADER         4u
/* The smallest ClientHello message: header, version, random, empty session id, one suite,
 * one compression method. A lower bound for "need more" before the real length is known. */
#define HELLO_MIN (HS_HEADER + 2u + 32u + 1u + 2u + 2u + 1u + 1u)

/* No implicit padding at the structs' ends (doc/ABI.md): their last fields end them. */
_Static_assert(offsetof(lb_tls_hello, reserved1) + sizeof(uint32_t) == sizeof(lb_tls_hello),
               "lb_tls_hello ends with padding");
_Static_assert(offsetof(lb_tls_options, reserved) + 2 * sizeof(uint32_t) == sizeof(lb_tls_options),
               "lb_tls_options ends with padding");

/* The size of lb_tls_options / lb_tls_hello in the first release (the minimum accepted). */
#define OPTIONS_MIN sizeof(lb_tls_options)
#define HELLO_STRUCT_MIN sizeof(lb_tls_hello)

LB_API void lb_tls_options_init(lb_tls_options *opts, size_t size)
{
    if (!opts || size < sizeof(uint32_t))
        return;
    lb_tls_options o;
    memset(&o, 0, sizeof(o));
    o.struct_size = (uint32_t)sizeof(o);
    o.max_hello_size = LB_TLS_DEFAULT_MAX_HELLO;
    lb__struct_out(opts, size, &o, sizeof(o));
    if (size < sizeof(o))
        opts->struct_size = (uint32_t)size;
}

LB_API void lb_tls_hello_init(lb_tls_hello *hello, size_t size)
{
    if (!hello || size < sizeof(uint32_t))
        return;
    memset(hello, 0, size);
    hello->struct_size = (uint32_t)(size < sizeof(*hello) ? size : sizeof(*hello));
}

LB_API uint16_t lb_tls_u16_at(const uint8_t *list, size_t index)
{
    return lb__load_be16(list + 2 * index);
}

static int is_grease(uint16_t value)
{
    return (value & 0x0f0fu) == 0x0a0au && (value >> 8) == (value & 0xffu);
}

LB_API int lb_tls_is_grease(uint16_t value)
{
    return is_grease(value);
}

/* Where the first pass found the hello. */
struct walk {
    size_t bytes;      /* record bytes up to the end of the hello's last record */
    uint32_t total;    /* handshake message length, header included */
    uint32_t records;  /* records that carry the hello */
};

/* The minimum number of further bytes when the record being read has `rec_left` bytes still
 * to come and the message `msg_left` (a lower bound when its length is not known yet). */
static size_t need_after(size_t rec_left, size_t msg_left)
{
    if (msg_left <= rec_left)
        return rec_left;
    return rec_left + LB_TLS_RECORD_HEADER + (msg_left - rec_left);
}

/* An SSL 2.0 record header with a CLIENT-HELLO message (or the start of one). */
static int sslv2_check(const uint8_t *buf, size_t len, size_t *need)
{
    if (!(buf[0] & 0x80u))
        return LB_E_TLS_NOT_TLS;
    if (len < 3) {
        *need = 3 - len;
        return LB_E_NEED_MORE;
    }
    return buf[2] == HS_CLIENT_HELLO ? LB_E_TLS_SSLV2 : LB_E_TLS_NOT_TLS;
}

static int walk_records(const uint8_t *buf, size_t len, uint32_t cap, struct walk *w,
                        size_t *need)
{
    uint8_t hdr[HS_HEADER];
    uint32_t have = 0, total = 0; /* message bytes seen; message length once known */
    size_t pos = 0;
    for (uint32_t rec = 0;; rec++) {
        size_t msg_left = (total ? total : HELLO_MIN) - have;
        size_t avail = len - pos;
        if (avail >= 1 && buf[pos] != CONTENT_HANDSHAKE)
            return rec == 0 ? sslv2_check(buf, len, need) : LB_E_TLS_RECORD_TYPE;
        if (avail >= 2 && buf[pos + 1] != 3)
            return rec == 0 ? LB_E_TLS_NOT_TLS : LB_E_TLS_MALFORMED;
        if (avail < LB_TLS_RECORD_HEADER) {
            *need = LB_TLS_RECORD_HEADER - avail + msg_left;
            return LB_E_NEED_MORE;
        }
        size_t rlen = lb__load_be16(buf + pos + 3);
        if (rlen == 0)
            return LB_E_TLS_RECORD_EMPTY;
        if (rlen > LB_TLS_MAX_RECORD)
            return LB_E_TLS_RECORD_TOO_LONG;
        pos += LB_TLS_RECORD_HEADER;
        avail = len - pos < rlen ? len - pos : rlen;
        size_t used = 0;
        while (have < HS_HEADER && used < avail) {
            hdr[have++] = buf[pos + used++];
            if (have == 1 && hdr[0] != HS_CLIENT_HELLO)
                return LB_E_TLS_NOT_CLIENT_HELLO;
            if (have == HS_HEADER) {
                total = HS_HEADER + ((uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3]);
                if (total > cap)
                    return LB_E_TLS_TOO_LARGE;
            }
        }
        if (total) {
            /* The message must end at or after this record's end, never inside it early. */
            if (total - have < rlen - used)
                return LB_E_TLS_TRAILING;
            size_t take = avail - used;
            have += (uint32_t)take;
            used += take;
        }
        if (total && have == total) {
            w->bytes = pos + rlen;
            w->total = total;
            w->records = rec + 1;
            return LB_OK;
        }
        if (avail < rlen) {
            msg_left = (total ? total : HELLO_MIN) - have;
            *need = need_after(rlen - avail, msg_left);
            return LB_E_NEED_MORE;
        }
        pos += rlen;
    }
}

/* Copies the hello's body (the message after its 4-byte header) out of the records. */
static void reassemble(const uint8_t *buf, uint32_t records, uint8_t *dst)
{
    size_t pos = 0, skip = HS_HEADER;
    for (uint32_t r = 0; r < records; r++) {
        size_t rlen = lb__load_be16(buf + pos + 3);
        const uint8_t *p = buf + pos + LB_TLS_RECORD_HEADER;
        size_t s = skip < rlen ? skip : rlen;
        skip -= s;
        memcpy(dst, p + s, rlen - s);
        dst += rlen - s;
        pos += LB_TLS_RECORD_HEADER + rlen;
    }
}

/* A bounds-checked reader over a contiguous view. */
struct rd {
    const uint8_t *p;
    size_t len, pos;
};

static int rd_u8(struct rd *r, uint32_t *v)
{
    if (r->len - r->pos < 1)
        return 0;
    *v = r->p[r->pos++];
    return 1;
}

static int rd_u16(struct rd *r, uint32_t *v)
{
    if (r->len - r->pos < 2)
        return 0;
    *v = lb__load_be16(r->p + r->pos);
    r->pos += 2;
    return 1;
}

static int rd_bytes(struct rd *r, size_t n, const uint8_t **v)
{
    if (r->len - r->pos < n)
        return 0;
    *v = r->p + r->pos;
    r->pos += n;
    return 1;
}

/* A list with a 1- or 2-byte length that fills the rest of an extension's data exactly, with
 * entries of `unit` bytes and at least `min` bytes. */
static int ext_list(const uint8_t *d, size_t dlen, size_t lenbytes, size_t unit, size_t min,
                    const uint8_t **list, uint32_t *list_len)
{
    if (dlen < lenbytes)
        return LB_E_TLS_BAD_EXTENSION;
    size_t n = lenbytes == 1 ? d[0] : lb__load_be16(d);
    if (n != dlen - lenbytes || n < min || n % unit)
        return LB_E_TLS_BAD_EXTENSION;
    *list = d + lenbytes;
    *list_len = (uint32_t)n;
    return LB_OK;
}

static int parse_sni(const uint8_t *d, size_t dlen, lb_tls_hello *h)
{
    const uint8_t *list;
    uint32_t n;
    int rc = ext_list(d, dlen, 2, 1, 1, &list, &n);
    if (rc != LB_OK)
        return rc;
    struct rd r = {list, n, 0};
    while (r.pos < r.len) {
        uint32_t type, nlen;
        const uint8_t *name;
        if (!rd_u8(&r, &type) || !rd_u16(&r, &nlen) || nlen == 0 || !rd_bytes(&r, nlen, &name))
            return LB_E_TLS_BAD_EXTENSION;
        if (type != 0)
            continue; /* other name types are skipped (RFC 6066 defines only host_name) */
        if (h->sni_present)
            return LB_E_TLS_BAD_EXTENSION; /* one host_name only (RFC 6066 section 3) */
        h->sni_present = 1;
        h->sni = name;
        h->sni_len = nlen;
        h->sni_error = lb__tls_host_check(name, nlen);
    }
    return LB_OK;
}

static int parse_alpn(const uint8_t *d, size_t dlen, lb_tls_hello *h)
{
    const uint8_t *list;
    uint32_t n;
    int rc = ext_list(d, dlen, 2, 1, 2, &list, &n);
    if (rc != LB_OK)
        return rc;
    uint32_t count = 0;
    for (size_t i = 0; i < n; i += 1 + (size_t)list[i], count++)
        if (list[i] == 0 || list[i] > n - i - 1)
            return LB_E_TLS_BAD_EXTENSION;
    h->alpn = list;
    h->alpn_len = n;
    h->alpn_count = count;
    return LB_OK;
}

static int parse_ext(uint16_t type, const uint8_t *d, size_t dlen, lb_tls_hello *h)
{
    switch (type) {
    case LB_TLS_EXT_SERVER_NAME:
        return parse_sni(d, dlen, h);
    case LB_TLS_EXT_ALPN:
        return parse_alpn(d, dlen, h);
    case LB_TLS_EXT_SUPPORTED_VERSIONS:
        return ext_list(d, dlen, 1, 2, 2, &h->versions, &h->versions_len);
    case LB_TLS_EXT_SIGNATURE_ALGORITHMS:
        return ext_list(d, dlen, 2, 2, 2, &h->sig_algs, &h->sig_algs_len);
    case LB_TLS_EXT_SUPPORTED_GROUPS:
        return ext_list(d, dlen, 2, 2, 2, &h->groups, &h->groups_len);
    case LB_TLS_EXT_EC_POINT_FORMATS:
        return ext_list(d, dlen, 1, 1, 1, &h->point_formats, &h->point_formats_len);
    case LB_TLS_EXT_ECH:
        if (dlen < 1) /* at least the ECHClientHello type byte */
            return LB_E_TLS_BAD_EXTENSION;
        h->ech = 1;
        return LB_OK;
    default:
        return LB_OK;
    }
}

/* Duplicate extension types, found in one pass: one 64-bit word for the types below 64 (most
 * of a real hello's), else a 256-bit map of the high bytes seen and a 256-bit map of low bytes
 * per high byte, zeroed when its high byte is first seen. */
struct seen {
    uint64_t small;
    uint32_t hi[8];
    uint32_t lo[256][8];
};

static int seen_add(struct seen *s, uint16_t type)
{
    if (type < 64) {
        uint64_t bit = (uint64_t)1 << type;
        if (s->small & bit)
            return 0;
        s->small |= bit;
        return 1;
    }
    uint32_t hi = type >> 8, lo = type & 0xffu;
    if (!(s->hi[hi >> 5] & (1u << (hi & 31)))) {
        s->hi[hi >> 5] |= 1u << (hi & 31);
        memset(s->lo[hi], 0, sizeof(s->lo[hi]));
    }
    if (s->lo[hi][lo >> 5] & (1u << (lo & 31)))
        return 0;
    s->lo[hi][lo >> 5] |= 1u << (lo & 31);
    return 1;
}

static int parse_extensions(const uint8_t *p, size_t len, lb_tls_hello *h)
{
    struct seen seen;
    seen.small = 0;
    memset(seen.hi, 0, sizeof(seen.hi));
    struct rd r = {p, len, 0};
    uint32_t count = 0;
    while (r.pos < r.len) {
        uint32_t type, dlen;
        const uint8_t *d;
        if (!rd_u16(&r, &type) || !rd_u16(&r, &dlen) || !rd_bytes(&r, dlen, &d))
            return LB_E_TLS_TRUNCATED;
        if (!seen_add(&seen, (uint16_t)type))
            return LB_E_TLS_DUPLICATE_EXTENSION;
        /* pre_shared_key must be the last extension (RFC 8446 section 4.2.11) */
        if (type == LB_TLS_EXT_PRE_SHARED_KEY && r.pos != r.len)
            return LB_E_TLS_BAD_EXTENSION;
        int rc = parse_ext((uint16_t)type, d, dlen, h);
        if (rc != LB_OK)
            return rc;
        count++;
    }
    h->extensions = len ? p : NULL;
    h->extensions_len = (uint32_t)len;
    h->extension_count = count;
    return LB_OK;
}

static uint16_t highest_version(const lb_tls_hello *h)
{
    uint16_t best = 0;
    for (size_t i = 0; i < h->versions_len / 2; i++) {
        uint16_t v = lb__load_be16(h->versions + 2 * i);
        if (!is_grease(v) && v > best)
            best = v;
    }
    return best ? best : h->legacy_version;
}

static int parse_body(const uint8_t *body, size_t len, lb_tls_hello *h)
{
    struct rd r = {body, len, 0};
    uint32_t ver, n;
    const uint8_t *v;
    if (!rd_u16(&r, &ver))
        return LB_E_TLS_TRUNCATED;
    if ((ver >> 8) != 3)
        return LB_E_TLS_BAD_VERSION;
    h->legacy_version = (uint16_t)ver;
    if (!rd_bytes(&r, 32, &h->random) || !rd_u8(&r, &n))
        return LB_E_TLS_TRUNCATED;
    if (n > 32)
        return LB_E_TLS_MALFORMED;
    if (!rd_bytes(&r, n, &v))
        return LB_E_TLS_TRUNCATED;
    h->session_id = n ? v : NULL;
    h->session_id_len = n;
    if (!rd_u16(&r, &n))
        return LB_E_TLS_TRUNCATED;
    if (n == 0 || n % 2)
        return LB_E_TLS_MALFORMED;
    if (!rd_bytes(&r, n, &h->cipher_suites))
        return LB_E_TLS_TRUNCATED;
    h->cipher_suites_len = n;
    if (!rd_u8(&r, &n))
        return LB_E_TLS_TRUNCATED;
    if (n == 0)
        return LB_E_TLS_MALFORMED;
    if (!rd_bytes(&r, n, &v))
        return LB_E_TLS_TRUNCATED;
    if (r.pos < r.len) { /* extensions are optional before TLS 1.3 */
        if (!rd_u16(&r, &n))
            return LB_E_TLS_TRUNCATED;
        if (n > r.len - r.pos)
            return LB_E_TLS_TRUNCATED;
        if (n < r.len - r.pos)
            return LB_E_TLS_TRAILING;
        int rc = parse_extensions(r.p + r.pos, n, h);
        if (rc != LB_OK)
            return rc;
    }
    h->version = highest_version(h);
    return LB_OK;
}

static int read_options(const lb_tls_options *opts, uint32_t *cap)
{
    *cap = LB_TLS_DEFAULT_MAX_HELLO;
    if (!opts)
        return LB_OK;
    lb_tls_options o;
    int rc = lb__struct_in(&o, sizeof(o), opts, opts->struct_size, OPTIONS_MIN);
    if (rc != LB_OK)
        return rc;
    if (o.reserved[0] || o.reserved[1] || o.max_hello_size > LB_TLS_MAX_HELLO_LIMIT)
        return -EINVAL;
    if (o.max_hello_size)
        *cap = o.max_hello_size;
    return LB_OK;
}

LB_API int lb_tls_decode(const uint8_t *buf, size_t len, const lb_tls_options *opts,
                         uint8_t *scratch, size_t scratch_len, lb_tls_hello *out, size_t *need)
{
    size_t need_local = 0;
    if (!need)
        need = &need_local;
    *need = 0;
    if (!out || (!buf && len))
        return -EINVAL;
    if (out->struct_size < HELLO_STRUCT_MIN)
        return LB_E_STRUCT_SIZE;
    uint32_t cap;
    int rc = read_options(opts, &cap);
    if (rc != LB_OK)
        return rc;

    struct walk w;
    rc = walk_records(buf, len, cap, &w, need);
    if (rc != LB_OK)
        return rc;
    const uint8_t *body = buf + LB_TLS_RECORD_HEADER + HS_HEADER;
    size_t body_len = w.total - HS_HEADER;
    if (w.records > 1) {
        if (!scratch || scratch_len < body_len) {
            *need = body_len;
            return LB_E_TLS_SCRATCH;
        }
        reassemble(buf, w.records, scratch);
        body = scratch;
    }

    lb_tls_hello h;
    memset(&h, 0, sizeof(h));
    h.struct_size = (uint32_t)sizeof(h);
    h.bytes = (uint32_t)w.bytes;
    h.hello_len = (uint32_t)body_len;
    h.fragmented = w.records > 1;
    rc = parse_body(body, body_len, &h);
    if (rc != LB_OK)
        return rc;
    uint32_t size = out->struct_size;
    lb__struct_out(out, size, &h, sizeof(h));
    out->struct_size = size < sizeof(h) ? size : (uint32_t)sizeof(h);
    return (int)w.bytes;
}

LB_API int lb_tls_ext_next(const lb_tls_hello *hello, size_t *cursor, uint16_t *type,
                           const uint8_t **data, uint16_t *data_len)
{
    if (!hello || !cursor || !type || !data || !data_len || *cursor > hello->extensions_len)
        return -EINVAL;
    size_t c = *cursor, n = hello->extensions_len;
    if (c == n)
        return 0;
    const uint8_t *p = hello->extensions + c;
    if (n - c < 4 || n - c - 4 < lb__load_be16(p + 2))
        return -EINVAL;
    *type = lb__load_be16(p);
    *data_len = lb__load_be16(p + 2);
    *data = p + 4;
    *cursor = c + 4 + *data_len;
    return 1;
}

LB_API int lb_tls_alpn_next(const lb_tls_hello *hello, size_t *cursor, const uint8_t **name,
                            uint8_t *name_len)
{
    if (!hello || !cursor || !name || !name_len || *cursor > hello->alpn_len)
        return -EINVAL;
    size_t c = *cursor, n = hello->alpn_len;
    if (c == n)
        return 0;
    uint8_t l = hello->alpn[c];
    if (l == 0 || l > n - c - 1)
        return -EINVAL;
    *name = hello->alpn + c + 1;
    *name_len = l;
    *cursor = c + 1 + l;
    return 1;
}
