/* The real touchscreen app under Xvfb against a real genkan-server on loopback,
 * driven through its test interface (--test-driver: the same actions and
 * widgets a visitor touches; QR images enter the camera's scanner). Goes
 * through enrollment, walk-in, QR check-in, reception code, check-out, the
 * admin PIN, gate accept/reject, and every screen in English and Japanese,
 * saving a screenshot of each step under tests/e2e-artifacts/ in the build
 * dir and asserting what the screen shows. */
#include <gdk-pixbuf/gdk-pixbuf.h>
#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "gk-qr.h"
#include "gk-test-display.h"
#include "gk-test-server.h"
#include "gk-test-util.h"

#define KIOSK GK_BUILD_DIR "/kiosk/genkan-kiosk"
#define OWNER_PW "e2e-Owner-Passw0rd!"
#define ADMIN_PIN "246810"
#define WAIT_MS "15000"

typedef struct {
  GkTestDisplay *display;
  GkTestServer *server;
  char *token;
  char *tmp;
  char *artifacts;
} Fixture;

typedef struct {
  GSubprocess *process;
  GOutputStream *in;
  GDataInputStream *out;
  const char *lang;   /* for screenshot names */
  const char *prefix;
  Fixture *f;
} App;

/* ---- the server side ------------------------------------------------------------- */

static long
admin(Fixture *f, const char *method, const char *path, const char *body, JsonNode **reply)
{
  GkTestClient c = { .ca_path = f->server->ca_path, .token = f->token };
  g_autofree char *url = g_strconcat(f->server->admin_url, path, NULL);
  return gk_test_request(&c, method, url, body, reply, NULL);
}

static char *
enroll_code(Fixture *f, const char *name, const char *mode)
{
  g_autofree char *req = g_strdup_printf("{\"name\":\"%s\",\"mode\":\"%s\"}", name, mode);
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(admin(f, "POST", "/v1/devices/enroll-codes", req, &reply), ==, 201);
  return g_strdup(gk_test_json_str(reply, "code"));
}

static gint64
add_host(Fixture *f, const char *json)
{
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(admin(f, "POST", "/v1/hosts", json, &reply), ==, 201);
  return gk_test_json_int(reply, "id");
}

/* Issues a ticket; writes its QR to @png; returns the reply (ticket_id, text,
 * reception_code). */
static JsonNode *
issue(Fixture *f, const char *visitor, gint64 host, const char *png)
{
  g_autofree char *req = g_strdup_printf("{\"visitor\":\"%s\",\"host\":\"%" G_GINT64_FORMAT "\"}", visitor, host);
  JsonNode *reply = NULL;
  g_assert_cmpint(admin(f, "POST", "/v1/tickets", req, &reply), ==, 201);
  g_autoptr(GError) error = NULL;
  g_assert_true(gk_qr_write_png(gk_test_json_str(reply, "text"), png, 8, &error));
  g_assert_no_error(error);
  return reply;
}

/* The id of the only device with @name. */
static char *
device_id(Fixture *f, const char *name)
{
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(admin(f, "GET", "/v1/devices", NULL, &reply), ==, 200);
  JsonArray *devices = json_object_get_array_member(json_node_get_object(reply), "devices");
  for (guint i = 0; i < json_array_get_length(devices); i++) {
    JsonObject *d = json_array_get_object_element(devices, i);
    if (g_strcmp0(json_object_get_string_member(d, "name"), name) == 0)
      return g_strdup(json_object_get_string_member(d, "id"));
  }
  g_assert_not_reached();
}

static void
configure_device(Fixture *f, const char *id, const char *settings_json)
{
  g_autofree char *path = g_strdup_printf("/v1/devices/%s/config", id);
  g_autofree char *body = g_strdup_printf("{\"settings\":%s}", settings_json);
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(admin(f, "POST", path, body, &reply), ==, 200);
}

/* ---- the app --------------------------------------------------------------------------- */

/* @camera: the app's --camera source ("none", "image:FILE"). */
static App *
app_start_camera(Fixture *f, const char *data_dir, const char *lang, const char *camera)
{
  g_autoptr(GSubprocessLauncher) l =
    g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_subprocess_launcher_setenv(l, "DISPLAY", gk_test_display_name(f->display), TRUE);
  g_subprocess_launcher_setenv(l, "GDK_BACKEND", "x11", TRUE);
  /* The cairo renderer: what a kiosk without a GPU runs, and deterministic. */
  g_subprocess_launcher_setenv(l, "GSK_RENDERER", "cairo", TRUE);
  g_subprocess_launcher_setenv(l, "GENKAN_AUDIO_SINK", "fakesink", TRUE);
  g_subprocess_launcher_setenv(l, "GTK_A11Y", "none", TRUE);
  g_subprocess_launcher_unsetenv(l, "LANGUAGE");
  g_autoptr(GError) error = NULL;
  App *app = g_new0(App, 1);
  app->f = f;
  app->lang = lang;
  app->process = g_subprocess_launcher_spawn(l, &error, KIOSK, "--data-dir", data_dir, "--camera", camera,
                                             "--language", lang, "--sync-interval", "1", "--redeem-timeout-ms",
                                             "3000", "--test-driver", NULL);
  g_assert_no_error(error);
  app->in = g_object_ref(g_subprocess_get_stdin_pipe(app->process));
  app->out = g_data_input_stream_new(g_subprocess_get_stdout_pipe(app->process));
  return app;
}

static App *
app_start(Fixture *f, const char *data_dir, const char *lang)
{
  return app_start_camera(f, data_dir, lang, "none");
}

/* Sends one command, returns its answer (asserting "ok" unless @may_fail). */
static JsonNode *
cmd_full(App *app, gboolean may_fail, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

static JsonNode *
cmd_full(App *app, gboolean may_fail, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *line = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  g_autofree char *with_nl = g_strconcat(line, "\n", NULL);
  g_autoptr(GError) error = NULL;
  g_assert_true(g_output_stream_write_all(app->in, with_nl, strlen(with_nl), NULL, NULL, &error));
  g_assert_no_error(error);
  g_autofree char *answer = g_data_input_stream_read_line_utf8(app->out, NULL, NULL, &error);
  g_assert_no_error(error);
  if (answer == NULL)
    g_error("the app ended during `%s`", line);
  if (g_test_verbose())
    g_printerr("> %s\n< %s\n", line, answer);
  JsonNode *node = json_from_string(answer, &error);
  g_assert_no_error(error);
  JsonObject *o = json_node_get_object(node);
  if (!may_fail && !json_object_get_boolean_member(o, "ok"))
    g_error("`%s` failed: %s", line, json_object_get_string_member_with_default(o, "error", "?"));
  return node;
}

#define cmd(app, ...) json_node_unref(cmd_full(app, FALSE, __VA_ARGS__))

static JsonNode *
wait_page(App *app, const char *page)
{
  return cmd_full(app, FALSE, "wait-page %s " WAIT_MS, page);
}

/* Asserts that a visible text of the current screen contains @needle. */
static void
assert_shows(JsonNode *state, const char *needle)
{
  JsonArray *texts = json_object_get_array_member(json_node_get_object(state), "texts");
  g_autoptr(GString) all = g_string_new(NULL);
  for (guint i = 0; i < json_array_get_length(texts); i++) {
    const char *t = json_array_get_string_element(texts, i);
    if (strstr(t, needle) != NULL)
      return;
    g_string_append_printf(all, "\n  \"%s\"", t);
  }
  g_error("the screen does not show \"%s\"; it shows:%s", needle, all->str);
}

static void
assert_not_shows(JsonNode *state, const char *needle)
{
  JsonArray *texts = json_object_get_array_member(json_node_get_object(state), "texts");
  for (guint i = 0; i < json_array_get_length(texts); i++)
    g_assert_null(strstr(json_array_get_string_element(texts, i), needle));
}

static void
expect_text(App *app, const char *needle)
{
  g_autoptr(JsonNode) state = cmd_full(app, FALSE, "wait-text %s " WAIT_MS, needle);
  assert_shows(state, needle);
}

/* Saves a screenshot named STEP-LANG.png and checks it is a real picture of
 * the window (the right size, and not one flat colour). */
static char *
shot_path(App *app, const char *step)
{
  char *path = g_strdup_printf("%s/%s%s-%s.png", app->f->artifacts, app->prefix != NULL ? app->prefix : "", step,
                               app->lang);
  cmd(app, "screenshot %s", path);
  g_autoptr(GError) error = NULL;
  g_autoptr(GdkPixbuf) pixbuf = gdk_pixbuf_new_from_file(path, &error);
  g_assert_no_error(error);
  g_assert_cmpint(gdk_pixbuf_get_width(pixbuf), >=, 800);
  g_assert_cmpint(gdk_pixbuf_get_height(pixbuf), >=, 600);
  const guint8 *px = gdk_pixbuf_read_pixels(pixbuf);
  int n = gdk_pixbuf_get_n_channels(pixbuf), stride = gdk_pixbuf_get_rowstride(pixbuf);
  gboolean varied = FALSE;
  for (int y = 0; y < gdk_pixbuf_get_height(pixbuf) && !varied; y += 7)
    for (int x = 0; x < gdk_pixbuf_get_width(pixbuf) && !varied; x += 7)
      varied = memcmp(px + y * stride + x * n, px, 3) != 0;
  g_assert_true(varied);
  return path;
}

static void
shot(App *app, const char *step)
{
  g_free(shot_path(app, step));
}

/* The colour at the middle of the top fifth of a screenshot: the gate's
 * verdict background. */
static void
sample_colour(const char *path, guint8 rgb[3])
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GdkPixbuf) pixbuf = gdk_pixbuf_new_from_file(path, &error);
  g_assert_no_error(error);
  const guint8 *px = gdk_pixbuf_read_pixels(pixbuf);
  int x = 30, y = gdk_pixbuf_get_height(pixbuf) / 5;
  memcpy(rgb, px + y * gdk_pixbuf_get_rowstride(pixbuf) + x * gdk_pixbuf_get_n_channels(pixbuf), 3);
}

static void
app_stop(App *app)
{
  cmd(app, "quit");
  g_autoptr(GError) error = NULL;
  g_output_stream_close(app->in, NULL, NULL);
  g_assert_true(g_subprocess_wait(app->process, NULL, &error));
  g_assert_true(g_subprocess_get_if_exited(app->process));
  g_assert_cmpint(g_subprocess_get_exit_status(app->process), ==, 0);
  g_object_unref(app->in);
  g_object_unref(app->out);
  g_object_unref(app->process);
  g_free(app);
}

/* ---- fixture ---------------------------------------------------------------------------- */

static void
fixture_setup(Fixture *f, gconstpointer data)
{
  f->display = gk_test_display_start(1280, 800);
  g_assert_nonnull(f->display);
  f->server = gk_test_server_init();
  gk_test_server_start(f->server);
  f->token = gk_test_server_login_owner(f->server, OWNER_PW);
  f->tmp = gk_test_make_tmpdir("genkan-e2e");
  f->artifacts = g_build_filename(GK_BUILD_DIR, "tests", "e2e-artifacts", NULL);
  g_mkdir_with_parents(f->artifacts, 0755);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
  gk_test_server_free(f->server);
  gk_test_display_stop(f->display);
  gk_test_rmtree(f->tmp);
  g_free(f->token);
  g_free(f->tmp);
  g_free(f->artifacts);
}

/* ---- reception --------------------------------------------------------------------------- */

static void
walkin(App *app)
{
  cmd(app, "action win.start-walkin");
  json_node_unref(wait_page(app, "walkin"));
  shot(app, "walkin");
  /* Host search by reading (kana), as a Japanese visitor types it. */
  cmd(app, "type walkin_name Grace Hopper");
  cmd(app, "type walkin_company Harbor Labs");
  cmd(app, "type walkin_host_search やまだ");
  expect_text(app, "山田 花子");
  cmd(app, "choose 0");
  shot(app, "walkin-filled");
  cmd(app, "action win.walkin-next");
  g_autoptr(JsonNode) terms = wait_page(app, "terms");
  assert_shows(terms, "Visitors must wear their badge");
  shot(app, "terms");
  cmd(app, "action win.accept-terms");
  g_autoptr(JsonNode) done = wait_page(app, "done");
  assert_shows(done, "Grace Hopper");
  assert_shows(done, "山田 花子");
  shot(app, "walkin-done");
}

static gboolean
server_has_visit(Fixture *f, const char *visitor)
{
  g_autoptr(JsonNode) reply = NULL;
  if (admin(f, "GET", "/v1/visits", NULL, &reply) != 200)
    return FALSE;
  g_autoptr(JsonGenerator) gen = json_generator_new();
  json_generator_set_root(gen, reply);
  g_autofree char *text = json_generator_to_data(gen, NULL);
  return strstr(text, visitor) != NULL;
}

/* The server's id of @visitor's visit. */
static char *
visit_id(Fixture *f, const char *visitor)
{
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(admin(f, "GET", "/v1/visits", NULL, &reply), ==, 200);
  JsonArray *visits = json_object_get_array_member(json_node_get_object(reply), "visits");
  for (guint i = 0; i < json_array_get_length(visits); i++) {
    JsonObject *v = json_array_get_object_element(visits, i);
    if (g_strcmp0(json_object_get_string_member(v, "visitor"), visitor) == 0)
      return g_strdup(json_object_get_string_member(v, "id"));
  }
  g_error("no visit of %s on the server", visitor);
}

/* The host's webhook: the notification test's receiver on a free loopback
 * port, logging every delivery to @log. Returns the process; *out_url its URL. */
static GSubprocess *
start_receiver(Fixture *f, const char *log, char **out_url)
{
  g_autofree char *port_file = g_build_filename(f->tmp, "receiver.port", NULL);
  g_autoptr(GError) error = NULL;
  GSubprocess *p = g_subprocess_new(G_SUBPROCESS_FLAGS_NONE, &error, "python3",
                                    GK_SOURCE_DIR "/tests/integration/notify-receiver.py", "--port-file", port_file,
                                    "--log", log, "--max-seconds", "300", NULL);
  g_assert_no_error(error);
  g_autofree char *port = NULL;
  for (int i = 0; i < 200 && !g_file_get_contents(port_file, &port, NULL, NULL); i++)
    g_usleep(50 * 1000);
  g_assert_nonnull(port);
  *out_url = g_strdup_printf("http://127.0.0.1:%s/hooks/yamada", g_strstrip(port));
  return p;
}

/* Waits until the receiver logged a delivery whose body contains @needle. */
static void
assert_delivered(const char *log, const char *needle)
{
  for (int i = 0; i < 300; i++) {
    g_autofree char *text = NULL;
    if (g_file_get_contents(log, &text, NULL, NULL) && strstr(text, needle) != NULL)
      return;
    g_usleep(50 * 1000);
  }
  g_error("the host's webhook never received \"%s\"", needle);
}

static void
test_reception(Fixture *f, gconstpointer data)
{
  gint64 host = add_host(f, "{\"name\":\"山田 花子\",\"reading\":\"やまだ はなこ\",\"department\":\"総務部\"}");
  add_host(f, "{\"name\":\"John Smith\",\"reading\":\"じょん すみす\",\"department\":\"Sales\"}");
  /* Yamada reads a webhook channel; John Smith has none. */
  g_autofree char *hook_log = g_build_filename(f->tmp, "hook.log", NULL);
  g_autofree char *hook_url = NULL;
  g_autoptr(GSubprocess) receiver = start_receiver(f, hook_log, &hook_url);
  g_autofree char *notify = g_strdup_printf("{\"host\":\"%" G_GINT64_FORMAT "\",\"channel\":\"webhook\","
                                            "\"target\":\"%s\",\"language\":\"en\"}", host, hook_url);
  g_autoptr(JsonNode) notify_reply = NULL;
  g_assert_cmpint(admin(f, "POST", "/v1/notify/host", notify, &notify_reply), ==, 200);
  g_autofree char *dir = g_build_filename(f->tmp, "lobby", NULL);
  /* Invitations are issued days ahead: the kiosk's first sync brings them. */
  g_autofree char *png = g_build_filename(f->tmp, "ada.png", NULL);
  json_node_unref(issue(f, "Ada Lovelace", host, png));
  g_autofree char *png2 = g_build_filename(f->tmp, "alan.png", NULL);
  g_autoptr(JsonNode) invited = issue(f, "Alan Turing", host, png2);

  /* First start: the enrollment screen; the installer types the code. */
  App *app = app_start(f, dir, "en");
  g_autoptr(JsonNode) first = wait_page(app, "enroll");
  assert_shows(first, "Set up this device");
  shot(app, "enroll");
  cmd(app, "type enroll_entry GKE1:not-a-code");
  cmd(app, "action win.enroll-typed");
  expect_text(app, "Enrollment failed");
  g_autofree char *code = enroll_code(f, "Lobby", "reception");
  cmd(app, "type enroll_entry %s", code);
  cmd(app, "action win.enroll-typed");
  g_autoptr(JsonNode) welcome = wait_page(app, "welcome");
  assert_shows(welcome, "I have a QR code");

  /* Remote settings reach the running kiosk at its next sync, the site's
   * logo too. */
  g_autofree char *id = device_id(f, "Lobby");
  g_autofree char *logo = gk_test_png_base64(180, 60);
  g_autofree char *settings =
    g_strdup_printf("{\"site-text\":\"Genkan HQ Tokyo\",\"terms-text\":\"Visitors must wear their badge at all "
                    "times. Photography is not allowed.\",\"admin-pin\":\"" ADMIN_PIN "\",\"walkin-required\":"
                    "\"name,company,host\",\"logo\":\"%s\"}", logo);
  configure_device(f, id, settings);
  expect_text(app, "Genkan HQ Tokyo");
  expect_text(app, "image: Site logo 180x60");
  shot(app, "welcome");

  /* A required field left empty is explained, and nothing is recorded. */
  cmd(app, "action win.start-walkin");
  json_node_unref(wait_page(app, "walkin"));
  cmd(app, "type walkin_name Nobody");
  cmd(app, "action win.walkin-next");
  expect_text(app, "Please enter your company.");
  cmd(app, "action win.home");

  walkin(app);
  g_assert_true(server_has_visit(f, "Grace Hopper"));
  assert_delivered(hook_log, "Grace Hopper");

  /* A host without a channel: the kiosk does not claim he was told. */
  cmd(app, "action win.start-walkin");
  json_node_unref(wait_page(app, "walkin"));
  cmd(app, "type walkin_name Linus Smith");
  cmd(app, "type walkin_company Example KK");
  cmd(app, "type walkin_host_search John");
  expect_text(app, "John Smith");
  cmd(app, "choose 0");
  cmd(app, "action win.walkin-next");
  json_node_unref(wait_page(app, "terms"));
  cmd(app, "action win.accept-terms");
  g_autoptr(JsonNode) untold = wait_page(app, "done");
  assert_shows(untold, "the reception desk will contact your host");
  assert_not_shows(untold, "Your host has been notified.");

  /* QR check-in: the ticket's image enters the camera's scanner. */
  cmd(app, "action win.home");
  cmd(app, "action win.start-qr");
  g_autoptr(JsonNode) scan = wait_page(app, "scan");
  assert_shows(scan, "Hold your QR code up to the camera");
  shot(app, "scan");
  cmd(app, "scan-image %s", png);
  g_autoptr(JsonNode) done = wait_page(app, "done");
  assert_shows(done, "Welcome, Ada Lovelace");
  assert_shows(done, "Your host has been notified.");
  assert_delivered(hook_log, "Ada Lovelace");
  shot(app, "qr-done");
  /* The same ticket again is refused with the reason. */
  cmd(app, "action win.start-qr");
  json_node_unref(wait_page(app, "scan"));
  cmd(app, "scan-image %s", png);
  expect_text(app, "This ticket has already been used");
  shot(app, "qr-used");

  /* Reception code: a wrong one first. */
  const char *rcode = gk_test_json_str(invited, "reception_code");
  g_assert_nonnull(rcode);
  cmd(app, "action win.home");
  cmd(app, "action win.start-code");
  json_node_unref(wait_page(app, "code"));
  const char *wrong = g_str_has_prefix(rcode, "0") ? "11111111K" : "00000000K";
  cmd(app, "keypad %s", wrong);
  expect_text(app, "This code is not valid");
  shot(app, "code-wrong");
  cmd(app, "keypad %sK", rcode);
  g_autoptr(JsonNode) code_done = wait_page(app, "done");
  assert_shows(code_done, "Welcome, Alan Turing");
  shot(app, "code-done");

  /* Check-out with the badge: its QR (GKB1: + visit id) shown on the welcome
   * screen checks Ada out. */
  g_autofree char *visit = visit_id(f, "Ada Lovelace");
  g_autofree char *badge_text = g_strconcat("GKB1:", visit, NULL);
  g_autofree char *badge_png = g_build_filename(f->tmp, "badge.png", NULL);
  g_autoptr(GError) qr_error = NULL;
  g_assert_true(gk_qr_write_png(badge_text, badge_png, 8, &qr_error));
  cmd(app, "action win.home");
  json_node_unref(wait_page(app, "welcome"));
  cmd(app, "scan-image %s", badge_png);
  g_autoptr(JsonNode) badge_bye = wait_page(app, "done");
  assert_shows(badge_bye, "Goodbye, Ada Lovelace");
  shot(app, "badge-checkout");

  /* Check-out by name on the leaving screen: nobody is listed before a name
   * is typed. */
  cmd(app, "action win.start-leaving");
  g_autoptr(JsonNode) leaving = wait_page(app, "leaving");
  assert_not_shows(leaving, "Grace");
  shot(app, "leaving");
  cmd(app, "type leaving_search Grac");
  expect_text(app, "Grace Hopper");
  cmd(app, "choose 0");
  g_autoptr(JsonNode) bye = wait_page(app, "done");
  assert_shows(bye, "Goodbye, Grace Hopper");
  shot(app, "checkout-done");

  /* Staff: a wrong PIN is refused, the right one shows the device. */
  cmd(app, "action win.admin");
  json_node_unref(wait_page(app, "admin/pin"));
  cmd(app, "keypad 1111K");
  expect_text(app, "Wrong PIN.");
  shot(app, "admin-pin");
  cmd(app, "keypad %sK", ADMIN_PIN);
  json_node_unref(wait_page(app, "admin/status"));
  expect_text(app, id); /* the status arrives from the engine thread */
  shot(app, "admin-status");
  cmd(app, "action win.home");

  g_subprocess_force_exit(receiver);
  /* Personal data leaves the screen when the flow ends. */
  g_autoptr(JsonNode) home = wait_page(app, "welcome");
  assert_not_shows(home, "Grace");
  assert_not_shows(home, "Ada");
  app_stop(app);
}

/* Every reception screen in Japanese. */
static void
test_japanese(Fixture *f, gconstpointer data)
{
  gint64 host = add_host(f, "{\"name\":\"山田 花子\",\"reading\":\"やまだ はなこ\",\"department\":\"総務部\"}");
  g_autofree char *dir = g_build_filename(f->tmp, "lobby-ja", NULL);
  App *app = app_start(f, dir, "ja");
  g_autoptr(JsonNode) first = wait_page(app, "enroll");
  assert_shows(first, "この端末の設定");
  shot(app, "enroll");
  g_autofree char *code = enroll_code(f, "Lobby JA", "reception");
  cmd(app, "type enroll_entry %s", code);
  cmd(app, "action win.enroll-typed");
  json_node_unref(wait_page(app, "welcome"));
  g_autofree char *id = device_id(f, "Lobby JA");
  configure_device(f, id,
                   "{\"site-text\":\"玄関 本社\",\"terms-text\":\"入館中はバッジを着用してください。"
                   "撮影は禁止です。\",\"admin-pin\":\"" ADMIN_PIN "\"}");
  expect_text(app, "玄関 本社");
  g_autoptr(JsonNode) welcome = cmd_full(app, FALSE, "state");
  assert_shows(welcome, "ようこそ");
  assert_shows(welcome, "QRコードをお持ちの方");
  shot(app, "welcome");

  cmd(app, "action win.start-qr");
  expect_text(app, "QRコードをカメラにかざしてください");
  shot(app, "scan");
  cmd(app, "action win.start-code");
  expect_text(app, "招待状の受付番号を入力してください");
  shot(app, "code");
  cmd(app, "action win.start-walkin");
  json_node_unref(wait_page(app, "walkin"));
  cmd(app, "type walkin_name 佐藤 一郎");
  cmd(app, "type walkin_host_search やまだ");
  expect_text(app, "山田 花子");
  cmd(app, "choose 0");
  shot(app, "walkin");
  cmd(app, "action win.walkin-next");
  expect_text(app, "入館中はバッジを着用してください");
  shot(app, "terms");
  cmd(app, "action win.accept-terms");
  g_autoptr(JsonNode) done = wait_page(app, "done");
  assert_shows(done, "佐藤 一郎 様、ようこそ");
  shot(app, "done");
  cmd(app, "action win.start-leaving");
  expect_text(app, "お帰りの際はバッジのQRコードをかざしてください");
  shot(app, "leaving");
  cmd(app, "action win.admin");
  expect_text(app, "管理者PIN");
  shot(app, "admin-pin");
  cmd(app, "keypad %sK", ADMIN_PIN);
  expect_text(app, "端末の状態");
  shot(app, "admin-status");
  /* The language switch on the welcome screen goes both ways. */
  cmd(app, "action win.home");
  cmd(app, "action app.language 'en'");
  expect_text(app, "Welcome");
  cmd(app, "action app.language 'ja'");
  expect_text(app, "ようこそ");
  (void) host;
  app_stop(app);
}

/* ---- gate ---------------------------------------------------------------------------------- */

static void
test_gate(Fixture *f, gconstpointer data)
{
  gint64 host = add_host(f, "{\"name\":\"Gate Host\"}");
  g_autofree char *dir = g_build_filename(f->tmp, "gate", NULL);
  const char *langs[] = { "en", "ja" };
  for (guint l = 0; l < G_N_ELEMENTS(langs); l++) {
    g_autofree char *ldir = g_strdup_printf("%s-%s", dir, langs[l]);
    g_autofree char *name = g_strdup_printf("Gate %s", langs[l]);
    App *app = app_start(f, ldir, langs[l]);
    app->prefix = "gate-";
    json_node_unref(wait_page(app, "enroll"));
    g_autofree char *code = enroll_code(f, name, "gate");
    cmd(app, "type enroll_entry %s", code);
    cmd(app, "action win.enroll-typed");
    g_autoptr(JsonNode) ready = wait_page(app, "gate");
    assert_shows(ready, l == 0 ? "Scan your ticket" : "チケットをかざしてください");
    shot(app, "ready");

    g_autofree char *png = g_strdup_printf("%s/gate-%s.png", f->tmp, langs[l]);
    json_node_unref(issue(f, "Gate Visitor", host, png));
    cmd(app, "scan-image %s", png);
    expect_text(app, l == 0 ? "ACCEPTED" : "入場OK");
    g_autofree char *ok_png = shot_path(app, "accepted");
    guint8 rgb[3];
    sample_colour(ok_png, rgb);
    g_assert_cmpint(rgb[1], >, rgb[0] + 40); /* green */

    cmd(app, "scan-image %s", png);
    expect_text(app, l == 0 ? "This ticket has already been used" : "このチケットは使用済みです");
    g_autofree char *used_png = shot_path(app, "already-used");
    sample_colour(used_png, rgb);
    g_assert_cmpint(rgb[0], >, rgb[1] + 40); /* red */
    g_autoptr(JsonNode) used = cmd_full(app, FALSE, "state");
    assert_shows(used, l == 0 ? "First used at" : "初回使用");

    /* Not a ticket at all. */
    g_autofree char *junk = g_strdup_printf("%s/junk.png", f->tmp);
    g_autoptr(GError) error = NULL;
    g_assert_true(gk_qr_write_png("https://example.invalid/not-a-ticket", junk, 8, &error));
    cmd(app, "scan-image %s", junk);
    expect_text(app, l == 0 ? "This is not a Genkan ticket" : "Genkan のチケットではありません");
    shot(app, "not-a-ticket");

    /* Server gone: the gate decides on its own, says so discreetly, and the
     * check-in waits in the queue. */
    if (l == 0) {
      g_autofree char *png3 = g_strdup_printf("%s/gate-offline.png", f->tmp);
      json_node_unref(issue(f, "Offline Visitor", host, png3));
      /* Let a sync bring the new ticket first. */
      g_usleep(2500 * 1000);
      gk_test_server_stop(f->server);
      cmd(app, "scan-image %s", png3);
      expect_text(app, "ACCEPTED");
      expect_text(app, "Offline");
      shot(app, "offline-accepted");
      gk_test_server_start(f->server);
    }

    /* Frame-to-verdict latencies were measured for each scan shown. */
    g_autoptr(JsonNode) lat = cmd_full(app, FALSE, "latencies");
    JsonArray *values = json_object_get_array_member(json_node_get_object(lat), "latencies_us");
    g_assert_cmpuint(json_array_get_length(values), >=, 3);
    app_stop(app);
  }
}

/* ---- walk-in photo ---------------------------------------------------------------------- */

/* A camera picture that is no QR code (the scanner sees every frame). */
static char *
camera_picture(Fixture *f)
{
  g_autoptr(GdkPixbuf) p = gdk_pixbuf_new(GDK_COLORSPACE_RGB, FALSE, 8, 640, 480);
  guint8 *px = gdk_pixbuf_get_pixels(p);
  int stride = gdk_pixbuf_get_rowstride(p);
  for (int y = 0; y < 480; y++)
    for (int x = 0; x < 640; x++) {
      guint8 *d = px + y * stride + x * 3;
      gboolean face = (x - 320) * (x - 320) * 9 + (y - 240) * (y - 240) * 16 < 160 * 160 * 9;
      d[0] = face ? 230 : (guint8) (x * 255 / 640);
      d[1] = face ? 190 : (guint8) (y * 255 / 480);
      d[2] = face ? 160 : 120;
    }
  char *path = g_build_filename(f->tmp, "camera.png", NULL);
  g_autoptr(GError) error = NULL;
  g_assert_true(gdk_pixbuf_save(p, path, "png", &error, NULL));
  return path;
}

/* Enrolls a fresh reception app as @name (the installer types the code);
 * returns the device id (g_free). */
static char *
photo_kiosk_enroll(App *app, const char *name)
{
  app->prefix = "photo-";
  json_node_unref(wait_page(app, "enroll"));
  g_autofree char *code = enroll_code(app->f, name, "reception");
  cmd(app, "type enroll_entry %s", code);
  cmd(app, "action win.enroll-typed");
  json_node_unref(wait_page(app, "welcome"));
  return device_id(app->f, name);
}

/* Name, host, next (and the terms when the site has some): on to the photo. */
static void
photo_walkin_form(App *app, const char *name, gboolean terms)
{
  cmd(app, "action win.start-walkin");
  json_node_unref(wait_page(app, "walkin"));
  cmd(app, "type walkin_name %s", name);
  cmd(app, "type walkin_host_search やまだ");
  expect_text(app, "山田 花子");
  cmd(app, "choose 0");
  cmd(app, "action win.walkin-next");
  if (terms) {
    json_node_unref(wait_page(app, "terms"));
    cmd(app, "action win.accept-terms");
  }
  json_node_unref(wait_page(app, "photo"));
}

/* @action does nothing on the photo screen as it is: it stays, showing @shown. */
static void
assert_photo_action_ignored(App *app, const char *action, const char *shown)
{
  json_node_unref(cmd_full(app, TRUE, "action %s", action));
  g_autoptr(JsonNode) state = cmd_full(app, FALSE, "state");
  g_assert_cmpstr(json_object_get_string_member(json_node_get_object(state), "page"), ==, "photo");
  assert_shows(state, shown);
}

/* GET /v1/visits: @visitor's visit has a photo (and its id in *out_id). */
static gboolean
visit_has_photo(Fixture *f, const char *visitor, char **out_id)
{
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(admin(f, "GET", "/v1/visits", NULL, &reply), ==, 200);
  JsonArray *visits = json_object_get_array_member(json_node_get_object(reply), "visits");
  for (guint i = 0; i < json_array_get_length(visits); i++) {
    JsonObject *v = json_array_get_object_element(visits, i);
    if (g_strcmp0(json_object_get_string_member(v, "visitor"), visitor) != 0)
      continue;
    if (out_id != NULL)
      *out_id = g_strdup(json_object_get_string_member(v, "id"));
    return json_object_get_boolean_member(v, "photo");
  }
  g_error("no visit of %s on the server", visitor);
}

/* The photo the server keeps for @visit_id, decoded (it must be a JPEG). */
static GdkPixbuf *
server_photo(Fixture *f, const char *visit_id)
{
  g_autofree char *url = g_strdup_printf("%s/v1/visits/%s/photo", f->server->admin_url, visit_id);
  g_autofree char *jpeg = g_build_filename(f->tmp, "server-photo.jpg", NULL);
  g_autofree char *auth = g_strconcat("Authorization: Bearer ", f->token, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) p = g_subprocess_new(G_SUBPROCESS_FLAGS_STDOUT_SILENCE, &error, "curl", "-sf", "--cacert",
                                              f->server->ca_path, "-H", auth, "-o", jpeg, url, NULL);
  g_assert_no_error(error);
  g_assert_true(g_subprocess_wait_check(p, NULL, &error));
  g_assert_no_error(error);
  g_autofree char *bytes = NULL;
  gsize len = 0;
  g_assert_true(g_file_get_contents(jpeg, &bytes, &len, NULL));
  g_assert_cmpuint(len, >, 3);
  g_assert_cmpmem(bytes, 3, "\xff\xd8\xff", 3);
  GdkPixbuf *pixbuf = gdk_pixbuf_new_from_file(jpeg, &error);
  g_assert_no_error(error);
  return pixbuf;
}

/* A site that takes photos: walk-in → terms → photo (take, retake, use) →
 * done, in English and Japanese, with a camera (a still picture) and without. */
static void
test_photo(Fixture *f, gconstpointer data)
{
  add_host(f, "{\"name\":\"山田 花子\",\"reading\":\"やまだ はなこ\",\"department\":\"総務部\"}");
  g_autofree char *picture = camera_picture(f);
  g_autofree char *camera = g_strconcat("image:", picture, NULL);
  g_autofree char *dir = g_build_filename(f->tmp, "lobby-photo", NULL);
  App *app = app_start_camera(f, dir, "en", camera);
  g_autofree char *id = photo_kiosk_enroll(app, "Lobby Photo");
  configure_device(f, id, "{\"photo\":\"true\",\"site-text\":\"Photo HQ\","
                          "\"terms-text\":\"Visitors must wear their badge.\"}");
  expect_text(app, "Photo HQ");

  const char *langs[] = { "en", "ja" };
  const char *names[] = { "Photo Visitor", "写真 花子" };
  for (guint l = 0; l < G_N_ELEMENTS(langs); l++) {
    gboolean en = l == 0;
    if (!en) {
      cmd(app, "action app.language 'ja'");
      expect_text(app, "ようこそ");
      app->lang = "ja";
    }
    photo_walkin_form(app, names[l], TRUE);
    /* The live camera, the face guide and one way on: take the photo. */
    expect_text(app, en ? "Take photo" : "撮影する");
    g_autoptr(JsonNode) live = cmd_full(app, FALSE, "state");
    assert_shows(live, en ? "shown only to reception staff" : "受付担当者のみ");
    assert_not_shows(live, en ? "Continue without photo" : "写真なしで進む");
    shot(app, "live");
    /* Nothing to use before a photo was taken. */
    assert_photo_action_ignored(app, "win.use-photo", en ? "Take photo" : "撮影する");
    cmd(app, "action win.take-photo");
    /* Asked once the JPEG is made (the buttons show, disabled, meanwhile). */
    expect_text(app, en ? "Is this photo all right?" : "この写真でよろしいですか");
    g_autoptr(JsonNode) still = cmd_full(app, FALSE, "state");
    assert_shows(still, en ? "Use this photo" : "この写真を使う");
    assert_shows(still, en ? "Retake" : "撮り直す");
    shot(app, "still");
    cmd(app, "action win.retake-photo");
    expect_text(app, en ? "Take photo" : "撮影する");
    cmd(app, "action win.take-photo");
    expect_text(app, en ? "Is this photo all right?" : "この写真でよろしいですか");
    cmd(app, "action win.use-photo");
    g_autoptr(JsonNode) done = wait_page(app, "done");
    assert_shows(done, names[l]);
    shot(app, "done");

    /* The server has it: a JPEG of the camera's frame, at most 480 px. */
    g_autofree char *visit = NULL;
    g_assert_true(visit_has_photo(f, names[l], &visit));
    g_autoptr(GdkPixbuf) photo = server_photo(f, visit);
    g_assert_cmpint(MAX(gdk_pixbuf_get_width(photo), gdk_pixbuf_get_height(photo)), ==, 480);
    g_assert_cmpint(gdk_pixbuf_get_width(photo) * 3, ==, gdk_pixbuf_get_height(photo) * 4);
    /* The middle is the picture's face colour (JPEG is lossy: near it). */
    const guint8 *px = gdk_pixbuf_read_pixels(photo);
    const guint8 *mid = px + (gdk_pixbuf_get_height(photo) / 2) * gdk_pixbuf_get_rowstride(photo) +
                        (gdk_pixbuf_get_width(photo) / 2) * gdk_pixbuf_get_n_channels(photo);
    g_assert_cmpint(ABS(mid[0] - 230), <, 24);
    g_assert_cmpint(ABS(mid[1] - 190), <, 24);
    g_assert_cmpint(ABS(mid[2] - 160), <, 24);
    cmd(app, "action win.home");
    /* The flow is over: nothing of the visitor is left on the photo screen. */
    g_autoptr(JsonNode) home = wait_page(app, "welcome");
    assert_not_shows(home, names[l]);
  }
  /* Cancelling on the photo screen records nothing. */
  photo_walkin_form(app, "Changed Mind", TRUE);
  cmd(app, "action win.take-photo");
  expect_text(app, "この写真でよろしいですか");
  cmd(app, "action win.home");
  json_node_unref(wait_page(app, "welcome"));
  g_autoptr(JsonNode) visits = NULL;
  g_assert_cmpint(admin(f, "GET", "/v1/visits", NULL, &visits), ==, 200);
  g_autoptr(JsonGenerator) gen = json_generator_new();
  json_generator_set_root(gen, visits);
  g_autofree char *listed = json_generator_to_data(gen, NULL);
  g_assert_null(strstr(listed, "Changed Mind"));
  app_stop(app);

  /* No camera: the screen says so and the visitor goes on without a photo. */
  g_autofree char *dir2 = g_build_filename(f->tmp, "lobby-nocam", NULL);
  for (guint l = 0; l < G_N_ELEMENTS(langs); l++) {
    gboolean en = l == 0;
    g_autofree char *ldir = g_strdup_printf("%s-%s", dir2, langs[l]);
    g_autofree char *name = g_strdup_printf("Lobby NoCam %s", langs[l]);
    App *nocam = app_start(f, ldir, langs[l]);
    g_autofree char *id2 = photo_kiosk_enroll(nocam, name);
    configure_device(f, id2, "{\"photo\":\"true\",\"site-text\":\"No Camera HQ\"}");
    expect_text(nocam, "No Camera HQ");
    g_autofree char *visitor = g_strdup_printf("No Camera %s", langs[l]);
    photo_walkin_form(nocam, visitor, FALSE);
    expect_text(nocam, en ? "The camera is not available" : "現在カメラが使えません");
    g_autoptr(JsonNode) none = cmd_full(nocam, FALSE, "state");
    assert_not_shows(none, en ? "Take photo" : "撮影する");
    shot(nocam, "no-camera");
    /* No camera, no photo to take. */
    assert_photo_action_ignored(nocam, "win.take-photo", en ? "Continue without photo" : "写真なしで進む");
    cmd(nocam, "action win.skip-photo");
    g_autoptr(JsonNode) done = wait_page(nocam, "done");
    assert_shows(done, visitor);
    g_assert_false(visit_has_photo(f, visitor, NULL));
    app_stop(nocam);
  }
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
#define ADD(name, fn) g_test_add("/e2e/kiosk-app/" name, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD("reception", test_reception);
  ADD("japanese", test_japanese);
  ADD("gate", test_gate);
  ADD("photo", test_photo);
  return g_test_run();
}
