/* The kiosk's HTTPS client: libcurl with one reused easy handle, TLS 1.2, the
 * server verified against the CA from the store, size-capped answers. */
#include "kiosk-net.h"

#include <curl/curl.h>
#include <string.h>

#include "gk-json.h"
#include "gk-secure-file.h"

G_DEFINE_QUARK(kiosk-net-error-quark, kiosk_net_error)

struct _KioskClient {
  CURL *curl;
  char *host;
  guint16 admin_port;
  guint16 device_port;
  char *ca_pem;
  char *cert_pem;
  char *key_pem;
  long connect_timeout_ms;
};

static gsize curl_init_once;

KioskClient *
kiosk_client_new(const char *host, guint16 admin_port, guint16 device_port, const char *ca_pem, const char *cert_pem,
                 const char *key_pem)
{
  if (g_once_init_enter(&curl_init_once)) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    g_once_init_leave(&curl_init_once, 1);
  }
  KioskClient *c = g_new0(KioskClient, 1);
  c->curl = curl_easy_init();
  g_assert(c->curl != NULL);
  c->host = g_strdup(host);
  c->admin_port = admin_port;
  c->device_port = device_port;
  c->ca_pem = g_strdup(ca_pem);
  c->cert_pem = g_strdup(cert_pem);
  c->key_pem = g_strdup(key_pem);
  c->connect_timeout_ms = 5000;
  return c;
}

void
kiosk_client_set_credentials(KioskClient *c, const char *cert_pem, const char *key_pem)
{
  g_return_if_fail(c != NULL && cert_pem != NULL && key_pem != NULL);
  g_free(c->cert_pem);
  if (c->key_pem != NULL)
    gk_secure_free(c->key_pem, strlen(c->key_pem));
  c->cert_pem = g_strdup(cert_pem);
  c->key_pem = g_strdup(key_pem);
  /* A kept-alive connection (and a cached TLS session) still speaks for the
   * old certificate, which the server no longer accepts: start afresh. */
  curl_easy_cleanup(c->curl);
  c->curl = curl_easy_init();
  g_assert(c->curl != NULL);
}

void
kiosk_client_free(KioskClient *c)
{
  if (c == NULL)
    return;
  curl_easy_cleanup(c->curl);
  g_free(c->host);
  g_free(c->ca_pem);
  g_free(c->cert_pem);
  if (c->key_pem != NULL)
    gk_secure_free(c->key_pem, strlen(c->key_pem));
  g_free(c);
}

void
kiosk_client_set_connect_timeout(KioskClient *c, long ms)
{
  c->connect_timeout_ms = ms;
}

static size_t
collect(char *data, size_t size, size_t n, void *user)
{
  GByteArray *out = user;
  if (out->len + size * n > KIOSK_NET_MAX_BODY)
    return 0; /* curl then fails with CURLE_WRITE_ERROR */
  g_byte_array_append(out, (const guint8 *) data, (guint) (size * n));
  return size * n;
}

static gboolean
is_tls_failure(CURLcode rc)
{
  switch (rc) {
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CIPHER:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_ISSUER_ERROR:
  /* A revoked device's connection is dropped right after the handshake. */
  case CURLE_RECV_ERROR:
  case CURLE_SEND_ERROR:
  case CURLE_GOT_NOTHING:
    return TRUE;
  default:
    return FALSE;
  }
}

/* "code: message" from an error answer, for messages; the code separately. */
static char *
describe_error_body(const GByteArray *body, char **out_code)
{
  g_autoptr(JsonNode) root = gk_json_parse_object((const char *) body->data, body->len, 64 * 1024, NULL);
  if (root == NULL)
    return g_strdup("(no error details)");
  JsonObject *o = json_node_get_object(root);
  JsonNode *e = json_object_get_member(o, "error");
  if (e == NULL || !JSON_NODE_HOLDS_OBJECT(e))
    return g_strdup("(no error details)");
  JsonObject *eo = json_node_get_object(e);
  static const GkJsonField f[] = {
    { "code", GK_JSON_STRING, TRUE, 1, 64 },
    { "message", GK_JSON_STRING, FALSE, 0, 1024 },
    { "status", GK_JSON_INT, FALSE, 0, 999 },
  };
  if (!gk_json_check(eo, f, G_N_ELEMENTS(f), TRUE, "error", NULL))
    return g_strdup("(no error details)");
  const char *code = gk_json_get_string(eo, "code", "");
  if (out_code)
    *out_code = g_strdup(code);
  /* Server text goes to a terminal: keep it printable. */
  g_autofree char *msg = g_utf8_make_valid(gk_json_get_string(eo, "message", ""), -1);
  for (char *p = msg; *p; p++)
    if ((guchar) *p < 0x20 || *p == 0x7f)
      *p = '?';
  return *msg ? g_strdup_printf("%s: %s", code, msg) : g_strdup(code);
}

gboolean
kiosk_client_request(KioskClient *c, KioskPort port, const char *method, const char *path, const char *body,
                     long timeout_ms, long *out_status, JsonNode **out_json, GBytes **out_raw, char **out_error_code,
                     GError **error)
{
  CURL *curl = c->curl;
  g_autoptr(GByteArray) answer = g_byte_array_new();
  struct curl_slist *headers = NULL;
  char errbuf[CURL_ERROR_SIZE] = "";
  long status = 0;
  gboolean ok = FALSE;
  guint16 p = port == KIOSK_PORT_ADMIN ? c->admin_port : c->device_port;
  /* An IPv6 literal needs brackets in a URL. */
  gboolean v6 = strchr(c->host, ':') != NULL;
  g_autofree char *url = g_strdup_printf("https://%s%s%s:%u%s", v6 ? "[" : "", c->host, v6 ? "]" : "", p, path);

  if (out_status)
    *out_status = 0;
  if (out_json)
    *out_json = NULL;
  if (out_raw)
    *out_raw = NULL;
  if (out_error_code)
    *out_error_code = NULL;

  /* Options are set afresh each time; the handle keeps its connection cache,
   * so a second request to the same port reuses the TLS session. */
  curl_easy_reset(curl);
  headers = curl_slist_append(headers, "Expect:");
  headers = curl_slist_append(headers, "Accept: application/json");
  if (body != NULL)
    headers = curl_slist_append(headers, "Content-Type: application/json");
  curl_easy_setopt(curl, CURLOPT_URL, url);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https");
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
  if (strcmp(method, "GET") == 0)
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(curl, CURLOPT_SSLVERSION, (long) (CURL_SSLVERSION_TLSv1_2 | CURL_SSLVERSION_MAX_TLSv1_2));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, MIN(timeout_ms, c->connect_timeout_ms));
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, answer);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "genkan-kiosk/" GENKAN_VERSION);
  if (body != NULL) {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long) strlen(body));
  }
  struct curl_blob ca = { 0 }, cert = { 0 }, key = { 0 };
  if (c->ca_pem != NULL) {
    ca = (struct curl_blob){ c->ca_pem, strlen(c->ca_pem), CURL_BLOB_NOCOPY };
    curl_easy_setopt(curl, CURLOPT_CAINFO_BLOB, &ca);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
  } else {
    /* Only GET /v1/ca during enrollment: nothing secret is sent, and the answer
     * is pinned by the fingerprint in the enrollment code. */
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (c->cert_pem != NULL && c->key_pem != NULL && port == KIOSK_PORT_DEVICE) {
    cert = (struct curl_blob){ c->cert_pem, strlen(c->cert_pem), CURL_BLOB_NOCOPY };
    key = (struct curl_blob){ c->key_pem, strlen(c->key_pem), CURL_BLOB_NOCOPY };
    curl_easy_setopt(curl, CURLOPT_SSLCERT_BLOB, &cert);
    curl_easy_setopt(curl, CURLOPT_SSLCERTTYPE, "PEM");
    curl_easy_setopt(curl, CURLOPT_SSLKEY_BLOB, &key);
    curl_easy_setopt(curl, CURLOPT_SSLKEYTYPE, "PEM");
  }

  CURLcode rc = curl_easy_perform(curl);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, NULL);
  if (rc != CURLE_OK) {
    KioskNetError code = is_tls_failure(rc) ? KIOSK_NET_ERROR_TLS : KIOSK_NET_ERROR_UNREACHABLE;
    if (rc == CURLE_WRITE_ERROR)
      code = KIOSK_NET_ERROR_BAD_ANSWER;
    g_set_error(error, KIOSK_NET_ERROR, code, "%s %s: %s", method, url,
                errbuf[0] ? errbuf : curl_easy_strerror(rc));
    goto out;
  }
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  if (out_status)
    *out_status = status;
  if (status < 200 || status > 299) {
    g_autofree char *what = describe_error_body(answer, out_error_code);
    g_set_error(error, KIOSK_NET_ERROR, KIOSK_NET_ERROR_HTTP, "%s %s: HTTP %ld %s", method, path, status, what);
    goto out;
  }
  if (out_raw != NULL) {
    *out_raw = g_byte_array_free_to_bytes(g_steal_pointer(&answer));
  } else if (out_json != NULL) {
    g_autoptr(GError) local = NULL;
    *out_json = gk_json_parse_object((const char *) answer->data, answer->len, KIOSK_NET_MAX_BODY, &local);
    if (*out_json == NULL) {
      g_set_error(error, KIOSK_NET_ERROR, KIOSK_NET_ERROR_BAD_ANSWER, "%s %s: the server's answer is not valid: %s",
                  method, path, local->message);
      goto out;
    }
  }
  ok = TRUE;
out:
  /* The blobs point into this client; curl must not keep pointers to the
   * stack structs after this call. */
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, NULL);
  curl_slist_free_all(headers);
  return ok;
}
