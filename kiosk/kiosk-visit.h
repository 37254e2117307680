/* Reception visits on the kiosk: host directory search, walk-in registration,
 * check-in by one-time reception code or by ticket QR, and check-out by badge.
 * Every call may block (store commit, a short online attempt): the GTK app
 * runs them on its engine thread, never on the main loop. */
#pragma once
#include <glib.h>
#include "kiosk-net.h"
#include "kiosk-store.h"
#include "kiosk-verdict.h"

G_BEGIN_DECLS

#define KIOSK_VISIT_ERROR kiosk_visit_error_quark()
GQuark kiosk_visit_error_quark(void);

typedef enum {
  KIOSK_VISIT_ERROR_INVALID,      /* a field is missing, too long or not valid UTF-8 */
  KIOSK_VISIT_ERROR_NO_HOST,      /* the chosen host is not in the directory */
  KIOSK_VISIT_ERROR_BAD_CODE,     /* no valid, unused invitation has this reception code */
  KIOSK_VISIT_ERROR_RATE_LIMITED, /* too many wrong codes: wait (see retry_after) */
  KIOSK_VISIT_ERROR_NOT_VISITING, /* check-out of a badge that is not checked in */
} KioskVisitError;

/* Field limits (bytes of UTF-8). */
#define KIOSK_VISIT_NAME_MAX    128
#define KIOSK_VISIT_COMPANY_MAX 128
#define KIOSK_VISIT_PURPOSE_MAX 256
/* Reception codes are exactly this many ASCII digits. */
#define KIOSK_RECEPTION_CODE_DIGITS 8
/* Wrong codes allowed before the keypad locks, and the first lock in seconds
 * (doubling with every further wrong code, at most one hour). */
#define KIOSK_RECEPTION_CODE_FREE_TRIES 5
#define KIOSK_RECEPTION_CODE_FIRST_LOCK 30
/* The badge QR text: this prefix + the visit id. */
#define KIOSK_BADGE_PREFIX "GKB1:"
/* A walk-in photo is a JPEG of at most this many bytes (the server's limit). */
#define KIOSK_VISIT_PHOTO_MAX (64 * 1024)

/* A staff member in the synced directory: only what the kiosk may show. */
typedef struct {
  gint64 id;
  char *name;
  char *reading;     /* kana reading or NULL */
  char *department;  /* or NULL */
} KioskHost;
void kiosk_host_free(KioskHost *host);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KioskHost, kiosk_host_free)

/* Hosts whose name or reading contains @query (case-insensitive for ASCII,
 * hiragana and katakana treated alike), ordered by reading then name, at most
 * @limit. An empty @query lists the directory (the UI only asks for that when
 * the site allows browsing). GPtrArray of KioskHost (owns them). */
GPtrArray *kiosk_visit_search_hosts(KioskStore *store, const char *query, guint limit, GError **error);

/* What a visitor typed at the walk-in screen. */
typedef struct {
  const char *visitor_name;  /* required */
  const char *company;       /* NULL or "" allowed unless the site requires it */
  const char *purpose;       /* idem */
  gint64 host_id;            /* required */
  gboolean terms_accepted;   /* the terms/NDA screen was accepted */
  GBytes *photo;             /* NULL, or the visitor's photo (sites with "photo"):
                              * a JPEG of at most KIOSK_VISIT_PHOTO_MAX bytes */
} KioskWalkin;

/* TRUE for 1..KIOSK_VISIT_PHOTO_MAX bytes that start with a JPEG SOI marker
 * (FF D8 FF) and end with EOI (FF D9): what the server accepts. */
gboolean kiosk_visit_photo_ok(GBytes *photo);

/* The outcome of a visit step, for the done screen and the badge. */
typedef struct {
  char *visit_id;        /* "vis-" + 32 hex; the badge QR is KIOSK_BADGE_PREFIX + visit_id */
  char *visitor_name;
  char *company;         /* or NULL */
  char *host_name;       /* or NULL when the ticket names no host */
  gint64 at;             /* device time of the check-in/out */
  gboolean offline;      /* decided and queued without the server */
  gboolean host_notified;/* the server acknowledged the event (it notifies the host) */
  gint64 retry_after;    /* RATE_LIMITED: seconds until the keypad opens again */
} KioskVisitResult;
void kiosk_visit_result_clear(KioskVisitResult *result);

/* Registers a walk-in: validates, records a durable "walkin" event (visitor
 * data, host, terms acceptance, photo) and tries to deliver it at once through
 * @client (NULL: offline). Returns FALSE with INVALID/NO_HOST and records
 * nothing on bad input. The store keeps a copy of the photo only until the
 * server acknowledged the event. */
gboolean kiosk_visit_walkin(KioskStore *store, KioskClient *client, const KioskWalkin *walkin,
                            KioskVisitResult *out, GError **error);

/* Check-in with the numeric reception code printed on the invitation. Online
 * the server redeems it; offline the synced code table decides. Wrong codes
 * count towards the device's lock (RATE_LIMITED, out->retry_after set) even
 * across restarts. */
gboolean kiosk_visit_reception_code(KioskStore *store, KioskClient *client, const char *code,
                                    KioskVisitResult *out, GError **error);

/* Check-in at reception with a ticket QR: the gate's verdict path (@gate), and
 * on acceptance the visit details for the done screen and badge. A rejected
 * ticket returns TRUE with @verdict telling why and @out empty. */
gboolean kiosk_visit_ticket(KioskGate *gate, KioskStore *store, const char *text, gsize len,
                            KioskVerdict *verdict, KioskVisitResult *out, GError **error);

/* Check-out with a badge QR (KIOSK_BADGE_PREFIX + visit id) or a ticket QR that
 * checked in here: records a "checkout" event. NOT_VISITING when the visit is
 * unknown or already checked out. */
gboolean kiosk_visit_checkout(KioskStore *store, KioskClient *client, const char *text, gsize len,
                              KioskVisitResult *out, GError **error);

/* Visitors checked in and not yet out (for the "Leaving" list): visit id and
 * name only. GPtrArray of KioskVisitResult* (free with kiosk_visit_result_free). */
GPtrArray *kiosk_visit_list_present(KioskStore *store, guint limit, GError **error);
void kiosk_visit_result_free(KioskVisitResult *result);

/* Personal data on the device is purged by kiosk_store_purge(): visits whose
 * check-out (or check-in + 24 h) is older than the retention setting. */

/* ---- additions (not in the first contract) ---- */

/* How long a walk-in, check-out or code check-in waits for the server before
 * it goes on offline (the visitor is at the screen; a gate gets 300 ms). */
#define KIOSK_VISIT_ONLINE_TIMEOUT_MS 1000

/* The server's answer to POST /v1/redeem-code (docs/protocol.md), checked. */
typedef enum {
  KIOSK_CODE_ACCEPTED,
  KIOSK_CODE_ALREADY_USED,
  KIOSK_CODE_BAD,           /* rejected, bad-code: counts as a wrong code */
  KIOSK_CODE_NOT_YET_VALID, /* rejected, not-yet-valid: a right code, too early */
} KioskCodeResult;

typedef struct {
  KioskCodeResult result;
  char ticket_id[33];   /* accepted, already-used, not-yet-valid */
  gboolean multi;       /* accepted: a multi-entry ticket */
  char *visitor;        /* accepted, or NULL */
  char *company;        /* accepted, or NULL */
  gint64 host_id;       /* accepted, 0: none */
  char *host_name;      /* accepted, or NULL */
  gboolean host_notified; /* accepted: the server queued a notification to the host */
  gint64 used_at;       /* already-used */
  char *used_by;        /* already-used: device name (or id) */
} KioskCodeAnswer;
void kiosk_code_answer_clear(KioskCodeAnswer *answer);
/* Checks an answer object against the protocol (unknown fields allowed, as in
 * every answer); FALSE with @error for anything else. */
gboolean kiosk_visit_parse_code_answer(JsonObject *answer, KioskCodeAnswer *out, GError **error);

G_END_DECLS
