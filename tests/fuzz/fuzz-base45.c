/* Fuzz target for the strict base45 decoder: it must never crash, and whatever it
 * accepts must be the one text the encoder gives for those bytes. */
#include "gk-base45.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  /* Decode the input as text, into a buffer sized exactly as the API promises. */
  gsize cap = gk_base45_decoded_len(size);
  guint8 *out = g_malloc(cap ? cap : 1);
  gsize out_len = 0;
  GError *error = NULL;
  if (gk_base45_decode((const char *) data, size, out, cap, &out_len, &error)) {
    if (size > GK_BASE45_MAX_TEXT_LEN || out_len != cap)
      abort();
    char *again = gk_base45_encode(out, out_len);
    if (strlen(again) != size || memcmp(again, data, size) != 0)
      abort(); /* two texts for one byte string: the decoder is not strict */
    g_free(again);
  } else {
    if (error == NULL || error->domain != GK_BASE45_ERROR || error->message == NULL)
      abort();
    g_error_free(error);
  }
  g_free(out);

  /* Encode the input as bytes and decode it back. */
  if (size <= GK_BASE45_MAX_TEXT_LEN / 3 * 2) {
    char *text = gk_base45_encode(data, size);
    gsize text_len = strlen(text);
    if (text_len != gk_base45_encoded_len(size))
      abort();
    guint8 *back = g_malloc(size ? size : 1);
    gsize back_len = 0;
    if (!gk_base45_decode(text, text_len, back, size, &back_len, NULL))
      abort();
    if (back_len != size || memcmp(back, data, size) != 0)
      abort();
    g_free(back);
    g_free(text);
  }
  return 0;
}
