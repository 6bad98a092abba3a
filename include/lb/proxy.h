/** @file
 * @brief PROXY protocol v1 and v2: a strict, incremental, zero-copy decoder and an encoder.
 *
 * The decoder (lb_proxy_decode()) takes the bytes read so far from a connection and returns
 * the header's length, "need more" (#LB_E_NEED_MORE and the minimum number of bytes still
 * required), #LB_E_PROXY_NOT_PROXY, or a precise `LB_E_PROXY_*` error. Feeding a header one
 * byte at a time gives exactly the result of feeding it whole. It never reads past the given
 * length, never allocates and never copies variable-length data: the TLVs and UNIX paths of the
 * result point into the caller's buffer, which must outlive the result.
 *
 * The encoder (lb_proxy_encode()) writes a whole header into a caller buffer in one piece, from
 * socket addresses and a TLV list built with the `lb_proxy_tlvb_*` builder.
 *
 * Specification: HAProxy's doc/proxy-protocol.txt. doc/proxy.md explains how to use the decoder
 * in an event loop and where it is stricter or more lenient than real peers.
 *
 * Threading: every function is reentrant and thread-safe; none keeps state between calls
 * (lb_crc32c() detects the CPU once, thread-safely). Callers own every struct and buffer they
 * pass; results borrow from the input buffer only.
 */
#ifndef LB_PROXY_H
#define LB_PROXY_H

#include "lb/common.h"

#ifdef __cplusplus
extern "C" {
#endif

struct sockaddr;

/** Bit of lb_proxy_options::versions: accept version 1 (text). */
#define LB_PROXY_V1 1u
/** Bit of lb_proxy_options::versions: accept version 2 (binary). */
#define LB_PROXY_V2 2u

/** The longest v1 header, CRLF included (the spec's limit). */
#define LB_PROXY_V1_MAX 107u
/** Length of the fixed part of a v2 header (signature, ver/cmd, fam/proto, length). */
#define LB_PROXY_V2_FIXED 16u
/** The largest possible v2 header (16 + 65535). */
#define LB_PROXY_MAX_HEADER (16u + 65535u)
/** The decoder's default maximum header size. */
#define LB_PROXY_DEFAULT_MAX_HEADER 4096u
/** Length of each UNIX path field in a v2 address block. */
#define LB_PROXY_UNIX_PATH_MAX 108u

/** Commands. v1 `PROXY UNKNOWN` decodes as #LB_PROXY_CMD_LOCAL. */
enum lb_proxy_command {
    /** The connection was made by the proxy itself (health check): use the real endpoints. */
    LB_PROXY_CMD_LOCAL = 0,
    /** The connection is relayed on behalf of the client described in the header. */
    LB_PROXY_CMD_PROXY = 1
};

/** Address families (the v2 wire values). */
enum lb_proxy_family {
    /** No address (LOCAL, v1 UNKNOWN, or v2 PROXY UNSPEC when allowed). */
    LB_PROXY_FAM_UNSPEC = 0,
    /** IPv4 (v1 TCP4). */
    LB_PROXY_FAM_INET = 1,
    /** IPv6 (v1 TCP6). */
    LB_PROXY_FAM_INET6 = 2,
    /** UNIX socket paths (v2 only). */
    LB_PROXY_FAM_UNIX = 3
};

/** Transports (the v2 wire values). */
enum lb_proxy_transport {
    /** Unspecified (with family UNSPEC only). */
    LB_PROXY_TRANSPORT_UNSPEC = 0,
    /** SOCK_STREAM (TCP, v1 TCP4/TCP6). */
    LB_PROXY_TRANSPORT_STREAM = 1,
    /** SOCK_DGRAM (UDP). */
    LB_PROXY_TRANSPORT_DGRAM = 2
};

/** TLV types defined by the specification and the vendors liblb knows. */
enum lb_proxy_tlv_type {
    LB_PROXY_TLV_ALPN = 0x01,            /**< Application-Layer Protocol Negotiation. */
    LB_PROXY_TLV_AUTHORITY = 0x02,       /**< Host name (SNI), UTF-8. */
    LB_PROXY_TLV_CRC32C = 0x03,          /**< CRC-32C of the header, 4 bytes big-endian. */
    LB_PROXY_TLV_NOOP = 0x04,            /**< Ignored; padding. */
    LB_PROXY_TLV_UNIQUE_ID = 0x05,       /**< Opaque connection id, at most 128 bytes. */
    LB_PROXY_TLV_SSL = 0x20,             /**< TLS information with sub-TLVs. */
    LB_PROXY_TLV_SSL_VERSION = 0x21,     /**< SSL sub-TLV: protocol version (text). */
    LB_PROXY_TLV_SSL_CN = 0x22,          /**< SSL sub-TLV: client certificate CN. */
    LB_PROXY_TLV_SSL_CIPHER = 0x23,      /**< SSL sub-TLV: cipher name. */
    LB_PROXY_TLV_SSL_SIG_ALG = 0x24,     /**< SSL sub-TLV: certificate signature algorithm. */
    LB_PROXY_TLV_SSL_KEY_ALG = 0x25,     /**< SSL sub-TLV: certificate key algorithm. */
    LB_PROXY_TLV_SSL_GROUP = 0x26,       /**< SSL sub-TLV: key exchange group. */
    LB_PROXY_TLV_SSL_SIG_SCHEME = 0x27,  /**< SSL sub-TLV: signature scheme. */
    LB_PROXY_TLV_SSL_CLIENT_CERT = 0x28, /**< SSL sub-TLV: client certificate (DER). */
    LB_PROXY_TLV_NETNS = 0x30,           /**< Network namespace name. */
    LB_PROXY_TLV_GCP = 0xE0,             /**< GCP Private Service Connect id (8 bytes BE). */
    LB_PROXY_TLV_AWS = 0xEA,             /**< AWS: subtype 0x01 then the VPC endpoint id. */
    LB_PROXY_TLV_AZURE = 0xEE            /**< Azure: subtype 0x01 then LINKID (4 bytes LE). */
};

/** SSL TLV client bit: the client connected over SSL/TLS. */
#define LB_PROXY_SSL_CLIENT_SSL 0x01u
/** SSL TLV client bit: the client presented a certificate on this connection. */
#define LB_PROXY_SSL_CLIENT_CERT_CONN 0x02u
/** SSL TLV client bit: the client presented a certificate on this TLS session. */
#define LB_PROXY_SSL_CLIENT_CERT_SESS 0x04u
/** Largest UNIQUE_ID value the specification allows. */
#define LB_PROXY_UNIQUE_ID_MAX 128u

/**
 * Decoder options (plain struct; set @c struct_size to `sizeof(lb_proxy_options)`).
 * Zero in a field means its default; passing NULL means every default.
 */
typedef struct lb_proxy_options {
    /** `sizeof(lb_proxy_options)` as the caller knows it. */
    uint32_t struct_size;
    /** #LB_PROXY_V1 | #LB_PROXY_V2 bits; 0 means both. */
    uint32_t versions;
    /** Non-zero: accept v2 PROXY with family UNSPEC (default: refused with
     *  #LB_E_PROXY_UNSPEC_REFUSED). v2 LOCAL and v1 UNKNOWN are always accepted. */
    uint32_t allow_unspec;
    /** Largest accepted header in bytes, 16 .. #LB_PROXY_MAX_HEADER; 0 means
     *  #LB_PROXY_DEFAULT_MAX_HEADER. A v1 line is limited to the smaller of this and 107. */
    uint32_t max_header_size;
} lb_proxy_options;

/**
 * A decoded header (plain struct the caller owns; set @c struct_size to
 * `sizeof(lb_proxy_header)` before decoding). Pointers borrow from the decoded buffer.
 */
typedef struct lb_proxy_header {
    /** `sizeof(lb_proxy_header)` as the caller knows it; set by the caller. */
    uint32_t struct_size;
    /** 1 or 2. */
    uint8_t version;
    /** An #lb_proxy_command. For LOCAL, addresses and ports are zero and must be ignored. */
    uint8_t command;
    /** An #lb_proxy_family (UNSPEC for LOCAL and v1 UNKNOWN). */
    uint8_t family;
    /** An #lb_proxy_transport (UNSPEC for LOCAL and v1 UNKNOWN). */
    uint8_t transport;
    /** Source port in host order (0 when the header carries none). */
    uint16_t src_port;
    /** Destination port in host order (0 when the header carries none). */
    uint16_t dst_port;
    /** Bytes consumed: the application's bytes start at this offset. */
    uint32_t header_len;
    /** Source address in network order: 4 bytes for INET, 16 for INET6; the rest is zero. */
    uint8_t src_addr[16];
    /** Destination address in network order, as @c src_addr. */
    uint8_t dst_addr[16];
    /** UNIX: the 108-byte source path field in the buffer; NULL otherwise. */
    const uint8_t *src_path;
    /** UNIX: the 108-byte destination path field in the buffer; NULL otherwise. */
    const uint8_t *dst_path;
    /** UNIX: bytes of @c src_path before its first NUL (at most 108). */
    uint16_t src_path_len;
    /** UNIX: bytes of @c dst_path before its first NUL (at most 108). */
    uint16_t dst_path_len;
    /** 1 when a CRC32C TLV was present (it was verified), 0 when absent. */
    uint8_t crc32c_present;
    /** Reserved (written as 0 by the decoder). */
    uint8_t reserved0[3];
    /** The TLV region in the buffer (v2 only; NULL when empty). */
    const uint8_t *tlvs;
    /** Bytes in the TLV region. */
    uint32_t tlvs_len;
    /** Reserved (written as 0 by the decoder). */
    uint32_t reserved1;
} lb_proxy_header;

/** One TLV: a view into the decoded buffer (or a builder's storage). A frozen struct: it has
 *  no struct_size and never changes (a TLV with more fields would get a new struct). */
typedef struct lb_proxy_tlv {
    /** TLV type. */
    uint8_t type;
    /** Reserved (written as 0). */
    uint8_t reserved0;
    /** Value length in bytes. */
    uint16_t length;
    /** Reserved (written as 0). */
    uint32_t reserved1;
    /** The value (borrowed; never NUL-terminated). */
    const uint8_t *value;
} lb_proxy_tlv;

/** The SSL TLV (type 0x20), as returned by lb_proxy_get_ssl(). A frozen struct: it has no
 *  struct_size and never changes. */
typedef struct lb_proxy_ssl {
    /** #LB_PROXY_SSL_CLIENT_SSL, #LB_PROXY_SSL_CLIENT_CERT_CONN, #LB_PROXY_SSL_CLIENT_CERT_SESS. */
    uint8_t client;
    /** Reserved (written as 0). */
    uint8_t reserved0[3];
    /** 0 when the client certificate verified (also 0 when none was presented: check
     *  @c client, or use lb_proxy_ssl_cert_verified()). */
    uint32_t verify;
    /** The sub-TLVs (borrowed). */
    const uint8_t *sub_tlvs;
    /** Bytes of sub-TLVs. */
    uint16_t sub_len;
    /** Reserved (written as 0). */
    uint16_t reserved1[3];
} lb_proxy_ssl;

/**
 * @brief Decode a PROXY protocol header at the start of @p buf.
 *
 * Call it again with more bytes after #LB_E_NEED_MORE; each call decodes from the start.
 * @param buf the bytes read so far (borrowed; may be NULL when @p len is 0).
 * @param len number of bytes in @p buf; nothing past it is read.
 * @param opts options (borrowed), or NULL for the defaults.
 * @param[out] out the header, valid when the return is positive; its @c struct_size must be
 *             set. Its pointers borrow from @p buf.
 * @param[out] need on #LB_E_NEED_MORE, the minimum number of further bytes required (may be NULL).
 * @return the header length (> 0); #LB_E_NEED_MORE (a prefix of a header: call again with
 *         more bytes); #LB_E_PROXY_NOT_PROXY; another `LB_E_PROXY_*` fault; `-EINVAL` for bad
 *         arguments or options; #LB_E_STRUCT_SIZE, #LB_E_STRUCT_TOO_NEW (doc/ABI.md).
 * @thread pure
 * @retval LB_E_NEED_MORE Need more input (also when @p len is 0)
 * @retval LB_E_PROXY_NOT_PROXY Not a PROXY protocol header
 * @retval LB_E_PROXY_BAD_SIGNATURE Bad PROXY protocol signature
 * @retval LB_E_PROXY_BAD_VERSION Bad PROXY protocol v2 version
 * @retval LB_E_PROXY_VERSION_REFUSED PROXY protocol version not accepted
 * @retval LB_E_PROXY_BAD_COMMAND Bad PROXY protocol v2 command
 * @retval LB_E_PROXY_BAD_FAMILY Bad PROXY protocol v2 address family
 * @retval LB_E_PROXY_BAD_TRANSPORT Bad PROXY protocol v2 transport
 * @retval LB_E_PROXY_UNSPEC_REFUSED PROXY protocol v2 PROXY with UNSPEC family refused
 * @retval LB_E_PROXY_SHORT_LENGTH PROXY protocol v2 length shorter than the address block
 * @retval LB_E_PROXY_TOO_LARGE PROXY protocol header too large
 * @retval LB_E_PROXY_V1_SYNTAX PROXY protocol v1 syntax error
 * @retval LB_E_PROXY_V1_TOO_LONG PROXY protocol v1 line longer than 107 bytes
 * @retval LB_E_PROXY_BAD_ADDRESS Bad address in PROXY protocol v1 header
 * @retval LB_E_PROXY_BAD_PORT Bad port in PROXY protocol v1 header
 * @retval LB_E_PROXY_TLV_TRUNCATED PROXY protocol v2 TLV header cut short
 * @retval LB_E_PROXY_TLV_OVERRUN PROXY protocol v2 TLV value past the end of the header
 * @retval LB_E_PROXY_CRC_MISMATCH PROXY protocol v2 CRC32C mismatch
 * @retval LB_E_PROXY_BAD_CRC_TLV Bad PROXY protocol v2 CRC32C TLV
 * @retval EINVAL Invalid argument
 * @retval LB_E_STRUCT_SIZE A struct size below the first release's
 * @retval LB_E_STRUCT_TOO_NEW A newer caller's options with unknown fields set
 */
LB_API LB_NODISCARD int lb_proxy_decode(const uint8_t *buf, size_t len,
                                        const lb_proxy_options *opts, lb_proxy_header *out,
                                        size_t *need);

/**
 * @brief Iterate over the TLVs of a decoded header in wire order.
 * @param h the decoded header (borrowed).
 * @param[in,out] cursor 0 to start; advanced by each call.
 * @param[out] tlv the next TLV.
 * @return 1 with a TLV, 0 at the end, #LB_E_PROXY_TLV_TRUNCATED or #LB_E_PROXY_TLV_OVERRUN
 *         if the region does not tile (never for a header lb_proxy_decode() accepted), -EINVAL.
 * @thread pure
 * @retval LB_OK Success
 * @retval LB_E_PROXY_TLV_TRUNCATED PROXY protocol v2 TLV header cut short
 * @retval LB_E_PROXY_TLV_OVERRUN PROXY protocol v2 TLV value past the end of the header
 * @retval EINVAL Invalid argument
 */
LB_API int lb_proxy_tlv_next(const lb_proxy_header *h, size_t *cursor, lb_proxy_tlv *tlv);

/**
 * @brief The first TLV of type @p type.
 * @param h the decoded header (borrowed).
 * @param type the TLV type.
 * @param[out] tlv the TLV.
 * @return 0, #LB_E_PROXY_TLV_ABSENT, -EINVAL.
 * @thread pure
 * @retval LB_OK Success
 * @retval LB_E_PROXY_TLV_ABSENT PROXY protocol TLV absent
 * @retval EINVAL Invalid argument
 */
LB_API int lb_proxy_tlv_find(const lb_proxy_header *h, uint8_t type, lb_proxy_tlv *tlv);

/**
 * @brief The ALPN TLV (any bytes).
 * @param h the decoded header. @param[out] tlv the TLV.
 * @return 0, #LB_E_PROXY_TLV_ABSENT, -EINVAL.
 * @thread pure
 * @retval LB_OK Success
 * @retval LB_E_PROXY_TLV_ABSENT PROXY protocol TLV absent
 * @retval EINVAL Invalid argument
 */
LB_API int lb_proxy_get_alpn(const lb_proxy_header *h, lb_proxy_tlv *tlv);

/**
 * @brief The AUTHORITY TLV (host name), checked to be non-empty valid UTF-8.
 * @param h the decoded header. @param[out] tlv the TLV.
 * @return 0, #LB_E_PROXY_TLV_ABSENT, #LB_E_PROXY_TLV_MALFORMED, -EINVAL.
 * @thread pure
 * @retval LB_OK Success
 * @retval LB_E_PROXY_TLV_ABSENT PROXY protocol TLV absent
 * @retval LB_E_PROXY_TLV_MALFORMED Malformed PROXY protocol TLV value
 * @retval EINVAL Invalid argument
 */
LB_API int lb_proxy_get_authority(const lb_proxy_header *h, lb_proxy_tlv *tlv);

/**
 * @brief The UNIQUE_ID TLV, checked to be at most #LB_PROXY_UNIQUE_ID_MAX bytes.
 * @param h the decoded header. @param[out] tlv the TLV.
 * @return 0, #LB_E_PROXY_TLV_ABSENT, #LB_E_PROXY_TLV_MALFORMED, -EINVAL.
 * @thread pure
 * @retval LB_OK Success
 * @retval LB_E_PROXY_TLV_ABSENT PROXY protocol TLV absent
 * @retval LB_E_PROXY_TLV_MALFORMED Malformed PROXY protocol TLV value
 * @retval EINVAL Invalid argument
 */
LB_API int lb_proxy_get_unique_id(const lb_proxy_header *h, lb_proxy_tlv *tlv);

/**
 * @brief The NETNS TLV (namespace name).
 * @param h the decoded header. @param[out] tlv the TLV.
 * @return 0, #LB_E_PROXY_TLV_ABSENT, -EINVAL.
 * @thread pure
 * @retval LB_OK Success
 * @retval LB_E_PROXY_TLV_ABSENT PROXY protocol TLV absent
 * @retval EINVAL Invalid argument
 */
LB_API int lb_proxy_get_netns(const lb_proxy_header *h, lb_proxy_tlv *tlv);

/**
 * @brief The first NOOP TLV, and the total bytes (headers included) of all NOOP TLVs.
 * @param h the decoded header. @param[out] tlv the first NOOP TLV.
 * @param[out] total_bytes padding bytes in all NOOP TLVs, 3-byte headers included (may be NULL).
 * @return 0, #LB_E_PROXY_TLV_ABSENT, -EINVAL.
 * @thread pure
 * @retval LB_OK Success
 * @retval LB_E_PROXY_TLV_ABSENT PROXY protocol TLV absent
 * @retval EINVAL Invalid argument
 */
LB_API int lb_proxy_get_noop(const lb_proxy_header *h, lb_proxy_tlv *tlv, size_t *total_bytes);

/**
 * @brief The CRC32C TLV's value (already verified by lb_proxy_decode()).
 * @param h the decoded header. @param[out] crc the checksum (host order).
 * @return 0, #LB_E_PROXY_TLV_ABSENT, -EINVAL.
 * @thread pure
 * @retval LB_OK Success
 * @retval LB_E_PROXY_TLV_ABSENT PROXY protocol TLV absent
 * @retval EINVAL Invalid argument
 */
LB_API int lb_proxy_get_crc32c(const lb_proxy_header *h, uint32_t *crc);

/**
 * @brief The SSL TLV: client flags, verify result and sub-TLVs (whose tiling is checked).
 * @param h the decoded header. @param[out] ssl the SSL information.
 * @return 0, #LB_E_PROXY_TLV_ABSENT, #LB_E_PROXY_TLV_MALFORMED (shorter than 5 bytes or
 *         sub-TLVs that do not tile), -EINVAL.
 * @thread pure
 * @retval LB_OK Success
 * @retval LB_E_PROXY_TLV_ABSENT PROXY protocol TLV absent
 * @retval LB_E_PROXY_TLV_MALFORMED Malformed PROXY protocol TLV value
 * @retval EINVAL Invalid argument
 */
LB_API int lb_proxy_get_ssl(const lb_proxy_header *h, lb_proxy_ssl *ssl);

/**
 * @brief Iterate over the sub-TLVs of an SSL TLV.
 * @param ssl from lb_proxy_get_ssl(). @param[in,out] cursor 0 to start.
 * @param[out] tlv the next sub-TLV.
 * @return 1 with a sub-TLV, 0 at the end, #LB_E_PROXY_TLV_MALFORMED, -EINVAL.
 * @thread pure
 * @retval LB_OK Success
 * @retval LB_E_PROXY_TLV_MALFORMED Malformed PROXY protocol TLV value
 * @retval EINVAL Invalid argument
 */
LB_API int lb_proxy_ssl_next(const lb_proxy_ssl *ssl, size_t *cursor, lb_proxy_tlv *tlv);

/**
 * @brief The first SSL sub-TLV of type @p type.
 * @param ssl from lb_proxy_get_ssl(). @param type the sub-TLV type. @param[out] tlv it.
 * @return 0, #LB_E_PROXY_TLV_ABSENT, #LB_E_PROXY_TLV_MALFORMED, -EINVAL.
 * @thread pure
 * @retval LB_OK Success
 * @retval LB_E_PROXY_TLV_ABSENT PROXY protocol TLV absent
 * @retval LB_E_PROXY_TLV_MALFORMED Malformed PROXY protocol TLV value
 * @retval EINVAL Invalid argument
 */
LB_API int lb_proxy_ssl_find(const lb_proxy_ssl *ssl, uint8_t type, lb_proxy_tlv *tlv);

/**
 * @brief Did the client present a certificate that verified? (a CERT bit set and verify 0).
 * @param ssl from lb_proxy_get_ssl().
 * @return 1 or 0.
 * @thread pure
 * @retval LB_OK Success
 */
LB_API int lb_proxy_ssl_cert_verified(const lb_proxy_ssl *ssl);

/**
 * @brief The AWS TLV (0xEA): the VPC endpoint id (subtype 0x01, printable ASCII).
 * @param h the decoded header. @param[out] id the endpoint id (value after the subtype).
 * @return 0, #LB_E_PROXY_TLV_ABSENT, #LB_E_PROXY_TLV_MALFORMED, -EINVAL.
 * @thread pure
 * @retval LB_OK Success
 * @retval LB_E_PROXY_TLV_ABSENT PROXY protocol TLV absent
 * @retval LB_E_PROXY_TLV_MALFORMED Malformed PROXY protocol TLV value
 * @retval EINVAL Invalid argument
 */
LB_API int lb_proxy_get_aws_vpce_id(const lb_proxy_header *h, lb_proxy_tlv *id);

/**
 * @brief The Azure TLV (0xEE): the Private Link LINKID (exactly 5 bytes, subtype 0x01,
 *        little-endian uint32).
 * @param h the decoded header. @param[out] linkid the LINKID.
 * @return 0, #LB_E_PROXY_TLV_ABSENT, #LB_E_PROXY_TLV_MALFORMED, -EINVAL.
 * @thread pure
 * @retval LB_OK Success
 * @retval LB_E_PROXY_TLV_ABSENT PROXY protocol TLV absent
 * @retval LB_E_PROXY_TLV_MALFORMED Malformed PROXY protocol TLV value
 * @retval EINVAL Invalid argument
 */
LB_API int lb_proxy_get_azure_linkid(const lb_proxy_header *h, uint32_t *linkid);

/**
 * @brief The GCP TLV (0xE0): the Private Service Connect connection id (exactly 8 bytes,
 *        big-endian).
 * @param h the decoded header. @param[out] psc_id the id.
 * @return 0, #LB_E_PROXY_TLV_ABSENT, #LB_E_PROXY_TLV_MALFORMED, -EINVAL.
 * @thread pure
 * @retval LB_OK Success
 * @retval LB_E_PROXY_TLV_ABSENT PROXY protocol TLV absent
 * @retval LB_E_PROXY_TLV_MALFORMED Malformed PROXY protocol TLV value
 * @retval EINVAL Invalid argument
 */
LB_API int lb_proxy_get_gcp_psc_id(const lb_proxy_header *h, uint64_t *psc_id);

/**
 * A TLV list under construction in caller storage (plain struct; initialise with
 * lb_proxy_tlvb_init()). The bytes `buf[0 .. len)` are valid TLVs at every moment.
 */
typedef struct lb_proxy_tlv_builder {
    /** The caller's `sizeof(lb_proxy_tlv_builder)`; set by lb_proxy_tlvb_init(). */
    uint32_t struct_size;
    /** Reserved (0). */
    uint32_t reserved0;
    /** The storage (borrowed; must outlive the builder's use). */
    uint8_t *buf;
    /** Size of @c buf. */
    size_t cap;
    /** Bytes of TLVs written. */
    size_t len;
} lb_proxy_tlv_builder;

/**
 * @brief Start an empty TLV list in @p storage.
 * @param b the builder: @p size bytes are written (NULL, or a size below 4, writes nothing).
 * @param size `sizeof(lb_proxy_tlv_builder)` as the caller knows it.
 * @param storage caller memory (borrowed). @param cap its size.
 * @thread pure
 */
LB_API void lb_proxy_tlvb_init(lb_proxy_tlv_builder *b, size_t size, uint8_t *storage, size_t cap);

/**
 * @brief Append a TLV of any type (its value is copied). Type CRC32C is refused: use
 *        lb_proxy_encode_params::crc32c, which computes it and places it first.
 * @param b the builder. @param type the type. @param value the value (copied; may be NULL
 *        when @p len is 0). @param len value length.
 * @return 0; -ENOSPC (storage full; nothing appended); #LB_E_PROXY_TOO_LARGE (more than
 *         65535 bytes); #LB_E_PROXY_BAD_CRC_TLV; -EINVAL.
 * @thread pure
 * @retval LB_OK Success
 * @retval ENOSPC Not enough room in the caller's buffer
 * @retval LB_E_PROXY_TOO_LARGE PROXY protocol header too large
 * @retval LB_E_PROXY_BAD_CRC_TLV Bad PROXY protocol v2 CRC32C TLV
 * @retval EINVAL Invalid argument
 * @retval LB_E_STRUCT_SIZE A struct's size is below the first release's (doc/ABI.md)
 */
LB_API int lb_proxy_tlvb_add(lb_proxy_tlv_builder *b, uint8_t type, const void *value, size_t len);

/**
 *  @brief Append ALPN. @param b builder. @param alpn bytes (copied). @param len length.
 *  @return as lb_proxy_tlvb_add().
 * @thread pure
 * @retval LB_OK Success
 */
LB_API int lb_proxy_tlvb_add_alpn(lb_proxy_tlv_builder *b, const void *alpn, size_t len);

/**
 *  @brief Append AUTHORITY. @param b builder. @param host NUL-terminated UTF-8 (copied).
 *  @return as lb_proxy_tlvb_add(), or #LB_E_PROXY_TLV_MALFORMED (empty or not UTF-8).
 * @thread pure
 * @retval LB_E_PROXY_TLV_MALFORMED Malformed PROXY protocol TLV value
 */
LB_API int lb_proxy_tlvb_add_authority(lb_proxy_tlv_builder *b, const char *host);

/**
 *  @brief Append UNIQUE_ID. @param b builder. @param id bytes (copied). @param len 1..128.
 *  @return as lb_proxy_tlvb_add(), or #LB_E_PROXY_TLV_MALFORMED (longer than 128).
 * @thread pure
 * @retval LB_E_PROXY_TLV_MALFORMED Malformed PROXY protocol TLV value
 */
LB_API int lb_proxy_tlvb_add_unique_id(lb_proxy_tlv_builder *b, const void *id, size_t len);

/**
 *  @brief Append NETNS. @param b builder. @param ns NUL-terminated name (copied).
 *  @return as lb_proxy_tlvb_add().
 * @thread pure
 * @retval LB_OK Success
 */
LB_API int lb_proxy_tlvb_add_netns(lb_proxy_tlv_builder *b, const char *ns);

/**
 *  @brief Append a NOOP TLV with @p len zero bytes of value. @param b builder.
 *  @param len value length. @return as lb_proxy_tlvb_add().
 * @thread pure
 * @retval LB_OK Success
 */
LB_API int lb_proxy_tlvb_add_noop(lb_proxy_tlv_builder *b, size_t len);

/**
 * @brief Append an SSL TLV.
 * @param b builder. @param client the client bits. @param verify the verify result.
 * @param sub sub-TLVs built with another builder (borrowed; may be NULL for none).
 * @return as lb_proxy_tlvb_add().
 * @thread pure
 * @retval LB_OK Success
 */
LB_API int lb_proxy_tlvb_add_ssl(lb_proxy_tlv_builder *b, uint8_t client, uint32_t verify,
                                 const lb_proxy_tlv_builder *sub);

/**
 *  @brief Append the AWS TLV (subtype 0x01 + VPC endpoint id). @param b builder.
 *  @param vpce_id NUL-terminated printable ASCII (copied).
 *  @return as lb_proxy_tlvb_add(), or #LB_E_PROXY_TLV_MALFORMED.
 * @thread pure
 * @retval LB_E_PROXY_TLV_MALFORMED Malformed PROXY protocol TLV value
 */
LB_API int lb_proxy_tlvb_add_aws_vpce_id(lb_proxy_tlv_builder *b, const char *vpce_id);

/**
 *  @brief Append the Azure TLV (subtype 0x01 + LINKID little-endian). @param b builder.
 *  @param linkid the LINKID. @return as lb_proxy_tlvb_add().
 * @thread pure
 * @retval LB_OK Success
 */
LB_API int lb_proxy_tlvb_add_azure_linkid(lb_proxy_tlv_builder *b, uint32_t linkid);

/**
 *  @brief Append the GCP TLV (connection id big-endian). @param b builder.
 *  @param psc_id the id. @return as lb_proxy_tlvb_add().
 * @thread pure
 * @retval LB_OK Success
 */
LB_API int lb_proxy_tlvb_add_gcp_psc_id(lb_proxy_tlv_builder *b, uint64_t psc_id);

/**
 * What to encode (plain struct; set @c struct_size to `sizeof(lb_proxy_encode_params)`).
 */
typedef struct lb_proxy_encode_params {
    /** `sizeof(lb_proxy_encode_params)` as the caller knows it. */
    uint32_t struct_size;
    /** 1 or 2. */
    uint8_t version;
    /** An #lb_proxy_command. LOCAL ignores the addresses (v1: `PROXY UNKNOWN\r\n`;
     *  v2: family UNSPEC, TLVs allowed). */
    uint8_t command;
    /** Non-zero: DGRAM transport (v2 only); zero: STREAM. */
    uint8_t dgram;
    /** Non-zero: add a CRC32C TLV (v2 only), first among the TLVs. */
    uint8_t crc32c;
    /** 0: no padding; otherwise pad the whole header with a NOOP TLV to a multiple of this
     *  (v2 only; at most 4096). */
    uint32_t noop_align;
    /** Reserved, must be 0. */
    uint32_t reserved0;
    /** Source address (borrowed): `AF_INET`, `AF_INET6` or `AF_UNIX` (v2). NULL with
     *  @c dst NULL and PROXY: v2 PROXY UNSPEC. */
    const struct sockaddr *src;
    /** Destination address (borrowed), the same family as @c src (IPv4 and IPv4-mapped IPv6
     *  mix: both are encoded as IPv4). */
    const struct sockaddr *dst;
    /** TLVs to write after the CRC32C (borrowed; e.g. a builder's @c buf), or NULL. */
    const uint8_t *tlvs;
    /** Bytes of @c tlvs; they must tile exactly. */
    size_t tlvs_len;
} lb_proxy_encode_params;

/**
 * @brief Encode a whole header into @p buf in one piece.
 * @param buf destination (may be NULL when @p cap is 0).
 * @param cap size of @p buf.
 * @param p what to encode (borrowed).
 * @param[out] need the header's size, set on success and on `-ENOSPC` (may be NULL).
 * @return the header length (> 0); `-ENOSPC` when @p cap is too small (nothing written
 *         past @p cap); #LB_E_PROXY_FAMILY_MISMATCH; #LB_E_PROXY_V1_UNSUPPORTED (TLVs,
 *         DGRAM or UNIX in v1); #LB_E_PROXY_TOO_LARGE; #LB_E_PROXY_TLV_TRUNCATED,
 *         #LB_E_PROXY_TLV_OVERRUN, #LB_E_PROXY_BAD_CRC_TLV (bad @c tlvs); -EINVAL;
 *         -EAFNOSUPPORT.
 * @thread pure
 * @retval LB_OK Success
 * @retval ENOSPC Not enough room in the caller's buffer
 * @retval LB_E_STRUCT_SIZE A struct's size is below the first release's (doc/ABI.md)
 * @retval LB_E_STRUCT_TOO_NEW A newer caller's struct sets fields this library does not know
 */
LB_API LB_NODISCARD int lb_proxy_encode(uint8_t *buf, size_t cap, const lb_proxy_encode_params *p,
                                        size_t *need);

/**
 * @brief CRC-32C (Castagnoli), hardware-accelerated when the CPU has SSE4.2.
 * @param crc 0 to start, or the previous result to continue.
 * @param data the bytes (borrowed). @param len their count.
 * @return the CRC; lb_crc32c(0, "123456789", 9) is 0xE3069283.
 * @thread pure
 */
LB_API uint32_t lb_crc32c(uint32_t crc, const void *data, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* LB_PROXY_H */
