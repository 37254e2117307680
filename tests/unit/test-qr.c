/* QR output: PNGs that zbar reads back to the same text, atomic writes that
 * leave nothing behind on failure, and terminal drawings of the right size. */
#include <cairo.h>
#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>
#include <zbar.h>

#include "gk-qr.h"
#include "gk-test-util.h"

static const char base45_alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

static char *
random_base45_text(const char *prefix, guint n, guint32 seed)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed(seed);
  GString *s = g_string_new(prefix);
  for (guint i = 0; i < n; i++)
    g_string_append_c(s, base45_alphabet[g_rand_int_range(rand, 0, (gint32) strlen(base45_alphabet))]);
  return g_string_free(s, FALSE);
}

/* Decodes the single QR symbol in a Y800 image; NULL when there is none. */
static char *
zbar_decode(guint8 *gray, int width, int height)
{
  zbar_image_scanner_t *scanner = zbar_image_scanner_create();
  zbar_image_scanner_set_config(scanner, 0, ZBAR_CFG_ENABLE, 0);
  zbar_image_scanner_set_config(scanner, ZBAR_QRCODE, ZBAR_CFG_ENABLE, 1);
  zbar_image_t *image = zbar_image_create();
  zbar_image_set_format(image, zbar_fourcc('Y', '8', '0', '0'));
  zbar_image_set_size(image, (unsigned) width, (unsigned) height);
  zbar_image_set_data(image, gray, (unsigned long) width * (unsigned long) height, NULL);

  char *text = NULL;
  int n = zbar_scan_image(scanner, image);
  if (n == 1) {
    const zbar_symbol_t *sym = zbar_image_first_symbol(image);
    g_assert_cmpint(zbar_symbol_get_type(sym), ==, ZBAR_QRCODE);
    text = g_strndup(zbar_symbol_get_data(sym), zbar_symbol_get_data_length(sym));
  }
  zbar_image_destroy(image);
  zbar_image_scanner_destroy(scanner);
  return text;
}

static char *
decode_png(const char *path, int *out_size)
{
  cairo_surface_t *surface = cairo_image_surface_create_from_png(path);
  g_assert_cmpint(cairo_surface_status(surface), ==, CAIRO_STATUS_SUCCESS);
  cairo_surface_flush(surface);
  int w = cairo_image_surface_get_width(surface);
  int h = cairo_image_surface_get_height(surface);
  int stride = cairo_image_surface_get_stride(surface);
  cairo_format_t format = cairo_image_surface_get_format(surface);
  g_assert_true(format == CAIRO_FORMAT_RGB24 || format == CAIRO_FORMAT_ARGB32);
  const guint8 *data = cairo_image_surface_get_data(surface);

  guint8 *gray = g_malloc((gsize) w * (gsize) h);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      guint32 px;
      memcpy(&px, data + (gsize) y * (gsize) stride + (gsize) x * 4, 4);
      gray[(gsize) y * (gsize) w + (gsize) x] = (guint8) ((px >> 8) & 0xff); /* green */
    }
  cairo_surface_destroy(surface);
  if (out_size != NULL) {
    g_assert_cmpint(w, ==, h);
    *out_size = w;
  }
  char *text = zbar_decode(gray, w, h);
  g_free(gray);
  return text;
}

static guint
count_entries(const char *dir)
{
  g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
  g_assert_nonnull(d);
  guint n = 0;
  while (g_dir_read_name(d) != NULL)
    n++;
  return n;
}

static void
check_roundtrip(const char *text, guint module_px)
{
  g_autofree char *dir = gk_test_make_tmpdir("test-qr");
  g_autofree char *path = g_build_filename(dir, "code.png", NULL);
  g_autoptr(GError) error = NULL;
  g_assert_true(gk_qr_write_png(text, path, module_px, &error));
  g_assert_no_error(error);

  GStatBuf st;
  g_assert_cmpint(g_stat(path, &st), ==, 0);
  g_assert_cmpint(st.st_mode & 0777, ==, 0600);
  g_assert_cmpuint(count_entries(dir), ==, 1); /* no temp file left */

  int size = 0;
  g_autofree char *decoded = decode_png(path, &size);
  g_assert_cmpstr(decoded, ==, text);
  guint width = gk_qr_symbol_width(text, &error);
  g_assert_no_error(error);
  g_assert_cmpint(size, ==, (int) ((width + 2 * GK_QR_QUIET_ZONE) * module_px));
  gk_test_rmtree(dir);
}

static void
test_ticket_png(void)
{
  g_autofree char *text = random_base45_text("GK1:", 140, 42);
  check_roundtrip(text, 4);
  check_roundtrip(text, 8);

  /* Alphanumeric mode keeps a 144-character ticket at version 7 or below (45
   * modules); in byte mode it would need version 9 (53 modules). */
  g_autoptr(GError) error = NULL;
  guint width = gk_qr_symbol_width(text, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(width, <=, 45);
}

static void
test_enroll_png(void)
{
  /* 1 + 16 + 32 + 4 + 2 + 1 + 20 bytes → 114 base45 characters. */
  g_autofree char *text = random_base45_text("GKE1:", 114, 7);
  check_roundtrip(text, 6);
}

static void
test_mixed_case_png(void)
{
  /* Not alphanumeric: byte mode, case kept. */
  check_roundtrip("Genkan test: mixed Case & symbols ~ 123", 5);
}

static void
test_unwritable(void)
{
  g_autofree char *dir = gk_test_make_tmpdir("test-qr");
  g_autoptr(GError) error = NULL;

  /* A directory that does not exist. */
  g_autofree char *missing = g_build_filename(dir, "missing", "code.png", NULL);
  g_assert_false(gk_qr_write_png("GK1:ABC", missing, 4, &error));
  g_assert_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
  g_clear_error(&error);
  g_assert_false(g_file_test(missing, G_FILE_TEST_EXISTS));
  g_assert_cmpuint(count_entries(dir), ==, 0);

  /* The temp file is written, the rename onto a directory fails: nothing stays. */
  g_autofree char *subdir = g_build_filename(dir, "taken.png", NULL);
  g_assert_cmpint(g_mkdir(subdir, 0700), ==, 0);
  g_assert_false(gk_qr_write_png("GK1:ABC", subdir, 4, &error));
  g_assert_nonnull(error);
  g_assert_true(error->domain == G_FILE_ERROR);
  g_clear_error(&error);
  g_assert_cmpuint(count_entries(dir), ==, 1);
  g_assert_true(g_file_test(subdir, G_FILE_TEST_IS_DIR));

  /* Bad arguments: nothing created either. */
  g_autofree char *path = g_build_filename(dir, "code.png", NULL);
  g_assert_false(gk_qr_write_png("", path, 4, &error));
  g_assert_error(error, GK_QR_ERROR, GK_QR_ERROR_INVALID);
  g_clear_error(&error);
  g_assert_false(gk_qr_write_png("GK1:ABC", path, 0, &error));
  g_assert_error(error, GK_QR_ERROR, GK_QR_ERROR_INVALID);
  g_clear_error(&error);
  g_autofree char *huge = g_strnfill(8000, 'a');
  g_assert_false(gk_qr_write_png(huge, path, 4, &error));
  g_assert_error(error, GK_QR_ERROR, GK_QR_ERROR_TOO_LONG);
  g_clear_error(&error);
  g_assert_cmpuint(count_entries(dir), ==, 1);

  gk_test_rmtree(dir);
}

static void
test_replace_existing(void)
{
  g_autofree char *dir = gk_test_make_tmpdir("test-qr");
  g_autofree char *path = g_build_filename(dir, "code.png", NULL);
  g_assert_true(g_file_set_contents(path, "old", 3, NULL));
  g_autoptr(GError) error = NULL;
  g_assert_true(gk_qr_write_png("GK1:NEW", path, 4, &error));
  g_assert_no_error(error);
  g_autofree char *decoded = decode_png(path, NULL);
  g_assert_cmpstr(decoded, ==, "GK1:NEW");
  g_assert_cmpuint(count_entries(dir), ==, 1);
  gk_test_rmtree(dir);
}

static void
test_terminal(void)
{
  g_autofree char *text = random_base45_text("GKE1:", 114, 9);
  g_autoptr(GError) error = NULL;
  guint width = gk_qr_symbol_width(text, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(width, >=, 21);
  g_autofree char *art = gk_qr_render_terminal(text, &error);
  g_assert_no_error(error);
  g_assert_nonnull(art);
  g_assert_true(g_str_has_suffix(art, "\n"));
  g_assert_true(g_utf8_validate(art, -1, NULL));

  guint n = width + 2 * GK_QR_QUIET_ZONE;
  g_auto(GStrv) lines = g_strsplit(art, "\n", -1);
  g_assert_cmpuint(g_strv_length(lines), ==, (n + 1) / 2 + 1); /* the last is empty */
  g_assert_cmpstr(lines[(n + 1) / 2], ==, "");

  /* Back to pixels: light modules are drawn, and the quiet zone is light. Then
   * zbar must read the drawing as the same text. */
  int scale = 4, size = (int) n * scale;
  guint8 *gray = g_malloc0((gsize) size * (gsize) size);
  for (guint ly = 0; ly < (n + 1) / 2; ly++) {
    const char *p = lines[ly];
    g_assert_cmpuint(g_utf8_strlen(p, -1), ==, n);
    for (guint x = 0; x < n; x++, p = g_utf8_next_char(p)) {
      gunichar c = g_utf8_get_char(p);
      gboolean top, bottom;
      switch (c) {
      case 0x2588: top = TRUE; bottom = TRUE; break;
      case 0x2580: top = TRUE; bottom = FALSE; break;
      case 0x2584: top = FALSE; bottom = TRUE; break;
      case ' ': top = FALSE; bottom = FALSE; break;
      default: g_assert_not_reached();
      }
      if (ly == 0 || ly == (n + 1) / 2 - 1 || x < GK_QR_QUIET_ZONE || x >= n - GK_QR_QUIET_ZONE)
        g_assert_true(top); /* quiet zone */
      for (guint half = 0; half < 2; half++) {
        guint y = ly * 2 + half;
        if (y >= n)
          continue;
        guint8 v = (half == 0 ? top : bottom) ? 255 : 0;
        for (int dy = 0; dy < scale; dy++)
          memset(gray + (gsize) ((int) y * scale + dy) * (gsize) size + (gsize) x * (gsize) scale, v,
                 (gsize) scale);
      }
    }
  }
  g_autofree char *decoded = zbar_decode(gray, size, size);
  g_free(gray);
  g_assert_cmpstr(decoded, ==, text);

  g_assert_null(gk_qr_render_terminal("", &error));
  g_assert_error(error, GK_QR_ERROR, GK_QR_ERROR_INVALID);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/shared/qr/ticket-png", test_ticket_png);
  g_test_add_func("/shared/qr/enroll-png", test_enroll_png);
  g_test_add_func("/shared/qr/mixed-case-png", test_mixed_case_png);
  g_test_add_func("/shared/qr/unwritable", test_unwritable);
  g_test_add_func("/shared/qr/replace-existing", test_replace_existing);
  g_test_add_func("/shared/qr/terminal", test_terminal);
  return g_test_run();
}
