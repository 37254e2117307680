/* Site logos set remotely (device setting "logo"): a PNG carried as base64
 * text. Server and kiosk check the same bounds before storing one, so a bad
 * value is refused where the admin typed it and never lands on a device. */
#pragma once
#include <glib.h>

G_BEGIN_DECLS

#define GK_LOGO_ERROR gk_logo_error_quark()
GQuark gk_logo_error_quark(void);

typedef enum {
  GK_LOGO_ERROR_ENCODING, /* not strict base64 */
  GK_LOGO_ERROR_SIZE,     /* empty, or more than GK_LOGO_MAX_BYTES */
  GK_LOGO_ERROR_FORMAT,   /* not a PNG, or its size is out of bounds */
} GkLogoError;

#define GK_LOGO_MAX_BYTES  (48 * 1024)
#define GK_LOGO_MAX_PIXELS 1024 /* per side */
/* Base64 of GK_LOGO_MAX_BYTES: the longest text a setting may carry. */
#define GK_LOGO_MAX_TEXT   (((GK_LOGO_MAX_BYTES + 2) / 3) * 4)

/* Decodes @text (standard base64 with padding, no whitespace) and checks that
 * it is a PNG of at most GK_LOGO_MAX_BYTES whose header gives 1..1024 pixels a
 * side. Returns the PNG bytes and, when asked, its size; NULL and @error else.
 * The picture data itself is decoded only by the kiosk (GdkTexture). */
GBytes *gk_logo_decode(const char *text, guint *out_width, guint *out_height, GError **error);

G_END_DECLS
