/** @file
 * @brief Smooth weighted round robin over a pool, for many threads at once.
 *
 * A selector hands out its targets in proportion to their weights, interleaved rather than
 * in bursts: it produces exactly nginx's smooth weighted round robin sequence (weights
 * {5, 1, 1} give `a a b a c a a`, never `a a a a a b c`). Over every full cycle of a freshly
 * built selector (the sum of the weights, in picks) each target is picked exactly its
 * weight's times.
 *
 * nginx's rule (doc/stateful-selectors.md): at each pick every target's current weight grows
 * by its weight, the largest current weight wins (ties: pool order) and loses the sum of the
 * weights. nginx scans every target; here the current weights are lines in the pick number,
 * kept in a kinetic tournament tree that only revisits a node when two of its lines cross:
 * O(log n) per pick plus the crossings it processes (measured about as many instructions per
 * pick at 100,000 targets as at 1,000). A generator computes the schedule in chunks of
 * #LB_WRR_CHUNK picks a few chunks ahead of the picks; a pick takes a ticket with one atomic
 * fetch-and-add and reads its entry. Targets with weight 0 are never picked.
 *
 * Changes (weights, adds, removals) build a new selector from the changed pool, passing the
 * old one as lb_wrr_options::prev: every surviving target keeps its lag (its progress), a new
 * target starts level, and nobody else is reset. A seed starts each fresh instance at a
 * different point of the cycle, so a fleet of balancers does not pick in lock-step.
 *
 * Threading: lb_wrr_pick() may be called from any number of threads at once on one selector.
 * lb_wrr_new() with `prev` may run while other threads pick from `prev` (one such build per
 * `prev` at a time). lb_wrr_free() must not overlap any other call on the same selector.
 * The accessors are safe at any time. A selector never changes its set of targets, so it can
 * never return a target that was removed from its pool before it was built; the owner swaps
 * selectors (for example inside an immutable snapshot) and frees the old one once no thread
 * can still be picking from it.
 *
 * Progress: a pick is one fetch-and-add and two loads; once every #LB_WRR_CHUNK picks one
 * picker also generates the chunk a few chunks ahead (under a try-lock that no other picker
 * waits for). A picker only waits when the generator is a whole look-ahead behind, that is
 * when the thread generating has been descheduled for thousands of picks. A picker that is
 * itself descheduled while 30 chunks are handed out loses its entry and takes a new ticket
 * (counted by lb_wrr_skipped()); otherwise the picks of all threads together are exactly the
 * single-threaded schedule.
 */
#ifndef LB_WRR_H
#define LB_WRR_H

#include "lb/common.h"
#include "lb/pool.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Picks per generated chunk of the schedule. */
#define LB_WRR_CHUNK 1024

/** An opaque smooth weighted round robin selector. */
typedef struct lb_wrr lb_wrr;

/** Options for lb_wrr_new(); NULL means all defaults. */
typedef struct lb_wrr_options {
    /** Set by the caller to `sizeof(lb_wrr_options)`. */
    uint32_t struct_size;
    /** Reserved, must be 0. */
    uint32_t reserved0;
    /** Start offset seed (ignored when @ref prev is set): a fresh selector starts
     *  `seed`-dependent picks (fewer than min(cycle, 65536)) into its cycle. Default 0 starts
     *  at the beginning. */
    uint64_t seed;
    /** A selector to continue from (borrowed for the call; may be picked from meanwhile), or
     *  NULL. Targets present in both keep their lag; the rest start level. */
    lb_wrr *prev;
} lb_wrr_options;

/**
 * @brief Build a selector from the targets of @p pool (copied; the pool may change after).
 * @param[out] out the selector, owned by the caller (free with lb_wrr_free()).
 * @param pool the targets (borrowed). An empty pool, or one where every weight is 0, gives a
 *        selector whose picks return #LB_E_SELECTOR_EMPTY.
 * @param opts options (borrowed), or NULL for defaults.
 * @return 0, -EINVAL (NULL @p out or @p pool, or a bad struct_size), -ENOMEM.
 * @thread writer
 * @mayblock
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval LB_E_STRUCT_SIZE A struct's size is below the first release's (doc/ABI.md)
 * @retval LB_E_STRUCT_TOO_NEW A newer caller's struct sets fields this library does not know
 */
LB_API LB_NODISCARD int lb_wrr_new(lb_wrr **out, const lb_pool *pool, const lb_wrr_options *opts);

/**
 *  @brief Free a selector. NULL is a no-op. No other call may run on it meanwhile.
 * @thread exclusive
 */
LB_API void lb_wrr_free(lb_wrr *wrr);

/**
 * @brief Take the next target of the schedule. Lock-free on its fast path, never allocates.
 * @param wrr the selector.
 * @param[out] id the target's id.
 * @return 0, -EINVAL (NULL argument), #LB_E_SELECTOR_EMPTY (no target with a weight above 0).
 * @thread reader
 * @mayblock
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval LB_E_SELECTOR_EMPTY No target with a weight above zero
 */
LB_API LB_NODISCARD int lb_wrr_pick(lb_wrr *wrr, uint32_t *id);

/**
 *  @brief The length of a full cycle in picks: the sum of the weights (0 for NULL).
 * @thread reader
 */
LB_API uint64_t lb_wrr_cycle(const lb_wrr *wrr);

/**
 * @brief How many schedule entries were skipped: a picker descheduled while 30 whole chunks
 *        (30 x #LB_WRR_CHUNK picks) were handed out by other threads finds its entry
 *        overwritten and takes the next ticket instead, so its entry is never handed out.
 *        0 whenever picks do not overlap (0 for NULL).
 * @param wrr the selector.
 * @thread reader
 */
LB_API uint64_t lb_wrr_skipped(const lb_wrr *wrr);

/**
 *  @brief The number of targets that can be picked (weight above 0; 0 for NULL).
 * @thread reader
 */
LB_API size_t lb_wrr_count(const lb_wrr *wrr);

#ifdef __cplusplus
}
#endif

#endif /* LB_WRR_H */
