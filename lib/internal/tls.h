/* Shared by lib/tls*.c. Never installed. */
#ifndef LB_INTERNAL_TLS_H
#define LB_INTERNAL_TLS_H

#include <stddef.h>
#include <stdint.h>

/* lb_tls_host_check() over bytes: LB_OK, LB_E_TLS_SNI_INVALID or LB_E_TLS_SNI_IP_LITERAL. */
int lb__tls_host_check(const uint8_t *name, size_t len);

#endif /* LB_INTERNAL_TLS_H */
