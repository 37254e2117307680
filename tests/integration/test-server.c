/* genkan-server end to end on loopback: init, sign-in, enrollment, sync,
 * redemption, offline conflicts, access checks, bad input, slow clients and a
 * SIGKILL in the middle of event pushes. */
#include <string.h>
#include <sys/stat.h>

#include "gk-enroll-code.h"
#include "gk-json.h"
#include "gk-test-server.h"
#include "gk-test-util.h"
#include "gk-ticket.h"
#include "srv-ca.h"

#define OWNER_PW "N3w-Owner-Passw0rd!"

typedef struct {
  GkTestServer *server;
  char *token;
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer data)
{
  f->server = gk_test_server_init();
  if (data != NULL)
    gk_test_server_configure(f->server, data);
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
admin(Fixture *f, const char *method, const char *path, const char *body, JsonNode **reply)
{
  GkTestClient c = { .ca_path = f->server->ca_path, .token = f->token };
  g_autofree char *url = g_strconcat(f->server->admin_url, path, NULL);
  return gk_test_request(&c, method, url, body, reply, NULL);
}

static long
device(Fixture *f, GkTestDevice *d, const char *method, const char *path, const char *body, JsonNode **reply)
{
  GkTestClient c = { .ca_path = f->server->ca_path, .cert_pem = d->cert_pem, .key_pem = d->key_pem };
  g_autofree char *url = g_strconcat(f->server->device_url, path, NULL);
  return gk_test_request(&c, method, url, body, reply, NULL);
}

/* Issues a ticket for a new host; returns its QR text (g_free). */
static char *
issue_ticket(Fixture *f, gboolean multi, char **out_id)
{
  g_autoptr(JsonNode) reply = NULL;
  static int n;
  g_autofree char *host = g_strdup_printf("{\"name\":\"Host %d\",\"department\":\"R&D\"}", ++n);
  g_assert_cmpint(admin(f, "POST", "/v1/hosts", host, &reply), ==, 201);
  gint64 host_id = gk_test_json_int(reply, "id");
  g_autofree char *req = g_strdup_printf("{\"visitor\":\"Visitor %d\",\"host\":\"%" G_GINT64_FORMAT "\",\"multi\":%s}", n,
                                         host_id, multi ? "true" : "false");
  g_clear_pointer(&reply, json_node_unref);
  g_assert_cmpint(admin(f, "POST", "/v1/tickets", req, &reply), ==, 201);
  if (out_id)
    *out_id = g_strdup(gk_test_json_str(reply, "ticket_id"));
  return g_strdup(gk_test_json_str(reply, "text"));
}

static char *
redeem_body(const char *ticket, const char *event_id)
{
  return g_strdup_printf("{\"ticket\":\"%s\",\"event_id\":\"%s\",\"at\":%" G_GINT64_FORMAT "}", ticket, event_id,
                         g_get_real_time() / G_USEC_PER_SEC);
}

static guint
count_array(JsonNode *reply, const char *member)
{
  g_assert_nonnull(reply);
  JsonObject *o = json_node_get_object(reply);
  return json_array_get_length(json_object_get_array_member(o, member));
}

/* ---- init --------------------------------------------------------------------------- */

static void
test_init_layout(void)
{
  GkTestServer *s = gk_test_server_init();
  static const char *const secrets[] = { "master.kek", "ca.key", "server.key", "ticket-signing.key",
                                         "initial-owner-password" };
  for (guint i = 0; i < G_N_ELEMENTS(secrets); i++) {
    g_autofree char *p = g_build_filename(s->data_dir, secrets[i], NULL);
    struct stat st;
    g_assert_cmpint(stat(p, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 0777, ==, 0600);
  }
  struct stat st;
  g_assert_cmpint(stat(s->data_dir, &st), ==, 0);
  g_assert_cmpint(st.st_mode & 077, ==, 0);
  g_autofree char *pw_path = g_build_filename(s->data_dir, "initial-owner-password", NULL);
  g_autofree char *pw = NULL;
  g_assert_true(g_file_get_contents(pw_path, &pw, NULL, NULL));
  g_assert_cmpuint(strlen(g_strstrip(pw)), >=, 16);
  /* The password is nowhere else on disk in the clear. */
  g_assert_false(gk_test_tree_contains(s->data_dir, pw, strlen(pw)) &&
                 !g_file_test(pw_path, G_FILE_TEST_EXISTS));

  /* init refuses an existing data dir and changes nothing there. */
  g_autofree char *db = g_build_filename(s->data_dir, "master.db", NULL);
  g_autofree char *before = NULL;
  gsize before_len;
  g_assert_true(g_file_get_contents(db, &before, &before_len, NULL));
  const char *argv[] = { GK_BUILD_DIR "/sync-server/genkan-server", "init", "--data-dir", s->data_dir, NULL };
  g_autofree char *err = NULL;
  int status;
  g_assert_true(g_spawn_sync(NULL, (char **) argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL, &err, &status, NULL));
  g_assert_false(g_spawn_check_wait_status(status, NULL));
  g_assert_nonnull(strstr(err, "refusing to overwrite"));
  g_autofree char *after = NULL;
  gsize after_len;
  g_assert_true(g_file_get_contents(db, &after, &after_len, NULL));
  g_assert_cmpmem(before, before_len, after, after_len);
  gk_test_server_free(s);
}

static void
test_run_errors(void)
{
  g_autofree char *dir = gk_test_make_tmpdir("genkan-nodata");
  const char *argv[] = { GK_BUILD_DIR "/sync-server/genkan-server", "run", "--data-dir", dir, NULL };
  g_autofree char *err = NULL;
  int status;
  g_assert_true(g_spawn_sync(NULL, (char **) argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL, &err, &status, NULL));
  g_assert_false(g_spawn_check_wait_status(status, NULL));
  g_assert_nonnull(strstr(err, "not a Genkan data directory"));
  gk_test_rmtree(dir);

  /* A port that is taken: a clear message and a non-zero exit. */
  GkTestServer *s = gk_test_server_init();
  gk_test_server_start(s);
  GkTestServer *t = gk_test_server_init();
  g_autofree char *port = g_strdup_printf("%u", s->admin_port);
  const char *argv2[] = { GK_BUILD_DIR "/sync-server/genkan-server", "run", "--data-dir", t->data_dir,
                          "--device-port", "0", "--admin-port", port, NULL };
  g_autofree char *err2 = NULL;
  g_assert_true(g_spawn_sync(NULL, (char **) argv2, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL, &err2, &status, NULL));
  g_assert_false(g_spawn_check_wait_status(status, NULL));
  g_assert_nonnull(strstr(err2, "already in use"));
  gk_test_server_stop(s);
  gk_test_server_free(s);
  gk_test_server_free(t);
}

/* ---- sign-in ------------------------------------------------------------------------------ */

static void
test_login_rules(Fixture *f, gconstpointer data)
{
  GkTestClient anon = { .ca_path = f->server->ca_path };
  g_autofree char *url = g_strconcat(f->server->admin_url, "/v1/login", NULL);
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(gk_test_request(&anon, "POST", url, "{\"username\":\"owner\",\"password\":\"wrong\"}", &reply, NULL),
                  ==, 401);
  g_assert_cmpstr(gk_test_json_str(json_object_get_member(json_node_get_object(reply), "error"), "code"), ==,
                  "bad-credentials");
  g_clear_pointer(&reply, json_node_unref);
  g_assert_cmpint(gk_test_request(&anon, "POST", url, "{\"username\":\"nobody\",\"password\":\"x\"}", NULL, NULL), ==, 401);

  /* The fixture changed the one-time password: its file is gone. */
  g_autofree char *pw_file = g_build_filename(f->server->data_dir, "initial-owner-password", NULL);
  g_assert_false(g_file_test(pw_file, G_FILE_TEST_EXISTS));

  /* No session, a made-up session, and a logged-out session are all refused. */
  g_autofree char *hosts = g_strconcat(f->server->admin_url, "/v1/hosts", NULL);
  g_assert_cmpint(gk_test_request(&anon, "GET", hosts, NULL, NULL, NULL), ==, 401);
  GkTestClient forged = { .ca_path = f->server->ca_path, .token = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" };
  g_assert_cmpint(gk_test_request(&forged, "GET", hosts, NULL, NULL, NULL), ==, 401);
  g_assert_cmpint(admin(f, "GET", "/v1/hosts", NULL, NULL), ==, 200);
  g_assert_cmpint(admin(f, "POST", "/v1/logout", "{}", NULL), ==, 200);
  g_assert_cmpint(admin(f, "GET", "/v1/hosts", NULL, NULL), ==, 401);
}

/* ---- enrollment, sync, redemption ------------------------------------------------------------ */

static void
test_enroll_sync_redeem(Fixture *f, gconstpointer data)
{
  g_autofree char *ticket_id = NULL;
  g_autofree char *ticket = issue_ticket(f, FALSE, &ticket_id);
  g_assert_cmpuint(strlen(ticket), ==, GK_TICKET_TEXT_LEN);
  GkTestDevice *gate = gk_test_enroll_device(f->server, f->token, "Gate 1", "gate");
  GkTestDevice *gate2 = gk_test_enroll_device(f->server, f->token, "Gate 2", "gate");

  /* The device learns the ticket, hosts and key through the change feed, in pages. */
  g_autoptr(JsonNode) page = NULL;
  g_assert_cmpint(device(f, gate, "GET", "/v1/sync/pull?cursor=0&limit=1", NULL, &page), ==, 200);
  g_assert_cmpuint(count_array(page, "changes"), ==, 1);
  g_assert_true(json_object_get_boolean_member(json_node_get_object(page), "more"));
  gint64 cursor = gk_test_json_int(page, "cursor");
  g_autoptr(JsonNode) rest = NULL;
  g_autofree char *next = g_strdup_printf("/v1/sync/pull?cursor=%" G_GINT64_FORMAT, cursor);
  g_assert_cmpint(device(f, gate, "GET", next, NULL, &rest), ==, 200);
  g_autofree char *first_text = json_to_string(page, FALSE);
  g_autofree char *rest_text = json_to_string(rest, FALSE);
  g_autofree char *all = g_strconcat(first_text, rest_text, NULL);
  g_assert_nonnull(strstr(all, ticket_id));
  g_assert_nonnull(strstr(all, "\"type\":\"key\""));
  g_assert_nonnull(strstr(all, "\"type\":\"host\""));
  g_assert_false(json_object_get_boolean_member(json_node_get_object(rest), "more"));
  JsonObject *cfg = json_object_get_object_member(json_node_get_object(rest), "device");
  g_assert_cmpstr(json_object_get_string_member(cfg, "id"), ==, gate->device_id);
  g_assert_cmpstr(json_object_get_string_member(cfg, "mode"), ==, "gate");
  g_assert_cmpstr(json_object_get_string_member(cfg, "name"), ==, "Gate 1");

  /* Online redemption: accepted once; then already-used with time and device. */
  g_autoptr(JsonNode) r1 = NULL;
  g_autofree char *b1 = redeem_body(ticket, "evt-gate1-0001");
  g_assert_cmpint(device(f, gate, "POST", "/v1/redeem", b1, &r1), ==, 200);
  g_assert_cmpstr(gk_test_json_str(r1, "result"), ==, "accepted");
  g_autoptr(JsonNode) r2 = NULL;
  g_autofree char *b2 = redeem_body(ticket, "evt-gate2-0001");
  g_assert_cmpint(device(f, gate2, "POST", "/v1/redeem", b2, &r2), ==, 200);
  g_assert_cmpstr(gk_test_json_str(r2, "result"), ==, "already-used");
  g_assert_cmpstr(gk_test_json_str(r2, "used_by"), ==, gate->device_id);
  g_assert_cmpstr(gk_test_json_str(r2, "used_by_name"), ==, "Gate 1");
  g_assert_cmpint(gk_test_json_int(r2, "used_at"), >, 0);
  /* The same request again (a retry after a lost answer) gives the first answer. */
  g_autoptr(JsonNode) r3 = NULL;
  g_assert_cmpint(device(f, gate, "POST", "/v1/redeem", b1, &r3), ==, 200);
  g_assert_cmpstr(gk_test_json_str(r3, "result"), ==, "accepted");

  /* Multi-entry tickets are accepted each time; forged ones never. */
  g_autofree char *multi = issue_ticket(f, TRUE, NULL);
  for (int i = 0; i < 3; i++) {
    g_autofree char *id = g_strdup_printf("evt-multi-%04d", i);
    g_autofree char *b = redeem_body(multi, id);
    g_autoptr(JsonNode) r = NULL;
    g_assert_cmpint(device(f, gate, "POST", "/v1/redeem", b, &r), ==, 200);
    g_assert_cmpstr(gk_test_json_str(r, "result"), ==, "accepted");
  }
  g_autofree char *forged = g_strdup(ticket);
  forged[40] = forged[40] == 'A' ? 'B' : 'A';
  g_autofree char *bf = redeem_body(forged, "evt-forged-01");
  g_autoptr(JsonNode) rf = NULL;
  g_assert_cmpint(device(f, gate, "POST", "/v1/redeem", bf, &rf), ==, 200);
  g_assert_cmpstr(gk_test_json_str(rf, "result"), ==, "rejected");

  /* An enrollment code works once, and a changed token not at all. */
  g_autoptr(JsonNode) code_reply = NULL;
  g_assert_cmpint(admin(f, "POST", "/v1/devices/enroll-codes", "{\"name\":\"Lobby\",\"mode\":\"reception\"}", &code_reply),
                  ==, 201);
  g_autoptr(JsonNode) devices = NULL;
  g_assert_cmpint(admin(f, "GET", "/v1/devices", NULL, &devices), ==, 200);
  g_assert_cmpuint(count_array(devices, "devices"), ==, 2);

  gk_test_device_free(gate);
  gk_test_device_free(gate2);
}

static void
test_enroll_code_once(Fixture *f, gconstpointer data)
{
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(admin(f, "POST", "/v1/devices/enroll-codes", "{\"name\":\"Gate\",\"mode\":\"gate\"}", &reply), ==, 201);
  const char *code_text = gk_test_json_str(reply, "code");
  g_assert_true(g_str_has_prefix(code_text, "GKE1:"));

  /* The CA a device pins is served publicly and matches the code's fingerprint. */
  g_autofree char *ca_pem = NULL;
  g_assert_true(g_file_get_contents(f->server->ca_path, &ca_pem, NULL, NULL));
  g_autofree char *ca_url = g_strconcat(f->server->admin_url, "/v1/ca", NULL);
  GkTestClient pin = { .ca_path = f->server->ca_path };
  g_assert_cmpint(gk_test_request(&pin, "GET", ca_url, NULL, NULL, NULL), ==, 200);
  guint8 fp[32];
  g_assert_true(srv_ca_fingerprint_sha256(f->server->ca_path, fp, NULL));

  /* Reuse through the helper: enroll once by hand, then again with the same token. */
  GkEnrollCode code;
  g_assert_true(gk_enroll_code_parse(code_text, 0, &code, NULL));
  g_assert_cmpmem(code.ca_fingerprint, 32, fp, 32);
  g_autofree char *hex = gk_hex_encode(code.token, 16);
  g_autofree char *key = NULL, *csr = NULL;
  g_assert_true(srv_ca_make_key_and_csr("kiosk", &key, &csr, NULL));
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "token");
  json_builder_add_string_value(b, hex);
  json_builder_set_member_name(b, "csr");
  json_builder_add_string_value(b, csr);
  json_builder_end_object(b);
  g_autofree char *body = gk_json_builder_to_string(b);
  GkTestClient anon = { .ca_path = f->server->ca_path };
  g_autofree char *url = g_strconcat(f->server->admin_url, "/v1/enroll", NULL);
  g_assert_cmpint(gk_test_request(&anon, "POST", url, body, NULL, NULL), ==, 200);
  g_assert_cmpint(gk_test_request(&anon, "POST", url, body, NULL, NULL), ==, 409);

  /* A tampered token is unknown. */
  g_autofree char *tampered = g_strdup(body);
  char *t = strstr(tampered, hex);
  t[0] = t[0] == 'a' ? 'b' : 'a';
  g_assert_cmpint(gk_test_request(&anon, "POST", url, tampered, NULL, NULL), ==, 404);
  /* A CSR whose signature does not verify is refused before the code is spent. */
  g_autoptr(JsonNode) reply2 = NULL;
  g_assert_cmpint(admin(f, "POST", "/v1/devices/enroll-codes", "{\"name\":\"Gate\",\"mode\":\"gate\"}", &reply2), ==, 201);
  g_assert_true(gk_enroll_code_parse(gk_test_json_str(reply2, "code"), 0, &code, NULL));
  g_autofree char *hex2 = gk_hex_encode(code.token, 16);
  g_autofree char *bad = g_strdup_printf("{\"token\":\"%s\",\"csr\":\"-----BEGIN CERTIFICATE REQUEST-----\\nAAAA\\n-----END CERTIFICATE REQUEST-----\\n\"}", hex2);
  g_assert_cmpint(gk_test_request(&anon, "POST", url, bad, NULL, NULL), ==, 400);
  g_autofree char *good = g_strdup_printf("{\"token\":\"%s\",\"csr\":%s}", hex2, strstr(body, "\"csr\":") + 6);
  good[strlen(good) - 1] = '\0'; /* the copied tail ends with the object's brace */
  g_assert_cmpint(gk_test_request(&anon, "POST", url, good, NULL, NULL), ==, 200);
}

static void
test_offline_conflict(Fixture *f, gconstpointer data)
{
  g_autofree char *ticket_id = NULL;
  g_autofree char *ticket = issue_ticket(f, FALSE, &ticket_id);
  GkTestDevice *a = gk_test_enroll_device(f->server, f->token, "Gate A", "gate");
  GkTestDevice *b = gk_test_enroll_device(f->server, f->token, "Gate B", "gate");
  gint64 now = g_get_real_time() / G_USEC_PER_SEC;

  /* Both gates admitted the same one-time ticket while offline. */
  g_autofree char *batch_a = g_strdup_printf(
      "{\"device_time\":%" G_GINT64_FORMAT ",\"queue_length\":1,\"events\":[{\"id\":\"evt-a-000001\",\"kind\":\"checkin\","
      "\"ticket_id\":\"%s\",\"at\":%" G_GINT64_FORMAT ",\"offline\":true}]}", now, ticket_id, now - 60);
  g_autofree char *batch_b = g_strdup_printf(
      "{\"device_time\":%" G_GINT64_FORMAT ",\"events\":[{\"id\":\"evt-b-000001\",\"kind\":\"checkin\","
      "\"ticket_id\":\"%s\",\"at\":%" G_GINT64_FORMAT ",\"offline\":true}]}", now, ticket_id, now - 30);
  g_autoptr(JsonNode) ra = NULL, rb = NULL;
  g_assert_cmpint(device(f, a, "POST", "/v1/sync/push", batch_a, &ra), ==, 200);
  g_assert_cmpint(device(f, b, "POST", "/v1/sync/push", batch_b, &rb), ==, 200);
  g_autofree char *ra_text = json_to_string(ra, FALSE), *rb_text = json_to_string(rb, FALSE);
  g_assert_nonnull(strstr(ra_text, "\"status\":\"stored\""));
  g_assert_nonnull(strstr(rb_text, "\"status\":\"conflict\""));

  g_autoptr(JsonNode) alerts = NULL;
  g_assert_cmpint(admin(f, "GET", "/v1/alerts", NULL, &alerts), ==, 200);
  g_assert_cmpuint(count_array(alerts, "alerts"), ==, 1);

  /* Replaying both batches changes nothing: duplicates, still one alert, both check-ins kept once. */
  g_autoptr(JsonNode) again = NULL;
  g_assert_cmpint(device(f, b, "POST", "/v1/sync/push", batch_b, &again), ==, 200);
  g_autofree char *again_text = json_to_string(again, FALSE);
  g_assert_nonnull(strstr(again_text, "\"status\":\"duplicate\""));
  g_assert_cmpint(device(f, a, "POST", "/v1/sync/push", batch_a, NULL), ==, 200);
  g_autoptr(JsonNode) alerts2 = NULL, checkins = NULL;
  g_assert_cmpint(admin(f, "GET", "/v1/alerts", NULL, &alerts2), ==, 200);
  g_assert_cmpuint(count_array(alerts2, "alerts"), ==, 1);
  g_assert_cmpint(admin(f, "GET", "/v1/checkins", NULL, &checkins), ==, 200);
  g_assert_cmpuint(count_array(checkins, "checkins"), ==, 2);

  /* Every device now learns the redemption, so it rejects the ticket as used. */
  g_autoptr(JsonNode) pull = NULL;
  g_assert_cmpint(device(f, b, "GET", "/v1/sync/pull?cursor=0", NULL, &pull), ==, 200);
  g_autofree char *pull_text = json_to_string(pull, FALSE);
  g_assert_nonnull(strstr(pull_text, "\"type\":\"redemption\""));
  g_autofree char *b3 = redeem_body(ticket, "evt-b-000002");
  g_autoptr(JsonNode) r3 = NULL;
  g_assert_cmpint(device(f, b, "POST", "/v1/redeem", b3, &r3), ==, 200);
  g_assert_cmpstr(gk_test_json_str(r3, "result"), ==, "already-used");
  g_assert_cmpstr(gk_test_json_str(r3, "used_by"), ==, a->device_id);
  gk_test_device_free(a);
  gk_test_device_free(b);
}

/* ---- access checks on the device port ---------------------------------------------------------- */

static void
test_device_port_access(Fixture *f, gconstpointer data)
{
  GkTestDevice *d = gk_test_enroll_device(f->server, f->token, "Gate", "gate");
  g_assert_cmpint(device(f, d, "GET", "/v1/sync/pull", NULL, NULL), ==, 200);

  /* No client certificate: refused at the handshake. */
  GkTestClient none = { .ca_path = f->server->ca_path };
  g_autofree char *url = g_strconcat(f->server->device_url, "/v1/sync/pull", NULL);
  int curl_error = 0;
  g_assert_cmpint(gk_test_request(&none, "GET", url, NULL, NULL, &curl_error), ==, 0);
  g_assert_cmpint(curl_error, !=, 0);

  /* A certificate from another CA: refused. */
  g_autofree char *other_dir = gk_test_make_tmpdir("genkan-otherca");
  g_autoptr(SrvCa) other = srv_ca_create(other_dir, "Other CA", NULL);
  g_autofree char *key = NULL, *csr = NULL;
  g_assert_true(srv_ca_make_key_and_csr("intruder", &key, &csr, NULL));
  g_autofree char *cert = srv_ca_sign_device_csr(other, (const guint8 *) csr, strlen(csr) + 1, "dev-intruder", 30, NULL, NULL);
  g_assert_nonnull(cert);
  GkTestClient intruder = { .ca_path = f->server->ca_path, .cert_pem = cert, .key_pem = key };
  g_assert_cmpint(gk_test_request(&intruder, "GET", url, NULL, NULL, &curl_error), ==, 0);
  gk_test_rmtree(other_dir);

  /* Revoked: refused at once, and told to wipe when it asks on the admin port. */
  g_autofree char *revoke = g_strdup_printf("/v1/devices/%s/revoke", d->device_id);
  g_assert_cmpint(admin(f, "POST", revoke, "{}", NULL), ==, 200);
  g_assert_cmpint(device(f, d, "GET", "/v1/sync/pull", NULL, NULL), ==, 0);
  GkTestClient anon = { .ca_path = f->server->ca_path };
  g_autofree char *status_url = g_strdup_printf("%s/v1/devices/%s/status", f->server->admin_url, d->device_id);
  g_autoptr(JsonNode) st = NULL;
  g_assert_cmpint(gk_test_request(&anon, "GET", status_url, NULL, &st, NULL), ==, 200);
  g_assert_true(json_object_get_boolean_member(json_node_get_object(st), "wipe"));

  /* Still refused after a restart (the revocation is in the store, not only in memory). */
  gk_test_server_stop(f->server);
  gk_test_server_start(f->server);
  g_assert_cmpint(device(f, d, "GET", "/v1/sync/pull", NULL, NULL), ==, 0);
  gk_test_device_free(d);
}

static void
test_certificate_renewal(Fixture *f, gconstpointer data)
{
  GkTestDevice *d = gk_test_enroll_device(f->server, f->token, "Gate", "gate");
  g_autofree char *key = NULL, *csr = NULL;
  g_assert_true(srv_ca_make_key_and_csr("kiosk", &key, &csr, NULL));
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "csr");
  json_builder_add_string_value(b, csr);
  json_builder_end_object(b);
  g_autofree char *body = gk_json_builder_to_string(b);
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(device(f, d, "POST", "/v1/device/renew", body, &reply), ==, 200);
  g_assert_cmpint(gk_test_json_int(reply, "expires_at"), >, g_get_real_time() / G_USEC_PER_SEC + 80 * 86400);

  /* The old certificate names no device any more; the new one works. */
  g_assert_cmpint(device(f, d, "GET", "/v1/sync/pull", NULL, NULL), ==, 403);
  GkTestDevice renewed = { .cert_pem = (char *) gk_test_json_str(reply, "certificate"), .key_pem = key };
  g_assert_cmpint(device(f, &renewed, "GET", "/v1/sync/pull", NULL, NULL), ==, 200);
  /* A CSR that does not verify is refused and changes nothing. */
  g_assert_cmpint(device(f, &renewed, "POST", "/v1/device/renew", "{\"csr\":\"junk\"}", NULL), ==, 400);
  g_assert_cmpint(device(f, &renewed, "GET", "/v1/sync/pull", NULL, NULL), ==, 200);
  gk_test_device_free(d);
}

static void
test_device_settings(Fixture *f, gconstpointer data)
{
  GkTestDevice *d = gk_test_enroll_device(f->server, f->token, "Lobby", "reception");
  g_autofree char *path = g_strdup_printf("/v1/devices/%s/config", d->device_id);
  g_autoptr(JsonNode) r = NULL;
  g_assert_cmpint(admin(f, "POST", path,
                        "{\"settings\":{\"language\":\"en\",\"idle-timeout-s\":\"30\",\"admin-pin\":\"2468\","
                        "\"mode\":\"gate\",\"terms-text\":\"Line 1\\nLine 2\"}}",
                        &r),
                  ==, 200);
  g_assert_cmpint(gk_test_json_int(r, "config_version"), ==, 1);
  JsonObject *cfg = json_object_get_object_member(json_node_get_object(r), "config");
  g_assert_cmpstr(json_object_get_string_member(cfg, "language"), ==, "en");
  g_assert_cmpstr(json_object_get_string_member(cfg, "admin-pin-hash"), ==, "set");
  g_assert_false(json_object_has_member(cfg, "admin-pin"));

  /* One bad key or value refuses the whole change. */
  static const char *const bad[] = {
    "{\"settings\":{\"language\":\"fr\"}}",
    "{\"settings\":{\"language\":\"ja\",\"idle-timeout-s\":\"5\"}}",
    "{\"settings\":{\"admin-pin\":\"12ab\"}}",
    "{\"settings\":{\"volume\":\"11\"}}",
    "{\"settings\":{\"language\":1}}",
    "{\"settings\":{\"door-gpio\":\"chip0:x\"}}",
    "{\"settings\":{\"printer\":\"a b\"}}",
    "{\"settings\":{\"site-text\":\"a\\nb\"}}",
  };
  for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
    g_autoptr(JsonNode) e = NULL;
    if (admin(f, "POST", path, bad[i], &e) != 400)
      g_error("bad settings %u accepted", i);
  }
  g_autoptr(JsonNode) now = NULL;
  g_assert_cmpint(admin(f, "GET", path, NULL, &now), ==, 200);
  g_assert_cmpint(gk_test_json_int(now, "config_version"), ==, 1);
  JsonObject *kept = json_object_get_object_member(json_node_get_object(now), "config");
  g_assert_cmpstr(json_object_get_string_member(kept, "language"), ==, "en");
  g_assert_cmpstr(json_object_get_string_member(kept, "idle-timeout-s"), ==, "30");
  g_assert_cmpint(admin(f, "POST", "/v1/devices/dev-none/config", "{\"settings\":{}}", NULL), ==, 404);

  /* The device gets the settings with its pull: the PIN only as a hash. */
  g_autoptr(JsonNode) pull = NULL;
  g_assert_cmpint(device(f, d, "GET", "/v1/sync/pull", NULL, &pull), ==, 200);
  JsonObject *dev = json_object_get_object_member(json_node_get_object(pull), "device");
  g_assert_cmpint(json_object_get_int_member(dev, "config_version"), ==, 1);
  g_assert_cmpstr(json_object_get_string_member(dev, "mode"), ==, "gate");
  JsonObject *dc = json_object_get_object_member(dev, "config");
  g_assert_true(g_str_has_prefix(json_object_get_string_member(dc, "admin-pin-hash"), "$argon2id$"));
  g_assert_cmpstr(json_object_get_string_member(dc, "terms-text"), ==, "Line 1\nLine 2");
  g_autofree char *pull_text = json_to_string(pull, FALSE);
  g_assert_null(strstr(pull_text, "2468"));

  /* It reports the version it runs; the device list shows it. An empty value
   * removes a setting. */
  g_assert_cmpint(device(f, d, "POST", "/v1/sync/push", "{\"events\":[],\"config_version\":1}", NULL), ==, 200);
  g_autoptr(JsonNode) list = NULL;
  g_assert_cmpint(admin(f, "GET", "/v1/devices", NULL, &list), ==, 200);
  JsonObject *row = json_array_get_object_element(
      json_object_get_array_member(json_node_get_object(list), "devices"), 0);
  g_assert_cmpint(json_object_get_int_member(row, "config_version"), ==, 1);
  g_assert_cmpstr(json_object_get_string_member(row, "mode"), ==, "gate");
  g_autoptr(JsonNode) removed = NULL;
  g_assert_cmpint(admin(f, "POST", path, "{\"settings\":{\"language\":\"\"}}", &removed), ==, 200);
  g_assert_cmpint(gk_test_json_int(removed, "config_version"), ==, 2);
  g_assert_false(json_object_has_member(json_object_get_object_member(json_node_get_object(removed), "config"),
                                        "language"));
  gk_test_device_free(d);
}

/* The site logo: a real PNG is stored, shown to admins as its size and sent
 * to the device as it is; text that is not one changes nothing. */
static void
test_device_logo(Fixture *f, gconstpointer data)
{
  GkTestDevice *d = gk_test_enroll_device(f->server, f->token, "Lobby", "reception");
  g_autofree char *path = g_strdup_printf("/v1/devices/%s/config", d->device_id);
  g_autofree char *logo = gk_test_png_base64(120, 40);
  g_autofree char *body = g_strdup_printf("{\"settings\":{\"logo\":\"%s\"}}", logo);
  g_autoptr(JsonNode) r = NULL;
  g_assert_cmpint(admin(f, "POST", path, body, &r), ==, 200);
  JsonObject *cfg = json_object_get_object_member(json_node_get_object(r), "config");
  gsize png_len;
  g_free(g_base64_decode(logo, &png_len));
  g_autofree char *shown = g_strdup_printf("PNG 120x40, %zu bytes", png_len);
  g_assert_cmpstr(json_object_get_string_member(cfg, "logo"), ==, shown);

  g_autofree char *too_big = gk_test_png_base64(1100, 10);
  g_autofree char *big_body = g_strdup_printf("{\"settings\":{\"logo\":\"%s\"}}", too_big);
  static const char *const bad[] = {
    "{\"settings\":{\"logo\":\"not base64!\"}}",
    "{\"settings\":{\"logo\":\"/9j/4AAQSkZJRgABAQAAAQABAAD/\"}}", /* a JPEG's start */
  };
  for (guint i = 0; i <= G_N_ELEMENTS(bad); i++) {
    g_autoptr(JsonNode) e = NULL;
    g_assert_cmpint(admin(f, "POST", path, i < G_N_ELEMENTS(bad) ? bad[i] : big_body, &e), ==, 400);
    g_autofree char *text = json_to_string(e, FALSE);
    g_assert_nonnull(strstr(text, "logo"));
  }
  g_autoptr(JsonNode) pull = NULL;
  g_assert_cmpint(device(f, d, "GET", "/v1/sync/pull", NULL, &pull), ==, 200);
  JsonObject *dev = json_object_get_object_member(json_node_get_object(pull), "device");
  g_assert_cmpint(json_object_get_int_member(dev, "config_version"), ==, 1);
  g_assert_cmpstr(json_object_get_string_member(json_object_get_object_member(dev, "config"), "logo"), ==, logo);

  /* A device that holds the latest settings is not sent them again on every
   * page; one that holds an older version is. */
  g_assert_cmpint(device(f, d, "GET", "/v1/sync/pull?config_version=1", NULL, &pull), ==, 200);
  dev = json_object_get_object_member(json_node_get_object(pull), "device");
  g_assert_cmpstr(json_object_get_string_member(dev, "id"), ==, d->device_id);
  g_assert_false(json_object_has_member(dev, "config"));
  g_assert_false(json_object_has_member(dev, "config_version"));
  g_assert_cmpint(device(f, d, "GET", "/v1/sync/pull?config_version=0", NULL, &pull), ==, 200);
  dev = json_object_get_object_member(json_node_get_object(pull), "device");
  g_assert_cmpint(json_object_get_int_member(dev, "config_version"), ==, 1);
  g_assert_true(json_object_has_member(dev, "config"));
  g_assert_cmpint(device(f, d, "GET", "/v1/sync/pull?config_version=-1", NULL, NULL), ==, 400);
  gk_test_device_free(d);
}

/* ---- bad input ------------------------------------------------------------------------------------ */

static void
test_bad_input(Fixture *f, gconstpointer data)
{
  GkTestDevice *d = gk_test_enroll_device(f->server, f->token, "Gate", "gate");
  g_autofree char *ticket_id = NULL;
  g_autofree char *ticket = issue_ticket(f, FALSE, &ticket_id);
  static const char *const bodies[] = {
    "not json",
    "{\"events\":[{\"id\":\"evt-x-000001\",\"kind\":\"checkin\",\"ticket_id\":\"TID\",\"at\":\"yesterday\"}]}",
    "{\"events\":[{\"id\":\"evt-x-000001\",\"kind\":\"checkin\",\"ticket_id\":\"TID\",\"at\":1,\"admin\":true}]}",
    "{\"events\":[{\"id\":\"evt-x-000001\",\"kind\":\"checkin\",\"ticket_id\":\"TID\",\"at\":1}],\"extra\":1}",
    "{\"events\":[{\"id\":\"evt-x-000001\",\"kind\":\"teleport\",\"ticket_id\":\"TID\",\"at\":1}]}",
    "{\"events\":[{\"id\":\"evt-x-000001\",\"kind\":\"checkin\",\"ticket_id\":\"TID\",\"at\":1},"
    "{\"id\":\"evt-x-000002\",\"kind\":\"checkin\",\"ticket_id\":\"zz\",\"at\":1}]}",
    "{\"events\":[{\"id\":\"evt-x-000001\",\"kind\":\"checkin\",\"ticket_id\":\"TID\",\"at\":1},"
    "{\"id\":\"evt-x-000001\",\"kind\":\"checkin\",\"ticket_id\":\"TID\",\"at\":1}]}",
    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
  };
  for (guint i = 0; i < G_N_ELEMENTS(bodies); i++) {
    /* TID stands for the real ticket id, so only the flaw under test differs. */
    g_auto(GStrv) parts = g_strsplit(bodies[i], "TID", -1);
    g_autofree char *body = g_strjoinv(ticket_id, parts);
    g_autoptr(JsonNode) reply = NULL;
    long status = device(f, d, "POST", "/v1/sync/push", body, &reply);
    if (status != 400)
      g_error("body %u: status %ld", i, status);
    JsonObject *err = json_object_get_object_member(json_node_get_object(reply), "error");
    g_assert_nonnull(err);
    g_assert_cmpint(json_object_get_int_member(err, "status"), ==, 400);
  }
  /* Nothing of any refused batch was stored; the ticket is still unused. */
  g_autoptr(JsonNode) checkins = NULL;
  g_assert_cmpint(admin(f, "GET", "/v1/checkins", NULL, &checkins), ==, 200);
  g_assert_cmpuint(count_array(checkins, "checkins"), ==, 0);
  g_autofree char *rb = redeem_body(ticket, "evt-after-bad");
  g_autoptr(JsonNode) r = NULL;
  g_assert_cmpint(device(f, d, "POST", "/v1/redeem", rb, &r), ==, 200);
  g_assert_cmpstr(gk_test_json_str(r, "result"), ==, "accepted");

  /* Wrong types and unknown fields on the admin side too. */
  g_assert_cmpint(admin(f, "POST", "/v1/hosts", "{\"name\":42}", NULL), ==, 400);
  g_assert_cmpint(admin(f, "POST", "/v1/hosts", "{\"name\":\"A\",\"role\":\"owner\"}", NULL), ==, 400);
  g_assert_cmpint(admin(f, "POST", "/v1/tickets", "{\"visitor\":\"V\",\"host\":\"nobody\"}", NULL), ==, 404);
  g_assert_cmpint(admin(f, "GET", "/v1/checkins?limit=0", NULL, NULL), ==, 400);
  g_assert_cmpint(admin(f, "GET", "/v1/checkins?nope=1", NULL, NULL), ==, 400);
  g_assert_cmpint(admin(f, "DELETE", "/v1/hosts", NULL, NULL), ==, 405);
  /* curl squashes a literal "..", so send the encoded form the parser must refuse. */
  g_assert_cmpint(admin(f, "GET", "/v1/%2e%2e/etc/passwd", NULL, NULL), ==, 400);
  gk_test_device_free(d);
}

static void
test_malformed_http(Fixture *f, gconstpointer data)
{
  static const struct {
    const char *request;
    const char *expect;
  } cases[] = {
    { "GET /healthz HTTP/1.1\nHost: x\n\n", "400 Bad Request" },
    { "GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n", "505" },
    { "POST /v1/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "501" },
    { "POST /v1/login HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello", "400" },
    { "POST /v1/login HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n", "413" },
    { "GET /healthz HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", "400" },
  };
  for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autofree char *reply = gk_test_raw_tls(f->server->admin_port, f->server->ca_path, cases[i].request,
                                             strlen(cases[i].request), 0, 0, 3000);
    g_assert_nonnull(reply);
    if (strstr(reply, cases[i].expect) == NULL || strstr(reply, "{\"error\":") == NULL)
      g_error("case %u: expected %s, got: %s", i, cases[i].expect, reply);
  }
  /* An oversized header block: 431, and the server keeps serving. */
  GString *big = g_string_new("GET /healthz HTTP/1.1\r\nHost: x\r\n");
  for (int i = 0; i < 40; i++)
    g_string_append_printf(big, "X-Filler-%d: %0300d\r\n", i, 0);
  g_string_append(big, "\r\n");
  g_autofree char *reply = gk_test_raw_tls(f->server->admin_port, f->server->ca_path, big->str, big->len, 0, 0, 3000);
  g_string_free(big, TRUE);
  g_assert_nonnull(strstr(reply, "431"));
  g_autofree char *ok = gk_test_raw_tls(f->server->admin_port, f->server->ca_path,
                                        "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 53, 0, 0, 3000);
  g_assert_nonnull(strstr(ok, "200 OK"));
}

static void
test_slow_client(Fixture *f, gconstpointer data)
{
  /* One byte every 200 ms: the 1 s request limit (set by the fixture) drops it
   * well before the headers could ever finish. */
  const char *req = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
  gint64 start = g_get_monotonic_time();
  g_autofree char *reply = gk_test_raw_tls(f->server->admin_port, f->server->ca_path, req, strlen(req), 1, 200, 4000);
  gint64 took_ms = (g_get_monotonic_time() - start) / 1000;
  g_assert_nonnull(reply);
  g_assert_nonnull(strstr(reply, "408"));
  g_assert_cmpint(took_ms, <, (gint64) strlen(req) * 200);
  g_assert_cmpint(admin(f, "GET", "/healthz", NULL, NULL), ==, 200);
}

/* ---- durability ------------------------------------------------------------------------------------- */

typedef struct {
  Fixture *f;
  GkTestDevice *device;
  GPtrArray *acked;      /* event ids the server acknowledged */
  gint batches_acked;    /* read by the main thread while the pusher runs */
  gint stop;
  char *ticket_prefix;
} Pusher;

static gpointer
push_loop(gpointer data)
{
  Pusher *p = data;
  for (guint batch = 0; !g_atomic_int_get(&p->stop); batch++) {
    GString *body = g_string_new("{\"events\":[");
    g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < 20; i++) {
      char *id = g_strdup_printf("evt-kill-%06u-%02u", batch, i);
      g_string_append_printf(body, "%s{\"id\":\"%s\",\"kind\":\"checkout\",\"ticket_id\":\"%s%02u\",\"at\":1795316645}",
                             i ? "," : "", id, p->ticket_prefix, i);
      g_ptr_array_add(ids, id);
    }
    g_string_append(body, "]}");
    GkTestClient c = { .ca_path = p->f->server->ca_path, .cert_pem = p->device->cert_pem,
                       .key_pem = p->device->key_pem, .timeout_ms = 2000 };
    g_autofree char *url = g_strconcat(p->f->server->device_url, "/v1/sync/push", NULL);
    long status = gk_test_request(&c, "POST", url, body->str, NULL, NULL);
    g_string_free(body, TRUE);
    if (status == 200) {
      for (guint i = 0; i < ids->len; i++)
        g_ptr_array_add(p->acked, g_strdup(ids->pdata[i]));
      g_atomic_int_inc(&p->batches_acked);
    }
  }
  return NULL;
}

static void
test_sigkill_durability(Fixture *f, gconstpointer data)
{
  GkTestDevice *d = gk_test_enroll_device(f->server, f->token, "Gate", "gate");
  Pusher p = { .f = f, .device = d, .acked = g_ptr_array_new_with_free_func(g_free),
               .ticket_prefix = g_strdup("00112233445566778899aabbccddee") /* + 2 digits = 32 */ };
  GThread *t = g_thread_new("pusher", push_loop, &p);
  /* Kill while pushes are under way: after a few acknowledged batches (a slow,
   * loaded machine takes longer to get there, so wait for them, not a time). */
  for (guint waited_ms = 0; g_atomic_int_get(&p.batches_acked) < 3 && waited_ms < 60000; waited_ms += 50)
    g_usleep(50 * 1000);
  gk_test_server_kill(f->server);
  g_atomic_int_set(&p.stop, 1);
  g_thread_join(t);
  g_assert_cmpuint(p.acked->len, >, 0);

  gk_test_server_start(f->server);
  g_free(f->token);
  f->token = gk_test_server_login_owner(f->server, OWNER_PW);
  g_autoptr(JsonNode) list = NULL;
  g_assert_cmpint(admin(f, "GET", "/v1/checkins?limit=10000", NULL, &list), ==, 200);
  JsonArray *rows = json_object_get_array_member(json_node_get_object(list), "checkins");
  g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
  for (guint i = 0; i < json_array_get_length(rows); i++) {
    const char *id = json_object_get_string_member(json_array_get_object_element(rows, i), "event_id");
    g_assert_true(g_hash_table_add(seen, (gpointer) id)); /* nothing twice */
  }
  for (guint i = 0; i < p.acked->len; i++)
    if (!g_hash_table_contains(seen, p.acked->pdata[i]))
      g_error("acknowledged event %s is missing after the restart", (char *) p.acked->pdata[i]);
  g_test_message("%u acknowledged events, %u stored after SIGKILL", p.acked->len, g_hash_table_size(seen));
  g_ptr_array_unref(p.acked);
  g_free(p.ticket_prefix);
  gk_test_device_free(d);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/integration/server/init-layout", test_init_layout);
  g_test_add_func("/integration/server/run-errors", test_run_errors);
#define ADD(path, fn, conf) g_test_add(path, Fixture, conf, fixture_setup, fn, fixture_teardown)
  ADD("/integration/server/login-rules", test_login_rules, NULL);
  ADD("/integration/server/enroll-sync-redeem", test_enroll_sync_redeem, NULL);
  ADD("/integration/server/enroll-code-once", test_enroll_code_once, NULL);
  ADD("/integration/server/offline-conflict", test_offline_conflict, NULL);
  ADD("/integration/server/device-port-access", test_device_port_access, NULL);
  ADD("/integration/server/certificate-renewal", test_certificate_renewal, NULL);
  ADD("/integration/server/device-settings", test_device_settings, NULL);
  ADD("/integration/server/device-logo", test_device_logo, NULL);
  ADD("/integration/server/bad-input", test_bad_input, NULL);
  ADD("/integration/server/malformed-http", test_malformed_http, NULL);
  ADD("/integration/server/slow-client", test_slow_client, "[limits]\nrequest-timeout-ms=1000\n");
  ADD("/integration/server/sigkill-durability", test_sigkill_durability, NULL);
#undef ADD
  return g_test_run();
}
