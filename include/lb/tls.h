/** @file
 * @brief TLS ClientHello inspection: a strict, incremental, zero-copy reader of the first
 *        flight of a TLS connection, JA3/JA4 fingerprints, and host-name pattern matching.
 *
 * lb_tls_decode() takes the bytes read so far from a connection (after any PROXY header) and
 * returns the number of record bytes that carry the ClientHello, #LB_E_NEED_MORE with the
 * minimum number of further bytes, or a precise `LB_E_TLS_*` error. It walks TLS records of
 * type handshake, reassembles a ClientHello fragmented over several records into a scratch
 * buffer the caller provides (a hello that fits in one record is never copied), never reads
 * past the given length and never allocates. Feeding the bytes one at a time gives exactly
 * the result of feeding them whole. Nothing is decrypted: only the cleartext ClientHello is
 * read (doc/tls.md).
 *
 * The result's views (server name, cipher suites, extensions, ALPN, versions, ...) borrow
 * from the input buffer, or from the scratch buffer when the hello was fragmented
 * (lb_tls_hello::fragmented); those buffers must outlive the result.
 *
 * lb_tls_ja3() and lb_tls_ja4() compute the JA3 (Salesforce) and JA4 (FoxIO) fingerprints of
 * a decoded hello. lb_tls_host_match() picks the longest of a list of host-name patterns
 * (exact names, `*.suffix`, `*`) that matches a name, for routing by server name.
 *
 * Threading: every function is reentrant and thread-safe and keeps no state between calls.
 */
#ifndef LB_TLS_H
#define LB_TLS_H

#include "lb/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The decoder's default cap on the ClientHello handshake message (header included): 16 KiB. */
#define LB_TLS_DEFAULT_MAX_HELLO 16384u
/** The largest cap lb_tls_options::max_hello_size may set (1 MiB). */
#define LB_TLS_MAX_HELLO_LIMIT 1048576u
/** The largest TLS record payload (2^14 bytes, RFC 8446 section 5.1). */
#define LB_TLS_MAX_RECORD 16384u
/** Length of a TLS record header (type, version, length). */
#define LB_TLS_RECORD_HEADER 5u
/** The longest DNS host name the decoder accepts as a server name (without a final dot). */
#define LB_TLS_HOST_MAX 253u
/** Bytes lb_tls_ja3() writes: 32 lower-case hex digits and a NUL. */
#define LB_TLS_JA3_SIZE 33u
/** Bytes lb_tls_ja4() writes: `t13d1516h2_8daaf6152771_e5627efa2ab1` and a NUL. */
#define LB_TLS_JA4_SIZE 37u
/** The most cipher suites, extensions or signature algorithms lb_tls_ja4() sorts or lists
 *  (real clients send a few dozen; more gives #LB_E_TLS_FP_TOO_MANY). */
#define LB_TLS_FP_MAX_ITEMS 4096u

/** Extension numbers the decoder interprets (IANA TLS ExtensionType values). */
enum lb_tls_ext_type {
    LB_TLS_EXT_SERVER_NAME = 0x0000,          /**< server_name (RFC 6066). */
    LB_TLS_EXT_SUPPORTED_GROUPS = 0x000a,     /**< supported_groups (RFC 8422). */
    LB_TLS_EXT_EC_POINT_FORMATS = 0x000b,     /**< ec_point_formats (RFC 8422). */
    LB_TLS_EXT_SIGNATURE_ALGORITHMS = 0x000d, /**< signature_algorithms (RFC 8446). */
    LB_TLS_EXT_ALPN = 0x0010,                 /**< application_layer_protocol_negotiation. */
    LB_TLS_EXT_PRE_SHARED_KEY = 0x0029,       /**< pre_shared_key: must be the last one. */
    LB_TLS_EXT_SUPPORTED_VERSIONS = 0x002b,   /**< supported_versions (RFC 8446). */
    LB_TLS_EXT_ECH = 0xfe0d                   /**< encrypted_client_hello (draft-ietf-tls-esni). */
};

/** Protocol version numbers as they appear on the wire. */
enum lb_tls_version {
    LB_TLS_VERSION_SSL3 = 0x0300,  /**< SSL 3.0. */
    LB_TLS_VERSION_TLS10 = 0x0301, /**< TLS 1.0. */
    LB_TLS_VERSION_TLS11 = 0x0302, /**< TLS 1.1. */
    LB_TLS_VERSION_TLS12 = 0x0303, /**< TLS 1.2. */
    LB_TLS_VERSION_TLS13 = 0x0304  /**< TLS 1.3. */
};

/**
 * Decoder options; fill with lb_tls_options_init(), then change fields. Passing NULL to
 * lb_tls_decode() means every default.
 */
typedef struct lb_tls_options {
    /** `sizeof(lb_tls_options)` as the caller knows it (lb_tls_options_init() sets it). */
    uint32_t struct_size;
    /** The largest accepted ClientHello handshake message, its 4-byte header included,
     *  1 .. #LB_TLS_MAX_HELLO_LIMIT; 0 means #LB_TLS_DEFAULT_MAX_HELLO. A larger hello is
     *  #LB_E_TLS_TOO_LARGE as soon as its header is read. */
    uint32_t max_hello_size;
    /** Reserved, must be zero. */
    uint32_t reserved[2];
} lb_tls_options;

/**
 * A decoded ClientHello. Initialise with lb_tls_hello_init() before decoding. Every pointer
 * is a borrowed view into the decoded buffer (or the scratch buffer when @c fragmented),
 * NULL when the field is absent; the lists are in wire format (big-endian 16-bit entries,
 * read them with lb_tls_u16_at(), lb_tls_ext_next(), lb_tls_alpn_next()).
 */
typedef struct lb_tls_hello {
    /** `sizeof(lb_tls_hello)` as the caller knows it (lb_tls_hello_init() sets it). */
    uint32_t struct_size;
    /** Record bytes consumed: the records that carry the hello, headers included (the
     *  same as the return value of lb_tls_decode()). */
    uint32_t bytes;
    /** Length of the ClientHello body (the handshake message without its 4-byte header). */
    uint32_t hello_len;
    /** The hello's legacy_version (0x0303 for TLS 1.2 and 1.3 clients). */
    uint16_t legacy_version;
    /** The highest non-GREASE entry of supported_versions, else @c legacy_version. */
    uint16_t version;
    /** 1 when the hello spanned several records and was reassembled into the scratch buffer. */
    uint8_t fragmented;
    /** 1 when a server_name extension carries a host_name (valid or not: see @c sni_error). */
    uint8_t sni_present;
    /** 1 when an encrypted_client_hello extension is present: the real server name is
     *  encrypted and @c sni is the outer, public name. */
    uint8_t ech;
    /** Reserved, zero. */
    uint8_t reserved0;
    /** #LB_OK when @c sni is a valid DNS host name (or absent); #LB_E_TLS_SNI_IP_LITERAL or
     *  #LB_E_TLS_SNI_INVALID when the name is present but not a host name (an error of this
     *  field only: the hello itself is valid). Route by @c sni only when this is #LB_OK. */
    int32_t sni_error;
    /** The server name's bytes (not NUL-terminated); valid when @c sni_error is #LB_OK. */
    const uint8_t *sni;
    /** The 32 random bytes. */
    const uint8_t *random;
    /** The legacy_session_id (0 to 32 bytes). */
    const uint8_t *session_id;
    /** The cipher suites in order, 2 bytes each (GREASE values included). */
    const uint8_t *cipher_suites;
    /** The extensions block in order: each is type (2), length (2), data. NULL when the
     *  hello has no extensions. */
    const uint8_t *extensions;
    /** ALPN's protocol_name_list: each entry is a length byte and the name. */
    const uint8_t *alpn;
    /** supported_versions' list, 2 bytes each (GREASE included); NULL when absent. */
    const uint8_t *versions;
    /** signature_algorithms' list, 2 bytes each; NULL when absent. */
    const uint8_t *sig_algs;
    /** supported_groups' list, 2 bytes each; NULL when absent. */
    const uint8_t *groups;
    /** ec_point_formats' list, 1 byte each; NULL when absent. */
    const uint8_t *point_formats;
    /** Bytes of @c sni. */
    uint32_t sni_len;
    /** Bytes of @c session_id. */
    uint32_t session_id_len;
    /** Bytes of @c cipher_suites (twice the number of suites). */
    uint32_t cipher_suites_len;
    /** Bytes of @c extensions. */
    uint32_t extensions_len;
    /** Number of extensions. */
    uint32_t extension_count;
    /** Bytes of @c alpn. */
    uint32_t alpn_len;
    /** Number of ALPN protocol names. */
    uint32_t alpn_count;
    /** Bytes of @c versions. */
    uint32_t versions_len;
    /** Bytes of @c sig_algs. */
    uint32_t sig_algs_len;
    /** Bytes of @c groups. */
    uint32_t groups_len;
    /** Bytes of @c point_formats. */
    uint32_t point_formats_len;
    /** Reserved, zero. */
    uint32_t reserved1;
} lb_tls_hello;

/**
 * @brief Set @p opts to the defaults (16 KiB cap).
 * @thread pure
 * @param[out] opts the caller's options (borrowed).
 * @param size `sizeof(lb_tls_options)` as the caller knows it; at most @p size bytes are
 *             written.
 */
LB_API void lb_tls_options_init(lb_tls_options *opts, size_t size);

/**
 * @brief Zero @p hello and set its @c struct_size, ready for lb_tls_decode().
 * @thread pure
 * @param[out] hello the caller's result struct (borrowed).
 * @param size `sizeof(lb_tls_hello)` as the caller knows it; at most @p size bytes are
 *             written.
 */
LB_API void lb_tls_hello_init(lb_tls_hello *hello, size_t size);

/**
 * @brief Decode the TLS ClientHello at the start of @p buf.
 *
 * Call it again with more bytes after #LB_E_NEED_MORE; each call decodes from the start.
 * Errors are final: more bytes never turn an error into a result.
 * @thread pure
 * @param buf the bytes read so far (borrowed; may be NULL when @p len is 0).
 * @param len number of bytes in @p buf; nothing past it is read.
 * @param opts options (borrowed), or NULL for the defaults.
 * @param scratch where a hello fragmented over several records is reassembled (borrowed,
 *        written; may be NULL): #LB_TLS_DEFAULT_MAX_HELLO bytes (or the cap) are always
 *        enough. Unused for a hello that fits in one record.
 * @param scratch_len bytes of @p scratch.
 * @param[out] out the result, valid when the return is positive (lb_tls_hello_init() it
 *             first). Its pointers borrow from @p buf or @p scratch.
 * @param[out] need on #LB_E_NEED_MORE, the minimum number of further bytes; on
 *             #LB_E_TLS_SCRATCH, the scratch size required (may be NULL).
 * @return the record bytes the hello occupies (> 0), which is also @c out->bytes.
 * @retval LB_E_NEED_MORE the bytes so far are a valid prefix; at least `*need` more are needed.
 * @retval LB_E_TLS_NOT_TLS the bytes are not a TLS handshake record.
 * @retval LB_E_TLS_SSLV2 an SSL 2.0 (or SSLv2-compatible) ClientHello.
 * @retval LB_E_TLS_NOT_CLIENT_HELLO the first handshake message is not a ClientHello.
 * @retval LB_E_TLS_RECORD_TYPE a record of another type interrupts the ClientHello.
 * @retval LB_E_TLS_RECORD_TOO_LONG a record longer than 2^14 bytes.
 * @retval LB_E_TLS_RECORD_EMPTY an empty handshake record.
 * @retval LB_E_TLS_TOO_LARGE the hello is larger than the cap.
 * @retval LB_E_TLS_BAD_VERSION the legacy version is not 3.x.
 * @retval LB_E_TLS_TRUNCATED a field runs past the end of what encloses it.
 * @retval LB_E_TLS_MALFORMED a field breaks its rules (odd or empty list, long session id...).
 * @retval LB_E_TLS_TRAILING bytes after the hello in its last record, or after its extensions.
 * @retval LB_E_TLS_DUPLICATE_EXTENSION an extension type appears twice.
 * @retval LB_E_TLS_BAD_EXTENSION an interpreted extension's body is malformed.
 * @retval LB_E_TLS_SCRATCH a fragmented hello and no scratch of `*need` bytes.
 * @retval LB_E_STRUCT_SIZE @p opts or @p out has a too-small @c struct_size.
 * @retval LB_E_STRUCT_TOO_NEW @p opts has non-zero fields unknown to this library.
 * @retval EINVAL NULL @p out, NULL @p buf with @p len > 0, or a bad option value.
 */
LB_API LB_NODISCARD int lb_tls_decode(const uint8_t *buf, size_t len, const lb_tls_options *opts,
                                      uint8_t *scratch, size_t scratch_len, lb_tls_hello *out,
                                      size_t *need);

/**
 * @brief The 16-bit big-endian entry @p index of a list view (cipher suites, versions,
 *        signature algorithms, groups). The caller keeps @p index below the list's length / 2.
 * @thread pure
 * @param list the view (borrowed).
 * @param index the entry.
 * @return the entry's value.
 */
LB_API uint16_t lb_tls_u16_at(const uint8_t *list, size_t index);

/**
 * @brief Whether @p value is a GREASE value (RFC 8701: 0x0a0a, 0x1a1a, ... 0xfafa).
 * @thread pure
 * @param value a cipher suite, extension, group, version or signature algorithm.
 * @return 1 or 0.
 * @retval LB_OK (0) not a GREASE value; 1 when it is one.
 */
LB_API int lb_tls_is_grease(uint16_t value);

/**
 * @brief Iterate over the extensions of a decoded hello in wire order.
 * @thread pure
 * @param hello the decoded hello (borrowed).
 * @param[in,out] cursor 0 to start; advanced by each call.
 * @param[out] type the extension's type.
 * @param[out] data the extension's data (borrowed from the hello's buffer).
 * @param[out] data_len bytes of @p data.
 * @return 1 with an extension, 0 at the end.
 * @retval EINVAL a NULL argument or a cursor that is not from this hello.
 */
LB_API int lb_tls_ext_next(const lb_tls_hello *hello, size_t *cursor, uint16_t *type,
                           const uint8_t **data, uint16_t *data_len);

/**
 * @brief Iterate over the ALPN protocol names of a decoded hello in wire order.
 * @thread pure
 * @param hello the decoded hello (borrowed).
 * @param[in,out] cursor 0 to start; advanced by each call.
 * @param[out] name the protocol name (borrowed, not NUL-terminated).
 * @param[out] name_len bytes of @p name (1..255).
 * @return 1 with a name, 0 at the end.
 * @retval EINVAL a NULL argument or a cursor that is not from this hello.
 */
LB_API int lb_tls_alpn_next(const lb_tls_hello *hello, size_t *cursor, const uint8_t **name,
                            uint8_t *name_len);

/**
 * @brief The JA3 fingerprint: MD5 of `version,ciphers,extensions,groups,point_formats` in
 *        decimal, GREASE values left out, as 32 lower-case hex digits.
 * @thread pure
 * @param hello the decoded hello (borrowed).
 * @param[out] out at least #LB_TLS_JA3_SIZE bytes; a NUL-terminated string on success.
 * @param out_size bytes of @p out.
 * @retval LB_OK @p out holds the fingerprint.
 * @retval ENOSPC @p out_size is below #LB_TLS_JA3_SIZE.
 * @retval EINVAL a NULL argument.
 */
LB_API int lb_tls_ja3(const lb_tls_hello *hello, char *out, size_t out_size);

/**
 * @brief The JA4 fingerprint (FoxIO's specification, TLS over TCP):
 *        `t` version SNI cipher-count extension-count ALPN `_` cipher-hash `_` extension-hash.
 * @thread pure
 * @param hello the decoded hello (borrowed).
 * @param[out] out at least #LB_TLS_JA4_SIZE bytes; a NUL-terminated string on success.
 * @param out_size bytes of @p out.
 * @retval LB_OK @p out holds the fingerprint.
 * @retval LB_E_TLS_FP_TOO_MANY more than #LB_TLS_FP_MAX_ITEMS cipher suites or extensions.
 * @retval ENOSPC @p out_size is below #LB_TLS_JA4_SIZE.
 * @retval EINVAL a NULL argument.
 */
LB_API int lb_tls_ja4(const lb_tls_hello *hello, char *out, size_t out_size);

/**
 * @brief Check that @p name is a DNS host name: dot-separated labels of 1-63 letters, digits
 *        and hyphens, not starting or ending with a hyphen, 253 bytes at most, no final dot,
 *        and not an IP address literal (a last label of digits only).
 * @thread pure
 * @param name the name (borrowed; not necessarily NUL-terminated).
 * @param len bytes of @p name.
 * @retval LB_OK a valid host name.
 * @retval LB_E_TLS_SNI_IP_LITERAL an IPv4 or IPv6 address literal.
 * @retval LB_E_TLS_SNI_INVALID anything else that is not a host name.
 */
LB_API int lb_tls_host_check(const char *name, size_t len);

/**
 * @brief Check a host-name pattern: an exact host name, `*.suffix` (any one or more labels
 *        followed by the host name `suffix`) or `*` (any host name).
 * @thread pure
 * @param pattern the pattern (borrowed, NUL-terminated).
 * @retval LB_OK a valid pattern.
 * @retval LB_E_TLS_BAD_PATTERN anything else.
 * @retval EINVAL NULL @p pattern.
 */
LB_API int lb_tls_host_pattern_check(const char *pattern);

/**
 * @brief The pattern of @p patterns that matches @p host most specifically.
 *
 * Comparison is case-insensitive (ASCII). An exact name beats every wildcard; among
 * wildcards the longest suffix wins, `*` matches last; equal patterns: the first wins.
 * Linear in the patterns' total length; no allocation.
 * @thread pure
 * @param patterns @p count NUL-terminated patterns (borrowed), each valid for
 *        lb_tls_host_pattern_check().
 * @param count number of patterns.
 * @param host the host name (borrowed; not NUL-terminated).
 * @param host_len bytes of @p host.
 * @param[out] index the matching pattern's position in @p patterns.
 * @retval LB_OK `*index` is the best match.
 * @retval LB_E_TLS_NO_MATCH no pattern matches.
 * @retval LB_E_TLS_BAD_PATTERN a pattern is invalid (nothing is matched).
 * @retval LB_E_TLS_SNI_INVALID @p host is not a host name (as lb_tls_host_check()).
 * @retval LB_E_TLS_SNI_IP_LITERAL @p host is an IP address literal.
 * @retval EINVAL a NULL argument.
 */
LB_API int lb_tls_host_match(const char *const *patterns, size_t count, const char *host,
                             size_t host_len, size_t *index);

#ifdef __cplusplus
}
#endif

#endif /* LB_TLS_H */
