/* One sync round with the server: push the queued events (batches of at most
 * 500, marked sent only once acknowledged), pull the change feed page by page
 * (each page one transaction with its cursor), record the clock offset, purge;
 * and the revocation check that tells a refused device to wipe itself. */
#pragma once
#include <glib.h>

#include "kiosk-net.h"
#include "kiosk-store.h"

G_BEGIN_DECLS

#define KIOSK_SYNC_ERROR kiosk_sync_error_quark()
GQuark kiosk_sync_error_quark(void);
typedef enum {
  KIOSK_SYNC_ERROR_REVOKED,    /* the server revoked this device and asks for a wipe */
  KIOSK_SYNC_ERROR_BAD_ANSWER, /* an answer that breaks the protocol */
} KioskSyncError;

#define KIOSK_SYNC_PUSH_BATCH 500
#define KIOSK_SYNC_PULL_LIMIT 500

typedef struct {
  guint sent;        /* events pushed and acknowledged */
  guint stored;
  guint duplicate;
  guint conflict;
  guint host_notified; /* check-ins/walk-ins for which the server queued a host notification */
  guint pulled;      /* changes applied */
  gint64 cursor;
  gint64 clock_offset_ms;  /* server time - local time */
  gint64 queue_left; /* unsent events after the round */
} KioskSyncSummary;

/* Called after every applied pull page (changes so far, cursor). */
typedef void (*KioskSyncProgress)(guint changes, gint64 cursor, gpointer user_data);

/* Pushes up to all queued events. */
gboolean kiosk_sync_push(KioskStore *store, KioskClient *client, long timeout_ms, KioskSyncSummary *summary,
                         GError **error);
/* Pushes the one queued event @event_id (a walk-in or check-out the visitor
 * waits for) within @timeout_ms. *out_acked: the server acknowledged it (now,
 * or an earlier push already had). FALSE with @error when the server could not
 * be reached or answered wrongly: the event stays queued for the next sync.
 * *out_host_notified (may be NULL): the server said it queued a notification
 * to the host with this event (FALSE when an earlier push had delivered it). */
gboolean kiosk_sync_push_event(KioskStore *store, KioskClient *client, const char *event_id, long timeout_ms,
                               gboolean *out_acked, gboolean *out_host_notified, GError **error);
/* Pulls until the server says no more. */
gboolean kiosk_sync_pull(KioskStore *store, KioskClient *client, KioskSyncProgress progress, gpointer user_data,
                         KioskSyncSummary *summary, GError **error);
/* Renew the device certificate this long before it expires. */
#define KIOSK_RENEW_BEFORE_S (30 * 24 * 3600)
/* When the certificate expires within KIOSK_RENEW_BEFORE_S of @now: a new key
 * and CSR, POST /v1/device/renew, the new certificate and key saved with
 * kiosk_store_replace_credentials(), @client switched to them. TRUE when nothing was due. */
/* A pull's "device" object: name, mode, certificate expiry and the remote
 * settings with their version, checked (unknown setting keys are skipped with
 * a warning; a bad value refuses the whole answer, BAD_ANSWER) and stored in
 * one transaction. */
gboolean kiosk_sync_apply_device(KioskStore *store, JsonObject *device, GError **error);
gboolean kiosk_sync_renew_if_due(KioskStore *store, KioskClient *client, gint64 now, GError **error);
/* Push, pull, renew when due, purge. A TLS refusal (or 403 device-revoked) leads to a status
 * check on the admin port; told to wipe, it fails with KIOSK_SYNC_ERROR_REVOKED
 * and the caller closes the store and calls kiosk_store_wipe(). */
gboolean kiosk_sync_run(KioskStore *store, KioskClient *client, const KioskIdentity *identity,
                        KioskSyncProgress progress, gpointer user_data, KioskSyncSummary *summary, GError **error);

/* GET /v1/devices/{id}/status on the admin port (server verified with the
 * stored CA): TRUE with *out_wipe when the server says revoked + wipe. */
gboolean kiosk_sync_check_revoked(KioskClient *client, const char *device_id, gboolean *out_wipe, GError **error);

/* Whether @error (from push/pull/redeem) is the kind of refusal after which the
 * device should ask whether it was revoked. */
gboolean kiosk_sync_error_suggests_revocation(const GError *error, const char *server_code);

G_END_DECLS
