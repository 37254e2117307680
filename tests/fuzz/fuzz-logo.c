/* Fuzz target: the device setting "logo" (gk_logo_decode) arrives from admins
 * and, on the kiosk, from the server. Any text either is refused with a reason
 * or yields a PNG within the bounds both sides rely on. */
#include <stdint.h>
#include <string.h>

#include "gk-logo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  g_autofree char *text = g_strndup((const char *) data, size);
  guint w = 0, h = 0;
  GError *error = NULL;
  GBytes *png = gk_logo_decode(text, &w, &h, &error);
  if (png == NULL) {
    if (error == NULL || error->message == NULL || *error->message == '\0')
      __builtin_trap();
    g_error_free(error);
    return 0;
  }
  gsize len = g_bytes_get_size(png);
  const guint8 *bytes = g_bytes_get_data(png, NULL);
  if (error != NULL || len < 29 || len > GK_LOGO_MAX_BYTES || memcmp(bytes + 1, "PNG", 3) != 0 || w == 0 || h == 0 ||
      w > GK_LOGO_MAX_PIXELS || h > GK_LOGO_MAX_PIXELS)
    __builtin_trap();
  g_bytes_unref(png);
  return 0;
}
