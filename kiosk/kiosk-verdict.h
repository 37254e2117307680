/* The verdict path: scanned text -> decode and verify -> site -> local state ->
 * online redemption (short timeout) or an offline decision -> a durable event
 * for every admission -> one verdict. Docs: docs/kiosk.md, "Verdict path". */
#pragma once
#include <glib.h>

#include "kiosk-net.h"
#include "kiosk-store.h"

G_BEGIN_DECLS

typedef enum {
  KIOSK_REASON_OK,
  KIOSK_REASON_ALREADY_USED,
  KIOSK_REASON_BAD_SIGNATURE,
  KIOSK_REASON_EXPIRED,
  KIOSK_REASON_NOT_YET_VALID,
  KIOSK_REASON_REVOKED,
  KIOSK_REASON_WRONG_SITE,
  KIOSK_REASON_MALFORMED,
  KIOSK_REASON_UNKNOWN_KEY,
  KIOSK_REASON_UNKNOWN_TICKET, /* only from the server: genuine but unknown there */
  KIOSK_REASON_INTERNAL_ERROR, /* the store failed: nothing could be recorded */
} KioskReason;

/* "ok", "already-used", … as in the verdict JSON. */
const char *kiosk_reason_name(KioskReason reason);

/* Online redemption timeout: a gate must answer fast, so the server gets this
 * long (connection included) before the gate decides on its own. */
#define KIOSK_REDEEM_TIMEOUT_MS 300
/* Longest scanner line read; longer lines are malformed without decoding. */
#define KIOSK_SCAN_LINE_MAX 1024

typedef struct {
  gboolean accepted;
  KioskReason reason;
  char ticket_id[33];  /* "" when the ticket could not be verified */
  gboolean offline;    /* decided without the server */
  gboolean checkout;   /* an exit scan (--checkout) */
  gint64 used_at;      /* already-used: when */
  char *used_by;       /* already-used: device name (or id) */
  char *event_id;      /* accepted: the queued event */
  gboolean host_notified; /* accepted online: the server queued a notification to the host */
} KioskVerdict;

void kiosk_verdict_clear(KioskVerdict *verdict);
/* One JSON line without the newline (g_free). */
char *kiosk_verdict_to_json(const KioskVerdict *verdict);

/* Length of @line without one trailing "\r\n", "\n" or "\r" (nothing else is
 * stripped: a ticket may end in spaces). */
gsize kiosk_scan_line_strip(const char *line, gsize len);

typedef struct _KioskGate KioskGate;

/* Works on @store (not owned; its identity is loaded now). @client (not owned)
 * is used for online redemption, or NULL for offline-only decisions. */
KioskGate *kiosk_gate_new(KioskStore *store, KioskClient *client, GError **error);
void kiosk_gate_free(KioskGate *gate);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KioskGate, kiosk_gate_free)

/* Exit door: accepted scans become checkout events (decided locally). */
void kiosk_gate_set_checkout(KioskGate *gate, gboolean checkout);
void kiosk_gate_set_redeem_timeout(KioskGate *gate, long timeout_ms);
/* The device time the gate uses when @now is 0 in kiosk_gate_scan(): local
 * clock corrected by the clock offset learned at the last sync. */
gint64 kiosk_gate_now(KioskGate *gate);
/* TRUE when the last online attempt was refused at TLS level (maybe revoked). */
gboolean kiosk_gate_server_refused(KioskGate *gate);

/* Decides one scan. Always fills @out (a store failure becomes a rejected
 * internal-error verdict and a FALSE return with @error). @now in Unix
 * seconds, 0 for kiosk_gate_now(). */
gboolean kiosk_gate_scan(KioskGate *gate, const char *text, gsize len, gint64 now, KioskVerdict *out,
                         GError **error);

G_END_DECLS
