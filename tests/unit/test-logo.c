/* The device setting "logo" (gk-logo.h): a real PNG passes with its size;
 * text that is not strict base64, not a PNG, too large or out of bounds is
 * refused with its reason. */
#include <string.h>

#include "gk-logo.h"
#include "gk-test-util.h"

static void
test_real_png(void)
{
  g_autofree char *text = gk_test_png_base64(64, 32);
  guint w = 0, h = 0;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) png = gk_logo_decode(text, &w, &h, &error);
  g_assert_no_error(error);
  g_assert_nonnull(png);
  g_assert_cmpuint(w, ==, 64);
  g_assert_cmpuint(h, ==, 32);
  g_assert_cmpmem(g_bytes_get_data(png, NULL), 4, "\x89PNG", 4);
}

static void
assert_refused(const char *text, GkLogoError code, const char *words)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) png = gk_logo_decode(text, NULL, NULL, &error);
  g_assert_null(png);
  g_assert_error(error, GK_LOGO_ERROR, (gint) code);
  if (strstr(error->message, words) == NULL)
    g_error("'%s' does not say '%s'", error->message, words);
}

/* @text with the byte at @offset of the decoded PNG replaced by @value. */
static char *
patch_png(const char *text, gsize offset, guint8 value)
{
  gsize len;
  g_autofree guint8 *png = g_base64_decode(text, &len);
  g_assert_cmpuint(offset, <, len);
  png[offset] = value;
  return g_base64_encode(png, len);
}

static void
test_refused(void)
{
  g_autofree char *good = gk_test_png_base64(16, 16);
  /* Encoding: whitespace, foreign characters, broken padding. */
  g_autofree char *spaced = g_strconcat(" ", good, NULL);
  assert_refused(spaced, GK_LOGO_ERROR_ENCODING, "base64");
  g_autofree char *starred = g_strdup(good);
  starred[10] = '*';
  assert_refused(starred, GK_LOGO_ERROR_ENCODING, "base64");
  assert_refused("iVBORw0KGgo", GK_LOGO_ERROR_ENCODING, "base64");
  assert_refused("", GK_LOGO_ERROR_ENCODING, "base64");
  /* Not a PNG: a JPEG's bytes, a damaged signature, no IHDR first. */
  g_autofree char *jpeg = g_base64_encode((const guchar *) "\xff\xd8\xff\xe0" "0123456789012345678901234567890", 35);
  assert_refused(jpeg, GK_LOGO_ERROR_FORMAT, "not a PNG");
  g_autofree char *signature = patch_png(good, 1, 'J');
  assert_refused(signature, GK_LOGO_ERROR_FORMAT, "not a PNG");
  g_autofree char *chunk = patch_png(good, 12, 'X');
  assert_refused(chunk, GK_LOGO_ERROR_FORMAT, "not a PNG");
  /* Sizes: 0 and 1025 pixels a side (width is bytes 16..19, big-endian). */
  g_autofree char *zero = patch_png(good, 19, 0);
  assert_refused(zero, GK_LOGO_ERROR_FORMAT, "pixels");
  g_autofree char *wide1 = patch_png(good, 18, 0x04);
  g_autofree char *wide = patch_png(wide1, 19, 0x01);
  assert_refused(wide, GK_LOGO_ERROR_FORMAT, "1025x16");
  /* Bytes: one over the cap, as text and as decoded size. */
  g_autofree guint8 *big = g_malloc0(GK_LOGO_MAX_BYTES + 1);
  g_autofree char *big_text = g_base64_encode(big, GK_LOGO_MAX_BYTES + 1);
  assert_refused(big_text, GK_LOGO_ERROR_SIZE, "KiB");
  g_autofree char *at_cap = g_base64_encode(big, GK_LOGO_MAX_BYTES);
  assert_refused(at_cap, GK_LOGO_ERROR_FORMAT, "not a PNG");
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/shared/logo/real-png", test_real_png);
  g_test_add_func("/shared/logo/refused", test_refused);
  return g_test_run();
}
