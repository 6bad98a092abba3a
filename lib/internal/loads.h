/* The lb_loads table's layout and its counter updates, inlined by the library's selectors
 * (least connections) on their hot paths. Internal: not installed, not exported. */
#ifndef LB_INTERNAL_LOADS_H
#define LB_INTERNAL_LOADS_H

#include <stdatomic.h>

#include "lb/loads.h"

struct lb__loads_counter {
    _Atomic uint32_t active;
    uint32_t id; /* UINT32_MAX when the slot is unused (writer-owned) */
    char pad[64 - 2 * sizeof(uint32_t)];
};

struct lb_loads {
    struct lb__loads_counter *slots;
    uint32_t capacity;
    int keep_total; /* 0 with LB_LOADS_NO_TOTAL */
    uint32_t *map;  /* open addressing: slot + 1, 0 = empty; tombstone = UINT32_MAX */
    uint32_t map_cap;
    _Alignas(64) _Atomic uint64_t total; /* its own line: counters and map are read-mostly */
};

/* Adds @delta to a slot in range; returns the new count. */
static inline uint32_t lb__loads_inc(lb_loads *l, uint32_t slot, uint32_t delta)
{
    if (l->keep_total)
        atomic_fetch_add_explicit(&l->total, delta, memory_order_relaxed);
    return atomic_fetch_add_explicit(&l->slots[slot].active, delta, memory_order_relaxed) + delta;
}

/* Takes up to @dec from a slot in range, never below zero; returns how much was taken and
 * stores the new count in *now. */
static inline uint32_t lb__loads_dec(lb_loads *l, uint32_t slot, uint32_t dec, uint32_t *now)
{
    _Atomic uint32_t *c = &l->slots[slot].active;
    uint32_t cur = atomic_load_explicit(c, memory_order_relaxed), take;
    do {
        take = cur < dec ? cur : dec;
        if (!take)
            break;
    } while (!atomic_compare_exchange_weak_explicit(c, &cur, cur - take, memory_order_relaxed,
                                                    memory_order_relaxed));
    if (take && l->keep_total)
        atomic_fetch_sub_explicit(&l->total, take, memory_order_relaxed);
    *now = cur - take;
    return take;
}

/* Takes one connection from a slot in range; returns 1, or 0 when its count was already 0. */
static inline int lb__loads_release(lb_loads *l, uint32_t slot)
{
    uint32_t now;
    return lb__loads_dec(l, slot, 1, &now) != 0;
}

static inline uint32_t lb__loads_get(const lb_loads *l, uint32_t slot)
{
    return atomic_load_explicit(&((lb_loads *)l)->slots[slot].active, memory_order_relaxed);
}

#endif /* LB_INTERNAL_LOADS_H */
