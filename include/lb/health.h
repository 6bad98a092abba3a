/** @file
 * @brief Per-target health and connection-draining state machine (pure: no clocks, no I/O).
 *
 * An `lb_health` tracks every target of a pool (by the caller's `uint32_t` id) through the
 * states INITIAL, HEALTHY, EJECTED, UNHEALTHY, DRAINING and REMOVED, the way a cloud target
 * group does. The caller runs health checks, counts connections and passes in the results and
 * the time (`now_ms`, monotonic milliseconds); the module decides and reports:
 *
 * - active checks with rise/fall thresholds, and when each target's next check is due
 *   (an interval, a faster one while a state is changing, a slower one while down, seeded
 *   jitter): lb_health_check_result(), lb_health_checks_due();
 * - passive signals (connect failures, resets): consecutive failures eject a target for a
 *   time that grows with each ejection, never more than a share of the pool:
 *   lb_health_passive();
 * - draining: lb_health_deregister() stops new connections at once; draining ends at the
 *   last lb_health_conn_close(), or at the deregistration delay with the number of
 *   connections the caller must close (#LB_HEALTH_R_DEADLINE events);
 * - slow start: the effective weight of a target entering service ramps over a window;
 * - fail open: when no target (or fewer than a configured share) is healthy, every registered,
 *   non-draining target becomes eligible; lb_health_status() and #LB_HEALTH_R_FAIL_OPEN say so.
 *
 * "Eligible" means "may receive new connections": HEALTHY (ramping or not), not draining, not
 * ejected; under fail-open, every registered target that is not draining because it was
 * deregistered (a target draining after failed checks counts as unhealthy). A balancer copies
 * (state, eligible, effective weight) of every target into its pick snapshot after each call
 * that changes something: lb_health_generation() tells whether anything changed, and
 * lb_health_at() iterates the targets (in id order); each target's `changed_gen` says when it
 * last changed.
 *
 * Every call that takes `now_ms` first advances the machine to that time (drain deadlines,
 * ejection ends, slow-start ramps), exactly as lb_health_tick() does; a time earlier than one
 * already seen is treated as that time. lb_health_next_deadline() says when to call
 * lb_health_tick() again.
 *
 * Transitions come out as #lb_health_event records: to the callback given in the
 * configuration (called synchronously, from inside the call that caused it; it must not call
 * back into the same `lb_health`), or, without a callback, into an internal queue read with
 * lb_health_poll_events().
 *
 * Threading: an `lb_health` has a single writer. Every function that takes a non-const
 * `lb_health *` (including lb_health_conn_open() and lb_health_conn_close(), which are
 * writer-side calls) must be serialised by the caller, e.g. under the balancer's writer lock.
 * Const functions may run concurrently with each other but not with a writer call. Different
 * `lb_health` objects are independent. Nothing here is meant for a lock-free pick path: copy
 * what picks need into your own snapshot.
 *
 * Cost: a call that changes a state or a weight, or that reaches a drain deadline, an ejection
 * end or a slow-start step, is O(n) in the number of targets (it re-evaluates eligibility,
 * since fail-open is a property of the whole pool); other calls, among them the connection
 * calls while nothing is due, are O(log n). lb_health_tick(), lb_health_checks_due() and
 * lb_health_next_deadline() are O(n). Slow-start weights are recomputed by lb_health_tick()
 * and at least every lb_health_config::slow_start_step_ms.
 */
#ifndef LB_HEALTH_H
#define LB_HEALTH_H

#include "lb/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** An opaque health and draining state machine for one pool. */
typedef struct lb_health lb_health;

/** A target's health state. */
typedef enum lb_health_state {
    /** Registered, waiting for its first health checks; takes no new connections. */
    LB_HEALTH_STATE_INITIAL = 0,
    /** Passing its checks: eligible (possibly ramping up in slow start). */
    LB_HEALTH_STATE_HEALTHY = 1,
    /** Passing its checks but ejected for a while by passive failures; not eligible. */
    LB_HEALTH_STATE_EJECTED = 2,
    /** Failing its checks; not eligible (except under fail-open). */
    LB_HEALTH_STATE_UNHEALTHY = 3,
    /** Deregistered, or failed its checks with #LB_HEALTH_ON_FAIL_DRAIN (AWS's
     *  "unhealthy.draining"): existing connections continue until the last closes or the
     *  deadline. A deregistered target is never eligible; one draining after failed checks is
     *  unhealthy, and so is eligible only under fail-open. */
    LB_HEALTH_STATE_DRAINING = 4,
    /** Deregistered and drained; kept (queryable) until lb_health_forget() or a new
     *  lb_health_register(). Also the `old_state` of a registration event. */
    LB_HEALTH_STATE_REMOVED = 5
} lb_health_state;

/** Why a transition happened (the `reason` of an event and of a target's current state). */
typedef enum lb_health_reason {
    /** The target was registered. */
    LB_HEALTH_R_REGISTERED = 0,
    /** Enough consecutive checks passed (rise). */
    LB_HEALTH_R_CHECK_PASSED = 1,
    /** Enough consecutive checks failed (fall). */
    LB_HEALTH_R_CHECKS_FAILED = 2,
    /** The target was deregistered. */
    LB_HEALTH_R_DEREGISTERED = 3,
    /** Draining ended because the last connection closed (or there was none). */
    LB_HEALTH_R_DRAINED = 4,
    /** Draining reached its deadline: the event's `close_connections` are left to close. */
    LB_HEALTH_R_DEADLINE = 5,
    /** Consecutive passive failures (connect failures, resets) ejected the target. */
    LB_HEALTH_R_EJECTED = 6,
    /** The ejection time is over; the target is back in service. */
    LB_HEALTH_R_EJECTION_END = 7,
    /** Slow start finished: the target now has its full weight (state unchanged). */
    LB_HEALTH_R_SLOW_START_END = 8,
    /** Pool event (id #LB_NO_TARGET): too few targets are healthy, fail-open began. */
    LB_HEALTH_R_FAIL_OPEN = 9,
    /** Pool event (id #LB_NO_TARGET): enough targets are healthy again, fail-open ended. */
    LB_HEALTH_R_FAIL_OPEN_END = 10
} lb_health_reason;

/** What a failed health check does to the connections of a target that had them. */
typedef enum lb_health_on_fail {
    /** Drain: the target goes DRAINING (no new connections; existing ones continue) until its
     *  last connection closes or the deregistration delay passes, then UNHEALTHY. */
    LB_HEALTH_ON_FAIL_DRAIN = 0,
    /** Keep: the target goes UNHEALTHY at once; established connections are left alone. */
    LB_HEALTH_ON_FAIL_KEEP = 1,
    /** Close: the target goes UNHEALTHY at once and the event's `close_connections` tells the
     *  caller to close every established connection. */
    LB_HEALTH_ON_FAIL_CLOSE = 2
} lb_health_on_fail;

/** A passive signal about one connection attempt or connection (lb_health_passive()). */
typedef enum lb_health_signal {
    /** A connection to the target succeeded: resets the consecutive-failure count. */
    LB_HEALTH_SIG_CONNECT_OK = 0,
    /** A connection attempt to the target failed (refused, timed out). */
    LB_HEALTH_SIG_CONNECT_FAIL = 1,
    /** An established connection was reset by the target. */
    LB_HEALTH_SIG_RESET = 2
} lb_health_signal;

/** One transition (or pool-wide change), delivered to the callback or the event queue. */
typedef struct lb_health_event {
    /** `sizeof(lb_health_event)` (set by the module). */
    uint32_t struct_size;
    /** The target, or #LB_NO_TARGET for a pool event (fail-open began or ended). */
    uint32_t id;
    /** When it happened (the `now_ms` of the call, or the deadline that expired). */
    uint64_t at_ms;
    /** The state before (an #lb_health_state; #LB_HEALTH_STATE_REMOVED for a registration). */
    uint32_t old_state;
    /** The state after (an #lb_health_state). */
    uint32_t new_state;
    /** Why (an #lb_health_reason). */
    uint32_t reason;
    /** 1 if the target may receive new connections after this event, else 0 (as of the
     *  event: a fail-open change caused by the same call follows as a pool event). For a pool
     *  event: 1 while fail-open is in force. */
    uint32_t eligible;
    /** The target's active connections at the event. */
    uint32_t connections;
    /** How many of them the caller must close now (#LB_HEALTH_R_DEADLINE, or
     *  #LB_HEALTH_R_CHECKS_FAILED with #LB_HEALTH_ON_FAIL_CLOSE); 0 otherwise. */
    uint32_t close_connections;
} lb_health_event;

/** Receives events (see the file comment). @p event is valid only during the call. */
typedef void (*lb_health_event_fn)(const lb_health_event *event, void *user);

/** Largest deregistration delay, in milliseconds (3600 s, as AWS). */
#define LB_HEALTH_DELAY_MAX_MS 3600000u
/** Largest check interval, ejection time, slow-start window, in milliseconds (1 hour). */
#define LB_HEALTH_TIME_MAX_MS 3600000u
/** "Never": a deadline or due time that does not exist. */
#define LB_HEALTH_NEVER UINT64_MAX

/** Configuration; fill with lb_health_config_init() and change what you need. */
typedef struct lb_health_config {
    /** Set to `sizeof(lb_health_config)` (lb_health_config_init() does). */
    uint32_t struct_size;
    /** State of a newly registered target: #LB_HEALTH_STATE_INITIAL (wait for checks, default) or
     *  #LB_HEALTH_STATE_HEALTHY (in service at once). */
    uint32_t initial_state;
    /** Consecutive passed checks to become HEALTHY (rise), 1..100; default 2. */
    uint32_t healthy_threshold;
    /** Consecutive failed checks to become UNHEALTHY (fall), 1..100; default 3. */
    uint32_t unhealthy_threshold;
    /** Check interval while steady and up, 100..#LB_HEALTH_TIME_MAX_MS; default 10000. */
    uint32_t interval_ms;
    /** Check interval while a state is changing (INITIAL, or a streak under way),
     *  100..#LB_HEALTH_TIME_MAX_MS; default 2000. */
    uint32_t fast_interval_ms;
    /** Check interval while steady and down, 100..#LB_HEALTH_TIME_MAX_MS; default 30000. */
    uint32_t down_interval_ms;
    /** Jitter on every interval, +- this percentage, 0..50; default 10. */
    uint32_t jitter_percent;
    /** What a failed check does to established connections (#lb_health_on_fail); default
     *  #LB_HEALTH_ON_FAIL_DRAIN. */
    uint32_t on_fail;
    /** Deregistration delay (draining deadline), 0..#LB_HEALTH_DELAY_MAX_MS; default 300000.
     *  Also the deadline of a drain caused by a failed check. */
    uint32_t deregistration_delay_ms;
    /** Consecutive passive failures that eject a target, 0 (passive ejection off)..1000;
     *  default 5. */
    uint32_t passive_failures;
    /** First ejection time, 1..#LB_HEALTH_TIME_MAX_MS; the n-th ejection lasts n times this;
     *  default 30000. */
    uint32_t ejection_base_ms;
    /** Longest ejection, ejection_base_ms..#LB_HEALTH_TIME_MAX_MS; default 300000. */
    uint32_t ejection_max_ms;
    /** The ejection multiplier drops by one per this much time out of ejection,
     *  1..#LB_HEALTH_TIME_MAX_MS; default 10000. */
    uint32_t ejection_decay_ms;
    /** At most this percentage of registered (not deregistered) targets are ejected at once,
     *  0..100; default 10 (a pool of fewer than 10 targets then never ejects). */
    uint32_t max_ejection_percent;
    /** Slow-start window, 0 (off, default)..#LB_HEALTH_TIME_MAX_MS. */
    uint32_t slow_start_window_ms;
    /** Slow-start aggression in thousandths, 100..10000; default 1000 (1.0 = linear).
     *  Effective weight = weight * max(min%, (t/window)^(1/aggression)). */
    uint32_t slow_start_aggression_milli;
    /** Slow-start floor as a percentage of the weight, 0..100; default 10 (Envoy). */
    uint32_t slow_start_min_percent;
    /** How often effective weights are recomputed during slow start, 1..60000; default
     *  1000. */
    uint32_t slow_start_step_ms;
    /** 1 (default): fail open when too few targets are healthy; 0: fail closed. */
    uint32_t fail_open;
    /** Fail open when healthy targets are fewer than this percentage of registered ones,
     *  0..100; 0 (default) means only when none is healthy. */
    uint32_t fail_open_percent;
    /** Most events queued for lb_health_poll_events() when there is no callback, 0..1048576;
     *  default 4096. Events beyond it are counted in `events_dropped` and lost. */
    uint32_t event_queue_max;
    /** Seed of the check jitter. */
    uint64_t seed;
    /** Event callback, or NULL to queue events for lb_health_poll_events(). */
    lb_health_event_fn on_event;
    /** Passed to @ref on_event unchanged (borrowed). */
    void *user;
} lb_health_config;

/** A read-only view of one target (lb_health_get(), lb_health_at()). */
typedef struct lb_health_target {
    /** Set by the caller to `sizeof(lb_health_target)` before the call. */
    uint32_t struct_size;
    /** The target's id. */
    uint32_t id;
    /** Its state (#lb_health_state). */
    uint32_t state;
    /** The reason of its last transition (#lb_health_reason). */
    uint32_t reason;
    /** 1 if it may receive new connections now, else 0. */
    uint32_t eligible;
    /** 1 while its weight ramps up in slow start. */
    uint32_t slow_start;
    /** Its configured weight, 0..#LB_WEIGHT_MAX. */
    uint32_t weight;
    /** The weight to use for new connections now: 0 if not eligible, ramped in slow start,
     *  else the configured weight; always 0..#LB_WEIGHT_MAX. */
    uint32_t effective_weight;
    /** Its active connections, as reported by the caller. */
    uint32_t connections;
    /** Its ejection multiplier (ejections not yet decayed). */
    uint32_t ejections;
    /** The generation (lb_health_generation()) at which state, eligible or
     *  effective_weight last changed. */
    uint64_t changed_gen;
    /** When it entered its current state. */
    uint64_t since_ms;
    /** When its next health check is due, or #LB_HEALTH_NEVER (deregistered). */
    uint64_t next_check_ms;
    /** Its drain deadline while DRAINING, its ejection end while EJECTED, else
     *  #LB_HEALTH_NEVER. */
    uint64_t until_ms;
} lb_health_target;

/** A pool-wide summary (lb_health_status()). */
typedef struct lb_health_status {
    /** Set by the caller to `sizeof(lb_health_status)` before the call. */
    uint32_t struct_size;
    /** Targets known (every state, REMOVED included). */
    uint32_t targets;
    /** Registered targets (neither deregistered nor removed). */
    uint32_t registered;
    /** HEALTHY targets (ramping or not). */
    uint32_t healthy;
    /** EJECTED targets. */
    uint32_t ejected;
    /** DRAINING targets. */
    uint32_t draining;
    /** Targets eligible for new connections. */
    uint32_t eligible;
    /** 1 while fail-open is in force (too few healthy targets; all registered, non-draining
     *  targets are eligible). */
    uint32_t fail_open;
    /** Events lost because the queue was full. */
    uint64_t events_dropped;
    /** Ejections refused because of max_ejection_percent. */
    uint64_t ejections_refused;
    /** The current generation (lb_health_generation()). */
    uint64_t generation;
} lb_health_status;

/**
 * @brief Fill @p cfg with the defaults (see each field) and set its struct_size to @p size.
 * @param[out] cfg the configuration to fill: @p size bytes are written (the fields this
 *        library does not know are zeroed); NULL, or a size below 4, writes nothing.
 * @param size `sizeof(lb_health_config)` as the caller knows it.
 * @thread pure
 */
LB_API void lb_health_config_init(lb_health_config *cfg, size_t size);

/**
 * @brief Create a state machine with no targets.
 * @param[out] out the machine, owned by the caller (free with lb_health_free()).
 * @param cfg the configuration (copied), or NULL for the defaults. Its `struct_size` is the
 *        caller's `sizeof(lb_health_config)` (doc/ABI.md's struct-extension rule).
 * @return 0, -EINVAL (NULL @p out, wrong struct_size), -ERANGE (a field out of its range),
 *         -ENOMEM.
 * @thread pure
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval LB_E_STRUCT_SIZE A struct's size is below the first release's (doc/ABI.md)
 * @retval LB_E_STRUCT_TOO_NEW A newer caller's struct sets fields this library does not know
 */
LB_API LB_NODISCARD int lb_health_new(lb_health **out, const lb_health_config *cfg);

/**
 *  @brief Free a state machine. NULL is a no-op. @param h the machine.
 * @thread exclusive
 */
LB_API void lb_health_free(lb_health *h);

/**
 * @brief Register a target: it enters the configured initial state (reason
 *        #LB_HEALTH_R_REGISTERED), its first check is due at once. A REMOVED target may be
 *        registered again (its connection count is kept).
 * @param h the machine.
 * @param id the target id (not #LB_NO_TARGET).
 * @param weight its weight, 0..#LB_WEIGHT_MAX.
 * @param now_ms the time.
 * @return 0, -EINVAL, -EEXIST (already registered or draining), #LB_E_POOL_BAD_WEIGHT,
 *         -ENOMEM.
 * @thread exclusive
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval EEXIST Entry already exists
 * @retval LB_E_POOL_BAD_WEIGHT Weight outside 0..65535
 * @retval ENOMEM Out of memory
 */
LB_API int lb_health_register(lb_health *h, uint32_t id, uint32_t weight, uint64_t now_ms);

/**
 * @brief Deregister a target: it goes DRAINING at once (no new connections), then REMOVED
 *        when its last connection closes (#LB_HEALTH_R_DRAINED, at once if it has none) or
 *        at now + deregistration delay (#LB_HEALTH_R_DEADLINE with the connections left).
 *        A target already draining because of failed checks keeps its earlier deadline.
 * @param h the machine.
 * @param id the target.
 * @param now_ms the time.
 * @return 0, -EINVAL, -ENOENT, #LB_E_HEALTH_BAD_STATE (already deregistered or removed).
 * @thread exclusive
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval ENOENT No such entry
 * @retval LB_E_HEALTH_BAD_STATE Not allowed in the target's health state
 */
LB_API int lb_health_deregister(lb_health *h, uint32_t id, uint64_t now_ms);

/**
 * @brief Forget a REMOVED target entirely (its id becomes unknown).
 * @param h the machine.
 * @param id the target.
 * @return 0, -EINVAL, -ENOENT, #LB_E_HEALTH_BAD_STATE (not REMOVED).
 * @thread exclusive
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval ENOENT No such entry
 * @retval LB_E_HEALTH_BAD_STATE Not allowed in the target's health state
 */
LB_API int lb_health_forget(lb_health *h, uint32_t id);

/**
 * @brief Change a target's configured weight.
 * @param h the machine.
 * @param id the target.
 * @param weight 0..#LB_WEIGHT_MAX.
 * @param now_ms the time.
 * @return 0, -EINVAL, -ENOENT, #LB_E_POOL_BAD_WEIGHT.
 * @thread exclusive
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval ENOENT No such entry
 * @retval LB_E_POOL_BAD_WEIGHT Weight outside 0..65535
 */
LB_API int lb_health_set_weight(lb_health *h, uint32_t id, uint32_t weight, uint64_t now_ms);

/**
 * @brief Report the result of an active health check. Passes count toward rise, failures
 *        toward fall (a result of the other kind restarts the count); the next check is
 *        scheduled from @p now_ms at the interval for the new situation.
 * @param h the machine.
 * @param id the target.
 * @param ok nonzero if the check passed.
 * @param now_ms the time the result arrived.
 * @return 0, -EINVAL, -ENOENT, #LB_E_HEALTH_BAD_STATE (deregistered or removed: checks no
 *         longer apply).
 * @thread exclusive
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval ENOENT No such entry
 * @retval LB_E_HEALTH_BAD_STATE Not allowed in the target's health state
 */
LB_API int lb_health_check_result(lb_health *h, uint32_t id, int ok, uint64_t now_ms);

/**
 * @brief List the targets whose health check is due at @p now_ms (in id order) and schedule
 *        their next one (jittered interval from @p now_ms), as if the checks started now.
 *        Targets that do not fit in @p cap stay due for the next call.
 * @param h the machine.
 * @param now_ms the time.
 * @param[out] ids receives up to @p cap target ids (may be NULL when @p cap is 0).
 * @param cap room in @p ids.
 * @return the number of ids written (>= 0), or -EINVAL.
 * @thread exclusive
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 */
LB_API int lb_health_checks_due(lb_health *h, uint64_t now_ms, uint32_t *ids, size_t cap);

/**
 * @brief Report a passive signal. On a HEALTHY target, lb_health_config::passive_failures
 *        consecutive failures eject it (EJECTED, reason #LB_HEALTH_R_EJECTED) for
 *        ejection_base_ms times its (decayed) ejection count plus one, at most
 *        ejection_max_ms, unless that would eject more than max_ejection_percent of the
 *        registered targets. In other states the signal is accepted and ignored.
 * @param h the machine.
 * @param id the target.
 * @param signal an #lb_health_signal.
 * @param now_ms the time.
 * @return 0, -EINVAL (bad signal), -ENOENT.
 * @thread exclusive
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval ENOENT No such entry
 */
LB_API int lb_health_passive(lb_health *h, uint32_t id, uint32_t signal, uint64_t now_ms);

/**
 * @brief Writer-side: count a new connection to @p id, only if the target is eligible now.
 * @param h the machine.
 * @param id the target.
 * @param now_ms the time.
 * @return 0 (counted), -EINVAL, -ENOENT, -EOVERFLOW (count at UINT32_MAX),
 *         #LB_E_HEALTH_NOT_ELIGIBLE (not counted: the target may not take new connections).
 * @thread exclusive
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval ENOENT No such entry
 * @retval EOVERFLOW Value too large
 * @retval LB_E_HEALTH_NOT_ELIGIBLE Target may not take new connections
 */
LB_API int lb_health_conn_open(lb_health *h, uint32_t id, uint64_t now_ms);

/**
 * @brief Writer-side: count a connection to @p id that exists already, whatever the target's
 *        state: one picked from a snapshot published before the target stopped being
 *        eligible, or found when the caller (re)starts. Draining then waits for it too (up to
 *        the same deadline). The caller decides what to do with a connection to a target
 *        that was not eligible (the return value says).
 * @param h the machine.
 * @param id the target.
 * @param now_ms the time.
 * @return 1 (counted; the target is eligible), 0 (counted; it is not), -EINVAL, -ENOENT,
 *         -EOVERFLOW (count at UINT32_MAX; not counted).
 * @thread exclusive
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval ENOENT No such entry
 * @retval EOVERFLOW Value too large
 */
LB_API int lb_health_conn_add(lb_health *h, uint32_t id, uint64_t now_ms);

/**
 * @brief Writer-side: a connection to @p id closed. The last close of a DRAINING target
 *        ends its draining (#LB_HEALTH_R_DRAINED).
 * @param h the machine.
 * @param id the target.
 * @param now_ms the time.
 * @return 0, -EINVAL, -ENOENT, -ERANGE (its count is already 0; it stays 0).
 * @thread exclusive
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval ENOENT No such entry
 * @retval ERANGE Value out of range
 */
LB_API int lb_health_conn_close(lb_health *h, uint32_t id, uint64_t now_ms);

/**
 * @brief Writer-side: set a target's active connection count (e.g. from per-target counters
 *        kept elsewhere, or connections opened from a stale snapshot). A count of 0 ends
 *        the draining of a DRAINING target.
 * @param h the machine.
 * @param id the target.
 * @param connections the current count.
 * @param now_ms the time.
 * @return 0, -EINVAL, -ENOENT.
 * @thread exclusive
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval ENOENT No such entry
 */
LB_API int lb_health_set_conns(lb_health *h, uint32_t id, uint32_t connections, uint64_t now_ms);

/**
 * @brief Advance to @p now_ms: drain deadlines, ejection ends, slow-start ramps.
 * @param h the machine.
 * @param now_ms the time.
 * @return 0 or -EINVAL.
 * @thread exclusive
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 */
LB_API int lb_health_tick(lb_health *h, uint64_t now_ms);

/**
 * @brief The earliest time at which something is due: a check, a drain deadline, an
 *        ejection end, a slow-start step. Call lb_health_tick() (and lb_health_checks_due())
 *        then.
 * @param h the machine.
 * @return the time in ms, or #LB_HEALTH_NEVER (also for NULL @p h).
 * @thread reader
 */
LB_API uint64_t lb_health_next_deadline(const lb_health *h);

/**
 * @brief Whether a target may receive new connections (as of the last call with a time).
 * @param h the machine.
 * @param id the target.
 * @return 1, 0, -EINVAL or -ENOENT.
 * @thread reader
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval ENOENT No such entry
 */
LB_API int lb_health_is_eligible(const lb_health *h, uint32_t id);

/**
 * @brief A view of one target.
 * @param h the machine.
 * @param id the target.
 * @param[out] out filled on success; its `struct_size` must be set by the caller.
 * @return 0, -EINVAL, -ENOENT.
 * @thread reader
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval ENOENT No such entry
 * @retval LB_E_STRUCT_SIZE A struct's size is below the first release's (doc/ABI.md)
 */
LB_API int lb_health_get(const lb_health *h, uint32_t id, lb_health_target *out);

/**
 *  @brief How many targets @p h knows (every state). @param h the machine (NULL: 0).
 * @thread reader
 */
LB_API size_t lb_health_count(const lb_health *h);

/**
 * @brief A view of the target at @p index (0 <= index < lb_health_count()), in id order.
 *        Indexes are stable until the next register or forget.
 * @param h the machine.
 * @param index the position.
 * @param[out] out filled on success; its `struct_size` must be set by the caller.
 * @return 0, -EINVAL, -ENOENT (index out of range).
 * @thread reader
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval ENOENT No such entry
 * @retval LB_E_STRUCT_SIZE A struct's size is below the first release's (doc/ABI.md)
 */
LB_API int lb_health_at(const lb_health *h, size_t index, lb_health_target *out);

/**
 * @brief The generation: a counter that grows whenever any target's state, eligibility or
 *        effective weight, or the fail-open status, changes, and when a target is forgotten.
 *        Unchanged means nothing to copy.
 * @param h the machine (NULL: 0).
 * @thread reader
 */
LB_API uint64_t lb_health_generation(const lb_health *h);

/**
 * @brief The pool-wide summary, including whether fail-open is in force.
 * @param h the machine.
 * @param[out] out filled on success; its `struct_size` must be set by the caller.
 * @return 0 or -EINVAL.
 * @thread reader
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval LB_E_STRUCT_SIZE A struct's size is below the first release's (doc/ABI.md)
 */
LB_API int lb_health_status_get(const lb_health *h, lb_health_status *out);

/**
 * @brief Move up to @p cap queued events (oldest first) into @p events (only used when the
 *        configuration has no callback).
 * @param h the machine.
 * @param[out] events receives the events (may be NULL when @p cap is 0); each element's
 *        struct_size is set to the bytes written into it.
 * @param event_size the caller's `sizeof(lb_health_event)`: elements are this far apart.
 * @param cap room in @p events, in elements.
 * @return the number written (>= 0), -EINVAL, #LB_E_STRUCT_SIZE (@p event_size below the
 *         first release's size).
 * @thread exclusive
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval LB_E_STRUCT_SIZE Struct size smaller than the first release's
 */
LB_API int lb_health_poll_events(lb_health *h, lb_health_event *events, size_t event_size,
                                 size_t cap);

/**
 *  @brief Events waiting in the queue. @param h the machine (NULL: 0).
 * @thread reader
 */
LB_API size_t lb_health_pending_events(const lb_health *h);

/**
 *  @brief "INITIAL", "HEALTHY", ... ("unknown" otherwise). @param state an #lb_health_state.
 * @thread pure
 */
LB_API const char *lb_health_state_name(uint32_t state);

/**
 *  @brief "REGISTERED", "CHECK_PASSED", ... ("unknown" otherwise).
 *  @param reason an #lb_health_reason.
 * @thread pure
 */
LB_API const char *lb_health_reason_name(uint32_t reason);

#ifdef __cplusplus
}
#endif

#endif /* LB_HEALTH_H */
