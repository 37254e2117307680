/* CSV exports of visits, check-ins and hosts: the query parser, the export
 * permission (its own right, on top of the role's read right), the CSV built
 * straight from the store's rows, the size cap, and an audit entry for every
 * export, allowed or refused. */
#include "srv-export.h"

#include <stdarg.h>
#include <string.h>

#include "gk-json.h"
#include "gk-log.h"
#include "gk-visit.h"
#include "srv-api.h"
#include "srv-audit.h"
#include "srv-csv.h"
#include "srv-export-private.h"
#include "srv-store-private.h"

G_DEFINE_QUARK(srv-export-query-error-quark, srv_export_query_error)

#define QUERY_MAX 2048

static const char *const kind_names[SRV_EXPORT_N_KINDS] = {
  [SRV_EXPORT_VISITS] = "visits",
  [SRV_EXPORT_CHECKINS] = "checkins",
  [SRV_EXPORT_HOSTS] = "hosts",
};

/* docs/exports.md describes each column; srv-export-sqlite.c gives them in
 * this order. */
static const char *const visit_columns[] = {
  "visit_id", "kind", "checked_in_utc", "checked_out_utc", "visitor", "company", "purpose",
  "host_id", "host", "labels", "terms_accepted", "device_id", "device", "ticket_id",
};
static const char *const checkin_columns[] = {
  "event_id", "kind", "time_utc", "server_time_utc", "device_id", "device", "ticket_id", "visit_id",
  "visitor", "offline", "conflict",
};
static const char *const host_columns[] = {
  "host_id", "name", "reading", "email", "department", "notify_channel", "created_utc",
};

/* A rough line length per kind: the CSV is sized once up front, so that
 * growing it never holds two copies at once. */
static const gsize line_guess[SRV_EXPORT_N_KINDS] = { 220, 200, 120 };

const char *
srv_export_kind_name(SrvExportKind kind)
{
  g_return_val_if_fail(kind < SRV_EXPORT_N_KINDS, NULL);
  return kind_names[kind];
}

const char *const *
srv_export_columns(SrvExportKind kind, guint *out_n)
{
  g_return_val_if_fail(kind < SRV_EXPORT_N_KINDS && out_n != NULL, NULL);
  switch (kind) {
  case SRV_EXPORT_VISITS:
    *out_n = G_N_ELEMENTS(visit_columns);
    return visit_columns;
  case SRV_EXPORT_CHECKINS:
    *out_n = G_N_ELEMENTS(checkin_columns);
    return checkin_columns;
  case SRV_EXPORT_HOSTS:
  default:
    *out_n = G_N_ELEMENTS(host_columns);
    return host_columns;
  }
}

/* ---- query strings ------------------------------------------------------------------- */

void
srv_export_query_clear(SrvExportQuery *query)
{
  g_free(query->label);
  memset(query, 0, sizeof *query);
}

static gboolean G_GNUC_PRINTF(2, 3)
bad_query(GError **error, const char *format, ...)
{
  va_list args;
  va_start(args, format);
  g_autofree char *message = g_strdup_vprintf(format, args);
  va_end(args);
  g_set_error_literal(error, SRV_EXPORT_QUERY_ERROR, SRV_EXPORT_QUERY_ERROR_INVALID, message);
  return FALSE;
}

/* The audit parser's errors carry its own domain: the message is what counts. */
static gboolean
parse_time(const char *name, const char *value, gint64 *out, gboolean *has, GError **error)
{
  g_autoptr(GError) local = NULL;
  if (!srv_audit_query_time(name, value, out, &local))
    return bad_query(error, "%s", local->message);
  *has = TRUE;
  return TRUE;
}

static gboolean
parse_label(const char *value, char **out, GError **error)
{
  g_autofree char *decoded = g_uri_unescape_string(value, NULL);
  const char *why = "is empty";
  if (decoded == NULL || decoded[0] == '\0' || !gk_visit_text_ok(decoded, SRV_EXPORT_LABEL_MAX, &why) ||
      strchr(decoded, ',') != NULL)
    return bad_query(error, "label %s (1-%d bytes of visible text without a comma, percent-encoded)",
                     decoded == NULL ? "is not valid percent-encoded UTF-8"
                     : decoded[0] != '\0' && strchr(decoded, ',') != NULL ? "must not contain a comma"
                                                                          : why,
                     SRV_EXPORT_LABEL_MAX);
  *out = g_steal_pointer(&decoded);
  return TRUE;
}

static gboolean
parse_pair(const char *name, const char *value, SrvExportKind kind, SrvExportQuery *out, GError **error)
{
  if (strcmp(name, "since") == 0)
    return parse_time("since", value, &out->since, &out->has_since, error);
  if (strcmp(name, "until") == 0)
    return parse_time("until", value, &out->until, &out->has_until, error);
  if (strcmp(name, "label") == 0) {
    if (kind != SRV_EXPORT_VISITS)
      return bad_query(error, "label filters visits only");
    return parse_label(value, &out->label, error);
  }
  if (strcmp(name, "bom") == 0) {
    if (strcmp(value, "0") != 0 && strcmp(value, "1") != 0)
      return bad_query(error, "bom must be 0 or 1");
    out->bom = value[0] == '1';
    return TRUE;
  }
  return bad_query(error, "unknown query parameter (since, until, label, bom)");
}

gboolean
srv_export_query_parse(const char *query, SrvExportKind kind, SrvExportQuery *out, GError **error)
{
  g_return_val_if_fail(out != NULL && kind < SRV_EXPORT_N_KINDS, FALSE);
  memset(out, 0, sizeof *out);
  if (query == NULL || *query == '\0')
    return TRUE;
  if (strlen(query) > QUERY_MAX)
    return bad_query(error, "the query string is too long");
  g_auto(GStrv) pairs = g_strsplit(query, "&", 0);
  g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
  gboolean ok = TRUE;
  for (guint i = 0; ok && pairs[i] != NULL; i++) {
    char *eq = strchr(pairs[i], '=');
    if (eq == NULL) {
      ok = bad_query(error, "query parameters must be name=value");
      break;
    }
    *eq = '\0';
    if (!g_hash_table_add(seen, pairs[i]))
      ok = bad_query(error, "a query parameter is given twice");
    else
      ok = parse_pair(pairs[i], eq + 1, kind, out, error);
  }
  if (ok && out->has_since && out->has_until && out->until <= out->since)
    ok = bad_query(error, "until must be later than since");
  /* until 0 would mean "no bound" to the store. */
  if (ok && out->has_until && out->until == 0)
    ok = bad_query(error, "until must be later than 1970-01-01T00:00:00Z");
  if (!ok)
    srv_export_query_clear(out);
  return ok;
}

/* ---- store-level functions ------------------------------------------------------------- */

#define EXPORT_OPS(store) ((const SrvExportBackend *) (store)->ops->export)

gboolean
srv_export_store_count(SrvStore *store, SrvExportKind kind, const SrvExportFilter *filter, gint64 *out,
                       GError **error)
{
  g_return_val_if_fail(store != NULL && store->ops->export != NULL && filter != NULL && out != NULL, FALSE);
  g_return_val_if_fail(kind < SRV_EXPORT_N_KINDS, FALSE);
  g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
  return EXPORT_OPS(store)->count(store->backend, kind, filter, out, error);
}

gboolean
srv_export_store_rows(SrvStore *store, SrvExportKind kind, const SrvExportFilter *filter, gint64 limit,
                      SrvExportRowFunc fn, gpointer user_data, gint64 *out_rows, GError **error)
{
  g_return_val_if_fail(store != NULL && store->ops->export != NULL && filter != NULL && fn != NULL, FALSE);
  g_return_val_if_fail(kind < SRV_EXPORT_N_KINDS && limit > 0 && out_rows != NULL, FALSE);
  g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
  return EXPORT_OPS(store)->rows(store->backend, kind, filter, limit, fn, user_data, out_rows, error);
}

gboolean
srv_export_store_set_permission(SrvStore *store, gint64 account_id, gboolean allow, GError **error)
{
  g_return_val_if_fail(store != NULL && store->ops->export != NULL, FALSE);
  g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
  return EXPORT_OPS(store)->set_permission(store->backend, account_id, allow, error);
}

/* ---- the permission --------------------------------------------------------------------------- */

static gboolean
is_role(const SrvAuthAccount *a, const char *role)
{
  return a->role != NULL && strcmp(a->role, role) == 0;
}

/* Owners always; security (gate staff) never; everyone else when granted.
 * The router has already checked that the role reads the data at all. */
static gboolean
may_export(const SrvAuthAccount *a)
{
  if (is_role(a, "owner"))
    return TRUE;
  if (is_role(a, "security"))
    return FALSE;
  return a->may_export;
}

/* ---- the exports ------------------------------------------------------------------------------ */

static char *
format_time(gint64 t)
{
  g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc(t);
  return dt != NULL ? g_date_time_format(dt, "%Y-%m-%dT%H:%M:%SZ") : g_strdup_printf("%" G_GINT64_FORMAT, t);
}

/* The audit target: kind, filters and, once known, the row count. No personal
 * data: labels classify visits, they name nobody. */
static char *
audit_target(SrvExportKind kind, const SrvExportQuery *q, gint64 rows)
{
  GString *t = g_string_new(kind_names[kind]);
  if (q->has_since) {
    g_autofree char *s = format_time(q->since);
    g_string_append_printf(t, " since=%s", s);
  }
  if (q->has_until) {
    g_autofree char *s = format_time(q->until);
    g_string_append_printf(t, " until=%s", s);
  }
  if (q->label != NULL)
    g_string_append_printf(t, " label=%s", q->label);
  if (q->bom)
    g_string_append(t, " bom");
  if (rows >= 0)
    g_string_append_printf(t, " rows=%" G_GINT64_FORMAT, rows);
  return g_string_free(t, FALSE);
}

static void
audit(SrvApp *app, SrvExportKind kind, const SrvExportQuery *q, gint64 rows, SrvAuditResult result,
      const char *reason)
{
  static const char *const actions[SRV_EXPORT_N_KINDS] = { "export.visits", "export.checkins", "export.hosts" };
  g_autofree char *target = audit_target(kind, q, rows);
  SrvAuditEntry entry = { .action = actions[kind], .result = result, .reason = reason, .target = target };
  srv_audit_record(app, &entry);
}

static void
append_row(const char *const *cells, guint n, gpointer user_data)
{
  srv_csv_row(user_data, cells, n);
}

static void
handle_export(SrvApp *app, SrvAuthContext *ctx, SrvExportKind kind, const SrvRequest *request,
              SrvResponse *response)
{
  g_auto(SrvExportQuery) q = { 0 };
  g_autoptr(GError) error = NULL;
  /* A bad query changes nothing and shows nothing; the router audits it. */
  if (!srv_export_query_parse(request->http->query, kind, &q, &error)) {
    srv_response_set_error(response, 400, "bad-request", error->message);
    return;
  }
  if (!may_export(&ctx->account)) {
    GK_LOG_WARN("export.refused", GK_STR("user", ctx->account.username), GK_STR("kind", kind_names[kind]));
    srv_response_set_error(response, 403, "export-not-permitted",
                           is_role(&ctx->account, "security")
                             ? "security accounts never export personal data"
                             : "exporting personal data needs the export permission: ask an owner "
                               "(genkanctl account export-permission NAME --allow)");
    audit(app, kind, &q, -1, SRV_AUDIT_REFUSED, "export-not-permitted");
    return;
  }
  SrvExportFilter filter = {
    .site_id = app->site_id,
    .since = q.has_since ? q.since : 0,
    .until = q.has_until ? q.until : 0,
    .label = q.label,
  };
  gint64 max_rows = gk_config_get_int(app->config, "exports.max-rows");
  gint64 count = 0;
  if (!srv_export_store_count(app->store, kind, &filter, &count, &error)) {
    srv_api_reply_error(response, error);
    return;
  }
  if (count > max_rows) {
    g_autofree char *message = g_strdup_printf("the export would hold %" G_GINT64_FORMAT " rows, more than the "
                                               "server's limit of %" G_GINT64_FORMAT " ([exports] max-rows): "
                                               "narrow the dates with since and until",
                                               count, max_rows);
    srv_response_set_error(response, 413, "export-too-large", message);
    audit(app, kind, &q, count, SRV_AUDIT_REFUSED, "export-too-large");
    return;
  }

  guint n_cols = 0;
  const char *const *columns = srv_export_columns(kind, &n_cols);
  GString *csv = g_string_sized_new(256 + (gsize) count * line_guess[kind]);
  if (q.bom)
    g_string_append(csv, SRV_CSV_BOM);
  srv_csv_row(csv, columns, n_cols);
  /* One more than the limit: rows added since the count still cannot pass it. */
  gint64 rows = 0;
  if (!srv_export_store_rows(app->store, kind, &filter, max_rows + 1, append_row, csv, &rows, &error)) {
    g_string_free(csv, TRUE);
    srv_api_reply_error(response, error);
    audit(app, kind, &q, -1, SRV_AUDIT_ERROR, "store");
    return;
  }
  if (rows > max_rows) {
    g_string_free(csv, TRUE);
    srv_response_set_error(response, 413, "export-too-large",
                           "the export holds more rows than the server's limit: narrow the dates");
    audit(app, kind, &q, rows, SRV_AUDIT_REFUSED, "export-too-large");
    return;
  }
  response->status = 200;
  response->content_type = g_strdup("text/csv; charset=utf-8");
  response->body = g_string_free_to_bytes(csv);
  g_autofree char *disposition =
    g_strdup_printf("attachment; filename=\"genkan-%s-site%" G_GINT64_FORMAT ".csv\"", kind_names[kind], app->site_id);
  g_autofree char *rows_text = g_strdup_printf("%" G_GINT64_FORMAT, rows);
  const char *headers[] = { "Content-Disposition", disposition, "X-Genkan-Rows", rows_text, NULL };
  response->extra_headers = g_strdupv((char **) headers);
  audit(app, kind, &q, rows, SRV_AUDIT_OK, NULL);
  GK_LOG_INFO("export.done", GK_STR("user", ctx->account.username), GK_STR("kind", kind_names[kind]),
              GK_INT("site", app->site_id), GK_INT("rows", rows));
}

void
srv_export_handle_visits(SrvApp *app, SrvAuthContext *ctx, const char *wild, const SrvRequest *request,
                         SrvResponse *response)
{
  handle_export(app, ctx, SRV_EXPORT_VISITS, request, response);
}

void
srv_export_handle_checkins(SrvApp *app, SrvAuthContext *ctx, const char *wild, const SrvRequest *request,
                           SrvResponse *response)
{
  handle_export(app, ctx, SRV_EXPORT_CHECKINS, request, response);
}

void
srv_export_handle_hosts(SrvApp *app, SrvAuthContext *ctx, const char *wild, const SrvRequest *request,
                        SrvResponse *response)
{
  handle_export(app, ctx, SRV_EXPORT_HOSTS, request, response);
}

/* ---- granting the permission ------------------------------------------------------------------ */

void
srv_export_handle_permission(SrvApp *app, SrvAuthContext *ctx, const char *wild, const SrvRequest *request,
                             SrvResponse *response)
{
  static const GkJsonField fields[] = {
    { "allow", GK_JSON_BOOL, TRUE, 0, 0 },
  };
  g_autoptr(JsonNode) body = srv_api_body(request, response, fields, G_N_ELEMENTS(fields));
  if (body == NULL)
    return;
  gboolean allow = gk_json_get_bool(json_node_get_object(body), "allow", FALSE);
  /* Only who holds it may hand it on: an owner, or an admin granted it. */
  if (!is_role(&ctx->account, "owner") && !(is_role(&ctx->account, "admin") && ctx->account.may_export)) {
    srv_response_set_error(response, 403, "export-not-permitted",
                           "only an owner, or an admin who holds the export permission, may grant or withdraw it");
    return;
  }
  SrvAuthAccount target = { 0 };
  if (!srv_account_api_target_for_change(app, ctx, wild, &target, response))
    return;
  const char *why = NULL;
  if (is_role(&target, "owner"))
    why = "owners always hold the export permission";
  else if (allow && is_role(&target, "security"))
    why = "security accounts never export personal data";
  if (why != NULL) {
    srv_response_set_error(response, 400, "bad-request", why);
    srv_auth_store_account_clear(&target);
    return;
  }
  g_autoptr(GError) error = NULL;
  if (!srv_export_store_set_permission(app->store, target.id, allow, &error)) {
    srv_api_reply_error(response, error);
    srv_auth_store_account_clear(&target);
    return;
  }
  g_autofree char *audit_target_text = g_strdup_printf("%s %s", target.username, allow ? "allow" : "deny");
  SrvAuditEntry entry = { .action = "account.export-permission", .target = audit_target_text };
  srv_audit_record(app, &entry);
  GK_LOG_INFO("account.export_permission", GK_STR("user", target.username), GK_BOOL("allow", allow),
              GK_STR("by", ctx->account.username));
  srv_account_api_reply_account(app, target.id, response);
  srv_auth_store_account_clear(&target);
}
