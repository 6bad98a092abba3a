/** @file
 * @brief Weighted least connections: exact (a tournament tree, O(log n)) or the power of k
 *        choices (O(k)), lock-free, with counts in a shared #lb_loads table.
 *
 * A pick chooses a target minimising `(active + 1) / weight` and counts the new connection;
 * the caller reports the connection's end with lb_leastconn_release(). Targets with weight 0
 * and targets excluded with lb_leastconn_set_excluded() (draining) take no new picks, but
 * their connections stay counted and can be released.
 *
 * - #LB_LEASTCONN_EXACT: the exact minimum, ties broken round robin (the least recently picked
 *   of the tied targets wins, then pool order). A tournament tree over per-target counters
 *   finds it in O(log n); pick and release update one leaf with a compare-and-swap and refresh
 *   its path to the root (versioned nodes, each refreshed twice when contended, so the root
 *   never misses a finished update). The latest release is parked beside the tree instead of
 *   refreshing its path, and a pick takes the better of the root's target and the parked one:
 *   in a pick-then-release steady state the released target is usually the next pick, so
 *   neither operation refreshes the whole path. Every count change is also applied to the #lb_loads
 *   table, so the two agree: the tree starts from the table's counts when it is built and
 *   then applies exactly the picks and releases made through this selector.
 * - #LB_LEASTCONN_CHOICES: samples `choices` targets uniformly and takes the one minimising
 *   `(active + 1) / weight`, reading the counts from the #lb_loads table directly (so another
 *   component sharing the table, such as bounded-load hashing, is seen at once). Pools of at
 *   most `scan_below` targets are scanned in full instead (two random choices among two
 *   targets would pick the busier one a quarter of the time).
 * - #LB_LEASTCONN_SCALABLE and #LB_LEASTCONN_CHOICES_SCALABLE: the same two with per-thread
 *   counts, for many threads picking at once, within a stated bound of the exact answer.
 *
 * Threading: lb_leastconn_pick(), lb_leastconn_release(), lb_leastconn_set_excluded() and
 * lb_leastconn_active() may be called from any number of threads at once; they are lock-free
 * and never allocate. Counts stay exact under any interleaving: each pick adds exactly one
 * and each release of a counted connection removes exactly one. Under concurrency an exact
 * pick is the minimum of a state that existed during the call (between tied targets, the
 * least recently picked one as of a moment earlier: the pick stamps are stored apart from the
 * counts). lb_leastconn_new() uses the
 * #lb_loads writer calls (lb_loads_track()), so it must run in the thread that owns the table's
 * writes. lb_leastconn_free() must not overlap any other call on the same selector.
 */
#ifndef LB_LEASTCONN_H
#define LB_LEASTCONN_H

#include "lb/common.h"
#include "lb/loads.h"
#include "lb/pool.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Exact weighted least connections (tournament tree). */
#define LB_LEASTCONN_EXACT 0u
/** Power of k choices, weighted, with a full scan for very small pools. */
#define LB_LEASTCONN_CHOICES 1u

/**
 * Least connections that scales with threads, within a stated distance of exact.
 *
 * The tournament tree of #LB_LEASTCONN_EXACT holds *published* counts; each thread (one of
 * #LB_LEASTCONN_STRIPES stripes, assigned in the order threads first pick) counts its picks
 * and releases of a target in its own counter and publishes them #LB_LEASTCONN_SCALABLE_BATCH
 * at a time. A pick reads the root and writes only its stripe's counter, so threads share no
 * written cache line but once per #LB_LEASTCONN_SCALABLE_BATCH operations on a target.
 *
 * Bound: with P stripes in use (P = the number of picking threads, at most
 * #LB_LEASTCONN_STRIPES; a stripe shared by several threads counts once per thread), every
 * published count is within B = P x #LB_LEASTCONN_SCALABLE_BATCH of the true count (a
 * publication in flight included), so a pick's target i satisfies, for every target j,
 * `(a_i + 1) / w_i <= (a_j + 1) / w_j + B / w_i + B / w_j`
 * (equal weights: at most 2B connections more than the least loaded; exact mode: 0).
 * tests/unit/test_stateful_concurrency.c checks it.
 *
 * Costs: the #lb_loads table shows the published counts (within B of the truth);
 * lb_leastconn_active() gives the true count (pub + every stripe's counter). Memory:
 * 4 x #LB_LEASTCONN_STRIPES bytes per target more than exact mode. A release is not checked
 * against the count (no -ERANGE).
 */
#define LB_LEASTCONN_SCALABLE 2u

/**
 * Power of k choices that scales with threads, within a stated distance of #LB_LEASTCONN_CHOICES.
 *
 * Samples as #LB_LEASTCONN_CHOICES does, but counts as #LB_LEASTCONN_SCALABLE does: each
 * thread's stripe counts its picks and releases of a target in its own counter and publishes
 * them #LB_LEASTCONN_SCALABLE_BATCH at a time; a pick compares, for each sampled target, the
 * published count plus its own stripe's unpublished counter. A pick and a release write only
 * the calling thread's stripe (shared cache lines but once per #LB_LEASTCONN_SCALABLE_BATCH
 * operations on a target), where #LB_LEASTCONN_CHOICES writes each target's shared counter.
 *
 * Bound: with P stripes in use, every count a pick compares is within
 * B = P x #LB_LEASTCONN_SCALABLE_BATCH of the true count, so of the sampled targets the pick
 * i satisfies, for every other sample j,
 * `(a_i + 1) / w_i <= (a_j + 1) / w_j + B / w_i + B / w_j` (the full scan of pools of at most
 * `scan_below` targets: for every target j). tests/unit/test_stateful_concurrency.c checks it.
 *
 * Costs as #LB_LEASTCONN_SCALABLE: the #lb_loads table shows the published counts (within B of
 * the truth; another component sharing the table sees those), lb_leastconn_active() the true
 * count, 4 x #LB_LEASTCONN_STRIPES bytes per target more memory, and a release is not checked
 * against the count (no -ERANGE). Use #LB_LEASTCONN_CHOICES where the counts must be exact
 * (connection limits, drains that wait for the last connection, a shared table): the
 * balancer's `p2c` does.
 */
#define LB_LEASTCONN_CHOICES_SCALABLE 3u

/** Connections a stripe counts on one target before it publishes them
 *  (#LB_LEASTCONN_SCALABLE, #LB_LEASTCONN_CHOICES_SCALABLE). */
#define LB_LEASTCONN_SCALABLE_BATCH 64u

/** Stripes of #LB_LEASTCONN_SCALABLE and #LB_LEASTCONN_CHOICES_SCALABLE: threads beyond this
 *  many share stripes. */
#define LB_LEASTCONN_STRIPES 16u

/** The most connections one target may hold in #LB_LEASTCONN_EXACT mode. */
#define LB_LEASTCONN_ACTIVE_MAX 16777215u

/** An opaque least-connections selector. */
typedef struct lb_leastconn lb_leastconn;

/** Options for lb_leastconn_new(); NULL means all defaults. */
typedef struct lb_leastconn_options {
    /** Set by the caller to `sizeof(lb_leastconn_options)`. */
    uint32_t struct_size;
    /** #LB_LEASTCONN_EXACT (default, 0), #LB_LEASTCONN_CHOICES, #LB_LEASTCONN_SCALABLE or
     *  #LB_LEASTCONN_CHOICES_SCALABLE. */
    uint32_t mode;
    /** Targets sampled per pick in the choices modes: 1..16, 0 means 2. */
    uint32_t choices;
    /** Pools of at most this many targets are scanned in full in the choices modes; 0 means 4. */
    uint32_t scan_below;
    /** Seed of the sampling sequence (give each instance its own). */
    uint64_t seed;
} lb_leastconn_options;

/**
 * @brief Build a selector over the targets of @p pool (copied).
 * @param[out] out the selector, owned by the caller (free with lb_leastconn_free()).
 * @param pool the targets (borrowed for the call).
 * @param loads the count table (borrowed: it must outlive the selector). Every target id is
 *        tracked in it with lb_loads_track() (an id already tracked keeps its count). A table
 *        made with #LB_LOADS_NO_TOTAL saves one atomic operation per pick and per release.
 * @param opts options (borrowed), or NULL for defaults.
 * @return 0; -EINVAL (NULL argument, bad struct_size, mode or choices); -ENOSPC (the table is
 *         full); -ENOMEM.
 * @thread writer
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval ENOSPC Not enough room in the caller's buffer
 * @retval ENOMEM Out of memory
 * @retval LB_E_STRUCT_SIZE A struct's size is below the first release's (doc/ABI.md)
 * @retval LB_E_STRUCT_TOO_NEW A newer caller's struct sets fields this library does not know
 */
LB_API LB_NODISCARD int lb_leastconn_new(lb_leastconn **out, const lb_pool *pool, lb_loads *loads,
                                         const lb_leastconn_options *opts);

/**
 *  @brief Free a selector (not the #lb_loads table). NULL is a no-op.
 * @thread exclusive
 */
LB_API void lb_leastconn_free(lb_leastconn *lc);

/**
 * @brief Choose a target for a new connection and count it.
 * @param lc the selector.
 * @param[out] id the chosen target's id.
 * @return 0; -EINVAL; #LB_E_SELECTOR_EMPTY (no target with weight above 0 that is not
 *         excluded); -ENOSPC (exact and scalable modes: the best target already holds, or in
 *         the scalable modes may hold, #LB_LEASTCONN_ACTIVE_MAX connections).
 * @thread reader
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval LB_E_SELECTOR_EMPTY No target with a weight above zero
 * @retval ENOSPC Not enough room in the caller's buffer
 */
LB_API LB_NODISCARD int lb_leastconn_pick(lb_leastconn *lc, uint32_t *id);

/**
 * @brief Report the end of a connection to target @p id (picked from this selector or counted
 *        in the #lb_loads table before it was built).
 * @param lc the selector.
 * @param id the target's id.
 * @return 0; -EINVAL; -ENOENT (unknown id); -ERANGE (the target has no connection counted).
 * @thread reader
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval ENOENT No such entry
 * @retval ERANGE Value out of range
 */
LB_API int lb_leastconn_release(lb_leastconn *lc, uint32_t id);

/**
 * @brief Exclude a target from new picks (draining) or include it again. Its connections stay
 *        counted and can still be released.
 * @param lc the selector.
 * @param id the target's id.
 * @param excluded nonzero to exclude, 0 to include.
 * @return 0, -EINVAL, -ENOENT.
 * @thread reader
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval ENOENT No such entry
 */
LB_API int lb_leastconn_set_excluded(lb_leastconn *lc, uint32_t id, int excluded);

/**
 * @brief The number of connections the selector counts for target @p id.
 * @param lc the selector.
 * @param id the target's id.
 * @param[out] active the count.
 * @return 0, -EINVAL, -ENOENT.
 * @thread reader
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval ENOENT No such entry
 */
LB_API int lb_leastconn_active(const lb_leastconn *lc, uint32_t id, uint32_t *active);

/**
 *  @brief The number of targets in the selector, weight 0 included (0 for NULL).
 * @thread reader
 */
LB_API size_t lb_leastconn_count(const lb_leastconn *lc);

#ifdef __cplusplus
}
#endif

#endif /* LB_LEASTCONN_H */
