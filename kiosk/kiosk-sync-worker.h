/* The background sync thread shared by the headless gate and the touchscreen
 * app: its own store connection and client, a sync round every interval,
 * exponential backoff with jitter while the server is down, a last quick push
 * at shutdown, and the revocation flag. */
#pragma once
#include <glib.h>
#include "kiosk-sync.h"

G_BEGIN_DECLS

typedef struct _KioskSyncWorker KioskSyncWorker;

/* After every round, on the worker thread: @ok with the round's @summary, or
 * the round's @error. Must be quick and thread-safe (the app marshals it to its
 * main loop). */
typedef void (*KioskSyncRoundFunc)(gboolean ok, const KioskSyncSummary *summary, const GError *error,
                                   gpointer user_data);

/* Starts the thread ("kiosk-sync") on DIR's store; the first round runs at once. */
KioskSyncWorker *kiosk_sync_worker_start(const char *data_dir, double interval_s, KioskSyncRoundFunc on_round,
                                         gpointer user_data);
/* Stops (one quick final push if the server answers) and joins; NULL-safe. */
void kiosk_sync_worker_stop(KioskSyncWorker *worker);
/* Runs a round now instead of waiting for the interval; NULL-safe. */
void kiosk_sync_worker_wake(KioskSyncWorker *worker);
/* TRUE once the server told this device it is revoked: the thread has ended,
 * and the owner must close its stores and call kiosk_store_wipe(). */
gboolean kiosk_sync_worker_revoked(KioskSyncWorker *worker);

G_END_DECLS
