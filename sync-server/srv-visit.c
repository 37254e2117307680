/* Reception visits on the server: pushed events are parsed and checked here
 * (one parser, fuzzed), reception codes are redeemed with a per-device limit
 * on wrong codes, and admins list visits. */
#include "srv-visit.h"

#include <stdarg.h>
#include <string.h>

#include "gk-json.h"
#include "gk-log.h"
#include "gk-visit.h"
#include "srv-api.h"

gboolean
srv_event_id_ok(const char *id)
{
  gsize len = strlen(id);
  if (len < 8 || len > 64)
    return FALSE;
  for (const char *p = id; *p; p++)
    if (!g_ascii_isalnum(*p) && *p != '-' && *p != '_')
      return FALSE;
  return TRUE;
}

gboolean
srv_visit_photo_ok(const guint8 *p, gsize len)
{
  return p != NULL && len >= 5 && len <= SRV_VISIT_PHOTO_MAX && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff &&
         p[len - 2] == 0xff && p[len - 1] == 0xd9;
}

/* ---- pushed events ------------------------------------------------------------- */

static gboolean G_GNUC_PRINTF(3, 4)
refuse(GError **error, int code, const char *format, ...)
{
  va_list args;
  va_start(args, format);
  GError *e = g_error_new_valist(GK_JSON_ERROR, code, format, args);
  va_end(args);
  g_propagate_error(error, e);
  return FALSE;
}

/* A walk-in text field: absent or "" is NULL (unless required); anything else
 * must pass the visitor text rules. */
static gboolean
take_text(JsonObject *o, const char *name, gsize max, gboolean required, const char *where, char **out,
          GError **error)
{
  const char *v = gk_json_get_string(o, name, NULL);
  if (v == NULL || v[0] == '\0') {
    if (required)
      return refuse(error, GK_JSON_ERROR_MISSING, "%s.%s is required", where, name);
    return TRUE;
  }
  const char *why = NULL;
  if (!gk_visit_text_ok(v, max, &why))
    return refuse(error, GK_JSON_ERROR_RANGE, "%s.%s %s", where, name, why);
  *out = g_strdup(v);
  return TRUE;
}

/* A walk-in's photo: standard padded base64 and nothing else (g_base64_decode
 * would skip what it does not know), decoding to a JPEG within the limit. */
static gboolean
take_photo(JsonObject *o, const char *where, GBytes **out, GError **error)
{
  const char *b64 = gk_json_get_string(o, "photo", NULL);
  if (b64 == NULL)
    return TRUE;
  gsize n = strlen(b64);
  if (n == 0 || n % 4 != 0)
    return refuse(error, GK_JSON_ERROR_RANGE, "%s.photo must be padded base64", where);
  for (gsize i = 0; i < n; i++) {
    char ch = b64[i];
    gboolean pad = ch == '=' && (i == n - 1 || (i == n - 2 && b64[n - 1] == '='));
    if (!g_ascii_isalnum(ch) && ch != '+' && ch != '/' && !pad)
      return refuse(error, GK_JSON_ERROR_RANGE, "%s.photo must be padded base64", where);
  }
  gsize len = 0;
  guint8 *jpeg = g_base64_decode(b64, &len);
  if (!srv_visit_photo_ok(jpeg, len)) {
    if (jpeg != NULL)
      memset(jpeg, 0, len);
    g_free(jpeg);
    return refuse(error, GK_JSON_ERROR_RANGE, "%s.photo must be a JPEG of at most %d bytes", where,
                  SRV_VISIT_PHOTO_MAX);
  }
  *out = g_bytes_new_take(jpeg, len);
  return TRUE;
}

/* Only walk-ins carry visitor data; a field on the wrong kind is a device bug
 * that must not be stored silently. */
static gboolean
walkin_fields_absent(JsonObject *o, const char *where, const char *kind, GError **error)
{
  static const char *const only_walkin[] = { "visitor_name", "company", "purpose", "host_id", "terms_accepted",
                                             "photo" };
  for (guint i = 0; i < G_N_ELEMENTS(only_walkin); i++)
    if (json_object_has_member(o, only_walkin[i]))
      return refuse(error, GK_JSON_ERROR_RANGE, "%s.%s is not allowed on a %s event", where, only_walkin[i], kind);
  return TRUE;
}

gboolean
srv_visit_parse_event(JsonNode *node, guint index, SrvEvent *out, GError **error)
{
  static const GkJsonField fields[] = {
    { "id", GK_JSON_STRING, TRUE, 8, 64 },
    { "kind", GK_JSON_STRING, TRUE, 1, 20 },
    { "ticket_id", GK_JSON_STRING, FALSE, 32, 32 },
    { "at", GK_JSON_INT, TRUE, 0, G_MAXUINT32 },
    { "offline", GK_JSON_BOOL, FALSE, 0, 0 },
    { "reason", GK_JSON_STRING, FALSE, 0, 200 },
    { "visit_id", GK_JSON_STRING, FALSE, GK_VISIT_ID_LEN, GK_VISIT_ID_LEN },
    { "visitor_name", GK_JSON_STRING, FALSE, 0, GK_VISIT_NAME_MAX },
    { "company", GK_JSON_STRING, FALSE, 0, GK_VISIT_COMPANY_MAX },
    { "purpose", GK_JSON_STRING, FALSE, 0, GK_VISIT_PURPOSE_MAX },
    { "host_id", GK_JSON_INT, FALSE, 1, G_MAXINT64 },
    { "terms_accepted", GK_JSON_BOOL, FALSE, 0, 0 },
    { "photo", GK_JSON_STRING, FALSE, 8, SRV_VISIT_PHOTO_B64_MAX },
  };
  static const struct {
    const char *name;
    SrvEventKind kind;
  } kinds[] = {
    { "checkin", SRV_EVENT_CHECKIN },
    { "checkout", SRV_EVENT_CHECKOUT },
    { "scan-rejected", SRV_EVENT_SCAN_REJECTED },
    { "audit", SRV_EVENT_AUDIT },
    { "walkin", SRV_EVENT_WALKIN },
  };
  g_autofree char *where = g_strdup_printf("events[%u]", index);
  if (!JSON_NODE_HOLDS_OBJECT(node))
    return refuse(error, GK_JSON_ERROR_TYPE, "%s must be an object", where);
  JsonObject *o = json_node_get_object(node);
  if (!gk_json_check(o, fields, G_N_ELEMENTS(fields), FALSE, where, error))
    return FALSE;
  const char *id = gk_json_get_string(o, "id", "");
  if (!srv_event_id_ok(id))
    return refuse(error, GK_JSON_ERROR_RANGE, "%s.id must be 8-64 letters, digits, '-' or '_'", where);
  const char *kind = gk_json_get_string(o, "kind", "");
  gboolean known = FALSE;
  for (guint i = 0; i < G_N_ELEMENTS(kinds) && !known; i++) {
    if (strcmp(kind, kinds[i].name) == 0) {
      out->kind = kinds[i].kind;
      known = TRUE;
    }
  }
  if (!known)
    return refuse(error, GK_JSON_ERROR_RANGE, "%s.kind must be checkin, checkout, walkin, scan-rejected or audit",
                  where);

  const char *ticket_id = gk_json_get_string(o, "ticket_id", NULL);
  if (ticket_id != NULL) {
    if (out->kind == SRV_EVENT_WALKIN)
      return refuse(error, GK_JSON_ERROR_RANGE, "%s.ticket_id is not allowed on a walkin event", where);
    if (!gk_hex_decode_16(ticket_id, out->ticket_id))
      return refuse(error, GK_JSON_ERROR_RANGE, "%s.ticket_id must be 32 hex digits", where);
    out->has_ticket = TRUE;
  }
  const char *visit_id = gk_json_get_string(o, "visit_id", NULL);
  if (visit_id != NULL) {
    if (out->kind != SRV_EVENT_WALKIN && out->kind != SRV_EVENT_CHECKOUT)
      return refuse(error, GK_JSON_ERROR_RANGE, "%s.visit_id is only allowed on walkin and checkout events", where);
    if (!gk_visit_id_ok(visit_id))
      return refuse(error, GK_JSON_ERROR_RANGE, "%s.visit_id must be \"vis-\" and 32 lowercase hex digits", where);
    out->visit_id = g_strdup(visit_id);
  }

  switch (out->kind) {
  case SRV_EVENT_WALKIN:
    if (out->visit_id == NULL)
      return refuse(error, GK_JSON_ERROR_MISSING, "%s.visit_id is required for walkin", where);
    if (!json_object_has_member(o, "terms_accepted"))
      return refuse(error, GK_JSON_ERROR_MISSING, "%s.terms_accepted is required for walkin", where);
    if (!take_text(o, "visitor_name", GK_VISIT_NAME_MAX, TRUE, where, &out->visitor_name, error) ||
        !take_text(o, "company", GK_VISIT_COMPANY_MAX, FALSE, where, &out->company, error) ||
        !take_text(o, "purpose", GK_VISIT_PURPOSE_MAX, FALSE, where, &out->purpose, error) ||
        !take_photo(o, where, &out->photo, error))
      return FALSE;
    out->host_id = gk_json_get_int(o, "host_id", 0);
    out->terms_accepted = gk_json_get_bool(o, "terms_accepted", FALSE);
    break;
  case SRV_EVENT_CHECKIN:
    if (!out->has_ticket)
      return refuse(error, GK_JSON_ERROR_MISSING, "%s.ticket_id is required for checkin", where);
    if (!walkin_fields_absent(o, where, kind, error))
      return FALSE;
    break;
  case SRV_EVENT_CHECKOUT:
    if (!out->has_ticket && out->visit_id == NULL)
      return refuse(error, GK_JSON_ERROR_MISSING, "%s.ticket_id or visit_id is required for checkout", where);
    if (!walkin_fields_absent(o, where, kind, error))
      return FALSE;
    break;
  case SRV_EVENT_SCAN_REJECTED:
  case SRV_EVENT_AUDIT:
  default:
    if (!walkin_fields_absent(o, where, kind, error))
      return FALSE;
    break;
  }
  out->id = g_strdup(id);
  out->device_time = gk_json_get_int(o, "at", 0);
  out->offline = gk_json_get_bool(o, "offline", FALSE);
  const char *reason = gk_json_get_string(o, "reason", NULL);
  out->reason = reason ? g_strdup(reason) : NULL;
  return TRUE;
}

/* ---- JSON answers ------------------------------------------------------------------- */

static void
set_text(JsonObject *o, const char *name, const char *value)
{
  if (value != NULL)
    json_object_set_string_member(o, name, value);
  else
    json_object_set_null_member(o, name);
}

static void
set_ticket_id(JsonObject *o, const char *name, gboolean has, const guint8 id[16])
{
  g_autofree char *hex = has ? gk_hex_encode(id, 16) : NULL;
  set_text(o, name, hex);
}

/* Answers with @o and drops it. */
static void
reply_object(SrvResponse *response, guint status, JsonObject *o)
{
  g_autoptr(JsonNode) root = json_node_init_object(json_node_alloc(), o);
  json_object_unref(o);
  srv_response_take_json(response, status, json_to_string(root, FALSE));
}

/* ---- check-in by reception code --------------------------------------------------------- */

void
srv_visit_handle_redeem_code(SrvApp *app, const SrvDevice *device, const SrvRequest *request,
                             SrvResponse *response)
{
  static const GkJsonField fields[] = {
    { "code", GK_JSON_STRING, TRUE, 1, 32 },
    { "event_id", GK_JSON_STRING, TRUE, 8, 64 },
    { "at", GK_JSON_INT, TRUE, 0, G_MAXUINT32 },
  };
  g_autoptr(JsonNode) body = srv_api_body(request, response, fields, G_N_ELEMENTS(fields));
  if (body == NULL)
    return;
  JsonObject *in = json_node_get_object(body);
  const char *event_id = gk_json_get_string(in, "event_id", "");
  const char *code = gk_json_get_string(in, "code", "");
  if (!srv_event_id_ok(event_id)) {
    srv_response_set_error(response, 400, "bad-request", "body.event_id must be 8-64 letters, digits, '-' or '_'");
    return;
  }
  if (!gk_reception_code_ok(code)) {
    srv_response_set_error(response, 400, "bad-request", "body.code must be exactly 8 digits");
    return;
  }
  /* A gate has no keypad: a code from one is not what the device is for. */
  if (g_strcmp0(device->mode, "reception") != 0) {
    srv_response_set_error(response, 403, "forbidden", "only reception devices check reception codes");
    return;
  }
  guint8 hash[32];
  gk_reception_code_hash(device->site_id, code, hash);
  gint64 now = srv_api_now();
  SrvCodeOutcome out = { 0 };
  g_autoptr(GError) error = NULL;
  if (!srv_store_redeem_code(app->store, device->id, device->site_id, hash, event_id,
                             gk_json_get_int(in, "at", now), now, SRV_CODE_MAX_WRONG, SRV_CODE_WINDOW_S, &out,
                             &error)) {
    srv_api_reply_error(response, error);
    return;
  }
  if (out.result == SRV_CODE_RATE_LIMITED) {
    g_autofree char *message = g_strdup_printf("too many wrong reception codes from this device: try again in %"
                                               G_GINT64_FORMAT " s", out.retry_after);
    srv_response_set_error(response, 429, "rate-limited", message);
    response->extra_headers = g_new0(char *, 3);
    response->extra_headers[0] = g_strdup("Retry-After");
    response->extra_headers[1] = g_strdup_printf("%" G_GINT64_FORMAT, out.retry_after);
    GK_LOG_WARN("visit.code_rate_limited", GK_STR("device", device->id), GK_INT("retry_after", out.retry_after));
    srv_code_outcome_clear(&out);
    return;
  }

  JsonObject *o = json_object_new();
  const char *result = "rejected";
  if (out.result == SRV_CODE_BAD) {
    json_object_set_string_member(o, "reason", "bad-code");
  } else if (out.result == SRV_CODE_NOT_YET_VALID) {
    json_object_set_string_member(o, "reason", "not-yet-valid");
    set_ticket_id(o, "ticket_id", TRUE, out.ticket_id);
  } else if (out.redeem.result == SRV_REDEEM_ACCEPTED) {
    result = "accepted";
    set_ticket_id(o, "ticket_id", TRUE, out.ticket_id);
    json_object_set_boolean_member(o, "multi", out.multi);
    set_text(o, "visit_id", out.visit_id);
    set_text(o, "visitor", out.visitor_name);
    set_text(o, "company", out.company);
    if (out.host_id > 0)
      json_object_set_int_member(o, "host_id", out.host_id);
    else
      json_object_set_null_member(o, "host_id");
    set_text(o, "host_name", out.host_name);
    json_object_set_boolean_member(o, "host_notified", out.redeem.host_notified);
  } else {
    /* Already used (the only other outcome a live, unrevoked code can have). */
    result = "already-used";
    set_ticket_id(o, "ticket_id", TRUE, out.ticket_id);
    json_object_set_int_member(o, "used_at", out.redeem.used_at);
    set_text(o, "used_by", out.redeem.used_by_device ? out.redeem.used_by_device : "");
    set_text(o, "used_by_name", out.redeem.used_by_name ? out.redeem.used_by_name : "");
  }
  json_object_set_string_member(o, "result", result);
  json_object_set_int_member(o, "server_time", now);
  reply_object(response, 200, o);
  /* Never the code, nor the visitor's name. */
  GK_LOG_INFO("visit.code_checkin", GK_STR("device", device->id), GK_STR("result", result),
              GK_STR("reason", out.result == SRV_CODE_BAD ? "bad-code" : ""));
  srv_code_outcome_clear(&out);
}

/* ---- admin list ---------------------------------------------------------------------------- */

static void
set_time_or_null(JsonObject *o, const char *name, gint64 value)
{
  if (value != 0)
    json_object_set_int_member(o, name, value);
  else
    json_object_set_null_member(o, name);
}

void
srv_visit_handle_list(SrvApp *app, const SrvRequest *request, SrvResponse *response)
{
  static const char *const allowed[] = { "limit", "present", NULL };
  gint64 limit, present;
  if (!srv_api_query_int(request, response, allowed, "limit", 1, 10000, 100, &limit) ||
      !srv_api_query_int(request, response, allowed, "present", 0, 1, 0, &present))
    return;
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) rows = srv_store_visit_list(app->store, app->site_id, present != 0, (guint) limit, &error);
  if (rows == NULL) {
    srv_api_reply_error(response, error);
    return;
  }
  JsonArray *list = json_array_sized_new(rows->len);
  for (guint i = 0; i < rows->len; i++) {
    SrvVisit *v = &g_array_index(rows, SrvVisit, i);
    JsonObject *o = json_object_new();
    set_text(o, "id", v->id);
    set_text(o, "kind", v->kind);
    set_text(o, "device_id", v->device_id);
    set_ticket_id(o, "ticket_id", v->has_ticket, v->ticket_id);
    set_text(o, "visitor", v->visitor_name);
    set_text(o, "company", v->company);
    set_text(o, "purpose", v->purpose);
    set_time_or_null(o, "host_id", v->host_id);
    set_text(o, "host", v->host_name);
    JsonArray *labels = json_array_new();
    g_auto(GStrv) parts = v->labels != NULL ? g_strsplit(v->labels, ",", -1) : NULL;
    for (guint k = 0; parts != NULL && parts[k] != NULL; k++)
      if (parts[k][0] != '\0')
        json_array_add_string_element(labels, parts[k]);
    json_object_set_array_member(o, "labels", labels);
    json_object_set_boolean_member(o, "terms_accepted", v->terms_accepted);
    json_object_set_int_member(o, "checked_in_at", v->checked_in_at);
    set_time_or_null(o, "checked_out_at", v->checked_out_at);
    json_object_set_int_member(o, "server_time", v->created_at);
    json_object_set_boolean_member(o, "photo", v->has_photo);
    json_array_add_object_element(list, o);
  }
  JsonObject *top = json_object_new();
  json_object_set_array_member(top, "visits", list);
  reply_object(response, 200, top);
}

void
srv_visit_handle_photo(SrvApp *app, const SrvRequest *request, SrvResponse *response)
{
  g_auto(GStrv) seg = srv_api_path_segments(request);
  const char *id = NULL;
  if (seg == NULL || !srv_api_path_match(seg, "v1/visits/*/photo", &id)) {
    srv_response_set_error(response, 404, "not-found", NULL);
    return;
  }
  if (!gk_visit_id_ok(id)) {
    srv_response_set_error(response, 400, "bad-request", "a visit id is \"vis-\" and 32 lowercase hex digits");
    return;
  }
  g_autoptr(GBytes) jpeg = NULL;
  g_autoptr(GError) error = NULL;
  if (!srv_store_visit_photo(app->store, app->site_id, id, &jpeg, &error)) {
    srv_api_reply_error(response, error);
    return;
  }
  /* The HTTP layer adds Cache-Control: no-store and nosniff to every answer:
   * a face is not kept by proxies or browsers, nor taken for anything else. */
  response->status = 200;
  response->content_type = g_strdup("image/jpeg");
  response->body = g_steal_pointer(&jpeg);
  GK_LOG_INFO("visit.photo_read", GK_STR("visit", id));
}
