/* Enrollment codes: what an admin hands a new device (as text or QR) so it can
 * find the server, pin its CA and prove it may enroll. Format: docs/protocol.md. */
#pragma once
#include <glib.h>

#define GK_ENROLL_CODE_ERROR gk_enroll_code_error_quark()
GQuark gk_enroll_code_error_quark(void);
typedef enum {
  GK_ENROLL_CODE_ERROR_MALFORMED, /* not an enrollment code, or damaged */
  GK_ENROLL_CODE_ERROR_EXPIRED,   /* past its expiry time */
} GkEnrollCodeError;

#define GK_ENROLL_CODE_PREFIX "GKE1:"
#define GK_ENROLL_TOKEN_LEN 16
#define GK_ENROLL_MAX_HOST_LEN 253

typedef struct {
  guint8 token[GK_ENROLL_TOKEN_LEN];  /* the one-time secret */
  guint8 ca_fingerprint[32];          /* SHA-256 of the server CA certificate (DER) */
  gint64 expires_at;                  /* Unix seconds */
  char host[GK_ENROLL_MAX_HOST_LEN + 1]; /* server host name or address for the admin port */
  guint16 port;                       /* admin port (enrollment) */
} GkEnrollCode;

/* "GKE1:" + base45 of the binary form (g_free). FALSE-like NULL for a host that
 * is empty, too long or holds characters outside [A-Za-z0-9.-:] . */
char *gk_enroll_code_format(const GkEnrollCode *code, GError **error);
/* Strict parse; with @now > 0 an expired code is GK_ENROLL_CODE_ERROR_EXPIRED.
 * Surrounding white space (a typed or scanned line) is ignored. */
gboolean gk_enroll_code_parse(const char *text, gint64 now, GkEnrollCode *out, GError **error);
