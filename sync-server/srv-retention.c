/* Data retention: argument checks over the store backend, the purge of every
 * site and of the audit log with its audit entries, the cap on devices' own
 * retention, and the thread that runs the purge on a schedule. */
#include "srv-retention-private.h"

#include "gk-json.h"
#include "gk-log.h"
#include "srv-audit.h"
#include "srv-store-private.h"

#define RETENTION_OPS(store) ((const SrvRetentionBackend *) (store)->ops->retention)
#define DAY_S 86400

static gboolean
bad_value(GError **error, const char *message)
{
  g_set_error_literal(error, SRV_STORE_ERROR, SRV_STORE_ERROR_INVALID, message);
  return FALSE;
}

gboolean
srv_retention_get(SrvStore *store, gint64 site_id, SrvRetention *out, GError **error)
{
  g_return_val_if_fail(store != NULL && store->ops->retention != NULL && out != NULL, FALSE);
  g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
  return RETENTION_OPS(store)->get(store->backend, site_id, out, error);
}

gboolean
srv_retention_set(SrvStore *store, const SrvRetention *retention, GError **error)
{
  g_return_val_if_fail(store != NULL && store->ops->retention != NULL && retention != NULL, FALSE);
  g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
  if (retention->visitor_days < SRV_RETENTION_VISITOR_MIN || retention->visitor_days > SRV_RETENTION_VISITOR_MAX)
    return bad_value(error, "visitor_days must be 1 to 3650");
  if (retention->audit_days < SRV_RETENTION_AUDIT_MIN || retention->audit_days > SRV_RETENTION_AUDIT_MAX)
    return bad_value(error, "audit_days must be 180 to 3650");
  return RETENTION_OPS(store)->set(store->backend, retention, error);
}

gboolean
srv_retention_site_delete(SrvStore *store, gint64 site_id, gint64 now, SrvSiteDeleteCounts *out_counts,
                          GPtrArray **out_serials, GError **error)
{
  g_return_val_if_fail(store != NULL && store->ops->retention != NULL && out_counts != NULL, FALSE);
  g_return_val_if_fail(out_serials != NULL, FALSE);
  g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
  g_autoptr(GPtrArray) serials = g_ptr_array_new_with_free_func((GDestroyNotify) g_bytes_unref);
  if (!RETENTION_OPS(store)->site_delete(store->backend, site_id, now, out_counts, serials, error))
    return FALSE;
  /* As after a purge: no copy of the site's rows stays in the WAL. */
  g_autoptr(GError) cp_error = NULL;
  if (!RETENTION_OPS(store)->checkpoint(store->backend, &cp_error))
    GK_LOG_WARN("retention.checkpoint_failed", GK_STR("error", cp_error->message));
  *out_serials = g_steal_pointer(&serials);
  return TRUE;
}

gboolean
srv_retention_device_hours(SrvStore *store, gint64 site_id, gint64 device_hours, gint64 *out_hours, GError **error)
{
  g_return_val_if_fail(store != NULL && out_hours != NULL, FALSE);
  SrvRetention r = { 0 };
  *out_hours = 0;
  if (!srv_retention_get(store, site_id, &r, error))
    return FALSE;
  gint64 cap = r.visitor_days * 24;
  /* A device with no value of its own keeps 24 hours (kiosk-settings.c), which
   * no site's cap (at least one day) is below: nothing to send then. */
  if (device_hours <= 0)
    return FALSE;
  *out_hours = MIN(device_hours, cap);
  return TRUE;
}

/* ---- request bodies ----------------------------------------------------------------------------- */

/* Bodies are small; anything longer is not a settings change. */
#define BODY_MAX 4096

gboolean
srv_retention_parse_body(const char *data, gsize len, SrvRetention *inout, GError **error)
{
  g_return_val_if_fail(inout != NULL, FALSE);
  static const GkJsonField fields[] = {
    { "visitor_days", GK_JSON_INT, FALSE, SRV_RETENTION_VISITOR_MIN, SRV_RETENTION_VISITOR_MAX },
    { "audit_days", GK_JSON_INT, FALSE, SRV_RETENTION_AUDIT_MIN, SRV_RETENTION_AUDIT_MAX },
  };
  g_autoptr(JsonNode) root = gk_json_parse_object(data, len, BODY_MAX, error);
  if (root == NULL)
    return FALSE;
  JsonObject *o = json_node_get_object(root);
  if (!gk_json_check(o, fields, G_N_ELEMENTS(fields), FALSE, "body", error))
    return FALSE;
  if (!json_object_has_member(o, "visitor_days") && !json_object_has_member(o, "audit_days"))
    return bad_value(error, "body: give visitor_days, audit_days or both");
  inout->visitor_days = gk_json_get_int(o, "visitor_days", inout->visitor_days);
  inout->audit_days = gk_json_get_int(o, "audit_days", inout->audit_days);
  return TRUE;
}

gboolean
srv_retention_parse_confirm(const char *data, gsize len, char **out_confirm, GError **error)
{
  g_return_val_if_fail(out_confirm != NULL, FALSE);
  static const GkJsonField fields[] = { { "confirm", GK_JSON_STRING, TRUE, 1, 200 } };
  *out_confirm = NULL;
  g_autoptr(JsonNode) root = gk_json_parse_object(data, len, BODY_MAX, error);
  if (root == NULL)
    return FALSE;
  JsonObject *o = json_node_get_object(root);
  if (!gk_json_check(o, fields, G_N_ELEMENTS(fields), FALSE, "body", error))
    return FALSE;
  *out_confirm = g_strdup(gk_json_get_string(o, "confirm", ""));
  return TRUE;
}

/* ---- the purge -------------------------------------------------------------------------------- */

static void
record_site(SrvApp *app, const SrvRetentionCounts *c, SrvAuditResult result, const char *reason)
{
  /* Counts only: never what was purged. */
  g_autofree char *target =
    g_strdup_printf("visits=%u photos=%u tickets=%u redemptions=%u events=%u alerts=%u notifications=%u hosts=%u",
                    c->visits, c->photos, c->tickets, c->redemptions, c->events, c->alerts, c->notifications,
                    c->hosts);
  srv_audit_record_system(app, c->site_id, "retention.purge", target, result, reason);
}

GArray *
srv_retention_purge(SrvApp *app, gint64 now, guint *out_audit, GError **error)
{
  g_return_val_if_fail(app != NULL && app->store != NULL && out_audit != NULL, NULL);
  g_return_val_if_fail(error == NULL || *error == NULL, NULL);
  SrvStore *store = app->store;
  *out_audit = 0;
  g_autoptr(GArray) sites = RETENTION_OPS(store)->list(store->backend, error);
  if (sites == NULL)
    return NULL;
  g_autoptr(GArray) out = g_array_new(FALSE, TRUE, sizeof(SrvRetentionCounts));
  gint64 longest_audit = SRV_RETENTION_AUDIT_MIN;
  gboolean ok = TRUE;
  /* One transaction per site: a site's purge is all or nothing, and one site's
   * failure leaves the others' done. */
  for (guint i = 0; i < sites->len; i++) {
    const SrvRetention *r = &g_array_index(sites, SrvRetention, i);
    longest_audit = MAX(longest_audit, r->audit_days);
    SrvRetentionCounts c = { .site_id = r->site_id };
    g_autoptr(GError) site_error = NULL;
    if (!RETENTION_OPS(store)->purge_site(store->backend, r->site_id, now - r->visitor_days * DAY_S, &c,
                                          &site_error)) {
      c.site_id = r->site_id;
      record_site(app, &c, SRV_AUDIT_ERROR, "store-failed");
      GK_LOG_ERR("retention.purge_failed", GK_INT("site", r->site_id), GK_STR("error", site_error->message));
      if (ok)
        g_propagate_error(error, g_steal_pointer(&site_error));
      ok = FALSE;
      continue;
    }
    record_site(app, &c, SRV_AUDIT_OK, NULL);
    GK_LOG_INFO("retention.purged", GK_INT("site", r->site_id), GK_UINT("visits", c.visits),
                GK_UINT("tickets", c.tickets), GK_UINT("events", c.events), GK_UINT("hosts", c.hosts));
    g_array_append_val(out, c);
  }
  /* The chain is one for all sites: it keeps what the most demanding site keeps. */
  if (ok && !srv_audit_purge(store, now - longest_audit * DAY_S, out_audit, error))
    ok = FALSE;
  /* With secure_delete the freed pages are zeros; the checkpoint writes them
   * over the old ones and empties the WAL, where the rows' last copies were. */
  g_autoptr(GError) cp_error = NULL;
  if (!RETENTION_OPS(store)->checkpoint(store->backend, &cp_error))
    GK_LOG_WARN("retention.checkpoint_failed", GK_STR("error", cp_error->message));
  if (!ok)
    return NULL;
  return g_steal_pointer(&out);
}

/* ---- the schedule ------------------------------------------------------------------------------ */

struct SrvRetentionScheduler {
  SrvApp *app;
  gint64 first_run_s;
  gint64 interval_s;
  GMutex lock;
  GCond cond;
  gboolean stopping;
  GThread *thread;
};

static gpointer
scheduler_thread(gpointer data)
{
  SrvRetentionScheduler *s = data;
  gint64 next = g_get_monotonic_time() + s->first_run_s * G_USEC_PER_SEC;
  g_mutex_lock(&s->lock);
  while (!s->stopping) {
    if (g_get_monotonic_time() < next) {
      g_cond_wait_until(&s->cond, &s->lock, next);
      continue;
    }
    g_mutex_unlock(&s->lock);
    guint audit = 0;
    g_autoptr(GError) error = NULL;
    g_autoptr(GArray) counts = srv_retention_purge(s->app, g_get_real_time() / G_USEC_PER_SEC, &audit, &error);
    if (counts == NULL)
      GK_LOG_ERR("retention.scheduled_purge_failed", GK_STR("error", error->message));
    else
      GK_LOG_INFO("retention.scheduled_purge", GK_UINT("sites", counts->len), GK_UINT("audit_entries", audit));
    next = g_get_monotonic_time() + s->interval_s * G_USEC_PER_SEC;
    g_mutex_lock(&s->lock);
  }
  g_mutex_unlock(&s->lock);
  return NULL;
}

SrvRetentionScheduler *
srv_retention_scheduler_start(SrvApp *app, gint64 first_run_s, gint64 interval_s)
{
  g_return_val_if_fail(app != NULL && first_run_s >= 0 && interval_s > 0, NULL);
  SrvRetentionScheduler *s = g_new0(SrvRetentionScheduler, 1);
  s->app = app;
  s->first_run_s = first_run_s;
  s->interval_s = interval_s;
  g_mutex_init(&s->lock);
  g_cond_init(&s->cond);
  s->thread = g_thread_new("retention", scheduler_thread, s);
  GK_LOG_INFO("retention.scheduled", GK_INT("first_run_s", first_run_s), GK_INT("interval_s", interval_s));
  return s;
}

void
srv_retention_scheduler_stop(SrvRetentionScheduler *s)
{
  if (s == NULL)
    return;
  g_mutex_lock(&s->lock);
  s->stopping = TRUE;
  g_cond_broadcast(&s->cond);
  g_mutex_unlock(&s->lock);
  g_thread_join(s->thread);
  g_mutex_clear(&s->lock);
  g_cond_clear(&s->cond);
  g_free(s);
}
