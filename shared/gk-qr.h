/* QR symbols for tickets and enrollment codes: PNG files (libqrencode + cairo)
 * and Unicode half-block drawings for terminals. */
#pragma once
#include <glib.h>

#define GK_QR_ERROR gk_qr_error_quark()
GQuark gk_qr_error_quark(void);
typedef enum {
  GK_QR_ERROR_INVALID,  /* empty text, text with a NUL, bad module size */
  GK_QR_ERROR_TOO_LONG, /* more than a version-40 symbol at ECC level M holds */
  GK_QR_ERROR_ENCODE,   /* libqrencode or cairo failed */
} GkQrError;

#define GK_QR_QUIET_ZONE 4      /* modules of light margin on every side */
#define GK_QR_MAX_MODULE_PX 64

/* Encodes @text (ECC level M; QR alphanumeric mode when every character is in
 * that set, so ticket texts stay a small symbol) and writes it as a PNG of
 * @module_px (1..GK_QR_MAX_MODULE_PX) pixels per module with a 4-module quiet
 * zone. The PNG is written to a temporary file beside @path (mode 0600: a code
 * is a credential) and renamed over @path, so a failed write leaves nothing.
 * Errors: GK_QR_ERROR or G_FILE_ERROR. */
gboolean gk_qr_write_png(const char *text, const char *path, guint module_px, GError **error);

/* Draws @text's symbol with Unicode half blocks, two module rows per line, quiet
 * zone included; every line ends with '\n'. Light modules are drawn (█▀▄) and
 * dark ones left blank, so it reads as a normal symbol on the usual light-on-dark
 * terminal. Lines are (width + 8) characters; there are ceil((width + 8) / 2) of
 * them, width being the symbol's module count. (g_free) */
char *gk_qr_render_terminal(const char *text, GError **error);

/* The symbol's size in modules without the quiet zone (21 for version 1), or 0
 * with @error set. For callers that size a drawing and for tests. */
guint gk_qr_symbol_width(const char *text, GError **error);
