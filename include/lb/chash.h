/** @file
 * @brief A consistent-hash ring with virtual nodes, and consistent hashing with bounded loads
 *        (Mirrokni, Thorup, Zadimoghaddam, 2018).
 *
 * lb_chash_new() places `weight x points_per_weight` points per target on a 64-bit ring
 * (#LB_CHASH_DEFAULT_POINTS per unit of weight by default; point j of a target is
 * `lb_hash_key(key || j as 4 bytes big-endian, #LB_CHASH_SEED)`). lb_chash_lookup() maps a
 * hash to the owner of the first point at or after it (wrapping), in O(1) expected and
 * O(log P) worst case (a bucket index over the sorted points, then a binary search).
 * Like Maglev, the ring depends only on keys and weights, never on ids or insertion order.
 *
 * **Bounded loads.** lb_chash_pick_bounded() gives a new connection to the hash's target
 * unless that target is full, in which case it walks the ring to the next target with room.
 * With a balance factor c (in percent: 125 means 1.25), L the number of connections counted
 * in the ring's #lb_loads *including the one being placed*, and target i of weight w_i out of
 * a total weight W, target i is full when it already holds `ceil(c * L * w_i / W)`
 * connections (for equal weights: ceil(c x average load)). L is lb_loads_total() of the
 * ring's loads table, so a table shared with targets outside the ring (e.g. draining ones)
 * counts their connections too.
 *
 * The pick increments the chosen target's counter in the #lb_loads given at build time; the
 * caller releases it when the connection ends, with lb_chash_release() on any ring built
 * with the same loads table that still holds the target, or with
 * `lb_loads_add(loads, slot, -1)`. Counts live outside the immutable ring, so they survive
 * rebuilds.
 *
 * **Concurrency.** A pick increments the candidate's counter, then reads the total and keeps
 * the increment only if the new count is within the bound computed from that total; otherwise
 * it takes it back and walks on. A kept connection therefore never exceeds the bound computed
 * from a total that may include the tentative increments of picks running at the same time
 * (at most one per concurrent pick): with r picks in flight besides this one, a target may
 * end up holding `ceil(c * (L + r) * w_i / W)`, i.e. the bound is exceeded by at most
 * `ceil(c * r * w_i / W)` connections, and only when picks race. Sequential picks never
 * exceed it. If every target is full (only possible when picks race or counts were changed
 * from outside), the pick takes the hash's own target.
 *
 * Ownership: the ring copies what it needs from the pool; the #lb_loads is borrowed and must
 * outlive the ring. The caller owns the ring (lb_chash_free()).
 *
 * Threading: a ring is immutable. lb_chash_lookup(), lb_chash_pick_bounded(),
 * lb_chash_release() and the accessors are lock-free and safe from any number of threads at
 * once (the picks update only atomic counters); none allocates.
 */
#ifndef LB_CHASH_H
#define LB_CHASH_H

#include "lb/common.h"
#include "lb/loads.h"
#include "lb/pool.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Default points per unit of weight (as nginx's ketama-style ring). */
#define LB_CHASH_DEFAULT_POINTS 160u

/** The largest number of points a ring may hold. */
#define LB_CHASH_MAX_POINTS (1u << 24)

/** Seed of the point hashes. */
#define LB_CHASH_SEED 0x4c42434841534830ull

/** The default balance factor for lb_chash_pick_bounded(), in percent (1.25). */
#define LB_CHASH_DEFAULT_BALANCE 125u

/** An immutable consistent-hash ring. */
typedef struct lb_chash lb_chash;

/** Options of lb_chash_new(). */
typedef struct lb_chash_options {
    /** Set by the caller to `sizeof(lb_chash_options)`. */
    uint32_t struct_size;
    /** Points per unit of weight, 1..#LB_CHASH_MAX_POINTS; 0 means #LB_CHASH_DEFAULT_POINTS. */
    uint32_t points_per_weight;
    /** Connection counts for lb_chash_pick_bounded() (borrowed; must outlive the ring), or
     *  NULL for a ring used only with lb_chash_lookup(). Every target of weight above zero
     *  must already be tracked in it (lb_loads_track()). */
    lb_loads *loads;
} lb_chash_options;

/**
 * @brief Build a ring from a pool.
 * @param[out] out the new ring, owned by the caller (free with lb_chash_free()).
 * @param pool the targets (borrowed; read only during the call). Targets of weight 0 get no
 *        points.
 * @param opts options (borrowed), or NULL for the defaults and no loads table.
 * @return 0; -EINVAL (NULL argument, bad struct_size); -ERANGE (more than
 *         #LB_CHASH_MAX_POINTS points); -ENOENT (a target not tracked in opts->loads);
 *         -ENOMEM. A pool with no target of weight above zero gives an empty ring.
 * @thread writer
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval ERANGE Value out of range
 * @retval ENOENT No such entry
 * @retval ENOMEM Out of memory
 * @retval LB_E_STRUCT_SIZE A struct's size is below the first release's (doc/ABI.md)
 * @retval LB_E_STRUCT_TOO_NEW A newer caller's struct sets fields this library does not know
 */
LB_API LB_NODISCARD int lb_chash_new(lb_chash **out, const lb_pool *pool,
                                     const lb_chash_options *opts);

/**
 *  @brief Free a ring. NULL is a no-op.
 * @thread exclusive
 */
LB_API void lb_chash_free(lb_chash *ring);

/**
 * @brief The target owning the first point at or after @p hash (wrapping around).
 * @param ring the ring (NULL gives #LB_NO_TARGET).
 * @param hash a 64-bit hash (lb/hash.h).
 * @return the target id, or #LB_NO_TARGET for an empty ring.
 * @thread reader
 */
LB_API uint32_t lb_chash_lookup(const lb_chash *ring, uint64_t hash);

/**
 * @brief Pick a target for a new connection with bounded loads, and count the connection.
 * @param ring the ring, built with a loads table.
 * @param hash a 64-bit hash of the flow or affinity key.
 * @param balance_pct the balance factor c in percent, 100..100000 (125 = 1.25).
 * @param[out] target_id the chosen target; its count was incremented: release it with
 *        lb_chash_release() when the connection ends.
 * @return 0; -EINVAL (NULL argument, a ring without loads table, balance_pct out of range);
 *         #LB_E_NO_TARGET (empty ring).
 * @thread reader
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval LB_E_NO_TARGET No eligible target
 */
LB_API int lb_chash_pick_bounded(const lb_chash *ring, uint64_t hash, uint32_t balance_pct,
                                 uint32_t *target_id);

/**
 * @brief Release a connection counted by lb_chash_pick_bounded() (decrements its counter).
 * @param ring a ring built with the same loads table and holding the target.
 * @param target_id the target.
 * @return 0, -EINVAL (NULL ring or no loads table), -ENOENT (target not in this ring),
 *         -ERANGE (its count was already 0: nothing to release).
 * @thread reader
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval ENOENT No such entry
 * @retval ERANGE Value out of range
 */
LB_API int lb_chash_release(const lb_chash *ring, uint32_t target_id);

/**
 * @brief The bounded-load capacity of a target: `ceil(balance_pct * load * w / (100 * W))`.
 * @param ring the ring.
 * @param target_id the target.
 * @param balance_pct the balance factor in percent (100..100000).
 * @param load the total load L, counting the connection being placed.
 * @param[out] bound the most connections the target may hold.
 * @return 0, -EINVAL, -ENOENT (target not in this ring).
 * @thread reader
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval ENOENT No such entry
 */
LB_API int lb_chash_bound(const lb_chash *ring, uint32_t target_id, uint32_t balance_pct,
                          uint64_t load, uint64_t *bound);

/**
 *  @brief The number of points on the ring (0 for NULL).
 * @thread reader
 */
LB_API size_t lb_chash_point_count(const lb_chash *ring);

/**
 *  @brief The number of targets on the ring (those of weight above zero; 0 for NULL).
 * @thread reader
 */
LB_API size_t lb_chash_target_count(const lb_chash *ring);

/**
 * @brief The target at position @p index of the ring's list (sorted by key).
 * @param ring the ring.
 * @param index 0 .. lb_chash_target_count() - 1.
 * @param[out] id its id (may be NULL).
 * @param[out] weight its weight (may be NULL).
 * @param[out] points its number of points (may be NULL).
 * @return 0, -EINVAL, -ENOENT (index out of range).
 * @thread reader
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval ENOENT No such entry
 */
LB_API int lb_chash_target_at(const lb_chash *ring, size_t index, uint32_t *id, uint32_t *weight,
                              uint32_t *points);

#ifdef __cplusplus
}
#endif

#endif /* LB_CHASH_H */
