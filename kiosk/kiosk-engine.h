/* The kiosk engine as the touchscreen app sees it: one worker thread that owns
 * the store, the gate and the network client and runs every request in order
 * (so no store call ever happens on the UI's main loop), the background sync
 * worker, and the device state the screens show (mode, settings, online,
 * queue). Results come back as GTask results on the caller's main context. */
#pragma once
#include <gio/gio.h>
#include "kiosk-sync.h"
#include "kiosk-verdict.h"
#include "kiosk-visit.h"

G_BEGIN_DECLS

#define KIOSK_ENGINE_ERROR kiosk_engine_error_quark()
GQuark kiosk_engine_error_quark(void);

typedef enum {
  KIOSK_ENGINE_ERROR_NOT_ENROLLED, /* the request needs an enrolled device */
  KIOSK_ENGINE_ERROR_NO_PIN,       /* no admin PIN was set for this device */
  KIOSK_ENGINE_ERROR_PIN_LOCKED,   /* too many wrong PINs: wait */
} KioskEngineError;

#define KIOSK_TYPE_ENGINE (kiosk_engine_get_type())
G_DECLARE_FINAL_TYPE(KioskEngine, kiosk_engine, KIOSK, ENGINE, GObject)

/* What a scan is for: reception check-in (a badge QR always checks out),
 * or the "Leaving" screen (check-out). Gate mode ignores it. */
typedef enum {
  KIOSK_SCAN_FOR_CHECKIN,
  KIOSK_SCAN_FOR_CHECKOUT,
} KioskScanPurpose;

/* The admin screen's facts. */
typedef struct {
  gboolean enrolled;
  char *device_id;
  char *device_name;
  char *mode;
  char *server;            /* host:port */
  gint64 site_id;
  gint64 last_sync_at;     /* Unix seconds, 0: never */
  gint64 cert_expires_at;
  gint64 queue_length;
  gint64 clock_offset_ms;
  gint64 config_version;
} KioskEngineStatus;

typedef enum {
  KIOSK_REPLY_VERDICT,   /* gate scan: verdict */
  KIOSK_REPLY_VISIT,     /* reception: verdict (for QR) + visit */
  KIOSK_REPLY_HOSTS,     /* hosts */
  KIOSK_REPLY_PRESENT,   /* present */
  KIOSK_REPLY_STATUS,    /* status */
  KIOSK_REPLY_DONE,      /* enroll, PIN accepted */
} KioskReplyKind;

typedef struct {
  KioskReplyKind kind;
  KioskVerdict verdict;
  KioskVisitResult visit;
  gboolean visit_ok;       /* VISIT: visit holds a completed check-in/out */
  GError *refusal;         /* VISIT: why not (KIOSK_VISIT_ERROR: wrong code, lock,
                            * unknown badge, bad form); NULL when visit_ok */
  GPtrArray *hosts;        /* KioskHost */
  GPtrArray *present;      /* KioskVisitResult* */
  KioskEngineStatus status;
  gint64 frame_time_us;    /* scans: when the frame/keystrokes arrived */
  gint64 queue_length;     /* unsent events after the request */
  GHashTable *settings;    /* internal: a settings snapshot */
} KioskEngineReply;
void kiosk_engine_reply_free(KioskEngineReply *reply);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KioskEngineReply, kiosk_engine_reply_free)

/* Opens DIR's store when the device is enrolled (and starts syncing every
 * @sync_interval_s seconds; 0: never in the background); otherwise the engine
 * waits for kiosk_engine_enroll_async(). Signals are emitted on the main
 * context of the thread that made the engine:
 *   "state-changed" ()  online/offline, queue or last sync changed
 *   "settings-changed" () a sync brought new remote settings or mode
 *   "revoked" ()  the server revoked the device; its data has been wiped */
KioskEngine *kiosk_engine_new(const char *data_dir, double sync_interval_s, GError **error);

gboolean kiosk_engine_is_enrolled(KioskEngine *engine);
/* The effective value of a device setting (remote, else default), from the
 * engine's snapshot: cheap, main thread. NULL when unset without a default. */
const char *kiosk_engine_setting(KioskEngine *engine, const char *key);
gint64 kiosk_engine_setting_int(KioskEngine *engine, const char *key);
gboolean kiosk_engine_setting_bool(KioskEngine *engine, const char *key);
/* "reception" or "gate". */
const char *kiosk_engine_mode(KioskEngine *engine);
/* FALSE after a failed sync round or an offline decision, TRUE again after the
 * next success. */
gboolean kiosk_engine_online(KioskEngine *engine);
/* The last-known number of unsent events. */
gint64 kiosk_engine_queue_length(KioskEngine *engine);

void kiosk_engine_enroll_async(KioskEngine *engine, const char *code, GAsyncReadyCallback callback,
                               gpointer user_data);
void kiosk_engine_scan_async(KioskEngine *engine, const char *text, gsize len, KioskScanPurpose purpose,
                             gint64 frame_time_us, GAsyncReadyCallback callback, gpointer user_data);
void kiosk_engine_reception_code_async(KioskEngine *engine, const char *code, GAsyncReadyCallback callback,
                                       gpointer user_data);
void kiosk_engine_walkin_async(KioskEngine *engine, const KioskWalkin *walkin, GAsyncReadyCallback callback,
                               gpointer user_data);
void kiosk_engine_checkout_visit_async(KioskEngine *engine, const char *visit_id, GAsyncReadyCallback callback,
                                       gpointer user_data);
void kiosk_engine_search_hosts_async(KioskEngine *engine, const char *query, guint limit,
                                     GAsyncReadyCallback callback, gpointer user_data);
void kiosk_engine_list_present_async(KioskEngine *engine, GAsyncReadyCallback callback, gpointer user_data);
void kiosk_engine_status_async(KioskEngine *engine, GAsyncReadyCallback callback, gpointer user_data);
/* Checks @pin against the admin-pin-hash setting (Argon2id). Five wrong PINs
 * lock the check for 30 s, doubling after each further wrong PIN. */
void kiosk_engine_check_pin_async(KioskEngine *engine, const char *pin, GAsyncReadyCallback callback,
                                  gpointer user_data);
KioskEngineReply *kiosk_engine_finish(KioskEngine *engine, GAsyncResult *result, GError **error);

/* How long a scan waits for the server before deciding offline (ms; 0: the
 * gate's default, KIOSK_REDEEM_TIMEOUT_MS). Takes effect for the next scan. */
void kiosk_engine_set_redeem_timeout(KioskEngine *engine, long timeout_ms);

/* Asks the sync worker for a round now. */
void kiosk_engine_sync_now(KioskEngine *engine);
/* Forgets this device (after the admin chose re-enroll): stops syncing, wipes
 * the store and its keys; the engine then waits for a new enrollment. */
gboolean kiosk_engine_forget(KioskEngine *engine, GError **error);

G_END_DECLS
