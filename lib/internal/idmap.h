/* The one id -> index map of liblb's selectors and snapshots: open addressing over a power of
 * two of slots holding index + 1 (0: empty), probed linearly from lb__id_home(). The ids live
 * in the caller's array (any element stride), so the map stores only indexes. Built once,
 * read-only afterwards (lb_pool and lb_loads, whose maps change, use the same home slot).
 * Never installed. */
#ifndef LB_INTERNAL_IDMAP_H
#define LB_INTERNAL_IDMAP_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* The home slot of @id in a table of mask + 1 slots: a Fibonacci multiply folded with the
 * high bits, so that both sequential and strided ids spread. */
static inline uint32_t lb__id_home(uint32_t id, uint32_t mask)
{
    return (id * 0x9E3779B1u ^ id >> 15) & mask;
}

struct lb__idmap {
    uint32_t *slot; /* index + 1, 0 empty */
    uint32_t mask;
};

/* The id of element @i of an array of elements @stride bytes apart, each starting with (or
 * holding at offset 0) a uint32_t id. */
static inline uint32_t lb__idmap_id(const void *base, size_t stride, uint32_t i)
{
    return *(const uint32_t *)(const void *)((const unsigned char *)base + stride * i);
}

/* Build the map of the @n ids in @base (ids unique). 0 or -ENOMEM. */
static inline int lb__idmap_build(struct lb__idmap *m, const void *base, size_t stride, uint32_t n)
{
    uint32_t cap = 8;
    while (cap < 2 * (uint64_t)n)
        cap *= 2;
    m->mask = cap - 1;
    m->slot = calloc(cap, sizeof(uint32_t));
    if (!m->slot)
        return -ENOMEM;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t h = lb__id_home(lb__idmap_id(base, stride, i), m->mask);
        while (m->slot[h])
            h = (h + 1) & m->mask;
        m->slot[h] = i + 1;
    }
    return 0;
}

/* The index of @id, or -1. O(1) expected; never allocates. */
static inline long lb__idmap_find(const struct lb__idmap *m, const void *base, size_t stride,
                                  uint32_t id)
{
    if (!m->slot)
        return -1;
    for (uint32_t h = lb__id_home(id, m->mask);; h = (h + 1) & m->mask) {
        uint32_t v = m->slot[h];
        if (!v)
            return -1;
        if (lb__idmap_id(base, stride, v - 1) == id)
            return (long)(v - 1);
    }
}

static inline void lb__idmap_free(struct lb__idmap *m)
{
    free(m->slot);
    m->slot = NULL;
}

#endif /* LB_INTERNAL_IDMAP_H */
