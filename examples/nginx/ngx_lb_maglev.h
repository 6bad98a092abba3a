/*
 * The part of the Maglev upstream modules that the HTTP and the stream module share (each
 * module includes ngx_lb_maglev.c, so these functions stay private to its shared object): the
 * directive's arguments, the liblb balancer of one upstream (built at configuration time, in
 * the master process, and inherited by every worker), and the pick with exclusions.
 *
 * Selection is liblb's alone: lb_balancer_pick() for the flow hash, and when that peer cannot
 * take the connection (down, failed within fail_timeout, at max_conns, or already tried by
 * this request), lb_balancer_pick_ex() with every such peer excluded: liblb's retry rule
 * (doc/balancer.md, "Excluded targets").
 */

#ifndef NGX_LB_MAGLEV_H_INCLUDED_
#define NGX_LB_MAGLEV_H_INCLUDED_

#include <ngx_config.h>
#include <ngx_core.h>

#include <lb/balancer.h>
#include <lb/hash.h>
#include <lb/maglev.h>


/* 1 when peer @id cannot take this connection (@ctx: the module's peer data) */
typedef ngx_int_t (*ngx_lbm_unusable_pt)(uint32_t id, void *ctx);


typedef struct {
    lb_balancer     *bal;
    uint32_t         table_size;   /* 0 until the directive is read */
    uint32_t         n;            /* peers, ids 0 .. n - 1 in the order of nginx's list */
    uint32_t        *excl;         /* room for one pick's excluded ids */
    void           **peer;         /* this process's peer structure of each id */
    void            *peer_src;     /* the peers list that peer[] was filled from */
    ngx_uint_t       source;       /* "maglev source": hash the client address */
    ngx_str_t       *upstream;     /* for messages: the upstream's name and place */
    u_char          *file;
    ngx_uint_t       line;
} ngx_lbm_conf_t;


/* An nginx round-robin peer (HTTP or stream: the fields have the same names) that cannot take
 * a new connection now: marked down, failed max_fails times within fail_timeout, or at its
 * max_conns. The same test as nginx's own hash and round-robin balancers. */
#define ngx_lbm_peer_unusable(peer, now)                                      \
    ((peer)->down                                                             \
     || ((peer)->max_fails && (peer)->fails >= (peer)->max_fails              \
         && (now) - (peer)->checked <= (peer)->fail_timeout)                  \
     || ((peer)->max_conns && (peer)->conns >= (peer)->max_conns))

/* The bit of peer @id in a round-robin peer data's `tried` bitmap. */
#define ngx_lbm_tried_word(id)  ((id) / (8 * sizeof(uintptr_t)))
#define ngx_lbm_tried_bit(id)   ((uintptr_t) 1 << (id) % (8 * sizeof(uintptr_t)))


/* The directive's arguments (cf->args): "maglev KEY|source [table_size=M]". Sets *key to the
 * KEY argument (NULL for "source"); logs and returns NGX_CONF_ERROR on a bad argument. */
static char *ngx_lbm_parse(ngx_conf_t *cf, ngx_lbm_conf_t *c, ngx_str_t **key);

/* Creates the balancer of an upstream with @n peers (its name, file and line for errors). */
static ngx_int_t ngx_lbm_init(ngx_conf_t *cf, ngx_lbm_conf_t *c,
    ngx_str_t *upstream, u_char *file, ngx_uint_t line, ngx_uint_t n);

/* Adds peer @id: its Maglev key is @name (the peer's address text), its weight @weight. */
static ngx_int_t ngx_lbm_add(ngx_conf_t *cf, ngx_lbm_conf_t *c, uint32_t id,
    ngx_str_t *name, ngx_int_t weight);

/* The flow hash of a request: lb_hash_key(KEY's bytes, seed 0), or the client address hashed
 * as lbfwd --affinity source does (lb_hash_src_sockaddr, seed 0; 0 for a client that has no
 * IP address, as in lbfwd). */
static uint64_t ngx_lbm_hash_key(ngx_str_t *value);
static uint64_t ngx_lbm_hash_source(struct sockaddr *sa);

/* Picks a peer for @hash, never one @unusable excludes. NGX_OK with *id, or NGX_BUSY. */
static ngx_int_t ngx_lbm_pick(ngx_lbm_conf_t *c, uint64_t hash,
    ngx_lbm_unusable_pt unusable, void *ctx, uint32_t *id);

/* Ends the connection a pick counted. */
static void ngx_lbm_release(ngx_lbm_conf_t *c, uint32_t id);

#endif /* NGX_LB_MAGLEV_H_INCLUDED_ */
