/* Admin-port routes for data retention and deleting sites (docs/retention.md,
 * docs/protocol.md "Retention"). The router (srv-admin-api.c) has checked the
 * role's right; these check that the site in the path is the caller's. */
#pragma once
#include "srv-auth.h"

/* GET /v1/sites/{id}/retention */
void srv_site_api_retention_get(SrvApp *app, SrvAuthContext *ctx, const char *wild, const SrvRequest *request,
                                SrvResponse *response);
/* POST /v1/sites/{id}/retention {visitor_days?, audit_days?} */
void srv_site_api_retention_set(SrvApp *app, SrvAuthContext *ctx, const char *wild, const SrvRequest *request,
                                SrvResponse *response);
/* DELETE /v1/sites/{id} {confirm: the site's name} */
void srv_site_api_delete(SrvApp *app, SrvAuthContext *ctx, const char *wild, const SrvRequest *request,
                         SrvResponse *response);
/* POST /v1/retention/purge {} */
void srv_site_api_purge(SrvApp *app, SrvAuthContext *ctx, const char *wild, const SrvRequest *request,
                        SrvResponse *response);
