/* The kiosk's HTTPS client (libcurl): one easy handle per client so keep-alive
 * saves the TLS handshake, TLS 1.2 only, credentials passed from memory, every
 * answer size-capped and parsed as a strict JSON object. One client per thread. */
#pragma once
#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define KIOSK_NET_ERROR kiosk_net_error_quark()
GQuark kiosk_net_error_quark(void);
typedef enum {
  KIOSK_NET_ERROR_UNREACHABLE, /* no connection, or timed out: decide offline */
  KIOSK_NET_ERROR_TLS,         /* the TLS handshake failed or was refused (revoked?) */
  KIOSK_NET_ERROR_HTTP,        /* the server answered with an error status */
  KIOSK_NET_ERROR_BAD_ANSWER,  /* an answer that is not what the protocol says */
} KioskNetError;

typedef enum {
  KIOSK_PORT_ADMIN,
  KIOSK_PORT_DEVICE,
} KioskPort;

/* Largest answer body we read: a pull page of 1000 changes is far below it. */
#define KIOSK_NET_MAX_BODY (8 * 1024 * 1024)

typedef struct _KioskClient KioskClient;

/* @ca_pem NULL: the server is NOT verified (only for fetching the CA during
 * enrollment). @cert_pem/@key_pem: the device credentials, or NULL. */
KioskClient *kiosk_client_new(const char *host, guint16 admin_port, guint16 device_port, const char *ca_pem,
                              const char *cert_pem, const char *key_pem);
void kiosk_client_free(KioskClient *client);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KioskClient, kiosk_client_free)

/* Replaces the device certificate and key (after a renewal) and drops the
 * connection made with the old ones. */
void kiosk_client_set_credentials(KioskClient *client, const char *cert_pem, const char *key_pem);

/* Sets connect timeout for later requests (default 5000 ms). */
void kiosk_client_set_connect_timeout(KioskClient *client, long ms);

/* One request. With @out_raw, the raw body is returned (any content type);
 * otherwise a 2xx body must be one JSON object, returned in @out_json. A non-2xx
 * answer is KIOSK_NET_ERROR_HTTP with the server's code and message;
 * @out_status (may be NULL) gets the status (0 when no answer). @error_code (may
 * be NULL) gets the server's machine "code" on HTTP errors (g_free). */
gboolean kiosk_client_request(KioskClient *client, KioskPort port, const char *method, const char *path,
                              const char *body, long timeout_ms, long *out_status, JsonNode **out_json,
                              GBytes **out_raw, char **out_error_code, GError **error);

G_END_DECLS
