/* Device-port routes: online redemption, event push and change pull. The
 * device is known by its client certificate; nothing in a body names it. */
#include <string.h>

#include "gk-log.h"
#include "srv-api.h"
#include "srv-retention.h"
#include "srv-app-private.h"
#include "srv-notify-sender.h"
#include "srv-visit.h"

#define MAX_EVENTS_PER_PUSH 500
#define MAX_PULL_LIMIT 1000
#define DEFAULT_PULL_LIMIT 500

static void
reply_rejected(SrvResponse *response, const char *reason, const GkTicket *ticket)
{
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "result");
  json_builder_add_string_value(b, "rejected");
  json_builder_set_member_name(b, "reason");
  json_builder_add_string_value(b, reason);
  if (ticket != NULL) {
    g_autofree char *hex = gk_ticket_id_to_hex(ticket->id);
    json_builder_set_member_name(b, "ticket_id");
    json_builder_add_string_value(b, hex);
  }
  json_builder_set_member_name(b, "server_time");
  json_builder_add_int_value(b, srv_api_now());
  json_builder_end_object(b);
  srv_api_reply(response, 200, b);
}

static void
handle_redeem(SrvApp *app, const SrvDevice *device, const SrvRequest *request, SrvResponse *response)
{
  static const GkJsonField fields[] = {
    { "ticket", GK_JSON_STRING, TRUE, 1, 512 },
    { "event_id", GK_JSON_STRING, TRUE, 8, 64 },
    { "at", GK_JSON_INT, TRUE, 0, G_MAXUINT32 },
  };
  g_autoptr(JsonNode) body = srv_api_body(request, response, fields, G_N_ELEMENTS(fields));
  if (body == NULL)
    return;
  JsonObject *o = json_node_get_object(body);
  const char *text = gk_json_get_string(o, "ticket", "");
  const char *event_id = gk_json_get_string(o, "event_id", "");
  if (!srv_event_id_ok(event_id)) {
    srv_response_set_error(response, 400, "bad-request", "body.event_id must be 8-64 letters, digits, '-' or '_'");
    return;
  }

  gint64 now = srv_api_now();
  GkTicket ticket;
  g_autoptr(GError) error = NULL;
  if (!gk_ticket_decode(text, strlen(text), app->keyring, now, &ticket, &error)) {
    gboolean verified = error->code == GK_TICKET_ERROR_EXPIRED || error->code == GK_TICKET_ERROR_NOT_YET_VALID;
    reply_rejected(response, gk_ticket_error_reason((GkTicketError) error->code), verified ? &ticket : NULL);
    return;
  }
  if ((gint64) ticket.site_id != device->site_id) {
    reply_rejected(response, "wrong-site", &ticket);
    return;
  }

  SrvRedeemOutcome outcome = { 0 };
  if (!srv_store_redeem(app->store, device->id, device->site_id, ticket.id, event_id,
                        gk_json_get_int(o, "at", now), now, &outcome, &error)) {
    srv_api_reply_error(response, error);
    return;
  }
  g_autofree char *hex = gk_ticket_id_to_hex(ticket.id);
  switch (outcome.result) {
  case SRV_REDEEM_REVOKED:
    reply_rejected(response, "revoked", &ticket);
    break;
  case SRV_REDEEM_UNKNOWN:
    reply_rejected(response, "unknown-ticket", &ticket);
    break;
  case SRV_REDEEM_ACCEPTED:
  case SRV_REDEEM_ALREADY_USED:
  default: {
    gboolean accepted = outcome.result == SRV_REDEEM_ACCEPTED;
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "result");
    json_builder_add_string_value(b, accepted ? "accepted" : "already-used");
    json_builder_set_member_name(b, "ticket_id");
    json_builder_add_string_value(b, hex);
    if (!accepted) {
      json_builder_set_member_name(b, "used_at");
      json_builder_add_int_value(b, outcome.used_at);
      json_builder_set_member_name(b, "used_by");
      json_builder_add_string_value(b, outcome.used_by_device ? outcome.used_by_device : "");
      json_builder_set_member_name(b, "used_by_name");
      json_builder_add_string_value(b, outcome.used_by_name ? outcome.used_by_name : "");
    }
    if (accepted) {
      /* The kiosk says "your host has been notified" only on this: the
       * notification is in the outbox, committed with the check-in. */
      json_builder_set_member_name(b, "host_notified");
      json_builder_add_boolean_value(b, outcome.host_notified);
    }
    json_builder_set_member_name(b, "server_time");
    json_builder_add_int_value(b, now);
    json_builder_end_object(b);
    srv_api_reply(response, 200, b);
    if (outcome.host_notified)
      srv_notify_sender_wake(app->notify);
    GK_LOG_INFO("ticket.redeem", GK_STR("device", device->id), GK_STR("ticket", hex),
                GK_STR("result", accepted ? "accepted" : "already-used"), GK_BOOL("host_notified", outcome.host_notified));
    break;
  }
  }
  srv_redeem_outcome_clear(&outcome);
}

static void
handle_push(SrvApp *app, const SrvDevice *device, const SrvRequest *request, SrvResponse *response)
{
  static const GkJsonField fields[] = {
    { "events", GK_JSON_ARRAY, TRUE, 0, MAX_EVENTS_PER_PUSH },
    { "device_time", GK_JSON_INT, FALSE, 0, G_MAXUINT32 },
    { "queue_length", GK_JSON_INT, FALSE, 0, G_MAXINT32 },
    { "config_version", GK_JSON_INT, FALSE, 0, G_MAXINT64 },
  };
  g_autoptr(JsonNode) body = srv_api_body(request, response, fields, G_N_ELEMENTS(fields));
  if (body == NULL)
    return;
  JsonObject *o = json_node_get_object(body);
  JsonArray *list = json_object_get_array_member(o, "events");
  guint n = json_array_get_length(list);
  gint64 now = srv_api_now();

  /* Every event is checked before any is stored: a bad batch changes nothing. */
  g_autoptr(GArray) events = g_array_sized_new(FALSE, TRUE, sizeof(SrvEvent), n);
  g_array_set_clear_func(events, (GDestroyNotify) srv_event_clear);
  g_autoptr(GHashTable) ids = g_hash_table_new(g_str_hash, g_str_equal);
  for (guint i = 0; i < n; i++) {
    SrvEvent ev = { 0 };
    g_autoptr(GError) error = NULL;
    if (!srv_visit_parse_event(json_array_get_element(list, i), i, &ev, &error)) {
      srv_event_clear(&ev);
      srv_response_set_error(response, 400, error->code == GK_JSON_ERROR_UNKNOWN ? "unknown-field" : "bad-request",
                             error->message);
      return;
    }
    g_array_append_val(events, ev);
  }
  for (guint i = 0; i < n; i++) {
    if (!g_hash_table_add(ids, g_array_index(events, SrvEvent, i).id)) {
      srv_response_set_error(response, 400, "bad-request", "an event id appears twice in one batch");
      return;
    }
  }

  g_autofree SrvEventStatus *statuses = g_new0(SrvEventStatus, MAX(n, 1));
  g_autofree gboolean *notified = g_new0(gboolean, MAX(n, 1));
  g_autoptr(GError) error = NULL;
  if (n > 0 && !srv_store_events_apply_full(app->store, device->id, device->site_id, (SrvEvent *) events->data, n,
                                            now, statuses, notified, &error)) {
    srv_api_reply_error(response, error);
    return;
  }
  gint64 device_time = gk_json_get_int(o, "device_time", 0);
  gint64 offset_ms = device_time > 0 ? (now - device_time) * 1000 : 0;
  if (!srv_store_device_seen(app->store, device->id, now, offset_ms, gk_json_get_int(o, "queue_length", 0), &error))
    GK_LOG_WARN("device.seen_failed", GK_STR("device", device->id), GK_STR("error", error->message));
  g_clear_error(&error);
  gint64 running = gk_json_get_int(o, "config_version", -1);
  if (running >= 0 && !srv_store_device_config_running(app->store, device->id, running, &error))
    GK_LOG_WARN("device.config_report_failed", GK_STR("device", device->id), GK_STR("error", error->message));

  guint conflicts = 0, queued = 0;
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "results");
  json_builder_begin_array(b);
  for (guint i = 0; i < n; i++) {
    static const char *const names[] = { "stored", "duplicate", "conflict" };
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "id");
    json_builder_add_string_value(b, g_array_index(events, SrvEvent, i).id);
    json_builder_set_member_name(b, "status");
    json_builder_add_string_value(b, names[statuses[i] <= SRV_EVENT_CONFLICT ? statuses[i] : 0]);
    SrvEventKind kind = g_array_index(events, SrvEvent, i).kind;
    if (kind == SRV_EVENT_CHECKIN || kind == SRV_EVENT_WALKIN) {
      json_builder_set_member_name(b, "host_notified");
      json_builder_add_boolean_value(b, notified[i]);
    }
    json_builder_end_object(b);
    conflicts += statuses[i] == SRV_EVENT_CONFLICT;
    queued += notified[i] ? 1 : 0;
  }
  json_builder_end_array(b);
  json_builder_set_member_name(b, "server_time");
  json_builder_add_int_value(b, now);
  json_builder_end_object(b);
  srv_api_reply(response, 200, b);
  /* Conflicts may have queued security alerts. */
  if (queued > 0 || conflicts > 0)
    srv_notify_sender_wake(app->notify);
  GK_LOG_INFO("sync.push", GK_STR("device", device->id), GK_UINT("events", n), GK_UINT("conflicts", conflicts),
              GK_UINT("notified", queued));
}

/* "config_version" and "config" of the pull's device object. */
static gboolean
add_device_settings(SrvApp *app, const SrvDevice *device, JsonBuilder *cfg, SrvResponse *response)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GHashTable) settings = srv_store_device_settings_get(app->store, device->id, &error);
  if (settings == NULL) {
    srv_api_reply_error(response, error);
    return FALSE;
  }
  /* A device never keeps visitors longer than its site does (srv-retention.h). */
  gint64 own_hours = 0, capped_hours = 0;
  const char *own = g_hash_table_lookup(settings, "retention-hours");
  if (own == NULL || !g_ascii_string_to_signed(own, 10, 1, G_MAXINT32, &own_hours, NULL))
    own_hours = 0;
  if (srv_retention_device_hours(app->store, device->site_id, own_hours, &capped_hours, NULL))
    g_hash_table_replace(settings, g_strdup("retention-hours"), g_strdup_printf("%" G_GINT64_FORMAT, capped_hours));
  json_builder_set_member_name(cfg, "config_version");
  json_builder_add_int_value(cfg, device->config_version);
  json_builder_set_member_name(cfg, "config");
  json_builder_begin_object(cfg);
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init(&it, settings);
  while (g_hash_table_iter_next(&it, &k, &v)) {
    json_builder_set_member_name(cfg, k);
    json_builder_add_string_value(cfg, v);
  }
  json_builder_end_object(cfg);
  return TRUE;
}

static void
handle_pull(SrvApp *app, const SrvDevice *device, const SrvRequest *request, SrvResponse *response)
{
  static const char *const allowed[] = { "cursor", "limit", "config_version", NULL };
  gint64 cursor, limit, held_config;
  if (!srv_api_query_int(request, response, allowed, "cursor", 0, G_MAXINT64, 0, &cursor) ||
      !srv_api_query_int(request, response, allowed, "limit", 1, MAX_PULL_LIMIT, DEFAULT_PULL_LIMIT, &limit) ||
      !srv_api_query_int(request, response, allowed, "config_version", 0, G_MAXINT64, -1, &held_config))
    return;

  gboolean more = FALSE;
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) changes = srv_store_changes_since(app->store, device->site_id, cursor, (guint) limit, &more, &error);
  if (changes == NULL) {
    srv_api_reply_error(response, error);
    return;
  }
  /* The rows' JSON comes from our own store: splice it in rather than parse it
   * again, since a first sync of a large site sends thousands of rows. */
  static const char *const type_names[] = { "ticket", "host", "redemption", "key" };
  GString *out = g_string_sized_new(256 + changes->len * 200);
  gint64 last = cursor;
  g_string_append(out, "{\"changes\":[");
  for (guint i = 0; i < changes->len; i++) {
    SrvChange *c = &g_array_index(changes, SrvChange, i);
    g_string_append_printf(out, "%s{\"seq\":%" G_GINT64_FORMAT ",\"type\":\"%s\",\"data\":%s}", i ? "," : "", c->seq,
                           type_names[c->type <= SRV_CHANGE_KEY ? c->type : 0], c->json);
    last = c->seq;
  }
  /* The device's identity rides along on every page, so it picks up a changed
   * mode at its next sync; its settings (up to a 64 KiB logo) only when the
   * version it says it holds is not the latest. A device that sends no version
   * gets them on every page. */
  g_autoptr(JsonBuilder) cfg = json_builder_new();
  json_builder_begin_object(cfg);
  json_builder_set_member_name(cfg, "id");
  json_builder_add_string_value(cfg, device->id);
  json_builder_set_member_name(cfg, "name");
  json_builder_add_string_value(cfg, device->name);
  json_builder_set_member_name(cfg, "mode");
  json_builder_add_string_value(cfg, device->mode);
  json_builder_set_member_name(cfg, "site_id");
  json_builder_add_int_value(cfg, device->site_id);
  json_builder_set_member_name(cfg, "cert_expires_at");
  json_builder_add_int_value(cfg, device->cert_expires_at);
  if (held_config != device->config_version && !add_device_settings(app, device, cfg, response)) {
    g_string_free(out, TRUE);
    return;
  }
  json_builder_end_object(cfg);
  g_autofree char *cfg_json = gk_json_builder_to_string(cfg);
  g_string_append_printf(out,
                         "],\"cursor\":%" G_GINT64_FORMAT ",\"more\":%s,\"device\":%s,\"server_time\":%" G_GINT64_FORMAT "}",
                         last, more ? "true" : "false", cfg_json, srv_api_now());
  srv_response_take_json(response, 200, g_string_free(out, FALSE));
}

/* A new certificate for the same device: the device makes a new key and CSR
 * before its certificate expires; the old serial stops working at once. */
static void
handle_renew(SrvApp *app, const SrvDevice *device, const SrvRequest *request, SrvResponse *response)
{
  static const GkJsonField fields[] = {
    { "csr", GK_JSON_STRING, TRUE, 1, SRV_CA_CSR_MAX },
  };
  g_autoptr(JsonNode) body = srv_api_body(request, response, fields, G_N_ELEMENTS(fields));
  if (body == NULL)
    return;
  const char *csr = gk_json_get_string(json_node_get_object(body), "csr", "");
  g_autoptr(GError) error = NULL;
  guint8 serial[SRV_CA_SERIAL_LEN];
  g_autofree char *cert = srv_ca_sign_device_csr(app->ca, (const guint8 *) csr, strlen(csr) + 1, device->id,
                                                 SRV_DEVICE_CERT_DAYS, serial, &error);
  if (cert == NULL) {
    srv_response_set_error(response, 400, "bad-csr", error->message);
    return;
  }
  gint64 expires = srv_api_now() + SRV_DEVICE_CERT_DAYS * 86400;
  g_autoptr(GBytes) new_serial = g_bytes_new(serial, sizeof serial);
  if (!srv_store_device_renew(app->store, device->id, device->serial, new_serial, expires, &error)) {
    srv_api_reply_error(response, error);
    return;
  }
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "certificate");
  json_builder_add_string_value(b, cert);
  json_builder_set_member_name(b, "expires_at");
  json_builder_add_int_value(b, expires);
  json_builder_end_object(b);
  srv_api_reply(response, 200, b);
  GK_LOG_INFO("device.renewed", GK_STR("device", device->id));
}

void
srv_device_api_handle(const SrvRequest *request, SrvResponse *response, gpointer user_data)
{
  SrvApp *app = user_data;
  g_autoptr(GError) error = NULL;
  SrvDevice device = { 0 };

  /* The TLS layer already refused revoked certificates; a certificate the CA
   * signed but that no enrollment recorded is refused here. */
  g_autoptr(GBytes) serial = request->peer_serial ? g_bytes_new(request->peer_serial, request->peer_serial_len) : NULL;
  if (serial == NULL || !srv_store_device_by_serial(app->store, serial, &device, &error)) {
    GK_LOG_WARN("device.unknown_certificate", GK_STR("ip", request->peer_ip));
    srv_response_set_error(response, 403, "unknown-device", "this certificate belongs to no enrolled device");
    response->close = TRUE;
    return;
  }
  if (device.revoked_at != 0) {
    srv_response_take_json(response, 403,
                           g_strdup("{\"error\":{\"status\":403,\"code\":\"device-revoked\","
                                    "\"message\":\"this device was revoked\"},\"wipe\":true}"));
    response->close = TRUE;
    srv_device_clear(&device);
    return;
  }

  g_auto(GStrv) seg = srv_api_path_segments(request);
  SrvHttpMethod m = request->http->method;
  if (srv_api_path_match(seg, "v1/redeem", NULL) && m == SRV_HTTP_METHOD_POST)
    handle_redeem(app, &device, request, response);
  else if (srv_api_path_match(seg, "v1/sync/push", NULL) && m == SRV_HTTP_METHOD_POST)
    handle_push(app, &device, request, response);
  else if (srv_api_path_match(seg, "v1/sync/pull", NULL) && (m == SRV_HTTP_METHOD_GET || m == SRV_HTTP_METHOD_HEAD))
    handle_pull(app, &device, request, response);
  else if (srv_api_path_match(seg, "v1/device/renew", NULL) && m == SRV_HTTP_METHOD_POST)
    handle_renew(app, &device, request, response);
  else if (srv_api_path_match(seg, "v1/redeem-code", NULL) && m == SRV_HTTP_METHOD_POST)
    srv_visit_handle_redeem_code(app, &device, request, response);
  else if (srv_api_path_match(seg, "v1/redeem", NULL) || srv_api_path_match(seg, "v1/sync/push", NULL) ||
           srv_api_path_match(seg, "v1/sync/pull", NULL) || srv_api_path_match(seg, "v1/device/renew", NULL) ||
           srv_api_path_match(seg, "v1/redeem-code", NULL))
    srv_response_set_error(response, 405, "method-not-allowed", NULL);
  else
    srv_response_set_error(response, 404, "not-found", NULL);
  srv_device_clear(&device);
}
