/* The background sync thread: kiosk_sync_run() every interval with backoff. */
#include "kiosk-sync-worker.h"

#include "gk-log.h"
#include "kiosk-net.h"
#include "kiosk-store.h"

/* Longest wait between rounds while the server is down. */
#define BACKOFF_MAX_S 300.0
/* At shutdown the queue is pushed only if the server answers this fast. */
#define FINAL_FLUSH_TIMEOUT_MS 3000

struct _KioskSyncWorker {
  char *data_dir;
  double interval_s;
  KioskSyncRoundFunc on_round;
  gpointer user_data;
  GMutex lock;
  GCond cond;
  gboolean stop;     /* under lock */
  gboolean wake;     /* under lock: sync now */
  gint revoked;      /* atomic: the server asked us to wipe */
  GThread *thread;
};

static gboolean
worker_wait(KioskSyncWorker *w, double seconds)
{
  gint64 until = g_get_monotonic_time() + (gint64) (seconds * G_USEC_PER_SEC);
  g_mutex_lock(&w->lock);
  while (!w->stop && !w->wake)
    if (!g_cond_wait_until(&w->cond, &w->lock, until))
      break;
  w->wake = FALSE;
  gboolean stop = w->stop;
  g_mutex_unlock(&w->lock);
  return !stop;
}

static void
final_flush(KioskStore *store, KioskClient *client)
{
  KioskSyncSummary last = { 0 };
  g_autoptr(GError) error = NULL;
  kiosk_client_set_connect_timeout(client, 1000);
  if (!kiosk_sync_push(store, client, FINAL_FLUSH_TIMEOUT_MS, &last, &error))
    GK_LOG_WARN("kiosk.sync.final_flush_failed", GK_STR("error", error->message),
                GK_INT("queue", kiosk_store_queue_length(store)));
}

static gpointer
sync_thread(gpointer data)
{
  KioskSyncWorker *w = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(KioskStore) store = kiosk_store_open(w->data_dir, &error);
  KioskIdentity id = { 0 };
  if (store == NULL || !kiosk_store_load_identity(store, &id, &error)) {
    GK_LOG_ERR("kiosk.sync.cannot_start", GK_STR("error", error->message));
    if (w->on_round != NULL)
      w->on_round(FALSE, NULL, error, w->user_data);
    return NULL;
  }
  g_autoptr(KioskClient) client =
    kiosk_client_new(id.host, id.admin_port, id.device_port, id.ca_pem, id.cert_pem, id.key_pem);
  guint failures = 0;
  for (;;) {
    KioskSyncSummary summary = { 0 };
    g_clear_error(&error);
    double delay = w->interval_s;
    gboolean ok = kiosk_sync_run(store, client, &id, NULL, NULL, &summary, &error);
    if (ok) {
      failures = 0;
    } else if (g_error_matches(error, KIOSK_SYNC_ERROR, KIOSK_SYNC_ERROR_REVOKED)) {
      g_atomic_int_set(&w->revoked, 1);
    } else {
      /* Exponential backoff with jitter, so a fleet of gates does not hammer a
       * server that is coming back up all at the same moment. */
      failures++;
      double base = MIN(w->interval_s * (double) (1u << MIN(failures, 10u)), BACKOFF_MAX_S);
      delay = g_random_double_range(base / 2, base);
      GK_LOG_WARN("kiosk.sync.failed", GK_STR("error", error->message), GK_UINT("failures", failures),
                  GK_DOUBLE("retry_s", delay));
    }
    if (w->on_round != NULL)
      w->on_round(ok, &summary, error, w->user_data);
    if (g_atomic_int_get(&w->revoked))
      break;
    if (!worker_wait(w, delay)) {
      final_flush(store, client);
      break;
    }
  }
  kiosk_identity_clear(&id);
  return NULL;
}

KioskSyncWorker *
kiosk_sync_worker_start(const char *data_dir, double interval_s, KioskSyncRoundFunc on_round, gpointer user_data)
{
  g_return_val_if_fail(data_dir != NULL && interval_s > 0, NULL);
  KioskSyncWorker *w = g_new0(KioskSyncWorker, 1);
  w->data_dir = g_strdup(data_dir);
  w->interval_s = interval_s;
  w->on_round = on_round;
  w->user_data = user_data;
  g_mutex_init(&w->lock);
  g_cond_init(&w->cond);
  w->thread = g_thread_new("kiosk-sync", sync_thread, w);
  return w;
}

void
kiosk_sync_worker_wake(KioskSyncWorker *w)
{
  if (w == NULL)
    return;
  g_mutex_lock(&w->lock);
  w->wake = TRUE;
  g_cond_signal(&w->cond);
  g_mutex_unlock(&w->lock);
}

gboolean
kiosk_sync_worker_revoked(KioskSyncWorker *w)
{
  return w != NULL && g_atomic_int_get(&w->revoked);
}

void
kiosk_sync_worker_stop(KioskSyncWorker *w)
{
  if (w == NULL)
    return;
  g_mutex_lock(&w->lock);
  w->stop = TRUE;
  g_cond_signal(&w->cond);
  g_mutex_unlock(&w->lock);
  g_thread_join(w->thread);
  g_mutex_clear(&w->lock);
  g_cond_clear(&w->cond);
  g_free(w->data_dir);
  g_free(w);
}
