/** @file
 * @brief Conventions shared by every liblb module: exports, error codes, version.
 *
 * Every fallible liblb call returns an `int`: #LB_OK (0) on success, or a negative error.
 * Errors are either negative errno values (`-EINVAL`, `-ENOMEM`, `-ENOENT`, `-EEXIST`,
 * `-ENOSPC`, `-ERANGE`, ...) or liblb's own codes, all at or below #LB_E_BASE
 * (-5000), clear of every errno. lb_strerror() and lb_err_name() turn any of them into static
 * text; the names are stable and appear in lbtool's JSON output.
 *
 * Threading: every function in this header is safe to call from any thread at any time.
 */
#ifndef LB_COMMON_H
#define LB_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Marks a symbol exported from liblb; everything else is built with hidden visibility. */
#if defined(__GNUC__) || defined(__clang__)
#define LB_API __attribute__((visibility("default")))
#else
#define LB_API
#endif

/** Marks a call whose result must be checked. */
#if defined(__GNUC__) || defined(__clang__)
#define LB_NODISCARD __attribute__((warn_unused_result))
#else
#define LB_NODISCARD
#endif

/** Success. */
#define LB_OK 0

/** The id that means "no target" where a target id is returned directly. */
#define LB_NO_TARGET UINT32_MAX

/** The largest weight a target may have anywhere in liblb (0 means: takes no new traffic). */
#define LB_WEIGHT_MAX 65535u

/**
 * liblb's own error codes. Values never change once released; new codes are only added.
 * Each module owns a block of 100 codes.
 */
enum lb_error {
    /** The first liblb code; not itself an error. All liblb codes are <= this value. */
    LB_E_BASE = -5000,

    /* ---- general (-5001 ..) ---- */
    /** No target is eligible for a new connection. */
    LB_E_NO_TARGET = -5001,
    /** A pool already holds a target with this key. */
    LB_E_POOL_DUPLICATE_KEY = -5002,
    /** A weight is outside 0..#LB_WEIGHT_MAX. */
    LB_E_POOL_BAD_WEIGHT = -5003,
    /** An address text is not a valid IPv4, IPv6 or UNIX address with port. */
    LB_E_ADDR_SYNTAX = -5004,
    /** An address port is missing or outside 0..65535. */
    LB_E_ADDR_PORT = -5005,
    /** A target key is empty or longer than #LB_POOL_KEY_MAX bytes. */
    LB_E_POOL_BAD_KEY = -5006,
    /** An incremental decoder needs more input bytes before it can answer (PROXY, TLS). The
     *  same value on every platform; never an errno. */
    LB_E_NEED_MORE = -5007,
    /** A struct's size (`struct_size`, or an element size) is smaller than the first
     *  release's size of that struct, or not a size the call accepts. */
    LB_E_STRUCT_SIZE = -5008,
    /** A struct from a newer caller has fields this library does not know, and they are not
     *  all zero (the bytes past this library's size of the struct). */
    LB_E_STRUCT_TOO_NEW = -5009,

    /* ---- proxy (-5100 ..) ---- */
    /** The bytes are not the start of a PROXY protocol header. */
    LB_E_PROXY_NOT_PROXY = -5100,
    /** The bytes start like a PROXY signature but differ from it. */
    LB_E_PROXY_BAD_SIGNATURE = -5101,
    /** A v2 header's version nibble is not 2. */
    LB_E_PROXY_BAD_VERSION = -5102,
    /** The header's version is not accepted by the decoder's options. */
    LB_E_PROXY_VERSION_REFUSED = -5103,
    /** A v2 header's command is neither LOCAL nor PROXY. */
    LB_E_PROXY_BAD_COMMAND = -5104,
    /** A v2 PROXY header's address family is invalid (or UNSPEC with a transport). */
    LB_E_PROXY_BAD_FAMILY = -5105,
    /** A v2 PROXY header's transport is invalid (or UNSPEC with a family). */
    LB_E_PROXY_BAD_TRANSPORT = -5106,
    /** A v2 PROXY header with family UNSPEC, refused by the options. */
    LB_E_PROXY_UNSPEC_REFUSED = -5107,
    /** A v2 header's length is shorter than its address block. */
    LB_E_PROXY_SHORT_LENGTH = -5108,
    /** A header (or a TLV) is larger than the limit. */
    LB_E_PROXY_TOO_LARGE = -5109,
    /** A v1 line breaks the syntax (keyword, spaces, CRLF, fields). */
    LB_E_PROXY_V1_SYNTAX = -5110,
    /** A v1 line has no CRLF within 107 bytes. */
    LB_E_PROXY_V1_TOO_LONG = -5111,
    /** A v1 address is not a valid address of the announced family. */
    LB_E_PROXY_BAD_ADDRESS = -5112,
    /** A v1 port is not a decimal 0-65535 without leading zeros. */
    LB_E_PROXY_BAD_PORT = -5113,
    /** A TLV header (3 bytes) is cut short by the end of the header. */
    LB_E_PROXY_TLV_TRUNCATED = -5114,
    /** A TLV value runs past the end of the header. */
    LB_E_PROXY_TLV_OVERRUN = -5115,
    /** The CRC32C TLV does not match the header. */
    LB_E_PROXY_CRC_MISMATCH = -5116,
    /** A CRC32C TLV whose length is not 4, a second one, or one where not allowed. */
    LB_E_PROXY_BAD_CRC_TLV = -5117,
    /** The header carries no TLV of the requested type. */
    LB_E_PROXY_TLV_ABSENT = -5118,
    /** A TLV's value is malformed for its type (vendor, SSL, AUTHORITY, UNIQUE_ID). */
    LB_E_PROXY_TLV_MALFORMED = -5119,
    /** The encoder's source and destination addresses are of different families. */
    LB_E_PROXY_FAMILY_MISMATCH = -5120,
    /** v1 cannot carry what was asked (TLVs, CRC32C, padding, DGRAM or UNIX). */
    LB_E_PROXY_V1_UNSUPPORTED = -5121,

    /* ---- maglev, chash (-5200 ..) ---- */
    /** A Maglev table size is not a prime number. */
    LB_E_MAGLEV_NOT_PRIME = -5200,
    /** A Maglev table size is smaller than the number of targets of weight above zero. */
    LB_E_MAGLEV_TOO_SMALL = -5201,

    /* ---- wrr, leastconn (-5300 ..) ---- */
    /** A selector holds no target with a weight above zero. */
    LB_E_SELECTOR_EMPTY = -5300,

    /* ---- health (-5400 ..) ---- */
    /** The operation is not allowed in the target's current health state. */
    LB_E_HEALTH_BAD_STATE = -5400,
    /** The target may not receive new connections now (not eligible). */
    LB_E_HEALTH_NOT_ELIGIBLE = -5401,

    /* ---- zone (-5500 ..) ---- */
    /** A zone id is not known to the zone plan. */
    LB_E_ZONE_UNKNOWN = -5500,
    /** A zone would hold both explicit targets and target counts. */
    LB_E_ZONE_MIXED = -5501,
    /** The zones' incoming-traffic fractions sum to more than 1 or leave no node any traffic. */
    LB_E_ZONE_BAD_INCOMING = -5502,

    /* ---- balancer (-5600 ..) ---- */
    /** The balancer's configuration is invalid. */
    LB_E_BALANCER_CONFIG = -5600,
    /** The chosen target is at its connection limit. */
    LB_E_BALANCER_TARGET_FULL = -5601,

    /* ---- flowtab (-5800 ..) ---- */
    /** The flow table holds no live flow with this key. */
    LB_E_FLOWTAB_NOT_FOUND = -5800,

    /** One past the last code liblb may ever use (not an error). */
    LB_E_LAST = -5999
};

/**
 * @brief A human-readable message for an error code.
 * @param err 0, a negative errno or a liblb code.
 * @return a static string, never NULL ("Unknown error" for an unknown code).
 * @thread pure
 */
LB_API const char *lb_strerror(int err);

/**
 * @brief The stable symbolic name of an error code: "LB_E_PROXY_CRC_MISMATCH", "EINVAL",
 *        "LB_OK"; "unknown" for a code liblb does not know.
 * @param err 0, a negative errno or a liblb code.
 * @return a static string, never NULL.
 * @thread pure
 */
LB_API const char *lb_err_name(int err);

/**
 * @brief How many error codes liblb knows (errno values it returns and its own codes).
 * Together with lb_err_at() this lets a binding list every code without parsing headers.
 * @thread pure
 */
LB_API size_t lb_err_count(void);

/**
 * @brief The error code at position @p index (0 <= index < lb_err_count()), or 0 when
 *        @p index is out of range.
 * @thread pure
 * @retval LB_OK Success
 */
LB_API int lb_err_at(size_t index);

/**
 *  @brief The library's version as major * 10000 + minor * 100 + patch.
 * @thread pure
 */
LB_API uint32_t lb_version_number(void);

/**
 *  @brief The library's version as "major.minor.patch" (static string).
 * @thread pure
 */
LB_API const char *lb_version_string(void);

#ifdef __cplusplus
}
#endif

#endif /* LB_COMMON_H */
