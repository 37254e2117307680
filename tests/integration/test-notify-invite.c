/* Invitation e-mails end to end on loopback: a real genkan-server issues
 * tickets with the visitor's address (admin API and genkanctl) and an SMTP
 * server with STARTTLS and AUTH (notify-smtp.py, aiosmtpd) receives them. The
 * message is read as a mail client would (invite-mime.py, Python's email
 * package): multipart/related with UTF-8 text and HTML and the QR code inline,
 * which zbar reads back to the ticket's text. The reception code and the QR
 * text stay in the outbox only until delivery, in no log line; a relay that is
 * down delays the e-mail and loses nothing; a bad address or a server without
 * a relay stores no ticket. */
#include <glib/gstdio.h>
#include <signal.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include "gk-json.h"
#include "gk-password.h"
#include "gk-store.h"
#include "gk-test-server.h"
#include "gk-test-util.h"
#include "kiosk-scanner.h"
#include "srv-ctl.h"
#include "srv-store-private.h"

#define OWNER_PW "Invite-Owner-Passw0rd!"
#define SMTP_USER "genkan-relay"
#define SMTP_PASSWORD "relay-Passw0rd-7"
#define GUEST "guest.hanako@example.com"
#define GUEST_EN "sato.guest@example.org"

typedef struct {
  char *dir;
  char *cert, *key;
  char *cred;
  GkTestServer *server;
  char *token;
  GSubprocess *smtp;
  guint16 sport;
  char *slog;
} Fx;

/* ---- helpers: processes ---------------------------------------------------------- */

/* A test that aborts must not leave the SMTP server behind. */
static void
die_with_parent(gpointer data)
{
  prctl(PR_SET_PDEATHSIG, SIGKILL);
}

static const char *
python(void)
{
  return g_file_test("/usr/bin/python3", G_FILE_TEST_IS_EXECUTABLE) ? "/usr/bin/python3" : "python3";
}

static char *
script(const char *name)
{
  return g_build_filename(GK_SOURCE_DIR, "tests", "integration", name, NULL);
}

/* Runs @argv to its end; returns its stdout, or its stderr when it failed and
 * !@must_succeed (else a failure is fatal); *out_status: the wait status. */
static char *
run(const char *const *argv, char **envp, gboolean must_succeed, int *out_status)
{
  g_autofree char *err = NULL;
  char *out = NULL;
  int status = 0;
  g_autoptr(GError) error = NULL;
  g_assert_true(g_spawn_sync(NULL, (char **) argv, envp, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err, &status, &error));
  g_assert_no_error(error);
  if (must_succeed && !g_spawn_check_wait_status(status, NULL))
    g_error("%s failed: %s%s", argv[0], out, err);
  if (out_status != NULL)
    *out_status = status;
  if (!must_succeed && !g_spawn_check_wait_status(status, NULL)) {
    g_free(out);
    return g_steal_pointer(&err);
  }
  return out;
}

static void
smtp_start(Fx *f)
{
  g_autofree char *port_file = g_build_filename(f->dir, "smtp.port", NULL);
  g_autofree char *smtp_py = script("notify-smtp.py");
  const char *argv[] = { python(), smtp_py, "--port-file", port_file, "--log", f->slog, "--tls", f->cert, f->key,
                         "--user", SMTP_USER, "--password", SMTP_PASSWORD, "--max-seconds", "300", NULL };
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
  g_subprocess_launcher_set_child_setup(launcher, die_with_parent, NULL, NULL);
  g_autoptr(GError) error = NULL;
  f->smtp = g_subprocess_launcher_spawnv(launcher, argv, &error);
  g_assert_no_error(error);
  for (guint tries = 0; f->sport == 0; tries++) {
    g_autofree char *port = NULL;
    if (g_file_get_contents(port_file, &port, NULL, NULL))
      f->sport = (guint16) g_ascii_strtoull(port, NULL, 10);
    else if (tries > 200 || g_subprocess_get_identifier(f->smtp) == NULL)
      g_error("notify-smtp.py did not listen (is python3-aiosmtpd installed?)");
    else
      g_usleep(50000);
  }
}

/* A port nothing listens on: a relay that is down. */
static guint16
dead_port(void)
{
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  socklen_t len = sizeof a;
  g_assert_cmpint(bind(fd, (struct sockaddr *) &a, sizeof a), ==, 0);
  g_assert_cmpint(getsockname(fd, (struct sockaddr *) &a, &len), ==, 0);
  close(fd);
  return ntohs(a.sin_port);
}

/* ---- helpers: the server ---------------------------------------------------------- */

/* The server's configuration: fast retries, Tokyo time, the test certificate
 * trusted, and the relay on @smtp_port (0: no relay at all). */
static void
configure(Fx *f, guint16 smtp_port)
{
  g_autofree char *smtp = smtp_port == 0 ? g_strdup("")
                                         : g_strdup_printf("[smtp]\nhost = localhost\nport = %u\n"
                                                           "from = genkan@example.com\ncredentials-file = %s\n",
                                                           smtp_port, f->cred);
  g_autofree char *config = g_strdup_printf("[notify]\nretry-base-s = 1\nretry-max-s = 2\ntimeout-ms = 3000\n"
                                            "connect-timeout-ms = 1000\ntimezone = Asia/Tokyo\nca-file = %s\n%s",
                                            f->cert, smtp);
  gk_test_server_configure(f->server, config);
}

/* @relay: start the SMTP server first and point genkan-server at it; FALSE:
 * configure a relay on a port where nothing listens (@no_smtp: no relay at all). */
static void
fx_init(Fx *f, gboolean relay, gboolean no_smtp)
{
  f->dir = gk_test_make_tmpdir("genkan-invite");
  f->slog = g_build_filename(f->dir, "smtp.jsonl", NULL);
  f->cert = g_build_filename(f->dir, "relay.crt", NULL);
  f->key = g_build_filename(f->dir, "relay.key", NULL);
  const char *openssl[] = { "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                            "-nodes", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                            "-days", "2", "-keyout", f->key, "-out", f->cert, NULL };
  g_free(run(openssl, NULL, TRUE, NULL));
  f->cred = g_build_filename(f->dir, "smtp-credentials", NULL);
  g_assert_true(g_file_set_contents_full(f->cred, SMTP_USER "\n" SMTP_PASSWORD "\n", -1, G_FILE_SET_CONTENTS_NONE,
                                         0600, NULL));
  if (relay)
    smtp_start(f);
  f->server = gk_test_server_init();
  configure(f, no_smtp ? 0 : relay ? f->sport : dead_port());
  gk_test_server_start(f->server);
  f->token = gk_test_server_login_owner(f->server, OWNER_PW);
}

static void
fx_free(Fx *f)
{
  if (f->smtp != NULL) {
    g_subprocess_force_exit(f->smtp);
    g_subprocess_wait(f->smtp, NULL, NULL);
    g_clear_object(&f->smtp);
  }
  gk_test_server_free(f->server);
  gk_test_rmtree(f->dir);
  g_free(f->dir);
  g_free(f->cert);
  g_free(f->key);
  g_free(f->cred);
  g_free(f->token);
  g_free(f->slog);
}

static long
admin_as(Fx *f, const char *token, const char *method, const char *path, const char *body, JsonNode **reply)
{
  GkTestClient c = { .ca_path = f->server->ca_path, .token = token };
  g_autofree char *url = g_strconcat(f->server->admin_url, path, NULL);
  return gk_test_request(&c, method, url, body, reply, NULL);
}

static gint64
add_host(Fx *f, const char *name, const char *email)
{
  g_autofree char *body = g_strdup_printf("{\"name\":\"%s\",\"email\":\"%s\"}", name, email);
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(admin_as(f, f->token, "POST", "/v1/hosts", body, &reply), ==, 201);
  return gk_test_json_int(reply, "id");
}

/* POST /v1/tickets for @host with @visitor and, unless NULL, @email (a JSON
 * string literal's contents) and @extra members; returns the status. */
static long
issue(Fx *f, const char *token, gint64 host, const char *visitor, const char *email, const char *extra,
      JsonNode **reply)
{
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "visitor");
  json_builder_add_string_value(b, visitor);
  json_builder_set_member_name(b, "host");
  g_autofree char *host_id = g_strdup_printf("%" G_GINT64_FORMAT, host);
  json_builder_add_string_value(b, host_id);
  if (email != NULL) {
    json_builder_set_member_name(b, "visitor_email");
    json_builder_add_string_value(b, email);
  }
  json_builder_end_object(b);
  g_autofree char *json = gk_json_builder_to_string(b);
  if (extra != NULL) {
    /* "{…}" + ",extra}" */
    json[strlen(json) - 1] = '\0';
    g_autofree char *more = g_strconcat(json, ",", extra, "}", NULL);
    return admin_as(f, token, "POST", "/v1/tickets", more, reply);
  }
  return admin_as(f, token, "POST", "/v1/tickets", json, reply);
}

/* Column 0 of the first row of @sql (one optional text parameter) on the
 * server's store, opened directly as the server opens it; NULL for no row or
 * SQL NULL (g_free). */
static char *
store_text(Fx *f, const char *sql, const char *param)
{
  g_autofree char *db = g_build_filename(f->server->data_dir, "master.db", NULL);
  g_autofree char *kek = g_build_filename(f->server->data_dir, "master.kek", NULL);
  gsize n = 0;
  const GkMigration *migrations = srv_store_sqlite_migrations(&n);
  g_autoptr(GError) error = NULL;
  g_autoptr(GkStore) gk = gk_store_open(db, kek, migrations, n, &error);
  g_assert_no_error(error);
  sqlite3_stmt *s = NULL;
  g_assert_cmpint(sqlite3_prepare_v2(gk_store_db(gk), sql, -1, &s, NULL), ==, SQLITE_OK);
  if (param != NULL)
    g_assert_cmpint(sqlite3_bind_text(s, 1, param, -1, SQLITE_TRANSIENT), ==, SQLITE_OK);
  char *value = NULL;
  if (sqlite3_step(s) == SQLITE_ROW)
    value = g_strdup((const char *) sqlite3_column_text(s, 0));
  sqlite3_finalize(s);
  return value;
}

/* "tickets notifications" counted in the store. */
static char *
store_counts(Fx *f)
{
  return store_text(f, "SELECT (SELECT count(*) FROM tickets) || ' ' || (SELECT count(*) FROM notifications)", NULL);
}

/* ---- helpers: what arrived --------------------------------------------------------- */

/* The SMTP log's messages once there are at least @n (or @seconds passed). */
static GPtrArray *
mails(Fx *f, guint n, double seconds)
{
  gint64 until = g_get_monotonic_time() + (gint64) (seconds * G_USEC_PER_SEC);
  for (;;) {
    GPtrArray *rows = g_ptr_array_new_with_free_func((GDestroyNotify) json_node_unref);
    g_autofree char *text = NULL;
    if (g_file_get_contents(f->slog, &text, NULL, NULL)) {
      g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
      for (guint i = 0; lines[i] != NULL; i++)
        if (lines[i][0] != '\0')
          g_ptr_array_add(rows, gk_json_parse_object(lines[i], strlen(lines[i]), 1 << 22, NULL));
    }
    if (rows->len >= n || g_get_monotonic_time() > until)
      return rows;
    g_ptr_array_unref(rows);
    g_usleep(100000);
  }
}

static const char *
str(JsonNode *node, const char *member)
{
  JsonNode *n = json_object_get_member(json_node_get_object(node), member);
  return n != NULL && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING
           ? json_node_get_string(n) : NULL;
}

static gboolean
flag(JsonNode *node, const char *member)
{
  JsonNode *n = json_object_get_member(json_node_get_object(node), member);
  return n != NULL && JSON_NODE_HOLDS_VALUE(n) && json_node_get_boolean(n);
}

/* Parses the raw message of @mail with invite-mime.py, checks what every
 * invitation must be (the MIME tree, no parser defects, 7-bit CRLF lines, the
 * HTML showing the inline image by its Content-ID) and that the image decodes
 * with zbar to @qr_text. Returns the parser's report. */
static JsonNode *
check_invitation(Fx *f, JsonNode *mail, const char *qr_text)
{
  g_assert_true(flag(mail, "tls"));  /* STARTTLS, verified against notify.ca-file */
  g_assert_cmpstr(str(mail, "login"), ==, SMTP_USER);
  g_assert_true(flag(mail, "header_lines_ok"));
  const char *raw = str(mail, "raw");
  g_assert_nonnull(raw);
  g_autofree char *eml = g_build_filename(f->dir, "invitation.eml", NULL);
  g_autofree char *png = g_build_filename(f->dir, "invitation.png", NULL);
  g_unlink(png);
  g_assert_true(g_file_set_contents(eml, raw, -1, NULL));
  g_autofree char *checker = script("invite-mime.py");
  const char *argv[] = { python(), checker, eml, png, NULL };
  g_autofree char *out = run(argv, NULL, TRUE, NULL);
  JsonNode *report = gk_json_parse_object(out, strlen(out), 1 << 22, NULL);
  g_assert_nonnull(report);
  JsonObject *o = json_node_get_object(report);
  g_assert_cmpstr(str(report, "shape"), ==, "multipart/related(multipart/alternative(text/plain,text/html),image/png)");
  g_assert_cmpstr(str(report, "type_param"), ==, "multipart/alternative");
  g_assert_cmpuint(json_array_get_length(json_object_get_array_member(o, "defects")), ==, 0);
  g_assert_true(flag(report, "ascii_only"));
  g_assert_true(flag(report, "no_bare_lf"));
  g_assert_cmpint(json_object_get_int_member(o, "max_line"), <=, 78);
  g_assert_cmpstr(str(report, "plain_charset"), ==, "utf-8");
  g_assert_cmpstr(str(report, "html_charset"), ==, "utf-8");
  g_assert_cmpint(json_object_get_int_member(o, "images"), ==, 1);
  g_assert_cmpstr(str(report, "disposition"), ==, "inline");
  g_assert_true(flag(report, "png_signature_ok"));
  const char *cid = str(report, "cid");
  g_assert_true(g_str_has_prefix(cid, "qr.ntf-"));
  g_autofree char *img = g_strdup_printf("<img src=\"cid:%s\"", cid);
  g_assert_nonnull(strstr(str(report, "html"), img));
  /* The picture is the ticket: zbar reads the ticket's own text from it. */
  g_autofree char *decoded = NULL;
  g_autoptr(GError) error = NULL;
  g_assert_true(kiosk_scan_image_file(png, &decoded, &error));
  g_assert_no_error(error);
  g_assert_cmpstr(decoded, ==, qr_text);
  return report;
}

/* "2026-11-22 09:00 JST": how the e-mail writes @t (notify.timezone Asia/Tokyo). */
static char *
tokyo(gint64 t)
{
  g_autoptr(GTimeZone) tz = g_time_zone_new_identifier("Asia/Tokyo");
  g_autoptr(GDateTime) utc = g_date_time_new_from_unix_utc(t);
  g_autoptr(GDateTime) local = g_date_time_to_timezone(utc, tz);
  return g_date_time_format(local, "%Y-%m-%d %H:%M %Z");
}

/* Waits until the outbox lists @n notifications, all delivered invitations. */
static void
wait_delivered(Fx *f, guint n, double seconds)
{
  gint64 until = g_get_monotonic_time() + (gint64) (seconds * G_USEC_PER_SEC);
  for (;;) {
    g_autoptr(JsonNode) reply = NULL;
    g_assert_cmpint(admin_as(f, f->token, "GET", "/v1/notifications", NULL, &reply), ==, 200);
    JsonArray *list = json_object_get_array_member(json_node_get_object(reply), "notifications");
    guint done = 0;
    for (guint i = 0; i < json_array_get_length(list); i++) {
      JsonObject *o = json_array_get_object_element(list, i);
      g_assert_cmpstr(json_object_get_string_member(o, "kind"), ==, "invitation");
      g_assert_cmpstr(json_object_get_string_member(o, "recipient"), ==, "visitor");
      g_assert_cmpstr(json_object_get_string_member(o, "channel"), ==, "email");
      done += g_strcmp0(json_object_get_string_member(o, "status"), "delivered") == 0;
    }
    if (done == n && json_array_get_length(list) == n)
      return;
    if (g_get_monotonic_time() > until)
      g_error("%u of %u invitations delivered", done, json_array_get_length(list));
    g_usleep(100000);
  }
}

/* An account of @role, signed in (the store is written directly, as an
 * operator's tooling would). */
static char *
login_as(Fx *f, const char *user, const char *role)
{
  g_autofree char *db = g_build_filename(f->server->data_dir, "master.db", NULL);
  g_autofree char *kek = g_build_filename(f->server->data_dir, "master.kek", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(SrvStore) store = srv_store_open(db, kek, 1, &error);
  g_assert_no_error(error);
  const char *pw = "Role-Passw0rd-2!";
  g_autofree char *hash = gk_password_hash(pw, &error);
  g_assert_true(srv_store_account_add(store, user, hash, role, FALSE, g_get_real_time() / G_USEC_PER_SEC, NULL,
                                      &error));
  g_autofree char *body = g_strdup_printf("{\"username\":\"%s\",\"password\":\"%s\"}", user, pw);
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(admin_as(f, NULL, "POST", "/v1/login", body, &reply), ==, 200);
  return g_strdup(gk_test_json_str(reply, "token"));
}

/* ---- the invitation, in Japanese and English, through the API and genkanctl ------- */

static void
test_invite_email(void)
{
  Fx f = { 0 };
  fx_init(&f, TRUE, FALSE);
  gint64 yamada = add_host(&f, "山田 太郎", "yamada@example.com");
  gint64 sato = add_host(&f, "Sato", "sato@example.com");
  /* Sato reads English: his visitors are invited in English. */
  g_autofree char *en = g_strdup_printf("{\"host\":\"%" G_GINT64_FORMAT "\",\"channel\":\"email\",\"language\":\"en\"}",
                                        sato);
  g_assert_cmpint(admin_as(&f, f.token, "POST", "/v1/notify/host", en, NULL), ==, 200);

  gint64 from = g_get_real_time() / G_USEC_PER_SEC + 3600, until = from + 5400;
  g_autofree char *window = g_strdup_printf("\"valid_from\":%" G_GINT64_FORMAT ",\"valid_until\":%" G_GINT64_FORMAT,
                                            from, until);
  g_autoptr(JsonNode) issued = NULL;
  double issued_at = (double) g_get_real_time() / G_USEC_PER_SEC;
  g_assert_cmpint(issue(&f, f.token, yamada, "鈴木 花子 <Hanako & Co>", GUEST, window, &issued), ==, 201);
  const char *qr_text = gk_test_json_str(issued, "text");
  const char *code = gk_test_json_str(issued, "reception_code");
  const char *invitation = gk_test_json_str(issued, "invitation_id");
  g_assert_nonnull(code);
  g_assert_true(g_str_has_prefix(invitation, "ntf-"));

  g_autoptr(GPtrArray) first = mails(&f, 1, 15);
  g_assert_cmpuint(first->len, ==, 1);
  JsonNode *m = first->pdata[0];
  g_test_message("issue to SMTP receipt: %.0f ms",
                 (json_object_get_double_member(json_node_get_object(m), "t") - issued_at) * 1000);
  JsonArray *rcpt = json_object_get_array_member(json_node_get_object(m), "rcpt_tos");
  g_assert_cmpuint(json_array_get_length(rcpt), ==, 1);
  g_assert_cmpstr(json_array_get_string_element(rcpt, 0), ==, GUEST);
  g_assert_cmpstr(str(m, "to"), ==, GUEST);
  g_assert_cmpstr(str(m, "idempotency_key"), ==, invitation);
  g_assert_cmpstr(str(m, "subject"), ==, "ご来訪のご案内: Main site（山田 太郎 さん）");
  g_assert_true(g_str_has_prefix(str(m, "raw_subject"), "=?UTF-8?B?"));  /* RFC 2047, UTF-8 */
  g_autoptr(JsonNode) report = check_invitation(&f, m, qr_text);
  g_assert_cmpstr(str(report, "subject"), ==, "ご来訪のご案内: Main site（山田 太郎 さん）");
  /* The text names the host, the window and the code, and says the QR is attached. */
  const char *plain = str(report, "plain");
  g_autofree char *t_from = tokyo(from), *t_until = tokyo(until);
  g_autofree char *window_text = g_strdup_printf("有効期間: %s ～ %s", t_from, t_until);
  g_autofree char *code_line = g_strdup_printf("受付コード: %s", code);
  g_assert_nonnull(strstr(plain, "鈴木 花子 <Hanako & Co> 様"));
  g_assert_nonnull(strstr(plain, "担当者: 山田 太郎"));
  g_assert_nonnull(strstr(plain, window_text));
  g_assert_nonnull(strstr(plain, code_line));
  g_assert_nonnull(strstr(plain, "添付の QR コード"));
  g_assert_nonnull(strstr(plain, "JST"));
  /* The HTML says the same, with the visitor's words escaped, never markup. */
  const char *html = str(report, "html");
  g_assert_nonnull(strstr(html, "<html lang=\"ja\">"));
  g_assert_nonnull(strstr(html, "鈴木 花子 &lt;Hanako &amp; Co&gt; 様"));
  g_assert_null(strstr(html, "<Hanako"));
  g_assert_nonnull(strstr(html, code_line));

  /* English for Sato's visitor, and a QR-only ticket says nothing of a code. */
  g_autoptr(JsonNode) issued_en = NULL;
  g_assert_cmpint(issue(&f, f.token, sato, "Ada Lovelace", GUEST_EN, "\"reception_code\":false", &issued_en), ==, 201);
  g_assert_null(gk_test_json_str(issued_en, "reception_code"));
  g_autoptr(GPtrArray) second = mails(&f, 2, 15);
  g_assert_cmpuint(second->len, ==, 2);
  JsonNode *m2 = second->pdata[1];
  g_assert_cmpstr(str(m2, "subject"), ==, "Your visit to Main site (Sato)");
  g_autoptr(JsonNode) report_en = check_invitation(&f, m2, gk_test_json_str(issued_en, "text"));
  const char *plain_en = str(report_en, "plain");
  g_assert_nonnull(strstr(plain_en, "Dear Ada Lovelace,"));
  g_assert_nonnull(strstr(plain_en, "Host: Sato"));
  g_assert_nonnull(strstr(plain_en, "show the attached QR code"));
  g_assert_null(strstr(plain_en, "eception code"));
  g_assert_nonnull(strstr(str(report_en, "html"), "<html lang=\"en\">"));

  /* genkanctl ticket issue --email: the same invitation; listed as such. The
   * owner's session (signed in with a second factor above) is saved for it. */
  g_autofree char *xdg = g_build_filename(f.dir, "xdg", NULL);
  g_setenv("XDG_CONFIG_HOME", xdg, TRUE);
  SrvCtlSession session = { .server = f.server->admin_url, .ca = f.server->ca_path, .token = f.token };
  g_autoptr(GError) error = NULL;
  g_assert_true(srv_ctl_session_save(&session, &error));
  g_auto(GStrv) env = g_get_environ();
  env = g_environ_setenv(env, "HOME", f.dir, TRUE);
  env = g_environ_unsetenv(env, "GENKAN_SERVER");
  env = g_environ_unsetenv(env, "GENKAN_CA");
  const char *ctl = GK_BUILD_DIR "/sync-server/genkanctl";
  g_autofree char *host_arg = g_strdup_printf("%" G_GINT64_FORMAT, yamada);
  const char *ctl_issue[] = { ctl, "ticket", "issue", "--visitor", "CLI Visitor", "--host", host_arg, "--email",
                              "cli.visitor@example.com", NULL };
  g_autofree char *ctl_out = run(ctl_issue, env, TRUE, NULL);
  g_assert_nonnull(strstr(ctl_out, "invitation   ntf-"));
  g_assert_nonnull(strstr(ctl_out, "queued to cli.visitor@example.com"));
  g_auto(GStrv) ctl_lines = g_strsplit(g_strstrip(ctl_out), "\n", -1);
  const char *ctl_ticket = ctl_lines[g_strv_length(ctl_lines) - 1];  /* the QR text, last */
  g_autoptr(GPtrArray) third = mails(&f, 3, 15);
  g_assert_cmpuint(third->len, ==, 3);
  g_autoptr(JsonNode) report_ctl = check_invitation(&f, third->pdata[2], ctl_ticket);
  g_assert_nonnull(strstr(str(report_ctl, "plain"), "CLI Visitor 様"));
  /* A bad address from genkanctl: the server's 400, with the reason. */
  const char *ctl_bad[] = { ctl, "ticket", "issue", "--visitor", "Bad", "--host", host_arg, "--email", "no-at-sign",
                            NULL };
  int status = 0;
  g_autofree char *ctl_err = run(ctl_bad, env, FALSE, &status);
  g_assert_false(g_spawn_check_wait_status(status, NULL));
  g_assert_nonnull(strstr(ctl_err, "visitor_email"));
  wait_delivered(&f, 3, 10);
  const char *ctl_list[] = { ctl, "notifications", "list", NULL };
  g_autofree char *listed = run(ctl_list, env, TRUE, NULL);
  g_assert_nonnull(strstr(listed, "invitation"));
  g_assert_nonnull(strstr(listed, "delivered"));

  /* No address, no e-mail: the ticket alone. */
  g_autofree char *before = store_counts(&f);
  g_autoptr(JsonNode) plain_ticket = NULL;
  g_assert_cmpint(issue(&f, f.token, yamada, "No Mail", NULL, NULL, &plain_ticket), ==, 201);
  g_assert_null(gk_test_json_str(plain_ticket, "invitation_id"));
  g_autofree char *after_plain = store_counts(&f);
  g_assert_cmpint(g_ascii_strtoll(after_plain, NULL, 10), ==, g_ascii_strtoll(before, NULL, 10) + 1);
  g_assert_cmpstr(strchr(after_plain, ' '), ==, strchr(before, ' '));

  /* A bad address is a 400 and stores neither ticket nor e-mail. */
  static const char *const bad[] = {
    "no-at-sign", "two@at@example.com", "@example.com", "guest@", "guest@exa_mple.com", "guest@.example.com",
    "guest@example.com\r\nBcc: all@example.com", "gu est@example.com", "<guest@example.com>", "guest@example..com",
    "ゲスト@example.com", "",
  };
  for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
    g_autoptr(JsonNode) reply = NULL;
    long st = issue(&f, f.token, yamada, "Bad Address", bad[i], NULL, &reply);
    if (st != 400)
      g_error("visitor_email \"%s\" answered %ld", bad[i], st);
  }
  g_assert_cmpint(admin_as(&f, f.token, "POST", "/v1/tickets",
                           "{\"visitor\":\"X\",\"host\":\"Sato\",\"visitor_email\":42}", NULL), ==, 400);
  /* Only those who may issue tickets send invitations. */
  g_autofree char *guard = login_as(&f, "sam", "security");
  g_assert_cmpint(issue(&f, guard, yamada, "Not Allowed", GUEST, NULL, NULL), ==, 403);
  g_assert_cmpint(issue(&f, NULL, yamada, "Not Signed In", GUEST, NULL, NULL), ==, 401);
  g_autofree char *after_bad = store_counts(&f);
  g_assert_cmpstr(after_bad, ==, after_plain);
  g_usleep(1500000);
  g_autoptr(GPtrArray) all = mails(&f, 0, 0);
  g_assert_cmpuint(all->len, ==, 3);

  gk_test_server_stop(f.server);
  /* Delivered: the outbox keeps no code and no QR text (the facts never had them). */
  g_autofree char *held = store_text(&f, "SELECT count(*) FROM notifications WHERE visitor_secrets IS NOT NULL", NULL);
  g_assert_cmpstr(held, ==, "0");
  g_autofree char *facts = store_text(&f, "SELECT facts FROM notifications WHERE id = ?1", invitation);
  g_assert_nonnull(facts);
  g_assert_nonnull(strstr(facts, "山田 太郎"));
  g_assert_null(strstr(facts, code));
  g_assert_null(strstr(facts, qr_text));
  /* No log line holds the code, the pass, an address or the visitor's name. */
  g_autofree char *log = gk_test_server_log(f.server);
  g_assert_nonnull(strstr(log, "event=notify.delivered"));
  g_assert_nonnull(strstr(log, invitation));
  g_assert_null(strstr(log, code));
  g_assert_null(strstr(log, qr_text));
  g_assert_null(strstr(log, "guest.hanako"));
  g_assert_null(strstr(log, "sato.guest"));
  g_assert_null(strstr(log, "cli.visitor"));
  g_assert_null(strstr(log, "鈴木"));
  g_assert_null(strstr(log, SMTP_PASSWORD));
  fx_free(&f);
}

/* ---- the relay is down: retried, kept, delivered after a restart ------------------- */

static void
test_invite_relay_down(void)
{
  Fx f = { 0 };
  fx_init(&f, FALSE, FALSE);
  gint64 host = add_host(&f, "Host", "host@example.com");
  g_autoptr(JsonNode) issued = NULL;
  g_assert_cmpint(issue(&f, f.token, host, "Patient Guest", GUEST, NULL, &issued), ==, 201);
  const char *qr_text = gk_test_json_str(issued, "text");
  const char *code = gk_test_json_str(issued, "reception_code");
  const char *id = gk_test_json_str(issued, "invitation_id");

  /* Retried as any notification: pending, attempts counting, the reason kept. */
  gint64 until = g_get_monotonic_time() + 15 * G_USEC_PER_SEC;
  for (;;) {
    g_autoptr(JsonNode) reply = NULL;
    g_assert_cmpint(admin_as(&f, f.token, "GET", "/v1/notifications", NULL, &reply), ==, 200);
    JsonArray *list = json_object_get_array_member(json_node_get_object(reply), "notifications");
    g_assert_cmpuint(json_array_get_length(list), ==, 1);
    JsonObject *n = json_array_get_object_element(list, 0);
    g_assert_cmpstr(json_object_get_string_member(n, "id"), ==, id);
    g_assert_cmpstr(json_object_get_string_member(n, "status"), ==, "pending");
    if (json_object_get_int_member(n, "attempts") >= 2) {
      g_assert_false(json_object_get_null_member(n, "last_error"));
      break;
    }
    g_assert_cmpint(g_get_monotonic_time(), <, until);
    g_usleep(200000);
  }
  /* Until it is delivered the row holds what the e-mail needs. */
  g_autofree char *held = store_text(&f, "SELECT visitor_secrets FROM notifications WHERE id = ?1", id);
  g_assert_nonnull(held);
  g_assert_nonnull(strstr(held, code));
  g_assert_nonnull(strstr(held, qr_text));

  /* The relay comes up (on another port: a new configuration and a restart). */
  gk_test_server_stop(f.server);
  smtp_start(&f);
  configure(&f, f.sport);
  gk_test_server_start(f.server);
  g_autoptr(GPtrArray) got = mails(&f, 1, 20);
  g_assert_cmpuint(got->len, ==, 1);
  g_assert_cmpstr(str(got->pdata[0], "idempotency_key"), ==, id);
  g_autoptr(JsonNode) report = check_invitation(&f, got->pdata[0], qr_text);
  g_assert_nonnull(strstr(str(report, "plain"), code));
  wait_delivered(&f, 1, 10);
  g_usleep(1000000);
  g_autoptr(GPtrArray) once = mails(&f, 0, 0);
  g_assert_cmpuint(once->len, ==, 1);
  gk_test_server_stop(f.server);
  g_autofree char *cleared = store_text(&f, "SELECT visitor_secrets FROM notifications WHERE id = ?1", id);
  g_assert_null(cleared);
  g_autofree char *log = gk_test_server_log(f.server);
  g_assert_null(strstr(log, code));
  g_assert_null(strstr(log, qr_text));
  g_assert_null(strstr(log, "guest.hanako"));
  fx_free(&f);
}

/* ---- a server without a relay refuses, and stores nothing ---------------------------- */

static void
test_invite_no_relay(void)
{
  Fx f = { 0 };
  fx_init(&f, FALSE, TRUE);
  gint64 host = add_host(&f, "Host", "host@example.com");
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(issue(&f, f.token, host, "Guest", GUEST, NULL, &reply), ==, 400);
  JsonObject *e = json_object_get_object_member(json_node_get_object(reply), "error");
  g_assert_nonnull(strstr(json_object_get_string_member(e, "message"), "smtp.host"));
  g_autofree char *counts = store_counts(&f);
  g_assert_cmpstr(counts, ==, "0 0");
  g_assert_cmpint(issue(&f, f.token, host, "Guest", NULL, NULL, NULL), ==, 201);
  fx_free(&f);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/integration/invite/email", test_invite_email);
  g_test_add_func("/integration/invite/relay-down", test_invite_relay_down);
  g_test_add_func("/integration/invite/no-relay", test_invite_no_relay);
  return g_test_run();
}
