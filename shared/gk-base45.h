/* RFC 9285 base45: binary data as text that fits QR alphanumeric mode. Decoding is
 * strict, so every byte string has exactly one accepted text form. */
#pragma once
#include <glib.h>

#define GK_BASE45_ERROR gk_base45_error_quark()

typedef enum {
  GK_BASE45_ERROR_TOO_LONG,     /* text longer than GK_BASE45_MAX_TEXT_LEN */
  GK_BASE45_ERROR_BAD_CHAR,     /* a byte outside the 45-character alphabet */
  GK_BASE45_ERROR_BAD_LENGTH,   /* a lone character left over at the end */
  GK_BASE45_ERROR_OUT_OF_RANGE, /* a group whose value does not fit its bytes */
  GK_BASE45_ERROR_NO_SPACE,     /* the caller's output buffer is too small */
} GkBase45Error;

GQuark gk_base45_error_quark(void);

/* The alphabet, in value order (value 0 is '0', value 44 is ':'). */
#define GK_BASE45_ALPHABET "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"

/* Longest text gk_base45_decode() looks at; anything longer is refused before
 * any other work. Genkan's payloads are a few hundred characters at most. */
#define GK_BASE45_MAX_TEXT_LEN 4096

/* Exact length of the text for @len bytes (without a terminating NUL). */
gsize gk_base45_encoded_len(gsize len);

/* Number of bytes a well-formed text of @text_len characters decodes to; 0 when
 * no well-formed text has that length (text_len % 3 == 1). */
gsize gk_base45_decoded_len(gsize text_len);

/* Encodes @len bytes; returns a NUL-terminated string (g_free). @data may be NULL
 * when @len is 0. */
char *gk_base45_encode(const guint8 *data, gsize len);

/* Decodes exactly @text_len characters of @text (no NUL needed, no whitespace or
 * newline tolerated) into @out, which holds @out_size bytes. On success stores the
 * decoded length in @out_len. On failure returns FALSE with a GK_BASE45_ERROR and
 * the contents of @out are unspecified. */
gboolean gk_base45_decode(const char *text, gsize text_len, guint8 *out, gsize out_size,
                          gsize *out_len, GError **error) G_GNUC_WARN_UNUSED_RESULT;
