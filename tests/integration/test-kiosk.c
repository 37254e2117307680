/* genkan-kiosk end to end against a real genkan-server on loopback: enrollment,
 * online and offline verdicts, exactly-once event delivery, conflicts between
 * gates, revocation with wipe, remote settings, and SIGKILL of a headless gate. */
#include <signal.h>
#include <string.h>
#include <sys/stat.h>

#include <gdk-pixbuf/gdk-pixbuf.h>

#include "gk-json.h"
#include "gk-test-server.h"
#include "gk-test-util.h"
#include "kiosk-net.h"
#include "kiosk-store.h"
#include "kiosk-sync.h"

#define OWNER_PW "N3w-Owner-Passw0rd!"
#define KIOSK GK_BUILD_DIR "/kiosk/genkan-kiosk"
#define CTL GK_BUILD_DIR "/sync-server/genkanctl"

typedef struct {
  GkTestServer *server;
  char *token;
  char *tmp;
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer data)
{
  f->server = gk_test_server_init();
  gk_test_server_start(f->server);
  f->token = gk_test_server_login_owner(f->server, OWNER_PW);
  f->tmp = gk_test_make_tmpdir("genkan-kiosk-it");
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
  gk_test_server_free(f->server);
  gk_test_rmtree(f->tmp);
  g_free(f->token);
  g_free(f->tmp);
}

static long
admin(Fixture *f, const char *method, const char *path, const char *body, JsonNode **reply)
{
  GkTestClient c = { .ca_path = f->server->ca_path, .token = f->token };
  g_autofree char *url = g_strconcat(f->server->admin_url, path, NULL);
  return gk_test_request(&c, method, url, body, reply, NULL);
}

/* Runs genkan-kiosk with @args (NULL-terminated); returns the exit status. */
static int
run_kiosk_v(const char *const *args, char **out, char **err)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new();
  g_ptr_array_add(argv, (gpointer) KIOSK);
  for (guint i = 0; args[i]; i++)
    g_ptr_array_add(argv, (gpointer) args[i]);
  g_ptr_array_add(argv, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) p = g_subprocess_newv((const char *const *) argv->pdata,
                                               G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE, &error);
  g_assert_no_error(error);
  g_autofree char *o = NULL, *e = NULL;
  g_assert_true(g_subprocess_communicate_utf8(p, NULL, NULL, &o, &e, &error));
  g_assert_no_error(error);
  if (g_test_verbose())
    g_printerr("kiosk %s %s ->\n%s%s", args[0], args[2] ? args[2] : "", o, e);
  if (out)
    *out = g_steal_pointer(&o);
  if (err)
    *err = g_steal_pointer(&e);
  return g_subprocess_get_if_exited(p) ? g_subprocess_get_exit_status(p) : -1;
}

#define run_kiosk(out, err, ...)                                                                                 \
  run_kiosk_v((const char *const[]){ __VA_ARGS__, NULL }, out, err)

static char *
make_code(Fixture *f, const char *name)
{
  g_autofree char *req = g_strdup_printf("{\"name\":\"%s\",\"mode\":\"gate\"}", name);
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(admin(f, "POST", "/v1/devices/enroll-codes", req, &reply), ==, 201);
  return g_strdup(gk_test_json_str(reply, "code"));
}

/* Enrolls a kiosk into f->tmp/NAME; returns the data dir (g_free). */
static char *
enroll(Fixture *f, const char *name)
{
  g_autofree char *code = make_code(f, name);
  char *dir = g_build_filename(f->tmp, name, NULL);
  g_autofree char *out = NULL, *err = NULL;
  int rc = run_kiosk(&out, &err, "--data-dir", dir, "enroll", code);
  if (rc != 0)
    g_error("enroll failed (%d): %s", rc, err);
  g_assert_nonnull(strstr(out, "enrolled: device"));
  return dir;
}

static gint64
add_host(Fixture *f)
{
  static int n;
  g_autofree char *host = g_strdup_printf("{\"name\":\"Kiosk Host %d\"}", ++n);
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(admin(f, "POST", "/v1/hosts", host, &reply), ==, 201);
  return gk_test_json_int(reply, "id");
}

/* Issues a ticket through the admin API; returns its text, *out_id its id. */
static char *
issue(Fixture *f, gint64 host, gboolean multi, char **out_id)
{
  g_autofree char *req = g_strdup_printf("{\"visitor\":\"Visitor\",\"host\":\"%" G_GINT64_FORMAT "\",\"multi\":%s}",
                                         host, multi ? "true" : "false");
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(admin(f, "POST", "/v1/tickets", req, &reply), ==, 201);
  if (out_id)
    *out_id = g_strdup(gk_test_json_str(reply, "ticket_id"));
  return g_strdup(gk_test_json_str(reply, "text"));
}

/* Check-ins on the server per ticket id. */
static GHashTable *
checkins(Fixture *f)
{
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(admin(f, "GET", "/v1/checkins?limit=10000", NULL, &reply), ==, 200);
  GHashTable *count = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  JsonArray *a = json_object_get_array_member(json_node_get_object(reply), "checkins");
  for (guint i = 0; i < json_array_get_length(a); i++) {
    JsonObject *c = json_array_get_object_element(a, i);
    const char *id = gk_json_get_string(c, "ticket_id", NULL);
    if (id == NULL || strcmp(gk_json_get_string(c, "kind", ""), "checkin") != 0)
      continue;
    guint n = GPOINTER_TO_UINT(g_hash_table_lookup(count, id));
    g_hash_table_insert(count, g_strdup(id), GUINT_TO_POINTER(n + 1));
  }
  return count;
}

static guint
checkins_of(Fixture *f, const char *ticket_id)
{
  g_autoptr(GHashTable) c = checkins(f);
  return GPOINTER_TO_UINT(g_hash_table_lookup(c, ticket_id));
}

static JsonNode *
parse_verdict(const char *line)
{
  g_autoptr(GError) error = NULL;
  JsonNode *n = gk_json_parse_object(line, strlen(line), 4096, &error);
  g_assert_no_error(error);
  return n;
}

/* Runs one ticket text through --headless (no background sync); returns the verdict. */
static JsonNode *
headless_scan(const char *dir, const char *text)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) p =
    g_subprocess_new(G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_SILENCE,
                     &error, KIOSK, "--data-dir", dir, "--headless", "--sync-interval", "0", NULL);
  g_assert_no_error(error);
  g_autofree char *in = g_strconcat(text, "\r\n", NULL);
  g_autofree char *out = NULL;
  g_assert_true(g_subprocess_communicate_utf8(p, in, NULL, &out, NULL, &error));
  g_assert_no_error(error);
  g_assert_true(g_subprocess_get_if_exited(p));
  g_assert_cmpint(g_subprocess_get_exit_status(p), ==, 0);
  g_assert_nonnull(strchr(out, '\n'));
  *strchr(out, '\n') = '\0';
  return parse_verdict(out);
}

/* ---- 1. enrollment ------------------------------------------------------------------ */

static void
test_enroll(Fixture *f, gconstpointer data)
{
  g_autofree char *code = make_code(f, "Gate A");
  g_autofree char *dir = g_build_filename(f->tmp, "a", NULL);
  g_autofree char *out = NULL, *err = NULL;
  g_assert_cmpint(run_kiosk(&out, &err, "--data-dir", dir, "enroll", code), ==, 0);
  g_assert_nonnull(strstr(out, "enrolled: device dev-"));
  g_assert_nonnull(strstr(out, "changes received"));
  struct stat st;
  g_assert_cmpint(stat(dir, &st), ==, 0);
  g_assert_cmpint(st.st_mode & 0777, ==, 0700);
  g_autofree char *kek = g_build_filename(dir, "kiosk.kek", NULL);
  g_assert_cmpint(stat(kek, &st), ==, 0);
  g_assert_cmpint(st.st_mode & 0777, ==, 0600);
  /* The private key is nowhere on disk in the clear. */
  g_assert_false(gk_test_tree_contains(dir, "PRIVATE KEY", strlen("PRIVATE KEY")));
  g_assert_false(gk_test_tree_contains(dir, "BEGIN CERTIFICATE", strlen("BEGIN CERTIFICATE")));

  /* An enrolled dir refuses a second enrollment, without spending the code. */
  g_autofree char *code2 = make_code(f, "Gate A2");
  g_clear_pointer(&err, g_free);
  g_assert_cmpint(run_kiosk(NULL, &err, "--data-dir", dir, "enroll", code2), ==, 1);
  g_assert_nonnull(strstr(err, "already enrolled"));

  /* The same code a second time (new dir): the server refuses it. */
  g_autofree char *dir2 = g_build_filename(f->tmp, "b", NULL);
  g_clear_pointer(&err, g_free);
  g_assert_cmpint(run_kiosk(NULL, &err, "--data-dir", dir2, "enroll", code), ==, 1);
  g_assert_nonnull(strstr(err, "already used"));
  g_autofree char *db2 = g_build_filename(dir2, "kiosk.db", NULL);
  g_assert_false(g_file_test(db2, G_FILE_TEST_EXISTS));

  /* A tampered code: one character changed in the token or the CA fingerprint
   * (characters 5..76 carry payload bytes 0..47). The format has no checksum,
   * so a change in the expiry bytes would go unnoticed by the device (the
   * server enforces the real expiry); the host and port bytes just lead
   * nowhere. code2 is unused and still works afterwards. */
  for (gsize pos = 5; pos < 5 + 3 * 24; pos += 5) {
    g_autofree char *bad = g_strdup(code2);
    bad[pos] = bad[pos] == 'A' ? 'B' : 'A';
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(run_kiosk(NULL, &err, "--data-dir", dir2, "enroll", bad), ==, 1);
    g_assert_nonnull(strstr(err, "enrollment failed"));
    g_assert_false(g_file_test(db2, G_FILE_TEST_EXISTS));
  }
  g_assert_cmpint(run_kiosk(NULL, NULL, "--data-dir", dir2, "enroll", code2), ==, 0);
}

/* ---- 2. genkanctl ticket -> scan-image, online ------------------------------------------ */

static int
run_ctl(Fixture *f, const char *const *args, char **out)
{
  g_autoptr(GSubprocessLauncher) l =
    g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_autofree char *cfg = g_build_filename(f->tmp, "xdg", NULL);
  g_subprocess_launcher_setenv(l, "XDG_CONFIG_HOME", cfg, TRUE);
  g_subprocess_launcher_setenv(l, "GENKAN_PASSWORD", OWNER_PW, TRUE);
  /* The owner signs in with a second factor (gk_test_server_login_owner set it up). */
  g_autofree char *totp_file = gk_test_server_owner_totp_path(f->server);
  g_autofree char *totp = g_strv_contains(args, "login") ? gk_test_totp_next_from_file(totp_file) : NULL;
  if (totp != NULL)
    g_subprocess_launcher_setenv(l, "GENKAN_TOTP_CODE", totp, TRUE);
  g_autoptr(GPtrArray) argv = g_ptr_array_new();
  g_ptr_array_add(argv, (gpointer) CTL);
  for (guint i = 0; args[i]; i++)
    g_ptr_array_add(argv, (gpointer) args[i]);
  g_ptr_array_add(argv, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) p = g_subprocess_launcher_spawnv(l, (const char *const *) argv->pdata, &error);
  g_assert_no_error(error);
  g_autofree char *o = NULL, *e = NULL;
  g_assert_true(g_subprocess_communicate_utf8(p, NULL, NULL, &o, &e, &error));
  int rc = g_subprocess_get_exit_status(p);
  if (rc != 0)
    g_printerr("genkanctl: %s", e);
  if (out)
    *out = g_steal_pointer(&o);
  return rc;
}

static void
test_scan_image_online(Fixture *f, gconstpointer data)
{
  g_autofree char *dir = enroll(f, "gate-online");
  g_assert_cmpint(run_ctl(f, (const char *const[]){ "--server", f->server->admin_url, "--ca", f->server->ca_path,
                                                    "login", "--user", "owner", NULL },
                          NULL),
                  ==, 0);
  gint64 host = add_host(f);
  g_autofree char *host_text = g_strdup_printf("%" G_GINT64_FORMAT, host);
  g_autofree char *png = g_build_filename(f->tmp, "t.png", NULL);
  g_autofree char *out = NULL;
  g_assert_cmpint(run_ctl(f, (const char *const[]){ "ticket", "issue", "--visitor", "Ada Lovelace", "--host", host_text,
                                                    "--qr", png, NULL },
                          &out),
                  ==, 0);
  g_auto(GStrv) lines = g_strsplit(out, "\n", -1);
  const char *id_line = NULL;
  for (guint i = 0; lines[i]; i++)
    if (g_str_has_prefix(lines[i], "ticket "))
      id_line = lines[i];
  g_assert_nonnull(id_line);
  g_autofree char *ticket_id = g_strdup(g_strstrip((char *) id_line + strlen("ticket ")));

  /* The ticket was issued after the kiosk's last sync: verified by signature. */
  g_autofree char *v1 = NULL;
  g_assert_cmpint(run_kiosk(&v1, NULL, "--data-dir", dir, "--redeem-timeout-ms", "5000", "scan-image", png), ==, 0);
  g_autoptr(JsonNode) n1 = parse_verdict(v1);
  g_assert_cmpstr(gk_test_json_str(n1, "verdict"), ==, "accepted");
  g_assert_cmpstr(gk_test_json_str(n1, "reason"), ==, "ok");
  g_assert_cmpstr(gk_test_json_str(n1, "ticket_id"), ==, ticket_id);
  g_assert_false(json_object_get_boolean_member(json_node_get_object(n1), "offline"));

  g_autofree char *v2 = NULL;
  g_assert_cmpint(run_kiosk(&v2, NULL, "--data-dir", dir, "--redeem-timeout-ms", "5000", "scan-image", png), ==, 0);
  g_autoptr(JsonNode) n2 = parse_verdict(v2);
  g_assert_cmpstr(gk_test_json_str(n2, "verdict"), ==, "rejected");
  g_assert_cmpstr(gk_test_json_str(n2, "reason"), ==, "already-used");
  g_assert_false(json_object_get_boolean_member(json_node_get_object(n2), "offline"));
  gint64 used_at = gk_test_json_int(n2, "used_at");
  g_assert_cmpint(used_at, >, 0);
  g_assert_cmpint(ABS(used_at - g_get_real_time() / G_USEC_PER_SEC), <, 120);
  g_assert_cmpstr(gk_test_json_str(n2, "used_by"), ==, "gate-online");
  g_assert_cmpuint(checkins_of(f, ticket_id), ==, 1);

  /* An image without a QR code: a clear error, exit 1. */
  g_autofree char *blank = g_build_filename(f->tmp, "blank.png", NULL);
  g_autoptr(GdkPixbuf) pb = gdk_pixbuf_new(GDK_COLORSPACE_RGB, FALSE, 8, 64, 64);
  gdk_pixbuf_fill(pb, 0xffffffff);
  g_assert_true(gdk_pixbuf_save(pb, blank, "png", NULL, NULL));
  g_autofree char *err = NULL;
  g_assert_cmpint(run_kiosk(NULL, &err, "--data-dir", dir, "scan-image", blank), ==, 1);
  g_assert_nonnull(strstr(err, "no readable QR code"));
}

/* ---- 3. offline admission, then exactly-once delivery ------------------------------------ */

static void
test_offline_then_sync(Fixture *f, gconstpointer data)
{
  g_autofree char *dir = enroll(f, "gate-offline");
  gint64 host = add_host(f);
  g_autofree char *tid = NULL;
  g_autofree char *text = issue(f, host, FALSE, &tid);
  gk_test_server_stop(f->server);

  g_autoptr(JsonNode) v = headless_scan(dir, text);
  g_assert_cmpstr(gk_test_json_str(v, "verdict"), ==, "accepted");
  g_assert_true(json_object_get_boolean_member(json_node_get_object(v), "offline"));
  g_assert_cmpstr(gk_test_json_str(v, "ticket_id"), ==, tid);
  /* The same gate refuses it a second time, still offline. */
  g_autoptr(JsonNode) again = headless_scan(dir, text);
  g_assert_cmpstr(gk_test_json_str(again, "reason"), ==, "already-used");
  g_assert_cmpstr(gk_test_json_str(again, "used_by"), ==, "gate-offline");
  /* A sync while the server is down fails clearly and keeps the queue. */
  g_autofree char *err = NULL;
  g_assert_cmpint(run_kiosk(NULL, &err, "--data-dir", dir, "sync"), ==, 1);
  g_assert_nonnull(strstr(err, "sync failed"));

  gk_test_server_start(f->server);
  g_autofree char *out = NULL;
  g_assert_cmpint(run_kiosk(&out, NULL, "--data-dir", dir, "sync"), ==, 0);
  g_assert_nonnull(strstr(out, "events sent 1 (stored 1"));
  g_assert_cmpuint(checkins_of(f, tid), ==, 1);
  g_clear_pointer(&out, g_free);
  g_assert_cmpint(run_kiosk(&out, NULL, "--data-dir", dir, "sync"), ==, 0);
  g_assert_nonnull(strstr(out, "events sent 0"));
  g_assert_cmpuint(checkins_of(f, tid), ==, 1);
}

/* ---- 4. two gates admit the same ticket offline ------------------------------------------- */

static guint
count_alerts(Fixture *f)
{
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(admin(f, "GET", "/v1/alerts", NULL, &reply), ==, 200);
  return json_array_get_length(json_object_get_array_member(json_node_get_object(reply), "alerts"));
}

static void
test_two_gates_conflict(Fixture *f, gconstpointer data)
{
  g_autofree char *a = enroll(f, "gate-1");
  g_autofree char *b = enroll(f, "gate-2");
  gint64 host = add_host(f);
  g_autofree char *tid = NULL;
  g_autofree char *text = issue(f, host, FALSE, &tid);
  g_assert_cmpint(run_kiosk(NULL, NULL, "--data-dir", a, "sync"), ==, 0);
  g_assert_cmpint(run_kiosk(NULL, NULL, "--data-dir", b, "sync"), ==, 0);
  gk_test_server_stop(f->server);

  g_autoptr(JsonNode) va = headless_scan(a, text);
  g_autoptr(JsonNode) vb = headless_scan(b, text);
  g_assert_cmpstr(gk_test_json_str(va, "verdict"), ==, "accepted");
  g_assert_cmpstr(gk_test_json_str(vb, "verdict"), ==, "accepted");

  gk_test_server_start(f->server);
  g_autofree char *out = NULL;
  g_assert_cmpint(run_kiosk(NULL, NULL, "--data-dir", a, "sync"), ==, 0);
  g_assert_cmpint(run_kiosk(&out, NULL, "--data-dir", b, "sync"), ==, 0);
  /* Which push hears "conflict" depends on the two device times (the earlier
   * admission keeps the redemption), so only the alert count is checked. */
  g_assert_nonnull(strstr(out, "events sent 1"));
  g_assert_cmpuint(count_alerts(f), ==, 1);
  g_assert_cmpint(run_kiosk(NULL, NULL, "--data-dir", a, "sync"), ==, 0);
  g_assert_cmpint(run_kiosk(NULL, NULL, "--data-dir", b, "sync"), ==, 0);
  g_assert_cmpuint(count_alerts(f), ==, 1);

  /* Both gates know the redemption now, online and offline. */
  g_autoptr(JsonNode) ra = headless_scan(a, text);
  g_autoptr(JsonNode) rb = headless_scan(b, text);
  g_assert_cmpstr(gk_test_json_str(ra, "reason"), ==, "already-used");
  g_assert_cmpstr(gk_test_json_str(rb, "reason"), ==, "already-used");
  gk_test_server_stop(f->server);
  g_autoptr(JsonNode) oa = headless_scan(a, text);
  g_autoptr(JsonNode) ob = headless_scan(b, text);
  g_assert_cmpstr(gk_test_json_str(oa, "reason"), ==, "already-used");
  g_assert_cmpstr(gk_test_json_str(ob, "reason"), ==, "already-used");
  g_assert_true(json_object_get_boolean_member(json_node_get_object(ob), "offline"));
}

/* ---- 5. revoked device ------------------------------------------------------------------- */

static void
test_revoked_wipe(Fixture *f, gconstpointer data)
{
  g_autofree char *dir = enroll(f, "gate-revoked");
  g_autofree char *other = enroll(f, "gate-kept");
  g_autofree char *db = g_build_filename(dir, "kiosk.db", NULL);
  g_assert_true(g_file_test(db, G_FILE_TEST_EXISTS));

  /* Find the device id through the admin API. */
  g_autoptr(JsonNode) list = NULL;
  g_assert_cmpint(admin(f, "GET", "/v1/devices", NULL, &list), ==, 200);
  JsonArray *a = json_object_get_array_member(json_node_get_object(list), "devices");
  const char *id = NULL;
  for (guint i = 0; i < json_array_get_length(a); i++) {
    JsonObject *d = json_array_get_object_element(a, i);
    if (strcmp(gk_json_get_string(d, "name", ""), "gate-revoked") == 0)
      id = gk_json_get_string(d, "id", NULL);
  }
  g_assert_nonnull(id);
  g_autofree char *path = g_strdup_printf("/v1/devices/%s/revoke", id);
  g_assert_cmpint(admin(f, "POST", path, "{}", NULL), ==, 200);

  g_autofree char *err = NULL;
  g_assert_cmpint(run_kiosk(NULL, &err, "--data-dir", dir, "sync"), ==, 3);
  g_assert_nonnull(strstr(err, "device revoked: local data wiped"));
  g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
  g_assert_nonnull(d);
  const char *name;
  while ((name = g_dir_read_name(d)) != NULL)
    g_assert_false(g_str_has_prefix(name, "kiosk."));
  /* The other device is untouched. */
  g_assert_cmpint(run_kiosk(NULL, NULL, "--data-dir", other, "sync"), ==, 0);
}

/* ---- certificate renewal ------------------------------------------------------------------- */

/* A day before the certificate would expire, a sync renews it: a new key and
 * certificate in the store, and the device keeps working with them (the server
 * refuses the old certificate from that moment). */
static void
test_certificate_renewal(Fixture *f, gconstpointer data)
{
  g_autofree char *dir = enroll(f, "gate-renew");
  g_autoptr(GError) error = NULL;
  KioskIdentity before = { 0 }, after = { 0 };
  {
    g_autoptr(KioskStore) store = kiosk_store_open(dir, &error);
    g_assert_no_error(error);
    g_assert_true(kiosk_store_load_identity(store, &before, &error));
    gint64 expires = kiosk_store_get_meta_int(store, "cert_expires_at", 0);
    g_assert_cmpint(expires, >, g_get_real_time() / G_USEC_PER_SEC + 80 * 86400);
    g_autoptr(KioskClient) client = kiosk_client_new(before.host, before.admin_port, before.device_port,
                                                     before.ca_pem, before.cert_pem, before.key_pem);
    /* Not due yet: nothing happens. */
    g_assert_true(kiosk_sync_renew_if_due(store, client, expires - 60 * 86400, &error));
    g_assert_cmpint(kiosk_store_get_meta_int(store, "identity_generation", 0), ==, 0);
    /* Due: renewed. */
    gboolean renewed = kiosk_sync_renew_if_due(store, client, expires - 86400, &error);
    g_assert_no_error(error);
    g_assert_true(renewed);
    g_assert_cmpint(kiosk_store_get_meta_int(store, "identity_generation", 0), ==, 1);
    g_assert_true(kiosk_store_load_identity(store, &after, &error));
  }
  g_assert_cmpstr(before.device_id, ==, after.device_id);
  g_assert_cmpstr(before.cert_pem, !=, after.cert_pem);
  g_assert_cmpstr(before.key_pem, !=, after.key_pem);

  /* The real program syncs with the new certificate; the old one is refused. */
  g_assert_cmpint(run_kiosk(NULL, NULL, "--data-dir", dir, "sync"), ==, 0);
  {
    /* The pull also carried the device's settings and the new expiry. */
    g_autoptr(KioskStore) store = kiosk_store_open(dir, &error);
    g_autofree char *mode = kiosk_store_get_meta(store, "mode");
    g_autofree char *name = kiosk_store_get_meta(store, "name");
    g_assert_cmpstr(mode, ==, "gate");
    g_assert_cmpstr(name, ==, "gate-renew");
    g_assert_cmpint(kiosk_store_get_meta_int(store, "cert_expires_at", 0), >,
                    g_get_real_time() / G_USEC_PER_SEC + 80 * 86400);
  }
  GkTestClient old = { .ca_path = f->server->ca_path, .cert_pem = before.cert_pem, .key_pem = before.key_pem };
  g_autofree char *url = g_strconcat(f->server->device_url, "/v1/sync/pull", NULL);
  g_assert_cmpint(gk_test_request(&old, "GET", url, NULL, NULL, NULL), ==, 403);
  kiosk_identity_clear(&before);
  kiosk_identity_clear(&after);
}

/* ---- remote settings ------------------------------------------------------------------------ */

/* The id and the reported config_version of the device named @name (admin API). */
static char *
device_id_of(Fixture *f, const char *name, gint64 *out_running)
{
  g_autoptr(JsonNode) list = NULL;
  g_assert_cmpint(admin(f, "GET", "/v1/devices", NULL, &list), ==, 200);
  JsonArray *a = json_object_get_array_member(json_node_get_object(list), "devices");
  for (guint i = 0; i < json_array_get_length(a); i++) {
    JsonObject *d = json_array_get_object_element(a, i);
    if (strcmp(gk_json_get_string(d, "name", ""), name) != 0)
      continue;
    if (out_running != NULL)
      *out_running = gk_json_get_int(d, "config_version", -1);
    return g_strdup(gk_json_get_string(d, "id", NULL));
  }
  g_error("no device named %s", name);
}

/* An admin sets settings through the admin API (the PIN as typed); the kiosk
 * stores them at its next sync (the PIN only as an Argon2id hash, nowhere in
 * the clear), reports the version in its next push, and a removed setting goes
 * back to the default. */
static void
test_remote_config(Fixture *f, gconstpointer data)
{
  g_autofree char *dir = enroll(f, "gate-config");
  g_autofree char *id = device_id_of(f, "gate-config", NULL);
  g_autofree char *path = g_strdup_printf("/v1/devices/%s/config", id);
  g_autoptr(JsonNode) set = NULL;
  g_assert_cmpint(admin(f, "POST", path,
                        "{\"settings\":{\"language\":\"en\",\"idle-timeout-s\":\"30\",\"retention-hours\":\"48\","
                        "\"admin-pin\":\"2468\"}}",
                        &set),
                  ==, 200);
  gint64 version = gk_test_json_int(set, "config_version");
  g_assert_cmpint(version, >=, 1);
  JsonObject *shown = json_object_get_object_member(json_node_get_object(set), "config");
  g_assert_cmpstr(gk_json_get_string(shown, "admin-pin-hash", NULL), ==, "set");

  /* A bad setting is refused whole. */
  g_assert_cmpint(admin(f, "POST", path, "{\"settings\":{\"language\":\"ja\",\"idle-timeout-s\":\"5\"}}", NULL),
                  ==, 400);

  g_assert_cmpint(run_kiosk(NULL, NULL, "--data-dir", dir, "sync"), ==, 0);
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(KioskStore) store = kiosk_store_open(dir, &error);
    g_assert_no_error(error);
    g_autofree char *language = kiosk_store_get_setting(store, "language");
    g_autofree char *idle = kiosk_store_get_setting(store, "idle-timeout-s");
    g_autofree char *retention = kiosk_store_get_setting(store, "retention-hours");
    g_autofree char *hash = kiosk_store_get_setting(store, "admin-pin-hash");
    g_autofree char *pin = kiosk_store_get_setting(store, "admin-pin");
    g_assert_cmpstr(language, ==, "en");
    g_assert_cmpstr(idle, ==, "30");
    g_assert_cmpstr(retention, ==, "48");
    g_assert_nonnull(hash);
    g_assert_true(g_str_has_prefix(hash, "$argon2id$"));
    g_assert_null(pin);
    g_assert_cmpint(kiosk_store_get_meta_int(store, "config_version", 0), ==, version);
  }
  g_assert_false(gk_test_tree_contains(dir, "2468", 4));

  /* The next sync's push reports the version the device runs. */
  g_assert_cmpint(run_kiosk(NULL, NULL, "--data-dir", dir, "sync"), ==, 0);
  gint64 running = -1;
  g_free(device_id_of(f, "gate-config", &running));
  g_assert_cmpint(running, ==, version);

  /* An empty value removes the setting: back to the default. */
  g_autoptr(JsonNode) unset = NULL;
  g_assert_cmpint(admin(f, "POST", path, "{\"settings\":{\"language\":\"\"}}", &unset), ==, 200);
  gint64 version2 = gk_test_json_int(unset, "config_version");
  g_assert_cmpint(version2, >, version);
  g_assert_cmpint(run_kiosk(NULL, NULL, "--data-dir", dir, "sync"), ==, 0);
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(KioskStore) store = kiosk_store_open(dir, &error);
    g_assert_no_error(error);
    g_autofree char *language = kiosk_store_get_setting(store, "language");
    g_autofree char *idle = kiosk_store_get_setting(store, "idle-timeout-s");
    g_assert_null(language);
    g_assert_cmpstr(idle, ==, "30");
    g_assert_cmpint(kiosk_store_get_meta_int(store, "config_version", 0), ==, version2);
  }

  /* genkanctl shows the same, never the PIN. */
  g_assert_cmpint(run_ctl(f, (const char *const[]){ "--server", f->server->admin_url, "--ca", f->server->ca_path,
                                                    "login", "--user", "owner", NULL },
                          NULL),
                  ==, 0);
  g_autofree char *out = NULL;
  g_assert_cmpint(run_ctl(f, (const char *const[]){ "device", "config", "set", id, "door-pulse-ms=500", NULL }, &out),
                  ==, 0);
  g_autofree char *want = g_strdup_printf("config version %" G_GINT64_FORMAT, version2 + 1);
  g_assert_nonnull(strstr(out, want));
  g_assert_nonnull(strstr(out, "admin-pin-hash = set\n"));
  g_assert_nonnull(strstr(out, "door-pulse-ms = 500\n"));
  g_assert_nonnull(strstr(out, "idle-timeout-s = 30\n"));
  g_assert_null(strstr(out, "language"));
  g_assert_null(strstr(out, "argon2"));
}

/* ---- 6. SIGKILL a headless gate, 100 times ------------------------------------------------ */

typedef struct {
  GSubprocess *proc;
  GOutputStream *in;
  GDataInputStream *out;
} Gate;

static void
gate_start(Gate *g, const char *dir)
{
  g_autoptr(GError) error = NULL;
  g->proc = g_subprocess_new(G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                               G_SUBPROCESS_FLAGS_STDERR_SILENCE,
                             &error, KIOSK, "--data-dir", dir, "--headless", "--sync-interval", "0.2",
                             "--redeem-timeout-ms", "1000", NULL);
  g_assert_no_error(error);
  g->in = g_subprocess_get_stdin_pipe(g->proc);
  g->out = g_data_input_stream_new(g_subprocess_get_stdout_pipe(g->proc));
}

static void
gate_kill(Gate *g)
{
  g_subprocess_send_signal(g->proc, SIGKILL);
  g_subprocess_wait(g->proc, NULL, NULL);
  g_clear_object(&g->out);
  g_clear_object(&g->proc);
}

static void
test_sigkill(Fixture *f, gconstpointer data)
{
  g_autofree char *dir = enroll(f, "gate-kill");
  gint64 host = add_host(f);
  enum { RUNS = 100, PER_RUN = 3 };
  guint n_tickets = RUNS * PER_RUN / 2;
  g_autoptr(GPtrArray) texts = g_ptr_array_new_with_free_func(g_free);
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func(g_free);
  for (guint i = 0; i < n_tickets; i++) {
    char *id = NULL;
    g_ptr_array_add(texts, issue(f, host, FALSE, &id));
    g_ptr_array_add(ids, id);
  }
  g_autoptr(GHashTable) accepted = g_hash_table_new(g_str_hash, g_str_equal);
  guint next = 0, verdicts = 0;
  GRand *rand = g_rand_new_with_seed(20261122);
  for (guint run = 0; run < RUNS; run++) {
    /* The middle third runs with the server down: offline admissions pile up
     * in the queue and reach the server through kills in the middle of pushes. */
    if (run == RUNS / 3)
      gk_test_server_stop(f->server);
    if (run == 2 * RUNS / 3)
      gk_test_server_start(f->server);
    Gate g = { 0 };
    gate_start(&g, dir);
    /* Each run feeds a few tickets: the next new ones, and an earlier one again. */
    guint feed = (guint) g_rand_int_range(rand, 1, PER_RUN + 1);
    for (guint k = 0; k < feed; k++) {
      guint idx = (k == 0 && next > 0 && g_rand_boolean(rand)) ? (guint) g_rand_int_range(rand, 0, (gint32) next) : next++ % n_tickets;
      g_autofree char *line = g_strconcat(texts->pdata[idx], "\n", NULL);
      g_output_stream_write_all(g.in, line, strlen(line), NULL, NULL, NULL);
    }
    /* Read some verdicts, then kill at a random moment (maybe mid-scan or mid-sync). */
    guint to_read = (guint) g_rand_int_range(rand, 0, (gint32) feed + 1);
    for (guint k = 0; k < to_read; k++) {
      g_autoptr(GError) error = NULL;
      g_autofree char *line = g_data_input_stream_read_line(g.out, NULL, NULL, &error);
      if (line == NULL)
        break;
      g_autoptr(JsonNode) v = parse_verdict(line);
      verdicts++;
      if (strcmp(gk_test_json_str(v, "verdict"), "accepted") == 0) {
        const char *tid = gk_test_json_str(v, "ticket_id");
        /* A one-time ticket is accepted once, whatever was killed when. */
        g_assert_false(g_hash_table_contains(accepted, tid));
        g_hash_table_add(accepted, (gpointer) g_intern_string(tid));
      }
    }
    g_usleep(g_rand_int_range(rand, 0, 300000));
    gate_kill(&g);
  }
  g_rand_free(rand);
  g_assert_cmpuint(verdicts, >, 50);

  /* Drain the queue, then every accepted scan is on the server exactly once. */
  for (guint i = 0; i < 5; i++) {
    g_autofree char *out = NULL;
    g_assert_cmpint(run_kiosk(&out, NULL, "--data-dir", dir, "sync"), ==, 0);
    if (strstr(out, "queue 0") != NULL)
      break;
  }
  g_autoptr(GHashTable) on_server = checkins(f);
  GHashTableIter it;
  gpointer key, value;
  g_hash_table_iter_init(&it, accepted);
  while (g_hash_table_iter_next(&it, &key, NULL))
    g_assert_cmpuint(GPOINTER_TO_UINT(g_hash_table_lookup(on_server, key)), ==, 1);
  g_hash_table_iter_init(&it, on_server);
  while (g_hash_table_iter_next(&it, &key, &value))
    g_assert_cmpuint(GPOINTER_TO_UINT(value), ==, 1);
  g_assert_cmpuint(count_alerts(f), ==, 0);
  if (g_test_verbose())
    g_printerr("sigkill: %u verdicts read, %u accepted, %u tickets on the server\n", verdicts,
               g_hash_table_size(accepted), g_hash_table_size(on_server));
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) g_test_add("/kiosk/" path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD("enroll", test_enroll);
  ADD("scan-image-online", test_scan_image_online);
  ADD("offline-then-sync", test_offline_then_sync);
  ADD("two-gates-conflict", test_two_gates_conflict);
  ADD("revoked-wipe", test_revoked_wipe);
  ADD("certificate-renewal", test_certificate_renewal);
  ADD("remote-config", test_remote_config);
  ADD("sigkill", test_sigkill);
  return g_test_run();
}
