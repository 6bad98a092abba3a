/*
 * The Maglev upstream module, written once for nginx's http and stream subsystems: each
 * module's file defines NGX_LBM(name) (ngx_http_##name or ngx_stream_##name), NGX_LBM_C(NAME)
 * (its constants), NGX_LBM_SESSION (the request or session type) and NGX_LBM_POOL(r), then
 * includes this file. The round-robin peers nginx builds from the upstream's servers become
 * liblb balancer targets (key: the peer's address text, as $upstream_addr shows it; weight:
 * its weight=); the selection itself is ngx_lbm_pick() (ngx_lb_maglev.c).
 */

#include "ngx_lb_maglev.c"


typedef struct {
    ngx_lbm_conf_t                        lbm;
    NGX_LBM(complex_value_t)              key;
} NGX_LBM(upstream_maglev_srv_conf_t);


typedef struct {
    /* the round robin data must be first */
    NGX_LBM(upstream_rr_peer_data_t)      rrp;
    NGX_LBM(upstream_maglev_srv_conf_t)  *conf;
    uint64_t                              hash;
    uint32_t                              picked;
    time_t                                now;
} NGX_LBM(upstream_maglev_peer_data_t);


static ngx_int_t NGX_LBM(upstream_init_maglev)(ngx_conf_t *cf,
    NGX_LBM(upstream_srv_conf_t) *us);
static ngx_int_t NGX_LBM(upstream_init_maglev_peer)(NGX_LBM_SESSION *r,
    NGX_LBM(upstream_srv_conf_t) *us);
static ngx_int_t NGX_LBM(upstream_get_maglev_peer)(ngx_peer_connection_t *pc,
    void *data);
static void NGX_LBM(upstream_free_maglev_peer)(ngx_peer_connection_t *pc,
    void *data, ngx_uint_t state);
static ngx_int_t NGX_LBM(upstream_maglev_unusable)(uint32_t id, void *data);
static void *NGX_LBM(upstream_maglev_create_conf)(ngx_conf_t *cf);
static char *NGX_LBM(upstream_maglev)(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


static ngx_int_t
NGX_LBM(upstream_init_maglev)(ngx_conf_t *cf, NGX_LBM(upstream_srv_conf_t) *us)
{
    uint32_t                              id;
    ngx_uint_t                            i;
    NGX_LBM(upstream_server_t)           *server;
    NGX_LBM(upstream_rr_peer_t)          *peer;
    NGX_LBM(upstream_rr_peers_t)         *peers;
    NGX_LBM(upstream_maglev_srv_conf_t)  *mcf;

    mcf = NGX_LBM(conf_upstream_srv_conf)(us, NGX_LBM(upstream_maglev_module));

    if (us->servers) {
        server = us->servers->elts;

        for (i = 0; i < us->servers->nelts; i++) {
            if (server[i].backup) {
                ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                              "maglev does not support backup servers: "
                              "\"%V\" in upstream \"%V\" in %s:%ui",
                              &server[i].name, &us->host, us->file_name,
                              us->line);
                return NGX_ERROR;
            }
        }
    }

    if (NGX_LBM(upstream_init_round_robin)(cf, us) != NGX_OK) {
        return NGX_ERROR;
    }

    us->peer.init = NGX_LBM(upstream_init_maglev_peer);

    peers = us->peer.data;

    if (ngx_lbm_init(cf, &mcf->lbm, &us->host, us->file_name, us->line,
                     peers->number)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (peer = peers->peer, id = 0; peer; peer = peer->next, id++) {
        if (ngx_lbm_add(cf, &mcf->lbm, id, &peer->name, peer->weight)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
NGX_LBM(upstream_init_maglev_peer)(NGX_LBM_SESSION *r,
    NGX_LBM(upstream_srv_conf_t) *us)
{
    ngx_str_t                              key;
    NGX_LBM(upstream_maglev_srv_conf_t)   *mcf;
    NGX_LBM(upstream_maglev_peer_data_t)  *mp;

    mp = ngx_palloc(NGX_LBM_POOL(r),
                    sizeof(NGX_LBM(upstream_maglev_peer_data_t)));
    if (mp == NULL) {
        return NGX_ERROR;
    }

    r->upstream->peer.data = &mp->rrp;

    if (NGX_LBM(upstream_init_round_robin_peer)(r, us) != NGX_OK) {
        return NGX_ERROR;
    }

    r->upstream->peer.get = NGX_LBM(upstream_get_maglev_peer);
    r->upstream->peer.free = NGX_LBM(upstream_free_maglev_peer);

    mcf = NGX_LBM(conf_upstream_srv_conf)(us, NGX_LBM(upstream_maglev_module));

    if (mcf->lbm.source) {
        mp->hash = ngx_lbm_hash_source(r->connection->sockaddr);

    } else {
        if (NGX_LBM(complex_value)(r, &mcf->key, &key) != NGX_OK) {
            return NGX_ERROR;
        }

        mp->hash = ngx_lbm_hash_key(&key);
    }

    mp->conf = mcf;
    mp->picked = LB_NO_TARGET;

    return NGX_OK;
}


static ngx_int_t
NGX_LBM(upstream_get_maglev_peer)(ngx_peer_connection_t *pc, void *data)
{
    NGX_LBM(upstream_maglev_peer_data_t)  *mp = data;

    uint32_t                       id;
    ngx_lbm_conf_t                *c;
    NGX_LBM(upstream_rr_peer_t)   *peer;
    NGX_LBM(upstream_rr_peers_t)  *peers;

    c = &mp->conf->lbm;
    peers = mp->rrp.peers;

    pc->connection = NULL;

    NGX_LBM(upstream_rr_peers_rlock)(peers);

    if (c->peer_src != peers) {
        for (peer = peers->peer, id = 0; peer && id < c->n;
             peer = peer->next, id++)
        {
            c->peer[id] = peer;
        }

        c->peer_src = peers;
    }

    mp->now = ngx_time();

    if (ngx_lbm_pick(c, mp->hash, NGX_LBM(upstream_maglev_unusable), mp, &id)
        != NGX_OK)
    {
        NGX_LBM(upstream_rr_peers_unlock)(peers);
        pc->name = peers->name;
        return NGX_BUSY;
    }

    peer = c->peer[id];

    NGX_LBM(upstream_rr_peer_lock)(peers, peer);

    mp->rrp.current = peer;
    mp->picked = id;

    pc->sockaddr = peer->sockaddr;
    pc->socklen = peer->socklen;
    pc->name = &peer->name;

    peer->conns++;

    if (mp->now - peer->checked > peer->fail_timeout) {
        peer->checked = mp->now;
    }

    NGX_LBM(upstream_rr_peer_unlock)(peers, peer);
    NGX_LBM(upstream_rr_peers_unlock)(peers);

    mp->rrp.tried[ngx_lbm_tried_word(id)] |= ngx_lbm_tried_bit(id);

    return NGX_OK;
}


static void
NGX_LBM(upstream_free_maglev_peer)(ngx_peer_connection_t *pc, void *data,
    ngx_uint_t state)
{
    NGX_LBM(upstream_maglev_peer_data_t)  *mp = data;

    if (mp->picked != LB_NO_TARGET) {
        ngx_lbm_release(&mp->conf->lbm, mp->picked);
        mp->picked = LB_NO_TARGET;
    }

    NGX_LBM(upstream_free_round_robin_peer)(pc, &mp->rrp, state);
}


static ngx_int_t
NGX_LBM(upstream_maglev_unusable)(uint32_t id, void *data)
{
    NGX_LBM(upstream_maglev_peer_data_t)  *mp = data;

    ngx_int_t                     unusable;
    NGX_LBM(upstream_rr_peer_t)  *peer;

    if (mp->rrp.tried[ngx_lbm_tried_word(id)] & ngx_lbm_tried_bit(id)) {
        return 1;
    }

    peer = mp->conf->lbm.peer[id];

    NGX_LBM(upstream_rr_peer_lock)(mp->rrp.peers, peer);
    unusable = ngx_lbm_peer_unusable(peer, mp->now);
    NGX_LBM(upstream_rr_peer_unlock)(mp->rrp.peers, peer);

    return unusable;
}


static void *
NGX_LBM(upstream_maglev_create_conf)(ngx_conf_t *cf)
{
    return ngx_pcalloc(cf->pool, sizeof(NGX_LBM(upstream_maglev_srv_conf_t)));
}


static char *
NGX_LBM(upstream_maglev)(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    NGX_LBM(upstream_maglev_srv_conf_t)  *mcf = conf;

    char                              *rv;
    ngx_str_t                         *key;
    NGX_LBM(upstream_srv_conf_t)      *uscf;
    NGX_LBM(compile_complex_value_t)   ccv;

    rv = ngx_lbm_parse(cf, &mcf->lbm, &key);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    if (key) {
        ngx_memzero(&ccv, sizeof(NGX_LBM(compile_complex_value_t)));

        ccv.cf = cf;
        ccv.value = key;
        ccv.complex_value = &mcf->key;

        if (NGX_LBM(compile_complex_value)(&ccv) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    uscf = NGX_LBM(conf_get_module_srv_conf)(cf, NGX_LBM(upstream_module));

    if (uscf->peer.init_upstream) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "load balancing method redefined");
    }

    uscf->flags = NGX_LBM_C(UPSTREAM_CREATE)
                  |NGX_LBM_C(UPSTREAM_WEIGHT)
                  |NGX_LBM_C(UPSTREAM_MAX_CONNS)
                  |NGX_LBM_C(UPSTREAM_MAX_FAILS)
                  |NGX_LBM_C(UPSTREAM_FAIL_TIMEOUT)
                  |NGX_LBM_C(UPSTREAM_DOWN);

    uscf->peer.init_upstream = NGX_LBM(upstream_init_maglev);

    return NGX_CONF_OK;
}
