/* RFC 9285 base45 encoder and strict decoder (used for the QR form of tickets). */
#include "gk-base45.h"

G_DEFINE_QUARK(gk-base45-error-quark, gk_base45_error)

/* Character value + 1, so that 0 marks every byte outside the alphabet (NUL
 * included: a strchr() lookup would wrongly find the terminator). */
static const guint8 b45_value_plus1[256] = {
  ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,
  ['6'] = 7,  ['7'] = 8,  ['8'] = 9,  ['9'] = 10, ['A'] = 11, ['B'] = 12,
  ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16, ['G'] = 17, ['H'] = 18,
  ['I'] = 19, ['J'] = 20, ['K'] = 21, ['L'] = 22, ['M'] = 23, ['N'] = 24,
  ['O'] = 25, ['P'] = 26, ['Q'] = 27, ['R'] = 28, ['S'] = 29, ['T'] = 30,
  ['U'] = 31, ['V'] = 32, ['W'] = 33, ['X'] = 34, ['Y'] = 35, ['Z'] = 36,
  [' '] = 37, ['$'] = 38, ['%'] = 39, ['*'] = 40, ['+'] = 41, ['-'] = 42,
  ['.'] = 43, ['/'] = 44, [':'] = 45,
};

static const char b45_alphabet[] = GK_BASE45_ALPHABET;

gsize
gk_base45_encoded_len(gsize len)
{
  return len / 2 * 3 + (len % 2) * 2;
}

gsize
gk_base45_decoded_len(gsize text_len)
{
  if (text_len % 3 == 1)
    return 0;
  return text_len / 3 * 2 + (text_len % 3 == 2 ? 1 : 0);
}

char *
gk_base45_encode(const guint8 *data, gsize len)
{
  g_return_val_if_fail(data != NULL || len == 0, NULL);
  /* Keeps len / 2 * 3 + 3 far from overflowing. */
  g_return_val_if_fail(len < G_MAXSIZE / 2, NULL);

  char *text = g_malloc(gk_base45_encoded_len(len) + 1);
  char *p = text;
  gsize i = 0;
  for (; i + 1 < len; i += 2) {
    guint n = ((guint) data[i] << 8) | data[i + 1];
    *p++ = b45_alphabet[n % 45];
    *p++ = b45_alphabet[(n / 45) % 45];
    *p++ = b45_alphabet[n / 2025];
  }
  if (i < len) {
    guint n = data[i];
    *p++ = b45_alphabet[n % 45];
    *p++ = b45_alphabet[n / 45];
  }
  *p = '\0';
  return text;
}

gboolean
gk_base45_decode(const char *text, gsize text_len, guint8 *out, gsize out_size,
                 gsize *out_len, GError **error)
{
  g_return_val_if_fail(text != NULL || text_len == 0, FALSE);
  g_return_val_if_fail(out != NULL || out_size == 0, FALSE);
  g_return_val_if_fail(out_len != NULL, FALSE);
  g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

  if (text_len > GK_BASE45_MAX_TEXT_LEN) {
    g_set_error(error, GK_BASE45_ERROR, GK_BASE45_ERROR_TOO_LONG,
                "base45 text too long (%" G_GSIZE_FORMAT " characters, at most %d)",
                text_len, GK_BASE45_MAX_TEXT_LEN);
    return FALSE;
  }
  /* The offending byte is reported as a number: the text came from outside and
   * may hold control characters that do not belong in a log line. */
  for (gsize i = 0; i < text_len; i++) {
    if (b45_value_plus1[(guint8) text[i]] == 0) {
      g_set_error(error, GK_BASE45_ERROR, GK_BASE45_ERROR_BAD_CHAR,
                  "byte 0x%02x at offset %" G_GSIZE_FORMAT " is not a base45 character",
                  (guint) (guint8) text[i], i);
      return FALSE;
    }
  }
  if (text_len % 3 == 1) {
    g_set_error(error, GK_BASE45_ERROR, GK_BASE45_ERROR_BAD_LENGTH,
                "base45 text of %" G_GSIZE_FORMAT " characters ends in a lone character",
                text_len);
    return FALSE;
  }
  gsize need = gk_base45_decoded_len(text_len);
  if (need > out_size) {
    g_set_error(error, GK_BASE45_ERROR, GK_BASE45_ERROR_NO_SPACE,
                "base45 text decodes to %" G_GSIZE_FORMAT " bytes, room for %" G_GSIZE_FORMAT,
                need, out_size);
    return FALSE;
  }

  gsize o = 0;
  gsize i = 0;
  for (; i + 2 < text_len; i += 3) {
    guint32 n = (guint32) (b45_value_plus1[(guint8) text[i]] - 1)
              + (guint32) (b45_value_plus1[(guint8) text[i + 1]] - 1) * 45
              + (guint32) (b45_value_plus1[(guint8) text[i + 2]] - 1) * 2025;
    /* Three characters reach 91124; only 0..65535 is the canonical form of two
     * bytes, so anything above would give one byte string two texts. */
    if (n > 0xffff) {
      g_set_error(error, GK_BASE45_ERROR, GK_BASE45_ERROR_OUT_OF_RANGE,
                  "base45 group at offset %" G_GSIZE_FORMAT " is out of range", i);
      return FALSE;
    }
    out[o++] = (guint8) (n >> 8);
    out[o++] = (guint8) (n & 0xff);
  }
  if (i < text_len) {
    guint32 n = (guint32) (b45_value_plus1[(guint8) text[i]] - 1)
              + (guint32) (b45_value_plus1[(guint8) text[i + 1]] - 1) * 45;
    if (n > 0xff) {
      g_set_error(error, GK_BASE45_ERROR, GK_BASE45_ERROR_OUT_OF_RANGE,
                  "base45 final pair at offset %" G_GSIZE_FORMAT " is out of range", i);
      return FALSE;
    }
    out[o++] = (guint8) n;
  }
  *out_len = o;
  return TRUE;
}
