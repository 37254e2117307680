/* Load generator for genkan-server: simulated devices over mutual TLS on loopback,
 * driven by a few threads with epoll and non-blocking mbedTLS clients. Prints
 * handshake rates, sync/redeem latency, batched event ingest and idle cost. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "gk-json.h"
#include "gk-test-server.h"

#define OWNER_PW "B3nch-Owner-Passw0rd!"
#define MAX_THREADS 8
#define PUSH_BATCH 500
#define READ_BUF 16384
#define MAX_CONNECTING 64 /* handshakes in flight per thread while opening connections */

/* ---- what a phase does ------------------------------------------------------------ */

typedef enum {
  PH_HS_FULL,    /* connect, full handshake, close; repeat until the deadline */
  PH_HS_RESUMED, /* same, offering the device's saved session */
  PH_OPEN,       /* open this thread's share of keep-alive connections */
  PH_PULL,       /* GET /v1/sync/pull?cursor=<latest> */
  PH_REDEEM,     /* POST /v1/redeem */
  PH_PUSH,       /* POST /v1/sync/push, PUSH_BATCH events */
  PH_ISSUE,      /* admin: POST /v1/tickets until enough are issued */
} PhaseKind;

typedef struct {
  PhaseKind kind;
  gint64 start_us, deadline_us;
  gint64 interval_us;    /* request phases: 0 = closed loop, else one request per interval per connection */
  guint inflight;        /* handshake phases: concurrent handshakes per thread */
  guint total_conns;     /* all threads (spreads paced start times) */
  guint open_per_thread; /* PH_OPEN */
  gboolean open_admin;   /* PH_OPEN: admin-port connections without a client certificate */
  guint run;             /* makes event ids unique across runs */
} Phase;

/* Shared, read-only during a phase (except the atomics). */
static struct {
  guint16 device_port, admin_port;
  const char *token;
  gint64 host_id;
  gint64 cursor;
  GPtrArray *tickets;    /* ticket texts of this run */
  guint tickets_wanted;
  gint issued;           /* atomic: PH_ISSUE requests handed out */
  gint fresh;            /* atomic: next never-redeemed ticket */
  Phase phase;
} shared;

/* ---- one client thread --------------------------------------------------------------- */

typedef struct {
  mbedtls_ssl_config conf;
  mbedtls_x509_crt cert;
  mbedtls_pk_context key;
  mbedtls_ssl_session session; /* from this thread's first full handshake */
  gboolean have_session;
} Ident;

typedef enum { C_CONNECTING, C_HANDSHAKE, C_READY, C_SENDING, C_RECEIVING, C_DEAD } CState;

typedef struct {
  int fd;
  mbedtls_ssl_context ssl;
  CState state;
  guint ident;         /* index into Worker.idents */
  guint index;         /* connection number within the run */
  gboolean resume;
  guint32 interest;
  GString *out;
  gsize out_off;
  GByteArray *in;
  gint64 started_us;   /* latency reference of the request in flight */
  gint64 next_at_us;   /* paced phases: the next request's scheduled time */
  guint64 seq;
  int issue_slot;      /* PH_ISSUE: which ticket this request makes */
} Conn;

typedef struct {
  guint id;
  GThread *thread;
  int epfd;
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
  mbedtls_x509_crt ca;
  Ident *idents;         /* devices, then one admin identity (no certificate) */
  guint n_idents;
  GPtrArray *conns;      /* keep-alive connections of this thread */
  guint started;         /* handshake phases: connections begun */
  /* results of the current phase */
  GArray *lat_us;        /* guint32 */
  guint64 ok, failed, handshakes, offered, resumed, accepted, already_used, events_stored;
  gint64 last_done_us;
  char first_error[200];
} Worker;

static Worker workers[MAX_THREADS];
static guint n_workers = 2;
static gint workers_running; /* atomic */

static void
fail(Worker *w, Conn *c, const char *what, int rc)
{
  w->failed++;
  if (w->first_error[0] == '\0') {
    char buf[100] = "";
    if (rc != 0)
      mbedtls_strerror(rc, buf, sizeof buf);
    g_snprintf(w->first_error, sizeof w->first_error, "conn %u: %s %s", c ? c->index : 0, what, buf);
  }
}

static int
bio_send(void *ctx, const unsigned char *buf, size_t len)
{
  Conn *c = ctx;
  ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
  if (n >= 0)
    return (int) n;
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
    return MBEDTLS_ERR_SSL_WANT_WRITE;
  return MBEDTLS_ERR_NET_SEND_FAILED;
}

static int
bio_recv(void *ctx, unsigned char *buf, size_t len)
{
  Conn *c = ctx;
  ssize_t n = recv(c->fd, buf, len, 0);
  if (n >= 0)
    return (int) n; /* 0: EOF, which mbedTLS reports as the peer closing */
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
    return MBEDTLS_ERR_SSL_WANT_READ;
  return MBEDTLS_ERR_NET_RECV_FAILED;
}

static void
set_interest(Worker *w, Conn *c, guint32 events)
{
  if (c->interest == events)
    return;
  struct epoll_event ev = { .events = events, .data.ptr = c };
  epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->fd, &ev);
  c->interest = events;
}

static void
want(Worker *w, Conn *c, int rc)
{
  set_interest(w, c, rc == MBEDTLS_ERR_SSL_WANT_WRITE ? EPOLLOUT : EPOLLIN);
}

static void
conn_kill(Worker *w, Conn *c)
{
  if (c->fd >= 0)
    close(c->fd);
  c->fd = -1;
  c->state = C_DEAD;
}

static Conn *
conn_open(Worker *w, guint ident, guint index, gboolean resume)
{
  Conn *c = g_new0(Conn, 1);
  c->ident = ident;
  c->index = index;
  c->state = C_CONNECTING;
  c->out = g_string_sized_new(1024);
  c->in = g_byte_array_sized_new(4096);
  mbedtls_ssl_init(&c->ssl);
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) {
    fail(w, c, g_strerror(errno), 0);
    c->state = C_DEAD;
    return c;
  }
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  Ident *id = &w->idents[ident];
  int rc = mbedtls_ssl_setup(&c->ssl, &id->conf);
  if (rc == 0)
    rc = mbedtls_ssl_set_hostname(&c->ssl, "localhost");
  c->resume = resume && id->have_session; /* a session is only offered once there is one */
  if (rc == 0 && c->resume)
    rc = mbedtls_ssl_set_session(&c->ssl, &id->session);
  if (rc != 0) {
    fail(w, c, "ssl setup", rc);
    conn_kill(w, c);
    return c;
  }
  mbedtls_ssl_set_bio(&c->ssl, c, bio_send, bio_recv, NULL);
  gboolean admin = ident == w->n_idents - 1;
  struct sockaddr_in sa = { .sin_family = AF_INET,
                            .sin_port = htons(admin ? shared.admin_port : shared.device_port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  if (connect(c->fd, (struct sockaddr *) &sa, sizeof sa) != 0 && errno != EINPROGRESS) {
    fail(w, c, g_strerror(errno), 0);
    conn_kill(w, c);
    return c;
  }
  c->interest = EPOLLOUT;
  struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = c };
  epoll_ctl(w->epfd, EPOLL_CTL_ADD, c->fd, &ev);
  return c;
}

static void
conn_free(Conn *c)
{
  if (c->fd >= 0)
    close(c->fd); /* also leaves the epoll set */
  mbedtls_ssl_free(&c->ssl);
  g_string_free(c->out, TRUE);
  g_byte_array_unref(c->in);
  g_free(c);
}

/* ---- requests ---------------------------------------------------------------------- */

static void
http_request(Conn *c, const char *method, const char *path, const char *body, gboolean admin)
{
  g_string_truncate(c->out, 0);
  g_string_append_printf(c->out, "%s %s HTTP/1.1\r\nHost: localhost\r\n", method, path);
  if (admin)
    g_string_append_printf(c->out, "Authorization: Bearer %s\r\n", shared.token);
  if (body != NULL)
    g_string_append_printf(c->out, "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s", strlen(body),
                           body);
  else
    g_string_append(c->out, "\r\n");
  c->out_off = 0;
  g_byte_array_set_size(c->in, 0);
}

/* Builds the phase's next request on @c; FALSE when there is no more work. */
static gboolean
make_request(Worker *w, Conn *c)
{
  const Phase *p = &shared.phase;
  switch (p->kind) {
  case PH_PULL: {
    char path[80];
    g_snprintf(path, sizeof path, "/v1/sync/pull?cursor=%" G_GINT64_FORMAT, shared.cursor);
    http_request(c, "GET", path, NULL, FALSE);
    return TRUE;
  }
  case PH_REDEEM: {
    /* Half fresh tickets (accepted), half ones already redeemed (already-used). */
    gint n = (gint) shared.tickets->len;
    gint used = MIN(g_atomic_int_get(&shared.fresh), n);
    guint pick;
    if (c->seq % 2 == 0 || used == 0) {
      gint f = g_atomic_int_add(&shared.fresh, 1);
      pick = (guint) (f < n ? f : g_random_int_range(0, n));
    } else {
      pick = (guint) g_random_int_range(0, used);
    }
    g_autofree char *body =
      g_strdup_printf("{\"ticket\":\"%s\",\"event_id\":\"rd-%u-%u-%" G_GUINT64_FORMAT "\",\"at\":%" G_GINT64_FORMAT "}",
                      (const char *) shared.tickets->pdata[pick], p->run, c->index, c->seq,
                      g_get_real_time() / G_USEC_PER_SEC);
    http_request(c, "POST", "/v1/redeem", body, FALSE);
    return TRUE;
  }
  case PH_PUSH: {
    gint64 now = g_get_real_time() / G_USEC_PER_SEC;
    GString *b = g_string_sized_new(PUSH_BATCH * 140);
    g_string_append_printf(b, "{\"device_time\":%" G_GINT64_FORMAT ",\"queue_length\":%d,\"events\":[", now, PUSH_BATCH);
    for (guint i = 0; i < PUSH_BATCH; i++)
      g_string_append_printf(b,
                             "%s{\"id\":\"ps-%u-%u-%" G_GUINT64_FORMAT "-%u\",\"kind\":\"checkin\","
                             "\"ticket_id\":\"%08x%08x%08x%08x\",\"at\":%" G_GINT64_FORMAT ",\"offline\":true}",
                             i ? "," : "", p->run, c->index, c->seq, i, p->run, c->index, (guint) c->seq, i, now - 60);
    g_string_append(b, "]}");
    http_request(c, "POST", "/v1/sync/push", b->str, FALSE);
    g_string_free(b, TRUE);
    return TRUE;
  }
  case PH_ISSUE: {
    gint slot = g_atomic_int_add(&shared.issued, 1);
    if (slot >= (gint) shared.tickets_wanted)
      return FALSE;
    c->issue_slot = slot;
    g_autofree char *body = g_strdup_printf("{\"visitor\":\"Bench Visitor %d\",\"host\":\"%" G_GINT64_FORMAT "\"}",
                                            slot, shared.host_id);
    http_request(c, "POST", "/v1/tickets", body, TRUE);
    return TRUE;
  }
  default:
    return FALSE;
  }
}

/* A complete response: 1 when one is buffered (status, body offsets filled),
 * 0 when more bytes are needed, -1 when it cannot be parsed. */
static int
parse_response(Conn *c, guint *status, gsize *body_off, gsize *body_len, gboolean *close)
{
  const char *data = (const char *) c->in->data;
  const char *end = memmem(data, c->in->len, "\r\n\r\n", 4);
  if (end == NULL)
    return c->in->len > 16384 ? -1 : 0;
  gsize head_len = (gsize) (end - data) + 4;
  if (c->in->len < 12 || memcmp(data, "HTTP/1.1 ", 9) != 0)
    return -1;
  *status = (guint) g_ascii_strtoull(data + 9, NULL, 10);
  g_autofree char *head = g_ascii_strdown(data, (gssize) head_len);
  const char *cl = strstr(head, "\r\ncontent-length:");
  if (cl == NULL)
    return -1;
  gsize len = (gsize) g_ascii_strtoull(cl + 17, NULL, 10);
  *close = strstr(head, "\r\nconnection: close") != NULL;
  if (c->in->len < head_len + len)
    return 0;
  *body_off = head_len;
  *body_len = len;
  return 1;
}

static gboolean
check_response(Worker *w, Conn *c, guint status, const char *body)
{
  switch (shared.phase.kind) {
  case PH_PULL:
    if (status == 200 && strstr(body, "\"changes\":[]") != NULL)
      return TRUE;
    break;
  case PH_REDEEM:
    if (status == 200 && strstr(body, "\"result\":\"accepted\"") != NULL) {
      w->accepted++;
      return TRUE;
    }
    if (status == 200 && strstr(body, "\"result\":\"already-used\"") != NULL) {
      w->already_used++;
      return TRUE;
    }
    break;
  case PH_PUSH: {
    if (status != 200)
      break;
    guint stored = 0;
    for (const char *s = body; (s = strstr(s, "\"status\":\"stored\"")) != NULL; s++)
      stored++;
    w->events_stored += stored;
    if (stored == PUSH_BATCH)
      return TRUE;
    break;
  }
  case PH_ISSUE: {
    if (status != 201)
      break;
    g_autoptr(JsonNode) node = gk_json_parse_object(body, strlen(body), 65536, NULL);
    const char *text = node ? gk_json_get_string(json_node_get_object(node), "text", NULL) : NULL;
    if (text == NULL || !g_str_has_prefix(text, "GK1:"))
      break;
    g_free(shared.tickets->pdata[c->issue_slot]);
    shared.tickets->pdata[c->issue_slot] = g_strdup(text);
    return TRUE;
  }
  default:
    break;
  }
  if (w->first_error[0] == '\0')
    g_snprintf(w->first_error, sizeof w->first_error, "conn %u: HTTP %u: %.150s", c->index, status, body);
  w->failed++;
  return FALSE;
}

static gboolean
phase_is_request(PhaseKind k)
{
  return k == PH_PULL || k == PH_REDEEM || k == PH_PUSH || k == PH_ISSUE;
}

/* ---- the state machine ------------------------------------------------------------------- */

static void conn_drive(Worker *w, Conn *c);

static void
start_request(Worker *w, Conn *c, gint64 now)
{
  if (!make_request(w, c)) {
    c->next_at_us = G_MAXINT64;
    return;
  }
  /* Paced: latency counts from the scheduled time, so a late start is not hidden. */
  c->started_us = shared.phase.interval_us > 0 ? c->next_at_us : now;
  c->state = C_SENDING;
  conn_drive(w, c);
}

static void
on_handshake(Worker *w, Conn *c)
{
  Ident *id = &w->idents[c->ident];
  w->handshakes++;
  if (c->resume)
    w->offered++;
  if (c->resume && memcmp(c->ssl.session->master, id->session.master, 48) == 0)
    w->resumed++; /* mbedTLS 2.28: same master secret = the session was resumed */
  if (!id->have_session) {
    mbedtls_ssl_session_init(&id->session);
    if (mbedtls_ssl_get_session(&c->ssl, &id->session) == 0)
      id->have_session = TRUE;
  }
  PhaseKind k = shared.phase.kind;
  if (k == PH_HS_FULL || k == PH_HS_RESUMED) {
    (void) mbedtls_ssl_close_notify(&c->ssl);
    conn_kill(w, c);
    return;
  }
  c->state = C_READY;
  set_interest(w, c, EPOLLIN);
}

static void
conn_drive(Worker *w, Conn *c)
{
  int rc;
  switch (c->state) {
  case C_CONNECTING: {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
      fail(w, c, g_strerror(err ? err : errno), 0);
      conn_kill(w, c);
      return;
    }
    c->state = C_HANDSHAKE;
  }
    G_GNUC_FALLTHROUGH;
  case C_HANDSHAKE:
    rc = mbedtls_ssl_handshake(&c->ssl);
    if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) {
      want(w, c, rc);
      return;
    }
    if (rc != 0) {
      fail(w, c, "handshake", rc);
      conn_kill(w, c);
      return;
    }
    on_handshake(w, c);
    return;
  case C_SENDING:
    while (c->out_off < c->out->len) {
      rc = mbedtls_ssl_write(&c->ssl, (const unsigned char *) c->out->str + c->out_off, c->out->len - c->out_off);
      if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) {
        want(w, c, rc);
        return;
      }
      if (rc < 0) {
        fail(w, c, "write", rc);
        conn_kill(w, c);
        return;
      }
      c->out_off += (gsize) rc;
    }
    c->state = C_RECEIVING;
    set_interest(w, c, EPOLLIN);
    G_GNUC_FALLTHROUGH;
  case C_RECEIVING:
  case C_READY:
    for (;;) {
      unsigned char buf[READ_BUF];
      rc = mbedtls_ssl_read(&c->ssl, buf, sizeof buf);
      if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) {
        want(w, c, rc);
        return;
      }
      if (rc <= 0) {
        fail(w, c, c->state == C_READY ? "server closed an idle connection" : "read", rc);
        conn_kill(w, c);
        return;
      }
      if (c->state != C_RECEIVING) {
        fail(w, c, "bytes while idle", 0);
        conn_kill(w, c);
        return;
      }
      g_byte_array_append(c->in, buf, (guint) rc);
      guint status = 0;
      gsize off = 0, blen = 0;
      gboolean close_it = FALSE;
      int got = parse_response(c, &status, &off, &blen, &close_it);
      if (got < 0) {
        fail(w, c, "unparsable response", 0);
        conn_kill(w, c);
        return;
      }
      if (got == 0)
        continue;
      gint64 now = g_get_monotonic_time();
      g_autofree char *body = g_strndup((const char *) c->in->data + off, blen);
      if (check_response(w, c, status, body)) {
        w->ok++;
        guint32 us = (guint32) MIN(now - c->started_us, (gint64) G_MAXUINT32);
        g_array_append_val(w->lat_us, us);
        w->last_done_us = now;
      }
      c->seq++;
      if (close_it) {
        fail(w, c, "server asked to close", 0);
        conn_kill(w, c);
        return;
      }
      c->state = C_READY;
      if (shared.phase.interval_us > 0)
        c->next_at_us += shared.phase.interval_us;
      else
        c->next_at_us = now;
      if (c->next_at_us <= now && now < shared.phase.deadline_us)
        start_request(w, c, now);
      return;
    }
  case C_DEAD:
    return;
  }
}

/* ---- one phase on one thread --------------------------------------------------------------- */

static gpointer
worker_phase(gpointer data)
{
  Worker *w = data;
  const Phase *p = &shared.phase;
  struct epoll_event evs[256];
  GPtrArray *transient = g_ptr_array_new();
  guint device_idents = w->n_idents - 1;

  w->started = 0;
  if (phase_is_request(p->kind)) {
    for (guint i = 0; i < w->conns->len; i++) {
      Conn *c = w->conns->pdata[i];
      c->seq = 0;
      /* Paced: spread the first requests over one interval. */
      c->next_at_us = p->interval_us > 0 ? p->start_us + (gint64) c->index * p->interval_us / MAX(1u, p->total_conns)
                                         : p->start_us;
    }
  }

  for (;;) {
    gint64 now = g_get_monotonic_time();
    gint64 next_due = G_MAXINT64;
    guint busy = 0;

    if (p->kind == PH_HS_FULL || p->kind == PH_HS_RESUMED || p->kind == PH_OPEN) {
      /* Reap finished handshakes, keep @inflight going. */
      for (guint i = 0; i < transient->len;) {
        Conn *c = transient->pdata[i];
        if (c->state == C_DEAD) {
          conn_free(c);
          g_ptr_array_remove_index_fast(transient, i);
        } else if (c->state == C_READY) {
          g_ptr_array_add(w->conns, c);
          g_ptr_array_remove_index_fast(transient, i);
        } else {
          i++;
        }
      }
      gboolean more = p->kind == PH_OPEN ? w->started < p->open_per_thread : now < p->deadline_us;
      guint limit = p->kind == PH_OPEN ? MAX_CONNECTING : p->inflight;
      while (more && transient->len < limit) {
        guint ident = p->open_admin ? w->n_idents - 1 : w->started % device_idents;
        guint index = w->id + w->started * n_workers + (p->open_admin ? 100000 : 0);
        gboolean resume = p->kind == PH_HS_RESUMED || (p->kind == PH_OPEN && !p->open_admin);
        g_ptr_array_add(transient, conn_open(w, ident, index, resume));
        w->started++;
        more = p->kind == PH_OPEN ? w->started < p->open_per_thread : TRUE;
      }
      busy = transient->len;
    } else {
      for (guint i = 0; i < w->conns->len; i++) {
        Conn *c = w->conns->pdata[i];
        if (c->state == C_READY && now < p->deadline_us && c->next_at_us <= now) {
          start_request(w, c, now);
          now = g_get_monotonic_time();
        }
        if (c->state == C_SENDING || c->state == C_RECEIVING)
          busy++;
        else if (c->state == C_READY && c->next_at_us < next_due)
          next_due = c->next_at_us;
      }
    }
    if (busy == 0 && (now >= p->deadline_us || next_due == G_MAXINT64))
      break;

    int timeout = 50;
    if (next_due != G_MAXINT64 && next_due < p->deadline_us)
      timeout = (int) CLAMP((next_due - now + 999) / 1000, 0, 50);
    int n = epoll_wait(w->epfd, evs, G_N_ELEMENTS(evs), timeout);
    for (int i = 0; i < n; i++)
      conn_drive(w, evs[i].data.ptr);
    if (now > p->deadline_us + 30 * G_USEC_PER_SEC) {
      fail(w, NULL, "phase did not finish 30 s after its deadline", 0);
      break;
    }
  }
  for (guint i = 0; i < transient->len; i++)
    conn_free(transient->pdata[i]);
  g_ptr_array_free(transient, TRUE);
  g_atomic_int_dec_and_test(&workers_running);
  /* Connections that died during the phase are gone for good. */
  for (guint i = 0; i < w->conns->len;) {
    Conn *c = w->conns->pdata[i];
    if (c->state == C_DEAD) {
      conn_free(c);
      g_ptr_array_remove_index_fast(w->conns, i);
    } else {
      i++;
    }
  }
  return NULL;
}

typedef struct {
  double seconds;
  guint64 ok, failed, handshakes, offered, resumed, accepted, already_used, events_stored;
  GArray *lat_us;
  char first_error[200];
  double server_cpu_s;
  long peak_threads; /* the server's, sampled while the phase ran */
} Result;

static char *server_pid;

typedef struct {
  long threads;
  long rss_kb;
} ProcInfo;
static ProcInfo server_proc(void);

static double
server_cpu_seconds(void)
{
  g_autofree char *path = g_strdup_printf("/proc/%s/stat", server_pid);
  g_autofree char *text = NULL;
  if (!g_file_get_contents(path, &text, NULL, NULL))
    return 0;
  const char *p = strrchr(text, ')');
  if (p == NULL)
    return 0;
  g_auto(GStrv) f = g_strsplit(p + 2, " ", 0);
  /* Fields after the name: state is 0, utime is 11, stime is 12. */
  if (g_strv_length(f) < 13)
    return 0;
  return (double) (g_ascii_strtoull(f[11], NULL, 10) + g_ascii_strtoull(f[12], NULL, 10)) /
         (double) sysconf(_SC_CLK_TCK);
}

static void
run_phase(const Phase *phase, Result *r)
{
  shared.phase = *phase;
  gint64 t0 = g_get_monotonic_time();
  shared.phase.start_us = t0;
  if (shared.phase.deadline_us == 0)
    shared.phase.deadline_us = G_MAXINT64 - 60 * G_USEC_PER_SEC;
  double cpu0 = server_cpu_seconds();
  g_atomic_int_set(&workers_running, (gint) n_workers);
  for (guint i = 0; i < n_workers; i++) {
    Worker *w = &workers[i];
    g_array_set_size(w->lat_us, 0);
    w->ok = w->failed = w->handshakes = w->offered = w->resumed = w->accepted = w->already_used = w->events_stored = 0;
    w->last_done_us = t0;
    w->thread = g_thread_new("bench-client", worker_phase, w);
  }
  memset(r, 0, sizeof *r);
  r->lat_us = g_array_new(FALSE, FALSE, sizeof(guint32));
  while (g_atomic_int_get(&workers_running) > 0) {
    r->peak_threads = MAX(r->peak_threads, server_proc().threads);
    g_usleep(20000);
  }
  gint64 end = t0;
  for (guint i = 0; i < n_workers; i++) {
    Worker *w = &workers[i];
    g_thread_join(w->thread);
    r->ok += w->ok;
    r->failed += w->failed;
    r->handshakes += w->handshakes;
    r->offered += w->offered;
    r->resumed += w->resumed;
    r->accepted += w->accepted;
    r->already_used += w->already_used;
    r->events_stored += w->events_stored;
    g_array_append_vals(r->lat_us, w->lat_us->data, w->lat_us->len);
    if (r->first_error[0] == '\0' && w->first_error[0] != '\0')
      g_strlcpy(r->first_error, w->first_error, sizeof r->first_error);
    w->first_error[0] = '\0';
    end = MAX(end, w->last_done_us);
  }
  /* Handshake phases run to their deadline; request phases until the last answer. */
  gint64 stop = phase_is_request(phase->kind) ? end : g_get_monotonic_time();
  r->seconds = (double) (stop - t0) / G_USEC_PER_SEC;
  r->server_cpu_s = server_cpu_seconds() - cpu0;
}

static int
cmp_u32(gconstpointer a, gconstpointer b)
{
  guint32 x = *(const guint32 *) a, y = *(const guint32 *) b;
  return x < y ? -1 : x > y;
}

static double
percentile_ms(GArray *lat, double q)
{
  if (lat->len == 0)
    return 0;
  g_array_sort(lat, cmp_u32);
  guint i = (guint) (q * (lat->len - 1) + 0.5);
  return g_array_index(lat, guint32, i) / 1000.0;
}

static guint
conns_open(void)
{
  guint n = 0;
  for (guint i = 0; i < n_workers; i++)
    n += workers[i].conns->len;
  return n;
}

static void
close_all(void)
{
  for (guint i = 0; i < n_workers; i++) {
    Worker *w = &workers[i];
    for (guint k = 0; k < w->conns->len; k++) {
      Conn *c = w->conns->pdata[k];
      if (c->state == C_READY)
        (void) mbedtls_ssl_close_notify(&c->ssl);
      conn_free(c);
    }
    g_ptr_array_set_size(w->conns, 0);
  }
}

/* ---- setup --------------------------------------------------------------------------------- */

static void
worker_init(Worker *w, guint id, GkTestDevice **devices, guint n_devices, const char *ca_path)
{
  w->id = id;
  w->epfd = epoll_create1(EPOLL_CLOEXEC);
  g_assert_cmpint(w->epfd, >=, 0);
  w->conns = g_ptr_array_new();
  w->lat_us = g_array_new(FALSE, FALSE, sizeof(guint32));
  mbedtls_entropy_init(&w->entropy);
  mbedtls_ctr_drbg_init(&w->drbg);
  mbedtls_x509_crt_init(&w->ca);
  g_assert_cmpint(mbedtls_ctr_drbg_seed(&w->drbg, mbedtls_entropy_func, &w->entropy, (const unsigned char *) "bench", 5),
                  ==, 0);
  g_assert_cmpint(mbedtls_x509_crt_parse_file(&w->ca, ca_path), ==, 0);
  /* Every thread parses its own keys: mbedTLS 2.28 caches curve tables inside the
   * key's group on first use, which is not safe to share between threads. */
  w->n_idents = n_devices + 1;
  w->idents = g_new0(Ident, w->n_idents);
  for (guint i = 0; i < w->n_idents; i++) {
    Ident *d = &w->idents[i];
    mbedtls_ssl_config_init(&d->conf);
    mbedtls_x509_crt_init(&d->cert);
    mbedtls_pk_init(&d->key);
    g_assert_cmpint(mbedtls_ssl_config_defaults(&d->conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                                MBEDTLS_SSL_PRESET_DEFAULT),
                    ==, 0);
    mbedtls_ssl_conf_authmode(&d->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_ca_chain(&d->conf, &w->ca, NULL);
    mbedtls_ssl_conf_rng(&d->conf, mbedtls_ctr_drbg_random, &w->drbg);
    mbedtls_ssl_conf_session_tickets(&d->conf, MBEDTLS_SSL_SESSION_TICKETS_ENABLED);
    if (i < n_devices) {
      const GkTestDevice *dev = devices[i];
      g_assert_cmpint(mbedtls_x509_crt_parse(&d->cert, (const unsigned char *) dev->cert_pem, strlen(dev->cert_pem) + 1),
                      ==, 0);
      g_assert_cmpint(mbedtls_pk_parse_key(&d->key, (const unsigned char *) dev->key_pem, strlen(dev->key_pem) + 1,
                                           NULL, 0),
                      ==, 0);
      g_assert_cmpint(mbedtls_ssl_conf_own_cert(&d->conf, &d->cert, &d->key), ==, 0);
    }
  }
}

static void
worker_free(Worker *w)
{
  for (guint i = 0; i < w->n_idents; i++) {
    Ident *d = &w->idents[i];
    if (d->have_session)
      mbedtls_ssl_session_free(&d->session);
    mbedtls_ssl_config_free(&d->conf);
    mbedtls_x509_crt_free(&d->cert);
    mbedtls_pk_free(&d->key);
  }
  g_free(w->idents);
  mbedtls_x509_crt_free(&w->ca);
  mbedtls_ctr_drbg_free(&w->drbg);
  mbedtls_entropy_free(&w->entropy);
  g_ptr_array_free(w->conns, TRUE);
  g_array_free(w->lat_us, TRUE);
  close(w->epfd);
}

static ProcInfo
server_proc(void)
{
  ProcInfo info = { -1, -1 };
  g_autofree char *path = g_strdup_printf("/proc/%s/status", server_pid);
  g_autofree char *text = NULL;
  if (!g_file_get_contents(path, &text, NULL, NULL))
    return info;
  const char *t = strstr(text, "\nThreads:"), *r = strstr(text, "\nVmRSS:");
  if (t != NULL)
    info.threads = strtol(t + 9, NULL, 10);
  if (r != NULL)
    info.rss_kb = strtol(r + 7, NULL, 10);
  return info;
}

static guint failures;

static void
check(gboolean ok, const char *what)
{
  if (!ok) {
    printf("FAILED: %s\n", what);
    failures++;
  }
}

static void
check_result(const char *name, const Result *r)
{
  if (r->failed > 0) {
    printf("FAILED: %s: %" G_GUINT64_FORMAT " failed (first: %s)\n", name, r->failed, r->first_error);
    failures++;
  }
}

/* Latest feed cursor: pull from @from until "more" is false. */
static gint64
latest_cursor(GkTestServer *s, GkTestDevice *d, gint64 from)
{
  GkTestClient c = { .ca_path = s->ca_path, .cert_pem = d->cert_pem, .key_pem = d->key_pem };
  for (;;) {
    g_autofree char *url = g_strdup_printf("%s/v1/sync/pull?cursor=%" G_GINT64_FORMAT "&limit=1000", s->device_url, from);
    g_autoptr(JsonNode) reply = NULL;
    g_assert_cmpint(gk_test_request(&c, "GET", url, NULL, &reply, NULL), ==, 200);
    from = gk_test_json_int(reply, "cursor");
    if (!gk_json_get_bool(json_node_get_object(reply), "more", FALSE))
      return from;
  }
}

static void
print_lat(const char *label, Result *r)
{
  double rps = r->seconds > 0 ? (double) r->ok / r->seconds : 0;
  printf("  %-44s %8.0f req/s  p50 %7.2f ms  p99 %7.2f ms  (%" G_GUINT64_FORMAT " ok, %" G_GUINT64_FORMAT
         " failed, %.1f s; server CPU %.2f ms/req, up to %ld threads)\n",
         label, rps, percentile_ms(r->lat_us, 0.50), percentile_ms(r->lat_us, 0.99), r->ok, r->failed, r->seconds,
         r->ok ? r->server_cpu_s * 1000.0 / (double) r->ok : 0.0, r->peak_threads);
}

static void
issue_tickets(guint n)
{
  g_ptr_array_set_size(shared.tickets, 0);
  for (guint i = 0; i < n; i++)
    g_ptr_array_add(shared.tickets, NULL);
  shared.tickets_wanted = n;
  shared.issued = 0;
  shared.fresh = 0;
  Phase open = { .kind = PH_OPEN, .open_per_thread = 2, .open_admin = TRUE };
  Result r;
  run_phase(&open, &r);
  check_result("admin connections", &r);
  g_array_free(r.lat_us, TRUE);
  Phase issue = { .kind = PH_ISSUE, .deadline_us = 0 };
  run_phase(&issue, &r);
  check_result("ticket issue", &r);
  printf("  issued %u tickets over %u admin keep-alive connections in %.1f s (%.0f/s)\n", n, conns_open(), r.seconds,
         r.seconds > 0 ? n / r.seconds : 0);
  g_array_free(r.lat_us, TRUE);
  close_all();
  for (guint i = 0; i < n; i++)
    g_assert_nonnull(shared.tickets->pdata[i]);
}

int
main(int argc, char **argv)
{
  gboolean quick = FALSE;
  double secs = 5.0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--quick") == 0) {
      quick = TRUE;
    } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
      n_workers = (guint) CLAMP(g_ascii_strtoull(argv[++i], NULL, 10), 1, MAX_THREADS);
    } else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
      secs = g_ascii_strtod(argv[++i], NULL);
    } else {
      fprintf(stderr, "usage: %s [--quick] [--threads N] [--seconds S]\n", argv[0]);
      return 2;
    }
  }
  if (quick)
    secs = MIN(secs, 1.0);
  gint64 phase_us = (gint64) (secs * G_USEC_PER_SEC);
  signal(SIGPIPE, SIG_IGN);

  /* Each simulated device holds a descriptor here and one in the server. */
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  rlim_t before = rl.rlim_cur;
  rl.rlim_cur = rl.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
    rl.rlim_cur = before;
  static const guint full_sizes[] = { 100, 1000 };
  static const guint quick_sizes[] = { 50 };
  const guint *sizes = quick ? quick_sizes : full_sizes;
  guint n_sizes = quick ? 1 : 2;
  guint largest = sizes[n_sizes - 1];
  printf("bench-server (%s): %u client threads, %ld CPUs, RLIMIT_NOFILE %lu (was %lu, hard %lu)\n",
         quick ? "quick" : "full", n_workers, sysconf(_SC_NPROCESSORS_ONLN), (unsigned long) rl.rlim_cur,
         (unsigned long) before, (unsigned long) rl.rlim_max);
  if (rl.rlim_cur < largest + 64) {
    printf("FAILED: the hard limit on open files (%lu) is too low for %u connections\n", (unsigned long) rl.rlim_max,
           largest);
    return 1;
  }

  GkTestServer *s = gk_test_server_init();
  gk_test_server_configure(s, "[limits]\nmax-connections-per-ip=5000\n");
  gk_test_server_start(s);
  server_pid = g_strdup(g_subprocess_get_identifier(s->process));
  g_autofree char *token = gk_test_server_login_owner(s, OWNER_PW);
  shared.device_port = s->device_port;
  shared.admin_port = s->admin_port;
  shared.token = token;
  shared.tickets = g_ptr_array_new_with_free_func(g_free);

  guint n_devices = quick ? 2 : 8;
  GkTestDevice *devices[8];
  for (guint i = 0; i < n_devices; i++) {
    g_autofree char *name = g_strdup_printf("Bench gate %u", i + 1);
    devices[i] = gk_test_enroll_device(s, token, name, "gate");
  }
  {
    GkTestClient admin = { .ca_path = s->ca_path, .token = token };
    g_autofree char *url = g_strconcat(s->admin_url, "/v1/hosts", NULL);
    g_autoptr(JsonNode) reply = NULL;
    g_assert_cmpint(gk_test_request(&admin, "POST", url, "{\"name\":\"Bench Host\"}", &reply, NULL), ==, 201);
    shared.host_id = gk_test_json_int(reply, "id");
  }
  for (guint i = 0; i < n_workers; i++)
    worker_init(&workers[i], i, devices, n_devices, s->ca_path);
  struct statfs sfs;
  long fs_type = statfs(s->data_dir, &sfs) == 0 ? (long) sfs.f_type : 0;
  printf("data dir %s on a filesystem of type 0x%lx%s (the store commits with synchronous=FULL)\n", s->data_dir,
         fs_type, fs_type == 0x01021994 ? " (tmpfs: fsync costs nothing)" : fs_type == 0xEF53 ? " (ext2/3/4)" : "");
  printf("server pid %s, %u enrolled devices whose certificates the simulated devices share, server workers=4 "
         "(default)\n\n", server_pid, n_devices);
  ProcInfo boot = server_proc();

  /* (a) handshakes. The first full handshake of each thread and device saves the session. */
  Result full, resumed;
  guint inflight = quick ? 8 : 16;
  Phase hs_full = { .kind = PH_HS_FULL, .inflight = inflight };
  hs_full.deadline_us = g_get_monotonic_time() + phase_us;
  run_phase(&hs_full, &full);
  Phase hs_res = { .kind = PH_HS_RESUMED, .inflight = inflight };
  hs_res.deadline_us = g_get_monotonic_time() + phase_us;
  run_phase(&hs_res, &resumed);
  double full_rate = full.handshakes / full.seconds, res_rate = resumed.handshakes / resumed.seconds;
  gboolean have_ticket = workers[0].idents[0].have_session && workers[0].idents[0].session.ticket_len > 0;
  printf("(a) TLS handshakes, device port, mutual TLS, %u in flight per thread:\n", inflight);
  printf("  full handshakes     %8.0f /s  (%" G_GUINT64_FORMAT " in %.1f s; server CPU %.2f ms each)\n", full_rate,
         full.handshakes, full.seconds, full.handshakes ? full.server_cpu_s * 1000 / full.handshakes : 0.0);
  printf("  resumed handshakes  %8.0f /s  (%" G_GUINT64_FORMAT " handshakes in %.1f s, %" G_GUINT64_FORMAT " of %"
         G_GUINT64_FORMAT " offered sessions resumed; server CPU %.2f ms each; session ticket received: %s)\n",
         res_rate, resumed.handshakes, resumed.seconds, resumed.resumed, resumed.offered,
         resumed.handshakes ? resumed.server_cpu_s * 1000 / resumed.handshakes : 0.0, have_ticket ? "yes" : "no");
  printf("  resumed / full      %8.1f x\n", full_rate > 0 ? res_rate / full_rate : 0);
  check_result("full handshakes", &full);
  check_result("resumed handshakes", &resumed);
  check(full.handshakes > 0, "no full handshake completed");
  gboolean resumption_ok = resumed.offered > 0 && resumed.resumed * 10 >= resumed.offered * 9 &&
                          resumed.offered * 10 >= resumed.handshakes * 9;
  check(resumption_ok, "sessions were not resumed (fewer than 90% of offered sessions)");
  g_array_free(full.lat_us, TRUE);
  g_array_free(resumed.lat_us, TRUE);

  /* (b) keep-alive connections under load; (d) what they cost while idle. */
  double p99_closed_1000 = -1, p99_paced_1000 = -1;
  ProcInfo idle_small = { -1, -1 }, idle_large = { -1, -1 }, idle_none = { -1, -1 };
  guint idle_small_n = 0, idle_large_n = 0;
  for (guint si = 0; si < n_sizes; si++) {
    guint n = sizes[si];
    shared.cursor = 0;
    printf("\n(b) %u keep-alive device connections:\n", n);
    guint n_tickets = quick ? 500 : 5000;
    issue_tickets(n_tickets);
    shared.cursor = latest_cursor(s, devices[0], 0);
    g_usleep(500 * 1000);
    ProcInfo none = server_proc();

    Phase open = { .kind = PH_OPEN, .open_per_thread = (n + n_workers - 1) / n_workers };
    gint64 t0 = g_get_monotonic_time();
    Result r;
    run_phase(&open, &r);
    check_result("open connections", &r);
    printf("  opened %u connections in %.2f s (resumed handshakes: %" G_GUINT64_FORMAT ")\n", conns_open(),
           (g_get_monotonic_time() - t0) / 1e6, r.resumed);
    check(conns_open() == n, "not every connection opened");
    g_array_free(r.lat_us, TRUE);
    g_usleep(1000 * 1000); /* let them sit idle */
    ProcInfo idle = server_proc();
    printf("  server while they are idle: %ld threads, RSS %ld kB (with no device connection: %ld threads, RSS %ld kB;"
           " %.1f kB per connection)\n",
           idle.threads, idle.rss_kb, none.threads, none.rss_kb, (double) (idle.rss_kb - none.rss_kb) / n);
    if (si == 0) {
      idle_small = idle;
      idle_small_n = n;
      idle_none = none;
    }
    idle_large = idle;
    idle_large_n = n;

    Phase pull = { .kind = PH_PULL, .total_conns = n };
    pull.deadline_us = g_get_monotonic_time() + phase_us;
    run_phase(&pull, &r);
    g_autofree char *l1 = g_strdup_printf("pull, closed loop (%u outstanding)", n);
    print_lat(l1, &r);
    check_result("pull (closed loop)", &r);
    check(r.ok > 0, "no pull succeeded");
    if (n == 1000)
      p99_closed_1000 = percentile_ms(r.lat_us, 0.99);
    g_array_free(r.lat_us, TRUE);

    Phase paced = { .kind = PH_PULL, .total_conns = n, .interval_us = G_USEC_PER_SEC };
    paced.deadline_us = g_get_monotonic_time() + MAX(phase_us, G_USEC_PER_SEC);
    run_phase(&paced, &r);
    g_autofree char *l2 = g_strdup_printf("pull, paced (1 per device per s = %u/s)", n);
    print_lat(l2, &r);
    check_result("pull (paced)", &r);
    if (n == 1000)
      p99_paced_1000 = percentile_ms(r.lat_us, 0.99);
    g_array_free(r.lat_us, TRUE);

    Phase redeem = { .kind = PH_REDEEM, .total_conns = n, .run = si };
    redeem.deadline_us = g_get_monotonic_time() + phase_us;
    run_phase(&redeem, &r);
    g_autofree char *l3 = g_strdup_printf("redeem, closed loop (%u outstanding)", n);
    print_lat(l3, &r);
    printf("  %-44s %" G_GUINT64_FORMAT " accepted, %" G_GUINT64_FORMAT " already-used (%u tickets issued)\n", "",
           r.accepted, r.already_used, n_tickets);
    check_result("redeem", &r);
    check(r.accepted > 0 && r.already_used > 0, "redeem did not see both accepted and already-used answers");
    g_array_free(r.lat_us, TRUE);
    close_all();
  }

  /* (c) durable ingest: batches of PUSH_BATCH events from several connections. */
  guint pushers = quick ? 4 : 8;
  printf("\n(c) event ingest: POST /v1/sync/push, %d events per batch, %u connections in parallel:\n", PUSH_BATCH,
         pushers);
  Phase open = { .kind = PH_OPEN, .open_per_thread = (pushers + n_workers - 1) / n_workers };
  Result r;
  run_phase(&open, &r);
  check_result("open push connections", &r);
  g_array_free(r.lat_us, TRUE);
  Phase push = { .kind = PH_PUSH, .total_conns = pushers, .run = 7 };
  push.deadline_us = g_get_monotonic_time() + phase_us;
  run_phase(&push, &r);
  double ev_rate = r.seconds > 0 ? r.events_stored / r.seconds : 0;
  printf("  %8.0f events/s acknowledged (%" G_GUINT64_FORMAT " events in %" G_GUINT64_FORMAT
         " batches, %.1f s; batch p50 %.1f ms, p99 %.1f ms; server CPU %.3f ms/event, up to %ld threads)\n",
         ev_rate, r.events_stored, r.ok, r.seconds, percentile_ms(r.lat_us, 0.5), percentile_ms(r.lat_us, 0.99),
         r.events_stored ? r.server_cpu_s * 1000 / r.events_stored : 0.0, r.peak_threads);
  check_result("push", &r);
  check(r.ok > 0, "no push batch was acknowledged");
  g_array_free(r.lat_us, TRUE);
  close_all();

  /* (d) */
  printf("\n(d) idle cost (server process, /proc/%s/status):\n", server_pid);
  printf("  at start: %ld threads, RSS %ld kB\n", boot.threads, boot.rss_kb);
  printf("  0 device connections: %ld threads, RSS %ld kB\n", idle_none.threads, idle_none.rss_kb);
  printf("  %u idle connections: %ld threads, RSS %ld kB\n", idle_small_n, idle_small.threads, idle_small.rss_kb);
  if (idle_large_n != idle_small_n)
    printf("  %u idle connections: %ld threads, RSS %ld kB\n", idle_large_n, idle_large.threads, idle_large.rss_kb);
  /* Workers (4) may start on demand; anything beyond that grows with connections. */
  gboolean threads_flat = idle_large.threads > 0 && idle_large.threads <= idle_none.threads + 4 &&
                          idle_large.threads <= idle_small.threads + 4 && (guint) idle_large.threads < idle_large_n / 2;
  check(threads_flat, "the server's thread count grows with connections");

  printf("\ntargets:\n");
  printf("  ingest >= 5000 events/s (batched, durable): %.0f events/s  %s\n", ev_rate, ev_rate >= 5000 ? "met" : "NOT met");
  if (p99_closed_1000 >= 0) {
    printf("  p99 sync latency < 100 ms at 1000 devices, paced 1 pull/s each: %.2f ms  %s\n", p99_paced_1000,
           p99_paced_1000 < 100 ? "met" : "NOT met");
    printf("  p99 sync latency < 100 ms at 1000 devices, all pulling back to back: %.2f ms  %s\n", p99_closed_1000,
           p99_closed_1000 < 100 ? "met" : "NOT met");
  } else {
    printf("  p99 sync latency at 1000 devices: not measured in quick mode\n");
  }
  printf("  TLS resumption enabled: %s  %s\n", resumption_ok ? "sessions resumed" : "no resumption",
         resumption_ok ? "met" : "NOT met");
  printf("  %u idle connections without %u threads: %ld threads  %s\n", idle_large_n, idle_large_n, idle_large.threads,
         threads_flat ? "met" : "NOT met");

  for (guint i = 0; i < n_workers; i++)
    worker_free(&workers[i]);
  for (guint i = 0; i < n_devices; i++)
    gk_test_device_free(devices[i]);
  gk_test_server_stop(s);
  if (failures > 0) {
    g_autofree char *log = gk_test_server_log(s);
    gsize len = strlen(log);
    printf("\nserver log (tail):\n%s\n", log + (len > 4000 ? len - 4000 : 0));
  }
  gk_test_server_free(s);
  g_ptr_array_unref(shared.tickets);
  g_free(server_pid);
  printf("\n%s\n", failures ? "bench-server: FAILED" : "bench-server: ok");
  return failures ? 1 : 0;
}
