/* Staff notifications end to end on loopback: a real genkan-server, a webhook
 * receiver (notify-receiver.py, HTTPS with a throwaway CA) and an SMTP server
 * with STARTTLS and AUTH (notify-smtp.py, aiosmtpd). Check-ins online and
 * pushed, walk-ins, double entries and silent devices notify the right channel
 * with a valid signature; a receiver that is down, a server SIGKILLed before
 * delivery and a receiver that refuses lose nothing and duplicate nothing;
 * settings are checked and their secrets never shown twice; roles are enforced. */
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include "gk-json.h"
#include "gk-password.h"
#include "gk-test-server.h"
#include "gk-test-util.h"
#include "srv-store.h"

#define OWNER_PW "N3w-Owner-Passw0rd!"
#define SECRET "whsec-test-0123456789abcdef"
#define SMTP_USER "genkan-relay"
#define SMTP_PASSWORD "relay-Passw0rd-9"

typedef struct {
  char *dir;
  char *cert;
  char *key;
  GkTestServer *server;
  char *token;
  GkTestDevice *dev;
  GSubprocess *receiver;
  guint16 rport;
  char *rlog;
  GSubprocess *smtp;
  guint16 sport;
  char *slog;
} Fx;

static const char *
python(void)
{
  return g_file_test("/usr/bin/python3", G_FILE_TEST_IS_EXECUTABLE) ? "/usr/bin/python3" : "python3";
}

/* ---- helpers: processes ------------------------------------------------------------ */

/* A test that aborts must not leave a receiver behind. */
static void
die_with_parent(gpointer data)
{
  prctl(PR_SET_PDEATHSIG, SIGKILL);
}

static GSubprocess *
spawn(const char *const *argv)
{
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
  g_subprocess_launcher_set_child_setup(launcher, die_with_parent, NULL, NULL);
  g_autoptr(GError) error = NULL;
  GSubprocess *p = g_subprocess_launcher_spawnv(launcher, argv, &error);
  g_assert_no_error(error);
  return p;
}

static guint16
wait_port_file(const char *path, GSubprocess *proc)
{
  for (int i = 0; i < 200; i++) {
    g_autofree char *text = NULL;
    if (g_file_get_contents(path, &text, NULL, NULL))
      return (guint16) g_ascii_strtoull(text, NULL, 10);
    if (g_subprocess_get_identifier(proc) == NULL)
      g_error("a test helper exited before it listened (is python3-aiosmtpd installed?)");
    g_usleep(50000);
  }
  g_error("no port file %s", path);
}

/* (Re)starts the webhook receiver on port @port (0: any) with extra arguments. */
static void
receiver_start(Fx *f, guint16 port, const char *const *extra)
{
  g_autofree char *port_file = g_build_filename(f->dir, "receiver.port", NULL);
  g_unlink(port_file);
  g_autofree char *port_text = g_strdup_printf("%u", port);
  g_autofree char *script = g_build_filename(GK_SOURCE_DIR, "tests", "integration", "notify-receiver.py", NULL);
  g_autoptr(GPtrArray) argv = g_ptr_array_new();
  const char *base[] = { python(), script, "--port", port_text, "--port-file", port_file, "--log", f->rlog,
                         "--secret", SECRET, "--tls", f->cert, f->key, "--max-seconds", "300" };
  for (guint i = 0; i < G_N_ELEMENTS(base); i++)
    g_ptr_array_add(argv, (gpointer) base[i]);
  for (guint i = 0; extra != NULL && extra[i] != NULL; i++)
    g_ptr_array_add(argv, (gpointer) extra[i]);
  g_ptr_array_add(argv, NULL);
  f->receiver = spawn((const char *const *) argv->pdata);
  f->rport = wait_port_file(port_file, f->receiver);
}

static void
receiver_stop(Fx *f)
{
  if (f->receiver == NULL)
    return;
  g_subprocess_force_exit(f->receiver);
  g_subprocess_wait(f->receiver, NULL, NULL);
  g_clear_object(&f->receiver);
}

static void
smtp_start(Fx *f, gboolean tls)
{
  g_autofree char *port_file = g_build_filename(f->dir, "smtp.port", NULL);
  g_autofree char *script = g_build_filename(GK_SOURCE_DIR, "tests", "integration", "notify-smtp.py", NULL);
  const char *with_tls[] = { python(), script, "--port-file", port_file, "--log", f->slog, "--tls", f->cert, f->key,
                             "--user", SMTP_USER, "--password", SMTP_PASSWORD, "--max-seconds", "300", NULL };
  const char *plain[] = { python(), script, "--port-file", port_file, "--log", f->slog, "--max-seconds", "300", NULL };
  f->smtp = spawn(tls ? with_tls : plain);
  f->sport = wait_port_file(port_file, f->smtp);
}

/* A throwaway CA-less certificate for localhost and 127.0.0.1 that the server
 * trusts through notify.ca-file. */
static void
make_cert(Fx *f)
{
  f->cert = g_build_filename(f->dir, "test.crt", NULL);
  f->key = g_build_filename(f->dir, "test.key", NULL);
  const char *argv[] = { "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                         "-days", "2", "-keyout", f->key, "-out", f->cert, NULL };
  int status = 0;
  g_autofree char *err = NULL;
  g_assert_true(g_spawn_sync(NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL, NULL,
                             NULL, NULL, &err, &status, NULL));
  if (!g_spawn_check_wait_status(status, NULL))
    g_error("openssl failed: %s", err);
}

/* A port nothing listens on (the receiver comes up on it later). */
static guint16
free_port(void)
{
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  socklen_t len = sizeof a;
  g_assert_cmpint(bind(fd, (struct sockaddr *) &a, sizeof a), ==, 0);
  g_assert_cmpint(getsockname(fd, (struct sockaddr *) &a, &len), ==, 0);
  close(fd);
  return ntohs(a.sin_port);
}

/* ---- helpers: the server --------------------------------------------------------------- */

static void
fx_init(Fx *f, const char *extra_config)
{
  f->dir = gk_test_make_tmpdir("genkan-notify");
  f->rlog = g_build_filename(f->dir, "receiver.jsonl", NULL);
  f->slog = g_build_filename(f->dir, "smtp.jsonl", NULL);
  make_cert(f);
  f->server = gk_test_server_init();
  g_autofree char *config = g_strdup_printf("[notify]\nretry-base-s = 1\nretry-max-s = 2\ntimeout-ms = 3000\n"
                                            "connect-timeout-ms = 1000\ntimezone = Asia/Tokyo\nca-file = %s\n"
                                            "offline-check-s = 1\n%s",
                                            f->cert, extra_config ? extra_config : "");
  gk_test_server_configure(f->server, config);
  gk_test_server_start(f->server);
  f->token = gk_test_server_login_owner(f->server, OWNER_PW);
  f->dev = gk_test_enroll_device(f->server, f->token, "1F 受付", "reception");
}

static void
fx_free(Fx *f)
{
  receiver_stop(f);
  if (f->smtp != NULL) {
    g_subprocess_force_exit(f->smtp);
    g_subprocess_wait(f->smtp, NULL, NULL);
    g_clear_object(&f->smtp);
  }
  gk_test_device_free(f->dev);
  gk_test_server_free(f->server);
  gk_test_rmtree(f->dir);
  g_free(f->dir);
  g_free(f->cert);
  g_free(f->key);
  g_free(f->token);
  g_free(f->rlog);
  g_free(f->slog);
}

static long
admin_as(Fx *f, const char *token, const char *method, const char *path, const char *body, JsonNode **reply)
{
  GkTestClient c = { .ca_path = f->server->ca_path, .token = token };
  g_autofree char *url = g_strconcat(f->server->admin_url, path, NULL);
  return gk_test_request(&c, method, url, body, reply, NULL);
}

static long
admin(Fx *f, const char *method, const char *path, const char *body, JsonNode **reply)
{
  return admin_as(f, f->token, method, path, body, reply);
}

static long
device(Fx *f, GkTestDevice *d, const char *path, const char *body, JsonNode **reply)
{
  GkTestClient c = { .ca_path = f->server->ca_path, .cert_pem = d->cert_pem, .key_pem = d->key_pem };
  g_autofree char *url = g_strconcat(f->server->device_url, path, NULL);
  return gk_test_request(&c, "POST", url, body, reply, NULL);
}

static gint64
add_host(Fx *f, const char *name, const char *email)
{
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "name");
  json_builder_add_string_value(b, name);
  if (email != NULL) {
    json_builder_set_member_name(b, "email");
    json_builder_add_string_value(b, email);
  }
  json_builder_end_object(b);
  g_autofree char *body = gk_json_builder_to_string(b);
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(admin(f, "POST", "/v1/hosts", body, &reply), ==, 201);
  return gk_test_json_int(reply, "id");
}

/* Sets a notification setting; returns the HTTP status (and the answer). */
static long
set_notify(Fx *f, const char *scope, const char *json, JsonNode **reply)
{
  g_autofree char *path = g_strconcat("/v1/notify/", scope, NULL);
  return admin(f, "POST", path, json, reply);
}

static char *
hook_url(Fx *f, const char *path)
{
  return g_strdup_printf("https://localhost:%u%s", f->rport, path);
}

/* Issues a ticket for @host_id; returns its QR text, *out_id its id (g_free). */
static char *
issue(Fx *f, gint64 host_id, const char *visitor, const char *company, gboolean multi, char **out_id)
{
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "visitor");
  json_builder_add_string_value(b, visitor);
  json_builder_set_member_name(b, "host");
  g_autofree char *host = g_strdup_printf("%" G_GINT64_FORMAT, host_id);
  json_builder_add_string_value(b, host);
  if (company != NULL) {
    json_builder_set_member_name(b, "company");
    json_builder_add_string_value(b, company);
  }
  json_builder_set_member_name(b, "multi");
  json_builder_add_boolean_value(b, multi);
  json_builder_end_object(b);
  g_autofree char *body = gk_json_builder_to_string(b);
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(admin(f, "POST", "/v1/tickets", body, &reply), ==, 201);
  if (out_id != NULL)
    *out_id = g_strdup(gk_test_json_str(reply, "ticket_id"));
  return g_strdup(gk_test_json_str(reply, "text"));
}

/* Online redemption; returns the answer's host_notified (asserts "accepted"). */
static gboolean
redeem(Fx *f, GkTestDevice *d, const char *ticket, const char *event_id)
{
  g_autofree char *body = g_strdup_printf("{\"ticket\":\"%s\",\"event_id\":\"%s\",\"at\":%" G_GINT64_FORMAT "}", ticket,
                                          event_id, g_get_real_time() / G_USEC_PER_SEC);
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(device(f, d, "/v1/redeem", body, &reply), ==, 200);
  g_assert_cmpstr(gk_test_json_str(reply, "result"), ==, "accepted");
  JsonObject *o = json_node_get_object(reply);
  g_assert_true(json_object_has_member(o, "host_notified"));
  return json_object_get_boolean_member(o, "host_notified");
}

/* ---- helpers: what arrived ------------------------------------------------------------- */

/* The JSON lines of @path (empty when it does not exist yet). */
static GPtrArray *
read_lines(const char *path)
{
  GPtrArray *rows = g_ptr_array_new_with_free_func((GDestroyNotify) json_node_unref);
  g_autofree char *text = NULL;
  if (!g_file_get_contents(path, &text, NULL, NULL))
    return rows;
  g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++) {
    if (lines[i][0] == '\0')
      continue;
    JsonNode *n = gk_json_parse_object(lines[i], strlen(lines[i]), 1 << 20, NULL);
    g_assert_nonnull(n);
    g_ptr_array_add(rows, n);
  }
  return rows;
}

static const char *
row_str(JsonNode *row, const char *member)
{
  JsonObject *o = json_node_get_object(row);
  JsonNode *n = json_object_get_member(o, member);
  return n != NULL && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING
           ? json_node_get_string(n) : NULL;
}

static gboolean
row_bool(JsonNode *row, const char *member)
{
  JsonNode *n = json_object_get_member(json_node_get_object(row), member);
  return n != NULL && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_BOOLEAN &&
         json_node_get_boolean(n);
}

/* The body of a receiver row, parsed. */
static JsonNode *
row_body(JsonNode *row)
{
  const char *body = row_str(row, "body");
  g_assert_nonnull(body);
  JsonNode *n = gk_json_parse_object(body, strlen(body), 1 << 20, NULL);
  g_assert_nonnull(n);
  return n;
}

/* Rows of @path whose "path" is @where (NULL: all). */
static GPtrArray *
rows_at(const char *log, const char *where)
{
  g_autoptr(GPtrArray) all = read_lines(log);
  GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify) json_node_unref);
  for (guint i = 0; i < all->len; i++)
    if (where == NULL || g_strcmp0(row_str(all->pdata[i], "path"), where) == 0)
      g_ptr_array_add(out, json_node_ref(all->pdata[i]));
  return out;
}

/* Waits up to @seconds for at least @n rows at @where. */
static GPtrArray *
wait_rows(const char *log, const char *where, guint n, double seconds)
{
  gint64 until = g_get_monotonic_time() + (gint64) (seconds * G_USEC_PER_SEC);
  for (;;) {
    GPtrArray *rows = rows_at(log, where);
    if (rows->len >= n || g_get_monotonic_time() > until)
      return rows;
    g_ptr_array_unref(rows);
    g_usleep(100000);
  }
}

/* Raw deliveries per idempotency key. */
static GHashTable *
count_keys(GPtrArray *rows)
{
  GHashTable *counts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  for (guint i = 0; i < rows->len; i++) {
    const char *key = row_str(rows->pdata[i], "key");
    g_assert_nonnull(key);
    guint c = GPOINTER_TO_UINT(g_hash_table_lookup(counts, key));
    g_hash_table_insert(counts, g_strdup(key), GUINT_TO_POINTER(c + 1));
  }
  return counts;
}

/* The site's notifications as the admin API lists them. */
static JsonArray *
list_notifications(Fx *f, const char *query, JsonNode **holder)
{
  g_autofree char *path = g_strconcat("/v1/notifications", query ? query : "", NULL);
  g_assert_cmpint(admin(f, "GET", path, NULL, holder), ==, 200);
  return json_object_get_array_member(json_node_get_object(*holder), "notifications");
}

static JsonObject *
find_notification(JsonArray *list, const char *id)
{
  for (guint i = 0; i < json_array_get_length(list); i++) {
    JsonObject *o = json_array_get_object_element(list, i);
    if (g_strcmp0(json_object_get_string_member(o, "id"), id) == 0)
      return o;
  }
  return NULL;
}

/* Waits until every notification listed is delivered. */
static void
wait_all_delivered(Fx *f, guint expected, double seconds)
{
  gint64 until = g_get_monotonic_time() + (gint64) (seconds * G_USEC_PER_SEC);
  for (;;) {
    g_autoptr(JsonNode) holder = NULL;
    JsonArray *list = list_notifications(f, NULL, &holder);
    guint delivered = 0;
    for (guint i = 0; i < json_array_get_length(list); i++)
      delivered += g_strcmp0(json_object_get_string_member(json_array_get_object_element(list, i), "status"),
                             "delivered") == 0;
    if (delivered == expected && json_array_get_length(list) == expected)
      return;
    if (g_get_monotonic_time() > until)
      g_error("%u of %u notifications delivered after %.0f s", delivered, json_array_get_length(list), seconds);
    g_usleep(100000);
  }
}

/* ---- webhook: online check-in ------------------------------------------------------------ */

static void
test_webhook_checkin(void)
{
  Fx f = { 0 };
  fx_init(&f, NULL);
  receiver_start(&f, 0, NULL);
  gint64 yamada = add_host(&f, "山田 太郎", "yamada@example.com");
  gint64 sato = add_host(&f, "Sato", NULL);
  g_autofree char *url = hook_url(&f, "/hook");
  g_autofree char *req = g_strdup_printf("{\"host\":\"%" G_GINT64_FORMAT "\",\"channel\":\"webhook\","
                                         "\"target\":\"%s\",\"language\":\"ja\",\"secret\":\"%s\"}",
                                         yamada, url, SECRET);
  g_autoptr(JsonNode) set = NULL;
  g_assert_cmpint(set_notify(&f, "host", req, &set), ==, 200);
  g_assert_null(gk_test_json_str(set, "secret"));  /* given, so never echoed */
  g_assert_true(json_object_get_boolean_member(json_node_get_object(set), "secret_set"));

  g_autofree char *tid = NULL;
  g_autofree char *ticket = issue(&f, yamada, "鈴木 花子", "ACME 株式会社", FALSE, &tid);
  g_autofree char *other = issue(&f, sato, "Visitor Two", NULL, FALSE, NULL);
  g_assert_true(redeem(&f, f.dev, ticket, "ev-notify-0001"));
  /* A host without a channel (and no site default): nothing queued, and the
   * kiosk is told so. */
  g_assert_false(redeem(&f, f.dev, other, "ev-notify-0002"));
  /* A repeated request answers as the first did, and queues nothing more. */
  g_assert_true(redeem(&f, f.dev, ticket, "ev-notify-0001"));

  g_autoptr(GPtrArray) rows = wait_rows(f.rlog, "/hook", 1, 10);
  g_assert_cmpuint(rows->len, ==, 1);
  JsonNode *row = rows->pdata[0];
  g_assert_true(row_bool(row, "sig_ok"));
  g_assert_cmpstr(row_str(row, "event"), ==, "visitor.checked_in");
  g_assert_true(g_str_has_prefix(row_str(row, "content_type"), "application/json"));
  g_autoptr(JsonNode) body = row_body(row);
  g_assert_cmpstr(gk_test_json_str(body, "id"), ==, row_str(row, "key"));
  g_assert_cmpstr(gk_test_json_str(body, "type"), ==, "visitor.checked_in");
  g_assert_cmpstr(gk_test_json_str(body, "language"), ==, "ja");
  JsonObject *data = json_object_get_object_member(json_node_get_object(body), "data");
  g_assert_cmpstr(json_object_get_string_member(data, "visitor"), ==, "鈴木 花子");
  g_assert_cmpstr(json_object_get_string_member(data, "company"), ==, "ACME 株式会社");
  g_assert_cmpstr(json_object_get_string_member(data, "host"), ==, "山田 太郎");
  g_assert_cmpstr(json_object_get_string_member(data, "location"), ==, "1F 受付");
  g_assert_cmpstr(json_object_get_string_member(data, "ticket_id"), ==, tid);
  const char *text = gk_test_json_str(body, "text");
  g_assert_nonnull(strstr(text, "鈴木 花子 様"));
  g_assert_nonnull(strstr(text, "1F 受付"));
  g_assert_nonnull(strstr(text, "JST"));  /* notify.timezone */

  /* Delivered, listed without secrets; nothing else was sent. */
  g_usleep(1500000);
  g_autoptr(GPtrArray) again = rows_at(f.rlog, NULL);
  g_assert_cmpuint(again->len, ==, 1);
  g_autoptr(JsonNode) holder = NULL;
  JsonArray *list = list_notifications(&f, NULL, &holder);
  g_assert_cmpuint(json_array_get_length(list), ==, 1);
  JsonObject *n = find_notification(list, row_str(row, "key"));
  g_assert_nonnull(n);
  g_assert_cmpstr(json_object_get_string_member(n, "status"), ==, "delivered");
  g_autofree char *recipient = g_strdup_printf("host:%" G_GINT64_FORMAT, yamada);
  g_assert_cmpstr(json_object_get_string_member(n, "recipient"), ==, recipient);
  g_assert_cmpint(json_object_get_int_member(n, "attempts"), ==, 1);

  /* The secret is in no answer, no log line, and nowhere on disk in the clear
   * (the master store is encrypted). */
  g_autoptr(JsonNode) settings = NULL;
  g_assert_cmpint(admin(&f, "GET", "/v1/notify", NULL, &settings), ==, 200);
  g_autofree char *settings_text = json_to_string(settings, FALSE);
  g_assert_null(strstr(settings_text, SECRET));
  g_assert_nonnull(strstr(settings_text, "\"secret_set\":true"));
  g_autofree char *log = gk_test_server_log(f.server);
  g_assert_null(strstr(log, SECRET));
  g_assert_null(strstr(log, "鈴木"));
  g_assert_nonnull(strstr(log, "event=notify.delivered"));
  g_assert_false(gk_test_tree_contains(f.server->data_dir, SECRET, strlen(SECRET)));
  g_assert_false(gk_test_tree_contains(f.server->data_dir, "鈴木", strlen("鈴木")));
  /* A clean stop: the sender threads end with the server (and, in sanitizer
   * builds, nothing leaks). */
  gk_test_server_stop(f.server);
  fx_free(&f);
}

/* ---- Slack, Teams and a site default; pushed check-ins; double entry; walk-in ----------- */

static void
test_slack_teams_push(void)
{
  Fx f = { 0 };
  fx_init(&f, NULL);
  receiver_start(&f, 0, NULL);
  gint64 teams_host = add_host(&f, "Tanaka", NULL);
  gint64 default_host = add_host(&f, "Ito", NULL);
  g_autofree char *slack = hook_url(&f, "/slack");
  g_autofree char *teams = hook_url(&f, "/teams");
  g_autofree char *security = hook_url(&f, "/security");
  g_autofree char *r1 = g_strdup_printf("{\"channel\":\"slack\",\"target\":\"%s\",\"language\":\"en\"}", slack);
  g_autofree char *r2 = g_strdup_printf("{\"host\":\"Tanaka\",\"channel\":\"teams\",\"target\":\"%s\"}", teams);
  g_autofree char *r3 = g_strdup_printf("{\"channel\":\"webhook\",\"target\":\"%s\",\"language\":\"en\","
                                        "\"secret\":\"%s\"}", security, SECRET);
  g_autoptr(JsonNode) a1 = NULL, a2 = NULL;
  g_assert_cmpint(set_notify(&f, "default", r1, &a1), ==, 200);
  /* Slack and Teams URLs are bearer secrets: shown without their path. */
  g_autofree char *shown = g_strdup_printf("https://localhost:%u/…", f.rport);
  g_assert_cmpstr(gk_test_json_str(a1, "target"), ==, shown);
  g_assert_cmpint(set_notify(&f, "host", r2, &a2), ==, 200);
  g_assert_cmpint(set_notify(&f, "security", r3, NULL), ==, 200);

  g_autofree char *t1 = NULL, *t2 = NULL;
  g_free(issue(&f, teams_host, "Mori [x](https://evil.example)", "Kobe*Steel", FALSE, &t1));
  g_free(issue(&f, default_host, "<!channel> Eve & co", NULL, FALSE, &t2));
  gint64 now = g_get_real_time() / G_USEC_PER_SEC;
  g_autofree char *push = g_strdup_printf(
    "{\"events\":[{\"id\":\"push-ev-0001\",\"kind\":\"checkin\",\"ticket_id\":\"%s\",\"at\":%" G_GINT64_FORMAT
    ",\"offline\":true},{\"id\":\"push-ev-0002\",\"kind\":\"checkin\",\"ticket_id\":\"%s\",\"at\":%" G_GINT64_FORMAT
    ",\"offline\":true},{\"id\":\"push-ev-0003\",\"kind\":\"checkout\",\"ticket_id\":\"%s\",\"at\":%" G_GINT64_FORMAT
    "}]}", t1, now - 60, t2, now - 50, t1, now - 10);
  g_autoptr(JsonNode) pushed = NULL;
  g_assert_cmpint(device(&f, f.dev, "/v1/sync/push", push, &pushed), ==, 200);
  JsonArray *results = json_object_get_array_member(json_node_get_object(pushed), "results");
  g_assert_true(json_object_get_boolean_member(json_array_get_object_element(results, 0), "host_notified"));
  g_assert_true(json_object_get_boolean_member(json_array_get_object_element(results, 1), "host_notified"));
  g_assert_false(json_object_has_member(json_array_get_object_element(results, 2), "host_notified"));

  g_autoptr(GPtrArray) teams_rows = wait_rows(f.rlog, "/teams", 1, 10);
  g_autoptr(GPtrArray) slack_rows = wait_rows(f.rlog, "/slack", 1, 10);
  g_assert_cmpuint(teams_rows->len, ==, 1);
  g_assert_cmpuint(slack_rows->len, ==, 1);
  g_autoptr(JsonNode) card = row_body(teams_rows->pdata[0]);
  g_assert_cmpstr(gk_test_json_str(card, "@type"), ==, "MessageCard");
  g_assert_nonnull(strstr(gk_test_json_str(card, "title"), "様"));  /* the host's language: ja (default) */
  /* Markdown in a name is shown, not followed. */
  g_assert_null(strstr(gk_test_json_str(card, "text"), "[x](https"));
  g_assert_nonnull(strstr(gk_test_json_str(card, "text"), "\\[x\\]\\(https"));
  g_assert_nonnull(strstr(gk_test_json_str(card, "text"), "Kobe\\*Steel"));
  g_autoptr(JsonNode) sl = row_body(slack_rows->pdata[0]);
  const char *stext = gk_test_json_str(sl, "text");
  g_assert_nonnull(strstr(stext, "has arrived at 1F 受付 to see Ito"));
  /* No @channel ping, no markup from a visitor's name. */
  g_assert_null(strstr(stext, "<!channel>"));
  g_assert_nonnull(strstr(stext, "&lt;!channel&gt; Eve &amp; co"));

  /* A second gate admitted the one-time ticket t1 offline too: a double entry
   * goes to the security channel, once; the host hears nothing new. */
  GkTestDevice *gate2 = gk_test_enroll_device(f.server, f.token, "Gate 2", "gate");
  g_autofree char *conflict = g_strdup_printf(
    "{\"events\":[{\"id\":\"gate-ev-0001\",\"kind\":\"checkin\",\"ticket_id\":\"%s\",\"at\":%" G_GINT64_FORMAT
    ",\"offline\":true}]}", t1, now - 30);
  g_autoptr(JsonNode) c1 = NULL, c2 = NULL;
  g_assert_cmpint(device(&f, gate2, "/v1/sync/push", conflict, &c1), ==, 200);
  JsonObject *cr = json_array_get_object_element(json_object_get_array_member(json_node_get_object(c1), "results"), 0);
  g_assert_cmpstr(json_object_get_string_member(cr, "status"), ==, "conflict");
  g_assert_false(json_object_get_boolean_member(cr, "host_notified"));
  /* Replayed: no second alert. */
  g_assert_cmpint(device(&f, gate2, "/v1/sync/push", conflict, &c2), ==, 200);
  g_autoptr(GPtrArray) sec = wait_rows(f.rlog, "/security", 1, 10);
  g_assert_cmpuint(sec->len, ==, 1);
  g_assert_true(row_bool(sec->pdata[0], "sig_ok"));
  g_assert_cmpstr(row_str(sec->pdata[0], "event"), ==, "security.double_entry");
  g_autoptr(JsonNode) alert = row_body(sec->pdata[0]);
  JsonObject *adata = json_object_get_object_member(json_node_get_object(alert), "data");
  g_assert_cmpstr(json_object_get_string_member(adata, "ticket_id"), ==, t1);
  g_assert_cmpstr(json_object_get_string_member(adata, "location"), ==, "Gate 2");
  g_assert_cmpstr(json_object_get_string_member(adata, "first_location"), ==, "1F 受付");

  /* A walk-in waiting for a host: the host's channel hears it. */
  g_autofree char *walkin = g_strdup_printf(
    "{\"events\":[{\"id\":\"walk-ev-0001\",\"kind\":\"walkin\",\"at\":%" G_GINT64_FORMAT
    ",\"visit_id\":\"vis-0123456789abcdef0123456789abcdef\",\"visitor_name\":\"Walk In\",\"company\":\"Nara Co\","
    "\"host_id\":%" G_GINT64_FORMAT ",\"terms_accepted\":true}]}", now, teams_host);
  g_autoptr(JsonNode) w = NULL;
  g_assert_cmpint(device(&f, f.dev, "/v1/sync/push", walkin, &w), ==, 200);
  JsonObject *wr = json_array_get_object_element(json_object_get_array_member(json_node_get_object(w), "results"), 0);
  g_assert_true(json_object_get_boolean_member(wr, "host_notified"));
  g_autoptr(GPtrArray) teams2 = wait_rows(f.rlog, "/teams", 2, 10);
  g_assert_cmpuint(teams2->len, ==, 2);
  g_autoptr(JsonNode) card2 = row_body(teams2->pdata[1]);
  g_assert_nonnull(strstr(gk_test_json_str(card2, "text"), "お待ちです"));
  g_assert_nonnull(strstr(gk_test_json_str(card2, "text"), "Walk In"));

  g_usleep(1000000);
  g_autoptr(GPtrArray) all = rows_at(f.rlog, NULL);
  g_assert_cmpuint(all->len, ==, 4);
  gk_test_device_free(gate2);
  fx_free(&f);
}

/* ---- e-mail over SMTP with STARTTLS and AUTH ---------------------------------------------- */

static char *
smtp_config(Fx *f, gboolean with_credentials)
{
  g_autofree char *cred = g_build_filename(f->dir, "smtp-credentials", NULL);
  g_autofree char *text = g_strdup_printf("%s\n%s\n", SMTP_USER, SMTP_PASSWORD);
  g_assert_true(g_file_set_contents_full(cred, text, -1, G_FILE_SET_CONTENTS_NONE, 0600, NULL));
  return g_strdup_printf("[smtp]\nhost = localhost\nport = %u\nfrom = genkan@example.com\n%s%s\n", f->sport,
                         with_credentials ? "credentials-file = " : "", with_credentials ? cred : "");
}

/* The server refuses to start with a bad SMTP setup. */
static void
expect_start_failure(Fx *f, const char *config, const char *message)
{
  gk_test_server_configure(f->server, config);
  const char *argv[] = { GK_BUILD_DIR "/sync-server/genkan-server", "run", "--data-dir", f->server->data_dir,
                         "--device-port", "0", "--admin-port", "0", NULL };
  g_autofree char *err = NULL;
  int status = 0;
  g_assert_true(g_spawn_sync(NULL, (char **) argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL, &err, &status,
                             NULL));
  g_assert_false(g_spawn_check_wait_status(status, NULL));
  if (strstr(err, message) == NULL)
    g_error("expected '%s' in: %s", message, err);
}

static void
test_email_starttls(void)
{
  Fx f = { 0 };
  f.dir = gk_test_make_tmpdir("genkan-notify");
  f.slog = g_build_filename(f.dir, "smtp.jsonl", NULL);
  f.rlog = g_build_filename(f.dir, "receiver.jsonl", NULL);
  make_cert(&f);
  smtp_start(&f, TRUE);
  f.server = gk_test_server_init();

  /* Bad setups stop the server at start, with the reason. */
  g_autofree char *cred = g_build_filename(f.dir, "open-credentials", NULL);
  g_assert_true(g_file_set_contents_full(cred, "u\np\n", -1, G_FILE_SET_CONTENTS_NONE, 0644, NULL));
  g_autofree char *open_cred = g_strdup_printf("[smtp]\nhost = localhost\nfrom = a@example.com\n"
                                               "credentials-file = %s\n", cred);
  expect_start_failure(&f, open_cred, "smtp.credentials-file");
  expect_start_failure(&f, "[smtp]\nhost = relay.example.com\nfrom = a@example.com\nsecurity = none\n",
                       "only allowed for a relay on this machine");
  expect_start_failure(&f, "[smtp]\nhost = localhost\n", "smtp.from");

  g_autofree char *smtp = smtp_config(&f, TRUE);
  g_autofree char *config = g_strdup_printf("[notify]\nretry-base-s = 1\nretry-max-s = 2\ntimezone = Asia/Tokyo\n"
                                            "ca-file = %s\n%s", f.cert, smtp);
  gk_test_server_configure(f.server, config);
  gk_test_server_start(f.server);
  f.token = gk_test_server_login_owner(f.server, OWNER_PW);
  f.dev = gk_test_enroll_device(f.server, f.token, "1F 受付", "reception");

  gint64 host = add_host(&f, "山田 太郎", "yamada@example.com");
  gint64 no_mail = add_host(&f, "No Mail", NULL);
  /* No target: the host's own address. A host without one must be given one. */
  g_autofree char *req = g_strdup_printf("{\"host\":\"%" G_GINT64_FORMAT "\",\"channel\":\"email\"}", host);
  g_assert_cmpint(set_notify(&f, "host", req, NULL), ==, 200);
  g_autofree char *bad = g_strdup_printf("{\"host\":\"%" G_GINT64_FORMAT "\",\"channel\":\"email\"}", no_mail);
  g_assert_cmpint(set_notify(&f, "host", bad, NULL), ==, 400);

  g_autofree char *ticket = issue(&f, host, "鈴木 花子 (Hanako Suzuki) with a rather long name for folding",
                                  "株式会社 ACME", FALSE, NULL);
  g_assert_true(redeem(&f, f.dev, ticket, "mail-ev-0001"));
  g_autoptr(GPtrArray) mails = wait_rows(f.slog, NULL, 1, 15);
  g_assert_cmpuint(mails->len, ==, 1);
  JsonNode *m = mails->pdata[0];
  g_assert_true(row_bool(m, "tls"));  /* STARTTLS, verified against notify.ca-file */
  g_assert_cmpstr(row_str(m, "login"), ==, SMTP_USER);
  g_assert_cmpstr(row_str(m, "mail_from"), ==, "genkan@example.com");
  JsonArray *rcpt = json_object_get_array_member(json_node_get_object(m), "rcpt_tos");
  g_assert_cmpuint(json_array_get_length(rcpt), ==, 1);
  g_assert_cmpstr(json_array_get_string_element(rcpt, 0), ==, "yamada@example.com");
  g_assert_cmpstr(row_str(m, "to"), ==, "yamada@example.com");
  g_assert_true(g_str_has_prefix(row_str(m, "raw_subject"), "=?UTF-8?B?"));
  g_assert_nonnull(strstr(row_str(m, "subject"), "鈴木 花子 (Hanako Suzuki) with a rather long name for folding"));
  g_assert_true(row_bool(m, "header_lines_ok"));
  g_assert_false(row_bool(m, "bare_lf"));
  g_assert_cmpstr(row_str(m, "content_type"), ==, "text/plain");
  g_assert_cmpstr(row_str(m, "charset"), ==, "utf-8");
  g_assert_cmpstr(row_str(m, "cte"), ==, "base64");
  const char *body = row_str(m, "body");
  g_assert_nonnull(strstr(body, "株式会社 ACME"));
  g_assert_nonnull(strstr(body, "1F 受付"));
  g_assert_nonnull(strstr(body, "山田 太郎"));
  g_assert_nonnull(strstr(row_str(m, "date"), "+0900"));
  const char *key = row_str(m, "idempotency_key");
  g_assert_true(g_str_has_prefix(key, "ntf-"));
  g_autofree char *mid = g_strdup_printf("<%s@example.com>", key);
  g_assert_cmpstr(row_str(m, "message_id"), ==, mid);
  wait_all_delivered(&f, 1, 5);
  gk_test_server_stop(f.server);
  g_autofree char *log = gk_test_server_log(f.server);
  g_assert_null(strstr(log, SMTP_PASSWORD));
  g_assert_null(strstr(log, "yamada@example.com"));
  fx_free(&f);
}

/* A relay that offers no STARTTLS gets nothing: no name crosses in the clear. */
static void
test_email_requires_starttls(void)
{
  Fx f = { 0 };
  f.dir = gk_test_make_tmpdir("genkan-notify");
  f.slog = g_build_filename(f.dir, "smtp.jsonl", NULL);
  f.rlog = g_build_filename(f.dir, "receiver.jsonl", NULL);
  make_cert(&f);
  smtp_start(&f, FALSE);
  f.server = gk_test_server_init();
  g_autofree char *smtp = smtp_config(&f, FALSE);
  g_autofree char *config = g_strdup_printf("[notify]\nretry-base-s = 1\nretry-max-s = 2\nca-file = %s\n%s", f.cert,
                                            smtp);
  gk_test_server_configure(f.server, config);
  gk_test_server_start(f.server);
  f.token = gk_test_server_login_owner(f.server, OWNER_PW);
  f.dev = gk_test_enroll_device(f.server, f.token, "Lobby", "reception");
  gint64 host = add_host(&f, "Host", "host@example.com");
  g_autofree char *req = g_strdup_printf("{\"host\":\"%" G_GINT64_FORMAT "\",\"channel\":\"email\","
                                         "\"target\":\"other@example.com\",\"language\":\"en\"}", host);
  g_assert_cmpint(set_notify(&f, "host", req, NULL), ==, 200);
  g_autofree char *ticket = issue(&f, host, "Plain Text", NULL, FALSE, NULL);
  g_assert_true(redeem(&f, f.dev, ticket, "mail-ev-0002"));
  g_usleep(3000000);
  g_autoptr(GPtrArray) mails = rows_at(f.slog, NULL);
  g_assert_cmpuint(mails->len, ==, 0);
  g_autoptr(JsonNode) holder = NULL;
  JsonArray *list = list_notifications(&f, NULL, &holder);
  g_assert_cmpuint(json_array_get_length(list), ==, 1);
  JsonObject *n = json_array_get_object_element(list, 0);
  g_assert_cmpstr(json_object_get_string_member(n, "status"), ==, "pending");
  g_assert_cmpint(json_object_get_int_member(n, "attempts"), >=, 2);
  const char *why = json_object_get_string_member(n, "last_error");
  g_test_message("last_error: %s", why);
  g_assert_true(strstr(why, "TLS") != NULL || strstr(why, "SSL") != NULL);
  fx_free(&f);
}

/* ---- durability and exactly-once ---------------------------------------------------------- */

static void
test_receiver_down(void)
{
  Fx f = { 0 };
  fx_init(&f, NULL);
  guint16 port = free_port();
  f.rport = port;
  gint64 host = add_host(&f, "Host", NULL);
  g_autofree char *url = hook_url(&f, "/hook");
  g_autofree char *req = g_strdup_printf("{\"channel\":\"webhook\",\"target\":\"%s\",\"secret\":\"%s\"}", url, SECRET);
  g_assert_cmpint(set_notify(&f, "default", req, NULL), ==, 200);

  /* Six check-ins while nobody listens: three online, three pushed. */
  GString *events = g_string_new("{\"events\":[");
  gint64 now = g_get_real_time() / G_USEC_PER_SEC;
  for (int i = 0; i < 6; i++) {
    g_autofree char *tid = NULL;
    g_autofree char *name = g_strdup_printf("Visitor %d", i);
    g_autofree char *ticket = issue(&f, host, name, NULL, FALSE, &tid);
    g_autofree char *ev = g_strdup_printf("down-ev-%04d", i);
    if (i < 3)
      g_assert_true(redeem(&f, f.dev, ticket, ev));
    else
      g_string_append_printf(events, "%s{\"id\":\"%s\",\"kind\":\"checkin\",\"ticket_id\":\"%s\",\"at\":%" G_GINT64_FORMAT
                             ",\"offline\":true}", i > 3 ? "," : "", ev, tid, now);
  }
  g_string_append(events, "]}");
  g_autoptr(JsonNode) pushed = NULL;
  g_assert_cmpint(device(&f, f.dev, "/v1/sync/push", events->str, &pushed), ==, 200);
  g_string_free(events, TRUE);
  g_usleep(3500000);
  g_autoptr(JsonNode) holder = NULL;
  JsonArray *pending = list_notifications(&f, NULL, &holder);
  g_assert_cmpuint(json_array_get_length(pending), ==, 6);
  for (guint i = 0; i < 6; i++) {
    JsonObject *n = json_array_get_object_element(pending, i);
    g_assert_cmpstr(json_object_get_string_member(n, "status"), ==, "pending");
    g_assert_cmpint(json_object_get_int_member(n, "attempts"), >=, 2);
  }

  /* The receiver comes up: all six arrive, each exactly once. */
  receiver_start(&f, port, NULL);
  g_assert_cmpuint(f.rport, ==, port);
  wait_all_delivered(&f, 6, 15);
  g_usleep(1500000);
  g_autoptr(GPtrArray) rows = rows_at(f.rlog, NULL);
  g_autoptr(GHashTable) counts = count_keys(rows);
  g_assert_cmpuint(g_hash_table_size(counts), ==, 6);
  g_assert_cmpuint(rows->len, ==, 6);  /* raw deliveries: none twice */
  for (guint i = 0; i < rows->len; i++)
    g_assert_true(row_bool(rows->pdata[i], "sig_ok"));

  /* An answer lost on the way back: the sender tries again with the same key,
   * and a receiver that honours it shows the visitor once. */
  receiver_stop(&f);
  const char *lose[] = { "--lose-first", NULL };
  receiver_start(&f, port, lose);
  g_autofree char *ticket = issue(&f, host, "Lost Answer", NULL, FALSE, NULL);
  g_assert_true(redeem(&f, f.dev, ticket, "down-ev-0100"));
  wait_all_delivered(&f, 7, 15);
  g_autoptr(GPtrArray) rows2 = rows_at(f.rlog, NULL);
  g_assert_cmpuint(rows2->len, ==, 8);
  JsonNode *first = rows2->pdata[6], *second = rows2->pdata[7];
  g_assert_cmpstr(row_str(first, "key"), ==, row_str(second, "key"));
  g_assert_false(row_bool(first, "answered"));
  g_assert_false(row_bool(first, "duplicate"));
  g_assert_true(row_bool(second, "duplicate"));
  fx_free(&f);
}

static void
test_sigkill_before_delivery(void)
{
  Fx f = { 0 };
  fx_init(&f, NULL);
  guint16 port = free_port();
  f.rport = port;
  gint64 host = add_host(&f, "Host", NULL);
  g_autofree char *url = hook_url(&f, "/hook");
  g_autofree char *req = g_strdup_printf("{\"host\":\"Host\",\"channel\":\"webhook\",\"target\":\"%s\","
                                         "\"secret\":\"%s\"}", url, SECRET);
  g_assert_cmpint(set_notify(&f, "host", req, NULL), ==, 200);
  g_autofree char *ticket = issue(&f, host, "Killed Before", NULL, FALSE, NULL);
  g_assert_true(redeem(&f, f.dev, ticket, "kill-ev-0001"));
  /* Killed right after the answer: the notification is only in the store. */
  gk_test_server_kill(f.server);
  receiver_start(&f, port, NULL);
  gk_test_server_start(f.server);
  g_autoptr(GPtrArray) rows = wait_rows(f.rlog, "/hook", 1, 30);
  g_assert_cmpuint(rows->len, ==, 1);
  g_assert_true(row_bool(rows->pdata[0], "sig_ok"));
  wait_all_delivered(&f, 1, 5);
  g_usleep(1000000);
  g_autoptr(GPtrArray) after = rows_at(f.rlog, NULL);
  g_assert_cmpuint(after->len, ==, 1);
  fx_free(&f);
}

/* ---- failures for admins, retry by hand ------------------------------------------------ */

static void
test_failed_and_retry(void)
{
  Fx f = { 0 };
  fx_init(&f, NULL);
  const char *refuse[] = { "--status", "404", NULL };
  receiver_start(&f, 0, refuse);
  guint16 port = f.rport;
  gint64 host = add_host(&f, "Host", NULL);
  g_autofree char *url = hook_url(&f, "/hook");
  g_autofree char *req = g_strdup_printf("{\"channel\":\"webhook\",\"target\":\"%s\",\"secret\":\"%s\"}", url, SECRET);
  g_assert_cmpint(set_notify(&f, "default", req, NULL), ==, 200);
  g_autofree char *ticket = issue(&f, host, "Refused", NULL, FALSE, NULL);
  g_assert_true(redeem(&f, f.dev, ticket, "fail-ev-0001"));
  g_autoptr(GPtrArray) rows = wait_rows(f.rlog, NULL, 1, 10);
  g_assert_cmpuint(rows->len, ==, 1);
  g_usleep(1500000);
  /* A 404 will not change by waiting: failed at once, listed for admins. */
  g_autoptr(JsonNode) h1 = NULL;
  JsonArray *failed = list_notifications(&f, "?failed=1", &h1);
  g_assert_cmpuint(json_array_get_length(failed), ==, 1);
  JsonObject *n = json_array_get_object_element(failed, 0);
  g_assert_cmpstr(json_object_get_string_member(n, "status"), ==, "failed");
  g_assert_nonnull(strstr(json_object_get_string_member(n, "last_error"), "HTTP 404"));
  g_autofree char *id = g_strdup(json_object_get_string_member(n, "id"));
  g_autoptr(GPtrArray) still = rows_at(f.rlog, NULL);
  g_assert_cmpuint(still->len, ==, 1);

  /* Bad retries change nothing. */
  g_assert_cmpint(admin(&f, "POST", "/v1/notifications/ntf-00000000000000000000000000000000/retry", "{}", NULL), ==,
                  404);
  g_assert_cmpint(admin(&f, "POST", "/v1/notifications/nonsense/retry", "{}", NULL), ==, 400);
  g_assert_cmpint(admin(&f, "GET", "/v1/notifications?failed=2", NULL, NULL), ==, 400);

  receiver_stop(&f);
  receiver_start(&f, port, NULL);
  g_autofree char *path = g_strdup_printf("/v1/notifications/%s/retry", id);
  g_autoptr(JsonNode) r = NULL;
  g_assert_cmpint(admin(&f, "POST", path, "{}", &r), ==, 200);
  g_assert_cmpstr(gk_test_json_str(r, "status"), ==, "pending");
  wait_all_delivered(&f, 1, 10);
  g_autoptr(JsonNode) h2 = NULL;
  g_assert_cmpuint(json_array_get_length(list_notifications(&f, "?failed=1", &h2)), ==, 0);
  /* Delivered: another retry is refused and sends nothing. */
  g_autoptr(JsonNode) r2 = NULL;
  g_assert_cmpint(admin(&f, "POST", path, "{}", &r2), ==, 409);
  g_usleep(1000000);
  g_autoptr(GPtrArray) end = rows_at(f.rlog, NULL);
  g_assert_cmpuint(end->len, ==, 2);
  fx_free(&f);
}

/* ---- devices gone silent -------------------------------------------------------------------- */

static void
test_device_offline(void)
{
  Fx f = { 0 };
  fx_init(&f, NULL);
  receiver_start(&f, 0, NULL);
  g_autofree char *url = hook_url(&f, "/admins");
  g_autofree char *req = g_strdup_printf("{\"channel\":\"webhook\",\"target\":\"%s\",\"secret\":\"%s\","
                                         "\"language\":\"en\",\"offline_after_s\":2}", url, SECRET);
  g_assert_cmpint(set_notify(&f, "admins", req, NULL), ==, 200);
  g_autoptr(GPtrArray) rows = wait_rows(f.rlog, "/admins", 1, 15);
  g_assert_cmpuint(rows->len, ==, 1);
  g_assert_true(row_bool(rows->pdata[0], "sig_ok"));
  g_assert_cmpstr(row_str(rows->pdata[0], "event"), ==, "device.offline");
  g_autoptr(JsonNode) body = row_body(rows->pdata[0]);
  JsonObject *data = json_object_get_object_member(json_node_get_object(body), "data");
  g_assert_cmpstr(json_object_get_string_member(data, "device_id"), ==, f.dev->device_id);
  g_assert_nonnull(strstr(gk_test_json_str(body, "text"), "has not been in touch since"));
  /* One alert per silence, however often the check runs. */
  g_usleep(3000000);
  g_autoptr(GPtrArray) again = rows_at(f.rlog, "/admins");
  g_assert_cmpuint(again->len, ==, 1);
  fx_free(&f);
}

/* ---- settings: checks, secrets, roles -------------------------------------------------------- */

static char *
login_as(Fx *f, const char *user, const char *role)
{
  g_autofree char *db = g_build_filename(f->server->data_dir, "master.db", NULL);
  g_autofree char *kek = g_build_filename(f->server->data_dir, "master.kek", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(SrvStore) store = srv_store_open(db, kek, 1, &error);
  g_assert_no_error(error);
  const char *pw = "Role-Passw0rd-1!";
  g_autofree char *hash = gk_password_hash(pw, &error);
  g_assert_true(srv_store_account_add(store, user, hash, role, FALSE, g_get_real_time() / G_USEC_PER_SEC, NULL,
                                      &error));
  GkTestClient c = { .ca_path = f->server->ca_path };
  g_autofree char *url = g_strconcat(f->server->admin_url, "/v1/login", NULL);
  g_autofree char *body = g_strdup_printf("{\"username\":\"%s\",\"password\":\"%s\"}", user, pw);
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(gk_test_request(&c, "POST", url, body, &reply, NULL), ==, 200);
  return g_strdup(gk_test_json_str(reply, "token"));
}

static char *
settings_text(Fx *f)
{
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(admin(f, "GET", "/v1/notify", NULL, &reply), ==, 200);
  return json_to_string(reply, FALSE);
}

static void
test_settings_and_access(void)
{
  Fx f = { 0 };
  fx_init(&f, NULL);
  gint64 host = add_host(&f, "Host", NULL);
  g_autofree char *ok_req = g_strdup_printf("{\"host\":\"%" G_GINT64_FORMAT "\",\"channel\":\"webhook\","
                                            "\"target\":\"https://hooks.example.com/genkan\"}", host);
  /* No secret given: the server makes one and shows it this once. */
  g_autoptr(JsonNode) made = NULL;
  g_assert_cmpint(set_notify(&f, "host", ok_req, &made), ==, 200);
  const char *secret = gk_test_json_str(made, "secret");
  g_assert_nonnull(secret);
  g_assert_true(g_str_has_prefix(secret, "gks_"));
  g_assert_cmpuint(strlen(secret), >=, 40);
  g_autofree char *listed = settings_text(&f);
  g_assert_null(strstr(listed, secret));
  /* The same endpoint again (say, a new language) keeps the secret: none shown. */
  g_autoptr(JsonNode) same = NULL;
  g_assert_cmpint(set_notify(&f, "host", ok_req, &same), ==, 200);
  g_assert_null(gk_test_json_str(same, "secret"));
  g_autofree char *log = gk_test_server_log(f.server);
  g_assert_null(strstr(log, secret));

  /* Bad settings: a clear 4xx, and nothing changes. */
  g_autofree char *before = settings_text(&f);
  static const char *const bad[][2] = {
    { "default", "{\"channel\":\"fax\",\"target\":\"x\"}" },
    { "default", "{\"channel\":\"webhook\",\"target\":\"http://hooks.example.com/x\"}" },
    { "default", "{\"channel\":\"webhook\",\"target\":\"ftp://hooks.example.com/x\"}" },
    { "default", "{\"channel\":\"webhook\",\"target\":\"https://user:pw@hooks.example.com/x\"}" },
    { "default", "{\"channel\":\"slack\"}" },
    { "default", "{\"channel\":\"slack\",\"target\":\"https://hooks.slack.com/x\",\"secret\":\"0123456789abcdef\"}" },
    { "default", "{\"channel\":\"webhook\",\"target\":\"https://h.example.com/x\",\"secret\":\"short\"}" },
    { "default", "{\"channel\":\"webhook\",\"target\":\"https://h.example.com/x\",\"language\":\"fr\"}" },
    { "default", "{\"channel\":\"none\",\"target\":\"https://h.example.com/x\"}" },
    { "default", "{\"channel\":\"slack\",\"target\":\"https://h.example.com/x\",\"offline_after_s\":60}" },
    { "default", "{\"channel\":\"slack\",\"target\":\"https://h.example.com/x\",\"colour\":\"red\"}" },
    { "default", "{\"channel\":\"slack\",\"target\":\"https://h.example.com/x\",\"host\":\"Host\"}" },
    { "default", "{\"channel\":\"email\",\"target\":\"a@example.com\"}" },  /* no SMTP relay set up */
    { "security", "{\"channel\":\"webhook\"}" },
    { "host", "{\"channel\":\"slack\",\"target\":\"https://h.example.com/x\"}" },
    { "host", "{\"host\":\"Nobody\",\"channel\":\"slack\",\"target\":\"https://h.example.com/x\"}" },
    { "admins", "{\"channel\":\"slack\",\"target\":\"https://h.example.com/x\",\"offline_after_s\":-1}" },
    { "default", "{\"channel\":" },
  };
  for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
    long status = set_notify(&f, bad[i][0], bad[i][1], NULL);
    if (status != 400 && status != 404)
      g_error("bad setting %u (%s) answered %ld", i, bad[i][1], status);
  }
  g_assert_cmpint(set_notify(&f, "fax", "{\"channel\":\"none\"}", NULL), ==, 404);
  g_autofree char *after = settings_text(&f);
  g_assert_cmpstr(before, ==, after);

  /* Deny by default: only owner and admin change settings; auditors read. */
  g_autofree char *receptionist = login_as(&f, "rita", "receptionist");
  g_autofree char *guard = login_as(&f, "sam", "security");
  g_autofree char *auditor = login_as(&f, "audrey", "auditor");
  const char *set_body = "{\"channel\":\"none\"}";
  g_assert_cmpint(admin_as(&f, receptionist, "GET", "/v1/notify", NULL, NULL), ==, 403);
  g_assert_cmpint(admin_as(&f, receptionist, "POST", "/v1/notify/default", set_body, NULL), ==, 403);
  g_assert_cmpint(admin_as(&f, receptionist, "GET", "/v1/notifications", NULL, NULL), ==, 403);
  g_assert_cmpint(admin_as(&f, guard, "GET", "/v1/notify", NULL, NULL), ==, 403);
  g_assert_cmpint(admin_as(&f, guard, "POST", "/v1/notify/security", set_body, NULL), ==, 403);
  g_assert_cmpint(admin_as(&f, auditor, "GET", "/v1/notify", NULL, NULL), ==, 200);
  g_assert_cmpint(admin_as(&f, auditor, "GET", "/v1/notifications?failed=1", NULL, NULL), ==, 200);
  g_assert_cmpint(admin_as(&f, auditor, "POST", "/v1/notify/default", set_body, NULL), ==, 403);
  g_assert_cmpint(admin_as(&f, auditor, "POST", "/v1/notifications/ntf-00000000000000000000000000000000/retry",
                           "{}", NULL), ==, 403);
  g_assert_cmpint(admin_as(&f, NULL, "GET", "/v1/notify", NULL, NULL), ==, 401);
  g_assert_cmpint(admin_as(&f, NULL, "POST", "/v1/notify/default", set_body, NULL), ==, 401);
  g_assert_cmpint(admin(&f, "DELETE", "/v1/notify/default", NULL, NULL), ==, 405);
  g_autofree char *unchanged = settings_text(&f);
  g_assert_cmpstr(before, ==, unchanged);
  fx_free(&f);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/integration/notify/webhook-checkin", test_webhook_checkin);
  g_test_add_func("/integration/notify/slack-teams-push-double-entry-walkin", test_slack_teams_push);
  g_test_add_func("/integration/notify/email-starttls", test_email_starttls);
  g_test_add_func("/integration/notify/email-requires-starttls", test_email_requires_starttls);
  g_test_add_func("/integration/notify/receiver-down", test_receiver_down);
  g_test_add_func("/integration/notify/sigkill-before-delivery", test_sigkill_before_delivery);
  g_test_add_func("/integration/notify/failed-and-retry", test_failed_and_retry);
  g_test_add_func("/integration/notify/device-offline", test_device_offline);
  g_test_add_func("/integration/notify/settings-and-access", test_settings_and_access);
  return g_test_run();
}
