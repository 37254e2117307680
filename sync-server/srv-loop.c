/* The server's event loop: epoll (level-triggered) over non-blocking TLS
 * connections, one strict HTTP parser per connection, handlers on a worker pool
 * whose answers come back through an eventfd. One thread owns every connection;
 * workers only ever see a finished request and fill in a response. */
#include "srv-loop.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gk-log.h"

G_DEFINE_QUARK(srv-loop-error-quark, srv_loop_error)

#define SWEEP_INTERVAL_MS 200
#define READ_CHUNK 16384
#define MAX_EVENTS 256

typedef enum {
  ITEM_LISTENER,
  ITEM_CONNECTION,
  ITEM_WAKEUP,
} ItemKind;

typedef enum {
  CONN_HANDSHAKE,  /* TLS handshake under way */
  CONN_READING,    /* waiting for / receiving a request */
  CONN_PROCESSING, /* a worker runs the handler; the loop must not touch the parser */
  CONN_WRITING,    /* sending the response */
  CONN_CLOSING,    /* sending close_notify */
} ConnState;

typedef struct {
  ItemKind kind;
  int fd;
  SrvTlsContext *tls;
  SrvHandlerFunc handler;
  gpointer user_data;
  SrvHttpHeadFunc body_cap;  /* NULL: SRV_HTTP_DEFAULT_MAX_BODY_BYTES for every request */
  gpointer body_cap_data;
} Listener;

typedef struct {
  ItemKind kind;
  int fd;
  guint64 id;
  Listener *listener;
  SrvTlsConnection *tls;
  SrvHttpParser *parser;
  ConnState state;
  char ip[INET6_ADDRSTRLEN];
  guint8 serial[SRV_TLS_SERIAL_MAX];
  gsize serial_len;
  gint64 deadline_us;       /* monotonic; 0 = none */
  gboolean request_started; /* a byte of the current request has arrived */
  gboolean close_after_write;
  gboolean drop_requested;  /* revoked or stopping while a worker runs */
  GByteArray *leftover;     /* bytes of pipelined requests not fed yet */
  GString *out;             /* response bytes not yet sent */
  gsize out_off;
  GBytes *out_body;         /* a large body sent after @out from the handler's own
                             * bytes, so it is never copied (CSV exports) */
  gsize body_off;
  guint32 events;           /* current epoll interest */
} Conn;

/* Bodies larger than this are written from their own buffer, not copied. */
#define SRV_LOOP_BODY_APART (256u * 1024u)

typedef struct {
  guint64 conn_id;
  SrvResponse response;
  gboolean keep_alive;
  gboolean head;
} Completion;

typedef struct {
  guint64 conn_id;
  SrvRequest request;
  Listener *listener;
} Job;

struct SrvLoop {
  SrvLoopLimits limits;
  int epfd;
  struct {
    ItemKind kind;
    int fd;
  } wakeup;
  GPtrArray *listeners;
  GHashTable *conns;      /* id -> Conn* */
  GHashTable *per_ip;     /* ip string -> count */
  GPtrArray *graveyard;   /* connections closed during this batch of events */
  guint64 next_id;
  GThreadPool *pool;
  GAsyncQueue *completions;
  GMutex lock;            /* guards drops and stats */
  GPtrArray *drops;       /* GBytes serials to drop */
  SrvLoopStats stats;
  volatile gint stop_requested;
  gboolean stopping;
  gint64 stop_deadline_us;
};

static void conn_close(SrvLoop *loop, Conn *c);
static void conn_on_readable(SrvLoop *loop, Conn *c);
static void conn_flush(SrvLoop *loop, Conn *c);

void
srv_loop_limits_init_default(SrvLoopLimits *limits)
{
  g_return_if_fail(limits != NULL);
  *limits = (SrvLoopLimits){
    .max_connections = 20000,
    .max_connections_per_ip = 64,
    .handshake_timeout_ms = 10000,
    .request_timeout_ms = 10000,
    .idle_timeout_ms = 300000,
    .write_timeout_ms = 30000,
    .shutdown_grace_ms = 10000,
    .workers = 4,
  };
  srv_http_limits_init_default(&limits->http);
}

void
srv_response_set_error(SrvResponse *response, guint status, const char *code, const char *message)
{
  srv_response_take_json(response, status, srv_http_error_body(status, code, message));
}

void
srv_response_take_json(SrvResponse *response, guint status, char *json)
{
  response->status = status;
  g_free(response->content_type);
  response->content_type = g_strdup("application/json");
  g_clear_pointer(&response->body, g_bytes_unref);
  response->body = g_bytes_new_take(json, strlen(json));
}

static void
response_clear(SrvResponse *r)
{
  g_clear_pointer(&r->content_type, g_free);
  g_clear_pointer(&r->body, g_bytes_unref);
  g_clear_pointer(&r->extra_headers, g_strfreev);
}

static gint64
now_us(void)
{
  return g_get_monotonic_time();
}

static void
wake(SrvLoop *loop)
{
  guint64 one = 1;
  /* A full counter still wakes the loop, so a failed write is harmless. */
  ssize_t n = write(loop->wakeup.fd, &one, sizeof one);
  (void) n;
}

static void
set_interest(SrvLoop *loop, Conn *c, guint32 events)
{
  if (c->events == events)
    return;
  struct epoll_event ev = { .events = events, .data.ptr = c };
  if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0)
    c->events = events;
}

static void
worker_run(gpointer data, gpointer user_data)
{
  Job *job = data;
  SrvLoop *loop = user_data;
  Completion *done = g_new0(Completion, 1);

  done->conn_id = job->conn_id;
  done->keep_alive = job->request.http->keep_alive;
  done->head = job->request.http->method == SRV_HTTP_METHOD_HEAD;
  job->listener->handler(&job->request, &done->response, job->listener->user_data);
  if (done->response.status == 0)
    srv_response_set_error(&done->response, 500, "internal", "the handler gave no answer");
  g_free(job);
  g_async_queue_push(loop->completions, done);
  wake(loop);
}

SrvLoop *
srv_loop_new(const SrvLoopLimits *limits, GError **error)
{
  g_autoptr(GError) local = NULL;
  SrvLoop *loop = g_new0(SrvLoop, 1);

  if (limits)
    loop->limits = *limits;
  else
    srv_loop_limits_init_default(&loop->limits);
  loop->epfd = epoll_create1(EPOLL_CLOEXEC);
  loop->wakeup.kind = ITEM_WAKEUP;
  loop->wakeup.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  loop->listeners = g_ptr_array_new();
  loop->conns = g_hash_table_new(g_int64_hash, g_int64_equal);
  loop->per_ip = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  loop->graveyard = g_ptr_array_new();
  loop->completions = g_async_queue_new();
  loop->drops = g_ptr_array_new_with_free_func((GDestroyNotify) g_bytes_unref);
  g_mutex_init(&loop->lock);
  loop->pool = g_thread_pool_new(worker_run, loop, (gint) MAX(1u, loop->limits.workers), FALSE, &local);

  struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &loop->wakeup };
  if (loop->epfd < 0 || loop->wakeup.fd < 0 || loop->pool == NULL ||
      epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->wakeup.fd, &ev) != 0) {
    g_set_error(error, SRV_LOOP_ERROR, SRV_LOOP_ERROR_SYSTEM, "cannot set up the event loop: %s",
                local ? local->message : g_strerror(errno));
    srv_loop_free(loop);
    return NULL;
  }
  return loop;
}

gboolean
srv_loop_add_listener(SrvLoop *loop, const char *address, guint16 port, SrvTlsContext *tls,
                      SrvHandlerFunc handler, gpointer user_data, guint16 *out_port, GError **error)
{
  g_return_val_if_fail(loop != NULL && address != NULL && tls != NULL && handler != NULL, FALSE);

  struct sockaddr_storage ss = { 0 };
  socklen_t sslen;
  struct sockaddr_in *sin = (struct sockaddr_in *) &ss;
  struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) &ss;
  if (inet_pton(AF_INET, address, &sin->sin_addr) == 1) {
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    sslen = sizeof *sin;
  } else if (inet_pton(AF_INET6, address, &sin6->sin6_addr) == 1) {
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    sslen = sizeof *sin6;
  } else {
    g_set_error(error, SRV_LOOP_ERROR, SRV_LOOP_ERROR_BIND,
                "bind address %s is not a numeric IPv4 or IPv6 address", address);
    return FALSE;
  }

  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      bind(fd, (struct sockaddr *) &ss, sslen) != 0 || listen(fd, 1024) != 0) {
    int saved = errno;
    if (fd >= 0)
      close(fd);
    g_set_error(error, SRV_LOOP_ERROR, SRV_LOOP_ERROR_BIND, "cannot listen on %s port %u: %s%s",
                address, port, g_strerror(saved),
                saved == EADDRINUSE ? " (another program is using this port)" : "");
    return FALSE;
  }
  if (out_port != NULL) {
    getsockname(fd, (struct sockaddr *) &ss, &sslen);
    *out_port = ntohs(ss.ss_family == AF_INET ? sin->sin_port : sin6->sin6_port);
  }

  Listener *l = g_new0(Listener, 1);
  l->kind = ITEM_LISTENER;
  l->fd = fd;
  l->tls = tls;
  l->handler = handler;
  l->user_data = user_data;
  struct epoll_event ev = { .events = EPOLLIN, .data.ptr = l };
  if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
    close(fd);
    g_free(l);
    g_set_error(error, SRV_LOOP_ERROR, SRV_LOOP_ERROR_SYSTEM, "epoll: %s", g_strerror(errno));
    return FALSE;
  }
  g_ptr_array_add(loop->listeners, l);
  return TRUE;
}

static guint
ip_count(SrvLoop *loop, const char *ip)
{
  return GPOINTER_TO_UINT(g_hash_table_lookup(loop->per_ip, ip));
}

static void
ip_adjust(SrvLoop *loop, const char *ip, int delta)
{
  guint n = ip_count(loop, ip);
  if (delta < 0 && n <= 1)
    g_hash_table_remove(loop->per_ip, ip);
  else
    g_hash_table_insert(loop->per_ip, g_strdup(ip), GUINT_TO_POINTER(delta < 0 ? n - 1 : n + 1));
}

static void
format_peer(const struct sockaddr_storage *ss, char out[INET6_ADDRSTRLEN])
{
  const void *addr = ss->ss_family == AF_INET6 ? (const void *) &((const struct sockaddr_in6 *) ss)->sin6_addr
                                               : (const void *) &((const struct sockaddr_in *) ss)->sin_addr;
  if (inet_ntop(ss->ss_family, addr, out, INET6_ADDRSTRLEN) == NULL)
    g_strlcpy(out, "unknown", INET6_ADDRSTRLEN);
}

static gsize
on_request_head(const SrvHttpRequest *head, gpointer user_data)
{
  Conn *c = user_data;
  /* libcurl waits up to a second for "100 Continue" before sending a body. */
  if (head->expect_continue) {
    if (c->out == NULL)
      c->out = g_string_new(NULL);
    g_string_append(c->out, SRV_HTTP_CONTINUE);
  }
  /* One route may take more than the rest (a CSV import): the listener's cap
   * function says so per request, within limits.http.max_body_bytes. */
  Listener *l = c->listener;
  return l->body_cap != NULL ? l->body_cap(head, l->body_cap_data) : SRV_HTTP_DEFAULT_MAX_BODY_BYTES;
}

void
srv_loop_set_body_cap(SrvLoop *loop, SrvTlsContext *tls, SrvHttpHeadFunc func, gpointer user_data)
{
  g_return_if_fail(loop != NULL && tls != NULL);
  for (guint i = 0; i < loop->listeners->len; i++) {
    Listener *l = loop->listeners->pdata[i];
    if (l->tls == tls) {
      l->body_cap = func;
      l->body_cap_data = user_data;
    }
  }
}

static void
accept_all(SrvLoop *loop, Listener *l)
{
  for (;;) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int fd = accept4(l->fd, (struct sockaddr *) &ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED)
        continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK)
        GK_LOG_WARN("server.accept_failed", GK_STR("error", g_strerror(errno)));
      return;
    }
    char ip[INET6_ADDRSTRLEN];
    format_peer(&ss, ip);
    if (loop->stopping || g_hash_table_size(loop->conns) >= loop->limits.max_connections ||
        ip_count(loop, ip) >= loop->limits.max_connections_per_ip) {
      close(fd);
      g_mutex_lock(&loop->lock);
      loop->stats.refused++;
      g_mutex_unlock(&loop->lock);
      GK_LOG_WARN("server.connection_refused", GK_STR("ip", ip),
                  GK_STR("reason", loop->stopping ? "stopping" : "connection-limit"));
      continue;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

    Conn *c = g_new0(Conn, 1);
    c->kind = ITEM_CONNECTION;
    c->fd = fd;
    c->id = ++loop->next_id;
    c->listener = l;
    c->tls = srv_tls_connection_new(l->tls, fd);
    c->parser = srv_http_parser_new(&loop->limits.http);
    g_strlcpy(c->ip, ip, sizeof c->ip);
    c->state = CONN_HANDSHAKE;
    c->deadline_us = now_us() + (gint64) loop->limits.handshake_timeout_ms * 1000;
    c->events = EPOLLIN;
    if (c->parser == NULL) {
      /* The limits were checked when the loop was made; this is out of memory. */
      srv_tls_connection_free(c->tls);
      close(fd);
      g_free(c);
      continue;
    }
    srv_http_parser_set_head_func(c->parser, on_request_head, c);
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
      srv_http_parser_free(c->parser);
      srv_tls_connection_free(c->tls);
      close(fd);
      g_free(c);
      continue;
    }
    g_hash_table_insert(loop->conns, &c->id, c);
    ip_adjust(loop, ip, +1);
    g_mutex_lock(&loop->lock);
    loop->stats.accepted++;
    loop->stats.connections = g_hash_table_size(loop->conns);
    g_mutex_unlock(&loop->lock);
  }
}

/* Removes the connection from the loop now; frees it after this batch of
 * events, since a later event of the same batch may still point at it. */
static void
conn_close(SrvLoop *loop, Conn *c)
{
  if (c->fd < 0)
    return;
  if (c->state == CONN_PROCESSING) {
    /* A worker still reads the request: finish when its answer arrives. Out of
     * epoll meanwhile, or a hung-up socket would be reported in a busy loop. */
    c->drop_requested = TRUE;
    epoll_ctl(loop->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    return;
  }
  epoll_ctl(loop->epfd, EPOLL_CTL_DEL, c->fd, NULL);
  g_hash_table_remove(loop->conns, &c->id);
  ip_adjust(loop, c->ip, -1);
  srv_tls_connection_free(c->tls);
  c->tls = NULL;
  close(c->fd);
  c->fd = -1;
  g_ptr_array_add(loop->graveyard, c);
  g_mutex_lock(&loop->lock);
  loop->stats.connections = g_hash_table_size(loop->conns);
  g_mutex_unlock(&loop->lock);
}

static void
conn_free(Conn *c)
{
  srv_http_parser_free(c->parser);
  if (c->leftover)
    g_byte_array_unref(c->leftover);
  if (c->out)
    g_string_free(c->out, TRUE);
  if (c->out_body)
    g_bytes_unref(c->out_body);
  g_free(c);
}

static void
free_graveyard(SrvLoop *loop)
{
  for (guint i = 0; i < loop->graveyard->len; i++)
    conn_free(loop->graveyard->pdata[i]);
  g_ptr_array_set_size(loop->graveyard, 0);
}

static void
conn_begin_close(SrvLoop *loop, Conn *c)
{
  /* The deadline is set once: a peer that reads slowly must not extend it. */
  if (c->state != CONN_CLOSING) {
    c->state = CONN_CLOSING;
    c->deadline_us = now_us() + (gint64) loop->limits.write_timeout_ms * 1000;
  }
  SrvTlsStatus st = srv_tls_close_notify(c->tls);
  if (st == SRV_TLS_WANT_WRITE)
    set_interest(loop, c, EPOLLOUT);
  else if (st == SRV_TLS_WANT_READ)
    set_interest(loop, c, EPOLLIN);
  else
    conn_close(loop, c);
}

static void
conn_queue_error(SrvLoop *loop, Conn *c, guint status, const char *code)
{
  if (c->out == NULL)
    c->out = g_string_new(NULL);
  if (!srv_http_error_response_write(c->out, status, code, NULL, SRV_HTTP_WRITE_CLOSE)) {
    conn_close(loop, c);
    return;
  }
  GK_LOG_INFO("http.refused", GK_STR("ip", c->ip), GK_UINT("status", status), GK_STR("reason", code));
  c->close_after_write = TRUE;
  c->state = CONN_WRITING;
  c->deadline_us = now_us() + (gint64) loop->limits.write_timeout_ms * 1000;
  conn_flush(loop, c);
}

static void
conn_wait_for_request(SrvLoop *loop, Conn *c)
{
  c->state = CONN_READING;
  c->request_started = FALSE;
  c->deadline_us = now_us() + (gint64) loop->limits.idle_timeout_ms * 1000;
  set_interest(loop, c, EPOLLIN);
}

static void
dispatch(SrvLoop *loop, Conn *c)
{
  const SrvHttpRequest *req = srv_http_parser_request(c->parser);
  Job *job = g_new0(Job, 1);

  job->conn_id = c->id;
  job->listener = c->listener;
  job->request.port = srv_tls_context_get_role(c->listener->tls);
  job->request.http = req;
  job->request.peer_ip = c->ip;
  job->request.peer_serial = c->serial_len ? c->serial : NULL;
  job->request.peer_serial_len = c->serial_len;
  job->request.received_at_us = g_get_real_time();
  c->state = CONN_PROCESSING;
  c->deadline_us = 0;
  /* No reading while the handler runs: responses stay in request order. */
  set_interest(loop, c, 0);
  g_mutex_lock(&loop->lock);
  loop->stats.requests++;
  g_mutex_unlock(&loop->lock);
  g_thread_pool_push(loop->pool, job, NULL);
}

/* Feeds bytes to the parser; keeps what belongs to a later pipelined request. */
static void
conn_feed(SrvLoop *loop, Conn *c, const guint8 *data, gsize len)
{
  gsize consumed = 0;
  if (len > 0 && !c->request_started) {
    c->request_started = TRUE;
    c->deadline_us = now_us() + (gint64) loop->limits.request_timeout_ms * 1000;
  }
  SrvHttpResult r = srv_http_parser_feed(c->parser, data, len, &consumed);
  if (consumed < len) {
    if (c->leftover == NULL)
      c->leftover = g_byte_array_new();
    g_byte_array_append(c->leftover, data + consumed, (guint) (len - consumed));
  }
  if (r == SRV_HTTP_COMPLETE)
    dispatch(loop, c);
  else if (r == SRV_HTTP_ERROR)
    conn_queue_error(loop, c, srv_http_parser_error_status(c->parser), srv_http_parser_error_code(c->parser));
  else if (c->out != NULL && c->out_off < c->out->len)
    conn_flush(loop, c); /* a pending "100 Continue" */
}

static void
conn_on_readable(SrvLoop *loop, Conn *c)
{
  guint8 buf[READ_CHUNK];
  while (c->state == CONN_READING && c->fd >= 0) {
    ssize_t n = srv_tls_read(c->tls, buf, sizeof buf);
    if (n > 0) {
      conn_feed(loop, c, buf, (gsize) n);
      continue;
    }
    if (n == SRV_TLS_WANT_READ)
      return;
    if (n == SRV_TLS_WANT_WRITE) {
      set_interest(loop, c, EPOLLOUT);
      return;
    }
    conn_close(loop, c); /* closed by the peer, or a TLS error */
    return;
  }
}

static void
conn_after_response(SrvLoop *loop, Conn *c)
{
  if (c->close_after_write || c->drop_requested || loop->stopping) {
    conn_begin_close(loop, c);
    return;
  }
  srv_http_parser_reset(c->parser);
  conn_wait_for_request(loop, c);
  if (c->leftover != NULL && c->leftover->len > 0) {
    g_autoptr(GByteArray) pending = c->leftover;
    c->leftover = NULL;
    conn_feed(loop, c, pending->data, pending->len);
  }
  if (c->state == CONN_READING && srv_tls_connection_pending(c->tls) > 0)
    conn_on_readable(loop, c);
}

static void
conn_flush(SrvLoop *loop, Conn *c)
{
  while (c->out != NULL && c->out_off < c->out->len) {
    ssize_t n = srv_tls_write(c->tls, c->out->str + c->out_off, c->out->len - c->out_off);
    if (n > 0) {
      c->out_off += (gsize) n;
      continue;
    }
    if (n == SRV_TLS_WANT_WRITE || n == SRV_TLS_WANT_READ) {
      set_interest(loop, c, n == SRV_TLS_WANT_WRITE ? EPOLLOUT : EPOLLIN);
      return;
    }
    conn_close(loop, c);
    return;
  }
  gsize body_len = 0;
  const char *body = c->out_body != NULL ? g_bytes_get_data(c->out_body, &body_len) : NULL;
  while (c->body_off < body_len) {
    ssize_t n = srv_tls_write(c->tls, body + c->body_off, body_len - c->body_off);
    if (n > 0) {
      c->body_off += (gsize) n;
      continue;
    }
    if (n == SRV_TLS_WANT_WRITE || n == SRV_TLS_WANT_READ) {
      set_interest(loop, c, n == SRV_TLS_WANT_WRITE ? EPOLLOUT : EPOLLIN);
      return;
    }
    conn_close(loop, c);
    return;
  }
  g_clear_pointer(&c->out_body, g_bytes_unref);
  c->body_off = 0;
  if (c->out != NULL) {
    g_string_truncate(c->out, 0);
    c->out_off = 0;
  }
  if (c->state == CONN_WRITING)
    conn_after_response(loop, c);
  else if (c->state == CONN_READING)
    set_interest(loop, c, EPOLLIN);
}

static void
conn_handshake(SrvLoop *loop, Conn *c)
{
  SrvTlsStatus st = srv_tls_handshake_step(c->tls);
  if (st == SRV_TLS_WANT_READ) {
    set_interest(loop, c, EPOLLIN);
    return;
  }
  if (st == SRV_TLS_WANT_WRITE) {
    set_interest(loop, c, EPOLLOUT);
    return;
  }
  if (st != SRV_TLS_OK) {
    const char *reason = srv_tls_connection_failure_reason(c->tls);
    GK_LOG_INFO("tls.handshake_failed", GK_STR("ip", c->ip), GK_STR("reason", reason ? reason : "closed"));
    g_mutex_lock(&loop->lock);
    loop->stats.handshake_failures++;
    g_mutex_unlock(&loop->lock);
    conn_close(loop, c);
    return;
  }
  if (!srv_tls_connection_peer_serial(c->tls, c->serial, &c->serial_len))
    c->serial_len = 0;
  g_mutex_lock(&loop->lock);
  if (srv_tls_connection_is_resumed(c->tls))
    loop->stats.handshakes_resumed++;
  else
    loop->stats.handshakes_full++;
  g_mutex_unlock(&loop->lock);
  conn_wait_for_request(loop, c);
  if (srv_tls_connection_pending(c->tls) > 0)
    conn_on_readable(loop, c);
}

static void
conn_on_event(SrvLoop *loop, Conn *c, guint32 events)
{
  if (c->fd < 0)
    return;
  if ((events & (EPOLLERR | EPOLLHUP)) && !(events & EPOLLIN)) {
    conn_close(loop, c);
    return;
  }
  switch (c->state) {
  case CONN_HANDSHAKE:
    conn_handshake(loop, c);
    break;
  case CONN_READING:
    if (c->out != NULL && c->out_off < c->out->len && (events & EPOLLOUT))
      conn_flush(loop, c);
    else
      conn_on_readable(loop, c);
    break;
  case CONN_WRITING:
    conn_flush(loop, c);
    break;
  case CONN_CLOSING:
    conn_begin_close(loop, c);
    break;
  case CONN_PROCESSING:
  default:
    break;
  }
}

static void
handle_completions(SrvLoop *loop)
{
  Completion *done;
  while ((done = g_async_queue_try_pop(loop->completions)) != NULL) {
    Conn *c = g_hash_table_lookup(loop->conns, &done->conn_id);
    if (c != NULL && c->state == CONN_PROCESSING && c->drop_requested) {
      c->state = CONN_CLOSING;
      conn_close(loop, c);
    } else if (c != NULL && c->state == CONN_PROCESSING) {
      SrvResponse *r = &done->response;
      gboolean keep = done->keep_alive && !r->close && !c->drop_requested && !loop->stopping;
      gsize len = 0;
      const void *body = r->body ? g_bytes_get_data(r->body, &len) : NULL;
      SrvHttpWriteFlags flags = (keep ? SRV_HTTP_WRITE_KEEP_ALIVE : SRV_HTTP_WRITE_CLOSE) |
                                (done->head ? SRV_HTTP_WRITE_HEAD : 0);
      /* A large body (an export) stays where the handler built it: only the
       * head goes into c->out (written as for HEAD: same Content-Length). */
      gboolean body_apart = !done->head && len > SRV_LOOP_BODY_APART;
      if (body_apart)
        flags |= SRV_HTTP_WRITE_HEAD;
      if (c->out == NULL)
        c->out = g_string_new(NULL);
      c->state = CONN_WRITING;
      c->close_after_write = !keep;
      c->deadline_us = now_us() + (gint64) loop->limits.write_timeout_ms * 1000;
      if (!srv_http_response_write(c->out, r->status, r->content_type, body, len, flags,
                                   (const char *const *) r->extra_headers)) {
        GK_LOG_ERR("http.bad_response", GK_UINT("status", r->status));
        g_string_truncate(c->out, 0);
        if (!srv_http_error_response_write(c->out, 500, "internal", NULL, SRV_HTTP_WRITE_CLOSE))
          g_string_truncate(c->out, 0);
        c->close_after_write = TRUE;
      } else if (body_apart) {
        c->out_body = g_bytes_ref(r->body);
        c->body_off = 0;
      }
      conn_flush(loop, c);
    }
    response_clear(&done->response);
    g_free(done);
  }
}

static void
handle_drops(SrvLoop *loop)
{
  g_autoptr(GPtrArray) drops = NULL;
  g_mutex_lock(&loop->lock);
  if (loop->drops->len > 0) {
    drops = loop->drops;
    loop->drops = g_ptr_array_new_with_free_func((GDestroyNotify) g_bytes_unref);
  }
  g_mutex_unlock(&loop->lock);
  if (drops == NULL)
    return;

  GHashTableIter it;
  gpointer value;
  g_autoptr(GPtrArray) victims = g_ptr_array_new();
  g_hash_table_iter_init(&it, loop->conns);
  while (g_hash_table_iter_next(&it, NULL, &value)) {
    Conn *c = value;
    for (guint i = 0; i < drops->len; i++) {
      gsize len;
      const guint8 *serial = g_bytes_get_data(drops->pdata[i], &len);
      if (c->serial_len == len && memcmp(c->serial, serial, len) == 0)
        g_ptr_array_add(victims, c);
    }
  }
  for (guint i = 0; i < victims->len; i++) {
    Conn *c = victims->pdata[i];
    GK_LOG_INFO("server.connection_dropped", GK_STR("ip", c->ip), GK_STR("reason", "device-revoked"));
    conn_close(loop, c);
  }
}

/* Timeouts: a sweep every SWEEP_INTERVAL_MS is cheap next to the work of
 * thousands of connections and needs no timer structure. */
static void
sweep(SrvLoop *loop)
{
  gint64 now = now_us();
  g_autoptr(GPtrArray) expired = g_ptr_array_new();
  GHashTableIter it;
  gpointer value;
  g_hash_table_iter_init(&it, loop->conns);
  while (g_hash_table_iter_next(&it, NULL, &value)) {
    Conn *c = value;
    gboolean idle_stop = loop->stopping && c->state == CONN_READING && !c->request_started;
    if ((c->deadline_us != 0 && now >= c->deadline_us) || idle_stop)
      g_ptr_array_add(expired, c);
  }
  for (guint i = 0; i < expired->len; i++) {
    Conn *c = expired->pdata[i];
    if (c->state == CONN_READING && c->request_started) {
      /* Slow client: tell it why, once, then close whatever happens. */
      g_mutex_lock(&loop->lock);
      loop->stats.timeouts++;
      g_mutex_unlock(&loop->lock);
      conn_queue_error(loop, c, 408, "request-timeout");
      /* A slow client gets one second to take its 408, not the full write time;
       * the flush may already have finished and closed the connection. */
      if (c->fd >= 0 && c->state == CONN_WRITING)
        c->deadline_us = now + 1000000;
    } else if (c->state == CONN_WRITING && c->close_after_write && c->deadline_us != 0 &&
               now >= c->deadline_us) {
      conn_close(loop, c);
    } else {
      if (c->state != CONN_READING || c->request_started || !loop->stopping) {
        g_mutex_lock(&loop->lock);
        loop->stats.timeouts++;
        g_mutex_unlock(&loop->lock);
      }
      conn_close(loop, c);
    }
  }
}

static void
begin_stop(SrvLoop *loop)
{
  loop->stopping = TRUE;
  loop->stop_deadline_us = now_us() + (gint64) loop->limits.shutdown_grace_ms * 1000;
  for (guint i = 0; i < loop->listeners->len; i++) {
    Listener *l = loop->listeners->pdata[i];
    if (l->fd >= 0) {
      epoll_ctl(loop->epfd, EPOLL_CTL_DEL, l->fd, NULL);
      close(l->fd);
      l->fd = -1;
    }
  }
  GK_LOG_INFO("server.stopping", GK_UINT("connections", g_hash_table_size(loop->conns)));
}

void
srv_loop_run(SrvLoop *loop)
{
  g_return_if_fail(loop != NULL);
  struct epoll_event events[MAX_EVENTS];
  gint64 last_sweep = now_us();

  for (;;) {
    if (!loop->stopping && g_atomic_int_get(&loop->stop_requested))
      begin_stop(loop);
    if (loop->stopping && (g_hash_table_size(loop->conns) == 0 || now_us() >= loop->stop_deadline_us))
      break;

    int n = epoll_wait(loop->epfd, events, MAX_EVENTS, SWEEP_INTERVAL_MS);
    if (n < 0 && errno != EINTR) {
      GK_LOG_ERR("server.epoll_failed", GK_STR("error", g_strerror(errno)));
      break;
    }
    for (int i = 0; i < n; i++) {
      ItemKind kind = *(ItemKind *) events[i].data.ptr;
      if (kind == ITEM_WAKEUP) {
        guint64 count;
        ssize_t r = read(loop->wakeup.fd, &count, sizeof count);
        (void) r;
        handle_completions(loop);
        handle_drops(loop);
      } else if (kind == ITEM_LISTENER) {
        accept_all(loop, events[i].data.ptr);
      } else {
        conn_on_event(loop, events[i].data.ptr, events[i].events);
      }
    }
    if (now_us() - last_sweep >= SWEEP_INTERVAL_MS * 1000 || loop->stopping) {
      sweep(loop);
      last_sweep = now_us();
    }
    free_graveyard(loop);
  }

  /* Grace time is over: close whatever is left, wait for workers, then drain. */
  g_thread_pool_free(loop->pool, FALSE, TRUE);
  loop->pool = NULL;
  handle_completions(loop);
  GHashTableIter it;
  gpointer value;
  g_autoptr(GPtrArray) rest = g_ptr_array_new();
  g_hash_table_iter_init(&it, loop->conns);
  while (g_hash_table_iter_next(&it, NULL, &value))
    g_ptr_array_add(rest, value);
  for (guint i = 0; i < rest->len; i++) {
    Conn *c = rest->pdata[i];
    c->state = CONN_CLOSING;
    conn_close(loop, c);
  }
  free_graveyard(loop);
  GK_LOG_INFO("server.stopped");
}

void
srv_loop_stop(SrvLoop *loop)
{
  g_atomic_int_set(&loop->stop_requested, 1);
  wake(loop);
}

void
srv_loop_drop_peer(SrvLoop *loop, const guint8 *serial, gsize len)
{
  g_return_if_fail(loop != NULL && serial != NULL && len > 0);
  g_mutex_lock(&loop->lock);
  g_ptr_array_add(loop->drops, g_bytes_new(serial, len));
  g_mutex_unlock(&loop->lock);
  wake(loop);
}

void
srv_loop_get_stats(SrvLoop *loop, SrvLoopStats *out)
{
  g_mutex_lock(&loop->lock);
  *out = loop->stats;
  g_mutex_unlock(&loop->lock);
}

void
srv_loop_free(SrvLoop *loop)
{
  if (loop == NULL)
    return;
  if (loop->pool)
    g_thread_pool_free(loop->pool, FALSE, TRUE);
  if (loop->completions) {
    Completion *done;
    while ((done = g_async_queue_try_pop(loop->completions)) != NULL) {
      response_clear(&done->response);
      g_free(done);
    }
    g_async_queue_unref(loop->completions);
  }
  if (loop->conns) {
    GHashTableIter it;
    gpointer value;
    g_hash_table_iter_init(&it, loop->conns);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
      Conn *c = value;
      srv_tls_connection_free(c->tls);
      if (c->fd >= 0)
        close(c->fd);
      conn_free(c);
    }
    g_hash_table_unref(loop->conns);
  }
  for (guint i = 0; loop->listeners && i < loop->listeners->len; i++) {
    Listener *l = loop->listeners->pdata[i];
    if (l->fd >= 0)
      close(l->fd);
    g_free(l);
  }
  if (loop->listeners)
    g_ptr_array_unref(loop->listeners);
  if (loop->graveyard) {
    free_graveyard(loop);
    g_ptr_array_unref(loop->graveyard);
  }
  if (loop->per_ip)
    g_hash_table_unref(loop->per_ip);
  if (loop->drops)
    g_ptr_array_unref(loop->drops);
  if (loop->wakeup.fd >= 0)
    close(loop->wakeup.fd);
  if (loop->epfd >= 0)
    close(loop->epfd);
  g_mutex_clear(&loop->lock);
  g_free(loop);
}
