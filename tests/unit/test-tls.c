/* Tests of srv-tls: real handshakes over loopback TCP with the server side
 * non-blocking in the test thread and an mbedTLS or libcurl client in another. */
#include "gk-secure-file.h"
#include "gk-test-util.h"
#include "srv-ca.h"
#include "srv-tls.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#define IO_TIMEOUT_MS 15000

/* --- test PKI, made once ------------------------------------------------------------ */

typedef struct {
  char *dir;
  char *ca;              /* device CA certificate */
  char *server_crt, *server_key;
  char *dev_crt, *dev_key;
  guint8 dev_serial[SRV_CA_SERIAL_LEN];
  char *dev2_crt, *dev2_key; /* a second device of the same CA */
  guint8 dev2_serial[SRV_CA_SERIAL_LEN];
  char *other_ca;
  char *other_crt, *other_key; /* same device id, another CA */
} Pki;

static Pki pki;

static void
issue_device(SrvCa *ca, const char *name, const char *device_id, char **crt_path, char **key_path,
             guint8 serial[SRV_CA_SERIAL_LEN])
{
  g_autoptr(GError) error = NULL;
  g_autofree char *key = NULL, *csr = NULL;
  g_autofree char *crt_file = g_strdup_printf("%s.crt", name);
  g_autofree char *key_file = g_strdup_printf("%s.key", name);

  g_assert_true(srv_ca_make_key_and_csr("kiosk", &key, &csr, &error));
  g_autofree char *pem = srv_ca_sign_device_csr(ca, (const guint8 *) csr, strlen(csr), device_id,
                                                30, serial, &error);
  g_assert_no_error(error);
  *crt_path = g_build_filename(pki.dir, crt_file, NULL);
  *key_path = g_build_filename(pki.dir, key_file, NULL);
  g_assert_true(g_file_set_contents(*crt_path, pem, -1, &error));
  g_assert_true(gk_secure_file_write(*key_path, key, strlen(key), FALSE, &error));
  g_assert_no_error(error);
  memset(key, 0, strlen(key));
}

static void
pki_make(void)
{
  g_autoptr(GError) error = NULL;
  const char *const ips[] = { "127.0.0.1", "::1", NULL };
  guint8 unused[SRV_CA_SERIAL_LEN];

  pki.dir = gk_test_make_tmpdir("genkan-tls");
  g_autofree char *ca_dir = g_build_filename(pki.dir, "ca", NULL);
  g_autofree char *other_dir = g_build_filename(pki.dir, "other-ca", NULL);
  g_autoptr(SrvCa) ca = srv_ca_create(ca_dir, "Genkan Test CA", &error);
  g_assert_no_error(error);
  g_autoptr(SrvCa) other = srv_ca_create(other_dir, "Genkan Test CA", &error);
  g_assert_no_error(error);

  pki.ca = g_strdup(srv_ca_get_cert_path(ca));
  pki.other_ca = g_strdup(srv_ca_get_cert_path(other));
  pki.server_crt = g_build_filename(pki.dir, "server.crt", NULL);
  pki.server_key = g_build_filename(pki.dir, "server.key", NULL);
  g_assert_true(srv_ca_issue_server_cert(ca, "localhost", ips, pki.server_crt, pki.server_key, &error));
  g_assert_no_error(error);
  issue_device(ca, "dev", "dev-0001", &pki.dev_crt, &pki.dev_key, pki.dev_serial);
  issue_device(ca, "dev2", "dev-0002", &pki.dev2_crt, &pki.dev2_key, pki.dev2_serial);
  issue_device(other, "other", "dev-0001", &pki.other_crt, &pki.other_key, unused);
}

static void
pki_free(void)
{
  gk_test_rmtree(pki.dir);
  g_free(pki.dir);
  g_free(pki.ca);
  g_free(pki.server_crt);
  g_free(pki.server_key);
  g_free(pki.dev_crt);
  g_free(pki.dev_key);
  g_free(pki.dev2_crt);
  g_free(pki.dev2_key);
  g_free(pki.other_ca);
  g_free(pki.other_crt);
  g_free(pki.other_key);
}

static SrvTlsContext *
make_ctx(SrvTlsRole role)
{
  g_autoptr(GError) error = NULL;
  SrvTlsContext *ctx = srv_tls_context_new(role, pki.server_crt, pki.server_key,
                                           role == SRV_TLS_DEVICE_PORT ? pki.ca : NULL, &error);
  g_assert_no_error(error);
  g_assert_nonnull(ctx);
  return ctx;
}

/* --- revocation list for the tests ------------------------------------------------- */

typedef struct {
  const guint8 *serial; /* revoked serial, or NULL */
  guint calls;
} Revoked;

static gboolean
is_revoked(const guint8 serial[], size_t len, void *user)
{
  Revoked *r = user;
  r->calls++;
  return r->serial != NULL && len == SRV_CA_SERIAL_LEN && memcmp(serial, r->serial, len) == 0;
}

/* --- server side: non-blocking, as the event loop drives it --------------------------- */

typedef struct {
  gsize send_bytes;    /* in: bytes of payload after the handshake (0: an HTTP reply) */
  SrvTlsStatus status; /* out: how the handshake ended */
  char reason[32];
  gboolean resumed;
  gboolean has_serial;
  guint8 serial[SRV_TLS_SERIAL_MAX];
  size_t serial_len;
  gboolean has_fp;
  guint8 fp[SRV_TLS_FINGERPRINT_LEN];
  char suite[64];
  guint write_waits;   /* out: times a write had to wait for the socket */
} ServerResult;

static int
listen_loopback(guint16 *port)
{
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  socklen_t alen = sizeof addr;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  g_assert_cmpint(fd, >=, 0);
  g_assert_cmpint(bind(fd, (struct sockaddr *) &addr, sizeof addr), ==, 0);
  g_assert_cmpint(listen(fd, 8), ==, 0);
  g_assert_cmpint(getsockname(fd, (struct sockaddr *) &addr, &alen), ==, 0);
  *port = ntohs(addr.sin_port);
  return fd;
}

static gboolean
wait_fd(int fd, short events)
{
  struct pollfd p = { .fd = fd, .events = events };
  int n;
  do {
    n = poll(&p, 1, IO_TIMEOUT_MS);
  } while (n < 0 && errno == EINTR);
  return n > 0;
}

/* Waits as @st asks; FALSE when @st is final or the wait timed out. */
static gboolean
wait_for(int fd, SrvTlsStatus st)
{
  if (st == SRV_TLS_WANT_READ)
    return wait_fd(fd, POLLIN);
  if (st == SRV_TLS_WANT_WRITE)
    return wait_fd(fd, POLLOUT);
  return FALSE;
}

static void
server_exchange(SrvTlsConnection *conn, int fd, ServerResult *r)
{
  gsize send_bytes = r->send_bytes;
  static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
  char req[4096];
  gsize got = 0;

  if (send_bytes == 0) {
    /* Read one request head. */
    for (;;) {
      ssize_t n = srv_tls_read(conn, req + got, sizeof req - 1 - got);
      if (n > 0) {
        got += (gsize) n;
        req[got] = 0;
        if (strstr(req, "\r\n\r\n") != NULL || got == sizeof req - 1)
          break;
        continue;
      }
      if (!wait_for(fd, (SrvTlsStatus) n))
        return;
    }
  }

  g_autofree guint8 *payload = NULL;
  const guint8 *out = (const guint8 *) reply;
  gsize total = sizeof reply - 1, off = 0;
  if (send_bytes > 0) {
    payload = g_malloc(send_bytes);
    for (gsize i = 0; i < send_bytes; i++)
      payload[i] = (guint8) i;
    out = payload;
    total = send_bytes;
  }
  while (off < total) {
    ssize_t n = srv_tls_write(conn, out + off, total - off);
    if (n > 0) {
      off += (gsize) n;
      continue;
    }
    r->write_waits += n == SRV_TLS_WANT_WRITE;
    g_assert_true(wait_for(fd, (SrvTlsStatus) n));
  }
  for (;;) {
    SrvTlsStatus st = srv_tls_close_notify(conn);
    if (st != SRV_TLS_WANT_WRITE && st != SRV_TLS_WANT_READ)
      break;
    g_assert_true(wait_for(fd, st));
  }
}

static void
serve_one(SrvTlsContext *ctx, int listen_fd, ServerResult *r)
{
  g_assert_true(wait_fd(listen_fd, POLLIN));
  int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  g_assert_cmpint(fd, >=, 0);
  if (r->send_bytes > 0) {
    /* A small send buffer makes the write path wait, as with a slow device. */
    int sndbuf = 4096;
    g_assert_cmpint(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf), ==, 0);
  }
  SrvTlsConnection *conn = srv_tls_connection_new(ctx, fd);

  SrvTlsStatus st;
  for (;;) {
    st = srv_tls_handshake_step(conn);
    if (st != SRV_TLS_WANT_READ && st != SRV_TLS_WANT_WRITE)
      break;
    if (!wait_for(fd, st)) {
      g_test_message("server: handshake timed out");
      break;
    }
  }
  r->status = st;
  const char *reason = srv_tls_connection_failure_reason(conn);
  g_strlcpy(r->reason, reason ? reason : "", sizeof r->reason);
  if (st == SRV_TLS_OK) {
    g_assert_true(srv_tls_connection_is_established(conn));
    g_assert_null(reason);
    r->resumed = srv_tls_connection_is_resumed(conn);
    r->has_serial = srv_tls_connection_peer_serial(conn, r->serial, &r->serial_len);
    r->has_fp = srv_tls_connection_peer_fingerprint(conn, r->fp);
    g_strlcpy(r->suite, srv_tls_connection_ciphersuite(conn), sizeof r->suite);
    server_exchange(conn, fd, r);
  } else {
    g_assert_false(srv_tls_connection_is_established(conn));
    g_assert_false(srv_tls_connection_peer_serial(conn, r->serial, &r->serial_len));
    g_assert_cmpint(srv_tls_read(conn, r->suite, 1), ==, SRV_TLS_FAILED);
    g_test_message("server: handshake failed: %s (-0x%04x)", r->reason,
                   (unsigned) -srv_tls_connection_last_error(conn));
  }
  srv_tls_connection_free(conn);
  close(fd);
}

/* --- mbedTLS client (blocking, in a thread) ------------------------------------------- */

typedef struct {
  guint16 port;
  const char *hostname;    /* verified name; NULL: "localhost" */
  const char *ca;          /* NULL: pki.ca */
  const char *cert, *key;  /* client certificate, or NULL */
  int min_minor, max_minor; /* 0: TLS 1.2 */
  const int *ciphersuites; /* NULL: mbedTLS defaults */
  gboolean no_tickets;
  const mbedtls_ssl_session *resume; /* offer this session */
  mbedtls_ssl_session *saved;        /* store the session here */
  gsize expect_bytes;      /* read this much payload instead of an HTTP reply */
  int handshake_ret;
  uint32_t verify_flags;
  gboolean got_reply;
} MbedClient;

static gpointer
mbed_client_thread(gpointer data)
{
  MbedClient *c = data;
  mbedtls_net_context net;
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
  mbedtls_x509_crt ca, crt;
  mbedtls_pk_context key;
  mbedtls_ssl_config conf;
  mbedtls_ssl_context ssl;
  char port[8];
  int ret;

  mbedtls_net_init(&net);
  mbedtls_entropy_init(&entropy);
  mbedtls_ctr_drbg_init(&drbg);
  mbedtls_x509_crt_init(&ca);
  mbedtls_x509_crt_init(&crt);
  mbedtls_pk_init(&key);
  mbedtls_ssl_config_init(&conf);
  mbedtls_ssl_init(&ssl);
  c->handshake_ret = -1;

  g_snprintf(port, sizeof port, "%u", c->port);
  if (mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, NULL, 0) != 0 ||
      mbedtls_x509_crt_parse_file(&ca, c->ca ? c->ca : pki.ca) != 0 ||
      mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                  MBEDTLS_SSL_PRESET_DEFAULT) != 0)
    goto out;
  mbedtls_ssl_conf_rng(&conf, mbedtls_ctr_drbg_random, &drbg);
  mbedtls_ssl_conf_authmode(&conf, MBEDTLS_SSL_VERIFY_REQUIRED);
  mbedtls_ssl_conf_ca_chain(&conf, &ca, NULL);
  mbedtls_ssl_conf_read_timeout(&conf, IO_TIMEOUT_MS);
  mbedtls_ssl_conf_min_version(&conf, 3, c->min_minor ? c->min_minor : 3);
  mbedtls_ssl_conf_max_version(&conf, 3, c->max_minor ? c->max_minor : 3);
  if (c->ciphersuites != NULL)
    mbedtls_ssl_conf_ciphersuites(&conf, c->ciphersuites);
  mbedtls_ssl_conf_session_tickets(&conf, c->no_tickets ? MBEDTLS_SSL_SESSION_TICKETS_DISABLED
                                                        : MBEDTLS_SSL_SESSION_TICKETS_ENABLED);
  if (c->cert != NULL) {
    if (mbedtls_x509_crt_parse_file(&crt, c->cert) != 0 ||
        mbedtls_pk_parse_keyfile(&key, c->key, NULL) != 0 ||
        mbedtls_ssl_conf_own_cert(&conf, &crt, &key) != 0)
      goto out;
  }
  if (mbedtls_ssl_setup(&ssl, &conf) != 0 ||
      mbedtls_ssl_set_hostname(&ssl, c->hostname ? c->hostname : "localhost") != 0)
    goto out;
  if (c->resume != NULL && mbedtls_ssl_set_session(&ssl, c->resume) != 0)
    goto out;
  if (mbedtls_net_connect(&net, "127.0.0.1", port, MBEDTLS_NET_PROTO_TCP) != 0)
    goto out;
  mbedtls_ssl_set_bio(&ssl, &net, mbedtls_net_send, NULL, mbedtls_net_recv_timeout);

  c->handshake_ret = mbedtls_ssl_handshake(&ssl);
  c->verify_flags = mbedtls_ssl_get_verify_result(&ssl);
  if (c->handshake_ret != 0)
    goto out;
  if (c->saved != NULL && mbedtls_ssl_get_session(&ssl, c->saved) != 0)
    goto out;

  if (c->expect_bytes > 0) {
    gsize got = 0;
    unsigned char buf[16384];
    while (got < c->expect_bytes) {
      ret = mbedtls_ssl_read(&ssl, buf, sizeof buf);
      if (ret <= 0)
        break;
      for (int i = 0; i < ret; i++)
        if (buf[i] != (unsigned char) (got + (gsize) i))
          goto out;
      got += (gsize) ret;
    }
    c->got_reply = got == c->expect_bytes;
  } else {
    static const char request[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    char reply[512];
    gsize got = 0;
    if (mbedtls_ssl_write(&ssl, (const unsigned char *) request, sizeof request - 1) !=
        (int) sizeof request - 1)
      goto out;
    while (got < sizeof reply - 1) {
      ret = mbedtls_ssl_read(&ssl, (unsigned char *) reply + got, sizeof reply - 1 - got);
      if (ret <= 0)
        break;
      got += (gsize) ret;
    }
    reply[got] = 0;
    c->got_reply = g_str_has_prefix(reply, "HTTP/1.1 200 OK") && g_str_has_suffix(reply, "ok");
  }
  (void) mbedtls_ssl_close_notify(&ssl);
out:
  mbedtls_ssl_free(&ssl);
  mbedtls_ssl_config_free(&conf);
  mbedtls_pk_free(&key);
  mbedtls_x509_crt_free(&crt);
  mbedtls_x509_crt_free(&ca);
  mbedtls_ctr_drbg_free(&drbg);
  mbedtls_entropy_free(&entropy);
  mbedtls_net_free(&net);
  return NULL;
}

static void
run_mbed(SrvTlsContext *ctx, MbedClient *c, ServerResult *r)
{
  int lfd = listen_loopback(&c->port);
  GThread *t = g_thread_new("tls-client", mbed_client_thread, c);
  serve_one(ctx, lfd, r);
  g_thread_join(t);
  close(lfd);
}

/* --- libcurl client (what the kiosk uses) ------------------------------------------------ */

typedef struct {
  guint16 port;
  const char *host;       /* in the URL */
  gboolean resolve;       /* map @host to 127.0.0.1 */
  const char *ca;         /* NULL: pki.ca */
  const char *cert, *key;
  long sslversion;
  guint requests;         /* on one easy handle, one connection each */
  CURLcode result[2];
  long http_code[2];
} CurlClient;

static size_t
discard(char *ptr, size_t size, size_t nmemb, void *user)
{
  return size * nmemb;
}

static gpointer
curl_client_thread(gpointer data)
{
  CurlClient *c = data;
  g_autofree char *url = g_strdup_printf("https://%s:%u/", c->host, c->port);
  g_autofree char *resolve = g_strdup_printf("%s:%u:127.0.0.1", c->host, c->port);
  struct curl_slist *resolve_list = NULL;
  CURL *curl = curl_easy_init();

  curl_easy_setopt(curl, CURLOPT_URL, url);
  curl_easy_setopt(curl, CURLOPT_CAINFO, c->ca ? c->ca : pki.ca);
  curl_easy_setopt(curl, CURLOPT_CAPATH, NULL);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long) IO_TIMEOUT_MS);
  curl_easy_setopt(curl, CURLOPT_FORBID_REUSE, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  if (c->sslversion != 0)
    curl_easy_setopt(curl, CURLOPT_SSLVERSION, c->sslversion);
  if (c->cert != NULL) {
    curl_easy_setopt(curl, CURLOPT_SSLCERT, c->cert);
    curl_easy_setopt(curl, CURLOPT_SSLKEY, c->key);
  }
  if (c->resolve) {
    resolve_list = curl_slist_append(NULL, resolve);
    curl_easy_setopt(curl, CURLOPT_RESOLVE, resolve_list);
  }
  for (guint i = 0; i < c->requests && i < G_N_ELEMENTS(c->result); i++) {
    c->result[i] = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &c->http_code[i]);
  }
  curl_easy_cleanup(curl);
  curl_slist_free_all(resolve_list);
  return NULL;
}

static void
run_curl(SrvTlsContext *ctx, CurlClient *c, ServerResult *r)
{
  int lfd = listen_loopback(&c->port);
  if (c->requests == 0)
    c->requests = 1;
  GThread *t = g_thread_new("curl-client", curl_client_thread, c);
  for (guint i = 0; i < c->requests; i++)
    serve_one(ctx, lfd, &r[i]);
  g_thread_join(t);
  close(lfd);
}

/* --- device port ------------------------------------------------------------------------ */

static void
test_device_good_cert(void)
{
  g_autoptr(GError) error = NULL;
  SrvTlsContext *ctx = make_ctx(SRV_TLS_DEVICE_PORT);
  Revoked revoked = { .serial = pki.dev2_serial }; /* another device is revoked */
  srv_tls_context_set_revocation_check(ctx, is_revoked, &revoked);
  MbedClient c = { .cert = pki.dev_crt, .key = pki.dev_key };
  ServerResult r = { 0 };
  guint8 fp[SRV_CA_FINGERPRINT_LEN];

  run_mbed(ctx, &c, &r);
  g_assert_cmpint(c.handshake_ret, ==, 0);
  g_assert_true(c.got_reply);
  g_assert_cmpint(r.status, ==, SRV_TLS_OK);
  g_assert_false(r.resumed);
  g_assert_true(r.has_serial);
  g_assert_cmpmem(r.serial, r.serial_len, pki.dev_serial, SRV_CA_SERIAL_LEN);
  g_assert_true(r.has_fp);
  g_assert_true(srv_ca_fingerprint_sha256(pki.dev_crt, fp, &error));
  g_assert_cmpmem(r.fp, sizeof r.fp, fp, sizeof fp);
  g_assert_true(g_str_has_prefix(r.suite, "TLS-ECDHE-ECDSA-WITH-"));
  /* During the handshake and once more after it. */
  g_assert_cmpuint(revoked.calls, ==, 2);
  srv_tls_context_free(ctx);
}

static void
test_device_no_client_cert(void)
{
  SrvTlsContext *ctx = make_ctx(SRV_TLS_DEVICE_PORT);
  MbedClient c = { 0 };
  ServerResult r = { 0 };

  run_mbed(ctx, &c, &r);
  g_assert_cmpint(c.handshake_ret, !=, 0);
  g_assert_false(c.got_reply);
  g_assert_cmpint(r.status, ==, SRV_TLS_FAILED);
  g_assert_cmpstr(r.reason, ==, "no-client-cert");
  srv_tls_context_free(ctx);
}

static void
test_device_other_ca(void)
{
  SrvTlsContext *ctx = make_ctx(SRV_TLS_DEVICE_PORT);
  MbedClient c = { .cert = pki.other_crt, .key = pki.other_key };
  ServerResult r = { 0 };

  run_mbed(ctx, &c, &r);
  g_assert_cmpint(c.handshake_ret, !=, 0);
  g_assert_cmpint(r.status, ==, SRV_TLS_FAILED);
  g_assert_cmpstr(r.reason, ==, "cert-untrusted");
  srv_tls_context_free(ctx);
}

static void
test_device_revoked(void)
{
  SrvTlsContext *ctx = make_ctx(SRV_TLS_DEVICE_PORT);
  Revoked revoked = { .serial = pki.dev_serial };
  srv_tls_context_set_revocation_check(ctx, is_revoked, &revoked);
  MbedClient c = { .cert = pki.dev_crt, .key = pki.dev_key };
  ServerResult r = { 0 };

  run_mbed(ctx, &c, &r);
  g_assert_cmpint(c.handshake_ret, !=, 0);
  g_assert_false(c.got_reply);
  g_assert_cmpint(r.status, ==, SRV_TLS_FAILED);
  g_assert_cmpstr(r.reason, ==, "cert-revoked");
  g_assert_cmpuint(revoked.calls, >=, 1);

  /* The other device of the same CA still gets in. */
  MbedClient c2 = { .cert = pki.dev2_crt, .key = pki.dev2_key };
  ServerResult r2 = { 0 };
  run_mbed(ctx, &c2, &r2);
  g_assert_cmpint(r2.status, ==, SRV_TLS_OK);
  g_assert_cmpmem(r2.serial, r2.serial_len, pki.dev2_serial, SRV_CA_SERIAL_LEN);
  srv_tls_context_free(ctx);
}

/* --- admin port --------------------------------------------------------------------------- */

static void
test_admin_no_client_cert(void)
{
  SrvTlsContext *ctx = make_ctx(SRV_TLS_ADMIN_PORT);
  MbedClient c = { 0 };
  ServerResult r = { 0 };

  g_assert_cmpint(srv_tls_context_get_role(ctx), ==, SRV_TLS_ADMIN_PORT);
  run_mbed(ctx, &c, &r);
  g_assert_cmpint(c.handshake_ret, ==, 0);
  g_assert_true(c.got_reply);
  g_assert_cmpint(r.status, ==, SRV_TLS_OK);
  g_assert_false(r.has_serial);
  g_assert_false(r.has_fp);

  /* A client that has a certificate is not asked for it. */
  MbedClient c2 = { .cert = pki.dev_crt, .key = pki.dev_key };
  ServerResult r2 = { 0 };
  run_mbed(ctx, &c2, &r2);
  g_assert_cmpint(r2.status, ==, SRV_TLS_OK);
  g_assert_false(r2.has_serial);
  srv_tls_context_free(ctx);
}

/* --- protocol versions and suites ----------------------------------------------------------- */

static void
test_old_versions(void)
{
  SrvTlsContext *ctx = make_ctx(SRV_TLS_DEVICE_PORT);
  const int minors[] = { MBEDTLS_SSL_MINOR_VERSION_1, MBEDTLS_SSL_MINOR_VERSION_2 };

  for (guint i = 0; i < G_N_ELEMENTS(minors); i++) {
    MbedClient c = { .cert = pki.dev_crt, .key = pki.dev_key,
                     .min_minor = minors[i], .max_minor = minors[i] };
    ServerResult r = { 0 };
    run_mbed(ctx, &c, &r);
    g_assert_cmpint(c.handshake_ret, !=, 0);
    g_assert_cmpint(r.status, ==, SRV_TLS_FAILED);
    g_assert_cmpstr(r.reason, ==, "protocol-version");
  }
  srv_tls_context_free(ctx);
}

static void
test_tls13_only(void)
{
  SrvTlsContext *ctx = make_ctx(SRV_TLS_ADMIN_PORT);
  CurlClient c = { .host = "localhost", .sslversion = CURL_SSLVERSION_TLSv1_3 | CURL_SSLVERSION_MAX_TLSv1_3 };
  ServerResult r[1] = { { 0 } };

  run_curl(ctx, &c, r);
  g_assert_cmpint(c.result[0], !=, CURLE_OK);
  g_assert_cmpint(r[0].status, !=, SRV_TLS_OK);
  g_assert_cmpstr(r[0].reason, !=, "");
  g_test_message("TLS 1.3-only client: curl %d, server %s", c.result[0], r[0].reason);
  srv_tls_context_free(ctx);
}

static void
test_non_ecdsa_suites(void)
{
  SrvTlsContext *ctx = make_ctx(SRV_TLS_DEVICE_PORT);
  static const int rsa_suites[] = {
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_DHE_RSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_RSA_WITH_AES_128_GCM_SHA256,
    0,
  };
  static const int ecdsa_cbc_suites[] = {
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_CCM,
    0,
  };
  const int *lists[] = { rsa_suites, ecdsa_cbc_suites };

  for (guint i = 0; i < G_N_ELEMENTS(lists); i++) {
    MbedClient c = { .cert = pki.dev_crt, .key = pki.dev_key, .ciphersuites = lists[i] };
    ServerResult r = { 0 };
    run_mbed(ctx, &c, &r);
    g_assert_cmpint(c.handshake_ret, !=, 0);
    g_assert_cmpint(r.status, ==, SRV_TLS_FAILED);
    g_assert_cmpstr(r.reason, ==, "no-shared-cipher");
  }
  srv_tls_context_free(ctx);
}

static void
test_each_allowed_suite(void)
{
  SrvTlsContext *ctx = make_ctx(SRV_TLS_DEVICE_PORT);
  static const int suites[][2] = {
    { MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, 0 },
    { MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, 0 },
    { MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, 0 },
  };
  for (guint i = 0; i < G_N_ELEMENTS(suites); i++) {
    MbedClient c = { .cert = pki.dev_crt, .key = pki.dev_key, .ciphersuites = suites[i] };
    ServerResult r = { 0 };
    run_mbed(ctx, &c, &r);
    g_assert_cmpint(c.handshake_ret, ==, 0);
    g_assert_cmpint(r.status, ==, SRV_TLS_OK);
    g_assert_cmpstr(r.suite, ==, mbedtls_ssl_get_ciphersuite_name(suites[i][0]));
  }
  srv_tls_context_free(ctx);
}

/* --- resumption ------------------------------------------------------------------------------ */

static void
check_resumption(SrvTlsRole role, gboolean tickets)
{
  SrvTlsContext *ctx = make_ctx(role);
  mbedtls_ssl_session first, second;
  mbedtls_ssl_session_init(&first);
  mbedtls_ssl_session_init(&second);

  MbedClient c1 = { .cert = pki.dev_crt, .key = pki.dev_key, .no_tickets = !tickets, .saved = &first };
  ServerResult r1 = { 0 };
  run_mbed(ctx, &c1, &r1);
  g_assert_cmpint(r1.status, ==, SRV_TLS_OK);
  g_assert_false(r1.resumed);
  if (tickets)
    g_assert_cmpuint(first.ticket_len, >, 0);
  else
    g_assert_cmpuint(first.id_len, >, 0);

  MbedClient c2 = { .cert = pki.dev_crt, .key = pki.dev_key, .no_tickets = !tickets,
                    .resume = &first, .saved = &second };
  ServerResult r2 = { 0 };
  run_mbed(ctx, &c2, &r2);
  g_assert_cmpint(c2.handshake_ret, ==, 0);
  g_assert_true(c2.got_reply);
  g_assert_cmpint(r2.status, ==, SRV_TLS_OK);
  g_assert_true(r2.resumed);
  /* The client agrees: an abbreviated handshake keeps the master secret. */
  g_assert_cmpmem(first.master, sizeof first.master, second.master, sizeof second.master);
  if (role == SRV_TLS_DEVICE_PORT) {
    /* The device is still identified on a resumed session. */
    g_assert_true(r2.has_serial);
    g_assert_cmpmem(r2.serial, r2.serial_len, pki.dev_serial, SRV_CA_SERIAL_LEN);
  }

  /* Not offering the session means a full handshake. */
  MbedClient c3 = { .cert = pki.dev_crt, .key = pki.dev_key, .no_tickets = !tickets };
  ServerResult r3 = { 0 };
  run_mbed(ctx, &c3, &r3);
  g_assert_cmpint(r3.status, ==, SRV_TLS_OK);
  g_assert_false(r3.resumed);

  /* Another context (the other port, a restarted server) does not take it. */
  SrvTlsContext *other = make_ctx(role);
  MbedClient c4 = { .cert = pki.dev_crt, .key = pki.dev_key, .no_tickets = !tickets, .resume = &first };
  ServerResult r4 = { 0 };
  run_mbed(other, &c4, &r4);
  g_assert_cmpint(r4.status, ==, SRV_TLS_OK);
  g_assert_false(r4.resumed);
  srv_tls_context_free(other);

  mbedtls_ssl_session_free(&second);
  mbedtls_ssl_session_free(&first);
  srv_tls_context_free(ctx);
}

static void
test_resume_ticket(void)
{
  check_resumption(SRV_TLS_DEVICE_PORT, TRUE);
}

static void
test_resume_session_id(void)
{
  check_resumption(SRV_TLS_DEVICE_PORT, FALSE);
}

static void
test_resume_admin(void)
{
  check_resumption(SRV_TLS_ADMIN_PORT, TRUE);
  check_resumption(SRV_TLS_ADMIN_PORT, FALSE);
}

/* A resumed session skips certificate verification: revocation must still bite. */
static void
test_resume_after_revocation(void)
{
  for (int tickets = 0; tickets <= 1; tickets++) {
    SrvTlsContext *ctx = make_ctx(SRV_TLS_DEVICE_PORT);
    Revoked revoked = { 0 };
    srv_tls_context_set_revocation_check(ctx, is_revoked, &revoked);
    mbedtls_ssl_session first;
    mbedtls_ssl_session_init(&first);

    MbedClient c1 = { .cert = pki.dev_crt, .key = pki.dev_key, .no_tickets = !tickets, .saved = &first };
    ServerResult r1 = { 0 };
    run_mbed(ctx, &c1, &r1);
    g_assert_cmpint(r1.status, ==, SRV_TLS_OK);

    revoked.serial = pki.dev_serial;
    MbedClient c2 = { .cert = pki.dev_crt, .key = pki.dev_key, .no_tickets = !tickets, .resume = &first };
    ServerResult r2 = { 0 };
    run_mbed(ctx, &c2, &r2);
    g_assert_cmpint(r2.status, ==, SRV_TLS_FAILED);
    g_assert_cmpstr(r2.reason, ==, "cert-revoked");
    g_assert_false(c2.got_reply);

    mbedtls_ssl_session_free(&first);
    srv_tls_context_free(ctx);
  }
}

/* --- host name checks by clients --------------------------------------------------------------- */

static void
test_curl_hostname(void)
{
  SrvTlsContext *ctx = make_ctx(SRV_TLS_ADMIN_PORT);
  struct {
    const char *host;
    gboolean resolve;
    const char *ca;
    CURLcode want;
  } cases[] = {
    { "localhost", FALSE, NULL, CURLE_OK },
    { "127.0.0.1", FALSE, NULL, CURLE_OK },
    { "genkan.example", TRUE, NULL, CURLE_PEER_FAILED_VERIFICATION },
    { "localhost", FALSE, pki.other_ca, CURLE_PEER_FAILED_VERIFICATION },
  };
  for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
    CurlClient c = { .host = cases[i].host, .resolve = cases[i].resolve, .ca = cases[i].ca };
    ServerResult r[1] = { { 0 } };
    run_curl(ctx, &c, r);
    g_assert_cmpint(c.result[0], ==, cases[i].want);
    if (cases[i].want == CURLE_OK) {
      g_assert_cmpint(c.http_code[0], ==, 200);
      g_assert_cmpint(r[0].status, ==, SRV_TLS_OK);
    }
    /* On a failure the server may still see a complete handshake: curl checks the
     * host name itself after the handshake. The client refusing is what counts. */
  }
  srv_tls_context_free(ctx);
}

static void
test_curl_device(void)
{
  SrvTlsContext *ctx = make_ctx(SRV_TLS_DEVICE_PORT);
  CurlClient c = { .host = "localhost", .cert = pki.dev_crt, .key = pki.dev_key, .requests = 2 };
  ServerResult r[2] = { { 0 } };

  run_curl(ctx, &c, r);
  for (guint i = 0; i < 2; i++) {
    g_assert_cmpint(c.result[i], ==, CURLE_OK);
    g_assert_cmpint(c.http_code[i], ==, 200);
    g_assert_cmpint(r[i].status, ==, SRV_TLS_OK);
    g_assert_cmpmem(r[i].serial, r[i].serial_len, pki.dev_serial, SRV_CA_SERIAL_LEN);
  }
  g_assert_false(r[0].resumed);
  g_assert_true(r[1].resumed); /* libcurl (OpenSSL) resumes with the ticket */

  /* Without its certificate, libcurl is refused too. */
  CurlClient bare = { .host = "localhost" };
  ServerResult rb[1] = { { 0 } };
  run_curl(ctx, &bare, rb);
  g_assert_cmpint(bare.result[0], !=, CURLE_OK);
  g_assert_cmpstr(rb[0].reason, ==, "no-client-cert");
  srv_tls_context_free(ctx);
}

static void
test_mbed_hostname(void)
{
  SrvTlsContext *ctx = make_ctx(SRV_TLS_ADMIN_PORT);
  MbedClient good = { .hostname = "localhost" };
  ServerResult r = { 0 };
  run_mbed(ctx, &good, &r);
  g_assert_cmpint(good.handshake_ret, ==, 0);

  MbedClient bad = { .hostname = "genkan.example" };
  ServerResult r2 = { 0 };
  run_mbed(ctx, &bad, &r2);
  g_assert_cmpint(bad.handshake_ret, ==, MBEDTLS_ERR_X509_CERT_VERIFY_FAILED);
  g_assert_true(bad.verify_flags & MBEDTLS_X509_BADCERT_CN_MISMATCH);
  g_assert_cmpint(r2.status, !=, SRV_TLS_OK);
  srv_tls_context_free(ctx);
}

/* --- non-blocking writes ------------------------------------------------------------------------- */

static void
test_large_write(void)
{
  SrvTlsContext *ctx = make_ctx(SRV_TLS_DEVICE_PORT);
  /* Far more than the socket buffers: the server sees SRV_TLS_WANT_WRITE. */
  MbedClient c = { .cert = pki.dev_crt, .key = pki.dev_key, .expect_bytes = 4 * 1024 * 1024 };
  ServerResult r = { .send_bytes = 4 * 1024 * 1024 };
  run_mbed(ctx, &c, &r);
  g_assert_cmpint(r.status, ==, SRV_TLS_OK);
  g_assert_true(c.got_reply);
  g_assert_cmpuint(r.write_waits, >, 0);
  srv_tls_context_free(ctx);
}

/* --- configuration errors -------------------------------------------------------------------------- */

static void
expect_ctx_error(SrvTlsRole role, const char *crt, const char *key, const char *ca,
                 GQuark domain, int code)
{
  g_autoptr(GError) error = NULL;
  SrvTlsContext *ctx = srv_tls_context_new(role, crt, key, ca, &error);
  g_assert_null(ctx);
  g_assert_error(error, domain, code);
}

static void
test_config_errors(void)
{
  g_autofree char *missing = g_build_filename(pki.dir, "missing.pem", NULL);
  g_autofree char *bundle = g_build_filename(pki.dir, "bundle.pem", NULL);
  g_autofree char *open_key = g_build_filename(pki.dir, "open.key", NULL);
  g_autofree char *a = NULL, *b = NULL, *key = NULL;
  gsize key_len = 0;

  expect_ctx_error(SRV_TLS_ADMIN_PORT, missing, pki.server_key, NULL,
                   SRV_TLS_ERROR_DOMAIN, SRV_TLS_ERROR_CONFIG);
  expect_ctx_error(SRV_TLS_ADMIN_PORT, pki.server_crt, missing, NULL,
                   G_FILE_ERROR, G_FILE_ERROR_NOENT);
  /* The key of another certificate. */
  expect_ctx_error(SRV_TLS_ADMIN_PORT, pki.server_crt, pki.dev_key, NULL,
                   SRV_TLS_ERROR_DOMAIN, SRV_TLS_ERROR_CONFIG);
  /* A key file others may read. */
  g_assert_true(g_file_get_contents(pki.server_key, &key, &key_len, NULL));
  g_assert_true(g_file_set_contents_full(open_key, key, (gssize) key_len,
                                         G_FILE_SET_CONTENTS_NONE, 0644, NULL));
  memset(key, 0, key_len);
  expect_ctx_error(SRV_TLS_ADMIN_PORT, pki.server_crt, open_key, NULL, G_FILE_ERROR, G_FILE_ERROR_PERM);
  /* The device CA must be one CA certificate. */
  expect_ctx_error(SRV_TLS_DEVICE_PORT, pki.server_crt, pki.server_key, pki.dev_crt,
                   SRV_TLS_ERROR_DOMAIN, SRV_TLS_ERROR_CONFIG);
  g_assert_true(g_file_get_contents(pki.ca, &a, NULL, NULL));
  g_assert_true(g_file_get_contents(pki.other_ca, &b, NULL, NULL));
  g_autofree char *both = g_strconcat(a, b, NULL);
  g_assert_true(g_file_set_contents(bundle, both, -1, NULL));
  expect_ctx_error(SRV_TLS_DEVICE_PORT, pki.server_crt, pki.server_key, bundle,
                   SRV_TLS_ERROR_DOMAIN, SRV_TLS_ERROR_CONFIG);
  expect_ctx_error(SRV_TLS_DEVICE_PORT, pki.server_crt, pki.server_key, missing,
                   SRV_TLS_ERROR_DOMAIN, SRV_TLS_ERROR_CONFIG);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_assert_cmpint(curl_global_init(CURL_GLOBAL_DEFAULT), ==, CURLE_OK);
  pki_make();

  g_test_add_func("/server/tls/device/good-cert", test_device_good_cert);
  g_test_add_func("/server/tls/device/no-client-cert", test_device_no_client_cert);
  g_test_add_func("/server/tls/device/other-ca", test_device_other_ca);
  g_test_add_func("/server/tls/device/revoked", test_device_revoked);
  g_test_add_func("/server/tls/admin/no-client-cert", test_admin_no_client_cert);
  g_test_add_func("/server/tls/protocol/tls10-tls11", test_old_versions);
  g_test_add_func("/server/tls/protocol/tls13-only", test_tls13_only);
  g_test_add_func("/server/tls/protocol/non-ecdsa-suites", test_non_ecdsa_suites);
  g_test_add_func("/server/tls/protocol/each-allowed-suite", test_each_allowed_suite);
  g_test_add_func("/server/tls/resume/ticket", test_resume_ticket);
  g_test_add_func("/server/tls/resume/session-id", test_resume_session_id);
  g_test_add_func("/server/tls/resume/admin", test_resume_admin);
  g_test_add_func("/server/tls/resume/after-revocation", test_resume_after_revocation);
  g_test_add_func("/server/tls/hostname/curl", test_curl_hostname);
  g_test_add_func("/server/tls/hostname/mbedtls", test_mbed_hostname);
  g_test_add_func("/server/tls/device/curl-client-cert", test_curl_device);
  g_test_add_func("/server/tls/io/large-write", test_large_write);
  g_test_add_func("/server/tls/config/errors", test_config_errors);

  int ret = g_test_run();
  pki_free();
  curl_global_cleanup();
  return ret;
}
