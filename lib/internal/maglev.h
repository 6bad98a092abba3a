/* Helpers shared by the hash-based selectors (maglev.c, chash.c). Never installed. */
#ifndef LB_INTERNAL_MAGLEV_H
#define LB_INTERNAL_MAGLEV_H

#include <stddef.h>
#include <stdint.h>

#include "internal/pool.h"

/* 1 if @n is prime (trial division; n < 2^32). */
int lb__is_prime(uint32_t n);

/* Key order: bytewise unsigned comparison, a proper prefix sorts first. */
int lb__key_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);

/* The pool's targets of weight above zero, sorted by key: a new array of pointers into the
 * pool (free() it; valid until the pool changes). */
int lb__sorted_targets(const lb_pool *pool, const struct lb__target ***out, uint32_t *count);

/* Target id -> index in a selector's sorted list, as an array sorted by id. */
struct lb__id_index {
    uint32_t id;
    uint32_t index;
};

/* A new array mapping the ids of @sorted[0..n) to their positions (free() it), or NULL. */
struct lb__id_index *lb__id_index_new(const struct lb__target *const *sorted, uint32_t n);

/* The index of @id, or -1 when absent. O(log n). */
long lb__id_index_find(const struct lb__id_index *map, uint32_t n, uint32_t id);

#endif /* LB_INTERNAL_MAGLEV_H */
