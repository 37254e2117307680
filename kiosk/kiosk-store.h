/* The kiosk's local encrypted store (DIR/kiosk.db over gk-store): device identity,
 * the synced ticket/host/redemption/key tables, and the durable event queue. */
#pragma once
#include <glib.h>
#include <json-glib/json-glib.h>

#include "gk-store.h"
#include "gk-ticket.h"

G_BEGIN_DECLS

#define KIOSK_STORE_ERROR kiosk_store_error_quark()
GQuark kiosk_store_error_quark(void);
typedef enum {
  KIOSK_STORE_ERROR_NOT_ENROLLED, /* no store, or a store without a device identity */
  KIOSK_STORE_ERROR_ENROLLED,     /* the data dir already holds an enrolled device */
  KIOSK_STORE_ERROR_BAD_CHANGE,   /* a change from the server does not match the protocol */
} KioskStoreError;

#define KIOSK_DB_NAME  "kiosk.db"
#define KIOSK_KEK_NAME "kiosk.kek"

typedef struct _KioskStore KioskStore;

/* Who this device is: everything enrollment produced. The private key lives
 * only here and in the encrypted store. */
typedef struct {
  char *device_id;
  char *name;
  char *mode;        /* "gate" | "reception" */
  gint64 site_id;
  char *host;        /* server host name, as in the enrollment code */
  guint16 admin_port;
  guint16 device_port;
  char *ca_pem;
  char *cert_pem;
  char *key_pem;     /* secret: zeroed by kiosk_identity_clear() */
} KioskIdentity;

void kiosk_identity_clear(KioskIdentity *identity);

/* Creates DIR (0700) and a new empty store in it; refuses (ENROLLED) when
 * DIR/kiosk.db exists. */
KioskStore *kiosk_store_create(const char *data_dir, GError **error);
/* Opens DIR/kiosk.db (migrating it); NOT_ENROLLED when there is none. */
KioskStore *kiosk_store_open(const char *data_dir, GError **error);
void kiosk_store_close(KioskStore *store);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KioskStore, kiosk_store_close)
GkStore *kiosk_store_gk(KioskStore *store);

/* Deletes the store and its key files (db, -wal, -shm, .key, kek): every piece
 * of personal data and every credential the device holds. Close stores first. */
gboolean kiosk_store_wipe(const char *data_dir, GError **error);

/* ---- meta: small key/value settings ---- */
char *kiosk_store_get_meta(KioskStore *store, const char *key);
gint64 kiosk_store_get_meta_int(KioskStore *store, const char *key, gint64 fallback);
gboolean kiosk_store_set_meta(KioskStore *store, const char *key, const char *value, GError **error);
gboolean kiosk_store_set_meta_int(KioskStore *store, const char *key, gint64 value, GError **error);

/* ---- the device's own configuration (each pull's "device" object) ---- */

typedef struct {
  const char *name;        /* NULL: unchanged */
  const char *mode;        /* NULL: unchanged */
  gint64 cert_expires_at;  /* 0: unchanged */
  GHashTable *config;      /* NULL: no remote settings in the answer (an older server);
                            * else key -> value, already validated (kiosk-settings) */
  gint64 config_version;   /* with config */
} KioskDeviceConfig;

/* One transaction: name, mode, expiry and, with config, the remote settings as
 * meta "config.<key>" (keys absent from config are deleted, so they go back to
 * the default), "config_version", and meta "mode" from a remote "mode". */
gboolean kiosk_store_apply_device_config(KioskStore *store, const KioskDeviceConfig *config, GError **error);
/* A remotely set setting, or NULL (use the default: kiosk_settings_get()). */
char *kiosk_store_get_setting(KioskStore *store, const char *key);

/* In one transaction; refuses (ENROLLED) when an identity is already stored. */
gboolean kiosk_store_save_identity(KioskStore *store, const KioskIdentity *identity, GError **error);
/* NOT_ENROLLED when the store holds no (complete) identity. */
/* After a certificate renewal: the new certificate, key and expiry, and
 * "identity_generation" + 1 so other clients of the store reload them. */
gboolean kiosk_store_replace_credentials(KioskStore *store, const char *cert_pem, const char *key_pem,
                                         gint64 cert_expires_at, GError **error);
gboolean kiosk_store_load_identity(KioskStore *store, KioskIdentity *out, GError **error);

/* ---- the change feed ---- */

/* Validates every change of a pull page (docs/protocol.md, "Pull changes"),
 * then applies them and stores @cursor in ONE transaction. Upserts only, so
 * applying a page twice changes nothing. A bad change refuses the whole page. */
gboolean kiosk_store_apply_page(KioskStore *store, JsonArray *changes, gint64 cursor, guint *out_applied,
                                GError **error);
/* The public keys a ticket may be signed with (retired keys excluded). */
GkKeyring *kiosk_store_load_keyring(KioskStore *store, GError **error);
/* Bumped by every page that carried a key change: callers cache the keyring. */
gint64 kiosk_store_keys_generation(KioskStore *store);

typedef struct {
  gboolean known;    /* the ticket came through the feed */
  gboolean revoked;
} KioskTicketState;
gboolean kiosk_store_ticket_state(KioskStore *store, const char *ticket_hex, KioskTicketState *out, GError **error);

typedef struct {
  gboolean found;
  gint64 at;
  char *device_id;
  char *device_name;
  gboolean pending;  /* our own admission whose event the server has not acknowledged */
} KioskRedemption;
void kiosk_redemption_clear(KioskRedemption *r);
gboolean kiosk_store_get_redemption(KioskStore *store, const char *ticket_hex, KioskRedemption *out, GError **error);
/* Records a redemption the server told us about (already-used answers). */
gboolean kiosk_store_put_redemption(KioskStore *store, const char *ticket_hex, gint64 at, const char *device_id,
                                    const char *device_name, gint64 expires, GError **error);

/* ---- the event queue ---- */

typedef struct {
  char *id;          /* "evt-" + 32 hex */
  char *kind;        /* checkin | checkout | scan-rejected | audit */
  char *ticket_id;   /* 32 hex or NULL */
  gint64 at;         /* device time */
  gboolean offline;
  char *reason;      /* or NULL */
  char *visit_id;    /* walkin: the visit it opens; checkout: the visit it ends; else NULL */
  /* walkin only, read from the visit row for the push (personal data): */
  char *visitor_name;
  char *company;
  char *purpose;
  gint64 host_id;    /* 0: none */
  gboolean terms_accepted;
  GBytes *photo;     /* walkin: the visitor's JPEG (kiosk_bytes_new_wiped), or NULL */
} KioskEvent;
void kiosk_event_free(KioskEvent *event);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KioskEvent, kiosk_event_free)

/* A copy of @data whose bytes are zeroed when the last reference goes: for
 * visitor photos, which must not linger in freed memory. */
GBytes *kiosk_bytes_new_wiped(const void *data, gsize len);

/* A fresh event id: "evt-" + 128 random bits in hex (g_free). */
char *kiosk_event_new_id(void);

/* One transaction, committed (synchronous=FULL) before it returns: the event,
 * already acknowledged when @sent, and, with @redeem, the local redemption of
 * the ticket (at = event time, by this device, @expires = the ticket's
 * valid_until for the purge). An accepted scan is durable once this returns. */
gboolean kiosk_store_record_event(KioskStore *store, const KioskEvent *event, gboolean sent, gboolean redeem,
                                  const char *device_id, const char *device_name, gint64 expires, GError **error);
/* A visit at this reception: a walk-in, or a ticket or code check-in. */
typedef struct {
  const char *id;               /* "vis-" + 32 hex */
  const char *kind;             /* "walkin" | "ticket" */
  const char *ticket_id;        /* ticket visits: 32 hex; else NULL */
  const char *visitor_name;     /* NULL: a ticket the feed has not brought yet */
  const char *company;          /* or NULL */
  const char *purpose;          /* or NULL */
  gint64 host_id;               /* 0: none */
  gboolean terms_accepted;
  const char *checkin_event_id; /* the event that opened it */
  gint64 checked_in_at;         /* device time */
  gboolean host_notified;       /* the server has the check-in */
  GBytes *photo;                /* walk-ins: a JPEG, or NULL (kept until the check-in event is sent) */
} KioskVisitRecord;

/* kiosk_store_record_event() (skipped when @event is NULL) and the visit
 * @visit (when not NULL) in one transaction. A visit's host_notified becomes
 * TRUE when kiosk_store_mark_sent() marks its check-in event sent. */
gboolean kiosk_store_record_visit(KioskStore *store, const KioskEvent *event, gboolean sent, gboolean redeem,
                                  const char *device_id, const char *device_name, gint64 expires,
                                  const KioskVisitRecord *visit, GError **error);
/* Ends the open visit @visit_id at @event->at and queues the checkout @event,
 * in one transaction. *out_found FALSE (nothing recorded, TRUE returned) when
 * there is no such visit or it has ended already. */
gboolean kiosk_store_record_checkout(KioskStore *store, const KioskEvent *event, const char *visit_id,
                                     gboolean *out_found, GError **error);

/* The queued event @id, or NULL: not queued (sent, or never made; @error
 * unset) or the store failed (@error set). */
KioskEvent *kiosk_store_pending_event(KioskStore *store, const char *id, GError **error);
/* Photo bytes one push batch carries at most: the server takes 1 MiB bodies,
 * and base64 makes 384 KiB of JPEG 512 KiB, leaving room for the rest. */
#define KIOSK_STORE_PUSH_PHOTO_BYTES (384 * 1024)
/* The oldest unsent events, at most @limit (KioskEvent, owned by the array);
 * fewer when their photos would pass KIOSK_STORE_PUSH_PHOTO_BYTES (always at
 * least one event). */
GPtrArray *kiosk_store_pending_events(KioskStore *store, guint limit, GError **error);
/* Marks these ids sent, in one transaction; a walk-in's photo is deleted with
 * it (the server has it now, the device no longer needs it). */
gboolean kiosk_store_mark_sent(KioskStore *store, const char *const *ids, guint n_ids, GError **error);
gint64 kiosk_store_queue_length(KioskStore *store);

/* Deletes personal data of tickets whose valid_until + the setting
 * "retention-hours" (default 24) is before @now (visitor names, their
 * redemptions), visits whose check-out (or check-in + 24 h) + retention is
 * before @now and whose events were all sent, the photos of such visits even
 * when unsent (the walk-in then reaches the server without its photo), and
 * event rows already sent. */
gboolean kiosk_store_purge(KioskStore *store, gint64 now, GError **error);

G_END_DECLS
