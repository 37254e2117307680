/* Walk-in photos end to end: a real genkan-server on loopback and a reception
 * kiosk enrolled with the real genkan-kiosk, driven through kiosk-visit and
 * kiosk-sync. A photo travels with its walk-in, comes back byte-identical to
 * receptionists (and owners) only, bad or oversized photos refuse the whole
 * batch and store nothing, the device forgets the photo once the server has
 * it (or when the retention ends), and genkanctl saves it. */
#include <curl/curl.h>
#include <glib/gstdio.h>
#include <string.h>

#include "gk-json.h"
#include "gk-test-server.h"
#include "gk-test-util.h"
#include "gk-visit.h"
#include "kiosk-net.h"
#include "kiosk-store.h"
#include "kiosk-sync.h"
#include "kiosk-visit.h"
#include "srv-ctl.h"
#include "srv-visit.h"

#define OWNER_PW "N3w-Owner-Passw0rd!"
#define STAFF_PW "Staff-Passw0rd!x"
#define KIOSK GK_BUILD_DIR "/kiosk/genkan-kiosk"
#define CTL GK_BUILD_DIR "/sync-server/genkanctl"

typedef struct {
  GkTestServer *server;
  char *token;
  char *tmp;
  gint64 host_id;
  char *dir;  /* the lobby kiosk's data dir */
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

static long
device(Fixture *f, const char *body, JsonNode **reply)
{
  GkTestClient c = { .ca_path = f->server->ca_path, .cert_pem = f->id.cert_pem, .key_pem = f->id.key_pem };
  g_autofree char *url = g_strconcat(f->server->device_url, "/v1/sync/push", NULL);
  return gk_test_request(&c, "POST", url, body, reply, NULL);
}

static void
fixture_setup(Fixture *f, gconstpointer data)
{
  f->server = gk_test_server_init();
  gk_test_server_start(f->server);
  f->token = gk_test_server_login_owner(f->server, OWNER_PW);
  f->tmp = gk_test_make_tmpdir("genkan-photo-it");
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(admin(f, "POST", "/v1/hosts", "{\"name\":\"佐藤 花子\",\"reading\":\"さとう はなこ\"}", &reply), ==,
                  201);
  f->host_id = gk_test_json_int(reply, "id");
  g_clear_pointer(&reply, json_node_unref);
  g_assert_cmpint(admin(f, "POST", "/v1/devices/enroll-codes", "{\"name\":\"Lobby\",\"mode\":\"reception\"}", &reply),
                  ==, 201);
  f->dir = g_build_filename(f->tmp, "lobby", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) p = g_subprocess_new(G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_SILENCE,
                                              &error, KIOSK, "--data-dir", f->dir, "enroll",
                                              gk_test_json_str(reply, "code"), NULL);
  g_assert_no_error(error);
  g_assert_true(g_subprocess_wait_check(p, NULL, &error));
  f->store = kiosk_store_open(f->dir, &error);
  g_assert_no_error(error);
  g_assert_true(kiosk_store_load_identity(f->store, &f->id, &error));
  f->client = kiosk_client_new(f->id.host, f->id.admin_port, f->id.device_port, f->id.ca_pem, f->id.cert_pem,
                               f->id.key_pem);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
  g_clear_pointer(&f->client, kiosk_client_free);
  g_clear_pointer(&f->store, kiosk_store_close);
  kiosk_identity_clear(&f->id);
  gk_test_server_free(f->server);
  gk_test_rmtree(f->tmp);
  g_free(f->token);
  g_free(f->tmp);
  g_free(f->dir);
}

/* ---- helpers -------------------------------------------------------------------------- */

/* @len bytes shaped like a JPEG (SOI ... EOI) with random content in between:
 * the server checks the markers and the size, never decodes. */
static GBytes *
fake_jpeg(gsize len, guint32 seed)
{
  g_assert_cmpuint(len, >=, 5);
  guint8 *b = g_malloc(len);
  GRand *r = g_rand_new_with_seed(seed);
  for (gsize i = 0; i < len; i++)
    b[i] = (guint8) g_rand_int(r);
  g_rand_free(r);
  b[0] = 0xff, b[1] = 0xd8, b[2] = 0xff, b[3] = 0xe0;
  b[len - 2] = 0xff, b[len - 1] = 0xd9;
  return g_bytes_new_take(b, len);
}

static gint64
store_count(Fixture *f, const char *sql)
{
  sqlite3_stmt *st = NULL;
  g_assert_cmpint(sqlite3_prepare_v2(gk_store_db(kiosk_store_gk(f->store)), sql, -1, &st, NULL), ==, SQLITE_OK);
  g_assert_cmpint(sqlite3_step(st), ==, SQLITE_ROW);
  gint64 n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return n;
}

static gint64
photos_on_device(Fixture *f)
{
  return store_count(f, "SELECT count(*) FROM visit_photos");
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

static KioskVisitResult
walkin(Fixture *f, const char *name, GBytes *photo, gboolean online)
{
  KioskWalkin w = { .visitor_name = name, .host_id = f->host_id, .terms_accepted = TRUE, .photo = photo };
  KioskVisitResult r;
  g_autoptr(GError) error = NULL;
  g_assert_true(kiosk_visit_walkin(f->store, online ? f->client : NULL, &w, &r, &error));
  g_assert_no_error(error);
  return r;
}

/* The "photo" flag of visit @id in GET /v1/visits. */
static gboolean
listed_with_photo(Fixture *f, const char *id)
{
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(admin(f, "GET", "/v1/visits", NULL, &reply), ==, 200);
  JsonArray *list = json_object_get_array_member(json_node_get_object(reply), "visits");
  for (guint i = 0; i < json_array_get_length(list); i++) {
    JsonObject *v = json_array_get_object_element(list, i);
    if (g_strcmp0(gk_json_get_string(v, "id", NULL), id) == 0) {
      JsonNode *n = json_object_get_member(v, "photo");
      g_assert_nonnull(n);
      g_assert_true(JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_BOOLEAN);
      return json_node_get_boolean(n);
    }
  }
  g_error("visit %s is not listed", id);
}

static size_t
on_body(char *ptr, size_t size, size_t nmemb, void *user_data)
{
  g_byte_array_append(user_data, (const guint8 *) ptr, (guint) (size * nmemb));
  return size * nmemb;
}

/* GET @path on the admin port with @token (NULL: none): the status, the body
 * and its Content-Type (g_free). */
static long
get_raw(Fixture *f, const char *token, const char *path, GByteArray **out_body, char **out_type)
{
  g_autofree char *url = g_strconcat(f->server->admin_url, path, NULL);
  g_autofree char *auth = token != NULL ? g_strconcat("Authorization: Bearer ", token, NULL) : NULL;
  CURL *curl = curl_easy_init();
  struct curl_slist *headers = auth != NULL ? curl_slist_append(NULL, auth) : NULL;
  GByteArray *body = g_byte_array_new();
  curl_easy_setopt(curl, CURLOPT_URL, url);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_CAINFO, f->server->ca_path);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, body);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
  long status = 0;
  if (curl_easy_perform(curl) == CURLE_OK)
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  const char *type = NULL;
  curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &type);
  if (out_type != NULL)
    *out_type = g_strdup(type);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  if (out_body != NULL)
    *out_body = body;
  else
    g_byte_array_unref(body);
  return status;
}

static void
assert_photo_is(Fixture *f, const char *token, const char *visit_id, GBytes *want)
{
  g_autofree char *path = g_strdup_printf("/v1/visits/%s/photo", visit_id);
  g_autoptr(GByteArray) body = NULL;
  g_autofree char *type = NULL;
  g_assert_cmpint(get_raw(f, token, path, &body, &type), ==, 200);
  g_assert_cmpstr(type, ==, "image/jpeg");
  gsize len = 0;
  const guint8 *data = g_bytes_get_data(want, &len);
  g_assert_cmpmem(body->data, body->len, data, len);
}

static long
photo_status(Fixture *f, const char *token, const char *visit_id)
{
  g_autofree char *path = g_strdup_printf("/v1/visits/%s/photo", visit_id);
  return get_raw(f, token, path, NULL, NULL);
}

/* A walk-in event for a raw push, with @photo_json (the "photo" member and
 * its value, or "") appended. */
static char *
walkin_event(const char *id, const char *extra)
{
  return g_strdup_printf("{\"id\":\"%s\",\"kind\":\"walkin\",\"at\":1800000000,\"visit_id\":\"vis-%032x\","
                         "\"visitor_name\":\"Walk In\",\"terms_accepted\":true%s}", id, g_str_hash(id), extra);
}

static char *
photo_member(GBytes *photo)
{
  gsize len = 0;
  const guint8 *data = g_bytes_get_data(photo, &len);
  g_autofree char *b64 = g_base64_encode(data, len);
  return g_strdup_printf(",\"photo\":\"%s\"", b64);
}

/* ---- 1. a photo arrives, comes back to the right people only ---------------------------- */

static void
test_roundtrip(Fixture *f, gconstpointer data)
{
  g_autoptr(GBytes) photo = fake_jpeg(30000, 1);
  KioskVisitResult with = walkin(f, "山田 一郎", photo, TRUE);
  g_assert_false(with.offline);
  KioskVisitResult without = walkin(f, "No Photo", NULL, TRUE);
  g_assert_cmpint(kiosk_store_queue_length(f->store), ==, 0);

  /* The device holds no photo once the server acknowledged the walk-in, and
   * none ever reached its disk in the clear (the store is encrypted). */
  g_assert_cmpint(photos_on_device(f), ==, 0);
  g_assert_cmpint(store_count(f, "SELECT count(*) FROM visits"), ==, 2);
  g_assert_false(gk_test_tree_contains(f->dir, (const guint8 *) g_bytes_get_data(photo, NULL) + 100, 32));

  g_assert_true(listed_with_photo(f, with.visit_id));
  g_assert_false(listed_with_photo(f, without.visit_id));
  assert_photo_is(f, f->token, with.visit_id, photo);

  /* Who may see it: receptionists yes; auditors and gate security no (they
   * may list visits or check-ins, not faces); nobody without a session. */
  g_autofree char *receptionist = gk_test_server_add_account(f->server, f->token, "frontdesk", "receptionist", NULL,
                                                             STAFF_PW, NULL, NULL);
  g_autofree char *auditor = gk_test_server_add_account(f->server, f->token, "checker", "auditor", NULL, STAFF_PW,
                                                        NULL, NULL);
  g_autofree char *security = gk_test_server_add_account(f->server, f->token, "guard", "security", NULL, STAFF_PW,
                                                         NULL, NULL);
  assert_photo_is(f, receptionist, with.visit_id, photo);
  g_assert_cmpint(photo_status(f, auditor, with.visit_id), ==, 403);
  g_assert_cmpint(photo_status(f, security, with.visit_id), ==, 403);
  g_assert_cmpint(photo_status(f, NULL, with.visit_id), ==, 401);
  g_assert_cmpint(get_raw(f, auditor, "/v1/visits", NULL, NULL), ==, 200); /* the refusal is about photos */

  /* No photo, no such visit, not a visit id, not GET. */
  g_assert_cmpint(photo_status(f, f->token, without.visit_id), ==, 404);
  g_assert_cmpint(photo_status(f, f->token, "vis-00000000000000000000000000000000"), ==, 404);
  g_assert_cmpint(photo_status(f, f->token, "vis-XYZ"), ==, 400);
  g_autofree char *post = g_strdup_printf("/v1/visits/%s/photo", with.visit_id);
  g_assert_cmpint(admin(f, "POST", post, "{}", NULL), ==, 405);
  kiosk_visit_result_clear(&with);
  kiosk_visit_result_clear(&without);
}

/* ---- 2. bad photos: refused on the kiosk and by the server, nothing stored ---------------- */

static void
expect_refused(Fixture *f, const char *events)
{
  g_autofree char *body = g_strdup_printf("{\"events\":[%s]}", events);
  g_autoptr(JsonNode) reply = NULL;
  long status = device(f, body, &reply);
  if (status != 400)
    g_error("push %.200s: HTTP %ld, want 400", events, status);
}

static void
test_refused(Fixture *f, gconstpointer data)
{
  /* The kiosk refuses a photo that is not a JPEG or too large, recording nothing. */
  g_autoptr(GBytes) png = g_bytes_new_static("\x89PNG\r\n\x1a\n0000\xff\xd9", 14);
  g_autoptr(GBytes) huge = fake_jpeg(KIOSK_VISIT_PHOTO_MAX + 1, 2);
  GBytes *bad[] = { png, huge };
  for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
    KioskWalkin w = { .visitor_name = "Bad Photo", .host_id = f->host_id, .terms_accepted = TRUE, .photo = bad[i] };
    KioskVisitResult r;
    g_autoptr(GError) error = NULL;
    g_assert_false(kiosk_visit_walkin(f->store, f->client, &w, &r, &error));
    g_assert_error(error, KIOSK_VISIT_ERROR, KIOSK_VISIT_ERROR_INVALID);
  }
  g_assert_cmpint(kiosk_store_queue_length(f->store), ==, 0);
  g_assert_cmpint(store_count(f, "SELECT count(*) FROM visits"), ==, 0);
  g_assert_cmpint(photos_on_device(f), ==, 0);

  /* The server's parser: every one of these refuses its batch. */
  g_autoptr(GBytes) good = fake_jpeg(2000, 3);
  g_autoptr(GBytes) largest = fake_jpeg(SRV_VISIT_PHOTO_MAX, 4);
  g_autoptr(GBytes) too_large = fake_jpeg(SRV_VISIT_PHOTO_MAX + 1, 5);
  g_autoptr(GBytes) no_eoi = g_bytes_new_static("\xff\xd8\xff\xe0\x00\x10JFIF\x00\x00", 12);
  g_autofree char *png_member = photo_member(png);
  g_autofree char *large_member = photo_member(too_large);
  g_autofree char *no_eoi_member = photo_member(no_eoi);
  g_autofree char *good_member = photo_member(good);
  g_autofree char *good_b64 = g_base64_encode(g_bytes_get_data(good, NULL), g_bytes_get_size(good));
  g_autofree char *unpadded = g_strdup_printf(",\"photo\":\"%.*s\"", (int) strlen(good_b64) - 1, good_b64);
  g_autofree char *url_safe = g_strdup(good_member);
  g_strdelimit(url_safe, "+/", '-');
  g_autofree char *spaced = g_strdup_printf(",\"photo\":\" %s\"", good_b64 + 1);
  const char *members[] = { png_member, large_member, no_eoi_member, unpadded, url_safe, spaced,
                            ",\"photo\":\"\"", ",\"photo\":\"@@@@@@@@\"", ",\"photo\":12345" };
  for (guint i = 0; i < G_N_ELEMENTS(members); i++) {
    g_autofree char *id = g_strdup_printf("evt-badphoto-%02u", i);
    g_autofree char *ev = walkin_event(id, members[i]);
    expect_refused(f, ev);
  }
  /* A photo on anything but a walk-in. */
  g_autofree char *checkin = g_strdup_printf("{\"id\":\"evt-ckin-photo\",\"kind\":\"checkin\",\"at\":1,"
                                             "\"ticket_id\":\"00112233445566778899aabbccddeeff\"%s}", good_member);
  expect_refused(f, checkin);
  /* One bad photo refuses the whole batch: the good walk-in is not stored. */
  g_autofree char *good_event = walkin_event("evt-goodphoto-1", good_member);
  g_autofree char *bad_event = walkin_event("evt-badphoto-99", large_member);
  g_autofree char *batch = g_strdup_printf("%s,%s", good_event, bad_event);
  expect_refused(f, batch);

  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(admin(f, "GET", "/v1/visits", NULL, &reply), ==, 200);
  g_assert_cmpuint(json_array_get_length(json_object_get_array_member(json_node_get_object(reply), "visits")), ==, 0);
  g_clear_pointer(&reply, json_node_unref);
  g_assert_cmpint(admin(f, "GET", "/v1/checkins", NULL, &reply), ==, 200);
  g_assert_cmpuint(json_array_get_length(json_object_get_array_member(json_node_get_object(reply), "checkins")), ==,
                   0);
  g_clear_pointer(&reply, json_node_unref);

  /* The good walk-in alone, and one at exactly the limit, are stored with their photos. */
  g_autofree char *largest_member = photo_member(largest);
  g_autofree char *largest_event = walkin_event("evt-largest-01", largest_member);
  g_autofree char *ok_batch = g_strdup_printf("{\"events\":[%s,%s]}", good_event, largest_event);
  g_assert_cmpint(device(f, ok_batch, &reply), ==, 200);
  g_autofree char *good_visit = g_strdup_printf("vis-%032x", g_str_hash("evt-goodphoto-1"));
  g_autofree char *largest_visit = g_strdup_printf("vis-%032x", g_str_hash("evt-largest-01"));
  assert_photo_is(f, f->token, good_visit, good);
  assert_photo_is(f, f->token, largest_visit, largest);
}

/* ---- 3. offline: queued with the photo, pushed in batches that fit ------------------------ */

static void
test_offline_batches(Fixture *f, gconstpointer data)
{
  /* Eight photos of 60 KiB are more than one push may carry (the server takes
   * 1 MiB bodies): the queue goes in two batches, every photo arrives. */
  enum { N = 8 };
  GBytes *photos[N];
  KioskVisitResult visits[N];
  for (guint i = 0; i < N; i++) {
    photos[i] = fake_jpeg(60 * 1024, 10 + i);
    g_autofree char *name = g_strdup_printf("Offline Visitor %u", i);
    visits[i] = walkin(f, name, photos[i], FALSE);
    g_assert_true(visits[i].offline);
  }
  g_assert_cmpint(photos_on_device(f), ==, N);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) first = kiosk_store_pending_events(f->store, KIOSK_SYNC_PUSH_BATCH, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(first->len, ==, KIOSK_STORE_PUSH_PHOTO_BYTES / (60 * 1024));
  g_assert_cmpmem(g_bytes_get_data(((KioskEvent *) first->pdata[0])->photo, NULL), 60 * 1024,
                  g_bytes_get_data(photos[0], NULL), 60 * 1024);

  push(f);
  g_assert_cmpint(photos_on_device(f), ==, 0);
  for (guint i = 0; i < N; i++) {
    assert_photo_is(f, f->token, visits[i].visit_id, photos[i]);
    kiosk_visit_result_clear(&visits[i]);
    g_bytes_unref(photos[i]);
  }
}

/* ---- 4. retention: a photo whose walk-in never left goes anyway ---------------------------- */

static void
test_retention(Fixture *f, gconstpointer data)
{
  g_autoptr(GBytes) photo = fake_jpeg(5000, 20);
  KioskVisitResult r = walkin(f, "Long Offline", photo, FALSE);
  g_assert_cmpint(photos_on_device(f), ==, 1);
  g_autoptr(GError) error = NULL;
  /* Within the retention (default 24 h after the visit's day) nothing goes. */
  g_assert_true(kiosk_store_purge(f->store, r.at + 3600, &error));
  g_assert_cmpint(photos_on_device(f), ==, 1);
  /* Past it: the photo goes, the visit and its event wait for the server. */
  g_assert_true(kiosk_store_purge(f->store, r.at + 86400 + 24 * 3600 + 1, &error));
  g_assert_no_error(error);
  g_assert_cmpint(photos_on_device(f), ==, 0);
  g_assert_cmpint(store_count(f, "SELECT count(*) FROM visits"), ==, 1);
  g_assert_cmpint(kiosk_store_queue_length(f->store), ==, 1);
  push(f);
  g_assert_false(listed_with_photo(f, r.visit_id));
  g_assert_cmpint(photo_status(f, f->token, r.visit_id), ==, 404);
  kiosk_visit_result_clear(&r);
}

/* ---- 5. genkanctl visit photo --------------------------------------------------------------- */

/* genkanctl's session lives under $XDG_CONFIG_HOME, set once in main(). */
static char *xdg_dir;

/* Runs genkanctl with a saved session of @token; returns stdout (g_free). */
static char *
ctl(Fixture *f, const char *token, int want_status, const char *const *args)
{
  SrvCtlSession session = { .server = f->server->admin_url, .ca = f->server->ca_path, .user = (char *) "x",
                            .token = (char *) token };
  g_autoptr(GError) error = NULL;
  g_assert_true(srv_ctl_session_save(&session, &error));
  g_assert_no_error(error);
  g_autoptr(GSubprocessLauncher) l = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                                                G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_launcher_setenv(l, "XDG_CONFIG_HOME", xdg_dir, TRUE);
  g_subprocess_launcher_unsetenv(l, "GENKAN_SERVER");
  g_subprocess_launcher_unsetenv(l, "GENKAN_CA");
  g_autoptr(GPtrArray) argv = g_ptr_array_new();
  g_ptr_array_add(argv, (gpointer) CTL);
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add(argv, (gpointer) args[i]);
  g_ptr_array_add(argv, NULL);
  g_autoptr(GSubprocess) p = g_subprocess_launcher_spawnv(l, (const char *const *) argv->pdata, &error);
  g_assert_no_error(error);
  g_autofree char *out = NULL, *err = NULL;
  g_assert_true(g_subprocess_communicate_utf8(p, NULL, NULL, &out, &err, &error));
  if (g_subprocess_get_exit_status(p) != want_status)
    g_error("genkanctl %s %s: status %d\n%s%s", args[0], args[1], g_subprocess_get_exit_status(p), out, err);
  return g_steal_pointer(&out);
}

#define CTL_RUN(f, token, status, ...) ctl(f, token, status, (const char *const[]){ __VA_ARGS__, NULL })

static void
test_genkanctl(Fixture *f, gconstpointer data)
{
  g_autoptr(GBytes) photo = fake_jpeg(12345, 30);
  KioskVisitResult r = walkin(f, "Ctl Visitor", photo, TRUE);
  g_autofree char *receptionist = gk_test_server_add_account(f->server, f->token, "desk2", "receptionist", NULL,
                                                             STAFF_PW, NULL, NULL);
  g_autofree char *auditor = gk_test_server_add_account(f->server, f->token, "audit2", "auditor", NULL, STAFF_PW,
                                                        NULL, NULL);
  g_autofree char *file = g_build_filename(f->tmp, "photo.jpg", NULL);
  g_autofree char *said = CTL_RUN(f, receptionist, 0, "visit", "photo", r.visit_id, "--out", file);
  g_assert_nonnull(strstr(said, "12345 bytes"));
  g_autofree char *saved = NULL;
  gsize len = 0;
  g_assert_true(g_file_get_contents(file, &saved, &len, NULL));
  g_assert_cmpmem(saved, len, g_bytes_get_data(photo, NULL), g_bytes_get_size(photo));
  GStatBuf st;
  g_assert_cmpint(g_stat(file, &st), ==, 0);
  g_assert_cmpint(st.st_mode & 0777, ==, 0600);
  /* The list says which visits have one. */
  g_autofree char *table = CTL_RUN(f, receptionist, 0, "visit", "list");
  g_assert_nonnull(strstr(table, "PHOTO"));

  /* Refused for an auditor (nothing written), bad ids and a missing --out. */
  g_autofree char *other = g_build_filename(f->tmp, "other.jpg", NULL);
  g_free(CTL_RUN(f, auditor, 1, "visit", "photo", r.visit_id, "--out", other));
  g_assert_false(g_file_test(other, G_FILE_TEST_EXISTS));
  g_free(CTL_RUN(f, receptionist, 2, "visit", "photo", "vis-nope", "--out", other));
  g_free(CTL_RUN(f, receptionist, 2, "visit", "photo", r.visit_id));
  g_free(CTL_RUN(f, receptionist, 1, "visit", "photo", "vis-00000000000000000000000000000000", "--out", other));
  g_assert_false(g_file_test(other, G_FILE_TEST_EXISTS));
  kiosk_visit_result_clear(&r);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  /* Before any thread exists: setenv is not thread-safe. */
  xdg_dir = gk_test_make_tmpdir("genkan-photo-xdg");
  g_setenv("XDG_CONFIG_HOME", xdg_dir, TRUE);
  curl_global_init(CURL_GLOBAL_DEFAULT);
#define T(path, fn) g_test_add("/visit-photo/" path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  T("roundtrip-and-roles", test_roundtrip);
  T("refused", test_refused);
  T("offline-batches", test_offline_batches);
  T("retention", test_retention);
  T("genkanctl", test_genkanctl);
#undef T
  int rc = g_test_run();
  curl_global_cleanup();
  gk_test_rmtree(xdg_dir);
  g_free(xdg_dir);
  return rc;
}
