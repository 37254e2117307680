/* Unit tests for the RFC 9285 base45 codec: RFC vectors, round trips, and that the
 * strict decoder accepts exactly one text per byte string. */
#include "gk-base45.h"

#include <string.h>

static void
assert_encodes(const char *bytes, gsize len, const char *expected)
{
  g_autofree char *text = gk_base45_encode((const guint8 *) bytes, len);
  g_assert_cmpstr(text, ==, expected);
  g_assert_cmpuint(strlen(text), ==, gk_base45_encoded_len(len));
}

static void
assert_decodes(const char *text, const char *bytes, gsize len)
{
  guint8 out[64];
  gsize out_len = 0;
  g_autoptr(GError) error = NULL;
  g_assert_true(gk_base45_decode(text, strlen(text), out, sizeof out, &out_len, &error));
  g_assert_no_error(error);
  g_assert_cmpmem(out, out_len, bytes, len);
  g_assert_cmpuint(out_len, ==, gk_base45_decoded_len(strlen(text)));
}

static void
assert_rejects(const char *text, gsize text_len, GkBase45Error code)
{
  guint8 out[GK_BASE45_MAX_TEXT_LEN];
  gsize out_len = 12345;
  g_autoptr(GError) error = NULL;
  g_assert_false(gk_base45_decode(text, text_len, out, sizeof out, &out_len, &error));
  g_assert_error(error, GK_BASE45_ERROR, (gint) code);
  g_assert_cmpuint(out_len, ==, 12345); /* untouched on failure */
}

static void
test_rfc_vectors(void)
{
  /* RFC 9285 section 4.3 and 4.4. */
  assert_encodes("AB", 2, "BB8");
  assert_encodes("Hello!!", 7, "%69 VD92EX0");
  assert_encodes("base-45", 7, "UJCLQE7W581");
  assert_encodes("ietf!", 5, "QED8WEX0");
  assert_decodes("QED8WEX0", "ietf!", 5);
  assert_decodes("BB8", "AB", 2);
  assert_decodes("%69 VD92EX0", "Hello!!", 7);
  assert_decodes("UJCLQE7W581", "base-45", 7);
}

static void
test_empty(void)
{
  g_autofree char *text = gk_base45_encode(NULL, 0);
  g_assert_cmpstr(text, ==, "");
  gsize out_len = 99;
  g_autoptr(GError) error = NULL;
  g_assert_true(gk_base45_decode("", 0, NULL, 0, &out_len, &error));
  g_assert_no_error(error);
  g_assert_cmpuint(out_len, ==, 0);
}

static void
test_round_trip(void)
{
  /* Every two-byte value, then random strings of every length up to 300. */
  for (guint v = 0; v <= 0xffff; v++) {
    guint8 in[2] = { (guint8) (v >> 8), (guint8) v };
    g_autofree char *text = gk_base45_encode(in, 2);
    guint8 out[2];
    gsize out_len = 0;
    g_assert_true(gk_base45_decode(text, strlen(text), out, sizeof out, &out_len, NULL));
    g_assert_cmpmem(out, out_len, in, 2);
  }
  g_autoptr(GRand) rand = g_rand_new_with_seed(45);
  for (gsize len = 0; len <= 300; len++) {
    guint8 in[300];
    for (gsize i = 0; i < len; i++)
      in[i] = (guint8) g_rand_int(rand);
    g_autofree char *text = gk_base45_encode(in, len);
    g_assert_cmpuint(strlen(text), ==, gk_base45_encoded_len(len));
    g_assert_cmpuint(gk_base45_decoded_len(strlen(text)), ==, len);
    guint8 out[300];
    gsize out_len = 0;
    g_autoptr(GError) error = NULL;
    g_assert_true(gk_base45_decode(text, strlen(text), out, len, &out_len, &error));
    g_assert_no_error(error);
    g_assert_cmpmem(out, out_len, in, len);
  }
}

/* Every triple and pair of alphabet characters: accepted exactly when its value
 * fits, and then it is the one text the encoder produces for those bytes. */
static void
test_canonical(void)
{
  const char *abc = GK_BASE45_ALPHABET;
  guint accepted = 0;
  for (guint a = 0; a < 45; a++) {
    for (guint b = 0; b < 45; b++) {
      char pair[2] = { abc[a], abc[b] };
      guint8 out[2];
      gsize out_len = 0;
      gboolean ok = gk_base45_decode(pair, 2, out, sizeof out, &out_len, NULL);
      g_assert_cmpint(ok, ==, a + b * 45 <= 255);
      if (ok) {
        g_autofree char *again = gk_base45_encode(out, out_len);
        g_assert_cmpmem(again, strlen(again), pair, 2);
      }
      for (guint c = 0; c < 45; c++) {
        char triple[3] = { abc[a], abc[b], abc[c] };
        guint value = a + b * 45 + c * 2025;
        ok = gk_base45_decode(triple, 3, out, sizeof out, &out_len, NULL);
        g_assert_cmpint(ok, ==, value <= 0xffff);
        if (ok) {
          accepted++;
          g_assert_cmpuint(out_len, ==, 2);
          g_assert_cmpuint(((guint) out[0] << 8) | out[1], ==, value);
          g_autofree char *again = gk_base45_encode(out, out_len);
          g_assert_cmpmem(again, strlen(again), triple, 3);
        }
      }
    }
  }
  g_assert_cmpuint(accepted, ==, 65536);
}

static void
test_bad_char(void)
{
  for (guint byte = 0; byte < 256; byte++) {
    if (byte != 0 && strchr(GK_BASE45_ALPHABET, (int) byte) != NULL)
      continue;
    for (guint pos = 0; pos < 3; pos++) {
      char text[6] = "BB8BB8";
      text[3 + pos] = (char) byte;
      assert_rejects(text, sizeof text, GK_BASE45_ERROR_BAD_CHAR);
    }
  }
  /* Lowercase, whitespace other than the alphabet's space, and a newline. */
  assert_rejects("bb8", 3, GK_BASE45_ERROR_BAD_CHAR);
  assert_rejects("BB8\n", 4, GK_BASE45_ERROR_BAD_CHAR);
  assert_rejects("BB\t", 3, GK_BASE45_ERROR_BAD_CHAR);
}

static void
test_bad_length(void)
{
  assert_rejects("A", 1, GK_BASE45_ERROR_BAD_LENGTH);
  assert_rejects("BB8A", 4, GK_BASE45_ERROR_BAD_LENGTH);
  assert_rejects("QED8WEX0QQ", 10, GK_BASE45_ERROR_BAD_LENGTH);
  g_assert_cmpuint(gk_base45_decoded_len(4), ==, 0);
}

static void
test_out_of_range(void)
{
  assert_decodes("FGW", "\xff\xff", 2);  /* 65535: the largest triple */
  assert_rejects("GGW", 3, GK_BASE45_ERROR_OUT_OF_RANGE); /* 65536 */
  assert_rejects(":::", 3, GK_BASE45_ERROR_OUT_OF_RANGE); /* 91124 */
  assert_decodes("U5", "\xff", 1);    /* 255: the largest pair */
  assert_rejects("V5", 2, GK_BASE45_ERROR_OUT_OF_RANGE);  /* 256 */
  assert_rejects("::", 2, GK_BASE45_ERROR_OUT_OF_RANGE);
  /* An out-of-range group after good ones is still caught. */
  assert_rejects("BB8BB8GGW", 9, GK_BASE45_ERROR_OUT_OF_RANGE);
  assert_rejects("BB8V5", 5, GK_BASE45_ERROR_OUT_OF_RANGE);
}

static void
test_too_long(void)
{
  g_autofree char *text = g_malloc(GK_BASE45_MAX_TEXT_LEN + 3);
  memset(text, '0', GK_BASE45_MAX_TEXT_LEN + 3);
  /* 4098 characters would otherwise be valid (4098 % 3 == 0). */
  g_assert_cmpuint((GK_BASE45_MAX_TEXT_LEN + 2) % 3, ==, 0);
  assert_rejects(text, GK_BASE45_MAX_TEXT_LEN + 2, GK_BASE45_ERROR_TOO_LONG);
  assert_rejects(text, GK_BASE45_MAX_TEXT_LEN + 1, GK_BASE45_ERROR_TOO_LONG);
  /* The longest well-formed text below the cap is accepted. */
  gsize ok_len = GK_BASE45_MAX_TEXT_LEN - GK_BASE45_MAX_TEXT_LEN % 3;
  guint8 out[GK_BASE45_MAX_TEXT_LEN];
  gsize out_len = 0;
  g_assert_true(gk_base45_decode(text, ok_len, out, sizeof out, &out_len, NULL));
  g_assert_cmpuint(out_len, ==, ok_len / 3 * 2);
}

static void
test_no_space(void)
{
  guint8 out[5];
  gsize out_len = 0;
  g_autoptr(GError) error = NULL;
  g_assert_false(gk_base45_decode("QED8WEX0", 8, out, 4, &out_len, &error));
  g_assert_error(error, GK_BASE45_ERROR, GK_BASE45_ERROR_NO_SPACE);
  g_assert_true(gk_base45_decode("QED8WEX0", 8, out, 5, &out_len, NULL));
  g_assert_cmpmem(out, out_len, "ietf!", 5);
}

/* The text is never read past text_len: a buffer with no NUL works. */
static void
test_not_nul_terminated(void)
{
  char *buf = g_malloc(3);
  memcpy(buf, "BB8", 3);
  guint8 out[2];
  gsize out_len = 0;
  g_assert_true(gk_base45_decode(buf, 3, out, sizeof out, &out_len, NULL));
  g_assert_cmpmem(out, out_len, "AB", 2);
  g_free(buf);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/shared/base45/rfc-vectors", test_rfc_vectors);
  g_test_add_func("/shared/base45/empty", test_empty);
  g_test_add_func("/shared/base45/round-trip", test_round_trip);
  g_test_add_func("/shared/base45/canonical", test_canonical);
  g_test_add_func("/shared/base45/bad-char", test_bad_char);
  g_test_add_func("/shared/base45/bad-length", test_bad_length);
  g_test_add_func("/shared/base45/out-of-range", test_out_of_range);
  g_test_add_func("/shared/base45/too-long", test_too_long);
  g_test_add_func("/shared/base45/no-space", test_no_space);
  g_test_add_func("/shared/base45/not-nul-terminated", test_not_nul_terminated);
  return g_test_run();
}
