/*
 * ngx_stream_upstream_maglev_module: "maglev KEY [table_size=M];" and "maglev source;" in a
 * stream upstream block (doc/nginx.md). The code is ngx_lb_maglev_module.c, shared with the
 * http module.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_stream.h>


#define NGX_LBM(name)       ngx_stream_##name
#define NGX_LBM_C(name)     NGX_STREAM_##name
#define NGX_LBM_SESSION     ngx_stream_session_t
#define NGX_LBM_POOL(s)     (s)->connection->pool

ngx_module_t  ngx_stream_upstream_maglev_module;

#include "ngx_lb_maglev_module.c"


static ngx_command_t  ngx_stream_upstream_maglev_commands[] = {

    { ngx_string("maglev"),
      NGX_STREAM_UPS_CONF|NGX_CONF_ANY,
      ngx_stream_upstream_maglev,
      NGX_STREAM_SRV_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_stream_module_t  ngx_stream_upstream_maglev_module_ctx = {
    NULL,                                    /* preconfiguration */
    NULL,                                    /* postconfiguration */

    NULL,                                    /* create main configuration */
    NULL,                                    /* init main configuration */

    ngx_stream_upstream_maglev_create_conf,  /* create server configuration */
    NULL                                     /* merge server configuration */
};


ngx_module_t  ngx_stream_upstream_maglev_module = {
    NGX_MODULE_V1,
    &ngx_stream_upstream_maglev_module_ctx,  /* module context */
    ngx_stream_upstream_maglev_commands,     /* module directives */
    NGX_STREAM_MODULE,                       /* module type */
    NULL,                                    /* init master */
    NULL,                                    /* init module */
    NULL,                                    /* init process */
    NULL,                                    /* init thread */
    NULL,                                    /* exit thread */
    NULL,                                    /* exit process */
    NULL,                                    /* exit master */
    NGX_MODULE_V1_PADDING
};
