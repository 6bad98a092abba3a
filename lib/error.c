/* Error names and messages. Each module keeps its codes in its own section of the table. */
#include <errno.h>
#include <stddef.h>

#include "lb/common.h"
#include "lb/version.h"

struct err_entry {
    int code;
    const char *name;
    const char *message;
};

#define ERRNO_ENTRY(e, msg) {-(e), #e, msg}

static const struct err_entry err_table[] = {
    {LB_OK, "LB_OK", "Success"},
    /* errno values liblb returns */
    ERRNO_ENTRY(EINVAL, "Invalid argument"),
    ERRNO_ENTRY(ENOMEM, "Out of memory"),
    ERRNO_ENTRY(ENOENT, "No such entry"),
    ERRNO_ENTRY(EEXIST, "Entry already exists"),
    ERRNO_ENTRY(ENOSPC, "Not enough room in the caller's buffer"),
    ERRNO_ENTRY(ERANGE, "Value out of range"),
    ERRNO_ENTRY(EOVERFLOW, "Value too large"),
    ERRNO_ENTRY(EBUSY, "Resource busy"),
    ERRNO_ENTRY(ENOTSUP, "Operation not supported"),
    ERRNO_ENTRY(EAFNOSUPPORT, "Address family not supported"),
    ERRNO_ENTRY(ENAMETOOLONG, "Name too long"),

    /* ---- general ---- */
    {LB_E_NO_TARGET, "LB_E_NO_TARGET", "No eligible target"},
    {LB_E_POOL_DUPLICATE_KEY, "LB_E_POOL_DUPLICATE_KEY", "A target with this key already exists"},
    {LB_E_POOL_BAD_WEIGHT, "LB_E_POOL_BAD_WEIGHT", "Weight outside 0..65535"},
    {LB_E_ADDR_SYNTAX, "LB_E_ADDR_SYNTAX", "Malformed address"},
    {LB_E_ADDR_PORT, "LB_E_ADDR_PORT", "Missing or invalid port"},
    {LB_E_POOL_BAD_KEY, "LB_E_POOL_BAD_KEY", "Target key empty or too long"},
    {LB_E_NEED_MORE, "LB_E_NEED_MORE", "Need more input"},
    {LB_E_STRUCT_SIZE, "LB_E_STRUCT_SIZE", "Struct size smaller than the first release's"},
    {LB_E_STRUCT_TOO_NEW, "LB_E_STRUCT_TOO_NEW",
     "Struct has fields unknown to this library that are not zero"},

    /* ---- proxy ---- */
    {LB_E_PROXY_NOT_PROXY, "LB_E_PROXY_NOT_PROXY", "Not a PROXY protocol header"},
    {LB_E_PROXY_BAD_SIGNATURE, "LB_E_PROXY_BAD_SIGNATURE", "Bad PROXY protocol signature"},
    {LB_E_PROXY_BAD_VERSION, "LB_E_PROXY_BAD_VERSION", "Bad PROXY protocol v2 version"},
    {LB_E_PROXY_VERSION_REFUSED, "LB_E_PROXY_VERSION_REFUSED", "PROXY protocol version not accepted"},
    {LB_E_PROXY_BAD_COMMAND, "LB_E_PROXY_BAD_COMMAND", "Bad PROXY protocol v2 command"},
    {LB_E_PROXY_BAD_FAMILY, "LB_E_PROXY_BAD_FAMILY", "Bad PROXY protocol v2 address family"},
    {LB_E_PROXY_BAD_TRANSPORT, "LB_E_PROXY_BAD_TRANSPORT", "Bad PROXY protocol v2 transport"},
    {LB_E_PROXY_UNSPEC_REFUSED, "LB_E_PROXY_UNSPEC_REFUSED", "PROXY protocol v2 PROXY with UNSPEC family refused"},
    {LB_E_PROXY_SHORT_LENGTH, "LB_E_PROXY_SHORT_LENGTH", "PROXY protocol v2 length shorter than the address block"},
    {LB_E_PROXY_TOO_LARGE, "LB_E_PROXY_TOO_LARGE", "PROXY protocol header too large"},
    {LB_E_PROXY_V1_SYNTAX, "LB_E_PROXY_V1_SYNTAX", "PROXY protocol v1 syntax error"},
    {LB_E_PROXY_V1_TOO_LONG, "LB_E_PROXY_V1_TOO_LONG", "PROXY protocol v1 line longer than 107 bytes"},
    {LB_E_PROXY_BAD_ADDRESS, "LB_E_PROXY_BAD_ADDRESS", "Bad address in PROXY protocol v1 header"},
    {LB_E_PROXY_BAD_PORT, "LB_E_PROXY_BAD_PORT", "Bad port in PROXY protocol v1 header"},
    {LB_E_PROXY_TLV_TRUNCATED, "LB_E_PROXY_TLV_TRUNCATED", "PROXY protocol v2 TLV header cut short"},
    {LB_E_PROXY_TLV_OVERRUN, "LB_E_PROXY_TLV_OVERRUN", "PROXY protocol v2 TLV value past the end of the header"},
    {LB_E_PROXY_CRC_MISMATCH, "LB_E_PROXY_CRC_MISMATCH", "PROXY protocol v2 CRC32C mismatch"},
    {LB_E_PROXY_BAD_CRC_TLV, "LB_E_PROXY_BAD_CRC_TLV", "Bad PROXY protocol v2 CRC32C TLV"},
    {LB_E_PROXY_TLV_ABSENT, "LB_E_PROXY_TLV_ABSENT", "PROXY protocol TLV absent"},
    {LB_E_PROXY_TLV_MALFORMED, "LB_E_PROXY_TLV_MALFORMED", "Malformed PROXY protocol TLV value"},
    {LB_E_PROXY_FAMILY_MISMATCH, "LB_E_PROXY_FAMILY_MISMATCH", "Source and destination address families differ"},
    {LB_E_PROXY_V1_UNSUPPORTED, "LB_E_PROXY_V1_UNSUPPORTED", "Not expressible in PROXY protocol v1"},

    /* ---- maglev, chash ---- */
    {LB_E_MAGLEV_NOT_PRIME, "LB_E_MAGLEV_NOT_PRIME", "Maglev table size is not prime"},
    {LB_E_MAGLEV_TOO_SMALL, "LB_E_MAGLEV_TOO_SMALL",
     "Maglev table size is smaller than the number of weighted targets"},

    /* ---- wrr, leastconn ---- */
    {LB_E_SELECTOR_EMPTY, "LB_E_SELECTOR_EMPTY", "No target with a weight above zero"},

    /* ---- health ---- */
    {LB_E_HEALTH_BAD_STATE, "LB_E_HEALTH_BAD_STATE", "Not allowed in the target's health state"},
    {LB_E_HEALTH_NOT_ELIGIBLE, "LB_E_HEALTH_NOT_ELIGIBLE", "Target may not take new connections"},

    /* ---- zone ---- */
    {LB_E_ZONE_UNKNOWN, "LB_E_ZONE_UNKNOWN", "Unknown zone"},
    {LB_E_ZONE_MIXED, "LB_E_ZONE_MIXED", "A zone cannot hold both targets and target counts"},
    {LB_E_ZONE_BAD_INCOMING, "LB_E_ZONE_BAD_INCOMING", "Invalid incoming traffic fractions"},

    /* ---- balancer ---- */
    {LB_E_BALANCER_CONFIG, "LB_E_BALANCER_CONFIG", "Invalid balancer configuration"},
    {LB_E_BALANCER_TARGET_FULL, "LB_E_BALANCER_TARGET_FULL", "Target at its connection limit"},

    /* ---- flowtab ---- */
    {LB_E_FLOWTAB_NOT_FOUND, "LB_E_FLOWTAB_NOT_FOUND", "No live flow with this key"},
};

#define ERR_TABLE_LEN (sizeof(err_table) / sizeof(err_table[0]))

static const struct err_entry *err_find(int err)
{
    for (size_t i = 0; i < ERR_TABLE_LEN; i++) {
        if (err_table[i].code == err)
            return &err_table[i];
    }
    return NULL;
}

LB_API const char *lb_strerror(int err)
{
    const struct err_entry *e = err_find(err);
    return e ? e->message : "Unknown error";
}

LB_API const char *lb_err_name(int err)
{
    const struct err_entry *e = err_find(err);
    return e ? e->name : "unknown";
}

LB_API size_t lb_err_count(void)
{
    return ERR_TABLE_LEN;
}

LB_API int lb_err_at(size_t index)
{
    return index < ERR_TABLE_LEN ? err_table[index].code : 0;
}

LB_API uint32_t lb_version_number(void)
{
    return (uint32_t)LB_VERSION_NUMBER;
}

LB_API const char *lb_version_string(void)
{
    return LB_VERSION_STRING;
}
