/* Sync rounds: push the event queue, pull the change feed, clock offset, purge,
 * and the revocation check. Every answer is checked against docs/protocol.md. */
#include "kiosk-sync.h"

#include <string.h>

#include "gk-json.h"
#include "gk-log.h"
#include "gk-secure-file.h"
#include "kiosk-enroll.h"
#include "kiosk-settings.h"

G_DEFINE_QUARK(kiosk-sync-error-quark, kiosk_sync_error)

#define SYNC_TIMEOUT_MS 30000

static gint64
now_ms(void)
{
  return g_get_real_time() / 1000;
}

static gboolean
bad_answer(GError **error, const char *what, GError *cause)
{
  g_set_error(error, KIOSK_SYNC_ERROR, KIOSK_SYNC_ERROR_BAD_ANSWER, "the server's %s answer is not valid: %s", what,
              cause ? cause->message : "unexpected content");
  return FALSE;
}

static void
add_optional_string(JsonBuilder *b, const char *name, const char *value)
{
  if (value == NULL || value[0] == '\0')
    return;
  json_builder_set_member_name(b, name);
  json_builder_add_string_value(b, value);
}

/* What a walk-in tells the server (docs/protocol.md, "Push events"). */
static void
add_walkin_fields(JsonBuilder *b, const KioskEvent *e)
{
  add_optional_string(b, "visitor_name", e->visitor_name);
  add_optional_string(b, "company", e->company);
  add_optional_string(b, "purpose", e->purpose);
  if (e->host_id > 0) {
    json_builder_set_member_name(b, "host_id");
    json_builder_add_int_value(b, e->host_id);
  }
  json_builder_set_member_name(b, "terms_accepted");
  json_builder_add_boolean_value(b, e->terms_accepted);
  if (e->photo != NULL) {
    gsize len = 0;
    gconstpointer jpeg = g_bytes_get_data(e->photo, &len);
    g_autofree char *b64 = g_base64_encode(jpeg, len);
    json_builder_set_member_name(b, "photo");
    json_builder_add_string_value(b, b64);
    memset(b64, 0, strlen(b64));
  }
}

static char *
push_body(GPtrArray *events, gint64 queue_length, gint64 config_version)
{
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "device_time");
  json_builder_add_int_value(b, g_get_real_time() / G_USEC_PER_SEC);
  json_builder_set_member_name(b, "queue_length");
  json_builder_add_int_value(b, queue_length);
  json_builder_set_member_name(b, "config_version");
  json_builder_add_int_value(b, config_version);
  json_builder_set_member_name(b, "events");
  json_builder_begin_array(b);
  for (guint i = 0; i < events->len; i++) {
    const KioskEvent *e = events->pdata[i];
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "id");
    json_builder_add_string_value(b, e->id);
    json_builder_set_member_name(b, "kind");
    json_builder_add_string_value(b, e->kind);
    if (e->ticket_id != NULL) {
      json_builder_set_member_name(b, "ticket_id");
      json_builder_add_string_value(b, e->ticket_id);
    }
    json_builder_set_member_name(b, "at");
    json_builder_add_int_value(b, e->at);
    json_builder_set_member_name(b, "offline");
    json_builder_add_boolean_value(b, e->offline);
    if (e->reason != NULL) {
      json_builder_set_member_name(b, "reason");
      json_builder_add_string_value(b, e->reason);
    }
    if (e->visit_id != NULL) {
      json_builder_set_member_name(b, "visit_id");
      json_builder_add_string_value(b, e->visit_id);
    }
    if (strcmp(e->kind, "walkin") == 0)
      add_walkin_fields(b, e);
    json_builder_end_object(b);
  }
  json_builder_end_array(b);
  json_builder_end_object(b);
  return gk_json_builder_to_string(b);
}

/* Clock offset from a server_time (seconds) seen at local time @local_ms. */
static void
note_offset(KioskStore *store, gint64 server_time, gint64 local_ms, KioskSyncSummary *summary)
{
  gint64 off = server_time * 1000 - local_ms;
  summary->clock_offset_ms = off;
  kiosk_store_set_meta_int(store, "clock_offset_ms", off, NULL);
}

/* Pushes @events (may be empty when only @report is due) and marks sent what
 * the server acknowledged. */
static gboolean
push_batch(KioskStore *store, KioskClient *client, GPtrArray *events, gboolean report, long timeout_ms,
           KioskSyncSummary *summary, GError **error)
{
  gint64 config_version = kiosk_store_get_meta_int(store, "config_version", 0);
  g_autofree char *body = push_body(events, kiosk_store_queue_length(store), config_version);
  g_autoptr(JsonNode) root = NULL;
  gboolean answered = kiosk_client_request(client, KIOSK_PORT_DEVICE, "POST", "/v1/sync/push", body, timeout_ms,
                                           NULL, &root, NULL, NULL, error);
  /* Visitor data and photos go no further than this request. */
  memset(body, 0, strlen(body));
  if (!answered)
    return FALSE;
  gint64 local = now_ms();
  JsonObject *o = json_node_get_object(root);
  static const GkJsonField top[] = {
    { "results", GK_JSON_ARRAY, TRUE, 0, KIOSK_SYNC_PUSH_BATCH },
    { "server_time", GK_JSON_INT, TRUE, 0, G_MAXUINT32 },
  };
  g_autoptr(GError) local_error = NULL;
  if (!gk_json_check(o, top, G_N_ELEMENTS(top), TRUE, "push", &local_error))
    return bad_answer(error, "push", local_error);
  note_offset(store, gk_json_get_int(o, "server_time", 0), local, summary);

  /* Only ids we sent and the server acknowledged are marked sent. */
  g_autoptr(GHashTable) sent = g_hash_table_new(g_str_hash, g_str_equal);
  for (guint i = 0; i < events->len; i++)
    g_hash_table_add(sent, ((KioskEvent *) events->pdata[i])->id);
  JsonArray *results = json_object_get_array_member(o, "results");
  g_autoptr(GPtrArray) acked = g_ptr_array_new();
  for (guint i = 0; i < json_array_get_length(results); i++) {
    JsonNode *n = json_array_get_element(results, i);
    if (!JSON_NODE_HOLDS_OBJECT(n))
      return bad_answer(error, "push", NULL);
    JsonObject *r = json_node_get_object(n);
    static const GkJsonField rf[] = {
      { "id", GK_JSON_STRING, TRUE, 1, 64 },
      { "status", GK_JSON_STRING, TRUE, 1, 32 },
      { "host_notified", GK_JSON_BOOL, FALSE, 0, 0 },
    };
    if (!gk_json_check(r, rf, G_N_ELEMENTS(rf), TRUE, "push.results[]", &local_error))
      return bad_answer(error, "push", local_error);
    const char *id = gk_json_get_string(r, "id", "");
    const char *status = gk_json_get_string(r, "status", "");
    const char *mine = g_hash_table_lookup(sent, id);
    if (mine == NULL)
      return bad_answer(error, "push", NULL);
    if (strcmp(status, "stored") == 0)
      summary->stored++;
    else if (strcmp(status, "duplicate") == 0)
      summary->duplicate++;
    else if (strcmp(status, "conflict") == 0)
      summary->conflict++;
    else
      return bad_answer(error, "push", NULL);
    if (gk_json_get_bool(r, "host_notified", FALSE))
      summary->host_notified++;
    g_hash_table_remove(sent, id);
    g_ptr_array_add(acked, (gpointer) mine);
  }
  if (acked->len == 0 && events->len > 0)
    return bad_answer(error, "push (no event acknowledged)", NULL);
  if (acked->len > 0 && !kiosk_store_mark_sent(store, (const char *const *) acked->pdata, acked->len, error))
    return FALSE;
  if (report && !kiosk_store_set_meta_int(store, "config_version_reported", config_version, error))
    return FALSE;
  summary->sent += acked->len;
  if (acked->len > 0)
    GK_LOG_INFO("kiosk.sync.push", GK_UINT("events", acked->len), GK_UINT("conflicts", summary->conflict));
  return TRUE;
}

gboolean
kiosk_sync_push(KioskStore *store, KioskClient *client, long timeout_ms, KioskSyncSummary *summary, GError **error)
{
  for (;;) {
    g_autoptr(GPtrArray) events = kiosk_store_pending_events(store, KIOSK_SYNC_PUSH_BATCH, error);
    if (events == NULL)
      return FALSE;
    /* The server learns which settings the device runs from the push: a new
     * version goes out even when no event is waiting (an empty batch). */
    gint64 config_version = kiosk_store_get_meta_int(store, "config_version", 0);
    gboolean report = config_version != kiosk_store_get_meta_int(store, "config_version_reported", 0);
    if (events->len == 0 && !report)
      return TRUE;
    if (!push_batch(store, client, events, report, timeout_ms, summary, error))
      return FALSE;
    /* A short batch means the queue is empty, unless photos cut it short. */
    gboolean photos = FALSE;
    for (guint i = 0; i < events->len && !photos; i++)
      photos = ((KioskEvent *) events->pdata[i])->photo != NULL;
    if (events->len < KIOSK_SYNC_PUSH_BATCH && !photos)
      return TRUE;
  }
}

gboolean
kiosk_sync_push_event(KioskStore *store, KioskClient *client, const char *event_id, long timeout_ms,
                      gboolean *out_acked, gboolean *out_host_notified, GError **error)
{
  g_return_val_if_fail(store != NULL && client != NULL && event_id != NULL && out_acked != NULL, FALSE);
  *out_acked = FALSE;
  if (out_host_notified != NULL)
    *out_host_notified = FALSE;
  g_autoptr(GError) local = NULL;
  KioskEvent *event = kiosk_store_pending_event(store, event_id, &local);
  if (event == NULL) {
    if (local != NULL) {
      g_propagate_error(error, g_steal_pointer(&local));
      return FALSE;
    }
    /* Sent already (another sync got there first): the server has it. */
    *out_acked = TRUE;
    return TRUE;
  }
  g_autoptr(GPtrArray) one = g_ptr_array_new_with_free_func((GDestroyNotify) kiosk_event_free);
  g_ptr_array_add(one, event);
  KioskSyncSummary summary = { 0 };
  if (!push_batch(store, client, one, FALSE, timeout_ms, &summary, error))
    return FALSE;
  *out_acked = summary.sent == 1;
  if (out_host_notified != NULL)
    *out_host_notified = summary.host_notified == 1;
  return TRUE;
}

/* device.config: string values only; a key this kiosk does not know (a newer
 * server's) is skipped with a warning, a known key with a bad value refuses
 * the whole answer. Returns key -> value, or NULL with @error set. */
static GHashTable *
check_config(JsonObject *config, GError **error)
{
  g_autoptr(GHashTable) out = g_hash_table_new(g_str_hash, g_str_equal);
  g_autoptr(GList) members = json_object_get_members(config);
  for (GList *m = members; m != NULL; m = m->next) {
    const char *key = m->data;
    JsonNode *n = json_object_get_member(config, key);
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING) {
      g_set_error(error, GK_JSON_ERROR, GK_JSON_ERROR_TYPE, "pull.device.config.%.40s must be a string", key);
      return NULL;
    }
    const char *value = json_node_get_string(n);
    g_autoptr(GError) local = NULL;
    if (!kiosk_settings_validate(key, value, &local)) {
      if (g_error_matches(local, KIOSK_SETTINGS_ERROR, KIOSK_SETTINGS_ERROR_UNKNOWN_KEY)) {
        /* Never the value: admin-pin would be a secret. */
        GK_LOG_WARN("kiosk.sync.unknown_setting", GK_STR("setting", key));
        continue;
      }
      g_propagate_prefixed_error(error, g_steal_pointer(&local), "pull.device.config: ");
      return NULL;
    }
    g_hash_table_insert(out, (gpointer) key, (gpointer) value);
  }
  return g_steal_pointer(&out);
}

/* The device's own settings as the server has them now (the admin may have
 * changed them since enrollment), and the remote settings with their version.
 * Checked like any outside input; stored in one transaction. */
gboolean
kiosk_sync_apply_device(KioskStore *store, JsonObject *dev, GError **error)
{
  static const GkJsonField fields[] = {
    { "name", GK_JSON_STRING, FALSE, 1, 64 },
    { "mode", GK_JSON_STRING, FALSE, 1, 16 },
    { "cert_expires_at", GK_JSON_INT, FALSE, 0, G_MAXINT64 },
    { "config_version", GK_JSON_INT, FALSE, 0, G_MAXINT64 },
    { "config", GK_JSON_OBJECT, FALSE, 0, 0 },
  };
  g_autoptr(GError) local = NULL;
  if (!gk_json_check(dev, fields, G_N_ELEMENTS(fields), TRUE, "pull.device", &local))
    return bad_answer(error, "pull", local);
  const char *mode = gk_json_get_string(dev, "mode", NULL);
  if (mode != NULL && strcmp(mode, "gate") != 0 && strcmp(mode, "reception") != 0)
    return bad_answer(error, "pull", NULL);
  KioskDeviceConfig dc = {
    .name = gk_json_get_string(dev, "name", NULL),
    .mode = mode,
    .cert_expires_at = gk_json_get_int(dev, "cert_expires_at", 0),
  };
  /* An older server sends neither: the stored settings stay as they are. A
   * config without its version could not be reported back. */
  gboolean has_version = json_object_has_member(dev, "config_version");
  gboolean has_config = json_object_has_member(dev, "config");
  if (has_config && !has_version)
    return bad_answer(error, "pull", NULL);
  g_autoptr(GHashTable) config = NULL;
  if (has_version) {
    if (has_config) {
      config = check_config(json_object_get_object_member(dev, "config"), &local);
      if (config == NULL)
        return bad_answer(error, "pull", local);
    } else {
      config = g_hash_table_new(g_str_hash, g_str_equal);
    }
    dc.config = config;
    dc.config_version = gk_json_get_int(dev, "config_version", 0);
  }
  return kiosk_store_apply_device_config(store, &dc, error);
}

gboolean
kiosk_sync_pull(KioskStore *store, KioskClient *client, KioskSyncProgress progress, gpointer user_data,
                KioskSyncSummary *summary, GError **error)
{
  gint64 cursor = kiosk_store_get_meta_int(store, "cursor", 0);
  for (;;) {
    /* The settings version held here: the server sends settings only when
     * there are newer ones (a logo alone is up to 64 KiB). */
    gint64 config_version = kiosk_store_get_meta_int(store, "config_version", 0);
    g_autofree char *path =
      g_strdup_printf("/v1/sync/pull?cursor=%" G_GINT64_FORMAT "&limit=%d&config_version=%" G_GINT64_FORMAT, cursor,
                      KIOSK_SYNC_PULL_LIMIT, config_version);
    g_autoptr(JsonNode) root = NULL;
    if (!kiosk_client_request(client, KIOSK_PORT_DEVICE, "GET", path, NULL, SYNC_TIMEOUT_MS, NULL, &root, NULL, NULL,
                              error))
      return FALSE;
    gint64 local = now_ms();
    JsonObject *o = json_node_get_object(root);
    static const GkJsonField top[] = {
      { "changes", GK_JSON_ARRAY, TRUE, 0, 1000 },
      { "cursor", GK_JSON_INT, TRUE, 0, G_MAXINT64 },
      { "more", GK_JSON_BOOL, TRUE, 0, 0 },
      { "server_time", GK_JSON_INT, TRUE, 0, G_MAXUINT32 },
    };
    g_autoptr(GError) local_error = NULL;
    if (!gk_json_check(o, top, G_N_ELEMENTS(top), TRUE, "pull", &local_error))
      return bad_answer(error, "pull", local_error);
    gint64 next = gk_json_get_int(o, "cursor", 0);
    gboolean more = gk_json_get_bool(o, "more", FALSE);
    JsonArray *changes = json_object_get_array_member(o, "changes");
    /* A cursor that goes back, or "more" without progress, would loop forever. */
    if (next < cursor || (more && next == cursor))
      return bad_answer(error, "pull", NULL);
    guint applied = 0;
    if (!kiosk_store_apply_page(store, changes, next, &applied, error))
      return FALSE;
    /* The server tells each device when its certificate expires. */
    JsonNode *dev = json_object_get_member(o, "device");
    if (dev != NULL && JSON_NODE_HOLDS_OBJECT(dev) && !kiosk_sync_apply_device(store, json_node_get_object(dev), error))
      return FALSE;
    note_offset(store, gk_json_get_int(o, "server_time", 0), local, summary);
    summary->pulled += applied;
    summary->cursor = next;
    cursor = next;
    if (progress)
      progress(summary->pulled, cursor, user_data);
    if (!more)
      return TRUE;
  }
}

gboolean
kiosk_sync_check_revoked(KioskClient *client, const char *device_id, gboolean *out_wipe, GError **error)
{
  *out_wipe = FALSE;
  g_autofree char *escaped = g_uri_escape_string(device_id, NULL, FALSE);
  g_autofree char *path = g_strdup_printf("/v1/devices/%s/status", escaped);
  g_autoptr(JsonNode) root = NULL;
  if (!kiosk_client_request(client, KIOSK_PORT_ADMIN, "GET", path, NULL, 10000, NULL, &root, NULL, NULL, error))
    return FALSE;
  JsonObject *o = json_node_get_object(root);
  static const GkJsonField f[] = {
    { "revoked", GK_JSON_BOOL, TRUE, 0, 0 },
    { "wipe", GK_JSON_BOOL, FALSE, 0, 0 },
  };
  g_autoptr(GError) local_error = NULL;
  if (!gk_json_check(o, f, G_N_ELEMENTS(f), TRUE, "status", &local_error))
    return bad_answer(error, "device status", local_error);
  *out_wipe = gk_json_get_bool(o, "revoked", FALSE) && gk_json_get_bool(o, "wipe", FALSE);
  return TRUE;
}

gboolean
kiosk_sync_error_suggests_revocation(const GError *error, const char *server_code)
{
  if (error == NULL || error->domain != KIOSK_NET_ERROR)
    return FALSE;
  if (error->code == KIOSK_NET_ERROR_TLS)
    return TRUE;
  return error->code == KIOSK_NET_ERROR_HTTP && server_code != NULL &&
         (strcmp(server_code, "device-revoked") == 0 || strcmp(server_code, "unknown-device") == 0);
}

/* After a refusal: asks whether we were revoked; TRUE (with REVOKED set) when
 * the device must wipe. */
static gboolean
revoked_and_wipe(KioskClient *client, const KioskIdentity *id, GError **error)
{
  gboolean wipe = FALSE;
  g_autoptr(GError) status_error = NULL;
  if (!kiosk_sync_check_revoked(client, id->device_id, &wipe, &status_error)) {
    GK_LOG_WARN("kiosk.sync.status_failed", GK_STR("error", status_error->message));
    return FALSE;
  }
  if (!wipe)
    return FALSE;
  g_set_error(error, KIOSK_SYNC_ERROR, KIOSK_SYNC_ERROR_REVOKED, "device revoked: the server asks to wipe local data");
  return TRUE;
}

gboolean
kiosk_sync_renew_if_due(KioskStore *store, KioskClient *client, gint64 now, GError **error)
{
  gint64 expires = kiosk_store_get_meta_int(store, "cert_expires_at", 0);
  if (expires == 0 || expires - now > KIOSK_RENEW_BEFORE_S)
    return TRUE;

  /* A new key pair each time: a renewal also retires the old private key. */
  g_autofree char *csr = NULL;
  char *key = NULL;
  if (!kiosk_enroll_make_key_and_csr(&key, &csr, error))
    return FALSE;
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "csr");
  json_builder_add_string_value(b, csr);
  json_builder_end_object(b);
  g_autofree char *body = gk_json_builder_to_string(b);
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(GError) check_error = NULL; /* before the first goto: cleanup runs at out */
  gboolean ok = FALSE;
  if (!kiosk_client_request(client, KIOSK_PORT_DEVICE, "POST", "/v1/device/renew", body, SYNC_TIMEOUT_MS, NULL,
                            &root, NULL, NULL, error))
    goto out;
  static const GkJsonField fields[] = {
    { "certificate", GK_JSON_STRING, TRUE, 1, 16384 },
    { "expires_at", GK_JSON_INT, TRUE, 0, G_MAXINT64 },
  };
  JsonObject *o = json_node_get_object(root);
  if (!gk_json_check(o, fields, G_N_ELEMENTS(fields), TRUE, "renew", &check_error)) {
    bad_answer(error, "renew", check_error);
    goto out;
  }
  /* The server has already switched to the new certificate: save it before
   * anything else can fail, or the device would be locked out. */
  const char *cert = gk_json_get_string(o, "certificate", "");
  if (!kiosk_store_replace_credentials(store, cert, key, gk_json_get_int(o, "expires_at", 0), error))
    goto out;
  kiosk_client_set_credentials(client, cert, key);
  GK_LOG_INFO("kiosk.renewed", GK_INT("expires_at", gk_json_get_int(o, "expires_at", 0)));
  ok = TRUE;
out:
  gk_secure_free(key, strlen(key));
  return ok;
}

gboolean
kiosk_sync_run(KioskStore *store, KioskClient *client, const KioskIdentity *id, KioskSyncProgress progress,
               gpointer user_data, KioskSyncSummary *summary, GError **error)
{
  memset(summary, 0, sizeof *summary);
  summary->cursor = kiosk_store_get_meta_int(store, "cursor", 0);
  summary->clock_offset_ms = kiosk_store_get_meta_int(store, "clock_offset_ms", 0);
  g_autoptr(GError) local = NULL;
  gboolean ok = kiosk_sync_push(store, client, SYNC_TIMEOUT_MS, summary, &local) &&
                kiosk_sync_pull(store, client, progress, user_data, summary, &local);
  if (!ok) {
    /* The server's error code is in the message only; a 403 on the device port
     * is always worth a status check. */
    gboolean ask = local->domain == KIOSK_NET_ERROR &&
                   (local->code == KIOSK_NET_ERROR_TLS ||
                    (local->code == KIOSK_NET_ERROR_HTTP && strstr(local->message, "HTTP 403") != NULL));
    if (ask && revoked_and_wipe(client, id, error))
      return FALSE;
    g_propagate_error(error, g_steal_pointer(&local));
    summary->queue_left = kiosk_store_queue_length(store);
    return FALSE;
  }
  kiosk_store_set_meta_int(store, "last_sync", g_get_real_time() / G_USEC_PER_SEC, NULL);
  g_autoptr(GError) renew_error = NULL;
  if (!kiosk_sync_renew_if_due(store, client, g_get_real_time() / G_USEC_PER_SEC, &renew_error))
    /* Not fatal: the certificate is still valid, the next sync tries again. */
    GK_LOG_WARN("kiosk.renew_failed", GK_STR("error", renew_error->message));
  g_autoptr(GError) purge_error = NULL;
  if (!kiosk_store_purge(store, g_get_real_time() / G_USEC_PER_SEC, &purge_error))
    GK_LOG_WARN("kiosk.purge_failed", GK_STR("error", purge_error->message));
  summary->queue_left = kiosk_store_queue_length(store);
  GK_LOG_INFO("kiosk.sync.done", GK_UINT("sent", summary->sent), GK_UINT("pulled", summary->pulled),
              GK_INT("cursor", summary->cursor), GK_INT("clock_offset_ms", summary->clock_offset_ms));
  return TRUE;
}
