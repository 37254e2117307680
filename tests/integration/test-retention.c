/* Retention against a real genkan-server: the purge removes visitors' data
 * past each site's retention (from the store and from the files on disk, read
 * back with the keys) and keeps what is inside it; the scheduled purge runs by
 * itself; the audit log keeps what the longest setting asks and still
 * verifies; deleting a site removes every row of it and nothing of another;
 * devices get a capped retention-hours and a new settings version; bad
 * settings are refused and change nothing. Data "from the past" is made by
 * devices reporting old times, or by moving times back in the stopped
 * server's store (as an operator with the key could). */
#include <signal.h>
#include <string.h>

#include "gk-enroll-code.h"
#include "gk-json.h"
#include "gk-store.h"
#include "gk-test-server.h"
#include "gk-test-util.h"
#include "srv-app.h"
#include "srv-audit.h"
#include "srv-ca.h"
#include "srv-store-private.h"

#define OWNER_PW "Retent10n-Owner-Passw0rd!"
#define STAFF_PW "Staff-Passw0rd-4-Retention!"
#define DAY 86400
/* No scheduled purge while a test sets things up (test_scheduled sets its own). */
#define CONFIG "[auth]\nmax-delay-s = 0\n[retention]\nfirst-run-s = 86400\n"

/* Names no other row has, looked for in the files. */
#define OLD_WALKIN "GKOLD-Watanabe-Kenji-5d1e"
#define NEW_WALKIN "GKNEW-Kobayashi-Mai-8c2f"
#define OLD_TICKET "GKOLDT-Ishikawa-Ren-aa01"
#define NEW_TICKET "GKNEWT-Matsumoto-Aoi-bb02"
#define OLD_PHOTO "GKOLDPHOTO-3e9a"
#define NEW_PHOTO "GKNEWPHOTO-71b4"

typedef struct {
  GkTestServer *server;
  char *token;
} Fixture;

static long
call_site(Fixture *f, const char *token, const char *site, const char *method, const char *path, const char *body,
          JsonNode **reply)
{
  GkTestClient c = { .ca_path = f->server->ca_path, .token = token, .site = site };
  g_autofree char *url = g_strconcat(f->server->admin_url, path, NULL);
  if (reply != NULL)
    g_clear_pointer(reply, json_node_unref);
  return gk_test_request(&c, method, url, body, reply, NULL);
}

static long
call(Fixture *f, const char *method, const char *path, const char *body, JsonNode **reply)
{
  return call_site(f, f->token, NULL, method, path, body, reply);
}

/* The raw answer to GET @path (g_free). */
static char *
get_raw(Fixture *f, const char *site, const char *path)
{
  g_autoptr(GString) raw = g_string_new(NULL);
  GkTestClient c = { .ca_path = f->server->ca_path, .token = f->token, .site = site, .out_raw = raw };
  g_autofree char *url = g_strconcat(f->server->admin_url, path, NULL);
  g_assert_cmpint(gk_test_request(&c, "GET", url, NULL, NULL, NULL), ==, 200);
  return g_strdup(raw->str);
}

static long
device(Fixture *f, GkTestDevice *d, const char *method, const char *path, const char *body, JsonNode **reply)
{
  GkTestClient c = { .ca_path = f->server->ca_path, .cert_pem = d->cert_pem, .key_pem = d->key_pem };
  g_autofree char *url = g_strconcat(f->server->device_url, path, NULL);
  if (reply != NULL)
    g_clear_pointer(reply, json_node_unref);
  return gk_test_request(&c, method, url, body, reply, NULL);
}

static void
fixture_setup(Fixture *f, gconstpointer data)
{
  f->server = gk_test_server_init();
  gk_test_server_configure(f->server, data != NULL ? data : CONFIG);
  gk_test_server_start(f->server);
  f->token = gk_test_server_login_owner(f->server, OWNER_PW);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
  gk_test_server_free(f->server);
  g_free(f->token);
}

/* ---- data ------------------------------------------------------------------------------------ */

/* A device of @site (NULL: the first), enrolled with a fresh key and CSR. */
static GkTestDevice *
enroll(Fixture *f, const char *site, const char *name)
{
  g_autofree char *req = g_strdup_printf("{\"name\":\"%s\",\"mode\":\"reception\"}", name);
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(call_site(f, f->token, site, "POST", "/v1/devices/enroll-codes", req, &reply), ==, 201);
  GkEnrollCode code;
  g_autoptr(GError) error = NULL;
  g_assert_true(gk_enroll_code_parse(gk_test_json_str(reply, "code"), g_get_real_time() / G_USEC_PER_SEC, &code,
                                     &error));
  GkTestDevice *d = g_new0(GkTestDevice, 1);
  g_autofree char *csr = NULL;
  g_assert_true(srv_ca_make_key_and_csr("kiosk", &d->key_pem, &csr, &error));
  g_autofree char *token = gk_hex_encode(code.token, sizeof code.token);
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "token");
  json_builder_add_string_value(b, token);
  json_builder_set_member_name(b, "csr");
  json_builder_add_string_value(b, csr);
  json_builder_end_object(b);
  g_autofree char *body = gk_json_builder_to_string(b);
  g_assert_cmpint(call_site(f, NULL, NULL, "POST", "/v1/enroll", body, &reply), ==, 200);
  d->device_id = g_strdup(gk_test_json_str(reply, "device_id"));
  d->cert_pem = g_strdup(gk_test_json_str(reply, "certificate"));
  d->site_id = gk_test_json_int(reply, "site_id");
  return d;
}

static gint64
add_host(Fixture *f, const char *site, const char *name)
{
  g_autofree char *req = g_strdup_printf("{\"name\":\"%s\",\"email\":\"%s@example.com\"}", name, name);
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(call_site(f, f->token, site, "POST", "/v1/hosts", req, &reply), ==, 201);
  return gk_test_json_int(reply, "id");
}

/* Issues an invitation; returns the ticket id (g_free). */
static char *
invite(Fixture *f, const char *site, const char *visitor, gint64 host)
{
  g_autofree char *req = g_strdup_printf("{\"visitor\":\"%s\",\"host\":\"%" G_GINT64_FORMAT "\",\"company\":\"ACME\"}",
                                         visitor, host);
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(call_site(f, f->token, site, "POST", "/v1/tickets", req, &reply), ==, 201);
  return g_strdup(gk_test_json_str(reply, "ticket_id"));
}

/* A JPEG-looking photo (the server checks the markers) carrying @marker. */
static char *
photo_b64(const char *marker)
{
  GString *jpeg = g_string_new(NULL);
  g_string_append_len(jpeg, "\xff\xd8\xff\xe0", 4);
  while (jpeg->len < 9000)
    g_string_append(jpeg, marker);
  g_string_append_len(jpeg, "\xff\xd9", 2);
  char *b64 = g_base64_encode((const guchar *) jpeg->str, jpeg->len);
  g_string_free(jpeg, TRUE);
  return b64;
}

static void
push_walkin(Fixture *f, GkTestDevice *d, const char *event_id, const char *name, gint64 at, gint64 host,
            const char *photo_marker)
{
  g_autofree char *photo = photo_marker != NULL ? photo_b64(photo_marker) : NULL;
  g_autofree char *photo_member = photo != NULL ? g_strdup_printf(",\"photo\":\"%s\"", photo) : g_strdup("");
  g_autofree char *body = g_strdup_printf(
    "{\"events\":[{\"id\":\"%s\",\"kind\":\"walkin\",\"at\":%" G_GINT64_FORMAT ",\"visit_id\":\"vis-%032x\","
    "\"visitor_name\":\"%s\",\"company\":\"Nara Co\",\"host_id\":%" G_GINT64_FORMAT ",\"terms_accepted\":true%s}]}",
    event_id, at, g_str_hash(event_id), name, host, photo_member);
  g_autoptr(JsonNode) reply = NULL;
  long status = device(f, d, "POST", "/v1/sync/push", body, &reply);
  if (status != 200)
    g_error("walk-in %s: HTTP %ld (%s)", event_id, status, gk_test_json_error_code(reply));
}

static void
push_checkin(Fixture *f, GkTestDevice *d, const char *event_id, const char *ticket, gint64 at)
{
  g_autofree char *body = g_strdup_printf("{\"events\":[{\"id\":\"%s\",\"kind\":\"checkin\",\"ticket_id\":\"%s\","
                                          "\"at\":%" G_GINT64_FORMAT ",\"offline\":true}]}", event_id, ticket, at);
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(device(f, d, "POST", "/v1/sync/push", body, &reply), ==, 200);
}

/* ---- the store, as an operator with the key sees it ---------------------------------------- */

static GkStore *
open_master(Fixture *f)
{
  g_autofree char *db = g_build_filename(f->server->data_dir, SRV_DATA_DB, NULL);
  g_autofree char *kek = g_build_filename(f->server->data_dir, SRV_DATA_KEK, NULL);
  gsize n = 0;
  const GkMigration *m = srv_store_sqlite_migrations(&n);
  g_autoptr(GError) error = NULL;
  GkStore *gk = gk_store_open(db, kek, m, n, &error);
  g_assert_no_error(error);
  return gk;
}

/* Runs @sql on the stopped server's store, then starts it again. */
static void
edit_store(Fixture *f, const char *sql)
{
  gk_test_server_stop(f->server);
  {
    g_autoptr(GkStore) gk = open_master(f);
    char *msg = NULL;
    if (sqlite3_exec(gk_store_db(gk), sql, NULL, NULL, &msg) != SQLITE_OK)
      g_error("edit_store: %s", msg);
  }
  gk_test_server_start(f->server);
}

static gint64
count(GkStore *gk, const char *sql)
{
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(gk_store_db(gk), sql, -1, &st, NULL) != SQLITE_OK)
    g_error("count: %s: %s", sql, sqlite3_errmsg(gk_store_db(gk)));
  g_assert_cmpint(sqlite3_step(st), ==, SQLITE_ROW);
  gint64 n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return n;
}

/* count() of a query whose ?1 is a site id. */
static gint64
count_site(GkStore *gk, const char *sql, gint64 site_id)
{
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(gk_store_db(gk), sql, -1, &st, NULL) != SQLITE_OK)
    g_error("count: %s: %s", sql, sqlite3_errmsg(gk_store_db(gk)));
  g_assert_cmpint(sqlite3_bind_int64(st, 1, site_id), ==, SQLITE_OK);
  g_assert_cmpint(sqlite3_step(st), ==, SQLITE_ROW);
  gint64 n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return n;
}

/* The plaintext of the master store's files, read while the server is held
 * still (SIGSTOP: no page is half written), as they are after the purge. */
static GBytes *
files_plaintext(Fixture *f)
{
  g_autofree char *db = g_build_filename(f->server->data_dir, SRV_DATA_DB, NULL);
  g_autofree char *kek = g_build_filename(f->server->data_dir, SRV_DATA_KEK, NULL);
  g_subprocess_send_signal(f->server->process, SIGSTOP);
  guint bad = 99;
  GBytes *plain = gk_test_store_plaintext(db, kek, &bad);
  g_subprocess_send_signal(f->server->process, SIGCONT);
  g_assert_cmpuint(bad, ==, 0);
  return plain;
}

static gboolean
has(GBytes *plain, const char *needle)
{
  gsize len = 0;
  const guint8 *data = g_bytes_get_data(plain, &len);
  return memmem(data, len, needle, strlen(needle)) != NULL;
}

static gint64
purge_member(JsonNode *reply, gint64 site, const char *member)
{
  JsonArray *sites = json_object_get_array_member(json_node_get_object(reply), "sites");
  for (guint i = 0; i < json_array_get_length(sites); i++) {
    JsonObject *o = json_array_get_object_element(sites, i);
    if (json_object_get_int_member(o, "site_id") == site)
      return json_object_get_int_member(o, member);
  }
  g_error("purge answer has no site %" G_GINT64_FORMAT, site);
  return -1;
}

/* ---- 1. old data goes, fresh data stays, and not only in the store ------------------------- */

static void
test_purge(Fixture *f, gconstpointer data)
{
  gint64 now = g_get_real_time() / G_USEC_PER_SEC;
  g_autoptr(JsonNode) reply = NULL;
  /* Hosts hear of visitors: notifications (with names) are queued. */
  g_assert_cmpint(call(f, "POST", "/v1/notify/default", "{\"channel\":\"webhook\",\"target\":\"http://127.0.0.1:9/h\"}",
                       &reply), ==, 200);
  gint64 host = add_host(f, NULL, "Host-Kept");
  gint64 busy = add_host(f, NULL, "Host-Removed-Busy");
  gint64 gone = add_host(f, NULL, "Host-Removed-Free");
  GkTestDevice *lobby = enroll(f, NULL, "Lobby");
  GkTestDevice *gate = enroll(f, NULL, "Gate");

  push_walkin(f, lobby, "ev-old-walkin-1", OLD_WALKIN, now - 100 * DAY, host, OLD_PHOTO);
  push_walkin(f, lobby, "ev-new-walkin-1", NEW_WALKIN, now - 1 * DAY, host, NEW_PHOTO);
  g_autofree char *old_ticket = invite(f, NULL, OLD_TICKET, host);
  g_autofree char *new_ticket = invite(f, NULL, NEW_TICKET, busy);
  /* The old ticket is admitted offline at two doors: a redemption, a double
   * entry alert, notifications; all of it is moved 200 days back below. */
  push_checkin(f, lobby, "ev-old-checkin-1", old_ticket, now - 60);
  push_checkin(f, gate, "ev-old-checkin-2", old_ticket, now - 50);
  push_checkin(f, lobby, "ev-new-checkin-1", new_ticket, now - 40);
  g_autofree char *back = g_strdup_printf(
    "UPDATE tickets SET valid_from = valid_from - 200 * 86400, valid_until = valid_until - 200 * 86400"
    " WHERE visitor_name = '" OLD_TICKET "';"
    "UPDATE visits SET checked_in_at = checked_in_at - 200 * 86400 WHERE visitor_name = '" OLD_TICKET "';"
    "UPDATE events SET device_time = device_time - 200 * 86400, server_time = server_time - 200 * 86400"
    " WHERE id IN ('ev-old-checkin-1', 'ev-old-checkin-2');"
    "UPDATE redemptions SET redeemed_at = redeemed_at - 200 * 86400 WHERE event_id = 'ev-old-checkin-1';"
    "UPDATE alerts SET created_at = created_at - 200 * 86400;"
    "UPDATE notifications SET created_at = created_at - 200 * 86400"
    " WHERE facts LIKE '%%GKOLD%%' OR kind = 'double-entry';"
    /* Removed hosts (the hosts routes' tombstones): one still named by a kept
     * ticket, one by nothing. */
    "UPDATE hosts SET removed_at = %" G_GINT64_FORMAT " WHERE id IN (%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT ");",
    now - DAY, busy, gone);
  edit_store(f, back);
  gint64 old_visits = 0, all_visits = 0;
  {
    /* What there is to purge, so the counts below say something. */
    gk_test_server_stop(f->server);
    g_autoptr(GkStore) gk = open_master(f);
    old_visits = count(gk, "SELECT count(*) FROM visits WHERE visitor_name IN ('" OLD_WALKIN "', '" OLD_TICKET "')");
    all_visits = count(gk, "SELECT count(*) FROM visits");
    g_assert_cmpint(old_visits, >=, 2);
    g_assert_cmpint(count(gk, "SELECT count(*) FROM alerts"), ==, 1);
    g_assert_cmpint(count(gk, "SELECT count(*) FROM redemptions"), ==, 2);
    g_assert_cmpint(count(gk, "SELECT count(*) FROM visit_photos"), ==, 2);
    g_assert_cmpint(count(gk, "SELECT count(*) FROM notifications WHERE created_at < strftime('%s','now') - 90*86400"),
                    >=, 2);
    g_clear_pointer(&gk, gk_store_close);
    gk_test_server_start(f->server);
  }
  g_autoptr(GBytes) before = files_plaintext(f);
  g_assert_true(has(before, OLD_WALKIN));
  g_assert_true(has(before, OLD_PHOTO));

  g_assert_cmpint(call(f, "POST", "/v1/retention/purge", "{}", &reply), ==, 200);
  /* The old walk-in and the old ticket's visits. */
  g_assert_cmpint(purge_member(reply, 1, "visits"), ==, old_visits);
  g_assert_cmpint(purge_member(reply, 1, "photos"), ==, 1);
  g_assert_cmpint(purge_member(reply, 1, "tickets"), ==, 1);
  g_assert_cmpint(purge_member(reply, 1, "redemptions"), ==, 1);
  g_assert_cmpint(purge_member(reply, 1, "events"), ==, 3);  /* walk-in, two check-ins */
  g_assert_cmpint(purge_member(reply, 1, "alerts"), ==, 1);
  g_assert_cmpint(purge_member(reply, 1, "notifications"), >=, 2);
  g_assert_cmpint(purge_member(reply, 1, "hosts"), ==, 1);

  /* Through the API: the fresh visits are there, the old ones not. */
  g_autofree char *visits = get_raw(f, NULL, "/v1/visits");
  g_assert_nonnull(strstr(visits, NEW_WALKIN));
  g_assert_nonnull(strstr(visits, NEW_TICKET));
  g_assert_null(strstr(visits, OLD_WALKIN));
  g_assert_null(strstr(visits, OLD_TICKET));
  /* On disk, read with the keys: the same. */
  g_autoptr(GBytes) after = files_plaintext(f);
  g_assert_false(has(after, OLD_WALKIN));
  g_assert_false(has(after, OLD_TICKET));
  g_assert_false(has(after, OLD_PHOTO));
  g_assert_true(has(after, NEW_WALKIN));
  g_assert_true(has(after, NEW_TICKET));
  g_assert_true(has(after, NEW_PHOTO));
  g_assert_false(has(after, "Host-Removed-Free@example.com"));

  /* Row by row: what is left is exactly the fresh data. */
  gk_test_server_stop(f->server);
  {
    g_autoptr(GkStore) gk = open_master(f);
    g_assert_cmpint(count(gk, "SELECT count(*) FROM visits"), ==, all_visits - old_visits);
    g_assert_cmpint(count(gk, "SELECT count(*) FROM visits WHERE visitor_name = '" NEW_WALKIN "'"), ==, 1);
    g_assert_cmpint(count(gk, "SELECT count(*) FROM visit_photos"), ==, 1);
    g_assert_cmpint(count(gk, "SELECT count(*) FROM tickets"), ==, 1);
    g_assert_cmpint(count(gk, "SELECT count(*) FROM redemptions"), ==, 1);
    g_assert_cmpint(count(gk, "SELECT count(*) FROM alerts"), ==, 0);
    g_assert_cmpint(count(gk, "SELECT count(*) FROM events WHERE id LIKE 'ev-new-%'"), ==, 2);
    g_assert_cmpint(count(gk, "SELECT count(*) FROM events WHERE id LIKE 'ev-old-%'"), ==, 0);
    g_assert_cmpint(count(gk, "SELECT count(*) FROM hosts WHERE name = 'Host-Removed-Busy'"), ==, 1);
    g_assert_cmpint(count(gk, "SELECT count(*) FROM hosts WHERE name = 'Host-Removed-Free'"), ==, 0);
    g_assert_cmpint(count(gk, "SELECT count(*) FROM hosts WHERE name = 'Host-Kept'"), ==, 1);
    g_assert_cmpint(count(gk, "SELECT count(*) FROM pragma_foreign_key_check"), ==, 0);
  }
  gk_test_server_start(f->server);
  /* A second purge finds nothing more. */
  g_assert_cmpint(call(f, "POST", "/v1/retention/purge", "{}", &reply), ==, 200);
  g_assert_cmpint(purge_member(reply, 1, "visits"), ==, 0);
  g_assert_cmpint(purge_member(reply, 1, "tickets"), ==, 0);
  /* Each run left one system entry per site with its counts. */
  g_autofree char *audit = get_raw(f, NULL, "/v1/audit?action=retention.purge");
  g_assert_nonnull(strstr(audit, "\"actor_kind\":\"system\""));
  g_autofree char *counts = g_strdup_printf("visits=%" G_GINT64_FORMAT " photos=1 tickets=1 redemptions=1 events=3"
                                            " alerts=1", old_visits);
  g_assert_nonnull(strstr(audit, counts));
  gk_test_device_free(lobby);
  gk_test_device_free(gate);
}

/* ---- 2. the schedule ---------------------------------------------------------------------------- */

static void
test_scheduled(Fixture *f, gconstpointer data)
{
  gint64 now = g_get_real_time() / G_USEC_PER_SEC;
  gint64 host = add_host(f, NULL, "Host-Sched");
  GkTestDevice *lobby = enroll(f, NULL, "Lobby");
  push_walkin(f, lobby, "ev-sched-old-1", OLD_WALKIN, now - 100 * DAY, host, NULL);
  push_walkin(f, lobby, "ev-sched-new-1", NEW_WALKIN, now - 3600, host, NULL);
  /* Nobody asks: the server's own timer (every 2 s here) purges. */
  gboolean gone = FALSE;
  for (guint i = 0; i < 100 && !gone; i++) {
    g_autofree char *visits = get_raw(f, NULL, "/v1/visits");
    g_assert_nonnull(strstr(visits, NEW_WALKIN));
    gone = strstr(visits, OLD_WALKIN) == NULL;
    if (!gone)
      g_usleep(200000);
  }
  g_assert_true(gone);
  g_autofree char *audit = get_raw(f, NULL, "/v1/audit?action=retention.purge");
  g_assert_nonnull(strstr(audit, "\"actor\":\"server\""));
  g_assert_nonnull(strstr(audit, "visits=1 "));
  gk_test_device_free(lobby);
}

/* ---- 3. the audit log ---------------------------------------------------------------------------- */

/* Moves the first @n_old entries 500 days back and the next @n_mid 300 days
 * back, and chains every entry again (so the log still verifies): an audit
 * log that has been running for a long time. */
static void
age_audit(Fixture *f, gint64 now, gint64 n_old, gint64 n_mid)
{
  gk_test_server_stop(f->server);
  {
    g_autoptr(GkStore) gk = open_master(f);
    sqlite3 *db = gk_store_db(gk);
    g_assert_cmpint(sqlite3_exec(db, "BEGIN; DROP TRIGGER audit_log_append_only", NULL, NULL, NULL), ==, SQLITE_OK);
    sqlite3_stmt *sel = NULL, *upd = NULL;
    g_assert_cmpint(sqlite3_prepare_v2(db, "SELECT seq, at, site_id, actor_kind, actor, source_ip, action, target,"
                                           " result, reason FROM audit_log ORDER BY seq", -1, &sel, NULL), ==, SQLITE_OK);
    g_assert_cmpint(sqlite3_prepare_v2(db, "UPDATE audit_log SET at = ?2, prev_hash = ?3, hash = ?4 WHERE seq = ?1", -1,
                                       &upd, NULL), ==, SQLITE_OK);
    guint8 prev[SRV_AUDIT_HASH_LEN] = { 0 };  /* the genesis value: nothing was purged yet */
    g_autoptr(GArray) rows = g_array_new(FALSE, TRUE, sizeof(SrvAuditRow));
    g_array_set_clear_func(rows, (GDestroyNotify) srv_audit_row_clear);
    while (sqlite3_step(sel) == SQLITE_ROW) {
      SrvAuditRow row = { 0 };
      row.seq = sqlite3_column_int64(sel, 0);
      row.at = sqlite3_column_int64(sel, 1);
      row.site_id = sqlite3_column_int64(sel, 2);
      char **texts[] = { &row.actor_kind, &row.actor, &row.source_ip, &row.action, &row.target, &row.result,
                         &row.reason };
      for (guint i = 0; i < G_N_ELEMENTS(texts); i++)
        *texts[i] = g_strdup((const char *) sqlite3_column_text(sel, 3 + (int) i));
      g_array_append_val(rows, row);
    }
    sqlite3_finalize(sel);
    g_assert_cmpint(rows->len, >, n_old + n_mid);
    for (guint i = 0; i < rows->len; i++) {
      SrvAuditRow *row = &g_array_index(rows, SrvAuditRow, i);
      if (i < n_old)
        row->at = now - 500 * DAY + i;
      else if (i < n_old + n_mid)
        row->at = now - 300 * DAY + i;
      srv_audit_chain_hash(row, prev, row->hash);
      sqlite3_bind_int64(upd, 1, row->seq);
      sqlite3_bind_int64(upd, 2, row->at);
      sqlite3_bind_blob(upd, 3, prev, SRV_AUDIT_HASH_LEN, SQLITE_STATIC);
      sqlite3_bind_blob(upd, 4, row->hash, SRV_AUDIT_HASH_LEN, SQLITE_STATIC);
      g_assert_cmpint(sqlite3_step(upd), ==, SQLITE_DONE);
      sqlite3_reset(upd);
      memcpy(prev, row->hash, SRV_AUDIT_HASH_LEN);
    }
    sqlite3_finalize(upd);
    /* The trigger as migration 5 made it: the purge must work under it. */
    g_assert_cmpint(sqlite3_exec(db, "CREATE TRIGGER audit_log_append_only BEFORE UPDATE ON audit_log"
                                     " BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END; COMMIT",
                                 NULL, NULL, NULL), ==, SQLITE_OK);
  }
  gk_test_server_start(f->server);
}

static void
expect_verified(Fixture *f)
{
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(call(f, "GET", "/v1/audit/verify", NULL, &reply), ==, 200);
  g_assert_true(json_object_get_boolean_member(json_node_get_object(reply), "ok"));
}

static gint64
oldest_audit_at(Fixture *f)
{
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(call(f, "GET", "/v1/audit?after=0&limit=1", NULL, &reply), ==, 200);
  JsonArray *entries = json_object_get_array_member(json_node_get_object(reply), "entries");
  g_assert_cmpuint(json_array_get_length(entries), ==, 1);
  return json_object_get_int_member(json_array_get_object_element(entries, 0), "at");
}

static void
test_audit(Fixture *f, gconstpointer data)
{
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(call(f, "POST", "/v1/sites", "{\"name\":\"Branch Kyoto\"}", &reply), ==, 201);
  for (guint i = 0; i < 6; i++)
    g_assert_cmpint(call(f, "GET", "/v1/hosts", NULL, &reply), ==, 200);
  gint64 now = g_get_real_time() / G_USEC_PER_SEC;
  age_audit(f, now, 4, 3);
  expect_verified(f);
  g_assert_cmpint(oldest_audit_at(f), <, now - 499 * DAY);

  /* Kyoto keeps its audit entries 600 days: nothing is old enough for it. */
  g_assert_cmpint(call(f, "POST", "/v1/sites/2/retention", "{\"audit_days\":600}", &reply), ==, 200);
  g_assert_cmpint(call(f, "POST", "/v1/retention/purge", "{}", &reply), ==, 200);
  g_assert_cmpint(gk_json_get_int(json_node_get_object(reply), "audit_entries", -1), ==, 0);
  g_assert_cmpint(oldest_audit_at(f), <, now - 499 * DAY);

  /* At 400 days (both sites' default) the four oldest go, the 300-day-old stay. */
  g_assert_cmpint(call(f, "POST", "/v1/sites/2/retention", "{\"audit_days\":400}", &reply), ==, 200);
  g_assert_cmpint(call(f, "POST", "/v1/retention/purge", "{}", &reply), ==, 200);
  g_assert_cmpint(gk_json_get_int(json_node_get_object(reply), "audit_entries", -1), ==, 4);
  gint64 oldest = oldest_audit_at(f);
  g_assert_cmpint(oldest, >=, now - 300 * DAY);
  g_assert_cmpint(oldest, <, now - 299 * DAY);
  expect_verified(f);
  /* And genkanctl's own check agrees (the same route; the exit status). */
  g_autofree char *audit = get_raw(f, NULL, "/v1/audit?action=audit.purge");
  g_assert_nonnull(strstr(audit, "\"actor_kind\":\"system\""));
}

/* ---- 4. deleting a site ------------------------------------------------------------------------ */

/* "table=count" for every table with a site_id column, rows of @site_id; but
 * the audit log, which keeps its entries (ids only) past the site. */
static char *
site_rows(GkStore *gk, gint64 site_id)
{
  GString *out = g_string_new(NULL);
  sqlite3_stmt *t = NULL;
  g_assert_cmpint(sqlite3_prepare_v2(gk_store_db(gk), "SELECT m.name FROM sqlite_master AS m WHERE m.type = 'table'"
                                                      " AND m.name <> 'audit_log' AND EXISTS (SELECT 1 FROM"
                                                      " pragma_table_info(m.name) AS p WHERE p.name = 'site_id')"
                                                      " ORDER BY m.name", -1, &t, NULL),
                  ==, SQLITE_OK);
  while (sqlite3_step(t) == SQLITE_ROW) {
    const char *table = (const char *) sqlite3_column_text(t, 0);
    /* A table name is an identifier, which SQL cannot bind: quoted with %w
     * (it comes from the schema itself); the site id is bound. */
    char *sql = sqlite3_mprintf("SELECT count(*) FROM \"%w\" WHERE site_id = ?1", table);
    g_string_append_printf(out, "%s=%" G_GINT64_FORMAT " ", table, count_site(gk, sql, site_id));
    sqlite3_free(sql);
  }
  sqlite3_finalize(t);
  gint64 photos = count_site(gk, "SELECT count(*) FROM visit_photos WHERE visit_id IN"
                                 " (SELECT id FROM visits WHERE site_id = ?1)", site_id);
  gint64 settings = count_site(gk, "SELECT count(*) FROM device_settings WHERE device_id IN"
                                   " (SELECT id FROM devices WHERE site_id = ?1)", site_id);
  g_string_append_printf(out, "visit_photos=%" G_GINT64_FORMAT " device_settings=%" G_GINT64_FORMAT, photos, settings);
  return g_string_free(out, FALSE);
}

static void
fill_site(Fixture *f, const char *site, const char *visitor, GkTestDevice **out_device)
{
  gint64 now = g_get_real_time() / G_USEC_PER_SEC;
  g_autoptr(JsonNode) reply = NULL;
  gint64 host = add_host(f, site, site != NULL ? "Host-Osaka" : "Host-Tokyo");
  GkTestDevice *d = enroll(f, site, site != NULL ? "Osaka Lobby" : "Tokyo Lobby");
  g_autofree char *ticket = invite(f, site, visitor, host);
  g_autofree char *walkin = g_strconcat(visitor, "-walkin", NULL);
  g_autofree char *ev1 = g_strdup_printf("ev-site-%s-walkin", site ? site : "1");
  g_autofree char *ev2 = g_strdup_printf("ev-site-%s-checkin", site ? site : "1");
  g_assert_cmpint(call_site(f, f->token, site, "POST", "/v1/notify/default",
                            "{\"channel\":\"webhook\",\"target\":\"http://127.0.0.1:9/h\"}", &reply), ==, 200);
  push_walkin(f, d, ev1, walkin, now - 60, host, visitor);
  push_checkin(f, d, ev2, ticket, now - 30);
  g_autofree char *cfg = g_strdup_printf("/v1/devices/%s/config", d->device_id);
  g_assert_cmpint(call_site(f, f->token, site, "POST", cfg, "{\"settings\":{\"language\":\"en\"}}", &reply), ==, 200);
  g_assert_cmpint(call_site(f, f->token, site, "POST", "/v1/devices/enroll-codes",
                            "{\"name\":\"Unused\",\"mode\":\"gate\"}", &reply), ==, 201);
  *out_device = d;
}

static void
test_site_delete(Fixture *f, gconstpointer data)
{
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(call(f, "POST", "/v1/sites", "{\"name\":\"Branch Osaka\"}", &reply), ==, 201);
  g_assert_cmpint(gk_test_json_int(reply, "id"), ==, 2);
  GkTestDevice *tokyo = NULL, *osaka = NULL;
  fill_site(f, NULL, "GKSITE1-Tokyo-Visitor-11aa", &tokyo);
  fill_site(f, "2", "GKSITE2-Osaka-Visitor-22bb", &osaka);
  g_assert_cmpint(call(f, "POST", "/v1/sites/2/allow-list", "{\"cidrs\":[\"127.0.0.0/8\"]}", &reply), ==, 200);
  /* One receptionist of Osaka only, one of both sites. */
  g_autofree char *only = gk_test_server_add_account(f->server, f->token, "osaka-only", "receptionist", "[2]",
                                                     STAFF_PW, NULL, NULL);
  g_autofree char *both = gk_test_server_add_account(f->server, f->token, "both-sites", "receptionist", "[1,2]",
                                                     STAFF_PW, NULL, NULL);
  g_autofree char *admin = gk_test_server_add_account(f->server, f->token, "osaka-admin", "admin", "[1,2]", STAFF_PW,
                                                      NULL, NULL);

  gk_test_server_stop(f->server);
  g_autofree char *tokyo_before = NULL, *osaka_before = NULL;
  {
    g_autoptr(GkStore) gk = open_master(f);
    tokyo_before = site_rows(gk, 1);
    osaka_before = site_rows(gk, 2);
  }
  gk_test_server_start(f->server);
  g_test_message("site 2 before: %s", osaka_before);
  g_assert_nonnull(strstr(osaka_before, "visits=2 "));
  g_assert_nonnull(strstr(osaka_before, "visit_photos=1"));

  /* Refusals change nothing: an admin, a wrong or missing name, the first site. */
  g_assert_cmpint(call_site(f, admin, NULL, "DELETE", "/v1/sites/2", "{\"confirm\":\"Branch Osaka\"}", &reply), ==,
                  403);
  g_assert_cmpint(call(f, "DELETE", "/v1/sites/2", "{\"confirm\":\"Branch osaka\"}", &reply), ==, 400);
  g_assert_cmpstr(gk_test_json_error_code(reply), ==, "confirm-mismatch");
  g_assert_cmpint(call(f, "DELETE", "/v1/sites/2", "{}", &reply), ==, 400);
  g_assert_cmpint(call(f, "DELETE", "/v1/sites/2", "{\"confirm\":\"Branch Osaka\",\"force\":true}", &reply), ==, 400);
  g_assert_cmpint(call(f, "DELETE", "/v1/sites/1", "{\"confirm\":\"Main site\"}", &reply), ==, 409);
  g_assert_cmpstr(gk_test_json_error_code(reply), ==, "default-site");
  g_assert_cmpint(call(f, "DELETE", "/v1/sites/7", "{\"confirm\":\"Branch Osaka\"}", &reply), ==, 404);
  gk_test_server_stop(f->server);
  {
    g_autoptr(GkStore) gk = open_master(f);
    g_autofree char *osaka_now = site_rows(gk, 2);
    g_assert_cmpstr(osaka_now, ==, osaka_before);
  }
  gk_test_server_start(f->server);
  /* Osaka's device still syncs until the site goes. */
  g_assert_cmpint(device(f, osaka, "GET", "/v1/sync/pull?cursor=0", NULL, &reply), ==, 200);

  g_assert_cmpint(call(f, "DELETE", "/v1/sites/2", "{\"confirm\":\"Branch Osaka\"}", &reply), ==, 200);
  g_assert_cmpint(gk_test_json_int(reply, "deleted"), ==, 2);
  g_assert_cmpint(gk_test_json_int(reply, "devices"), ==, 1);
  g_assert_cmpint(gk_test_json_int(reply, "visits"), ==, 2);
  g_assert_cmpint(gk_test_json_int(reply, "accounts_disabled"), ==, 1);
  /* Its device is refused at once, its Osaka-only account too. */
  g_assert_cmpint(device(f, osaka, "GET", "/v1/sync/pull?cursor=0", NULL, &reply), !=, 200);
  g_assert_cmpint(call_site(f, only, NULL, "GET", "/v1/hosts", NULL, &reply), ==, 401);
  g_assert_cmpint(gk_test_server_login(f->server, "osaka-only", STAFF_PW, NULL, NULL, NULL), !=, 200);
  /* The other site and its people carry on. */
  g_assert_cmpint(call_site(f, both, NULL, "GET", "/v1/visits", NULL, &reply), ==, 200);
  g_assert_cmpint(device(f, tokyo, "GET", "/v1/sync/pull?cursor=0", NULL, &reply), ==, 200);
  g_assert_cmpint(call(f, "GET", "/v1/sites/2/retention", NULL, &reply), ==, 404);
  g_autofree char *audit = get_raw(f, NULL, "/v1/audit?action=site.delete");
  g_assert_nonnull(strstr(audit, "site:2 hosts=1 tickets=1 visits=2"));
  g_autoptr(GBytes) plain = files_plaintext(f);
  g_assert_false(has(plain, "GKSITE2-Osaka-Visitor-22bb"));
  g_assert_true(has(plain, "GKSITE1-Tokyo-Visitor-11aa"));

  gk_test_server_stop(f->server);
  {
    g_autoptr(GkStore) gk = open_master(f);
    g_autofree char *tokyo_after = site_rows(gk, 1);
    g_autofree char *osaka_after = site_rows(gk, 2);
    g_test_message("site 2 after: %s", osaka_after);
    g_assert_cmpstr(tokyo_after, ==, tokyo_before);
    /* Every count of site 2 is zero, whatever tables there are. */
    g_auto(GStrv) parts = g_strsplit(osaka_after, " ", -1);
    g_assert_cmpuint(g_strv_length(parts), >=, 12);
    for (guint i = 0; parts[i] != NULL; i++)
      g_assert_true(g_str_has_suffix(parts[i], "=0"));
    g_assert_cmpint(count(gk, "SELECT count(*) FROM sites WHERE id = 2"), ==, 0);
    g_assert_cmpint(count(gk, "SELECT count(*) FROM account_sites WHERE site_id = 2"), ==, 0);
    g_assert_cmpint(count(gk, "SELECT count(*) FROM accounts WHERE username = 'osaka-only' AND disabled_at > 0"), ==,
                    1);
    g_assert_cmpint(count(gk, "SELECT count(*) FROM accounts WHERE username = 'both-sites' AND disabled_at IS NULL"),
                    ==, 1);
    g_assert_cmpint(count(gk, "SELECT count(*) FROM pragma_foreign_key_check"), ==, 0);
  }
  gk_test_server_start(f->server);
  gk_test_device_free(tokyo);
  gk_test_device_free(osaka);
}

/* ---- 5. devices ------------------------------------------------------------------------------------ */

static void
pull_config(Fixture *f, GkTestDevice *d, gint64 *out_version, char **out_hours)
{
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(device(f, d, "GET", "/v1/sync/pull?cursor=0", NULL, &reply), ==, 200);
  JsonObject *dev = json_object_get_object_member(json_node_get_object(reply), "device");
  *out_version = json_object_get_int_member(dev, "config_version");
  JsonObject *cfg = json_object_get_object_member(dev, "config");
  *out_hours = g_strdup(json_object_get_string_member_with_default(cfg, "retention-hours", ""));
}

static void
test_device_cap(Fixture *f, gconstpointer data)
{
  GkTestDevice *d = enroll(f, NULL, "Lobby");
  gint64 v0 = 0, v1 = 0, v2 = 0, v3 = 0;
  g_autofree char *h0 = NULL, *h1 = NULL, *h2 = NULL, *h3 = NULL;
  pull_config(f, d, &v0, &h0);
  g_assert_cmpstr(h0, ==, "");  /* nothing set: the device's own default (24 h) */
  g_autofree char *cfg = g_strdup_printf("/v1/devices/%s/config", d->device_id);
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(call(f, "POST", cfg, "{\"settings\":{\"retention-hours\":\"8760\"}}", &reply), ==, 200);
  pull_config(f, d, &v1, &h1);
  g_assert_cmpstr(h1, ==, "2160");  /* 90 days */
  g_assert_cmpint(v1, >, v0);
  /* A shorter site retention: every device of the site gets a new version. */
  g_assert_cmpint(call(f, "POST", "/v1/sites/1/retention", "{\"visitor_days\":2}", &reply), ==, 200);
  pull_config(f, d, &v2, &h2);
  g_assert_cmpstr(h2, ==, "48");
  g_assert_cmpint(v2, >, v1);
  /* Below the cap, the device's own value stands. */
  g_assert_cmpint(call(f, "POST", cfg, "{\"settings\":{\"retention-hours\":\"12\"}}", &reply), ==, 200);
  pull_config(f, d, &v3, &h3);
  g_assert_cmpstr(h3, ==, "12");
  /* The admin still sees what was set. */
  g_autofree char *shown = get_raw(f, NULL, cfg);
  g_assert_nonnull(strstr(shown, "\"12\""));
  gk_test_device_free(d);
}

/* ---- 6. settings: bounds, scope ------------------------------------------------------------------- */

static void
test_settings(Fixture *f, gconstpointer data)
{
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(call(f, "GET", "/v1/sites/1/retention", NULL, &reply), ==, 200);
  g_assert_cmpint(gk_test_json_int(reply, "visitor_days"), ==, 90);
  g_assert_cmpint(gk_test_json_int(reply, "audit_days"), ==, 400);
  static const char *const bad[] = {
    "{\"visitor_days\":0}", "{\"visitor_days\":3651}", "{\"audit_days\":179}", "{\"audit_days\":3651}",
    "{\"visitor_days\":-1}", "{\"visitor_days\":\"30\"}", "{\"visitor_days\":30.5}", "{}",
    "{\"visitor_days\":30,\"colour\":1}", "[30]", "visitor_days=30", "{\"visitor_days\":30,\"audit_days\":100}",
  };
  for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
    g_test_message("body %s", bad[i]);
    g_assert_cmpint(call(f, "POST", "/v1/sites/1/retention", bad[i], &reply), ==, 400);
  }
  g_assert_cmpint(call(f, "GET", "/v1/sites/1/retention", NULL, &reply), ==, 200);
  g_assert_cmpint(gk_test_json_int(reply, "visitor_days"), ==, 90);
  g_assert_cmpint(gk_test_json_int(reply, "audit_days"), ==, 400);
  /* The bounds themselves are fine. */
  g_assert_cmpint(call(f, "POST", "/v1/sites/1/retention", "{\"visitor_days\":1,\"audit_days\":180}", &reply), ==, 200);
  g_assert_cmpint(call(f, "POST", "/v1/sites/1/retention", "{\"visitor_days\":3650,\"audit_days\":3650}", &reply), ==,
                  200);
  g_assert_cmpint(gk_test_json_int(reply, "visitor_days"), ==, 3650);
  g_autofree char *audit = get_raw(f, NULL, "/v1/audit?action=retention.set");
  g_assert_nonnull(strstr(audit, "site:1 visitor_days=3650 audit_days=3650"));

  /* Another site's settings look like no site to an admin of site 1 only. */
  g_assert_cmpint(call(f, "POST", "/v1/sites", "{\"name\":\"Branch Nagoya\"}", &reply), ==, 201);
  g_autofree char *admin = gk_test_server_add_account(f->server, f->token, "admin1", "admin", "[1]", STAFF_PW, NULL,
                                                      NULL);
  g_autofree char *auditor = gk_test_server_add_account(f->server, f->token, "auditor1", "auditor", "[1]", STAFF_PW,
                                                        NULL, NULL);
  g_assert_cmpint(call_site(f, admin, NULL, "GET", "/v1/sites/2/retention", NULL, &reply), ==, 404);
  g_assert_cmpint(call_site(f, admin, NULL, "POST", "/v1/sites/2/retention", "{\"visitor_days\":5}", &reply), ==, 404);
  g_assert_cmpint(call_site(f, admin, NULL, "POST", "/v1/sites/1/retention", "{\"visitor_days\":5}", &reply), ==, 200);
  g_assert_cmpint(call_site(f, auditor, NULL, "GET", "/v1/sites/1/retention", NULL, &reply), ==, 200);
  g_assert_cmpint(call_site(f, auditor, NULL, "POST", "/v1/sites/1/retention", "{\"visitor_days\":6}", &reply), ==,
                  403);
  g_assert_cmpint(call_site(f, admin, NULL, "POST", "/v1/retention/purge", "{}", &reply), ==, 403);
  g_assert_cmpint(call(f, "GET", "/v1/sites/99/retention", NULL, &reply), ==, 404);
  g_assert_cmpint(call(f, "GET", "/v1/sites/01/retention", NULL, &reply), ==, 404);
  g_assert_cmpint(call(f, "GET", "/v1/sites/2/retention", NULL, &reply), ==, 200);
  g_assert_cmpint(gk_test_json_int(reply, "visitor_days"), ==, 90);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add("/retention/purge", Fixture, NULL, fixture_setup, test_purge, fixture_teardown);
  g_test_add("/retention/scheduled", Fixture,
             "[auth]\nmax-delay-s = 0\n[retention]\nfirst-run-s = 1\npurge-interval-s = 2\n", fixture_setup,
             test_scheduled, fixture_teardown);
  g_test_add("/retention/audit", Fixture, NULL, fixture_setup, test_audit, fixture_teardown);
  g_test_add("/retention/site-delete", Fixture, NULL, fixture_setup, test_site_delete, fixture_teardown);
  g_test_add("/retention/device-cap", Fixture, NULL, fixture_setup, test_device_cap, fixture_teardown);
  g_test_add("/retention/settings", Fixture, NULL, fixture_setup, test_settings, fixture_teardown);
  return g_test_run();
}
