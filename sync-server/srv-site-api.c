/* Admin-port routes for data retention and deleting sites: the per-site
 * settings, a purge on demand, and site deletion with its safeguards. */
#include "srv-site-api.h"

#include <string.h>

#include "gk-json.h"
#include "gk-log.h"
#include "srv-api.h"
#include "srv-audit.h"
#include "srv-auth-store.h"
#include "srv-retention.h"

/* The site id in the path when it is an existing site within the caller's
 * scope; else 0 with 404 answered (another site's id looks like no site). */
static gint64
path_site(SrvApp *app, SrvAuthContext *ctx, const char *wild, char **out_name, SrvResponse *response)
{
  guint64 id = 0;
  g_autoptr(GError) error = NULL;
  if (wild == NULL || strlen(wild) > 15 || wild[0] == '0' ||
      !g_ascii_string_to_unsigned(wild, 10, 1, G_MAXINT64, &id, NULL) ||
      !srv_auth_account_has_site(&ctx->account, (gint64) id)) {
    srv_response_set_error(response, 404, "not-found", "no such site");
    return 0;
  }
  g_autoptr(GArray) sites = srv_auth_store_site_list(app->store, &error);
  if (sites == NULL) {
    srv_api_reply_error(response, error);
    return 0;
  }
  for (guint i = 0; i < sites->len; i++) {
    SrvAuthSite *s = &g_array_index(sites, SrvAuthSite, i);
    if (s->id == (gint64) id) {
      if (out_name != NULL)
        *out_name = g_strdup(s->name);
      return s->id;
    }
  }
  srv_response_set_error(response, 404, "not-found", "no such site");
  return 0;
}

static void
reply_retention(const SrvRetention *r, SrvResponse *response)
{
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  gk_json_add_int(b, "site_id", r->site_id);
  gk_json_add_int(b, "visitor_days", r->visitor_days);
  gk_json_add_int(b, "audit_days", r->audit_days);
  json_builder_end_object(b);
  srv_api_reply(response, 200, b);
}

void
srv_site_api_retention_get(SrvApp *app, SrvAuthContext *ctx, const char *wild, const SrvRequest *request,
                           SrvResponse *response)
{
  gint64 site = path_site(app, ctx, wild, NULL, response);
  if (site == 0)
    return;
  SrvRetention r = { 0 };
  g_autoptr(GError) error = NULL;
  if (!srv_retention_get(app->store, site, &r, &error)) {
    srv_api_reply_error(response, error);
    return;
  }
  reply_retention(&r, response);
}

void
srv_site_api_retention_set(SrvApp *app, SrvAuthContext *ctx, const char *wild, const SrvRequest *request,
                           SrvResponse *response)
{
  gint64 site = path_site(app, ctx, wild, NULL, response);
  if (site == 0)
    return;
  SrvRetention r = { 0 };
  g_autoptr(GError) error = NULL;
  if (!srv_retention_get(app->store, site, &r, &error)) {
    srv_api_reply_error(response, error);
    return;
  }
  if (!srv_retention_parse_body((const char *) request->http->body, request->http->body_len, &r, &error)) {
    srv_response_set_error(response, 400, "bad-request", error->message);
    return;
  }
  if (!srv_retention_set(app->store, &r, &error)) {
    srv_api_reply_error(response, error);
    return;
  }
  g_autofree char *target = g_strdup_printf("site:%" G_GINT64_FORMAT " visitor_days=%" G_GINT64_FORMAT
                                            " audit_days=%" G_GINT64_FORMAT, site, r.visitor_days, r.audit_days);
  SrvAuditEntry entry = { .action = "retention.set", .target = target };
  srv_audit_record(app, &entry);
  GK_LOG_INFO("retention.set", GK_INT("site", site), GK_INT("personal_data_days", r.visitor_days),
              GK_INT("audit_days", r.audit_days), GK_STR("by", ctx->account.username));
  reply_retention(&r, response);
}

void
srv_site_api_delete(SrvApp *app, SrvAuthContext *ctx, const char *wild, const SrvRequest *request,
                    SrvResponse *response)
{
  g_autofree char *name = NULL;
  gint64 site = path_site(app, ctx, wild, &name, response);
  if (site == 0)
    return;
  g_autoptr(GError) error = NULL;
  g_autofree char *confirm = NULL;
  if (!srv_retention_parse_confirm((const char *) request->http->body, request->http->body_len, &confirm, &error)) {
    srv_response_set_error(response, 400, "bad-request", error->message);
    return;
  }
  /* The first site is where the server's own entries and new accounts go. */
  if (site == ctx->server->site_id) {
    srv_response_set_error(response, 409, "default-site", "the first site cannot be deleted");
    return;
  }
  if (strcmp(confirm, name) != 0) {
    srv_response_set_error(response, 400, "confirm-mismatch", "body.confirm must be the site's exact name");
    return;
  }
  SrvSiteDeleteCounts c = { 0 };
  g_autoptr(GPtrArray) serials = NULL;
  if (!srv_retention_site_delete(app->store, site, srv_api_now(), &c, &serials, &error)) {
    srv_api_reply_error(response, error);
    return;
  }
  /* Its devices are refused from now on, and live connections dropped (the
   * revocation set is the application's own, not the view's). */
  for (guint i = 0; i < serials->len; i++) {
    GBytes *serial = serials->pdata[i];
    srv_app_mark_revoked(ctx->server, serial);
    gsize len = 0;
    const guint8 *data = g_bytes_get_data(serial, &len);
    if (app->loop != NULL && len > 0)
      srv_loop_drop_peer(app->loop, data, len);
  }
  g_autofree char *target = g_strdup_printf("site:%" G_GINT64_FORMAT " hosts=%u tickets=%u visits=%u events=%u"
                                            " devices=%u accounts_disabled=%u", site, c.hosts, c.tickets, c.visits,
                                            c.events, c.devices, c.accounts_disabled);
  SrvAuditEntry entry = { .action = "site.delete", .target = target };
  srv_audit_record(app, &entry);
  GK_LOG_WARN("site.deleted", GK_INT("site", site), GK_UINT("devices", c.devices), GK_STR("by", ctx->account.username));
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  gk_json_add_int(b, "deleted", site);
  gk_json_add_int(b, "hosts", c.hosts);
  gk_json_add_int(b, "tickets", c.tickets);
  gk_json_add_int(b, "visits", c.visits);
  gk_json_add_int(b, "events", c.events);
  gk_json_add_int(b, "devices", c.devices);
  gk_json_add_int(b, "accounts_disabled", c.accounts_disabled);
  json_builder_end_object(b);
  srv_api_reply(response, 200, b);
}

void
srv_site_api_purge(SrvApp *app, SrvAuthContext *ctx, const char *wild, const SrvRequest *request,
                   SrvResponse *response)
{
  g_autoptr(JsonNode) body = srv_api_body(request, response, NULL, 0);
  if (body == NULL)
    return;
  guint audit = 0;
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) counts = srv_retention_purge(app, srv_api_now(), &audit, &error);
  if (counts == NULL) {
    srv_api_reply_error(response, error);
    return;
  }
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "sites");
  json_builder_begin_array(b);
  for (guint i = 0; i < counts->len; i++) {
    const SrvRetentionCounts *c = &g_array_index(counts, SrvRetentionCounts, i);
    json_builder_begin_object(b);
    gk_json_add_int(b, "site_id", c->site_id);
    gk_json_add_int(b, "visits", c->visits);
    gk_json_add_int(b, "photos", c->photos);
    gk_json_add_int(b, "tickets", c->tickets);
    gk_json_add_int(b, "redemptions", c->redemptions);
    gk_json_add_int(b, "events", c->events);
    gk_json_add_int(b, "alerts", c->alerts);
    gk_json_add_int(b, "notifications", c->notifications);
    gk_json_add_int(b, "hosts", c->hosts);
    json_builder_end_object(b);
  }
  json_builder_end_array(b);
  gk_json_add_int(b, "audit_entries", audit);
  json_builder_end_object(b);
  srv_api_reply(response, 200, b);
}
