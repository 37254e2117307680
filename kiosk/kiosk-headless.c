/* The headless gate: a line reader on stdin deciding verdicts on the main
 * thread, and a sync worker thread with its own store connection and client. */
#include "kiosk-headless.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "gk-log.h"
#include "kiosk-net.h"
#include "kiosk-store.h"
#include "kiosk-sync-worker.h"
#include "kiosk-verdict.h"

/* Writes one verdict line and flushes it: the reader acts on each at once. */
static gboolean
emit(FILE *out, const KioskVerdict *v)
{
  g_autofree char *line = kiosk_verdict_to_json(v);
  return fputs(line, out) >= 0 && fputc('\n', out) != EOF && fflush(out) == 0;
}

static gboolean
handle_line(KioskGate *gate, FILE *out, const char *line, gsize len, gboolean overlong)
{
  KioskVerdict v;
  g_autoptr(GError) error = NULL;
  if (overlong) {
    /* Too long to be anything we know: refused unread. */
    memset(&v, 0, sizeof v);
    v.reason = KIOSK_REASON_MALFORMED;
    v.offline = TRUE;
  } else if (!kiosk_gate_scan(gate, line, len, 0, &v, &error)) {
    GK_LOG_ERR("kiosk.verdict.failed", GK_STR("error", error->message));
  }
  GK_LOG_INFO("kiosk.verdict", GK_STR("verdict", v.accepted ? "accepted" : "rejected"),
              GK_STR("reason", kiosk_reason_name(v.reason)), GK_STR("ticket", v.ticket_id),
              GK_BOOL("offline", v.offline));
  gboolean ok = emit(out, &v);
  kiosk_verdict_clear(&v);
  return ok;
}

int
kiosk_headless_run(const KioskHeadlessOptions *o)
{
  g_autoptr(GError) error = NULL;
  int rc = KIOSK_EXIT_OK;
  g_autoptr(KioskStore) store = kiosk_store_open(o->data_dir, &error);
  if (store == NULL) {
    g_printerr("genkan-kiosk: %s\n", error->message);
    return KIOSK_EXIT_FAILURE;
  }
  KioskIdentity id = { 0 };
  if (!kiosk_store_load_identity(store, &id, &error)) {
    g_printerr("genkan-kiosk: %s\n", error->message);
    return KIOSK_EXIT_FAILURE;
  }
  KioskClient *client = kiosk_client_new(id.host, id.admin_port, id.device_port, id.ca_pem, id.cert_pem, id.key_pem);
  kiosk_identity_clear(&id);
  KioskGate *gate = kiosk_gate_new(store, client, &error);
  if (gate == NULL) {
    kiosk_client_free(client);
    g_printerr("genkan-kiosk: %s\n", error->message);
    return KIOSK_EXIT_FAILURE;
  }
  kiosk_gate_set_checkout(gate, o->checkout);
  if (o->redeem_timeout_ms > 0)
    kiosk_gate_set_redeem_timeout(gate, o->redeem_timeout_ms);

  /* Signals arrive through a descriptor, so the reader's poll() sees them; the
   * mask is set before the worker starts so it inherits it. */
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  pthread_sigmask(SIG_BLOCK, &mask, NULL);
  signal(SIGPIPE, SIG_IGN);
  int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);

  KioskSyncWorker *worker = NULL;
  if (o->sync_interval_s > 0)
    worker = kiosk_sync_worker_start(o->data_dir, o->sync_interval_s, NULL, NULL);

  GK_LOG_INFO("kiosk.headless.start", GK_BOOL("checkout", o->checkout), GK_DOUBLE("sync_interval_s", o->sync_interval_s));
  char buf[KIOSK_SCAN_LINE_MAX + 1];
  gsize have = 0;
  gboolean overlong = FALSE, skip_lf = FALSE, running = TRUE;
  while (running) {
    if (kiosk_sync_worker_revoked(worker))
      break;
    struct pollfd fds[2] = { { .fd = o->in_fd, .events = POLLIN }, { .fd = sfd, .events = POLLIN } };
    int n = poll(fds, sfd >= 0 ? 2 : 1, 250);
    if (n < 0 && errno != EINTR) {
      g_printerr("genkan-kiosk: cannot wait for input: %s\n", g_strerror(errno));
      rc = KIOSK_EXIT_FAILURE;
      break;
    }
    if (n <= 0)
      continue;
    if (sfd >= 0 && (fds[1].revents & POLLIN)) {
      GK_LOG_INFO("kiosk.headless.signal");
      break;
    }
    if (!(fds[0].revents & (POLLIN | POLLHUP | POLLERR)))
      continue;
    char chunk[4096];
    ssize_t got = read(o->in_fd, chunk, sizeof chunk);
    if (got < 0 && (errno == EINTR || errno == EAGAIN))
      continue;
    if (got <= 0) {
      /* End of input: a last line without a newline still counts. */
      if (have > 0 || overlong)
        running = handle_line(gate, o->out, buf, have, overlong);
      break;
    }
    for (ssize_t i = 0; i < got && running; i++) {
      char c = chunk[i];
      if (skip_lf) {
        skip_lf = FALSE;
        if (c == '\n')
          continue;
      }
      if (c == '\n' || c == '\r') {
        /* "\r\n", "\n" and "\r" all end a line (scanners differ). */
        skip_lf = c == '\r';
        if (have > 0 || overlong)
          running = handle_line(gate, o->out, buf, have, overlong);
        if (!running) {
          g_printerr("genkan-kiosk: cannot write the verdict: %s\n", g_strerror(errno));
          rc = KIOSK_EXIT_FAILURE;
        }
        have = 0;
        overlong = FALSE;
      } else if (have < KIOSK_SCAN_LINE_MAX) {
        buf[have++] = c;
      } else {
        overlong = TRUE;
      }
    }
    /* A refused handshake may mean we were revoked: let the worker ask now. */
    if (running && kiosk_gate_server_refused(gate))
      kiosk_sync_worker_wake(worker);
  }

  kiosk_gate_free(gate);
  kiosk_client_free(client);
  gboolean revoked = kiosk_sync_worker_revoked(worker);
  kiosk_sync_worker_stop(worker);
  if (revoked) {
    g_clear_pointer(&store, kiosk_store_close);
    g_autoptr(GError) wipe_error = NULL;
    if (!kiosk_store_wipe(o->data_dir, &wipe_error)) {
      g_printerr("genkan-kiosk: device revoked, but wiping local data failed: %s\n", wipe_error->message);
    } else {
      g_printerr("genkan-kiosk: device revoked: local data wiped\n");
    }
    rc = KIOSK_EXIT_REVOKED;
  }
  if (sfd >= 0)
    close(sfd);
  GK_LOG_INFO("kiosk.headless.stop", GK_INT("status", rc));
  return rc;
}
