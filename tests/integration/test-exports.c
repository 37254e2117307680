/* CSV exports against a real server: each export's columns and rows for data
 * made through the admin and device APIs, the since/until/label filters, the
 * BOM, formula defusing, 413 over [exports] max-rows, bad query parameters,
 * every role with and without the export permission (security never), another
 * site's rows, the audit entries, and who may grant the permission. */
#include <string.h>

#include "gk-json.h"
#include "gk-test-server.h"
#include "gk-test-util.h"

#define OWNER_PW "Exp0rt-Owner-Passw0rd!"
#define STAFF_PW "Staff-Passw0rd-4-Exports!"
#define BOM "\xEF\xBB\xBF"

typedef struct {
  GkTestServer *server;
  char *owner;
  gint64 base;          /* the first check-in's time (an hour boundary, hours ago) */
  gint64 host_id;
  char *ticket_a;       /* labels vip, checked in and out */
  char *ticket_b;       /* label 2F, checked in */
  char *visit_walkin;
  GkTestDevice *device;
} Fixture;

static long
call_full(Fixture *f, const char *token, const char *site, const char *method, const char *path, const char *body,
          JsonNode **reply, GString *raw, GString *headers)
{
  GkTestClient c = { .ca_path = f->server->ca_path, .token = token, .site = site, .out_raw = raw,
                     .out_headers = headers };
  g_autofree char *url = g_strconcat(f->server->admin_url, path, NULL);
  if (reply != NULL)
    g_clear_pointer(reply, json_node_unref);
  return gk_test_request(&c, method, url, body, reply, NULL);
}

static long
call(Fixture *f, const char *token, const char *method, const char *path, const char *body, JsonNode **reply)
{
  return call_full(f, token, NULL, method, path, body, reply, NULL, NULL);
}

/* GET /v1/exports/@kind?@query as @token: the status, the raw body in @csv and
 * the error code (static) of a refusal in *out_code. */
static long
export(Fixture *f, const char *token, const char *site, const char *kind, const char *query, GString *csv,
       GString *headers, const char **out_code)
{
  g_autofree char *path = g_strdup_printf("/v1/exports/%s%s%s", kind, query != NULL ? "?" : "", query ? query : "");
  g_autoptr(JsonNode) reply = NULL;
  g_string_truncate(csv, 0);
  if (headers != NULL)
    g_string_truncate(headers, 0);
  long status = call_full(f, token, site, "GET", path, NULL, &reply, csv, headers);
  static char code[64];
  g_strlcpy(code, status != 200 && gk_test_json_error_code(reply) ? gk_test_json_error_code(reply) : "", sizeof code);
  if (out_code != NULL)
    *out_code = code;
  return status;
}

static char *
utc(gint64 t)
{
  g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc(t);
  return g_date_time_format(dt, "%Y-%m-%dT%H:%M:%SZ");
}

/* RFC 4180 lines (CRLF) into rows of cells; asserts the CSV is well formed. */
static GPtrArray *
parse_csv(const char *text)
{
  GPtrArray *rows = g_ptr_array_new_with_free_func((GDestroyNotify) g_strfreev);
  const char *p = text;
  while (*p != '\0') {
    GPtrArray *cells = g_ptr_array_new();
    for (;;) {
      GString *cell = g_string_new(NULL);
      if (*p == '"') {
        for (p++;; p++) {
          g_assert_true(*p != '\0');
          if (*p == '"' && p[1] == '"')
            g_string_append_c(cell, *p++);
          else if (*p == '"')
            break;
          else
            g_string_append_c(cell, *p);
        }
        p++;
      } else {
        while (*p != ',' && *p != '\r' && *p != '\0') {
          g_assert_true(*p != '\n' && *p != '"');
          g_string_append_c(cell, *p++);
        }
      }
      g_ptr_array_add(cells, g_string_free(cell, FALSE));
      if (*p == ',') {
        p++;
        continue;
      }
      g_assert_true(p[0] == '\r' && p[1] == '\n');
      p += 2;
      break;
    }
    g_ptr_array_add(cells, NULL);
    g_ptr_array_add(rows, g_ptr_array_free(cells, FALSE));
  }
  return rows;
}

static const char *
cell(GPtrArray *rows, guint row, guint col)
{
  char **r = g_ptr_array_index(rows, row);
  g_assert_cmpuint(col, <, g_strv_length(r));
  return r[col];
}

static void
push(Fixture *f, const char *events)
{
  g_autofree char *body = g_strdup_printf("{\"events\":[%s]}", events);
  GkTestClient c = { .ca_path = f->server->ca_path, .cert_pem = f->device->cert_pem, .key_pem = f->device->key_pem };
  g_autofree char *url = g_strconcat(f->server->device_url, "/v1/sync/push", NULL);
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(gk_test_request(&c, "POST", url, body, &reply, NULL), ==, 200);
}

static char *
issue(Fixture *f, const char *visitor, const char *company, const char *label)
{
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "visitor");
  json_builder_add_string_value(b, visitor);
  json_builder_set_member_name(b, "company");
  json_builder_add_string_value(b, company);
  json_builder_set_member_name(b, "host");
  g_autofree char *host = g_strdup_printf("%" G_GINT64_FORMAT, f->host_id);
  json_builder_add_string_value(b, host);
  json_builder_set_member_name(b, "purpose");
  json_builder_add_string_value(b, "Review");
  json_builder_set_member_name(b, "labels");
  json_builder_begin_array(b);
  json_builder_add_string_value(b, label);
  json_builder_end_array(b);
  json_builder_set_member_name(b, "valid_from");
  json_builder_add_int_value(b, f->base - 86400);
  json_builder_set_member_name(b, "valid_until");
  json_builder_add_int_value(b, f->base + 2 * 86400);
  json_builder_end_object(b);
  g_autofree char *body = gk_json_builder_to_string(b);
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(call(f, f->owner, "POST", "/v1/tickets", body, &reply), ==, 201);
  return g_strdup(gk_test_json_str(reply, "ticket_id"));
}

static void
fixture_setup(Fixture *f, gconstpointer data)
{
  f->server = gk_test_server_init();
  gk_test_server_configure(f->server, "[auth]\nmax-delay-s = 0\n");
  gk_test_server_start(f->server);
  f->owner = gk_test_server_login_owner(f->server, OWNER_PW);
  f->base = (g_get_real_time() / G_USEC_PER_SEC / 3600 - 6) * 3600;
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(call(f, f->owner, "POST", "/v1/hosts",
                       "{\"name\":\"佐藤 花子\",\"reading\":\"さとう はなこ\",\"email\":\"sato@example.com\","
                       "\"department\":\"総務部\"}", &reply), ==, 201);
  f->host_id = gk_test_json_int(reply, "id");
  g_assert_cmpint(call(f, f->owner, "POST", "/v1/hosts", "{\"name\":\"=HYPERLINK(\\\"http://x\\\")\"}", &reply),
                  ==, 201);
  f->ticket_a = issue(f, "Lovelace, Ada", "ACME \"Analytical\"", "vip");
  f->ticket_b = issue(f, "Grace Hopper", "Navy", "2F");
  f->device = gk_test_enroll_device(f->server, f->owner, "Lobby", "reception");
  f->visit_walkin = g_strdup("vis-0123456789abcdef0123456789abcdef");
  g_autofree char *events = g_strdup_printf(
    "{\"id\":\"evt-a-in-0001\",\"kind\":\"checkin\",\"ticket_id\":\"%s\",\"at\":%" G_GINT64_FORMAT "},"
    "{\"id\":\"evt-b-in-0001\",\"kind\":\"checkin\",\"ticket_id\":\"%s\",\"at\":%" G_GINT64_FORMAT ",\"offline\":true},"
    "{\"id\":\"evt-walk-0001\",\"kind\":\"walkin\",\"at\":%" G_GINT64_FORMAT ",\"visit_id\":\"%s\","
    "\"visitor_name\":\"山田 一郎\",\"company\":\"=1+2\",\"purpose\":\"打ち合わせ\",\"host_id\":%" G_GINT64_FORMAT ","
    "\"terms_accepted\":true},"
    "{\"id\":\"evt-a-out-0001\",\"kind\":\"checkout\",\"ticket_id\":\"%s\",\"at\":%" G_GINT64_FORMAT "}",
    f->ticket_a, f->base, f->ticket_b, f->base + 3600, f->base + 7200, f->visit_walkin, f->host_id, f->ticket_a,
    f->base + 10800);
  push(f, events);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
  gk_test_server_free(f->server);
  gk_test_device_free(f->device);
  g_free(f->owner);
  g_free(f->ticket_a);
  g_free(f->ticket_b);
  g_free(f->visit_walkin);
}

/* ---- 1. columns and rows ------------------------------------------------------------------------ */

static void
test_visits(Fixture *f, gconstpointer data)
{
  g_autoptr(GString) csv = g_string_new(NULL);
  g_autoptr(GString) headers = g_string_new(NULL);
  const char *code = NULL;
  g_assert_cmpint(export(f, f->owner, NULL, "visits", NULL, csv, headers, &code), ==, 200);
  g_assert_true(strstr(headers->str, "text/csv; charset=utf-8") != NULL);
  g_assert_true(strstr(headers->str, "X-Genkan-Rows: 3\r\n") != NULL);
  g_assert_true(strstr(headers->str, "attachment; filename=\"genkan-visits-site1.csv\"") != NULL);
  g_assert_false(g_str_has_prefix(csv->str, BOM));
  g_autoptr(GPtrArray) rows = parse_csv(csv->str);
  g_assert_cmpuint(rows->len, ==, 4);
  g_autofree char *head = g_strjoinv(",", g_ptr_array_index(rows, 0));
  g_assert_cmpstr(head, ==,
                  "visit_id,kind,checked_in_utc,checked_out_utc,visitor,company,purpose,host_id,host,labels,"
                  "terms_accepted,device_id,device,ticket_id");
  g_autofree char *t0 = utc(f->base), *t2 = utc(f->base + 7200);
  g_autofree char *t3 = utc(f->base + 10800);
  g_autofree char *host = g_strdup_printf("%" G_GINT64_FORMAT, f->host_id);
  /* Oldest first: A (checked out), B, the walk-in. */
  g_assert_true(g_str_has_prefix(cell(rows, 1, 0), "vis-"));
  const char *a[] = { "ticket", t0, t3, "Lovelace, Ada", "ACME \"Analytical\"", "Review", host, "佐藤 花子", "vip",
                      "no", f->device->device_id, "Lobby", f->ticket_a };
  for (guint i = 0; i < G_N_ELEMENTS(a); i++)
    g_assert_cmpstr(cell(rows, 1, i + 1), ==, a[i]);
  g_assert_cmpstr(cell(rows, 2, 4), ==, "Grace Hopper");
  g_assert_cmpstr(cell(rows, 2, 3), ==, "");
  g_assert_cmpstr(cell(rows, 2, 9), ==, "2F");
  const char *w[] = { f->visit_walkin, "walkin", t2, "", "山田 一郎", "'=1+2", "打ち合わせ", host, "佐藤 花子", "",
                      "yes", f->device->device_id, "Lobby", "" };
  for (guint i = 0; i < G_N_ELEMENTS(w); i++)
    g_assert_cmpstr(cell(rows, 3, i), ==, w[i]);
  /* On the wire: quoted where needed, the formula defused inside quotes. */
  g_assert_true(strstr(csv->str, ",\"Lovelace, Ada\",\"ACME \"\"Analytical\"\"\",") != NULL);
  g_assert_true(strstr(csv->str, ",\"'=1+2\",") != NULL);
  g_assert_true(g_str_has_suffix(csv->str, "\r\n"));
}

static void
test_checkins_hosts(Fixture *f, gconstpointer data)
{
  g_autoptr(GString) csv = g_string_new(NULL);
  g_autoptr(GString) headers = g_string_new(NULL);
  g_assert_cmpint(export(f, f->owner, NULL, "checkins", NULL, csv, headers, NULL), ==, 200);
  g_assert_true(strstr(headers->str, "X-Genkan-Rows: 4\r\n") != NULL);
  g_autoptr(GPtrArray) rows = parse_csv(csv->str);
  g_assert_cmpuint(rows->len, ==, 5);
  g_autofree char *head = g_strjoinv(",", g_ptr_array_index(rows, 0));
  g_assert_cmpstr(head, ==,
                  "event_id,kind,time_utc,server_time_utc,device_id,device,ticket_id,visit_id,visitor,offline,"
                  "conflict");
  g_autofree char *t0 = utc(f->base);
  const char *a[] = { "evt-a-in-0001", "checkin", t0 };
  for (guint i = 0; i < G_N_ELEMENTS(a); i++)
    g_assert_cmpstr(cell(rows, 1, i), ==, a[i]);
  g_assert_cmpstr(cell(rows, 1, 4), ==, f->device->device_id);
  g_assert_cmpstr(cell(rows, 1, 5), ==, "Lobby");
  g_assert_cmpstr(cell(rows, 1, 6), ==, f->ticket_a);
  g_assert_cmpstr(cell(rows, 1, 8), ==, "Lovelace, Ada");
  g_assert_cmpstr(cell(rows, 1, 9), ==, "no");
  g_assert_cmpstr(cell(rows, 2, 0), ==, "evt-b-in-0001");
  g_assert_cmpstr(cell(rows, 2, 9), ==, "yes");
  /* A walk-in is a check-in without a ticket, with its visit. */
  g_assert_cmpstr(cell(rows, 3, 0), ==, "evt-walk-0001");
  g_assert_cmpstr(cell(rows, 3, 1), ==, "checkin");
  g_assert_cmpstr(cell(rows, 3, 6), ==, "");
  g_assert_cmpstr(cell(rows, 3, 7), ==, f->visit_walkin);
  g_assert_cmpstr(cell(rows, 3, 8), ==, "山田 一郎");
  g_assert_cmpstr(cell(rows, 4, 0), ==, "evt-a-out-0001");
  g_assert_cmpstr(cell(rows, 4, 1), ==, "checkout");
  g_assert_cmpstr(cell(rows, 4, 8), ==, "Lovelace, Ada");

  g_assert_cmpint(export(f, f->owner, NULL, "hosts", "bom=1", csv, headers, NULL), ==, 200);
  g_assert_true(g_str_has_prefix(csv->str, BOM "host_id,name,reading,email,department,notify_channel,created_utc\r\n"));
  g_autoptr(GPtrArray) hosts = parse_csv(csv->str + 3);
  g_assert_cmpuint(hosts->len, ==, 3);
  g_autofree char *id = g_strdup_printf("%" G_GINT64_FORMAT, f->host_id);
  const char *h[] = { id, "佐藤 花子", "さとう はなこ", "sato@example.com", "総務部", "" };
  for (guint i = 0; i < G_N_ELEMENTS(h); i++)
    g_assert_cmpstr(cell(hosts, 1, i), ==, h[i]);
  g_assert_cmpstr(cell(hosts, 2, 1), ==, "'=HYPERLINK(\"http://x\")");
  g_assert_cmpuint(strlen(cell(hosts, 1, 6)), ==, 20);
}

/* ---- 2. filters, BOM, limits, bad queries --------------------------------------------------------- */

static guint
data_rows(Fixture *f, const char *kind, const char *query)
{
  g_autoptr(GString) csv = g_string_new(NULL);
  const char *code = NULL;
  long status = export(f, f->owner, NULL, kind, query, csv, NULL, &code);
  if (status != 200)
    g_error("%s?%s: HTTP %ld (%s)", kind, query, status, code);
  g_autoptr(GPtrArray) rows = parse_csv(csv->str + (g_str_has_prefix(csv->str, BOM) ? 3 : 0));
  return rows->len - 1;
}

static void
test_filters(Fixture *f, gconstpointer data)
{
  g_autofree char *since_b = g_strdup_printf("since=%" G_GINT64_FORMAT, f->base + 3600);
  g_autofree char *until_b = g_strdup_printf("until=%" G_GINT64_FORMAT, f->base + 3600);
  g_autofree char *window = g_strdup_printf("since=%" G_GINT64_FORMAT "&until=%" G_GINT64_FORMAT, f->base + 1,
                                            f->base + 7200);
  g_autofree char *iso = utc(f->base + 3600);
  g_autofree char *since_iso = g_strdup_printf("since=%s", iso);
  g_assert_cmpuint(data_rows(f, "visits", since_b), ==, 2);
  g_assert_cmpuint(data_rows(f, "visits", since_iso), ==, 2);
  g_assert_cmpuint(data_rows(f, "visits", until_b), ==, 1);   /* until is excluded */
  g_assert_cmpuint(data_rows(f, "visits", window), ==, 1);
  g_assert_cmpuint(data_rows(f, "visits", "label=vip"), ==, 1);
  g_assert_cmpuint(data_rows(f, "visits", "label=2F"), ==, 1);
  g_assert_cmpuint(data_rows(f, "visits", "label=v"), ==, 0);  /* whole labels only */
  g_assert_cmpuint(data_rows(f, "checkins", since_b), ==, 3);
  g_assert_cmpuint(data_rows(f, "checkins", window), ==, 1);
  g_assert_cmpuint(data_rows(f, "hosts", until_b), ==, 0);    /* added now, after base */
  g_assert_cmpuint(data_rows(f, "hosts", "bom=0"), ==, 2);
  /* A visit filtered on its label, the BOM asked for: the label is percent-decoded. */
  g_autoptr(GString) csv = g_string_new(NULL);
  g_assert_cmpint(export(f, f->owner, NULL, "visits", "label=%76ip&bom=1", csv, NULL, NULL), ==, 200);
  g_assert_true(g_str_has_prefix(csv->str, BOM "visit_id,"));
  g_assert_true(strstr(csv->str, "Lovelace") != NULL);
  g_assert_null(strstr(csv->str, "Hopper"));

  /* Bad queries: 400 with a message, nothing exported. */
  static const struct {
    const char *kind, *query, *words;
  } bad[] = {
    { "visits", "since=yesterday", "since must be" },
    { "visits", "until=-5", "until must be" },
    { "visits", "since=10&until=10", "later than since" },
    { "visits", "since=1&since=2", "twice" },
    { "visits", "format=xml", "unknown query parameter" },
    { "visits", "bom=2", "bom must be 0 or 1" },
    { "visits", "label=", "label" },
    { "visits", "label=a%2Cb", "comma" },
    { "visits", "label=%ff", "label" },
    { "visits", "since", "name=value" },
    { "hosts", "label=vip", "visits only" },
    { "checkins", "label=vip", "visits only" },
    { "checkins", "until=0", "until must be later" },
  };
  for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
    g_autofree char *path = g_strdup_printf("/v1/exports/%s?%s", bad[i].kind, bad[i].query);
    g_autoptr(JsonNode) reply = NULL;
    g_assert_cmpint(call(f, f->owner, "GET", path, NULL, &reply), ==, 400);
    g_assert_cmpstr(gk_test_json_error_code(reply), ==, "bad-request");
    JsonObject *e = json_object_get_object_member(json_node_get_object(reply), "error");
    const char *message = json_object_get_string_member(e, "message");
    if (strstr(message, bad[i].words) == NULL)
      g_error("%s?%s: message \"%s\" lacks \"%s\"", bad[i].kind, bad[i].query, message, bad[i].words);
  }
}

static void
test_too_large(Fixture *f, gconstpointer data)
{
  gk_test_server_stop(f->server);
  gk_test_server_configure(f->server, "[auth]\nmax-delay-s = 0\n[exports]\nmax-rows = 2\n");
  gk_test_server_start(f->server);
  g_autoptr(GString) csv = g_string_new(NULL);
  const char *code = NULL;
  g_assert_cmpint(export(f, f->owner, NULL, "visits", NULL, csv, NULL, &code), ==, 413);
  g_assert_cmpstr(code, ==, "export-too-large");
  g_assert_true(strstr(csv->str, "narrow the dates") != NULL);
  g_assert_cmpint(export(f, f->owner, NULL, "checkins", NULL, csv, NULL, &code), ==, 413);
  /* Exactly the limit is fine. */
  g_autofree char *since = g_strdup_printf("since=%" G_GINT64_FORMAT, f->base + 3600);
  g_assert_cmpuint(data_rows(f, "visits", since), ==, 2);
  g_assert_cmpuint(data_rows(f, "hosts", NULL), ==, 2);
  /* The refusal is audited with the row count it would have had. */
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(call(f, f->owner, "GET", "/v1/audit?action=export.visits", NULL, &reply), ==, 200);
  g_autofree char *json = json_to_string(reply, FALSE);
  g_assert_true(strstr(json, "\"target\":\"visits rows=3\",\"result\":\"refused\",\"reason\":\"export-too-large\"") !=
                NULL);
}

/* ---- 3. who may export ----------------------------------------------------------------------------- */

enum { ADMIN, RECEPTIONIST, SECURITY, AUDITOR, N_STAFF };
static const char *const staff_roles[N_STAFF] = { "admin", "receptionist", "security", "auditor" };

static void
add_staff(Fixture *f, char *tokens[N_STAFF])
{
  for (guint r = 0; r < N_STAFF; r++)
    tokens[r] = gk_test_server_add_account(f->server, f->owner, staff_roles[r], staff_roles[r], NULL, STAFF_PW, NULL,
                                           NULL);
}

static long
grant(Fixture *f, const char *token, const char *user, gboolean allow, JsonNode **reply)
{
  g_autofree char *path = g_strdup_printf("/v1/accounts/%s/export-permission", user);
  return call(f, token, "POST", path, allow ? "{\"allow\":true}" : "{\"allow\":false}", reply);
}

static void
test_roles(Fixture *f, gconstpointer data)
{
  char *tokens[N_STAFF];
  add_staff(f, tokens);
  static const char *const kinds[] = { "visits", "checkins", "hosts" };
  /* What each role's read rights give (a r s u), before and after the grant. */
  static const char *const readable[] = { "aru", "arsu", "aru" };
  g_autoptr(GString) csv = g_string_new(NULL);
  const char *code = NULL;
  for (int round = 0; round < 2; round++) {
    for (guint k = 0; k < G_N_ELEMENTS(kinds); k++) {
      for (guint r = 0; r < N_STAFF; r++) {
        gboolean reads = strchr(readable[k], "arsu"[r]) != NULL;
        long status = export(f, tokens[r], NULL, kinds[k], NULL, csv, NULL, &code);
        g_test_message("round %d: %s as %s: %ld %s", round, kinds[k], staff_roles[r], status, code);
        g_assert_cmpint(status, ==, round == 1 && reads && r != SECURITY ? 200 : 403);
        if (status == 403)
          g_assert_cmpstr(code, ==, reads ? "export-not-permitted" : "forbidden");
        else
          g_assert_true(g_str_has_prefix(csv->str, kinds[k][0] == 'h' ? "host_id," : kinds[k][0] == 'v' ? "visit_id,"
                                                                                                      : "event_id,"));
      }
      /* Owners always may. */
      g_assert_cmpint(export(f, f->owner, NULL, kinds[k], NULL, csv, NULL, NULL), ==, 200);
    }
    if (round == 0) {
      g_autoptr(JsonNode) reply = NULL;
      for (guint r = 0; r < N_STAFF; r++)
        g_assert_cmpint(grant(f, f->owner, staff_roles[r], TRUE, &reply), ==, r == SECURITY ? 400 : 200);
      g_assert_cmpint(grant(f, f->owner, "security", TRUE, &reply), ==, 400);
      g_autofree char *why = json_to_string(reply, FALSE);
      g_assert_true(strstr(why, "never") != NULL);
    }
  }
  /* The security refusal says why, and withdrawing works at once. */
  g_assert_cmpint(export(f, tokens[SECURITY], NULL, "checkins", NULL, csv, NULL, &code), ==, 403);
  g_assert_true(strstr(csv->str, "security accounts never export") != NULL);
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(grant(f, f->owner, "auditor", FALSE, &reply), ==, 200);
  g_assert_false(json_object_get_boolean_member(json_node_get_object(reply), "may_export"));
  g_assert_cmpint(export(f, tokens[AUDITOR], NULL, "visits", NULL, csv, NULL, &code), ==, 403);
  g_assert_cmpstr(code, ==, "export-not-permitted");

  /* Every export is audited, allowed or refused, with kind, filters and rows. */
  g_assert_cmpint(export(f, tokens[RECEPTIONIST], NULL, "visits", "label=vip&bom=1", csv, NULL, NULL), ==, 200);
  g_assert_cmpint(call(f, f->owner, "GET", "/v1/audit?action=export.visits&actor=receptionist", NULL, &reply), ==,
                  200);
  g_autofree char *json = json_to_string(reply, FALSE);
  g_assert_true(strstr(json, "\"target\":\"visits rows=3\",\"result\":\"ok\"") != NULL);
  g_assert_true(strstr(json, "\"target\":\"visits label=vip bom rows=1\",\"result\":\"ok\"") != NULL);
  g_assert_true(strstr(json, "\"target\":\"visits\",\"result\":\"refused\",\"reason\":\"export-not-permitted\"") !=
                NULL);
  g_assert_cmpint(call(f, f->owner, "GET", "/v1/audit?action=export.hosts&actor=security", NULL, &reply), ==, 200);
  g_free(json);
  json = json_to_string(reply, FALSE);
  g_assert_true(strstr(json, "\"result\":\"refused\",\"reason\":\"forbidden\"") != NULL);
  g_assert_cmpint(call(f, f->owner, "GET", "/v1/audit?action=export.checkins&actor=security", NULL, &reply), ==, 200);
  g_free(json);
  json = json_to_string(reply, FALSE);
  g_assert_true(strstr(json, "\"reason\":\"export-not-permitted\"") != NULL);
  g_assert_cmpint(call(f, f->owner, "GET", "/v1/audit?action=account.export-permission", NULL, &reply), ==, 200);
  g_free(json);
  json = json_to_string(reply, FALSE);
  g_assert_true(strstr(json, "\"target\":\"admin allow\",\"result\":\"ok\"") != NULL);
  g_assert_true(strstr(json, "\"target\":\"auditor deny\",\"result\":\"ok\"") != NULL);
  g_assert_true(strstr(json, "\"target\":\"security\",\"result\":\"refused\",\"reason\":\"bad-request\"") != NULL);
  for (guint r = 0; r < N_STAFF; r++)
    g_free(tokens[r]);
}

/* ---- 4. granting the permission -------------------------------------------------------------------- */

static gboolean
listed_may_export(Fixture *f, const char *token, const char *user)
{
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(call(f, token, "GET", "/v1/accounts", NULL, &reply), ==, 200);
  JsonArray *list = json_object_get_array_member(json_node_get_object(reply), "accounts");
  for (guint i = 0; i < json_array_get_length(list); i++) {
    JsonObject *o = json_array_get_object_element(list, i);
    if (strcmp(json_object_get_string_member(o, "username"), user) == 0)
      return json_object_get_boolean_member(o, "may_export");
  }
  g_error("no account %s", user);
}

static void
test_grant_rules(Fixture *f, gconstpointer data)
{
  char *tokens[N_STAFF];
  add_staff(f, tokens);
  g_autoptr(JsonNode) reply = NULL;
  g_free(gk_test_server_add_account(f->server, f->owner, "admin2", "admin", NULL, STAFF_PW, NULL, NULL));
  g_free(gk_test_server_add_account(f->server, f->owner, "owner2", "owner", NULL, STAFF_PW, NULL, NULL));
  g_assert_false(listed_may_export(f, f->owner, "admin"));
  g_assert_true(listed_may_export(f, f->owner, "owner2"));
  /* An admin without the permission cannot hand it on. */
  g_assert_cmpint(grant(f, tokens[ADMIN], "receptionist", TRUE, &reply), ==, 403);
  g_assert_cmpstr(gk_test_json_error_code(reply), ==, "export-not-permitted");
  g_assert_false(listed_may_export(f, f->owner, "receptionist"));
  /* Nor can staff roles, whatever they hold. */
  g_assert_cmpint(grant(f, f->owner, "receptionist", TRUE, &reply), ==, 200);
  g_assert_cmpint(grant(f, tokens[RECEPTIONIST], "auditor", TRUE, &reply), ==, 403);
  g_assert_cmpstr(gk_test_json_error_code(reply), ==, "forbidden");
  /* An owner grants an admin, who then grants its staff... */
  g_assert_cmpint(grant(f, f->owner, "admin", TRUE, &reply), ==, 200);
  g_assert_true(json_object_get_boolean_member(json_node_get_object(reply), "may_export"));
  g_assert_true(listed_may_export(f, tokens[AUDITOR], "admin"));
  g_assert_cmpint(grant(f, tokens[ADMIN], "auditor", TRUE, &reply), ==, 200);
  g_assert_true(listed_may_export(f, f->owner, "auditor"));
  g_assert_cmpint(grant(f, tokens[ADMIN], "receptionist", FALSE, &reply), ==, 200);
  g_assert_false(listed_may_export(f, f->owner, "receptionist"));
  /* ...but not other admins, owners, itself or security. */
  g_assert_cmpint(grant(f, tokens[ADMIN], "admin2", TRUE, &reply), ==, 403);
  g_assert_cmpstr(gk_test_json_error_code(reply), ==, "forbidden");
  g_assert_cmpint(grant(f, tokens[ADMIN], "admin", FALSE, &reply), ==, 403);
  g_assert_cmpint(grant(f, tokens[ADMIN], "owner2", TRUE, &reply), ==, 403);
  g_assert_cmpint(grant(f, tokens[ADMIN], "security", TRUE, &reply), ==, 400);
  g_assert_cmpint(grant(f, f->owner, "owner2", FALSE, &reply), ==, 400);
  g_assert_true(listed_may_export(f, f->owner, "owner2"));
  g_assert_cmpint(grant(f, f->owner, "nobody", TRUE, &reply), ==, 404);
  g_assert_false(listed_may_export(f, f->owner, "admin2"));
  /* A body that is not {"allow": bool} changes nothing. */
  g_assert_cmpint(call(f, f->owner, "POST", "/v1/accounts/admin2/export-permission", "{\"allow\":1}", &reply), ==, 400);
  g_assert_cmpint(call(f, f->owner, "POST", "/v1/accounts/admin2/export-permission", "{}", &reply), ==, 400);
  g_assert_false(listed_may_export(f, f->owner, "admin2"));

  /* Another site's accounts are out of an admin's reach. */
  g_assert_cmpint(call(f, f->owner, "POST", "/v1/sites", "{\"name\":\"Annex\"}", &reply), ==, 201);
  g_free(gk_test_server_add_account(f->server, f->owner, "annex-staff", "receptionist", "[2]", STAFF_PW, NULL, NULL));
  g_assert_cmpint(grant(f, tokens[ADMIN], "annex-staff", TRUE, &reply), ==, 404);
  g_assert_cmpint(grant(f, f->owner, "annex-staff", TRUE, &reply), ==, 200);
  for (guint r = 0; r < N_STAFF; r++)
    g_free(tokens[r]);
}

/* ---- 5. sites ------------------------------------------------------------------------------------- */

static void
test_cross_site(Fixture *f, gconstpointer data)
{
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(call(f, f->owner, "POST", "/v1/sites", "{\"name\":\"Annex\"}", &reply), ==, 201);
  g_assert_cmpint(call_full(f, f->owner, "2", "POST", "/v1/hosts", "{\"name\":\"Annex Host\"}", &reply, NULL, NULL),
                  ==, 201);
  g_autoptr(GString) csv = g_string_new(NULL);
  g_autoptr(GString) headers = g_string_new(NULL);
  g_assert_cmpint(export(f, f->owner, "2", "hosts", NULL, csv, headers, NULL), ==, 200);
  g_assert_true(strstr(csv->str, "Annex Host") != NULL);
  g_assert_null(strstr(csv->str, "佐藤"));
  g_assert_true(strstr(headers->str, "genkan-hosts-site2.csv") != NULL);
  g_assert_cmpint(export(f, f->owner, "2", "visits", NULL, csv, NULL, NULL), ==, 200);
  g_assert_cmpstr(csv->str, ==, "visit_id,kind,checked_in_utc,checked_out_utc,visitor,company,purpose,host_id,host,"
                                "labels,terms_accepted,device_id,device,ticket_id\r\n");
  g_assert_cmpint(export(f, f->owner, "2", "checkins", NULL, csv, NULL, NULL), ==, 200);
  g_assert_null(strstr(csv->str, "evt-"));
  g_assert_cmpint(export(f, f->owner, NULL, "hosts", NULL, csv, NULL, NULL), ==, 200);
  g_assert_null(strstr(csv->str, "Annex Host"));
  /* An annex account with the permission exports its own site only, and
   * naming site 1 is refused before any export. */
  g_autofree char *annex = gk_test_server_add_account(f->server, f->owner, "annex-aud", "auditor", "[2]", STAFF_PW,
                                                      NULL, NULL);
  g_assert_cmpint(grant(f, f->owner, "annex-aud", TRUE, &reply), ==, 200);
  g_assert_cmpint(export(f, annex, NULL, "hosts", NULL, csv, NULL, NULL), ==, 200);
  g_assert_true(strstr(csv->str, "Annex Host") != NULL);
  g_assert_null(strstr(csv->str, "佐藤"));
  const char *code = NULL;
  g_assert_cmpint(export(f, annex, "1", "visits", NULL, csv, NULL, &code), ==, 403);
  g_assert_cmpstr(code, ==, "site-forbidden");
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
#define T(name, fn) g_test_add("/integration/exports/" name, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  T("visits", test_visits);
  T("checkins-hosts", test_checkins_hosts);
  T("filters", test_filters);
  T("too-large", test_too_large);
  T("roles", test_roles);
  T("grant-rules", test_grant_rules);
  T("cross-site", test_cross_site);
#undef T
  return g_test_run();
}
