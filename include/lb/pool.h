/** @file
 * @brief The pool: the set of targets every selector is built from (like a target group).
 *
 * A target has a caller-chosen `uint32_t` id, a key (the bytes hashed for placement, such as
 * a name or "10.0.1.5:8080"; copied into the pool), a weight from 0 to #LB_WEIGHT_MAX
 * (0 = takes no new traffic) and a zone id. Ids and keys are unique within a pool.
 * Targets keep the order they were added in; removing one keeps the order of the others.
 *
 * Selectors (Maglev, ring, round robin, least connections) are built from a pool and copy
 * what they need: changing the pool afterwards does not change a built selector.
 *
 * Threading: a pool is not synchronised. Any number of threads may read it at once (the
 * `const` functions) while no thread changes it.
 */
#ifndef LB_POOL_H
#define LB_POOL_H

#include "lb/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The longest target key, in bytes. */
#define LB_POOL_KEY_MAX 1024

/** An opaque set of targets. */
typedef struct lb_pool lb_pool;

/** A read-only view of one target, filled by lb_pool_get() and lb_pool_at(). */
typedef struct lb_target_info {
    /** Set by the caller to `sizeof(lb_target_info)` before the call. */
    uint32_t struct_size;
    /** The caller-chosen id. */
    uint32_t id;
    /** Weight, 0..#LB_WEIGHT_MAX. */
    uint32_t weight;
    /** Zone id. */
    uint32_t zone;
    /** The key bytes (borrowed: valid until this target is removed or the pool freed). */
    const uint8_t *key;
    /** Length of @ref key in bytes. */
    size_t key_len;
} lb_target_info;

/**
 * @brief Create an empty pool.
 * @param[out] out the new pool, owned by the caller (free with lb_pool_free()).
 * @return 0, -EINVAL, -ENOMEM.
 * @thread pure
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval ENOMEM Out of memory
 */
LB_API LB_NODISCARD int lb_pool_new(lb_pool **out);

/**
 *  @brief Free a pool and its keys. NULL is a no-op.
 * @thread exclusive
 */
LB_API void lb_pool_free(lb_pool *pool);

/**
 * @brief Make an independent copy of a pool.
 * @param[out] out the copy, owned by the caller.
 * @param pool the pool to copy (borrowed).
 * @return 0, -EINVAL, -ENOMEM.
 * @thread reader
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval ENOMEM Out of memory
 */
LB_API LB_NODISCARD int lb_pool_clone(lb_pool **out, const lb_pool *pool);

/**
 * @brief Add a target.
 * @param pool the pool.
 * @param id caller-chosen id, unique in the pool; #LB_NO_TARGET is reserved.
 * @param key the key bytes (copied); 1..#LB_POOL_KEY_MAX bytes, unique in the pool.
 * @param key_len length of @p key.
 * @param weight 0..#LB_WEIGHT_MAX.
 * @param zone zone id.
 * @return 0; -EINVAL (NULL pool or key, or id #LB_NO_TARGET); -EEXIST (duplicate id);
 *         #LB_E_POOL_DUPLICATE_KEY; #LB_E_POOL_BAD_KEY; #LB_E_POOL_BAD_WEIGHT; -ENOMEM.
 *         On failure the pool is unchanged.
 * @thread exclusive
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval EEXIST Entry already exists
 * @retval LB_E_POOL_DUPLICATE_KEY A target with this key already exists
 * @retval LB_E_POOL_BAD_KEY Target key empty or too long
 * @retval LB_E_POOL_BAD_WEIGHT Weight outside 0..65535
 * @retval ENOMEM Out of memory
 */
LB_API LB_NODISCARD int lb_pool_add(lb_pool *pool, uint32_t id, const void *key, size_t key_len,
                                    uint32_t weight, uint32_t zone);

/**
 * @brief Remove a target.
 * @param pool the pool.
 * @param id the target's id.
 * @return 0, -EINVAL, -ENOENT (unknown id).
 * @thread exclusive
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval ENOENT No such entry
 */
LB_API int lb_pool_remove(lb_pool *pool, uint32_t id);

/**
 * @brief Change a target's weight.
 * @param pool the pool.
 * @param id the target's id.
 * @param weight 0..#LB_WEIGHT_MAX.
 * @return 0, -EINVAL, -ENOENT, #LB_E_POOL_BAD_WEIGHT.
 * @thread exclusive
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval ENOENT No such entry
 * @retval LB_E_POOL_BAD_WEIGHT Weight outside 0..65535
 */
LB_API int lb_pool_set_weight(lb_pool *pool, uint32_t id, uint32_t weight);

/**
 * @brief Change a target's zone.
 * @param pool the pool.
 * @param id the target's id.
 * @param zone the new zone id.
 * @return 0, -EINVAL, -ENOENT.
 * @thread exclusive
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval ENOENT No such entry
 */
LB_API int lb_pool_set_zone(lb_pool *pool, uint32_t id, uint32_t zone);

/**
 *  @brief The number of targets in @p pool (0 for NULL).
 * @thread reader
 */
LB_API size_t lb_pool_count(const lb_pool *pool);

/**
 * @brief The target at position @p index, in insertion order (0 <= index < lb_pool_count()).
 * @param pool the pool.
 * @param index position.
 * @param[out] out filled on success; its `struct_size` must be set by the caller.
 * @return 0, -EINVAL, -ENOENT (index out of range).
 * @thread reader
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval ENOENT No such entry
 * @retval LB_E_STRUCT_SIZE A struct's size is below the first release's (doc/ABI.md)
 */
LB_API int lb_pool_at(const lb_pool *pool, size_t index, lb_target_info *out);

/**
 * @brief The target with id @p id.
 * @param pool the pool.
 * @param id the target's id.
 * @param[out] out filled on success; its `struct_size` must be set by the caller.
 * @return 0, -EINVAL, -ENOENT.
 * @thread reader
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval ENOENT No such entry
 * @retval LB_E_STRUCT_SIZE A struct's size is below the first release's (doc/ABI.md)
 */
LB_API int lb_pool_get(const lb_pool *pool, uint32_t id, lb_target_info *out);

/**
 * @brief Find a target's id by its key.
 * @param pool the pool.
 * @param key the key bytes (borrowed).
 * @param key_len length of @p key.
 * @param[out] id the id.
 * @return 0, -EINVAL, -ENOENT.
 * @thread reader
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval ENOENT No such entry
 */
LB_API int lb_pool_find_key(const lb_pool *pool, const void *key, size_t key_len, uint32_t *id);

#ifdef __cplusplus
}
#endif

#endif /* LB_POOL_H */
