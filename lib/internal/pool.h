/* Direct, read-only access to a pool's targets for the selectors that are built from it.
 * Never installed. */
#ifndef LB_INTERNAL_POOL_H
#define LB_INTERNAL_POOL_H

#include "lb/pool.h"

struct lb__target {
    uint32_t id;
    uint32_t weight;
    uint32_t zone;
    uint32_t key_len;
    uint8_t *key;
};

/* The targets in insertion order; valid until the pool changes. */
const struct lb__target *lb__pool_targets(const lb_pool *pool, size_t *count);

/* The index of target @id in lb__pool_targets(), or -1. */
long lb__pool_index_of(const lb_pool *pool, uint32_t id);

/* The pool's targets of weight above zero, sorted by key (lb__key_cmp()): a new array of
 * pointers into the pool (free() it; valid until the pool changes). 0, -ERANGE, -ENOMEM. */
int lb__sorted_targets(const lb_pool *pool, const struct lb__target ***out, uint32_t *count);

#endif /* LB_INTERNAL_POOL_H */
