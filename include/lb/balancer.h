/** @file
 * @brief The balancer: one handle a proxy embeds (pool + health + zones + one selector).
 *
 * A balancer owns its targets, their health and draining state, the zone plan and one
 * selector (Maglev, ring, ring with bounded loads, smooth weighted round robin, least
 * connections, or power-of-two choices). Every change publishes a new immutable snapshot;
 * picks read the current snapshot without locks and never allocate.
 *
 * Connection accounting: every successful pick counts one active connection on the target it
 * returns; the caller reports the end of that connection with lb_balancer_release(). Draining
 * ends when a draining target's last connection is released (or at its deadline).
 * Least-connections and bounded-load picks use the same counts, which live per target id
 * outside the snapshots and so survive rebuilds.
 *
 * Time comes in as `now_ms` (a monotonic clock in milliseconds, chosen by the caller); the
 * balancer never reads a clock. Call lb_balancer_tick() at lb_balancer_next_deadline() (or
 * sooner) to drive drain deadlines, ejection ends and slow-start ramps; events come out
 * through a caller buffer.
 *
 * Threading (each function's `@thread` and `@mayblock` lines, doc/ABI.md): every call but
 * lb_balancer_new() and lb_balancer_free() is `reader`: safe from any number of threads at
 * once on the same balancer. lb_balancer_pick() and lb_balancer_pick_ex() are lock-free and
 * allocation-free and never block. Every other call may block: changes, health reports,
 * ticks, deadlines and the statistics take the balancer's internal writer mutex (which picks
 * never take); lb_balancer_remove() and lb_balancer_drain() also wait until every pick that
 * could still choose the target has finished; lb_balancer_release() takes the mutex when it
 * releases a draining target's last connection. An event loop should therefore run those
 * calls where a short wait is acceptable. Memory reclamation of retired snapshots is
 * described in doc/balancer.md.
 */
#ifndef LB_BALANCER_H
#define LB_BALANCER_H

#include "lb/common.h"
#include "lb/zone.h"

#ifdef __cplusplus
extern "C" {
#endif

/** An opaque balancer. */
typedef struct lb_balancer lb_balancer;

/** The selection algorithms. */
enum lb_algorithm {
    /** Maglev lookup table on the flow hash (default). */
    LB_ALG_MAGLEV = 0,
    /** Consistent-hash ring on the flow hash. */
    LB_ALG_RING = 1,
    /** Consistent-hash ring with bounded loads. */
    LB_ALG_RING_BOUNDED = 2,
    /** Smooth weighted round robin (the flow hash is ignored). */
    LB_ALG_WRR = 3,
    /** Exact weighted least connections (the flow hash is ignored). */
    LB_ALG_LEASTCONN = 4,
    /** Weighted power-of-two choices (the flow hash seeds the sampling). */
    LB_ALG_P2C = 5
};

/** A balancer target's public state. Its own set, separate from lb/health.h's
 *  #lb_health_state (other names and values): EJECTED and health's draining after failed
 *  checks both show as #LB_STATE_UNHEALTHY here. */
enum lb_target_state {
    /** Registered, waiting for its first health checks. */
    LB_STATE_INITIAL = 0,
    /** Passing health checks: eligible. */
    LB_STATE_HEALTHY = 1,
    /** Failing health checks (or ejected): not eligible unless the balancer fails open. */
    LB_STATE_UNHEALTHY = 2,
    /** Deregistered or drained by an operator: no new connections, existing ones continue. */
    LB_STATE_DRAINING = 3,
    /** Gone: drained and removed. */
    LB_STATE_REMOVED = 4
};

/** Zone modes of #lb_balancer_config.zone_mode (see doc/zones.md). Not the values of
 *  lb/zone.h's #lb_zone_mode: the balancer's default (0) is cross-zone on. */
enum lb_balancer_zone_mode {
    /** Every target in every zone (cross-zone on; default). */
    LB_BALANCER_ZONE_ALL = 0,
    /** Only targets in the local zone (cross-zone off). */
    LB_BALANCER_ZONE_LOCAL = 1,
    /** Zone-aware spill-over (Envoy's): local while the local zone has the capacity. */
    LB_BALANCER_ZONE_AWARE = 2,
    /** A fixed share stays local (#lb_balancer_config.local_percent), the rest goes
     *  anywhere. */
    LB_BALANCER_ZONE_AFFINITY = 3
};

/** Configuration of a new balancer. Zero-initialise it, set `struct_size`, then the fields you
 *  need: a zero field means its default. */
typedef struct lb_balancer_config {
    /** Set to `sizeof(lb_balancer_config)`. */
    uint32_t struct_size;
    /** An #lb_algorithm value. */
    uint32_t algorithm;
    /** Maglev table size, a prime (0: 65537). */
    uint32_t table_size;
    /** Bounded-load factor in percent for #LB_ALG_RING_BOUNDED (0: 125, i.e. c = 1.25). */
    uint32_t bound_percent;
    /** Seed of the round-robin start (#LB_ALG_WRR) and of the sampling of #LB_ALG_P2C and
     *  #LB_ALG_LEASTCONN (0 is a valid seed). Maglev and the rings do not use it: their
     *  placement depends only on the targets' keys and weights, so that every balancer of a
     *  fleet builds the same table (doc/maglev.md). */
    uint64_t seed;
    /** Most targets at once, including draining ones (0: 4096). */
    uint32_t max_targets;
    /** 1: new targets wait for health checks (INITIAL); 0: they start HEALTHY (default). */
    uint32_t wait_for_checks;
    /** Consecutive check successes to become healthy (0: 2). */
    uint32_t rise;
    /** Consecutive check failures to become unhealthy (0: 3). */
    uint32_t fall;
    /** Health-check interval in ms (0: 2000). */
    uint32_t check_interval_ms;
    /** Deregistration delay in ms, 0..3,600,000 (0 means the default, 300,000; use
     *  #LB_BALANCER_DRAIN_IMMEDIATE for none). */
    uint32_t deregistration_delay_ms;
    /** Slow-start window in ms (0: off). */
    uint32_t slow_start_ms;
    /** 1: a target failing its checks keeps its established connections (drains); 0: the
     *  balancer emits #LB_EVENT_CLOSE for them (default). */
    uint32_t keep_connections_on_unhealthy;
    /** Fail open when fewer than this percentage of targets are healthy (0: fail open only
     *  when none is). */
    uint32_t panic_percent;
    /** 1: never fail open (no target eligible means no pick). */
    uint32_t fail_closed;
    /** Consecutive passive failures (connect refused, reset) that eject a target (0: off). */
    uint32_t eject_after_failures;
    /** Base ejection time in ms, growing with each ejection (0: 30,000). */
    uint32_t eject_base_ms;
    /** Most targets ejected at once, in percent of the pool (0: 10). */
    uint32_t max_eject_percent;
    /** The zone of this balancer's node. */
    uint32_t local_zone;
    /** An #lb_balancer_zone_mode value. */
    uint32_t zone_mode;
    /** The share kept local in #LB_BALANCER_ZONE_AFFINITY, in percent (0: 100). */
    uint32_t local_percent;
    /** Zone-aware routing needs at least this many healthy targets (0: 6). */
    uint32_t min_cluster_size;
    /** Most events queued for lb_balancer_tick(), 1..#LB_BALANCER_MAX_EVENT_QUEUE (0:
     *  #LB_BALANCER_DEFAULT_EVENT_QUEUE). When the queue is full a new event is lost and
     *  counted in lb_balancer_stats::events_dropped. */
    uint32_t event_queue_max;
} lb_balancer_config;

/** The default of lb_balancer_config::event_queue_max. */
#define LB_BALANCER_DEFAULT_EVENT_QUEUE 4096u
/** The largest lb_balancer_config::event_queue_max. */
#define LB_BALANCER_MAX_EVENT_QUEUE 1048576u

/** Pass as #lb_balancer_config.deregistration_delay_ms for a drain with no delay. */
#define LB_BALANCER_DRAIN_IMMEDIATE UINT32_MAX

/** Event types. */
enum lb_event_type {
    /** A target changed state (old_state, new_state, reason). */
    LB_EVENT_STATE = 1,
    /** The caller should close a target's remaining connections (their count in
     *  `connections`): a drain deadline passed, or a target failed with
     *  keep_connections_on_unhealthy = 0. */
    LB_EVENT_CLOSE = 2,
    /** A removed target is gone for good: its id may be reused. */
    LB_EVENT_REMOVED = 3
};

/** Why a target changed state. */
enum lb_reason {
    /** Added to the balancer. */
    LB_REASON_REGISTERED = 1,
    /** Health checks passed (rise reached). */
    LB_REASON_CHECK_PASSED = 2,
    /** Health checks failed (fall reached). */
    LB_REASON_CHECK_FAILED = 3,
    /** Removed or drained by the caller. */
    LB_REASON_DEREGISTERED = 4,
    /** Its last connection closed while draining. */
    LB_REASON_DRAINED = 5,
    /** The deregistration delay ran out. */
    LB_REASON_DEADLINE = 6,
    /** Passive failures ejected it. */
    LB_REASON_EJECTED = 7,
    /** Its ejection time ended. */
    LB_REASON_EJECTION_ENDED = 8,
    /** Undrained by the caller. */
    LB_REASON_UNDRAINED = 9
};

/** One event from lb_balancer_tick() (plain struct). */
typedef struct lb_event {
    /** Set by the balancer to `sizeof(lb_event)`. */
    uint32_t struct_size;
    /** An #lb_event_type value. */
    uint32_t type;
    /** The target. */
    uint32_t target_id;
    /** The state before (#LB_EVENT_STATE). */
    uint32_t old_state;
    /** The state after (#LB_EVENT_STATE). */
    uint32_t new_state;
    /** An #lb_reason value. */
    uint32_t reason;
    /** Connections left on the target (#LB_EVENT_CLOSE, and draining state changes). */
    uint32_t connections;
    /** Reserved (written as 0). */
    uint32_t reserved0;
    /** When it happened (the `now_ms` of the call that caused it). */
    uint64_t at_ms;
} lb_event;

/** Flags of #lb_pick_request. */
enum lb_pick_flags {
    /** Prefer `preferred_id` while it is eligible (sticky sessions); otherwise fall back to
     *  the normal pick for `flow_hash`. */
    LB_PICK_STICKY = 1
};

/** An extended pick (plain struct). */
typedef struct lb_pick_request {
    /** Set to `sizeof(lb_pick_request)`. */
    uint32_t struct_size;
    /** #lb_pick_flags. */
    uint32_t flags;
    /** The flow hash (lb/hash.h). */
    uint64_t flow_hash;
    /** The preferred target for #LB_PICK_STICKY. */
    uint32_t preferred_id;
    /** Number of ids in `exclude`. */
    uint32_t n_exclude;
    /** Targets not to pick (e.g. ones whose connect just failed); borrowed. */
    const uint32_t *exclude;
} lb_pick_request;

/** Per-target statistics (plain struct). */
typedef struct lb_target_stats {
    /** Set by the caller to `sizeof(lb_target_stats)`. */
    uint32_t struct_size;
    /** The target. */
    uint32_t id;
    /** An #lb_target_state value. */
    uint32_t state;
    /** 1 when it may receive new connections now. */
    uint32_t eligible;
    /** Its configured weight. */
    uint32_t weight;
    /** The weight its selector is built with (zones, slow start). */
    uint32_t effective_weight;
    /** Its zone. */
    uint32_t zone;
    /** Active connections. */
    uint32_t active;
    /** Successful picks so far. */
    uint64_t picks;
    /** Maglev table entries it owns (0 for other algorithms). */
    uint32_t table_entries;
    /** Its connection limit (0: none). */
    uint32_t max_conns;
} lb_target_stats;

/** Whole-balancer statistics (plain struct). */
typedef struct lb_balancer_stats {
    /** Set by the caller to `sizeof(lb_balancer_stats)`. */
    uint32_t struct_size;
    /** Targets registered (including draining ones). */
    uint32_t targets;
    /** Targets eligible for new connections. */
    uint32_t eligible;
    /** 1 while failing open (no, or too few, healthy targets). */
    uint32_t fail_open;
    /** Generation of the current snapshot (increases with every publish). */
    uint64_t generation;
    /** Digest of the current Maglev table (0 for other algorithms). */
    uint64_t table_digest;
    /** Successful picks. */
    uint64_t picks;
    /** Picks that found no eligible target. */
    uint64_t no_target;
    /** Snapshots retired but not yet freed. */
    uint32_t retired_snapshots;
    /** Events waiting for lb_balancer_tick(). */
    uint32_t events_queued;
    /** Events lost: the queue was full (lb_balancer_config::event_queue_max) or out of
     *  memory. */
    uint64_t events_dropped;
    /** lb_balancer_release() calls that returned an error (an unknown id, or a target with no
     *  connection left to release). */
    uint64_t bad_releases;
} lb_balancer_stats;

/**
 * @brief Create a balancer.
 * @param[out] out the balancer, owned by the caller (free with lb_balancer_free()).
 * @param cfg the configuration (copied; NULL means every default).
 * @return 0, -EINVAL, #LB_E_BALANCER_CONFIG (a field out of range), #LB_E_MAGLEV_NOT_PRIME,
 *         -ENOMEM.
 * @thread pure
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval LB_E_BALANCER_CONFIG Invalid balancer configuration
 * @retval LB_E_MAGLEV_NOT_PRIME Maglev table size is not prime
 * @retval ENOMEM Out of memory
 * @retval LB_E_STRUCT_SIZE A struct's size is below the first release's (doc/ABI.md)
 * @retval LB_E_STRUCT_TOO_NEW A newer caller's struct sets fields this library does not know
 */
LB_API LB_NODISCARD int lb_balancer_new(lb_balancer **out, const lb_balancer_config *cfg);

/**
 *  @brief Free a balancer and every snapshot. No other call may be running. NULL is a no-op.
 * @thread exclusive
 */
LB_API void lb_balancer_free(lb_balancer *b);

/**
 * @brief Add a target. It starts HEALTHY, or INITIAL with `wait_for_checks`, and enters slow
 *        start if configured.
 * @param b the balancer.
 * @param id caller-chosen id (not #LB_NO_TARGET), unique among registered targets.
 * @param key the bytes hashed for placement (copied), e.g. the target's name.
 * @param key_len length of @p key (1..1024).
 * @param weight 0..#LB_WEIGHT_MAX.
 * @param zone the target's zone id.
 * @param max_conns its connection limit (0: none).
 * @param now_ms the current time.
 * @return 0, -EINVAL, -EEXIST, #LB_E_POOL_DUPLICATE_KEY, #LB_E_POOL_BAD_KEY,
 *         #LB_E_POOL_BAD_WEIGHT, -ENOSPC (max_targets reached), -ENOMEM.
 * @thread reader
 * @mayblock
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval EEXIST Entry already exists
 * @retval LB_E_POOL_DUPLICATE_KEY A target with this key already exists
 * @retval LB_E_POOL_BAD_KEY Target key empty or too long
 * @retval LB_E_POOL_BAD_WEIGHT Weight outside 0..65535
 * @retval ENOSPC Not enough room in the caller's buffer
 * @retval ENOMEM Out of memory
 */
LB_API int lb_balancer_add(lb_balancer *b, uint32_t id, const void *key, size_t key_len,
                           uint32_t weight, uint32_t zone, uint32_t max_conns, uint64_t now_ms);

/**
 * @brief Deregister a target: it drains (no new connections), then is removed when its last
 *        connection is released or at the deregistration delay (#LB_EVENT_CLOSE reports
 *        what is left), followed by #LB_EVENT_REMOVED.
 * @return 0, -EINVAL, -ENOENT.
 * @thread reader
 * @mayblock
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval ENOENT No such entry
 */
LB_API int lb_balancer_remove(lb_balancer *b, uint32_t id, uint64_t now_ms);

/**
 * @brief Drain a target without removing it (an operator's drain): no new connections;
 *        existing ones continue; at the deregistration delay #LB_EVENT_CLOSE reports what
 *        is left. It stays DRAINING until lb_balancer_undrain().
 * @return 0, -EINVAL, -ENOENT.
 * @thread reader
 * @mayblock
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval ENOENT No such entry
 */
LB_API int lb_balancer_drain(lb_balancer *b, uint32_t id, uint64_t now_ms);

/**
 * @brief Return a drained (not removed) target to service.
 * @return 0, -EINVAL, -ENOENT, #LB_E_HEALTH_BAD_STATE (not draining, or being removed).
 * @thread reader
 * @mayblock
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval ENOENT No such entry
 * @retval LB_E_HEALTH_BAD_STATE Not allowed in the target's health state
 */
LB_API int lb_balancer_undrain(lb_balancer *b, uint32_t id, uint64_t now_ms);

/**
 * @brief Change a target's weight (0: no new connections).
 * @return 0, -EINVAL, -ENOENT, #LB_E_POOL_BAD_WEIGHT.
 * @thread reader
 * @mayblock
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval ENOENT No such entry
 * @retval LB_E_POOL_BAD_WEIGHT Weight outside 0..65535
 */
LB_API int lb_balancer_set_weight(lb_balancer *b, uint32_t id, uint32_t weight,
                                  uint64_t now_ms);

/**
 * @brief Move a target to another zone.
 * @return 0, -EINVAL, -ENOENT.
 * @thread reader
 * @mayblock
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval ENOENT No such entry
 */
LB_API int lb_balancer_set_zone(lb_balancer *b, uint32_t id, uint32_t zone, uint64_t now_ms);

/**
 * @brief Set the share of incoming traffic a zone's load-balancer node receives (zone-aware
 *        mode); zones without a share split the rest evenly.
 * @param b the balancer.
 * @param zone the zone id.
 * @param share_percent 0..100.
 * @param now_ms the current time.
 * @return 0, -EINVAL, -ERANGE.
 * @thread reader
 * @mayblock
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval ERANGE Value out of range
 */
LB_API int lb_balancer_set_zone_share(lb_balancer *b, uint32_t zone, uint32_t share_percent,
                                      uint64_t now_ms);

/**
 * @brief Report an active health-check result.
 * @param b the balancer.
 * @param id the target.
 * @param check_ok 1 passed, 0 failed.
 * @param now_ms the current time.
 * @return 0, -EINVAL, -ENOENT.
 * @thread reader
 * @mayblock
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval ENOENT No such entry
 */
LB_API int lb_balancer_report(lb_balancer *b, uint32_t id, int check_ok, uint64_t now_ms);

/**
 * @brief Report a passive signal from real traffic: 1 a connection worked, 0 a connect was
 *        refused, timed out or reset. Consecutive failures may eject the target.
 * @return 0, -EINVAL, -ENOENT.
 * @thread reader
 * @mayblock
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval ENOENT No such entry
 */
LB_API int lb_balancer_report_passive(lb_balancer *b, uint32_t id, int ok, uint64_t now_ms);

/**
 * @brief When the target's next active health check is due.
 * @param b the balancer.
 * @param id the target.
 * @param[out] due_ms the time (same clock as `now_ms`).
 * @return 0, -EINVAL, -ENOENT.
 * @thread reader
 * @mayblock
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval ENOENT No such entry
 */
LB_API int lb_balancer_next_check(lb_balancer *b, uint32_t id, uint64_t *due_ms);

/**
 * @brief Pick a target for a new connection and count it as active on that target.
 *        Lock-free, allocation-free, from any thread.
 * @param b the balancer.
 * @param flow_hash the connection's flow hash (lb/hash.h).
 * @param[out] target_id the chosen target.
 * @return 0; #LB_E_NO_TARGET when no target is eligible; #LB_E_BALANCER_TARGET_FULL when the
 *         chosen target is at its connection limit (nothing is counted).
 * @thread reader
 * @retval LB_OK Success
 * @retval LB_E_NO_TARGET No eligible target
 * @retval LB_E_BALANCER_TARGET_FULL Target at its connection limit
 */
LB_API int lb_balancer_pick(lb_balancer *b, uint64_t flow_hash, uint32_t *target_id);

/**
 * @brief Pick with options: sticky preference, excluded targets (connect retries).
 * @param b the balancer.
 * @param req the request (borrowed).
 * @param[out] target_id the chosen target.
 * @return as lb_balancer_pick(), and -EINVAL for a bad request.
 * @thread reader
 * @retval EINVAL Invalid argument
 * @retval LB_E_STRUCT_SIZE A struct's size is below the first release's (doc/ABI.md)
 * @retval LB_E_STRUCT_TOO_NEW A newer caller's struct sets fields this library does not know
 */
LB_API int lb_balancer_pick_ex(lb_balancer *b, const lb_pick_request *req, uint32_t *target_id);

/**
 * @brief Report that a connection counted by a pick has ended. From any thread. When this
 *        was a draining target's last connection, the drain ends here: the call then takes
 *        the writer lock.
 * @param b the balancer.
 * @param target_id the id the pick returned.
 * @param now_ms the current time (ends a drain when this was the last connection).
 * @return 0; -EINVAL (NULL @p b); -ENOENT (the id is not a target: never picked, or already
 *         removed); -ERANGE (the target has no connection left to release: a second
 *         release). Every error is counted in lb_balancer_stats::bad_releases.
 * @thread reader
 * @mayblock
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 */
LB_API int lb_balancer_release(lb_balancer *b, uint32_t target_id, uint64_t now_ms);

/**
 * @brief Drive deadlines (drain deadlines, ejection ends, slow-start steps, check results
 *        pending publication) and collect events.
 * @param b the balancer.
 * @param now_ms the current time.
 * @param[out] events room for @p cap events; each element's struct_size is set to the
 *        bytes written into it.
 * @param event_size the caller's `sizeof(lb_event)`: elements are this far apart.
 * @param cap capacity of @p events, in elements; events that do not fit stay queued for the
 *        next call.
 * @return the number of events written (>= 0), -EINVAL, #LB_E_STRUCT_SIZE (@p event_size
 *         below the first release's size).
 * @thread reader
 * @mayblock
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval LB_E_STRUCT_SIZE Struct size smaller than the first release's
 */
LB_API int lb_balancer_tick(lb_balancer *b, uint64_t now_ms, lb_event *events,
                            size_t event_size, size_t cap);

/**
 * @brief When lb_balancer_tick() should next be called (UINT64_MAX: nothing pending).
 *        Events queued by other calls make it `0` (tick now).
 * @thread reader
 * @mayblock
 */
LB_API uint64_t lb_balancer_next_deadline(lb_balancer *b);

/**
 * @brief Statistics of one target.
 * @param b the balancer.
 * @param id the target.
 * @param[out] out filled on success; set its `struct_size` first.
 * @return 0, -EINVAL, -ENOENT.
 * @thread reader
 * @mayblock
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval ENOENT No such entry
 * @retval LB_E_STRUCT_SIZE A struct's size is below the first release's (doc/ABI.md)
 */
LB_API int lb_balancer_get_target_stats(lb_balancer *b, uint32_t id, lb_target_stats *out);

/**
 * @brief Statistics of the whole balancer.
 * @param b the balancer.
 * @param[out] out filled on success; set its `struct_size` first.
 * @return 0, -EINVAL.
 * @thread reader
 * @mayblock
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval LB_E_STRUCT_SIZE A struct's size is below the first release's (doc/ABI.md)
 */
LB_API int lb_balancer_get_stats(lb_balancer *b, lb_balancer_stats *out);

/**
 * @brief The ids of every registered target (including draining ones), in the order added.
 * @param b the balancer.
 * @param[out] ids room for @p cap ids (may be NULL when @p cap is 0).
 * @param cap capacity of @p ids.
 * @return the number of registered targets (which may exceed @p cap: call again with more
 *         room), or -EINVAL.
 * @thread reader
 * @mayblock
 * @retval LB_OK Success
 */
LB_API int lb_balancer_targets(lb_balancer *b, uint32_t *ids, size_t cap);

/**
 *  @brief The lowercase name of an #lb_target_state ("initial", "healthy", "unhealthy",
 *         "draining", "removed"; "unknown" otherwise).
 * @thread pure
 */
LB_API const char *lb_balancer_state_name(uint32_t state);

/**
 *  @brief The lowercase name of an #lb_reason ("registered", "check_passed", ...;
 *         "unknown" otherwise).
 * @thread pure
 */
LB_API const char *lb_balancer_reason_name(uint32_t reason);

/**
 *  @brief The lowercase name of an #lb_algorithm ("maglev", "ring", "ring-bounded", "wrr",
 *         "leastconn", "p2c"; "unknown" otherwise).
 * @thread pure
 */
LB_API const char *lb_balancer_algorithm_name(uint32_t algorithm);

#ifdef __cplusplus
}
#endif

#endif /* LB_BALANCER_H */
