/* The selector interface: every selection algorithm the balancer offers is one table of
 * operations, defined in the algorithm's own source file and listed once, in lib/selector.c
 * (lb__selectors[], indexed by enum lb_algorithm). The balancer (lib/balancer_snap.c) only
 * dispatches through these tables: it builds a selector from a snapshot's eligible targets and
 * their effective weights, asks it for a pick with the flow hash and the attempt number, and
 * runs the one retry/exclusion loop around it. Never installed.
 *
 * Positions: a selector is built from the eligible targets in one order (sorted by key,
 * lb__key_cmp()); the pool it receives holds them in that order, and every pick answers with a
 * position in it (0 .. n - 1), which the snapshot maps to its entry without a lookup. */
#ifndef LB_INTERNAL_SELECTOR_H
#define LB_INTERNAL_SELECTOR_H

#include <stdint.h>

#include "lb/loads.h"
#include "lb/pool.h"

/* What a selector needs (lb__selector.needs). */
#define LB__SEL_NEEDS_LOADS 1u /* reads the per-target connection counts (lb_loads) */
#define LB__SEL_NEEDS_TABLE 2u /* a table size: lb_balancer_config.table_size, a prime */
#define LB__SEL_NEEDS_BOUND 4u /* a load bound: bound_percent, and the loads' total */
#define LB__SEL_HASHED      8u /* the pick is a function of the flow hash: a retry rehashes */

/* What a selector is built from. */
struct lb__sel_input {
    const lb_pool *pool; /* the eligible targets in position order, effective weights (> 0) */
    uint32_t n;          /* their number */
    lb_loads *loads;     /* the balancer's counts (every target is tracked) */
    uint32_t table_size; /* LB__SEL_NEEDS_TABLE */
    uint64_t seed;
    void *prev; /* the state of the previous selector of the same algorithm, or NULL */
};

/* One pick request as a selector sees it. */
struct lb__sel_pick {
    uint64_t hash;          /* the flow hash, rehashed for attempt > 0 by the caller */
    uint32_t attempt;       /* 0, then 1, 2, ... after excluded choices */
    uint32_t bound_percent; /* LB__SEL_NEEDS_BOUND */
    uint64_t seed;
    uint32_t n_exclude; /* 0: nothing is excluded (excluded() need not be called) */
    /* 1 when position @pos is excluded by the request. */
    int (*excluded)(const struct lb__sel_pick *p, uint32_t pos);
    const void *user; /* for excluded() */
};

struct lb__selector {
    const char *name; /* the algorithm's name (lb_algorithm_name()) */
    uint32_t needs;   /* LB__SEL_* */
    /* Build a selector; *state is freed with free_state(). 0 or a negative error. */
    int (*build)(void **state, const struct lb__sel_input *in);
    /* Choose a position. *counted = 1 when the selector counted the connection on the
     * target's lb_loads counter itself (the caller then takes it back with release(), or by
     * decrementing the counter when release is NULL, if the pick is not kept). 0, or
     * LB_E_NO_TARGET when it has no answer. Lock-free, allocation-free. */
    int (*pick)(void *state, const struct lb__sel_pick *p, uint32_t *pos, int *counted);
    /* NULL, or: end one connection of target @id that a pick counted through this selector;
     * 0 when it decremented the count. */
    int (*release)(void *state, uint32_t id);
    void (*free_state)(void *state);
    /* NULL, or the digest of what it was built from (lb_balancer_stats.table_digest). */
    uint64_t (*digest)(const void *state);
    /* NULL, or the table entries position @pos owns (lb_target_stats.table_entries). */
    uint32_t (*entries)(const void *state, uint32_t pos);
};

/* The selectors (each defined in its algorithm's source file). */
extern const struct lb__selector lb__sel_maglev, lb__sel_ring, lb__sel_ring_bounded, lb__sel_wrr,
    lb__sel_leastconn, lb__sel_p2c, lb__sel_rendezvous;

/* The selector of an lb_algorithm value, or NULL for an unknown one. */
const struct lb__selector *lb__selector_of(uint32_t algorithm);

#endif /* LB_INTERNAL_SELECTOR_H */
