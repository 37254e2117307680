/* Site logo values: strict base64 and a PNG header check (gk-logo.h). */
#include <string.h>

#include "gk-logo.h"

G_DEFINE_QUARK(gk-logo-error-quark, gk_logo_error)

static const guint8 png_signature[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };

static gboolean
base64_char(char c)
{
  return g_ascii_isalnum(c) || c == '+' || c == '/';
}

/* g_base64_decode() skips characters it does not know: check the text first
 * so that garbage is refused instead of silently dropped. */
static gboolean
strict_base64(const char *text, gsize len)
{
  if (len == 0 || len % 4 != 0)
    return FALSE;
  gsize pad = text[len - 1] == '=' ? (text[len - 2] == '=' ? 2 : 1) : 0;
  for (gsize i = 0; i < len - pad; i++)
    if (!base64_char(text[i]))
      return FALSE;
  return TRUE;
}

static guint32
read_be32(const guint8 *p)
{
  return ((guint32) p[0] << 24) | ((guint32) p[1] << 16) | ((guint32) p[2] << 8) | p[3];
}

GBytes *
gk_logo_decode(const char *text, guint *out_width, guint *out_height, GError **error)
{
  g_return_val_if_fail(text != NULL, NULL);
  gsize len = strlen(text);
  if (len > GK_LOGO_MAX_TEXT) {
    g_set_error(error, GK_LOGO_ERROR, GK_LOGO_ERROR_SIZE, "the logo is larger than %u KiB",
                GK_LOGO_MAX_BYTES / 1024);
    return NULL;
  }
  if (!strict_base64(text, len)) {
    g_set_error(error, GK_LOGO_ERROR, GK_LOGO_ERROR_ENCODING, "the logo is not base64 text");
    return NULL;
  }
  gsize n = 0;
  guint8 *png = g_base64_decode(text, &n);
  g_autoptr(GBytes) bytes = g_bytes_new_take(png, n);
  if (n == 0 || n > GK_LOGO_MAX_BYTES) {
    g_set_error(error, GK_LOGO_ERROR, GK_LOGO_ERROR_SIZE, "the logo must be 1 byte to %u KiB",
                GK_LOGO_MAX_BYTES / 1024);
    return NULL;
  }
  /* Signature, then the IHDR chunk: length 13, type, width, height. */
  if (n < 8 + 8 + 13 || memcmp(png, png_signature, 8) != 0 || read_be32(png + 8) != 13 ||
      memcmp(png + 12, "IHDR", 4) != 0) {
    g_set_error(error, GK_LOGO_ERROR, GK_LOGO_ERROR_FORMAT, "the logo is not a PNG image");
    return NULL;
  }
  guint32 width = read_be32(png + 16), height = read_be32(png + 20);
  if (width == 0 || height == 0 || width > GK_LOGO_MAX_PIXELS || height > GK_LOGO_MAX_PIXELS) {
    g_set_error(error, GK_LOGO_ERROR, GK_LOGO_ERROR_FORMAT, "the logo must be 1 to %u pixels a side (it is %ux%u)",
                GK_LOGO_MAX_PIXELS, width, height);
    return NULL;
  }
  if (out_width != NULL)
    *out_width = width;
  if (out_height != NULL)
    *out_height = height;
  return g_steal_pointer(&bytes);
}
