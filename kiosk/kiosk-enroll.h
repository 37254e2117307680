/* Enrollment: pin the server CA from the code's fingerprint, make the device key
 * and CSR here (mbedTLS), trade the one-time token for a certificate, and keep
 * everything in a new encrypted store. */
#pragma once
#include <glib.h>

#include "kiosk-store.h"

G_BEGIN_DECLS

#define KIOSK_ENROLL_ERROR kiosk_enroll_error_quark()
GQuark kiosk_enroll_error_quark(void);
typedef enum {
  KIOSK_ENROLL_ERROR_CA_MISMATCH, /* the server's CA is not the one the code names */
  KIOSK_ENROLL_ERROR_REFUSED,     /* the server refused the code (used, unknown, expired) */
  KIOSK_ENROLL_ERROR_CRYPTO,      /* key, CSR or certificate handling failed */
  KIOSK_ENROLL_ERROR_BAD_ANSWER,
} KioskEnrollError;

/* A new ECDSA P-256 key (PEM, secret: free with gk_secure_free) and a CSR for it. */
gboolean kiosk_enroll_make_key_and_csr(char **out_key_pem, char **out_csr_pem, GError **error);

/* SHA-256 of the DER of the single certificate in @pem. */
gboolean kiosk_enroll_ca_fingerprint(const char *pem, gsize len, guint8 out[32], GError **error);

/* Enrolls into @data_dir, which must not hold a store yet. On success the store
 * holds the identity; @out_store (may be NULL) receives it open, ready for the
 * first sync. On failure nothing is left behind in @data_dir. */
gboolean kiosk_enroll(const char *data_dir, const char *code_text, KioskStore **out_store, GError **error);

G_END_DECLS
