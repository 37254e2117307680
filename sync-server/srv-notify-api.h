/* Admin-port routes for staff notifications (docs/protocol.md, "Notifications"):
 * settings per host and per site, the outbox list, a manual retry. The role
 * check is srv-admin-api.c's; these only do the work. */
#pragma once
#include "srv-api.h"
#include "srv-app-private.h"

/* GET /v1/notify */
void srv_notify_api_settings_list(SrvApp *app, const SrvRequest *request, SrvResponse *response);
/* POST /v1/notify/{scope}: scope host | default | security | admins */
void srv_notify_api_settings_set(SrvApp *app, const char *scope, const SrvRequest *request, const char *actor,
                                 SrvResponse *response);
/* GET /v1/notifications?failed=0|1&limit=N */
void srv_notify_api_list(SrvApp *app, const SrvRequest *request, SrvResponse *response);
/* POST /v1/notifications/{id}/retry */
void srv_notify_api_retry(SrvApp *app, const char *id, const char *actor, SrvResponse *response);
