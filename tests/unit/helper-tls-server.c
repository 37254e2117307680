/* A tiny TLS server on srv-tls for integration tests and scanners (sslscan, curl):
 * serves handshakes on 127.0.0.1 forever and answers every request with HTTP 200.
 *
 *   helper-tls-server DIR device|admin PORT
 *
 * DIR gets a CA (ca.crt), a server certificate for localhost/127.0.0.1/::1
 * (server.crt/.key) and a device certificate (device.crt/.key) the first time.
 * Serials listed in DIR/revoked (hex, one per line) are refused on the device port.
 * PORT 0 picks a free port. The chosen port is printed as "port=N" on stdout; one
 * key=value line per connection goes to stderr. SIGINT/SIGTERM stop it. */
#include "gk-secure-file.h"
#include "srv-ca.h"
#include "srv-tls.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CONNS 64
#define CONN_TIMEOUT_US (10 * G_USEC_PER_SEC)

typedef enum { PHASE_HANDSHAKE, PHASE_READ, PHASE_WRITE, PHASE_CLOSE } Phase;

typedef struct {
  int fd;
  SrvTlsConnection *tls;
  Phase phase;
  short events;
  gint64 deadline;
  gsize head_len;
  char head[8192];
  gsize sent;
} Conn;

static const char reply[] =
  "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n";

static volatile sig_atomic_t stopping;

static void
on_signal(int sig)
{
  stopping = 1;
}

static gboolean
ensure_pki(const char *dir, GError **error)
{
  g_autofree char *ca_crt = g_build_filename(dir, SRV_CA_CERT_FILE, NULL);
  g_autofree char *server_crt = g_build_filename(dir, "server.crt", NULL);
  g_autofree char *server_key = g_build_filename(dir, "server.key", NULL);
  g_autofree char *device_crt = g_build_filename(dir, "device.crt", NULL);
  g_autofree char *device_key = g_build_filename(dir, "device.key", NULL);
  const char *const ips[] = { "127.0.0.1", "::1", NULL };
  g_autoptr(SrvCa) ca = NULL;

  if (g_file_test(ca_crt, G_FILE_TEST_EXISTS))
    ca = srv_ca_open(dir, error);
  else
    ca = srv_ca_create(dir, "Genkan Helper CA", error);
  if (ca == NULL)
    return FALSE;
  if (!g_file_test(server_crt, G_FILE_TEST_EXISTS) &&
      !srv_ca_issue_server_cert(ca, "localhost", ips, server_crt, server_key, error))
    return FALSE;
  if (!g_file_test(device_crt, G_FILE_TEST_EXISTS)) {
    g_autofree char *key = NULL, *csr = NULL, *pem = NULL;
    if (!srv_ca_make_key_and_csr("helper-device", &key, &csr, error))
      return FALSE;
    pem = srv_ca_sign_device_csr(ca, (const guint8 *) csr, strlen(csr), "helper-device", 30,
                                 NULL, error);
    gboolean ok = pem != NULL && gk_secure_file_write(device_key, key, strlen(key), FALSE, error) &&
                  g_file_set_contents(device_crt, pem, -1, error);
    memset(key, 0, strlen(key));
    if (!ok)
      return FALSE;
  }
  return TRUE;
}

/* Re-reads DIR/revoked at every handshake: slow, but a test can revoke at any time. */
static gboolean
is_revoked(const guint8 serial[], size_t len, void *user)
{
  const char *path = user;
  g_autofree char *text = NULL;
  g_autofree char *hex = srv_ca_hex(serial, len);
  if (!g_file_get_contents(path, &text, NULL, NULL))
    return FALSE;
  g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++) {
    if (g_ascii_strcasecmp(g_strstrip(lines[i]), hex) == 0)
      return TRUE;
  }
  return FALSE;
}

static void
conn_finish(Conn *c, const char *what)
{
  if (what != NULL)
    fprintf(stderr, "conn=closed state=%s\n", what);
  srv_tls_connection_free(c->tls);
  close(c->fd);
  memset(c, 0, sizeof *c);
  c->fd = -1;
}

static void
log_established(Conn *c)
{
  guint8 serial[SRV_TLS_SERIAL_MAX];
  size_t len = 0;
  g_autofree char *hex = NULL;
  if (srv_tls_connection_peer_serial(c->tls, serial, &len))
    hex = srv_ca_hex(serial, len);
  fprintf(stderr, "tls=ok suite=%s resumed=%d serial=%s\n", srv_tls_connection_ciphersuite(c->tls),
          srv_tls_connection_is_resumed(c->tls), hex ? hex : "-");
}

/* Advances one connection as far as it goes; sets c->events to wait for. */
static void
conn_advance(Conn *c)
{
  for (;;) {
    switch (c->phase) {
    case PHASE_HANDSHAKE: {
      SrvTlsStatus st = srv_tls_handshake_step(c->tls);
      if (st == SRV_TLS_WANT_READ || st == SRV_TLS_WANT_WRITE) {
        c->events = st == SRV_TLS_WANT_READ ? POLLIN : POLLOUT;
        return;
      }
      if (st != SRV_TLS_OK) {
        const char *reason = srv_tls_connection_failure_reason(c->tls);
        fprintf(stderr, "tls=fail reason=%s\n", reason ? reason : "closed");
        conn_finish(c, NULL);
        return;
      }
      log_established(c);
      c->phase = PHASE_READ;
      break;
    }
    case PHASE_READ: {
      ssize_t n = srv_tls_read(c->tls, c->head + c->head_len, sizeof c->head - 1 - c->head_len);
      if (n == SRV_TLS_WANT_READ || n == SRV_TLS_WANT_WRITE) {
        c->events = n == SRV_TLS_WANT_READ ? POLLIN : POLLOUT;
        return;
      }
      if (n <= 0) {
        conn_finish(c, NULL); /* handshake-only clients (scanners) end here */
        return;
      }
      c->head_len += (gsize) n;
      c->head[c->head_len] = 0;
      if (strstr(c->head, "\r\n\r\n") != NULL || c->head_len == sizeof c->head - 1)
        c->phase = PHASE_WRITE;
      break;
    }
    case PHASE_WRITE: {
      ssize_t n = srv_tls_write(c->tls, reply + c->sent, sizeof reply - 1 - c->sent);
      if (n == SRV_TLS_WANT_READ || n == SRV_TLS_WANT_WRITE) {
        c->events = n == SRV_TLS_WANT_READ ? POLLIN : POLLOUT;
        return;
      }
      if (n <= 0) {
        conn_finish(c, "write-failed");
        return;
      }
      c->sent += (gsize) n;
      if (c->sent == sizeof reply - 1)
        c->phase = PHASE_CLOSE;
      break;
    }
    case PHASE_CLOSE: {
      SrvTlsStatus st = srv_tls_close_notify(c->tls);
      if (st == SRV_TLS_WANT_READ || st == SRV_TLS_WANT_WRITE) {
        c->events = st == SRV_TLS_WANT_READ ? POLLIN : POLLOUT;
        return;
      }
      conn_finish(c, NULL);
      return;
    }
    }
  }
}

static int
listen_on(guint16 port, guint16 *out_port)
{
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  socklen_t alen = sizeof addr;
  int one = 1;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return -1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      bind(fd, (struct sockaddr *) &addr, sizeof addr) != 0 || listen(fd, 64) != 0 ||
      getsockname(fd, (struct sockaddr *) &addr, &alen) != 0) {
    close(fd);
    return -1;
  }
  *out_port = ntohs(addr.sin_port);
  return fd;
}

int
main(int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  SrvTlsContext *ctx = NULL;
  Conn conns[MAX_CONNS];
  struct pollfd pfds[MAX_CONNS + 1];
  int listen_fd = -1;
  int status = 1;
  guint64 port_arg = 0;

  for (guint i = 0; i < MAX_CONNS; i++) {
    memset(&conns[i], 0, sizeof conns[i]);
    conns[i].fd = -1;
  }
  if (argc != 4 || (strcmp(argv[2], "device") != 0 && strcmp(argv[2], "admin") != 0) ||
      !g_ascii_string_to_unsigned(argv[3], 10, 0, 65535, &port_arg, NULL)) {
    fprintf(stderr, "usage: %s DIR device|admin PORT\n", argv[0]);
    return 2;
  }
  const char *dir = argv[1];
  SrvTlsRole role = strcmp(argv[2], "device") == 0 ? SRV_TLS_DEVICE_PORT : SRV_TLS_ADMIN_PORT;
  g_autofree char *ca_crt = g_build_filename(dir, SRV_CA_CERT_FILE, NULL);
  g_autofree char *server_crt = g_build_filename(dir, "server.crt", NULL);
  g_autofree char *server_key = g_build_filename(dir, "server.key", NULL);
  g_autofree char *revoked = g_build_filename(dir, "revoked", NULL);
  guint16 port = 0;

  signal(SIGPIPE, SIG_IGN);
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);

  if (!ensure_pki(dir, &error))
    goto out;
  ctx = srv_tls_context_new(role, server_crt, server_key,
                            role == SRV_TLS_DEVICE_PORT ? ca_crt : NULL, &error);
  if (ctx == NULL)
    goto out;
  srv_tls_context_set_revocation_check(ctx, is_revoked, revoked);
  listen_fd = listen_on((guint16) port_arg, &port);
  if (listen_fd < 0) {
    fprintf(stderr, "cannot listen on 127.0.0.1:%u: %s\n", (unsigned) port_arg, g_strerror(errno));
    goto out;
  }
  printf("port=%u\n", port);
  fflush(stdout);

  while (!stopping) {
    guint map[MAX_CONNS];
    nfds_t n = 0;
    pfds[n++] = (struct pollfd){ .fd = listen_fd, .events = POLLIN };
    for (guint i = 0; i < MAX_CONNS; i++) {
      if (conns[i].fd < 0)
        continue;
      map[n - 1] = i;
      pfds[n++] = (struct pollfd){ .fd = conns[i].fd, .events = conns[i].events };
    }
    int ready = poll(pfds, n, 500);
    if (ready < 0 && errno != EINTR)
      break;
    gint64 now = g_get_monotonic_time();
    for (nfds_t k = 1; k < n; k++) {
      Conn *c = &conns[map[k - 1]];
      if (ready > 0 && pfds[k].revents != 0)
        conn_advance(c);
      else if (now > c->deadline)
        conn_finish(c, "timeout");
    }
    if (ready > 0 && (pfds[0].revents & POLLIN)) {
      for (;;) {
        int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
          break;
        guint slot = MAX_CONNS;
        for (guint i = 0; i < MAX_CONNS && slot == MAX_CONNS; i++)
          if (conns[i].fd < 0)
            slot = i;
        if (slot == MAX_CONNS) {
          close(fd); /* full: the client retries */
          continue;
        }
        conns[slot].fd = fd;
        conns[slot].tls = srv_tls_connection_new(ctx, fd);
        conns[slot].phase = PHASE_HANDSHAKE;
        conns[slot].deadline = now + CONN_TIMEOUT_US;
        conn_advance(&conns[slot]);
      }
    }
  }
  status = 0;
out:
  if (error != NULL)
    fprintf(stderr, "helper-tls-server: %s\n", error->message);
  for (guint i = 0; i < MAX_CONNS; i++)
    if (conns[i].fd >= 0)
      conn_finish(&conns[i], NULL);
  if (listen_fd >= 0)
    close(listen_fd);
  srv_tls_context_free(ctx);
  return status;
}
