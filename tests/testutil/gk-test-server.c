/* Integration-test helpers: a real genkan-server process and an HTTPS client. */
#include "gk-test-server.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <string.h>

#include "gk-enroll-code.h"
#include "gk-json.h"
#include "gk-test-util.h"
#include "srv-ca.h"
#include "srv-totp.h"

static const char *
server_binary(void)
{
  return GK_BUILD_DIR "/sync-server/genkan-server";
}

GkTestServer *
gk_test_server_init(void)
{
  GkTestServer *s = g_new0(GkTestServer, 1);
  g_autofree char *parent = gk_test_make_tmpdir("genkan-srv");
  s->data_dir = g_build_filename(parent, "data", NULL);
  s->log_path = g_build_filename(parent, "server.log", NULL);
  s->ca_path = g_build_filename(s->data_dir, "ca.crt", NULL);
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL, *err = NULL;
  int status = 0;
  const char *argv[] = { server_binary(), "init", "--data-dir", s->data_dir, NULL };
  g_assert_true(g_spawn_sync(NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status, &error));
  g_assert_no_error(error);
  if (!g_spawn_check_wait_status(status, NULL))
    g_error("genkan-server init failed: %s", err);
  return s;
}

void
gk_test_server_configure(GkTestServer *server, const char *text)
{
  g_autofree char *path = g_build_filename(server->data_dir, "genkan-server.conf", NULL);
  /* The default file holds only comments and public-host (= the default), and
   * a group may appear once, so the caller's text replaces it. */
  g_assert_true(g_file_set_contents_full(path, text, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, NULL));
}

static gboolean
read_ports(GkTestServer *s)
{
  g_autofree char *log = NULL;
  if (!g_file_get_contents(s->log_path, &log, NULL, NULL))
    return FALSE;
  /* The last "server.listening" line of the log is this start's. */
  const char *line = NULL, *p = log;
  while ((p = strstr(p, "event=server.listening")) != NULL)
    line = p++;
  if (line == NULL)
    return FALSE;
  const char *d = strstr(line, "device_port="), *a = strstr(line, "admin_port=");
  if (d == NULL || a == NULL)
    return FALSE;
  s->device_port = (guint16) g_ascii_strtoull(d + strlen("device_port="), NULL, 10);
  s->admin_port = (guint16) g_ascii_strtoull(a + strlen("admin_port="), NULL, 10);
  return s->device_port != 0 && s->admin_port != 0;
}

/* A test that aborts must not leave a server behind. */
static void
die_with_parent(gpointer data)
{
  prctl(PR_SET_PDEATHSIG, SIGKILL);
}

void
gk_test_server_start(GkTestServer *s)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDIN_INHERIT);
  g_subprocess_launcher_set_child_setup(launcher, die_with_parent, NULL, NULL);
  /* Append, so the log of an earlier run (before a kill) stays readable. */
  g_autoptr(GFile) log_file = g_file_new_for_path(s->log_path);
  g_autoptr(GFileOutputStream) touch = g_file_append_to(log_file, G_FILE_CREATE_NONE, NULL, NULL);
  g_clear_object(&touch);
  int fd = open(s->log_path, O_WRONLY | O_APPEND | O_CLOEXEC);
  g_assert_cmpint(fd, >=, 0);
  g_subprocess_launcher_take_stderr_fd(launcher, fd);
  g_autofree char *dp = g_strdup_printf("%u", s->device_port);
  g_autofree char *ap = g_strdup_printf("%u", s->admin_port);
  /* Remember the log length: the new start's line comes after it. */
  g_autofree char *before = NULL;
  gsize before_len = 0;
  g_file_get_contents(s->log_path, &before, &before_len, NULL);
  s->process = g_subprocess_launcher_spawn(launcher, &error, server_binary(), "run", "--data-dir", s->data_dir,
                                           "--device-port", dp, "--admin-port", ap, NULL);
  g_assert_no_error(error);
  for (int i = 0; i < 600; i++) {
    g_autofree char *log = NULL;
    gsize len = 0;
    if (g_file_get_contents(s->log_path, &log, &len, NULL) && len > before_len &&
        strstr(log + before_len, "event=server.listening") != NULL && read_ports(s))
      break;
    if (g_subprocess_get_identifier(s->process) == NULL || i == 599) {
      g_autofree char *all = gk_test_server_log(s);
      g_error("genkan-server did not start:\n%s", all);
    }
    g_usleep(50000);
  }
  g_free(s->admin_url);
  g_free(s->device_url);
  s->admin_url = g_strdup_printf("https://127.0.0.1:%u", s->admin_port);
  s->device_url = g_strdup_printf("https://127.0.0.1:%u", s->device_port);
}

/* The last @max bytes of the log: a failed stop's LeakSanitizer report is
 * there, as the server's stderr goes to the log. */
static char *
log_tail(GkTestServer *s, gsize max)
{
  g_autofree char *log = gk_test_server_log(s);
  gsize len = strlen(log);
  return g_strdup(len > max ? log + len - max : log);
}

void
gk_test_server_stop(GkTestServer *s)
{
  if (s->process == NULL)
    return;
  g_subprocess_send_signal(s->process, SIGTERM);
  /* GLib reaps the child in its worker thread; the identifier goes once it has. */
  for (int i = 0; i < 300 && g_subprocess_get_identifier(s->process) != NULL; i++)
    g_usleep(100000);
  if (g_subprocess_get_identifier(s->process) != NULL) {
    g_autofree char *tail = log_tail(s, 32 * 1024);
    g_subprocess_force_exit(s->process);
    g_error("genkan-server did not stop within 30 s of SIGTERM; log tail:\n%s", tail);
  }
  g_autoptr(GError) error = NULL;
  g_assert_true(g_subprocess_wait(s->process, NULL, &error));
  g_assert_no_error(error);
  if (!g_subprocess_get_if_exited(s->process) || g_subprocess_get_exit_status(s->process) != 0) {
    g_autofree char *tail = log_tail(s, 32 * 1024);
    if (g_subprocess_get_if_exited(s->process))
      g_error("genkan-server exited with status %d after SIGTERM (23: LeakSanitizer found leaks); log tail:\n%s",
              g_subprocess_get_exit_status(s->process), tail);
    g_error("genkan-server died of signal %d after SIGTERM; log tail:\n%s", g_subprocess_get_term_sig(s->process),
            tail);
  }
  g_clear_object(&s->process);
}

void
gk_test_server_kill(GkTestServer *s)
{
  if (s->process == NULL)
    return;
  g_subprocess_force_exit(s->process);
  g_subprocess_wait(s->process, NULL, NULL);
  g_clear_object(&s->process);
}

char *
gk_test_server_log(GkTestServer *s)
{
  char *log = NULL;
  if (!g_file_get_contents(s->log_path, &log, NULL, NULL))
    log = g_strdup("");
  return log;
}

void
gk_test_server_free(GkTestServer *s)
{
  if (s == NULL)
    return;
  /* A graceful stop, so the server's own LeakSanitizer check runs and counts;
   * tests that simulate a crash call gk_test_server_kill first. */
  if (s->process != NULL)
    gk_test_server_stop(s);
  g_autofree char *parent = g_path_get_dirname(s->data_dir);
  gk_test_rmtree(parent);
  g_free(s->data_dir);
  g_free(s->log_path);
  g_free(s->ca_path);
  g_free(s->admin_url);
  g_free(s->device_url);
  g_free(s);
}

static size_t
collect(char *data, size_t size, size_t n, void *user)
{
  GString *out = user;
  if (out->len + size * n > 16 * 1024 * 1024)
    return 0;
  g_string_append_len(out, data, (gssize) (size * n));
  return size * n;
}

long
gk_test_request(const GkTestClient *client, const char *method, const char *url, const char *json_body,
                JsonNode **out_body, int *out_curl_error)
{
  CURL *curl = curl_easy_init();
  g_autoptr(GString) body = g_string_new(NULL);
  struct curl_slist *headers = NULL;
  g_autofree char *auth = NULL;
  long status = 0;

  g_autofree char *content_type =
    g_strconcat("Content-Type: ", client->content_type != NULL ? client->content_type : "application/json", NULL);
  headers = curl_slist_append(headers, content_type);
  headers = curl_slist_append(headers, "Expect:");
  if (client->token) {
    auth = g_strconcat("Authorization: Bearer ", client->token, NULL);
    headers = curl_slist_append(headers, auth);
  }
  g_autofree char *site = client->site != NULL ? g_strconcat("X-Genkan-Site: ", client->site, NULL) : NULL;
  if (site != NULL)
    headers = curl_slist_append(headers, site);
  curl_easy_setopt(curl, CURLOPT_URL, url);
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_CAINFO, client->ca_path);
  curl_easy_setopt(curl, CURLOPT_SSLVERSION, (long) (CURL_SSLVERSION_TLSv1_2 | CURL_SSLVERSION_MAX_TLSv1_2));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, client->timeout_ms ? client->timeout_ms : 10000L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, body);
  if (json_body != NULL)
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, json_body);
  if (client->out_headers != NULL) {
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, client->out_headers);
  }
  struct curl_blob cert = { 0 }, key = { 0 };
  if (client->cert_pem != NULL) {
    cert = (struct curl_blob){ (void *) client->cert_pem, strlen(client->cert_pem), CURL_BLOB_COPY };
    key = (struct curl_blob){ (void *) client->key_pem, strlen(client->key_pem), CURL_BLOB_COPY };
    curl_easy_setopt(curl, CURLOPT_SSLCERT_BLOB, &cert);
    curl_easy_setopt(curl, CURLOPT_SSLCERTTYPE, "PEM");
    curl_easy_setopt(curl, CURLOPT_SSLKEY_BLOB, &key);
    curl_easy_setopt(curl, CURLOPT_SSLKEYTYPE, "PEM");
  }
  CURLcode rc = curl_easy_perform(curl);
  if (out_curl_error)
    *out_curl_error = rc;
  if (rc == CURLE_OK)
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  if (client->out_raw != NULL)
    g_string_append_len(client->out_raw, body->str, (gssize) body->len);
  if (out_body != NULL) {
    /* Tests reuse one reply variable for a series of requests. */
    g_clear_pointer(out_body, json_node_unref);
    if (status != 0 && body->len > 0)
      *out_body = gk_json_parse_object(body->str, body->len, 16 * 1024 * 1024, NULL);
  }
  return status;
}

const char *
gk_test_json_str(JsonNode *node, const char *member)
{
  if (node == NULL || !JSON_NODE_HOLDS_OBJECT(node))
    return NULL;
  return gk_json_get_string(json_node_get_object(node), member, NULL);
}

gint64
gk_test_json_int(JsonNode *node, const char *member)
{
  if (node == NULL || !JSON_NODE_HOLDS_OBJECT(node))
    return G_MININT64;
  return gk_json_get_int(json_node_get_object(node), member, G_MININT64);
}

/* ---- sign-in, accounts, the second factor ----------------------------------------------- */

const char *
gk_test_json_error_code(JsonNode *reply)
{
  if (reply == NULL || !JSON_NODE_HOLDS_OBJECT(reply))
    return NULL;
  return gk_test_json_str(json_object_get_member(json_node_get_object(reply), "error"), "code");
}

char *
gk_test_totp_next(const char *secret, gint64 *last_step)
{
  guint8 key[64];
  gsize len = 0;
  g_assert_true(srv_base32_decode(secret, key, sizeof key, &len));
  for (;;) {
    gint64 now = g_get_real_time() / G_USEC_PER_SEC;
    gint64 step = srv_totp_step(now);
    gint64 use = MAX(step, *last_step + 1);
    /* The server takes now-1 .. now+1: a step ahead is still fresh. */
    if (use <= step + SRV_TOTP_WINDOW) {
      *last_step = use;
      return g_strdup_printf("%06u", srv_totp_hotp(key, len, (guint64) use, SRV_TOTP_DIGITS));
    }
    g_usleep((gulong) ((step + 1) * SRV_TOTP_PERIOD - now) * G_USEC_PER_SEC + 200000);
  }
}

char *
gk_test_totp_next_from_file(const char *path)
{
  g_autofree char *text = NULL;
  g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
  g_auto(GStrv) parts = g_strsplit(g_strstrip(text), " ", 2);
  g_assert_cmpuint(g_strv_length(parts), ==, 2);
  gint64 step = g_ascii_strtoll(parts[1], NULL, 10);
  char *code = gk_test_totp_next(parts[0], &step);
  g_autofree char *line = g_strdup_printf("%s %" G_GINT64_FORMAT "\n", parts[0], step);
  g_assert_true(g_file_set_contents_full(path, line, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, NULL));
  return code;
}

char *
gk_test_server_owner_totp_path(GkTestServer *s)
{
  g_autofree char *parent = g_path_get_dirname(s->data_dir);
  return g_build_filename(parent, "owner-totp", NULL);
}

static long
post_login(GkTestServer *s, const char *user, const char *password, const char *new_password, const char *totp,
           char **out_token, JsonNode **out_reply)
{
  GkTestClient c = { .ca_path = s->ca_path };
  g_autofree char *url = g_strconcat(s->admin_url, "/v1/login", NULL);
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "username");
  json_builder_add_string_value(b, user);
  json_builder_set_member_name(b, "password");
  json_builder_add_string_value(b, password);
  if (new_password != NULL) {
    json_builder_set_member_name(b, "new_password");
    json_builder_add_string_value(b, new_password);
  }
  if (totp != NULL) {
    json_builder_set_member_name(b, "totp");
    json_builder_add_string_value(b, totp);
  }
  json_builder_end_object(b);
  g_autofree char *body = gk_json_builder_to_string(b);
  g_autoptr(JsonNode) reply = NULL;
  long status = gk_test_request(&c, "POST", url, body, &reply, NULL);
  if (out_token != NULL)
    *out_token = g_strdup(gk_test_json_str(reply, "token"));
  if (out_reply != NULL) {
    g_clear_pointer(out_reply, json_node_unref);
    *out_reply = g_steal_pointer(&reply);
  }
  return status;
}

long
gk_test_server_login(GkTestServer *s, const char *user, const char *password, const char *totp, char **out_token,
                     JsonNode **out_reply)
{
  return post_login(s, user, password, NULL, totp, out_token, out_reply);
}

/* POST @path as @token with @body; asserts @want and returns the answer. */
static JsonNode *
post_as(GkTestServer *s, const char *token, const char *path, const char *body, long want)
{
  GkTestClient c = { .ca_path = s->ca_path, .token = token };
  g_autofree char *url = g_strconcat(s->admin_url, path, NULL);
  JsonNode *reply = NULL;
  long status = gk_test_request(&c, "POST", url, body, &reply, NULL);
  if (status != want) {
    g_autofree char *text = reply != NULL ? json_to_string(reply, FALSE) : g_strdup("(no body)");
    g_error("POST %s: HTTP %ld, not %ld: %s", path, status, want, text);
  }
  return reply;
}

char *
gk_test_server_enroll_totp(GkTestServer *s, const char *token, char **out_secret, gint64 *out_step)
{
  g_autoptr(JsonNode) enrolled = post_as(s, token, "/v1/account/totp/enroll", "{}", 200);
  g_autofree char *secret = g_strdup(gk_test_json_str(enrolled, "secret"));
  g_assert_nonnull(secret);
  gint64 step = 0;
  g_autofree char *code = gk_test_totp_next(secret, &step);
  g_autofree char *body = g_strdup_printf("{\"code\":\"%s\"}", code);
  g_autoptr(JsonNode) confirmed = post_as(s, token, "/v1/account/totp/confirm", body, 200);
  char *fresh = g_strdup(gk_test_json_str(confirmed, "token"));
  g_assert_nonnull(fresh);
  if (out_secret != NULL)
    *out_secret = g_steal_pointer(&secret);
  if (out_step != NULL)
    *out_step = step;
  return fresh;
}

char *
gk_test_server_login_owner(GkTestServer *s, const char *new_password)
{
  g_autofree char *pw_path = g_build_filename(s->data_dir, "initial-owner-password", NULL);
  g_autofree char *totp_path = gk_test_server_owner_totp_path(s);
  g_autofree char *pw = NULL;
  char *token = NULL;
  g_autoptr(JsonNode) reply = NULL;
  if (!g_file_get_contents(pw_path, &pw, NULL, NULL)) {
    /* The server removes the file once the one-time password is changed;
     * from then on the owner signs in with a second factor. */
    g_autofree char *code = gk_test_totp_next_from_file(totp_path);
    long status = post_login(s, "owner", new_password, NULL, code, &token, &reply);
    if (status != 200)
      g_error("owner sign-in: HTTP %ld (%s)", status, gk_test_json_error_code(reply));
    return token;
  }
  g_strstrip(pw);
  g_autofree char *first = NULL;
  long status = post_login(s, "owner", pw, new_password, NULL, &first, &reply);
  if (status != 200)
    g_error("owner's first sign-in: HTTP %ld (%s)", status, gk_test_json_error_code(reply));
  g_autofree char *secret = NULL;
  gint64 step = 0;
  token = gk_test_server_enroll_totp(s, first, &secret, &step);
  g_autofree char *line = g_strdup_printf("%s %" G_GINT64_FORMAT "\n", secret, step);
  g_assert_true(g_file_set_contents_full(totp_path, line, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, NULL));
  return token;
}

char *
gk_test_server_add_account(GkTestServer *s, const char *admin_token, const char *user, const char *role,
                           const char *sites_json, const char *password, char **out_secret, gint64 *out_step)
{
  g_autofree char *body = sites_json != NULL
                            ? g_strdup_printf("{\"username\":\"%s\",\"role\":\"%s\",\"sites\":%s}", user, role,
                                              sites_json)
                            : g_strdup_printf("{\"username\":\"%s\",\"role\":\"%s\"}", user, role);
  g_autoptr(JsonNode) added = post_as(s, admin_token, "/v1/accounts", body, 201);
  const char *once = gk_test_json_str(added, "one_time_password");
  g_assert_nonnull(once);
  g_autofree char *first = NULL;
  g_autoptr(JsonNode) reply = NULL;
  long status = post_login(s, user, once, password, NULL, &first, &reply);
  if (status != 200)
    g_error("%s's first sign-in: HTTP %ld (%s)", user, status, gk_test_json_error_code(reply));
  if (out_secret != NULL)
    *out_secret = NULL;
  if (out_step != NULL)
    *out_step = 0;
  if (strcmp(role, "owner") != 0 && strcmp(role, "admin") != 0)
    return g_steal_pointer(&first);
  return gk_test_server_enroll_totp(s, first, out_secret, out_step);
}

GkTestDevice *
gk_test_enroll_device(GkTestServer *s, const char *token, const char *name, const char *mode)
{
  GkTestClient admin = { .ca_path = s->ca_path, .token = token };
  g_autofree char *url = g_strconcat(s->admin_url, "/v1/devices/enroll-codes", NULL);
  g_autofree char *req = g_strdup_printf("{\"name\":\"%s\",\"mode\":\"%s\"}", name, mode);
  g_autoptr(JsonNode) reply = NULL;
  g_assert_cmpint(gk_test_request(&admin, "POST", url, req, &reply, NULL), ==, 201);
  GkEnrollCode code;
  g_autoptr(GError) error = NULL;
  g_assert_true(gk_enroll_code_parse(gk_test_json_str(reply, "code"), g_get_real_time() / G_USEC_PER_SEC, &code,
                                     &error));
  g_assert_no_error(error);

  GkTestDevice *d = g_new0(GkTestDevice, 1);
  g_autofree char *csr = NULL;
  g_assert_true(srv_ca_make_key_and_csr("kiosk", &d->key_pem, &csr, &error));
  g_autofree char *token_hex = gk_hex_encode(code.token, sizeof code.token);
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "token");
  json_builder_add_string_value(b, token_hex);
  json_builder_set_member_name(b, "csr");
  json_builder_add_string_value(b, csr);
  json_builder_end_object(b);
  g_autofree char *body = gk_json_builder_to_string(b);
  g_autofree char *enroll_url = g_strconcat(s->admin_url, "/v1/enroll", NULL);
  GkTestClient anon = { .ca_path = s->ca_path };
  g_autoptr(JsonNode) enrolled = NULL;
  g_assert_cmpint(gk_test_request(&anon, "POST", enroll_url, body, &enrolled, NULL), ==, 200);
  d->device_id = g_strdup(gk_test_json_str(enrolled, "device_id"));
  d->cert_pem = g_strdup(gk_test_json_str(enrolled, "certificate"));
  d->site_id = gk_test_json_int(enrolled, "site_id");
  g_assert_nonnull(d->device_id);
  g_assert_nonnull(d->cert_pem);
  return d;
}

void
gk_test_device_free(GkTestDevice *d)
{
  if (d == NULL)
    return;
  g_free(d->device_id);
  g_free(d->cert_pem);
  if (d->key_pem)
    memset(d->key_pem, 0, strlen(d->key_pem));
  g_free(d->key_pem);
  g_free(d);
}

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>

char *
gk_test_raw_tls(guint16 port, const char *ca_path, const char *data, gsize len, gsize chunk, guint pause_ms,
                guint read_ms)
{
  mbedtls_net_context net;
  mbedtls_ssl_context ssl;
  mbedtls_ssl_config conf;
  mbedtls_x509_crt ca;
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
  GString *out = NULL;
  char port_text[8];

  mbedtls_net_init(&net);
  mbedtls_ssl_init(&ssl);
  mbedtls_ssl_config_init(&conf);
  mbedtls_x509_crt_init(&ca);
  mbedtls_entropy_init(&entropy);
  mbedtls_ctr_drbg_init(&drbg);
  g_snprintf(port_text, sizeof port_text, "%u", port);
  if (mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, NULL, 0) != 0 ||
      mbedtls_x509_crt_parse_file(&ca, ca_path) != 0 ||
      mbedtls_net_connect(&net, "127.0.0.1", port_text, MBEDTLS_NET_PROTO_TCP) != 0 ||
      mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                  MBEDTLS_SSL_PRESET_DEFAULT) != 0)
    goto out;
  mbedtls_ssl_conf_authmode(&conf, MBEDTLS_SSL_VERIFY_REQUIRED);
  mbedtls_ssl_conf_ca_chain(&conf, &ca, NULL);
  mbedtls_ssl_conf_rng(&conf, mbedtls_ctr_drbg_random, &drbg);
  mbedtls_ssl_conf_read_timeout(&conf, read_ms);
  if (mbedtls_ssl_setup(&ssl, &conf) != 0 || mbedtls_ssl_set_hostname(&ssl, "localhost") != 0)
    goto out;
  mbedtls_ssl_set_bio(&ssl, &net, mbedtls_net_send, NULL, mbedtls_net_recv_timeout);
  int rc;
  while ((rc = mbedtls_ssl_handshake(&ssl)) != 0)
    if (rc != MBEDTLS_ERR_SSL_WANT_READ && rc != MBEDTLS_ERR_SSL_WANT_WRITE)
      goto out;

  out = g_string_new(NULL);
  gsize step = chunk ? chunk : len;
  for (gsize off = 0; off < len; off += step) {
    gsize n = MIN(step, len - off);
    if (mbedtls_ssl_write(&ssl, (const unsigned char *) data + off, n) < 0)
      break;
    if (pause_ms && off + n < len)
      g_usleep((gulong) pause_ms * 1000);
  }
  gint64 deadline = g_get_monotonic_time() + (gint64) read_ms * 1000;
  while (g_get_monotonic_time() < deadline) {
    unsigned char buf[4096];
    rc = mbedtls_ssl_read(&ssl, buf, sizeof buf);
    if (rc > 0)
      g_string_append_len(out, (const char *) buf, rc);
    else if (rc != MBEDTLS_ERR_SSL_WANT_READ && rc != MBEDTLS_ERR_SSL_WANT_WRITE)
      break; /* closed, close_notify, or read timeout */
  }
out:
  mbedtls_ssl_free(&ssl);
  mbedtls_ssl_config_free(&conf);
  mbedtls_x509_crt_free(&ca);
  mbedtls_ctr_drbg_free(&drbg);
  mbedtls_entropy_free(&entropy);
  mbedtls_net_free(&net);
  return out ? g_string_free(out, FALSE) : NULL;
}
