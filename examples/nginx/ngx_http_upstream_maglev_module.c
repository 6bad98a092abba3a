/*
 * ngx_http_upstream_maglev_module: "maglev KEY [table_size=M];" and "maglev source;" in an
 * http upstream block (doc/nginx.md). The code is ngx_lb_maglev_module.c, shared with the
 * stream module.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


#define NGX_LBM(name)       ngx_http_##name
#define NGX_LBM_C(name)     NGX_HTTP_##name
#define NGX_LBM_SESSION     ngx_http_request_t
#define NGX_LBM_POOL(r)     (r)->pool

ngx_module_t  ngx_http_upstream_maglev_module;

#include "ngx_lb_maglev_module.c"


static ngx_command_t  ngx_http_upstream_maglev_commands[] = {

    { ngx_string("maglev"),
      NGX_HTTP_UPS_CONF|NGX_CONF_ANY,
      ngx_http_upstream_maglev,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_upstream_maglev_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    ngx_http_upstream_maglev_create_conf,  /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_upstream_maglev_module = {
    NGX_MODULE_V1,
    &ngx_http_upstream_maglev_module_ctx,  /* module context */
    ngx_http_upstream_maglev_commands,     /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};
