/* KioskEngine (the app's engine, no GTK) against a real server: enrollment,
 * settings arriving through the sync worker, the admin PIN check and its
 * lock, requests before enrollment, and a revoked device wiping itself. */
#include <gio/gio.h>
#include <string.h>

#include "gk-test-server.h"
#include "gk-test-util.h"
#include "kiosk-engine.h"
#include "kiosk-store.h"

#define OWNER_PW "engine-Owner-Passw0rd!"

typedef struct {
  GkTestServer *server;
  char *token;
  char *tmp;
  char *dir;
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer data)
{
  f->server = gk_test_server_init();
  gk_test_server_start(f->server);
  f->token = gk_test_server_login_owner(f->server, OWNER_PW);
  f->tmp = gk_test_make_tmpdir("genkan-engine");
  f->dir = g_build_filename(f->tmp, "device", NULL);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
  gk_test_server_free(f->server);
  gk_test_rmtree(f->tmp);
  g_free(f->token);
  g_free(f->tmp);
  g_free(f->dir);
}

static long
admin(Fixture *f, const char *method, const char *path, const char *body, JsonNode **reply)
{
  GkTestClient c = { .ca_path = f->server->ca_path, .token = f->token };
  g_autofree char *url = g_strconcat(f->server->admin_url, path, NULL);
  return gk_test_request(&c, method, url, body, reply, NULL);
}

static void
on_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
  *(GAsyncResult **) user_data = g_object_ref(result);
}

static GAsyncResult *
wait_result(GAsyncResult **slot)
{
  gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
  while (*slot == NULL && g_get_monotonic_time() < deadline)
    g_main_context_iteration(NULL, TRUE);
  g_assert_nonnull(*slot);
  return *slot;
}

static KioskEngineReply *
enroll(Fixture *f, KioskEngine *engine, const char *mode, GError **error)
{
  g_autofree char *req = g_strdup_printf("{\"name\":\"Engine %s\",\"mode\":\"%s\"}", mode, mode);
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(admin(f, "POST", "/v1/devices/enroll-codes", req, &reply), ==, 201);
  GAsyncResult *res = NULL;
  kiosk_engine_enroll_async(engine, gk_test_json_str(reply, "code"), on_done, &res);
  g_autoptr(GAsyncResult) r = wait_result(&res);
  return kiosk_engine_finish(engine, r, error);
}

static KioskEngineReply *
check_pin(KioskEngine *engine, const char *pin, GError **error)
{
  GAsyncResult *res = NULL;
  kiosk_engine_check_pin_async(engine, pin, on_done, &res);
  g_autoptr(GAsyncResult) r = wait_result(&res);
  return kiosk_engine_finish(engine, r, error);
}

static KioskEngineStatus *
status_of(KioskEngine *engine, KioskEngineReply **keep)
{
  GAsyncResult *res = NULL;
  kiosk_engine_status_async(engine, on_done, &res);
  g_autoptr(GAsyncResult) r = wait_result(&res);
  g_autoptr(GError) error = NULL;
  *keep = kiosk_engine_finish(engine, r, &error);
  g_assert_no_error(error);
  return &(*keep)->status;
}

static void
count_signal(KioskEngine *engine, gpointer user_data)
{
  (*(guint *) user_data)++;
}

static void
spin_until(guint *counter, guint at_least)
{
  gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
  while (*counter < at_least && g_get_monotonic_time() < deadline)
    g_main_context_iteration(NULL, TRUE);
  g_assert_cmpuint(*counter, >=, at_least);
}

static void
test_before_enrollment(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(KioskEngine) engine = kiosk_engine_new(f->dir, 1, &error);
  g_assert_no_error(error);
  g_assert_false(kiosk_engine_is_enrolled(engine));
  /* Every request but enrollment and status is refused, and says why. */
  GAsyncResult *res = NULL;
  kiosk_engine_scan_async(engine, "GK1:x", 5, KIOSK_SCAN_FOR_CHECKIN, 0, on_done, &res);
  g_autoptr(GAsyncResult) r = wait_result(&res);
  g_autoptr(KioskEngineReply) reply = kiosk_engine_finish(engine, r, &error);
  g_assert_null(reply);
  g_assert_error(error, KIOSK_ENGINE_ERROR, KIOSK_ENGINE_ERROR_NOT_ENROLLED);
  g_clear_error(&error);
  g_autoptr(KioskEngineReply) pin = check_pin(engine, "1234", &error);
  g_assert_null(pin);
  g_assert_error(error, KIOSK_ENGINE_ERROR, KIOSK_ENGINE_ERROR_NOT_ENROLLED);
  g_clear_error(&error);
  KioskEngineReply *keep = NULL;
  g_assert_false(status_of(engine, &keep)->enrolled);
  kiosk_engine_reply_free(keep);
  /* A bad code leaves the device unenrolled, with nothing on disk. */
  GAsyncResult *res2 = NULL;
  kiosk_engine_enroll_async(engine, "GKE1:garbage", on_done, &res2);
  g_autoptr(GAsyncResult) r2 = wait_result(&res2);
  g_autoptr(KioskEngineReply) bad = kiosk_engine_finish(engine, r2, &error);
  g_assert_null(bad);
  g_assert_nonnull(error);
  g_assert_false(kiosk_engine_is_enrolled(engine));
  g_autofree char *db = g_build_filename(f->dir, KIOSK_DB_NAME, NULL);
  g_assert_false(g_file_test(db, G_FILE_TEST_EXISTS));
}

static void
test_pin_and_settings(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(KioskEngine) engine = kiosk_engine_new(f->dir, 0.5, &error);
  g_assert_no_error(error);
  guint settings_changed = 0;
  g_signal_connect(engine, "settings-changed", G_CALLBACK(count_signal), &settings_changed);
  kiosk_engine_reply_free(enroll(f, engine, "reception", &error));
  g_assert_no_error(error);
  g_assert_true(kiosk_engine_is_enrolled(engine));
  g_assert_cmpstr(kiosk_engine_mode(engine), ==, "reception");

  /* No PIN set yet: the staff screen cannot be opened at all. */
  g_autoptr(KioskEngineReply) none = check_pin(engine, "1234", &error);
  g_assert_null(none);
  g_assert_error(error, KIOSK_ENGINE_ERROR, KIOSK_ENGINE_ERROR_NO_PIN);
  g_clear_error(&error);

  KioskEngineReply *keep = NULL;
  KioskEngineStatus *st = status_of(engine, &keep);
  g_autofree char *path = g_strdup_printf("/v1/devices/%s/config", st->device_id);
  kiosk_engine_reply_free(keep);
  guint before = settings_changed;
  g_autoptr(JsonNode) cfg = NULL;
  g_assert_cmpint(admin(f, "POST", path, "{\"settings\":{\"admin-pin\":\"97531\",\"mode\":\"gate\"}}", &cfg), ==,
                  200);
  spin_until(&settings_changed, before + 1);
  g_assert_cmpstr(kiosk_engine_mode(engine), ==, "gate");
  g_assert_nonnull(kiosk_engine_setting(engine, "admin-pin-hash"));

  g_autoptr(KioskEngineReply) right = check_pin(engine, "97531", &error);
  g_assert_no_error(error);
  g_assert_nonnull(right);
  /* Five wrong PINs, then even the right one is refused while locked. */
  for (int i = 0; i < 5; i++) {
    g_autoptr(KioskEngineReply) wrong = check_pin(engine, "11111", &error);
    g_assert_null(wrong);
    g_assert_error(error, KIOSK_ENGINE_ERROR, KIOSK_ENGINE_ERROR_PIN_LOCKED);
    g_assert_cmpstr(error->message, ==, "wrong PIN");
    g_clear_error(&error);
  }
  g_autoptr(KioskEngineReply) locked = check_pin(engine, "97531", &error);
  g_assert_null(locked);
  g_assert_error(error, KIOSK_ENGINE_ERROR, KIOSK_ENGINE_ERROR_PIN_LOCKED);
  g_assert_nonnull(strstr(error->message, "try again in"));
}

static void
test_revoked_wipes(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(KioskEngine) engine = kiosk_engine_new(f->dir, 0.5, &error);
  g_assert_no_error(error);
  guint revoked = 0;
  g_signal_connect(engine, "revoked", G_CALLBACK(count_signal), &revoked);
  kiosk_engine_reply_free(enroll(f, engine, "gate", &error));
  g_assert_no_error(error);
  KioskEngineReply *keep = NULL;
  KioskEngineStatus *st = status_of(engine, &keep);
  g_autofree char *path = g_strdup_printf("/v1/devices/%s/revoke", st->device_id);
  kiosk_engine_reply_free(keep);
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(admin(f, "POST", path, "{}", &reply), ==, 200);
  spin_until(&revoked, 1);
  g_assert_false(kiosk_engine_is_enrolled(engine));
  g_autofree char *db = g_build_filename(f->dir, KIOSK_DB_NAME, NULL);
  g_autofree char *kek = g_build_filename(f->dir, KIOSK_KEK_NAME, NULL);
  g_assert_false(g_file_test(db, G_FILE_TEST_EXISTS));
  g_assert_false(g_file_test(kek, G_FILE_TEST_EXISTS));
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
#define ADD(name, fn) g_test_add("/integration/kiosk-engine/" name, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD("before-enrollment", test_before_enrollment);
  ADD("pin-and-settings", test_pin_and_settings);
  ADD("revoked-wipes", test_revoked_wipes);
  return g_test_run();
}
