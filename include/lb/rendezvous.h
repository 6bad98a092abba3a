/** @file
 * @brief Weighted rendezvous hashing (highest random weight, the formulation Ceph calls
 *        straw2): same flow, same target, on every machine; when one target's weight changes
 *        or a target comes or goes, only the flows that move to or from that target move.
 *
 * lb_rendezvous_build() takes the targets of weight above zero from a pool, sorted by key.
 * lb_rendezvous_lookup() scores every target with a hash of (flow hash, target key) and the
 * target's weight and returns the best: O(N) per lookup, no table. Each target wins a share of
 * the flows equal to its share of the total weight (in expectation). The scores use integer
 * arithmetic only: doc/rendezvous.md specifies them completely, the result is the same on
 * every platform and in every language, and tests/data/rendezvous_vectors.txt pins it.
 *
 * Ownership: the selector copies what it needs from the pool; the pool may change or be freed
 * afterwards. The caller owns the selector and frees it with lb_rendezvous_free().
 *
 * Threading: a built selector is immutable. Every function taking a `const lb_rendezvous *`
 * is safe from any number of threads at once, with no lock; none of them allocates.
 */
#ifndef LB_RENDEZVOUS_H
#define LB_RENDEZVOUS_H

#include "lb/common.h"
#include "lb/pool.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Seed of the hash of a target's key (doc/rendezvous.md). */
#define LB_RENDEZVOUS_SEED_KEY 0x52454e44455a5631ull

/** An immutable weighted rendezvous selector. */
typedef struct lb_rendezvous lb_rendezvous;

/**
 * @brief Build a selector from a pool.
 * @param[out] out the new selector, owned by the caller (free with lb_rendezvous_free()).
 * @param pool the targets (borrowed; read only during the call).
 * @return 0 or a negative code. A pool with no target of weight above zero gives an empty
 *         selector, whose lookups return #LB_NO_TARGET.
 * @retval LB_OK built.
 * @retval EINVAL NULL argument.
 * @retval ENOMEM out of memory.
 * @thread exclusive
 */
LB_API LB_NODISCARD int lb_rendezvous_build(lb_rendezvous **out, const lb_pool *pool);

/**
 * @brief Free a selector. NULL is a no-op.
 * @param r the selector.
 * @thread exclusive
 */
LB_API void lb_rendezvous_free(lb_rendezvous *r);

/**
 * @brief The id of the target with the best score for @p flow_hash. O(N), never allocates.
 * @param r the selector (NULL gives #LB_NO_TARGET).
 * @param flow_hash a 64-bit flow hash (lb/hash.h).
 * @return the target id, or #LB_NO_TARGET for an empty selector.
 * @thread reader
 */
LB_API uint32_t lb_rendezvous_lookup(const lb_rendezvous *r, uint64_t flow_hash);

/**
 * @brief Like lb_rendezvous_lookup(), but returns the winner's index in the selector's target
 *        list (sorted by key; 0 .. lb_rendezvous_target_count() - 1).
 * @param r the selector (NULL gives #LB_NO_TARGET).
 * @param flow_hash a 64-bit flow hash.
 * @return the index, or #LB_NO_TARGET for an empty selector.
 * @thread reader
 */
LB_API uint32_t lb_rendezvous_lookup_index(const lb_rendezvous *r, uint64_t flow_hash);

/**
 * @brief The number of targets (those of weight above zero).
 * @param r the selector (NULL gives 0).
 * @return the count.
 * @thread reader
 */
LB_API size_t lb_rendezvous_target_count(const lb_rendezvous *r);

/**
 * @brief The target at position @p index of the selector's list (sorted by key).
 * @param r the selector.
 * @param index 0 .. lb_rendezvous_target_count() - 1.
 * @param[out] id the target's id (may be NULL).
 * @param[out] weight its weight (may be NULL).
 * @return 0 or a negative code.
 * @retval LB_OK stored.
 * @retval EINVAL NULL selector.
 * @retval ENOENT @p index out of range.
 * @thread reader
 */
LB_API int lb_rendezvous_target_at(const lb_rendezvous *r, size_t index, uint32_t *id,
                                   uint32_t *weight);

/**
 * @brief The draw of target @p index for @p flow_hash: L = 48 * 2^32 - log2fix(u), the
 *        fixed-point value doc/rendezvous.md defines (the lowest L / weight wins). For tests,
 *        tools and other implementations checking theirs.
 * @param r the selector.
 * @param index 0 .. lb_rendezvous_target_count() - 1.
 * @param flow_hash a 64-bit flow hash.
 * @return L (below 2^38), or UINT64_MAX for a NULL selector or an index out of range.
 * @thread reader
 */
LB_API uint64_t lb_rendezvous_draw(const lb_rendezvous *r, size_t index, uint64_t flow_hash);

#ifdef __cplusplus
}
#endif

#endif /* LB_RENDEZVOUS_H */
