/* Integration-test helpers: a real genkan-server process on loopback, and a
 * small HTTPS JSON client (libcurl) that can present a device certificate. */
#pragma once
#include <gio/gio.h>
#include <json-glib/json-glib.h>

typedef struct {
  char *data_dir;
  char *log_path;
  GSubprocess *process;
  guint16 device_port;
  guint16 admin_port;
  char *ca_path;        /* data_dir/ca.crt */
  char *admin_url;      /* https://127.0.0.1:PORT */
  char *device_url;
} GkTestServer;

/* Runs `genkan-server init` into a new temp dir (asserting success). */
GkTestServer *gk_test_server_init(void);
/* Replaces the data dir's genkan-server.conf with @text (before start). */
void gk_test_server_configure(GkTestServer *server, const char *text);
/* Starts `genkan-server run` on free loopback ports (or the ports it had, when
 * restarting) and waits until both listen. */
void gk_test_server_start(GkTestServer *server);
/* SIGTERM and wait up to 30 s; asserts exit status 0 (so no leaks either),
 * printing the log tail (with any LeakSanitizer report) when not. */
void gk_test_server_stop(GkTestServer *server);
/* SIGKILL and wait. */
void gk_test_server_kill(GkTestServer *server);
/* Stops gracefully (gk_test_server_stop) if running and removes the data dir. */
void gk_test_server_free(GkTestServer *server);
/* The server's log so far (g_free). */
char *gk_test_server_log(GkTestServer *server);

typedef struct {
  const char *cert_pem;  /* client certificate, or NULL */
  const char *key_pem;
  const char *ca_path;   /* trust anchor for the server */
  const char *token;     /* Bearer token, or NULL */
  long timeout_ms;       /* 0: 10 s */
  const char *site;      /* X-Genkan-Site header value (a site id), or NULL */
  const char *content_type; /* of the request body; NULL: application/json */
  GString *out_raw;      /* when set: the response body as received, appended */
  GString *out_headers;  /* when set: the response header lines, appended */
} GkTestClient;

/* One request; returns the HTTP status (0 when the connection or TLS failed,
 * with *out_curl_error set) and the parsed JSON body in *out_body (may be NULL).
 * *out_body must start NULL or hold an earlier answer, which is unref'd. */
long gk_test_request(const GkTestClient *client, const char *method, const char *url, const char *json_body,
                     JsonNode **out_body, int *out_curl_error);

/* Signs in as owner with the initial password, changing it to @new_password
 * and enrolling the second factor owners must have (or, once changed, with
 * @new_password and a TOTP code); returns the session token (g_free). The
 * owner's TOTP secret is kept in the file gk_test_server_owner_totp_path(). */
char *gk_test_server_login_owner(GkTestServer *server, const char *new_password);

/* ---- accounts and the second factor ------------------------------------------------------ */

/* "<parent of the data dir>/owner-totp": the owner's TOTP secret (base32) and
 * the last step used, "SECRET STEP\n" (g_free). helper-totp reads it too. */
char *gk_test_server_owner_totp_path(GkTestServer *server);
/* A TOTP code (6 digits, g_free) of @secret (base32) for a step later than
 * *last_step and within the server's window, sleeping up to 30 s for the next
 * step when both fresh steps are used; *last_step becomes that step. */
char *gk_test_totp_next(const char *secret, gint64 *last_step);
/* The same for the secret kept in the file @path ("SECRET STEP"), updating it. */
char *gk_test_totp_next_from_file(const char *path);
/* POST /v1/login as @user; returns the HTTP status, the token in *out_token
 * (g_free; may be NULL) and the answer in *out_reply (may be NULL; it must
 * start NULL or hold an earlier answer, which is unref'd). @totp may be NULL. */
long gk_test_server_login(GkTestServer *server, const char *user, const char *password, const char *totp,
                          char **out_token, JsonNode **out_reply);
/* Enrolls a second factor for the session @token's account (enroll, then
 * confirm with the first code); returns the new session's token (g_free), the
 * secret in *out_secret (g_free) and the step used in *out_step. */
char *gk_test_server_enroll_totp(GkTestServer *server, const char *token, char **out_secret, gint64 *out_step);
/* Adds @user with @role through the API as @admin_token (@sites_json: a JSON
 * array of site ids, or NULL for the request's site), signs in with the
 * one-time password, sets @password, and enrolls a second factor when the
 * role needs one (its secret in *out_secret and the step its first code used
 * in *out_step; both may be NULL). Returns the account's session token (g_free). */
char *gk_test_server_add_account(GkTestServer *server, const char *admin_token, const char *user, const char *role,
                                 const char *sites_json, const char *password, char **out_secret,
                                 gint64 *out_step);
/* The "error"."code" of an answer, or NULL. */
const char *gk_test_json_error_code(JsonNode *reply);

typedef struct {
  char *device_id;
  char *cert_pem;
  char *key_pem;
  gint64 site_id;
} GkTestDevice;
/* Makes an enrollment code through the admin API and enrolls a new device with
 * a fresh key and CSR. */
GkTestDevice *gk_test_enroll_device(GkTestServer *server, const char *token, const char *name, const char *mode);
void gk_test_device_free(GkTestDevice *device);

/* String member of a JSON object node, or NULL. */
const char *gk_test_json_str(JsonNode *node, const char *member);
gint64 gk_test_json_int(JsonNode *node, const char *member);

/* Raw bytes over TLS to 127.0.0.1:@port (server verified as "localhost" with
 * @ca_path): sends @len bytes in pieces of @chunk bytes (0: all at once) with
 * @pause_ms between pieces, then reads until the server closes or @read_ms
 * passes. Returns what came back (g_free), or NULL when TLS failed. */
char *gk_test_raw_tls(guint16 port, const char *ca_path, const char *data, gsize len, gsize chunk, guint pause_ms,
                      guint read_ms);
