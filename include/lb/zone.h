/** @file
 * @brief Zone plans: which share of the traffic each target receives across zones and regions.
 *
 * A zone plan is a pure planning model (doc/zones.md). It holds zones (caller ids, names and a
 * priority level), the targets of each zone with a weight and a health bit (explicit targets by
 * id, or per-zone counts for what-if planning), the share of the incoming traffic each zone's
 * load-balancer node receives, per-zone failure thresholds and administrative evacuations, and
 * one routing mode (cross-zone off, cross-zone on, Envoy's zone-aware spill-over, or a fixed
 * local affinity share). From that it answers:
 *
 * - for the load-balancer node of one zone: the fraction of its traffic that goes to each zone
 *   (lb_zone_plan_route()) and to each target, both as exact fractions and as integer weights in
 *   0..#LB_WEIGHT_MAX to build a selector with (lb_zone_plan_weights());
 * - for the whole system: each target's and each zone's share of all traffic, the share that
 *   crosses zones and the most/least loaded ratio (lb_zone_plan_shares(), lb_zone_plan_zone(),
 *   lb_zone_plan_summary()), and the transfer cost of the crossing traffic
 *   (lb_zone_transfer_cost()).
 *
 * The arithmetic is IEEE-754 double in a fixed order: the same plan gives bit-identical results
 * on every call and on every platform that evaluates doubles without excess precision (liblb is
 * never built with -ffast-math). Shares sum to 1 up to floating-point rounding (at most a few
 * units of 1e-15 per zone; the tests check 1e-9).
 *
 * Ownership: the plan copies zone names; everything it returns in a struct is borrowed from the
 * plan and valid until the plan is changed or freed.
 *
 * Threading: a plan is not synchronised and caches its last solution, so every call, queries
 * included, must come from one thread at a time. Different plans are independent.
 */
#ifndef LB_ZONE_H
#define LB_ZONE_H

#include "lb/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The most zones a plan holds. */
#define LB_ZONE_MAX 256
/** The longest zone name, in bytes (without the terminating NUL). */
#define LB_ZONE_NAME_MAX 63
/** Envoy's default minimum cluster size for zone-aware routing (healthy targets). */
#define LB_ZONE_DEFAULT_MIN_CLUSTER_SIZE 6
/** Envoy's default overprovisioning factor for priority levels. */
#define LB_ZONE_DEFAULT_OVERPROVISIONING 1.4
/** Envoy's default panic threshold (healthy fraction of a priority level). */
#define LB_ZONE_DEFAULT_PANIC_THRESHOLD 0.5
/** Passed to lb_zone_set_incoming(): the zone takes an even part of what is not assigned. */
#define LB_ZONE_INCOMING_EVEN (-1.0)

/** How a load-balancer node spreads its traffic over the zones of a priority level. */
typedef enum lb_zone_mode {
    /** Cross-zone off: each node sends only to its own zone (a node whose zone cannot serve
     *  loses its incoming traffic to the other nodes, as DNS failover does). */
    LB_ZONE_MODE_OFF = 0,
    /** Cross-zone on: every node spreads over every target in proportion to capacity. */
    LB_ZONE_MODE_ON = 1,
    /** Envoy's zone-aware routing: local while the local zone has enough healthy capacity,
     *  otherwise only the excess to zones with spare capacity. */
    LB_ZONE_MODE_AWARE = 2,
    /** A fixed share stays local; the rest spreads over all zones by capacity. */
    LB_ZONE_MODE_AFFINITY = 3
} lb_zone_mode;

/** What happens when a zone's healthy fraction drops under its threshold. */
typedef enum lb_zone_action {
    /** Take the zone out: its traffic fails over to the other zones. */
    LB_ZONE_FAIL_OVER = 0,
    /** Fail open: keep the zone and spread its traffic over all its targets, healthy or not. */
    LB_ZONE_FAIL_OPEN = 1
} lb_zone_action;

/** A zone's state in the solved plan. */
typedef enum lb_zone_state {
    /** Serving with its healthy targets. */
    LB_ZONE_STATE_UP = 0,
    /** No target with a weight above zero, or none healthy: serves nothing. */
    LB_ZONE_STATE_DOWN = 1,
    /** Under its threshold with #LB_ZONE_FAIL_OVER: serves nothing. */
    LB_ZONE_STATE_FAILED_OVER = 2,
    /** Under its threshold with #LB_ZONE_FAIL_OPEN: serves with all its targets. */
    LB_ZONE_STATE_FAIL_OPEN = 3,
    /** Administratively evacuated (zone shift): serves nothing, its node receives nothing. */
    LB_ZONE_STATE_EVACUATED = 4,
    /** Its priority level is in panic: serves with all its targets. */
    LB_ZONE_STATE_PANIC = 5
} lb_zone_state;

/** Plan-wide options. Initialise with lb_zone_options_init(), then change fields. */
typedef struct lb_zone_options {
    /** Set by the caller to `sizeof(lb_zone_options)`. */
    uint32_t struct_size;
    /** An #lb_zone_mode; default #LB_ZONE_MODE_ON. */
    uint32_t mode;
    /** #LB_ZONE_MODE_AWARE only: fewer healthy targets than this in a priority level turn
     *  zone-aware routing off for that level (it then behaves as cross-zone on). Default 6. */
    uint32_t min_cluster_size;
    /** Reserved, must be 0 (keeps the doubles 8-byte aligned on every platform). */
    uint32_t reserved0;
    /** #LB_ZONE_MODE_AFFINITY only: the fraction kept local, 0..1. Default 1. */
    double local_fraction;
    /** Priority levels: health(P) = min(1, overprovisioning x healthy/total); >= 1,
     *  default 1.4. */
    double overprovisioning;
    /** A priority level whose healthy fraction is under this value is in panic (uses all its
     *  targets) when the levels together are short of capacity; 0..1, 0 disables; default
     *  0.5. */
    double panic_threshold;
} lb_zone_options;

/** One zone of a solved plan, filled by lb_zone_plan_zone(). */
typedef struct lb_zone_report {
    /** Set by the caller to `sizeof(lb_zone_report)`. */
    uint32_t struct_size;
    /** The caller's zone id. */
    uint32_t id;
    /** The zone's name (borrowed from the plan). */
    const char *name;
    /** Its priority level (0 is preferred). */
    uint32_t priority;
    /** An #lb_zone_state. */
    uint32_t state;
    /** Targets in the zone (count zones: the count; otherwise explicit targets). */
    uint32_t targets;
    /** Healthy targets among them. */
    uint32_t healthy;
    /** Targets that receive traffic (healthy ones, or all in fail-open and panic). */
    uint32_t serving;
    /** 1 when the zone holds counts (lb_zone_set_counts()), 0 for explicit targets. */
    uint32_t is_counts;
    /** Fraction of all incoming traffic its load-balancer node receives, after evacuations
     *  and DNS failover. */
    double incoming;
    /** Fraction of all traffic its targets serve. */
    double share;
    /** share / serving: each serving target's share when weights are equal (always for count
     *  zones); 0 when nothing serves. */
    double per_target;
} lb_zone_report;

/** Plan-wide results, filled by lb_zone_plan_summary(). */
typedef struct lb_zone_summary {
    /** Set by the caller to `sizeof(lb_zone_summary)`. */
    uint32_t struct_size;
    /** 1 when @ref max_over_min is defined: every healthy target with a weight above zero
     *  (and every target serving in fail-open or panic) receives traffic. */
    uint32_t has_max_over_min;
    /** Fraction of all traffic served in another zone than the node that received it. */
    double cross_zone;
    /** Over the targets that should serve (healthy with a weight above zero, or serving in
     *  fail-open and panic): the largest share per unit weight over the smallest; 0 when
     *  @ref has_max_over_min is 0. */
    double max_over_min;
} lb_zone_summary;

/** An opaque zone plan. */
typedef struct lb_zone_plan lb_zone_plan;

/**
 * @brief Fill options with the defaults (cross-zone on, min cluster size 6, local fraction 1,
 *        overprovisioning 1.4, panic threshold 0.5) and set struct_size to @p size.
 * @param[out] opts the options to fill: @p size bytes are written (the fields this library
 *        does not know are zeroed); NULL, or a size below 4, writes nothing.
 * @param size `sizeof(lb_zone_options)` as the caller knows it.
 * @thread pure
 */
LB_API void lb_zone_options_init(lb_zone_options *opts, size_t size);

/**
 * @brief Create an empty plan.
 * @param[out] out the new plan, owned by the caller (free with lb_zone_plan_free()).
 * @param opts options (copied), or NULL for the defaults.
 * @return 0, -EINVAL (NULL @p out, bad struct_size or an option out of range), -ENOMEM.
 * @thread pure
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval LB_E_STRUCT_SIZE A struct's size is below the first release's (doc/ABI.md)
 * @retval LB_E_STRUCT_TOO_NEW A newer caller's struct sets fields this library does not know
 */
LB_API LB_NODISCARD int lb_zone_plan_new(lb_zone_plan **out, const lb_zone_options *opts);

/**
 *  @brief Free a plan. NULL is a no-op. @param plan the plan.
 * @thread exclusive
 */
LB_API void lb_zone_plan_free(lb_zone_plan *plan);

/**
 * @brief Replace the plan's options.
 * @param plan the plan.
 * @param opts the new options (copied).
 * @return 0, -EINVAL (bad struct_size or an option out of range; the plan is unchanged).
 * @thread exclusive
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval LB_E_STRUCT_SIZE A struct's size is below the first release's (doc/ABI.md)
 * @retval LB_E_STRUCT_TOO_NEW A newer caller's struct sets fields this library does not know
 */
LB_API LB_NODISCARD int lb_zone_plan_set_options(lb_zone_plan *plan, const lb_zone_options *opts);

/**
 * @brief Add a zone with no targets, an even share of the incoming traffic, no threshold.
 * @param plan the plan.
 * @param zone_id caller-chosen id, unique in the plan.
 * @param name the zone's name (copied), 1..#LB_ZONE_NAME_MAX bytes, unique in the plan.
 * @param priority its priority level: 0 is preferred, 1 takes what 0 cannot, and so on.
 * @return 0, -EINVAL (NULL or bad name), -EEXIST (id or name taken), -ENOSPC (more than
 *         #LB_ZONE_MAX zones), -ENOMEM.
 * @thread exclusive
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval EEXIST Entry already exists
 * @retval ENOSPC Not enough room in the caller's buffer
 * @retval ENOMEM Out of memory
 */
LB_API LB_NODISCARD int lb_zone_add(lb_zone_plan *plan, uint32_t zone_id, const char *name,
                                    uint32_t priority);

/**
 * @brief Set the fraction of all incoming traffic the zone's load-balancer node receives.
 *
 * Zones left at #LB_ZONE_INCOMING_EVEN share evenly what the others leave (1 minus their sum);
 * when every zone has a fraction, the fractions are scaled to sum to 1.
 * @param plan the plan.
 * @param zone_id the zone.
 * @param fraction 0..1, or #LB_ZONE_INCOMING_EVEN.
 * @return 0, -EINVAL (out of range), #LB_E_ZONE_UNKNOWN.
 * @thread exclusive
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval LB_E_ZONE_UNKNOWN Unknown zone
 */
LB_API LB_NODISCARD int lb_zone_set_incoming(lb_zone_plan *plan, uint32_t zone_id, double fraction);

/**
 * @brief Set a zone's failure threshold.
 * @param plan the plan.
 * @param zone_id the zone.
 * @param min_healthy the healthy fraction (healthy weight / weight, 0..1) under which
 *        @p action applies; 0 disables the threshold.
 * @param action an #lb_zone_action.
 * @return 0, -EINVAL (out of range), #LB_E_ZONE_UNKNOWN.
 * @thread exclusive
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval LB_E_ZONE_UNKNOWN Unknown zone
 */
LB_API LB_NODISCARD int lb_zone_set_threshold(lb_zone_plan *plan, uint32_t zone_id,
                                              double min_healthy, uint32_t action);

/**
 * @brief Evacuate a zone (an administrative zone shift) or bring it back.
 *
 * An evacuated zone serves nothing and its node receives nothing (its incoming share moves to
 * the other nodes); it is left out of its priority level's health, so evacuating does not by
 * itself spill traffic to the next priority.
 * @param plan the plan.
 * @param zone_id the zone.
 * @param evacuated nonzero to evacuate, 0 to restore.
 * @return 0, #LB_E_ZONE_UNKNOWN.
 * @thread exclusive
 * @retval LB_OK Success
 * @retval LB_E_ZONE_UNKNOWN Unknown zone
 */
LB_API LB_NODISCARD int lb_zone_set_evacuated(lb_zone_plan *plan, uint32_t zone_id, int evacuated);

/**
 * @brief Give a zone anonymous targets by count (what-if planning).
 * @param plan the plan.
 * @param zone_id the zone; it must hold no explicit target.
 * @param total the number of targets; 0 clears the counts (the zone may then take explicit
 *        targets).
 * @param healthy how many of them are healthy, <= @p total.
 * @param weight each target's weight, 0..#LB_WEIGHT_MAX.
 * @return 0, -EINVAL (healthy > total), #LB_E_POOL_BAD_WEIGHT, #LB_E_ZONE_UNKNOWN,
 *         #LB_E_ZONE_MIXED.
 * @thread exclusive
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval LB_E_POOL_BAD_WEIGHT Weight outside 0..65535
 * @retval LB_E_ZONE_UNKNOWN Unknown zone
 * @retval LB_E_ZONE_MIXED A zone cannot hold both targets and target counts
 */
LB_API LB_NODISCARD int lb_zone_set_counts(lb_zone_plan *plan, uint32_t zone_id, uint32_t total,
                                           uint32_t healthy, uint32_t weight);

/**
 * @brief Add an explicit target.
 * @param plan the plan.
 * @param target_id caller id, unique in the plan (#LB_NO_TARGET is reserved).
 * @param zone_id its zone; the zone must hold no counts.
 * @param weight 0..#LB_WEIGHT_MAX (0: takes no traffic).
 * @param healthy nonzero when healthy.
 * @return 0, -EINVAL, -EEXIST, #LB_E_POOL_BAD_WEIGHT, #LB_E_ZONE_UNKNOWN, #LB_E_ZONE_MIXED,
 *         -ENOMEM.
 * @thread exclusive
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval EEXIST Entry already exists
 * @retval LB_E_POOL_BAD_WEIGHT Weight outside 0..65535
 * @retval LB_E_ZONE_UNKNOWN Unknown zone
 * @retval LB_E_ZONE_MIXED A zone cannot hold both targets and target counts
 * @retval ENOMEM Out of memory
 */
LB_API LB_NODISCARD int lb_zone_target_add(lb_zone_plan *plan, uint32_t target_id, uint32_t zone_id,
                                           uint32_t weight, int healthy);

/**
 * @brief Change an explicit target's weight and health.
 * @param plan the plan.
 * @param target_id the target.
 * @param weight 0..#LB_WEIGHT_MAX.
 * @param healthy nonzero when healthy.
 * @return 0, -EINVAL, -ENOENT, #LB_E_POOL_BAD_WEIGHT.
 * @thread exclusive
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval ENOENT No such entry
 * @retval LB_E_POOL_BAD_WEIGHT Weight outside 0..65535
 */
LB_API LB_NODISCARD int lb_zone_target_set(lb_zone_plan *plan, uint32_t target_id, uint32_t weight,
                                           int healthy);

/**
 * @brief Remove an explicit target.
 * @param plan the plan.
 * @param target_id the target.
 * @return 0, -EINVAL, -ENOENT.
 * @thread exclusive
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval ENOENT No such entry
 */
LB_API LB_NODISCARD int lb_zone_target_remove(lb_zone_plan *plan, uint32_t target_id);

/**
 *  @brief The number of zones (0 for NULL). @param plan the plan. @return the count.
 * @thread exclusive
 */
LB_API size_t lb_zone_count(const lb_zone_plan *plan);

/**
 * @brief Solve the plan and describe the zone at @p index (zones keep the order they were
 *        added in).
 * @param plan the plan.
 * @param index 0..lb_zone_count()-1.
 * @param[out] out the report (struct_size set by the caller).
 * @return 0, -EINVAL, -ENOENT (index out of range), #LB_E_NO_TARGET (no target anywhere can
 *         serve), #LB_E_ZONE_BAD_INCOMING.
 * @thread exclusive
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval ENOENT No such entry
 * @retval LB_E_NO_TARGET No eligible target
 * @retval LB_E_ZONE_BAD_INCOMING Invalid incoming traffic fractions
 * @retval LB_E_STRUCT_SIZE A struct's size is below the first release's (doc/ABI.md)
 */
LB_API LB_NODISCARD int lb_zone_plan_zone(lb_zone_plan *plan, size_t index, lb_zone_report *out);

/**
 * @brief Solve the plan and give its plan-wide results.
 * @param plan the plan.
 * @param[out] out the summary (struct_size set by the caller).
 * @return 0, -EINVAL, #LB_E_NO_TARGET, #LB_E_ZONE_BAD_INCOMING.
 * @thread exclusive
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval LB_E_NO_TARGET No eligible target
 * @retval LB_E_ZONE_BAD_INCOMING Invalid incoming traffic fractions
 * @retval LB_E_STRUCT_SIZE A struct's size is below the first release's (doc/ABI.md)
 */
LB_API LB_NODISCARD int lb_zone_plan_summary(lb_zone_plan *plan, lb_zone_summary *out);

/**
 * @brief The fraction of all traffic that priority level @p priority serves.
 * @param plan the plan.
 * @param priority a priority level (one with no zone serves 0).
 * @param[out] load the fraction, 0..1.
 * @return 0, -EINVAL, #LB_E_NO_TARGET, #LB_E_ZONE_BAD_INCOMING.
 * @thread exclusive
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval LB_E_NO_TARGET No eligible target
 * @retval LB_E_ZONE_BAD_INCOMING Invalid incoming traffic fractions
 */
LB_API LB_NODISCARD int lb_zone_plan_priority_load(lb_zone_plan *plan, uint32_t priority,
                                                   double *load);

/**
 * @brief Each explicit target's share of all traffic.
 * @param plan the plan.
 * @param ids @p n target ids (borrowed).
 * @param n how many.
 * @param[out] shares @p n fractions, 0..1.
 * @return 0, -EINVAL, -ENOENT (an unknown id; nothing meaningful written), #LB_E_NO_TARGET,
 *         #LB_E_ZONE_BAD_INCOMING.
 * @thread exclusive
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval ENOENT No such entry
 * @retval LB_E_NO_TARGET No eligible target
 * @retval LB_E_ZONE_BAD_INCOMING Invalid incoming traffic fractions
 */
LB_API LB_NODISCARD int lb_zone_plan_shares(lb_zone_plan *plan, const uint32_t *ids, size_t n,
                                            double *shares);

/**
 * @brief How the load-balancer node of @p local_zone splits its traffic over the zones.
 *
 * Computed as if the node received traffic, even when its zone is evacuated or failed over
 * (so a node always has somewhere to send a stray connection).
 * @param plan the plan.
 * @param local_zone the node's zone id.
 * @param[out] to fractions by zone index (the order of lb_zone_plan_zone()), summing to 1.
 * @param cap the room in @p to; at least lb_zone_count().
 * @return 0, -EINVAL, -ENOSPC (@p cap too small), #LB_E_ZONE_UNKNOWN, #LB_E_NO_TARGET,
 *         #LB_E_ZONE_BAD_INCOMING.
 * @thread exclusive
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval ENOSPC Not enough room in the caller's buffer
 */
LB_API LB_NODISCARD int lb_zone_plan_route(lb_zone_plan *plan, uint32_t local_zone, double *to,
                                           size_t cap);

/**
 * @brief The effective weights of explicit targets as seen from the node of @p local_zone:
 *        what that node's selector is built with.
 *
 * fractions[i] is the fraction of the node's traffic target ids[i] should receive. weights[i]
 * is the same scaled so that the plan's largest explicit target fraction (from this node)
 * maps to #LB_WEIGHT_MAX, rounded to nearest; a target with a fraction above 0 never gets 0
 * (it gets at least 1). Targets that should receive nothing get 0. Does not allocate.
 * @param plan the plan.
 * @param local_zone the node's zone id.
 * @param ids @p n target ids (borrowed).
 * @param n how many.
 * @param[out] weights @p n integer weights, or NULL.
 * @param[out] fractions @p n exact fractions, or NULL.
 * @return 0, -EINVAL, -ENOENT (an unknown id), #LB_E_ZONE_UNKNOWN, #LB_E_NO_TARGET,
 *         #LB_E_ZONE_BAD_INCOMING.
 * @thread exclusive
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 * @retval ENOENT No such entry
 * @retval LB_E_ZONE_UNKNOWN Unknown zone
 * @retval LB_E_NO_TARGET No eligible target
 * @retval LB_E_ZONE_BAD_INCOMING Invalid incoming traffic fractions
 */
LB_API LB_NODISCARD int lb_zone_plan_weights(lb_zone_plan *plan, uint32_t local_zone,
                                             const uint32_t *ids, size_t n, uint32_t *weights,
                                             double *fractions);

/**
 * @brief The cost of the traffic that crosses zones.
 * @param cross_zone the crossing fraction (lb_zone_summary::cross_zone), 0..1.
 * @param gb the total volume in GB.
 * @param usd_per_gb the price per GB crossing zones.
 * @param[out] cross_gb the volume that crosses zones, or NULL.
 * @param[out] usd its cost, or NULL.
 * @return 0, -EINVAL (a negative, out-of-range or non-finite input).
 * @thread pure
 * @retval LB_OK Success
 * @retval EINVAL Invalid argument
 */
LB_API LB_NODISCARD int lb_zone_transfer_cost(double cross_zone, double gb, double usd_per_gb,
                                              double *cross_gb, double *usd);

/**
 *  @brief The name of a mode ("off", "on", "zone-aware", "affinity"; "unknown" otherwise).
 *  @param mode an #lb_zone_mode. @return a static string, never NULL.
 * @thread pure
 */
LB_API const char *lb_zone_mode_name(uint32_t mode);

/**
 *  @brief The name of a state ("up", "down", "failed-over", "fail-open", "evacuated",
 *  "panic"; "unknown" otherwise). @param state an #lb_zone_state.
 *  @return a static string, never NULL.
 * @thread pure
 */
LB_API const char *lb_zone_state_name(uint32_t state);

#ifdef __cplusplus
}
#endif

#endif /* LB_ZONE_H */
