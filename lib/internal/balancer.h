/* The balancer's private structures, shared by lib/balancer.c (the writer side: registry,
 * health, zones, events) and lib/balancer_snap.c (snapshots, their reclamation, picks).
 * Never installed. */
#ifndef LB_INTERNAL_BALANCER_H
#define LB_INTERNAL_BALANCER_H

#include <pthread.h>
#include <stdatomic.h>

#include "lb/balancer.h"
#include "lb/chash.h"
#include "lb/health.h"
#include "lb/leastconn.h"
#include "lb/loads.h"
#include "lb/maglev.h"
#include "lb/pool.h"
#include "lb/wrr.h"
#include "lb/zone.h"

/* Reader stripes of the two-epoch reclamation scheme (doc/balancer.md): a power of two. */
#define LB__BAL_STRIPES 16
/* Most snapshots retired but not yet freed once a publish returns. */
#define LB__BAL_MAX_RETIRED 2

/* One target as a snapshot sees it. */
struct lb__snap_ent {
    uint32_t id;
    uint32_t slot;      /* its lb_loads slot (also indexes the pick counters) */
    uint32_t max_conns; /* 0: none */
    uint32_t weight;    /* effective weight the selector was built with (0: not in it) */
    uint32_t entries;   /* Maglev slots it owns */
    uint8_t eligible;   /* may take new connections */
    uint8_t draining;   /* its last release must reach the writer */
    uint8_t pad[2];
    uint64_t key_hash; /* for the rendezvous fallback of excluded picks */
};

/* The selector of one snapshot; shared by consecutive snapshots whose selector inputs (the
 * eligible targets and their effective weights) are equal. Reference-counted by the writer. */
struct lb__sel {
    uint32_t refs;
    uint32_t algorithm;
    lb_maglev *maglev;
    lb_chash *ring;
    lb_wrr *wrr;
    lb_leastconn *lc;
    uint32_t n;    /* targets in the selector */
    uint32_t *ids; /* their ids and effective weights, sorted by id (input identity) */
    uint32_t *weights;
    uint64_t digest;
};

/* An immutable snapshot: everything a pick needs. */
struct lb__snap {
    uint64_t generation;
    uint32_t n;               /* registered targets (draining ones included) */
    uint32_t n_elig;          /* eligible targets with a weight above zero */
    struct lb__snap_ent *ent; /* registry order */
    uint32_t *elig;           /* indexes into ent of the eligible targets, sorted by key */
    uint32_t *map;            /* open addressing id -> index + 1 (0: empty) */
    uint32_t map_mask;
    uint32_t fail_open;
    struct lb__sel *sel;
    uint32_t *by_sel; /* Maglev: the table's target index -> index into ent */
};

/* One registered target (writer-owned, parallel to the pool's insertion order). */
struct lb__bal_target {
    uint32_t id;
    uint32_t weight;
    uint32_t zone;
    uint32_t max_conns;
    uint32_t slot;
    uint32_t pub_state;      /* the lb_target_state last reported */
    uint32_t synced;         /* the connection count last given to lb_health */
    uint8_t admin_drain;     /* drained by lb_balancer_drain() until undrained */
    uint8_t removing;        /* lb_balancer_remove() called: deregistered in lb_health */
    uint8_t leaving;         /* made ineligible ahead of a drain (see drain_begin) */
    uint8_t gone;            /* health says REMOVED: to be dropped from the registry */
    uint64_t drain_deadline; /* admin drain: when LB_EVENT_CLOSE is due (UINT64_MAX none) */
    uint64_t key_hash;
};

struct lb__bal_stripe {
    _Atomic uint64_t readers[2];
    char pad[64 - 2 * sizeof(uint64_t)];
};

struct lb__bal_picks {
    _Atomic uint64_t n;
    char pad[64 - sizeof(uint64_t)];
};

struct lb__zone_share {
    uint32_t zone;
    uint32_t percent;
};

struct lb_balancer {
    /* ---- read by every pick ---- */
    _Alignas(64) _Atomic(struct lb__snap *) current;
    _Atomic uint32_t epoch;
    lb_loads *loads;
    struct lb__bal_picks *picks; /* per lb_loads slot */
    uint32_t algorithm;
    uint32_t bound_percent;
    _Alignas(64) _Atomic uint64_t no_target;
    _Atomic uint64_t bad_releases; /* releases of an unknown id, or of a count already 0 */
    _Alignas(64) struct lb__bal_stripe stripes[LB__BAL_STRIPES];

    /* ---- writer side, under lock ---- */
    pthread_mutex_t lock;
    lb_balancer_config cfg; /* defaults applied */
    lb_health *health;
    lb_pool *pool;             /* every registered target, configured weights */
    struct lb__bal_target *tg; /* parallel to the pool's order */
    size_t n, cap;
    uint64_t generation;
    uint64_t hnow;       /* the latest time given to lb_health */
    uint64_t ramp_next;  /* next slow-start rebuild (UINT64_MAX none) */
    uint64_t picks_gone; /* picks of targets removed since */
    struct lb__snap *retired[LB__BAL_MAX_RETIRED + 1]; /* swapped out, not yet freed */
    uint32_t retired_epoch[LB__BAL_MAX_RETIRED + 1];   /* the epoch at their swap */
    uint32_t n_retired;
    int dirty;     /* something changed that the snapshot does not show */
    int in_health; /* inside an lb_health call (events arrive) */
    lb_event *ev;  /* event ring */
    size_t ev_head, ev_len, ev_cap;
    uint64_t ev_dropped;
    struct lb__zone_share *shares;
    size_t n_shares;
    uint32_t *zombies; /* ids removed, counters freed after the next publish */
    size_t n_zombies;
};

/* lib/balancer_snap.c */
int lb__bal_publish(lb_balancer *b);
void lb__bal_synchronize(lb_balancer *b);
void lb__bal_snap_free(lb_balancer *b, struct lb__snap *s);
void lb__bal_sel_release(struct lb__sel *sel);
const struct lb__snap_ent *lb__bal_snap_find(const struct lb__snap *s, uint32_t id);

/* lib/balancer.c */
int lb__bal_effective(lb_balancer *b, uint32_t *weights, uint8_t *eligible, uint8_t *draining,
                      uint32_t *fail_open);
void lb__bal_last_release(lb_balancer *b, uint32_t id, uint64_t now_ms);

#endif /* LB_INTERNAL_BALANCER_H */
