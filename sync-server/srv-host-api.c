/* Host routes: field checks, answers and audit entries; the writes are
 * srv-host-store's, the CSV parsing srv-host-csv's. Answers never log a host's
 * personal data; audit targets are host ids and counts. */
#include "srv-host-api.h"

#include <sodium.h>
#include <string.h>

#include "gk-json.h"
#include "gk-log.h"
#include "srv-audit.h"
#include "srv-host-csv.h"
#include "srv-host-store.h"

/* An answer lists at most this many bad-row problems (and says how many there
 * were): a 2 MiB file of bad rows must not make a far larger answer. */
#define PROBLEMS_SHOWN_MAX 1000

/* A host's members; @secret (a webhook secret just made) once, when not NULL. */
static void
add_host(JsonBuilder *b, const SrvHost *h, const char *secret)
{
  json_builder_begin_object(b);
  gk_json_add_int(b, "id", h->id);
  gk_json_add_str(b, "name", h->name);
  gk_json_add_str(b, "reading", h->reading);
  gk_json_add_str(b, "email", h->email);
  gk_json_add_str(b, "department", h->department);
  if (secret != NULL)
    gk_json_add_str(b, "secret", secret); /* this once; it is never shown again */
  json_builder_end_object(b);
}

void
srv_host_api_list(SrvApp *app, const SrvRequest *request, SrvResponse *response)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) hosts = srv_store_host_list(app->store, app->site_id, &error);
  if (hosts == NULL) {
    srv_api_reply_error(response, error);
    return;
  }
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "hosts");
  json_builder_begin_array(b);
  for (guint i = 0; i < hosts->len; i++)
    add_host(b, &g_array_index(hosts, SrvHost, i), NULL);
  json_builder_end_array(b);
  json_builder_end_object(b);
  srv_api_reply(response, 200, b);
}

/* ---- add and edit ----------------------------------------------------------------- */

static const GkJsonField host_fields[] = {
  { "name", GK_JSON_STRING, FALSE, 1, SRV_HOST_TEXT_MAX },
  { "reading", GK_JSON_STRING, FALSE, 0, SRV_HOST_TEXT_MAX },
  { "email", GK_JSON_STRING, FALSE, 0, SRV_HOST_EMAIL_MAX },
  { "department", GK_JSON_STRING, FALSE, 0, SRV_HOST_TEXT_MAX },
  { "channel", GK_JSON_STRING, FALSE, 0, 2100 },
};

static gboolean
smtp_ready(SrvApp *app)
{
  const char *smtp = gk_config_get_string(app->config, "smtp.host");
  return smtp != NULL && *smtp != '\0';
}

/* Reads and checks the body's fields (the same rules as the CSV's cells);
 * FALSE after answering 400. "" clears an optional field. */
static gboolean
read_fields(SrvApp *app, JsonObject *o, SrvHostFields *f, SrvResponse *response)
{
  const char *const names[] = { "name", "reading", "email", "department", "channel" };
  const char **slots[] = { &f->name, &f->reading, &f->email, &f->department, &f->channel };
  for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
    const char *v = gk_json_get_string(o, names[i], NULL);
    *slots[i] = v;
    if (v == NULL || (*v == '\0' && i > 0))
      continue;
    const char *why = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *channel = NULL, *target = NULL;
    gboolean ok = i == 2 ? srv_host_email_ok(v, &why)
                  : i == 4 ? srv_host_channel_parse(v, &channel, &target, &error)
                           : srv_host_text_ok(v, &why);
    if (ok && i == 4 && strcmp(channel, "email") == 0 && !smtp_ready(app)) {
      ok = FALSE;
      why = "is email, but e-mail is not set up on this server (smtp.host in genkan-server.conf)";
    }
    if (!ok) {
      g_autofree char *message = g_strdup_printf("body.%s %s", names[i], error != NULL ? error->message : why);
      srv_response_set_error(response, 400, "bad-request", message);
      return FALSE;
    }
  }
  return TRUE;
}

/* The store's refusals in the words of this route. */
static void
reply_store_error(SrvResponse *response, const GError *error)
{
  if (g_error_matches(error, SRV_STORE_ERROR, SRV_STORE_ERROR_EXISTS))
    srv_response_set_error(response, 409, "host-exists", error->message);
  else
    srv_api_reply_error(response, error);
}

static void
add_secret(JsonBuilder *b, SrvHostWritten *w)
{
  if (w->secret == NULL)
    return;
  gk_json_add_str(b, "secret", w->secret); /* this once; it is never shown again */
}

void
srv_host_api_add(SrvApp *app, const SrvRequest *request, SrvResponse *response)
{
  g_autoptr(JsonNode) body = srv_api_body(request, response, host_fields, G_N_ELEMENTS(host_fields));
  if (body == NULL)
    return;
  SrvHostFields f = { 0 };
  if (!read_fields(app, json_node_get_object(body), &f, response))
    return;
  if (f.name == NULL) {
    srv_response_set_error(response, 400, "bad-request", "body.name is required");
    return;
  }
  g_autoptr(GError) error = NULL;
  SrvHostWritten w = { 0 };
  if (!srv_host_store_add(app->store, app->site_id, &f, srv_api_now(), &w, &error)) {
    reply_store_error(response, error);
    return;
  }
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  gk_json_add_int(b, "id", w.host_id);
  add_secret(b, &w);
  json_builder_end_object(b);
  srv_api_reply(response, 201, b);
  srv_host_written_clear(&w);
}

/* A host id from the path: digits only; anything else names no host. */
static gboolean
path_id(const char *text, gint64 *out)
{
  guint64 v = 0;
  if (text == NULL || !g_ascii_string_to_unsigned(text, 10, 1, G_MAXINT64, &v, NULL))
    return FALSE;
  *out = (gint64) v;
  return TRUE;
}

void
srv_host_api_edit(SrvApp *app, SrvAuthContext *ctx, const char *id, const SrvRequest *request,
                  SrvResponse *response)
{
  gint64 host_id = 0;
  if (!path_id(id, &host_id)) {
    srv_response_set_error(response, 404, "not-found", "a host is named by its id in the path");
    return;
  }
  g_autoptr(JsonNode) body = srv_api_body(request, response, host_fields, G_N_ELEMENTS(host_fields));
  if (body == NULL)
    return;
  JsonObject *o = json_node_get_object(body);
  if (json_object_get_size(o) == 0) {
    srv_response_set_error(response, 400, "bad-request", "the body changes nothing: give at least one field");
    return;
  }
  SrvHostFields f = { 0 };
  if (!read_fields(app, o, &f, response))
    return;
  g_autoptr(GError) error = NULL;
  SrvHostWritten w = { 0 };
  if (!srv_host_store_edit(app->store, app->site_id, host_id, &f, srv_api_now(), &w, &error)) {
    reply_store_error(response, error);
    return;
  }
  SrvHost host = { 0 };
  g_autofree char *id_text = g_strdup_printf("%" G_GINT64_FORMAT, host_id);
  if (!srv_store_host_find(app->store, app->site_id, id_text, &host, &error)) {
    srv_api_reply_error(response, error);
    srv_host_written_clear(&w);
    return;
  }
  g_autoptr(JsonBuilder) b = json_builder_new();
  add_host(b, &host, w.secret);
  srv_api_reply(response, 200, b);
  srv_host_clear(&host);
  srv_host_written_clear(&w);
}

void
srv_host_api_remove(SrvApp *app, SrvAuthContext *ctx, const char *id, const SrvRequest *request,
                    SrvResponse *response)
{
  gint64 host_id = 0;
  g_autoptr(GError) error = NULL;
  if (!path_id(id, &host_id)) {
    srv_response_set_error(response, 404, "not-found", "a host is named by its id in the path");
    return;
  }
  if (!srv_host_store_remove(app->store, app->site_id, host_id, srv_api_now(), &error)) {
    srv_api_reply_error(response, error);
    return;
  }
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  gk_json_add_int(b, "id", host_id);
  json_builder_set_member_name(b, "removed");
  json_builder_add_boolean_value(b, TRUE);
  json_builder_end_object(b);
  srv_api_reply(response, 200, b);
}

/* ---- import ----------------------------------------------------------------------- */

/* text/csv, with at most a charset parameter that says UTF-8. */
static gboolean
csv_content_type(const SrvRequest *request)
{
  const char *type = srv_http_request_header(request->http, "Content-Type");
  if (type == NULL)
    return FALSE;
  g_auto(GStrv) parts = g_strsplit(type, ";", 3);
  if (g_ascii_strcasecmp(g_strstrip(parts[0]), "text/csv") != 0)
    return FALSE;
  if (parts[1] == NULL)
    return TRUE;
  const char *param = g_strstrip(parts[1]);
  return parts[2] == NULL && (g_ascii_strcasecmp(param, "charset=utf-8") == 0 ||
                              g_ascii_strcasecmp(param, "charset=\"utf-8\"") == 0);
}

static void
reply_bad_rows(SrvResponse *response, GArray *problems)
{
  g_autoptr(GHashTable) lines = g_hash_table_new(g_direct_hash, g_direct_equal);
  for (guint i = 0; i < problems->len; i++)
    g_hash_table_add(lines, GUINT_TO_POINTER(g_array_index(problems, SrvHostCsvProblem, i).line));
  guint bad = g_hash_table_size(lines);
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "error");
  json_builder_begin_object(b);
  gk_json_add_int(b, "status", 422);
  gk_json_add_str(b, "code", "bad-rows");
  g_autofree char *message = g_strdup_printf("%u %s bad: nothing was imported", bad, bad == 1 ? "row is" : "rows are");
  gk_json_add_str(b, "message", message);
  json_builder_end_object(b);
  gk_json_add_int(b, "bad_rows", bad);
  gk_json_add_int(b, "problems_total", problems->len);
  json_builder_set_member_name(b, "problems");
  json_builder_begin_array(b);
  for (guint i = 0; i < problems->len && i < PROBLEMS_SHOWN_MAX; i++) {
    SrvHostCsvProblem *p = &g_array_index(problems, SrvHostCsvProblem, i);
    json_builder_begin_object(b);
    gk_json_add_int(b, "line", p->line);
    gk_json_add_str(b, "column", p->column);
    gk_json_add_str(b, "reason", p->reason);
    json_builder_end_object(b);
  }
  json_builder_end_array(b);
  json_builder_end_object(b);
  srv_api_reply(response, 422, b);
}

void
srv_host_api_import(SrvApp *app, const SrvRequest *request, SrvResponse *response)
{
  static const char *const allowed[] = { "dry_run", NULL };
  gint64 dry_run = 0;
  if (!srv_api_query_int(request, response, allowed, "dry_run", 0, 1, 0, &dry_run))
    return;
  if (!csv_content_type(request)) {
    srv_response_set_error(response, 415, "unsupported-media-type",
                           "send the hosts as Content-Type: text/csv (UTF-8)");
    return;
  }
  g_autoptr(GError) error = NULL;
  g_auto(SrvHostCsv) csv = { 0 };
  if (!srv_host_csv_parse((const char *) request->http->body, request->http->body_len,
                          smtp_ready(app) ? SRV_HOST_CSV_NONE : SRV_HOST_CSV_NO_EMAIL, &csv, &error)) {
    srv_response_set_error(response, 400, "bad-csv", error->message);
    return;
  }
  if (csv.problems->len > 0) {
    reply_bad_rows(response, csv.problems);
    return;
  }
  g_autoptr(GArray) written = NULL;
  if (!srv_host_store_import(app->store, app->site_id, csv.rows, dry_run != 0, srv_api_now(), &written, &error)) {
    reply_store_error(response, error);
    return;
  }
  guint added = 0, updated = 0;
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "dry_run");
  json_builder_add_boolean_value(b, dry_run != 0);
  json_builder_set_member_name(b, "rows");
  json_builder_begin_array(b);
  for (guint i = 0; i < written->len; i++) {
    SrvHostWritten *w = &g_array_index(written, SrvHostWritten, i);
    if (w->added)
      added++;
    else
      updated++;
    json_builder_begin_object(b);
    gk_json_add_int(b, "line", w->line);
    gk_json_add_str(b, "action", w->added ? "added" : "updated");
    /* A dry run's new ids were never kept. */
    json_builder_set_member_name(b, "id");
    if (dry_run && w->added)
      json_builder_add_null_value(b);
    else
      json_builder_add_int_value(b, w->host_id);
    add_secret(b, w);
    json_builder_end_object(b);
  }
  json_builder_end_array(b);
  gk_json_add_int(b, "added", added);
  gk_json_add_int(b, "updated", updated);
  json_builder_end_object(b);
  srv_api_reply(response, dry_run ? 200 : 201, b);

  /* Counts only: the file is personal data. */
  g_autofree char *target = g_strdup_printf("%sadded=%u updated=%u", dry_run ? "dry-run " : "", added, updated);
  SrvAuditEntry entry = { .action = "host.import", .result = SRV_AUDIT_OK, .target = target };
  srv_audit_record(app, &entry);
  GK_LOG_INFO("host.imported", GK_BOOL("dry_run", dry_run != 0), GK_INT("added", added), GK_INT("updated", updated));
}

gsize
srv_host_api_body_cap(const SrvHttpRequest *head, gpointer user_data)
{
  if (head->method == SRV_HTTP_METHOD_POST && strcmp(head->path, "/v1/hosts/import") == 0)
    return SRV_HOST_CSV_MAX_BYTES;
  return SRV_API_MAX_BODY;
}
