/* Secret files: atomic 0600 writes, exclusive creation, and reads that refuse
 * anything another user could have seen or planted. */
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gk-secure-file.h"
#include "gk-test-util.h"

static void
test_write_read(void)
{
  g_autofree char *dir = gk_test_make_tmpdir("gk-secure");
  g_autofree char *path = g_build_filename(dir, "secret", NULL);
  g_autoptr(GError) error = NULL;
  g_assert_true(gk_secure_file_write(path, "s3cret", 6, TRUE, &error));
  g_assert_no_error(error);
  struct stat st;
  g_assert_cmpint(stat(path, &st), ==, 0);
  g_assert_cmpint(st.st_mode & 0777, ==, 0600);

  /* Exclusive creation never replaces; a plain write does, atomically. */
  g_assert_false(gk_secure_file_write(path, "other", 5, TRUE, &error));
  g_assert_error(error, G_FILE_ERROR, G_FILE_ERROR_EXIST);
  g_clear_error(&error);
  guint8 *data = NULL;
  gsize len = 0;
  g_assert_true(gk_secure_file_read(path, 64, &data, &len, &error));
  g_assert_cmpmem(data, len, "s3cret", 6);
  gk_secure_free(data, len);
  g_assert_true(gk_secure_file_write(path, "newer", 5, FALSE, &error));
  g_assert_true(gk_secure_file_read(path, 64, &data, &len, &error));
  g_assert_cmpmem(data, len, "newer", 5);
  gk_secure_free(data, len);

  /* Too large for the caller's cap. */
  g_assert_false(gk_secure_file_read(path, 4, &data, &len, &error));
  g_assert_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL);
  g_clear_error(&error);
  /* No temp files left behind. */
  GDir *d = g_dir_open(dir, 0, NULL);
  guint n = 0;
  while (g_dir_read_name(d) != NULL)
    n++;
  g_dir_close(d);
  g_assert_cmpuint(n, ==, 1);
  gk_test_rmtree(dir);
}

static void
test_refusals(void)
{
  g_autofree char *dir = gk_test_make_tmpdir("gk-secure");
  g_autofree char *open_file = g_build_filename(dir, "readable", NULL);
  g_autofree char *link = g_build_filename(dir, "link", NULL);
  g_autofree char *fifo = g_build_filename(dir, "fifo", NULL);
  g_autoptr(GError) error = NULL;
  guint8 *data = NULL;
  gsize len = 0;

  g_assert_true(gk_secure_file_write(open_file, "x", 1, TRUE, NULL));
  g_assert_cmpint(g_chmod(open_file, 0644), ==, 0);
  g_assert_false(gk_secure_file_read(open_file, 64, &data, &len, &error));
  g_assert_error(error, G_FILE_ERROR, G_FILE_ERROR_PERM);
  g_clear_error(&error);

  g_assert_cmpint(g_chmod(open_file, 0600), ==, 0);
  g_assert_cmpint(symlink(open_file, link), ==, 0);
  g_assert_false(gk_secure_file_read(link, 64, &data, &len, &error));
  g_clear_error(&error);

  /* A FIFO planted where a key should be: refused at once, not a hang. */
  g_assert_cmpint(mkfifo(fifo, 0600), ==, 0);
  g_assert_false(gk_secure_file_read(fifo, 64, &data, &len, &error));
  g_assert_error(error, G_FILE_ERROR, G_FILE_ERROR_PERM);
  g_clear_error(&error);

  /* A file owned by someone else (only root can arrange that). */
  if (geteuid() == 0) {
    g_assert_cmpint(chown(open_file, 65534, 65534), ==, 0);
    g_assert_false(gk_secure_file_read(open_file, 64, &data, &len, &error));
    g_assert_error(error, G_FILE_ERROR, G_FILE_ERROR_PERM);
    g_clear_error(&error);
  }
  gk_test_rmtree(dir);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/shared/secure-file/write-read", test_write_read);
  g_test_add_func("/shared/secure-file/refusals", test_refusals);
  return g_test_run();
}
