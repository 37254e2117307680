/* Admin-port routes: role rights (deny by default), the per-site view route
 * handlers get, hosts, tickets, enrollment codes and enrollment, devices,
 * check-ins, alerts. Sign-in and sessions are srv-auth.c's. */
#include <glib/gstdio.h>
#include <sodium.h>
#include <string.h>

#include "gk-enroll-code.h"
#include "gk-json.h"
#include "gk-log.h"
#include "gk-logo.h"
#include "gk-password.h"
#include "gk-visit.h"
#include "srv-api.h"
#include "srv-app-private.h"
#include "srv-account-api.h"
#include "srv-app.h"
#include "srv-audit.h"
#include "srv-auth.h"
#include "srv-device-settings.h"
#include "srv-export.h"
#include "srv-host-api.h"
#include "srv-invite.h"
#include "srv-notify-api.h"
#include "srv-notify-sender.h"
#include "srv-outbox.h"
#include "srv-site-api.h"
#include "srv-visit.h"

/* ---- roles and rights ---------------------------------------------------------- */

typedef enum {
  RIGHT_ANY,            /* any signed-in account */
  RIGHT_HOSTS_READ,
  RIGHT_HOSTS_WRITE,
  RIGHT_TICKETS_ISSUE,
  RIGHT_DEVICES_READ,
  RIGHT_DEVICES_MANAGE,
  RIGHT_CHECKINS_READ,
  RIGHT_ALERTS_READ,
  RIGHT_VISITS_READ,    /* visitors' names and companies: personal data */
  RIGHT_NOTIFY_READ,    /* notification settings and the outbox (no secrets) */
  RIGHT_NOTIFY_MANAGE,  /* change where notifications go; retry failed ones */
  RIGHT_AUDIT_READ,     /* the audit log: list, verify, CSV export (srv-audit.c) */
  RIGHT_ACCOUNTS_READ,  /* accounts acting on the site, allow-lists */
  RIGHT_ACCOUNTS_MANAGE, /* add accounts, roles, disable, resets (delegation: srv-account-api.c) */
  RIGHT_ALLOWLIST_MANAGE, /* IP allow-lists of the caller's sites and of accounts it manages */
  RIGHT_SITES_MANAGE,   /* add sites: owners only */
  RIGHT_VISIT_PHOTOS,   /* walk-in photos: faces, for the people who meet visitors */
  RIGHT_RETENTION_MANAGE, /* how long a site keeps personal data and audit entries */
} Right;

/* Deny by default: a role has exactly the rights listed here. */
static const struct {
  const char *role;
  guint rights; /* bit per Right */
} role_rights[] = {
#define R(x) (1u << (x))
  { "owner", ~0u },
  { "admin", ~0u & ~R(RIGHT_SITES_MANAGE) },
  { "receptionist", R(RIGHT_ANY) | R(RIGHT_HOSTS_READ) | R(RIGHT_TICKETS_ISSUE) | R(RIGHT_CHECKINS_READ) |
                        R(RIGHT_VISITS_READ) | R(RIGHT_VISIT_PHOTOS) },
  { "security", R(RIGHT_ANY) | R(RIGHT_DEVICES_READ) | R(RIGHT_CHECKINS_READ) | R(RIGHT_ALERTS_READ) },
  { "auditor", R(RIGHT_ANY) | R(RIGHT_HOSTS_READ) | R(RIGHT_DEVICES_READ) | R(RIGHT_CHECKINS_READ) |
                   R(RIGHT_ALERTS_READ) | R(RIGHT_VISITS_READ) | R(RIGHT_NOTIFY_READ) | R(RIGHT_AUDIT_READ) |
                   R(RIGHT_ACCOUNTS_READ) },
#undef R
};

static gboolean
role_has(const char *role, Right right)
{
  for (guint i = 0; i < G_N_ELEMENTS(role_rights); i++)
    if (role != NULL && strcmp(role, role_rights[i].role) == 0)
      return (role_rights[i].rights & (1u << right)) != 0;
  return FALSE;
}

/* ---- small helpers -------------------------------------------------------------- */

static void
token_hash(const char *token, guint8 out[32])
{
  crypto_hash_sha256(out, (const guint8 *) token, strlen(token));
}

static void
srv_response_take_pem(SrvResponse *response, const char *pem)
{
  response->status = 200;
  response->content_type = g_strdup("application/x-pem-file");
  response->body = g_bytes_new(pem, strlen(pem));
}

/* ---- tickets ----------------------------------------------------------------------- */

#define SRV_TICKET_LABELS_MAX 16
#define SRV_TICKET_LABEL_MAX 64

/* Labels classify invitations (and the visits they open) for filters and
 * exports: each one visible text without commas, since they are stored joined
 * by commas. */
static gboolean
ticket_labels(JsonArray *list, char **out, GError **error)
{
  g_autoptr(GPtrArray) parts = g_ptr_array_new();
  for (guint i = 0; i < json_array_get_length(list); i++) {
    JsonNode *n = json_array_get_element(list, i);
    const char *label = JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING
                          ? json_node_get_string(n) : NULL;
    const char *why = "is not a string";
    if (label == NULL || !gk_visit_text_ok(label, SRV_TICKET_LABEL_MAX, &why) || strchr(label, ',') != NULL) {
      g_set_error(error, GK_JSON_ERROR, GK_JSON_ERROR_RANGE, "body.labels[%u] %s", i,
                  label != NULL && strchr(label, ',') != NULL ? "must not contain a comma" : why);
      return FALSE;
    }
    g_ptr_array_add(parts, (gpointer) label);
  }
  g_ptr_array_add(parts, NULL);
  *out = parts->len > 1 ? g_strjoinv(",", (char **) parts->pdata) : NULL;
  return TRUE;
}

static void
handle_ticket_issue(SrvApp *app, const SrvRequest *request, SrvResponse *response)
{
  static const GkJsonField fields[] = {
    { "visitor", GK_JSON_STRING, TRUE, 1, 200 },
    { "host", GK_JSON_STRING, TRUE, 1, 200 },
    { "company", GK_JSON_STRING, FALSE, 0, 200 },
    { "valid_from", GK_JSON_INT, FALSE, 0, G_MAXUINT32 },
    { "valid_until", GK_JSON_INT, FALSE, 0, G_MAXUINT32 },
    { "multi", GK_JSON_BOOL, FALSE, 0, 0 },
    { "purpose", GK_JSON_STRING, FALSE, 0, GK_VISIT_PURPOSE_MAX },
    { "labels", GK_JSON_ARRAY, FALSE, 0, SRV_TICKET_LABELS_MAX },
    { "reception_code", GK_JSON_BOOL, FALSE, 0, 0 },
    { "visitor_email", GK_JSON_STRING, FALSE, 1, 254 },
  };
  g_autoptr(JsonNode) body = srv_api_body(request, response, fields, G_N_ELEMENTS(fields));
  if (body == NULL)
    return;
  JsonObject *o = json_node_get_object(body);
  gint64 now = srv_api_now();
  g_autoptr(GError) error = NULL;
  g_autofree char *labels = NULL;
  const char *purpose = gk_json_get_string(o, "purpose", NULL);
  const char *why = NULL;
  if (purpose != NULL && purpose[0] != '\0' && !gk_visit_text_ok(purpose, GK_VISIT_PURPOSE_MAX, &why)) {
    g_autofree char *message = g_strdup_printf("body.purpose %s", why);
    srv_response_set_error(response, 400, "bad-request", message);
    return;
  }
  if (json_object_has_member(o, "labels") && !ticket_labels(json_object_get_array_member(o, "labels"), &labels, &error)) {
    srv_response_set_error(response, 400, "bad-request", error->message);
    return;
  }
  /* The invitation e-mail is queued with the ticket, so a bad address stops both. */
  const char *visitor_email = gk_json_get_string(o, "visitor_email", NULL);
  if (visitor_email != NULL && !srv_invite_address_check(app->config, visitor_email, &error)) {
    g_autofree char *message = g_strdup_printf("body.visitor_email: %s", error->message);
    srv_response_set_error(response, 400, "bad-request", message);
    return;
  }

  SrvHost host = { 0 };
  if (!srv_store_host_find(app->store, app->site_id, gk_json_get_string(o, "host", ""), &host, &error)) {
    if (g_error_matches(error, SRV_STORE_ERROR, SRV_STORE_ERROR_EXISTS))
      srv_response_set_error(response, 409, "ambiguous-host", "several hosts have that name: give the host id");
    else
      srv_api_reply_error(response, error);
    return;
  }

  GkTicket ticket;
  gk_ticket_init_random(&ticket);
  ticket.site_id = (guint32) app->site_id;
  ticket.valid_from = gk_json_get_int(o, "valid_from", now);
  ticket.valid_until = gk_json_get_int(o, "valid_until", ticket.valid_from + 24 * 3600);
  ticket.flags = gk_json_get_bool(o, "multi", FALSE) ? GK_TICKET_FLAG_MULTI_ENTRY : 0;
  if (ticket.valid_until < ticket.valid_from || ticket.valid_until < now) {
    srv_response_set_error(response, 400, "bad-request", "the validity window is empty or already over");
    srv_host_clear(&host);
    return;
  }
  g_autofree char *text = gk_ticket_encode(&ticket, app->signing_key, &error);
  if (text == NULL) {
    srv_response_set_error(response, 400, "bad-request", error->message);
    srv_host_clear(&host);
    return;
  }
  SrvTicket row = {
    .site_id = app->site_id,
    .host_id = host.id,
    .visitor_name = (char *) gk_json_get_string(o, "visitor", ""),
    .company = (char *) gk_json_get_string(o, "company", NULL),
    .valid_from = ticket.valid_from,
    .valid_until = ticket.valid_until,
    .flags = ticket.flags,
    .key_id = gk_signing_key_id(app->signing_key),
    .text = text,
    .created_at = now,
    .purpose = purpose != NULL && purpose[0] != '\0' ? (char *) purpose : NULL,
    .labels = labels,
  };
  memcpy(row.id, ticket.id, 16);
  srv_host_clear(&host);
  g_autofree char *invitation_id = visitor_email != NULL ? srv_outbox_new_id() : NULL;
  SrvInvitation invitation = { .notification_id = invitation_id, .email = visitor_email };
  row.invitation = visitor_email != NULL ? &invitation : NULL;
  /* The code is shown once, here; the store keeps only its hash. A code that a
   * live ticket of the site holds is drawn again (rare: 10^8 codes). */
  g_autofree char *code = NULL;
  gboolean want_code = gk_json_get_bool(o, "reception_code", TRUE);
  for (guint attempt = 0;; attempt++) {
    if (want_code) {
      g_free(code);
      code = gk_reception_code_new();
      row.has_code = TRUE;
      gk_reception_code_hash(app->site_id, code, row.code_hash);
      invitation.reception_code = code;
    }
    g_clear_error(&error);
    if (srv_store_ticket_add(app->store, &row, &error))
      break;
    if (!want_code || attempt >= 7 || !g_error_matches(error, SRV_STORE_ERROR, SRV_STORE_ERROR_EXISTS)) {
      srv_api_reply_error(response, error);
      return;
    }
  }
  g_autofree char *hex = gk_ticket_id_to_hex(ticket.id);
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  gk_json_add_str(b, "ticket_id", hex);
  gk_json_add_str(b, "text", text);
  gk_json_add_int(b, "valid_from", ticket.valid_from);
  gk_json_add_int(b, "valid_until", ticket.valid_until);
  if (code != NULL)
    gk_json_add_str(b, "reception_code", code);
  if (invitation_id != NULL)
    gk_json_add_str(b, "invitation_id", invitation_id);
  json_builder_end_object(b);
  srv_api_reply(response, 201, b);
  if (code != NULL)
    sodium_memzero(code, strlen(code));
  if (invitation_id != NULL)
    srv_notify_sender_wake(app->notify);
  /* The notification id, never the visitor's address. */
  GK_LOG_INFO("ticket.issued", GK_STR("ticket", hex), GK_BOOL("multi", ticket.flags & GK_TICKET_FLAG_MULTI_ENTRY),
              GK_BOOL("reception_code", code != NULL), GK_STR("invitation", invitation_id ? invitation_id : "none"));
}

/* ---- enrollment ---------------------------------------------------------------------- */

static void
handle_enroll_code(SrvApp *app, const SrvRequest *request, SrvResponse *response)
{
  static const GkJsonField fields[] = {
    { "name", GK_JSON_STRING, TRUE, 1, 64 },
    { "mode", GK_JSON_STRING, TRUE, 1, 16 },
    { "ttl", GK_JSON_INT, FALSE, 60, 7 * 24 * 3600 },
  };
  g_autoptr(JsonNode) body = srv_api_body(request, response, fields, G_N_ELEMENTS(fields));
  if (body == NULL)
    return;
  JsonObject *o = json_node_get_object(body);
  const char *mode = gk_json_get_string(o, "mode", "");
  if (strcmp(mode, "reception") != 0 && strcmp(mode, "gate") != 0) {
    srv_response_set_error(response, 400, "bad-request", "body.mode must be reception or gate");
    return;
  }
  gint64 now = srv_api_now();
  GkEnrollCode code = { 0 };
  randombytes_buf(code.token, sizeof code.token);
  memcpy(code.ca_fingerprint, app->ca_fingerprint, 32);
  code.expires_at = now + gk_json_get_int(o, "ttl", gk_config_get_int(app->config, "enrollment.code-ttl-hours") * 3600);
  code.port = app->admin_port;
  g_strlcpy(code.host, app->public_host, sizeof code.host);

  g_autoptr(GError) error = NULL;
  g_autofree char *hex = gk_hex_encode(code.token, sizeof code.token);
  guint8 hash[32];
  token_hash(hex, hash);
  g_autofree char *text = gk_enroll_code_format(&code, &error);
  sodium_memzero(code.token, sizeof code.token);
  if (text == NULL ||
      !srv_store_enroll_code_add(app->store, hash, app->site_id, gk_json_get_string(o, "name", ""), mode, now,
                                 code.expires_at, &error)) {
    sodium_memzero(hex, strlen(hex));
    srv_api_reply_error(response, error);
    return;
  }
  sodium_memzero(hex, strlen(hex));
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  gk_json_add_str(b, "code", text);
  gk_json_add_int(b, "expires_at", code.expires_at);
  json_builder_end_object(b);
  srv_api_reply(response, 201, b);
  GK_LOG_INFO("device.enroll_code_created", GK_STR("mode", mode), GK_INT("expires_at", code.expires_at));
}

static void
handle_enroll(SrvApp *app, const SrvRequest *request, SrvResponse *response)
{
  static const GkJsonField fields[] = {
    { "token", GK_JSON_STRING, TRUE, 32, 32 },
    { "csr", GK_JSON_STRING, TRUE, 1, SRV_CA_CSR_MAX },
  };
  g_autoptr(JsonNode) body = srv_api_body(request, response, fields, G_N_ELEMENTS(fields));
  if (body == NULL)
    return;
  JsonObject *o = json_node_get_object(body);
  const char *token = gk_json_get_string(o, "token", "");
  const char *csr = gk_json_get_string(o, "csr", "");
  g_autoptr(GError) error = NULL;

  guint8 id_bytes[8];
  randombytes_buf(id_bytes, sizeof id_bytes);
  g_autofree char *id_hex = gk_hex_encode(id_bytes, sizeof id_bytes);
  g_autofree char *device_id = g_strconcat("dev-", id_hex, NULL);
  guint8 serial[SRV_CA_SERIAL_LEN];
  /* mbedTLS wants the PEM's terminating NUL counted. */
  g_autofree char *cert = srv_ca_sign_device_csr(app->ca, (const guint8 *) csr, strlen(csr) + 1, device_id,
                                                 SRV_DEVICE_CERT_DAYS, serial, &error);
  if (cert == NULL) {
    GK_LOG_WARN("device.enroll_refused", GK_STR("ip", request->peer_ip), GK_STR("reason", error->message));
    srv_response_set_error(response, 400, "bad-csr", error->message);
    return;
  }
  /* Signing came first so a bad CSR never uses up a code; a certificate made for
   * a code that then turns out used is never handed out, and the device port
   * refuses any serial that no enrollment recorded. */
  guint8 hash[32];
  token_hash(token, hash);
  g_autoptr(GBytes) serial_bytes = g_bytes_new(serial, sizeof serial);
  SrvDevice device = { 0 };
  gint64 now = srv_api_now();
  if (!srv_store_enroll_code_redeem(app->store, hash, now, device_id, serial_bytes, now + SRV_DEVICE_CERT_DAYS * 86400,
                                    &device, &error)) {
    GK_LOG_WARN("device.enroll_refused", GK_STR("ip", request->peer_ip), GK_STR("reason", error->message));
    srv_api_reply_error(response, error);
    return;
  }
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  gk_json_add_str(b, "device_id", device.id);
  gk_json_add_int(b, "site_id", device.site_id);
  gk_json_add_str(b, "mode", device.mode);
  gk_json_add_str(b, "name", device.name);
  gk_json_add_str(b, "certificate", cert);
  gk_json_add_str(b, "ca", app->ca_pem);
  gk_json_add_int(b, "device_port", app->device_port);
  gk_json_add_int(b, "server_time", now);
  json_builder_end_object(b);
  srv_api_reply(response, 200, b);
  GK_LOG_INFO("device.enrolled", GK_STR("device", device.id), GK_STR("mode", device.mode),
              GK_STR("ip", request->peer_ip));
  srv_device_clear(&device);
}

static void
handle_device_status(SrvApp *app, const char *id, SrvResponse *response)
{
  SrvDevice device = { 0 };
  g_autoptr(GError) error = NULL;
  if (!srv_store_device_get(app->store, id, &device, &error)) {
    srv_api_reply_error(response, error);
    return;
  }
  srv_response_take_json(response, 200,
                         g_strdup(device.revoked_at ? "{\"revoked\":true,\"wipe\":true}" : "{\"revoked\":false}"));
  srv_device_clear(&device);
}

/* ---- devices ------------------------------------------------------------------------- */

static void
handle_device_list(SrvApp *app, const SrvRequest *request, SrvResponse *response)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) devices = srv_store_device_list(app->store, app->site_id, &error);
  if (devices == NULL) {
    srv_api_reply_error(response, error);
    return;
  }
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "devices");
  json_builder_begin_array(b);
  for (guint i = 0; i < devices->len; i++) {
    SrvDevice *d = &g_array_index(devices, SrvDevice, i);
    json_builder_begin_object(b);
    gk_json_add_str(b, "id", d->id);
    gk_json_add_str(b, "name", d->name);
    gk_json_add_str(b, "mode", d->mode);
    gk_json_add_int(b, "enrolled_at", d->enrolled_at);
    gk_json_add_time_or_null(b, "revoked_at", d->revoked_at);
    gk_json_add_time_or_null(b, "last_seen_at", d->last_seen_at);
    gk_json_add_int(b, "clock_offset_ms", d->clock_offset_ms);
    gk_json_add_int(b, "queue_length", d->queue_length);
    gk_json_add_int(b, "config_version", d->running_config_version);
    gk_json_add_int(b, "config_version_latest", d->config_version);
    json_builder_end_object(b);
  }
  json_builder_end_array(b);
  json_builder_end_object(b);
  srv_api_reply(response, 200, b);
}

/* TRUE when device @id belongs to the request's site; else answers 404: for
 * this caller a device of another site does not exist. */
static gboolean
device_of_site(SrvApp *app, const char *id, SrvResponse *response)
{
  SrvDevice device = { 0 };
  g_autoptr(GError) error = NULL;
  if (!srv_store_device_get(app->store, id, &device, &error)) {
    srv_api_reply_error(response, error);
    return FALSE;
  }
  gboolean ours = device.site_id == app->site_id;
  srv_device_clear(&device);
  if (!ours)
    srv_response_set_error(response, 404, "not-found", "no such device");
  return ours;
}

static void
handle_device_revoke(SrvApp *app, SrvAuthContext *ctx, const char *id, const SrvRequest *request,
                     SrvResponse *response)
{
  SrvDevice device = { 0 };
  g_autoptr(GError) error = NULL;
  if (!device_of_site(app, id, response))
    return;
  if (!srv_store_device_revoke(app->store, id, srv_api_now(), &device, &error)) {
    srv_api_reply_error(response, error);
    return;
  }
  if (device.serial != NULL) {
    /* New handshakes are refused from now on, and live connections dropped.
     * The revocation set is the application's own, not the view's. */
    srv_app_mark_revoked(ctx->server, device.serial);
    gsize len;
    const guint8 *serial = g_bytes_get_data(device.serial, &len);
    if (app->loop != NULL && len > 0)
      srv_loop_drop_peer(app->loop, serial, len);
  }
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  gk_json_add_str(b, "id", device.id);
  gk_json_add_int(b, "revoked_at", device.revoked_at);
  json_builder_end_object(b);
  srv_api_reply(response, 200, b);
  GK_LOG_INFO("device.revoked", GK_STR("device", device.id), GK_STR("by", ctx->account.username));
  srv_device_clear(&device);
}

static void
reply_device_settings(SrvApp *app, const char *id, SrvResponse *response)
{
  SrvDevice device = { 0 };
  g_autoptr(GError) error = NULL;
  if (!device_of_site(app, id, response))
    return;
  if (!srv_store_device_get(app->store, id, &device, &error)) {
    srv_api_reply_error(response, error);
    return;
  }
  g_autoptr(GHashTable) settings = srv_store_device_settings_get(app->store, id, &error);
  if (settings == NULL) {
    srv_device_clear(&device);
    srv_api_reply_error(response, error);
    return;
  }
  g_autoptr(GList) keys = g_list_sort(g_hash_table_get_keys(settings), (GCompareFunc) strcmp);
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  gk_json_add_str(b, "id", device.id);
  gk_json_add_int(b, "config_version", device.config_version);
  gk_json_add_int(b, "running_config_version", device.running_config_version);
  json_builder_set_member_name(b, "config");
  json_builder_begin_object(b);
  for (GList *k = keys; k; k = k->next) {
    const char *value = g_hash_table_lookup(settings, k->data);
    /* An admin sees that a PIN is set, never its hash; a logo as its size. */
    g_autofree char *logo = NULL;
    guint w = 0, h = 0;
    g_autoptr(GBytes) png = strcmp(k->data, "logo") == 0 ? gk_logo_decode(value, &w, &h, NULL) : NULL;
    if (png != NULL)
      logo = g_strdup_printf("PNG %ux%u, %zu bytes", w, h, g_bytes_get_size(png));
    gk_json_add_str(b, k->data, strcmp(k->data, "admin-pin-hash") == 0 ? "set" : logo != NULL ? logo : value);
  }
  json_builder_end_object(b);
  json_builder_end_object(b);
  srv_api_reply(response, 200, b);
  srv_device_clear(&device);
}

static void
handle_device_settings_get(SrvApp *app, SrvAuthContext *ctx, const char *id, const SrvRequest *request,
                           SrvResponse *response)
{
  reply_device_settings(app, id, response);
}

static void
handle_device_settings_set(SrvApp *app, SrvAuthContext *ctx, const char *id, const SrvRequest *request,
                           SrvResponse *response)
{
  static const GkJsonField fields[] = {
    { "settings", GK_JSON_OBJECT, TRUE, 0, 0 },
  };
  g_autoptr(JsonNode) body = srv_api_body(request, response, fields, G_N_ELEMENTS(fields));
  if (body == NULL)
    return;
  JsonObject *settings = json_object_get_object_member(json_node_get_object(body), "settings");
  g_autoptr(GHashTable) wanted = g_hash_table_new(g_str_hash, g_str_equal);
  g_autoptr(GList) members = json_object_get_members(settings);
  for (GList *m = members; m; m = m->next) {
    const char *value = gk_json_get_string(settings, m->data, NULL);
    if (value == NULL || g_list_length(members) > 32) {
      srv_response_set_error(response, 400, "bad-request", "settings must be at most 32 \"key\": \"value\" strings");
      return;
    }
    g_hash_table_insert(wanted, m->data, (gpointer) value);
  }
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) keys = g_ptr_array_new_with_free_func(g_free);
  g_autoptr(GPtrArray) values = g_ptr_array_new_with_free_func(g_free);
  gint64 version = 0;
  if (!device_of_site(app, id, response))
    return;
  if (!srv_device_settings_prepare(wanted, keys, values, &error) ||
      !srv_store_device_settings_set(app->store, id, (const char *const *) keys->pdata,
                                     (const char *const *) values->pdata, keys->len, &version, &error)) {
    srv_api_reply_error(response, error);
    return;
  }
  GK_LOG_INFO("device.settings_changed", GK_STR("device", id), GK_STR("by", ctx->account.username),
              GK_INT("config_version", version), GK_UINT("keys", keys->len));
  reply_device_settings(app, id, response);
}

/* ---- check-ins and alerts --------------------------------------------------------------- */

static void
add_ticket_id(JsonBuilder *b, const char *name, gboolean has, const guint8 id[16])
{
  if (!has) {
    gk_json_add_str(b, name, NULL);
    return;
  }
  g_autofree char *hex = gk_hex_encode(id, 16);
  gk_json_add_str(b, name, hex);
}

static void
handle_checkin_list(SrvApp *app, const SrvRequest *request, SrvResponse *response)
{
  static const char *const allowed[] = { "limit", NULL };
  gint64 limit;
  if (!srv_api_query_int(request, response, allowed, "limit", 1, 10000, 100, &limit))
    return;
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) rows = srv_store_checkin_list(app->store, app->site_id, (guint) limit, &error);
  if (rows == NULL) {
    srv_api_reply_error(response, error);
    return;
  }
  static const char *const kinds[] = { "checkin", "checkout", "scan-rejected", "audit" };
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "checkins");
  json_builder_begin_array(b);
  for (guint i = 0; i < rows->len; i++) {
    SrvCheckin *c = &g_array_index(rows, SrvCheckin, i);
    json_builder_begin_object(b);
    gk_json_add_str(b, "event_id", c->id);
    gk_json_add_str(b, "kind", kinds[c->kind <= SRV_EVENT_AUDIT ? c->kind : 0]);
    gk_json_add_str(b, "device_id", c->device_id);
    add_ticket_id(b, "ticket_id", c->has_ticket, c->ticket_id);
    gk_json_add_str(b, "visitor", c->visitor_name);
    gk_json_add_int(b, "at", c->device_time);
    gk_json_add_int(b, "server_time", c->server_time);
    json_builder_set_member_name(b, "offline");
    json_builder_add_boolean_value(b, c->offline);
    json_builder_set_member_name(b, "conflict");
    json_builder_add_boolean_value(b, c->conflict);
    json_builder_end_object(b);
  }
  json_builder_end_array(b);
  json_builder_end_object(b);
  srv_api_reply(response, 200, b);
}

static void
handle_alert_list(SrvApp *app, const SrvRequest *request, SrvResponse *response)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) rows = srv_store_alert_list(app->store, app->site_id, &error);
  if (rows == NULL) {
    srv_api_reply_error(response, error);
    return;
  }
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "alerts");
  json_builder_begin_array(b);
  for (guint i = 0; i < rows->len; i++) {
    SrvAlert *a = &g_array_index(rows, SrvAlert, i);
    json_builder_begin_object(b);
    gk_json_add_int(b, "id", a->id);
    gk_json_add_str(b, "kind", a->kind);
    add_ticket_id(b, "ticket_id", TRUE, a->ticket_id);
    gk_json_add_str(b, "event_id", a->event_id);
    gk_json_add_str(b, "first_event_id", a->first_event_id);
    gk_json_add_str(b, "device_id", a->device_id);
    gk_json_add_str(b, "first_device_id", a->first_device_id);
    gk_json_add_int(b, "created_at", a->created_at);
    json_builder_end_object(b);
  }
  json_builder_end_array(b);
  json_builder_end_object(b);
  srv_api_reply(response, 200, b);
}

/* ---- routing ---------------------------------------------------------------------------- */

typedef void (*PlainHandler)(SrvApp *app, const SrvRequest *request, SrvResponse *response);
/* For routes that need the caller or a path segment ("*"). */
typedef SrvAccountApiHandler CallHandler;

static void
handle_notify_set(SrvApp *app, SrvAuthContext *ctx, const char *scope, const SrvRequest *request,
                  SrvResponse *response)
{
  srv_notify_api_settings_set(app, scope, request, ctx->account.username, response);
}

static void
handle_notify_retry(SrvApp *app, SrvAuthContext *ctx, const char *id, const SrvRequest *request,
                    SrvResponse *response)
{
  srv_notify_api_retry(app, id, ctx->account.username, response);
}

/* Every route that needs a session, with the right it takes (deny by default:
 * a route not listed here is 404, a right not in the role's set is 403). A
 * route has either a plain handler or a call handler. */
static const struct {
  SrvHttpMethod method;
  const char *pattern;
  Right right;
  PlainHandler handler;
  CallHandler call;
} routes[] = {
  { SRV_HTTP_METHOD_GET, "v1/hosts", RIGHT_HOSTS_READ, srv_host_api_list },
  { SRV_HTTP_METHOD_POST, "v1/hosts", RIGHT_HOSTS_WRITE, srv_host_api_add },
  { SRV_HTTP_METHOD_POST, "v1/hosts/import", RIGHT_HOSTS_WRITE, srv_host_api_import },
  { SRV_HTTP_METHOD_PATCH, "v1/hosts/*", RIGHT_HOSTS_WRITE, NULL, srv_host_api_edit },
  { SRV_HTTP_METHOD_DELETE, "v1/hosts/*", RIGHT_HOSTS_WRITE, NULL, srv_host_api_remove },
  { SRV_HTTP_METHOD_POST, "v1/tickets", RIGHT_TICKETS_ISSUE, handle_ticket_issue },
  { SRV_HTTP_METHOD_POST, "v1/devices/enroll-codes", RIGHT_DEVICES_MANAGE, handle_enroll_code },
  { SRV_HTTP_METHOD_GET, "v1/devices", RIGHT_DEVICES_READ, handle_device_list },
  { SRV_HTTP_METHOD_GET, "v1/checkins", RIGHT_CHECKINS_READ, handle_checkin_list },
  { SRV_HTTP_METHOD_GET, "v1/alerts", RIGHT_ALERTS_READ, handle_alert_list },
  { SRV_HTTP_METHOD_GET, "v1/visits", RIGHT_VISITS_READ, srv_visit_handle_list },
  { SRV_HTTP_METHOD_GET, "v1/visits/*/photo", RIGHT_VISIT_PHOTOS, srv_visit_handle_photo },
  { SRV_HTTP_METHOD_GET, "v1/notify", RIGHT_NOTIFY_READ, srv_notify_api_settings_list },
  { SRV_HTTP_METHOD_GET, "v1/notifications", RIGHT_NOTIFY_READ, srv_notify_api_list },
  { SRV_HTTP_METHOD_GET, "v1/audit", RIGHT_AUDIT_READ, srv_audit_handle_list },
  { SRV_HTTP_METHOD_GET, "v1/audit/verify", RIGHT_AUDIT_READ, srv_audit_handle_verify },
  { SRV_HTTP_METHOD_GET, "v1/audit/export", RIGHT_AUDIT_READ, srv_audit_handle_export },
  { SRV_HTTP_METHOD_GET, "v1/devices/*/config", RIGHT_DEVICES_READ, NULL, handle_device_settings_get },
  { SRV_HTTP_METHOD_POST, "v1/devices/*/config", RIGHT_DEVICES_MANAGE, NULL, handle_device_settings_set },
  { SRV_HTTP_METHOD_POST, "v1/devices/*/revoke", RIGHT_DEVICES_MANAGE, NULL, handle_device_revoke },
  { SRV_HTTP_METHOD_POST, "v1/notify/*", RIGHT_NOTIFY_MANAGE, NULL, handle_notify_set },
  { SRV_HTTP_METHOD_POST, "v1/notifications/*/retry", RIGHT_NOTIFY_MANAGE, NULL, handle_notify_retry },
  { SRV_HTTP_METHOD_GET, "v1/accounts", RIGHT_ACCOUNTS_READ, NULL, srv_account_api_list },
  { SRV_HTTP_METHOD_POST, "v1/accounts", RIGHT_ACCOUNTS_MANAGE, NULL, srv_account_api_add },
  { SRV_HTTP_METHOD_POST, "v1/accounts/*/role", RIGHT_ACCOUNTS_MANAGE, NULL, srv_account_api_set_role },
  { SRV_HTTP_METHOD_POST, "v1/accounts/*/disable", RIGHT_ACCOUNTS_MANAGE, NULL, srv_account_api_disable },
  { SRV_HTTP_METHOD_POST, "v1/accounts/*/enable", RIGHT_ACCOUNTS_MANAGE, NULL, srv_account_api_enable },
  { SRV_HTTP_METHOD_POST, "v1/accounts/*/reset-password", RIGHT_ACCOUNTS_MANAGE, NULL,
    srv_account_api_reset_password },
  { SRV_HTTP_METHOD_POST, "v1/accounts/*/totp/reset", RIGHT_ACCOUNTS_MANAGE, NULL, srv_account_api_totp_reset },
  { SRV_HTTP_METHOD_GET, "v1/accounts/*/allow-list", RIGHT_ACCOUNTS_READ, NULL, srv_account_api_allow_get },
  { SRV_HTTP_METHOD_POST, "v1/accounts/*/allow-list", RIGHT_ALLOWLIST_MANAGE, NULL, srv_account_api_allow_set },
  { SRV_HTTP_METHOD_GET, "v1/sites", RIGHT_ANY, NULL, srv_account_api_site_list },
  { SRV_HTTP_METHOD_POST, "v1/sites", RIGHT_SITES_MANAGE, NULL, srv_account_api_site_add },
  { SRV_HTTP_METHOD_GET, "v1/sites/*/allow-list", RIGHT_ACCOUNTS_READ, NULL, srv_account_api_site_allow_get },
  { SRV_HTTP_METHOD_POST, "v1/sites/*/allow-list", RIGHT_ALLOWLIST_MANAGE, NULL, srv_account_api_site_allow_set },
  /* Retention (srv-site-api.c): auditors read the settings with the audit log;
   * deleting a site and a purge of every site at once are owners' (SITES_MANAGE). */
  { SRV_HTTP_METHOD_GET, "v1/sites/*/retention", RIGHT_AUDIT_READ, NULL, srv_site_api_retention_get },
  { SRV_HTTP_METHOD_POST, "v1/sites/*/retention", RIGHT_RETENTION_MANAGE, NULL, srv_site_api_retention_set },
  { SRV_HTTP_METHOD_DELETE, "v1/sites/*", RIGHT_SITES_MANAGE, NULL, srv_site_api_delete },
  { SRV_HTTP_METHOD_POST, "v1/retention/purge", RIGHT_SITES_MANAGE, NULL, srv_site_api_purge },
  /* CSV exports: the role must read that data, and the account must hold the
   * export permission on top (srv-export.c: 403 export-not-permitted). */
  { SRV_HTTP_METHOD_GET, "v1/exports/visits", RIGHT_VISITS_READ, NULL, srv_export_handle_visits },
  { SRV_HTTP_METHOD_GET, "v1/exports/checkins", RIGHT_CHECKINS_READ, NULL, srv_export_handle_checkins },
  { SRV_HTTP_METHOD_GET, "v1/exports/hosts", RIGHT_HOSTS_READ, NULL, srv_export_handle_hosts },
  { SRV_HTTP_METHOD_POST, "v1/accounts/*/export-permission", RIGHT_ACCOUNTS_MANAGE, NULL,
    srv_export_handle_permission },
};

guint
srv_admin_api_route_count(void)
{
  return G_N_ELEMENTS(routes);
}

void
srv_admin_api_route(guint i, SrvHttpMethod *out_method, const char **out_pattern)
{
  g_return_if_fail(i < G_N_ELEMENTS(routes));
  *out_method = routes[i].method;
  *out_pattern = routes[i].pattern;
}

static void
dispatch_signed_in(SrvApp *app, char **seg, const SrvRequest *request, SrvResponse *response)
{
  SrvAuthContext ctx;
  if (!srv_auth_request(app, request, response, &ctx)) {
    srv_auth_context_clear(&ctx);
    return;
  }
  srv_audit_request_actor(SRV_AUDIT_ACTOR_ACCOUNT, ctx.account.username);
  SrvHttpMethod method = request->http->method;
  const char *wild = NULL;

  if (srv_api_path_match(seg, "v1/logout", NULL)) {
    g_autoptr(GError) error = NULL;
    if (method != SRV_HTTP_METHOD_POST)
      srv_response_set_error(response, 405, "method-not-allowed", NULL);
    else if (srv_store_session_delete(app->store, ctx.session_hash, &error))
      srv_response_take_json(response, 200, g_strdup("{}"));
    else
      srv_api_reply_error(response, error);
    goto out;
  }
  if (srv_auth_dispatch_self(app, seg, request, &ctx, response))
    goto out;
  if (ctx.account.must_change_password) {
    srv_response_set_error(response, 403, "password-change-required", "change the password first");
    goto out;
  }
  if (ctx.enroll_only) {
    srv_response_set_error(response, 403, "totp-enrollment-required",
                           "owners and admins sign in with a second factor: set it up first "
                           "(genkanctl account totp enroll)");
    goto out;
  }
  /* Handlers read app->site_id: each request gets a view of the application
   * whose site is the one srv_auth_request() found the account may act on, so
   * no handler can reach another site's rows. The view shares every pointer;
   * the revocation set and its lock are the application's alone (reached
   * through ctx.server), so the view carries none. */
  SrvApp view = *app;
  view.site_id = ctx.site_id;
  srv_audit_request_site(ctx.site_id);
  memset(&view.revoked_lock, 0, sizeof view.revoked_lock);
  view.revoked = NULL;

  gboolean path_known = FALSE;
  for (guint i = 0; i < G_N_ELEMENTS(routes); i++) {
    if (!srv_api_path_match(seg, routes[i].pattern, &wild))
      continue;
    path_known = TRUE;
    if (routes[i].method != method)
      continue;
    if (!role_has(ctx.account.role, routes[i].right)) {
      GK_LOG_WARN("auth.forbidden", GK_STR("user", ctx.account.username), GK_STR("route", routes[i].pattern));
      srv_response_set_error(response, 403, "forbidden", "this account's role does not allow that");
    } else if (routes[i].handler != NULL) {
      routes[i].handler(&view, request, response);
    } else {
      routes[i].call(&view, &ctx, wild, request, response);
    }
    goto out;
  }
  if (path_known)
    srv_response_set_error(response, 405, "method-not-allowed", NULL);
  else
    srv_response_set_error(response, 404, "not-found", NULL);
out:
  srv_auth_context_clear(&ctx);
}

static void
route(SrvApp *app, const SrvRequest *request, SrvResponse *response)
{
  g_auto(GStrv) seg = srv_api_path_segments(request);
  SrvHttpMethod method = request->http->method;
  const char *wild = NULL;

  if (seg == NULL) {
    srv_response_set_error(response, 400, "bad-path", "the request path is not acceptable");
    return;
  }
  /* Routes that need no session. */
  if (srv_api_path_match(seg, "healthz", NULL) && method == SRV_HTTP_METHOD_GET)
    srv_response_take_json(response, 200, g_strdup("{\"status\":\"ok\"}"));
  else if (srv_api_path_match(seg, "v1/ca", NULL) && method == SRV_HTTP_METHOD_GET)
    /* Public: a new device checks it against the fingerprint in its code. */
    srv_response_take_pem(response, app->ca_pem);
  else if (srv_api_path_match(seg, "v1/login", NULL) && method == SRV_HTTP_METHOD_POST)
    srv_auth_handle_login(app, request, response);
  else if (srv_api_path_match(seg, "v1/enroll", NULL) && method == SRV_HTTP_METHOD_POST)
    handle_enroll(app, request, response);
  else if (srv_api_path_match(seg, "v1/devices/*/status", &wild) && method == SRV_HTTP_METHOD_GET)
    handle_device_status(app, wild, response);
  else
    dispatch_signed_in(app, seg, request, response);
}

void
srv_admin_api_handle(const SrvRequest *request, SrvResponse *response, gpointer user_data)
{
  SrvApp *app = user_data;
  /* Every admin request leaves one audit entry with its outcome (srv-audit.h). */
  srv_audit_request_begin(request);
  route(app, request, response);
  srv_audit_request_end(app, request, response);
}
