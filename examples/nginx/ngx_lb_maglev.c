/*
 * The shared part of ngx_http_upstream_maglev_module and ngx_stream_upstream_maglev_module,
 * included by each (see ngx_lb_maglev.h). Only liblb's public API decides anything here.
 */

#include "ngx_lb_maglev.h"


static void ngx_lbm_cleanup(void *data);


static char *
ngx_lbm_parse(ngx_conf_t *cf, ngx_lbm_conf_t *c, ngx_str_t **key)
{
    int          rc;
    ngx_int_t    m;
    ngx_str_t   *value;
    lb_pool     *pool;
    lb_maglev   *probe;
    ngx_uint_t   i, sized;

    if (c->table_size) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts < 2 || value[1].len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"maglev\" needs a key: \"maglev $remote_addr;\", "
                           "\"maglev $arg_user;\" or \"maglev source;\"");
        return NGX_CONF_ERROR;
    }

    *key = NULL;
    c->source = 0;

    if (value[1].len == 6 && ngx_strncmp(value[1].data, "source", 6) == 0) {
        c->source = 1;

    } else {
        *key = &value[1];
    }

    m = LB_MAGLEV_DEFAULT_SIZE;
    sized = 0;

    for (i = 2; i < cf->args->nelts; i++) {

        if (value[i].len <= 11
            || ngx_strncmp(value[i].data, "table_size=", 11) != 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "unknown maglev parameter \"%V\" "
                               "(maglev KEY|source [table_size=M])", &value[i]);
            return NGX_CONF_ERROR;
        }

        if (sized) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "maglev table_size is given twice");
            return NGX_CONF_ERROR;
        }

        sized = 1;
        m = ngx_atoi(value[i].data + 11, value[i].len - 11);

        if (m == NGX_ERROR || m < 2 || m > (ngx_int_t) LB_MAGLEV_MAX_SIZE) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "maglev table size \"%V\" is out of range "
                               "(a prime from 2 to %uD)",
                               &value[i], (uint32_t) LB_MAGLEV_MAX_SIZE);
            return NGX_CONF_ERROR;
        }
    }

    /* liblb decides what a valid size is: build an empty table of that size */

    if (lb_pool_new(&pool) != 0) {
        return NGX_CONF_ERROR;
    }

    probe = NULL;
    rc = lb_maglev_build(&probe, pool, (uint32_t) m);
    lb_maglev_free(probe);
    lb_pool_free(pool);

    if (rc == LB_E_MAGLEV_NOT_PRIME) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "maglev table size %i is not a prime "
                           "(65537 is the default)", m);
        return NGX_CONF_ERROR;
    }

    if (rc != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "maglev table size %i: %s", m, lb_strerror(rc));
        return NGX_CONF_ERROR;
    }

    c->table_size = (uint32_t) m;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_lbm_init(ngx_conf_t *cf, ngx_lbm_conf_t *c, ngx_str_t *upstream,
    u_char *file, ngx_uint_t line, ngx_uint_t n)
{
    int                  rc;
    lb_balancer_config   cfg;
    ngx_pool_cleanup_t  *cln;

    if (n == 0 || n > c->table_size) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "maglev table size %uD is smaller than the %ui servers "
                      "of upstream \"%V\" in %s:%ui",
                      c->table_size, n, upstream, file, line);
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    c->n = (uint32_t) n;
    c->upstream = upstream;
    c->file = file;
    c->line = line;
    c->excl = ngx_palloc(cf->pool, n * sizeof(uint32_t));
    c->peer = ngx_pcalloc(cf->pool, n * sizeof(void *));

    if (c->excl == NULL || c->peer == NULL) {
        return NGX_ERROR;
    }

    c->peer_src = NULL;

    ngx_memzero(&cfg, sizeof(lb_balancer_config));
    cfg.struct_size = sizeof(lb_balancer_config);
    cfg.algorithm = LB_ALG_MAGLEV;
    cfg.table_size = c->table_size;
    cfg.max_targets = (uint32_t) n;
    cfg.deregistration_delay_ms = LB_BALANCER_DRAIN_IMMEDIATE;

    rc = lb_balancer_new(&c->bal, &cfg);
    if (rc != 0) {
        c->bal = NULL;
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "maglev: %s in upstream \"%V\" in %s:%ui",
                      lb_strerror(rc), upstream, file, line);
        return NGX_ERROR;
    }

    cln->handler = ngx_lbm_cleanup;
    cln->data = c;

    return NGX_OK;
}


static ngx_int_t
ngx_lbm_add(ngx_conf_t *cf, ngx_lbm_conf_t *c, uint32_t id, ngx_str_t *name,
    ngx_int_t weight)
{
    int  rc;

    if (weight < 1 || weight > (ngx_int_t) LB_WEIGHT_MAX) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "maglev: weight=%i of server \"%V\" is out of range "
                      "(1 to %uD) in upstream \"%V\" in %s:%ui",
                      weight, name, (uint32_t) LB_WEIGHT_MAX, c->upstream,
                      c->file, c->line);
        return NGX_ERROR;
    }

    rc = lb_balancer_add(c->bal, id, name->data, name->len, (uint32_t) weight,
                         0, 0, 0);

    if (rc == LB_E_POOL_DUPLICATE_KEY) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "maglev: server \"%V\" appears twice (a peer's address "
                      "is its Maglev key; use weight=) in upstream \"%V\" "
                      "in %s:%ui", name, c->upstream, c->file, c->line);
        return NGX_ERROR;
    }

    if (rc != 0) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "maglev: server \"%V\": %s in upstream \"%V\" "
                      "in %s:%ui", name, lb_strerror(rc), c->upstream, c->file,
                      c->line);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static uint64_t
ngx_lbm_hash_key(ngx_str_t *value)
{
    return lb_hash_key(value->data, value->len, 0);
}


static uint64_t
ngx_lbm_hash_source(struct sockaddr *sa)
{
    uint64_t  h;

    if (sa == NULL || lb_hash_src_sockaddr(sa, 0, &h) != 0) {
        return 0;
    }

    return h;
}


static ngx_int_t
ngx_lbm_pick(ngx_lbm_conf_t *c, uint64_t hash, ngx_lbm_unusable_pt unusable,
    void *ctx, uint32_t *id)
{
    uint32_t         i, n;
    lb_pick_request  req;

    /* the table's choice, kept when that peer can take the connection */

    if (lb_balancer_pick(c->bal, hash, id) != 0) {
        return NGX_BUSY;
    }

    if (!unusable(*id, ctx)) {
        return NGX_OK;
    }

    lb_balancer_release(c->bal, *id, ngx_current_msec);

    /* otherwise liblb's choice with every peer that cannot take it excluded */

    n = 0;

    for (i = 0; i < c->n; i++) {
        if (unusable(i, ctx)) {
            c->excl[n++] = i;
        }
    }

    if (n == c->n) {
        return NGX_BUSY;
    }

    ngx_memzero(&req, sizeof(lb_pick_request));
    req.struct_size = sizeof(lb_pick_request);
    req.flow_hash = hash;
    req.n_exclude = n;
    req.exclude = c->excl;

    if (lb_balancer_pick_ex(c->bal, &req, id) != 0) {
        return NGX_BUSY;
    }

    return NGX_OK;
}


static void
ngx_lbm_release(ngx_lbm_conf_t *c, uint32_t id)
{
    lb_balancer_release(c->bal, id, ngx_current_msec);
}


static void
ngx_lbm_cleanup(void *data)
{
    ngx_lbm_conf_t  *c = data;

    lb_balancer_free(c->bal);
    c->bal = NULL;
}
