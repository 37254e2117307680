/* Admin-port routes for accounts, sites and allow-lists (docs/protocol.md,
 * "Accounts and sites"). The router (srv-admin-api.c) has checked the role's
 * right; these check delegation: an admin manages only receptionist, security
 * and auditor accounts within its own sites, an owner everything. */
#pragma once
#include "srv-auth.h"

/* Every handler: @app is the view of the request's site, @ctx the caller,
 * @wild the path's "*" segment (a user name or a site id) or NULL. */
typedef void (*SrvAccountApiHandler)(SrvApp *app, SrvAuthContext *ctx, const char *wild, const SrvRequest *request,
                                     SrvResponse *response);

/* GET /v1/accounts */
void srv_account_api_list(SrvApp *app, SrvAuthContext *ctx, const char *wild, const SrvRequest *request,
                          SrvResponse *response);
/* POST /v1/accounts {username, role, sites?} */
void srv_account_api_add(SrvApp *app, SrvAuthContext *ctx, const char *wild, const SrvRequest *request,
                         SrvResponse *response);
/* POST /v1/accounts/{name}/role {role, sites?} */
void srv_account_api_set_role(SrvApp *app, SrvAuthContext *ctx, const char *wild, const SrvRequest *request,
                              SrvResponse *response);
/* POST /v1/accounts/{name}/disable and /enable */
void srv_account_api_disable(SrvApp *app, SrvAuthContext *ctx, const char *wild, const SrvRequest *request,
                             SrvResponse *response);
void srv_account_api_enable(SrvApp *app, SrvAuthContext *ctx, const char *wild, const SrvRequest *request,
                            SrvResponse *response);
/* POST /v1/accounts/{name}/reset-password: a one-time password, changed at next sign-in */
void srv_account_api_reset_password(SrvApp *app, SrvAuthContext *ctx, const char *wild, const SrvRequest *request,
                                    SrvResponse *response);
/* POST /v1/accounts/{name}/totp/reset: the account enrolls a second factor again */
void srv_account_api_totp_reset(SrvApp *app, SrvAuthContext *ctx, const char *wild, const SrvRequest *request,
                                SrvResponse *response);
/* GET and POST /v1/accounts/{name}/allow-list {cidrs} */
void srv_account_api_allow_get(SrvApp *app, SrvAuthContext *ctx, const char *wild, const SrvRequest *request,
                               SrvResponse *response);
void srv_account_api_allow_set(SrvApp *app, SrvAuthContext *ctx, const char *wild, const SrvRequest *request,
                               SrvResponse *response);
/* GET /v1/sites (those the caller may act on), POST /v1/sites {name} */
void srv_account_api_site_list(SrvApp *app, SrvAuthContext *ctx, const char *wild, const SrvRequest *request,
                               SrvResponse *response);
void srv_account_api_site_add(SrvApp *app, SrvAuthContext *ctx, const char *wild, const SrvRequest *request,
                              SrvResponse *response);
/* GET and POST /v1/sites/{id}/allow-list {cidrs} */
void srv_account_api_site_allow_get(SrvApp *app, SrvAuthContext *ctx, const char *wild, const SrvRequest *request,
                                    SrvResponse *response);
void srv_account_api_site_allow_set(SrvApp *app, SrvAuthContext *ctx, const char *wild, const SrvRequest *request,
                                    SrvResponse *response);

/* For other account routes (srv-export.c): the account @name the caller may
 * change under the delegation rules above (never itself); FALSE with the
 * refusal answered (404, 403 forbidden). Clear @out with
 * srv_auth_store_account_clear(). */
gboolean srv_account_api_target_for_change(SrvApp *app, SrvAuthContext *ctx, const char *name, SrvAuthAccount *out,
                                           SrvResponse *response);
/* Answers account @id as GET /v1/accounts shows it. */
void srv_account_api_reply_account(SrvApp *app, gint64 id, SrvResponse *response);
