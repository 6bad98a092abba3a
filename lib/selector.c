/* The one registration table of the balancer's selectors, and the algorithm names the
 * library exports from it. Adding an algorithm: its enum lb_algorithm value, its selector
 * (struct lb__selector in its own source file) and one line here (doc/architecture.md,
 * "Adding a selector"). */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "internal/selector.h"
#include "internal/util.h"
#include "lb/balancer.h"

LB__TLS uint32_t lb__tl_stripe;

uint32_t lb__stripe_assign(void)
{
    static _Atomic uint32_t next;
    uint32_t s = atomic_fetch_add_explicit(&next, 1, memory_order_relaxed) % LB__STRIPES;
    lb__tl_stripe = s + 1;
    return s;
}

/* Indexed by enum lb_algorithm: dense values from 0. */
static const struct lb__selector *const selectors[] = {
    [LB_ALG_MAGLEV] = &lb__sel_maglev,
    [LB_ALG_RING] = &lb__sel_ring,
    [LB_ALG_RING_BOUNDED] = &lb__sel_ring_bounded,
    [LB_ALG_WRR] = &lb__sel_wrr,
    [LB_ALG_LEASTCONN] = &lb__sel_leastconn,
    [LB_ALG_P2C] = &lb__sel_p2c,
    [LB_ALG_RENDEZVOUS] = &lb__sel_rendezvous,
};

const struct lb__selector *lb__selector_of(uint32_t algorithm)
{
    return algorithm < LB_ARRAY_LEN(selectors) ? selectors[algorithm] : NULL;
}

LB_API size_t lb_algorithm_count(void)
{
    return LB_ARRAY_LEN(selectors);
}

LB_API int lb_algorithm_at(size_t index, uint32_t *value)
{
    if (!value)
        return -EINVAL;
    if (index >= LB_ARRAY_LEN(selectors))
        return -ERANGE;
    *value = (uint32_t)index;
    return LB_OK;
}

LB_API const char *lb_algorithm_name(uint32_t algorithm)
{
    const struct lb__selector *s = lb__selector_of(algorithm);
    return s ? s->name : "unknown";
}

LB_API int lb_algorithm_from_name(const char *name, uint32_t *value)
{
    if (!name || !value)
        return -EINVAL;
    for (uint32_t a = 0; a < LB_ARRAY_LEN(selectors); a++) {
        if (!strcmp(selectors[a]->name, name)) {
            *value = a;
            return LB_OK;
        }
    }
    return LB_E_BALANCER_CONFIG;
}
