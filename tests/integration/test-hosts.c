/* Hosts end to end against a real genkan-server: edit (partial, checks, 404,
 * 409), remove (gone from lists, tickets and walk-ins; the feed tells devices;
 * past tickets keep their host; personal fields cleared), CSV import (good
 * file, dry run, bad rows reported and nothing stored, 400, 415, the 2 MiB
 * cap of this route only), another site's admin, and the audit entries. */
#include <string.h>

#include "gk-json.h"
#include "gk-test-server.h"
#include "gk-test-util.h"
#include "kiosk-net.h"
#include "kiosk-store.h"
#include "kiosk-sync.h"
#include "kiosk-visit.h"
#include "srv-app.h"
#include "srv-store-private.h"
#include "srv-store.h"

#define OWNER_PW "N3w-Owner-Passw0rd!"
#define STAFF_PW "Staff-Passw0rd!x"
#define KIOSK GK_BUILD_DIR "/kiosk/genkan-kiosk"

typedef struct {
  GkTestServer *server;
  char *token;
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer data)
{
  f->server = gk_test_server_init();
  gk_test_server_start(f->server);
  f->token = gk_test_server_login_owner(f->server, OWNER_PW);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
  gk_test_server_free(f->server);
  g_free(f->token);
}

static long
call_as(Fixture *f, const char *token, const char *method, const char *path, const char *type, const char *body,
        JsonNode **reply)
{
  GkTestClient c = { .ca_path = f->server->ca_path, .token = token, .content_type = type };
  g_autofree char *url = g_strconcat(f->server->admin_url, path, NULL);
  if (reply != NULL)
    g_clear_pointer(reply, json_node_unref);
  return gk_test_request(&c, method, url, body, reply, NULL);
}

static long
call(Fixture *f, const char *method, const char *path, const char *body, JsonNode **reply)
{
  return call_as(f, f->token, method, path, NULL, body, reply);
}

static long
import(Fixture *f, const char *query, const char *csv, JsonNode **reply)
{
  GkTestClient c = { .ca_path = f->server->ca_path, .token = f->token, .content_type = "text/csv; charset=utf-8",
                     .timeout_ms = 60000 };
  g_autofree char *url = g_strconcat(f->server->admin_url, "/v1/hosts/import", query, NULL);
  if (reply != NULL)
    g_clear_pointer(reply, json_node_unref);
  int curl_error = 0;
  long status = gk_test_request(&c, "POST", url, csv, reply, &curl_error);
  if (status == 0)
    g_test_message("import: curl error %d", curl_error);
  return status;
}

static gint64
add_host(Fixture *f, const char *body)
{
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(call(f, "POST", "/v1/hosts", body, &reply), ==, 201);
  return gk_test_json_int(reply, "id");
}

/* The host of the list with @field = @value, or NULL; @holder keeps the list. */
static JsonObject *
listed(Fixture *f, const char *token, const char *field, const char *value, JsonNode **holder)
{
  g_assert_cmpint(call_as(f, token, "GET", "/v1/hosts", NULL, NULL, holder), ==, 200);
  JsonArray *a = json_object_get_array_member(json_node_get_object(*holder), "hosts");
  for (guint i = 0; i < json_array_get_length(a); i++) {
    JsonObject *h = json_array_get_object_element(a, i);
    if (g_strcmp0(gk_json_get_string(h, field, NULL), value) == 0)
      return h;
  }
  return NULL;
}

static guint
host_count(Fixture *f)
{
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(call(f, "GET", "/v1/hosts", NULL, &reply), ==, 200);
  return json_array_get_length(json_object_get_array_member(json_node_get_object(reply), "hosts"));
}

/* The newest audit entry with @action, or NULL; @holder keeps it. */
static JsonObject *
audit_entry(Fixture *f, const char *action, JsonNode **holder)
{
  g_autofree char *path = g_strdup_printf("/v1/audit?action=%s", action);
  g_assert_cmpint(call(f, "GET", path, NULL, holder), ==, 200);
  JsonArray *a = json_object_get_array_member(json_node_get_object(*holder), "entries");
  guint n = json_array_get_length(a);
  return n > 0 ? json_array_get_object_element(a, n - 1) : NULL;
}

/* ---- edit ------------------------------------------------------------------------------------ */

static void
test_edit(Fixture *f, gconstpointer data)
{
  g_autoptr(JsonNode) reply = NULL, holder = NULL;
  gint64 a = add_host(f, "{\"name\":\"Aoki\",\"reading\":\"あおき\",\"email\":\"aoki@example.jp\"}");
  add_host(f, "{\"name\":\"Baba\",\"email\":\"baba@example.jp\"}");
  /* Add refuses an e-mail another host has (case does not matter). */
  g_assert_cmpint(call(f, "POST", "/v1/hosts", "{\"name\":\"Dup\",\"email\":\"AOKI@example.jp\"}", &reply), ==, 409);
  g_assert_cmpstr(gk_test_json_error_code(reply), ==, "host-exists");
  g_autofree char *path = g_strdup_printf("/v1/hosts/%" G_GINT64_FORMAT, a);

  /* Partial: only the department changes. */
  g_assert_cmpint(call(f, "PATCH", path, "{\"department\":\"総務部\"}", &reply), ==, 200);
  g_assert_cmpstr(gk_test_json_str(reply, "department"), ==, "総務部");
  JsonObject *h = listed(f, f->token, "name", "Aoki", &holder);
  g_assert_nonnull(h);
  g_assert_cmpstr(gk_json_get_string(h, "reading", NULL), ==, "あおき");
  g_assert_cmpstr(gk_json_get_string(h, "email", NULL), ==, "aoki@example.jp");
  g_assert_cmpstr(gk_json_get_string(h, "department", NULL), ==, "総務部");
  /* "" clears an optional field. */
  g_assert_cmpint(call(f, "PATCH", path, "{\"reading\":\"\",\"name\":\"Aoki Ichiro\"}", &reply), ==, 200);
  g_assert_null(gk_test_json_str(reply, "reading"));
  g_assert_cmpstr(gk_test_json_str(reply, "name"), ==, "Aoki Ichiro");

  /* Refusals change nothing. */
  g_assert_cmpint(call(f, "PATCH", path, "{\"email\":\"baba@example.jp\"}", &reply), ==, 409);
  g_assert_cmpstr(gk_test_json_error_code(reply), ==, "host-exists");
  static const char *const bad[] = {
    "{\"name\":\"\"}", "{\"email\":\"not an address\"}", "{\"department\":\"a\\u202eb\"}",
    "{\"channel\":\"pigeon\"}", "{\"channel\":\"email\"}" /* no SMTP relay on this server */,
    "{\"nickname\":\"x\"}", "{}", "[1]", "{\"name\":1}",
  };
  for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
    long status = call(f, "PATCH", path, bad[i], &reply);
    if (status != 400)
      g_error("PATCH %s: HTTP %ld, want 400", bad[i], status);
  }
  h = listed(f, f->token, "name", "Aoki Ichiro", &holder);
  g_assert_nonnull(h);
  g_assert_cmpstr(gk_json_get_string(h, "email", NULL), ==, "aoki@example.jp");
  g_assert_cmpstr(gk_json_get_string(h, "department", NULL), ==, "総務部");
  g_assert_cmpint(call(f, "PATCH", "/v1/hosts/999999", "{\"department\":\"x\"}", &reply), ==, 404);
  g_assert_cmpint(call(f, "PATCH", "/v1/hosts/Aoki", "{\"department\":\"x\"}", &reply), ==, 404);

  /* A webhook channel: the server makes the secret and shows it once. */
  g_assert_cmpint(call(f, "PATCH", path, "{\"channel\":\"webhook:https://hooks.example.jp/genkan\"}", &reply), ==,
                  200);
  g_assert_true(g_str_has_prefix(gk_test_json_str(reply, "secret"), "gks_"));
  g_assert_cmpint(call(f, "PATCH", path, "{\"channel\":\"webhook:https://hooks.example.jp/genkan\"}", &reply), ==,
                  200);
  g_assert_null(gk_test_json_str(reply, "secret"));
  g_assert_cmpint(call(f, "GET", "/v1/notify", NULL, &reply), ==, 200);
  g_autofree char *settings = json_to_string(reply, FALSE);
  g_assert_nonnull(strstr(settings, "\"channel\":\"webhook\""));

  JsonObject *e = audit_entry(f, "host.edit", &holder);
  g_assert_nonnull(e);
  g_autofree char *id_text = g_strdup_printf("%" G_GINT64_FORMAT, a);
  g_assert_cmpstr(gk_json_get_string(e, "target", NULL), ==, id_text);
  g_assert_cmpstr(gk_json_get_string(e, "result", NULL), ==, "ok");
}

/* ---- remove ---------------------------------------------------------------------------------- */

static JsonObject *
feed_host(JsonNode *page, gint64 id)
{
  JsonArray *a = json_object_get_array_member(json_node_get_object(page), "changes");
  JsonObject *found = NULL;
  for (guint i = 0; i < json_array_get_length(a); i++) {
    JsonObject *c = json_array_get_object_element(a, i);
    JsonObject *d = json_object_get_object_member(c, "data");
    if (g_strcmp0(gk_json_get_string(c, "type", NULL), "host") == 0 && gk_json_get_int(d, "id", 0) == id)
      found = d;
  }
  return found;
}

static long
device(Fixture *f, GkTestDevice *dev, const char *method, const char *path, const char *body, JsonNode **reply)
{
  GkTestClient c = { .ca_path = f->server->ca_path, .cert_pem = dev->cert_pem, .key_pem = dev->key_pem };
  g_autofree char *url = g_strconcat(f->server->device_url, path, NULL);
  if (reply != NULL)
    g_clear_pointer(reply, json_node_unref);
  return gk_test_request(&c, method, url, body, reply, NULL);
}

static void
test_remove(Fixture *f, gconstpointer data)
{
  g_autoptr(JsonNode) reply = NULL, holder = NULL, page = NULL;
  gint64 kept = add_host(f, "{\"name\":\"Kato\",\"reading\":\"かとう\",\"email\":\"kato@example.jp\","
                            "\"department\":\"営業\",\"channel\":\"slack:https://hooks.slack.com/services/x\"}");
  gint64 gone = add_host(f, "{\"name\":\"Endo\",\"email\":\"endo@example.jp\"}");
  add_host(f, "{\"name\":\"Stays\"}");
  g_autofree char *kept_id = g_strdup_printf("%" G_GINT64_FORMAT, kept);
  g_autofree char *ticket = g_strdup_printf("{\"visitor\":\"Guest\",\"host\":\"%s\"}", kept_id);
  g_assert_cmpint(call(f, "POST", "/v1/tickets", ticket, &reply), ==, 201);
  g_autofree char *ticket_id = g_strdup(gk_test_json_str(reply, "ticket_id"));
  GkTestDevice *dev = gk_test_enroll_device(f->server, f->token, "Lobby", "reception");
  g_assert_cmpint(device(f, dev, "GET", "/v1/sync/pull?cursor=0", NULL, &page), ==, 200);
  g_assert_cmpstr(gk_json_get_string(feed_host(page, kept), "name", NULL), ==, "Kato");
  gint64 cursor = gk_test_json_int(page, "cursor");

  g_autofree char *path = g_strconcat("/v1/hosts/", kept_id, NULL);
  g_assert_cmpint(call(f, "DELETE", path, NULL, &reply), ==, 200);
  g_assert_true(json_object_get_boolean_member(json_node_get_object(reply), "removed"));
  g_assert_cmpint(call(f, "DELETE", path, NULL, &reply), ==, 404);
  g_assert_cmpint(call(f, "PATCH", path, "{\"department\":\"x\"}", &reply), ==, 404);
  g_autofree char *gone_path = g_strdup_printf("/v1/hosts/%" G_GINT64_FORMAT, gone);
  g_assert_cmpint(call(f, "DELETE", gone_path, NULL, &reply), ==, 200);
  g_assert_cmpint(call(f, "DELETE", "/v1/hosts/999999", NULL, &reply), ==, 404);

  /* Gone from the list; no new tickets; its notification setting is gone. */
  g_assert_null(listed(f, f->token, "name", "Kato", &holder));
  g_assert_nonnull(listed(f, f->token, "name", "Stays", &holder));
  g_assert_cmpuint(host_count(f), ==, 1);
  g_assert_cmpint(call(f, "POST", "/v1/tickets", ticket, &reply), ==, 404);
  g_assert_cmpint(call(f, "POST", "/v1/tickets", "{\"visitor\":\"Guest\",\"host\":\"Kato\"}", &reply), ==, 404);
  g_assert_cmpint(call(f, "GET", "/v1/notify", NULL, &reply), ==, 200);
  g_autofree char *settings = json_to_string(reply, FALSE);
  g_assert_null(strstr(settings, "slack"));
  /* Its e-mail is free again. */
  add_host(f, "{\"name\":\"Kato (new)\",\"email\":\"kato@example.jp\"}");

  /* Devices learn it: the change carries the id and "removed", nothing personal. */
  g_autofree char *next = g_strdup_printf("/v1/sync/pull?cursor=%" G_GINT64_FORMAT, cursor);
  g_assert_cmpint(device(f, dev, "GET", next, NULL, &page), ==, 200);
  JsonObject *change = feed_host(page, kept);
  g_assert_nonnull(change);
  g_assert_true(json_object_get_boolean_member(change, "removed"));
  g_assert_false(json_object_has_member(change, "name"));
  g_autofree char *page_text = json_to_string(page, FALSE);
  g_assert_null(strstr(page_text, "Kato\""));
  g_assert_null(strstr(page_text, "Endo"));
  g_assert_null(strstr(page_text, "かとう"));

  /* No walk-in may name it. */
  g_autofree char *walkin = g_strdup_printf(
    "{\"events\":[{\"id\":\"evt-removed-01\",\"kind\":\"walkin\",\"at\":1800000000,"
    "\"visit_id\":\"vis-0000000000000000000000000000abcd\",\"visitor_name\":\"Walk In\",\"terms_accepted\":true,"
    "\"host_id\":%" G_GINT64_FORMAT "}]}", kept);
  g_assert_cmpint(device(f, dev, "POST", "/v1/sync/push", walkin, &reply), ==, 400);

  JsonObject *e = audit_entry(f, "host.remove", &holder);
  g_assert_nonnull(e);
  g_assert_cmpstr(gk_json_get_string(e, "result", NULL), ==, "refused"); /* the last one: 999999 */
  g_assert_cmpint(call(f, "GET", "/v1/audit?action=host.remove", NULL, &holder), ==, 200);
  g_autofree char *audit_text = json_to_string(holder, FALSE);
  g_autofree char *target = g_strdup_printf("\"target\":\"%s\",\"result\":\"ok\"", kept_id);
  g_assert_nonnull(strstr(audit_text, target));
  gk_test_device_free(dev);

  /* In the store: the host a ticket names keeps its name and loses its contact
   * data; the one nothing names keeps nothing. */
  gk_test_server_stop(f->server);
  g_autofree char *db = g_build_filename(f->server->data_dir, SRV_DATA_DB, NULL);
  g_autofree char *kek = g_build_filename(f->server->data_dir, SRV_DATA_KEK, NULL);
  g_autoptr(GError) error = NULL;
  {
    g_autoptr(SrvStore) store = srv_store_open(db, kek, 1, &error);
    g_assert_no_error(error);
    SrvTicket t = { 0 };
    guint8 raw[16];
    g_assert_true(gk_hex_decode_16(ticket_id, raw));
    g_assert_true(srv_store_ticket_get(store, raw, &t, &error));
    g_assert_cmpint(t.host_id, ==, kept);
    srv_ticket_clear(&t);
  }
  {
    gsize n = 0;
    const GkMigration *m = srv_store_sqlite_migrations(&n);
    g_autoptr(GkStore) gk = gk_store_open(db, kek, m, n, &error);
    g_assert_no_error(error);
    sqlite3 *db3 = gk_store_db(gk);
    sqlite3_stmt *s = NULL;
    g_assert_cmpint(sqlite3_prepare_v2(db3, "SELECT id, name, reading, email, department, removed_at IS NOT NULL"
                                            " FROM hosts WHERE id IN (?1, ?2) ORDER BY id", -1, &s, NULL), ==,
                    SQLITE_OK);
    sqlite3_bind_int64(s, 1, kept);
    sqlite3_bind_int64(s, 2, gone);
    g_assert_cmpint(sqlite3_step(s), ==, SQLITE_ROW);
    g_assert_cmpstr((const char *) sqlite3_column_text(s, 1), ==, "Kato");
    for (int col = 2; col <= 4; col++)
      g_assert_cmpint(sqlite3_column_type(s, col), ==, SQLITE_NULL);
    g_assert_cmpint(sqlite3_column_int(s, 5), ==, 1);
    g_assert_cmpint(sqlite3_step(s), ==, SQLITE_ROW);
    g_assert_cmpstr((const char *) sqlite3_column_text(s, 1), ==, "-");
    g_assert_cmpint(sqlite3_column_type(s, 3), ==, SQLITE_NULL);
    sqlite3_finalize(s);
  }
}

/* A reception kiosk enrolled by the real program learns the host at its first
 * sync and deletes it at the sync after the host is removed: walk-ins can no
 * longer find it. */
static void
test_remove_kiosk(Fixture *f, gconstpointer data)
{
  g_autoptr(JsonNode) reply = NULL;
  gint64 id = add_host(f, "{\"name\":\"佐藤 花子\",\"reading\":\"さとう はなこ\",\"department\":\"総務部\"}");
  add_host(f, "{\"name\":\"佐藤 次郎\",\"reading\":\"さとう じろう\"}");
  g_assert_cmpint(call(f, "POST", "/v1/devices/enroll-codes", "{\"name\":\"Lobby\",\"mode\":\"reception\"}", &reply),
                  ==, 201);
  g_autofree char *tmp = gk_test_make_tmpdir("genkan-hosts-kiosk");
  g_autofree char *dir = g_build_filename(tmp, "lobby", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) p = g_subprocess_new(G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_SILENCE,
                                              &error, KIOSK, "--data-dir", dir, "enroll",
                                              gk_test_json_str(reply, "code"), NULL);
  g_assert_no_error(error);
  g_assert_true(g_subprocess_wait_check(p, NULL, &error));
  g_assert_no_error(error);
  KioskStore *store = kiosk_store_open(dir, &error);
  g_assert_no_error(error);
  KioskIdentity kid;
  g_assert_true(kiosk_store_load_identity(store, &kid, &error));
  KioskClient *client = kiosk_client_new(kid.host, kid.admin_port, kid.device_port, kid.ca_pem, kid.cert_pem,
                                         kid.key_pem);
  KioskSyncSummary sum = { 0 };
  g_assert_true(kiosk_sync_pull(store, client, NULL, NULL, &sum, &error));
  g_assert_no_error(error);
  g_autoptr(GPtrArray) before = kiosk_visit_search_hosts(store, "さとう", 10, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(before->len, ==, 2);

  g_autofree char *path = g_strdup_printf("/v1/hosts/%" G_GINT64_FORMAT, id);
  g_assert_cmpint(call(f, "DELETE", path, NULL, &reply), ==, 200);
  g_assert_true(kiosk_sync_pull(store, client, NULL, NULL, &sum, &error));
  g_assert_no_error(error);
  g_autoptr(GPtrArray) after = kiosk_visit_search_hosts(store, "さとう", 10, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(after->len, ==, 1);
  g_assert_cmpstr(((KioskHost *) after->pdata[0])->name, ==, "佐藤 次郎");
  g_autoptr(GPtrArray) gone = kiosk_visit_search_hosts(store, "花子", 10, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(gone->len, ==, 0);

  kiosk_client_free(client);
  kiosk_identity_clear(&kid);
  kiosk_store_close(store);
  gk_test_rmtree(tmp);
}

/* ---- import ----------------------------------------------------------------------------------- */

#define GOOD_CSV                                                                                  \
  "\xEF\xBB\xBF" "name,reading,email,department,channel\r\n"                                     \
  "山田 太郎,やまだ たろう,yamada@example.jp,総務部,\r\n"                                          \
  "\"Suzuki, Hanako\",すずき はなこ,SUZUKI@example.jp,\"R&D \"\"Lab\"\"\",webhook:https://hooks.example.jp/s\r\n" \
  "\r\n"                                                                                          \
  "Tanaka,,,,none\r\n"

static void
test_import(Fixture *f, gconstpointer data)
{
  g_autoptr(JsonNode) reply = NULL, holder = NULL;
  /* Suzuki exists: the import updates her (e-mail matches whatever its case). */
  gint64 suzuki = add_host(f, "{\"name\":\"Suzuki\",\"email\":\"suzuki@example.jp\",\"department\":\"Old\"}");

  /* A dry run says what would happen and stores nothing. */
  g_assert_cmpint(import(f, "?dry_run=1", GOOD_CSV, &reply), ==, 200);
  g_assert_true(json_object_get_boolean_member(json_node_get_object(reply), "dry_run"));
  g_assert_cmpint(gk_test_json_int(reply, "added"), ==, 2);
  g_assert_cmpint(gk_test_json_int(reply, "updated"), ==, 1);
  g_autofree char *dry_text = json_to_string(reply, FALSE);
  g_assert_null(strstr(dry_text, "gks_"));
  g_assert_cmpuint(host_count(f), ==, 1);
  JsonObject *h = listed(f, f->token, "name", "Suzuki", &holder);
  g_assert_nonnull(h);
  g_assert_cmpstr(gk_json_get_string(h, "department", NULL), ==, "Old");

  /* The real import. */
  g_assert_cmpint(import(f, "", GOOD_CSV, &reply), ==, 201);
  g_assert_cmpint(gk_test_json_int(reply, "added"), ==, 2);
  g_assert_cmpint(gk_test_json_int(reply, "updated"), ==, 1);
  JsonArray *rows = json_object_get_array_member(json_node_get_object(reply), "rows");
  g_assert_cmpuint(json_array_get_length(rows), ==, 3);
  JsonObject *r1 = json_array_get_object_element(rows, 1);
  g_assert_cmpint(gk_json_get_int(r1, "line", 0), ==, 3);
  g_assert_cmpstr(gk_json_get_string(r1, "action", NULL), ==, "updated");
  g_assert_cmpint(gk_json_get_int(r1, "id", 0), ==, suzuki);
  g_assert_true(g_str_has_prefix(gk_json_get_string(r1, "secret", ""), "gks_"));
  g_autofree char *secret = g_strdup(gk_json_get_string(r1, "secret", ""));
  g_assert_cmpint(gk_json_get_int(json_array_get_object_element(rows, 2), "line", 0), ==, 5);
  g_assert_cmpuint(host_count(f), ==, 3);
  h = listed(f, f->token, "email", "yamada@example.jp", &holder);
  g_assert_nonnull(h);
  g_assert_cmpstr(gk_json_get_string(h, "name", NULL), ==, "山田 太郎");
  g_assert_cmpstr(gk_json_get_string(h, "reading", NULL), ==, "やまだ たろう");
  g_assert_cmpstr(gk_json_get_string(h, "department", NULL), ==, "総務部");
  h = listed(f, f->token, "name", "Suzuki, Hanako", &holder);
  g_assert_nonnull(h);
  g_assert_cmpint(gk_json_get_int(h, "id", 0), ==, suzuki);
  g_assert_cmpstr(gk_json_get_string(h, "department", NULL), ==, "R&D \"Lab\"");

  /* Bad rows: every one reported by line and column, nothing stored, even the good rows. */
  static const char bad_csv[] = "name,email,channel\n"
                                "New Person,new@example.jp,\n"
                                ",nobody@example.jp,\n"
                                "Bad Mail,not-an-address,\n"
                                "Mailer,m@example.jp,email\n"
                                "Extra,x@example.jp,none,surplus\n";
  g_assert_cmpint(import(f, "", bad_csv, &reply), ==, 422);
  g_assert_cmpstr(gk_test_json_error_code(reply), ==, "bad-rows");
  g_assert_cmpint(gk_test_json_int(reply, "bad_rows"), ==, 4);
  JsonArray *problems = json_object_get_array_member(json_node_get_object(reply), "problems");
  g_assert_cmpuint(json_array_get_length(problems), ==, 4);
  const gint64 lines[] = { 3, 4, 5, 6 };
  const char *columns[] = { "name", "email", "channel", "4" };
  for (guint i = 0; i < G_N_ELEMENTS(lines); i++) {
    JsonObject *p = json_array_get_object_element(problems, i);
    g_assert_cmpint(gk_json_get_int(p, "line", 0), ==, lines[i]);
    g_assert_cmpstr(gk_json_get_string(p, "column", NULL), ==, columns[i]);
    g_assert_nonnull(gk_json_get_string(p, "reason", NULL));
  }
  g_assert_cmpint(import(f, "?dry_run=1", bad_csv, &reply), ==, 422);
  g_assert_cmpuint(host_count(f), ==, 3);
  g_assert_null(listed(f, f->token, "name", "New Person", &holder));

  /* Not CSV; not text/csv; a bad query: refused, nothing stored. */
  g_assert_cmpint(import(f, "", "name,email\n\"open,a@example.jp\n", &reply), ==, 400);
  g_assert_cmpstr(gk_test_json_error_code(reply), ==, "bad-csv");
  g_assert_cmpint(import(f, "", "name,nickname\nA,B\n", &reply), ==, 400);
  g_assert_cmpstr(gk_test_json_error_code(reply), ==, "bad-csv");
  g_assert_cmpint(call_as(f, f->token, "POST", "/v1/hosts/import", NULL, "name\nJson Person\n", &reply), ==, 415);
  g_assert_cmpint(call_as(f, f->token, "POST", "/v1/hosts/import", "text/csv; charset=shift_jis", "name\nX\n", &reply),
                  ==, 415);
  g_assert_cmpint(import(f, "?dry_run=2", "name\nX\n", &reply), ==, 400);
  g_assert_cmpint(import(f, "?force=1", "name\nX\n", &reply), ==, 400);
  g_assert_cmpuint(host_count(f), ==, 3);

  /* Audit: counts, never the file's names or addresses. */
  g_assert_cmpint(call(f, "GET", "/v1/audit?action=host.import", NULL, &holder), ==, 200);
  g_autofree char *audit_text = json_to_string(holder, FALSE);
  g_assert_nonnull(strstr(audit_text, "\"target\":\"dry-run added=2 updated=1\""));
  g_assert_nonnull(strstr(audit_text, "\"target\":\"added=2 updated=1\""));
  g_assert_nonnull(strstr(audit_text, "\"reason\":\"bad-rows\""));
  g_assert_null(strstr(audit_text, "yamada"));

  /* The secret shown once is the one the sender signs with. */
  gk_test_server_stop(f->server);
  g_autofree char *db = g_build_filename(f->server->data_dir, SRV_DATA_DB, NULL);
  g_autofree char *kek = g_build_filename(f->server->data_dir, SRV_DATA_KEK, NULL);
  g_autoptr(GError) error = NULL;
  gsize n = 0;
  const GkMigration *m = srv_store_sqlite_migrations(&n);
  g_autoptr(GkStore) gk = gk_store_open(db, kek, m, n, &error);
  g_assert_no_error(error);
  sqlite3_stmt *s = NULL;
  g_assert_cmpint(sqlite3_prepare_v2(gk_store_db(gk), "SELECT channel, target, secret FROM notify_settings"
                                     " WHERE scope = 'host' AND host_id = ?1", -1, &s, NULL), ==, SQLITE_OK);
  sqlite3_bind_int64(s, 1, suzuki);
  g_assert_cmpint(sqlite3_step(s), ==, SQLITE_ROW);
  g_assert_cmpstr((const char *) sqlite3_column_text(s, 0), ==, "webhook");
  g_assert_cmpstr((const char *) sqlite3_column_text(s, 1), ==, "https://hooks.example.jp/s");
  g_assert_cmpint(sqlite3_column_type(s, 2), ==, SQLITE_TEXT);
  g_assert_cmpstr((const char *) sqlite3_column_text(s, 2), ==, secret);
  sqlite3_finalize(s);
}

/* The import route takes up to 2 MiB; every other route stays at 1 MiB. */
static void
test_import_size(Fixture *f, gconstpointer data)
{
  g_autoptr(JsonNode) reply = NULL;
  GString *csv = g_string_new("name,email,department\n");
  guint rows = 0;
  while (csv->len < (gsize) 3 * 1024 * 1024 / 2) {
    g_string_append_printf(csv, "Person %u,person%u@example.jp,Department of Long Names %u\n", rows, rows, rows % 50);
    rows++;
  }
  gint64 start = g_get_monotonic_time();
  g_assert_cmpint(import(f, "?dry_run=1", csv->str, &reply), ==, 200);
  gint64 took_ms = (g_get_monotonic_time() - start) / 1000;
  g_test_message("dry run of %u rows (%" G_GSIZE_FORMAT " bytes): %" G_GINT64_FORMAT " ms", rows, csv->len, took_ms);
  g_assert_cmpint(gk_test_json_int(reply, "added"), ==, rows);
  g_assert_cmpuint(host_count(f), ==, 0);

  /* The same size to another route is too large: refused from the head alone
   * (the server answers and closes before any body byte, so only the head is
   * sent). */
  g_autofree char *json_head = g_strdup_printf("POST /v1/hosts HTTP/1.1\r\nHost: localhost\r\n"
                                               "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                                               "Content-Length: %" G_GSIZE_FORMAT "\r\n\r\n", f->token, csv->len);
  g_autofree char *json_answer = gk_test_raw_tls(f->server->admin_port, f->server->ca_path, json_head,
                                                 strlen(json_head), 0, 0, 3000);
  g_assert_nonnull(json_answer);
  g_assert_true(g_str_has_prefix(json_answer, "HTTP/1.1 413 "));
  /* Past 2 MiB the import is refused too. */
  g_autofree char *head = g_strdup_printf("POST /v1/hosts/import HTTP/1.1\r\nHost: localhost\r\n"
                                          "Authorization: Bearer %s\r\nContent-Type: text/csv\r\n"
                                          "Content-Length: %u\r\n\r\n", f->token, 2 * 1024 * 1024 + 1);
  g_autofree char *answer = gk_test_raw_tls(f->server->admin_port, f->server->ca_path, head, strlen(head), 0, 0, 3000);
  g_assert_nonnull(answer);
  g_assert_true(g_str_has_prefix(answer, "HTTP/1.1 413 "));
  g_assert_nonnull(strstr(answer, "body-too-large"));
  /* Exactly 2 MiB is taken (and is not CSV here: 400, not 413). */
  GString *big = g_string_new("name\n\"");
  while (big->len < (gsize) 2 * 1024 * 1024)
    g_string_append_c(big, 'x');
  g_assert_cmpint(import(f, "?dry_run=1", big->str, &reply), ==, 400);
  g_assert_cmpstr(gk_test_json_error_code(reply), ==, "bad-csv");
  g_string_free(big, TRUE);
  g_string_free(csv, TRUE);
}

/* ---- another site ----------------------------------------------------------------------------- */

static void
test_cross_site(Fixture *f, gconstpointer data)
{
  g_autoptr(JsonNode) reply = NULL, holder = NULL;
  gint64 main_host = add_host(f, "{\"name\":\"Main Host\",\"email\":\"main@example.jp\"}");
  g_assert_cmpint(call(f, "POST", "/v1/sites", "{\"name\":\"Annex\"}", &reply), ==, 201);
  g_autofree char *annex_admin = gk_test_server_add_account(f->server, f->token, "annex-admin", "admin", "[2]",
                                                            STAFF_PW, NULL, NULL);
  g_autofree char *path = g_strdup_printf("/v1/hosts/%" G_GINT64_FORMAT, main_host);
  g_assert_cmpint(call_as(f, annex_admin, "PATCH", path, NULL, "{\"name\":\"Taken\"}", &reply), ==, 404);
  g_assert_cmpint(call_as(f, annex_admin, "DELETE", path, NULL, NULL, &reply), ==, 404);
  /* An import on site 2 with site 1's address adds a host there, never touches site 1's. */
  g_assert_cmpint(call_as(f, annex_admin, "POST", "/v1/hosts/import", "text/csv", "name,email\nAnnex,main@example.jp\n",
                          &reply), ==, 201);
  g_assert_cmpint(gk_test_json_int(reply, "added"), ==, 1);
  g_assert_cmpint(gk_test_json_int(reply, "updated"), ==, 0);
  JsonObject *h = listed(f, f->token, "email", "main@example.jp", &holder);
  g_assert_nonnull(h);
  g_assert_cmpstr(gk_json_get_string(h, "name", NULL), ==, "Main Host");
  g_assert_cmpint(gk_json_get_int(h, "id", 0), ==, main_host);
  g_assert_nonnull(listed(f, annex_admin, "name", "Annex", &holder));
  g_assert_null(listed(f, annex_admin, "name", "Main Host", &holder));
  /* Staff who may read hosts may not write them. */
  g_autofree char *rita = gk_test_server_add_account(f->server, f->token, "rita", "receptionist", NULL, STAFF_PW,
                                                     NULL, NULL);
  g_assert_cmpint(call_as(f, rita, "PATCH", path, NULL, "{\"name\":\"X\"}", &reply), ==, 403);
  g_assert_cmpint(call_as(f, rita, "DELETE", path, NULL, NULL, &reply), ==, 403);
  g_assert_cmpint(call_as(f, rita, "POST", "/v1/hosts/import", "text/csv", "name\nX\n", &reply), ==, 403);
  g_assert_cmpuint(host_count(f), ==, 1);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add("/server/hosts/edit", Fixture, NULL, fixture_setup, test_edit, fixture_teardown);
  g_test_add("/server/hosts/remove", Fixture, NULL, fixture_setup, test_remove, fixture_teardown);
  g_test_add("/server/hosts/remove-kiosk", Fixture, NULL, fixture_setup, test_remove_kiosk, fixture_teardown);
  g_test_add("/server/hosts/import", Fixture, NULL, fixture_setup, test_import, fixture_teardown);
  g_test_add("/server/hosts/import-size", Fixture, NULL, fixture_setup, test_import_size, fixture_teardown);
  g_test_add("/server/hosts/cross-site", Fixture, NULL, fixture_setup, test_cross_site, fixture_teardown);
  return g_test_run();
}
