/* Enrollment of a new device: CA pinning by fingerprint, on-device key pair and
 * CSR, the one-time token exchange, and the identity stored encrypted. */
#include "kiosk-enroll.h"

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/x509_csr.h>
#include <string.h>

#include "gk-enroll-code.h"
#include "gk-json.h"
#include "gk-log.h"
#include "gk-secure-file.h"
#include "kiosk-net.h"

G_DEFINE_QUARK(kiosk-enroll-error-quark, kiosk_enroll_error)

#define PEM_MAX 4096

static gboolean
mbed_error(GError **error, int ret, const char *what)
{
  g_set_error(error, KIOSK_ENROLL_ERROR, KIOSK_ENROLL_ERROR_CRYPTO, "%s (mbedTLS error -0x%04x)", what,
              (unsigned) -ret);
  return FALSE;
}

gboolean
kiosk_enroll_make_key_and_csr(char **out_key_pem, char **out_csr_pem, GError **error)
{
  static const char pers[] = "genkan-kiosk-enroll";
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
  mbedtls_pk_context key;
  mbedtls_x509write_csr req;
  unsigned char key_pem[PEM_MAX];
  unsigned char csr_pem[PEM_MAX];
  gboolean ok = FALSE;
  int ret;

  mbedtls_entropy_init(&entropy);
  mbedtls_ctr_drbg_init(&drbg);
  mbedtls_pk_init(&key);
  mbedtls_x509write_csr_init(&req);
  memset(key_pem, 0, sizeof key_pem);
  memset(csr_pem, 0, sizeof csr_pem);

  ret = mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, (const unsigned char *) pers, sizeof pers - 1);
  if (ret == 0)
    ret = mbedtls_pk_setup(&key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
  if (ret == 0)
    ret = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(key), mbedtls_ctr_drbg_random, &drbg);
  /* The server picks the subject; ours only has to be well-formed. */
  if (ret == 0)
    ret = mbedtls_x509write_csr_set_subject_name(&req, "CN=genkan-kiosk");
  if (ret == 0) {
    mbedtls_x509write_csr_set_key(&req, &key);
    mbedtls_x509write_csr_set_md_alg(&req, MBEDTLS_MD_SHA256);
    ret = mbedtls_x509write_csr_pem(&req, csr_pem, sizeof csr_pem, mbedtls_ctr_drbg_random, &drbg);
  }
  if (ret == 0)
    ret = mbedtls_pk_write_key_pem(&key, key_pem, sizeof key_pem);
  if (ret != 0) {
    mbed_error(error, ret, "cannot make the device key and certificate request");
    goto out;
  }
  *out_key_pem = g_strdup((const char *) key_pem);
  *out_csr_pem = g_strdup((const char *) csr_pem);
  ok = TRUE;
out:
  mbedtls_platform_zeroize(key_pem, sizeof key_pem);
  mbedtls_x509write_csr_free(&req);
  mbedtls_pk_free(&key);
  mbedtls_ctr_drbg_free(&drbg);
  mbedtls_entropy_free(&entropy);
  return ok;
}

gboolean
kiosk_enroll_ca_fingerprint(const char *pem, gsize len, guint8 out[32], GError **error)
{
  mbedtls_x509_crt crt;
  mbedtls_x509_crt_init(&crt);
  /* mbedTLS wants the PEM NUL-terminated, the NUL counted in the length. */
  g_autofree char *copy = g_strndup(pem, len);
  int ret = mbedtls_x509_crt_parse(&crt, (const unsigned char *) copy, strlen(copy) + 1);
  gboolean ok = FALSE;
  if (ret != 0) {
    mbed_error(error, ret, "the server's CA certificate cannot be parsed");
  } else if (crt.next != NULL) {
    g_set_error(error, KIOSK_ENROLL_ERROR, KIOSK_ENROLL_ERROR_CA_MISMATCH,
                "the server sent more than one CA certificate");
  } else if ((ret = mbedtls_sha256_ret(crt.raw.p, crt.raw.len, out, 0)) != 0) {
    mbed_error(error, ret, "cannot hash the CA certificate");
  } else {
    ok = TRUE;
  }
  mbedtls_x509_crt_free(&crt);
  return ok;
}

/* Checks that @cert_pem is one certificate signed by @ca_pem for our key. */
static gboolean
check_certificate(const char *cert_pem, const char *ca_pem, GError **error)
{
  mbedtls_x509_crt crt, ca;
  mbedtls_x509_crt_init(&crt);
  mbedtls_x509_crt_init(&ca);
  guint32 flags = 0;
  gboolean ok = FALSE;
  int ret = mbedtls_x509_crt_parse(&crt, (const unsigned char *) cert_pem, strlen(cert_pem) + 1);
  if (ret == 0)
    ret = mbedtls_x509_crt_parse(&ca, (const unsigned char *) ca_pem, strlen(ca_pem) + 1);
  if (ret != 0)
    mbed_error(error, ret, "the device certificate from the server cannot be parsed");
  else if ((ret = mbedtls_x509_crt_verify(&crt, &ca, NULL, NULL, &flags, NULL, NULL)) != 0)
    g_set_error(error, KIOSK_ENROLL_ERROR, KIOSK_ENROLL_ERROR_BAD_ANSWER,
                "the device certificate from the server is not signed by its CA (flags 0x%x)", flags);
  else
    ok = TRUE;
  mbedtls_x509_crt_free(&crt);
  mbedtls_x509_crt_free(&ca);
  return ok;
}

static gboolean
fetch_pinned_ca(const GkEnrollCode *code, char **out_ca_pem, GError **error)
{
  g_autoptr(KioskClient) insecure = kiosk_client_new(code->host, code->port, 0, NULL, NULL, NULL);
  g_autoptr(GBytes) raw = NULL;
  if (!kiosk_client_request(insecure, KIOSK_PORT_ADMIN, "GET", "/v1/ca", NULL, 15000, NULL, NULL, &raw, NULL, error)) {
    g_prefix_error(error, "cannot fetch the server's CA certificate: ");
    return FALSE;
  }
  gsize len = 0;
  const char *data = g_bytes_get_data(raw, &len);
  if (len == 0 || len > 64 * 1024 || memchr(data, '\0', len) != NULL) {
    g_set_error(error, KIOSK_ENROLL_ERROR, KIOSK_ENROLL_ERROR_BAD_ANSWER,
                "the server's CA answer is not a PEM certificate");
    return FALSE;
  }
  guint8 fp[32];
  if (!kiosk_enroll_ca_fingerprint(data, len, fp, error))
    return FALSE;
  if (memcmp(fp, code->ca_fingerprint, sizeof fp) != 0) {
    g_set_error(error, KIOSK_ENROLL_ERROR, KIOSK_ENROLL_ERROR_CA_MISMATCH,
                "the server at %s:%u presented a CA certificate whose fingerprint does not match the "
                "enrollment code: refusing to enroll (wrong server, or someone in between)",
                code->host, code->port);
    return FALSE;
  }
  *out_ca_pem = g_strndup(data, len);
  return TRUE;
}

static gboolean
post_enroll(const GkEnrollCode *code, const char *ca_pem, const char *csr_pem, KioskIdentity *id, GError **error)
{
  g_autoptr(KioskClient) client = kiosk_client_new(code->host, code->port, 0, ca_pem, NULL, NULL);
  g_autofree char *token_hex = gk_hex_encode(code->token, sizeof code->token);
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "token");
  json_builder_add_string_value(b, token_hex);
  json_builder_set_member_name(b, "csr");
  json_builder_add_string_value(b, csr_pem);
  json_builder_end_object(b);
  g_autofree char *body = gk_json_builder_to_string(b);
  memset(token_hex, 0, strlen(token_hex));
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *server_code = NULL;
  long status = 0;
  g_autoptr(GError) local = NULL;
  gboolean ok = kiosk_client_request(client, KIOSK_PORT_ADMIN, "POST", "/v1/enroll", body, 30000, &status, &root,
                                     NULL, &server_code, &local);
  memset(body, 0, strlen(body));
  if (!ok) {
    if (server_code != NULL && (strcmp(server_code, "code-used") == 0 || strcmp(server_code, "not-found") == 0))
      g_set_error(error, KIOSK_ENROLL_ERROR, KIOSK_ENROLL_ERROR_REFUSED,
                  "the server refused the enrollment code: it was already used, has expired or is unknown (%s)",
                  local->message);
    else
      g_set_error(error, KIOSK_ENROLL_ERROR, KIOSK_ENROLL_ERROR_REFUSED, "enrollment failed: %s", local->message);
    return FALSE;
  }
  JsonObject *o = json_node_get_object(root);
  static const GkJsonField f[] = {
    { "device_id", GK_JSON_STRING, TRUE, 1, 128 },
    { "site_id", GK_JSON_INT, TRUE, 0, G_MAXUINT32 },
    { "mode", GK_JSON_STRING, TRUE, 1, 32 },
    { "name", GK_JSON_STRING, TRUE, 1, 256 },
    { "certificate", GK_JSON_STRING, TRUE, 1, 16384 },
    { "ca", GK_JSON_STRING, FALSE, 1, 16384 },
    { "device_port", GK_JSON_INT, TRUE, 1, 65535 },
    { "server_time", GK_JSON_INT, FALSE, 0, G_MAXUINT32 },
  };
  if (!gk_json_check(o, f, G_N_ELEMENTS(f), TRUE, "enroll", &local)) {
    g_set_error(error, KIOSK_ENROLL_ERROR, KIOSK_ENROLL_ERROR_BAD_ANSWER, "the server's enrollment answer is not valid: %s",
                local->message);
    return FALSE;
  }
  const char *device_id = gk_json_get_string(o, "device_id", "");
  /* The id goes into URL paths later: keep it to a safe alphabet. */
  for (const char *p = device_id; *p; p++)
    if (!g_ascii_isalnum(*p) && *p != '-' && *p != '_' && *p != '.') {
      g_set_error(error, KIOSK_ENROLL_ERROR, KIOSK_ENROLL_ERROR_BAD_ANSWER, "the server sent an unusable device id");
      return FALSE;
    }
  const char *cert = gk_json_get_string(o, "certificate", "");
  if (!check_certificate(cert, ca_pem, error))
    return FALSE;
  id->device_id = g_strdup(device_id);
  id->site_id = gk_json_get_int(o, "site_id", 0);
  id->mode = g_strdup(gk_json_get_string(o, "mode", ""));
  id->name = g_strdup(gk_json_get_string(o, "name", ""));
  id->cert_pem = g_strdup(cert);
  id->device_port = (guint16) gk_json_get_int(o, "device_port", 0);
  return TRUE;
}

gboolean
kiosk_enroll(const char *data_dir, const char *code_text, KioskStore **out_store, GError **error)
{
  GkEnrollCode code;
  if (!gk_enroll_code_parse(code_text, g_get_real_time() / G_USEC_PER_SEC, &code, error)) {
    g_prefix_error(error, "this is not a valid enrollment code (mistyped, damaged or expired): ");
    return FALSE;
  }
  /* Refuse before talking to the server, so an enrolled device never burns a code. */
  g_autofree char *db = g_build_filename(data_dir, KIOSK_DB_NAME, NULL);
  if (g_file_test(db, G_FILE_TEST_EXISTS)) {
    g_set_error(error, KIOSK_STORE_ERROR, KIOSK_STORE_ERROR_ENROLLED,
                "%s is already enrolled (it holds %s); wipe it first to enroll again", data_dir, KIOSK_DB_NAME);
    return FALSE;
  }
  KioskIdentity id = { 0 };
  g_autofree char *csr = NULL;
  KioskStore *store = NULL;
  gboolean ok = FALSE;

  if (!fetch_pinned_ca(&code, &id.ca_pem, error))
    goto out;
  GK_LOG_INFO("kiosk.enroll.ca_pinned", GK_STR("host", code.host), GK_UINT("port", code.port));
  if (!kiosk_enroll_make_key_and_csr(&id.key_pem, &csr, error))
    goto out;
  /* The store exists before the token is spent: a device that cannot keep its
   * credentials must not use up the code. */
  store = kiosk_store_create(data_dir, error);
  if (store == NULL)
    goto out;
  if (!post_enroll(&code, id.ca_pem, csr, &id, error))
    goto out;
  id.host = g_strdup(code.host);
  id.admin_port = code.port;
  if (!kiosk_store_save_identity(store, &id, error))
    goto out;
  GK_LOG_INFO("kiosk.enroll.done", GK_STR("device", id.device_id), GK_INT("site", id.site_id),
              GK_STR("mode", id.mode));
  ok = TRUE;
out:
  memset(&code, 0, sizeof code);
  kiosk_identity_clear(&id);
  if (!ok && store != NULL) {
    kiosk_store_close(store);
    store = NULL;
    kiosk_store_wipe(data_dir, NULL);
  }
  if (ok && out_store != NULL)
    *out_store = store;
  else if (store != NULL)
    kiosk_store_close(store);
  return ok;
}
