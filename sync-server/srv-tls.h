/* TLS for the server's two listeners (device port: mutual TLS; admin port: server
 * auth only), driven by a non-blocking event loop. The only file that uses mbedTLS's
 * TLS API, so a move to mbedTLS 3.6 stays inside srv-tls.c. */
#pragma once
#include <glib.h>
#include <stddef.h>
#include <sys/types.h>

#define SRV_TLS_ERROR_DOMAIN (srv_tls_error_quark())
GQuark srv_tls_error_quark(void);

typedef enum {
  SRV_TLS_ERROR_CONFIG, /* a file could not be read or parsed, or does not fit */
  SRV_TLS_ERROR_CRYPTO, /* mbedTLS refused the setup (RNG, ticket keys...) */
} SrvTlsError;

typedef enum {
  SRV_TLS_DEVICE_PORT, /* client certificate required, signed by the device CA */
  SRV_TLS_ADMIN_PORT,  /* server authentication only; admins log in over HTTP */
} SrvTlsRole;

/* Results of the connection calls. Byte counts are >= 0; these are all < 0. */
typedef enum {
  SRV_TLS_OK = 0,          /* handshake complete / close_notify sent */
  SRV_TLS_WANT_READ = -1,  /* wait until the fd is readable, then call again */
  SRV_TLS_WANT_WRITE = -2, /* wait until the fd is writable, then call again */
  SRV_TLS_CLOSED = -3,     /* the peer sent close_notify or closed the socket */
  SRV_TLS_FAILED = -4,     /* fatal: drop the connection; see failure_reason() */
} SrvTlsStatus;

/* Largest certificate serial (RFC 5280 section 4.1.2.2). */
#define SRV_TLS_SERIAL_MAX 20
#define SRV_TLS_FINGERPRINT_LEN 32

/* Called during each device-port handshake with the leaf certificate's serial (the
 * DER INTEGER content bytes, as srv_ca_sign_device_csr() reports them), and once
 * more when the handshake completes, because a resumed session skips certificate
 * checks. Return TRUE to refuse the device (reason "cert-revoked"). Runs on the
 * thread that drives the handshake; it must not block (look up an in-memory set,
 * not the database). */
typedef gboolean (*SrvTlsRevokedFunc)(const guint8 serial[], size_t len, void *user);

typedef struct SrvTlsContext SrvTlsContext;
typedef struct SrvTlsConnection SrvTlsConnection;

/* One context per listener. TLS 1.2 only, ECDHE-ECDSA with AES-GCM or
 * ChaCha20-Poly1305, ECDHE curves x25519/P-256/P-384 (clients must also offer the
 * certificate's curve, P-256, as TLS 1.2 requires), no renegotiation, certificate
 * profile "next". Resumption by session tickets (AES-256-GCM keys that rotate every
 * SRV_TLS_SESSION_LIFETIME seconds) and by a session-id cache for clients that do not
 * send tickets. @key_pem_path must be mode 0600. @device_ca_pem_path (device port
 * only, NULL on the admin port) must hold exactly one CA certificate: the only trust
 * anchor for client certificates.
 *
 * Threads: a context and its connections are meant for one thread (the event loop).
 * Its DRBG, ticket keys and cache carry mbedTLS mutexes (MBEDTLS_THREADING_C), so
 * connections of one context may be driven from several threads, but each connection
 * only from one thread at a time. */
#define SRV_TLS_SESSION_LIFETIME 3600
SrvTlsContext *srv_tls_context_new(SrvTlsRole role, const char *cert_pem_path,
                                   const char *key_pem_path,
                                   const char *device_ca_pem_path,
                                   GError **error) G_GNUC_WARN_UNUSED_RESULT;
/* Installs the revocation check of the device port (NULL removes it). */
void srv_tls_context_set_revocation_check(SrvTlsContext *ctx, SrvTlsRevokedFunc is_revoked,
                                          void *user);
SrvTlsRole srv_tls_context_get_role(const SrvTlsContext *ctx);
/* Free every connection first. NULL is allowed. */
void srv_tls_context_free(SrvTlsContext *ctx);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SrvTlsContext, srv_tls_context_free)

/* A server-side connection on an accepted, non-blocking socket. The connection does
 * not own @fd: the caller closes it after srv_tls_connection_free(). Never NULL. */
SrvTlsConnection *srv_tls_connection_new(SrvTlsContext *ctx, int fd);
void srv_tls_connection_free(SrvTlsConnection *conn);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SrvTlsConnection, srv_tls_connection_free)

/* Advances the handshake as far as the socket allows: SRV_TLS_OK when it is done,
 * SRV_TLS_WANT_READ / SRV_TLS_WANT_WRITE to wait, SRV_TLS_FAILED (or
 * SRV_TLS_CLOSED if the peer just went away) to drop the connection. */
SrvTlsStatus srv_tls_handshake_step(SrvTlsConnection *conn) G_GNUC_WARN_UNUSED_RESULT;
/* Bytes read (> 0), or an SrvTlsStatus. Decrypted bytes may stay buffered with the
 * socket not readable: read again while srv_tls_connection_pending() is non-zero. */
ssize_t srv_tls_read(SrvTlsConnection *conn, void *buf, size_t len) G_GNUC_WARN_UNUSED_RESULT;
/* Bytes written (> 0), or an SrvTlsStatus. After SRV_TLS_WANT_*, call again with
 * the same buffer and length (mbedTLS has already taken part of it). */
ssize_t srv_tls_write(SrvTlsConnection *conn, const void *buf, size_t len) G_GNUC_WARN_UNUSED_RESULT;
size_t srv_tls_connection_pending(const SrvTlsConnection *conn);
/* Sends close_notify: SRV_TLS_OK, SRV_TLS_WANT_WRITE (call again) or an error. */
SrvTlsStatus srv_tls_close_notify(SrvTlsConnection *conn) G_GNUC_WARN_UNUSED_RESULT;

/* TRUE once the handshake is complete. */
gboolean srv_tls_connection_is_established(const SrvTlsConnection *conn);
/* TRUE when the completed handshake resumed an earlier session. */
gboolean srv_tls_connection_is_resumed(const SrvTlsConnection *conn);
/* The client certificate's serial (DER INTEGER content bytes, at most
 * SRV_TLS_SERIAL_MAX) after a completed handshake; FALSE without a client cert. */
gboolean srv_tls_connection_peer_serial(const SrvTlsConnection *conn,
                                        guint8 out[SRV_TLS_SERIAL_MAX], size_t *out_len);
/* SHA-256 of the client certificate's DER; FALSE without a client certificate. */
gboolean srv_tls_connection_peer_fingerprint(const SrvTlsConnection *conn,
                                             guint8 out[SRV_TLS_FINGERPRINT_LEN]);
/* Why the connection failed, a short static token for logs ("no-client-cert",
 * "cert-revoked", "cert-untrusted", "cert-expired", "cert-usage", "cert-weak",
 * "bad-cert", "protocol-version", "no-shared-cipher", "bad-client-hello",
 * "peer-alert", "peer-closed", "bad-record", "io-error", "internal", ...) or NULL
 * if it has not failed. Never contains key material or peer-supplied text. */
const char *srv_tls_connection_failure_reason(const SrvTlsConnection *conn);
/* The mbedTLS error code behind the failure (0 if none), for debug logs. */
int srv_tls_connection_last_error(const SrvTlsConnection *conn);
/* Negotiated ciphersuite name (e.g. "TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256"). */
const char *srv_tls_connection_ciphersuite(const SrvTlsConnection *conn);
