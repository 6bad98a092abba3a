/** @file
 * @brief Per-target connection counts that outlive selector rebuilds.
 *
 * Least-connections picks and bounded-load hashing both need each target's number of active
 * connections, and those counts must survive every rebuild of a selector (a Maglev table or a
 * ring is immutable; the counts change on every connection). An `lb_loads` holds one atomic
 * counter per tracked target id, in a fixed number of slots, plus their total (a running
 * total, unless the table is made with #LB_LOADS_NO_TOTAL).
 *
 * A writer (the thread that builds selectors) gives each target id a slot with
 * lb_loads_track(); selectors look the slot up once, at build time, with lb_loads_slot() and
 * keep it, so that picks touch only the counter. Slots are reused after lb_loads_untrack():
 * untrack an id only once no selector that holds its slot can still be used.
 *
 * Cost: lb_loads_add() is one atomic read-modify-write on the slot's counter plus one on the
 * shared running total. A table whose total nobody needs often (least connections alone; not
 * bounded-load hashing, which reads the total on every pick) can be made with
 * lb_loads_new_ex() and #LB_LOADS_NO_TOTAL: its updates touch only the counter, and
 * lb_loads_total() adds the counters up instead (O(capacity)).
 *
 * Threading: lb_loads_add(), lb_loads_get() and lb_loads_total() are lock-free and safe
 * from any number of threads at once. lb_loads_track(), lb_loads_untrack() and
 * lb_loads_slot() must not run concurrently with each other (one writer), but may run while
 * other threads update counters.
 */
#ifndef LB_LOADS_H
#define LB_LOADS_H

#include "lb/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** An opaque table of per-target counters. */
typedef struct lb_loads lb_loads;

/**
 * @brief Create a table with room for @p capacity target ids at once.
 * @param[out] out the table, owned by the caller (free with lb_loads_free()).
 * @param capacity 1..16,777,216 slots.
 * @return 0, -EINVAL, -ERANGE, -ENOMEM.
 * @thread pure
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval ERANGE Value out of range
 * @retval ENOMEM Out of memory
 */
LB_API LB_NODISCARD int lb_loads_new(lb_loads **out, uint32_t capacity);

/** lb_loads_new_ex() flag: keep no running total (lb_loads_add() touches only the counter;
 *  lb_loads_total() sums the counters, O(capacity), each read at a slightly different time). */
#define LB_LOADS_NO_TOTAL 1u

/**
 * @brief Create a table with options: lb_loads_new() is `lb_loads_new_ex(out, capacity, 0)`.
 * @param[out] out the table, owned by the caller (free with lb_loads_free()).
 * @param capacity 1..16,777,216 slots.
 * @param flags 0 or #LB_LOADS_NO_TOTAL.
 * @return 0, -EINVAL (NULL @p out or an unknown flag), -ERANGE, -ENOMEM.
 * @thread pure
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 */
LB_API LB_NODISCARD int lb_loads_new_ex(lb_loads **out, uint32_t capacity, uint32_t flags);

/**
 *  @brief The flags @p loads was made with (#LB_LOADS_NO_TOTAL or 0; 0 for NULL).
 * @thread reader
 */
LB_API uint32_t lb_loads_flags(const lb_loads *loads);

/**
 *  @brief Free a table. NULL is a no-op.
 * @thread exclusive
 */
LB_API void lb_loads_free(lb_loads *loads);

/**
 * @brief Give target @p id a counter (idempotent: an id already tracked keeps its slot).
 * @param loads the table.
 * @param id the target id.
 * @param[out] slot the id's slot (may be NULL).
 * @return 0, -EINVAL, -ENOSPC (every slot taken).
 * @thread writer
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval ENOSPC Not enough room in the caller's buffer
 */
LB_API int lb_loads_track(lb_loads *loads, uint32_t id, uint32_t *slot);

/**
 * @brief Free target @p id's slot for reuse. Its count is forgotten (and leaves the total).
 * @param loads the table.
 * @param id the target id.
 * @return 0, -EINVAL, -ENOENT (id not tracked).
 * @thread writer
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval ENOENT No such entry
 */
LB_API int lb_loads_untrack(lb_loads *loads, uint32_t id);

/**
 * @brief The slot of a tracked target id.
 * @param loads the table.
 * @param id the target id.
 * @param[out] slot the slot.
 * @return 0, -EINVAL, -ENOENT.
 * @thread writer
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval ENOENT No such entry
 */
LB_API int lb_loads_slot(const lb_loads *loads, uint32_t id, uint32_t *slot);

/**
 * @brief Add @p delta (+1 for a new connection, -1 for a closed one) to a slot's count.
 *        A count never goes below zero: a decrement larger than the count takes it to zero
 *        and returns -ERANGE (a release without a matching pick).
 * @param loads the table.
 * @param slot a slot returned by lb_loads_track() or lb_loads_slot().
 * @param delta the change.
 * @param[out] count the new count (may be NULL); set on 0 and on -ERANGE.
 * @return 0, -EINVAL (NULL @p loads or @p slot out of range), -ERANGE (the count was smaller
 *         than the decrement), -EOVERFLOW (the count would pass UINT32_MAX; nothing added).
 * @thread reader
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 */
LB_API int lb_loads_add(lb_loads *loads, uint32_t slot, int32_t delta, uint32_t *count);

/**
 * @brief A slot's current count (0 for a slot out of range).
 * @param loads the table.
 * @param slot the slot.
 * @thread reader
 */
LB_API uint32_t lb_loads_get(const lb_loads *loads, uint32_t slot);

/**
 *  @brief The sum of every tracked count in @p loads: the running total, or with
 *         #LB_LOADS_NO_TOTAL the counters added up one by one (O(capacity)).
 * @thread reader
 */
LB_API uint64_t lb_loads_total(const lb_loads *loads);

/**
 *  @brief The number of slots of @p loads (its capacity).
 * @thread reader
 */
LB_API uint32_t lb_loads_capacity(const lb_loads *loads);

#ifdef __cplusplus
}
#endif

#endif /* LB_LOADS_H */
