/* The server's one event loop: epoll over non-blocking TLS sockets, a strict
 * HTTP/1.1 reader per connection, and a small worker pool that runs request
 * handlers, so thousands of idle device connections cost no threads. */
#pragma once
#include <glib.h>

#include "srv-http.h"
#include "srv-tls.h"

#define SRV_LOOP_ERROR srv_loop_error_quark()
GQuark srv_loop_error_quark(void);
typedef enum {
  SRV_LOOP_ERROR_BIND,    /* address taken, not local, bad address */
  SRV_LOOP_ERROR_SYSTEM,  /* epoll, eventfd, threads */
} SrvLoopError;

typedef struct {
  guint max_connections;        /* all listeners together */
  guint max_connections_per_ip; /* per source address */
  guint handshake_timeout_ms;   /* TCP accept to finished TLS handshake */
  guint request_timeout_ms;     /* first byte of a request to its last byte (slowloris) */
  guint idle_timeout_ms;        /* keep-alive connection with no request under way */
  guint write_timeout_ms;       /* a response that the client does not take */
  guint shutdown_grace_ms;      /* how long a stop waits for requests under way */
  guint workers;                /* handler threads */
  SrvHttpLimits http;
} SrvLoopLimits;

void srv_loop_limits_init_default(SrvLoopLimits *limits);

/* One request as a handler sees it. Valid during the handler call only. */
typedef struct {
  SrvTlsRole port;
  const SrvHttpRequest *http;
  const char *peer_ip;      /* textual source address */
  const guint8 *peer_serial; /* device port: client certificate serial */
  gsize peer_serial_len;
  gint64 received_at_us;    /* real time the request was complete */
} SrvRequest;

/* What a handler fills in. The loop frees it. */
typedef struct {
  guint status;
  char *content_type;    /* g_strdup'd; NULL for none */
  GBytes *body;          /* NULL for none */
  char **extra_headers;  /* NULL or name, value, name, value, NULL (g_strfreev) */
  gboolean close;        /* close the connection after this response */
} SrvResponse;

/* Runs on a worker thread; may block on the store. Must always set a status. */
typedef void (*SrvHandlerFunc)(const SrvRequest *request, SrvResponse *response, gpointer user_data);

/* Fills @response with the one JSON error body shape of srv-http. */
void srv_response_set_error(SrvResponse *response, guint status, const char *code, const char *message);
/* Takes @json (g_free'd string) as an application/json body. */
void srv_response_take_json(SrvResponse *response, guint status, char *json);

typedef struct {
  guint connections;
  guint64 accepted;
  guint64 refused;          /* over a connection cap */
  guint64 handshakes_full;
  guint64 handshakes_resumed;
  guint64 handshake_failures;
  guint64 requests;
  guint64 timeouts;
} SrvLoopStats;

typedef struct SrvLoop SrvLoop;

SrvLoop *srv_loop_new(const SrvLoopLimits *limits, GError **error) G_GNUC_WARN_UNUSED_RESULT;
/* Listens on @address:@port (port 0: any free port, reported in *out_port). The
 * loop does not own @tls; it must outlive the loop. */
gboolean srv_loop_add_listener(SrvLoop *loop, const char *address, guint16 port, SrvTlsContext *tls,
                               SrvHandlerFunc handler, gpointer user_data, guint16 *out_port,
                               GError **error) G_GNUC_WARN_UNUSED_RESULT;
/* Request bodies to the listener with @tls: @func (a SrvHttpHeadFunc) gives
 * each request's cap from its head; without one every request has
 * SRV_HTTP_DEFAULT_MAX_BODY_BYTES. Both stay within limits.http.max_body_bytes.
 * Call before srv_loop_run(). */
void srv_loop_set_body_cap(SrvLoop *loop, SrvTlsContext *tls, SrvHttpHeadFunc func, gpointer user_data);
/* Serves until srv_loop_stop(); then finishes requests under way (up to the grace
 * time), closes every connection and returns. */
void srv_loop_run(SrvLoop *loop);
/* Thread-safe and async-signal-safe. */
void srv_loop_stop(SrvLoop *loop);
/* Thread-safe: closes every live connection whose client certificate has this
 * serial (a device that was just revoked). */
void srv_loop_drop_peer(SrvLoop *loop, const guint8 *serial, gsize len);
/* Thread-safe snapshot. */
void srv_loop_get_stats(SrvLoop *loop, SrvLoopStats *out);
void srv_loop_free(SrvLoop *loop);
