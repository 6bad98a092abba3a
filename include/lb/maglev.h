/** @file
 * @brief Maglev lookup tables (Eisenbud et al., NSDI 2016): same flow, same target, on every
 *        machine, with minimal disruption when targets change.
 *
 * lb_maglev_build() turns a pool into an immutable table of M slots (M prime, default
 * #LB_MAGLEV_DEFAULT_SIZE), each owned by one target, in proportion to the targets' weights.
 * lb_maglev_lookup() maps a 64-bit flow hash (from lb/hash.h) to the owner of its slot in O(1).
 * The construction is a pure function of the targets' keys, their weights and M: it does not
 * depend on target ids, on the order targets were added, on the machine or on the language.
 * doc/maglev.md specifies it completely; tests/data/maglev_vectors.txt pins it.
 *
 * Targets of weight 0 own no slot and are not part of the table. The table's own target list
 * (used by the `_index` and `_at` calls) holds the targets of weight above zero, sorted by key.
 *
 * Affinity is a choice of flow hash: `lb_maglev_lookup(t, lb_hash_flow4(...))` for per-flow
 * placement, `lb_maglev_lookup(t, lb_hash_src4(addr, seed))` (or lb_hash_src6()) for source-IP
 * stickiness, `lb_maglev_lookup(t, lb_hash_key(cookie, len, seed))` for arbitrary key bytes.
 *
 * Ownership: the table copies what it needs from the pool; the pool may change or be freed
 * afterwards. The caller owns the table and frees it with lb_maglev_free().
 *
 * Threading: a built table is immutable. Every function taking a `const lb_maglev *` is safe
 * from any number of threads at once, with no lock; none of them allocates. Free a table only
 * once no thread can still look it up (e.g. after publishing its replacement and a grace
 * period).
 */
#ifndef LB_MAGLEV_H
#define LB_MAGLEV_H

#include "lb/common.h"
#include "lb/pool.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The default table size: a prime, over 100 times 500 targets. */
#define LB_MAGLEV_DEFAULT_SIZE 65537u

/** The largest table size accepted (the largest prime below 2^24). */
#define LB_MAGLEV_MAX_SIZE 16777213u

/** Seed of the hash that gives a target its offset (doc/maglev.md). */
#define LB_MAGLEV_SEED_OFFSET 0x4d41474c45563031ull

/** Seed of the hash that gives a target its skip (doc/maglev.md). */
#define LB_MAGLEV_SEED_SKIP 0x4d41474c45563032ull

/** Seed of the table digest (doc/maglev.md). */
#define LB_MAGLEV_SEED_DIGEST 0x4d41474c45564447ull

/** An immutable Maglev lookup table. */
typedef struct lb_maglev lb_maglev;

/**
 * @brief Build a table from a pool.
 * @param[out] out the new table, owned by the caller (free with lb_maglev_free()).
 * @param pool the targets (borrowed; read only during the call).
 * @param table_size M: a prime from 2 to #LB_MAGLEV_MAX_SIZE, at least the number of targets
 *        of weight above zero (#LB_MAGLEV_DEFAULT_SIZE is a good default; the paper advises
 *        M > 100 N).
 * @return 0; -EINVAL (NULL argument); -ERANGE (size below 2 or above #LB_MAGLEV_MAX_SIZE);
 *         #LB_E_MAGLEV_NOT_PRIME; #LB_E_MAGLEV_TOO_SMALL (fewer slots than weighted targets);
 *         -ENOMEM. A pool with no target of weight above zero gives an empty table, whose
 *         lookups return #LB_NO_TARGET.
 * @thread pure
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval ERANGE Value out of range
 * @retval LB_E_MAGLEV_NOT_PRIME Maglev table size is not prime
 * @retval LB_E_MAGLEV_TOO_SMALL Maglev table size is smaller than the number of weighted targets
 * @retval ENOMEM Out of memory
 */
LB_API LB_NODISCARD int lb_maglev_build(lb_maglev **out, const lb_pool *pool, uint32_t table_size);

/**
 *  @brief Free a table. NULL is a no-op.
 * @thread exclusive
 */
LB_API void lb_maglev_free(lb_maglev *table);

/**
 * @brief The id of the target owning the slot of @p flow_hash. O(1), never allocates.
 * @param table the table (NULL gives #LB_NO_TARGET).
 * @param flow_hash a 64-bit flow hash (lb/hash.h); its slot is
 *        `floor(flow_hash * M / 2^64)`.
 * @return the target id, or #LB_NO_TARGET for an empty table.
 * @thread reader
 */
LB_API uint32_t lb_maglev_lookup(const lb_maglev *table, uint64_t flow_hash);

/**
 * @brief Like lb_maglev_lookup(), but returns the owner's index in the table's target list
 *        (0 .. lb_maglev_target_count() - 1): a dense index for per-target arrays.
 * @param table the table (NULL gives #LB_NO_TARGET).
 * @param flow_hash a 64-bit flow hash.
 * @return the index, or #LB_NO_TARGET for an empty table.
 * @thread reader
 */
LB_API uint32_t lb_maglev_lookup_index(const lb_maglev *table, uint64_t flow_hash);

/**
 *  @brief The table size M (0 for NULL).
 * @thread reader
 */
LB_API uint32_t lb_maglev_size(const lb_maglev *table);

/**
 *  @brief The number of targets in the table (those of weight above zero; 0 for NULL).
 * @thread reader
 */
LB_API size_t lb_maglev_target_count(const lb_maglev *table);

/**
 * @brief The target at position @p index of the table's list (sorted by key).
 * @param table the table.
 * @param index 0 .. lb_maglev_target_count() - 1.
 * @param[out] id the target's id (may be NULL).
 * @param[out] weight its weight (may be NULL).
 * @param[out] entries the number of slots it owns (may be NULL).
 * @return 0, -EINVAL (NULL table), -ENOENT (index out of range).
 * @thread reader
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval ENOENT No such entry
 */
LB_API int lb_maglev_target_at(const lb_maglev *table, size_t index, uint32_t *id, uint32_t *weight,
                               uint32_t *entries);

/**
 * @brief The position of target @p id in the table's list. O(log N).
 * @param table the table.
 * @param id a target id.
 * @param[out] index its index.
 * @return 0, -EINVAL, -ENOENT (not in the table, e.g. of weight 0).
 * @thread reader
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval ENOENT No such entry
 */
LB_API int lb_maglev_index_of(const lb_maglev *table, uint32_t id, uint32_t *index);

/**
 * @brief The number of slots target @p id owns. O(log N).
 * @param table the table.
 * @param id a target id.
 * @param[out] entries the slot count.
 * @return 0, -EINVAL, -ENOENT (not in the table, e.g. of weight 0).
 * @thread reader
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval ENOENT No such entry
 */
LB_API int lb_maglev_entries(const lb_maglev *table, uint32_t id, uint32_t *entries);

/**
 * @brief The id of the owner of slot @p slot.
 * @param table the table.
 * @param slot 0 .. M - 1.
 * @return the id, or #LB_NO_TARGET for a NULL or empty table or a slot out of range.
 * @thread reader
 */
LB_API uint32_t lb_maglev_slot_owner(const lb_maglev *table, uint32_t slot);

/**
 * @brief The number of slots whose owner id differs between two tables of the same size
 *        (the disruption of going from one to the other).
 * @param a a table.
 * @param b another table.
 * @param[out] slots_changed the count.
 * @return 0, -EINVAL (NULL argument or different sizes).
 * @thread reader
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 */
LB_API int lb_maglev_diff(const lb_maglev *a, const lb_maglev *b, uint32_t *slots_changed);

/**
 * @brief The table's 64-bit digest (doc/maglev.md): equal on every machine that holds the
 *        same table (same keys, weights, size). Computed at build time; O(1).
 * @param table the table (NULL gives 0).
 * @thread reader
 */
LB_API uint64_t lb_maglev_digest(const lb_maglev *table);

/**
 *  @brief #LB_MAGLEV_DEFAULT_SIZE, as a function for bindings.
 * @thread pure
 */
LB_API uint32_t lb_maglev_default_size(void);

#ifdef __cplusplus
}
#endif

#endif /* LB_MAGLEV_H */
