/* Helpers every Genkan test program may use: scratch directories, file reads. */
#include "gk-test-util.h"

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
