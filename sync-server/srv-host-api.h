/* Admin-port routes for hosts (docs/protocol.md, "Hosts"): list, add, edit,
 * remove and CSV import. The role check is srv-admin-api.c's; these do the work
 * for the request's site only. */
#pragma once
#include "srv-api.h"
#include "srv-app-private.h"
#include "srv-auth.h"

/* GET /v1/hosts */
void srv_host_api_list(SrvApp *app, const SrvRequest *request, SrvResponse *response);
/* POST /v1/hosts */
void srv_host_api_add(SrvApp *app, const SrvRequest *request, SrvResponse *response);
/* PATCH /v1/hosts/{id} */
void srv_host_api_edit(SrvApp *app, SrvAuthContext *ctx, const char *id, const SrvRequest *request,
                       SrvResponse *response);
/* DELETE /v1/hosts/{id} */
void srv_host_api_remove(SrvApp *app, SrvAuthContext *ctx, const char *id, const SrvRequest *request,
                         SrvResponse *response);
/* POST /v1/hosts/import?dry_run=0|1 (Content-Type: text/csv) */
void srv_host_api_import(SrvApp *app, const SrvRequest *request, SrvResponse *response);

/* The admin port's request body cap for @head: SRV_HOST_CSV_MAX_BYTES for the
 * import route, SRV_API_MAX_BODY for every other (a SrvHttpHeadFunc). */
gsize srv_host_api_body_cap(const SrvHttpRequest *head, gpointer user_data);
