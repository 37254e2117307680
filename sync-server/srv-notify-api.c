/* Admin routes for notifications: settings (the webhook secret is shown once,
 * when the server makes it, and never again), the outbox list and a retry. */
#include "srv-notify-api.h"

#include <sodium.h>
#include <string.h>

#include "gk-json.h"
#include "gk-log.h"
#include "srv-notify-sender.h"
#include "srv-notify.h"
#include "srv-outbox.h"

static void
add_setting(JsonBuilder *b, const SrvNotifySetting *s)
{
  g_autofree char *shown = srv_notify_target_display(s->channel, s->target);
  json_builder_begin_object(b);
  gk_json_add_str(b, "scope", s->scope);
  gk_json_add_int(b, "host_id", s->host_id);
  gk_json_add_str(b, "host", s->host_name);
  gk_json_add_str(b, "channel", s->channel);
  gk_json_add_str(b, "target", shown);
  gk_json_add_str(b, "language", s->language);
  json_builder_set_member_name(b, "secret_set");
  json_builder_add_boolean_value(b, s->has_secret);
  gk_json_add_int(b, "offline_after_s", s->offline_after_s);
  gk_json_add_int(b, "updated_at", s->updated_at);
  json_builder_end_object(b);
}

void
srv_notify_api_settings_list(SrvApp *app, const SrvRequest *request, SrvResponse *response)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) list = srv_outbox_setting_list(app->store, app->site_id, &error);
  if (list == NULL) {
    srv_api_reply_error(response, error);
    return;
  }
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "settings");
  json_builder_begin_array(b);
  for (guint i = 0; i < list->len; i++)
    add_setting(b, &g_array_index(list, SrvNotifySetting, i));
  json_builder_end_array(b);
  json_builder_end_object(b);
  srv_api_reply(response, 200, b);
}

/* Does the current setting for (scope, host) already hold a secret for this
 * very endpoint? Then leaving the secret out keeps it. */
static gboolean
keeps_secret(SrvApp *app, const SrvNotifySetting *wanted, GError **error, gboolean *out_keeps)
{
  g_autoptr(GArray) list = srv_outbox_setting_list(app->store, app->site_id, error);
  *out_keeps = FALSE;
  if (list == NULL)
    return FALSE;
  for (guint i = 0; i < list->len; i++) {
    SrvNotifySetting *s = &g_array_index(list, SrvNotifySetting, i);
    if (g_strcmp0(s->scope, wanted->scope) == 0 && s->host_id == wanted->host_id)
      *out_keeps = s->has_secret && g_strcmp0(s->channel, wanted->channel) == 0 &&
                   g_strcmp0(s->target, wanted->target) == 0;
  }
  return TRUE;
}

/* Stores a checked request for @host (scope host) or the site, and answers. */
static void
apply_setting(SrvApp *app, const char *scope, const SrvNotifyRequest *req, const SrvHost *host, const char *actor,
              SrvResponse *response)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *generated = NULL;
  SrvNotifySetting setting = {
    .site_id = app->site_id,
    .scope = (char *) scope,
    .host_id = host->id,
    .channel = req->channel,
    .target = req->target,
    .language = req->language,
    .offline_after_s = req->offline_after_s,
  };
  const char *secret = req->secret;
  gboolean webhook = strcmp(req->channel, "webhook") == 0;
  if (webhook && secret == NULL) {
    gboolean keeps = FALSE;
    if (!keeps_secret(app, &setting, &error, &keeps)) {
      srv_api_reply_error(response, error);
      return;
    }
    /* Every webhook is signed: a new endpoint without a secret gets one. */
    if (!keeps)
      secret = generated = srv_notify_secret_generate();
  }
  gboolean ok = srv_outbox_setting_set(app->store, &setting, secret, srv_api_now(), &error);
  if (!ok) {
    srv_api_reply_error(response, error);
  } else {
    GK_LOG_INFO("notify.settings_changed", GK_STR("scope", scope), GK_INT("host_id", host->id),
                GK_STR("channel", req->channel), GK_STR("by", actor));
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autofree char *shown = srv_notify_target_display(req->channel, req->target);
    json_builder_begin_object(b);
    gk_json_add_str(b, "scope", scope);
    gk_json_add_int(b, "host_id", host->id);
    gk_json_add_str(b, "host", host->name);
    gk_json_add_str(b, "channel", req->channel);
    gk_json_add_str(b, "target", shown);
    gk_json_add_str(b, "language", req->language);
    json_builder_set_member_name(b, "secret_set");
    json_builder_add_boolean_value(b, webhook);
    gk_json_add_int(b, "offline_after_s", req->offline_after_s);
    if (generated != NULL)
      gk_json_add_str(b, "secret", generated);  /* this once; it is never shown again */
    json_builder_end_object(b);
    srv_api_reply(response, 200, b);
  }
  if (generated != NULL)
    sodium_memzero(generated, strlen(generated));
}

void
srv_notify_api_settings_set(SrvApp *app, const char *scope, const SrvRequest *request, const char *actor,
                            SrvResponse *response)
{
  g_autoptr(GError) error = NULL;
  SrvNotifyRequest req = { 0 };
  SrvHost host = { 0 };
  if (!srv_notify_scope_known(scope)) {
    srv_response_set_error(response, 404, "not-found", "the scope must be host, default, security or admins");
    return;
  }
  const SrvHttpRequest *http = request->http;
  if (!srv_notify_request_parse(scope, (const char *) http->body, http->body_len, &req, &error)) {
    const char *code = "bad-request";
    if (error->domain == GK_JSON_ERROR && error->code == GK_JSON_ERROR_SYNTAX)
      code = "bad-json";
    else if (error->domain == GK_JSON_ERROR && error->code == GK_JSON_ERROR_UNKNOWN)
      code = "unknown-field";
    srv_response_set_error(response, 400, code, error->message);
    return;
  }
  const char *smtp = gk_config_get_string(app->config, "smtp.host");
  if (strcmp(req.channel, "email") == 0 && (smtp == NULL || *smtp == '\0'))
    srv_response_set_error(response, 400, "bad-request",
                           "e-mail is not set up on this server: set smtp.host in genkan-server.conf first");
  else if (req.host != NULL && !srv_store_host_find(app->store, app->site_id, req.host, &host, &error) &&
           g_error_matches(error, SRV_STORE_ERROR, SRV_STORE_ERROR_EXISTS))
    srv_response_set_error(response, 409, "ambiguous-host", "several hosts have that name: give the host id");
  else if (error != NULL)
    srv_api_reply_error(response, error);
  else if (req.host != NULL && strcmp(req.channel, "email") == 0 && req.target == NULL && host.email == NULL)
    srv_response_set_error(response, 400, "bad-request", "the host has no e-mail address: give body.target");
  else
    apply_setting(app, scope, &req, &host, actor, response);
  srv_host_clear(&host);
  srv_notify_request_clear(&req);
}

void
srv_notify_api_list(SrvApp *app, const SrvRequest *request, SrvResponse *response)
{
  static const char *const allowed[] = { "failed", "limit", NULL };
  gint64 failed, limit;
  if (!srv_api_query_int(request, response, allowed, "failed", 0, 1, 0, &failed) ||
      !srv_api_query_int(request, response, allowed, "limit", 1, 1000, 100, &limit))
    return;
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) list = srv_outbox_list(app->store, app->site_id, failed != 0, (guint) limit, &error);
  if (list == NULL) {
    srv_api_reply_error(response, error);
    return;
  }
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "notifications");
  json_builder_begin_array(b);
  for (guint i = 0; i < list->len; i++) {
    SrvNotification *n = &g_array_index(list, SrvNotification, i);
    g_autofree char *shown = srv_notify_target_display(n->channel, n->target);
    json_builder_begin_object(b);
    gk_json_add_str(b, "id", n->id);
    gk_json_add_str(b, "kind", n->kind);
    gk_json_add_str(b, "recipient", n->recipient);
    gk_json_add_str(b, "channel", n->channel);
    gk_json_add_str(b, "target", shown);
    gk_json_add_str(b, "status", n->status);
    gk_json_add_int(b, "attempts", n->attempts);
    gk_json_add_int(b, "created_at", n->created_at);
    json_builder_set_member_name(b, "next_attempt_at");
    if (g_strcmp0(n->status, "pending") == 0)
      json_builder_add_int_value(b, n->next_attempt_at);
    else
      json_builder_add_null_value(b);
    json_builder_set_member_name(b, "delivered_at");
    if (n->delivered_at > 0)
      json_builder_add_int_value(b, n->delivered_at);
    else
      json_builder_add_null_value(b);
    gk_json_add_str(b, "last_error", n->last_error);
    json_builder_end_object(b);
  }
  json_builder_end_array(b);
  json_builder_end_object(b);
  srv_api_reply(response, 200, b);
}

static gboolean
notification_id_ok(const char *id)
{
  if (strlen(id) != 36 || !g_str_has_prefix(id, "ntf-"))
    return FALSE;
  for (const char *p = id + 4; *p; p++)
    if (!g_ascii_isxdigit(*p) || g_ascii_isupper(*p))
      return FALSE;
  return TRUE;
}

void
srv_notify_api_retry(SrvApp *app, const char *id, const char *actor, SrvResponse *response)
{
  g_autoptr(GError) error = NULL;
  if (!notification_id_ok(id)) {
    srv_response_set_error(response, 400, "bad-request", "a notification id is ntf- and 32 lowercase hex digits");
    return;
  }
  if (!srv_outbox_retry(app->store, app->site_id, id, srv_api_now(), &error)) {
    if (g_error_matches(error, SRV_STORE_ERROR, SRV_STORE_ERROR_USED))
      srv_response_set_error(response, 409, "delivered", error->message);
    else
      srv_api_reply_error(response, error);
    return;
  }
  srv_notify_sender_wake(app->notify);
  GK_LOG_INFO("notify.retry_requested", GK_STR("id", id), GK_STR("by", actor));
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  gk_json_add_str(b, "id", id);
  gk_json_add_str(b, "status", "pending");
  json_builder_end_object(b);
  srv_api_reply(response, 200, b);
}
