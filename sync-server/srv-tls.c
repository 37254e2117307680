/* TLS for the device and admin listeners on mbedTLS 2.28: strict configuration,
 * non-blocking I/O, device revocation, resumption, short failure reasons for logs. */
#include "srv-tls.h"

#include "gk-secure-file.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_cache.h>
#include <mbedtls/ssl_ticket.h>
#include <mbedtls/version.h>
#include <mbedtls/x509_crt.h>

#if MBEDTLS_VERSION_NUMBER < 0x021C0000 || MBEDTLS_VERSION_NUMBER >= 0x03000000
#error "srv-tls.c is written for mbedTLS 2.28; port it before building against another series"
#endif
#if !defined(MBEDTLS_SSL_SESSION_TICKETS) || !defined(MBEDTLS_SSL_TICKET_C) || \
    !defined(MBEDTLS_SSL_CACHE_C) || !defined(MBEDTLS_SSL_KEEP_PEER_CERTIFICATE)
#error "mbedTLS lacks session tickets, the session cache or KEEP_PEER_CERTIFICATE"
#endif

/* Enough for a PEM EC or RSA key; anything bigger is not a key we wrote. */
#define KEY_FILE_MAX (16 * 1024)
/* Sessions the id cache keeps: resumption for clients without ticket support. */
#define SESSION_CACHE_MAX 4096

struct SrvTlsContext {
  SrvTlsRole role;
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
  mbedtls_x509_crt own_cert;
  mbedtls_pk_context own_key;
  mbedtls_x509_crt device_ca;
  mbedtls_ssl_ticket_context ticket;
  mbedtls_ssl_cache_context cache;
  mbedtls_ssl_config conf;
  SrvTlsRevokedFunc is_revoked;
  void *is_revoked_user;
};

struct SrvTlsConnection {
  SrvTlsContext *ctx;
  int fd;
  mbedtls_ssl_context ssl;
  gboolean established;
  gboolean resumed;
  gboolean failed;
  const char *reason;
  int last_error;
};

/* The loop drives handshakes one at a time per thread, so the session-cache and
 * ticket callbacks (which mbedTLS calls without the ssl context) learn which
 * connection they serve through this. */
static _Thread_local SrvTlsConnection *current_conn;

/* Static: mbedTLS keeps these pointers for the lifetime of the config. The server
 * picks in this order; AES-GCM first since servers have AES-NI. */
static const int allowed_ciphersuites[] = {
  MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
  MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
  MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
  0,
};
static const mbedtls_ecp_group_id allowed_curves[] = {
  MBEDTLS_ECP_DP_CURVE25519,
  MBEDTLS_ECP_DP_SECP256R1,
  MBEDTLS_ECP_DP_SECP384R1,
  MBEDTLS_ECP_DP_NONE,
};
static const int allowed_sig_hashes[] = {
  MBEDTLS_MD_SHA256,
  MBEDTLS_MD_SHA384,
  MBEDTLS_MD_SHA512,
  MBEDTLS_MD_NONE,
};

G_DEFINE_QUARK(srv-tls-error-quark, srv_tls_error)

static gboolean
set_mbed_error(GError **error, SrvTlsError code, int ret, const char *what, const char *path)
{
  char msg[128];
  mbedtls_strerror(ret, msg, sizeof msg);
  g_set_error(error, SRV_TLS_ERROR_DOMAIN, code, "%s%s%s: %s (-0x%04x)", what,
              path ? " " : "", path ? path : "", msg, (unsigned) -ret);
  return FALSE;
}

/* --- socket I/O ---------------------------------------------------------------- */

static int
bio_send(void *user, const unsigned char *buf, size_t len)
{
  SrvTlsConnection *conn = user;
  /* MSG_NOSIGNAL: a device that vanishes must not SIGPIPE the whole server. */
  ssize_t n = send(conn->fd, buf, len, MSG_NOSIGNAL);
  if (n >= 0)
    return (int) n;
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
    return MBEDTLS_ERR_SSL_WANT_WRITE;
  if (errno == EPIPE || errno == ECONNRESET)
    return MBEDTLS_ERR_NET_CONN_RESET;
  return MBEDTLS_ERR_NET_SEND_FAILED;
}

static int
bio_recv(void *user, unsigned char *buf, size_t len)
{
  SrvTlsConnection *conn = user;
  ssize_t n = recv(conn->fd, buf, len, 0);
  if (n >= 0)
    return (int) n;
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
    return MBEDTLS_ERR_SSL_WANT_READ;
  if (errno == ECONNRESET)
    return MBEDTLS_ERR_NET_CONN_RESET;
  return MBEDTLS_ERR_NET_RECV_FAILED;
}

/* --- verification, revocation, resumption -------------------------------------- */

static gboolean
serial_is_revoked(const SrvTlsContext *ctx, const mbedtls_x509_crt *crt)
{
  if (ctx->is_revoked == NULL)
    return FALSE;
  return ctx->is_revoked(crt->serial.p, crt->serial.len, ctx->is_revoked_user);
}

static int
verify_cb(void *user, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
  SrvTlsContext *ctx = user;
  /* Only the leaf is a device; depth 1 is the device CA itself. Setting a flag
   * rather than returning an error lets mbedTLS send the matching alert. */
  if (depth == 0 && serial_is_revoked(ctx, crt))
    *flags |= MBEDTLS_X509_BADCERT_REVOKED;
  return 0;
}

static int
ticket_write_cb(void *user, const mbedtls_ssl_session *session, unsigned char *start,
                const unsigned char *end, size_t *tlen, uint32_t *lifetime)
{
  SrvTlsContext *ctx = user;
  return mbedtls_ssl_ticket_write(&ctx->ticket, session, start, end, tlen, lifetime);
}

static int
ticket_parse_cb(void *user, mbedtls_ssl_session *session, unsigned char *buf, size_t len)
{
  SrvTlsContext *ctx = user;
  int ret = mbedtls_ssl_ticket_parse(&ctx->ticket, session, buf, len);
  /* mbedTLS 2.28 resumes whenever a ticket parses, and has no public "resumed"
   * flag; record it here. */
  if (ret == 0 && current_conn != NULL)
    current_conn->resumed = TRUE;
  return ret;
}

static int
cache_get_cb(void *user, mbedtls_ssl_session *session)
{
  SrvTlsContext *ctx = user;
  int ret = mbedtls_ssl_cache_get(&ctx->cache, session);
  if (ret == 0 && current_conn != NULL)
    current_conn->resumed = TRUE;
  return ret;
}

static int
cache_set_cb(void *user, const mbedtls_ssl_session *session)
{
  SrvTlsContext *ctx = user;
  return mbedtls_ssl_cache_set(&ctx->cache, session);
}

/* --- context -------------------------------------------------------------------- */

static gboolean
load_key(mbedtls_pk_context *key, const char *path, GError **error)
{
  guint8 *pem = NULL;
  gsize len = 0;
  /* gk_secure_file_read refuses a key file others could read. */
  if (!gk_secure_file_read(path, KEY_FILE_MAX, &pem, &len, error))
    return FALSE;
  /* PEM needs the terminating NUL counted; gk_secure_file_read appends one. */
  int ret = mbedtls_pk_parse_key(key, pem, len + 1, NULL, 0);
  gk_secure_free(pem, len + 1);
  if (ret != 0)
    return set_mbed_error(error, SRV_TLS_ERROR_CONFIG, ret, "cannot parse key", path);
  return TRUE;
}

SrvTlsContext *
srv_tls_context_new(SrvTlsRole role, const char *cert_pem_path, const char *key_pem_path,
                    const char *device_ca_pem_path, GError **error)
{
  g_return_val_if_fail(role == SRV_TLS_DEVICE_PORT || role == SRV_TLS_ADMIN_PORT, NULL);
  g_return_val_if_fail(cert_pem_path != NULL && key_pem_path != NULL, NULL);
  g_return_val_if_fail((role == SRV_TLS_DEVICE_PORT) == (device_ca_pem_path != NULL), NULL);
  g_return_val_if_fail(error == NULL || *error == NULL, NULL);

  static const char pers_device[] = "genkan-srv-tls-device";
  static const char pers_admin[] = "genkan-srv-tls-admin";
  const char *pers = role == SRV_TLS_DEVICE_PORT ? pers_device : pers_admin;
  SrvTlsContext *ctx = g_new0(SrvTlsContext, 1);
  gboolean ok = FALSE;
  int ret;

  ctx->role = role;
  mbedtls_entropy_init(&ctx->entropy);
  mbedtls_ctr_drbg_init(&ctx->drbg);
  mbedtls_x509_crt_init(&ctx->own_cert);
  mbedtls_pk_init(&ctx->own_key);
  mbedtls_x509_crt_init(&ctx->device_ca);
  mbedtls_ssl_ticket_init(&ctx->ticket);
  mbedtls_ssl_cache_init(&ctx->cache);
  mbedtls_ssl_config_init(&ctx->conf);

  ret = mbedtls_ctr_drbg_seed(&ctx->drbg, mbedtls_entropy_func, &ctx->entropy,
                              (const unsigned char *) pers, strlen(pers));
  if (ret != 0) {
    set_mbed_error(error, SRV_TLS_ERROR_CRYPTO, ret, "cannot seed the DRBG", NULL);
    goto out;
  }

  ret = mbedtls_x509_crt_parse_file(&ctx->own_cert, cert_pem_path);
  if (ret != 0) {
    set_mbed_error(error, SRV_TLS_ERROR_CONFIG, ret, "cannot parse certificate", cert_pem_path);
    goto out;
  }
  if (!load_key(&ctx->own_key, key_pem_path, error))
    goto out;
  /* Only ECDHE-ECDSA suites are offered: an RSA key or a key that is not the
   * certificate's would only show up as handshake failures, so refuse it here. */
  if (!mbedtls_pk_can_do(&ctx->own_cert.pk, MBEDTLS_PK_ECDSA) ||
      !mbedtls_pk_can_do(&ctx->own_key, MBEDTLS_PK_ECDSA)) {
    g_set_error(error, SRV_TLS_ERROR_DOMAIN, SRV_TLS_ERROR_CONFIG,
                "%s: the server certificate needs an EC (ECDSA) key", cert_pem_path);
    goto out;
  }
  ret = mbedtls_pk_check_pair(&ctx->own_cert.pk, &ctx->own_key);
  if (ret != 0) {
    set_mbed_error(error, SRV_TLS_ERROR_CONFIG, ret, "key does not match certificate",
                   cert_pem_path);
    goto out;
  }

  if (role == SRV_TLS_DEVICE_PORT) {
    ret = mbedtls_x509_crt_parse_file(&ctx->device_ca, device_ca_pem_path);
    if (ret != 0) {
      set_mbed_error(error, SRV_TLS_ERROR_CONFIG, ret, "cannot parse device CA",
                     device_ca_pem_path);
      goto out;
    }
    /* One CA, and a CA: a bundle here would let other issuers' devices in. */
    if (ctx->device_ca.next != NULL || ctx->device_ca.ca_istrue == 0) {
      g_set_error(error, SRV_TLS_ERROR_DOMAIN, SRV_TLS_ERROR_CONFIG,
                  "%s must hold exactly one CA certificate", device_ca_pem_path);
      goto out;
    }
  }

  ret = mbedtls_ssl_config_defaults(&ctx->conf, MBEDTLS_SSL_IS_SERVER,
                                    MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
  if (ret != 0) {
    set_mbed_error(error, SRV_TLS_ERROR_CRYPTO, ret, "cannot set TLS defaults", NULL);
    goto out;
  }
  mbedtls_ssl_conf_rng(&ctx->conf, mbedtls_ctr_drbg_random, &ctx->drbg);
  mbedtls_ssl_conf_min_version(&ctx->conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
  mbedtls_ssl_conf_max_version(&ctx->conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
  mbedtls_ssl_conf_ciphersuites(&ctx->conf, allowed_ciphersuites);
  mbedtls_ssl_conf_curves(&ctx->conf, allowed_curves);
  mbedtls_ssl_conf_sig_hashes(&ctx->conf, allowed_sig_hashes);
  mbedtls_ssl_conf_cert_profile(&ctx->conf, &mbedtls_x509_crt_profile_next);
  mbedtls_ssl_conf_renegotiation(&ctx->conf, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
  mbedtls_ssl_conf_legacy_renegotiation(&ctx->conf, MBEDTLS_SSL_LEGACY_NO_RENEGOTIATION);
  ret = mbedtls_ssl_conf_own_cert(&ctx->conf, &ctx->own_cert, &ctx->own_key);
  if (ret != 0) {
    set_mbed_error(error, SRV_TLS_ERROR_CONFIG, ret, "cannot use certificate", cert_pem_path);
    goto out;
  }

  if (role == SRV_TLS_DEVICE_PORT) {
    mbedtls_ssl_conf_authmode(&ctx->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_ca_chain(&ctx->conf, &ctx->device_ca, NULL);
    mbedtls_ssl_conf_verify(&ctx->conf, verify_cb, ctx);
  } else {
    mbedtls_ssl_conf_authmode(&ctx->conf, MBEDTLS_SSL_VERIFY_NONE);
  }

  /* Tickets keep no server state per device; keys rotate every lifetime and the
   * previous key stays valid one more lifetime (mbedTLS keeps two). */
  ret = mbedtls_ssl_ticket_setup(&ctx->ticket, mbedtls_ctr_drbg_random, &ctx->drbg,
                                 MBEDTLS_CIPHER_AES_256_GCM, SRV_TLS_SESSION_LIFETIME);
  if (ret != 0) {
    set_mbed_error(error, SRV_TLS_ERROR_CRYPTO, ret, "cannot set up session tickets", NULL);
    goto out;
  }
  mbedtls_ssl_conf_session_tickets_cb(&ctx->conf, ticket_write_cb, ticket_parse_cb, ctx);
  mbedtls_ssl_cache_set_timeout(&ctx->cache, SRV_TLS_SESSION_LIFETIME);
  mbedtls_ssl_cache_set_max_entries(&ctx->cache, SESSION_CACHE_MAX);
  mbedtls_ssl_conf_session_cache(&ctx->conf, ctx, cache_get_cb, cache_set_cb);

  ok = TRUE;
out:
  if (!ok) {
    srv_tls_context_free(ctx);
    return NULL;
  }
  return ctx;
}

void
srv_tls_context_set_revocation_check(SrvTlsContext *ctx, SrvTlsRevokedFunc is_revoked, void *user)
{
  g_return_if_fail(ctx != NULL);
  ctx->is_revoked = is_revoked;
  ctx->is_revoked_user = user;
}

SrvTlsRole
srv_tls_context_get_role(const SrvTlsContext *ctx)
{
  return ctx->role;
}

void
srv_tls_context_free(SrvTlsContext *ctx)
{
  if (ctx == NULL)
    return;
  mbedtls_ssl_config_free(&ctx->conf);
  mbedtls_ssl_cache_free(&ctx->cache);
  mbedtls_ssl_ticket_free(&ctx->ticket);
  mbedtls_x509_crt_free(&ctx->device_ca);
  mbedtls_pk_free(&ctx->own_key);
  mbedtls_x509_crt_free(&ctx->own_cert);
  mbedtls_ctr_drbg_free(&ctx->drbg);
  mbedtls_entropy_free(&ctx->entropy);
  g_free(ctx);
}

/* --- connection ----------------------------------------------------------------- */

SrvTlsConnection *
srv_tls_connection_new(SrvTlsContext *ctx, int fd)
{
  g_return_val_if_fail(ctx != NULL, NULL);
  g_return_val_if_fail(fd >= 0, NULL);

  SrvTlsConnection *conn = g_new0(SrvTlsConnection, 1);
  conn->ctx = ctx;
  conn->fd = fd;
  mbedtls_ssl_init(&conn->ssl);
  int ret = mbedtls_ssl_setup(&conn->ssl, &ctx->conf);
  if (ret != 0) {
    /* Only allocation failures end here; the connection reports it on first use. */
    conn->failed = TRUE;
    conn->reason = "internal";
    conn->last_error = ret;
    return conn;
  }
  mbedtls_ssl_set_bio(&conn->ssl, conn, bio_send, bio_recv, NULL);
  return conn;
}

void
srv_tls_connection_free(SrvTlsConnection *conn)
{
  if (conn == NULL)
    return;
  mbedtls_ssl_free(&conn->ssl);
  g_free(conn);
}

static const char *
reason_from_verify_flags(uint32_t flags)
{
  if (flags & MBEDTLS_X509_BADCERT_REVOKED)
    return "cert-revoked";
  if (flags & (MBEDTLS_X509_BADCERT_NOT_TRUSTED | MBEDTLS_X509_BADCERT_MISSING))
    return "cert-untrusted";
  if (flags & (MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_FUTURE))
    return "cert-expired";
  if (flags & (MBEDTLS_X509_BADCERT_KEY_USAGE | MBEDTLS_X509_BADCERT_EXT_KEY_USAGE |
               MBEDTLS_X509_BADCERT_NS_CERT_TYPE))
    return "cert-usage";
  if (flags & (MBEDTLS_X509_BADCERT_BAD_MD | MBEDTLS_X509_BADCERT_BAD_PK |
               MBEDTLS_X509_BADCERT_BAD_KEY))
    return "cert-weak";
  return "bad-cert";
}

static const char *
reason_from_error(const SrvTlsConnection *conn, int ret)
{
  switch (ret) {
  case MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE:
    return "no-client-cert";
  case MBEDTLS_ERR_X509_CERT_VERIFY_FAILED:
    return reason_from_verify_flags(mbedtls_ssl_get_verify_result(&conn->ssl));
  case MBEDTLS_ERR_SSL_BAD_HS_CERTIFICATE:
  case MBEDTLS_ERR_SSL_BAD_HS_CERTIFICATE_VERIFY:
    return "bad-cert";
  case MBEDTLS_ERR_SSL_BAD_HS_PROTOCOL_VERSION:
    return "protocol-version";
  case MBEDTLS_ERR_SSL_NO_CIPHER_CHOSEN:
  case MBEDTLS_ERR_SSL_NO_USABLE_CIPHERSUITE:
    return "no-shared-cipher";
  case MBEDTLS_ERR_SSL_BAD_HS_CLIENT_HELLO:
    return "bad-client-hello";
  case MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE:
    return "peer-alert";
  case MBEDTLS_ERR_SSL_CONN_EOF:
  case MBEDTLS_ERR_NET_CONN_RESET:
  case MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY:
    return "peer-closed";
  case MBEDTLS_ERR_SSL_INVALID_MAC:
  case MBEDTLS_ERR_SSL_INVALID_RECORD:
  case MBEDTLS_ERR_SSL_UNEXPECTED_MESSAGE:
  case MBEDTLS_ERR_SSL_UNEXPECTED_RECORD:
    return "bad-record";
  case MBEDTLS_ERR_NET_SEND_FAILED:
  case MBEDTLS_ERR_NET_RECV_FAILED:
    return "io-error";
  case MBEDTLS_ERR_SSL_ALLOC_FAILED:
    return "out-of-memory";
  default:
    return conn->established ? "tls-error" : "handshake-failed";
  }
}

/* Records a fatal mbedTLS result and maps it to the status callers see. */
static SrvTlsStatus
fail(SrvTlsConnection *conn, int ret)
{
  conn->failed = TRUE;
  conn->last_error = ret;
  conn->reason = reason_from_error(conn, ret);
  if (ret == MBEDTLS_ERR_SSL_CONN_EOF || ret == MBEDTLS_ERR_NET_CONN_RESET ||
      ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY)
    return SRV_TLS_CLOSED;
  return SRV_TLS_FAILED;
}

static SrvTlsStatus
fail_with(SrvTlsConnection *conn, const char *reason, unsigned char alert)
{
  /* Best effort: the socket may not take the alert, and the connection is lost
   * either way. */
  (void) mbedtls_ssl_send_alert_message(&conn->ssl, MBEDTLS_SSL_ALERT_LEVEL_FATAL, alert);
  conn->failed = TRUE;
  conn->reason = reason;
  conn->last_error = MBEDTLS_ERR_X509_CERT_VERIFY_FAILED;
  return SRV_TLS_FAILED;
}

/* Checks after every device handshake. A resumed session skips certificate
 * verification, so a device revoked (or expired) since its full handshake would
 * otherwise come back in on its ticket. */
static SrvTlsStatus
check_device_after_handshake(SrvTlsConnection *conn)
{
  const mbedtls_x509_crt *peer = mbedtls_ssl_get_peer_cert(&conn->ssl);
  if (peer == NULL)
    return fail_with(conn, "no-client-cert", MBEDTLS_SSL_ALERT_MSG_HANDSHAKE_FAILURE);
  if (serial_is_revoked(conn->ctx, peer))
    return fail_with(conn, "cert-revoked", MBEDTLS_SSL_ALERT_MSG_CERT_REVOKED);
  if (mbedtls_x509_time_is_past(&peer->valid_to))
    return fail_with(conn, "cert-expired", MBEDTLS_SSL_ALERT_MSG_CERT_EXPIRED);
  return SRV_TLS_OK;
}

SrvTlsStatus
srv_tls_handshake_step(SrvTlsConnection *conn)
{
  g_return_val_if_fail(conn != NULL, SRV_TLS_FAILED);
  if (conn->failed)
    return SRV_TLS_FAILED;
  if (conn->established)
    return SRV_TLS_OK;

  current_conn = conn;
  int ret = mbedtls_ssl_handshake(&conn->ssl);
  current_conn = NULL;

  if (ret == MBEDTLS_ERR_SSL_WANT_READ)
    return SRV_TLS_WANT_READ;
  if (ret == MBEDTLS_ERR_SSL_WANT_WRITE)
    return SRV_TLS_WANT_WRITE;
  if (ret != 0)
    return fail(conn, ret);

  if (conn->ctx->role == SRV_TLS_DEVICE_PORT) {
    SrvTlsStatus st = check_device_after_handshake(conn);
    if (st != SRV_TLS_OK)
      return st;
  }
  conn->established = TRUE;
  return SRV_TLS_OK;
}

ssize_t
srv_tls_read(SrvTlsConnection *conn, void *buf, size_t len)
{
  g_return_val_if_fail(conn != NULL && buf != NULL, SRV_TLS_FAILED);
  if (conn->failed || !conn->established)
    return SRV_TLS_FAILED;
  if (len == 0)
    return 0;

  int ret = mbedtls_ssl_read(&conn->ssl, buf, len);
  if (ret > 0)
    return ret;
  if (ret == MBEDTLS_ERR_SSL_WANT_READ)
    return SRV_TLS_WANT_READ;
  if (ret == MBEDTLS_ERR_SSL_WANT_WRITE)
    return SRV_TLS_WANT_WRITE;
  if (ret == 0 || ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY)
    return SRV_TLS_CLOSED;
  return fail(conn, ret);
}

ssize_t
srv_tls_write(SrvTlsConnection *conn, const void *buf, size_t len)
{
  g_return_val_if_fail(conn != NULL && buf != NULL, SRV_TLS_FAILED);
  if (conn->failed || !conn->established)
    return SRV_TLS_FAILED;
  if (len == 0)
    return 0;

  int ret = mbedtls_ssl_write(&conn->ssl, buf, len);
  if (ret >= 0)
    return ret;
  if (ret == MBEDTLS_ERR_SSL_WANT_READ)
    return SRV_TLS_WANT_READ;
  if (ret == MBEDTLS_ERR_SSL_WANT_WRITE)
    return SRV_TLS_WANT_WRITE;
  return fail(conn, ret);
}

size_t
srv_tls_connection_pending(const SrvTlsConnection *conn)
{
  g_return_val_if_fail(conn != NULL, 0);
  return mbedtls_ssl_get_bytes_avail(&conn->ssl);
}

SrvTlsStatus
srv_tls_close_notify(SrvTlsConnection *conn)
{
  g_return_val_if_fail(conn != NULL, SRV_TLS_FAILED);
  if (conn->failed || !conn->established)
    return SRV_TLS_FAILED;
  int ret = mbedtls_ssl_close_notify(&conn->ssl);
  if (ret == 0)
    return SRV_TLS_OK;
  if (ret == MBEDTLS_ERR_SSL_WANT_WRITE)
    return SRV_TLS_WANT_WRITE;
  if (ret == MBEDTLS_ERR_SSL_WANT_READ)
    return SRV_TLS_WANT_READ;
  return fail(conn, ret);
}

gboolean
srv_tls_connection_is_established(const SrvTlsConnection *conn)
{
  g_return_val_if_fail(conn != NULL, FALSE);
  return conn->established && !conn->failed;
}

gboolean
srv_tls_connection_is_resumed(const SrvTlsConnection *conn)
{
  g_return_val_if_fail(conn != NULL, FALSE);
  return conn->established && conn->resumed;
}

static const mbedtls_x509_crt *
established_peer(const SrvTlsConnection *conn)
{
  if (!conn->established || conn->failed)
    return NULL;
  return mbedtls_ssl_get_peer_cert(&conn->ssl);
}

gboolean
srv_tls_connection_peer_serial(const SrvTlsConnection *conn, guint8 out[SRV_TLS_SERIAL_MAX],
                               size_t *out_len)
{
  g_return_val_if_fail(conn != NULL && out != NULL && out_len != NULL, FALSE);
  const mbedtls_x509_crt *peer = established_peer(conn);
  if (peer == NULL || peer->serial.len == 0 || peer->serial.len > SRV_TLS_SERIAL_MAX)
    return FALSE;
  memcpy(out, peer->serial.p, peer->serial.len);
  *out_len = peer->serial.len;
  return TRUE;
}

gboolean
srv_tls_connection_peer_fingerprint(const SrvTlsConnection *conn,
                                    guint8 out[SRV_TLS_FINGERPRINT_LEN])
{
  g_return_val_if_fail(conn != NULL && out != NULL, FALSE);
  const mbedtls_x509_crt *peer = established_peer(conn);
  if (peer == NULL)
    return FALSE;
  return mbedtls_sha256_ret(peer->raw.p, peer->raw.len, out, 0) == 0;
}

const char *
srv_tls_connection_failure_reason(const SrvTlsConnection *conn)
{
  g_return_val_if_fail(conn != NULL, NULL);
  return conn->failed ? conn->reason : NULL;
}

int
srv_tls_connection_last_error(const SrvTlsConnection *conn)
{
  g_return_val_if_fail(conn != NULL, 0);
  return conn->last_error;
}

const char *
srv_tls_connection_ciphersuite(const SrvTlsConnection *conn)
{
  g_return_val_if_fail(conn != NULL, NULL);
  if (!conn->established)
    return NULL;
  return mbedtls_ssl_get_ciphersuite(&conn->ssl);
}
