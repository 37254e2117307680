/* Helpers every Genkan test program may use: scratch directories, file reads. */
#include "gk-test-util.h"

#include <cairo.h>
#include <glib/gstdio.h>
#include <string.h>

char *
gk_test_make_tmpdir(const char *prefix)
{
  g_autofree char *tmpl = g_strdup_printf("%s-XXXXXX", prefix ? prefix : "genkan-test");
  g_autoptr(GError) error = NULL;
  char *dir = g_dir_make_tmp(tmpl, &error);
  g_assert_no_error(error);
  return dir;
}

void
gk_test_rmtree(const char *path)
{
  if (path == NULL)
    return;
  GDir *dir = g_dir_open(path, 0, NULL);
  if (dir != NULL) {
    const char *name;
    while ((name = g_dir_read_name(dir)) != NULL) {
      g_autofree char *child = g_build_filename(path, name, NULL);
      if (g_file_test(child, G_FILE_TEST_IS_DIR) && !g_file_test(child, G_FILE_TEST_IS_SYMLINK))
        gk_test_rmtree(child);
      else
        g_unlink(child);
    }
    g_dir_close(dir);
  }
  g_rmdir(path);
}

gboolean
gk_test_tree_contains(const char *dir_path, const void *needle, gsize needle_len)
{
  GDir *dir = g_dir_open(dir_path, 0, NULL);
  gboolean found = FALSE;
  if (dir == NULL)
    return FALSE;
  const char *name;
  while (!found && (name = g_dir_read_name(dir)) != NULL) {
    g_autofree char *child = g_build_filename(dir_path, name, NULL);
    if (g_file_test(child, G_FILE_TEST_IS_DIR)) {
      found = gk_test_tree_contains(child, needle, needle_len);
      continue;
    }
    g_autofree char *data = NULL;
    gsize len = 0;
    if (g_file_get_contents(child, &data, &len, NULL) && len >= needle_len)
      found = memmem(data, len, needle, needle_len) != NULL;
  }
  g_dir_close(dir);
  return found;
}

static cairo_status_t
append_png(void *closure, const unsigned char *data, unsigned int length)
{
  g_byte_array_append(closure, data, length);
  return CAIRO_STATUS_SUCCESS;
}

char *
gk_test_png_base64(int width, int height)
{
  cairo_surface_t *surface = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, width, height);
  cairo_t *cr = cairo_create(surface);
  cairo_set_source_rgb(cr, 0.8, 0.1, 0.1);
  cairo_paint(cr);
  cairo_destroy(cr);
  g_autoptr(GByteArray) png = g_byte_array_new();
  g_assert_cmpint(cairo_surface_write_to_png_stream(surface, append_png, png), ==, CAIRO_STATUS_SUCCESS);
  cairo_surface_destroy(surface);
  return g_base64_encode(png->data, png->len);
}
