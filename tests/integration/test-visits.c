/* Reception visits end to end: a real genkan-server on loopback and a reception
 * kiosk enrolled with the real genkan-kiosk, driven through kiosk-visit.
 * Invitations with a reception code (checked in online and offline), walk-ins
 * arriving on the server, check-outs, the server's limit on wrong codes (429),
 * refused walk-ins that store nothing (cross-site host, bad fields), who may
 * list visits, and genkanctl's ticket issue / visit list. */
#include <curl/curl.h>
#include <string.h>

#include "gk-json.h"
#include "gk-password.h"
#include "gk-test-server.h"
#include "gk-test-util.h"
#include "gk-visit.h"
#include "kiosk-net.h"
#include "kiosk-store.h"
#include "kiosk-sync.h"
#include "kiosk-visit.h"
#include "srv-app.h"
#include "srv-store.h"
#include "srv-visit.h"

#define OWNER_PW "N3w-Owner-Passw0rd!"
#define STAFF_PW "Staff-Passw0rd!x"
#define KIOSK GK_BUILD_DIR "/kiosk/genkan-kiosk"
#define CTL GK_BUILD_DIR "/sync-server/genkanctl"

typedef struct {
  GkTestServer *server;
  char *token;
  char *tmp;
  gint64 host_id;  /* 佐藤 花子, on the server's site */
  char *dir;       /* the lobby kiosk's data dir */
  KioskStore *store;
  KioskClient *client;
  KioskIdentity id;
} Fixture;

static long
admin(Fixture *f, const char *method, const char *path, const char *body, JsonNode **reply)
{
  GkTestClient c = { .ca_path = f->server->ca_path, .token = f->token };
  g_autofree char *url = g_strconcat(f->server->admin_url, path, NULL);
  return gk_test_request(&c, method, url, body, reply, NULL);
}

/* A device-port request with the lobby kiosk's own certificate. */
static long
device(Fixture *f, const char *method, const char *path, const char *body, JsonNode **reply)
{
  GkTestClient c = { .ca_path = f->server->ca_path, .cert_pem = f->id.cert_pem, .key_pem = f->id.key_pem };
  g_autofree char *url = g_strconcat(f->server->device_url, path, NULL);
  return gk_test_request(&c, method, url, body, reply, NULL);
}

static void
open_kiosk(Fixture *f)
{
  g_autoptr(GError) error = NULL;
  f->store = kiosk_store_open(f->dir, &error);
  g_assert_no_error(error);
  g_assert_true(kiosk_store_load_identity(f->store, &f->id, &error));
  f->client = kiosk_client_new(f->id.host, f->id.admin_port, f->id.device_port, f->id.ca_pem, f->id.cert_pem,
                               f->id.key_pem);
}

static void
close_kiosk(Fixture *f)
{
  g_clear_pointer(&f->client, kiosk_client_free);
  g_clear_pointer(&f->store, kiosk_store_close);
  kiosk_identity_clear(&f->id);
}

static void
fixture_setup(Fixture *f, gconstpointer data)
{
  f->server = gk_test_server_init();
  gk_test_server_start(f->server);
  f->token = gk_test_server_login_owner(f->server, OWNER_PW);
  f->tmp = gk_test_make_tmpdir("genkan-visits-it");
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(admin(f, "POST", "/v1/hosts",
                        "{\"name\":\"佐藤 花子\",\"reading\":\"さとう はなこ\",\"department\":\"総務部\"}", &reply),
                  ==, 201);
  f->host_id = gk_test_json_int(reply, "id");
  g_clear_pointer(&reply, json_node_unref);
  /* Hosts are told through the site's default channel (nothing listens: the
   * notification is queued, which is what "host notified" promises). */
  g_assert_cmpint(admin(f, "POST", "/v1/notify/default",
                        "{\"channel\":\"webhook\",\"target\":\"http://127.0.0.1:9/hook\"}", &reply),
                  ==, 200);
  g_clear_pointer(&reply, json_node_unref);

  /* The reception kiosk, enrolled by the real program (with its first sync). */
  g_assert_cmpint(admin(f, "POST", "/v1/devices/enroll-codes", "{\"name\":\"Lobby\",\"mode\":\"reception\"}", &reply),
                  ==, 201);
  f->dir = g_build_filename(f->tmp, "lobby", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) p = g_subprocess_new(G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_SILENCE,
                                              &error, KIOSK, "--data-dir", f->dir, "enroll",
                                              gk_test_json_str(reply, "code"), NULL);
  g_assert_no_error(error);
  g_assert_true(g_subprocess_wait_check(p, NULL, &error));
  g_assert_no_error(error);
  open_kiosk(f);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
  close_kiosk(f);
  gk_test_server_free(f->server);
  gk_test_rmtree(f->tmp);
  g_free(f->token);
  g_free(f->tmp);
  g_free(f->dir);
}

/* Issues an invitation; returns its reception code (g_free), *out_ticket its id. */
static char *
invite(Fixture *f, const char *visitor, gboolean multi, char **out_ticket)
{
  g_autofree char *req = g_strdup_printf("{\"visitor\":\"%s\",\"host\":\"%" G_GINT64_FORMAT "\",\"company\":\"ACME\","
                                         "\"purpose\":\"Design review\",\"labels\":[\"vip\",\"2F\"],\"multi\":%s}",
                                         visitor, f->host_id, multi ? "true" : "false");
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(admin(f, "POST", "/v1/tickets", req, &reply), ==, 201);
  const char *code = gk_test_json_str(reply, "reception_code");
  g_assert_true(gk_reception_code_ok(code));
  if (out_ticket != NULL)
    *out_ticket = g_strdup(gk_test_json_str(reply, "ticket_id"));
  return g_strdup(code);
}

static void
pull(Fixture *f)
{
  KioskSyncSummary s = { 0 };
  g_autoptr(GError) error = NULL;
  g_assert_true(kiosk_sync_pull(f->store, f->client, NULL, NULL, &s, &error));
  g_assert_no_error(error);
}

static void
push(Fixture *f)
{
  KioskSyncSummary s = { 0 };
  g_autoptr(GError) error = NULL;
  g_assert_true(kiosk_sync_push(f->store, f->client, 10000, &s, &error));
  g_assert_no_error(error);
  g_assert_cmpint(kiosk_store_queue_length(f->store), ==, 0);
}

/* GET /v1/visits[?query]: the array (owned by @holder). */
static JsonArray *
visits(Fixture *f, const char *query, JsonNode **holder)
{
  g_autofree char *path = g_strconcat("/v1/visits", query ? query : "", NULL);
  g_assert_cmpint(admin(f, "GET", path, NULL, holder), ==, 200);
  return json_object_get_array_member(json_node_get_object(*holder), "visits");
}

static JsonObject *
find_visit(JsonArray *list, const char *id)
{
  for (guint i = 0; i < json_array_get_length(list); i++) {
    JsonObject *v = json_array_get_object_element(list, i);
    if (g_strcmp0(gk_json_get_string(v, "id", NULL), id) == 0)
      return v;
  }
  return NULL;
}

static gboolean
is_null(JsonObject *o, const char *member)
{
  JsonNode *n = json_object_get_member(o, member);
  return n != NULL && JSON_NODE_HOLDS_NULL(n);
}

/* ---- 1. invitation, code online, check-out -------------------------------------------- */

static void
test_code_online(Fixture *f, gconstpointer data)
{
  g_autofree char *ticket = NULL;
  g_autofree char *code = invite(f, "Ada Lovelace", FALSE, &ticket);
  /* Shown once to the admin; never in the server's log. */
  g_autofree char *log = gk_test_server_log(f->server);
  g_assert_null(strstr(log, code));

  /* The kiosk has not pulled since: the server decides. */
  g_autoptr(GError) error = NULL;
  KioskVisitResult r;
  g_assert_true(kiosk_visit_reception_code(f->store, f->client, code, &r, &error));
  g_assert_no_error(error);
  g_assert_false(r.offline);
  g_assert_true(r.host_notified);
  g_assert_cmpstr(r.visitor_name, ==, "Ada Lovelace");
  g_assert_cmpstr(r.company, ==, "ACME");
  g_assert_cmpstr(r.host_name, ==, "佐藤 花子");
  g_assert_cmpint(kiosk_store_queue_length(f->store), ==, 0); /* the server has the event */

  g_autoptr(JsonNode) holder = NULL;
  JsonArray *list = visits(f, NULL, &holder);
  g_assert_cmpuint(json_array_get_length(list), ==, 1);
  JsonObject *v = find_visit(list, r.visit_id);
  g_assert_nonnull(v);
  g_assert_cmpstr(gk_json_get_string(v, "kind", ""), ==, "ticket");
  g_assert_cmpstr(gk_json_get_string(v, "visitor", ""), ==, "Ada Lovelace");
  g_assert_cmpstr(gk_json_get_string(v, "company", ""), ==, "ACME");
  g_assert_cmpstr(gk_json_get_string(v, "purpose", ""), ==, "Design review");
  g_assert_cmpstr(gk_json_get_string(v, "host", ""), ==, "佐藤 花子");
  g_assert_cmpstr(gk_json_get_string(v, "ticket_id", ""), ==, ticket);
  g_assert_cmpstr(gk_json_get_string(v, "device_id", ""), ==, f->id.device_id);
  JsonArray *labels = json_object_get_array_member(v, "labels");
  g_assert_cmpuint(json_array_get_length(labels), ==, 2);
  g_assert_cmpstr(json_array_get_string_element(labels, 0), ==, "vip");
  g_assert_true(is_null(v, "checked_out_at"));
  g_clear_pointer(&holder, json_node_unref);

  /* The code is spent: refused, and not counted as a guess. */
  KioskVisitResult again;
  g_assert_false(kiosk_visit_reception_code(f->store, f->client, code, &again, &error));
  g_assert_error(error, KIOSK_VISIT_ERROR, KIOSK_VISIT_ERROR_BAD_CODE);
  g_clear_error(&error);
  g_assert_cmpint(kiosk_store_get_meta_int(f->store, "reception_code.wrong", 0), ==, 0);
  /* A wrong one counts, on the kiosk and on the server. */
  g_assert_false(kiosk_visit_reception_code(f->store, f->client, "00000000", &again, &error));
  g_assert_error(error, KIOSK_VISIT_ERROR, KIOSK_VISIT_ERROR_BAD_CODE);
  g_clear_error(&error);
  g_assert_cmpint(kiosk_store_get_meta_int(f->store, "reception_code.wrong", 0), ==, 1);

  /* Check-out with the badge, delivered at once. */
  g_autofree char *badge = g_strconcat(KIOSK_BADGE_PREFIX, r.visit_id, NULL);
  KioskVisitResult out;
  g_assert_true(kiosk_visit_checkout(f->store, f->client, badge, strlen(badge), &out, &error));
  g_assert_no_error(error);
  g_assert_false(out.host_notified); /* check-outs notify nobody */
  g_assert_false(out.offline);
  list = visits(f, NULL, &holder);
  v = find_visit(list, r.visit_id);
  g_assert_false(is_null(v, "checked_out_at"));
  g_assert_cmpint(ABS(gk_json_get_int(v, "checked_out_at", 0) - out.at), <=, 1);
  g_clear_pointer(&holder, json_node_unref);
  list = visits(f, "?present=1", &holder);
  g_assert_cmpuint(json_array_get_length(list), ==, 0);
  kiosk_visit_result_clear(&r);
  kiosk_visit_result_clear(&out);
}

/* ---- 2. code offline, delivered later -------------------------------------------------------- */

static void
test_code_offline(Fixture *f, gconstpointer data)
{
  g_autofree char *ticket = NULL;
  g_autofree char *code = invite(f, "Grace Hopper", FALSE, &ticket);
  pull(f);
  /* The feed carried the code's hash, never the code. */
  g_autofree char *hash = gk_reception_code_hash_hex(f->id.site_id, code);
  {
    sqlite3_stmt *st = NULL;
    g_assert_cmpint(sqlite3_prepare_v2(gk_store_db(kiosk_store_gk(f->store)),
                                       "SELECT code_hash FROM tickets WHERE id = ?1", -1, &st, NULL), ==, SQLITE_OK);
    sqlite3_bind_text(st, 1, ticket, -1, SQLITE_STATIC);
    g_assert_cmpint(sqlite3_step(st), ==, SQLITE_ROW);
    g_assert_cmpstr((const char *) sqlite3_column_text(st, 0), ==, hash);
    sqlite3_finalize(st);
  }

  gk_test_server_stop(f->server);
  g_autoptr(GError) error = NULL;
  KioskVisitResult r;
  g_assert_true(kiosk_visit_reception_code(f->store, f->client, code, &r, &error));
  g_assert_no_error(error);
  g_assert_true(r.offline);
  g_assert_false(r.host_notified);
  g_assert_cmpstr(r.visitor_name, ==, "Grace Hopper");
  g_assert_cmpstr(r.host_name, ==, "佐藤 花子");
  g_assert_cmpint(kiosk_store_queue_length(f->store), ==, 1);

  gk_test_server_start(f->server);
  push(f);
  g_autoptr(JsonNode) holder = NULL;
  JsonArray *list = visits(f, NULL, &holder);
  JsonObject *v = find_visit(list, r.visit_id); /* the same id on both sides */
  g_assert_nonnull(v);
  g_assert_cmpstr(gk_json_get_string(v, "visitor", ""), ==, "Grace Hopper");
  g_assert_cmpstr(gk_json_get_string(v, "ticket_id", ""), ==, ticket);
  g_assert_cmpint(kiosk_store_get_meta_int(f->store, "reception_code.wrong", 0), ==, 0);
  /* The server learnt the redemption: the code is spent online too. */
  kiosk_visit_result_clear(&r);
  g_assert_false(kiosk_visit_reception_code(f->store, f->client, code, &r, &error));
  g_assert_error(error, KIOSK_VISIT_ERROR, KIOSK_VISIT_ERROR_BAD_CODE);
}

/* ---- 3. walk-ins ------------------------------------------------------------------------ */

static void
test_walkin(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  KioskWalkin w = { .visitor_name = "山田 一郎", .company = "株式会社テスト", .purpose = "打ち合わせ",
                    .host_id = f->host_id, .terms_accepted = TRUE };
  KioskVisitResult online, offline, out;
  g_assert_true(kiosk_visit_walkin(f->store, f->client, &w, &online, &error));
  g_assert_no_error(error);
  g_assert_true(online.host_notified);
  g_assert_false(online.offline);
  g_assert_cmpint(kiosk_store_queue_length(f->store), ==, 0);

  g_autoptr(JsonNode) holder = NULL;
  JsonArray *list = visits(f, NULL, &holder);
  JsonObject *v = find_visit(list, online.visit_id);
  g_assert_nonnull(v);
  g_assert_cmpstr(gk_json_get_string(v, "kind", ""), ==, "walkin");
  g_assert_cmpstr(gk_json_get_string(v, "visitor", ""), ==, "山田 一郎");
  g_assert_cmpstr(gk_json_get_string(v, "company", ""), ==, "株式会社テスト");
  g_assert_cmpstr(gk_json_get_string(v, "purpose", ""), ==, "打ち合わせ");
  g_assert_cmpstr(gk_json_get_string(v, "host", ""), ==, "佐藤 花子");
  g_assert_cmpint(gk_json_get_int(v, "host_id", 0), ==, f->host_id);
  g_assert_true(gk_json_get_bool(v, "terms_accepted", FALSE));
  g_assert_true(is_null(v, "ticket_id"));
  g_clear_pointer(&holder, json_node_unref);
  /* The check-in list names the walk-in too. */
  g_assert_cmpint(admin(f, "GET", "/v1/checkins", NULL, &holder), ==, 200);
  g_autofree char *checkins = json_to_string(holder, FALSE);
  g_assert_nonnull(strstr(checkins, "山田 一郎"));
  g_clear_pointer(&holder, json_node_unref);

  /* Offline: queued, then delivered by the sync; check-out the same way. */
  w.visitor_name = "Bob Offline";
  w.company = NULL;
  g_assert_true(kiosk_visit_walkin(f->store, NULL, &w, &offline, &error));
  g_assert_true(offline.offline);
  g_autofree char *badge = g_strconcat(KIOSK_BADGE_PREFIX, offline.visit_id, NULL);
  g_assert_true(kiosk_visit_checkout(f->store, NULL, badge, strlen(badge), &out, &error));
  g_assert_no_error(error);
  g_assert_cmpint(kiosk_store_queue_length(f->store), ==, 2);
  push(f);
  list = visits(f, NULL, &holder);
  g_assert_cmpuint(json_array_get_length(list), ==, 2);
  v = find_visit(list, offline.visit_id);
  g_assert_nonnull(v);
  g_assert_true(is_null(v, "company"));
  g_assert_false(is_null(v, "checked_out_at"));
  g_clear_pointer(&holder, json_node_unref);
  list = visits(f, "?present=1", &holder);
  g_assert_cmpuint(json_array_get_length(list), ==, 1);
  g_assert_nonnull(find_visit(list, online.visit_id));
  g_clear_pointer(&holder, json_node_unref);
  g_assert_cmpint(admin(f, "GET", "/v1/visits?present=2", NULL, NULL), ==, 400);
  g_assert_cmpint(admin(f, "GET", "/v1/visits?since=1", NULL, NULL), ==, 400);
  kiosk_visit_result_clear(&online);
  kiosk_visit_result_clear(&offline);
  kiosk_visit_result_clear(&out);
}

/* ---- 4. the server's limit on wrong codes -------------------------------------------------------- */

static size_t
ignore_body(char *ptr, size_t size, size_t nmemb, void *user_data)
{
  return size * nmemb;
}

/* POST /v1/redeem-code with the kiosk's certificate; the status and the
 * Retry-After header (g_free, or NULL). */
static long
redeem_code_raw(Fixture *f, const char *code, const char *event_id, char **out_retry_after)
{
  g_autofree char *url = g_strconcat(f->server->device_url, "/v1/redeem-code", NULL);
  g_autofree char *body = g_strdup_printf("{\"code\":\"%s\",\"event_id\":\"%s\",\"at\":1800000000}", code, event_id);
  CURL *curl = curl_easy_init();
  struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
  struct curl_blob cert = { f->id.cert_pem, strlen(f->id.cert_pem), CURL_BLOB_COPY };
  struct curl_blob key = { f->id.key_pem, strlen(f->id.key_pem), CURL_BLOB_COPY };
  curl_easy_setopt(curl, CURLOPT_URL, url);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(curl, CURLOPT_CAINFO, f->server->ca_path);
  curl_easy_setopt(curl, CURLOPT_SSLCERT_BLOB, &cert);
  curl_easy_setopt(curl, CURLOPT_SSLKEY_BLOB, &key);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, ignore_body);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
  long status = 0;
  if (curl_easy_perform(curl) == CURLE_OK)
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  struct curl_header *h = NULL;
  *out_retry_after = curl_easy_header(curl, "Retry-After", 0, CURLH_HEADER, -1, &h) == CURLHE_OK
                       ? g_strdup(h->value) : NULL;
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return status;
}

static void
test_wrong_code_limit(Fixture *f, gconstpointer data)
{
  g_autofree char *code = invite(f, "Patient Visitor", FALSE, NULL);
  g_autofree char *retry = NULL;
  g_autoptr(JsonNode) reply = NULL;
  for (int i = 0; i < SRV_CODE_MAX_WRONG; i++) {
    g_autofree char *req = g_strdup_printf("{\"code\":\"%08d\",\"event_id\":\"evt-wrong-%d\",\"at\":1800000000}", i, i);
    g_assert_cmpint(device(f, "POST", "/v1/redeem-code", req, &reply), ==, 200);
    g_assert_cmpstr(gk_test_json_str(reply, "result"), ==, "rejected");
    g_assert_cmpstr(gk_test_json_str(reply, "reason"), ==, "bad-code");
    g_clear_pointer(&reply, json_node_unref);
    if (i == 3) {
      /* A repeated request answers the same and is not counted again. */
      g_assert_cmpint(device(f, "POST", "/v1/redeem-code",
                             "{\"code\":\"00000000\",\"event_id\":\"evt-wrong-0\",\"at\":1800000000}", &reply), ==, 200);
      g_assert_cmpstr(gk_test_json_str(reply, "reason"), ==, "bad-code");
      g_clear_pointer(&reply, json_node_unref);
    }
  }
  /* The limit is reached: 429 with Retry-After, even for the right code. */
  g_assert_cmpint(redeem_code_raw(f, "99999999", "evt-wrong-x", &retry), ==, 429);
  g_assert_nonnull(retry);
  gint64 seconds = 0;
  g_assert_true(g_ascii_string_to_signed(retry, 10, 1, 600, &seconds, NULL));
  g_clear_pointer(&retry, g_free);
  g_assert_cmpint(redeem_code_raw(f, code, "evt-right-1", &retry), ==, 429);
  g_assert_cmpint(device(f, "POST", "/v1/redeem-code",
                         "{\"code\":\"00000001\",\"event_id\":\"evt-wrong-y\",\"at\":1800000000}", &reply), ==, 429);
  g_assert_cmpstr(gk_json_get_string(json_object_get_object_member(json_node_get_object(reply), "error"), "code", ""),
                  ==, "rate-limited");
  g_clear_pointer(&reply, json_node_unref);
  /* The kiosk engine says so too (and did not spend the invitation). */
  g_autoptr(GError) error = NULL;
  KioskVisitResult r;
  g_assert_false(kiosk_visit_reception_code(f->store, f->client, code, &r, &error));
  g_assert_error(error, KIOSK_VISIT_ERROR, KIOSK_VISIT_ERROR_RATE_LIMITED);
  g_assert_cmpint(r.retry_after, >=, KIOSK_RECEPTION_CODE_FIRST_LOCK);
  g_clear_error(&error);

  /* Malformed codes are refused before any counting. */
  g_assert_cmpint(device(f, "POST", "/v1/redeem-code", "{\"code\":\"1234\",\"event_id\":\"evt-short-1\",\"at\":1}",
                         NULL), ==, 400);
  g_assert_cmpint(device(f, "POST", "/v1/redeem-code",
                         "{\"code\":\"12345678\",\"event_id\":\"evt-extra-1\",\"at\":1,\"x\":1}", NULL), ==, 400);

  /* The limit is per device: another reception kiosk checks the visitor in;
   * a gate may not check codes at all. */
  GkTestDevice *other = gk_test_enroll_device(f->server, f->token, "Lobby 2", "reception");
  GkTestDevice *gate = gk_test_enroll_device(f->server, f->token, "Gate", "gate");
  GkTestClient c = { .ca_path = f->server->ca_path, .cert_pem = gate->cert_pem, .key_pem = gate->key_pem };
  g_autofree char *url = g_strconcat(f->server->device_url, "/v1/redeem-code", NULL);
  g_autofree char *req = g_strdup_printf("{\"code\":\"%s\",\"event_id\":\"evt-gate-1\",\"at\":1800000000}", code);
  g_assert_cmpint(gk_test_request(&c, "POST", url, req, NULL, NULL), ==, 403);
  c.cert_pem = other->cert_pem;
  c.key_pem = other->key_pem;
  g_assert_cmpint(gk_test_request(&c, "POST", url, req, &reply, NULL), ==, 200);
  g_assert_cmpstr(gk_test_json_str(reply, "result"), ==, "accepted");
  g_assert_cmpstr(gk_test_json_str(reply, "visitor"), ==, "Patient Visitor");
  g_assert_cmpstr(gk_test_json_str(reply, "host_name"), ==, "佐藤 花子");
  g_assert_true(gk_visit_id_ok(gk_test_json_str(reply, "visit_id")));
  g_clear_pointer(&reply, json_node_unref);
  /* The same request again: the first answer, nothing new. */
  g_assert_cmpint(gk_test_request(&c, "POST", url, req, &reply, NULL), ==, 200);
  g_assert_cmpstr(gk_test_json_str(reply, "result"), ==, "accepted");
  g_clear_pointer(&reply, json_node_unref);
  g_autoptr(JsonNode) holder = NULL;
  g_assert_cmpuint(json_array_get_length(visits(f, NULL, &holder)), ==, 1);
  gk_test_device_free(other);
  gk_test_device_free(gate);
}

/* ---- 5. refused walk-ins, roles ----------------------------------------------------------------- */

/* With the server stopped: a second site with a host, and staff accounts. */
static gint64
add_site_and_staff(Fixture *f)
{
  gk_test_server_stop(f->server);
  g_autofree char *db = g_build_filename(f->server->data_dir, SRV_DATA_DB, NULL);
  g_autofree char *kek = g_build_filename(f->server->data_dir, SRV_DATA_KEK, NULL);
  g_autoptr(GError) error = NULL;
  gint64 site = 0, host = 0;
  {
    g_autoptr(SrvStore) store = srv_store_open(db, kek, 1, &error);
    g_assert_no_error(error);
    g_assert_true(srv_store_site_add(store, "Annex", 1, &site, &error));
    SrvHost h = { .site_id = site, .name = (char *) "Annex Host" };
    g_assert_true(srv_store_host_add(store, &h, 1, &host, &error));
    g_autofree char *hash = gk_password_hash(STAFF_PW, &error);
    g_assert_no_error(error);
    static const char *const roles[] = { "receptionist", "auditor", "security" };
    for (guint i = 0; i < G_N_ELEMENTS(roles); i++)
      g_assert_true(srv_store_account_add(store, roles[i], hash, roles[i], FALSE, 1, NULL, &error));
    g_assert_no_error(error);
  }
  gk_test_server_start(f->server);
  return host;
}

static const char *
walkin_event(const char *id, const char *extra)
{
  static char buf[2048];
  g_snprintf(buf, sizeof buf,
             "{\"id\":\"%s\",\"kind\":\"walkin\",\"at\":1800000000,\"visit_id\":\"vis-%032x\","
             "\"visitor_name\":\"Walk In\",\"terms_accepted\":true%s}",
             id, g_str_hash(id), extra);
  return buf;
}

static void
expect_push_refused(Fixture *f, const char *events)
{
  g_autofree char *body = g_strdup_printf("{\"events\":[%s]}", events);
  g_autoptr(JsonNode) reply = NULL;
  long status = device(f, "POST", "/v1/sync/push", body, &reply);
  if (status != 400)
    g_error("push %s: HTTP %ld, want 400", events, status);
  if (g_test_verbose()) {
    g_autofree char *json = json_to_string(reply, FALSE);
    g_printerr("refused: %s\n", json);
  }
}

static void
test_walkin_refused(Fixture *f, gconstpointer data)
{
  gint64 annex_host = add_site_and_staff(f);
  g_autofree char *cross = g_strdup_printf(",\"host_id\":%" G_GINT64_FORMAT, annex_host);
  g_autofree char *good = g_strdup_printf(",\"host_id\":%" G_GINT64_FORMAT, f->host_id);
  g_autofree char *long_name = g_strnfill(GK_VISIT_NAME_MAX + 1, 'n');
  g_autofree char *too_long = g_strdup_printf(",\"company\":\"%s\"", long_name);
  g_autofree char *good_event = g_strdup(walkin_event("evt-good-0001", good));

  expect_push_refused(f, walkin_event("evt-cross-001", cross));         /* another site's host */
  expect_push_refused(f, walkin_event("evt-nohost-01", ",\"host_id\":999999"));
  expect_push_refused(f, walkin_event("evt-long-0001", too_long));
  expect_push_refused(f, walkin_event("evt-bidi-0001", ",\"company\":\"a\\u202eb\""));
  expect_push_refused(f, walkin_event("evt-tick-0001", ",\"ticket_id\":\"00112233445566778899aabbccddeeff\""));
  expect_push_refused(f, "{\"id\":\"evt-noterm-1\",\"kind\":\"walkin\",\"at\":1,\"visit_id\":"
                         "\"vis-00000000000000000000000000000001\",\"visitor_name\":\"X\"}");
  expect_push_refused(f, "{\"id\":\"evt-novis-01\",\"kind\":\"walkin\",\"at\":1,\"visitor_name\":\"X\","
                         "\"terms_accepted\":true}");
  expect_push_refused(f, "{\"id\":\"evt-badvis-1\",\"kind\":\"walkin\",\"at\":1,\"visit_id\":\"vis-XYZ\","
                         "\"visitor_name\":\"X\",\"terms_accepted\":true}");
  expect_push_refused(f, "{\"id\":\"evt-ckin-001\",\"kind\":\"checkin\",\"at\":1,"
                         "\"ticket_id\":\"00112233445566778899aabbccddeeff\",\"visitor_name\":\"X\"}");
  expect_push_refused(f, "{\"id\":\"evt-ckout-01\",\"kind\":\"checkout\",\"at\":1}");
  /* One bad event refuses the whole batch: the good one is not stored either. */
  g_autofree char *batch = g_strdup_printf("%s,%s", good_event, walkin_event("evt-cross-002", cross));
  expect_push_refused(f, batch);

  g_autoptr(JsonNode) holder = NULL;
  g_assert_cmpuint(json_array_get_length(visits(f, NULL, &holder)), ==, 0);
  g_clear_pointer(&holder, json_node_unref);
  g_assert_cmpint(admin(f, "GET", "/v1/checkins", NULL, &holder), ==, 200);
  g_assert_cmpuint(json_array_get_length(json_object_get_array_member(json_node_get_object(holder), "checkins")), ==,
                   0);
  g_clear_pointer(&holder, json_node_unref);

  /* The good event alone is stored (so it was new), then a duplicate. */
  g_autofree char *body = g_strdup_printf("{\"events\":[%s]}", good_event);
  g_autoptr(JsonNode) reply = NULL;
  for (int round = 0; round < 2; round++) {
    g_assert_cmpint(device(f, "POST", "/v1/sync/push", body, &reply), ==, 200);
    g_autofree char *json = json_to_string(reply, FALSE);
    g_assert_nonnull(strstr(json, round == 0 ? "\"stored\"" : "\"duplicate\""));
    g_clear_pointer(&reply, json_node_unref);
  }
  g_assert_cmpuint(json_array_get_length(visits(f, NULL, &holder)), ==, 1);

  /* Who may list visits: receptionist and auditor yes, gate staff no, nobody
   * without a session. */
  static const struct {
    const char *user;
    long status;
  } roles[] = { { "receptionist", 200 }, { "auditor", 200 }, { "security", 403 } };
  g_autofree char *url = g_strconcat(f->server->admin_url, "/v1/visits", NULL);
  g_autofree char *login_url = g_strconcat(f->server->admin_url, "/v1/login", NULL);
  for (guint i = 0; i < G_N_ELEMENTS(roles); i++) {
    GkTestClient anon = { .ca_path = f->server->ca_path };
    g_autofree char *req = g_strdup_printf("{\"username\":\"%s\",\"password\":\"%s\"}", roles[i].user, STAFF_PW);
    g_assert_cmpint(gk_test_request(&anon, "POST", login_url, req, &reply, NULL), ==, 200);
    GkTestClient staff = { .ca_path = f->server->ca_path, .token = gk_test_json_str(reply, "token") };
    g_assert_cmpint(gk_test_request(&staff, "GET", url, NULL, NULL, NULL), ==, roles[i].status);
    g_clear_pointer(&reply, json_node_unref);
  }
  GkTestClient anon = { .ca_path = f->server->ca_path };
  g_assert_cmpint(gk_test_request(&anon, "GET", url, NULL, NULL, NULL), ==, 401);
}

/* ---- 6. genkanctl --------------------------------------------------------------------------- */

static char *
ctl(Fixture *f, int want_status, const char *const *args)
{
  g_autoptr(GSubprocessLauncher) l = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                                                G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_autofree char *xdg = g_build_filename(f->tmp, "xdg", NULL);
  g_subprocess_launcher_setenv(l, "XDG_CONFIG_HOME", xdg, TRUE);
  g_subprocess_launcher_setenv(l, "GENKAN_PASSWORD", OWNER_PW, TRUE);
  /* The owner signs in with a second factor (gk_test_server_login_owner set it up). */
  g_autofree char *totp_file = gk_test_server_owner_totp_path(f->server);
  g_autofree char *totp = g_strv_contains(args, "login") ? gk_test_totp_next_from_file(totp_file) : NULL;
  if (totp != NULL)
    g_subprocess_launcher_setenv(l, "GENKAN_TOTP_CODE", totp, TRUE);
  g_subprocess_launcher_unsetenv(l, "GENKAN_SERVER");
  g_subprocess_launcher_unsetenv(l, "GENKAN_CA");
  g_autoptr(GPtrArray) argv = g_ptr_array_new();
  g_ptr_array_add(argv, (gpointer) CTL);
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add(argv, (gpointer) args[i]);
  g_ptr_array_add(argv, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) p = g_subprocess_launcher_spawnv(l, (const char *const *) argv->pdata, &error);
  g_assert_no_error(error);
  g_autofree char *out = NULL, *err = NULL;
  g_assert_true(g_subprocess_communicate_utf8(p, NULL, NULL, &out, &err, &error));
  if (g_subprocess_get_exit_status(p) != want_status)
    g_error("genkanctl %s: status %d\n%s%s", args[0], g_subprocess_get_exit_status(p), out, err);
  return g_steal_pointer(&out);
}

#define CTL_RUN(f, status, ...) ctl(f, status, (const char *const[]){ __VA_ARGS__, NULL })

static void
test_genkanctl(Fixture *f, gconstpointer data)
{
  g_free(CTL_RUN(f, 0, "--server", f->server->admin_url, "--ca", f->server->ca_path, "login", "--user", "owner"));
  g_autofree char *host = g_strdup_printf("%" G_GINT64_FORMAT, f->host_id);
  g_autofree char *issued = CTL_RUN(f, 0, "ticket", "issue", "--visitor", "Ada Lovelace", "--host", host,
                                    "--purpose", "Design review", "--label", "vip", "--label", "2F");
  /* The code, read aloud in two halves; the QR text stays the last line. */
  g_autoptr(GRegex) re = g_regex_new("^reception code  ([0-9]{4}) ([0-9]{4})", G_REGEX_MULTILINE, 0, NULL);
  g_autoptr(GMatchInfo) m = NULL;
  g_assert_true(g_regex_match(re, issued, 0, &m));
  g_autofree char *a = g_match_info_fetch(m, 1), *b = g_match_info_fetch(m, 2);
  g_autofree char *code = g_strconcat(a, b, NULL);
  g_auto(GStrv) lines = g_strsplit(g_strchomp(issued), "\n", -1);
  g_assert_true(g_str_has_prefix(lines[g_strv_length(lines) - 1], "GK1:"));
  g_assert_nonnull(strstr(issued, "purpose      Design review"));

  g_autoptr(GError) error = NULL;
  KioskVisitResult r;
  g_assert_true(kiosk_visit_reception_code(f->store, f->client, code, &r, &error));
  g_assert_no_error(error);
  g_assert_cmpstr(r.visitor_name, ==, "Ada Lovelace");

  g_autofree char *json = CTL_RUN(f, 0, "visit", "list", "--json");
  g_autoptr(JsonParser) parser = json_parser_new();
  g_assert_true(json_parser_load_from_data(parser, json, -1, &error));
  JsonArray *rows = json_node_get_array(json_parser_get_root(parser));
  g_assert_cmpuint(json_array_get_length(rows), ==, 1);
  JsonObject *v = json_array_get_object_element(rows, 0);
  g_assert_cmpstr(gk_json_get_string(v, "id", ""), ==, r.visit_id);
  g_assert_cmpstr(gk_json_get_string(v, "purpose", ""), ==, "Design review");
  g_assert_cmpuint(json_array_get_length(json_object_get_array_member(v, "labels")), ==, 2);
  g_autofree char *table = CTL_RUN(f, 0, "visit", "list", "--present");
  g_assert_nonnull(strstr(table, "Ada Lovelace"));
  g_assert_nonnull(strstr(table, "VISITOR"));

  /* --no-code: a QR-only ticket; bad labels are the server's 400. */
  g_autofree char *plain = CTL_RUN(f, 0, "ticket", "issue", "--visitor", "Gate Guest", "--host", host, "--no-code");
  g_assert_null(strstr(plain, "reception code"));
  g_free(CTL_RUN(f, 1, "ticket", "issue", "--visitor", "X", "--host", host, "--label", "a,b"));
  g_free(CTL_RUN(f, 2, "visit", "list", "--limit", "0x"));
  kiosk_visit_result_clear(&r);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  curl_global_init(CURL_GLOBAL_DEFAULT);
#define T(path, fn) g_test_add("/visits/" path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  T("code-online", test_code_online);
  T("code-offline", test_code_offline);
  T("walkin", test_walkin);
  T("wrong-code-limit", test_wrong_code_limit);
  T("walkin-refused-and-roles", test_walkin_refused);
  T("genkanctl", test_genkanctl);
#undef T
  int rc = g_test_run();
  curl_global_cleanup();
  return rc;
}
