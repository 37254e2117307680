/* Reception visits on the server: the one parser of the events devices push
 * (walk-ins and check-outs included), check-in by reception code on the device
 * port, and the admin list of visits. */
#pragma once
#include <glib.h>
#include <json-glib/json-glib.h>

#include "srv-app-private.h"
#include "srv-store.h"

/* Wrong reception codes one device may send within the window before the
 * server answers 429 (counted over the window, not reset by a right code). */
#define SRV_CODE_MAX_WRONG 10
#define SRV_CODE_WINDOW_S 600

/* A walk-in photo: a JPEG of at most this many bytes, sent as base64 (at
 * most SRV_VISIT_PHOTO_B64_MAX characters, padded). */
#define SRV_VISIT_PHOTO_MAX SRV_STORE_PHOTO_MAX
#define SRV_VISIT_PHOTO_B64_MAX (((SRV_VISIT_PHOTO_MAX + 2) / 3) * 4)

/* TRUE for 5..SRV_VISIT_PHOTO_MAX bytes that start with a JPEG SOI marker
 * (FF D8 FF) and end with EOI (FF D9). */
gboolean srv_visit_photo_ok(const guint8 *data, gsize len);

/* Event ids are made on devices: 8-64 of [A-Za-z0-9_-]. */
gboolean srv_event_id_ok(const char *id);

/* Parses and checks one pushed event (docs/protocol.md, "Push events") into
 * @out (srv_event_clear() it, also after a failure). @index names it in
 * messages. GK_JSON_ERROR_UNKNOWN for a field the protocol does not name. */
gboolean srv_visit_parse_event(JsonNode *node, guint index, SrvEvent *out, GError **error);

/* POST /v1/redeem-code on the device port. */
void srv_visit_handle_redeem_code(SrvApp *app, const SrvDevice *device, const SrvRequest *request,
                                  SrvResponse *response);
/* GET /v1/visits on the admin port (the caller checked the right). */
void srv_visit_handle_list(SrvApp *app, const SrvRequest *request, SrvResponse *response);
/* GET /v1/visits/{id}/photo on the admin port (the caller checked the right):
 * the JPEG as image/jpeg, 404 when the visit has none. */
void srv_visit_handle_photo(SrvApp *app, const SrvRequest *request, SrvResponse *response);
