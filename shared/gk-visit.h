/* Reception visits, the parts both sides must agree on: reception codes and
 * their hash (docs/protocol.md, "Reception codes"), visit ids, and the text
 * rules for what a visitor types at a kiosk. */
#pragma once
#include <glib.h>

/* A reception code is exactly this many ASCII digits. */
#define GK_RECEPTION_CODE_DIGITS 8
/* Visit ids: this prefix + 32 lowercase hex digits. */
#define GK_VISIT_ID_PREFIX "vis-"
#define GK_VISIT_ID_LEN 36
/* The badge QR: this prefix + a visit id. */
#define GK_BADGE_PREFIX "GKB1:"

/* Field limits, in bytes of UTF-8. */
#define GK_VISIT_NAME_MAX    128
#define GK_VISIT_COMPANY_MAX 128
#define GK_VISIT_PURPOSE_MAX 256

/* TRUE for exactly GK_RECEPTION_CODE_DIGITS ASCII digits. */
gboolean gk_reception_code_ok(const char *code);
/* A fresh random code (libsodium), GK_RECEPTION_CODE_DIGITS digits (g_free). */
char *gk_reception_code_new(void);
/* SHA-256 of "GKRC1:" + site id (decimal) + ":" + code: what the server keeps
 * and what devices look a typed code up by. The site id makes the same code of
 * two sites hash apart; the label keeps the hash from meaning anything else. */
void gk_reception_code_hash(gint64 site_id, const char *code, guint8 out[32]);
/* The same as 64 lowercase hex digits (g_free). */
char *gk_reception_code_hash_hex(gint64 site_id, const char *code);

/* TRUE for "vis-" + 32 lowercase hex digits. */
gboolean gk_visit_id_ok(const char *id);
/* A fresh random visit id (g_free). */
char *gk_visit_id_new(void);
/* The visit id a ticket check-in with event @event_id opens: "vis-" + the
 * first 32 hex digits of SHA-256("GKV1:" + event id). Device and server both
 * derive it, so a badge printed offline names the visit the server opens when
 * the event arrives (g_free). */
char *gk_visit_id_for_event(const char *event_id);

/* What a visitor may type as a name, company or purpose: valid UTF-8, 1 to
 * @max_bytes bytes, not only white space, and no control, bidi-override or
 * other invisible format characters (they would garble badges and lists).
 * On FALSE, *@why (may be NULL) says what is wrong, in words for a message. */
gboolean gk_visit_text_ok(const char *text, gsize max_bytes, const char **why);
