/* Per-target connection counters in fixed slots, with an id -> slot map owned by one writer.
 * Each counter sits on its own cache line so that threads counting different targets do not
 * share lines. The counter updates themselves are in internal/loads.h, so that selectors in
 * the library can inline them. */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "internal/loads.h"

#define LOADS_MAX (1u << 24)
#define SLOT_FREE UINT32_MAX

static uint32_t map_home(uint32_t id, uint32_t mask)
{
    return (id * 0x9E3779B1u ^ id >> 15) & mask;
}

LB_API int lb_loads_new(lb_loads **out, uint32_t capacity)
{
    return lb_loads_new_ex(out, capacity, 0);
}

LB_API int lb_loads_new_ex(lb_loads **out, uint32_t capacity, uint32_t flags)
{
    if (!out || (flags & ~LB_LOADS_NO_TOTAL))
        return -EINVAL;
    if (capacity == 0 || capacity > LOADS_MAX)
        return -ERANGE;
    lb_loads *l = aligned_alloc(64, sizeof(*l));
    if (!l)
        return -ENOMEM;
    memset(l, 0, sizeof(*l));
    l->capacity = capacity;
    l->keep_total = !(flags & LB_LOADS_NO_TOTAL);
    l->map_cap = 16;
    while (l->map_cap < capacity * 2u)
        l->map_cap *= 2;
    l->slots = aligned_alloc(64, (size_t)capacity * sizeof(struct lb__loads_counter));
    l->map = calloc(l->map_cap, sizeof(uint32_t));
    if (!l->slots || !l->map) {
        lb_loads_free(l);
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < capacity; i++) {
        atomic_init(&l->slots[i].active, 0);
        l->slots[i].id = SLOT_FREE;
    }
    atomic_init(&l->total, 0);
    *out = l;
    return 0;
}

LB_API void lb_loads_free(lb_loads *loads)
{
    if (!loads)
        return;
    free(loads->slots);
    free(loads->map);
    free(loads);
}

/* The map position holding @id, or the first free position when absent (via *free_pos). */
static long map_find(const lb_loads *l, uint32_t id, long *free_pos)
{
    uint32_t mask = l->map_cap - 1;
    long first_tomb = -1;
    for (uint32_t i = map_home(id, mask), n = 0; n < l->map_cap; i = (i + 1) & mask, n++) {
        uint32_t v = l->map[i];
        if (v == 0) {
            if (free_pos)
                *free_pos = first_tomb >= 0 ? first_tomb : (long)i;
            return -1;
        }
        if (v == SLOT_FREE) {
            if (first_tomb < 0)
                first_tomb = (long)i;
            continue;
        }
        if (l->slots[v - 1].id == id)
            return (long)i;
    }
    if (free_pos)
        *free_pos = first_tomb;
    return -1;
}

LB_API int lb_loads_track(lb_loads *loads, uint32_t id, uint32_t *slot)
{
    if (!loads || id == SLOT_FREE)
        return -EINVAL;
    long free_pos = -1;
    long pos = map_find(loads, id, &free_pos);
    if (pos >= 0) {
        if (slot)
            *slot = loads->map[pos] - 1;
        return 0;
    }
    uint32_t s = 0;
    while (s < loads->capacity && loads->slots[s].id != SLOT_FREE)
        s++;
    if (s == loads->capacity || free_pos < 0)
        return -ENOSPC;
    loads->slots[s].id = id;
    atomic_store_explicit(&loads->slots[s].active, 0, memory_order_relaxed);
    loads->map[free_pos] = s + 1;
    if (slot)
        *slot = s;
    return 0;
}

LB_API int lb_loads_untrack(lb_loads *loads, uint32_t id)
{
    if (!loads)
        return -EINVAL;
    long pos = map_find(loads, id, NULL);
    if (pos < 0)
        return -ENOENT;
    uint32_t s = loads->map[pos] - 1;
    uint32_t left = atomic_exchange_explicit(&loads->slots[s].active, 0, memory_order_relaxed);
    if (loads->keep_total)
        atomic_fetch_sub_explicit(&loads->total, left, memory_order_relaxed);
    loads->slots[s].id = SLOT_FREE;
    loads->map[pos] = SLOT_FREE;
    return 0;
}

LB_API int lb_loads_slot(const lb_loads *loads, uint32_t id, uint32_t *slot)
{
    if (!loads || !slot)
        return -EINVAL;
    long pos = map_find(loads, id, NULL);
    if (pos < 0)
        return -ENOENT;
    *slot = loads->map[pos] - 1;
    return 0;
}

LB_API int lb_loads_add(lb_loads *loads, uint32_t slot, int32_t delta, uint32_t *count)
{
    if (!loads || slot >= loads->capacity)
        return -EINVAL;
    uint32_t now;
    int rc = 0;
    if (delta >= 0) {
        now = lb__loads_get(loads, slot);
        if ((uint32_t)delta > UINT32_MAX - now)
            return -EOVERFLOW; /* best effort under races; nothing added */
        now = lb__loads_inc(loads, slot, (uint32_t)delta);
    } else {
        uint32_t dec = (uint32_t)(-(int64_t)delta);
        if (lb__loads_dec(loads, slot, dec, &now) != dec)
            rc = -ERANGE; /* the count was smaller: it stops at zero */
    }
    if (count)
        *count = now;
    return rc;
}

LB_API uint32_t lb_loads_get(const lb_loads *loads, uint32_t slot)
{
    if (!loads || slot >= loads->capacity)
        return 0;
    return atomic_load_explicit(&((lb_loads *)loads)->slots[slot].active, memory_order_relaxed);
}

LB_API uint64_t lb_loads_total(const lb_loads *loads)
{
    if (!loads)
        return 0;
    if (loads->keep_total)
        return atomic_load_explicit(&((lb_loads *)loads)->total, memory_order_relaxed);
    uint64_t sum = 0; /* no running total: add the counters up, one at a time */
    for (uint32_t s = 0; s < loads->capacity; s++)
        sum += atomic_load_explicit(&((lb_loads *)loads)->slots[s].active, memory_order_relaxed);
    return sum;
}

LB_API uint32_t lb_loads_flags(const lb_loads *loads)
{
    return loads && !loads->keep_total ? LB_LOADS_NO_TOTAL : 0;
}

LB_API uint32_t lb_loads_capacity(const lb_loads *loads)
{
    return loads ? loads->capacity : 0;
}
