/** @file
 * @brief Socket addresses as text, and CIDR ranges: the forms every liblb program accepts.
 *
 * Text forms: `1.2.3.4:80`, `[2001:db8::1]:443` (brackets required around IPv6 with a port),
 * and `unix:/path/to/socket`. CIDR: `10.0.0.0/8`, `2001:db8::/32`, or a bare address (a
 * full-length prefix). IPv4-mapped IPv6 addresses match IPv4 ranges.
 *
 * Threading: every function is reentrant; none allocates.
 */
#ifndef LB_ADDR_H
#define LB_ADDR_H

#include "lb/common.h"

#ifdef __cplusplus
extern "C" {
#endif

struct sockaddr;
struct sockaddr_storage;

/** The longest text lb_addr_format() writes, including the terminating NUL. */
#define LB_ADDR_TEXT_MAX 120

/**
 * @brief Parse `ADDR:PORT`, `[ADDR6]:PORT` or `unix:PATH` into a socket address.
 * @param text NUL-terminated text (borrowed).
 * @param[out] out the address (`sockaddr_in`, `sockaddr_in6` or `sockaddr_un`).
 * @param[out] out_len the address's length (may be NULL).
 * @return 0, -EINVAL (NULL argument), #LB_E_ADDR_SYNTAX, #LB_E_ADDR_PORT, -ENAMETOOLONG
 *         (UNIX path too long).
 * @thread pure
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval LB_E_ADDR_SYNTAX Malformed address
 * @retval LB_E_ADDR_PORT Missing or invalid port
 * @retval ENAMETOOLONG
 */
LB_API int lb_addr_parse(const char *text, struct sockaddr_storage *out, uint32_t *out_len);

/**
 * @brief Write a socket address in the text form lb_addr_parse() reads.
 * @param sa the address (borrowed).
 * @param buf destination, NUL-terminated on success.
 * @param cap size of @p buf (#LB_ADDR_TEXT_MAX is always enough for IP addresses).
 * @return the text length (without NUL), -EINVAL, -EAFNOSUPPORT, -ENOSPC.
 * @thread pure
 * @retval EINVAL Invalid argument
 * @retval EAFNOSUPPORT Address family not supported
 * @retval ENOSPC Not enough room in the caller's buffer
 */
LB_API int lb_addr_format(const struct sockaddr *sa, char *buf, size_t cap);

/** An address range (plain struct; fill it with lb_cidr_parse()). A frozen struct: it has no
 *  struct_size and never changes. */
typedef struct lb_cidr {
    /** `AF_INET` or `AF_INET6`. */
    uint32_t family;
    /** Prefix length in bits: 0..32 or 0..128. */
    uint32_t prefix_len;
    /** The network address in network order (4 or 16 bytes used), host bits zero. */
    uint8_t addr[16];
} lb_cidr;

/**
 * @brief Parse `ADDR/LEN` or a bare `ADDR`.
 * @param text NUL-terminated text (borrowed).
 * @param[out] out the range.
 * @return 0, -EINVAL, #LB_E_ADDR_SYNTAX.
 * @thread pure
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval LB_E_ADDR_SYNTAX Malformed address
 */
LB_API int lb_cidr_parse(const char *text, lb_cidr *out);

/**
 * @brief Does the range contain the address of @p sa (port ignored)?
 * @param cidr the range.
 * @param sa a socket address (borrowed).
 * @return 1 yes, 0 no (also for NULL arguments or another family).
 * @thread pure
 * @retval LB_OK Success
 */
LB_API int lb_cidr_contains(const lb_cidr *cidr, const struct sockaddr *sa);

#ifdef __cplusplus
}
#endif

#endif /* LB_ADDR_H */
